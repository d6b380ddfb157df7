"""The travel grid from a user's files: DEM, land cover with a speed table, roads, barriers — any CRS, reprojected once.

Order of burning, last wins: walking at the land cover's (or the default) speed;
cells without height or land cover are impassable; then the layers in
``layer_order`` (by default barriers, then roads: rivers and lakes are impassable and
a road that crosses one is a bridge, the only crossing). Each layer is burnt on the
cells whose centre it covers, on every cell it touches, or as GRASS ``v.to.rast``
(AccessMod) draws lines, one cell a step (``roads_burn``, ``barriers_burn``; by
default roads on centres, barriers on every touched cell, so a river one cell wide
leaves no gap). A road burnt on cell centres crosses a barrier on
diagonal steps whose two side cells are impassable; the search's corner rule refuses
such a step, so the road is made 4-connected there (:func:`join_cut_road_steps`): a
bridge holds at any angle.

The files are read and checked by :mod:`siting.travel.inputs`; each burnt layer's
cell count is kept in :attr:`TravelGrid.layers` (the run record and ``--verbose`` show
it). With ``grid_of`` the grid is the DEM's or the land cover's own, cell for cell (in
that raster's projected CRS), as AccessMod computes; otherwise a north-up grid of
``resolution_m`` over the study area in the working CRS.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
from affine import Affine
from pyproj import CRS, Transformer
from rasterio.enums import Resampling

from siting.errors import CRSError, InputError
from siting.rasters import burn_mask, draw_lines
from siting.travel.grid import TravelGrid
from siting.travel.inputs import (
    MAX_STANDARD_MIN,
    MODES,
    SpeedClass,
    check_grid_fits,
    checked_geometry,
    checked_heights,
    landcover_speeds,
    open_raster,
    read_speed_table,
    read_vector,
    speed_problems,
    warp_onto,
)

if TYPE_CHECKING:
    from siting.scenario import Scenario

__all__ = [
    "MAX_STANDARD_MIN",
    "MODES",
    "SpeedClass",
    "TerrainInputs",
    "build_travel_grid",
    "join_cut_road_steps",
    "read_speed_table",
]

DEFAULT_WALKING_KMH = 5.0
#: How a layer is burnt: on the cells whose centre it covers, on every cell it touches, or
#: as GRASS ``v.to.rast`` (AccessMod 5) draws it: lines one cell per step, areas on centres.
BURN_RULES = ("centres", "touched", "grass")
LAYERS = ("barriers", "roads")
SLOPE_RULES = ("tobler", "none")
GRID_SOURCES = ("dem", "landcover")


@dataclass(frozen=True)
class TerrainInputs:
    """The files a travel grid is made from, and how they are burnt (any may be absent but the grid's extent).

    Attributes
    ----------
    dem, dem_band
        Heights (m) and the band to read (needed when the file has several).
    landcover, landcover_band, speed_table
        Land-cover classes and their modes and speeds (``class, mode, kmh`` or AccessMod's
        ``class, label, speed, mode``).
    roads, road_class_column, road_speeds_kmh
        Road lines, the column of their class and the speed of each class.
    barriers
        Rivers and lakes (lines or polygons; every layer of the file).
    resolution_m, walking_kmh
        Cell size of a grid over the bounds; the walking speed where no land cover says otherwise.
    grid_of
        ``"dem"`` or ``"landcover"``: compute on that raster's own grid, cell for cell.
    slope
        ``"tobler"`` (walking slows on slopes) or ``"none"`` (isotropic, AccessMod's default).
    corner_rule
        Refuse a diagonal move between two impassable cells (a barrier one cell wide holds).
    roads_burn, barriers_burn
        ``"centres"`` or ``"touched"``: the cells a layer is burnt on.
    layer_order
        The order in which barriers and roads are burnt; the later wins where they meet.
    """

    dem: Path | None = None
    dem_band: int | None = None
    landcover: Path | None = None
    landcover_band: int | None = None
    speed_table: Path | None = None
    roads: Path | None = None
    road_class_column: str = "class"
    road_speeds_kmh: Mapping[str, float] | None = None
    barriers: Path | None = None
    resolution_m: float = 200.0
    walking_kmh: float = DEFAULT_WALKING_KMH
    grid_of: str | None = None
    slope: str = "tobler"
    corner_rule: bool = True
    roads_burn: str = "centres"
    barriers_burn: str = "touched"
    layer_order: tuple[str, ...] = LAYERS

    @classmethod
    def from_scenario(cls, s: Scenario) -> TerrainInputs:
        """The terrain options of a scenario's ``[access]`` (its files as given; the sample's are added by the run)."""
        return cls(
            dem=s.dem,
            dem_band=s.dem_band,
            landcover=s.landcover,
            landcover_band=s.landcover_band,
            speed_table=s.speed_table,
            roads=s.roads,
            road_class_column=s.road_class_column,
            road_speeds_kmh=dict(s.road_speeds_kmh),
            barriers=s.barriers,
            resolution_m=s.resolution_m,
            walking_kmh=s.walking_kmh,
            grid_of=s.access_grid,
            slope=s.slope,
            corner_rule=s.corner_rule,
            roads_burn=s.roads_burn,
            barriers_burn=s.barriers_burn,
            layer_order=tuple(s.layer_order),
        )

    def problems(self, *, sample_terrain: bool = False) -> list[str]:
        """What is wrong with the options themselves (no file is read).

        ``sample_terrain``: the DEM and land cover will be the sample's (a sample scenario without its own).
        """
        out = []
        if not (math.isfinite(self.resolution_m) and self.resolution_m > 0):
            out.append(f"access.resolution_m must be a positive number of metres, got {self.resolution_m!r}")
        out += speed_problems("access.walking_kmh", self.walking_kmh, zero_ok=False)
        for name, kmh in (self.road_speeds_kmh or {}).items():
            out += speed_problems(f"access.road_speeds.{name}", kmh, zero_ok=False)
        if self.grid_of not in (None, *GRID_SOURCES):
            out.append(f"access.grid {self.grid_of!r} must be 'dem' or 'landcover' (or absent: a grid of the bounds)")
        elif self.grid_of is not None and getattr(self, self.grid_of) is None and not sample_terrain:
            out.append(f"access.grid = {self.grid_of!r} needs access.{self.grid_of}")
        if self.slope not in SLOPE_RULES:
            out.append(f"access.slope {self.slope!r} must be 'tobler' or 'none'")
        for key, rule in (("roads_burn", self.roads_burn), ("barriers_burn", self.barriers_burn)):
            if rule not in BURN_RULES:
                out.append(f"access.{key} {rule!r} must be 'centres', 'touched' or 'grass' (as GRASS v.to.rast)")
        if sorted(self.layer_order) != sorted(LAYERS):
            out.append(f"access.layer_order {list(self.layer_order)!r} must list 'barriers' and 'roads' once each")
        for key in ("dem_band", "landcover_band"):
            band = getattr(self, key)
            if band is not None and (isinstance(band, bool) or not isinstance(band, int) or band < 1):
                out.append(f"access.{key} must be a band number from 1, got {band!r}")
        return out


def _grid_transform(bounds: tuple[float, float, float, float], resolution_m: float) -> tuple[Affine, int, int]:
    west, south, east, north = bounds
    west, north = math.floor(west / resolution_m) * resolution_m, math.ceil(north / resolution_m) * resolution_m
    width = max(1, math.ceil((east - west) / resolution_m))
    height = max(1, math.ceil((north - south) / resolution_m))
    return Affine.translation(west, north) * Affine.scale(resolution_m, -resolution_m), width, height


def _burn(geometry: gpd.GeoSeries, shape: tuple[int, int], transform: Affine, rule: str) -> np.ndarray:
    """The cells a layer's shapes cover under a burn rule (:data:`BURN_RULES`)."""
    if rule != "grass":
        return burn_mask(geometry, shape=shape, transform=transform, all_touched=rule == "touched")
    lines = geometry.geom_type.isin(["LineString", "MultiLineString"]).to_numpy()
    mask = draw_lines(geometry[lines], shape=shape, transform=transform)
    if not lines.all():
        mask |= burn_mask(geometry[~lines], shape=shape, transform=transform)
    return mask


def _burnt(
    geometry: gpd.GeoSeries, shape: tuple[int, int], transform: Affine, rule: str, path: Path, what: str
) -> np.ndarray:
    """The cells a layer covers; a layer with nothing inside the grid is an error naming its file."""
    mask = _burn(geometry, shape, transform, rule)
    if not mask.any():
        raise InputError(
            f"{what} {path}: none of its {len(geometry):,} features lies on the travel grid over the study area; "
            "check the file's CRS and that it covers the study area"
        )
    return mask


def _road_masks(
    roads: gpd.GeoDataFrame, inputs: TerrainInputs, shape: tuple[int, int], transform: Affine
) -> list[tuple[float, np.ndarray]]:
    """Each road class's cells with its speed, slowest first (faster roads are burnt last)."""
    assert inputs.roads is not None
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
    masks = []
    for name, kmh in sorted(speeds.items(), key=lambda item: item[1]):
        lines = roads.geometry[classes == name]
        if not lines.empty:
            mask = _burn(lines, shape, transform, inputs.roads_burn)
            masks.append((kmh, mask))
    if not any(mask.any() for _, mask in masks):
        raise InputError(
            f"roads {inputs.roads}: none of its {len(roads):,} features lies on the travel grid over the study area; "
            "check the file's CRS and that it covers the study area"
        )
    return masks


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


def _grid_of_raster(
    path: Path, what: str, bounds: tuple[float, float, float, float], crs: CRS
) -> tuple[Affine, tuple[int, int], CRS]:
    """The cells of a raster's own grid that cover ``bounds`` (given in ``crs``), in the raster's CRS."""
    with open_raster(path, what) as src:
        own = CRS.from_user_input(src.crs)
        if not own.is_projected or abs(own.axis_info[0].unit_conversion_factor - 1.0) > 1e-9:
            raise CRSError(
                f"access.grid uses the grid of {what} {path}, whose CRS ({own.name}) is not projected in metres; "
                "reproject it to a projected CRS (gdalwarp -t_srs EPSG:32647 …) or leave access.grid out"
            )
        if src.transform.b != 0 or src.transform.d != 0 or src.transform.e >= 0:
            raise InputError(f"{what} {path} is not a north-up grid; access.grid needs one")
        west, south, east, north = bounds
        to_own = Transformer.from_crs(crs, own, always_xy=True)
        xs, ys = to_own.transform([west, west, east, east], [south, north, south, north])
        inverse = ~src.transform
        cols, rows = zip(*(inverse * (x, y) for x, y in zip(xs, ys, strict=True)), strict=True)
        col0, col1 = max(0, math.floor(min(cols))), min(src.width, math.ceil(max(cols)))
        row0, row1 = max(0, math.floor(min(rows))), min(src.height, math.ceil(max(rows)))
        if col1 <= col0 or row1 <= row0:
            raise InputError(f"{what} {path} does not cover the study area; access.grid needs a raster over it")
        transform = src.transform * Affine.translation(col0, row0)
        if abs(abs(transform.a) - abs(transform.e)) > 1e-6 * abs(transform.a):
            raise InputError(
                f"{what} {path} has cells of {transform.a:g} × {-transform.e:g} m; access.grid needs square cells"
            )
        return transform, (row1 - row0, col1 - col0), own


def build_travel_grid(
    bounds: tuple[float, float, float, float],
    crs: CRS,
    inputs: TerrainInputs,
    *,
    area: gpd.GeoSeries | None = None,
    workers: int = 2,
) -> TravelGrid:
    """The travel grid over ``bounds`` (working CRS, metres) from the files in ``inputs``, checked.

    Cells without height in the DEM keep NaN heights and are impassable (also under a
    road); with ``area`` (polygons in ``crs``), so are the cells outside it: travel
    stays within the study area and its margin.

    Raises
    ------
    InputError, CRSError
        Any option or file that is wrong (see the module docstring), or a grid the machine
        cannot hold; each says what is wrong, shows the value and says how to fix it.
    """
    problems = inputs.problems()
    if problems:
        raise InputError("; ".join(problems))
    if inputs.grid_of is not None:
        source = inputs.dem if inputs.grid_of == "dem" else inputs.landcover
        assert source is not None
        transform, shape, grid_crs = _grid_of_raster(
            source, inputs.grid_of.replace("landcover", "land cover"), bounds, crs
        )
    else:
        transform, width, height = _grid_transform(bounds, inputs.resolution_m)
        shape, grid_crs = (height, width), crs
    resolution = abs(transform.a)
    check_grid_fits(shape, resolution, workers=workers)
    layers: dict[str, int] = {}
    speed = np.full(shape, float(inputs.walking_kmh))
    walking = np.ones(shape, dtype=bool)
    bicycling = np.zeros(shape, dtype=bool)
    elevation = np.zeros(shape)
    if inputs.dem is not None:
        elevation = warp_onto(inputs.dem, "DEM", transform, shape, grid_crs, Resampling.bilinear, band=inputs.dem_band)
        checked_heights(elevation, inputs.dem)
        speed[~np.isfinite(elevation)] = 0.0  # no height: impassable
        layers["dem_cells_without_height"] = int(np.count_nonzero(~np.isfinite(elevation)))
    if inputs.landcover is not None:
        if inputs.speed_table is None:
            raise InputError("access.landcover needs access.speed_table (class → mode and km/h)")
        table = read_speed_table(inputs.speed_table)
        classes = warp_onto(
            inputs.landcover,
            "land cover",
            transform,
            shape,
            grid_crs,
            Resampling.nearest,
            band=inputs.landcover_band,
            band_key="landcover_band",
        )
        cover_speed, walking, bicycling = landcover_speeds(classes, table, inputs.landcover)
        speed = np.where(speed > 0, cover_speed, 0.0)
        layers["landcover_impassable_cells"] = int(np.count_nonzero(cover_speed <= 0))
    on_road = np.zeros(shape, dtype=bool)
    for layer in inputs.layer_order:
        if layer == "barriers" and inputs.barriers is not None:
            barriers = checked_geometry(
                read_vector(inputs.barriers, "barriers", grid_crs, every_layer=True),
                inputs.barriers,
                "barriers",
                ("LineString", "Polygon"),
            )
            mask = _burnt(barriers.geometry, shape, transform, inputs.barriers_burn, inputs.barriers, "barriers")
            speed[mask] = 0.0
            on_road &= ~mask
            layers["barrier_cells"] = int(mask.sum())
        elif layer == "roads" and inputs.roads is not None:
            roads = checked_geometry(
                read_vector(inputs.roads, "roads", grid_crs), inputs.roads, "roads", ("LineString",)
            )
            for kmh, mask in _road_masks(roads, inputs, shape, transform):
                speed[mask] = kmh
                walking[mask] = False
                bicycling[mask] = False
                on_road |= mask
            layers["road_cells"] = int(on_road.sum())
    if inputs.roads is not None and inputs.corner_rule:
        layers["bridge_steps_joined"] = join_cut_road_steps(speed, walking, on_road)
        bicycling &= ~on_road  # a joined step is road
    speed[~np.isfinite(elevation)] = 0.0  # a road beyond the DEM goes nowhere
    if area is not None:
        speed[~burn_mask(area.to_crs(grid_crs), shape=shape, transform=transform, all_touched=True)] = 0.0
    if inputs.slope == "none":
        walking[:] = False  # isotropic: no cell's speed depends on the slope of a move
        bicycling[:] = False
    # float32 inputs halve the memory the search streams through; its sums stay in float64.
    return TravelGrid(
        transform,
        speed.astype(np.float32),
        walking,
        elevation.astype(np.float32),
        corner_rule=inputs.corner_rule,
        crs=None if grid_crs == crs else grid_crs,
        layers=layers,
        bicycling=bicycling if bicycling.any() else None,
    )
