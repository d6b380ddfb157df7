"""Every plan checked against its own model before it leaves the solver layer.

A model states what its plan promises (:class:`Promise`: the number of homes, the
budget, full cover, a share, capacities, and how its objective is counted);
:func:`plan_violations` recomputes each from the plan's site ids and the cost matrix,
independently of the path that produced the plan (whole model, parts, rounds, a
time limit, a greedy fallback). :func:`checked` raises when one is broken: a plan
that breaks its constraints is a defect in siting, never an answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from siting.costs import CostMatrix
from siting.errors import SolverError
from siting.models.plan import Plan
from siting.models.reductions import covered_by

__all__ = ["Promise", "checked", "plan_violations", "unit_shares"]

#: Relative tolerance of the recomputed figures (solvers work to about 1e-9 on scaled models).
RELATIVE_TOLERANCE = 1e-6


@dataclass(frozen=True, eq=False)
class Promise:
    """What a plan of a model must keep.

    Attributes
    ----------
    objective
        How the objective is counted: ``"covered"`` (weight within ``standard`` of an open
        home), ``"cost"`` (build cost of the new homes; one per home when costs are 1),
        ``"travel"`` (weighted cost to the nearest open home, or to the assigned one with
        ``capacity``), or ``"own"`` (a model-specific figure, not recomputed).
    maximise
        Whether the objective is maximised (its bound lies above it) or minimised.
    weights
        Demand weights in matrix order (needed by ``covered``, ``travel``, ``min_share``, ``cover_all``).
    standard
        The service standard in the matrix's unit (``covered``, ``cover_all``, ``min_share``).
    homes
        Exactly this many open homes, existing ones included (p-median).
    max_new
        At most this many new homes.
    budget_cny
        At most this much build cost for the new homes.
    cover_all
        Every weighted demand point not listed unreachable is within ``standard`` of an open home.
    min_share
        At least this share of all weight within ``standard`` of an open home.
    capacity
        Per site: the assigned weight may not exceed it.
    unit_of_demand, unit_min_share
        Per demand point, the index of its unit (county or township; -1: none), and the
        share of each unit's weight that must be within ``standard`` of an open home.
    """

    objective: str
    maximise: bool
    weights: np.ndarray | None = None
    standard: float | None = None
    homes: int | None = None
    max_new: int | None = None
    budget_cny: float | None = None
    cover_all: bool = False
    min_share: float | None = None
    capacity: np.ndarray | None = None
    unit_of_demand: np.ndarray | None = None
    unit_min_share: float | None = None


def unit_shares(unit_of_demand: np.ndarray, w: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """Share of each unit's weight covered (units numbered from 0; a unit without weight counts as fully covered)."""
    n_units = int(unit_of_demand.max(initial=-1)) + 1
    inside = unit_of_demand >= 0
    total = np.bincount(unit_of_demand[inside], weights=w[inside], minlength=n_units)
    got = np.bincount(unit_of_demand[inside], weights=(w * covered)[inside], minlength=n_units)
    return np.divide(got, total, out=np.ones(n_units), where=total > 0)


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= RELATIVE_TOLERANCE * max(1.0, abs(a), abs(b))


def _covered(costs: CostMatrix, promise: Promise, open_pos: np.ndarray) -> np.ndarray:
    assert promise.standard is not None
    return covered_by(costs.within(promise.standard).tocsr(), open_pos)


def _nearest_travel(costs: CostMatrix, w: np.ndarray, open_pos: np.ndarray) -> float:
    """Σ w_i × the cost to the nearest open site through a stored pair (points without one add nothing)."""
    sub = costs.matrix.tocsc()[:, open_pos].tocsr()
    nearest = np.full(sub.shape[0], np.inf)
    rows = np.repeat(np.arange(sub.shape[0]), np.diff(sub.indptr))
    np.minimum.at(nearest, rows, sub.data)
    return float((w * np.where(np.isfinite(nearest), nearest, 0.0)).sum())


def _assigned_travel(costs: CostMatrix, plan: Plan, w: np.ndarray, problems: list[str]) -> tuple[float, np.ndarray]:
    """Σ w_i c_{i, a(i)} over the assignment, and the load of each site; broken pairs are added to ``problems``."""
    load = np.zeros(len(costs.site_ids))
    if not plan.assignment:
        return 0.0, load
    demand = pd.Index(costs.demand_ids).get_indexer(list(plan.assignment.keys()))
    site = pd.Index(costs.site_ids).get_indexer(list(plan.assignment.values()))
    if (demand < 0).any() or (site < 0).any():
        problems.append("the assignment names demand points or sites that are not in the cost matrix")
        return 0.0, load
    open_mask = np.zeros(len(costs.site_ids), dtype=bool)
    open_mask[costs.site_positions(list(plan.site_ids))] = True
    shut = ~open_mask[site]
    if shut.any():
        problems.append(f"{int(shut.sum())} demand points are assigned to sites that are not open")
    cost = np.asarray(costs.matrix.tocsr()[demand, site]).ravel()
    np.add.at(load, site, w[demand])
    return float((w[demand] * cost).sum()), load


