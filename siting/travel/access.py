"""Travel-time access: the sparse demand × site matrix of minutes within the standard, over a travel grid.

Demand points and sites are snapped to the grid (their own cell, or the nearest
passable neighbour). Sites are grouped in square tiles of the grid; each tile is
searched inside its *window*, the tile plus a halo of ``max_speed × standard``
cells on every side, one bounded search per site (:func:`siting.travel.grid.site_times`).
No path within the standard can leave its window, so the windows give exactly the
whole-grid answer while each worker only ever touches a window. Windows run in
worker processes through :func:`siting.parallel.map_parts`; the grid is handed to
each worker once.

Direction: ``to_home`` (the default) is the time a child needs to reach the home —
the move costs are taken in that direction of travel; ``from_home`` is the time the
child director needs to reach the family (home visits, 入户家访). Over slopes the
two differ (Tobler's function is not symmetric).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import scipy.sparse as sp
from affine import Affine
from pyproj import CRS

from siting.access import Access, with_boundary
from siting.costs import CostMatrix
from siting.errors import InputError, SitingWarning
from siting.parallel import Workers, map_parts
from siting.rasters import burn_mask, write_band
from siting.travel.grid import TravelGrid, nearest_times, site_times

__all__ = [
    "DIRECTIONS",
    "OverGrid",
    "TravelTimeRaster",
    "access_from_terrain",
    "halo_cells",
    "nearest_home_minutes",
    "snap_points",
    "write_travel_time_raster",
]

DIRECTIONS = ("to_home", "from_home")
#: Side of a tile of sites, in cells (the window adds the halo around it).
DEFAULT_TILE_CELLS = 128


def halo_cells(grid: TravelGrid, *, standard_min: float, max_speed_kmh: float | None = None) -> int:
    """Cells a path within ``standard_min`` can go at most: ``max_speed × standard / resolution``, rounded up.

    Raises
    ------
    InputError
        ``max_speed_kmh`` below the fastest move of the grid (the windows would cut paths).
    """
    fastest = grid.max_speed_kmh
    if max_speed_kmh is None:
        max_speed_kmh = fastest
    elif not (math.isfinite(max_speed_kmh) and max_speed_kmh > 0):
        raise InputError(f"access.max_speed_kmh must be a positive number, got {max_speed_kmh!r}")
    elif max_speed_kmh < fastest - 1e-9:
        raise InputError(
            f"access.max_speed_kmh = {max_speed_kmh:g} is below the fastest move of the grid ({fastest:.1f} km/h, "
            "roads or walking downhill); raise it or leave it out (the grid's own maximum is used)"
        )
    return math.ceil(max_speed_kmh * 1000.0 / 60.0 * standard_min / grid.resolution_m) + 1


def snap_points(grid: TravelGrid, points: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row and column of each point's passable cell (-1 where none within one cell), and why not.

    Returns
    -------
    tuple
        ``(rows, cols, reason)``; ``reason`` is ``""`` for snapped points, else
        ``"outside the grid"``, ``"no height in the DEM"`` or ``"on a barrier"``.
    """
    located = points.geometry if grid.crs is None else points.geometry.to_crs(grid.crs)  # a raster's own grid
    xy = located.get_coordinates().to_numpy()
    rows, cols = grid.snap(xy[:, 0], xy[:, 1])
    own_r, own_c = grid.cells_of(xy[:, 0], xy[:, 1])
    reason = np.full(len(points), "", dtype=object)
    missing = rows < 0
    outside = missing & (own_r < 0)
    reason[outside] = "outside the grid"
    inside = missing & ~outside
    no_height = np.zeros(len(points), dtype=bool)
    no_height[inside] = ~np.isfinite(grid.elevation_m[own_r[inside], own_c[inside]])
    reason[no_height] = "no height in the DEM"
    reason[inside & ~no_height] = "on a barrier"
    return rows, cols, reason


