r"""p-median split into independent parts (townships under ``respect``) joined by an exact knapsack.

When a home may only serve its own township, the stored pairs fall apart into parts
that share nothing but the number of homes :math:`p`. Each part :math:`c` is solved
for every number of homes :math:`q` it could take, giving :math:`g_c(q)`, its least
weighted travel with :math:`q` open sites; then

.. math::

    \min \sum_c g_c(q_c) \quad \text{s.t.} \quad \sum_c q_c = p

is solved exactly by :func:`siting.models.knapsack.combine_parts`. :math:`g_c` never
rises with :math:`q` (a spare home can always be opened), so nothing is assumed about
its shape and the result is the optimum of the undivided model. Parts with at most
:data:`EXHAUSTIVE_SITES` free sites are enumerated outright (every subset at once, in
NumPy). For larger ones the LP relaxation is re-solved from its last basis for each
:math:`q`; when its optimum is integral (the usual case on a township) it is the MIP
optimum, and otherwise that :math:`q` is solved as a MIP.

Every entry of a curve carries a lower bound too (the optimum where proven, else the
MIP's or the LP's bound, else the travel with every allowed site open), so a plan
stopped by the time limit comes with the knapsack over the bounds as its own. A part
out of time grows its last plan one best site at a time, so that its plan for ``q``
always opens exactly ``q`` sites.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, replace
from typing import Any

import highspy
import numpy as np
import scipy.sparse as sp

from siting.errors import InfeasibleError, SolverError
from siting.models.decompose import map_parts, members_of
from siting.models.knapsack import combine_parts
from siting.models.solver import MatrixModel, quiet_stdout, solve_matrix_model
from siting.parallel import Workers

__all__ = ["EXHAUSTIVE_SITES", "PartCurve", "pmedian_curve", "solve_pmedian_by_parts"]

EXHAUSTIVE_SITES = 14  # 16,384 subsets: enumerated in about a millisecond per part


@functools.cache
def _subset_sizes(m: int) -> np.ndarray:
    """Number of members of each subset of ``m`` items, subsets numbered by bit mask."""
    sizes = np.zeros(1 << m, dtype=np.int64)
    for b in range(m):
        sizes[1 << b : 2 << b] = sizes[: 1 << b] + 1
    return sizes


@dataclass(frozen=True)
class PartCurve:
    """A part's plans with ``q_min + n`` open sites: weighted travel, sites, lower bound (``inf``: infeasible).

    ``lower[n] == travel[n]`` where the entry is proven optimal.
    """

    q_min: int
    travel: np.ndarray
    open_sites: tuple[tuple[int, ...], ...]
    proven: bool
    solve_s: float
    lower: np.ndarray


def _exhaustive(cost: np.ndarray, w: np.ndarray, fixed: np.ndarray, free: np.ndarray, n_max: int) -> PartCurve:
    """Every subset of the free sites, built up one site at a time (``cost``: demand × site, ``inf`` = no pair)."""
    base = cost[:, fixed].min(axis=1) if len(fixed) else np.full(cost.shape[0], np.inf)
    m = len(free)
    nearest = np.empty((1 << m, cost.shape[0]))
    nearest[0] = base
    for b in range(m):
        nearest[1 << b : 2 << b] = np.minimum(nearest[: 1 << b], cost[:, free[b]])
    weighted = np.where(np.isfinite(nearest), nearest, 0.0) @ w
    weighted[np.isinf(nearest[:, w > 0]).any(axis=1)] = np.inf
    size = _subset_sizes(m)
    travel, sites = [], []
    for n in range(min(m, n_max) + 1):
        members = np.flatnonzero(size == n)
        best = members[np.argmin(weighted[members])]
        travel.append(float(weighted[best]))
        sites.append(tuple(int(s) for s in fixed) + tuple(int(free[b]) for b in range(m) if best >> b & 1))
    return PartCurve(len(fixed), np.array(travel), tuple(sites), True, 0.0, np.array(travel))


class _LinearRelaxation:
    """The part's LP relaxation in one HiGHS instance, re-solved from the last basis for each q."""

    def __init__(
        self,
        matrix: sp.csr_array,
        pair_cost: np.ndarray,
        lower: np.ndarray,
        upper: np.ndarray,
        row_lower: np.ndarray,
        row_upper: np.ndarray,
        n_sites: int,
    ) -> None:

        with quiet_stdout():
            self.highs = highspy.Highs()
        self.highs.setOptionValue("output_flag", False)
        self.highs.setOptionValue("threads", 1)
        csc = sp.csc_array(matrix)
        csc.sort_indices()
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = int(matrix.shape[1]), int(matrix.shape[0])
        lp.col_cost_ = np.concatenate([np.zeros(n_sites), pair_cost])
        lp.col_lower_, lp.col_upper_ = lower.astype(float), upper.astype(float)
        lp.row_lower_, lp.row_upper_ = row_lower.astype(float), row_upper.astype(float)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = csc.indptr.astype(np.int32)
        lp.a_matrix_.index_ = csc.indices.astype(np.int32)
        lp.a_matrix_.value_ = csc.data.astype(float)
        self.highs.passModel(lp)
        self.n_sites = n_sites
        self.count_row = int(matrix.shape[0]) - 1
        self.optimal = highspy.HighsModelStatus.kOptimal

    def solve(self, q: int) -> tuple[np.ndarray | None, float]:
        """The LP with ``q`` sites: its open sites if integral (else None), and its optimum (a bound; -inf if none)."""
        self.highs.changeRowBounds(self.count_row, float(q), float(q))
        self.highs.run()
        if self.highs.getModelStatus() != self.optimal:
            return None, -np.inf
        value = float(self.highs.getInfo().objective_function_value)
        x = np.asarray(self.highs.getSolution().col_value)[: self.n_sites]
        if np.all(np.minimum(np.abs(x), np.abs(1 - x)) < 1e-7):
            return np.flatnonzero(x > 0.5), value
        return None, value


