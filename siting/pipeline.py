"""Run the stages in order and write the outputs atomically."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from siting import __version__
from siting.allocation import (
    assign_to_nearest_home,
    catchments,
    children_only_served_by,
    write_nearest_home_raster,
)
from siting.candidates import DEFAULT_HOME_COST_CNY, add_candidate_sites, sites_at_community_seats
from siting.charts import phasing_chart
from siting.costs import CostMatrix, distance_matrix
from siting.demand import build_demand
from siting.errors import InputError, MissingDataError
from siting.inputs import PreparedInputs, file_sha256, prepare_inputs
from siting.models import Plan, solve_lscp, solve_mclp, solve_partial_cover, solve_pmedian
from siting.models.plan import frozen_mapping
from siting.network import SOURCE_STAFF, Network, StaffRules, plan_network
from siting.phasing import PhasedPlan, phase_homes
from siting.population import zonal_children
from siting.report import coverage_by_level, coverage_report, suppress_small_counts, write_bilingual_csv
from siting.report_files import write_report_files
from siting.sample.paths import SamplePaths
from siting.scenario import Scenario, load_scenario
from siting.targets import check_targets, read_targets
from siting.webmap import MapLayers, plan_map, render_map, save_map

__all__ = ["Run", "SampleRun", "SampleRunSettings", "library_versions", "run", "run_sample"]

#: 2019 welfare-lottery budget for children's homes (built 440 homes).
BUDGET_2019_CNY = 13_200_000.0


@dataclass(frozen=True)
class SampleRunSettings:
    """Parameters of a plan on the Yunnan sample (the ``siting demo`` defaults)."""

    radius_m: float = 5_000.0
    budget_cny: float = BUDGET_2019_CNY
    cost_per_home_cny: float = DEFAULT_HOME_COST_CNY
    solver: str = "cbc"
    time_limit_s: float = 120.0
    gap: float = 0.0
    seed: int = 2020
    targets_path: Path | None = None
    small_count_threshold: int = 5

    def __post_init__(self) -> None:
        if self.radius_m <= 0:
            raise InputError(f"radius_m must be positive, got {self.radius_m}")
        if self.budget_cny < 0:
            raise InputError(f"budget_cny must be ≥ 0, got {self.budget_cny}")
        if self.cost_per_home_cny <= 0:
            raise InputError(f"cost_per_home_cny must be positive, got {self.cost_per_home_cny}")


@dataclass(frozen=True, eq=False)
class Run:
    """A finished run: the plan, the tables, the layers and where they were written.

    In a notebook: ``run.homes``, ``run.catchments``, ``run.communities``,
    ``run.report`` (tables per level), ``run.map()`` (displays inline, offline)
    and ``run.save(path)``.
    """

    scenario: Scenario
    plan: Plan
    summary: pd.DataFrame
    output_dir: Path
    map_path: Path | None
    timings_s: dict[str, float] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    target_results: pd.DataFrame | None = None
    homes: gpd.GeoDataFrame | None = None
    catchments: gpd.GeoDataFrame | None = None
    communities: gpd.GeoDataFrame | None = None
    layers: MapLayers | None = None
    map_title: tuple[str, str] = ("", "")
    map_lines: tuple[str, ...] = ()

    @property
    def report(self) -> dict[str, pd.DataFrame]:
        """Coverage tables per level (province, prefecture, county, township)."""
        return self.tables

    @property
    def children_total(self) -> float:
        return float(self.tables["province"]["children"].iloc[0])

    @property
    def children_covered(self) -> float:
        return float(self.tables["province"]["children_covered"].iloc[0])

    def map(self, **options: Any) -> folium.Map:
        """The plan's map (a folium Map; Jupyter shows it inline, with Leaflet inlined, no internet needed)."""
        if self.layers is None:
            raise InputError("this run has no map layers")
        return plan_map(
            self.layers,
            title_zh=self.map_title[0],
            title_en=self.map_title[1],
            summary_lines=self.map_lines,
            modelled=self.scenario.sample,
            small_count_threshold=self.scenario.small_count_threshold,
            **options,
        )

    def save(self, path: Path | str) -> Path:
        """Copy the run's output folder to ``path`` (which must not exist)."""
        target = Path(path)
        if target.exists():
            raise InputError(f"{target} exists already; choose a new folder")
        shutil.copytree(self.output_dir, target)
        return target


