"""The travel grid from a user's files: DEM, land cover with a speed table, roads, barriers — any CRS, reprojected once.

Order of burning, last wins: walking at the land cover's (or the default) speed;
cells without height or land cover are impassable; barriers (rivers, lakes: lines or
polygons) are impassable; roads are burnt last at their class's speed, so a road that
crosses a barrier is a bridge and no other crossing exists. A road burnt on cell centres
can cross a barrier on a diagonal step whose two side cells are impassable; the search's
corner rule refuses such a step, so the road is made 4-connected there
(:func:`join_cut_road_steps`): a bridge holds at any angle.
"""

from __future__ import annotations

import math
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
from siting.rasters import burn_mask
from siting.tables import read_table
from siting.travel.grid import TravelGrid

__all__ = ["MODES", "SpeedClass", "TerrainInputs", "build_travel_grid", "join_cut_road_steps", "read_speed_table"]

MODES = ("walking", "motorised")
DEFAULT_WALKING_KMH = 5.0


@dataclass(frozen=True)
class SpeedClass:
    """How fast a land-cover or road class is crossed, and whether walking (slope-corrected)."""

    mode: str
    kmh: float


@dataclass(frozen=True)
class TerrainInputs:
    """The files a travel grid is made from (any may be absent but the grid's extent)."""

    dem: Path | None = None
    landcover: Path | None = None
    speed_table: Path | None = None
    roads: Path | None = None
    road_class_column: str = "class"
    road_speeds_kmh: Mapping[str, float] | None = None
    barriers: Path | None = None
    resolution_m: float = 200.0
    walking_kmh: float = DEFAULT_WALKING_KMH


def read_speed_table(path: Path | str) -> dict[str, SpeedClass]:
    """Land-cover class → mode and km/h, from a CSV (``class, mode, kmh``) or a TOML (``[classes.<c>]``).

    Raises
    ------
    InputError
        A mode that is not walking or motorised, or a speed that is not positive, by class.
    """
    path = Path(path)
    entries: dict[str, tuple[object, object]] = {}
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
        entries = {str(k): (v.get("mode"), v.get("kmh")) for k, v in classes.items() if isinstance(v, dict)}
    else:
        table = read_table(path, what="speed table", text_columns=("class",))
        missing = [c for c in ("class", "mode", "kmh") if c not in table.columns]
        if missing:
            raise InputError(f"speed table {path} lacks columns {missing}; it needs class, mode, kmh")
        entries = {str(c): (m, k) for c, m, k in zip(table["class"], table["mode"], table["kmh"], strict=True)}
    problems, out = [], {}
    for name, (mode, kmh) in entries.items():
        try:
            speed = float(kmh)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            speed = float("nan")
        if mode not in MODES:
            problems.append(f"class {name}: mode {mode!r} is not 'walking' or 'motorised'")
        elif not (math.isfinite(speed) and speed > 0):
            problems.append(f"class {name}: speed {kmh!r} km/h is not a positive number")
        else:
            out[name] = SpeedClass(str(mode), speed)
    if problems:
        raise InputError(f"speed table {path}: " + "; ".join(problems))
    return out


def _grid_transform(bounds: tuple[float, float, float, float], resolution_m: float) -> tuple[Affine, int, int]:
    west, south, east, north = bounds
    west, north = math.floor(west / resolution_m) * resolution_m, math.ceil(north / resolution_m) * resolution_m
    width = max(1, math.ceil((east - west) / resolution_m))
    height = max(1, math.ceil((north - south) / resolution_m))
    return Affine.translation(west, north) * Affine.scale(resolution_m, -resolution_m), width, height


def _warp(
    path: Path, what: str, transform: Affine, shape: tuple[int, int], crs: CRS, resampling: Resampling
) -> np.ndarray:
    """A raster file on the grid (NaN where it has no value)."""
    if not path.is_file() or path.stat().st_size == 0:
        raise InputError(f"{what} {path} does not exist or is empty")
    try:
        src = rasterio.open(path)
    except rasterio.errors.RasterioIOError as error:
        raise InputError(f"{what} {path} is not a raster GDAL can read: {error}") from None
    with src:
        if src.crs is None:
            raise CRSError(f"{what} {path} has no CRS; assign one (gdal_edit.py -a_srs EPSG:4326 {path})")
        out = np.full(shape, np.nan, dtype=np.float64)
        reproject(
            rasterio.band(src, 1),
            out,
            src_nodata=src.nodata,
            dst_transform=transform,
            dst_crs=crs,
            dst_nodata=np.nan,
            resampling=resampling,
        )
    return out


def _vector(path: Path, what: str, crs: CRS, *, every_layer: bool = False) -> gpd.GeoDataFrame:
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


def _landcover_speeds(
    classes: np.ndarray, table: Mapping[str, SpeedClass], path: Path
) -> tuple[np.ndarray, np.ndarray]:
    """Speed and walking flag per cell from land-cover classes; an unknown class is refused by name."""
    present = np.unique(classes[np.isfinite(classes)]).astype(np.int64)
    unknown = [int(c) for c in present if str(int(c)) not in table]
    if unknown:
        raise InputError(
            f"land cover {path} has classes {unknown[:10]} that the speed table does not list; give each a mode "
            "and a speed (or 0 classes as water in the barriers)"
        )
    speed = np.zeros(classes.shape)
    walking = np.ones(classes.shape, dtype=bool)
    for name, entry in table.items():
        hit = classes == float(name)
        speed[hit] = entry.kmh
        walking[hit] = entry.mode == "walking"
    return speed, walking


