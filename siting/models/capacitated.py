r"""Capacitated, single-source models: each community is served whole by one home with room for it.

Shared by the capacitated MCLP (here) and the capacitated p-median
(:mod:`siting.models.pmedian`): the pair rows ``z_ij ≤ x_j`` (which tighten the
relaxation far beyond the capacity rows alone) and a greedy start that assigns
demand, largest first, to the cheapest open home with room, so that a solve stopped
by its time limit always has a plan.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from siting.costs import CostMatrix
from siting.errors import SolverError
from siting.models.cap_search import capacitated_search
from siting.models.checks import Promise
from siting.models.options import SolverOptions
from siting.models.plan import Plan, frozen_mapping
from siting.models.pmedian_model import Pairs, pmedian_model
from siting.models.sites import SiteRules, plan_from_choice
from siting.models.solver import MatrixModel, SolveResult, solve_matrix_model

__all__ = ["capacitated_start", "greedy_assignment", "solve_capacitated_mclp", "solve_capacitated_pmedian"]


def greedy_assignment(
    rows: np.ndarray, cols: np.ndarray, cost: np.ndarray, w: np.ndarray, capacity: np.ndarray, open_mask: np.ndarray
) -> np.ndarray:
    """Pairs taken when demand, largest weight first, goes to its cheapest open home with room.

    Returns a boolean mask over the pairs; a demand row that finds no room takes none.
    """
    room = capacity.astype(float).copy()
    taken = np.zeros(len(rows), dtype=bool)
    done = np.zeros(int(rows.max(initial=-1)) + 1, dtype=bool)
    for k in np.lexsort((cost, -w[rows])):  # heaviest demand first, each to its cheapest home
        i, j = rows[k], cols[k]
        if done[i] or not open_mask[j] or room[j] < w[i] - 1e-9:
            continue
        taken[k], done[i] = True, True
        room[j] -= w[i]
    return taken


def _capacitated_mclp_model(
    costs: CostMatrix,
    w: np.ndarray,
    rules: SiteRules,
    *,
    standard: float,
    capacity: np.ndarray,
    n_homes: int | None,
    budget_cny: float | None,
) -> tuple[MatrixModel, np.ndarray, np.ndarray, np.ndarray, float]:
    """The capacitated MCLP as arrays (x sites, then z pairs), with the pairs' rows, sites and costs and the scale."""
    n_sites = len(costs.site_ids)
    allowed = rules.allowed(n_sites)
    pairs = costs.matrix.tocoo()
    keep = (pairs.data <= standard) & allowed[pairs.col] & (w[pairs.row] > 0)
    rows, cols = pairs.row[keep].astype(np.int64), pairs.col[keep].astype(np.int64)
    pair_cost = pairs.data[keep]
    n_pairs = len(rows)
    n_vars = n_sites + n_pairs
    is_existing = np.zeros(n_sites, dtype=bool)
    is_existing[rules.existing] = True
    scale = max(float(w.max(initial=0.0)), 1.0)
    blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    row_upper: list[float] = []
    demand_rows, demand_of_row = np.unique(rows, return_inverse=True)
    blocks.append((demand_of_row, n_sites + np.arange(n_pairs), np.ones(n_pairs)))  # Σ_j z_ij ≤ 1
    row_upper += [1.0] * len(demand_rows)
    first = len(demand_rows)
    blocks.append((first + np.arange(n_pairs), n_sites + np.arange(n_pairs), np.ones(n_pairs)))  # z_ij - x_j ≤ 0
    blocks.append((first + np.arange(n_pairs), cols, -np.ones(n_pairs)))
    row_upper += [0.0] * n_pairs
    first += n_pairs
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
    return model, rows, cols, pair_cost, scale


