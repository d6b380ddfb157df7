"""What every model shares: site options given as ids, boundary rules, township minimums."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pulp
import scipy.sparse as sp

from siting.costs import CostMatrix
from siting.errors import InfeasibleError, InputError
from siting.models.plan import Plan, frozen_mapping

__all__ = [
    "SiteRules",
    "aligned",
    "apply_respect",
    "checked_capacity",
    "checked_weights",
    "covered_by",
    "dominated_sites",
    "merge_identical_rows",
    "plan_from_choice",
    "prepare_sites",
    "reduce_set_cover",
    "resolve_sites",
    "restrict_to_same_unit",
    "site_townships",
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
    *,
    existing: Iterable[str] = (),
    forced: Iterable[str] = (),
    excluded: Iterable[str] = (),
    site_cost_cny: pd.Series | np.ndarray | float = 0.0,
    site_township: pd.Series | np.ndarray | None = None,
    min_per_township: int = 0,
) -> SiteRules:
    """Turn site ids into positions and check that the options agree.

    Parameters
    ----------
    costs
        The cost matrix whose columns the ids refer to.
    existing, forced, excluded
        Site ids: fixed open and free, forced open (cost counted), never opened.
    site_cost_cny
        Build cost per site (scalar, array in site order, or Series by site id).
    site_township
        Township code per site (array in site order or Series by site id);
        needed for ``min_per_township``.
    min_per_township
        At least this many open homes in every township that has sites.
    """
    existing_pos = costs.site_positions(list(existing))
    forced_pos = np.setdiff1d(costs.site_positions(list(forced)), existing_pos)
    excluded_pos = costs.site_positions(list(excluded))
    clash = set(excluded_pos.tolist()) & (set(existing_pos.tolist()) | set(forced_pos.tolist()))
    if clash:
        raise InputError(
            f"sites both excluded and existing/forced: {sorted(costs.site_ids[sorted(clash)].tolist())}; "
            "a site cannot be locked in and locked out"
        )
    if min_per_township < 0:
        raise InputError(f"min_per_township must be ≥ 0, got {min_per_township}")
    towns = None
    if site_township is not None:
        if isinstance(site_township, pd.Series):
            towns = site_township.reindex(costs.site_ids).to_numpy(dtype=object)
        else:
            towns = np.asarray(site_township, dtype=object)
        if len(towns) != len(costs.site_ids) or pd.isna(towns).any():
            raise InputError("site_township must give a township code for every site")
    elif min_per_township > 0:
        raise InputError("min_per_township needs site_township (the township code of each site)")
    return SiteRules(
        existing=existing_pos,
        forced=forced_pos,
        excluded=excluded_pos,
        cost_cny=aligned(site_cost_cny, costs.site_ids, what="site_cost_cny"),
        township_of_site=towns,
        min_per_township=int(min_per_township),
    )


def restrict_to_same_unit(
    costs: CostMatrix, *, demand_unit: np.ndarray | pd.Series, site_unit: np.ndarray | pd.Series
) -> CostMatrix:
    """Keep only pairs whose demand and site lie in the same administrative unit.

    This is how ``respect="township"`` or ``"county"`` is applied: a home then
    only serves communities of its own unit.
    """
    d_unit = np.asarray(demand_unit, dtype=object)
    s_unit = np.asarray(site_unit, dtype=object)
    if len(d_unit) != len(costs.demand_ids) or len(s_unit) != len(costs.site_ids):
        raise InputError("unit codes must be given for every demand point and every site, in matrix order")
    coo = costs.matrix.tocoo()
    keep = d_unit[coo.row] == s_unit[coo.col]
    matrix = sp.csr_array((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=costs.matrix.shape)
    matrix.sort_indices()
    return CostMatrix(
        matrix=matrix, demand_ids=costs.demand_ids, site_ids=costs.site_ids, unit=costs.unit, cutoff=costs.cutoff
    )


RESPECT_LEVELS = ("township", "county")


def apply_respect(
    costs: CostMatrix,
    respect: str | None,
    *,
    demand_codes: pd.DataFrame | None,
    site_codes: pd.DataFrame | None,
) -> CostMatrix:
    """Drop pairs that cross the boundary of ``respect`` (``"township"``, ``"county"`` or None).

    ``demand_codes`` and ``site_codes`` are indexed by demand / site id and hold
    ``township_code`` and ``county_code``.
    """
    if respect is None:
        return costs
    if respect not in RESPECT_LEVELS:
        raise InputError(f"respect={respect!r}; use 'township', 'county' or None")
    column = f"{respect}_code"
    for name, table in (("demand_codes", demand_codes), ("site_codes", site_codes)):
        if table is None or column not in table.columns:
            raise InputError(f"respect={respect!r} needs {name} with a {column!r} column, indexed by id")
    assert demand_codes is not None and site_codes is not None
    missing_d = pd.Index(costs.demand_ids).difference(demand_codes.index)
    missing_s = pd.Index(costs.site_ids).difference(site_codes.index)
    if len(missing_d) or len(missing_s):
        raise InputError(
            f"codes missing for demand ids {list(missing_d[:5])} / site ids {list(missing_s[:5])}; "
            "index demand_codes by demand_id and site_codes by site_id"
        )
    return restrict_to_same_unit(
        costs,
        demand_unit=demand_codes.loc[costs.demand_ids, column].to_numpy(),
        site_unit=site_codes.loc[costs.site_ids, column].to_numpy(),
    )


def site_townships(site_codes: pd.DataFrame | None, costs: CostMatrix, min_per_township: int) -> np.ndarray | None:
    """Township code per site in matrix order, when a township minimum asks for it."""
    if min_per_township <= 0:
        return None
    if site_codes is None or "township_code" not in site_codes.columns:
        raise InputError("min_per_township needs site_codes with a 'township_code' column, indexed by site_id")
    return site_codes.reindex(costs.site_ids)["township_code"].to_numpy(dtype=object)


def merge_identical_rows(cover: sp.csr_array, weights: np.ndarray) -> tuple[sp.csr_array, np.ndarray]:
    """Merge demand rows that the same set of sites covers, summing their weights.

    Rows with the same column set are interchangeable in covering models, so
    this shrinks the model without changing its optimum.
    """
    cover = cover.tocsr()
    cover.sort_indices()
    keys = [cover.indices[cover.indptr[r] : cover.indptr[r + 1]].tobytes() for r in range(cover.shape[0])]
    _, first, inverse = np.unique(np.array(keys, dtype=object), return_index=True, return_inverse=True)
    merged_w = np.bincount(inverse, weights=weights, minlength=len(first))
    return cover[first].tocsr(), merged_w


def dominated_sites(cover_csc: sp.csc_array, site_cost: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Candidate columns covered by another candidate that covers a superset and costs no more.

    Ties (identical columns and cost) keep the first. Used only when no
    per-township rule could make a dominated site necessary.
    """
    cover_csc = cover_csc.tocsc()
    cols = {int(j): set(cover_csc.indices[cover_csc.indptr[j] : cover_csc.indptr[j + 1]].tolist()) for j in candidates}
    by_row: dict[int, list[int]] = {}
    for j, rows in cols.items():
        for r in rows:
            by_row.setdefault(r, []).append(j)
    dominated: list[int] = []
    for j, rows in cols.items():
        if not rows:
            dominated.append(j)
            continue
        pivot = min(rows, key=lambda r: len(by_row[r]))
        for other in by_row[pivot]:
            if other == j or site_cost[other] > site_cost[j]:
                continue
            other_rows = cols[other]
            if rows <= other_rows and (len(other_rows) > len(rows) or site_cost[other] < site_cost[j] or other < j):
                dominated.append(j)
                break
    return np.array(sorted(dominated), dtype=np.int64)


