r"""Coverage that no unit is left behind in: a minimum share per county (or township) and max-min.

Both are exact MIPs over the same rows as the MCLP (:mod:`siting.models.mclp`), with the
units' rows kept apart (no merging across units):

* **minimum share** — every unit :math:`c` keeps at least :math:`\alpha` of its weighted
  children within the standard, :math:`\sum_{i \in c} w_i y_i \ge \alpha W_c`; in the MCLP
  (most children under a budget or number of homes) and in the LSCP (fewest homes, or
  least cost, that keep every unit's share);
* **max-min** — the MCLP whose objective is the worst unit's share :math:`z`
  (:math:`\sum_{i \in c} w_i y_i \ge z W_c` for every unit), then, with that share held,
  the most children covered (a second, lexicographic solve): the worst county is raised
  first, and no child is given up for nothing.

Weights are the run's (children, or children times priority factors), so priority groups
count as the policy counts them. A unit that cannot reach the minimum even with every
allowed site open is refused by name with the share it can reach; limits too tight for all
units together are refused with what each short unit needs on its own.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pulp

from siting.costs import CostMatrix, matrix_and_standard
from siting.errors import InfeasibleError, InputError, SolverError
from siting.models.checks import Promise, unit_shares
from siting.models.options import SiteOptions, SolverOptions
from siting.models.plan import Plan, frozen_mapping
from siting.models.reductions import covered_by, dominated_sites
from siting.models.sites import SiteRules, checked_weights, cost_bound, new_cost, plan_from_choice, resolve_sites
from siting.models.solver import solve_problem

__all__ = ["UnitShares", "solve_fair_lscp", "solve_fair_mclp", "solve_worst_case_mclp"]

#: The worst share found by max-min is held in the second solve to this tolerance (solver rounding).
_HOLD_TOLERANCE = 1e-7


@dataclass(frozen=True)
class UnitShares:
    """Which unit each demand point is in, and what each unit must keep.

    Attributes
    ----------
    unit_of_demand
        Demand id → unit code (county or township code).
    min_share
        Share of each unit's weight to keep within the standard (0: none), 0–1.
    max_min
        Maximise the worst unit's share first, then the children covered (MCLP only).
    level
        What a unit is, for messages (``"county"``, ``"township"``).
    names
        Unit code → name, for messages.
    """

    unit_of_demand: Mapping[str, str] = field(compare=False)
    min_share: float = 0.0
    max_min: bool = False
    level: str = "county"
    names: Mapping[str, str] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        share = self.min_share
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
            raise InputError(f"min_share must be a fraction from 0 to 1 (e.g. 0.6 for 60 %), got {share!r}")
        if share == 0 and not self.max_min:
            raise InputError("UnitShares needs min_share > 0 or max_min = true")

    def labels(self, demand_ids: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """Per demand point the index of its unit, and the unit codes in index order."""
        codes = pd.Series(list(demand_ids)).map(lambda d: self.unit_of_demand.get(str(d)))
        missing = codes.isna()
        if missing.any():
            raise InputError(
                f"{int(missing.sum())} demand points have no {self.level}, e.g. "
                f"{list(np.asarray(demand_ids)[missing.to_numpy()][:3])}; give every community its {self.level} code"
            )
        index, units = pd.factorize(codes.astype(str), sort=True)
        return index.astype(np.int64), [str(u) for u in units]

    def named(self, code: str) -> str:
        name = (self.names or {}).get(code)
        return f"{name} ({code})" if name else code


@dataclass(eq=False)
class _Model:
    """The fair model's pieces: the problem, x per free site, y terms per unit."""

    problem: pulp.LpProblem
    x: dict[int, pulp.LpVariable]
    by_unit: dict[int, list[tuple[pulp.LpVariable, float]]]


