"""The stages of a run, one function each, called in order by :func:`siting.pipeline.run`.

Each stage takes what the earlier ones made and returns plain values (frames, an
:class:`~siting.access.Access`, a :class:`~siting.models.plan.Plan`); none writes a file
(the run folder is written once, by :mod:`siting.rundir`, with the writers of
:func:`run_writers`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from sklearn.neighbors import KDTree

from siting.access import Access, access_from_points, access_from_table
from siting.allocation import allocate as allocate_demand
from siting.allocation import catchments, describe_homes, uncovered_communities, write_nearest_home_raster
from siting.candidates import add_candidate_sites, add_located_homes, sites_at_community_seats
from siting.demand import build_demand
from siting.errors import InputError
from siting.explain import explain_homes, explain_uncovered
from siting.inputs import PreparedInputs, prepare_inputs
from siting.levels import names_by_code
from siting.models.options import SiteOptions, SolverOptions
from siting.models.plan import Plan
from siting.models.registry import MODELS, ModelRequest, PhasingOptions, solve_model
from siting.network import Network, StaffRules, plan_network, sites_beyond_stations, staff_table
from siting.parallel import worker_count
from siting.population import zonal_children
from siting.report.run_files import write_shared_files
from siting.report.summary import Report, build_report
from siting.rundir import RunContents
from siting.sample.paths import sample_paths
from siting.sandbox import SandboxData, sandbox_data
from siting.scenario import Scenario
from siting.travel.access import (
    TravelTimeRaster,
    access_from_terrain,
    nearest_home_minutes,
    write_travel_time_raster,
)
from siting.travel.build import TerrainInputs, build_travel_grid
from siting.travel.grid import TravelGrid
from siting.visits import VisitRules, visiting_time
from siting.webmap import MapLayers

__all__ = [
    "Allocated",
    "Report",
    "access",
    "allocate",
    "candidates",
    "demand",
    "light_layers",
    "map_layers",
    "network",
    "plan",
    "read",
    "report",
    "run_writers",
    "travel_grid",
]

CODE_COLUMNS = ["community_code", "township_code", "county_code", "prefecture_code", "province_code"]


def read(scenario: Scenario, work_dir: Path) -> PreparedInputs:
    """Read and check every input the scenario names."""
    return prepare_inputs(scenario, work_dir=work_dir)


def _priority_groups(inputs: PreparedInputs) -> list[str]:
    return [] if inputs.priority is None else [c for c in inputs.priority.columns if c != "community_code"]


def demand(scenario: Scenario, inputs: PreparedInputs) -> gpd.GeoDataFrame:
    """Children per community from the raster; one demand point each (inside it), with priority counts."""
    zonal = zonal_children(inputs.raster_path, inputs.communities, id_column="community_code")
    points = build_demand(
        inputs.communities, zonal, priority=inputs.priority, priority_factors=dict(scenario.priority_factors)
    )
    for column in ("province_code",):
        points[column] = inputs.communities[column].to_numpy()
    if inputs.priority is not None and not inputs.modelled:
        children = points.set_index("community_code")["children"]
        for group in _priority_groups(inputs):
            counts = points.set_index("community_code")[group]
            over = counts[counts > children + 0.5]
            if len(over):
                shown = [f"{c} ({int(counts[c])} > {children[c]:.1f})" for c in over.index[:10]]
                raise InputError(
                    f"priority registry {scenario.priority_registry}: {group} counts exceed the community's children "
                    f"from the raster in {len(over)} communities: {', '.join(shown)}; check the registry or the raster"
                )
    return points


def candidates(
    scenario: Scenario, inputs: PreparedInputs, points: gpd.GeoDataFrame
) -> tuple[gpd.GeoDataFrame, SiteOptions]:
    """One candidate site per community seat, the existing homes (at their own place where given), extra sites."""
    communities = inputs.communities
    located = "x" in inputs.existing_homes.columns  # homes given by lon/lat, not by community code
    sites = sites_at_community_seats(
        communities,
        seat_x=communities["seat_x"].to_numpy(),
        seat_y=communities["seat_y"].to_numpy(),
        existing_ids=[] if located else inputs.existing_homes["site_id"],
        cost_cny=scenario.cost_per_home_cny,
    )
    if located:
        sites = add_located_homes(sites, inputs.existing_homes, communities=communities)
    if scenario.candidate_sites is not None:
        sites = add_candidate_sites(
            sites,
            scenario.candidate_sites,
            communities=communities,
            cost_cny=scenario.cost_per_home_cny,
            cost_column=scenario.site_cost_column,
        )
    unknown = sorted((set(scenario.locked_in) | set(scenario.locked_out)) - set(sites["site_id"]))
    if unknown:
        raise InputError(
            f"model.locked_in / locked_out name sites that are not candidates of the study area: {unknown[:10]}; "
            "use community codes (or ids of inputs.candidate_sites)"
        )
    excluded = set(scenario.locked_out)
    if scenario.admit_only_near_station:
        assert scenario.max_home_station_m is not None
        seats = _community_seats(communities, points)
        excluded |= set(
            sites_beyond_stations(
                sites,
                seats,
                county_seats=_county_seats(inputs),
                max_home_station_m=scenario.max_home_station_m,
                keep=set(scenario.locked_in),
            )
        )
    options = SiteOptions(
        existing=tuple(sites.loc[sites["existing"], "site_id"]),
        forced=scenario.locked_in,
        excluded=tuple(sorted(excluded)),
        min_per_township=scenario.min_per_township,
        township_of_site=dict(zip(sites["site_id"], sites["township_code"], strict=True))
        if scenario.min_per_township
        else None,
    )
    return sites.reset_index(drop=True), options


def travel_grid(scenario: Scenario, inputs: PreparedInputs) -> TravelGrid:
    """The travel grid over the study area (plus ``access.margin_m``) from the scenario's terrain files."""
    terrain = TerrainInputs.from_scenario(scenario)
    if scenario.sample and scenario.dem is None:  # the sample's own terrain, built with the sample
        paths = sample_paths(scenario.data_dir)
        terrain = replace(
            terrain, dem=paths.dem_tif, roads=paths.roads_gpkg, barriers=paths.water_gpkg, road_class_column="class"
        )
        if scenario.landcover is None:  # MODIS land cover (real) with this project's walking speeds (modelled)
            terrain = replace(terrain, landcover=paths.landcover_tif, speed_table=paths.landcover_speeds_csv)
    west, south, east, north = inputs.communities.total_bounds
    margin = scenario.margin_m
    area = gpd.GeoSeries([inputs.counties.union_all().buffer(margin)], crs=inputs.counties.crs)
    return build_travel_grid(
        (west - margin, south - margin, east + margin, north + margin),
        inputs.communities.crs,
        terrain,
        area=area,
        workers=worker_count(None),
    )


