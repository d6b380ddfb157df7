r"""Travel time over a grid: walking over terrain (Tobler), land-cover and road speeds, barriers.

The working grid is north-up, in the run's projected CRS, ``resolution_m`` per cell.
Each cell has a speed (km/h, 0 where impassable: barriers, water, nodata) and a
mode: *walking* cells are corrected for the slope of each move with Tobler's hiking
function, as AccessMod 5 computes it,

.. math:: v = v_\text{flat} \, e^{0.175} \, e^{-3.5 \, |s + 0.05|}, \qquad s = \Delta h / d,

(so uphill and downhill differ); *bicycling* cells keep the rider's flat-ground power
(:mod:`siting.travel.cycling`); *motorised* cells (roads, land cover marked so) are
not corrected. A move between neighbouring cells (8 neighbours) costs half its length at each
cell's speed. A diagonal move between two impassable cells is refused, so a barrier
one cell wide cannot be slipped through at a corner; roads are burnt after barriers,
so a road crossing a river is the only way over it (a bridge), and the grid joins a
road's diagonal steps over water so that the bridge holds at any angle.

The search is a bounded Dijkstra over the implicit grid, compiled with numba: it
touches only the cells it reaches within the standard (never the whole grid), so a
search costs what it reaches. :func:`site_times` runs one search per site and keeps
the times to the demand cells; :func:`nearest_times` runs one multi-source search
from all homes (the nearest-home raster). Both run per window — a tile of sites plus
a halo of ``max_speed × standard`` — in worker processes; a path within the standard
cannot leave its window, so the result is exact.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from affine import Affine
from numba import njit
from pyproj import CRS

from siting.travel.cycling import MAX_RATIO
from siting.travel.search import _move_factors, _read_out, _Workspace

__all__ = [
    "TOBLER_FLAT_FACTOR",
    "TravelGrid",
    "nearest_times",
    "search_from",
    "site_times",
    "tobler_kmh",
]

#: e^{0.175}: Tobler's function gives v_flat on flat ground with it.
TOBLER_FLAT_FACTOR = math.exp(0.175)


def tobler_kmh(v_flat_kmh: float | np.ndarray, slope: float | np.ndarray) -> np.ndarray:
    """Walking speed on a slope ``s = Δh / d`` (positive uphill), AccessMod's form of Tobler's function."""
    return np.asarray(v_flat_kmh) * TOBLER_FLAT_FACTOR * np.exp(-3.5 * np.abs(np.asarray(slope) + 0.05))


@dataclass(frozen=True, eq=False)
class TravelGrid:
    """Speeds, modes and heights on the working grid.

    Attributes
    ----------
    transform
        North-up affine transform of the grid (working CRS, metres).
    speed_kmh
        Speed per cell (float64); 0 where a cell cannot be entered.
    walking
        True where the speed is a walking speed on flat ground (corrected for slope).
    elevation_m
        Height per cell (float64; zeros without a DEM).
    bicycling
        True where the speed is a cycling speed on flat ground (corrected for slope at
        constant power); ``None``: no such cell. A cell is walking, bicycling or neither
        (motorised), never both.
    """

    transform: Affine
    speed_kmh: np.ndarray
    walking: np.ndarray
    elevation_m: np.ndarray
    #: A known bound on the fastest move (a window keeps its grid's; computed when absent).
    speed_bound_kmh: float | None = None
    #: Refuse a diagonal move between two impassable cells (a barrier one cell wide holds).
    corner_rule: bool = True
    #: The grid's own CRS when it is not the working CRS (a grid taken from a raster: ``access.grid``).
    crs: CRS | None = None
    #: Cells burnt per layer (and bridge steps joined), for the run record.
    layers: Mapping[str, int] = field(default_factory=dict)
    bicycling: np.ndarray | None = None

    def __post_init__(self) -> None:
        shapes = {self.speed_kmh.shape, self.walking.shape, self.elevation_m.shape}
        if self.bicycling is not None:
            shapes.add(self.bicycling.shape)
            if np.any(self.bicycling & self.walking):
                raise ValueError("a cell cannot be both walking and bicycling")
        if len(shapes) != 1:
            raise ValueError(f"speed, mode and height grids differ in shape: {sorted(shapes)}")

    def summary(self) -> dict[str, object]:
        """What the run record keeps of the grid: its size, cell, rules and the cells each layer burnt."""
        return {
            "rows": self.shape[0],
            "columns": self.shape[1],
            "resolution_m": self.resolution_m,
            "crs": None if self.crs is None else self.crs.to_string(),
            "corner_rule": self.corner_rule,
            "slope_corrected_cells": int(np.count_nonzero(self.slope_corrected & (self.speed_kmh > 0))),
            "bicycling_cells": 0
            if self.bicycling is None
            else int(np.count_nonzero(self.bicycling & (self.speed_kmh > 0))),
            "layers": dict(self.layers),
        }

    @property
    def resolution_m(self) -> float:
        return float(self.transform.a)

    @property
    def shape(self) -> tuple[int, int]:
        rows, cols = self.speed_kmh.shape
        return int(rows), int(cols)

    def __getstate__(self) -> dict[str, object]:
        """Pickled without what it caches (a window or a worker computes its own move factors)."""
        return {k: v for k, v in self.__dict__.items() if k != "move_factors"}

    @property
    def slope_corrected(self) -> np.ndarray:
        """Cells whose speed depends on the slope of a move (walking or bicycling)."""
        return self.walking if self.bicycling is None else self.walking | self.bicycling

    @cached_property
    def move_factors(self) -> np.ndarray:
        """What the search reads per cell, side by side: half-move minutes per metre (signed) and height,
        and a third field (1: bicycling) only on a grid with bicycling cells."""
        if self.bicycling is None or not self.bicycling.any():
            return _move_factors(self.speed_kmh, self.walking, self.elevation_m)
        cells = _move_factors(self.speed_kmh, self.slope_corrected, self.elevation_m)
        return np.concatenate([cells, self.bicycling[..., None].astype(np.float64)], axis=2)

    @cached_property
    def max_speed_kmh(self) -> float:
        """The fastest a move can go (walking at its best slope, cycling downhill, or the fastest road)."""
        if self.speed_bound_kmh is not None:
            return self.speed_bound_kmh
        bike = np.zeros_like(self.walking) if self.bicycling is None else self.bicycling
        walk = self.speed_kmh[self.walking]
        ride = self.speed_kmh[~self.walking & ~bike]
        fastest_walk = float(walk.max(initial=0.0)) * TOBLER_FLAT_FACTOR
        fastest_bike = float(self.speed_kmh[bike].max(initial=0.0)) * MAX_RATIO
        return max(fastest_walk, fastest_bike, float(ride.max(initial=0.0)))

    def bucket_min(self) -> float:
        """Width of the search's buckets: just under the quickest move (one cell straight at the top speed)."""
        return 0.999 * self.resolution_m * 0.06 / max(self.max_speed_kmh, 1e-9)

    def cells_of(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of points (working CRS); outside the grid gives -1."""
        cols, rows = ~self.transform * (np.asarray(x, float), np.asarray(y, float))
        rows, cols = np.floor(rows).astype(np.int64), np.floor(cols).astype(np.int64)
        inside = (rows >= 0) & (rows < self.shape[0]) & (cols >= 0) & (cols < self.shape[1])
        return np.where(inside, rows, -1), np.where(inside, cols, -1)

    def snap(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The passable cell of each point: its own, or the nearest passable neighbour; -1 where none."""
        rows, cols = self.cells_of(x, y)
        return _snap(self.speed_kmh, rows, cols)

    def window(self, row0: int, row1: int, col0: int, col1: int) -> TravelGrid:
        """The part of the grid in rows ``row0:row1`` and columns ``col0:col1``."""
        transform = self.transform * Affine.translation(col0, row0)
        return TravelGrid(
            transform,
            self.speed_kmh[row0:row1, col0:col1],
            self.walking[row0:row1, col0:col1],
            self.elevation_m[row0:row1, col0:col1],
            speed_bound_kmh=self.max_speed_kmh,  # the grid's: buckets stay narrower than any move
            corner_rule=self.corner_rule,
            crs=self.crs,
            bicycling=None if self.bicycling is None else self.bicycling[row0:row1, col0:col1],
        )


@njit(cache=True)
def _snap(speed: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    out_r = rows.copy()
    out_c = cols.copy()
    height, width = speed.shape
    for k in range(len(rows)):
        r, c = rows[k], cols[k]
        if r < 0:
            continue
        if speed[r, c] > 0:
            continue
        best, br, bc = 1e300, -1, -1
        for dr in range(-1, 2):
            for dc in range(-1, 2):
                rr, cc = r + dr, c + dc
                if 0 <= rr < height and 0 <= cc < width and speed[rr, cc] > 0:
                    d = dr * dr + dc * dc
                    if d < best:
                        best, br, bc = d, rr, cc
        out_r[k], out_c[k] = br, bc
    return out_r, out_c


def search_from(
    grid: TravelGrid,
    rows: np.ndarray,
    cols: np.ndarray,
    *,
    limit_min: float = math.inf,
    reverse: bool = False,
) -> np.ndarray:
    """Minutes from the nearest of the given cells to every cell (``inf`` beyond the limit or unreachable).

    A whole-grid answer for checks and small grids; :func:`site_times` and
    :func:`nearest_times` are what runs use.
    """
    return nearest_times(grid, np.asarray(rows), np.asarray(cols), limit_min=limit_min, reverse=reverse)[0]


def site_times(
    grid: TravelGrid,
    site_rows: np.ndarray,
    site_cols: np.ndarray,
    target_cells: np.ndarray,
    *,
    limit_min: float,
    reverse: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One bounded search per site; the minutes to every target cell reached within ``limit_min``.

    Parameters
    ----------
    grid
        The grid (or a window of it).
    site_rows, site_cols
        Each site's cell (-1: not on the grid; it reaches nothing).
    target_cells
        Flat indices of the cells whose times are wanted (the demand cells).
    limit_min
        The standard: cells farther than this are not reached.
    reverse
        Times *to* the site (children travel to the home) instead of from it.

    Returns
    -------
    tuple
        ``(site index, target index, minutes)`` arrays, one entry per pair reached.
    """
    work = _Workspace(grid)
    position = np.full(grid.shape[0] * grid.shape[1], -1, dtype=np.int64)
    position[target_cells] = np.arange(len(target_cells))
    sites_out, targets_out, minutes_out = [], [], []
    one = np.zeros(1, dtype=np.int64)
    for k in range(len(site_rows)):
        if site_rows[k] < 0:
            continue
        reached = work.run(grid, site_rows[k : k + 1], site_cols[k : k + 1], one, limit_min, reverse)
        hit = reached[position[reached] >= 0]
        if len(hit) == 0:
            continue
        sites_out.append(np.full(len(hit), k, dtype=np.int64))
        targets_out.append(position[hit])
        minutes_out.append(work.dist.reshape(-1)[hit].copy())
    if not sites_out:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    return np.concatenate(sites_out), np.concatenate(targets_out), np.concatenate(minutes_out)


def nearest_times(
    grid: TravelGrid,
    source_rows: np.ndarray,
    source_cols: np.ndarray,
    *,
    limit_min: float = math.inf,
    reverse: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """One multi-source search: minutes to the nearest source and which source (-1 beyond the limit).

    This is the nearest-home travel-time raster: each cell's time to (or from) the
    nearest home and that home's index.
    """
    work = _Workspace(grid, whole_grid=True)
    labels = np.arange(len(source_rows), dtype=np.int64)
    work.run(grid, np.asarray(source_rows), np.asarray(source_cols), labels, limit_min, reverse)
    return _read_out(work.marks, work.dist, work.generation)  # one pass over the grid
