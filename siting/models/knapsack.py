r"""Allocate a province-wide number of homes across independent parts exactly.

Each part :math:`c` (a connected component of the coverage graph) is solved for every
number of homes it could use, giving :math:`f_c(n)`, the most weight it covers with at
most :math:`n` new homes. The parts are then combined by a multiple-choice knapsack,

.. math::

    \max \sum_c f_c(n_c) \quad \text{s.t.} \quad \sum_c n_c \le N,

solved by dynamic programming over the total number of homes. Nothing is assumed about
the shape of :math:`f_c` (it need not be concave), so the combination equals the
optimum of the undivided model.

That dynamic programme costs (options of all parts) × (homes), which grows with the
square of the area. On large inputs the same optimum is found in about linear time:
the parts' concave hulls, taken greedily by slope, give a feasible choice and, through
the Lagrangian multiplier :math:`\lambda` of the homes, an upper bound; an option
whose reduced cost :math:`\max_m (f_c(m) - \lambda m) - (f_c(n) - \lambda n)` exceeds
the gap between them cannot be in any better choice, so only the options left are
combined, over the few homes they can move (:func:`_by_reduced_costs`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["best_without", "combine_parts"]

#: Above this many (option, homes) cells the knapsack is solved by reduced costs (the direct
#: programme takes about 1 s per 10⁸ cells).
DIRECT_WORK = 20_000_000


def _with_part(best: np.ndarray, f: np.ndarray, capacity: int) -> tuple[np.ndarray, np.ndarray]:
    """One step of the knapsack: ``best`` over the parts so far, plus a part worth ``f[n]`` with ``n`` homes.

    Returns the new best value for every ``t ≤ capacity`` homes and the part's homes in it
    (the fewest homes among equal values). One pass over ``t`` per option, in place: no
    options × capacity table (that table, and its arg-max down the columns, made the
    knapsack four times slower at 2,843 parts and 18,595 homes).
    """
    options = min(len(f), capacity + 1)
    value = best[: capacity + 1] + f[0]
    pick = np.zeros(capacity + 1, dtype=np.int32)
    for n in range(1, options):
        candidate = best[: capacity + 1 - n] + f[n]
        better = candidate > value[n:]
        value[n:][better] = candidate[better]
        pick[n:][better] = n
    return value, pick


def combine_parts(values: list[np.ndarray], capacity: int) -> tuple[float, list[int]]:
    """Pick one option per part, ``n_c`` homes worth ``values[c][n_c]``, with ``Σ n_c ≤ capacity``.

    Parameters
    ----------
    values
        Per part, the value of using 0, 1, 2, … homes (``values[c][0]`` is the value of none).
    capacity
        Homes available in all.

    Returns
    -------
    tuple
        ``(best total value, homes per part)``.

    Examples
    --------
    >>> combine_parts([np.array([0.0, 10, 10]), np.array([0.0, 7, 14])], 3)
    (24.0, [1, 2])
    """
    if capacity < 0:
        raise ValueError(f"capacity must be ≥ 0, got {capacity}")
    if sum(len(f) for f in values) * (capacity + 1) > DIRECT_WORK:
        found = _by_reduced_costs(values, capacity)
        if found is not None:
            return found
    return _direct(values, capacity)


def _direct(values: list[np.ndarray], capacity: int) -> tuple[float, list[int]]:
    """The dynamic programme over every part and every number of homes up to ``capacity``."""
    best = np.zeros(capacity + 1)  # best[t]: most value with at most t homes over the parts so far
    choices = []
    for f in values:
        best, pick = _with_part(best, f, capacity)
        choices.append(pick)
    homes = [0] * len(values)
    t = capacity
    for c in range(len(values) - 1, -1, -1):
        homes[c] = int(choices[c][t])
        t -= homes[c]
    return float(best[capacity]), homes


def _best_of(values: list[np.ndarray], capacity: int, *, keep: set[int]) -> dict[int, np.ndarray]:
    """``out[c]`` for ``c`` in ``keep``: the most parts ``0..c-1`` reach with at most ``t`` homes, ``t ≤ capacity``."""
    best = np.zeros(capacity + 1)
    out = {}
    last = max(keep, default=-1)
    for c, f in enumerate(values[: last + 1]):
        if c in keep:
            out[c] = best
        if c < last:
            best, _ = _with_part(best, f, capacity)
    return out


def best_without(values: list[np.ndarray], capacity: int, parts: list[int]) -> dict[int, np.ndarray]:
    """For each part ``c`` in ``parts``: the most the *other* parts reach when ``c`` takes ``n`` homes.

    ``out[c][n]`` is the best value of every part but ``c`` with at most ``capacity - n``
    homes, for ``n = 0 .. min(len(values[c]) - 1, capacity)``. A plan that gives part ``c``
    ``n`` homes is worth at most ``values[c][n] + out[c][n]``. Only the ``n`` the part can
    take are computed: a max-plus convolution over one window, not over every total. On
    large inputs (as :func:`combine_parts`) ``out[c][n]`` is an upper bound instead: the
    other parts' concave hulls filled by slope, the last segment in part (never below the
    exact value, so a plan it rules out is ruled out).

    Examples
    --------
    >>> best_without([np.array([0.0, 10, 10]), np.array([0.0, 7, 14])], 2, [0])[0].tolist()
    [14.0, 7.0, 0.0]
    """
    if sum(len(f) for f in values) * (capacity + 1) > DIRECT_WORK:
        return _relaxed_without(values, capacity, parts)
    wanted = set(parts)
    before = _best_of(values, capacity, keep=wanted)
    after = _best_of(values[::-1], capacity, keep={len(values) - 1 - c for c in wanted})
    out = {}
    for c in parts:
        head, tail = before[c], after[len(values) - 1 - c]  # parts before c; parts after c
        homes = min(len(values[c]) - 1, capacity)
        # max over a of head[a] + tail[t - a] at t = capacity - n.
        out[c] = np.array([np.max(head[: capacity - n + 1] + tail[capacity - n :: -1]) for n in range(homes + 1)])
    return out


def _segments(values: list[np.ndarray], hulls: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every part's hull segments that gain, steepest first: ``(part, homes, value)`` of each."""
    part_of, steps, gains = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)], [np.zeros(0)]
    for c, (f, h) in enumerate(zip(values, hulls, strict=True)):
        if len(h) > 1:
            part_of.append(np.full(len(h) - 1, c))
            steps.append(np.diff(h))
            gains.append(np.diff(f[h]))
    part, step, gain = np.concatenate(part_of), np.concatenate(steps), np.concatenate(gains)
    slope = gain / np.maximum(step, 1)
    order = np.argsort(-slope, kind="stable")
    order = order[slope[order] > 0]
    return part[order], step[order], gain[order]