SampleRun = Run


def _write_atomically(out_dir: Path, write: object) -> Path:
    """Call ``write(tmp_dir)`` and rename the folder to ``out_dir`` only if it succeeds."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        write(tmp)  # type: ignore[operator]
        tmp.chmod(0o755)
        if out_dir.exists():
            raise InputError(f"output folder {out_dir} already exists; choose another")
        os.rename(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def _solve(
    scenario: Scenario, costs: CostMatrix, demand: gpd.GeoDataFrame, sites: gpd.GeoDataFrame, existing: tuple[str, ...]
) -> Plan:
    """Run the scenario's model on the cost matrix."""
    codes_d = demand.set_index("demand_id")[["township_code", "county_code"]]
    codes_s = sites.set_index("site_id")[["township_code", "county_code"]]
    common: dict[str, Any] = {
        "existing": existing,
        "forced": scenario.locked_in,
        "excluded": scenario.locked_out,
        "min_per_township": scenario.min_per_township,
        "respect": scenario.respect,
        "demand_codes": codes_d,
        "site_codes": codes_s,
        "solver": scenario.solver,
        "time_limit_s": scenario.time_limit_s,
        "gap": scenario.gap,
        "seed": scenario.seed,
    }
    weights = demand["weight"].to_numpy()
    site_cost = sites["cost_cny"].to_numpy()
    if scenario.model == "mclp":
        return solve_mclp(
            costs,
            weights,
            budget_cny=scenario.budget_cny,
            n_homes=scenario.n_homes,
            site_cost_cny=site_cost,
            capacity=scenario.capacity,
            **common,
        )
    if scenario.model == "lscp":
        return solve_lscp(costs, weights=weights, **common)
    if scenario.model == "partial_cover":
        assert scenario.share is not None
        return solve_partial_cover(costs, weights, share=scenario.share, **common)
    assert scenario.p is not None
    return solve_pmedian(costs, weights, p=scenario.p, capacity=scenario.capacity, **common)


