r"""Travel time over a grid: walking over terrain (Tobler), land-cover and road speeds, barriers.

The working grid is north-up, in the run's projected CRS, ``resolution_m`` per cell.
Each cell has a speed (km/h, 0 where impassable: barriers, water, nodata) and a
mode: *walking* cells are corrected for the slope of each move with Tobler's hiking
function, as AccessMod 5 computes it,

.. math:: v = v_\text{flat} \, e^{0.175} \, e^{-3.5 \, |s + 0.05|}, \qquad s = \Delta h / d,

(so uphill and downhill differ); *motorised* cells (roads, land cover marked so) are
not. A move between neighbouring cells (8 neighbours) costs half its length at each
cell's speed. A diagonal move between two impassable cells is refused, so a barrier
one cell wide cannot be slipped through at a corner; roads are burnt after barriers,
so a road crossing a river is the only way over it (a bridge).

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
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from affine import Affine
from numba import njit

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
#: Buckets in the search's ring at most (times beyond its span wait in an overflow list).
MAX_BUCKETS = 1 << 16
#: The 8 neighbours: row and column offsets.
_DR = np.array([-1, -1, -1, 0, 0, 1, 1, 1], dtype=np.int64)
_DC = np.array([-1, 0, 1, -1, 1, -1, 0, 1], dtype=np.int64)


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
    """

    transform: Affine
    speed_kmh: np.ndarray
    walking: np.ndarray
    elevation_m: np.ndarray
    #: A known bound on the fastest move (a window keeps its grid's; computed when absent).
    speed_bound_kmh: float | None = None

    def __post_init__(self) -> None:
        shapes = {self.speed_kmh.shape, self.walking.shape, self.elevation_m.shape}
        if len(shapes) != 1:
            raise ValueError(f"speed, mode and height grids differ in shape: {sorted(shapes)}")

    @property
    def resolution_m(self) -> float:
        return float(self.transform.a)

    @property
    def shape(self) -> tuple[int, int]:
        rows, cols = self.speed_kmh.shape
        return int(rows), int(cols)

    @cached_property
    def max_speed_kmh(self) -> float:
        """The fastest a move can go (walking at its best slope, or the fastest road)."""
        if self.speed_bound_kmh is not None:
            return self.speed_bound_kmh
        walk = self.speed_kmh[self.walking]
        ride = self.speed_kmh[~self.walking]
        fastest_walk = float(walk.max(initial=0.0)) * TOBLER_FLAT_FACTOR * math.exp(-3.5 * 0.0)
        return max(fastest_walk, float(ride.max(initial=0.0)))

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


@njit(cache=True, inline="always")
def _move_minutes(
    speed: np.ndarray,
    walking: np.ndarray,
    elevation: np.ndarray,
    r0: int,
    c0: int,
    r1: int,
    c1: int,
    length_m: float,
) -> float:
    """Minutes to move from cell (r0, c0) to its neighbour (r1, c1): half the length at each cell's speed."""
    half = 0.03 * length_m  # half the move, in km·min/h: 0.5 × m / 1000 × 60
    walk0, walk1 = walking[r0, c0], walking[r1, c1]
    if not (walk0 or walk1):
        return half / speed[r0, c0] + half / speed[r1, c1]
    rise = np.float64(elevation[r1, c1]) - np.float64(elevation[r0, c0])  # float64 for float32 grids too
    slope = rise / length_m
    slower = math.exp(3.5 * abs(slope + 0.05) - 0.175)  # 1 / Tobler's factor
    return half * (slower if walk0 else 1.0) / speed[r0, c0] + half * (slower if walk1 else 1.0) / speed[r1, c1]