def solve_capacitated_mclp(
    costs: CostMatrix,
    w: np.ndarray,
    rules: SiteRules,
    *,
    standard: float,
    capacity: np.ndarray,
    n_homes: int | None,
    budget_cny: float | None,
    solver: SolverOptions,
    started: float,
    parameters: dict[str, object],
) -> Plan:
    r"""Single-source capacitated MCLP.

    .. math::

        \max \; & \sum_{(i,j) \in P} w_i z_{ij} \\
        \text{s.t.}\; & \sum_j z_{ij} \le 1 && \forall i \\
        & z_{ij} \le x_j && \forall (i,j) \in P \\
        & \sum_i w_i z_{ij} \le Q_j x_j && \forall j \\
        & \sum_{j \notin E} k_j x_j \le B, \quad \sum_{j \notin E} x_j \le p \\
        & \sum_{j \in T} x_j \ge m && \forall \text{ townships } T \\
        & x_j = 1 \; (j \in E \cup F), \quad x_j = 0 \; (j \in X), \quad x_j, z_{ij} \in \{0, 1\}

    over the pairs :math:`P` within the standard. The start plan opens, one at a time,
    the site that could take the most demand not yet served (up to its capacity; per yuan
    under a budget) and fills the homes greedily; a stop without a better plan returns it.
    """
    n_sites = len(costs.site_ids)
    model, rows, cols, pair_cost, scale = _capacitated_mclp_model(
        costs, w, rules, standard=standard, capacity=capacity, n_homes=n_homes, budget_cny=budget_cny
    )
    is_existing = np.zeros(n_sites, dtype=bool)
    is_existing[rules.existing] = True
    open_start = _greedy_open(rows, cols, w, capacity, rules, n_homes=n_homes, budget_cny=budget_cny)
    start_pairs = greedy_assignment(rows, cols, pair_cost, w, capacity, open_start)
    start = np.concatenate([open_start.astype(float), start_pairs.astype(float)])
    start_ok = rules.min_per_township == 0  # fixed homes alone may not meet a township minimum
    built = time.perf_counter()
    try:
        solved, values = solve_matrix_model(
            model, **solver.solve_kwargs(solver.deadline(started)), start=start if start_ok else None
        )
    except SolverError:
        if not start_ok:
            raise
        solved, values = None, start
    chosen = np.flatnonzero((values[:n_sites] > 0.5) & ~is_existing)
    taken = np.flatnonzero(values[n_sites:] > 0.5)
    assignment = dict(zip(costs.demand_ids[rows[taken]].tolist(), costs.site_ids[cols[taken]].tolist(), strict=True))
    objective = float(w[rows[taken]].sum())
    # Every stop has a bound: at most every point some allowed site reaches within the standard.
    reachable = float(w[np.unique(rows)].sum())
    bound = (
        reachable if solved is None or solved.bound is None else max(objective, min(solved.bound * scale, reachable))
    )
    status = "feasible" if solved is None else solved.status
    fields = {
        "objective": objective,
        "bound": bound,
        "status": status,
        "solver": f"{solver.name} (start plan kept)" if solved is None else solved.solver,
        "stopped_by": None if status == "optimal" else f"time limit {solver.time_limit_s:g} s",
        "timings_s": frozen_mapping(
            {"build": built - started, "solve": time.perf_counter() - built if solved is None else solved.seconds}
        ),
        "assignment": frozen_mapping(assignment),
    }
    promise = Promise("own", maximise=True, weights=w, max_new=n_homes, budget_cny=budget_cny, capacity=capacity)
    return plan_from_choice("capacitated_mclp", costs, rules, chosen.tolist(), fields, parameters, promise=promise)


def _greedy_open(
    rows: np.ndarray,
    cols: np.ndarray,
    w: np.ndarray,
    capacity: np.ndarray,
    rules: SiteRules,
    *,
    n_homes: int | None,
    budget_cny: float | None,
) -> np.ndarray:
    """Open sites one at a time: the one that could take the most unserved demand (capped by its capacity).

    The fixed homes are open first and take their demand; each new home then takes, in pair
    order, the unserved demand that fits (the start's own assignment is made afterwards,
    heaviest demand first to its cheapest home). Stops at ``n_homes`` new homes, at
    the budget, or when no site adds anything.
    """
    n_sites = len(capacity)
    is_open = np.zeros(n_sites, dtype=bool)
    is_open[rules.fixed] = True
    served = np.zeros(int(rows.max(initial=-1)) + 1, dtype=bool)
    free = rules.allowed(n_sites) & ~is_open
    money = np.inf if budget_cny is None else budget_cny - float(rules.cost_cny[rules.forced].sum())
    homes = np.inf if n_homes is None else n_homes - len(rules.forced)

    def fill(site: int) -> None:
        room = float(capacity[site])
        for k in np.flatnonzero(cols == site):
            i = rows[k]
            if not served[i] and w[i] <= room + 1e-9:
                served[i] = True
                room -= float(w[i])

    for fixed_site in np.flatnonzero(is_open).tolist():
        fill(fixed_site)
    while homes >= 1:
        waiting = np.where(served[rows], 0.0, w[rows])
        could = np.minimum(np.bincount(cols, weights=waiting, minlength=n_sites), capacity)
        could[~free | (rules.cost_cny > money + 1e-9)] = 0.0
        if could.max(initial=0.0) <= 0:
            break
        value = could / np.maximum(rules.cost_cny, 1e-9) if budget_cny is not None else could
        site = int(np.argmax(np.where(could > 0, value, -1.0)))
        is_open[site], free[site] = True, False
        money -= float(rules.cost_cny[site])
        homes -= 1
        fill(site)
    return is_open


