"""Maximal covering location problem (MCLP) with existing homes, budgets and boundaries."""

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
    checked_capacity,
    checked_weights,
    covered_by,
    dominated_sites,
    merge_identical_rows,
    plan_from_choice,
    prepare_sites,
)
from siting.models.decompose import coverage_components, map_parts
from siting.models.greedy import greedy_mclp
from siting.models.knapsack import combine_parts
from siting.models.matrix import MatrixModel, solve_matrix_model
from siting.models.plan import Plan, frozen_mapping
from siting.models.solve import SolveResult, relative_gap, solve_problem

__all__ = ["solve_mclp"]


def solve_mclp(
    costs: CostMatrix,
    weights: pd.Series | np.ndarray,
    *,
    standard: float | None = None,
    n_homes: int | None = None,
    budget_cny: float | None = None,
    site_cost_cny: pd.Series | np.ndarray | float = 0.0,
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
    decompose: bool = False,
    workers: int | None = None,
    capacity: float | pd.Series | np.ndarray | None = None,
) -> Plan:
    r"""Open new homes that cover the most weighted children.

    Demand point :math:`i` is covered when an open site :math:`j` has
    :math:`c_{ij} \le S` (the service ``standard``).

    .. math::

        \max \; & \sum_i w_i y_i \\
        \text{s.t.}\; & y_i \le \sum_{j : c_{ij} \le S} x_j && \forall i \\
        & \sum_j k_j x_j \le B && \text{(budget, new sites)} \\
        & \sum_j x_j \le p && \text{(number of new homes)} \\
        & \sum_{j \in T} x_j \ge m && \forall \text{ townships } T \\
        & x_j = 1 \; (j \in E \cup F), \quad x_j = 0 \; (j \in X) \\
        & x_j \in \{0, 1\}, \; 0 \le y_i \le 1

    with weights :math:`w`, site costs :math:`k`, budget :math:`B`, new homes
    :math:`p`, township minimum :math:`m`, existing homes :math:`E`, forced
    :math:`F` and excluded :math:`X` sites. :math:`y_i` may be continuous: for
    binary :math:`x` an optimal :math:`y` is binary. Demand already covered by
    :math:`E \cup F` and sites that cover nothing else are removed before the
    model is built; they do not change the optimum. With ``respect``, pairs
    crossing a township or county boundary do not count as coverage.

    Parameters
    ----------
    costs
        Demand × site costs within the cutoff.
    weights
        Weight per demand point (children, or children plus priority weights).
    standard
        Service standard in ``costs.unit``; default the matrix cutoff.
    n_homes
        At most this many new homes (forced ones count).
    budget_cny
        At most this much spent on new homes (forced ones count).
    site_cost_cny
        Build cost per site: a scalar, an array in site order or a Series by site id.
    existing, forced, excluded
        Site ids fixed open (existing, cost nothing), forced open (new, cost
        counted) or never opened.
    min_per_township
        At least this many homes (existing included) in every township with sites.
    respect
        ``"township"``, ``"county"`` or None: a home only covers demand of its own unit.
    demand_codes, site_codes
        Admin codes (``township_code``, ``county_code``) indexed by demand / site
        id, for ``respect`` and ``min_per_township``.
    solver, time_limit_s, gap, seed
        See :func:`siting.models.solve.solve_problem`.
    decompose
        Split the model into the connected components of the coverage graph, solve each
        for every number of homes it could use (in worker processes) and share the
        homes among them with an exact multiple-choice knapsack
        (:mod:`siting.models.knapsack`). The optimum is that of the undivided model.
        Needs one cost for every new site when a budget is given, and no township minimum.
        The time limit then applies to each part's solve.
    workers
        Worker processes for ``decompose`` (default: the CPUs available).
    capacity
        Children a home can serve (a director's caseload): scalar, array in site order or
        Series by site id. Each community is then served whole by one home or not at all
        (single-source); existing homes are capacitated too. The formulation is in
        :func:`_capacitated_mclp`; ``Plan.assignment`` says which home serves whom.

    Returns
    -------
    Plan
        ``objective`` is the total weight covered, existing coverage included.
    """
    started = time.perf_counter()
    if n_homes is None and budget_cny is None:
        raise InputError("MCLP needs n_homes or budget_cny (or both) to limit the new homes")
    if n_homes is not None and n_homes < 0:
        raise InputError(f"n_homes must be ≥ 0, got {n_homes}")
    if budget_cny is not None and budget_cny < 0:
        raise InputError(f"budget_cny must be ≥ 0, got {budget_cny}")
    standard = costs.cutoff if standard is None else float(standard)
    w = checked_weights(weights, costs.demand_ids)
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
    k = rules.cost_cny
    forced_cost = float(k[rules.forced].sum())
    if n_homes is not None and len(rules.forced) > n_homes:
        raise InfeasibleError(f"{len(rules.forced)} forced sites exceed n_homes={n_homes}")
    if budget_cny is not None and forced_cost > budget_cny:
        raise InfeasibleError(f"forced sites cost {forced_cost:,.0f} CNY, more than budget_cny={budget_cny:,.0f}")

    parameters: dict[str, object] = {
        "standard": standard,
        "unit": costs.unit,
        "n_homes": n_homes,
        "budget_cny": budget_cny,
        "existing": len(rules.existing),
        "forced": len(rules.forced),
        "excluded": len(rules.excluded),
        "min_per_township": min_per_township,
        "respect": respect,
        "time_limit_s": time_limit_s,
        "gap": gap,
        "seed": seed,
    }
    if capacity is not None:
        if decompose:
            raise InputError("decompose=True does not take a capacity; use decompose=False")
        cap = checked_capacity(capacity, costs.site_ids)
        built = time.perf_counter()
        chosen_new, assignment, solved = _capacitated_mclp(
            costs,
            w,
            rules,
            standard=standard,
            capacity=cap,
            n_homes=n_homes,
            budget_cny=budget_cny,
            solver=solver,
            time_limit_s=time_limit_s,
            gap=gap,
            seed=seed,
        )
        fields = {
            "objective": solved.objective,
            "bound": solved.bound,
            "gap": relative_gap(solved.objective, solved.bound),
            "status": solved.status,
            "solver": solved.solver,
            "timings_s": frozen_mapping({"build": built - started, "solve": solved.seconds}),
            "assignment": frozen_mapping(assignment),
        }
        return plan_from_choice(
            "capacitated_mclp", costs, rules, chosen_new.tolist(), fields, parameters | {"capacity": "given"}
        )
    cover = costs.within(standard).tocsc()
    fixed = rules.fixed
    covered_fixed = covered_by(cover, fixed)
    free_sites = rules.allowed(cover.shape[1])
    free_sites[fixed] = False
    if budget_cny is not None:
        free_sites &= k <= budget_cny - forced_cost
    open_demand = ~covered_fixed & (w > 0)
    demand_rows = np.flatnonzero(open_demand)
    if rules.min_per_township == 0 and free_sites.any():
        # A site whose new coverage is a subset of a no-dearer site's is never needed.
        reduced = cover[demand_rows].tocsc()
        free_sites[dominated_sites(reduced, k, np.flatnonzero(free_sites))] = False
    site_cols = np.flatnonzero(free_sites)
    sub, sub_w = merge_identical_rows(cover[demand_rows][:, free_sites].tocsr(), w[demand_rows])
    base = float(w[covered_fixed].sum())

    x: dict[int, pulp.LpVariable] = {}
    if not decompose:
        problem = pulp.LpProblem("mclp", pulp.LpMaximize)
        useful = set(np.flatnonzero(np.diff(sub.tocsc().indptr) > 0).tolist())
        if rules.min_per_township > 0:
            useful |= set(range(len(site_cols)))  # a township minimum may need a site that covers nothing new
        x = {int(j): pulp.LpVariable(f"x_{j}", cat=pulp.LpBinary) for j in sorted(useful)}
        y_terms = []
        for r in range(sub.shape[0]):
            cols = sub.indices[sub.indptr[r] : sub.indptr[r + 1]]
            if len(cols) == 0:
                continue
            y = pulp.LpVariable(f"y_{r}", lowBound=0, upBound=1)
            problem += pulp.LpAffineExpression([(y, 1.0)] + [(x[int(c)], -1.0) for c in cols]) <= 0
            y_terms.append((y, float(sub_w[r])))
        problem += pulp.LpAffineExpression(y_terms)
        if budget_cny is not None and x:
            problem += (
                pulp.LpAffineExpression([(v, float(k[site_cols[j]])) for j, v in x.items()])
                <= (budget_cny - forced_cost),
                "budget",
            )
        if n_homes is not None and x:
            problem += pulp.lpSum(x.values()) <= n_homes - len(rules.forced), "homes"
        rules.add_township_minimums(problem, {int(site_cols[j]): v for j, v in x.items()})
    if decompose:
        if rules.min_per_township > 0:
            raise InputError(
                "decompose=True cannot keep a township minimum (it couples the parts); use decompose=False"
            )
        unit_costs = np.unique(k[site_cols])
        if budget_cny is not None and len(unit_costs) > 1:
            raise InputError(
                f"decompose=True with a budget needs one cost for every new site; got {len(unit_costs)} different "
                f"costs ({unit_costs[0]:,.0f} to {unit_costs[-1]:,.0f} CNY). Use n_homes, or decompose=False"
            )
        limit = len(site_cols) if n_homes is None else n_homes - len(rules.forced)
        if budget_cny is not None and len(unit_costs) and unit_costs[0] > 0:
            limit = min(limit, int(np.floor((budget_cny - forced_cost) / unit_costs[0] + 1e-9)))
        built = time.perf_counter()
        picked_cols, part_value, part_bound, proven, solver_name, solve_s = _solve_by_parts(
            sub,
            sub_w,
            max_homes=max(limit, 0),
            solver=solver,
            time_limit_s=time_limit_s,
            gap=gap,
            seed=seed,
            workers=workers,
        )
        chosen = sorted(int(site_cols[j]) for j in picked_cols)
        objective = base + part_value
        bound: float | None = base + part_bound
        status = "optimal" if proven else "feasible"
    elif x:
        warm = False
        if rules.min_per_township == 0:
            # Start from the lazy-greedy plan: the solver then always has a good incumbent, which
            # matters because CBC's own primal heuristics are switched off below.
            start = greedy_mclp(
                costs,
                w,
                standard=standard,
                n_homes=n_homes,
                budget_cny=budget_cny,
                site_cost_cny=k,
                existing=costs.site_ids[rules.existing].tolist(),
                forced=costs.site_ids[rules.forced].tolist(),
                excluded=costs.site_ids[rules.excluded].tolist(),
            )
            picked = set(costs.site_positions(list(start.new_ids)).tolist())
            for j, var in x.items():
                var.setInitialValue(1 if int(site_cols[j]) in picked else 0)
            for y, _ in y_terms:
                y.setInitialValue(0)
            warm = True
        built = time.perf_counter()
        # CBC's primal heuristics cost more than they find here: the LP relaxation of
        # a covering model is nearly integral (measured: 5.9 s -> 1.7 s on the Yunnan sample).
        result = solve_problem(
            problem,
            solver=solver,
            time_limit_s=time_limit_s,
            gap=gap,
            seed=seed,
            warm_start=warm,
            cbc_options=("heuristics off",),
            # HiGHS' presolve is pathological on this model (measured on the demo: 24 s with it,
            # 0.8 s without); the LP relaxation is strong enough on its own.
            highs_options={"presolve": "off"},
        )
        chosen = sorted(int(site_cols[j]) for j, var in x.items() if (var.value() or 0) > 0.5)
        objective = base + result.objective
        bound = None if result.bound is None else base + result.bound
        status, solver_name, solve_s = result.status, result.solver, result.seconds
        if warm and status != "optimal" and start.objective > objective + 1e-9:
            # Stopped early with an incumbent worse than the greedy start: keep the better plan
            # (its proven bound is the smaller of the two bounds).
            chosen = sorted(picked)
            objective = start.objective
            bound = start.bound if bound is None else min(bound, start.bound or bound)
            solver_name += " (greedy start kept)"
    else:
        built = time.perf_counter()
        chosen, objective, bound, status, solver_name, solve_s = [], base, base, "optimal", "none (trivial)", 0.0

    fields = {
        "objective": objective,
        "bound": bound,
        "gap": relative_gap(objective, bound),
        "status": status,
        "solver": solver_name,
        "timings_s": frozen_mapping({"build": built - started, "solve": solve_s}),
    }
    return plan_from_choice("mclp", costs, rules, chosen, fields, parameters)


