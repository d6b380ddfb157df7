"""Who serves whom: each demand point assigned to one open home."""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
from sklearn.neighbors import KDTree

from siting.costs import CostMatrix
from siting.errors import InputError

__all__ = ["assign_to_nearest_home"]


def assign_to_nearest_home(
    costs: CostMatrix,
    open_site_ids: Sequence[str],
    *,
    standard: float,
    demand: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
) -> pd.DataFrame:
    """Assign every demand point to its nearest open home.

    A demand point with an open home within ``standard`` (in ``costs.unit``) is
    covered and goes to the cheapest such home (ties: the first in site order).
    Any other demand point is uncovered; its nearest open home and straight-line
    distance are still reported.

    Parameters
    ----------
    costs
        Demand × site costs.
    open_site_ids
        Ids of the open homes.
    standard
        Service standard in ``costs.unit``.
    demand, sites
        Demand points (``demand_id``) and sites (``site_id``) in the working CRS,
        used for the nearest home of uncovered demand.

    Returns
    -------
    pandas.DataFrame
        ``demand_id``, ``site_id``, ``cost``, ``covered``, ``nearest_site_id``,
        ``nearest_distance_m`` in the order of ``costs.demand_ids``.
    """
    if len(open_site_ids) == 0:
        raise InputError("no open homes to assign demand to")
    open_pos = np.sort(costs.site_positions(list(open_site_ids)))
    sub = costs.matrix[:, open_pos].tocoo()
    keep = sub.data <= standard
    rows, cols, data = sub.row[keep], sub.col[keep], sub.data[keep]
    order = np.lexsort((cols, data, rows))
    rows, cols, data = rows[order], cols[order], data[order]
    first = np.r_[True, rows[1:] != rows[:-1]] if len(rows) else np.zeros(0, dtype=bool)
    n = len(costs.demand_ids)
    site = np.full(n, None, dtype=object)
    cost = np.full(n, np.nan)
    site[rows[first]] = costs.site_ids[open_pos[cols[first]]]
    cost[rows[first]] = data[first]
    covered = ~pd.isna(site)

    site_xy = sites.set_index("site_id").loc[costs.site_ids[open_pos]].geometry.get_coordinates().to_numpy()
    demand_xy = demand.set_index("demand_id").loc[costs.demand_ids].geometry.get_coordinates().to_numpy()
    distance, index = KDTree(site_xy).query(demand_xy, k=1)
    return pd.DataFrame(
        {
            "demand_id": costs.demand_ids,
            "site_id": site,
            "cost": cost,
            "covered": covered,
            "nearest_site_id": costs.site_ids[open_pos[index[:, 0]]],
            "nearest_distance_m": distance[:, 0],
        }
    )
