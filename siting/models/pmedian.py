"""p-median (least child-weighted travel), optionally capacitated with single-source assignment.

The uncapacitated model is solved exactly at the province's scale in rounds:

1. each demand point keeps only its ``k`` cheapest stored pairs, plus a relaxation
   option "beyond them" at the cost of its (k+1)-th pair, which opens nothing. That
   model is a relaxation of the full one, so its optimum is a lower bound;
2. a Lagrangian bound (:mod:`siting.models.lagrange`) shuts most sites for good by
   reduced-cost fixing, and HiGHS or CBC solves what is left;
3. when no demand point takes the beyond option, the plan is feasible for the full
   problem at the cost of the bound: restricting to near sites provably lost nothing.
   Otherwise ``k`` grows fourfold for the points that took it, and the round repeats.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from siting.costs import CostMatrix, matrix_and_standard
from siting.errors import InfeasibleError, InputError, SolverError
from siting.models.capacitated import greedy_assignment
from siting.models.decompose import coverage_components
from siting.models.lagrange import cheapest_open, fixed_by_bound, pmedian_lagrangian, relaxed_cost
from siting.models.options import SiteOptions, SolverOptions
from siting.models.plan import Plan, frozen_mapping
from siting.models.pmedian_parts import solve_pmedian_by_parts
from siting.models.sites import SiteRules, checked_capacity, checked_weights, plan_from_choice, resolve_sites
from siting.models.solver import MatrixModel, SolveResult, solve_matrix_model

__all__ = ["solve_pmedian", "solve_pmedian_nearest"]

log = logging.getLogger(__name__)

_FIXING_GUESS = 4e-5  # first guess of the gap used for reduced-cost fixing (checked afterwards)


@dataclass(frozen=True)
class _Pairs:
    """Stored pairs to sites that may open, sorted by demand then cost; demand rows have ≥ 1 pair."""

    demand: np.ndarray  # demand position of each row
    rows: np.ndarray  # row of each pair
    cols: np.ndarray  # site position of each pair
    cost: np.ndarray  # cost of each pair (costs.unit)
    rank: np.ndarray  # 0 for a row's cheapest pair, 1 for the next, ...
    count: np.ndarray  # pairs per row
    starts: np.ndarray  # first pair of each row, and len(pairs) at the end


def _sorted_pairs(costs: CostMatrix, allowed: np.ndarray) -> _Pairs:
    matrix = costs.matrix.tocoo()
    keep = allowed[matrix.col]
    demand, cols, cost = matrix.row[keep].astype(np.int64), matrix.col[keep].astype(np.int64), matrix.data[keep]
    order = np.lexsort((cols, cost, demand))
    demand, cols, cost = demand[order], cols[order], cost[order]
    positions, rows, count = np.unique(demand, return_inverse=True, return_counts=True)
    starts = np.concatenate([[0], np.cumsum(count)])
    rank = np.arange(len(rows)) - starts[rows]
    return _Pairs(positions, rows, cols, cost, rank, count, starts)


def _model(
    pairs: _Pairs,
    keep: np.ndarray,
    *,
    w: np.ndarray,
    beyond_w: np.ndarray,
    n_sites: int,
    p: int,
    rules: SiteRules,
    shut: np.ndarray,
    opened: np.ndarray,
    capacity: np.ndarray | None,
) -> tuple[MatrixModel, float]:
    r"""The (restricted) p-median as arrays: variables x (sites), z (kept pairs), b (beyond options)."""
    rows, cols = pairs.rows[keep], pairs.cols[keep]
    wcost = w[rows] * pairs.cost[keep]
    n_rows, n_pairs = len(pairs.demand), len(rows)
    with_beyond = np.flatnonzero(np.isfinite(beyond_w))
    n_vars = n_sites + n_pairs + len(with_beyond)
    z0, b0 = n_sites, n_sites + n_pairs
    scale = float(max(np.abs(wcost).max(initial=0.0), np.abs(beyond_w[with_beyond]).max(initial=0.0), 1.0)) / 1e4

    cost = np.zeros(n_vars)
    cost[z0:b0] = wcost / scale
    cost[b0:] = beyond_w[with_beyond] / scale
    lower, upper = np.zeros(n_vars), np.ones(n_vars)
    allowed = rules.allowed(n_sites)
    upper[:n_sites] = (allowed & ~shut).astype(float)
    lower[rules.fixed] = 1.0
    lower[:n_sites][opened] = 1.0
    integer = np.zeros(n_vars, dtype=bool)
    integer[:n_sites] = True
    if capacity is not None:
        integer[z0:b0] = True  # single-source assignment

    blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    row_lower: list[np.ndarray] = []
    row_upper: list[np.ndarray] = []
    # Σ_j z_ij + b_i = 1
    blocks.append((rows, z0 + np.arange(n_pairs), np.ones(n_pairs)))
    blocks.append((with_beyond, b0 + np.arange(len(with_beyond)), np.ones(len(with_beyond))))
    row_lower.append(np.ones(n_rows))
    row_upper.append(np.ones(n_rows))
    first = n_rows
    if capacity is None:
        # z_ij - x_j ≤ 0
        link = first + np.arange(n_pairs)
        blocks.append((link, z0 + np.arange(n_pairs), np.ones(n_pairs)))
        blocks.append((link, cols, -np.ones(n_pairs)))
        row_lower.append(np.full(n_pairs, -np.inf))
        row_upper.append(np.zeros(n_pairs))
        first += n_pairs
    else:
        # z_ij - x_j ≤ 0 (tightens the relaxation), then Σ_i w_i z_ij - Q_j x_j ≤ 0
        link = first + np.arange(n_pairs)
        blocks.append((link, z0 + np.arange(n_pairs), np.ones(n_pairs)))
        blocks.append((link, cols, -np.ones(n_pairs)))
        row_lower.append(np.full(n_pairs, -np.inf))
        row_upper.append(np.zeros(n_pairs))
        first += n_pairs
        sites = np.unique(cols)
        site_row = first + np.searchsorted(sites, cols)
        blocks.append((site_row, z0 + np.arange(n_pairs), w[rows]))
        blocks.append((first + np.arange(len(sites)), sites, -capacity[sites]))
        row_lower.append(np.full(len(sites), -np.inf))
        row_upper.append(np.zeros(len(sites)))
        first += len(sites)
    # Σ_j x_j = p
    blocks.append((np.full(n_sites, first), np.arange(n_sites), np.ones(n_sites)))
    row_lower.append(np.array([float(p)]))
    row_upper.append(np.array([float(p)]))
    first += 1
    for _town, positions, need in rules.township_minimums():
        blocks.append((np.full(len(positions), first), positions, np.ones(len(positions))))
        row_lower.append(np.array([float(need)]))
        row_upper.append(np.array([np.inf]))
        first += 1
    r = np.concatenate([b[0] for b in blocks])
    c = np.concatenate([b[1] for b in blocks])
    v = np.concatenate([b[2] for b in blocks])
    model = MatrixModel(
        name="pmedian" if capacity is None else "capacitated_pmedian",
        maximise=False,
        cost=cost,
        lower=lower,
        upper=upper,
        integer=integer,
        matrix=sp.csr_array((v, (r, c)), shape=(first, n_vars)),
        row_lower=np.concatenate(row_lower),
        row_upper=np.concatenate(row_upper),
    )
    return model, scale


def _infeasible_message(p: int, capacity: Any, respect: str | None, costs: CostMatrix) -> str:
    limits = [f"p={p}"]
    if capacity is not None:
        limits.append("the capacities")
    if respect is not None:
        limits.append(f"respect={respect!r}")
    return (
        f"{' and '.join(limits)} cannot serve every demand point through its stored pairs (cutoff "
        f"{costs.cutoff:g} {costs.unit}): some points have no open home within reach. Raise p, raise the "
        "cutoff of the cost matrix, or relax the capacity / boundary rule"
    )


def _nearest_open(pairs: _Pairs, open_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per demand row: cost and site of the cheapest open stored pair (``inf`` / -1 when none)."""
    best = cheapest_open(pairs.starts, pairs.cols, pairs.cost, open_mask)
    # pairs are sorted by cost within a row, so the first open pair is the cheapest
    first_open = np.full(len(pairs.demand), -1, dtype=np.int64)
    hit = np.flatnonzero(open_mask[pairs.cols])[::-1]
    first_open[pairs.rows[hit]] = pairs.cols[hit]
    return best, first_open