@dataclass(frozen=True)
class _CoverPart:
    """One connected component of the coverage graph: its rows × sites and row weights."""

    cover: sp.csr_array
    weights: np.ndarray
    max_homes: int
    solver: str
    time_limit_s: float | None
    gap: float
    seed: int


@dataclass(frozen=True)
class _Curve:
    """Most weight a part covers with at most 0, 1, 2, … homes, the bounds, and the sites chosen."""

    values: np.ndarray
    bounds: np.ndarray
    chosen: tuple[tuple[int, ...], ...]
    proven: bool
    solver: str
    seconds: float


def _part_curve(part: _CoverPart) -> _Curve:
    """Solve a part for every number of homes until it is fully covered."""
    n_rows, n_sites = part.cover.shape
    total = float(part.weights.sum())
    column_weight = part.cover.T @ part.weights
    values, bounds = [0.0], [0.0]
    chosen: list[tuple[int, ...]] = [()]
    proven, solver_name, seconds = True, "none (trivial)", 0.0
    rows = np.repeat(np.arange(n_rows), np.diff(part.cover.indptr))
    # variables: x (sites) then y (rows); rows: y_i - Σ x_j ≤ 0, then Σ x_j ≤ n
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
    for n in range(1, min(part.max_homes, n_sites) + 1):
        if values[-1] >= total * (1 - 1e-12):
            break
        if n == 1:
            j = int(np.argmax(column_weight))
            values.append(float(column_weight[j]))
            bounds.append(values[-1])
            chosen.append((j,))
            continue
        upper = model.row_upper.copy()
        upper[-1] = n
        result, solution = solve_matrix_model(
            replace(model, row_upper=upper),
            solver=part.solver,
            time_limit_s=part.time_limit_s,
            gap=part.gap,
            seed=part.seed,
        )
        picked = tuple(np.flatnonzero(solution[:n_sites] > 0.5).tolist())
        value = float(part.weights[covered_by(part.cover, np.array(picked, dtype=np.int64))].sum())
        values.append(max(value, values[-1]))
        proved = result.objective if result.bound is None else result.bound
        bounds.append(max(values[-1], proved * scale))
        chosen.append(picked if value >= values[-2] else chosen[-1])
        proven &= result.status == "optimal"
        solver_name, seconds = result.solver, seconds + result.seconds
    return _Curve(np.array(values), np.array(bounds), tuple(chosen), proven, solver_name, seconds)


