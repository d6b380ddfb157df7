"""Sparse demand × site cost matrices, labelled by ids, with a unit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import ArrayLike
from pyproj import CRS
from sklearn.neighbors import KDTree

from siting.boundaries import require_projected
from siting.errors import InputError

__all__ = [
    "CostMatrix",
    "cost_matrix_from_array",
    "cost_matrix_from_table",
    "distance_matrix",
    "matrix_and_standard",
    "restrict_to_same_unit",
]

UNITS = ("m", "min")


@dataclass(frozen=True, eq=False)
class CostMatrix:
    """Costs between demand points (rows) and sites (columns) within a cutoff.

    Only pairs within the cutoff are stored; a pair that is absent is out of
    reach. Explicit zeros are kept (a demand point at a site has cost 0).

    Attributes
    ----------
    matrix
        ``scipy.sparse.csr_array`` of shape (demand, sites).
    demand_ids, site_ids
        Labels of the rows and the columns.
    unit
        ``"m"`` (distance) or ``"min"`` (travel time).
    cutoff
        The largest cost stored, in ``unit``.
    """

    matrix: sp.csr_array
    demand_ids: np.ndarray
    site_ids: np.ndarray
    unit: str
    cutoff: float

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise InputError(f"cost unit {self.unit!r} is not one of {UNITS}")
        if self.matrix.shape != (len(self.demand_ids), len(self.site_ids)):
            raise InputError(
                f"cost matrix shape {self.matrix.shape} does not match {len(self.demand_ids)} demand ids "
                f"× {len(self.site_ids)} site ids"
            )
        for name, ids in (("demand", self.demand_ids), ("site", self.site_ids)):
            if len(set(ids.tolist())) != len(ids):
                raise InputError(f"{name} ids of the cost matrix are not unique")

    @property
    def nnz(self) -> int:
        """Number of stored pairs."""
        return int(self.matrix.nnz)

    def within(self, standard: float) -> sp.csr_array:
        """Boolean coverage matrix: pairs with cost ≤ ``standard``."""
        m = self.matrix.tocsr(copy=True)
        m.data = (m.data <= standard).astype(np.int8)
        m.eliminate_zeros()
        return m

    def site_positions(self, site_ids: ArrayLike) -> np.ndarray:
        """Column positions of ``site_ids``; raises :class:`InputError` for unknown ids."""
        lookup = {s: i for i, s in enumerate(self.site_ids.tolist())}
        wanted = np.asarray(site_ids, dtype=object).tolist()
        missing = [s for s in wanted if s not in lookup]
        if missing:
            raise InputError(f"site ids not in the cost matrix: {missing[:10]} ({len(missing)} in all)")
        return np.array([lookup[s] for s in wanted], dtype=np.int64)


def distance_matrix(
    demand_xy: np.ndarray,
    site_xy: np.ndarray,
    *,
    demand_ids: ArrayLike,
    site_ids: ArrayLike,
    cutoff_m: float,
    crs: CRS | str | None,
) -> CostMatrix:
    """Straight-line distances (metres) of all demand–site pairs within ``cutoff_m``.

    Uses a KD-tree radius query on the sites; memory grows with the number of
    pairs within the cutoff, never with demand × sites.

    Parameters
    ----------
    demand_xy, site_xy
        Coordinates (n, 2) in a projected CRS in metres.
    demand_ids, site_ids
        Labels.
    cutoff_m
        Largest distance kept.
    crs
        CRS of the coordinates; geographic CRSs are refused.
    """
    require_projected(None if crs is None else CRS.from_user_input(crs), what="demand and site points")
    if cutoff_m <= 0:
        raise InputError(f"cutoff_m must be positive, got {cutoff_m}")
    demand_xy = np.asarray(demand_xy, dtype=float)
    site_xy = np.asarray(site_xy, dtype=float)
    tree = KDTree(site_xy)
    neighbours, distances = tree.query_radius(demand_xy, r=cutoff_m, return_distance=True, sort_results=True)
    lengths = np.fromiter((len(a) for a in neighbours), dtype=np.int64, count=len(neighbours))
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    indices = np.concatenate(neighbours) if len(neighbours) else np.empty(0, dtype=np.int64)
    data = np.concatenate(distances) if len(distances) else np.empty(0)
    matrix = sp.csr_array((data, indices.astype(np.int64), indptr), shape=(len(demand_xy), len(site_xy)))
    return CostMatrix(
        matrix=matrix,
        demand_ids=np.asarray(demand_ids, dtype=object),
        site_ids=np.asarray(site_ids, dtype=object),
        unit="m",
        cutoff=float(cutoff_m),
    )


def _check_costs(values: np.ndarray, *, what: str) -> None:
    if not np.isfinite(values).all():
        raise InputError(f"{what} holds NaN or infinite costs; leave unreachable pairs out instead")
    if (values < 0).any():
        raise InputError(f"{what} holds negative costs (min {values.min()}); costs must be ≥ 0")


def cost_matrix_from_array(
    costs: np.ndarray | sp.sparray | sp.spmatrix,
    *,
    demand_ids: ArrayLike,
    site_ids: ArrayLike,
    unit: str,
    cutoff: float | None = None,
) -> CostMatrix:
    """A :class:`CostMatrix` from a dense array or a scipy sparse matrix of costs.

    Parameters
    ----------
    costs
        Demand × site costs. Dense: every finite entry ≤ ``cutoff`` is a pair
        (``np.inf`` or NaN marks "no route"). Sparse: the stored entries are the
        pairs, explicit zeros included.
    demand_ids, site_ids
        Labels of rows and columns.
    unit
        ``"m"`` or ``"min"``.
    cutoff
        Keep only pairs with cost ≤ cutoff (default: keep all; the cutoff is
        then the largest cost).

    Notes
    -----
    Costs are used as given: no rescaling, no rounding.
    """
    matrix: Any
    if sp.issparse(costs):
        matrix = sp.csr_array(costs).astype(np.float64)  # type: ignore[arg-type]
        matrix.sort_indices()
        _check_costs(matrix.data, what="the sparse cost matrix")
        if cutoff is not None:
            coo = matrix.tocoo()
            keep = coo.data <= cutoff
            matrix = sp.csr_array((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=matrix.shape)
            matrix.sort_indices()
    else:
        dense = np.asarray(costs, dtype=np.float64)
        if dense.ndim != 2:
            raise InputError(f"a dense cost matrix must be 2-D, got shape {dense.shape}")
        reachable = np.isfinite(dense)
        if cutoff is not None:
            reachable &= dense <= cutoff
        _check_costs(dense[reachable], what="the dense cost matrix")
        rows, cols = np.nonzero(reachable)
        matrix = sp.csr_array((dense[rows, cols], (rows, cols)), shape=dense.shape)
        matrix.sort_indices()
    largest = float(matrix.data.max()) if matrix.nnz else 0.0
    return CostMatrix(
        matrix=matrix,
        demand_ids=np.asarray(demand_ids, dtype=object),
        site_ids=np.asarray(site_ids, dtype=object),
        unit=unit,
        cutoff=largest if cutoff is None else float(cutoff),
    )


def cost_matrix_from_table(
    table: pd.DataFrame,
    *,
    unit: str,
    demand_ids: ArrayLike | None = None,
    site_ids: ArrayLike | None = None,
    cutoff: float | None = None,
    demand_column: str = "demand_id",
    site_column: str = "site_id",
    cost_column: str = "cost",
) -> CostMatrix:
    """A :class:`CostMatrix` from a long table ``demand_id, site_id, cost`` (e.g. road travel times).

    Parameters
    ----------
    table
        One row per reachable pair.
    unit
        ``"m"`` or ``"min"``.
    demand_ids, site_ids
        Full label lists (demand or sites with no pair keep their row/column);
        default: the ids that appear in the table, sorted.
    cutoff
        Keep only pairs with cost ≤ cutoff.
    """
    missing = [c for c in (demand_column, site_column, cost_column) if c not in table.columns]
    if missing:
        raise InputError(f"cost table lacks columns {missing}; it has {list(table.columns)}")
    d = table[demand_column].astype(str)
    s = table[site_column].astype(str)
    cost = pd.to_numeric(table[cost_column], errors="coerce").to_numpy(dtype=float)
    _check_costs(cost, what="the cost table")
    duplicated = table.assign(_d=d, _s=s).duplicated(["_d", "_s"], keep=False)
    if duplicated.any():
        rows = (np.flatnonzero(duplicated.to_numpy()) + 2).tolist()[:10]
        raise InputError(f"the cost table repeats demand-site pairs at rows {rows}; keep one cost per pair")
    d_ids = pd.Index(sorted(d.unique()) if demand_ids is None else [str(v) for v in np.asarray(demand_ids)])
    s_ids = pd.Index(sorted(s.unique()) if site_ids is None else [str(v) for v in np.asarray(site_ids)])
    rows_pos = d_ids.get_indexer(pd.Index(d))
    cols_pos = s_ids.get_indexer(pd.Index(s))
    if (rows_pos < 0).any() or (cols_pos < 0).any():
        unknown = sorted(set(d[rows_pos < 0]) | set(s[cols_pos < 0]))[:10]
        raise InputError(f"the cost table names ids not in demand_ids/site_ids: {unknown}")
    keep = np.ones(len(cost), dtype=bool) if cutoff is None else cost <= cutoff
    matrix: Any = sp.csr_array((cost[keep], (rows_pos[keep], cols_pos[keep])), shape=(len(d_ids), len(s_ids)))
    matrix.sort_indices()
    largest = float(matrix.data.max()) if matrix.nnz else 0.0
    return CostMatrix(
        matrix=matrix,
        demand_ids=d_ids.to_numpy(dtype=object),
        site_ids=s_ids.to_numpy(dtype=object),
        unit=unit,
        cutoff=largest if cutoff is None else float(cutoff),
    )


def matrix_and_standard(costs: Any, standard: float | None = None) -> tuple[CostMatrix, float]:
    """The cost matrix and the service standard of a :class:`CostMatrix` or an :class:`~siting.access.Access`.

    Models accept either: an ``Access`` carries its standard (and has its boundary rule
    applied already); a bare matrix's standard defaults to its cutoff.
    """
    matrix = getattr(costs, "costs", costs)
    if not isinstance(matrix, CostMatrix):
        raise InputError(f"models take a CostMatrix or an Access, not {type(costs).__name__}")
    default = getattr(costs, "standard", matrix.cutoff)
    value = float(default if standard is None else standard)
    if not np.isfinite(value) or value < 0:
        raise InputError(f"the service standard must be a finite number ≥ 0 {matrix.unit}, got {standard!r}")
    return matrix, value


def restrict_to_same_unit(
    costs: CostMatrix, *, demand_unit: np.ndarray | pd.Series, site_unit: np.ndarray | pd.Series
) -> CostMatrix:
    """Keep only pairs whose demand and site lie in the same administrative unit.

    This is how a boundary rule (``respect="township"`` or ``"county"``) is applied: a
    home then only serves communities of its own unit.
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
