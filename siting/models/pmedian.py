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

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from siting.costs import CostMatrix, matrix_and_standard
from siting.errors import InfeasibleError, InputError
from siting.models.capacitated import solve_capacitated_pmedian
from siting.models.checks import Promise
from siting.models.decompose import coverage_components
from siting.models.options import SiteOptions, SolverOptions
from siting.models.plan import Plan, frozen_mapping
from siting.models.pmedian_model import Pairs, nearest_open, sorted_pairs
from siting.models.pmedian_parts import solve_pmedian_by_parts
from siting.models.pmedian_rounds import Outcome, solve_in_rounds
from siting.models.sites import SiteRules, checked_capacity, checked_weights, plan_from_choice, resolve_sites
from siting.models.solver import SolveResult
from siting.parallel import Workers

__all__ = ["solve_pmedian", "solve_pmedian_nearest"]


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
    workers: Workers = None,
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
    _check_options(p, k_nearest, max_rounds)
    respect = getattr(costs, "respect", None)
    costs, _ = matrix_and_standard(costs)
    w = checked_weights(weights, costs.demand_ids)
    rules = resolve_sites(costs, sites)
    allowed = _checked_p(p, rules, len(costs.site_ids))
    cap = None if capacity is None else checked_capacity(capacity, costs.site_ids)
    floor = _checked_floor(beyond_cost, len(costs.demand_ids))
    pairs = sorted_pairs(costs, allowed)
    if decompose is None:
        decompose = respect is not None and cap is None and sites.min_per_township == 0
    if decompose and (cap is not None or sites.min_per_township > 0):
        raise InputError(
            "decompose=True needs an uncapacitated model without a township minimum (both couple the parts)"
        )
    try:
        if cap is not None:
            solved = _capacitated(pairs, w, p=p, rules=rules, cap=cap, solver=solver, started=started)
        else:
            solved = _uncapacitated(
                pairs,
                w,
                p=p,
                rules=rules,
                floor=floor,
                k_nearest=k_nearest,
                max_rounds=max_rounds,
                solver=solver,
                started=started,
                decompose=bool(decompose),
                workers=workers,
            )
    except InfeasibleError:
        raise InfeasibleError(_infeasible_message(p, capacity, respect, costs)) from None
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
    } | solved.extra
    return _plan(costs, w, pairs, rules, solved, parameters, capacity=cap, started=started)


@dataclass(frozen=True)
class _Solved:
    """A p-median solved: open sites, each served row's site, the result, what stopped it, and notes."""

    open_pos: np.ndarray
    rows: np.ndarray
    sites: np.ndarray
    served: np.ndarray
    result: SolveResult
    stopped: str | None
    extra: dict[str, Any]


def _check_options(p: int, k_nearest: int | None, max_rounds: int) -> None:
    if isinstance(p, bool) or int(p) != p or p < 0:
        raise InputError(f"p must be a whole number of homes ≥ 0, got {p!r}")
    if k_nearest is not None and k_nearest < 1:
        raise InputError(f"k_nearest must be ≥ 1 or None, got {k_nearest}")
    if max_rounds < 1:
        raise InputError(f"max_rounds must be ≥ 1, got {max_rounds}")


def _checked_p(p: int, rules: SiteRules, n_sites: int) -> np.ndarray:
    """The sites that may open; ``p`` must fit between the fixed homes and them."""
    if p < len(rules.fixed):
        raise InfeasibleError(
            f"p={p} is fewer than the {len(rules.fixed)} existing and locked-in homes: p counts every home in the "
            f"plan, existing ones included; give p ≥ {len(rules.fixed)}"
        )
    allowed = rules.allowed(n_sites)
    if p > int(allowed.sum()):
        raise InfeasibleError(f"p={p} exceeds the {int(allowed.sum())} sites that may be opened; lower p or add sites")
    return allowed


def _checked_floor(beyond_cost: np.ndarray | None, n_demand: int) -> np.ndarray | None:
    if beyond_cost is None:
        return None
    floor = np.asarray(beyond_cost, dtype=float)
    if floor.shape != (n_demand,):
        raise InputError(f"beyond_cost has shape {floor.shape}; expected ({n_demand},) in demand order")
    return floor


def _capacitated(
    pairs: Pairs, w: np.ndarray, *, p: int, rules: SiteRules, cap: np.ndarray, solver: SolverOptions, started: float
) -> _Solved:
    open_pos, rows, sites, result, extra = solve_capacitated_pmedian(
        pairs, w, p=p, rules=rules, cap=cap, n_sites=len(cap), solver=solver, deadline=solver.deadline(started)
    )
    stopped = None if result.status == "optimal" else f"time limit {solver.time_limit_s:g} s"
    return _Solved(open_pos, rows, sites, np.ones(len(pairs.demand), dtype=bool), result, stopped, extra)


