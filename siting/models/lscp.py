"""Set covering: the fewest (or cheapest) homes that cover every point, or a share of the children."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import pulp
import scipy.sparse as sp

from siting.costs import CostMatrix, matrix_and_standard
from siting.errors import InfeasibleError, InputError, SolverError
from siting.models.checks import Promise
from siting.models.decompose import coverage_components, map_parts
from siting.models.options import SiteOptions, SolverOptions
from siting.models.plan import Plan, frozen_mapping
from siting.models.reductions import covered_by, reduce_set_cover
from siting.models.sites import SiteRules, checked_weights, cost_bound, new_cost, plan_from_choice, resolve_sites
from siting.models.solver import MatrixModel, integral_point, solve_matrix_model, solve_problem, solve_relaxation
from siting.parallel import Workers

__all__ = ["greedy_set_cover", "solve_lscp", "solve_partial_cover"]


def _setup(
    costs: Any,
    weights: pd.Series | np.ndarray | None,
    standard: float | None,
    *,
    sites: SiteOptions,
    site_cost_cny: pd.Series | np.ndarray | float,
) -> tuple[CostMatrix, float, np.ndarray, SiteRules, np.ndarray]:
    """Shared checks: weights, site options, and which demand is reachable."""
    matrix, standard_value = matrix_and_standard(costs, standard)
    w = np.ones(len(matrix.demand_ids)) if weights is None else checked_weights(weights, matrix.demand_ids)
    rules = resolve_sites(matrix, sites, site_cost_cny=site_cost_cny)
    cover = matrix.within(standard_value).tocsr()
    reach = cover[:, np.flatnonzero(rules.allowed(cover.shape[1]))].tocsr()
    reachable = np.diff(reach.indptr) > 0
    return matrix, standard_value, w, rules, reachable


def greedy_set_cover(cover: sp.csr_array, cost: np.ndarray) -> np.ndarray:
    """Columns chosen by the classic greedy (most newly covered rows per yuan) until every coverable row is covered."""
    csc = cover.tocsc()
    uncovered = np.diff(cover.tocsr().indptr) > 0
    chosen: list[int] = []
    while uncovered.any():
        gain = csc.T @ uncovered.astype(float)
        ratio = np.where(gain > 0, gain / np.maximum(cost, 1e-12), -np.inf)
        j = int(np.argmax(ratio))
        if not np.isfinite(ratio[j]):
            break
        chosen.append(j)
        uncovered[csc.indices[csc.indptr[j] : csc.indptr[j + 1]]] = False
    return np.array(sorted(chosen), dtype=np.int64)


@dataclass(frozen=True)
class _CoverPart:
    """One independent set-covering problem (rows must all be covered)."""

    cover: sp.csr_array
    columns: np.ndarray
    cost: np.ndarray
    solver: SolverOptions
    deadline_epoch: float | None


@dataclass(frozen=True)
class _PartResult:
    chosen: tuple[int, ...]
    objective: float
    bound: float | None
    status: str
    solver: str


#: Parts up to this many columns go to CBC with its cut generators off: on the province's 5 km parts
#: (up to 245 columns) CBC proves the optimum 3-9x sooner without them (1.60 s -> 0.23 s on the largest).
CBC_NO_CUTS_MAX_COLUMNS = 1_000


def _cover_model(part: _CoverPart, rules: SiteRules | None) -> MatrixModel:
    """Σ_{j covers i} x_j ≥ 1 for every row, then Σ_{j in T} x_j ≥ need for short townships; costs scaled to 1."""
    n_rows, n_cols = part.cover.shape
    blocks = [part.cover.tocoo()]
    needs = [np.ones(n_rows)]
    if rules is not None:
        local = {int(c): k for k, c in enumerate(part.columns)}
        for _town, positions, need in rules.township_minimums():
            members = [local[int(j)] for j in positions if int(j) in local]
            blocks.append(sp.coo_array((np.ones(len(members)), (np.zeros(len(members)), members)), shape=(1, n_cols)))
            needs.append(np.array([float(need)]))
    matrix = sp.vstack(blocks).tocsr()
    scale = max(float(np.abs(part.cost).max(initial=0.0)), 1e-12)
    return MatrixModel(
        name="lscp",
        maximise=False,
        cost=part.cost / scale,
        lower=np.zeros(n_cols),
        upper=np.ones(n_cols),
        integer=np.ones(n_cols, dtype=bool),
        matrix=matrix,
        row_lower=np.concatenate(needs),
        row_upper=np.full(matrix.shape[0], np.inf),
    )


def _proven_by_relaxation(
    part: _CoverPart, model: MatrixModel, start: np.ndarray | None, *, time_limit_s: float | None
) -> _PartResult | None:
    """The part's optimum when its LP relaxation proves one without branching, else None.

    An integral LP optimum is the optimum; with whole costs (counting homes), a
    greedy cover costing no more than the LP bound rounded up is optimal too. The
    relaxation is solved by HiGHS in this process (milliseconds), which spares a
    solver run on most small parts.
    """
    relaxed = solve_relaxation(model, time_limit_s=time_limit_s)
    if relaxed is None:
        return None
    scale = float(np.abs(part.cost).max(initial=0.0)) or 1.0
    bound = float(relaxed[0].objective) * scale
    whole = bool(np.allclose(part.cost, np.round(part.cost)))
    point = integral_point(model, relaxed[1])
    if point is not None:
        chosen = point > 0.5
        value = float(part.cost[chosen].sum())
        return _PartResult(tuple(int(c) for c in part.columns[chosen]), value, value, "optimal", "HiGHS (integral LP)")
    if start is not None and whole:
        value = float(part.cost[start > 0.5].sum())
        if value <= math.ceil(bound - 1e-6) + 1e-9:
            picked = tuple(int(c) for c in part.columns[start > 0.5])
            return _PartResult(picked, value, value, "optimal", "greedy (proven by the LP bound)")
    return None


def _solve_cover_part(part: _CoverPart, rules: SiteRules | None = None) -> _PartResult:
    """Solve one part: a single column covering every row, or the LP relaxation, may prove it without a MIP."""
    n_rows, n_cols = part.cover.shape
    if n_rows == 0:
        return _PartResult((), 0.0, 0.0, "optimal", "none (trivial)")
    csc = part.cover.tocsc()
    full = np.flatnonzero(np.diff(csc.indptr) == n_rows)
    if len(full) and (rules is None or rules.min_per_township == 0):
        j = int(full[np.argmin(part.cost[full])])
        if part.cost[j] <= part.cost.min() + 1e-12:
            value = float(part.cost[j])
            return _PartResult((int(part.columns[j]),), value, value, "optimal", "none (trivial)")
    model = _cover_model(part, rules)
    start = None
    if rules is None or rules.min_per_township == 0:
        start = np.zeros(n_cols)
        start[greedy_set_cover(part.cover, part.cost)] = 1.0
    left = None if part.deadline_epoch is None else max(part.deadline_epoch - time.time(), 0.05)
    proven = _proven_by_relaxation(part, model, start, time_limit_s=left)
    if proven is not None:
        return proven
    left = None if part.deadline_epoch is None else max(part.deadline_epoch - time.time(), 0.05)
    cbc_options = ("cuts off",) if n_cols <= CBC_NO_CUTS_MAX_COLUMNS else ()
    try:
        kwargs = replace(part.solver, time_limit_s=left).solve_kwargs()
        solved, values = solve_matrix_model(model, **kwargs, start=start, cbc_options=cbc_options)
    except SolverError:
        if start is None:
            raise
        value = float(part.cost[start > 0.5].sum())
        return _PartResult(tuple(int(c) for c in part.columns[start > 0.5]), value, None, "feasible", "greedy")
    scale = max(float(np.abs(part.cost).max(initial=0.0)), 1e-12)
    chosen = tuple(int(c) for c in part.columns[values > 0.5])
    objective = float(part.cost[values > 0.5].sum())
    bound = None if solved.bound is None else min(solved.bound * scale, objective)
    if bound is not None and np.allclose(part.cost, np.round(part.cost)):
        bound = float(math.ceil(bound - 1e-6))  # whole costs (counting homes): so is the optimum
    result = replace(solved, objective=objective, bound=bound)
    return _PartResult(chosen, result.objective, result.bound, result.status, result.solver)


def _component_parts(
    cover: sp.csr_array, columns: np.ndarray, cost: np.ndarray, solver: SolverOptions, deadline_epoch: float | None
) -> list[_CoverPart]:
    """One part per connected component of the coverage graph that has rows to cover."""
    n_parts, row_label, col_label = coverage_components(cover)
    parts = []
    for label in range(n_parts):
        rows_l = np.flatnonzero(row_label == label)
        if len(rows_l):
            cols_l = np.flatnonzero(col_label == label)
            sub = cover[rows_l][:, cols_l].tocsr()
            parts.append(_CoverPart(sub, columns[cols_l], cost[cols_l], solver, deadline_epoch))
    return parts


def solve_lscp(
    costs: Any,
    *,
    weights: pd.Series | np.ndarray | None = None,
    standard: float | None = None,
    site_cost_cny: pd.Series | np.ndarray | float | None = None,
    sites: SiteOptions | None = None,
    solver: SolverOptions | None = None,
    decompose: bool = True,
    workers: Workers = None,
) -> Plan:
    r"""Fewest new homes (or least build cost) so every coverable demand point is covered.

    .. math::

        \min \; & \sum_j k_j x_j \\
        \text{s.t.}\; & \sum_{j : c_{ij} \le S} x_j \ge 1 && \forall i \in R \\
        & \sum_{j \in T} x_j \ge m && \forall \text{ townships } T \\
        & x_j = 1 \; (j \in E \cup F), \quad x_j = 0 \; (j \in X), \quad x_j \in \{0, 1\}

    where :math:`R` is the demand with positive weight that some allowed site
    reaches within the standard :math:`S`, and :math:`k_j` is 1 (fewest homes)
    or the build cost when ``site_cost_cny`` is given. Demand outside :math:`R`
    is returned in ``Plan.unreachable_ids`` (never silently dropped).

    Parameters
    ----------
    costs
        A :class:`~siting.access.Access` or a :class:`~siting.costs.CostMatrix`.
    weights
        Demand with weight 0 need not be covered (default: all demand counts).
    standard
        Service standard in the costs' unit (default: the access standard or the matrix cutoff).
    site_cost_cny
        Minimise build cost instead of the number of homes.
    sites, solver
        As in :func:`siting.models.solve_mclp`; the time limit covers every part.
    decompose
        Solve the connected components of the coverage graph separately, in
        ``workers`` processes (default: the CPUs available). Before that,
        classic reductions (single-site rows force their site, superset rows and
        dominated sites are dropped) shrink the problem; none changes the optimum.

    Returns
    -------
    Plan
        ``objective`` is the number (or cost) of new homes. A part stopped by the time
        limit keeps its greedy cover, so the plan always covers every coverable point.
    """
    started = time.perf_counter()
    sites = sites or SiteOptions()
    solver = solver or SolverOptions()
    costs, standard_value, w, rules, reachable = _setup(
        costs, weights, standard, sites=sites, site_cost_cny=1.0 if site_cost_cny is None else site_cost_cny
    )
    cover = costs.within(standard_value).tocsr()
    fixed = rules.fixed
    covered_fixed = covered_by(cover, fixed)
    allowed = rules.allowed(cover.shape[1])
    allowed[fixed] = False
    needs = reachable & ~covered_fixed & (w > 0)
    reduced_forced = np.empty(0, dtype=np.int64)
    need_rows = np.flatnonzero(needs)
    if rules.min_per_township == 0:
        reduced_forced, need_rows, kept = reduce_set_cover(cover, need_rows, np.flatnonzero(allowed), rules.cost_cny)
        allowed = np.zeros_like(allowed)
        allowed[kept] = True
    built = time.perf_counter()
    forced_value = float(rules.cost_cny[reduced_forced].sum())
    part_cover = cover[need_rows][:, np.flatnonzero(allowed)].tocsr()
    columns = np.flatnonzero(allowed)
    left = None if solver.time_limit_s is None else solver.time_limit_s - (built - started)
    deadline_epoch = None if left is None else time.time() + left
    if rules.min_per_township > 0 or not decompose:
        parts = [_CoverPart(part_cover, columns, rules.cost_cny[columns], solver, deadline_epoch)]
    else:
        parts = _component_parts(part_cover, columns, rules.cost_cny[columns], solver, deadline_epoch)
    if rules.min_per_township > 0:
        results = [_solve_cover_part(parts[0], rules=rules)]
    else:
        # Largest parts first, so that no worker is left with a big one at the end.
        parts.sort(key=lambda part: -part.cover.nnz)
        results = map_parts(_solve_cover_part, parts, workers=workers, what="cover part")
    chosen = sorted({j for r in results for j in r.chosen} | set(reduced_forced.tolist()))
    bounds = [r.bound for r in results]
    bound = None if any(b is None for b in bounds) else forced_value + sum(b for b in bounds if b is not None)
    statuses = {r.status for r in results}
    solver_names = sorted({r.solver for r in results}) or ["none (solved by reductions)"]
    status = "optimal" if statuses <= {"optimal"} else "feasible"
    fields: dict[str, object] = {
        "objective": new_cost(rules, chosen),  # counts and yuan as the plan spends them
        "bound": cost_bound(bound, rules),
        "status": status,
        "solver": ", ".join(solver_names),
        "stopped_by": None if status == "optimal" else f"time limit {solver.time_limit_s:g} s",
        "timings_s": frozen_mapping({"build": built - started, "solve": time.perf_counter() - built}),
    }
    unreachable = np.flatnonzero(~reachable & (w > 0))
    parameters = {
        "standard": standard_value,
        "unit": costs.unit,
        "objective": "cost" if site_cost_cny is not None else "homes",
        "min_per_township": sites.min_per_township,
        "unreachable_weight": float(w[unreachable].sum()),
        "time_limit_s": solver.time_limit_s,
        "gap": solver.gap,
        "seed": solver.seed,
    }
    promise = Promise("cost", maximise=False, weights=w, standard=standard_value, cover_all=True)
    return plan_from_choice("lscp", costs, rules, chosen, fields, parameters, unreachable, promise=promise)


def _greedy_share(cover: sp.csr_array, w: np.ndarray, cost: np.ndarray, need: float) -> np.ndarray:
    """Columns by most newly covered weight per yuan until ``need`` weight is covered."""
    csc = cover.tocsc()
    open_rows = np.ones(cover.shape[0], dtype=bool)
    chosen: list[int] = []
    gained = 0.0
    while gained < need - 1e-9:
        gain = csc.T @ (w * open_rows)
        ratio = np.where(gain > 0, gain / np.maximum(cost, 1e-12), -np.inf)
        j = int(np.argmax(ratio))
        if not np.isfinite(ratio[j]):
            break
        chosen.append(j)
        hit = csc.indices[csc.indptr[j] : csc.indptr[j + 1]]
        gained += float(w[hit][open_rows[hit]].sum())
        open_rows[hit] = False
    return np.array(chosen, dtype=np.int64)


def _partial_cover_problem(
    cover: sp.csr_array,
    w: np.ndarray,
    open_rows: np.ndarray,
    allowed: np.ndarray,
    rules: SiteRules,
    *,
    need: float,
) -> tuple[pulp.LpProblem, dict[int, pulp.LpVariable]]:
    """The partial-cover MIP over the open rows: ``y_i ≤ Σ x_j``, ``Σ w_i y_i ≥ need``, township minimums."""
    problem = pulp.LpProblem("partial_cover", pulp.LpMinimize)
    x: dict[int, pulp.LpVariable] = {}
    y_terms = []
    for i in open_rows:
        cols = cover.indices[cover.indptr[i] : cover.indptr[i + 1]]
        cols = cols[allowed[cols]]
        y = pulp.LpVariable(f"y_{i}", lowBound=0, upBound=1)
        for c in cols:
            x.setdefault(int(c), pulp.LpVariable(f"x_{c}", cat=pulp.LpBinary))
        problem += pulp.LpAffineExpression([(y, 1.0)] + [(x[int(c)], -1.0) for c in cols]) <= 0
        y_terms.append((y, float(w[i])))
    if rules.min_per_township > 0:
        for j in np.flatnonzero(allowed):
            x.setdefault(int(j), pulp.LpVariable(f"x_{j}", cat=pulp.LpBinary))
    rules.add_township_minimums(problem, x)
    if need > 0 and y_terms:
        problem += pulp.LpAffineExpression(y_terms) >= need, "share"
    problem += pulp.LpAffineExpression([(v, float(rules.cost_cny[j])) for j, v in x.items()])
    return problem, x


def solve_partial_cover(
    costs: Any,
    weights: pd.Series | np.ndarray,
    *,
    share: float,
    standard: float | None = None,
    site_cost_cny: pd.Series | np.ndarray | float | None = None,
    sites: SiteOptions | None = None,
    solver: SolverOptions | None = None,
) -> Plan:
    r"""Fewest new homes (or least cost) that cover at least ``share`` of the weighted children.

    .. math::

        \min \; & \sum_j k_j x_j \\
        \text{s.t.}\; & y_i \le \sum_{j : c_{ij} \le S} x_j && \forall i \\
        & \sum_i w_i y_i \ge \alpha \sum_i w_i \\
        & x_j = 1 \; (j \in E \cup F), \quad x_j = 0 \; (j \in X), \quad x_j \in \{0,1\}, \; 0 \le y_i \le 1

    :math:`\alpha` = ``share`` of *all* weight (unreachable demand included).
    If even opening every allowed site cannot reach it, :class:`InfeasibleError`
    says the largest share that can be covered. A solve stopped by the time limit
    keeps the greedy plan (most weight per yuan) when the solver has none better.
    """
    if not isinstance(share, int | float) or not 0 < share <= 1:
        raise InputError(f"share must be a fraction in (0, 1], e.g. 0.9; got {share!r}")
    started = time.perf_counter()
    sites = sites or SiteOptions()
    solver = solver or SolverOptions()
    costs, standard_value, w, rules, reachable = _setup(
        costs, weights, standard, sites=sites, site_cost_cny=1.0 if site_cost_cny is None else site_cost_cny
    )
    total = float(w.sum())
    best = float(w[reachable].sum())
    target = share * total
    if best < target - 1e-9 * max(total, 1):
        raise InfeasibleError(
            f"at most {best / total:.2%} of the weight can be covered within {standard_value:g} {costs.unit} "
            f"(asked for {share:.2%}); add candidate sites, widen the standard or lower the share"
        )
    cover = costs.within(standard_value).tocsr()
    covered_fixed = covered_by(cover, rules.fixed)
    allowed = rules.allowed(cover.shape[1])
    allowed[rules.fixed] = False
    base = float(w[covered_fixed].sum())
    open_rows = np.flatnonzero(reachable & ~covered_fixed & (w > 0))
    problem, x = _partial_cover_problem(cover, w, open_rows, allowed, rules, need=target - base)
    built = time.perf_counter()
    if x and (base < target or rules.min_per_township > 0):
        try:
            result = solve_problem(problem, **solver.solve_kwargs(solver.deadline(started)))
            chosen = sorted(j for j, v in x.items() if (v.value() or 0) > 0.5)
            fields: dict[str, object] = {  # counts and yuan as the plan spends them, not the solver's floats
                "objective": new_cost(rules, chosen),
                "bound": cost_bound(result.bound, rules),
                "status": result.status,
                "solver": result.solver,
            }
            stopped = None if result.status == "optimal" else f"time limit {solver.time_limit_s:g} s"
        except SolverError:
            if rules.min_per_township > 0:
                raise
            columns = np.flatnonzero(allowed)
            sub = cover[open_rows][:, columns].tocsr()
            chosen = sorted(columns[_greedy_share(sub, w[open_rows], rules.cost_cny[columns], target - base)].tolist())
            fields = {
                "objective": new_cost(rules, chosen),
                "bound": None,
                "status": "feasible",
                "solver": "greedy (solver stopped without a plan)",
            }
            stopped = f"time limit {solver.time_limit_s:g} s"
    else:
        chosen, stopped = [], None
        fields = {"objective": 0.0, "bound": 0.0, "status": "optimal", "solver": "none (trivial)"}
    fields["stopped_by"] = stopped
    fields["timings_s"] = frozen_mapping({"build": built - started, "solve": time.perf_counter() - built})
    unreachable = np.flatnonzero(~reachable & (w > 0))
    parameters = {
        "share": share,
        "standard": standard_value,
        "unit": costs.unit,
        "min_per_township": sites.min_per_township,
        "time_limit_s": solver.time_limit_s,
        "gap": solver.gap,
        "seed": solver.seed,
    }
    promise = Promise("cost", maximise=False, weights=w, standard=standard_value, min_share=share)
    return plan_from_choice("partial_cover", costs, rules, chosen, fields, parameters, unreachable, promise=promise)
