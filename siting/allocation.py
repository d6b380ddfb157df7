"""Who serves whom: each demand point assigned to one home; catchment polygons; nearest-home raster."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import rasterio.features
from sklearn.neighbors import KDTree

from siting.costs import CostMatrix
from siting.models.common import apply_respect
from siting.report import weighted_quantile

__all__ = ["assign_to_nearest_home", "catchments", "children_only_served_by", "write_nearest_home_raster"]


def assign_to_nearest_home(
    costs: CostMatrix,
    open_site_ids: Sequence[str],
    *,
    standard: float,
    demand: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    assignment: Mapping[str, str] | None = None,
    respect: str | None = None,
) -> pd.DataFrame:
    """Assign every demand point to exactly one open home.

    The model's assignment is used where the model makes one (p-median,
    capacitated models); otherwise each demand point goes to the cheapest open
    home within ``standard`` (ties: the first in site order), inside its own
    township/county when ``respect`` says so. Demand with no such home is
    uncovered; its nearest open home and straight-line distance are kept.

    Parameters
    ----------
    costs
        Demand × site costs.
    open_site_ids
        Ids of the open homes.
    standard
        Service standard in ``costs.unit``.
    demand, sites
        Demand points (``demand_id``, admin codes) and sites (``site_id``, admin
        codes) in the working CRS.
    assignment
        Demand id → site id from the model, if it made one.
    respect
        ``"township"``, ``"county"`` or None.

    Returns
    -------
    pandas.DataFrame
        ``demand_id``, ``site_id`` (None when uncovered), ``cost`` (in
        ``costs.unit``), ``covered``, ``distance_m`` (straight line to the
        assigned or, if uncovered, nearest home), ``nearest_site_id``,
        ``nearest_distance_m``; in the order of ``costs.demand_ids``.
    """
    if len(open_site_ids) == 0:  # a plan with no home at all (e.g. a zero budget): nobody is covered
        n = len(costs.demand_ids)
        return pd.DataFrame(
            {
                "demand_id": costs.demand_ids,
                "site_id": np.full(n, None, dtype=object),
                "cost": np.full(n, np.nan),
                "covered": np.zeros(n, dtype=bool),
                "distance_m": np.full(n, np.nan),
                "nearest_site_id": np.full(n, None, dtype=object),
                "nearest_distance_m": np.full(n, np.nan),
            }
        )
    if respect is not None:
        codes_d = demand.set_index("demand_id")[["township_code", "county_code"]]
        codes_s = sites.set_index("site_id")[["township_code", "county_code"]]
        costs = apply_respect(costs, respect, demand_codes=codes_d, site_codes=codes_s)
    open_pos = np.sort(costs.site_positions(list(open_site_ids)))
    n = len(costs.demand_ids)
    site = np.full(n, None, dtype=object)
    cost = np.full(n, np.nan)
    if assignment is not None:
        lookup = {d: i for i, d in enumerate(costs.demand_ids.tolist())}
        site_lookup = {s: j for j, s in enumerate(costs.site_ids.tolist())}
        csr = costs.matrix.tocsr()
        for d, s in assignment.items():
            i, j = lookup[d], site_lookup[s]
            row = csr.indices[csr.indptr[i] : csr.indptr[i + 1]]
            hit = np.flatnonzero(row == j)
            if len(hit):
                value = float(csr.data[csr.indptr[i] + hit[0]])
                if value <= standard:
                    site[i], cost[i] = s, value
    else:
        sub = costs.matrix[:, open_pos].tocoo()
        keep = sub.data <= standard
        rows, cols, data = sub.row[keep], sub.col[keep], sub.data[keep]
        order = np.lexsort((cols, data, rows))
        rows, cols, data = rows[order], cols[order], data[order]
        first = np.r_[True, rows[1:] != rows[:-1]] if len(rows) else np.zeros(0, dtype=bool)
        site[rows[first]] = costs.site_ids[open_pos[cols[first]]]
        cost[rows[first]] = data[first]
    covered = ~pd.isna(site)

    site_frame = sites.set_index("site_id")
    site_xy = site_frame.loc[costs.site_ids[open_pos]].geometry.get_coordinates().to_numpy()
    demand_xy = demand.set_index("demand_id").loc[costs.demand_ids].geometry.get_coordinates().to_numpy()
    nearest_distance, index = KDTree(site_xy).query(demand_xy, k=1)
    distance = nearest_distance[:, 0].copy()
    if covered.any():
        assigned_xy = site_frame.loc[site[covered].tolist()].geometry.get_coordinates().to_numpy()
        distance[covered] = np.hypot(*(assigned_xy - demand_xy[covered]).T)
    return pd.DataFrame(
        {
            "demand_id": costs.demand_ids,
            "site_id": site,
            "cost": cost,
            "covered": covered,
            "distance_m": distance,
            "nearest_site_id": costs.site_ids[open_pos[index[:, 0]]],
            "nearest_distance_m": nearest_distance[:, 0],
        }
    )


def catchments(
    communities: gpd.GeoDataFrame,
    demand: pd.DataFrame,
    allocation: pd.DataFrame,
    *,
    priority_groups: Sequence[str] = (),
) -> gpd.GeoDataFrame:
    """One responsibility area (责任范围) per home, from the communities it serves, plus the uncovered area.

    A community whose demand points go to several homes (a split community)
    belongs to the home that serves most of its children. Catchments therefore
    never overlap and, with the ``uncovered`` row, tile the study area.

    Returns
    -------
    geopandas.GeoDataFrame
        ``site_id`` (``None`` for the uncovered area), ``communities``,
        ``community_codes``, ``children``, ``priority_children``,
        ``distance_mean_m``, ``distance_p90_m``, ``distance_max_m``; polygons in
        the communities' CRS.
    """
    table = demand.merge(allocation, on="demand_id", validate="one_to_one")
    table["_key"] = table["site_id"].where(table["covered"], "__uncovered__")
    owner = (
        table.groupby(["community_code", "_key"])["children"]
        .sum()
        .reset_index()
        .sort_values(["community_code", "children", "_key"], ascending=[True, False, True])
        .drop_duplicates("community_code")
        .set_index("community_code")["_key"]
    )
    shapes = communities[["community_code", "geometry"]].assign(_key=lambda f: f["community_code"].map(owner))
    shapes["_key"] = shapes["_key"].fillna("__uncovered__")
    dissolved = shapes.dissolve(by="_key", as_index=True)
    priority = table[list(priority_groups)].sum(axis=1) if priority_groups else pd.Series(0.0, index=table.index)
    table["_priority"] = priority
    rows = []
    for key, part in table.groupby("_key"):
        members = shapes.loc[shapes["_key"] == key, "community_code"]
        d = part["distance_m"].to_numpy(dtype=float)
        w = part["children"].to_numpy(dtype=float)
        rows.append(
            {
                "_key": key,
                "site_id": None if key == "__uncovered__" else key,
                "communities": len(members),
                "community_codes": ",".join(sorted(members)),
                "children": float(w.sum()),
                "priority_children": float(part["_priority"].sum()),
                "distance_mean_m": float(np.average(d, weights=w)) if w.sum() > 0 else float(np.mean(d)),
                "distance_p90_m": weighted_quantile(d, w, 0.9) if w.sum() > 0 else float(np.quantile(d, 0.9)),
                "distance_max_m": float(d.max()),
            }
        )
    stats = pd.DataFrame(rows).set_index("_key")
    out = dissolved.join(stats, how="left").reset_index(drop=True)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=communities.crs)


def write_nearest_home_raster(
    catchment_polygons: gpd.GeoDataFrame, *, like: Path | str, out_path: Path | str
) -> pd.DataFrame:
    """Write which home serves each cell (a GeoTIFF on the grid of ``like``) for analysts' own statistics.

    Cell values are 1-based home numbers (0 = uncovered or outside); the
    returned table maps numbers to ``site_id`` and is also written next to the
    raster as ``<name>.csv``.
    """
    homes = catchment_polygons[catchment_polygons["site_id"].notna()].reset_index(drop=True)
    with rasterio.open(like) as src:
        shapes = homes.geometry.to_crs(src.crs)
        grid = rasterio.features.rasterize(
            ((g, i + 1) for i, g in enumerate(shapes)),
            out_shape=(src.height, src.width),
            transform=src.transform,
            fill=0,
            dtype="int32",
        )
        profile = {
            "driver": "GTiff",
            "width": src.width,
            "height": src.height,
            "count": 1,
            "dtype": "int32",
            "crs": src.crs,
            "transform": src.transform,
            "nodata": 0,
            "compress": "deflate",
        }
    out_path = Path(out_path)
    with rasterio.open(out_path, "w", **profile) as dst:
        dst.write(grid, 1)
    legend = pd.DataFrame({"value": np.arange(1, len(homes) + 1), "site_id": homes["site_id"].to_numpy()})
    legend.to_csv(out_path.with_suffix(".csv"), index=False)
    return legend


def children_only_served_by(
    costs: CostMatrix, open_site_ids: Sequence[str], *, standard: float, children: np.ndarray
) -> pd.Series:
    """Per open home, the children no other open home reaches: what the plan loses without it."""
    open_pos = np.sort(costs.site_positions(list(open_site_ids)))
    cover = costs.within(standard)[:, open_pos].tocsr()
    reach = np.diff(cover.indptr)
    only = np.flatnonzero(reach == 1)
    site_of = cover.indices[cover.indptr[only]]
    gained = np.bincount(site_of, weights=np.asarray(children, dtype=float)[only], minlength=len(open_pos))
    return pd.Series(gained, index=costs.site_ids[open_pos], name="children_added")