def _burn_roads(
    speed: np.ndarray, walking: np.ndarray, roads: gpd.GeoDataFrame, inputs: TerrainInputs, transform: Affine
) -> None:
    column = inputs.road_class_column
    if column not in roads.columns:
        raise InputError(
            f"roads {inputs.roads} have no class column {column!r} (columns: "
            f"{[c for c in roads.columns if c != 'geometry']}); set access.road_class_column"
        )
    speeds = {str(k): float(v) for k, v in (inputs.road_speeds_kmh or {}).items()}
    classes = roads[column].astype(str)
    unknown = sorted(set(classes) - set(speeds))
    if unknown:
        raise InputError(
            f"roads {inputs.roads}: classes {unknown[:10]} have no speed; give each in access.road_speeds "
            "(class = km/h)"
        )
    bad = {k: v for k, v in speeds.items() if not (math.isfinite(v) and v > 0)}
    if bad:
        raise InputError(f"access.road_speeds must be positive km/h, got {bad}")
    on_road = np.zeros(speed.shape, dtype=bool)
    for name, kmh in sorted(speeds.items(), key=lambda item: item[1]):  # faster roads are burnt last
        lines = roads.geometry[classes == name]
        if lines.empty:
            continue
        mask = burn_mask(lines, shape=speed.shape, transform=transform)
        speed[mask] = kmh
        walking[mask] = False
        on_road |= mask
    join_cut_road_steps(speed, walking, on_road)


def join_cut_road_steps(speed: np.ndarray, walking: np.ndarray, on_road: np.ndarray) -> int:
    """Make roads 4-connected where a diagonal road step passes between two impassable cells; in place.

    The search refuses a diagonal move between two impassable cells (so a barrier one
    cell wide cannot be slipped through at a corner). A road burnt on cell centres that
    crosses a river or lake on a diagonal has exactly such steps, and would lose its
    bridge. For each one, the side cell in the first cell's column (below or above it)
    becomes road at the slower of the two cells' speeds.

    Parameters
    ----------
    speed, walking
        The grid's speeds (km/h, 0 impassable) and walking flags, changed in place.
    on_road
        True on the cells burnt as road; the joined cells are added to it.

    Returns
    -------
    int
        How many steps were joined.
    """
    joined = 0
    height, width = speed.shape
    for dc in (1, -1):  # down-right and down-left steps
        c0, c1 = (0, width - 1) if dc == 1 else (1, width)
        a = (slice(0, height - 1), slice(c0, c1))  # a road cell
        b = (slice(1, height), slice(c0 + dc, c1 + dc))  # its diagonal neighbour below
        below = (slice(1, height), slice(c0, c1))  # the side cell in a's column
        beside = (slice(0, height - 1), slice(c0 + dc, c1 + dc))  # the side cell in a's row
        cut = on_road[a] & on_road[b] & (speed[a] > 0) & (speed[b] > 0) & (speed[below] <= 0) & (speed[beside] <= 0)
        if not cut.any():
            continue
        rows, cols = np.nonzero(cut)
        rows, cols = rows + 1, cols + c0
        speed[rows, cols] = np.minimum(speed[rows - 1, cols], speed[rows, cols + dc])
        walking[rows, cols] = False
        on_road[rows, cols] = True
        joined += len(rows)
    return joined


def build_travel_grid(
    bounds: tuple[float, float, float, float],
    crs: CRS,
    inputs: TerrainInputs,
    *,
    area: gpd.GeoSeries | None = None,
) -> TravelGrid:
    """The travel grid over ``bounds`` (working CRS, metres) from the files in ``inputs``.

    Cells without height in the DEM keep NaN heights and are impassable (also under a
    road); with ``area`` (polygons in ``crs``), so are the cells outside it: travel
    stays within the study area and its margin.

    Raises
    ------
    InputError, CRSError
        A file without CRS or unreadable, a land-cover class or road class without a speed,
        a speed that is not positive, roads without their class column.
    """
    if not (math.isfinite(inputs.resolution_m) and inputs.resolution_m > 0):
        raise InputError(f"access.resolution_m must be a positive number of metres, got {inputs.resolution_m!r}")
    transform, width, height = _grid_transform(bounds, inputs.resolution_m)
    shape = (height, width)
    if width * height > 400_000_000:
        raise InputError(
            f"a {inputs.resolution_m:g} m grid over the study area has {width * height:,} cells; choose a coarser "
            "access.resolution_m"
        )
    speed = np.full(shape, float(inputs.walking_kmh))
    walking = np.ones(shape, dtype=bool)
    elevation = np.zeros(shape)
    if inputs.dem is not None:
        elevation = _warp(inputs.dem, "DEM", transform, shape, crs, Resampling.bilinear)
        speed[~np.isfinite(elevation)] = 0.0  # no height: impassable
    if inputs.landcover is not None:
        if inputs.speed_table is None:
            raise InputError("access.landcover needs access.speed_table (class → mode and km/h)")
        classes = _warp(inputs.landcover, "land cover", transform, shape, crs, Resampling.nearest)
        cover_speed, walking = _landcover_speeds(classes, read_speed_table(inputs.speed_table), inputs.landcover)
        speed = np.where(speed > 0, cover_speed, 0.0)
    if inputs.barriers is not None:
        barriers = _vector(inputs.barriers, "barriers", crs, every_layer=True)
        if len(barriers):
            speed[burn_mask(barriers.geometry, shape=shape, transform=transform, all_touched=True)] = 0.0
    if inputs.roads is not None:
        _burn_roads(speed, walking, _vector(inputs.roads, "roads", crs), inputs, transform)
    speed[~np.isfinite(elevation)] = 0.0  # a road beyond the DEM goes nowhere
    if area is not None:
        speed[~burn_mask(area, shape=shape, transform=transform, all_touched=True)] = 0.0
    # float32 inputs halve the memory the search streams through; its sums stay in float64.
    return TravelGrid(transform, speed.astype(np.float32), walking, elevation.astype(np.float32))