def run(
    scenario: Scenario | Path | str,
    *,
    map_path: Path | None = None,
    run_dir: Path | None = None,
    progress: bool = False,
) -> Run:
    """Run a scenario: demand, costs, model, allocation, report, map; write the outputs atomically.

    Parameters
    ----------
    scenario
        A :class:`Scenario` or the path of a scenario TOML file.
    map_path
        Also write the map here (e.g. ``maps/yunnan_demo.html``).
    run_dir
        Write here instead of ``<outputs>/<scenario name>/<timestamp>/`` (must not exist).
    progress
        Show a progress bar (tqdm) on a terminal.

    Returns
    -------
    Run
        The plan, the tables, the layers and where they were written.
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    stages = ["read", "demand", "costs", "model", "report", "map", "write"]
    bar = tqdm(total=len(stages), desc=f"siting {scenario.name}", disable=not progress, leave=False)

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 3)
        clock = now
        bar.set_postfix_str(name)
        bar.update(1)

    work = Path(tempfile.mkdtemp(prefix="siting-work-"))
    try:
        inputs = prepare_inputs(scenario, work_dir=work)
        communities = inputs.communities
        crs = inputs.crs
        lap("read")

        zonal = zonal_children(inputs.raster_path, communities, id_column="community_code")
        demand = build_demand(
            communities, zonal, priority=inputs.priority, priority_factors=dict(scenario.priority_factors)
        )
        sites = sites_at_community_seats(
            communities,
            seat_x=communities["seat_x"].to_numpy(),
            seat_y=communities["seat_y"].to_numpy(),
            existing_ids=inputs.existing_ids,
            cost_cny=scenario.cost_per_home_cny,
        )
        if scenario.candidate_sites is not None:
            sites = add_candidate_sites(
                sites,
                scenario.candidate_sites,
                communities=communities,
                cost_cny=scenario.cost_per_home_cny,
                cost_column=scenario.site_cost_column,
            )
        if scenario.admit_only_near_station:
            far = sites_far_from_station(sites, communities, demand, inputs, scenario)
            scenario = scenario.with_changes(locked_out=tuple(sorted(set(scenario.locked_out) | set(far))))
        lap("demand")
        cutoff = scenario.standard_m
        costs = distance_matrix(
            demand.geometry.get_coordinates().to_numpy(),
            sites.geometry.get_coordinates().to_numpy(),
            demand_ids=demand["demand_id"],
            site_ids=sites["site_id"],
            cutoff_m=cutoff,
            crs=crs,
        )
        lap("costs")
        phased = None
        if scenario.phasing_years:
            phased, plan = _phase(scenario, costs, demand, sites, inputs.existing_ids)
        else:
            plan = _solve(scenario, costs, demand, sites, inputs.existing_ids)
        lap("model")

        allocation = assign_to_nearest_home(
            costs,
            plan.site_ids,
            standard=scenario.standard_m,
            demand=demand,
            sites=sites,
            assignment=plan.assignment,
            respect=scenario.respect,
        )
        groups = [c for c in (inputs.priority.columns if inputs.priority is not None else []) if c != "community_code"]
        tables = coverage_report(demand, allocation, sites, plan, priority_groups=groups, names=inputs.unit_names)
        targets = (
            read_targets(scenario.targets_file, metrics=list(tables["county"].columns))
            if scenario.targets_file
            else None
        )
        target_results = check_targets(tables, targets) if targets else None
        uncovered = _uncovered_communities(communities, demand, allocation)
        areas = catchments(communities, demand, allocation, priority_groups=groups)
        lap("report")

        homes = describe_homes(
            sites,
            plan,
            demand,
            allocation,
            communities,
            costs=costs,
            standard=scenario.standard_m,
            priority_groups=groups,
        )
        names_by_code = inputs.unit_names.set_index("unit_code")["unit_name_zh"]
        homes["township_name"] = homes["township_code"].map(names_by_code)
        homes["county_name"] = homes["county_code"].map(names_by_code)
        homes["build_year"] = homes["site_id"].map(phased.build_year if phased else {}).astype("Float64")
        seats_pts = community_seats(communities, demand)
        seats = county_seat_points(inputs)
        network = plan_network(
            homes,
            seats_pts,
            county_seats=seats,
            institutions=inputs.institutions,
            max_home_station_m=scenario.max_home_station_m,
            max_station_centre_m=scenario.max_station_centre_m,
            staff_rules=StaffRules(
                communities_per_supervisor=scenario.communities_per_supervisor,
                supervisor_cny_per_month=scenario.supervisor_cny_per_month,
            ),
        )
        com_view = communities[["community_code", "community_name", "geometry"]].assign(
            children=demand["children"].to_numpy(),
            covered=allocation["covered"].to_numpy(),
            site_id=allocation["site_id"].to_numpy(),
            distance_m=allocation["distance_m"].to_numpy(),
            nearest_distance_m=allocation["nearest_distance_m"].to_numpy(),
            seat_x=communities["seat_x"].to_numpy(),
            seat_y=communities["seat_y"].to_numpy(),
        )
        province = tables["province"].iloc[0]
        lines = [
            f"方案 scenario: {scenario.name}",
            f"儿童之家 homes: 已有 existing {int(province['homes_existing']):,} + 新建 new "
            f"{int(province['homes_new']):,}",
            f"覆盖儿童 children covered ({scenario.standard_m / 1000:g} km): {province['children_covered']:,.0f} / "
            f"{province['children']:,.0f} ({province['children_covered_pct']:.1f}%)",
            f"资金 build cost: {province['build_cost_cny']:,.0f} CNY",
            f"日期 date: {datetime.now(UTC):%Y-%m-%d}",
        ]
        layers = MapLayers(
            counties=inputs.counties,
            communities=com_view,
            homes=homes,
            townships=inputs.townships,
            catchments=areas,
            raster_path=inputs.raster_path,
            stations=network.stations,
            centres=network.centres,
        )
        map_title = ("云南省儿童之家布局方案", "Yunnan children's homes plan")
        page = None
        if scenario.write_map or map_path is not None:
            page = render_map(
                plan_map(
                    layers,
                    title_zh=map_title[0],
                    title_en=map_title[1],
                    summary_lines=lines,
                    modelled=inputs.modelled,
                    small_count_threshold=scenario.small_count_threshold,
                )
            )
        lap("map")

        target_dir = run_dir or scenario.outputs_dir / scenario.name / datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        summary = coverage_by_level(tables, level="prefecture")
        record = {
            "siting_version": __version__,
            "library_versions": library_versions(),
            "scenario": scenario.to_dict(),
            "inputs": {str(f): file_sha256(f) for f in inputs.input_files if f.is_file()},
            "plan": {
                "model": plan.model,
                "status": plan.status,
                "solver": plan.solver,
                "objective": plan.objective,
                "bound": plan.bound,
                "gap": plan.gap,
                "homes_existing": len(plan.existing_ids),
                "homes_new": plan.n_new,
                "timings_s": dict(plan.timings_s),
                "new_ids": list(plan.new_ids),
                "unreachable": len(plan.unreachable_ids),
            },
            "children_total": float(province["children"]),
            "children_covered": float(province["children_covered"]),
            "build_cost_cny": float(province["build_cost_cny"]),
            "all_targets_met": None if target_results is None else bool(target_results["passed"].all()),
            "modelled_data": inputs.modelled,
        }

        def write(tmp: Path) -> None:
            write_bilingual_csv(
                suppress_small_counts(
                    summary, ["priority_children", "priority_covered"], threshold=scenario.small_count_threshold
                ),
                tmp / "summary_by_prefecture.csv",
            )
            homes.drop(columns="geometry").assign(x_m=homes.geometry.x, y_m=homes.geometry.y).to_csv(
                tmp / "homes.csv", index=False, encoding="utf-8"
            )
            allocation.to_csv(tmp / "assignment.csv", index=False)
            if page is not None:
                save_map(page, tmp / "map.html")
            extra = {"人员 staff": staff_table(network)}
            if phased is not None:
                extra["分年 by year"] = phased.table()
                phased.table().to_csv(tmp / "phasing.csv", index=False)
                phasing_chart(phased.table(), tmp / "phasing.png")
            write_report_files(
                tables,
                tmp,
                target_results=target_results,
                uncovered=uncovered,
                small_count_threshold=scenario.small_count_threshold,
                extra_tables=extra,
            )
            network.links.to_csv(tmp / "links.csv", index=False)
            gpkg = tmp / "plan.gpkg"
            homes.to_file(gpkg, layer="homes", driver="GPKG")
            areas.to_file(gpkg, layer="catchments", driver="GPKG")
            com_view.merge(
                communities[["community_code", "township_code", "county_code", "prefecture_code"]], on="community_code"
            ).assign(nearest_site_id=allocation["nearest_site_id"].to_numpy()).to_file(
                gpkg, layer="communities", driver="GPKG"
            )
            county_columns = [
                c
                for c in ("county_code", "county_name_zh", "county_name_en", "prefecture_code")
                if c in inputs.counties.columns
            ]
            inputs.counties[[*county_columns, "geometry"]].to_file(gpkg, layer="counties", driver="GPKG")
            if inputs.raster_path.exists():
                write_nearest_home_raster(areas, like=inputs.raster_path, out_path=tmp / "nearest_home.tif")
            network.stations.to_file(gpkg, layer="stations", driver="GPKG")
            network.centres.to_file(gpkg, layer="centres", driver="GPKG")
            timings_now = dict(timings)
            timings_now["write"] = round(time.perf_counter() - clock, 3)
            (tmp / "run.json").write_text(
                json.dumps({**record, "timings_s": timings_now}, ensure_ascii=False, indent=2, default=str),
                encoding="utf-8",
            )

        _write_atomically(target_dir, write)
        written_map = save_map(page, map_path) if (map_path is not None and page is not None) else None
        lap("write")
    finally:
        bar.close()
        shutil.rmtree(work, ignore_errors=True)
    return Run(
        scenario=scenario,
        plan=plan,
        summary=summary,
        output_dir=target_dir,
        map_path=written_map,
        timings_s=timings,
        tables=tables,
        target_results=target_results,
        homes=homes,
        catchments=areas,
        communities=com_view,
        layers=layers,
        map_title=map_title,
        map_lines=tuple(lines),
    )


def _phase(
    scenario: Scenario, costs: CostMatrix, demand: gpd.GeoDataFrame, sites: gpd.GeoDataFrame, existing: tuple[str, ...]
) -> tuple[PhasedPlan, Plan]:
    """Yearly build plan (and the plan it adds up to) for a scenario with a [phasing] table."""
    started = time.perf_counter()
    phased = phase_homes(
        costs,
        demand["weight"].to_numpy(),
        years=scenario.phasing_years,
        budgets_cny=scenario.phasing_budgets_cny,
        site_cost_cny=sites["cost_cny"].to_numpy(),
        existing=existing,
        excluded=scenario.locked_out,
        standard=scenario.standard_m,
        carry_over=scenario.carry_over,
        method=scenario.phasing_method,
        solver=scenario.solver,
        time_limit_s=scenario.time_limit_s,
    )
    new_ids = tuple(sorted(phased.build_year))
    bound = phased.bound_by_year[-1]
    objective = phased.covered_by_year[-1]
    plan = Plan(
        model="phased_mclp",
        parameters=frozen_mapping(
            {
                "years": list(phased.years),
                "budgets_cny": list(scenario.phasing_budgets_cny),
                "carry_over": scenario.carry_over,
                "method": phased.method,
                "standard": scenario.standard_m,
                "unit": costs.unit,
            }
        ),
        site_ids=tuple(sorted(set(existing) | set(new_ids))),
        existing_ids=tuple(existing),
        new_ids=new_ids,
        objective=objective,
        bound=bound,
        gap=None if bound is None else abs(bound - objective) / max(abs(bound), 1e-9),
        status=phased.status,
        solver=f"{phased.method} ({scenario.solver})",
        timings_s=frozen_mapping({"build": 0.0, "solve": time.perf_counter() - started}),
    )
    return phased, plan


def community_seats(communities: gpd.GeoDataFrame, demand: pd.DataFrame) -> gpd.GeoDataFrame:
    """Community seats as points with admin codes and children (summed over sub-community demand points)."""
    children = demand.groupby("community_code")["children"].sum().reindex(communities["community_code"])
    return gpd.GeoDataFrame(
        communities[["community_code", "township_code", "county_code", "prefecture_code"]].assign(
            children=children.to_numpy()
        ),
        geometry=gpd.points_from_xy(communities["seat_x"], communities["seat_y"]),
        crs=communities.crs,
    )


def county_seat_points(inputs: PreparedInputs) -> gpd.GeoDataFrame:
    """County seats of the inputs, or the counties' representative points when none are known."""
    if inputs.county_seats is not None:
        return inputs.county_seats
    return gpd.GeoDataFrame(
        {"county_code": inputs.counties["county_code"]},
        geometry=inputs.counties.geometry.representative_point(),
        crs=inputs.counties.crs,
    )


