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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pulp

from siting.costs import CostMatrix
from siting.errors import InputError
from siting.models.common import checked_weights, covered_by, resolve_sites
from siting.models.solve import quiet_stdout, solve_problem

__all__ = ["PhasedPlan", "homes_per_year", "phase_homes"]


@dataclass(frozen=True, eq=False)
class PhasedPlan:
    """The build year of each new home and the coverage at the end of each year.

    Attributes
    ----------
    years
        The years, in order.
    build_year
        New site id → year it is built.
    covered_by_year
        Weight covered at the end of each year (existing homes included).
    bound_by_year
        A proven upper bound on what any plan could cover by the end of each year
        (the single-period optimum for the cumulative budget), when computed.
    spent_by_year
        Money spent each year.
    method
        ``"mip"`` (multi-period model) or ``"greedy"`` (children added per yuan).
    status
        Solver status of the multi-period model, or ``"heuristic"``.
    seconds
        Time taken.
    """

    years: tuple[int, ...]
    build_year: dict[str, int]
    covered_by_year: tuple[float, ...]
    bound_by_year: tuple[float | None, ...]
    spent_by_year: tuple[float, ...]
    method: str
    status: str
    seconds: float

    @property
    def gap_by_year(self) -> tuple[float | None, ...]:
        """Relative gap of each year's coverage to its bound."""
        return tuple(
            None if b is None else abs(b - c) / max(abs(b), 1e-9)
            for c, b in zip(self.covered_by_year, self.bound_by_year, strict=True)
        )

    def table(self) -> pd.DataFrame:
        """One row per year: budget spent, homes built, weight covered, bound, gap."""
        built = pd.Series(self.build_year).value_counts()
        return pd.DataFrame(
            {
                "year": self.years,
                "homes_built": [int(built.get(y, 0)) for y in self.years],
                "spent_cny": self.spent_by_year,
                "covered": self.covered_by_year,
                "bound": self.bound_by_year,
                "gap": self.gap_by_year,
            }
        )