def _solve_by_parts(
    cover: sp.csr_array,
    weights: np.ndarray,
    *,
    max_homes: int,
    solver: str,
    time_limit_s: float | None,
    gap: float,
    seed: int,
    workers: int | None,
) -> tuple[np.ndarray, float, float, bool, str, float]:
    """Chosen columns, objective, bound, proven, solver and solve seconds of the decomposed MCLP."""
    n_parts, row_labels, column_labels = coverage_components(cover)
    parts = []
    for c in range(n_parts):
        rows, cols = np.flatnonzero(row_labels == c), np.flatnonzero(column_labels == c)
        if len(rows) == 0 or len(cols) == 0:
            continue
        parts.append(
            (cols, _CoverPart(cover[rows][:, cols].tocsr(), weights[rows], max_homes, solver, time_limit_s, gap, seed))
        )
    started = time.perf_counter()
    curves = map_parts(_part_curve, [part for _, part in parts], workers=workers)
    seconds = time.perf_counter() - started  # wall clock (the parts run in parallel)
    objective, homes = combine_parts([curve.values for curve in curves], max_homes)
    bound, _ = combine_parts([curve.bounds for curve in curves], max_homes)
    chosen = [cols[list(curve.chosen[n])] for (cols, _), curve, n in zip(parts, curves, homes, strict=True)]
    picked = np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)
    proven = all(curve.proven for curve in curves)
    solver_name = next((curve.solver for curve in curves if curve.solver != "none (trivial)"), "none (trivial)")
    return (
        np.sort(picked).astype(np.int64),
        objective,
        bound,
        proven,
        f"{solver_name}, {len(parts)} parts + exact knapsack",
        seconds,
    )