def _coverage_model(name: str, sense: int, data: _Instance, rows: np.ndarray | None = None) -> _Model:
    """x per free site, y per open demand row (or the given rows) with ``y_i ≤ Σ x_j``; rows grouped by unit."""
    problem = pulp.LpProblem(name, sense)
    x = {int(j): pulp.LpVariable(f"x_{j}", cat=pulp.LpBinary) for j in data.free_sites}
    by_unit: dict[int, list[tuple[pulp.LpVariable, float]]] = {}
    csr, w, unit = data.cover, data.w, data.unit
    for i in data.open_rows if rows is None else rows:
        cols = [int(c) for c in csr.indices[csr.indptr[i] : csr.indptr[i + 1]] if int(c) in x]
        if not cols:
            continue
        y = pulp.LpVariable(f"y_{i}", lowBound=0, upBound=1)
        problem += pulp.LpAffineExpression([(y, 1.0)] + [(x[c], -1.0) for c in cols]) <= 0
        by_unit.setdefault(int(unit[i]), []).append((y, float(w[i])))
    return _Model(problem, x, by_unit)


def _check_reachable(shares: UnitShares, best: np.ndarray, units: list[str], standard: float, unit_name: str) -> None:
    """Refuse a minimum share that a unit cannot reach even with every allowed site open."""
    short = np.flatnonzero(best < shares.min_share - 1e-12)
    if len(short):
        listed = ", ".join(f"{shares.named(units[k])} {best[k]:.1%}" for k in short[:8])
        raise InfeasibleError(
            f"{len(short)} {shares.level}s cannot keep {shares.min_share:.0%} of their children within {standard:g} "
            f"{unit_name} even with every allowed site open: {listed}{' …' if len(short) > 8 else ''}; lower "
            "min_share, widen the standard or add candidate sites there"
        )


@dataclass(frozen=True, eq=False)
class _Instance:
    """A fair model's data: the matrix, weights, site rules, coverage and each row's unit."""

    matrix: CostMatrix
    standard: float
    w: np.ndarray
    rules: SiteRules
    cover: Any
    unit: np.ndarray
    units: list[str]
    covered_fixed: np.ndarray
    free_sites: np.ndarray

    @property
    def open_rows(self) -> np.ndarray:
        """Weighted rows no fixed home covers: the ones the model decides."""
        return np.flatnonzero(~self.covered_fixed & (self.w > 0))

    def totals(self) -> tuple[np.ndarray, np.ndarray]:
        """Per unit: its weight, and the weight the fixed homes already cover."""
        total = np.bincount(self.unit, weights=self.w, minlength=len(self.units))
        return total, np.bincount(self.unit, weights=self.w * self.covered_fixed, minlength=len(self.units))


def _instance(
    costs: Any, weights: Any, shares: UnitShares, standard: float | None, sites: SiteOptions, site_cost_cny: Any
) -> _Instance:
    matrix, standard_value = matrix_and_standard(costs, standard)
    w = checked_weights(weights, matrix.demand_ids)
    unit, units = shares.labels(matrix.demand_ids)
    rules = resolve_sites(matrix, sites, site_cost_cny=site_cost_cny)
    cover = matrix.within(standard_value).tocsr()
    allowed = rules.allowed(cover.shape[1])
    if shares.min_share > 0:
        best = unit_shares(unit, w, covered_by(cover, np.flatnonzero(allowed)))
        _check_reachable(shares, best, units, standard_value, matrix.unit)
    covered_fixed = covered_by(cover, rules.fixed)
    free = allowed.copy()
    free[rules.fixed] = False
    rows = np.flatnonzero(~covered_fixed & (w > 0))
    if rules.min_per_township == 0 and free.any():
        # A site whose new coverage is a subset of a no-dearer site's never helps a unit more.
        free[dominated_sites(cover[rows].tocsc(), rules.cost_cny, np.flatnonzero(free))] = False
    return _Instance(matrix, standard_value, w, rules, cover, unit, units, covered_fixed, np.flatnonzero(free))


def _unit_rows(model: _Model, data: _Instance, share: pulp.LpVariable | float) -> None:
    """Σ_{i ∈ c} (w_i / W_c) y_i + (share the fixed homes cover) ≥ share, for every unit c with weight.

    Written in shares of the unit's weight (not children), so that the solver's rounding
    of a few 1e-9 cannot break a row of a county of a million children.
    """
    total, base = data.totals()
    for c in np.flatnonzero(total > 0):
        terms = [(y, weight / float(total[c])) for y, weight in model.by_unit.get(int(c), [])]
        expression = pulp.LpAffineExpression(terms) + float(base[c] / total[c])
        if isinstance(share, pulp.LpVariable):
            model.problem += expression - share >= 0, f"unit_{c}"
        elif share > base[c] / total[c] + 1e-12:
            model.problem += expression >= float(share), f"unit_{c}"