def access(scenario: Scenario, inputs: PreparedInputs, points: gpd.GeoDataFrame, sites: gpd.GeoDataFrame) -> Access:
    """Who can reach which site within the standard, inside the scenario's boundary rule."""
    if scenario.access_mode == "travel_time":
        assert scenario.standard_min is not None
        return access_from_terrain(
            points,
            sites,
            travel_grid(scenario, inputs),
            standard_min=scenario.standard_min,
            direction=scenario.access_direction,
            respect=scenario.respect,
            max_speed_kmh=scenario.max_speed_kmh,
        )
    if scenario.access_mode == "table":
        assert scenario.access_table is not None and scenario.access_table_unit is not None
        standard = scenario.standard_min if scenario.access_table_unit == "min" else scenario.standard_m
        assert standard is not None
        return access_from_table(
            scenario.access_table,
            points,
            sites,
            unit=scenario.access_table_unit,
            standard=standard,
            respect=scenario.respect,
        )
    return access_from_points(points, sites, standard_m=scenario.standard_m, respect=scenario.respect)


def solver_options(scenario: Scenario) -> SolverOptions:
    """The scenario's ``[solver]`` as the models take it."""
    return SolverOptions(name=scenario.solver, time_limit_s=scenario.time_limit_s, gap=scenario.gap, seed=scenario.seed)