@dataclass(frozen=True, eq=False)
class OverGrid:
    """The nearest home at any time over a travel grid: one multi-source search from the open homes.

    The allocation and the nearest-home raster ask for the same search; the last one is kept.
    """

    grid: TravelGrid
    demand_cells: np.ndarray
    site_cells: np.ndarray
    reverse: bool
    keeps_boundaries: bool = False  # the search crosses every boundary
    _last: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    def raster(self, positions: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Minutes and the nearest home's index in ``positions`` on every cell (``inf`` and -1 where none)."""
        if positions not in self._last:
            self._last.clear()
            cells = self.site_cells[list(positions)]
            width = self.grid.shape[1]
            rows = np.where(cells >= 0, cells // width, -1)
            cols = np.where(cells >= 0, cells % width, -1)
            self._last[positions] = nearest_times(self.grid, rows, cols, reverse=self.reverse)
        return self._last[positions]

    def nearest(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        minutes, label = self.raster(tuple(np.asarray(positions).tolist()))
        return label.reshape(-1)[self.demand_cells], minutes.reshape(-1)[self.demand_cells]


@dataclass(frozen=True)
class _Window:
    """One tile of sites and its window: what a worker searches."""

    row0: int
    row1: int
    col0: int
    col1: int
    site_index: np.ndarray
    site_rows: np.ndarray
    site_cols: np.ndarray
    target_index: np.ndarray
    target_cells: np.ndarray
    limit_min: float
    reverse: bool


def _search_window(part: _Window, grid: TravelGrid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The site-to-demand times of one window (the grid reaches each worker once, shared by all windows)."""
    window = grid.window(part.row0, part.row1, part.col0, part.col1)
    s, t, minutes = site_times(
        window, part.site_rows, part.site_cols, part.target_cells, limit_min=part.limit_min, reverse=part.reverse
    )
    return part.site_index[s], part.target_index[t], minutes


def _windows(
    grid: TravelGrid,
    site_rows: np.ndarray,
    site_cols: np.ndarray,
    cells: np.ndarray,
    *,
    halo: int,
    tile_cells: int,
    limit_min: float,
    reverse: bool,
) -> list[_Window]:
    height, width = grid.shape
    cell_rows, cell_cols = cells // width, cells % width
    placed = np.flatnonzero(site_rows >= 0)
    tile_of = (site_rows[placed] // tile_cells) * (width // tile_cells + 1) + site_cols[placed] // tile_cells
    parts = []
    for tile in np.unique(tile_of):
        index = placed[tile_of == tile]
        tile_row, tile_col = divmod(int(tile), width // tile_cells + 1)
        row0 = max(int(tile_row) * tile_cells - halo, 0)
        row1 = min((int(tile_row) + 1) * tile_cells + halo, height)
        col0 = max(int(tile_col) * tile_cells - halo, 0)
        col1 = min((int(tile_col) + 1) * tile_cells + halo, width)
        inside = np.flatnonzero((cell_rows >= row0) & (cell_rows < row1) & (cell_cols >= col0) & (cell_cols < col1))
        if len(inside) == 0:
            continue
        parts.append(
            _Window(
                row0,
                row1,
                col0,
                col1,
                site_index=index,
                site_rows=site_rows[index] - row0,
                site_cols=site_cols[index] - col0,
                target_index=inside,
                target_cells=(cell_rows[inside] - row0) * (col1 - col0) + (cell_cols[inside] - col0),
                limit_min=limit_min,
                reverse=reverse,
            )
        )
    # The busiest windows first, so that workers finish together.
    return sorted(parts, key=lambda p: -len(p.site_index) * len(p.target_index))


def _expand_to_points(
    sites: np.ndarray, cells: np.ndarray, minutes: np.ndarray, point_cell: np.ndarray, n_sites: int
) -> sp.csr_array:
    """Pairs (site, unique cell) → pairs (demand point, site): every point of a cell has the cell's time."""
    order = np.argsort(point_cell, kind="stable")
    counts = np.bincount(point_cell, minlength=int(point_cell.max(initial=-1)) + 1)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    repeat = counts[cells]
    total = int(repeat.sum())
    first = np.repeat(starts[cells] - np.concatenate([[0], np.cumsum(repeat)[:-1]]), repeat)
    points = order[first + np.arange(total)]
    site_of, minutes_of = np.repeat(sites, repeat), np.repeat(minutes, repeat)
    keys = np.lexsort((site_of, points))
    rows, cols, data = points[keys], site_of[keys], minutes_of[keys]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=len(point_cell)))])
    return sp.csr_array((data, cols.astype(np.int64), indptr), shape=(len(point_cell), n_sites))