@dataclass(frozen=True)
class _Outcome:
    open_sites: np.ndarray
    bound: float
    proven: bool
    solver: str
    solve_s: float
    rounds: int
    k_final: int
    fixed_shut: int
    stopped_by: str | None = None


class _BestPlan:
    """The best p sites seen so far: fewest weighted points left without an open pair, then least travel."""

    def __init__(self, pairs: _Pairs, w: np.ndarray, floor: np.ndarray | None, n_sites: int) -> None:
        self.pairs, self.w, self.floor, self.n_sites = pairs, w, floor, n_sites
        self.sites: np.ndarray | None = None
        self.key = (np.inf, np.inf)

    def consider(self, open_sites: np.ndarray) -> None:
        mask = np.zeros(self.n_sites, dtype=bool)
        mask[open_sites] = True
        nearest, _ = _nearest_open(self.pairs, mask)
        served = np.isfinite(nearest)
        if self.floor is not None:
            served &= nearest <= self.floor
        key = (float(self.w[~served].sum()), float((self.w * np.where(served, nearest, 0.0)).sum()))
        if key < self.key:
            self.sites, self.key = np.asarray(open_sites, dtype=np.int64), key


def _solve_uncapacitated(
    pairs: _Pairs,
    *,
    w: np.ndarray,
    floor: np.ndarray | None,
    n_sites: int,
    p: int,
    rules: SiteRules,
    k_nearest: int | None,
    max_rounds: int,
    solver: SolverOptions,
    deadline: float | None,
) -> _Outcome:
    wr = w[pairs.demand]
    k_per = pairs.count.copy() if k_nearest is None else np.minimum(pairs.count, k_nearest)
    fixed_open = rules.fixed
    free = rules.allowed(n_sites)
    free[fixed_open] = False
    multipliers, solve_s, solver_name = None, 0.0, "Lagrangian bound"
    bound = -np.inf
    best = _BestPlan(pairs, wr, None if floor is None else floor[pairs.demand], n_sites)
    stopped = None
    for round_no in range(1, max_rounds + 1):
        keep = pairs.rank < k_per[pairs.rows]
        at_end = k_per >= pairs.count
        beyond = np.where(at_end, np.inf, pairs.cost[np.minimum(pairs.starts[:-1] + k_per, len(pairs.cost) - 1)])
        if floor is not None:
            beyond = np.where(at_end, floor[pairs.demand], beyond)
        beyond_w = np.where(np.isfinite(beyond), wr * np.where(np.isfinite(beyond), beyond, 0.0), np.inf)
        sub_rows, sub_cols = pairs.rows[keep], pairs.cols[keep]
        sub_cost = wr[sub_rows] * pairs.cost[keep]
        sub_starts = np.concatenate([[0], np.cumsum(k_per)])
        lag = pmedian_lagrangian(
            sub_rows,
            sub_cols,
            sub_cost,
            beyond_w,
            n_sites=n_sites,
            p=p,
            fixed_open=fixed_open,
            free=free,
            start=multipliers,
            deadline=deadline,
        )
        multipliers = lag.multipliers
        best.consider(lag.open_sites)
        log.debug(
            "round %d: %d pairs kept, Lagrangian bound %.6g, plan %.6g after %d steps",
            round_no,
            int(keep.sum()),
            lag.bound,
            lag.upper,
            lag.iterations,
        )
        round_bound = lag.bound
        proven = lag.proven and rules.min_per_township == 0
        chosen = lag.open_sites
        shut_count = 0
        if not proven:
            # Reduced-cost fixing against a guessed target, checked after the solve: a plan at or
            # under the target proves the fixings were safe; otherwise fix again against that plan.
            target = lag.bound * (1 + _FIXING_GUESS) + 1e-9
            if rules.min_per_township == 0:
                target = min(target, lag.upper)
            for attempt in range(4):
                if deadline is not None and time.perf_counter() > deadline:
                    stopped = f"time limit {solver.time_limit_s:g} s"
                    break
                shut, opened = fixed_by_bound(lag, p=p, fixed_open=fixed_open, free=free, target=target)
                model, scale = _model(
                    pairs,
                    keep & ~shut[pairs.cols],
                    w=wr,
                    beyond_w=beyond_w,
                    n_sites=n_sites,
                    p=p,
                    rules=rules,
                    shut=shut,
                    opened=opened,
                    capacity=None,
                )
                try:
                    result, values = solve_matrix_model(model, **solver.solve_kwargs(deadline))
                except InfeasibleError:
                    if np.isinf(target):
                        raise
                    target = np.inf if attempt >= 2 else target * (1 + 10 * _FIXING_GUESS) + 1.0
                    continue
                except SolverError:  # stopped before it found a plan: keep the best plan held
                    stopped = f"time limit {solver.time_limit_s:g} s"
                    break
                solve_s += result.seconds
                log.debug(
                    "round %d: %s %s in %.1f s with %d sites shut, %d opened, target %.6g",
                    round_no,
                    result.solver,
                    result.status,
                    result.seconds,
                    int(shut.sum()),
                    int(opened.sum()),
                    target,
                )
                solver_name = result.solver
                chosen = np.flatnonzero(values[:n_sites] > 0.5)
                best.consider(chosen)
                open_mask = np.zeros(n_sites, dtype=bool)
                open_mask[chosen] = True
                value = float(relaxed_cost(sub_starts, sub_cols, sub_cost, beyond_w, open_mask).sum())
                shut_count = int(shut.sum())
                core_bound = value if result.bound is None else result.bound * scale
                round_bound = max(lag.bound, min(core_bound, target))
                if result.status != "optimal":
                    stopped = f"time limit {solver.time_limit_s:g} s"
                    break
                if value <= target * (1 + 1e-12) or np.isinf(target):
                    proven = True
                    round_bound = max(round_bound, min(core_bound, value))
                    break
                target = value  # a real plan: fixing against it is safe, and the next solve proves
        bound = max(bound, round_bound)
        held = best.sites if best.sites is not None else chosen
        if not proven:
            return _Outcome(held, bound, False, solver_name, solve_s, round_no, int(k_per.max()), shut_count, stopped)
        open_mask = np.zeros(n_sites, dtype=bool)
        open_mask[chosen] = True
        nearest, _ = _nearest_open(pairs, open_mask)
        # Zero-weight points cost nothing wherever they go; they cannot spoil the proof.
        takers = np.flatnonzero(((nearest > beyond) | ~np.isfinite(nearest)) & (wr > 0))
        if len(takers) == 0:
            return _Outcome(chosen, bound, True, solver_name, solve_s, round_no, int(k_per.max()), shut_count)
        growable = takers[k_per[takers] < pairs.count[takers]]
        if len(growable) == 0:
            break
        k_per[growable] = np.minimum(k_per[growable] * 4, pairs.count[growable])
        if deadline is not None and time.perf_counter() > deadline:
            stopped = f"time limit {solver.time_limit_s:g} s"
            break
    held = best.sites if best.sites is not None else fixed_open
    stopped = stopped or f"{max_rounds} rounds of growing k_nearest"
    return _Outcome(held, bound, False, solver_name, solve_s, max_rounds, int(k_per.max()), 0, stopped)