def plan(
    scenario: Scenario,
    reach: Access,
    points: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    options: SiteOptions,
    *,
    unit_names: pd.DataFrame | None = None,
) -> Plan:
    """The scenario's model, dispatched by name through the model registry (``unit_names`` name units in errors)."""
    phasing = (
        PhasingOptions(
            years=scenario.phasing_years,
            budgets_cny=scenario.phasing_budgets_cny,
            carry_over=scenario.carry_over,
            method=scenario.phasing_method,
        )
        if scenario.phasing_years
        else None
    )
    request = ModelRequest(
        access=reach,
        weights=points["weight"].to_numpy(dtype=float),
        site_cost_cny=sites["cost_cny"].to_numpy(dtype=float),
        sites=options,
        solver=solver_options(scenario),
        options=scenario.model_options,
        phasing=phasing,
        unit_of_demand={
            level: dict(zip(points["demand_id"].astype(str), points[f"{level}_code"].astype(str), strict=True))
            for level in ("county", "township")
        }
        if scenario.min_share or scenario.max_min
        else {},
        unit_names=None if unit_names is None else {str(k): str(v) for k, v in names_by_code(unit_names).items()},
    )
    return solve_model(scenario.model, request)


@dataclass(frozen=True, eq=False)
class Allocated:
    """Who serves whom: the assignment, the catchments, the homes described, the communities' view."""

    allocation: pd.DataFrame
    catchments: gpd.GeoDataFrame
    homes: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame
    uncovered: pd.DataFrame
    travel_time: TravelTimeRaster | None = None


def _why(homes: gpd.GeoDataFrame, points: gpd.GeoDataFrame, reach: Access, plan_: Plan) -> gpd.GeoDataFrame:
    """Why each new home: uncovered children of its township before → after, nearest existing home (straight line)."""
    cover = reach.within_standard().tocsc()
    existing_pos = reach.costs.site_positions(list(plan_.existing_ids))
    plan_pos = reach.costs.site_positions(list(plan_.site_ids))
    before = np.asarray(cover[:, existing_pos].sum(axis=1)).ravel() == 0
    after = np.asarray(cover[:, plan_pos].sum(axis=1)).ravel() == 0
    children = points["children"].to_numpy(dtype=float)
    town = points["township_code"].to_numpy()
    before_by = pd.Series(children * before).groupby(town).sum()
    after_by = pd.Series(children * after).groupby(town).sum()
    out = homes.copy()
    out["township_uncovered_before"] = out["township_code"].map(before_by)
    out["township_uncovered_after"] = out["township_code"].map(after_by)
    existing_xy = out.loc[out["existing"], "geometry"].get_coordinates().to_numpy()
    out["nearest_existing_m"] = np.nan
    new = ~out["existing"].to_numpy()
    if len(existing_xy) and new.any():
        distance, _ = KDTree(existing_xy).query(out.loc[new, "geometry"].get_coordinates().to_numpy(), k=1)
        out.loc[new, "nearest_existing_m"] = distance[:, 0]
    return out


def allocate(
    inputs: PreparedInputs,
    points: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    reach: Access,
    plan_: Plan,
    *,
    excluded: Sequence[str] = (),
) -> Allocated:
    """Assign demand to homes, draw catchments, describe and explain the homes, list and explain uncovered
    communities (``excluded``: the sites the user excluded, never an alternative)."""
    groups = _priority_groups(inputs)
    allocation = allocate_demand(reach, plan_)
    communities = inputs.communities
    areas = catchments(communities, points, allocation, reach, priority_groups=groups)
    names = communities.set_index("community_code")["community_name"]
    homes = describe_homes(
        sites, plan_, points, allocation, reach, names=inputs.unit_names, community_names=names, priority_groups=groups
    )
    homes = _why(homes, points, reach, plan_)
    by_demand = points.set_index(points["demand_id"].astype(str)).reindex(reach.demand_ids.astype(str))
    demand_children = by_demand["children"].to_numpy(dtype=float)
    site_names = sites.set_index("site_id")["community_code"].map(names)
    site_names = site_names.where(site_names.notna(), site_names.index.to_series())
    homes = explain_homes(
        homes,
        reach,
        children=demand_children,
        site_township=sites.set_index("site_id")["township_code"].astype(str),
        excluded=excluded,
        site_names=site_names,
    )
    per_point = points[["demand_id", "community_code", "children"]].merge(allocation, on="demand_id")
    # One row per community: the home serving most of its children.
    main = per_point.sort_values(["community_code", "children"], ascending=[True, False]).drop_duplicates(
        "community_code"
    )
    main = main.set_index("community_code").reindex(communities["community_code"])
    children = per_point.groupby("community_code")["children"].sum().reindex(communities["community_code"])
    view = communities[[*CODE_COLUMNS, "community_name", "geometry"]].assign(
        children=children.to_numpy(),
        covered=main["covered"].fillna(False).astype(bool).to_numpy(),
        site_id=main["site_id"].to_numpy(),
        **{
            reach.column(): main[reach.column()].to_numpy(),
            reach.column("nearest"): main[reach.column("nearest")].to_numpy(),
        },
        nearest_site_id=main["nearest_site_id"].to_numpy(),
        seat_x=communities["seat_x"].to_numpy(),
        seat_y=communities["seat_y"].to_numpy(),
    )
    travel = nearest_home_minutes(reach, list(plan_.site_ids), communities.geometry) if reach.grid is not None else None
    added = homes.loc[homes["new"], "children_added"]
    uncovered = explain_uncovered(
        uncovered_communities(communities, points, allocation, reach, names=inputs.unit_names),
        reach,
        children=demand_children,
        demand_community=by_demand["community_code"].astype(str).to_numpy(),
        open_site_ids=list(plan_.site_ids),
        excluded=excluded,
        least_added=float(added.min()) if len(added) else None,
        site_names=site_names,
        limit=_limit_of(plan_),
    )
    return Allocated(allocation, areas, homes, view, uncovered, travel)


