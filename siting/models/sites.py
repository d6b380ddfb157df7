"""Sites as the models see them: positions of fixed, forced and excluded sites, costs, weights, plans."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pulp

from siting.costs import CostMatrix
from siting.errors import InfeasibleError, InputError
from siting.models.checks import Promise, checked
from siting.models.options import SiteOptions
from siting.models.plan import Plan, frozen_mapping

__all__ = [
    "SiteRules",
    "aligned",
    "checked_capacity",
    "checked_weights",
    "cost_bound",
    "new_cost",
    "plan_from_choice",
    "resolve_sites",
]


def aligned(values: pd.Series | np.ndarray | float, ids: np.ndarray, *, what: str) -> np.ndarray:
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


@dataclass(frozen=True)
class SiteRules:
    """Site positions fixed open, forced, excluded; per-site cost; township groups."""

    existing: np.ndarray
    forced: np.ndarray
    excluded: np.ndarray
    cost_cny: np.ndarray
    township_of_site: np.ndarray | None
    min_per_township: int

    @property
    def fixed(self) -> np.ndarray:
        """Existing and forced positions."""
        return np.union1d(self.existing, self.forced).astype(np.int64)

    def allowed(self, n_sites: int) -> np.ndarray:
        """Boolean mask of sites the model may open (not excluded)."""
        mask = np.ones(n_sites, dtype=bool)
        mask[self.excluded] = False
        return mask

    def township_minimums(self) -> list[tuple[str, np.ndarray, int]]:
        """``(township, free site positions, homes still needed)`` for each township short of the minimum.

        Raises
        ------
        InfeasibleError
            A township has fewer sites that may be opened than it needs.
        """
        if self.min_per_township <= 0 or self.township_of_site is None:
            return []
        fixed = np.zeros(len(self.township_of_site), dtype=bool)
        fixed[self.fixed] = True
        free = self.allowed(len(self.township_of_site)) & ~fixed
        groups = []
        towns = pd.Series(np.arange(len(self.township_of_site))).groupby(self.township_of_site)
        for town, members in towns:
            positions = members.to_numpy()
            need = self.min_per_township - int(fixed[positions].sum())
            if need <= 0:
                continue
            open_to = positions[free[positions]]
            if len(open_to) < need:
                raise InfeasibleError(
                    f"township {town} needs {self.min_per_township} homes but has only "
                    f"{self.min_per_township - need + len(open_to)} sites that may be opened; add candidate "
                    "sites there or lower min_per_township"
                )
            groups.append((str(town), open_to, need))
        return groups

    def add_township_minimums(self, problem: pulp.LpProblem, x: Mapping[int, pulp.LpVariable]) -> None:
        """Σ x_j over a township's sites ≥ ``min_per_township`` (fixed sites count)."""
        for town, positions, need in self.township_minimums():
            problem += pulp.lpSum(x[int(j)] for j in positions if int(j) in x) >= need, f"township_min_{town}"


def resolve_sites(
    costs: CostMatrix,
    sites: SiteOptions,
    *,
    site_cost_cny: pd.Series | np.ndarray | float = 0.0,
) -> SiteRules:
    """Turn the site options' ids into positions of the cost matrix's columns.

    Parameters
    ----------
    costs
        The cost matrix whose columns the ids refer to.
    sites
        Existing, forced and excluded site ids and the township minimum.
    site_cost_cny
        Build cost per site (scalar, array in site order, or Series by site id); finite and ≥ 0.
    """
    existing_pos = costs.site_positions(list(sites.existing))
    forced_pos = np.setdiff1d(costs.site_positions(list(sites.forced)), existing_pos)
    excluded_pos = costs.site_positions(list(sites.excluded))
    towns = None
    if sites.min_per_township > 0:
        assert sites.township_of_site is not None
        lookup = pd.Series(dict(sites.township_of_site), dtype=object)
        towns = lookup.reindex(costs.site_ids).to_numpy(dtype=object)
        if pd.isna(towns).any():
            missing = costs.site_ids[pd.isna(towns)][:5].tolist()
            raise InputError(f"township_of_site gives no township for sites {missing}; give one for every site")
    cost = aligned(site_cost_cny, costs.site_ids, what="site_cost_cny")
    bad = ~np.isfinite(cost) | (cost < 0)
    if bad.any():
        raise InputError(
            f"build costs must be finite and ≥ 0 CNY; sites {costs.site_ids[bad][:5].tolist()} have "
            f"{cost[bad][:5].tolist()}: a negative cost would build homes that earn money"
        )
    return SiteRules(
        existing=existing_pos,
        forced=forced_pos,
        excluded=excluded_pos,
        cost_cny=cost,
        township_of_site=towns,
        min_per_township=int(sites.min_per_township),
    )