def _capacitated_start(pairs: _Pairs, w: np.ndarray, p: int, rules: SiteRules, cap: np.ndarray) -> np.ndarray | None:
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
    pairs: _Pairs,
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


def solve_pmedian(
    costs: Any,
    weights: pd.Series | np.ndarray,
    *,
    p: int,
    capacity: float | pd.Series | np.ndarray | None = None,
    k_nearest: int | None = 32,
    max_rounds: int = 6,
    beyond_cost: np.ndarray | None = None,
    sites: SiteOptions | None = None,
    solver: SolverOptions | None = None,
    decompose: bool | None = None,
    workers: int | None = None,
) -> Plan:
    r"""Open ``p`` homes in all and assign each demand point to one, minimising weighted travel.

    Only the pairs stored in ``costs`` (within its cutoff) are variables, so the
    model is sparse:

    .. math::

        \min \; & \sum_{(i,j) \in P} w_i c_{ij} z_{ij} \\
        \text{s.t.}\; & \sum_{j : (i,j) \in P} z_{ij} = 1 && \forall i \in R \\
        & z_{ij} \le x_j && \forall (i,j) \in P \\
        & \sum_j x_j = p \\
        & \sum_i w_i z_{ij} \le Q_j x_j && \text{(with a capacity } Q\text{)} \\
        & \sum_{j \in T} x_j \ge m && \forall \text{ townships } T \\
        & x_j = 1 \; (j \in E \cup F), \quad x_j = 0 \; (j \in X), \quad x_j \in \{0, 1\}

    :math:`z_{ij} \in [0, 1]` without capacities (an optimal :math:`z` then
    sends each point to its nearest open home) and :math:`z_{ij} \in \{0,1\}`
    with them (single-source: a community is served by one home). Demand with
    no stored pair (:math:`i \notin R`) cannot be assigned; it is returned in
    ``Plan.unreachable_ids``.

    Without capacities the model is solved in rounds on each point's ``k_nearest``
    cheapest pairs plus a "beyond" option priced at its next pair (a relaxation),
    with Lagrangian reduced-cost fixing; see the module docstring. The plan says
    in ``parameters["proof"]`` how optimality was shown. A round stopped by the time
    limit returns the best plan held so far (every plan of ``p`` sites is feasible),
    marked ``feasible`` with its bound; a capacitated solve stopped without a plan
    returns its greedy start.

    Parameters
    ----------
    costs
        A :class:`~siting.access.Access` or a :class:`~siting.costs.CostMatrix` (distance or time).
    weights
        Weight per demand point (children).
    p
        Number of open homes in all, existing and forced ones included.
    capacity
        Children a home can serve (a director's caseload): scalar, array in
        site order or Series by site id. Existing homes are capacitated too.
        With a capacity every stored pair is a variable.
    k_nearest
        Pairs per demand point in the first round (None: all stored pairs at once).
    max_rounds
        Rounds of growing ``k`` before giving up the proof.
    beyond_cost
        Optional cost, per demand point, below which no pair outside ``costs`` lies (for
        example the distance to the next-nearest site when ``costs`` holds the k nearest).
        With it, the plan is optimal for all pairs, stored or not; without it, pairs
        outside ``costs`` are not allowed.
    sites, solver
        As in :func:`siting.models.solve_mclp`. The time limit covers all rounds.
    decompose
        Solve the independent parts of the pair graph (townships under a boundary rule)
        one by one and join them with an exact knapsack (:mod:`siting.models.pmedian_parts`).
        Default: on when the access has a boundary rule, there is no capacity and no
        township minimum.
    workers
        Worker processes for the parts (default: the CPUs available).

    Returns
    -------
    Plan
        ``objective`` is the weighted travel; ``assignment`` maps demand ids to site ids.
    """
    started = time.perf_counter()
    sites = sites or SiteOptions()
    solver = solver or SolverOptions()
    deadline = solver.deadline(started)
    if isinstance(p, bool) or int(p) != p or p < 0:
        raise InputError(f"p must be a whole number of homes ≥ 0, got {p!r}")
    if k_nearest is not None and k_nearest < 1:
        raise InputError(f"k_nearest must be ≥ 1 or None, got {k_nearest}")
    if max_rounds < 1:
        raise InputError(f"max_rounds must be ≥ 1, got {max_rounds}")
    respect = getattr(costs, "respect", None)
    costs, _ = matrix_and_standard(costs)
    w = checked_weights(weights, costs.demand_ids)
    rules = resolve_sites(costs, sites)
    fixed = rules.fixed
    n_sites = len(costs.site_ids)
    if p < len(fixed):
        raise InfeasibleError(
            f"p={p} is fewer than the {len(fixed)} existing and locked-in homes: p counts every home in the "
            f"plan, existing ones included; give p ≥ {len(fixed)}"
        )
    allowed = rules.allowed(n_sites)
    if p > int(allowed.sum()):
        raise InfeasibleError(
            f"p={p} exceeds the {int(allowed.sum())} sites that may be opened; lower p or add candidate sites"
        )
    cap = None if capacity is None else checked_capacity(capacity, costs.site_ids)
    floor = None
    if beyond_cost is not None:
        floor = np.asarray(beyond_cost, dtype=float)
        if floor.shape != (len(costs.demand_ids),):
            raise InputError(
                f"beyond_cost has shape {floor.shape}; expected ({len(costs.demand_ids)},) in demand order"
            )
    pairs = _sorted_pairs(costs, allowed)
    reachable = np.zeros(len(costs.demand_ids), dtype=bool)
    reachable[pairs.demand] = True
    if decompose is None:
        decompose = respect is not None and cap is None and sites.min_per_township == 0
    if decompose and (cap is not None or sites.min_per_township > 0):
        raise InputError(
            "decompose=True needs an uncapacitated model without a township minimum (both couple the parts)"
        )
    try:
        if cap is not None:
            open_pos, assignment_rows, assigned_sites, result, extra = _solve_capacitated(
                pairs, w, p=p, rules=rules, cap=cap, n_sites=n_sites, solver=solver, deadline=deadline
            )
            served = np.ones(len(pairs.demand), dtype=bool)
            stopped = None if result.status == "optimal" else f"time limit {solver.time_limit_s:g} s"
        else:
            outcome = (
                _solve_by_parts(
                    pairs, w, p=p, rules=rules, n_sites=n_sites, solver=solver, started=started, workers=workers
                )
                if decompose
                else _solve_uncapacitated(
                    pairs,
                    w=w,
                    floor=floor,
                    n_sites=n_sites,
                    p=p,
                    rules=rules,
                    k_nearest=k_nearest,
                    max_rounds=max_rounds,
                    solver=solver,
                    deadline=deadline,
                )
            )
            open_pos = outcome.open_sites
            open_mask = np.zeros(n_sites, dtype=bool)
            open_mask[open_pos] = True
            nearest, site_of_row = _nearest_open(pairs, open_mask)
            served = site_of_row >= 0
            if floor is not None:
                served &= nearest <= floor[pairs.demand]  # a cheaper unstored pair may exist otherwise
            objective = float((w[pairs.demand] * np.where(np.isfinite(nearest), nearest, 0.0)).sum())
            bound: float | None = None if not np.isfinite(outcome.bound) else min(outcome.bound, objective)
            result = SolveResult(
                "optimal" if outcome.proven else "feasible", objective, bound, None, outcome.solve_s, outcome.solver
            )
            assignment_rows = np.flatnonzero(served)
            assigned_sites = site_of_row[assignment_rows]
            extra = {"k_final": outcome.k_final, "rounds": outcome.rounds, "proof": _proof(outcome, bool(decompose))}
            stopped = outcome.stopped_by
    except InfeasibleError:
        raise InfeasibleError(_infeasible_message(p, capacity, respect, costs)) from None

    assignment = dict(
        zip(
            costs.demand_ids[pairs.demand[assignment_rows]].tolist(),
            costs.site_ids[assigned_sites].tolist(),
            strict=True,
        )
    )
    not_served = pairs.demand[~served & (w[pairs.demand] > 0)]
    unreachable = np.flatnonzero(~reachable & (w > 0))
    fields = {
        "objective": result.objective,
        "bound": result.bound,
        "status": result.status,
        "solver": result.solver,
        "stopped_by": None if result.status == "optimal" else stopped,
        "timings_s": frozen_mapping({"build": time.perf_counter() - started - result.seconds, "solve": result.seconds}),
        "assignment": frozen_mapping(assignment),
    }
    parameters = {
        "p": p,
        "capacity": None if capacity is None else "given",
        "unit": costs.unit,
        "respect": respect,
        "min_per_township": sites.min_per_township,
        "existing": len(rules.existing),
        "forced": len(rules.forced),
        "excluded": len(rules.excluded),
        "k_nearest": k_nearest,
        "time_limit_s": solver.time_limit_s,
        "gap": solver.gap,
        "seed": solver.seed,
    } | extra
    return plan_from_choice(
        "pmedian" if cap is None else "capacitated_pmedian",
        costs,
        rules,
        np.setdiff1d(open_pos, rules.existing).tolist(),
        fields,
        parameters,
        np.union1d(unreachable, not_served).astype(np.int64),
    )