@njit(cache=True)
def _pull_overflow(
    heads: np.ndarray,
    entry_cell: np.ndarray,
    entry_next: np.ndarray,
    stamp: np.ndarray,
    dist: np.ndarray,
    done: int,
    bucket_min: float,
    free: int,
    live: int,
    overflow: int,
    n_overflow: int,
    current: int,
) -> tuple[int, int, int, int, int]:
    """Move the overflow entries due within the ring's span into it (first jumping ahead if the ring is empty).

    Returns the queue's new ``(free, live, overflow, n_overflow, current)``; the search's
    hot loop keeps them in registers, so the rare path lives here.
    """
    width = stamp.shape[1]
    n_buckets = len(heads)
    if live == n_overflow:  # the ring is empty: jump to the earliest waiting time
        earliest = current + n_buckets
        entry = overflow
        while entry >= 0:
            cell = entry_cell[entry]
            earliest = min(earliest, int(dist[cell // width, cell % width] / bucket_min))
            entry = entry_next[entry]
        current = max(current, earliest)
    entry, overflow, n_overflow = overflow, -1, 0
    while entry >= 0:  # into the ring if due within its span, else back to the overflow
        following = entry_next[entry]
        cell = entry_cell[entry]
        r, c = cell // width, cell % width
        if stamp[r, c] == done:
            entry_next[entry] = free
            free = entry
            live -= 1
        else:
            due = int(dist[r, c] / bucket_min)
            if due < current + n_buckets:
                entry_next[entry] = heads[due % n_buckets]
                heads[due % n_buckets] = entry
            else:
                entry_next[entry] = overflow
                overflow = entry
                n_overflow += 1
        entry = following
    return free, live, overflow, n_overflow, current


@njit(cache=True)
def _search(
    speed: np.ndarray,
    walking: np.ndarray,
    elevation: np.ndarray,
    resolution_m: float,
    source_rows: np.ndarray,
    source_cols: np.ndarray,
    source_labels: np.ndarray,
    limit_min: float,
    reverse: bool,
    bucket_min: float,
    stamp: np.ndarray,
    generation: int,
    dist: np.ndarray,
    label: np.ndarray,
    heads: np.ndarray,
    entry_cell: np.ndarray,
    entry_next: np.ndarray,
    free_head: np.ndarray,
    reached: np.ndarray,
) -> int:
    """Bounded Dijkstra from the sources with a bucket queue; fills ``dist``/``label``, lists the cells in ``reached``.

    The queue is Dial's: cells wait in buckets ``bucket_min`` minutes wide, kept in a
    ring of ``len(heads)`` buckets. ``bucket_min`` is at most the quickest move of the
    grid, so a move out of a bucket always lands in a later one and every cell of the
    current bucket is final when it is taken, in any order: the search is exact, with
    constant-time queue operations. A time beyond the ring's span (a very slow move:
    walking up a cliff) waits in an overflow list, moved into the ring every half turn.

    ``reverse`` gives the time *to* the sources (each move costed in the direction of
    travel towards them). Cells reached carry ``stamp == generation``, final ones
    ``-generation``; nothing is reset between searches. Returns the number of cells
    reached, or -1 when the entry pool is full (the caller grows it and searches again).
    Entries come from the free list ``free_head[0]`` (through ``entry_next``; ``len(entry_cell)``
    ends it) and all return to it, so it is set up once per workspace, not per search.
    """
    height, width = speed.shape
    n_buckets = len(heads)
    heads[:] = -1
    pool = len(entry_cell)
    free = free_head[0]  # the free list is the workspace's: every entry is back on it after a search
    live = 0
    n_reached = 0
    done = -generation
    for k in range(len(source_rows)):
        r, c = source_rows[k], source_cols[k]
        if r < 0 or speed[r, c] <= 0 or stamp[r, c] == generation:
            continue  # off the grid, impassable, or a second source on the same cell
        stamp[r, c] = generation
        dist[r, c] = 0.0
        label[r, c] = source_labels[k]
        if free >= pool:
            return -1
        entry = free
        free = entry_next[entry]
        entry_cell[entry] = r * width + c
        entry_next[entry] = heads[0]
        heads[0] = entry
        live += 1
    current = 0
    overflow = -1  # entries beyond the ring, as a list through entry_next
    n_overflow = 0
    next_pull = n_buckets // 2
    while live > 0:
        if n_overflow > 0 and (current >= next_pull or live == n_overflow):
            free, live, overflow, n_overflow, current = _pull_overflow(
                heads, entry_cell, entry_next, stamp, dist, done, bucket_min, free, live, overflow, n_overflow, current
            )
            next_pull = current + n_buckets // 2
            continue
        slot = current % n_buckets
        entry = heads[slot]
        if entry < 0:
            current += 1
            continue
        heads[slot] = entry_next[entry]
        cell = entry_cell[entry]
        entry_next[entry] = free
        free = entry
        live -= 1
        r = cell // width
        c = cell - r * width
        if stamp[r, c] == done:
            continue  # an older, slower entry of a cell already final
        stamp[r, c] = done
        reached[n_reached] = cell
        n_reached += 1
        here = dist[r, c]
        for k in range(8):
            rr = r + _DR[k]
            cc = c + _DC[k]
            if rr < 0 or rr >= height or cc < 0 or cc >= width or speed[rr, cc] <= 0 or stamp[rr, cc] == done:
                continue
            diagonal = rr != r and cc != c
            if diagonal and speed[r, cc] <= 0 and speed[rr, c] <= 0:
                continue  # no slipping between two impassable cells at a corner
            length = resolution_m * (1.4142135623730951 if diagonal else 1.0)
            if reverse:
                step = _move_minutes(speed, walking, elevation, rr, cc, r, c, length)
            else:
                step = _move_minutes(speed, walking, elevation, r, c, rr, cc, length)
            candidate = here + step
            if candidate > limit_min:
                continue
            if stamp[rr, cc] != generation or candidate < dist[rr, cc]:  # not yet reached, or reached slower
                stamp[rr, cc] = generation
                dist[rr, cc] = candidate
                label[rr, cc] = label[r, c]
                if free >= pool:
                    return -1
                entry = free
                free = entry_next[entry]
                entry_cell[entry] = rr * width + cc
                due = int(candidate / bucket_min)
                if due < current + n_buckets:
                    entry_next[entry] = heads[due % n_buckets]
                    heads[due % n_buckets] = entry
                else:
                    entry_next[entry] = overflow
                    overflow = entry
                    n_overflow += 1
                live += 1
    free_head[0] = free
    return n_reached


class _Workspace:
    """Arrays a run of searches shares (nothing is reset between searches: stamps tell what is current)."""

    def __init__(self, grid: TravelGrid) -> None:
        shape = grid.shape
        self.stamp = np.zeros(shape, dtype=np.int32)
        self.dist = np.zeros(shape, dtype=np.float64)
        self.label = np.zeros(shape, dtype=np.int32)
        self.generation = 0
        n = shape[0] * shape[1]
        self._entries(min(n * 2 + 8, 1 << 18))
        self.reached = np.empty(n, dtype=np.int64)
        self.bucket_min = grid.bucket_min()
        self.heads = np.empty(MAX_BUCKETS, dtype=np.int64)

    def _entries(self, pool: int) -> None:
        """A pool of queue entries, all on the free list."""
        self.entry_cell = np.empty(pool, dtype=np.int32)
        self.entry_next = np.arange(1, pool + 1, dtype=np.int32)
        self.free_head = np.zeros(1, dtype=np.int64)

    def run(
        self,
        grid: TravelGrid,
        rows: np.ndarray,
        cols: np.ndarray,
        labels: np.ndarray,
        limit_min: float,
        reverse: bool,
    ) -> np.ndarray:
        """Cells reached (flat indices) by one search; their times are in ``dist``, their source in ``label``."""
        # A bounded search never holds a time beyond its limit: a ring spanning the limit has no overflow.
        span = int(limit_min / self.bucket_min) + 2 if math.isfinite(limit_min) else MAX_BUCKETS
        heads = self.heads[: max(2, min(span, MAX_BUCKETS))]
        while True:
            self.generation += 1
            count = _search(
                grid.speed_kmh,
                grid.walking,
                grid.elevation_m,
                grid.resolution_m,
                rows.astype(np.int64),
                cols.astype(np.int64),
                labels.astype(np.int32),
                float(limit_min),
                reverse,
                self.bucket_min,
                self.stamp,
                self.generation,
                self.dist,
                self.label,
                heads,
                self.entry_cell,
                self.entry_next,
                self.free_head,
                self.reached,
            )
            if count >= 0:
                return self.reached[:count]
            self._entries(len(self.entry_cell) * 4)


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
    work = _Workspace(grid)
    reached = work.run(grid, np.asarray(rows), np.asarray(cols), np.zeros(len(rows)), limit_min, reverse)
    out = np.full(grid.shape, np.inf)
    flat = out.reshape(-1)
    flat[reached] = work.dist.reshape(-1)[reached]
    return out


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
    work = _Workspace(grid)
    labels = np.arange(len(source_rows), dtype=np.int64)
    reached = work.run(grid, np.asarray(source_rows), np.asarray(source_cols), labels, limit_min, reverse)
    minutes = np.full(grid.shape, np.inf)
    nearest = np.full(grid.shape, -1, dtype=np.int64)
    minutes.reshape(-1)[reached] = work.dist.reshape(-1)[reached]
    nearest.reshape(-1)[reached] = work.label.reshape(-1)[reached]
    return minutes, nearest