def _relaxed_without(values: list[np.ndarray], capacity: int, parts: list[int]) -> dict[int, np.ndarray]:
    """:func:`best_without` as upper bounds: the other parts' hulls filled by slope, fractionally."""
    hulls = [_hull(f) for f in values]
    if any(len(h) == 0 for h in hulls):
        return {c: np.full(min(len(values[c]) - 1, capacity) + 1, -np.inf) for c in parts}
    base_homes = np.array([h[0] for h in hulls])
    base_value = np.array([f[h[0]] for f, h in zip(values, hulls, strict=True)])
    part, step, gain = _segments(values, hulls)
    out = {}
    for c in parts:
        others = part != c
        homes = np.concatenate([[0], np.cumsum(step[others])])
        value = np.concatenate([[0.0], np.cumsum(gain[others])])
        room = capacity - np.arange(min(len(values[c]) - 1, capacity) + 1) - (base_homes.sum() - base_homes[c])
        filled = np.interp(room, homes, value)  # fractional fill; flat beyond the last segment
        out[c] = np.where(room >= 0, base_value.sum() - base_value[c] + filled, -np.inf)
    return out


def _hull(f: np.ndarray) -> np.ndarray:
    """The indices of the upper concave hull of the finite points ``(n, f[n])``, by increasing ``n``."""
    hull: list[int] = []
    for n in np.flatnonzero(np.isfinite(f)).tolist():
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            # b is under the chord a → n (or on it): not a vertex.
            if (f[b] - f[a]) * (n - a) <= (f[n] - f[a]) * (b - a):
                hull.pop()
            else:
                break
        hull.append(n)
    return np.asarray(hull, dtype=np.int64)