def homes_per_year(budgets_cny: Sequence[float], cost_per_home_cny: float) -> list[int]:
    """Homes each year's budget pays for at a fixed cost (2018: 16 M → 533; 2019: 13.2 M → 440)."""
    return [int(b // cost_per_home_cny) for b in budgets_cny]


def _covered_weight(cover_csc: Any, weights: np.ndarray, open_pos: Iterable[int]) -> float:
    matrix = cover_csc.tocsc()
    columns = sorted(set(open_pos))
    if not columns:
        return 0.0
    hit = np.asarray(matrix[:, columns].sum(axis=1)).ravel() > 0
    return float(weights[hit].sum())


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
    with quiet_stdout():
        problem.solve(pulp.HiGHS(msg=False))
    # The LP optimum (or, if it stopped early, the objective of any dual bound HiGHS reports) bounds the MIP.
    return float(pulp.value(problem.objective) or 0.0)


def phase_homes(
    costs: CostMatrix,
    weights: pd.Series | np.ndarray,
    *,
    years: Sequence[int],
    budgets_cny: Sequence[float],
    site_cost_cny: pd.Series | np.ndarray | float,
    existing: Iterable[str] = (),
    excluded: Iterable[str] = (),
    standard: float | None = None,
    carry_over: bool = False,
    method: str = "auto",
    max_mip_sites: int = 3_000,
    solver: str = "cbc",
    time_limit_s: float | None = 120.0,
    bounds: bool = True,
) -> PhasedPlan:
    r"""Decide the build year of new homes under annual budgets.

    Multi-period model (``method="mip"``), for years :math:`t = 1..T`:

    .. math::

        \max \; & \sum_t \sum_i w_i y_{it} \\
        \text{s.t.}\; & y_{it} \le \sum_{j \in N_i} \sum_{\tau \le t} x_{j\tau} && \forall i, t \\
        & \sum_j k_j x_{jt} \le B_t \quad \text{or, with carry-over,} \quad
          \sum_{\tau \le t} \sum_j k_j x_{j\tau} \le \sum_{\tau \le t} B_\tau && \forall t \\
        & \sum_t x_{jt} \le 1, \quad x_{jt} \in \{0, 1\}, \quad 0 \le y_{it} \le 1

    (demand covered by existing homes is counted and left out of the model).
    The sum over years rewards covering children early. ``method="greedy"``
    builds, year by year, the site with the most newly covered weight per yuan
    that still fits the year's money. Either way, ``bound_by_year`` holds the
    optimum of the LP relaxation of the single-period MCLP with the cumulative
    budget: no plan, phased or not, can cover more by the end of that year
    (``bounds=False`` skips computing it).

    Parameters
    ----------
    costs, weights
        Demand × site costs and demand weights.
    years, budgets_cny
        The years and each year's budget.
    site_cost_cny
        Cost of each new home.
    existing, excluded
        Site ids already built, or never to build.
    standard
        Service standard (default the matrix cutoff).
    carry_over
        Let unspent money carry to later years.
    method
        ``"mip"``, ``"greedy"`` or ``"auto"`` (MIP when at most ``max_mip_sites``
        candidate sites remain after reductions).
    """
    started = time.perf_counter()
    if len(years) != len(budgets_cny) or not years:
        raise InputError(f"give one budget per year: {len(years)} years, {len(budgets_cny)} budgets")
    if any(b < 0 for b in budgets_cny):
        raise InputError(f"budgets must be ≥ 0, got {list(budgets_cny)}")
    if method not in ("auto", "mip", "greedy"):
        raise InputError(f"method {method!r} must be 'auto', 'mip' or 'greedy'")
    standard = costs.cutoff if standard is None else float(standard)
    w = checked_weights(weights, costs.demand_ids)
    rules = resolve_sites(costs, existing=existing, excluded=excluded, site_cost_cny=site_cost_cny)
    k = rules.cost_cny
    cover = costs.within(standard).tocsc()
    covered0 = covered_by(cover, rules.existing)
    allowed = rules.allowed(cover.shape[1])
    allowed[rules.existing] = False
    rows = np.flatnonzero(~covered0 & (w > 0))
    sub = cover[rows].tocsr()
    useful = np.flatnonzero(allowed & (np.diff(sub.tocsc().indptr) > 0))
    cumulative = np.cumsum(budgets_cny)
    chosen_method = method if method != "auto" else ("mip" if len(useful) <= max_mip_sites else "greedy")

    build_year: dict[str, int] = {}
    status = "heuristic"
    if chosen_method == "mip":
        problem = pulp.LpProblem("phasing", pulp.LpMaximize)
        x = {(int(j), t): pulp.LpVariable(f"x_{j}_{t}", cat=pulp.LpBinary) for j in useful for t in range(len(years))}
        objective = []
        useful_set = set(useful.tolist())
        for r in range(sub.shape[0]):
            cols = [int(c) for c in sub.indices[sub.indptr[r] : sub.indptr[r + 1]] if int(c) in useful_set]
            if not cols:
                continue
            for t in range(len(years)):
                y = pulp.LpVariable(f"y_{r}_{t}", lowBound=0, upBound=1)
                terms = [(y, 1.0)] + [(x[(c, tau)], -1.0) for c in cols for tau in range(t + 1)]
                problem += pulp.LpAffineExpression(terms) <= 0
                objective.append((y, float(w[rows[r]])))
        problem += pulp.LpAffineExpression(objective)
        for j in useful:
            problem += pulp.lpSum(x[(int(j), t)] for t in range(len(years))) <= 1
        for t in range(len(years)):
            if carry_over:
                spend = [(x[(int(j), tau)], float(k[j])) for j in useful for tau in range(t + 1)]
                problem += pulp.LpAffineExpression(spend) <= float(cumulative[t]), f"budget_{t}"
            else:
                spend = [(x[(int(j), t)], float(k[j])) for j in useful]
                problem += pulp.LpAffineExpression(spend) <= float(budgets_cny[t]), f"budget_{t}"
        result = solve_problem(problem, solver=solver, time_limit_s=time_limit_s, cbc_options=("heuristics off",))
        status = result.status
        for (site, period), var in x.items():
            if (var.value() or 0) > 0.5:
                build_year[str(costs.site_ids[site])] = int(years[period])
    else:
        covered = covered0.copy()
        gains: dict[int, float] = {}
        for column in useful.tolist():
            hit = cover.indices[cover.indptr[column] : cover.indptr[column + 1]]
            gains[column] = float(w[hit][~covered[hit]].sum())
        carried = 0.0
        for t, year in enumerate(years):
            money = budgets_cny[t] + (carried if carry_over else 0.0)
            heap: list[tuple[float, int]] = [
                (-(g / max(k[site], 1e-9)), site) for site, g in gains.items() if g > 0 and k[site] <= money
            ]
            heapq.heapify(heap)
            while heap:
                _, pick = heapq.heappop(heap)
                if k[pick] > money or str(costs.site_ids[pick]) in build_year:
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
                build_year[str(costs.site_ids[pick])] = int(year)
            carried = money if carry_over else 0.0

    position = {s: i for i, s in enumerate(costs.site_ids.tolist())}
    covered_by_year, spent_by_year = [], []
    for year in years:
        open_pos = list(rules.existing) + [position[s] for s, y in build_year.items() if y <= year]
        covered_by_year.append(_covered_weight(cover, w, open_pos))
        spent_by_year.append(float(sum(k[position[s]] for s, y in build_year.items() if y == year)))
    bound_by_year: list[float | None] = []
    for t in range(len(years)):
        if not bounds:
            bound_by_year.append(None)
            continue
        # Whatever the carry-over rule, no plan has spent more than the cumulative budget by year t.
        bound_by_year.append(_lp_bound(sub, w[rows], useful, k, float(cumulative[t])) + float(w[covered0].sum()))
    return PhasedPlan(
        years=tuple(int(y) for y in years),
        build_year=build_year,
        covered_by_year=tuple(covered_by_year),
        bound_by_year=tuple(bound_by_year),
        spent_by_year=tuple(spent_by_year),
        method=chosen_method,
        status=status,
        seconds=time.perf_counter() - started,
    )