def _limits(model: _Model, rules: SiteRules, n_homes: int | None, budget_cny: float | None) -> None:
    """The number of new homes, the budget and the township minimums (forced homes count)."""
    forced_cost = float(rules.cost_cny[rules.forced].sum())
    if budget_cny is not None:
        spend = pulp.LpAffineExpression([(v, float(rules.cost_cny[j])) for j, v in model.x.items()])
        model.problem += spend <= budget_cny - forced_cost, "budget"
    if n_homes is not None:
        model.problem += pulp.lpSum(model.x.values()) <= n_homes - len(rules.forced), "homes"
    rules.add_township_minimums(model.problem, model.x)


def _needs_on_their_own(data: _Instance, share: float) -> dict[int, int]:
    """For each unit short of ``share``: the fewest new homes that lift it there on its own (a small MIP each)."""
    total, base = data.totals()
    needs = {}
    for c in np.flatnonzero(share * total > base + 1e-9 * np.maximum(1.0, total)):
        rows = data.open_rows[data.unit[data.open_rows] == c]
        model = _coverage_model("unit_need", pulp.LpMinimize, data, rows)
        model.problem += pulp.LpAffineExpression(model.by_unit.get(int(c), [])) >= float(share * total[c] - base[c])
        model.problem += pulp.lpSum(model.x.values())
        solve_problem(model.problem, time_limit_s=10.0)
        needs[int(c)] = sum(1 for v in model.x.values() if (v.value() or 0) > 0.5)
    return needs


def _refuse_limits(data: _Instance, shares: UnitShares, share: float, limit: str) -> InfeasibleError:
    """Limits that no plan meets with every unit's share: what each short unit needs on its own."""
    needs = _needs_on_their_own(data, share)
    listed = ", ".join(
        f"{shares.named(data.units[c])} {n}" for c, n in sorted(needs.items(), key=lambda item: -item[1])[:8]
    )
    return InfeasibleError(
        f"no plan within {limit} keeps {share:.0%} of the children in every {shares.level}: the {len(needs)} "
        f"{shares.level}s short of it need at least {sum(needs.values())} new homes between them, each on its own "
        f"({listed}{' …' if len(needs) > 8 else ''}); raise the limit or lower min_share"
    )


def _lifting_greedy(data: _Instance, target: float, n_homes: int | None, budget_cny: float | None) -> list[int]:
    """A plan that lifts the worst unit first: while a unit is below ``target`` (any share when ``target > 1``),
    open the site that adds most to the worst unit that some site can still lift; then the most children.

    The start of the exact solves (they are never worse than it), and their plan when a time
    limit stops them before they find one of their own.
    """
    rules, cover, w = data.rules, data.cover.tocsc(), data.w
    total, base = data.totals()
    got = base.copy()
    covered = data.covered_fixed.copy()
    free = np.zeros(cover.shape[1], dtype=bool)
    free[data.free_sites] = True
    money = np.inf if budget_cny is None else budget_cny - float(rules.cost_cny[rules.forced].sum())
    homes = np.inf if n_homes is None else n_homes - len(rules.forced)
    stuck = np.zeros(len(total), dtype=bool)  # units no open-able site can lift any more
    chosen: list[int] = []
    while homes >= 1:
        fits = free & (rules.cost_cny <= money + 1e-9)
        if not fits.any():
            break
        open_w = w * ~covered
        share = np.divide(got, total, out=np.ones(len(total)), where=total > 0)
        lifting = np.flatnonzero(~stuck & (share < target) & (total > 0))
        if len(lifting):
            worst = lifting[np.argmin(share[lifting])]
            gain = cover.T @ (open_w * (data.unit == worst))
            gain[~fits] = 0.0
            if gain.max(initial=0.0) <= 0:
                stuck[worst] = True
                continue
            j = int(np.argmax(gain + 1e-9 * (cover.T @ open_w)))  # ties: the most children in all
        else:
            gain = cover.T @ open_w
            gain[~fits] = 0.0
            if gain.max(initial=0.0) <= 0:
                break
            j = int(np.argmax(gain / np.maximum(rules.cost_cny, 1e-9) if budget_cny is not None else gain))
        rows = cover.indices[cover.indptr[j] : cover.indptr[j + 1]]
        new = rows[~covered[rows]]
        np.add.at(got, data.unit[new], w[new])
        covered[new] = True
        free[j] = False
        money -= float(rules.cost_cny[j])
        homes -= 1
        chosen.append(j)
    return sorted(chosen)