def sites_far_from_station(
    sites: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    demand: gpd.GeoDataFrame,
    inputs: PreparedInputs,
    scenario: Scenario,
) -> list[str]:
    """Candidate sites farther than ``max_home_station_m`` from their township's station.

    Stations are placed first from the existing homes (or, where a township has none, its
    community seats), as :func:`siting.network.plan_network` does; new homes may then only
    go within reach of them. Existing and locked-in sites are never excluded.
    """
    existing = sites[sites["existing"]].assign(children_served=1.0)
    seats = community_seats(communities, demand)
    county_seats = county_seat_points(inputs)
    stations = plan_network(existing, seats, county_seats=county_seats).stations.set_index("township_code").geometry
    assert scenario.max_home_station_m is not None
    distance = sites.geometry.distance(
        gpd.GeoSeries(stations.reindex(sites["township_code"]).to_numpy(), index=sites.index, crs=sites.crs)
    )
    keep = set(scenario.locked_in) | set(sites.loc[sites["existing"], "site_id"])
    far = sites.loc[distance > scenario.max_home_station_m, "site_id"]
    return [s for s in far if s not in keep]


def staff_table(network: Network) -> pd.DataFrame:
    """Staff per level with the source document's totals beside the province row."""
    rows = []
    for level in ("province", "prefecture", "county"):
        table = network.staff[level].assign(level=level)
        rows.append(table)
    out = pd.concat(rows, ignore_index=True)
    out["source_directors_2019"] = np.where(out["level"] == "province", SOURCE_STAFF["directors"], np.nan)
    out["source_supervisors_2019"] = np.where(out["level"] == "province", SOURCE_STAFF["supervisors"], np.nan)
    return out


