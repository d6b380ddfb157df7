"""Sparse demand × site cost matrices, labelled by ids, with a unit."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike
from pyproj import CRS
from sklearn.neighbors import KDTree

from siting.boundaries import require_projected
from siting.errors import InputError

__all__ = ["CostMatrix", "distance_matrix"]

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
