"""Maximal covering location problem (MCLP) with existing homes, budgets and township minimums."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import pulp
import scipy.sparse as sp

from siting.costs import CostMatrix, matrix_and_standard
from siting.errors import InfeasibleError, InputError, SolverError
from siting.models.capacitated import solve_capacitated_mclp
from siting.models.checks import Promise
from siting.models.decompose import coverage_components
from siting.models.greedy import greedy_mclp
from siting.models.mclp_parts import solve_mclp_by_parts
from siting.models.options import SiteOptions, SolverOptions
from siting.models.plan import Plan, frozen_mapping
from siting.models.reductions import covered_by, dominated_sites, merge_identical_rows
from siting.models.sites import SiteRules, checked_capacity, checked_weights, plan_from_choice, resolve_sites
from siting.models.solver import SolveResult, solve_problem
from siting.parallel import Workers

__all__ = ["parts_pay", "solve_mclp"]


def _check_limits(n_homes: int | None, budget_cny: float | None) -> None:
    if n_homes is None and budget_cny is None:
        raise InputError("MCLP needs n_homes or budget_cny (or both) to limit the new homes")
    if n_homes is not None and (isinstance(n_homes, bool) or int(n_homes) != n_homes or n_homes < 0):
        raise InputError(f"n_homes must be a whole number ≥ 0, got {n_homes!r}")
    if budget_cny is not None and (not np.isfinite(budget_cny) or budget_cny < 0):
        raise InputError(f"budget_cny must be a finite amount ≥ 0 CNY, got {budget_cny!r}")


def solve_mclp(
    costs: Any,
    weights: pd.Series | np.ndarray,
    *,
    n_homes: int | None = None,
    budget_cny: float | None = None,
    site_cost_cny: pd.Series | np.ndarray | float = 0.0,
    capacity: float | pd.Series | np.ndarray | None = None,
    standard: float | None = None,
    sites: SiteOptions | None = None,
    solver: SolverOptions | None = None,
    decompose: bool | None = None,
    workers: Workers = None,
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
    model is built; they do not change the optimum.

    Parameters
    ----------
    costs
        A :class:`~siting.access.Access` (its boundary rule already applied) or a
        :class:`~siting.costs.CostMatrix`.
    weights
        Weight per demand point (children, or children plus priority weights).
    n_homes
        At most this many new homes (forced ones count).
    budget_cny
        At most this much spent on new homes (forced ones count).
    site_cost_cny
        Build cost per site: a scalar, an array in site order or a Series by site id.
    capacity
        Children a home can serve (a director's caseload): scalar, array in site order or
        Series by site id. Each community is then served whole by one home or not at all
        (single-source); see :func:`siting.models.capacitated.solve_capacitated_mclp`.
    standard
        Service standard in the costs' unit; default the access standard (or the matrix cutoff).
    sites
        Existing, forced and excluded sites and the township minimum.
    solver
        Solver, time limit (for the whole call), gap and seed.
    decompose
        Split the model into the connected components of the coverage graph, solve each
        for the numbers of homes the optimum could give it (in worker processes) and
        share the homes among them with an exact multiple-choice knapsack
        (:mod:`siting.models.mclp_parts`). The optimum is that of the undivided model.
        Needs one cost for every new site when a budget is given, and no township minimum.
        None (the default) chooses by the parts' measured sizes: see :func:`parts_pay`.
    workers
        Worker processes for ``decompose`` (default: the CPUs available).

    Returns
    -------
    Plan
        ``objective`` is the total weight covered, existing coverage included. A plan
        stopped by the time limit is ``feasible`` and carries its bound; it is never worse
        than the lazy-greedy plan, whose bound it also keeps.
    """
    started = time.perf_counter()
    sites = sites or SiteOptions()
    solver = solver or SolverOptions()
    _check_limits(n_homes, budget_cny)
    matrix, standard_value = matrix_and_standard(costs, standard)
    w = checked_weights(weights, matrix.demand_ids)
    rules = resolve_sites(matrix, sites, site_cost_cny=site_cost_cny)
    _check_room_for_forced_and_minimums(rules, sites, n_homes=n_homes, budget_cny=budget_cny)
    parameters: dict[str, object] = {
        "standard": standard_value,
        "unit": matrix.unit,
        "n_homes": n_homes,
        "budget_cny": budget_cny,
        "existing": len(rules.existing),
        "forced": len(rules.forced),
        "excluded": len(rules.excluded),
        "min_per_township": sites.min_per_township,
        "time_limit_s": solver.time_limit_s,
        "gap": solver.gap,
        "seed": solver.seed,
    }
    if capacity is not None:
        if decompose is True:
            raise InputError("decompose=True does not take a capacity; use decompose=False")
        return solve_capacitated_mclp(
            matrix,
            w,
            rules,
            standard=standard_value,
            capacity=checked_capacity(capacity, matrix.site_ids),
            n_homes=n_homes,
            budget_cny=budget_cny,
            solver=solver,
            started=started,
            parameters=parameters | {"capacity": "given"},
        )
    return _solve_uncapacitated(
        matrix,
        w,
        rules,
        standard=standard_value,
        n_homes=n_homes,
        budget_cny=budget_cny,
        solver=solver,
        decompose=decompose,
        workers=workers,
        started=started,
        parameters=parameters,
    )