def access_from_terrain(
    demand: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    grid: TravelGrid,
    *,
    standard_min: float,
    direction: str = "to_home",
    respect: str | None = None,
    max_speed_kmh: float | None = None,
    workers: Workers = None,
    tile_cells: int = DEFAULT_TILE_CELLS,
) -> Access:
    """Travel times (minutes) between demand points and sites over ``grid``, within ``standard_min``.

    Parameters
    ----------
    demand
        Points with ``demand_id`` (and ``community_code``, and the admin code columns
        when ``respect`` is given), in the grid's CRS.
    sites
        Points with ``site_id``, same CRS.
    grid
        The travel grid (:func:`siting.travel.build.build_travel_grid`).
    standard_min
        Service standard in minutes; pairs beyond it are not stored.
    direction
        ``"to_home"`` (children travel to the home, the default) or ``"from_home"``.
    respect
        ``"township"`` or ``"county"``: a home only serves its own unit.
    max_speed_kmh
        Speed bound for the halo; default the grid's fastest move.
    workers
        Worker processes for the windows (default: the CPUs available).
    tile_cells
        Side of a tile of sites in cells.

    Raises
    ------
    InputError
        A direction that is not known, a non-positive standard, demand points that
        cannot be placed on the grid (listed by community, with the reason).
    """
    if direction not in DIRECTIONS:
        raise InputError(f"access.direction {direction!r} is not one of {list(DIRECTIONS)}")
    if not (math.isfinite(standard_min) and standard_min > 0):
        raise InputError(f"access.standard_min must be a positive number of minutes, got {standard_min!r}")
    if sites.crs != demand.crs:
        raise InputError(f"demand is in {demand.crs}, sites in {sites.crs}; use one working CRS")
    halo = halo_cells(grid, standard_min=standard_min, max_speed_kmh=max_speed_kmh)
    d_rows, d_cols, d_reason = snap_points(grid, demand)
    _refuse_unplaced(demand, d_reason)
    s_rows, s_cols, s_reason = snap_points(grid, sites)
    unplaced = np.flatnonzero(s_rows < 0)
    if len(unplaced):
        shown = ", ".join(f"{sites['site_id'].iloc[i]} ({s_reason[i]})" for i in unplaced[:10])
        warnings.warn(
            f"{len(unplaced)} sites are not on a passable cell of the travel grid and reach no one: {shown}",
            SitingWarning,
            stacklevel=2,
        )
    width = grid.shape[1]
    cells, point_cell = np.unique(d_rows * width + d_cols, return_inverse=True)
    parts = _windows(
        grid,
        s_rows,
        s_cols,
        cells,
        halo=halo,
        tile_cells=tile_cells,
        limit_min=float(standard_min),
        reverse=direction == "to_home",
    )
    results = map_parts(_search_window, parts, workers=workers, shared=grid, what="travel window")
    empty_i, empty_f = np.zeros(0, dtype=np.int64), np.zeros(0)
    site_of = np.concatenate([r[0] for r in results] or [empty_i])
    cell_of = np.concatenate([r[1] for r in results] or [empty_i])
    minutes = np.concatenate([r[2] for r in results] or [empty_f])
    matrix = _expand_to_points(site_of, cell_of, minutes, point_cell.reshape(-1), len(sites))
    costs = CostMatrix(
        matrix=matrix,
        demand_ids=demand["demand_id"].to_numpy(dtype=object),
        site_ids=sites["site_id"].to_numpy(dtype=object),
        unit="min",
        cutoff=float(standard_min),
    )
    return Access(
        costs=with_boundary(costs, respect, demand, sites),
        standard=float(standard_min),
        mode="travel_time",
        respect=respect,
        direction=direction,
        beyond=OverGrid(
            grid,
            demand_cells=d_rows * width + d_cols,
            site_cells=np.where(s_rows >= 0, s_rows * width + s_cols, -1),
            reverse=direction == "to_home",
        ),
    )