def _with_last(bounds: np.ndarray, value: float) -> np.ndarray:
    """A copy of row bounds with the last row (the number of homes) set to ``value``."""
    out = bounds.copy()
    out[-1] = value
    return out


def _by_mip(
    pairs: sp.csr_array,
    w: np.ndarray,
    fixed: np.ndarray,
    free: np.ndarray,
    n_max: int,
    *,
    solver: str,
    deadline: float | None,
) -> PartCurve:
    """One p-median MIP per number of homes (x sites, z pairs; Σ z_i· = 1, z ≤ x, Σ x = q)."""
    coo = pairs.tocoo()
    n_d, n_s = pairs.shape
    n_pairs = len(coo.row)
    n_vars = n_s + n_pairs
    scale = max(float((w[coo.row] * coo.data).max(initial=0.0)), 1.0) / 1e4
    link = np.arange(n_pairs)
    matrix = sp.csr_array(
        (
            np.concatenate([np.ones(n_pairs), np.ones(n_pairs), -np.ones(n_pairs), np.ones(n_s)]),
            (
                np.concatenate([coo.row, n_d + link, n_d + link, np.full(n_s, n_d + n_pairs)]),
                np.concatenate([n_s + link, n_s + link, coo.col, np.arange(n_s)]),
            ),
        ),
        shape=(n_d + n_pairs + 1, n_vars),
    )
    upper = np.zeros(n_vars)
    upper[np.concatenate([fixed, free])] = 1.0
    upper[n_s:] = 1.0
    lower = np.zeros(n_vars)
    lower[fixed] = 1.0
    row_lower = np.concatenate([np.ones(n_d), np.full(n_pairs, -np.inf), [0.0]])
    row_upper = np.concatenate([np.ones(n_d), np.zeros(n_pairs), [0.0]])
    pair_cost = w[coo.row] * coo.data / scale
    model = MatrixModel(
        name="pmedian_part",
        maximise=False,
        cost=np.concatenate([np.zeros(n_s), pair_cost]),
        lower=lower,
        upper=upper,
        integer=np.arange(n_vars) < n_s,
        matrix=matrix,
        row_lower=row_lower,
        row_upper=row_upper,
    )
    relaxation = _LinearRelaxation(matrix, pair_cost, lower, upper, row_lower, row_upper, n_s)
    every_open = _travel(coo, w, np.concatenate([fixed, free]))  # no plan of the part travels less
    travel: list[float] = []
    bounds: list[float] = []
    sites: list[tuple[int, ...]] = []
    proven, seconds = True, 0.0
    for n in range(min(len(free), n_max) + 1):
        q = len(fixed) + n
        # The LP optimum, when integral (usual on small parts), is the MIP optimum: no branching needed.
        out_of_time = deadline is not None and time.time() > deadline
        open_sites, bound = (None, -np.inf) if out_of_time else relaxation.solve(q)
        bound *= scale
        exact = open_sites is not None
        if open_sites is None and not out_of_time:
            remaining = None if deadline is None else max(deadline - time.time(), 0.05)
            try:
                result, values = solve_matrix_model(
                    replace(model, row_lower=_with_last(row_lower, q), row_upper=_with_last(row_upper, q)),
                    solver=solver,
                    time_limit_s=remaining,
                )
                seconds += result.seconds
                exact = result.status == "optimal"
                open_sites = np.flatnonzero(values[:n_s] > 0.5)
                if result.bound is not None:
                    bound = max(bound, result.bound * scale)
            except InfeasibleError:
                travel.append(np.inf)
                bounds.append(np.inf)
                sites.append(())
                continue
            except SolverError:
                open_sites = None
        if open_sites is None or len(open_sites) != q:  # out of time: grow the last plan (feasible, unproven)
            exact = False
            last = sites[-1] if sites and len(sites[-1]) == q - 1 else fixed
            open_sites = grown_to(coo, w, np.asarray(last, dtype=np.int64), free, q)
        travel.append(_travel(coo, w, open_sites))
        bounds.append(travel[-1] if exact else min(max(bound, every_open), travel[-1]))
        proven &= exact
        sites.append(tuple(int(s) for s in open_sites))
        if travel[-1] == 0.0:
            break
    # The least travel never rises with q: a bound at q holds for every fewer homes too.
    least = np.maximum.accumulate(np.array(bounds)[::-1])[::-1]
    return PartCurve(len(fixed), np.array(travel), tuple(sites), proven, seconds, np.minimum(least, travel))