def plan_violations(plan: Plan, costs: CostMatrix, promise: Promise, *, excluded: np.ndarray) -> list[str]:
    """What ``plan`` breaks of ``promise`` over ``costs`` (empty when it keeps everything).

    Parameters
    ----------
    plan
        The plan as it would leave the model.
    costs
        The model's cost matrix (the plan's ids refer to it).
    promise
        What the model promised.
    excluded
        Site positions that must stay shut.
    """
    problems: list[str] = []
    site_ids, new_ids, existing_ids = list(plan.site_ids), list(plan.new_ids), list(plan.existing_ids)
    if len(set(site_ids)) != len(site_ids):
        problems.append("a site is opened twice")
    if set(site_ids) != set(new_ids) | set(existing_ids) or set(new_ids) & set(existing_ids):
        problems.append("the open sites are not the existing plus the new ones")
    open_pos = costs.site_positions(site_ids).astype(np.int64)
    shut = np.intersect1d(open_pos, excluded)
    if len(shut):
        problems.append(f"excluded sites are open: {costs.site_ids[shut][:5].tolist()}")
    if promise.homes is not None and len(site_ids) != promise.homes:
        problems.append(f"{len(site_ids)} homes are open where the model keeps exactly {promise.homes}")
    if promise.max_new is not None and len(new_ids) > promise.max_new:
        problems.append(f"{len(new_ids)} new homes where the model allows at most {promise.max_new}")
    w = promise.weights
    if w is not None and promise.unit_of_demand is not None and promise.unit_min_share is not None:
        shares = unit_shares(promise.unit_of_demand, w, _covered(costs, promise, open_pos))
        short = np.flatnonzero(shares < promise.unit_min_share * (1 - RELATIVE_TOLERANCE) - 1e-12)
        if len(short):
            problems.append(
                f"{len(short)} units are covered below the {promise.unit_min_share:.2%} asked, e.g. unit "
                f"{int(short[0])} at {shares[short[0]]:.4%}"
            )
    if w is not None and (promise.cover_all or promise.min_share is not None or promise.objective == "covered"):
        covered = _covered(costs, promise, open_pos)
        if promise.cover_all:
            unreachable = set(plan.unreachable_ids)
            left = [d for d in costs.demand_ids[~covered & (w > 0)].tolist() if d not in unreachable]
            if left:
                problems.append(f"{len(left)} reachable demand points are not covered, e.g. {left[:3]}")
        if promise.min_share is not None and w[covered].sum() < promise.min_share * w.sum() * (1 - RELATIVE_TOLERANCE):
            problems.append(f"{w[covered].sum() / max(w.sum(), 1e-300):.4%} covered, below the share asked")
        if promise.objective == "covered" and not _close(float(w[covered].sum()), plan.objective):
            problems.append(f"the objective {plan.objective!r} is not the weight covered, {float(w[covered].sum())!r}")
    if w is not None and (promise.objective == "travel" or promise.capacity is not None):
        assigned, load = _assigned_travel(costs, plan, w, problems)
        travel = assigned if promise.capacity is not None else _nearest_travel(costs, w, open_pos)
        if promise.objective == "travel" and not _close(travel, plan.objective):
            problems.append(f"the objective {plan.objective!r} is not the weighted travel, {travel!r}")
        if promise.capacity is not None:
            over = np.flatnonzero(load > promise.capacity * (1 + RELATIVE_TOLERANCE) + 1e-9)
            if len(over):
                problems.append(
                    f"{len(over)} homes serve more than their capacity, e.g. {costs.site_ids[over[:3]].tolist()}"
                )
    if plan.bound is not None and np.isfinite(plan.bound):
        wrong_side = plan.bound < plan.objective if promise.maximise else plan.bound > plan.objective
        if wrong_side and not _close(plan.bound, plan.objective):
            problems.append(f"the bound {plan.bound!r} lies on the wrong side of the objective {plan.objective!r}")
    if (
        plan.status == "optimal"
        and plan.gap is not None
        and plan.gap > max(float(plan.parameters.get("gap", 0.0) or 0.0), 1e-6) + 1e-9
    ):
        problems.append(f"marked optimal with a gap of {plan.gap:.3%}")
    return problems


def checked(
    plan: Plan,
    costs: CostMatrix,
    promise: Promise,
    *,
    site_cost_cny: np.ndarray,
    excluded: np.ndarray,
    township_of_site: np.ndarray | None = None,
    min_per_township: int = 0,
) -> Plan:
    """``plan`` if it keeps ``promise`` (with the budget, cost objective and township minimum), else SolverError."""
    problems = plan_violations(plan, costs, promise, excluded=excluded)
    new_pos = costs.site_positions(list(plan.new_ids)).astype(np.int64)
    spent = float(site_cost_cny[new_pos].sum())
    if promise.budget_cny is not None and spent > promise.budget_cny * (1 + RELATIVE_TOLERANCE) + 1e-6:
        problems.append(f"the new homes cost {spent:,.0f} CNY, over the budget of {promise.budget_cny:,.0f}")
    if promise.objective == "cost" and not _close(spent, plan.objective):
        problems.append(f"the objective {plan.objective!r} is not the new homes' cost, {spent!r}")
    if min_per_township > 0 and township_of_site is not None:
        open_pos = costs.site_positions(list(plan.site_ids))
        counts = pd.Series(township_of_site[open_pos]).value_counts()
        short = [t for t in pd.unique(township_of_site) if counts.get(t, 0) < min_per_township]
        if short:
            problems.append(f"townships with fewer than {min_per_township} homes: {short[:5]}")
    if problems:
        raise SolverError(
            f"the {plan.model} plan ({plan.status_text()}) breaks its own model: " + "; ".join(problems) + ". "
            "This is a defect in siting: please report it with the inputs"
        )
    return plan