def run_sample(
    settings: SampleRunSettings,
    *,
    paths: SamplePaths,
    outputs_dir: Path,
    map_path: Path | None = None,
) -> Run:
    """Plan new homes on the Yunnan sample with the ``siting demo`` settings (MCLP under a budget)."""
    if not paths.is_built():
        raise MissingDataError(f"the Yunnan sample is not built in {paths.modelled_dir}; run 'siting sample build'")
    scenario = Scenario(
        name=outputs_dir.name,
        sample=True,
        data_dir=paths.root.parent,
        standard_m=settings.radius_m,
        model="mclp",
        budget_cny=settings.budget_cny,
        cost_per_home_cny=settings.cost_per_home_cny,
        solver=settings.solver,
        time_limit_s=settings.time_limit_s,
        gap=settings.gap,
        seed=settings.seed,
        targets_file=settings.targets_path,
        outputs_dir=outputs_dir.parent,
        small_count_threshold=settings.small_count_threshold,
    )
    return run(scenario, map_path=map_path)


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape a plan."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in (
        "numpy",
        "scipy",
        "pandas",
        "geopandas",
        "shapely",
        "pyproj",
        "rasterio",
        "scikit-learn",
        "pulp",
        "highspy",
        "folium",
    ):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def _uncovered_communities(
    communities: gpd.GeoDataFrame, demand: gpd.GeoDataFrame, allocation: pd.DataFrame
) -> pd.DataFrame:
    """Communities with demand beyond the standard, with their nearest home and distance."""
    table = demand[["demand_id", "community_code", "township_code", "county_code", "prefecture_code"]].merge(
        allocation[["demand_id", "covered", "nearest_site_id", "nearest_distance_m"]], on="demand_id"
    )
    table = table[~table["covered"]].drop(columns=["covered", "demand_id"])
    names = communities.set_index("community_code")["community_name"]
    table.insert(1, "community_name", table["community_code"].map(names))
    return table.sort_values(["county_code", "community_code"]).drop_duplicates("community_code").reset_index(drop=True)


