"""Reading a user's terrain files and checking them for what makes them wrong, not only for what crashes.

Rasters (a DEM, land cover) are read onto a given grid; vector layers (roads, barriers)
into the grid's CRS; a speed table in this project's form or AccessMod's. Each is
refused, in one line that shows the value and says how to fix it, when it holds what
no terrain has: a layer of the wrong geometry, duplicated or fractional classes, speeds
above :data:`MAX_SPEED_KMH`, heights outside :data:`HEIGHT_RANGE_M` (the SRTM void
value among them), a multi-band raster without a band. :func:`check_grid_fits`
refuses a grid larger than the machine can hold before anything is built.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import rasterio
from affine import Affine
from pyproj import CRS
from rasterio.enums import Resampling
from rasterio.warp import reproject

from siting.errors import CRSError, InputError
from siting.tables import read_table

__all__ = [
    "HEIGHT_RANGE_M",
    "MAX_SPEED_KMH",
    "MAX_STANDARD_MIN",
    "MODES",
    "SRTM_VOID",
    "SpeedClass",
    "check_grid_fits",
    "checked_geometry",
    "checked_heights",
    "grid_bytes_per_cell",
    "landcover_speeds",
    "open_raster",
    "read_speed_table",
    "read_vector",
    "speed_problems",
    "warp_onto",
]

#: Modes of a speed class: walking is corrected for slope (Tobler), bicycling too (at constant power), motorised is not.
MODES = ("walking", "bicycling", "motorised")
#: How a speed table may spell a mode (AccessMod writes WALKING, BICYCLING, MOTORIZED).
MODE_SPELLINGS = {
    "walking": "walking",
    "bicycling": "bicycling",
    "cycling": "bicycling",
    "motorised": "motorised",
    "motorized": "motorised",
}
#: No road or path is crossed faster (km/h): a larger figure is a unit error (m/s, m/h) or a typo.
MAX_SPEED_KMH = 200.0
#: Heights of the land (m), the Dead Sea shore to above Everest; beyond them a DEM is in other units or has voids.
HEIGHT_RANGE_M = (-500.0, 9_000.0)
#: What SRTM and many DEMs store where they have no height, when it is not declared nodata.
SRTM_VOID = -32768.0
#: The longest travel-time standard (a day): beyond it the standard is a unit error (seconds).
MAX_STANDARD_MIN = 24 * 60.0


@dataclass(frozen=True)
class SpeedClass:
    """How fast a land-cover or road class is crossed (0: impassable), and whether walking (slope-corrected)."""

    mode: str
    kmh: float


def speed_problems(where: str, kmh: object, *, zero_ok: bool) -> list[str]:
    """A speed must be a number of km/h from 0 (when ``zero_ok``: impassable) up to :data:`MAX_SPEED_KMH`."""
    number = kmh if isinstance(kmh, int | float) and not isinstance(kmh, bool) else math.nan
    low_ok = number >= 0 if zero_ok else number > 0
    if not (math.isfinite(number) and low_ok):
        need = "a number ≥ 0 (0: impassable)" if zero_ok else "a positive number"
        return [f"{where} must be {need} of km/h, got {kmh!r}"]
    if number > MAX_SPEED_KMH:
        return [
            f"{where} = {kmh:g} km/h is faster than any road ({MAX_SPEED_KMH:g} km/h at most); give the speed in km/h "
            "(a figure in m/s times 3.6)"
        ]
    return []


def read_speed_table(path: Path | str) -> dict[str, SpeedClass]:
    """Land-cover class → mode and km/h, from a CSV or a TOML (``[classes.<c>]`` with ``mode`` and ``kmh``).

    A CSV has ``class, mode, kmh`` or AccessMod's ``class, label, speed, mode``. Modes are
    ``walking``, ``bicycling`` or ``motorised`` in any case (``MOTORIZED`` too); a speed of 0 makes the
    class impassable (water, as AccessMod writes it).

    Raises
    ------
    InputError
        A class that is not a whole number or is listed twice, a mode that is not known, a
        speed that is not a number from 0 to :data:`MAX_SPEED_KMH` km/h; all at once, by class.
    """
    path = Path(path)
    rows: list[tuple[str, object, object]] = []
    if path.suffix.lower() == ".toml":
        if not path.is_file():
            raise InputError(f"speed table {path} does not exist")
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise InputError(f"speed table {path} is not valid TOML: {error}") from None
        classes = document.get("classes", {})
        if not isinstance(classes, dict) or not classes:
            raise InputError(f"speed table {path} needs [classes.<class>] tables with mode and kmh")
        rows = [(str(k), v.get("mode"), v.get("kmh")) for k, v in classes.items() if isinstance(v, dict)]
    else:
        table = read_table(path, what="speed table", text_columns=("class", "label", "mode"))
        speed_column = "kmh" if "kmh" in table.columns else "speed"
        missing = [c for c in ("class", "mode", speed_column) if c not in table.columns]
        if missing:
            raise InputError(
                f"speed table {path} lacks columns {missing}; it needs class, mode, kmh (or AccessMod's class, "
                "label, speed, mode)"
            )
        rows = list(zip(table["class"].astype(str), table["mode"], table[speed_column], strict=True))
    problems, out = [], {}
    counts = pd.Series([name for name, _, _ in rows]).value_counts()
    twice = sorted(counts.index[counts > 1].tolist())
    if twice:
        problems.append(f"classes {twice[:10]} are listed more than once; give each class one row")
    for name, mode, kmh in rows:
        try:
            speed = float(kmh)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            speed = float("nan")
        spelled = MODE_SPELLINGS.get(str(mode).strip().lower()) if isinstance(mode, str) else None
        whole = _whole_number(name)
        if whole is None:
            problems.append(f"class {name!r} is not a whole number (land-cover rasters hold integer classes)")
        elif spelled is None:
            problems.append(
                f"class {name}: mode {mode!r} is not 'walking', 'bicycling' or 'motorised' (AccessMod's WALKING, "
                "BICYCLING, MOTORIZED)"
            )
        elif speed_problems(f"class {name}", speed, zero_ok=True):
            problems += speed_problems(f"class {name}", speed, zero_ok=True)
        elif name not in twice:
            out[str(whole)] = SpeedClass(spelled, speed)
    if problems:
        raise InputError(f"speed table {path}: " + "; ".join(problems))
    return out


def _whole_number(text: str) -> int | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if math.isfinite(value) and value == int(value) else None


def grid_bytes_per_cell(workers: int) -> int:
    """Peak bytes per cell while a grid is built and searched: the build's float64 layers, the grid's own
    arrays and move factors, and each worker's search workspace (stamps, times, queue) over its window."""
    building = 8 * 4  # speed, heights, land cover classes and a burn mask in float64 / bytes
    grid = 4 + 4 + 2 + 24  # float32 speed and heights, walking and bicycling flags, the move factors
    search = 8 + 8 + 8 + 2  # stamps and labels, times, reached cells, queue entries
    return building + grid + search * max(1, workers)