def _proof(outcome: _Outcome, decomposed: bool) -> str:
    """How the plan was shown optimal (or why not), for ``parameters["proof"]``."""
    if outcome.proven and decomposed:
        return f"every part solved for every number of homes ({outcome.solver}); the knapsack over the parts is exact"
    if outcome.proven:
        how = (
            "the Lagrangian relaxation met every assignment row"
            if outcome.solve_s == 0.0
            else f"reduced-cost fixing shut {outcome.fixed_shut} sites against a checked plan"
        )
        return (
            f"round {outcome.rounds}: no demand point used an option beyond its nearest pairs "
            f"(k ≤ {outcome.k_final}) and {how}, so the restricted optimum is the optimum of the full problem"
        )
    return f"not proven ({outcome.stopped_by or 'stopped'}): raise time_limit_s, max_rounds or k_nearest"


def _solve_by_parts(
    pairs: _Pairs,
    w: np.ndarray,
    *,
    p: int,
    rules: SiteRules,
    n_sites: int,
    solver: SolverOptions,
    started: float,
    workers: int | None,
) -> _Outcome:
    """The p-median over the independent parts of the pair graph, joined by an exact knapsack."""
    graph = sp.csr_array((np.ones(len(pairs.rows)), (pairs.rows, pairs.cols)), shape=(len(pairs.demand), n_sites))
    n_parts, demand_labels, site_labels = coverage_components(graph)
    left = None if solver.time_limit_s is None else solver.time_limit_s - (time.perf_counter() - started)
    by_parts, proven, part_s = solve_pmedian_by_parts(
        sp.csr_array((pairs.cost, (pairs.rows, pairs.cols)), shape=(len(pairs.demand), n_sites)),
        w[pairs.demand],
        p=p,
        fixed=rules.fixed,
        allowed=rules.allowed(n_sites),
        demand_labels=demand_labels,
        site_labels=site_labels,
        n_parts=n_parts,
        solver=solver.name,
        deadline=None if left is None else time.time() + left,
        workers=workers,
    )
    stopped = None if proven else f"time limit {solver.time_limit_s:g} s"
    return _Outcome(
        by_parts, np.inf if proven else np.nan, proven, f"{n_parts} parts + exact knapsack", part_s, 1, 0, 0, stopped
    )