def _uncapacitated(
    pairs: Pairs,
    w: np.ndarray,
    *,
    p: int,
    rules: SiteRules,
    floor: np.ndarray | None,
    k_nearest: int | None,
    max_rounds: int,
    solver: SolverOptions,
    started: float,
    decompose: bool,
    workers: Workers,
) -> _Solved:
    """Rounds (or township parts), then every point to its nearest open home."""
    n_sites = len(rules.cost_cny)
    if decompose:
        outcome = _solve_by_parts(
            pairs, w, p=p, rules=rules, n_sites=n_sites, solver=solver, started=started, workers=workers
        )
    else:
        outcome = solve_in_rounds(
            pairs,
            w=w,
            floor=floor,
            n_sites=n_sites,
            p=p,
            rules=rules,
            k_nearest=k_nearest,
            max_rounds=max_rounds,
            solver=solver,
            deadline=solver.deadline(started),
        )
    open_mask = np.zeros(n_sites, dtype=bool)
    open_mask[outcome.open_sites] = True
    nearest, site_of_row = nearest_open(pairs, open_mask)
    served = site_of_row >= 0
    if floor is not None:
        served &= nearest <= floor[pairs.demand]  # a cheaper unstored pair may exist otherwise
    objective = float((w[pairs.demand] * np.where(np.isfinite(nearest), nearest, 0.0)).sum())
    bound = None if not np.isfinite(outcome.bound) else min(outcome.bound, objective)
    status = "optimal" if outcome.proven else "feasible"
    result = SolveResult(status, objective, bound, None, outcome.solve_s, outcome.solver)
    rows = np.flatnonzero(served)
    extra = {"k_final": outcome.k_final, "rounds": outcome.rounds, "proof": _proof(outcome, decompose)}
    return _Solved(outcome.open_sites, rows, site_of_row[rows], served, result, outcome.stopped_by, extra)


def _plan(
    costs: CostMatrix,
    w: np.ndarray,
    pairs: Pairs,
    rules: SiteRules,
    solved: _Solved,
    parameters: dict[str, Any],
    *,
    capacity: np.ndarray | None,
    started: float,
) -> Plan:
    """The frozen plan: open homes, each demand point's home, unreachable and unserved points."""
    result = solved.result
    assignment = dict(
        zip(costs.demand_ids[pairs.demand[solved.rows]].tolist(), costs.site_ids[solved.sites].tolist(), strict=True)
    )
    reachable = np.zeros(len(costs.demand_ids), dtype=bool)
    reachable[pairs.demand] = True
    not_served = pairs.demand[~solved.served & (w[pairs.demand] > 0)]
    unreachable = np.flatnonzero(~reachable & (w > 0))
    fields = {
        "objective": result.objective,
        "bound": result.bound,
        "status": result.status,
        "solver": result.solver,
        "stopped_by": None if result.status == "optimal" else solved.stopped,
        "timings_s": frozen_mapping({"build": time.perf_counter() - started - result.seconds, "solve": result.seconds}),
        "assignment": frozen_mapping(assignment),
    }
    return plan_from_choice(
        "capacitated_pmedian" if capacity is not None else "pmedian",
        costs,
        rules,
        np.setdiff1d(solved.open_pos, rules.existing).tolist(),
        fields,
        parameters,
        np.union1d(unreachable, not_served).astype(np.int64),
        promise=Promise("travel", maximise=False, weights=w, homes=int(parameters["p"]), capacity=capacity),
    )


def _proof(outcome: Outcome, decomposed: bool) -> str:
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
    pairs: Pairs,
    w: np.ndarray,
    *,
    p: int,
    rules: SiteRules,
    n_sites: int,
    solver: SolverOptions,
    started: float,
    workers: Workers,
) -> Outcome:
    """The p-median over the independent parts of the pair graph, joined by an exact knapsack."""
    graph = sp.csr_array((np.ones(len(pairs.rows)), (pairs.rows, pairs.cols)), shape=(len(pairs.demand), n_sites))
    n_parts, demand_labels, site_labels = coverage_components(graph)
    left = None if solver.time_limit_s is None else solver.time_limit_s - (time.perf_counter() - started)
    by_parts, proven, part_s, bound = solve_pmedian_by_parts(
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
    return Outcome(by_parts, bound, proven, f"{n_parts} parts + exact knapsack", part_s, 1, 0, 0, stopped)


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