def _available_bytes() -> int:
    """Memory this machine can still give (MemAvailable, else the physical memory)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def check_grid_fits(
    shape: tuple[int, int], resolution_m: float, *, workers: int = 2, available_bytes: int | None = None
) -> None:
    """Refuse, before anything is built, a grid whose build and search need more memory than is available.

    Raises
    ------
    InputError
        With the cells, the estimate and a coarser resolution that fits.
    """
    cells = shape[0] * shape[1]
    need = cells * grid_bytes_per_cell(workers)
    room = int(0.8 * (_available_bytes() if available_bytes is None else available_bytes))
    if need <= room:
        return
    coarser = resolution_m * math.sqrt(need / room)
    nice = next(step for step in (1, 5, 10, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, math.inf) if step >= coarser)
    suggestion = f"{nice:g} m" if math.isfinite(nice) else f"{math.ceil(coarser):,} m"
    raise InputError(
        f"a {resolution_m:g} m travel grid over the study area has {cells:,} cells and needs about "
        f"{need / 2**30:,.1f} GB to build and search, more than the {room / 2**30:,.1f} GB this machine can give; "
        f"set access.resolution_m = {suggestion} or coarser"
    )


def open_raster(path: Path, what: str) -> rasterio.DatasetReader:
    if not path.is_file() or path.stat().st_size == 0:
        raise InputError(f"{what} {path} does not exist or is empty")
    try:
        src = rasterio.open(path)
    except rasterio.errors.RasterioIOError as error:
        raise InputError(f"{what} {path} is not a raster GDAL can read: {error}") from None
    if src.crs is None:
        src.close()
        raise CRSError(f"{what} {path} has no CRS; assign one (gdal_edit.py -a_srs EPSG:4326 {path})")
    return src


def _band(src: rasterio.DatasetReader, path: Path, what: str, key: str, band: int | None) -> int:
    """The band to read: the only one, or the one named; a multi-band file without a band is refused."""
    if band is None:
        if src.count > 1:
            raise InputError(
                f"{what} {path} has {src.count} bands; name the one to use with access.{key} (1 to {src.count})"
            )
        return 1
    if not 1 <= band <= src.count:
        raise InputError(f"access.{key} = {band} but {what} {path} has {src.count} band(s)")
    return band


def warp_onto(
    path: Path,
    what: str,
    transform: Affine,
    shape: tuple[int, int],
    crs: CRS,
    resampling: Resampling,
    *,
    band: int | None = None,
    band_key: str = "dem_band",
) -> np.ndarray:
    """A raster file on the grid (NaN where it has no value)."""
    with open_raster(path, what) as src:
        number = _band(src, path, what, band_key, band)
        out = np.full(shape, np.nan, dtype=np.float64)
        try:
            reproject(
                rasterio.band(src, number),
                out,
                src_nodata=src.nodata,
                dst_transform=transform,
                dst_crs=crs,
                dst_nodata=np.nan,
                resampling=resampling,
            )
        except (rasterio.errors.RasterioError, ValueError) as error:
            raise InputError(f"{what} {path} cannot be read onto the travel grid: {error}") from None
    return out


def checked_heights(heights: np.ndarray, path: Path) -> None:
    """Heights must be metres of land: the SRTM void value and heights outside :data:`HEIGHT_RANGE_M` are refused."""
    known = heights[np.isfinite(heights)]
    if known.size == 0:
        raise InputError(f"DEM {path} has no height over the study area; give a DEM that covers it")
    low, high = float(known.min()), float(known.max())
    voids = int(np.count_nonzero(known <= SRTM_VOID + 1))
    if voids:
        raise InputError(
            f"DEM {path} has heights of {SRTM_VOID:,.0f} m (the SRTM void value) in {voids:,} cells: declare it nodata "
            f"(gdal_edit.py -a_nodata {SRTM_VOID:.0f} {path}) or fill the voids"
        )
    floor, ceiling = HEIGHT_RANGE_M
    if low < floor or high > ceiling:
        raise InputError(
            f"DEM {path} has heights from {low:,.6g} to {high:,.6g} m, outside {floor:,.0f} … {ceiling:,.0f} m: give "
            "heights in metres, and declare the file's nodata value (gdal_edit.py -a_nodata VALUE)"
        )


def read_vector(path: Path, what: str, crs: CRS, *, every_layer: bool = False) -> gpd.GeoDataFrame:
    """A vector file in the working CRS; with ``every_layer``, all its layers together (rivers and lakes)."""
    if not path.exists():
        raise InputError(f"{what} {path} does not exist")
    try:
        layers = [str(name) for name, _ in pyogrio.list_layers(path)] if every_layer else [None]
        frames = [gpd.read_file(path, layer=layer) for layer in layers]
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as error:
        raise InputError(f"cannot read {what} {path} as a vector layer: {error}") from None
    for layer, frame in zip(layers, frames, strict=True):
        if frame.crs is None:
            where = f"{path}" + (f" layer {layer}" if layer else "")
            raise CRSError(f"{what} {where} has no CRS; declare it (for a Shapefile, add the .prj)")
    if not every_layer:
        return frames[0].to_crs(crs)
    return gpd.GeoDataFrame(pd.concat([f.to_crs(crs)[["geometry"]] for f in frames], ignore_index=True), crs=crs)


def checked_geometry(frame: gpd.GeoDataFrame, path: Path, what: str, allowed: tuple[str, ...]) -> gpd.GeoDataFrame:
    """The features with a geometry of the allowed kinds; any other kind is refused with counts."""
    frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty]
    if frame.empty:
        raise InputError(f"{what} {path} has no features with a geometry; give a layer of {' or '.join(allowed)}")
    kinds = frame.geometry.geom_type.str.replace("Multi", "", regex=False)
    wrong = kinds[~kinds.isin(allowed)].value_counts()
    if len(wrong):
        counted = ", ".join(f"{n:,} {kind}" for kind, n in wrong.items())
        raise InputError(
            f"{what} {path} must hold {' or '.join(allowed)} features, but has {counted} (of {len(frame):,}); "
            f"give {what} as {' or '.join(k.lower() + 's' for k in allowed)}"
        )
    return frame


def landcover_speeds(
    classes: np.ndarray, table: Mapping[str, SpeedClass], path: Path
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Speed, walking and bicycling flags per cell from land-cover classes; unknown or fractional ones refused."""
    known = classes[np.isfinite(classes)]
    if known.size == 0:
        raise InputError(f"land cover {path} has no class over the study area (all nodata); give one that covers it")
    present = np.unique(known)
    fractional = present[present != np.round(present)]
    if len(fractional):
        raise InputError(
            f"land cover {path} has fractional classes {fractional[:5].tolist()}: classes are whole numbers (read "
            "it with nearest-neighbour resampling, and check its data type)"
        )
    unknown = [int(c) for c in present if str(int(c)) not in table]
    if unknown:
        raise InputError(
            f"land cover {path} has classes {unknown[:10]} that the speed table does not list; give each a mode "
            "and a speed (0 for water)"
        )
    speed = np.zeros(classes.shape)
    walking = np.ones(classes.shape, dtype=bool)
    bicycling = np.zeros(classes.shape, dtype=bool)
    for name, entry in table.items():
        hit = classes == float(name)
        speed[hit] = entry.kmh
        walking[hit] = entry.mode == "walking"
        bicycling[hit] = entry.mode == "bicycling"
    return speed, walking, bicycling