def _solve_capacitated(
    pairs: _Pairs,
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
    model, scale = _model(
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
    start = _capacitated_start(pairs, w, p, rules, cap) if rules.min_per_township == 0 else None
    try:
        solved, values = solve_matrix_model(model, **solver.solve_kwargs(deadline), start=start)
        bound = None if solved.bound is None else solved.bound * scale
    except SolverError:
        if start is None:
            raise
        solved, values, bound = None, start, None
    open_pos = np.flatnonzero(values[:n_sites] > 0.5)
    z = values[n_sites : n_sites + len(pairs.rows)]
    best = np.maximum.reduceat(z, pairs.starts[:-1])
    pick = np.flatnonzero(z >= best[pairs.rows] - 1e-9)
    first = np.full(len(pairs.demand), -1, dtype=np.int64)
    first[pairs.rows[pick[::-1]]] = pick[::-1]
    objective = float((w[pairs.demand] * pairs.cost[first]).sum())
    bound = None if bound is None else min(bound, objective)
    if solved is None:
        result = SolveResult("feasible", objective, None, None, 0.0, f"{solver.name} (greedy start kept)")
    else:
        result = SolveResult(solved.status, objective, bound, None, solved.seconds, solved.solver)
    return open_pos, np.arange(len(pairs.demand)), pairs.cols[first], result, {}


def solve_pmedian_nearest(
    demand_xy: np.ndarray,
    site_xy: np.ndarray,
    weights: np.ndarray,
    *,
    demand_ids: Sequence[str] | np.ndarray,
    site_ids: Sequence[str] | np.ndarray,
    p: int,
    k: int = 32,
    k_max: int = 128,
    **options: Any,
) -> Plan:
    r"""Exact p-median over *all* demand × site pairs (straight-line metres), from points.

    Stores each demand point's ``k_max`` nearest sites and passes the distance to the
    next one as ``beyond_cost`` to :func:`solve_pmedian`, whose rounds start at ``k``
    pairs per point. A plan marked optimal is optimal for the dense problem (every
    pair), not only for the stored ones.

    Parameters
    ----------
    demand_xy, site_xy
        Coordinates in a projected CRS (metres).
    weights
        Weight per demand point.
    demand_ids, site_ids
        Ids in point order.
    p
        Homes to open in all.
    k, k_max
        Pairs per point in the first round, and at most.
    **options
        Passed to :func:`solve_pmedian` (existing, solver, time_limit_s, …).
    """
    from sklearn.neighbors import KDTree

    demand_xy = np.asarray(demand_xy, dtype=float)
    site_xy = np.asarray(site_xy, dtype=float)
    n_sites = len(site_xy)
    stored = min(k_max, n_sites)
    distance, index = KDTree(site_xy).query(demand_xy, k=min(stored + 1, n_sites))
    floor = distance[:, stored] if distance.shape[1] > stored else np.full(len(demand_xy), np.inf)
    rows = np.repeat(np.arange(len(demand_xy)), stored)
    matrix = sp.csr_array(
        (distance[:, :stored].ravel(), (rows, index[:, :stored].ravel())), shape=(len(demand_xy), n_sites)
    )
    matrix.sort_indices()
    costs = CostMatrix(
        matrix=matrix,
        demand_ids=np.asarray(demand_ids, dtype=object),
        site_ids=np.asarray(site_ids, dtype=object),
        unit="m",
        cutoff=float(distance[:, :stored].max()),
    )
    return solve_pmedian(costs, weights, p=p, k_nearest=k, beyond_cost=floor, **options)
