"""MCLP by parts: each connected component of the coverage graph solved for every number of homes, then joined.

The parts are independent but for the province-wide number of homes, which an exact
multiple-choice knapsack (:mod:`siting.models.knapsack`) shares among them. A part
that runs out of time keeps the plans it has: with more homes it covers at least
what it covered with fewer, and its bound for those numbers is the weight its best
sites could reach (the sum of the largest column weights), so the joined plan is
always feasible and carries a proven bound.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from siting.errors import SolverError
from siting.models.decompose import coverage_components, map_parts
from siting.models.knapsack import combine_parts
from siting.models.options import SolverOptions
from siting.models.problem import SolveResult
from siting.models.reductions import covered_by
from siting.models.solver import MatrixModel, integral_point, solve_matrix_model, solve_relaxation
from siting.parallel import Workers

__all__ = ["PartsResult", "solve_mclp_by_parts"]


@dataclass(frozen=True)
class _CoverPart:
    """One connected component of the coverage graph: its rows × sites and row weights."""

    cover: sp.csr_array
    weights: np.ndarray
    max_homes: int
    solver: SolverOptions
    deadline_epoch: float | None


@dataclass(frozen=True)
class _Curve:
    """Most weight a part covers with at most 0, 1, 2, … homes, the bounds, and the sites chosen."""

    values: np.ndarray
    bounds: np.ndarray
    chosen: tuple[tuple[int, ...], ...]
    proven: bool
    solver: str
    seconds: float


@dataclass(frozen=True)
class PartsResult:
    """The joined plan: chosen columns, objective, bound, whether proven, and what stopped it."""

    chosen: np.ndarray
    objective: float
    bound: float
    proven: bool
    solver: str
    seconds: float
    stopped_by: str | None


def _part_model(part: _CoverPart) -> tuple[MatrixModel, float]:
    """``max Σ w_i y_i`` s.t. ``y_i ≤ Σ x_j`` and ``Σ x_j ≤ n`` (n set per solve in the last row)."""
    n_rows, n_sites = part.cover.shape
    rows = np.repeat(np.arange(n_rows), np.diff(part.cover.indptr))
    matrix = sp.csr_array(
        (
            np.concatenate([np.ones(n_rows), -np.ones(len(rows)), np.ones(n_sites)]),
            (
                np.concatenate([np.arange(n_rows), rows, np.full(n_sites, n_rows)]),
                np.concatenate([n_sites + np.arange(n_rows), part.cover.indices, np.arange(n_sites)]),
            ),
        ),
        shape=(n_rows + 1, n_sites + n_rows),
    )
    scale = max(float(part.weights.max(initial=0.0)), 1.0)
    model = MatrixModel(
        name="mclp_part",
        maximise=True,
        cost=np.concatenate([np.zeros(n_sites), part.weights / scale]),
        lower=np.zeros(n_sites + n_rows),
        upper=np.ones(n_sites + n_rows),
        integer=np.arange(n_sites + n_rows) < n_sites,
        matrix=matrix,
        row_lower=np.full(n_rows + 1, -np.inf),
        row_upper=np.zeros(n_rows + 1),
    )
    return model, scale


def _integral_relaxation(model: MatrixModel, *, time_limit_s: float | None) -> tuple[SolveResult | None, np.ndarray]:
    """The MIP's optimum when its LP relaxation (HiGHS, in this process) is integral; else ``(None, [])``.

    An integral LP optimum is the MIP's optimum, proven: most small parts of a coverage
    model stop here, without starting a MIP solver (CBC costs a process per solve).
    """
    relaxed = solve_relaxation(model, time_limit_s=time_limit_s)
    point = None if relaxed is None else integral_point(model, relaxed[1])
    if relaxed is None or point is None:
        return None, np.zeros(0)
    objective = float(model.cost @ point) + model.offset
    return replace(relaxed[0], objective=objective, bound=objective, gap=0.0, solver="HiGHS (integral LP)"), point


def _part_curve(part: _CoverPart) -> _Curve:
    """Solve a part for every number of homes until it is fully covered or time runs out."""
    n_sites = part.cover.shape[1]
    total = float(part.weights.sum())
    column_weight = part.cover.T @ part.weights
    # Σ of the n largest column weights bounds what n homes can cover (for numbers never solved).
    top = np.concatenate([[0.0], np.cumsum(np.sort(column_weight)[::-1])])
    values, bounds = [0.0], [0.0]
    chosen: list[tuple[int, ...]] = [()]
    proven, solvers, seconds = True, set(), 0.0
    model, scale = _part_model(part)
    largest = min(part.max_homes, n_sites)
    for n in range(1, largest + 1):
        if values[-1] >= total * (1 - 1e-12):
            break
        if n == 1:
            j = int(np.argmax(column_weight))
            values.append(float(column_weight[j]))
            bounds.append(values[-1])
            chosen.append((j,))
            continue
        left = None if part.deadline_epoch is None else part.deadline_epoch - time.time()
        result = None
        if left is None or left > 0.05:
            upper = model.row_upper.copy()
            upper[-1] = n
            with_n = replace(model, row_upper=upper)
            try:
                result, solution = _integral_relaxation(with_n, time_limit_s=left)
                if result is None:
                    left = None if part.deadline_epoch is None else max(part.deadline_epoch - time.time(), 0.05)
                    result, solution = solve_matrix_model(
                        with_n,
                        solver=part.solver.name,
                        time_limit_s=left,
                        gap=part.solver.gap,
                        seed=part.solver.seed,
                    )
            except SolverError:
                result = None
        if result is None:  # out of time: extend the last plan greedily, bound the rest by the top column weights
            proven = False
            picked_now = list(chosen[-1])
            for m in range(n, largest + 1):
                covered = covered_by(part.cover, np.array(picked_now, dtype=np.int64))
                gain = part.cover.T @ (part.weights * ~covered)
                gain[picked_now] = -1.0
                j = int(np.argmax(gain))
                if gain[j] > 0:
                    picked_now.append(j)
                value = float(part.weights[covered_by(part.cover, np.array(picked_now, dtype=np.int64))].sum())
                values.append(max(value, values[-1]))
                bounds.append(min(total, float(top[min(m, len(top) - 1)])))
                chosen.append(tuple(sorted(picked_now)))
                if values[-1] >= total * (1 - 1e-12):
                    break
            break
        picked = tuple(np.flatnonzero(solution[:n_sites] > 0.5).tolist())
        value = float(part.weights[covered_by(part.cover, np.array(picked, dtype=np.int64))].sum())
        values.append(max(value, values[-1]))
        proved = result.objective if result.bound is None else result.bound
        bounds.append(min(total, max(values[-1], proved * scale)))
        chosen.append(picked if value >= values[-2] else chosen[-1])
        proven &= result.status == "optimal"
        solvers.add(result.solver)
        seconds += result.seconds
    solver_names = ", ".join(sorted(solvers)) or "none (trivial)"
    return _Curve(np.array(values), np.array(bounds), tuple(chosen), proven, solver_names, seconds)


def solve_mclp_by_parts(
    cover: sp.csr_array,
    weights: np.ndarray,
    *,
    max_homes: int,
    solver: SolverOptions,
    started: float,
    workers: Workers,
) -> PartsResult:
    """Chosen columns, objective, bound and status of the decomposed MCLP (limit: ``solver.time_limit_s``)."""
    n_parts, row_labels, column_labels = coverage_components(cover)
    left = None if solver.time_limit_s is None else solver.time_limit_s - (time.perf_counter() - started)
    deadline_epoch = None if left is None else time.time() + left
    parts = []
    for c in range(n_parts):
        rows, cols = np.flatnonzero(row_labels == c), np.flatnonzero(column_labels == c)
        if len(rows) == 0 or len(cols) == 0:
            continue
        parts.append((cols, _CoverPart(cover[rows][:, cols].tocsr(), weights[rows], max_homes, solver, deadline_epoch)))
    clock = time.perf_counter()
    curves = map_parts(_part_curve, [part for _, part in parts], workers=workers, what="coverage part")
    seconds = time.perf_counter() - clock  # wall clock (the parts run in parallel)
    objective, homes = combine_parts([curve.values for curve in curves], max_homes)
    bound, _ = combine_parts([curve.bounds for curve in curves], max_homes)
    chosen = [cols[list(curve.chosen[n])] for (cols, _), curve, n in zip(parts, curves, homes, strict=True)]
    picked = np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)
    proven = all(curve.proven for curve in curves)
    used = {name for curve in curves if curve.solver != "none (trivial)" for name in curve.solver.split(", ")}
    solver_name = " and ".join(sorted(used)) or "none (trivial)"
    return PartsResult(
        chosen=np.sort(picked).astype(np.int64),
        objective=objective,
        bound=max(bound, objective),
        proven=proven,
        solver=f"{solver_name}, {len(parts)} parts + exact knapsack",
        seconds=seconds,
        stopped_by=None if proven else f"time limit {solver.time_limit_s:g} s",
    )