def _start_from(model: _Model, data: _Instance, chosen: list[int], worst: pulp.LpVariable | None = None) -> None:
    """Set a plan as the solver's starting values (x, y and the worst share)."""
    picked = set(chosen)
    for j, var in model.x.items():
        var.setInitialValue(1 if j in picked else 0)
    covered = covered_by(data.cover, np.union1d(data.rules.fixed, chosen).astype(np.int64))
    for terms in model.by_unit.values():
        for y, _ in terms:
            y.setInitialValue(1 if covered[int(y.name[2:])] else 0)
    if worst is not None:
        worst.setInitialValue(_worst_share(data, chosen))


def _chosen(model: _Model) -> list[int]:
    return sorted(j for j, v in model.x.items() if (v.value() or 0) > 0.5)


def _promise(data: _Instance, objective: str, *, maximise: bool, share: float | None, **limits: Any) -> Promise:
    return Promise(
        objective,
        maximise=maximise,
        weights=data.w,
        standard=data.standard,
        unit_of_demand=data.unit,
        unit_min_share=share,
        **limits,
    )


def _worst_share(data: _Instance, chosen: list[int]) -> float:
    open_pos = np.union1d(data.rules.fixed, np.asarray(chosen, dtype=np.int64)).astype(np.int64)
    shares = unit_shares(data.unit, data.w, covered_by(data.cover, open_pos))
    total, _ = data.totals()
    return float(shares[total > 0].min(initial=1.0))


