"""The demand table: one row per demand point, with admin codes, children and weight.

A community becomes one demand point at its population-weighted centre, or,
when it is larger than ``split_area_km2``, several points from a weighted
k-means (scikit-learn) over its populated raster cells, so that a 300 km²
mountain village is not one point. Totals are preserved exactly: a community's
sub-points share its children in proportion to the raster cells in each
cluster, and its priority counts by largest remainder.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from sklearn.cluster import KMeans

from siting.errors import DataError, InputError
from siting.geometry import move_inside
from siting.population import ZonalResult, cells_in_zone

__all__ = ["ADMIN_COLUMNS", "build_demand", "check_points_in_communities", "split_integer"]

ADMIN_COLUMNS = ["community_code", "township_code", "county_code", "prefecture_code"]
#: Rounding allowance (working-CRS metres) for a point that lies on its polygon's edge.
EDGE_TOLERANCE_M = 0.01


def split_integer(total: int, shares: np.ndarray) -> np.ndarray:
    """Split an integer in proportion to ``shares`` by largest remainder (sums exactly to ``total``)."""
    shares = np.asarray(shares, dtype=float)
    if total == 0 or shares.sum() <= 0:
        out = np.zeros(len(shares), dtype=np.int64)
        if total and len(out):
            out[0] = total
        return out
    exact = total * shares / shares.sum()
    base = np.floor(exact).astype(np.int64)
    remainder = total - int(base.sum())
    order = np.argsort(-(exact - base), kind="stable")
    base[order[:remainder]] += 1
    return base


def _split_points(x: np.ndarray, y: np.ndarray, count: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Weighted k-means centres and the cell weight of each cluster."""
    k = min(k, len(count))
    model = KMeans(n_clusters=k, n_init=4, random_state=seed)
    labels = model.fit_predict(np.column_stack([x, y]), sample_weight=count)
    weight = np.bincount(labels, weights=count, minlength=k)
    centres = (
        np.column_stack(
            [np.bincount(labels, weights=count * x, minlength=k), np.bincount(labels, weights=count * y, minlength=k)]
        )
        / np.where(weight > 0, weight, 1)[:, None]
    )
    keep = weight > 0
    return centres[keep], weight[keep]


def build_demand(
    communities: gpd.GeoDataFrame,
    zonal: ZonalResult,
    *,
    priority: pd.DataFrame | None = None,
    priority_factors: Mapping[str, float] | None = None,
    raster_path: Path | str | None = None,
    split_area_km2: float | None = None,
    seed: int = 0,
) -> gpd.GeoDataFrame:
    """Demand points with children, priority counts and weight.

    Parameters
    ----------
    communities
        Community polygons in the working CRS with the admin code columns.
    zonal
        Zonal sums of the child raster over ``communities`` (same order).
    priority
        Optional table with ``community_code`` and one count column per priority
        group (see :func:`siting.registry.read_priority_registry`).
    priority_factors
        Extra weight per priority child, by group: the demand weight is
        ``children + Σ factor_g × count_g``. Groups without a factor add nothing.
    raster_path, split_area_km2
        Split communities larger than ``split_area_km2`` into about
        ``area / split_area_km2`` points using the raster's cells.
    seed
        Seed of the k-means.

    Returns
    -------
    geopandas.GeoDataFrame
        ``demand_id`` (the community code, or ``<code>-<k>`` for sub-points),
        admin codes, ``children``, the priority counts, ``weight``; points in
        the working CRS.
    """
    if not np.array_equal(zonal.zone_ids, communities["community_code"].to_numpy()):
        raise InputError("zonal sums are not in the order of the communities; compute them on the same table")
    if split_area_km2 is not None and (split_area_km2 <= 0 or raster_path is None):
        raise InputError("split_area_km2 must be positive and needs raster_path")
    table = pd.DataFrame({"demand_id": communities["community_code"].to_numpy()})
    for column in ADMIN_COLUMNS:
        table[column] = communities[column].to_numpy()
    table["children"] = zonal.children
    table["x"] = zonal.centre_x
    table["y"] = zonal.centre_y
    groups: list[str] = []
    factors = dict(priority_factors or {})
    if priority is not None:
        groups = [c for c in priority.columns if c != "community_code"]
        unknown = sorted(set(factors) - set(groups))
        if unknown:
            raise InputError(f"priority factors for unknown groups {unknown}; groups are {groups}")
        merged = table[["community_code"]].merge(priority, on="community_code", how="left")
        for group in groups:
            table[group] = merged[group].fillna(0).to_numpy(dtype=np.int64)
    elif factors:
        raise InputError(f"priority factors {sorted(factors)} given but no priority registry")

    if split_area_km2 is not None and raster_path is not None:
        table = _split_large(table, communities, Path(raster_path), split_area_km2, groups, seed)

    weight = table["children"].to_numpy(dtype=float).copy()
    for group in groups:
        weight = weight + factors.get(group, 0.0) * table[group].to_numpy()
    table["weight"] = weight
    geometry = gpd.points_from_xy(table.pop("x"), table.pop("y"))
    demand = gpd.GeoDataFrame(table, geometry=geometry, crs=communities.crs)
    small = communities["community_code"].to_numpy()[zonal.cells == 0]
    check_points_in_communities(demand, communities, small_codes=small, cell_size=zonal.cell_size)
    return demand


