"""Candidate and existing sites: ids, locations, build costs and flags."""

from __future__ import annotations

from collections.abc import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd

from siting.errors import InputError

__all__ = ["DEFAULT_HOME_COST_CNY", "sites_at_community_seats"]

#: 2019: 13,200,000 CNY of welfare-lottery funds built 440 homes.
DEFAULT_HOME_COST_CNY = 30_000.0


def sites_at_community_seats(
    communities: gpd.GeoDataFrame,
    *,
    seat_x: np.ndarray,
    seat_y: np.ndarray,
    existing_ids: Iterable[str] = (),
    cost_cny: float = DEFAULT_HOME_COST_CNY,
) -> gpd.GeoDataFrame:
    """One candidate site per community, at its seat.

    Parameters
    ----------
    communities
        Communities with admin code columns (working CRS).
    seat_x, seat_y
        Seat coordinates in the working CRS, in the order of ``communities``.
    existing_ids
        Site ids (community codes) that already host a home; they are fixed open
        and cost nothing more.
    cost_cny
        Build cost of a new home.

    Returns
    -------
    geopandas.GeoDataFrame
        ``site_id``, admin codes, ``existing``, ``cost_cny``; point geometry.
    """
    codes = communities["community_code"].astype(str).to_numpy()
    existing = pd.Index(list(existing_ids), dtype=object)
    unknown = existing.difference(pd.Index(codes))
    if len(unknown):
        raise InputError(
            f"{len(unknown)} existing homes are at unknown community codes, e.g. {list(unknown[:5])}; "
            "each existing home needs the 12-digit code of the community it stands in"
        )
    is_existing = np.isin(codes, existing.to_numpy())
    table = pd.DataFrame(
        {
            "site_id": codes,
            "community_code": codes,
            "township_code": communities["township_code"].to_numpy(),
            "county_code": communities["county_code"].to_numpy(),
            "prefecture_code": communities["prefecture_code"].to_numpy(),
            "existing": is_existing,
            "cost_cny": np.where(is_existing, 0.0, float(cost_cny)),
        }
    )
    return gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(seat_x, seat_y), crs=communities.crs)