def _capacitated_mclp(
    costs: CostMatrix,
    w: np.ndarray,
    rules: SiteRules,
    *,
    standard: float,
    capacity: np.ndarray,
    n_homes: int | None,
    budget_cny: float | None,
    solver: str,
    time_limit_s: float | None,
    gap: float,
    seed: int,
) -> tuple[np.ndarray, dict[str, str], SolveResult]:
    r"""Single-source capacitated MCLP: chosen new site positions, assignment and the solve result.

    .. math::

        \max \; & \sum_{(i,j) \in P} w_i z_{ij} \\
        \text{s.t.}\; & \sum_j z_{ij} \le 1 && \forall i \\
        & \sum_i w_i z_{ij} \le Q_j x_j && \forall j \\
        & \sum_{j \notin E} k_j x_j \le B, \quad \sum_{j \notin E} x_j \le p \\
        & x_j = 1 \; (j \in E \cup F), \quad x_j = 0 \; (j \in X), \quad x_j, z_{ij} \in \{0, 1\}

    over the pairs :math:`P` within the standard.
    """
    n_sites = len(costs.site_ids)
    allowed = rules.allowed(n_sites)
    pairs = costs.within(standard).tocoo()
    keep = allowed[pairs.col] & (w[pairs.row] > 0)
    rows, cols = pairs.row[keep].astype(np.int64), pairs.col[keep].astype(np.int64)
    n_pairs = len(rows)
    n_vars = n_sites + n_pairs
    is_existing = np.zeros(n_sites, dtype=bool)
    is_existing[rules.existing] = True
    scale = max(float(w.max(initial=0.0)), 1.0)
    blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    row_upper: list[float] = []
    row_lower: list[float] = []
    demand_rows, demand_of_row = np.unique(rows, return_inverse=True)
    blocks.append((demand_of_row, n_sites + np.arange(n_pairs), np.ones(n_pairs)))  # Σ_j z_ij ≤ 1
    row_upper += [1.0] * len(demand_rows)
    first = len(demand_rows)
    blocks.append((first + cols, n_sites + np.arange(n_pairs), w[rows] / scale))  # Σ_i w_i z_ij - Q_j x_j ≤ 0
    blocks.append((first + np.arange(n_sites), np.arange(n_sites), -capacity / scale))
    row_upper += [0.0] * n_sites
    first += n_sites
    new = np.flatnonzero(~is_existing)
    if budget_cny is not None:
        blocks.append((np.full(len(new), first), new, rules.cost_cny[new]))
        row_upper.append(float(budget_cny))
        first += 1
    if n_homes is not None:
        blocks.append((np.full(len(new), first), new, np.ones(len(new))))
        row_upper.append(float(n_homes))
        first += 1
    row_lower = [-np.inf] * first
    for _town, positions, need in rules.township_minimums():
        blocks.append((np.full(len(positions), first), positions, np.ones(len(positions))))
        row_lower.append(float(need))
        row_upper.append(np.inf)
        first += 1
    lower = np.zeros(n_vars)
    lower[rules.fixed] = 1.0
    upper = np.ones(n_vars)
    upper[:n_sites][~allowed] = 0.0
    model = MatrixModel(
        name="capacitated_mclp",
        maximise=True,
        cost=np.concatenate([np.zeros(n_sites), w[rows] / scale]),
        lower=lower,
        upper=upper,
        integer=np.ones(n_vars, dtype=bool),
        matrix=sp.csr_array(
            (
                np.concatenate([b[2] for b in blocks]),
                (np.concatenate([b[0] for b in blocks]), np.concatenate([b[1] for b in blocks])),
            ),
            shape=(first, n_vars),
        ),
        row_lower=np.array(row_lower),
        row_upper=np.array(row_upper),
    )
    solved, values = solve_matrix_model(model, solver=solver, time_limit_s=time_limit_s, gap=gap, seed=seed)
    chosen = np.flatnonzero((values[:n_sites] > 0.5) & ~is_existing)
    taken = np.flatnonzero(values[n_sites:] > 0.5)
    assignment = dict(zip(costs.demand_ids[rows[taken]].tolist(), costs.site_ids[cols[taken]].tolist(), strict=True))
    objective = float(w[rows[taken]].sum())
    bound = None if solved.bound is None else max(objective, solved.bound * scale)
    return chosen, assignment, replace(solved, objective=objective, bound=bound)