def _limit_of(plan_: Plan) -> str:
    """What stops a plan short of a village: its budget, its number of homes, its share or its p."""
    if plan_.model == "partial_cover":
        return "share"
    if plan_.model == "pmedian":
        return "p"
    if plan_.model == "mclp" and plan_.parameters.get("budget_cny") is None and plan_.parameters.get("n_homes"):
        return "homes"
    return "budget"


def _community_seats(communities: gpd.GeoDataFrame, points: pd.DataFrame) -> gpd.GeoDataFrame:
    children = points.groupby("community_code")["children"].sum().reindex(communities["community_code"])
    return gpd.GeoDataFrame(
        communities[CODE_COLUMNS].assign(children=children.to_numpy()),
        geometry=gpd.points_from_xy(communities["seat_x"], communities["seat_y"]),
        crs=communities.crs,
    )


def _county_seats(inputs: PreparedInputs) -> gpd.GeoDataFrame:
    if inputs.county_seats is not None:
        return inputs.county_seats
    return gpd.GeoDataFrame(
        {"county_code": inputs.counties["county_code"]},
        geometry=inputs.counties.geometry.representative_point(),
        crs=inputs.counties.crs,
    )


def _staff_rules(scenario: Scenario) -> StaffRules:
    return StaffRules(
        communities_per_supervisor=scenario.communities_per_supervisor,
        supervisor_cny_per_month=scenario.supervisor_cny_per_month,
    )


def network(
    scenario: Scenario,
    inputs: PreparedInputs,
    points: gpd.GeoDataFrame,
    homes: gpd.GeoDataFrame,
    *,
    grid: TravelGrid | None = None,
) -> Network:
    """The three tiers: homes → township stations → county centres, the staff they need and the visiting time
    (over ``grid`` in a travel-time run, else by straight lines)."""
    seats = _community_seats(inputs.communities, points)
    net = plan_network(
        homes,
        seats,
        county_seats=_county_seats(inputs),
        institutions=inputs.institutions,
        max_home_station_m=scenario.max_home_station_m,
        max_station_centre_m=scenario.max_station_centre_m,
        staff_rules=_staff_rules(scenario),
    )
    groups = _priority_groups(inputs)
    counts = points.groupby("community_code")[groups].sum().reindex(seats["community_code"]) if groups else None
    visits = visiting_time(
        seats if counts is None else seats.assign(**{g: counts[g].to_numpy() for g in groups}),
        net.stations,
        rules=VisitRules(
            visit_kmh=scenario.visit_kmh,
            detour_factor=scenario.detour_factor,
            visit_min=scenario.visit_min,
            supervisor_hours_per_month=scenario.supervisor_hours_per_month,
            home_visit_min=scenario.home_visit_min,
        ),
        grid=grid,
        priority_columns=tuple(groups),
    )
    visits.insert(1, "unit_name_zh", visits["township_code"].map(names_by_code(inputs.unit_names)))
    return replace(net, visits=visits)


