"""Maximal covering location problem (MCLP) with existing homes and a budget."""

from __future__ import annotations

import time
from collections.abc import Iterable

import numpy as np
import pandas as pd
import pulp

from siting.costs import CostMatrix
from siting.errors import InfeasibleError, InputError
from siting.models.plan import Plan, frozen_mapping
from siting.models.solve import solve_problem

__all__ = ["solve_mclp"]


def _aligned(values: pd.Series | np.ndarray | float, ids: np.ndarray, *, what: str) -> np.ndarray:
    """Values per id: a scalar, an array in id order, or a Series indexed by id."""
    if np.isscalar(values):
        return np.full(len(ids), float(values))  # type: ignore[arg-type]
    if isinstance(values, pd.Series):
        missing = pd.Index(ids).difference(values.index)
        if len(missing):
            raise InputError(f"{what} missing for ids {list(missing[:10])} ({len(missing)} in all)")
        return values.reindex(ids).to_numpy(dtype=float)
    array = np.asarray(values, dtype=float)
    if array.shape != (len(ids),):
        raise InputError(f"{what} has shape {array.shape}; expected ({len(ids)},) in id order")
    return array


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
    solver: str = "cbc",
    time_limit_s: float | None = 60.0,
    gap: float = 0.0,
    seed: int = 0,
) -> Plan:
    r"""Open new homes that cover the most weighted children.

    Demand point :math:`i` is covered when an open site :math:`j` has
    :math:`c_{ij} \le S` (the service ``standard``).

    .. math::

        \max \; & \sum_i w_i y_i \\
        \text{s.t.}\; & y_i \le \sum_{j : c_{ij} \le S} x_j && \forall i \\
        & \sum_j k_j x_j \le B && \text{(budget, new sites)} \\
        & \sum_j x_j \le |E| + p && \text{(number of new homes)} \\
        & x_j = 1 \; (j \in E \cup F), \quad x_j = 0 \; (j \in X) \\
        & x_j \in \{0, 1\}, \; 0 \le y_i \le 1

    with weights :math:`w`, site costs :math:`k`, budget :math:`B`, new homes
    :math:`p`, existing homes :math:`E`, forced :math:`F` and excluded
    :math:`X` sites. :math:`y_i` may be continuous: for binary :math:`x` an
    optimal :math:`y` is binary. Demand already covered by :math:`E \cup F` and
    sites that cover nothing else are removed before the model is built; they
    do not change the optimum.

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
    solver, time_limit_s, gap, seed
        See :func:`siting.models.solve.solve_problem`.

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
    w = _aligned(weights, costs.demand_ids, what="weights")
    if (w < 0).any() or not np.isfinite(w).all():
        raise InputError("weights must be finite and ≥ 0")
    k = _aligned(site_cost_cny, costs.site_ids, what="site_cost_cny")
    existing_pos = costs.site_positions(list(existing))
    forced_pos = costs.site_positions(list(forced))
    excluded_pos = costs.site_positions(list(excluded))
    clash = set(excluded_pos.tolist()) & (set(existing_pos.tolist()) | set(forced_pos.tolist()))
    if clash:
        raise InputError(f"sites both excluded and existing/forced: {sorted(costs.site_ids[list(clash)])}")
    forced_pos = np.setdiff1d(forced_pos, existing_pos)
    forced_cost = float(k[forced_pos].sum())
    if n_homes is not None and len(forced_pos) > n_homes:
        raise InfeasibleError(f"{len(forced_pos)} forced sites exceed n_homes={n_homes}")
    if budget_cny is not None and forced_cost > budget_cny:
        raise InfeasibleError(f"forced sites cost {forced_cost:,.0f} CNY, more than budget_cny={budget_cny:,.0f}")

    cover = costs.within(standard).tocsc()
    fixed = np.union1d(existing_pos, forced_pos)
    covered_fixed = np.zeros(cover.shape[0], dtype=bool)
    if len(fixed):
        covered_fixed[np.unique(cover[:, fixed].tocoo().row)] = True
    free_sites = np.ones(cover.shape[1], dtype=bool)
    free_sites[fixed] = False
    free_sites[excluded_pos] = False
    if budget_cny is not None:
        free_sites &= k <= budget_cny - forced_cost
    open_demand = ~covered_fixed & (w > 0)
    sub = cover[open_demand][:, free_sites].tocsr() if open_demand.any() else None
    demand_rows = np.flatnonzero(open_demand)
    site_cols = np.flatnonzero(free_sites)

    problem = pulp.LpProblem("mclp", pulp.LpMaximize)
    chosen: list[int] = []
    base = float(w[covered_fixed].sum())
    if sub is not None and sub.nnz:
        useful = np.flatnonzero(np.diff(sub.tocsc().indptr) > 0)
        x = {int(j): pulp.LpVariable(f"x_{j}", cat=pulp.LpBinary) for j in useful}
        y_terms = []
        for r in range(sub.shape[0]):
            cols = sub.indices[sub.indptr[r] : sub.indptr[r + 1]]
            if len(cols) == 0:
                continue
            y = pulp.LpVariable(f"y_{r}", lowBound=0, upBound=1)
            problem += pulp.LpAffineExpression([(y, 1.0)] + [(x[int(c)], -1.0) for c in cols]) <= 0
            y_terms.append((y, float(w[demand_rows[r]])))
        problem += pulp.LpAffineExpression(y_terms)
        if budget_cny is not None:
            problem += (
                pulp.LpAffineExpression([(x[j], float(k[site_cols[j]])) for j in x]) <= budget_cny - forced_cost,
                "budget",
            )
        if n_homes is not None:
            problem += pulp.lpSum(x.values()) <= n_homes - len(forced_pos), "homes"
        built = time.perf_counter()
        result = solve_problem(problem, solver=solver, time_limit_s=time_limit_s, gap=gap, seed=seed)
        chosen = sorted(int(site_cols[j]) for j, var in x.items() if (var.value() or 0) > 0.5)
        objective = base + result.objective
        bound = None if result.bound is None else base + result.bound
        status, solver_name, solve_s = result.status, result.solver, result.seconds
    else:
        built = time.perf_counter()
        objective, bound, status, solver_name, solve_s = base, base, "optimal", "none (trivial)", 0.0

    new_pos = np.union1d(forced_pos, np.asarray(chosen, dtype=np.int64)).astype(np.int64)
    all_pos = np.union1d(existing_pos, new_pos).astype(np.int64)
    return Plan(
        model="mclp",
        parameters=frozen_mapping(
            {
                "standard": standard,
                "unit": costs.unit,
                "n_homes": n_homes,
                "budget_cny": budget_cny,
                "existing": len(existing_pos),
                "forced": len(forced_pos),
                "excluded": len(excluded_pos),
                "time_limit_s": time_limit_s,
                "gap": gap,
                "seed": seed,
            }
        ),
        site_ids=tuple(costs.site_ids[all_pos].tolist()),
        existing_ids=tuple(costs.site_ids[existing_pos].tolist()),
        new_ids=tuple(costs.site_ids[new_pos].tolist()),
        objective=objective,
        bound=bound,
        gap=None if bound is None else abs(bound - objective) / max(abs(objective), 1e-9),
        status=status,
        solver=solver_name,
        timings_s=frozen_mapping({"build": built - started, "solve": solve_s}),
    )