def _check_room_for_forced_and_minimums(
    rules: SiteRules, sites: SiteOptions, *, n_homes: int | None, budget_cny: float | None
) -> None:
    """Refuse limits that leave no room for the forced sites and the township minimums."""
    forced_cost = float(rules.cost_cny[rules.forced].sum())
    if n_homes is not None and len(rules.forced) > n_homes:
        raise InfeasibleError(
            f"{len(rules.forced)} forced sites (locked_in) exceed n_homes={n_homes}; raise n_homes or lock fewer in"
        )
    if budget_cny is not None and forced_cost > budget_cny + 1e-9:
        raise InfeasibleError(
            f"forced sites (locked_in) cost {forced_cost:,.0f} CNY, more than budget_cny={budget_cny:,.0f}; "
            "raise the budget or lock fewer sites in"
        )
    minimums = rules.township_minimums()
    needed = sum(need for _, _, need in minimums)
    if n_homes is not None and len(rules.forced) + needed > n_homes:
        raise InfeasibleError(
            f"min_per_township={sites.min_per_township} needs {needed} new homes in {len(minimums)} townships "
            f"(plus {len(rules.forced)} locked in), more than n_homes={n_homes}; raise n_homes or lower the minimum"
        )
    if budget_cny is not None and minimums:
        cheapest = sum(float(np.sort(rules.cost_cny[positions])[:need].sum()) for _, positions, need in minimums)
        if forced_cost + cheapest > budget_cny + 1e-9:
            raise InfeasibleError(
                f"min_per_township={sites.min_per_township} needs at least {cheapest:,.0f} CNY of new homes in "
                f"{len(minimums)} townships (plus {forced_cost:,.0f} CNY locked in), more than budget_cny="
                f"{budget_cny:,.0f}; raise the budget or lower the minimum"
            )


def without_idle_homes(cover: sp.csc_array, w: np.ndarray, rules: SiteRules, chosen: list[int]) -> list[int]:
    """The chosen new homes less those that cover no child no other open home covers (dearest checked first).

    A plan of maximum coverage may hold such homes when the budget exceeds what full
    coverage needs (the solver is indifferent to them); an office would build them for
    nothing. Dropping them keeps the covered weight, so optimality and the bound stand.
    Kept as chosen under a township minimum (a home may be there to meet it).
    """
    if rules.min_per_township > 0 or not chosen:
        return chosen
    fixed = set(rules.fixed.tolist())
    open_sites = sorted(set(chosen) | fixed)
    covering = np.asarray(cover[:, open_sites].sum(axis=1)).ravel()
    kept = set(chosen)
    for j in sorted((j for j in chosen if j not in fixed), key=lambda j: (-float(rules.cost_cny[j]), j)):
        rows = cover.indices[cover.indptr[j] : cover.indptr[j + 1]]
        if not ((w[rows] > 0) & (covering[rows] == 1)).any():
            covering[rows] -= 1
            kept.discard(j)
    return sorted(kept)