def capacitated_start(pairs: Pairs, w: np.ndarray, p: int, rules: SiteRules, cap: np.ndarray) -> np.ndarray | None:
    """A feasible single-source plan to start from (x then z values), or None when the greedy finds none.

    First: open the free sites that could take the most demand and fill them, heaviest
    demand first, each to its cheapest home with room. If that leaves demand unserved:
    build the plan while assigning, heaviest demand first, opening the cheapest site in
    reach with room for it when no open home has any.
    """
    n_sites = len(cap)
    wr = w[pairs.demand]
    fixed = np.zeros(n_sites, dtype=bool)
    fixed[rules.fixed] = True
    free = rules.allowed(n_sites) & ~fixed
    reach = np.minimum(np.bincount(pairs.cols, weights=wr[pairs.rows], minlength=n_sites), cap)
    open_mask = fixed.copy()
    need = p - int(open_mask.sum())
    candidates = np.flatnonzero(free)
    if need > 0:
        open_mask[candidates[np.argsort(-reach[candidates], kind="stable")[:need]]] = True
    taken = greedy_assignment(pairs.rows, pairs.cols, pairs.cost, wr, cap, open_mask)
    if np.bincount(pairs.rows[taken], minlength=len(pairs.demand)).min(initial=1) >= 1 and open_mask.sum() == p:
        return np.concatenate([open_mask.astype(float), taken.astype(float)])
    for widest in (False, True):
        start = _build_while_assigning(pairs, wr, p, cap, fixed, free, reach, widest=widest)
        if start is not None:
            return start
    return None


def _build_while_assigning(
    pairs: Pairs,
    wr: np.ndarray,
    p: int,
    cap: np.ndarray,
    fixed: np.ndarray,
    free: np.ndarray,
    reach: np.ndarray,
    *,
    widest: bool,
) -> np.ndarray | None:
    """Heaviest demand first; when no open home in reach has room, open the cheapest (or widest-reaching) site."""
    open_mask, room = fixed.copy(), np.where(fixed, cap, 0.0).astype(float)
    taken = np.zeros(len(pairs.rows), dtype=bool)
    for row in np.argsort(-wr, kind="stable"):
        span = np.arange(pairs.starts[row], pairs.starts[row + 1])  # this row's pairs, cheapest first
        sites = pairs.cols[span]
        fits = open_mask[sites] & (room[sites] >= wr[row] - 1e-9)
        if not fits.any() and open_mask.sum() < p:
            can_open = np.flatnonzero(free[sites] & ~open_mask[sites] & (cap[sites] >= wr[row] - 1e-9))
            if len(can_open):
                pick = can_open[int(np.argmax(reach[sites[can_open]]))] if widest else can_open[0]
                opened = sites[pick]
                open_mask[opened], room[opened] = True, cap[opened]
                fits = open_mask[sites] & (room[sites] >= wr[row] - 1e-9)
        if not fits.any():
            return None
        k = span[np.flatnonzero(fits)[0]]
        taken[k] = True
        room[pairs.cols[k]] -= wr[row]
    spare = p - int(open_mask.sum())
    if spare < 0:
        return None
    others = np.flatnonzero(free & ~open_mask)
    open_mask[others[np.argsort(-reach[others], kind="stable")[:spare]]] = True
    return np.concatenate([open_mask.astype(float), taken.astype(float)]) if open_mask.sum() == p else None


#: Above this many pairs the swap search gets most of a time limit (the MIP gets far in it only below).
SEARCH_FIRST_PAIRS = 200_000
#: CBC is handed the start only on models with more pairs than this (on small ones it slows CBC's proof).
CBC_START_ABOVE_PAIRS = 20_000


def _start_cost(values: np.ndarray, pairs: Pairs, wr: np.ndarray, n_sites: int) -> float:
    """The weighted cost of a plan given as model values (x, then z per pair); inf when a row is not served."""
    z = values[n_sites : n_sites + len(pairs.rows)] > 0.5
    if np.bincount(pairs.rows[z], minlength=len(wr)).min(initial=1) < 1:
        return np.inf
    return float((wr[pairs.rows[z]] * pairs.cost[z]).sum())