def _refuse_unplaced(demand: gpd.GeoDataFrame, reason: np.ndarray) -> None:
    bad = np.flatnonzero(reason != "")
    if len(bad) == 0:
        return
    label = demand["community_code"] if "community_code" in demand.columns else demand["demand_id"]
    if "community_name" in demand.columns:
        label = label.astype(str) + " " + demand["community_name"].fillna("").astype(str)
    shown = ", ".join(f"{label.iloc[i]} ({reason[i]})" for i in bad[:10])
    kinds = sorted(set(reason[bad]))
    fix = []
    if "no height in the DEM" in kinds or "outside the grid" in kinds:
        fix.append("give a DEM that covers the whole study area")
    if "on a barrier" in kinds:
        fix.append("check the barriers layer (a community seat should not lie inside a lake or river)")
    raise InputError(
        f"{len(bad)} communities cannot be placed on the travel grid: {shown}"
        + (" …" if len(bad) > 10 else "")
        + f"; {' and '.join(fix)}"
    )


@dataclass(frozen=True, eq=False)
class TravelTimeRaster:
    """Minutes from each cell of the study area to its nearest home (NaN outside it or where none is reached).

    Attributes
    ----------
    minutes
        float32 grid on the travel grid.
    transform, crs
        Where the grid lies (the working CRS, or a raster's own with ``access.grid``).
    standard_min, direction
        The access standard and direction it was computed with.
    """

    minutes: np.ndarray
    transform: Affine
    crs: CRS
    standard_min: float
    direction: str


def nearest_home_minutes(reach: Access, open_site_ids: Sequence[str], area: gpd.GeoSeries) -> TravelTimeRaster:
    """The nearest-home travel-time raster of a plan: one multi-source search, clipped to ``area``."""
    if reach.grid is None:
        raise InputError(f"a travel-time raster needs travel-time access, not {reach.mode!r}")
    minutes, _ = reach.nearest_time_raster(open_site_ids)
    crs = CRS.from_user_input(area.crs) if reach.grid.crs is None else reach.grid.crs
    inside = burn_mask(area.to_crs(crs), shape=reach.grid.shape, transform=reach.grid.transform)
    out = np.where(inside & np.isfinite(minutes), minutes, np.nan).astype(np.float32)
    return TravelTimeRaster(out, reach.grid.transform, crs, reach.standard, str(reach.direction))


def write_travel_time_raster(raster: TravelTimeRaster, path: Path, *, modelled: bool) -> None:
    """``nearest_home_time.tif``: float32 minutes, nodata -9999 (outside the study area or unreachable)."""
    tags = {"UNITS": "minutes", "DIRECTION": raster.direction, "STANDARD_MIN": f"{raster.standard_min:g}"}
    if modelled:
        tags |= {"MODELLED": "true", "NOTE": "computed over the sample's modelled terrain and roads"}
    write_band(
        path,
        np.nan_to_num(raster.minutes, nan=-9999.0),
        crs=raster.crs,
        transform=raster.transform,
        nodata=-9999.0,
        tags=tags,
        description=f"minutes to the nearest children's home ({raster.direction})",
    )