#: Below this many coverage pairs the whole model is solved at once: it takes well under a second,
#: less than starting worker processes for parts. Measured: the 5 km province (existing homes) whole
#: 1.1 s, parts 1.2 s; the 15k-community scale area (county rule, CBC) plan stage whole 9.6 s, parts 2.3 s.
PARTS_MIN_PAIRS = 20_000

#: Parts pay when the largest holds at most this share of the pairs: then no single part is the model.
PARTS_MAX_SHARE = 0.5


def parts_pay(cover: sp.csr_array) -> bool:
    """Whether the MCLP over ``cover`` (merged rows × candidate sites) is solved faster by parts.

    Measured on the 14,589-point province with 440 new homes and no existing homes:
    at 10 km (128 parts, the largest 8 % of the rows) the parts prove the optimum in
    139 s where the whole model (CBC or HiGHS) is still 0.08 % short at 200 s; at 20 km
    with 110 homes (47 parts) parts take 3.3 s and the whole model 9.8 s; on the 60k-community
    scale area (county rule) the plan stage takes 8.8 s by parts, 74 s whole. Small models
    are quicker whole (no worker processes to start).
    """
    if cover.nnz < PARTS_MIN_PAIRS:
        return False
    n_parts, row_labels, _ = coverage_components(cover)
    if n_parts < 2:
        return False
    pairs = np.bincount(row_labels, weights=np.diff(cover.tocsr().indptr), minlength=n_parts)
    return bool(pairs.max() <= PARTS_MAX_SHARE * cover.nnz)


def _solve_uncapacitated(
    costs: CostMatrix,
    w: np.ndarray,
    rules: SiteRules,
    *,
    standard: float,
    n_homes: int | None,
    budget_cny: float | None,
    solver: SolverOptions,
    decompose: bool | None,
    workers: Workers,
    started: float,
    parameters: dict[str, object],
) -> Plan:
    """Reduce the model (fixed coverage, dominated sites, identical rows), then solve it whole or by parts."""
    k = rules.cost_cny
    forced_cost = float(k[rules.forced].sum())
    cover = costs.within(standard).tocsc()
    covered_fixed = covered_by(cover, rules.fixed)
    free_sites = rules.allowed(cover.shape[1])
    free_sites[rules.fixed] = False
    if budget_cny is not None:
        free_sites &= k <= budget_cny - forced_cost
    demand_rows = np.flatnonzero(~covered_fixed & (w > 0))
    if rules.min_per_township == 0 and free_sites.any():
        # A site whose new coverage is a subset of a no-dearer site's is never needed.
        reduced = cover[demand_rows].tocsc()
        free_sites[dominated_sites(reduced, k, np.flatnonzero(free_sites))] = False
    site_cols = np.flatnonzero(free_sites)
    sub, sub_w = merge_identical_rows(cover[demand_rows][:, free_sites].tocsr(), w[demand_rows])
    base = float(w[covered_fixed].sum())
    if decompose is None:
        decompose = rules.min_per_township == 0 and (budget_cny is None or len(np.unique(k[site_cols])) <= 1)
        decompose = decompose and parts_pay(sub)
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
        parts = solve_mclp_by_parts(
            sub, sub_w, max_homes=max(limit, 0), solver=solver, started=started, workers=workers
        )
        chosen = without_idle_homes(cover, w, rules, sorted(int(site_cols[j]) for j in parts.chosen))
        fields = {
            "objective": base + parts.objective,
            "bound": base + parts.bound,
            "status": "optimal" if parts.proven else "feasible",
            "solver": parts.solver,
            "stopped_by": parts.stopped_by,
            "timings_s": frozen_mapping({"build": built - started, "solve": parts.seconds}),
        }
        return plan_from_choice(
            "mclp", costs, rules, chosen, fields, parameters, promise=_promise(w, standard, n_homes, budget_cny)
        )
    return _whole_model(
        costs,
        w,
        rules,
        cover=cover,
        sub=sub,
        sub_w=sub_w,
        site_cols=site_cols,
        base=base,
        standard=standard,
        n_homes=n_homes,
        budget_cny=budget_cny,
        solver=solver,
        started=started,
        parameters=parameters,
    )


