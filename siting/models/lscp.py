"""Set covering: the fewest (or cheapest) homes that cover every point, or a share of the children."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pulp
import scipy.sparse as sp

from siting.costs import CostMatrix
from siting.errors import InfeasibleError, InputError
from siting.models.common import (
    SiteRules,
    checked_weights,
    covered_by,
    plan_from_choice,
    prepare_sites,
    reduce_set_cover,
)
from siting.models.decompose import coverage_components, map_parts
from siting.models.matrix import MatrixModel, solve_matrix_model
from siting.models.plan import Plan, frozen_mapping
from siting.models.solve import solve_problem

__all__ = ["solve_lscp", "solve_partial_cover"]


def _setup(
    costs: CostMatrix,
    weights: pd.Series | np.ndarray | None,
    standard: float | None,
    *,
    existing: Iterable[str],
    forced: Iterable[str],
    excluded: Iterable[str],
    site_cost_cny: pd.Series | np.ndarray | float,
    min_per_township: int,
    respect: str | None,
    demand_codes: pd.DataFrame | None,
    site_codes: pd.DataFrame | None,
) -> tuple[CostMatrix, float, np.ndarray, SiteRules, np.ndarray]:
    """Shared checks: weights, boundary rule, site options, and which demand is reachable."""
    standard_value = costs.cutoff if standard is None else float(standard)
    w = np.ones(len(costs.demand_ids)) if weights is None else checked_weights(weights, costs.demand_ids)
    costs, rules = prepare_sites(
        costs,
        respect=respect,
        demand_codes=demand_codes,
        site_codes=site_codes,
        existing=existing,
        forced=forced,
        excluded=excluded,
        site_cost_cny=site_cost_cny,
        min_per_township=min_per_township,
    )
    cover = costs.within(standard_value).tocsr()
    reach = cover[:, np.flatnonzero(rules.allowed(cover.shape[1]))].tocsr()
    reachable = np.diff(reach.indptr) > 0
    return costs, standard_value, w, rules, reachable


@dataclass(frozen=True)
class _CoverPart:
    """One independent set-covering problem (rows must all be covered)."""

    cover: sp.csr_array
    columns: np.ndarray
    cost: np.ndarray
    solver: str
    time_limit_s: float | None
    gap: float
    seed: int


@dataclass(frozen=True)
class _PartResult:
    chosen: tuple[int, ...]
    objective: float
    bound: float | None
    status: str
    solver: str


def _solve_cover_part(part: _CoverPart, rules: SiteRules | None = None) -> _PartResult:
    """Solve one part; a single column covering every row needs no solver."""
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
    # Σ_{j covers i} x_j ≥ 1 for every row, then Σ_{j in T} x_j ≥ need for short townships.
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
    model = MatrixModel(
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
    solved, values = solve_matrix_model(
        model, solver=part.solver, time_limit_s=part.time_limit_s, gap=part.gap, seed=part.seed
    )
    chosen = tuple(int(c) for c in part.columns[values > 0.5])
    objective = float(part.cost[values > 0.5].sum())
    bound = None if solved.bound is None else min(solved.bound * scale, objective)
    result = replace(solved, objective=objective, bound=bound)
    return _PartResult(chosen, result.objective, result.bound, result.status, result.solver)


def solve_lscp(
    costs: CostMatrix,
    *,
    weights: pd.Series | np.ndarray | None = None,
    standard: float | None = None,
    site_cost_cny: pd.Series | np.ndarray | float | None = None,
    existing: Iterable[str] = (),
    forced: Iterable[str] = (),
    excluded: Iterable[str] = (),
    min_per_township: int = 0,
    respect: str | None = None,
    demand_codes: pd.DataFrame | None = None,
    site_codes: pd.DataFrame | None = None,
    solver: str = "cbc",
    time_limit_s: float | None = 60.0,
    gap: float = 0.0,
    seed: int = 0,
    decompose: bool = True,
    workers: int | None = None,
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
        Demand × site costs within the cutoff.
    weights
        Demand with weight 0 need not be covered (default: all demand counts).
    standard
        Service standard in ``costs.unit`` (default the matrix cutoff).
    site_cost_cny
        Minimise build cost instead of the number of homes.
    existing, forced, excluded, min_per_township, respect, demand_codes, site_codes
        As in :func:`siting.models.solve_mclp`.
    solver, time_limit_s, gap, seed
        See :func:`siting.models.solve.solve_problem`; the time limit applies to each part.
    decompose
        Solve the connected components of the coverage graph separately, in
        ``workers`` processes (default: the CPUs available). Before that,
        classic reductions (single-site rows force their site, superset rows and
        dominated sites are dropped) shrink the problem; none changes the optimum.

    Returns
    -------
    Plan
        ``objective`` is the number (or cost) of new homes.
    """
    started = time.perf_counter()
    costs, standard_value, w, rules, reachable = _setup(
        costs,
        weights,
        standard,
        existing=existing,
        forced=forced,
        excluded=excluded,
        site_cost_cny=1.0 if site_cost_cny is None else site_cost_cny,
        min_per_township=min_per_township,
        respect=respect,
        demand_codes=demand_codes,
        site_codes=site_codes,
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
    if rules.min_per_township > 0 or not decompose:
        parts = [_CoverPart(part_cover, columns, rules.cost_cny[columns], solver, time_limit_s, gap, seed)]
    else:
        n_parts, row_label, col_label = coverage_components(part_cover)
        parts = []
        for label in range(n_parts):
            rows_l = np.flatnonzero(row_label == label)
            if len(rows_l) == 0:
                continue
            cols_l = np.flatnonzero(col_label == label)
            parts.append(
                _CoverPart(
                    part_cover[rows_l][:, cols_l].tocsr(),
                    columns[cols_l],
                    rules.cost_cny[columns[cols_l]],
                    solver,
                    time_limit_s,
                    gap,
                    seed,
                )
            )
    if rules.min_per_township > 0:
        results = [_solve_cover_part(parts[0], rules=rules)]
    else:
        # Largest parts first, so that no worker is left with a big one at the end.
        parts.sort(key=lambda part: -part.cover.nnz)
        results = map_parts(_solve_cover_part, parts, workers=workers)
    chosen = sorted({j for r in results for j in r.chosen} | set(reduced_forced.tolist()))
    objective = forced_value + sum(r.objective for r in results)
    bounds = [r.bound for r in results]
    bound = None if any(b is None for b in bounds) else forced_value + sum(b for b in bounds if b is not None)
    statuses = {r.status for r in results}
    solver_names = sorted({r.solver for r in results}) or ["none (solved by reductions)"]
    fields: dict[str, object] = {
        "objective": objective,
        "bound": bound,
        "gap": None if bound is None else abs(objective - bound) / max(abs(objective), 1e-9),
        "status": "optimal" if statuses <= {"optimal"} else "feasible",
        "solver": ", ".join(solver_names),
    }
    solve_s = time.perf_counter() - built
    fields["timings_s"] = frozen_mapping({"build": built - started, "solve": solve_s})
    unreachable = np.flatnonzero(~reachable & (w > 0))
    parameters = {
        "standard": standard_value,
        "unit": costs.unit,
        "objective": "cost" if site_cost_cny is not None else "homes",
        "respect": respect,
        "min_per_township": min_per_township,
        "unreachable_weight": float(w[unreachable].sum()),
        "time_limit_s": time_limit_s,
        "gap": gap,
        "seed": seed,
    }
    return plan_from_choice("lscp", costs, rules, chosen, fields, parameters, unreachable)


def solve_partial_cover(
    costs: CostMatrix,
    weights: pd.Series | np.ndarray,
    *,
    share: float,
    standard: float | None = None,
    site_cost_cny: pd.Series | np.ndarray | float | None = None,
    existing: Iterable[str] = (),
    forced: Iterable[str] = (),
    excluded: Iterable[str] = (),
    min_per_township: int = 0,
    respect: str | None = None,
    demand_codes: pd.DataFrame | None = None,
    site_codes: pd.DataFrame | None = None,
    solver: str = "cbc",
    time_limit_s: float | None = 60.0,
    gap: float = 0.0,
    seed: int = 0,
) -> Plan:
    r"""Fewest new homes (or least cost) that cover at least ``share`` of the weighted children.

    .. math::

        \min \; & \sum_j k_j x_j \\
        \text{s.t.}\; & y_i \le \sum_{j : c_{ij} \le S} x_j && \forall i \\
        & \sum_i w_i y_i \ge \alpha \sum_i w_i \\
        & x_j = 1 \; (j \in E \cup F), \quad x_j = 0 \; (j \in X), \quad x_j \in \{0,1\}, \; 0 \le y_i \le 1

    :math:`\alpha` = ``share`` of *all* weight (unreachable demand included).
    If even opening every allowed site cannot reach it, :class:`InfeasibleError`
    says the largest share that can be covered.
    """
    if not 0 < share <= 1:
        raise InputError(f"share must be in (0, 1], got {share}")
    started = time.perf_counter()
    costs, standard_value, w, rules, reachable = _setup(
        costs,
        weights,
        standard,
        existing=existing,
        forced=forced,
        excluded=excluded,
        site_cost_cny=1.0 if site_cost_cny is None else site_cost_cny,
        min_per_township=min_per_township,
        respect=respect,
        demand_codes=demand_codes,
        site_codes=site_codes,
    )
    total = float(w.sum())
    best = float(w[reachable].sum())
    target = share * total
    if best < target - 1e-9 * max(total, 1):
        raise InfeasibleError(
            f"at most {best / total:.2%} of the weight can be covered within {standard_value:g} {costs.unit} "
            f"(asked for {share:.2%}); add candidate sites or widen the standard"
        )
    cover = costs.within(standard_value).tocsr()
    fixed = rules.fixed
    covered_fixed = covered_by(cover, fixed)
    allowed = rules.allowed(cover.shape[1])
    allowed[fixed] = False
    base = float(w[covered_fixed].sum())
    problem = pulp.LpProblem("partial_cover", pulp.LpMinimize)
    x: dict[int, pulp.LpVariable] = {}
    y_terms = []
    for i in np.flatnonzero(reachable & ~covered_fixed & (w > 0)):
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
    if base < target and y_terms:
        problem += pulp.LpAffineExpression(y_terms) >= target - base, "share"
    problem += pulp.LpAffineExpression([(v, float(rules.cost_cny[j])) for j, v in x.items()])
    built = time.perf_counter()
    if x and (base < target or rules.min_per_township > 0):
        result = solve_problem(problem, solver=solver, time_limit_s=time_limit_s, gap=gap, seed=seed)
        chosen = sorted(j for j, v in x.items() if (v.value() or 0) > 0.5)
        fields: dict[str, object] = {
            "objective": result.objective,
            "bound": result.bound,
            "gap": result.gap,
            "status": result.status,
            "solver": result.solver,
        }
        solve_s = result.seconds
    else:
        chosen, solve_s = [], 0.0
        fields = {"objective": 0.0, "bound": 0.0, "gap": 0.0, "status": "optimal", "solver": "none (trivial)"}
    fields["timings_s"] = frozen_mapping({"build": built - started, "solve": solve_s})
    unreachable = np.flatnonzero(~reachable & (w > 0))
    parameters = {
        "share": share,
        "standard": standard_value,
        "unit": costs.unit,
        "respect": respect,
        "min_per_township": min_per_township,
        "time_limit_s": time_limit_s,
        "gap": gap,
        "seed": seed,
    }
    return plan_from_choice("partial_cover", costs, rules, chosen, fields, parameters, unreachable)