def _travel(coo: sp.coo_array, w: np.ndarray, open_sites: np.ndarray) -> float:
    """Weighted travel of every demand point to its nearest open site (``inf`` if one has none)."""
    nearest = np.full(coo.shape[0], np.inf)
    np.minimum.at(nearest, coo.row, np.where(np.isin(coo.col, open_sites), coo.data, np.inf))
    return float((w * nearest).sum())


def grown_to(coo: sp.coo_array, w: np.ndarray, open_sites: np.ndarray, free: np.ndarray, q: int) -> np.ndarray:
    """``open_sites`` plus, one at a time, the free site that cuts the weighted travel most, until ``q`` are open."""
    open_sites = np.sort(np.asarray(open_sites, dtype=np.int64))
    while len(open_sites) < q:
        candidates = np.setdiff1d(free, open_sites)
        if len(candidates) == 0:
            break
        nearest = np.full(coo.shape[0], np.inf)
        np.minimum.at(nearest, coo.row, np.where(np.isin(coo.col, open_sites), coo.data, np.inf))
        capped = np.where(np.isfinite(nearest), nearest, coo.data.max(initial=0.0) * 10 + 1)
        saving = np.bincount(
            coo.col, weights=w[coo.row] * np.maximum(capped[coo.row] - coo.data, 0), minlength=coo.shape[1]
        )
        best = candidates[int(np.argmax(saving[candidates]))]
        open_sites = np.sort(np.append(open_sites, best))
    return open_sites