def _mclp_problem(
    sub: Any,
    sub_w: np.ndarray,
    site_cols: np.ndarray,
    useful: list[int],
    rules: SiteRules,
    *,
    n_homes: int | None,
    budget_cny: float | None,
) -> tuple[pulp.LpProblem, dict[int, pulp.LpVariable], list[tuple[pulp.LpVariable, float]]]:
    """The reduced MCLP as a PuLP problem: x per useful site, y per merged demand row."""
    problem = pulp.LpProblem("mclp", pulp.LpMaximize)
    x = {int(j): pulp.LpVariable(f"x_{j}", cat=pulp.LpBinary) for j in useful}
    y_terms = []
    for r in range(sub.shape[0]):
        cols = sub.indices[sub.indptr[r] : sub.indptr[r + 1]]
        if len(cols) == 0:
            continue
        y = pulp.LpVariable(f"y_{r}", lowBound=0, upBound=1)
        problem += pulp.LpAffineExpression([(y, 1.0)] + [(x[int(c)], -1.0) for c in cols]) <= 0
        y_terms.append((y, float(sub_w[r])))
    problem += pulp.LpAffineExpression(y_terms)
    if budget_cny is not None:
        spend = pulp.LpAffineExpression([(v, float(rules.cost_cny[site_cols[j]])) for j, v in x.items()])
        problem += spend <= budget_cny, "budget"
    if n_homes is not None:
        problem += pulp.lpSum(x.values()) <= n_homes - len(rules.forced), "homes"
    rules.add_township_minimums(problem, {int(site_cols[j]): v for j, v in x.items()})
    return problem, x, y_terms


def _greedy_kept(
    greedy: Plan, result: SolveResult | None, base: float, solver_name: str
) -> tuple[float, float | None, str, str, float]:
    """The greedy start kept (the solver stopped without a better plan), with the smaller of the two bounds."""
    bound = greedy.bound
    if result is not None and result.bound is not None:
        bound = min(bound if bound is not None else np.inf, base + result.bound)
    return greedy.objective, bound, "feasible", f"{result.solver if result else solver_name} (greedy start kept)", 0.0


def _with_greedy_bound(base: float, result: SolveResult, greedy: Plan | None) -> tuple[float, float | None]:
    """The solver's plan, with the greedy's proven bound where it is the tighter one."""
    objective = base + result.objective
    bound = None if result.bound is None else base + result.bound
    if greedy is not None and greedy.bound is not None:
        bound = greedy.bound if bound is None else min(bound, greedy.bound)
    return objective, None if bound is None else max(bound, objective)


def _greedy_start(
    costs: CostMatrix,
    w: np.ndarray,
    rules: SiteRules,
    x: dict[int, pulp.LpVariable],
    y_terms: list[tuple[pulp.LpVariable, float]],
    site_cols: np.ndarray,
    standard: float,
    n_homes: int | None,
    budget_cny: float | None,
) -> tuple[Plan, set[int]]:
    """The lazy-greedy plan, set as the MIP's starting values; its site positions."""
    greedy = greedy_mclp(
        costs,
        w,
        standard=standard,
        n_homes=n_homes,
        budget_cny=budget_cny,
        site_cost_cny=rules.cost_cny,
        sites=SiteOptions(
            existing=tuple(costs.site_ids[rules.existing]),
            forced=tuple(costs.site_ids[rules.forced]),
            excluded=tuple(costs.site_ids[rules.excluded]),
        ),
    )
    picked = set(costs.site_positions(list(greedy.new_ids)).tolist())
    for j, var in x.items():
        var.setInitialValue(1 if int(site_cols[j]) in picked else 0)
    for y, _ in y_terms:
        y.setInitialValue(0)
    return greedy, picked