def solve_fair_mclp(
    costs: Any,
    weights: pd.Series | np.ndarray,
    *,
    shares: UnitShares,
    n_homes: int | None = None,
    budget_cny: float | None = None,
    site_cost_cny: pd.Series | np.ndarray | float = 0.0,
    standard: float | None = None,
    sites: SiteOptions | None = None,
    solver: SolverOptions | None = None,
) -> Plan:
    r"""The MCLP with every unit's minimum share, or with the worst unit's share maximised first.

    .. math::

        \max \; & \sum_i w_i y_i \quad (\text{or first } \max z) \\
        \text{s.t.}\; & y_i \le \sum_{j : c_{ij} \le S} x_j && \forall i \\
        & \sum_{i \in c} w_i y_i \ge \alpha W_c \quad (\text{or } \ge z W_c) && \forall \text{ units } c \\
        & \text{budget, number of new homes, township minimums, fixed and excluded sites as the MCLP}

    With ``shares.max_min`` the first solve finds the largest worst share :math:`z^*`;
    the second keeps every unit at :math:`z^*` (and at ``min_share``, if higher) and
    covers the most children. The plan's parameters carry ``worst_share``.

    Raises
    ------
    InfeasibleError
        A unit cannot reach ``min_share`` with every allowed site open (named, with the
        share it can reach), or the limits cannot give every unit its share (the short
        units named with the homes each needs on its own).
    """
    from siting.models.mclp import _check_limits  # one check of the limits for every MCLP

    started = time.perf_counter()
    sites, solver = sites or SiteOptions(), solver or SolverOptions()
    _check_limits(n_homes, budget_cny)
    data = _instance(costs, weights, shares, standard, sites, site_cost_cny)
    deadline = solver.deadline(started)
    limit = " and ".join(
        text
        for text in (
            None if n_homes is None else f"n_homes={n_homes}",
            None if budget_cny is None else f"budget_cny={budget_cny:,.0f}",
        )
        if text
    )
    held, first_status, solve_s = shares.min_share, "optimal", 0.0
    start: list[int] | None = _lifting_greedy(data, 2.0 if shares.max_min else shares.min_share, n_homes, budget_cny)
    if start is not None and _worst_share(data, start) < shares.min_share:
        start = None  # the greedy did not reach the minimum: the solver starts from nothing
    if shares.max_min:
        model = _coverage_model("max_min", pulp.LpMaximize, data)
        z = pulp.LpVariable("worst_share", lowBound=shares.min_share, upBound=1)
        _unit_rows(model, data, z)
        _limits(model, data.rules, n_homes, budget_cny)
        model.problem += z
        if start is not None:
            _start_from(model, data, start, z)
        # The first solve may take half the time left: the second must still find the most children.
        half = None if deadline is None else time.perf_counter() + (deadline - time.perf_counter()) / 2
        try:
            first = solve_problem(model.problem, **solver.solve_kwargs(half), warm_start=start is not None)
            solve_s += first.seconds
            first_status = first.status
            found = _chosen(model)
            if start is None or _worst_share(data, found) >= _worst_share(data, start):
                start = found
        except InfeasibleError:
            raise _refuse_limits(data, shares, shares.min_share, limit) from None
        except SolverError:
            if start is None:
                raise
            first_status = "feasible"
        held = max(shares.min_share, _worst_share(data, start) - _HOLD_TOLERANCE)
    model = _coverage_model("fair_mclp", pulp.LpMaximize, data)
    _unit_rows(model, data, held)
    _limits(model, data.rules, n_homes, budget_cny)
    y_terms = [term for terms in model.by_unit.values() for term in terms]
    model.problem += pulp.LpAffineExpression(y_terms)
    if start is not None:
        _start_from(model, data, start)
    try:
        result = solve_problem(model.problem, **solver.solve_kwargs(deadline), warm_start=start is not None)
        solve_s += result.seconds
        chosen, status, solver_name, bound = _chosen(model), result.status, result.solver, result.bound
    except InfeasibleError:
        raise _refuse_limits(data, shares, held, limit) from None
    except SolverError:
        if start is None:
            raise
        chosen, status, solver_name, bound = start, "feasible", f"{solver.name} (lifting greedy start kept)", None
    base = float(data.w[data.covered_fixed].sum())
    objective = float(data.w[covered_by(data.cover, np.union1d(data.rules.fixed, chosen).astype(np.int64))].sum())
    fields = {
        "objective": objective,
        "bound": None if bound is None else max(base + bound, objective),
        "status": "optimal" if status == first_status == "optimal" else "feasible",
        "solver": solver_name,
        "stopped_by": None
        if status == first_status == "optimal"
        else f"time limit {solver.time_limit_s:g} s"
        + ("" if first_status == "optimal" else " (the worst share found, not proven the largest)"),
        "timings_s": frozen_mapping({"build": time.perf_counter() - started - solve_s, "solve": solve_s}),
    }
    parameters = {
        "standard": data.standard,
        "unit": data.matrix.unit,
        "n_homes": n_homes,
        "budget_cny": budget_cny,
        "min_share": shares.min_share,
        "min_share_per": shares.level,
        "max_min": shares.max_min,
        "worst_share": _worst_share(data, chosen),
        "min_per_township": sites.min_per_township,
        "time_limit_s": solver.time_limit_s,
        "gap": solver.gap,
        "seed": solver.seed,
    }
    promise = _promise(data, "covered", maximise=True, share=held, max_new=n_homes, budget_cny=budget_cny)
    return plan_from_choice("mclp", data.matrix, data.rules, chosen, fields, parameters, promise=promise)