def describe_homes(
    sites: gpd.GeoDataFrame,
    plan: Plan,
    demand: gpd.GeoDataFrame,
    allocation: pd.DataFrame,
    communities: gpd.GeoDataFrame,
    *,
    costs: CostMatrix,
    standard: float,
    priority_groups: list[str],
) -> gpd.GeoDataFrame:
    """Every open home with what it serves: communities, children, priority children, distances, marginal children."""
    table = demand[["demand_id", "children", *priority_groups]].merge(allocation, on="demand_id")
    table["_priority"] = table[priority_groups].sum(axis=1) if priority_groups else 0.0
    served = table[table["covered"]].groupby("site_id")
    homes = sites[sites["site_id"].isin(plan.site_ids)].copy()
    homes["community_name"] = homes["community_code"].map(communities.set_index("community_code")["community_name"])
    homes["existing"] = homes["site_id"].isin(plan.existing_ids)
    homes["new"] = homes["site_id"].isin(plan.new_ids)
    homes["communities_served"] = homes["site_id"].map(served.size()).fillna(0).astype(int)
    homes["children_served"] = homes["site_id"].map(served["children"].sum()).fillna(0.0)
    homes["priority_served"] = homes["site_id"].map(served["_priority"].sum()).fillna(0.0)
    homes["distance_mean_m"] = homes["site_id"].map(served["distance_m"].mean()).fillna(0.0)
    homes["distance_max_m"] = homes["site_id"].map(served["distance_m"].max()).fillna(0.0)
    added = children_only_served_by(costs, plan.site_ids, standard=standard, children=demand["children"].to_numpy())
    homes["children_added"] = homes["site_id"].map(added).fillna(0.0)
    return homes
