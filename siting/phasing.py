"""Multi-year build plans: which new homes are built in which year under annual budgets.

Welfare-lottery money comes in yearly rounds (2018: 16,000,000 CNY built 533 homes; 2019:
13,200,000 CNY built 440). Given the annual budgets, :func:`phase_homes` decides the year
of each new home so that the children covered at the end of each year are as many as
possible, never spending more than a year's budget (unspent money carries over only when
asked).
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pulp

from siting.costs import matrix_and_standard
from siting.errors import InputError, SolverError
from siting.models.checks import Promise, checked
from siting.models.options import SiteOptions, SolverOptions
from siting.models.plan import Plan, PlanYear, frozen_mapping
from siting.models.problem import relative_gap
from siting.models.reductions import covered_by
from siting.models.sites import SiteRules, checked_weights, resolve_sites
from siting.models.solver import solve_problem

__all__ = ["homes_per_year", "phase_homes", "years_table"]


def years_table(plan: Plan) -> pd.DataFrame:
    """One row per year of a phased plan: budget, money spent, homes built, weight covered, bound, gap."""
    return pd.DataFrame(
        {
            "year": [y.year for y in plan.years],
            "budget_cny": [y.budget_cny for y in plan.years],
            "spent_cny": [y.spent_cny for y in plan.years],
            "homes_built": [y.homes_built for y in plan.years],
            "covered": [y.covered for y in plan.years],
            "bound": [y.bound for y in plan.years],
            "gap": [y.gap for y in plan.years],
        }
    )


def homes_per_year(budgets_cny: Sequence[float], cost_per_home_cny: float) -> list[int]:
    """Homes each year's budget pays for at a fixed cost (2018: 16 M → 533; 2019: 13.2 M → 440)."""
    return [int(b // cost_per_home_cny) for b in budgets_cny]


def _lp_bound(sub: Any, weights: np.ndarray, useful: np.ndarray, cost: np.ndarray, budget: float) -> float:
    """LP relaxation of the single-period MCLP with ``budget``: an upper bound on any plan's new coverage."""
    problem = pulp.LpProblem("mclp_lp_bound", pulp.LpMaximize)
    x = {int(j): pulp.LpVariable(f"x_{j}", lowBound=0, upBound=1) for j in useful}
    terms = []
    for r in range(sub.shape[0]):
        cols = [int(c) for c in sub.indices[sub.indptr[r] : sub.indptr[r + 1]] if int(c) in x]
        if not cols:
            continue
        y = pulp.LpVariable(f"y_{r}", lowBound=0, upBound=1)
        problem += pulp.LpAffineExpression([(y, 1.0)] + [(x[c], -1.0) for c in cols]) <= 0
        terms.append((y, float(weights[r])))
    if not terms:
        return 0.0
    problem += pulp.LpAffineExpression(terms)
    problem += pulp.LpAffineExpression([(v, float(cost[j])) for j, v in x.items()]) <= budget
    result = solve_problem(problem, solver="highs")
    # An LP optimum bounds the MIP; a stopped LP has no bound to offer.
    return float(result.objective) if result.status == "optimal" else float("inf")


def _checked_years(years: Sequence[int], budgets_cny: Sequence[float]) -> None:
    if len(years) != len(budgets_cny) or not years:
        raise InputError(f"give one budget per year: {len(years)} years, {len(budgets_cny)} budgets")
    if list(years) != sorted(set(years)):
        raise InputError(f"phasing years must be distinct and in order, got {list(years)}")
    bad = [b for b in budgets_cny if not np.isfinite(b) or b < 0]
    if bad:
        raise InputError(f"yearly budgets must be finite amounts ≥ 0 CNY, got {bad}")


def phase_homes(
    costs: Any,
    weights: pd.Series | np.ndarray,
    *,
    years: Sequence[int],
    budgets_cny: Sequence[float],
    site_cost_cny: pd.Series | np.ndarray | float,
    sites: SiteOptions | None = None,
    standard: float | None = None,
    carry_over: bool = False,
    method: str = "auto",
    max_mip_sites: int = 3_000,
    solver: SolverOptions | None = None,
    bounds: bool = True,
) -> Plan:
    r"""Decide the build year of new homes under annual budgets.

    Multi-period model (``method="mip"``), for years :math:`t = 1..T`:

    .. math::

        \max \; & \sum_t \sum_i w_i y_{it} \\
        \text{s.t.}\; & y_{it} \le \sum_{j \in N_i} \sum_{\tau \le t} x_{j\tau} && \forall i, t \\
        & \sum_j k_j x_{jt} \le B_t \quad \text{or, with carry-over,} \quad
          \sum_{\tau \le t} \sum_j k_j x_{j\tau} \le \sum_{\tau \le t} B_\tau && \forall t \\
        & \sum_t x_{jt} \le 1, \quad \sum_t x_{jt} = 1 \; (j \in F), \quad x_{jt} \in \{0, 1\},
          \quad 0 \le y_{it} \le 1

    (demand covered by existing homes is counted and left out of the model; forced
    sites :math:`F` are built in some year). The sum over years rewards covering
    children early. ``method="greedy"`` builds the forced sites first, then, year by
    year, the site with the most newly covered weight per yuan that still fits the
    year's money. Either way, each year's bound is the optimum of the LP relaxation
    of the single-period MCLP with the cumulative budget: no plan, phased or not,
    can cover more by the end of that year (``bounds=False`` skips it).

    Parameters
    ----------
    costs, weights
        A :class:`~siting.access.Access` (its boundary rule already applied, so it holds
        in every year) or a cost matrix, and the demand weights.
    years, budgets_cny
        The years (distinct, in order) and each year's budget.
    site_cost_cny
        Cost of each new home.
    sites
        Existing homes, forced (locked-in) and excluded sites. A township minimum is
        refused: no yearly budget rule here can promise it.
    standard
        Service standard (default: the access standard or the matrix cutoff).
    carry_over
        Let unspent money carry to later years.
    method
        ``"mip"``, ``"greedy"`` or ``"auto"`` (MIP when at most ``max_mip_sites``
        candidate sites remain after reductions).
    solver
        Solver and time limit of the multi-period MIP.

    Returns
    -------
    Plan
        ``model="phased_mclp"``, with ``build_year`` and one :class:`PlanYear` per year;
        ``objective`` is the weight covered at the end of the last year and ``bound`` its bound.
    """
    started = time.perf_counter()
    sites = sites or SiteOptions()
    solver = solver or SolverOptions(time_limit_s=120.0)
    _checked_years(years, budgets_cny)
    if method not in ("auto", "mip", "greedy"):
        raise InputError(f"method {method!r} must be 'auto', 'mip' or 'greedy'")
    if sites.min_per_township > 0:
        raise InputError(
            "phasing cannot honour min_per_township (yearly budgets may not reach every township); "
            "remove model.min_per_township or the [phasing] table"
        )
    matrix, standard_value = matrix_and_standard(costs, standard)
    w = checked_weights(weights, matrix.demand_ids)
    rules = resolve_sites(matrix, sites, site_cost_cny=site_cost_cny)
    k = rules.cost_cny
    cover = matrix.within(standard_value).tocsc()
    covered0 = covered_by(cover, rules.existing)
    allowed = rules.allowed(cover.shape[1])
    allowed[rules.existing] = False
    rows = np.flatnonzero(~covered0 & (w > 0))
    sub = cover[rows].tocsr()
    useful = np.union1d(np.flatnonzero(allowed & (np.diff(sub.tocsc().indptr) > 0)), rules.forced)
    cumulative = np.cumsum(budgets_cny)
    if float(k[rules.forced].sum()) > float(cumulative[-1]) + 1e-9:
        raise InputError(
            f"the locked-in sites cost {float(k[rules.forced].sum()):,.0f} CNY, more than all the yearly budgets "
            f"({float(cumulative[-1]):,.0f} CNY); raise the budgets or lock fewer sites in"
        )
    chosen_method = method if method != "auto" else ("mip" if len(useful) <= max_mip_sites else "greedy")
    if chosen_method == "mip":
        build_year, status, solver_name = _multi_period(
            matrix.site_ids, sub, w[rows], useful, k, rules.forced, years, budgets_cny, carry_over, solver, started
        )
    else:
        build_year = _greedy_years(
            matrix.site_ids, cover, w, covered0, useful, k, rules.forced, years, budgets_cny, carry_over
        )
        status, solver_name = "heuristic", "greedy (children per yuan)"
    position = {s: i for i, s in enumerate(matrix.site_ids.tolist())}
    plan_years = _plan_years(
        build_year, position, cover, sub, w, rows, useful, k, rules, years, budgets_cny, with_bounds=bounds
    )
    new_pos = sorted(position[s] for s in build_year)
    all_pos = np.union1d(rules.existing, new_pos).astype(np.int64)
    last = plan_years[-1]
    # The MIP proves the children-years sum (early cover counts); the plan's objective is the last year's
    # coverage, whose bound is what all the budgets could cover at once. With one year the two objectives are
    # one and the proof is the bound; with several, the plan is optimal only when its bound is met.
    final_status, stopped = (
        status,
        None if status in ("optimal", "heuristic") else f"time limit {solver.time_limit_s:g} s",
    )
    final_bound = last.bound
    gap = relative_gap(last.covered, last.bound)
    if status == "optimal" and len(years) == 1:
        final_bound = last.covered
    elif status == "optimal" and gap is not None and gap > max(solver.gap, 1e-6):
        final_status = "feasible"
        stopped = "optimal for the children covered summed over the years; the bound is all budgets spent at once"
    plan = Plan(
        model="phased_mclp",
        parameters=frozen_mapping(
            {
                "years": [int(y) for y in years],
                "budgets_cny": [float(b) for b in budgets_cny],
                "carry_over": carry_over,
                "method": chosen_method,
                "standard": standard_value,
                "unit": matrix.unit,
                "time_limit_s": solver.time_limit_s,
                "years_sum_status": status,
            }
        ),
        site_ids=tuple(matrix.site_ids[all_pos].tolist()),
        existing_ids=tuple(matrix.site_ids[rules.existing].tolist()),
        new_ids=tuple(matrix.site_ids[np.array(new_pos, dtype=np.int64)].tolist()),
        objective=last.covered,
        bound=final_bound,
        status=final_status,
        solver=solver_name,
        stopped_by=stopped,
        timings_s=frozen_mapping({"build": 0.0, "solve": time.perf_counter() - started}),
        build_year=frozen_mapping(build_year),
        years=tuple(plan_years),
    )
    # Checked as every plan is (the homes, the budget of all years, the weight covered), then year by year.
    promise = Promise("covered", maximise=True, weights=w, standard=standard_value, budget_cny=float(cumulative[-1]))
    plan = checked(plan, matrix, promise, site_cost_cny=k, excluded=rules.excluded)
    _check_yearly_spend(build_year, position, k, years, budgets_cny, carry_over=carry_over)
    return plan


def _check_yearly_spend(
    build_year: Mapping[str, int],
    position: Mapping[str, int],
    cost_cny: np.ndarray,
    years: Sequence[int],
    budgets_cny: Sequence[float],
    *,
    carry_over: bool,
) -> None:
    """Each year spends at most its budget (with ``carry_over``: what is left of the years so far); else a defect."""
    spent = np.array([sum(float(cost_cny[position[s]]) for s, y in build_year.items() if y == year) for year in years])
    budgets = np.asarray(budgets_cny, dtype=float)
    over = (np.cumsum(spent) > np.cumsum(budgets) * (1 + 1e-9) + 1e-6) if carry_over else spent > budgets + 1e-6
    if over.any():
        year = int(np.asarray(years)[over][0])
        raise SolverError(
            f"the phased plan spends more than its budget in {year} ({spent[over][0]:,.0f} CNY); this is a defect "
            "in siting: please report it with the inputs"
        )


def _plan_years(
    build_year: dict[str, int],
    position: dict[str, int],
    cover: Any,
    sub: Any,
    w: np.ndarray,
    rows: np.ndarray,
    useful: np.ndarray,
    k: np.ndarray,
    rules: SiteRules,
    years: Sequence[int],
    budgets_cny: Sequence[float],
    *,
    with_bounds: bool,
) -> list[PlanYear]:
    """Per year: money spent, homes built, weight covered at its end and the LP bound of the cumulative budget."""
    cumulative = np.cumsum(budgets_cny)
    covered0 = covered_by(cover, rules.existing)
    base = float(w[covered0].sum())
    out = []
    for t, year in enumerate(years):
        built = [position[s] for s, y in build_year.items() if y <= year]
        bound = _lp_bound(sub, w[rows], useful, k, float(cumulative[t])) + base if with_bounds else None
        covered = float(w[covered_by(cover, np.union1d(rules.existing, built).astype(np.int64))].sum())
        out.append(
            PlanYear(
                year=int(year),
                budget_cny=float(budgets_cny[t]),
                spent_cny=float(sum(k[position[s]] for s, y in build_year.items() if y == year)),
                homes_built=sum(1 for y in build_year.values() if y == year),
                covered=covered,
                bound=None if bound is None or not np.isfinite(bound) else max(bound, covered),
            )
        )
    return out


def _multi_period(
    site_ids: np.ndarray,
    sub: Any,
    w: np.ndarray,
    useful: np.ndarray,
    k: np.ndarray,
    forced: np.ndarray,
    years: Sequence[int],
    budgets_cny: Sequence[float],
    carry_over: bool,
    solver: SolverOptions,
    started: float,
) -> tuple[dict[str, int], str, str]:
    """Build year per new site from the multi-period MIP (see :func:`phase_homes`)."""
    cumulative = np.cumsum(budgets_cny)
    problem = pulp.LpProblem("phasing", pulp.LpMaximize)
    periods = range(len(years))
    x = {(int(j), t): pulp.LpVariable(f"x_{j}_{t}", cat=pulp.LpBinary) for j in useful for t in periods}
    objective = []
    useful_set = set(useful.tolist())
    for r in range(sub.shape[0]):
        cols = [int(c) for c in sub.indices[sub.indptr[r] : sub.indptr[r + 1]] if int(c) in useful_set]
        if not cols:
            continue
        for t in periods:
            y = pulp.LpVariable(f"y_{r}_{t}", lowBound=0, upBound=1)
            terms = [(y, 1.0)] + [(x[(c, tau)], -1.0) for c in cols for tau in range(t + 1)]
            problem += pulp.LpAffineExpression(terms) <= 0
            objective.append((y, float(w[r])))
    problem += pulp.LpAffineExpression(objective)
    forced_set = set(forced.tolist())
    for j in useful:
        built = pulp.lpSum(x[(int(j), t)] for t in periods)
        problem += (built == 1) if int(j) in forced_set else (built <= 1)
    for t in periods:
        if carry_over:
            spend = [(x[(int(j), tau)], float(k[j])) for j in useful for tau in range(t + 1)]
            problem += pulp.LpAffineExpression(spend) <= float(cumulative[t]), f"budget_{t}"
        else:
            spend = [(x[(int(j), t)], float(k[j])) for j in useful]
            problem += pulp.LpAffineExpression(spend) <= float(budgets_cny[t]), f"budget_{t}"
    result = solve_problem(problem, **solver.solve_kwargs(solver.deadline(started)), cbc_options=("heuristics off",))
    build_year = {
        str(site_ids[site]): int(years[period]) for (site, period), var in x.items() if (var.value() or 0) > 0.5
    }
    return build_year, result.status, result.solver


def _greedy_years(
    site_ids: np.ndarray,
    cover: Any,
    w: np.ndarray,
    covered0: np.ndarray,
    useful: np.ndarray,
    k: np.ndarray,
    forced: np.ndarray,
    years: Sequence[int],
    budgets_cny: Sequence[float],
    carry_over: bool,
) -> dict[str, int]:
    """Forced sites first, then per year the site with the most newly covered weight per yuan that fits."""
    covered = covered0.copy()
    build_year: dict[str, int] = {}
    pending = [int(j) for j in forced]
    gains: dict[int, float] = {}
    for column in useful.tolist():
        hit = cover.indices[cover.indptr[column] : cover.indptr[column + 1]]
        gains[column] = float(w[hit][~covered[hit]].sum())
    carried = 0.0
    for t, year in enumerate(years):
        money = budgets_cny[t] + (carried if carry_over else 0.0)
        for j in list(pending):
            if k[j] <= money + 1e-9:
                money -= float(k[j])
                covered[cover.indices[cover.indptr[j] : cover.indptr[j + 1]]] = True
                build_year[str(site_ids[j])] = int(year)
                pending.remove(j)
        heap: list[tuple[float, int]] = [
            (-(g / max(k[site], 1e-9)), site) for site, g in gains.items() if g > 0 and k[site] <= money
        ]
        heapq.heapify(heap)
        while heap and not pending:
            _, pick = heapq.heappop(heap)
            if k[pick] > money or str(site_ids[pick]) in build_year:
                continue
            reached = cover.indices[cover.indptr[pick] : cover.indptr[pick + 1]]
            fresh = float(w[reached][~covered[reached]].sum())
            if fresh <= 0:
                continue
            ratio = fresh / max(float(k[pick]), 1e-9)
            if heap and ratio < -heap[0][0] - 1e-12:
                heapq.heappush(heap, (-ratio, pick))
                continue
            covered[reached] = True
            money -= float(k[pick])
            build_year[str(site_ids[pick])] = int(year)
        carried = money if carry_over else 0.0
    if pending:
        raise InputError(
            f"locked-in sites {site_ids[pending][:5].tolist()} do not fit any year's budget; raise the budgets, "
            "allow carry_over, or lock fewer sites in"
        )
    return build_year