def solve_fair_lscp(
    costs: Any,
    weights: pd.Series | np.ndarray,
    *,
    shares: UnitShares,
    site_cost_cny: pd.Series | np.ndarray | float | None = None,
    standard: float | None = None,
    sites: SiteOptions | None = None,
    solver: SolverOptions | None = None,
) -> Plan:
    r"""Fewest new homes (or least cost) that keep ``shares.min_share`` of every unit's children covered.

    .. math::

        \min \sum_j k_j x_j \quad \text{s.t.}\quad y_i \le \sum_{j : c_{ij} \le S} x_j, \quad
        \sum_{i \in c} w_i y_i \ge \alpha W_c \;\; \forall c, \quad \text{fixed and excluded sites, township minimums}

    The LSCP's full cover is the case :math:`lpha = 1` (every reachable child); a unit
    that cannot reach :math:`lpha` is refused by name.
    """
    if shares.max_min:
        raise InputError(
            "max_min adds nothing to the LSCP: it covers every child a site can reach, so every unit is already at "
            "the most it can reach; use model 'mclp' with max_min to raise the worst unit under a budget"
        )
    started = time.perf_counter()
    sites, solver = sites or SiteOptions(), solver or SolverOptions()
    data = _instance(costs, weights, shares, standard, sites, 1.0 if site_cost_cny is None else site_cost_cny)
    model = _coverage_model("fair_lscp", pulp.LpMinimize, data)
    _unit_rows(model, data, shares.min_share)
    _limits(model, data.rules, None, None)
    model.problem += pulp.LpAffineExpression([(v, float(data.rules.cost_cny[j])) for j, v in model.x.items()])
    result = solve_problem(model.problem, **solver.solve_kwargs(solver.deadline(started)))
    chosen = _chosen(model)
    fields = {
        "objective": new_cost(data.rules, chosen),
        "bound": cost_bound(result.bound, data.rules),
        "status": result.status,
        "solver": result.solver,
        "stopped_by": None if result.status == "optimal" else f"time limit {solver.time_limit_s:g} s",
        "timings_s": frozen_mapping({"build": time.perf_counter() - started - result.seconds, "solve": result.seconds}),
    }
    parameters = {
        "standard": data.standard,
        "unit": data.matrix.unit,
        "objective": "cost" if site_cost_cny is not None else "homes",
        "min_share": shares.min_share,
        "min_share_per": shares.level,
        "worst_share": _worst_share(data, chosen),
        "min_per_township": sites.min_per_township,
        "time_limit_s": solver.time_limit_s,
        "gap": solver.gap,
        "seed": solver.seed,
    }
    promise = _promise(data, "cost", maximise=False, share=shares.min_share)
    return plan_from_choice("lscp", data.matrix, data.rules, chosen, fields, parameters, promise=promise)