def _by_reduced_costs(values: list[np.ndarray], capacity: int) -> tuple[float, list[int]] | None:
    """The knapsack's optimum through the Lagrangian of the homes; None when the direct programme must do it.

    1. Each part's concave hull; its segments taken by decreasing slope while they fit give a
       feasible choice (value ``z``); the first that does not fit sets the multiplier ``λ``.
    2. ``L(λ) = Σ_c max_n (f_c(n) - λ n) + λ capacity`` bounds every choice from above, and a
       choice worth at least ``z`` has reduced costs summing to at most ``L(λ) - z``: every
       option costing more is dropped.
    3. The options left are combined exactly by the same dynamic programme, over the homes
       above each part's least option left (parts with one option left are fixed).
    """
    hulls = [_hull(f) for f in values]
    if any(len(h) == 0 for h in hulls):
        return None  # a part with no finite option: the direct programme reports it
    base = np.array([h[0] for h in hulls])
    if int(base.sum()) > capacity:
        return None
    # Hull segments of all parts, steepest first (within a part in order: its slopes fall).
    part, step, gain = _segments(values, hulls)
    chosen = base.copy()
    multiplier = 0.0
    left = capacity - int(base.sum())
    blocked = np.zeros(len(values), dtype=bool)
    for c, homes, value in zip(part.tolist(), step.tolist(), gain.tolist(), strict=True):
        if blocked[c]:
            continue
        if homes <= left:
            chosen[c] += homes
            left -= homes
        else:
            if not blocked.any():
                multiplier = value / homes  # the first segment that does not fit
            blocked[c] = True  # this part's later segments come after this one
    incumbent = float(sum(f[n] for f, n in zip(values, chosen, strict=True)))
    best_each = [float(np.max(f[np.isfinite(f)] - multiplier * np.flatnonzero(np.isfinite(f)))) for f in values]
    bound = float(sum(best_each)) + multiplier * capacity
    gap = bound - incumbent
    tolerance = 1e-9 * max(1.0, abs(bound), float(sum(np.max(np.abs(f[np.isfinite(f)])) for f in values)))
    # Options whose reduced cost exceeds the gap cannot be in a choice worth at least the incumbent.
    kept: list[np.ndarray] = []
    for f, top in zip(values, best_each, strict=True):
        n = np.arange(len(f))
        with np.errstate(invalid="ignore"):
            reduced = top - (f - multiplier * n)
        kept.append(np.flatnonzero(np.isfinite(f) & (reduced <= gap + tolerance)))
    low = np.array([k[0] for k in kept])
    spare = capacity - int(low.sum())
    if spare < 0:
        return None
    free = [c for c, k in enumerate(kept) if len(k) > 1]
    width = min(spare, int(sum(kept[c][-1] - low[c] for c in free)))
    if sum(int(kept[c][-1] - low[c] + 1) for c in free) * (width + 1) > DIRECT_WORK * 4:
        return None  # too little pruned: the direct programme is no dearer
    shifted = []
    for c in free:
        f = values[c]
        span = np.full(int(kept[c][-1] - low[c]) + 1, -np.inf)
        span[kept[c] - low[c]] = f[kept[c]]
        shifted.append(span)
    _, extra = _direct(shifted, width) if free else (0.0, [])
    homes = low.copy()
    for c, more in zip(free, extra, strict=True):
        homes[c] += more
    total = float(sum(f[n] for f, n in zip(values, homes, strict=True)))
    return total, [int(n) for n in homes]