def solve_capacitated_pmedian(
    pairs: Pairs,
    w: np.ndarray,
    *,
    p: int,
    rules: SiteRules,
    cap: np.ndarray,
    n_sites: int,
    solver: SolverOptions,
    deadline: float | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, SolveResult, dict[str, Any]]:
    """The single-source capacitated p-median over every stored pair, warm-started from a greedy plan."""
    model, scale = pmedian_model(
        pairs,
        np.ones(len(pairs.rows), dtype=bool),
        w=w[pairs.demand],
        beyond_w=np.full(len(pairs.demand), np.inf),
        n_sites=n_sites,
        p=p,
        rules=rules,
        shut=np.zeros(n_sites, dtype=bool),
        opened=np.zeros(n_sites, dtype=bool),
        capacity=cap,
    )
    start = capacitated_start(pairs, w, p, rules, cap) if rules.min_per_township == 0 else None
    wr = w[pairs.demand]
    lagrangian = -np.inf
    if rules.min_per_township == 0:
        # Part of the time (5 s without a limit) for the Lagrangian bound and a swap search from its open
        # set: a plan worth having, and a bound, whatever the MIP then proves in the rest. A quarter on
        # small models; more where the MIP cannot get far (measured on 800 points, 80 medians, 20 s: the
        # MIP improved nothing in 15 s); nearly all of a limit of a few seconds.
        left = 5.0 if deadline is None else max(deadline - time.perf_counter(), 0.0)
        share = 0.9 if left < 3.0 else 0.25 if len(pairs.rows) <= SEARCH_FIRST_PAIRS else 0.6
        found = capacitated_search(
            pairs, wr, p=p, rules=rules, capacity=cap, deadline=time.perf_counter() + share * left
        )
        lagrangian = found.bound
        better = start is None or found.cost < _start_cost(start, pairs, wr, n_sites)
        if found.open_mask is not None and found.taken is not None and better:
            start = np.concatenate([found.open_mask.astype(float), found.taken.astype(float)])
    try:
        # HiGHS' presolve ignores the time limit on large models (measured, 800 points: 52 s of presolve at a
        # 12 s limit, interrupts and cancel unheard); without it the limit holds (13.1 s).
        big = len(pairs.rows) > SEARCH_FIRST_PAIRS
        # CBC proves small models 2-2.4x faster without the start (OR-Library pmedcap1 #15: 117.6 -> 49.4 CPU s,
        # #8: 29.6 -> 13.7); the start stays the plan kept if CBC's is not better.
        handed = None if solver.name == "cbc" and len(pairs.rows) <= CBC_START_ABOVE_PAIRS else start
        solved, values = solve_matrix_model(
            model, **solver.solve_kwargs(deadline), start=handed, highs_options={"presolve": "off"} if big else None
        )
        bound = None if solved.bound is None else solved.bound * scale
    except SolverError:
        if start is None:
            raise
        solved, values, bound = None, start, None
    # A stop may leave the solver's plan behind the start it was given: keep the better.
    if start is not None and solved is not None and solved.status != "optimal":
        values = min((values, start), key=lambda v: _start_cost(v, pairs, wr, n_sites))
    open_pos = np.flatnonzero(values[:n_sites] > 0.5)
    z = values[n_sites : n_sites + len(pairs.rows)]
    best = np.maximum.reduceat(z, pairs.starts[:-1])
    pick = np.flatnonzero(z >= best[pairs.rows] - 1e-9)
    first = np.full(len(pairs.demand), -1, dtype=np.int64)
    first[pairs.rows[pick[::-1]]] = pick[::-1]
    objective = float((w[pairs.demand] * pairs.cost[first]).sum())
    # Every stop has a bound: at least each point's cheapest stored pair, which no capacity or p can undercut.
    floor = float((w[pairs.demand] * np.minimum.reduceat(pairs.cost, pairs.starts[:-1])).sum())
    floor = max(floor, lagrangian)  # the uncapacitated relaxation's bound holds with capacities too
    bound = min(floor if bound is None else max(bound, floor), objective)
    if solved is None:
        result = SolveResult("feasible", objective, bound, None, 0.0, f"{solver.name} (greedy start kept)")
    else:
        result = SolveResult(solved.status, objective, bound, None, solved.seconds, solved.solver)
    return open_pos, np.arange(len(pairs.demand)), pairs.cols[first], result, {}
