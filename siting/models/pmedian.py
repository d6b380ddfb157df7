"""p-median (least child-weighted travel), optionally capacitated with single-source assignment."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pulp
import scipy.sparse as sp

from siting.costs import CostMatrix
from siting.errors import InfeasibleError
from siting.models.common import aligned, checked_weights, prepare_sites
from siting.models.plan import Plan, frozen_mapping
from siting.models.solve import solve_problem

__all__ = ["solve_pmedian", "solve_pmedian_nearest"]


def solve_pmedian(
    costs: CostMatrix,
    weights: pd.Series | np.ndarray,
    *,
    p: int,
    capacity: float | pd.Series | np.ndarray | None = None,
    beyond_cost: np.ndarray | None = None,
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
    r"""Open ``p`` homes in all and assign each demand point to one, minimising weighted travel.

    Only the pairs stored in ``costs`` (within its cutoff, or its k nearest
    sites) are variables, so the model is sparse:

    .. math::

        \min \; & \sum_{(i,j) \in P} w_i c_{ij} z_{ij} \\
        \text{s.t.}\; & \sum_{j : (i,j) \in P} z_{ij} = 1 && \forall i \in R \\
        & z_{ij} \le x_j && \forall (i,j) \in P \\
        & \sum_j x_j = p \\
        & \sum_i w_i z_{ij} \le Q_j x_j && \text{(with a capacity } Q\text{)} \\
        & x_j = 1 \; (j \in E \cup F), \quad x_j = 0 \; (j \in X), \quad x_j \in \{0, 1\}

    :math:`z_{ij} \in [0, 1]` without capacities (an optimal :math:`z` then
    sends each point to its nearest open home) and :math:`z_{ij} \in \{0,1\}`
    with them (single-source: a community is served by one home). Demand with
    no stored pair (:math:`i \notin R`) cannot be assigned; it is returned in
    ``Plan.unreachable_ids``.

    Parameters
    ----------
    costs
        Demand × site costs (distance or time).
    weights
        Weight per demand point (children).
    p
        Number of open homes in all, existing and forced ones included.
    capacity
        Children a home can serve (a director's caseload): scalar, array in
        site order or Series by site id. Existing homes are capacitated too.
    existing, forced, excluded, min_per_township, respect, demand_codes, site_codes
        As in :func:`siting.models.solve_mclp`.
    solver, time_limit_s, gap, seed
        See :func:`siting.models.solve.solve_problem`.

    Returns
    -------
    Plan
        ``objective`` is the weighted travel; ``assignment`` maps demand ids to site ids.
    """
    started = time.perf_counter()
    w = checked_weights(weights, costs.demand_ids)
    costs, rules = prepare_sites(
        costs,
        respect=respect,
        demand_codes=demand_codes,
        site_codes=site_codes,
        existing=existing,
        forced=forced,
        excluded=excluded,
        min_per_township=min_per_township,
    )
    fixed = rules.fixed
    if p < len(fixed):
        raise InfeasibleError(f"p={p} is fewer than the {len(fixed)} existing and forced homes")
    allowed = rules.allowed(len(costs.site_ids))
    if p > int(allowed.sum()):
        raise InfeasibleError(f"p={p} exceeds the {int(allowed.sum())} sites that may be opened")
    cap = None if capacity is None else aligned(capacity, costs.site_ids, what="capacity")

    matrix = costs.matrix.tocoo()
    keep = allowed[matrix.col]
    rows, cols, data = matrix.row[keep], matrix.col[keep], matrix.data[keep]
    reachable = np.zeros(len(costs.demand_ids), dtype=bool)
    reachable[rows] = True

    problem = pulp.LpProblem("pmedian" if cap is None else "capacitated_pmedian", pulp.LpMinimize)
    used_sites = np.unique(np.concatenate([cols, fixed, np.flatnonzero(allowed) if min_per_township else []]))
    x = {int(j): pulp.LpVariable(f"x_{j}", cat=pulp.LpBinary) for j in used_sites.astype(np.int64)}
    for j in fixed:
        x[int(j)].lowBound = 1
    category = pulp.LpContinuous if cap is None else pulp.LpBinary
    z = [pulp.LpVariable(f"z_{k}", lowBound=0, upBound=1, cat=category) for k in range(len(rows))]
    order = np.argsort(rows, kind="stable")
    starts = np.searchsorted(rows[order], np.arange(len(costs.demand_ids) + 1))
    objective = []
    beyond: dict[int, pulp.LpVariable] = {}
    for i in np.flatnonzero(reachable):
        ks = order[starts[i] : starts[i + 1]]
        terms = [z[k] for k in ks]
        if beyond_cost is not None and np.isfinite(beyond_cost[i]):
            # Relaxation: demand may "use" a site beyond its stored pairs at the cost of the nearest
            # such site, without opening anything. If no demand does, nothing was lost by the restriction.
            beyond[int(i)] = pulp.LpVariable(f"beyond_{i}", lowBound=0, upBound=1)
            terms.append(beyond[int(i)])
        problem += pulp.lpSum(terms) == 1, f"assign_{i}"
    for k in range(len(rows)):
        problem += z[k] - x[int(cols[k])] <= 0
        objective.append((z[k], float(w[rows[k]] * data[k])))
    if beyond_cost is not None:
        objective += [(v, float(w[i] * beyond_cost[i])) for i, v in beyond.items()]
    problem += pulp.LpAffineExpression(objective)
    problem += pulp.lpSum(x.values()) == p, "p"
    if cap is not None:
        by_site = pd.Series(np.arange(len(rows))).groupby(cols)
        for j, members in by_site:
            terms = [(z[int(k)], float(w[rows[int(k)]])) for k in members.to_numpy()]
            problem += pulp.LpAffineExpression([*terms, (x[int(j)], -float(cap[int(j)]))]) <= 0, f"cap_{j}"
    rules.add_township_minimums(problem, x)
    built = time.perf_counter()
    try:
        result = solve_problem(problem, solver=solver, time_limit_s=time_limit_s, gap=gap, seed=seed)
    except InfeasibleError:
        limits = [f"p={p}"]
        if cap is not None:
            limits.append("the capacities")
        if respect is not None:
            limits.append(f"respect={respect!r}")
        raise InfeasibleError(
            f"{' and '.join(limits)} cannot serve every demand point through its stored pairs (cutoff "
            f"{costs.cutoff:g} {costs.unit}): some points have no open home within reach. Raise p, raise the "
            "cutoff of the cost matrix, or relax the capacity / boundary rule"
        ) from None
    open_pos = np.array(sorted(j for j, v in x.items() if (v.value() or 0) > 0.5), dtype=np.int64)
    used_beyond = tuple(costs.demand_ids[i] for i, v in beyond.items() if (v.value() or 0) > 1e-6)
    values = np.array([zk.value() or 0.0 for zk in z])
    best = pd.DataFrame({"row": rows, "col": cols, "z": values}).sort_values(["row", "z"], ascending=[True, False])
    best = best.drop_duplicates("row")
    assignment = dict(zip(costs.demand_ids[best["row"]].tolist(), costs.site_ids[best["col"]].tolist(), strict=True))
    new_pos = np.setdiff1d(open_pos, rules.existing)
    return Plan(
        model="pmedian" if cap is None else "capacitated_pmedian",
        parameters=frozen_mapping(
            {
                "p": p,
                "capacity": None if capacity is None else "given",
                "unit": costs.unit,
                "respect": respect,
                "min_per_township": min_per_township,
                "existing": len(rules.existing),
                "forced": len(rules.forced),
                "excluded": len(rules.excluded),
                "time_limit_s": time_limit_s,
                "gap": gap,
                "seed": seed,
            }
        ),
        site_ids=tuple(costs.site_ids[open_pos].tolist()),
        existing_ids=tuple(costs.site_ids[rules.existing].tolist()),
        new_ids=tuple(costs.site_ids[new_pos].tolist()),
        objective=result.objective,
        bound=result.bound,
        gap=result.gap,
        status=result.status,
        solver=result.solver,
        timings_s=frozen_mapping({"build": built - started, "solve": result.seconds}),
        assignment=frozen_mapping(assignment),
        unreachable_ids=tuple(costs.demand_ids[~reachable & (w > 0)].tolist()) + used_beyond,
    )


def solve_pmedian_nearest(
    demand_xy: np.ndarray,
    site_xy: np.ndarray,
    weights: np.ndarray,
    *,
    demand_ids: Sequence[str],
    site_ids: Sequence[str],
    p: int,
    k: int = 8,
    max_rounds: int = 8,
    crs: str | None = None,
    **options: Any,
) -> Plan:
    r"""Exact p-median on the province's scale by restricting each demand to its ``k`` nearest sites.

    Each round solves the sparse p-median on the k-nearest pairs *plus* a relaxation
    option per demand point: "use a site beyond the k nearest" at the distance of the
    (k+1)-th nearest site, without opening anything. That model is a relaxation of the
    full problem (any full plan sends a demand point either to one of its k nearest or
    at least that far), so its optimum is a lower bound. When no demand point takes the
    option, the plan is feasible for the full problem and its cost equals the bound:
    restricting to near sites provably lost nothing. Otherwise ``k`` grows fourfold for the
    demand points that took it and the model is solved again.

    Returns
    -------
    Plan
        ``parameters["k_final"]`` and ``parameters["proof"]`` say how optimality was shown.
    """
    from sklearn.neighbors import KDTree

    demand_xy = np.asarray(demand_xy, dtype=float)
    site_xy = np.asarray(site_xy, dtype=float)
    tree = KDTree(site_xy)
    k_per = np.full(len(demand_xy), min(k, len(site_xy)))
    plan: Plan | None = None
    for round_no in range(max_rounds):
        kmax = int(k_per.max())
        distance, index = tree.query(demand_xy, k=min(kmax + 1, len(site_xy)))
        rows, cols, data = [], [], []
        beyond = np.full(len(demand_xy), np.inf)
        for i, ki in enumerate(k_per):
            rows += [i] * int(ki)
            cols += index[i, : int(ki)].tolist()
            data += distance[i, : int(ki)].tolist()
            if ki < distance.shape[1]:
                beyond[i] = distance[i, int(ki)]
        matrix = sp.csr_array((np.array(data), (np.array(rows), np.array(cols))), shape=(len(demand_xy), len(site_xy)))
        matrix.sort_indices()
        costs = CostMatrix(
            matrix=matrix,
            demand_ids=np.asarray(demand_ids, dtype=object),
            site_ids=np.asarray(site_ids, dtype=object),
            unit="m",
            cutoff=float(matrix.data.max()),
        )
        plan = solve_pmedian(costs, weights, p=p, beyond_cost=beyond if np.isfinite(beyond).any() else None, **options)
        takers = [i for i, d in enumerate(costs.demand_ids) if d in set(plan.unreachable_ids)]
        if not takers:
            proof = (
                f"round {round_no + 1}: no demand point used a site beyond its nearest k "
                f"(k ≤ {kmax}), so the restricted optimum is the optimum of the full problem"
            )
            params = dict(plan.parameters) | {"k_final": kmax, "rounds": round_no + 1, "proof": proof}
            return Plan(**{**plan.__dict__, "parameters": frozen_mapping(params)})
        k_per[takers] = np.minimum(k_per[takers] * 4, len(site_xy))
    assert plan is not None
    params = dict(plan.parameters) | {
        "k_final": int(k_per.max()),
        "rounds": max_rounds,
        "proof": "not proven: raise max_rounds or k",
    }
    return Plan(**{**plan.__dict__, "parameters": frozen_mapping(params), "status": "feasible"})