def pmedian_curve(
    pairs: sp.csr_array,
    w: np.ndarray,
    *,
    fixed: np.ndarray,
    free: np.ndarray,
    n_max: int,
    solver: str = "highs",
    deadline: float | None = None,
) -> PartCurve:
    """Least weighted travel of one part with its fixed sites and 0, 1, …, ``n_max`` free ones.

    Parameters
    ----------
    pairs
        Demand × site costs of the part (stored pairs only).
    w
        Demand weights.
    fixed, free
        Site positions (in the part) always open / that may be opened.
    n_max
        Most free sites to open.
    solver, deadline
        For parts too large to enumerate; ``deadline`` is wall-clock time (``time.time()``), so it
        holds in worker processes too. A part out of time adds its best single site per home
        (feasible, not proven).
    """
    if len(free) <= EXHAUSTIVE_SITES:
        dense = np.full(pairs.shape, np.inf)
        coo = pairs.tocoo()
        dense[coo.row, coo.col] = coo.data
        return _exhaustive(dense, w, fixed, free, n_max)
    return _by_mip(pairs, w, fixed, free, n_max, solver=solver, deadline=deadline)


def _curve_job(job: tuple[Any, ...]) -> PartCurve:
    _, pairs, w, fixed, free, n_max, solver, deadline = job
    return pmedian_curve(pairs, w, fixed=fixed, free=free, n_max=n_max, solver=solver, deadline=deadline)


def solve_pmedian_by_parts(
    pairs: sp.csr_array,
    w: np.ndarray,
    *,
    p: int,
    fixed: np.ndarray,
    allowed: np.ndarray,
    demand_labels: np.ndarray,
    site_labels: np.ndarray,
    n_parts: int,
    solver: str,
    deadline: float | None,
    workers: Workers = None,
) -> tuple[np.ndarray, bool, float, float]:
    """Open sites of the plan over independent parts, whether it is proven optimal, solve seconds, and a lower bound.

    Raises
    ------
    InfeasibleError
        No choice of ``p`` sites serves every weighted demand point.
    """
    is_fixed = np.zeros(pairs.shape[1], dtype=bool)
    is_fixed[fixed] = True
    members = list(zip(members_of(demand_labels, n_parts), members_of(site_labels, n_parts), strict=True))
    q_min = sum(int(is_fixed[cols].sum()) for _, cols in members)
    slack = p - q_min
    if slack < 0:
        raise InfeasibleError(f"p={p} is fewer than the {q_min} existing and forced homes")
    # A part with demand needs at least one open site; the others cap how many one part may take.
    needs = [int(len(rows) > 0 and not is_fixed[cols].any()) for rows, cols in members]
    jobs, curves_at = [], {}
    for c, (rows, cols) in enumerate(members):
        part_fixed = np.flatnonzero(is_fixed[cols])
        part_free = np.flatnonzero(allowed[cols] & ~is_fixed[cols])
        n_max = slack - (sum(needs) - needs[c])
        if len(rows) == 0:
            travel = np.zeros(max(min(len(part_free), n_max), 0) + 1)
            sites = tuple(tuple(part_fixed.tolist()) + tuple(part_free[:n].tolist()) for n in range(len(travel)))
            curves_at[c] = PartCurve(len(part_fixed), travel, sites, True, 0.0, travel)
            continue
        jobs.append((c, pairs[rows][:, cols].tocsr(), w[rows], part_fixed, part_free, max(n_max, 0), solver, deadline))
    started = time.perf_counter()
    for c, curve in zip(
        [job[0] for job in jobs], map_parts(_curve_job, jobs, workers=workers, what="p-median part"), strict=True
    ):
        curves_at[c] = curve
    curves = [curves_at[c] for c in range(n_parts)]
    seconds = time.perf_counter() - started  # wall clock (the parts run in parallel)
    value, extra = combine_parts([-curve.travel for curve in curves], slack)
    if not np.isfinite(value):
        raise InfeasibleError(f"no {p} sites serve every demand point through its stored pairs")
    least, _ = combine_parts([-curve.lower for curve in curves], slack)
    open_sites = [
        members[c][1][list(curve.open_sites[n])] for c, (curve, n) in enumerate(zip(curves, extra, strict=True))
    ]
    chosen = np.concatenate(open_sites) if open_sites else np.zeros(0, dtype=np.int64)
    spare = p - len(chosen)
    if spare > 0:  # homes that improve nothing still count towards p: open them where sites remain
        unused = np.setdiff1d(np.flatnonzero(allowed), chosen)
        chosen = np.concatenate([chosen, unused[:spare]])
    proven = all(curve.proven for curve in curves)
    return np.sort(chosen).astype(np.int64), proven, seconds, -least
