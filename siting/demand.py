"""The demand table: one row per demand point, with admin codes, children and weight."""

from __future__ import annotations

from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd

from siting.errors import InputError
from siting.population import ZonalResult

__all__ = ["ADMIN_COLUMNS", "build_demand"]

ADMIN_COLUMNS = ["community_code", "township_code", "county_code", "prefecture_code"]


def build_demand(
    communities: gpd.GeoDataFrame,
    zonal: ZonalResult,
    *,
    priority: pd.DataFrame | None = None,
    priority_factors: Mapping[str, float] | None = None,
) -> gpd.GeoDataFrame:
    """One demand point per community at its population-weighted centre.

    Parameters
    ----------
    communities
        Community polygons in the working CRS with the admin code columns.
    zonal
        Zonal sums of the child raster over ``communities`` (same order).
    priority
        Optional table with ``community_code`` and one count column per priority group.
    priority_factors
        Extra weight per priority child, by group column: the demand weight is
        ``children + Σ factor_g × count_g``. Groups without a factor add nothing.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``demand_id`` (= community code), admin codes, ``children``,
        the priority counts, ``weight``; point geometry in the working CRS.
    """
    if not np.array_equal(zonal.zone_ids, communities["community_code"].to_numpy()):
        raise InputError("zonal sums are not in the order of the communities; compute them on the same table")
    table = pd.DataFrame({"demand_id": communities["community_code"].to_numpy()})
    for column in ADMIN_COLUMNS:
        table[column] = communities[column].to_numpy()
    table["children"] = zonal.children
    factors = dict(priority_factors or {})
    weight = zonal.children.copy()
    if priority is not None:
        groups = [c for c in priority.columns if c != "community_code"]
        unknown_factors = sorted(set(factors) - set(groups))
        if unknown_factors:
            raise InputError(f"priority factors for unknown groups {unknown_factors}; groups are {groups}")
        merged = table[["community_code"]].merge(priority, on="community_code", how="left")
        for group in groups:
            counts = merged[group].fillna(0).to_numpy(dtype=np.int64)
            table[group] = counts
            weight = weight + factors.get(group, 0.0) * counts
    elif factors:
        raise InputError(f"priority factors {sorted(factors)} given but no priority registry")
    table["weight"] = weight
    return gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(zonal.centre_x, zonal.centre_y), crs=communities.crs)
