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

    def __getstate__(self) -> dict[str, object]:
        """Pickled without what it caches (a window or a worker computes its own move factors)."""
        return {k: v for k, v in self.__dict__.items() if k != "move_factors"}

    @cached_property
    def move_factors(self) -> np.ndarray:
        """What the search reads per cell, side by side: half-move minutes per metre (signed) and height."""
        return _move_factors(self.speed_kmh, self.walking, self.elevation_m)

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


#: e^{-0.175}: the least Tobler's slope factor can slow a walking move (at a slope of -5 %).
_LEAST_SLOWING = math.exp(-0.175)


@njit(cache=True)
def _move_factors(speed: np.ndarray, walking: np.ndarray, elevation: np.ndarray) -> np.ndarray:
    """Per cell, side by side (one cache line for the search): minutes per metre of half a move at its flat speed
    (negative when walking, so that the slope applies; 0 where impassable), and its height."""
    height, width = speed.shape
    cells = np.zeros((height, width, 2), dtype=np.float64)
    for r in range(height):
        for c in range(width):
            if speed[r, c] > 0:
                per_m = 0.03 / np.float64(speed[r, c])  # half the move, in min/m: 0.5 × 60 / 1000 / (km/h)
                cells[r, c, 0] = -per_m if walking[r, c] else per_m
            cells[r, c, 1] = elevation[r, c]
    return cells


@njit(cache=True, inline="always")
def _half_minutes(per_m: float, slower: float) -> float:
    """Minutes per metre of half a move in a cell: its flat figure, times the slope factor when walking."""
    return -per_m * slower if per_m < 0 else per_m


@njit(cache=True, inline="always")
def _move_minutes(cells: np.ndarray, r0: int, c0: int, r1: int, c1: int, length_m: float) -> float:
    """Minutes to move from cell (r0, c0) to its neighbour (r1, c1): half the length at each cell's speed."""
    p0, p1 = cells[r0, c0, 0], cells[r1, c1, 0]
    if p0 > 0 and p1 > 0:
        return length_m * (p0 + p1)
    slope = (cells[r1, c1, 1] - cells[r0, c0, 1]) / length_m
    slower = math.exp(3.5 * abs(slope + 0.05) - 0.175)  # 1 / Tobler's factor
    return length_m * (_half_minutes(p0, slower) + _half_minutes(p1, slower))


@njit(cache=True, inline="always")
def _enqueue(
    heads: np.ndarray,
    entry_cell: np.ndarray,
    entry_next: np.ndarray,
    free: int,
    overflow: int,
    n_overflow: int,
    cell: int,
    due: int,
    current: int,
) -> tuple[int, int, int]:
    """Put ``cell`` in bucket ``due`` (or the overflow beyond the ring); returns ``(free, overflow, n_overflow)``."""
    n_buckets = len(heads)
    entry = free
    free = entry_next[entry]
    entry_cell[entry] = cell
    if due < current + n_buckets:
        entry_next[entry] = heads[due % n_buckets]
        heads[due % n_buckets] = entry
    else:
        entry_next[entry] = overflow
        overflow = entry
        n_overflow += 1
    return free, overflow, n_overflow


