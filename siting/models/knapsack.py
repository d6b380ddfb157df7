r"""Allocate a province-wide number of homes across independent parts exactly.

Each part :math:`c` (a connected component of the coverage graph) is solved for every
number of homes it could use, giving :math:`f_c(n)`, the most weight it covers with at
most :math:`n` new homes. The parts are then combined by a multiple-choice knapsack,

.. math::

    \max \sum_c f_c(n_c) \quad \text{s.t.} \quad \sum_c n_c \le N,

solved by dynamic programming over the total number of homes. Nothing is assumed about
the shape of :math:`f_c` (it need not be concave), so the combination equals the
optimum of the undivided model.
"""

from __future__ import annotations

import numpy as np

__all__ = ["best_without", "combine_parts"]


def _with_part(best: np.ndarray, f: np.ndarray, capacity: int) -> tuple[np.ndarray, np.ndarray]:
    """One step of the knapsack: ``best`` over the parts so far, plus a part worth ``f[n]`` with ``n`` homes.

    Returns the new best value for every ``t ≤ capacity`` homes and the part's homes in it.
    """
    options = min(len(f), capacity + 1)
    candidates = np.full((options, capacity + 1), -np.inf)
    for n in range(options):
        candidates[n, n:] = best[: capacity + 1 - n] + f[n]
    pick = np.argmax(candidates, axis=0)
    return candidates[pick, np.arange(capacity + 1)], pick.astype(np.int32)


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


def _best_of(values: list[np.ndarray], capacity: int) -> list[np.ndarray]:
    """``out[c][t]``: the most value parts ``0..c-1`` reach with at most ``t`` homes (``out[0]`` is zeros)."""
    best = np.zeros(capacity + 1)
    out = [best]
    for f in values:
        best, _ = _with_part(best, f, capacity)
        out.append(best)
    return out


def best_without(values: list[np.ndarray], capacity: int, parts: list[int]) -> dict[int, np.ndarray]:
    """For each part ``c`` in ``parts``: the most the *other* parts reach with at most ``t`` homes, ``t = 0..capacity``.

    A plan that gives part ``c`` ``n`` homes is worth at most ``values[c][n] + best_without[c][capacity - n]``.

    Examples
    --------
    >>> best_without([np.array([0.0, 10, 10]), np.array([0.0, 7, 14])], 2, [0])[0].tolist()
    [0.0, 7.0, 14.0]
    """
    before = _best_of(values, capacity)
    after = _best_of(values[::-1], capacity)[::-1]  # after[c]: parts c..end
    out = {}
    for c in parts:
        head, tail = before[c], after[c + 1]
        # max over a of head[a] + tail[t - a] (max-plus convolution), for every t.
        grid = head[:, None] + tail[None, :]
        sums = np.full(capacity + 1, -np.inf)
        for a in range(capacity + 1):
            np.maximum(sums[a:], grid[a, : capacity + 1 - a], out=sums[a:])
        out[c] = sums
    return out