def reduce_set_cover(
    cover: sp.csr_array, rows: np.ndarray, columns: np.ndarray, cost: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Classic set-covering reductions, repeated until nothing changes.

    1. a row that only one column covers forces that column open;
    2. a row whose column set contains another row's set is implied by it;
    3. a column whose rows are a subset of a no-dearer column's rows is dropped.

    Parameters
    ----------
    cover
        Rows × columns 0/1 matrix (all rows and columns of the problem).
    rows, columns
        Rows that must be covered and columns that may be opened.
    cost
        Cost per column.

    Returns
    -------
    tuple
        ``(forced_columns, remaining_rows, remaining_columns)``: an optimum of the
        reduced problem plus the forced columns is an optimum of the original.
    """
    a = sp.csr_array(cover).astype(np.int32)
    a.data[:] = 1
    row_alive = np.zeros(a.shape[0], dtype=bool)
    row_alive[rows] = True
    col_alive = np.zeros(a.shape[1], dtype=bool)
    col_alive[columns] = True
    forced = np.zeros(a.shape[1], dtype=bool)
    cost = np.asarray(cost, dtype=float)
    # Subset tests by sparse products: |S_r ∩ S_i| = |S_r| means S_r ⊆ S_i.
    while True:
        changed = False
        sub = a[row_alive][:, col_alive].tocsr()
        row_ids, col_ids = np.flatnonzero(row_alive), np.flatnonzero(col_alive)
        row_size = np.diff(sub.indptr)
        # 1. rows with a single column force it; rows it covers are done.
        single = row_size == 1
        if single.any():
            picked = col_ids[np.unique(sub.indices[sub.indptr[:-1][single]])]
            forced[picked] = True
            col_alive[picked] = False
            row_alive[row_ids[covered_by(a[row_ids][:, picked], np.arange(len(picked)))]] = False
            continue
        # 2. a row whose columns include another row's is implied by it (identical rows: keep the first).
        overlap = (sub @ sub.T).tocoo()
        r, i = overlap.row, overlap.col
        implied = (
            (r != i)
            & (overlap.data == row_size[r])
            & ((row_size[i] > row_size[r]) | ((row_size[i] == row_size[r]) & (i > r)))
        )
        if implied.any():
            row_alive[row_ids[np.unique(i[implied])]] = False
            changed = True
        # 3. a column whose rows are a subset of a no-dearer column's is never needed.
        by_col = a[row_alive][:, col_alive].tocsc()
        col_ids = np.flatnonzero(col_alive)
        col_size = np.diff(by_col.indptr)
        empty = col_size == 0
        overlap = (by_col.T @ by_col).tocoo()
        c, o = overlap.row, overlap.col
        cc, co = cost[col_ids[c]], cost[col_ids[o]]
        dominated = (
            (c != o)
            & (overlap.data == col_size[c])
            & (co <= cc)
            & ((col_size[o] > col_size[c]) | (co < cc) | (col_ids[o] < col_ids[c]))
        )
        drop = np.union1d(col_ids[empty], col_ids[np.unique(c[dominated])])
        if len(drop):
            col_alive[drop] = False
            changed = True
        if not changed:
            break
    return (
        np.flatnonzero(forced).astype(np.int64),
        np.flatnonzero(row_alive).astype(np.int64),
        np.flatnonzero(col_alive).astype(np.int64),
    )


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


def prepare_sites(
    costs: CostMatrix,
    *,
    respect: str | None,
    demand_codes: pd.DataFrame | None,
    site_codes: pd.DataFrame | None,
    existing: Iterable[str] = (),
    forced: Iterable[str] = (),
    excluded: Iterable[str] = (),
    site_cost_cny: pd.Series | np.ndarray | float = 0.0,
    min_per_township: int = 0,
) -> tuple[CostMatrix, SiteRules]:
    """The options every model shares: drop pairs that cross ``respect``'s boundary, then resolve the site rules."""
    costs = apply_respect(costs, respect, demand_codes=demand_codes, site_codes=site_codes)
    rules = resolve_sites(
        costs,
        existing=existing,
        forced=forced,
        excluded=excluded,
        site_cost_cny=site_cost_cny,
        site_township=site_townships(site_codes, costs, min_per_township),
        min_per_township=min_per_township,
    )
    return costs, rules


def covered_by(cover: Any, columns: np.ndarray) -> np.ndarray:
    """Boolean per row: covered by at least one of ``columns``."""
    covered = np.zeros(cover.shape[0], dtype=bool)
    if len(columns):
        covered[np.unique(cover[:, columns].tocoo().row)] = True
    return covered


def plan_from_choice(
    model: str,
    costs: CostMatrix,
    rules: SiteRules,
    chosen: Iterable[int],
    result_fields: Mapping[str, object],
    parameters: Mapping[str, object],
    unreachable: np.ndarray | None = None,
) -> Plan:
    """The frozen plan of chosen new site positions, with the existing and forced homes added.

    ``result_fields`` holds the remaining :class:`Plan` fields (objective, bound, gap, status,
    solver, timings_s and, where the model makes one, assignment).
    """
    new_pos = np.union1d(rules.forced, np.asarray(list(chosen), dtype=np.int64)).astype(np.int64)
    all_pos = np.union1d(rules.existing, new_pos).astype(np.int64)
    return Plan(
        model=model,
        parameters=frozen_mapping(dict(parameters)),
        site_ids=tuple(costs.site_ids[all_pos].tolist()),
        existing_ids=tuple(costs.site_ids[rules.existing].tolist()),
        new_ids=tuple(costs.site_ids[new_pos].tolist()),
        unreachable_ids=() if unreachable is None else tuple(costs.demand_ids[unreachable].tolist()),
        **result_fields,  # type: ignore[arg-type]
    )