def check_points_in_communities(
    demand: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    *,
    small_codes: np.ndarray | None = None,
    cell_size: float = 0.0,
) -> None:
    """Refuse demand points that do not lie in their own community.

    Every point must lie inside its community's polygon, or, for a community too small
    to hold a raster cell centre (``small_codes``), within ``cell_size`` of it: such a
    community takes a share of the cell it sits in.

    Raises
    ------
    DataError
        Naming the communities whose points are elsewhere, with the distance.
    """
    polygons = communities.set_index("community_code").geometry
    own = gpd.GeoSeries(polygons.reindex(demand["community_code"]).to_numpy(), index=demand.index, crs=communities.crs)
    distance = demand.geometry.distance(own).to_numpy()
    allowed = np.full(len(demand), EDGE_TOLERANCE_M)
    if small_codes is not None and len(small_codes):
        allowed[demand["community_code"].isin(set(small_codes)).to_numpy()] = cell_size + EDGE_TOLERANCE_M
    wrong = ~(distance <= allowed)  # NaN (no polygon) counts as wrong
    if wrong.any():
        shown = [
            f"{code} ({d / 1000:,.1f} km away)" if np.isfinite(d) else f"{code} (no polygon)"
            for code, d in zip(demand.loc[wrong, "community_code"][:10], distance[wrong][:10], strict=True)
        ]
        raise DataError(
            f"{int(wrong.sum())} demand points lie outside their own community: {', '.join(shown)}; "
            "this is a bug in placing children, please report it with the input files"
        )


def _split_large(
    table: pd.DataFrame,
    communities: gpd.GeoDataFrame,
    raster_path: Path,
    split_area_km2: float,
    groups: list[str],
    seed: int,
) -> pd.DataFrame:
    area_km2 = communities.geometry.area.to_numpy() / 1e6
    large = np.flatnonzero(area_km2 > split_area_km2)
    if len(large) == 0:
        return table
    cells = cells_in_zone(raster_path, communities, large)
    pieces: list[pd.DataFrame] = []
    replaced = np.zeros(len(table), dtype=bool)
    for position in large:
        x, y, count = cells[int(position)]
        k = int(np.ceil(area_km2[position] / split_area_km2))
        if len(count) < 2 or k < 2:
            continue
        centres, weight = _split_points(x, y, count, k, seed)
        if len(centres) < 2:
            continue
        polygon = np.full(len(centres), communities.geometry.iloc[position], dtype=object)
        centres[:, 0], centres[:, 1], _ = move_inside(polygon, centres[:, 0], centres[:, 1])
        row = table.iloc[position]
        share = weight / weight.sum()
        part = pd.DataFrame({c: [row[c]] * len(centres) for c in table.columns})
        part["demand_id"] = [f"{row['community_code']}-{i + 1:02d}" for i in range(len(centres))]
        part["children"] = row["children"] * share
        part["x"] = centres[:, 0]
        part["y"] = centres[:, 1]
        for group in groups:
            part[group] = split_integer(int(row[group]), share)
        part.index = np.full(len(part), position)
        pieces.append(part)
        replaced[position] = True
    if not pieces:
        return table
    kept = table[~replaced]
    kept.index = np.flatnonzero(~replaced)
    combined = pd.concat([kept, *pieces]).sort_index(kind="stable")
    return combined.reset_index(drop=True)