def new_cost(rules: SiteRules, chosen: Iterable[int]) -> float:
    """Build cost of the new homes: the forced sites and the chosen ones (a count of homes when each costs 1)."""
    new_pos = np.union1d(rules.forced, np.asarray(list(chosen), dtype=np.int64)).astype(np.int64)
    return float(rules.cost_cny[new_pos].sum())


def cost_bound(bound: float | None, rules: SiteRules) -> float | None:
    """A solver's lower bound on a build cost, rounded up to a whole number when every cost is whole (homes)."""
    if bound is None or not np.isfinite(bound):
        return bound
    if np.all(rules.cost_cny == np.round(rules.cost_cny)):
        return float(np.ceil(bound - 1e-6))
    return float(bound)


def checked_capacity(capacity: pd.Series | np.ndarray | float, ids: np.ndarray) -> np.ndarray:
    """Capacity per site (children a home can serve), aligned to ``ids``; finite and not negative."""
    values = aligned(capacity, ids, what="capacity")
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        raise InputError(
            f"capacity must be a finite number of children ≥ 0; sites {list(ids[bad][:5])} have "
            f"{values[bad][:5].tolist()}. Give every home its caseload (e.g. 60)"
        )
    return values


def checked_weights(weights: pd.Series | np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Demand weights in id order, refused unless finite and ≥ 0."""
    w = aligned(weights, ids, what="weights")
    if (w < 0).any() or not np.isfinite(w).all():
        raise InputError("weights must be finite and ≥ 0")
    return w


def plan_from_choice(
    model: str,
    costs: CostMatrix,
    rules: SiteRules,
    chosen: Iterable[int],
    result_fields: Mapping[str, object],
    parameters: Mapping[str, object],
    unreachable: np.ndarray | None = None,
    *,
    promise: Promise,
) -> Plan:
    """The frozen plan of chosen new site positions, with the existing and forced homes added, checked.

    ``result_fields`` holds the remaining :class:`Plan` fields (objective, bound, gap, status,
    solver, timings_s and, where the model makes one, assignment). The plan is checked
    against ``promise`` and the site rules (:func:`siting.models.checks.checked`) before it
    is returned, whatever path made it.
    """
    new_pos = np.union1d(rules.forced, np.asarray(list(chosen), dtype=np.int64)).astype(np.int64)
    all_pos = np.union1d(rules.existing, new_pos).astype(np.int64)
    plan = Plan(
        model=model,
        parameters=frozen_mapping(dict(parameters)),
        site_ids=tuple(costs.site_ids[all_pos].tolist()),
        existing_ids=tuple(costs.site_ids[rules.existing].tolist()),
        new_ids=tuple(costs.site_ids[new_pos].tolist()),
        unreachable_ids=() if unreachable is None else tuple(costs.demand_ids[unreachable].tolist()),
        **result_fields,  # type: ignore[arg-type]
    )
    return checked(
        plan,
        costs,
        promise,
        site_cost_cny=rules.cost_cny,
        excluded=rules.excluded,
        township_of_site=rules.township_of_site,
        min_per_township=rules.min_per_township,
    )