@njit(cache=True)
def _pull_overflow(
    heads: np.ndarray,
    entry_cell: np.ndarray,
    entry_next: np.ndarray,
    marks: np.ndarray,
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
    width = marks.shape[1]
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
        if marks[r, c, 0] == done:
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
    cells: np.ndarray,
    resolution_m: float,
    sources: np.ndarray,
    limit_min: float,
    reverse: bool,
    bucket_min: float,
    marks: np.ndarray,
    generation: int,
    dist: np.ndarray,
    heads: np.ndarray,
    entry_cell: np.ndarray,
    entry_next: np.ndarray,
    free_head: np.ndarray,
    reached: np.ndarray,
) -> int:
    """Bounded Dijkstra from the sources with a bucket queue; fills ``dist`` and labels, lists cells in ``reached``.

    ``cells`` is :func:`_move_factors`' array; ``sources`` has one ``(row, column, label)``
    row per source; ``marks[..., 0]`` is the stamp and ``marks[..., 1]`` the label of
    each cell (side by side, as the search reads them together). The queue is Dial's:
    cells wait in buckets ``bucket_min`` minutes wide, kept in a ring of ``len(heads)``
    buckets. ``bucket_min`` is at most the quickest move of the grid, so a move out of a
    bucket always lands in a later one and every cell of the current bucket is final
    when it is taken, in any order: the search is exact, with constant-time queue
    operations. A time beyond the ring's span (a very slow move: walking up a cliff)
    waits in an overflow list, moved into the ring every half turn.

    ``reverse`` gives the time *to* the sources (each move costed in the direction of
    travel towards them). Cells reached carry ``stamp == generation``, final ones
    ``-generation``; nothing is reset between searches. Returns the number of cells
    reached, or -1 when the entry pool is full (the caller grows it and searches again).
    Entries come from the free list ``free_head[0]`` (through ``entry_next``; ``len(entry_cell)``
    ends it) and all return to it, so it is set up once per workspace, not per search.
    """
    height, width = cells.shape[0], cells.shape[1]
    n_buckets, pool = len(heads), len(entry_cell)
    heads[:] = -1
    free, live, n_reached, done = free_head[0], 0, 0, -generation
    current, overflow, n_overflow, next_pull = 0, -1, 0, n_buckets // 2  # overflow: a list through entry_next
    for k in range(len(sources)):
        r, c = sources[k, 0], sources[k, 1]
        if r < 0 or cells[r, c, 0] == 0 or marks[r, c, 0] == generation:
            continue  # off the grid, impassable, or a second source on the same cell
        if free >= pool:
            return -1
        marks[r, c, 0], marks[r, c, 1], dist[r, c] = generation, sources[k, 2], 0.0
        free, overflow, n_overflow = _enqueue(
            heads, entry_cell, entry_next, free, overflow, n_overflow, r * width + c, 0, 0
        )
        live += 1
    while live > 0:
        if n_overflow > 0 and (current >= next_pull or live == n_overflow):
            free, live, overflow, n_overflow, current = _pull_overflow(
                heads, entry_cell, entry_next, marks, dist, done, bucket_min, free, live, overflow, n_overflow, current
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
        if marks[r, c, 0] == done:
            continue  # an older, slower entry of a cell already final
        marks[r, c, 0] = done
        reached[n_reached] = cell
        n_reached += 1
        here = dist[r, c]
        for k in range(8):
            rr, cc = r + _DR[k], c + _DC[k]
            if rr < 0 or rr >= height or cc < 0 or cc >= width or cells[rr, cc, 0] == 0 or marks[rr, cc, 0] == done:
                continue
            diagonal = rr != r and cc != c
            if diagonal and cells[r, cc, 0] == 0 and cells[rr, c, 0] == 0:
                continue  # no slipping between two impassable cells at a corner
            length = resolution_m * (1.4142135623730951 if diagonal else 1.0)
            seen = marks[rr, cc, 0] == generation
            if seen:  # not even the best slope could make this move improve the cell: skip its exp
                least = _half_minutes(cells[r, c, 0], _LEAST_SLOWING) + _half_minutes(cells[rr, cc, 0], _LEAST_SLOWING)
                if here + length * least >= dist[rr, cc]:
                    continue
            if reverse:
                candidate = here + _move_minutes(cells, rr, cc, r, c, length)
            else:
                candidate = here + _move_minutes(cells, r, c, rr, cc, length)
            if candidate > limit_min or (seen and candidate >= dist[rr, cc]):
                continue
            if free >= pool:
                return -1
            marks[rr, cc, 0], marks[rr, cc, 1], dist[rr, cc] = generation, marks[r, c, 1], candidate
            due = int(candidate / bucket_min)
            free, overflow, n_overflow = _enqueue(
                heads, entry_cell, entry_next, free, overflow, n_overflow, rr * width + cc, due, current
            )
            live += 1
    free_head[0] = free
    return n_reached


class _Workspace:
    """Arrays a run of searches shares (nothing is reset between searches: stamps tell what is current)."""

    def __init__(self, grid: TravelGrid, *, whole_grid: bool = False) -> None:
        """``whole_grid``: the searches will sweep the whole grid (a multi-source unbounded search), so the
        queue's entry pool starts at a quarter of the cells; a full pool costs a search started again."""
        shape = grid.shape
        self.marks = np.zeros((*shape, 2), dtype=np.int32)  # stamp and label of each cell, side by side
        self.dist = np.zeros(shape, dtype=np.float64)
        self.generation = 0
        n = shape[0] * shape[1]
        self._entries(n // 4 + 8 if whole_grid else min(n * 2 + 8, 1 << 18))
        self.reached = np.empty(n, dtype=np.int64)
        self.bucket_min = grid.bucket_min()
        self.heads = np.empty(MAX_BUCKETS, dtype=np.int64)

    @property
    def label(self) -> np.ndarray:
        """The source label of each cell reached by the last search."""
        return self.marks[..., 1]

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
        """Cells reached (flat indices) by one search; their times are in ``dist``, their source in :attr:`label`."""
        # A bounded search never holds a time beyond its limit: a ring spanning the limit has no overflow.
        span = int(limit_min / self.bucket_min) + 2 if math.isfinite(limit_min) else MAX_BUCKETS
        heads = self.heads[: max(2, min(span, MAX_BUCKETS))]
        sources = np.column_stack([rows, cols, labels]).astype(np.int64).reshape(-1, 3)
        while True:
            self.generation += 1
            count = _search(
                grid.move_factors,
                grid.resolution_m,
                sources,
                float(limit_min),
                reverse,
                self.bucket_min,
                self.marks,
                self.generation,
                self.dist,
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
    work = _Workspace(grid, whole_grid=True)
    labels = np.arange(len(source_rows), dtype=np.int64)
    work.run(grid, np.asarray(source_rows), np.asarray(source_cols), labels, limit_min, reverse)
    final = work.marks[..., 0] == -work.generation  # one pass over the grid, not a gather of every cell reached
    return np.where(final, work.dist, np.inf), np.where(final, work.label, -1).astype(np.int64)