def _promise(w: np.ndarray, standard: float, n_homes: int | None, budget_cny: float | None) -> Promise:
    """What an MCLP plan keeps: the weight covered as its objective, the number of homes and the budget."""
    return Promise("covered", maximise=True, weights=w, standard=standard, max_new=n_homes, budget_cny=budget_cny)


def _whole_model(
    costs: CostMatrix,
    w: np.ndarray,
    rules: SiteRules,
    *,
    cover: sp.csc_array,
    sub: Any,
    sub_w: np.ndarray,
    site_cols: np.ndarray,
    base: float,
    standard: float,
    n_homes: int | None,
    budget_cny: float | None,
    solver: SolverOptions,
    started: float,
    parameters: dict[str, object],
) -> Plan:
    """The reduced MCLP as one MIP, warm-started from the lazy greedy and never worse than it."""
    k = rules.cost_cny
    forced_cost = float(k[rules.forced].sum())
    deadline = solver.deadline(started)
    useful = set(np.flatnonzero(np.diff(sub.tocsc().indptr) > 0).tolist())
    if rules.min_per_township > 0:
        useful |= set(range(len(site_cols)))  # a township minimum may need a site that covers nothing new
    if not useful:
        fields = {
            "objective": base,
            "bound": base,
            "status": "optimal",
            "solver": "none (trivial)",
            "timings_s": frozen_mapping({"build": time.perf_counter() - started, "solve": 0.0}),
        }
        return plan_from_choice(
            "mclp", costs, rules, [], fields, parameters, promise=_promise(w, standard, n_homes, budget_cny)
        )
    problem, x, y_terms = _mclp_problem(
        sub,
        sub_w,
        site_cols,
        sorted(useful),
        rules,
        n_homes=n_homes,
        budget_cny=budget_cny - forced_cost if budget_cny is not None else None,
    )
    greedy: Plan | None = None
    picked: set[int] = set()
    if rules.min_per_township == 0:
        # Start from the lazy-greedy plan: the solver then always has a good incumbent (CBC's own
        # primal heuristics are off below), and a stop can never return less than it.
        greedy, picked = _greedy_start(costs, w, rules, x, y_terms, site_cols, standard, n_homes, budget_cny)
    built = time.perf_counter()
    try:
        # CBC's primal heuristics cost more than they find here: the LP relaxation of a covering
        # model is nearly integral (measured: 5.9 s -> 1.7 s on the Yunnan sample). HiGHS' presolve
        # is pathological on this model (measured on the demo: 24 s with it, 0.8 s without).
        result = solve_problem(
            problem,
            **solver.solve_kwargs(deadline),
            warm_start=greedy is not None,
            cbc_options=("heuristics off",),
            highs_options={"presolve": "off"},
        )
    except SolverError:
        if greedy is None:
            raise
        result = None
    if result is None or (
        greedy is not None and result.status != "optimal" and greedy.objective > base + result.objective
    ):
        assert greedy is not None
        chosen = sorted(picked - set(rules.forced.tolist()))
        objective, bound, status, solver_name, solve_s = _greedy_kept(greedy, result, base, solver.name)
        solve_s = time.perf_counter() - built
    else:
        chosen = sorted(int(site_cols[j]) for j, var in x.items() if (var.value() or 0) > 0.5)
        objective, bound = _with_greedy_bound(base, result, greedy)
        status, solver_name, solve_s = result.status, result.solver, result.seconds
    stopped = None if status == "optimal" else f"time limit {solver.time_limit_s:g} s"
    fields = {
        "objective": objective,
        "bound": bound,
        "status": status,
        "solver": solver_name,
        "stopped_by": stopped,
        "timings_s": frozen_mapping({"build": built - started, "solve": solve_s}),
    }
    chosen = without_idle_homes(cover, w, rules, chosen)
    return plan_from_choice(
        "mclp", costs, rules, chosen, fields, parameters, promise=_promise(w, standard, n_homes, budget_cny)
    )
