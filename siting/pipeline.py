"""Run the stages in order and write the outputs atomically."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import pandas as pd

from siting import __version__
from siting.allocation import (
    assign_to_nearest_home,
    catchments,
    children_only_served_by,
    write_nearest_home_raster,
)
from siting.boundaries import working_crs
from siting.candidates import DEFAULT_HOME_COST_CNY, sites_at_community_seats
from siting.costs import CostMatrix, distance_matrix
from siting.demand import build_demand
from siting.errors import DataError, InputError
from siting.models import Plan, solve_mclp
from siting.population import zonal_children
from siting.report import coverage_by_level, coverage_report, write_bilingual_csv
from siting.report_files import write_report_files
from siting.sample.paths import SamplePaths
from siting.sample.real import load_communities_table, load_counties, load_prefectures
from siting.targets import check_targets, read_targets
from siting.webmap import MapLayers, plan_map, render_map, save_map

__all__ = ["SampleRun", "SampleRunSettings", "run_sample"]

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


@dataclass(frozen=True)
class SampleRun:
    """What a run produced: the plan, the tables and where they were written."""

    settings: SampleRunSettings
    plan: Plan
    summary: pd.DataFrame
    output_dir: Path
    map_path: Path | None
    timings_s: dict[str, float] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    target_results: pd.DataFrame | None = None

    @property
    def children_total(self) -> float:
        return float(self.summary["children"].iloc[-1])

    @property
    def children_covered(self) -> float:
        return float(self.summary["children_covered"].iloc[-1])


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


def run_sample(
    settings: SampleRunSettings,
    *,
    paths: SamplePaths,
    outputs_dir: Path,
    map_path: Path | None = None,
) -> SampleRun:
    """Plan new homes on the Yunnan sample: demand, costs, MCLP, allocation, report, map.

    Parameters
    ----------
    settings
        Model parameters.
    paths
        The sample (must be built).
    outputs_dir
        Parent folder; the run writes ``outputs_dir/<timestamp>/``.
    map_path
        Where to also write the map (e.g. ``maps/yunnan_demo.html``).
    """
    if not paths.is_built():
        raise DataError(f"the Yunnan sample is not built in {paths.modelled_dir}; run 'siting sample build'")
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 3)
        clock = now

    counties = load_counties(paths)
    crs = working_crs(tuple(counties.total_bounds))
    communities = gpd.read_file(paths.communities_gpkg, layer="communities").to_crs(crs)
    communities = communities.sort_values("community_code").reset_index(drop=True)
    priority = pd.read_csv(paths.priority_csv, dtype={"community_code": str})
    existing = pd.read_csv(paths.existing_homes_csv, dtype={"site_id": str, "community_code": str})
    lap("read")

    zonal = zonal_children(paths.children_tif, communities, id_column="community_code")
    demand = build_demand(communities, zonal, priority=priority)
    seats = gpd.GeoSeries.from_xy(communities["seat_lon"], communities["seat_lat"], crs="EPSG:4326").to_crs(crs)
    sites = sites_at_community_seats(
        communities,
        seat_x=seats.x.to_numpy(),
        seat_y=seats.y.to_numpy(),
        existing_ids=existing["site_id"],
        cost_cny=settings.cost_per_home_cny,
    )
    lap("demand")

    costs = distance_matrix(
        demand.geometry.get_coordinates().to_numpy(),
        sites.geometry.get_coordinates().to_numpy(),
        demand_ids=demand["demand_id"],
        site_ids=sites["site_id"],
        cutoff_m=settings.radius_m,
        crs=crs,
    )
    lap("costs")

    plan = solve_mclp(
        costs,
        demand["weight"].to_numpy(),
        budget_cny=settings.budget_cny,
        site_cost_cny=sites["cost_cny"].to_numpy(),
        existing=existing["site_id"],
        solver=settings.solver,
        time_limit_s=settings.time_limit_s,
        gap=settings.gap,
        seed=settings.seed,
    )
    lap("model")

    allocation = assign_to_nearest_home(costs, plan.site_ids, standard=settings.radius_m, demand=demand, sites=sites)
    names = load_prefectures(paths)[["prefecture_code", "prefecture_name_zh", "prefecture_name_en"]]
    summary = coverage_by_level(demand, allocation, sites, plan, level="prefecture_code", names=names)
    groups = ["left_behind", "difficult_circumstances", "dibao"]
    tables = coverage_report(demand, allocation, sites, plan, priority_groups=groups, names=unit_names(paths))
    targets = (
        read_targets(settings.targets_path, metrics=list(tables["county"].columns)) if settings.targets_path else None
    )
    target_results = check_targets(tables, targets) if targets else None
    uncovered = _uncovered_communities(communities, demand, allocation)
    areas = catchments(communities, demand, allocation, priority_groups=groups)
    summary.loc[summary.index[-1], ["prefecture_name_zh", "prefecture_name_en"]] = ["云南省", "Yunnan Province"]
    lap("report")

    homes = describe_homes(
        sites, plan, demand, allocation, communities, costs=costs, standard=settings.radius_m, priority_groups=groups
    )
    names_by_code = unit_names(paths).set_index("unit_code")["unit_name_zh"]
    homes["township_name"] = homes["township_code"].map(names_by_code)
    homes["county_name"] = homes["county_code"].map(names_by_code)
    com_view = communities[["community_code", "community_name", "geometry"]].assign(
        children=demand["children"].to_numpy(),
        covered=allocation["covered"].to_numpy(),
        site_id=allocation["site_id"].to_numpy(),
        distance_m=allocation["distance_m"].to_numpy(),
        nearest_distance_m=allocation["nearest_distance_m"].to_numpy(),
        seat_x=seats.x.to_numpy(),
        seat_y=seats.y.to_numpy(),
    )
    province = summary.iloc[-1]
    cost_used = float(province["build_cost_cny"])
    lines = [
        f"儿童之家 homes: 已有 existing {int(province['homes_existing']):,} + 新建 new {int(province['homes_new']):,}",
        f"覆盖儿童 children covered ({settings.radius_m / 1000:g} km): {province['children_covered']:,.0f} / "
        f"{province['children']:,.0f} ({province['children_covered_pct']:.1f}%)",
        f"资金 budget used: {cost_used:,.0f} / {settings.budget_cny:,.0f} CNY",
        f"日期 date: {datetime.now(UTC):%Y-%m-%d}",
    ]
    townships = gpd.read_file(paths.communities_gpkg, layer="townships").to_crs(crs)
    fmap = plan_map(
        MapLayers(
            counties=counties.to_crs(crs),
            communities=com_view,
            homes=homes,
            townships=townships,
            catchments=areas,
            raster_path=paths.children_tif,
        ),
        title_zh="云南省儿童之家布局方案 (示例)",
        title_en="Yunnan children's homes plan (sample)",
        summary_lines=lines,
        modelled=True,
        small_count_threshold=settings.small_count_threshold,
    )
    page = render_map(fmap)
    lap("map")

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    run_dir = outputs_dir / stamp

    def write(tmp: Path) -> None:
        write_bilingual_csv(summary, tmp / "summary_by_prefecture.csv")
        homes.drop(columns="geometry").assign(x_m=homes.geometry.x, y_m=homes.geometry.y).to_csv(
            tmp / "homes.csv", index=False, encoding="utf-8"
        )
        allocation.to_csv(tmp / "assignment.csv", index=False)
        save_map(page, tmp / "map.html")
        write_report_files(
            tables,
            tmp,
            target_results=target_results,
            uncovered=uncovered,
            small_count_threshold=settings.small_count_threshold,
        )
        gpkg = tmp / "plan.gpkg"
        homes.to_file(gpkg, layer="homes", driver="GPKG")
        areas.to_file(gpkg, layer="catchments", driver="GPKG")
        com_view.merge(
            communities[["community_code", "township_code", "county_code", "prefecture_code"]], on="community_code"
        ).assign(nearest_site_id=allocation["nearest_site_id"].to_numpy()).to_file(
            gpkg, layer="communities", driver="GPKG"
        )
        counties[["county_code", "county_name_zh", "county_name_en", "prefecture_code", "geometry"]].to_file(
            gpkg, layer="counties", driver="GPKG"
        )
        write_nearest_home_raster(areas, like=paths.children_tif, out_path=tmp / "nearest_home.tif")
        record = {
            "siting_version": __version__,
            "settings": asdict(settings),
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
            },
            "children_total": float(province["children"]),
            "children_covered": float(province["children_covered"]),
            "build_cost_cny": cost_used,
            "all_targets_met": None if target_results is None else bool(target_results["passed"].all()),
            "timings_s": timings,
            "modelled_data": True,
        }
        (tmp / "run.json").write_text(json.dumps(record, ensure_ascii=False, indent=2, default=str), encoding="utf-8")

    _write_atomically(run_dir, write)
    written_map = None
    if map_path is not None:
        written_map = save_map(page, map_path)
    lap("write")
    return SampleRun(
        settings=settings,
        plan=plan,
        summary=summary,
        output_dir=run_dir,
        map_path=written_map,
        timings_s=timings,
        tables=tables,
        target_results=target_results,
    )


def unit_names(paths: SamplePaths) -> pd.DataFrame:
    """``unit_code``, ``unit_name_zh``, ``unit_name_en`` for the province, prefectures, counties and townships."""
    prefectures = load_prefectures(paths)
    counties = pd.read_csv(paths.counties_csv, dtype={"county_code": str})
    towns = load_communities_table(paths).drop_duplicates("township_code")
    parts = [
        pd.DataFrame({"unit_code": ["530000"], "unit_name_zh": ["云南省"], "unit_name_en": ["Yunnan Province"]}),
        prefectures.rename(
            columns={
                "prefecture_code": "unit_code",
                "prefecture_name_zh": "unit_name_zh",
                "prefecture_name_en": "unit_name_en",
            }
        )[["unit_code", "unit_name_zh", "unit_name_en"]],
        counties.rename(
            columns={"county_code": "unit_code", "county_name_zh": "unit_name_zh", "county_name_en": "unit_name_en"}
        )[["unit_code", "unit_name_zh", "unit_name_en"]],
        pd.DataFrame({"unit_code": towns["township_code"], "unit_name_zh": towns["township_name"], "unit_name_en": ""}),
    ]
    return pd.concat(parts, ignore_index=True)


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
