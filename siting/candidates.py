"""Candidate and existing sites: ids, locations, build costs and flags."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from siting.errors import InputError
from siting.levels import CODE_COLUMNS
from siting.tables import read_points

__all__ = ["DEFAULT_HOME_COST_CNY", "add_candidate_sites", "add_located_homes", "sites_at_community_seats"]

#: Code columns a site carries (the community it stands in and every level above).
SITE_CODES = [CODE_COLUMNS[level] for level in ("community", "township", "county", "prefecture", "province")]

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
    is_existing = pd.Index(codes).isin(existing)  # hashed: linear in the number of communities
    table = pd.DataFrame({"site_id": codes, **{c: communities[c].to_numpy() for c in SITE_CODES}})
    table["existing"] = is_existing
    table["cost_cny"] = np.where(is_existing, 0.0, float(cost_cny))
    return gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(seat_x, seat_y), crs=communities.crs)


def add_candidate_sites(
    sites: gpd.GeoDataFrame,
    path: Path,
    *,
    communities: gpd.GeoDataFrame,
    cost_cny: float,
    cost_column: str | None = None,
) -> gpd.GeoDataFrame:
    """Add candidate sites from a CSV (``site_id``, ``lon``, ``lat``, optional cost column).

    Each site takes the admin codes of the community it lies in; a site outside every
    community, a duplicate id or a missing or negative cost is an error that lists the rows.
    With ``cost_column``, that column of the CSV sets each extra site's cost (the seats keep
    ``cost_cny``).
    """
    points = read_points(path, what="candidate sites", crs=communities.crs)
    if cost_column and cost_column not in points.columns:
        raise InputError(
            f"candidate sites {path} lack the cost column {cost_column!r}; columns are {list(points.columns)}"
        )
    joined = gpd.sjoin(points, communities[[*SITE_CODES, "geometry"]], how="left", predicate="within")
    joined = joined[~joined.index.duplicated()]
    problems = []
    outside = joined["community_code"].isna()
    if outside.any():
        problems.append(f"rows {list(joined.index[outside] + 2)} lie outside every community")
    clash = joined["site_id"].isin(set(sites["site_id"])) | joined["site_id"].duplicated(keep=False)
    if clash.any():
        problems.append(f"rows {list(joined.index[clash] + 2)} repeat a site id")
    costs = pd.to_numeric(joined[cost_column], errors="coerce") if cost_column else pd.Series(cost_cny, joined.index)
    bad_cost = costs.isna() | (costs < 0)
    if bad_cost.any():
        problems.append(f"rows {list(joined.index[bad_cost] + 2)} have a missing or negative {cost_column}")
    if problems:
        raise InputError(f"candidate sites {path}: " + "; ".join(problems))
    extra = gpd.GeoDataFrame(
        {
            "site_id": joined["site_id"].astype(str).to_numpy(),
            **{c: joined[c].to_numpy() for c in SITE_CODES},
            "existing": False,
            "cost_cny": costs.to_numpy(dtype=float),
        },
        geometry=joined.geometry.to_numpy(),
        crs=communities.crs,
    )
    return gpd.GeoDataFrame(pd.concat([sites, extra], ignore_index=True), crs=sites.crs)


def add_located_homes(
    sites: gpd.GeoDataFrame, homes: pd.DataFrame, *, communities: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    """Existing homes given by their own location (``site_id``, ``x``, ``y`` in the working CRS) as sites.

    A home at a community seat's id is moved to its real location; any other id becomes a
    new site. Each takes the codes of the community it stands in; a home outside every
    community is an error that names it.
    """
    points = gpd.GeoDataFrame(
        {"site_id": homes["site_id"].astype(str).to_numpy()},
        geometry=gpd.points_from_xy(homes["x"], homes["y"]),
        crs=communities.crs,
    )
    joined = gpd.sjoin(points, communities[[*SITE_CODES, "geometry"]], how="left", predicate="within")
    joined = joined[~joined.index.duplicated()]
    outside = joined["community_code"].isna()
    if outside.any():
        raise InputError(
            f"existing homes {joined.loc[outside, 'site_id'].tolist()[:10]} lie outside every community of the study "
            "area; check their lon/lat (WGS-84 degrees) or drop homes of other areas"
        )
    located = gpd.GeoDataFrame(
        {"site_id": joined["site_id"].to_numpy(), **{c: joined[c].to_numpy() for c in SITE_CODES}},
        geometry=joined.geometry.to_numpy(),
        crs=communities.crs,
    ).assign(existing=True, cost_cny=0.0)
    kept = sites[~sites["site_id"].isin(set(located["site_id"]))]
    return gpd.GeoDataFrame(pd.concat([kept, located], ignore_index=True), crs=sites.crs)