def report(
    scenario: Scenario,
    inputs: PreparedInputs,
    points: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    reach: Access,
    plan_: Plan,
    allocated: Allocated,
    net: Network,
) -> Report:
    """Coverage per level, the targets, staff, and the lines a planner reads first."""
    return build_report(
        scenario,
        inputs,
        points,
        sites,
        reach,
        plan_,
        allocated.allocation,
        staff=staff_table(net, source_figures=inputs.source_staff, names=inputs.unit_names),
        staff_rules=_staff_rules(scenario),
        groups=_priority_groups(inputs),
        model_title=MODELS[scenario.model].title,
    )


def sandbox(
    scenario: Scenario,
    inputs: PreparedInputs,
    points: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    reach: Access,
    plan_: Plan,
    allocation: pd.DataFrame,
) -> SandboxData | None:
    """What the sandbox map and ``siting evaluate`` need: communities, candidate sites, pairs within the standard.

    None when a community is split over several demand points (an API option).
    """
    if points["demand_id"].nunique() != points["community_code"].nunique():
        return None
    names = inputs.communities.set_index("community_code")["community_name"]
    nearest = points[["demand_id"]].merge(allocation, on="demand_id", how="left")
    return sandbox_data(
        points.assign(
            community_name=points["community_code"].map(names).fillna(points["community_code"]),
            nearest_site_id=nearest["nearest_site_id"].to_numpy(),
            nearest_cost=nearest[reach.column("nearest")].to_numpy(dtype=float),
        ),
        sites,
        reach,
        plan_,
        unit_names=inputs.unit_names,
        priority_columns=_priority_groups(inputs),
        budget_cny=scenario.budget_cny,
        threshold=scenario.small_count_threshold,
    )


def map_layers(inputs: PreparedInputs, allocated: Allocated, net: Network, reach: Access) -> MapLayers:
    """What the map draws."""
    prefectures = inputs.counties.dissolve(by="prefecture_code", as_index=False)[["prefecture_code", "geometry"]]
    names = names_by_code(inputs.unit_names)
    prefectures["prefecture_name"] = prefectures["prefecture_code"].map(names).fillna(prefectures["prefecture_code"])
    counties = inputs.counties.copy()
    counties["county_name_zh"] = counties["county_code"].map(names).fillna(counties["county_code"])
    if "county_name_en" not in counties:
        counties["county_name_en"] = ""
    return MapLayers(
        counties=counties,
        communities=allocated.communities,
        homes=allocated.homes,
        unit=reach.unit,
        townships=inputs.townships,
        prefectures=prefectures if prefectures["prefecture_code"].nunique() > 1 else None,
        catchments=allocated.catchments,
        raster_path=inputs.raster_path,
        stations=net.stations
        if net.visits is None
        else net.stations.merge(
            net.visits[["township_code", "supervisor_hours_per_month", "supervisors_needed"]],
            on="township_code",
            how="left",
        ),
        centres=net.centres,
        travel_time=allocated.travel_time,
    )


def light_layers(layers: MapLayers) -> MapLayers:
    """The layers of a light map (for notebooks): outlines, homes and uncovered children."""
    return replace(
        layers,
        catchments=None,
        raster_path=None,
        townships=None,
        stations=None,
        centres=None,
        travel_time=None,
        community_polygons=False,
    )


def run_writers(contents: RunContents) -> list[Callable[[Path], None]]:
    """What goes into a run's folder, for :func:`siting.rundir.write_run`.

    The report wing's files, then (when the run has them) the nearest-home rasters, the
    sandbox's arrays and the map page.
    """
    writers: list[Callable[[Path], None]] = [functools.partial(write_shared_files, contents=contents)]
    like, travel_time, sandbox_, page = contents.raster_like, contents.travel_time, contents.sandbox, contents.page
    if like is not None and like.exists():

        def nearest_raster(tmp: Path) -> None:
            write_nearest_home_raster(
                contents.catchments,
                like=like,
                resolution_m=contents.raster_resolution_m,
                out_path=tmp / "nearest_home.tif",
            )

        writers.append(nearest_raster)
    if travel_time is not None:
        modelled = bool(contents.record.get("modelled_data"))
        writers.append(
            lambda tmp: write_travel_time_raster(travel_time, tmp / "nearest_home_time.tif", modelled=modelled)
        )
    if sandbox_ is not None:
        writers.append(lambda tmp: sandbox_.save(tmp / "sandbox.npz"))
    if page is not None:

        def map_page(tmp: Path) -> None:
            (tmp / "map.html").write_text(page, encoding="utf-8")

        writers.append(map_page)
    return writers
