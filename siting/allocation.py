"""Who serves whom: each demand point assigned to one home; catchment polygons; the homes and what they serve.

Every cost here comes from the :class:`~siting.access.Access` (its unit, its boundary
rule): nothing is recomputed in straight-line metres, and columns are named from the
unit (``distance_m`` or ``time_min``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import rasterio.features
import rasterio.transform
import rasterio.windows
import shapely
from affine import Affine
from rasterio.crs import CRS
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from siting.access import Access
from siting.errors import InputError
from siting.geometry import dissolve
from siting.levels import names_by_code
from siting.models.plan import Plan
from siting.rasters import MAX_GRID_CELLS, geotiff_profile

__all__ = [
    "allocate",
    "catchments",
    "children_only_served_by",
    "describe_homes",
    "grouped_weighted_quantile",
    "uncovered_communities",
    "write_nearest_home_raster",
]

UNCOVERED_KEY = "__uncovered__"


def grouped_weighted_quantile(keys: np.ndarray, values: np.ndarray, weights: np.ndarray, q: float) -> pd.Series:
    """The lower weighted ``q`` quantile of ``values`` per key, by one sort (linear after it).

    Rows with a non-finite value or no weight are left out; a key with none gets NaN.
    """
    frame = pd.DataFrame({"k": keys, "v": values, "w": weights})
    usable = frame[np.isfinite(frame["v"]) & (frame["w"] > 0)].sort_values(["k", "v"], kind="stable")
    if usable.empty:
        return pd.Series(np.nan, index=pd.unique(keys))
    cumulative = usable.groupby("k", sort=False)["w"].cumsum()
    total = usable.groupby("k", sort=False)["w"].transform("sum")
    reached = usable[cumulative >= q * total - 1e-12 * total]
    out = reached.groupby("k", sort=False)["v"].first()
    return out.reindex(pd.unique(keys))


def allocate(access: Access, plan: Plan) -> pd.DataFrame:
    """Assign every demand point to exactly one open home.

    The model's assignment is used where the model makes one (p-median, capacitated
    models); otherwise each demand point goes to the cheapest open home within the
    standard (ties: the first in site order). The boundary rule is the access's. Demand
    with no such home is uncovered; its nearest open home and cost are kept.

    Returns
    -------
    pandas.DataFrame
        ``demand_id``, ``site_id`` (None when uncovered), ``covered``, the cost to the
        assigned home (``distance_m`` / ``time_min``), ``nearest_site_id`` and the cost to
        the nearest open home (``nearest_distance_m`` / ``nearest_time_min``); demand order.
    """
    n = len(access.demand_ids)
    cost_name, nearest_name = access.column(), access.column("nearest")
    site = np.full(n, None, dtype=object)
    cost = np.full(n, np.nan)
    if len(plan.site_ids):
        open_pos = np.sort(access.costs.site_positions(list(plan.site_ids)))
        if plan.assignment is not None:
            demand_pos = pd.Index(access.demand_ids).get_indexer(list(plan.assignment.keys()))
            site_pos = pd.Index(access.site_ids).get_indexer(list(plan.assignment.values()))
            found = access.cost_of(demand_pos, site_pos)
            within = found <= access.standard
            site[demand_pos[within]] = np.asarray(list(plan.assignment.values()), dtype=object)[within]
            cost[demand_pos[within]] = found[within]
        else:
            sub = access.costs.matrix[:, open_pos].tocoo()
            keep = sub.data <= access.standard
            rows, cols, data = sub.row[keep], sub.col[keep], sub.data[keep]
            order = np.lexsort((cols, data, rows))
            rows, cols, data = rows[order], cols[order], data[order]
            first = np.r_[True, rows[1:] != rows[:-1]] if len(rows) else np.zeros(0, dtype=bool)
            site[rows[first]] = access.site_ids[open_pos[cols[first]]]
            cost[rows[first]] = data[first]
    nearest_site, nearest_cost = access.nearest(plan.site_ids)
    covered = ~pd.isna(site)
    # A covered point's nearest home is at most its own home.
    closer = covered & ~(nearest_cost <= cost)
    nearest_site[closer], nearest_cost[closer] = site[closer], cost[closer]
    return pd.DataFrame(
        {
            "demand_id": access.demand_ids,
            "site_id": site,
            "covered": covered,
            cost_name: cost,
            "nearest_site_id": nearest_site,
            nearest_name: nearest_cost,
        }
    )


def _most_children(table: pd.DataFrame, by: str, value: str) -> pd.Series:
    """Per value of ``by``, the value of ``value`` with most of its children (ties: the smallest)."""
    return (
        table.groupby([by, value])["children"]
        .sum()
        .reset_index()
        .sort_values([by, "children", value], ascending=[True, False, True])
        .drop_duplicates(by)
        .set_index(by)[value]
    )


def catchments(
    communities: gpd.GeoDataFrame,
    demand: pd.DataFrame,
    allocation: pd.DataFrame,
    access: Access,
    *,
    priority_groups: Sequence[str] = (),
) -> gpd.GeoDataFrame:
    """One responsibility area (责任范围) per home, from the communities it serves, plus each county's uncovered area.

    A community whose demand points go to several homes (a split community)
    belongs to the home that serves most of its children. Catchments therefore
    never overlap and, with the uncovered rows, tile the study area.

    The uncovered area is one row per county (the county's guidance centre answers for
    it), joined township by township: one polygon over a whole province joins edges of
    units drawn apart, and took 74 s of 232k communities where the counties take 8 s.

    Returns
    -------
    geopandas.GeoDataFrame
        ``site_id`` (``None`` for an uncovered area), ``county_code`` (the home's county,
        or the uncovered area's), ``communities``, ``community_codes``, ``children``,
        ``priority_children`` and the mean, 90th percentile and largest cost
        (``distance_mean_m`` … or ``time_mean_min`` …); homes first, in ``site_id``
        order, then the uncovered areas by county; polygons in the communities' CRS.
    """
    cost = access.column()
    table = demand.merge(allocation, on="demand_id", validate="one_to_one")
    # A home's key is its site id; an uncovered area's is UNCOVERED_KEY and its county's code.
    table["_key"] = table["site_id"].where(table["covered"], UNCOVERED_KEY + table["county_code"].astype(str))
    owner = _most_children(table, "community_code", "_key")
    shapes = communities[["community_code", "township_code", "county_code", "geometry"]].assign(
        _key=lambda f: f["community_code"].map(owner)
    )
    shapes["_key"] = shapes["_key"].fillna(UNCOVERED_KEY + shapes["county_code"].astype(str))
    uncovered = shapes["_key"].str.startswith(UNCOVERED_KEY)
    dissolved = pd.concat(
        [
            dissolve(shapes[~uncovered], "_key"),
            dissolve(dissolve(shapes[uncovered], "township_code", keep=("_key",)), "_key", edge_matched=False),
        ]
    ).set_index("_key")[["geometry"]]
    county = _most_children(table, "_key", "county_code")
    table["_priority"] = table[list(priority_groups)].sum(axis=1) if priority_groups else 0.0
    table["_weighted"] = table[cost] * table["children"]
    grouped = table.groupby("_key")
    members = shapes.groupby("_key")["community_code"]
    stats = pd.DataFrame(
        {
            "communities": members.size(),
            "community_codes": members.agg(lambda codes: ",".join(sorted(codes))),
            "children": grouped["children"].sum(),
            "priority_children": grouped["_priority"].sum(),
            access.column("mean"): grouped["_weighted"].sum() / grouped["children"].sum().where(lambda c: c > 0),
            access.column("p90"): grouped_weighted_quantile(
                table["_key"].to_numpy(), table[cost].to_numpy(dtype=float), table["children"].to_numpy(float), 0.9
            ),
            access.column("max"): grouped[cost].max(),
        }
    )
    out = dissolved.join(stats, how="left")
    out["communities"] = out["communities"].fillna(0).astype(np.int64)
    keys = out.index.to_series()
    out.insert(0, "site_id", keys.where(~keys.str.startswith(UNCOVERED_KEY), None).astype(object).to_numpy())
    out.insert(1, "county_code", county.reindex(out.index).fillna(keys.str.removeprefix(UNCOVERED_KEY)).to_numpy())
    return gpd.GeoDataFrame(out.reset_index(drop=True), geometry="geometry", crs=communities.crs)


def children_only_served_by(access: Access, open_site_ids: Sequence[str], *, children: np.ndarray) -> pd.Series:
    """Per open home, the children no other open home reaches within the standard (under the boundary rule).

    This is what the plan loses without the home: the "children added" of its popup.
    """
    if len(open_site_ids) == 0:
        return pd.Series(dtype=float, name="children_added")
    open_pos = np.sort(access.costs.site_positions(list(open_site_ids)))
    cover = access.within_standard()[:, open_pos].tocsr()
    reach = np.diff(cover.indptr)
    only = np.flatnonzero(reach == 1)
    site_of = cover.indices[cover.indptr[only]]
    gained = np.bincount(site_of, weights=np.asarray(children, dtype=float)[only], minlength=len(open_pos))
    return pd.Series(gained, index=access.site_ids[open_pos], name="children_added")


def describe_homes(
    sites: gpd.GeoDataFrame,
    plan: Plan,
    demand: gpd.GeoDataFrame,
    allocation: pd.DataFrame,
    access: Access,
    *,
    names: pd.DataFrame,
    community_names: pd.Series,
    priority_groups: Sequence[str],
) -> gpd.GeoDataFrame:
    """Every open home with what it serves.

    Columns: the site's codes and names, ``existing``, ``new``, ``build_year``,
    ``communities_served``, ``children_served``, ``priority_served``, the mean and
    largest cost to the children it serves, ``children_added`` (children no other home
    reaches), ``served_names`` (the first communities it serves, by children) and
    ``cost_cny``.
    """
    cost = access.column()
    table = demand[["demand_id", "community_code", "children", *priority_groups]].merge(allocation, on="demand_id")
    table["_priority"] = table[list(priority_groups)].sum(axis=1) if priority_groups else 0.0
    table["_weighted"] = table[cost] * table["children"]
    served = table[table["covered"]].groupby("site_id")
    homes = sites[sites["site_id"].isin(set(plan.site_ids))].copy()
    by_code = names_by_code(names)
    homes["community_name"] = homes["community_code"].map(community_names).fillna(homes["community_code"])
    homes["township_name"] = homes["township_code"].map(by_code).fillna(homes["township_code"])
    homes["county_name"] = homes["county_code"].map(by_code).fillna(homes["county_code"])
    homes["existing"] = homes["site_id"].isin(set(plan.existing_ids))
    homes["new"] = homes["site_id"].isin(set(plan.new_ids))
    homes["build_year"] = homes["site_id"].map(dict(plan.build_year or {})).astype("Float64")
    homes["communities_served"] = homes["site_id"].map(served["community_code"].nunique()).fillna(0).astype(int)
    homes["children_served"] = homes["site_id"].map(served["children"].sum()).fillna(0.0)
    homes["priority_served"] = homes["site_id"].map(served["_priority"].sum()).fillna(0.0)
    mean = served["_weighted"].sum() / served["children"].sum().where(lambda c: c > 0)
    homes[access.column("mean")] = homes["site_id"].map(mean).fillna(0.0)
    homes[access.column("max")] = homes["site_id"].map(served[cost].max()).fillna(0.0)
    added = children_only_served_by(access, plan.site_ids, children=demand["children"].to_numpy())
    homes["children_added"] = homes["site_id"].map(added).fillna(0.0)
    by_children = (
        table[table["covered"]]
        .groupby(["site_id", "community_code"])["children"]
        .sum()
        .reset_index()
        .sort_values(["site_id", "children"], ascending=[True, False])
    )
    by_children["name"] = by_children["community_code"].map(community_names).fillna(by_children["community_code"])
    served_names = by_children.groupby("site_id")["name"].agg(list)
    homes["served_names"] = homes["site_id"].map(served_names).apply(lambda v: v if isinstance(v, list) else [])
    return homes.reset_index(drop=True)


def uncovered_communities(
    communities: gpd.GeoDataFrame,
    demand: gpd.GeoDataFrame,
    allocation: pd.DataFrame,
    access: Access,
    *,
    names: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Communities with demand beyond the standard: names at every level, children, the nearest home by name and cost.

    One row a community (its demand points' children added up), sorted by county and code.
    """
    nearest = access.column("nearest")
    codes = ["community_code", "township_code", "county_code", "prefecture_code"]
    table = demand[["demand_id", *codes, "children"]].merge(
        allocation[["demand_id", "covered", "nearest_site_id", nearest]], on="demand_id"
    )
    table = table[~table["covered"]].drop(columns=["covered", "demand_id"])
    children = table.groupby("community_code")["children"].sum()
    table = table.drop_duplicates("community_code").assign(children=lambda t: t["community_code"].map(children))
    village = communities.set_index("community_code")["community_name"]
    table.insert(1, "community_name", table["community_code"].map(village))
    units = names_by_code(names) if names is not None else pd.Series(dtype=object)
    for level in ("township", "county", "prefecture"):
        code = table[f"{level}_code"].astype(str)
        named = code.map(units).astype(object)
        table.insert(table.columns.get_loc(f"{level}_code") + 1, f"{level}_name", named.where(named.notna(), code))
    home = table["nearest_site_id"].astype(str)
    called = home.map(village).astype(object)
    table.insert(table.columns.get_loc("nearest_site_id") + 1, "nearest_home_name", called.where(called.notna(), home))
    return table.sort_values(["county_code", "community_code"]).reset_index(drop=True)


def write_nearest_home_raster(
    catchment_polygons: gpd.GeoDataFrame,
    *,
    like: Path | str,
    out_path: Path | str,
    resolution_m: float | None = None,
) -> pd.DataFrame:
    """Write which home serves each cell (a GeoTIFF) for analysts' own statistics.

    On the grid of ``like`` (the child raster) cut to the catchments' extent (a county's
    run on a national raster writes the county, not the country), or with ``resolution_m``
    on a grid of that cell size in the catchments' (working, metric) CRS over their extent. Cell
    values are 1-based home numbers (0 = uncovered or outside); the returned table maps
    numbers to ``site_id`` and is also written next to the raster as ``<name>.csv``.
    """
    homes = catchment_polygons[catchment_polygons["site_id"].notna()].reset_index(drop=True)
    if resolution_m is None:
        crs, transform, shape = _grid_over(catchment_polygons, like)
    else:
        west, south, east, north = catchment_polygons.total_bounds
        west, north = np.floor(west / resolution_m) * resolution_m, np.ceil(north / resolution_m) * resolution_m
        shape = (max(1, math.ceil((north - south) / resolution_m)), max(1, math.ceil((east - west) / resolution_m)))
        crs, transform = catchment_polygons.crs, rasterio.transform.from_origin(west, north, resolution_m, resolution_m)
    out_path = Path(out_path)
    _rasterize_in_windows(out_path, homes.geometry.to_crs(crs).to_numpy(), shape=shape, transform=transform, crs=crs)
    legend = pd.DataFrame({"value": np.arange(1, len(homes) + 1), "site_id": homes["site_id"].to_numpy()})
    legend.to_csv(out_path.with_suffix(".csv"), index=False, encoding="utf-8-sig")
    return legend


def check_raster_resolution(bounds: tuple[float, float, float, float], resolution_m: float | None) -> None:
    """Refuse, before the work, a ``raster_resolution_m`` whose grid over ``bounds`` (metres) no one can use."""
    if resolution_m is None:
        return
    west, south, east, north = bounds
    cells = math.ceil((east - west) / resolution_m) * math.ceil((north - south) / resolution_m)
    if cells > MAX_GRID_CELLS:
        fits = math.sqrt((east - west) * (north - south) / MAX_GRID_CELLS)
        raise InputError(
            f"outputs.raster_resolution_m = {resolution_m:g} m gives a nearest-home raster of {cells:,.0f} cells over "
            f"the study area (at most {MAX_GRID_CELLS:,.0f}); use {math.ceil(fits):,} m or more, or leave it out "
            "(the child raster's own grid)"
        )


#: Rows and columns of a window of the nearest-home raster: 2048² int32 cells are 16 MB whatever the area.
WINDOW_CELLS = 2048


def _rasterize_in_windows(
    path: Path,
    geometries: np.ndarray,
    *,
    shape: tuple[int, int],
    transform: Affine,
    crs: CRS,
    window_cells: int = WINDOW_CELLS,
) -> None:
    """Burn polygon ``k`` as value ``k + 1`` (0 elsewhere) into a new GeoTIFF, one window at a time.

    Memory follows the window, not the raster: a 3″ raster over a country has a billion
    cells. Each window burns only the polygons its bounds touch (a spatial index), so the
    cells are those of one whole-raster burn.
    """
    tree = shapely.STRtree(geometries)
    height, width = shape
    profile = geotiff_profile(width=width, height=height, dtype="int32", crs=crs, transform=transform, nodata=0)
    with rasterio.open(path, "w", **profile) as dst:
        for row0 in range(0, height, window_cells):
            for col0 in range(0, width, window_cells):
                window = Window(col0, row0, min(window_cells, width - col0), min(window_cells, height - row0))
                box = shapely.box(*rasterio.windows.bounds(window, transform))
                hit = np.sort(tree.query(box))
                cells = np.zeros((int(window.height), int(window.width)), dtype=np.int32)
                if len(hit):
                    cells = rasterio.features.rasterize(
                        ((geometries[k], int(k) + 1) for k in hit),
                        out_shape=cells.shape,
                        transform=rasterio.windows.transform(window, transform),
                        fill=0,
                        dtype="int32",
                    )
                dst.write(cells, 1, window=window)


def _grid_over(polygons: gpd.GeoDataFrame, like: Path | str) -> tuple[CRS, Affine, tuple[int, int]]:
    """The cells of ``like``'s grid that cover ``polygons`` (whole cells, within the raster)."""
    with rasterio.open(like) as src:
        bounds = transform_bounds(polygons.crs, src.crs, *polygons.total_bounds, densify_pts=21)
        inner = rasterio.windows.from_bounds(*bounds, transform=src.transform)
        col0, row0 = math.floor(inner.col_off), math.floor(inner.row_off)
        col1, row1 = math.ceil(inner.col_off + inner.width), math.ceil(inner.row_off + inner.height)
        col0, row0, col1, row1 = max(col0, 0), max(row0, 0), min(col1, src.width), min(row1, src.height)
        window = Window(col0, row0, max(col1 - col0, 1), max(row1 - row0, 1))
        return src.crs, src.window_transform(window), (int(window.height), int(window.width))