def solve_worst_case_mclp(
    costs: Any,
    weight_sets: np.ndarray,
    *,
    n_homes: int | None = None,
    budget_cny: float | None = None,
    site_cost_cny: pd.Series | np.ndarray | float = 0.0,
    standard: float | None = None,
    sites: SiteOptions | None = None,
    solver: SolverOptions | None = None,
    start_ids: tuple[str, ...] = (),
) -> tuple[Plan, float]:
    r"""The MCLP whose plan covers the largest share of children under the *worst* of several distributions.

    .. math::

        \max \; z \quad \text{s.t.}\quad y_i \le \sum_{j : c_{ij} \le S} x_j, \quad
        \frac{\sum_i a_{ki} y_i}{\sum_i a_{ki}} \ge z \;\; \forall k, \quad \text{budget, homes, sites as the MCLP}

    ``weight_sets`` has one row per distribution (``K × demand``, in the matrix's demand
    order). The solve starts from ``start_ids`` (the new homes of a plan, e.g. the one of
    best expected coverage), so a stop at the time limit is never worse than it in the
    worst case. Returns the plan (its objective: the children covered under the first
    distribution) and its worst share.
    """
    from siting.models.mclp import _check_limits

    started = time.perf_counter()
    sites, solver = sites or SiteOptions(), solver or SolverOptions()
    _check_limits(n_homes, budget_cny)
    matrix, standard_value = matrix_and_standard(costs, standard)
    sets = np.asarray(weight_sets, dtype=float)
    if sets.ndim != 2 or sets.shape[1] != len(matrix.demand_ids) or not np.isfinite(sets).all() or (sets < 0).any():
        raise InputError(f"weight_sets must be K × {len(matrix.demand_ids)} weights ≥ 0, got shape {sets.shape}")
    rules = resolve_sites(matrix, sites, site_cost_cny=site_cost_cny)
    cover = matrix.within(standard_value).tocsr()
    covered_fixed = covered_by(cover, rules.fixed)
    free = rules.allowed(cover.shape[1])
    free[rules.fixed] = False
    rows = np.flatnonzero(~covered_fixed & (sets.sum(axis=0) > 0))
    totals = sets.sum(axis=1)
    problem = pulp.LpProblem("worst_case", pulp.LpMaximize)
    x = {int(j): pulp.LpVariable(f"x_{j}", cat=pulp.LpBinary) for j in np.flatnonzero(free)}
    y: dict[int, pulp.LpVariable] = {}
    for i in rows:
        cols = [int(c) for c in cover.indices[cover.indptr[i] : cover.indptr[i + 1]] if int(c) in x]
        if cols:
            y[int(i)] = pulp.LpVariable(f"y_{i}", lowBound=0, upBound=1)
            problem += pulp.LpAffineExpression([(y[int(i)], 1.0)] + [(x[c], -1.0) for c in cols]) <= 0
    z = pulp.LpVariable("worst_share", lowBound=0, upBound=1)
    for k in np.flatnonzero(totals > 0):
        terms = [(var, float(sets[k, i] / totals[k])) for i, var in y.items() if sets[k, i] > 0]
        fixed_share = float(sets[k][covered_fixed].sum() / totals[k])
        problem += pulp.LpAffineExpression(terms) + fixed_share - z >= 0, f"distribution_{k}"
    model = _Model(problem, x, {})
    _limits(model, rules, n_homes, budget_cny)
    problem += z
    start = sorted(set(matrix.site_positions(list(start_ids)).tolist()) - set(rules.fixed.tolist()))

    def covered_with(chosen: list[int]) -> np.ndarray:
        return covered_by(cover, np.union1d(rules.fixed, np.asarray(chosen, dtype=np.int64)).astype(np.int64))

    def worst(covered: np.ndarray) -> float:
        return float(min((sets[k] * covered).sum() / totals[k] for k in np.flatnonzero(totals > 0)))

    start_covered = covered_with(start)
    start_worst = worst(start_covered)
    if start:
        picked = set(start)
        for j, var in x.items():
            var.setInitialValue(1 if j in picked else 0)
        for row, var in y.items():
            var.setInitialValue(1 if start_covered[row] else 0)
        z.setInitialValue(start_worst)
    try:
        result = solve_problem(problem, **solver.solve_kwargs(solver.deadline(started)), warm_start=bool(start))
        chosen, status, solver_name = (
            sorted(j for j, v in x.items() if (v.value() or 0) > 0.5),
            result.status,
            result.solver,
        )
        if start and start_worst > worst(covered_with(chosen)):
            chosen, status = start, "feasible"
    except SolverError:
        if not start:
            raise
        chosen, status, solver_name = start, "feasible", f"{solver.name} (start kept)"
    w = sets[0]
    covered = covered_with(chosen)
    worst_share = worst(covered)
    objective = float(w[covered].sum())
    fields = {
        "objective": objective,
        "bound": None,
        "status": status,
        "solver": solver_name,
        "stopped_by": None if status == "optimal" else f"time limit {solver.time_limit_s:g} s",
        "timings_s": frozen_mapping({"build": 0.0, "solve": time.perf_counter() - started}),
    }
    parameters = {
        "standard": standard_value,
        "unit": matrix.unit,
        "n_homes": n_homes,
        "budget_cny": budget_cny,
        "distributions": len(sets),
        "worst_share": worst_share,
        "time_limit_s": solver.time_limit_s,
        "gap": solver.gap,
        "seed": solver.seed,
    }
    promise = Promise(
        "covered", maximise=True, weights=w, standard=standard_value, max_new=n_homes, budget_cny=budget_cny
    )
    plan = plan_from_choice("mclp", matrix, rules, chosen, fields, parameters, promise=promise)
    return plan, worst_share
