"""The search over a travel grid: an exact bounded Dijkstra with a bucket queue, compiled with numba.

:class:`_Workspace` holds what a run of searches shares; :func:`_search` is one search
from one or several source cells. Each cell's move factors (:func:`_move_factors`) and
its stamp and label sit side by side, as the search reads them together. The public
functions that use them are in :mod:`siting.travel.grid`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from siting.travel.cycling import MAX_RATIO, bicycle_ratio

if TYPE_CHECKING:
    from siting.travel.grid import TravelGrid

__all__ = ["MAX_BUCKETS"]

#: Buckets in the search's ring at most (times beyond its span wait in an overflow list).
MAX_BUCKETS = 1 << 16
#: The 8 neighbours: row and column offsets.
_DR = np.array([-1, -1, -1, 0, 0, 1, 1, 1], dtype=np.int64)
_DC = np.array([-1, 0, 1, -1, 1, -1, 0, 1], dtype=np.int64)


#: e^{-0.175}: the least Tobler's slope factor can slow a walking move (at a slope of -5 %).
_LEAST_SLOWING = math.exp(-0.175)
#: The least the slope can slow a bicycling move (downhill at the cap).
_LEAST_CYCLING = 1.0 / MAX_RATIO


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
def _bicycling(cells: np.ndarray, r: int, c: int) -> bool:
    """Whether a cell is ridden by bicycle (only a grid with bicycling cells has the third field)."""
    return cells.shape[2] > 2 and cells[r, c, 2] > 0


@njit(cache=True)
def _cycling_half(per_m: float, slope: float) -> float:
    """Minutes per metre of half a move through a bicycling cell (``per_m < 0``: its flat figure, negated)."""
    return -per_m / bicycle_ratio(-0.03 / per_m, slope)


@njit(cache=True, inline="always")
def _least_half(cells: np.ndarray, r: int, c: int) -> float:
    """The fewest minutes per metre half a move through a cell can take, whatever the slope."""
    per_m = cells[r, c, 0]
    if per_m > 0:
        return per_m
    return -per_m * (_LEAST_CYCLING if _bicycling(cells, r, c) else _LEAST_SLOWING)


@njit(cache=True, inline="always")
def _move_minutes(cells: np.ndarray, r0: int, c0: int, r1: int, c1: int, length_m: float) -> float:
    """Minutes to move from cell (r0, c0) to its neighbour (r1, c1): half the length at each cell's speed."""
    p0, p1 = cells[r0, c0, 0], cells[r1, c1, 0]
    if p0 > 0 and p1 > 0:
        return length_m * (p0 + p1)
    slope = (cells[r1, c1, 1] - cells[r0, c0, 1]) / length_m
    slower = math.exp(3.5 * abs(slope + 0.05) - 0.175)  # 1 / Tobler's factor
    h0 = _cycling_half(p0, slope) if _bicycling(cells, r0, c0) else _half_minutes(p0, slower)
    h1 = _cycling_half(p1, slope) if _bicycling(cells, r1, c1) else _half_minutes(p1, slower)
    return length_m * (h0 + h1)


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
    entry = free
    free = entry_next[entry]
    entry_cell[entry] = cell
    overflow, n_overflow = _link(heads, entry_next, entry, due, current, overflow, n_overflow)
    return free, overflow, n_overflow


@njit(cache=True, inline="always")
def _link(
    heads: np.ndarray, entry_next: np.ndarray, entry: int, due: int, current: int, overflow: int, n_overflow: int
) -> tuple[int, int]:
    """Link ``entry`` into bucket ``due`` of the ring, or the overflow list beyond its span."""
    n_buckets = len(heads)
    if due < current + n_buckets:
        entry_next[entry] = heads[due % n_buckets]
        heads[due % n_buckets] = entry
    else:
        entry_next[entry] = overflow
        overflow = entry
        n_overflow += 1
    return overflow, n_overflow


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
            overflow, n_overflow = _link(
                heads, entry_next, entry, int(dist[r, c] / bucket_min), current, overflow, n_overflow
            )
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
    corner_rule: bool,
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
        here_least = _least_half(cells, r, c)  # this cell's half of the quickest move
        for k in range(8):
            rr, cc = r + _DR[k], c + _DC[k]
            if rr < 0 or rr >= height or cc < 0 or cc >= width or cells[rr, cc, 0] == 0 or marks[rr, cc, 0] == done:
                continue
            diagonal = rr != r and cc != c
            if corner_rule and diagonal and cells[r, cc, 0] == 0 and cells[rr, c, 0] == 0:
                continue  # no slipping between two impassable cells at a corner
            length = resolution_m * (1.4142135623730951 if diagonal else 1.0)
            seen = marks[rr, cc, 0] == generation
            # Not even the best slope could make this move improve the cell: skip its exp.
            if seen and here + length * (here_least + _least_half(cells, rr, cc)) >= dist[rr, cc]:
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


@njit(cache=True)
def _read_out(marks: np.ndarray, dist: np.ndarray, generation: int) -> tuple[np.ndarray, np.ndarray]:
    """Minutes and source label of every cell the last search settled (``inf`` and -1 elsewhere), in one pass."""
    height, width = dist.shape
    minutes = np.empty((height, width), dtype=np.float64)
    labels = np.empty((height, width), dtype=np.int64)
    done = -generation
    for r in range(height):
        for c in range(width):
            if marks[r, c, 0] == done:
                minutes[r, c] = dist[r, c]
                labels[r, c] = marks[r, c, 1]
            else:
                minutes[r, c] = np.inf
                labels[r, c] = -1
    return minutes, labels


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
                grid.corner_rule,
            )
            if count >= 0:
                return self.reached[:count]
            self._entries(len(self.entry_cell) * 4)
