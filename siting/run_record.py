"""What a finished run writes, gathered before the folder is touched: the record for ``run.json`` and the contents.

The last step before :func:`siting.rundir.write_run`: it takes what the stages made and
names it for the run folder (tables, layers, the record of the scenario, versions,
input hashes, the access stage and the solver's status).
"""

from __future__ import annotations

import pandas as pd

from siting import __version__
from siting.access import Access, format_cost
from siting.inputs import PreparedInputs, file_sha256
from siting.levels import names_by_code
from siting.models.plan import Plan
from siting.network import Network
from siting.phasing import years_table
from siting.report.sharing import suppress_counts
from siting.report.tables import coverage_by_level, whole_area
from siting.rundir import RunContents
from siting.scenario import Scenario
from siting.stages import Allocated, Report

__all__ = ["homes_sheets", "run_contents"]


def homes_sheets(
    homes: pd.DataFrame, reach: Access, inputs: PreparedInputs, *, threshold: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The homes the office decides on, new and existing: village, township, county, prefecture, what each serves.

    Sorted by prefecture, county and village code; small priority counts hidden as in every shared file.
    """
    names = names_by_code(inputs.unit_names)
    farthest = reach.column("max")
    table = homes.sort_values(["prefecture_code", "county_code", "site_id"]).assign(
        prefecture_name=lambda t: t["prefecture_code"].astype(str).map(names).fillna(t["prefecture_code"])
    )
    shown = suppress_counts(table[["county_code", "priority_served"]], threshold=threshold, parent="county_code")
    table = table.assign(priority_served=shown["priority_served"].to_numpy())
    columns = [
        "site_id",
        "community_name",
        "township_name",
        "county_name",
        "prefecture_name",
        "communities_served",
        "children_served",
        "priority_served",
        farthest,
        "cost_cny",
    ]
    existing = table["existing"].astype(bool)
    why = [
        c for c in ("children_added", "alternative_name", "alternative_added", "cost_share_pct", "why") if c in table
    ]
    new = table.loc[~existing, columns + why].reset_index(drop=True)
    kept = table.loc[existing, [c for c in columns if c != "cost_cny"]].reset_index(drop=True)
    return new, kept


def run_contents(
    scenario: Scenario,
    inputs: PreparedInputs,
    reach: Access,
    plan_: Plan,
    allocated: Allocated,
    net: Network,
    made: Report,
    page: str | None,
) -> RunContents:
    """Everything the run folder will hold, with the record for ``run.json``."""
    from siting.versions import library_versions

    province = whole_area(made.tables)
    record = {
        "siting_version": __version__,
        "library_versions": library_versions(),
        "scenario": scenario.to_document(),
        "inputs": {str(f): file_sha256(f) for f in inputs.input_files if f.is_file()},
        "access": reach.summary(),
        "plan": {
            "model": plan_.model,
            "status": plan_.status,
            "status_text": plan_.status_text(),
            "stopped_by": plan_.stopped_by,
            "solver": plan_.solver,
            "objective": plan_.objective,
            "bound": plan_.bound,
            "gap": plan_.gap,
            "homes_existing": len(plan_.existing_ids),
            "homes_new": plan_.n_new,
            "timings_s": dict(plan_.timings_s),
            "new_ids": list(plan_.new_ids),
            "unreachable": len(plan_.unreachable_ids),
            **{
                k: plan_.parameters[k]
                for k in ("min_share", "min_share_per", "max_min", "worst_share")
                if k in plan_.parameters
            },
        },
        "children_total": float(province["children"]),
        "children_covered": float(province["children_covered"]),
        "build_cost_cny": float(province["build_cost_cny"]),
        "all_targets_met": None if made.target_results is None else bool(made.target_results["passed"].all()),
        "modelled_data": inputs.modelled,
        "title": list(made.title),
    }
    extra = {"人员 staff": made.staff}
    visits = None
    if net.visits is not None:
        visits = suppress_counts(
            net.visits, threshold=scenario.small_count_threshold, columns=["priority_children"], parent="county_code"
        )
        hidden = (
            pd.to_numeric(visits["priority_children"], errors="coerce").isna() & net.visits["priority_children"].notna()
        )
        visits["director_hours_per_month"] = net.visits["director_hours_per_month"].where(~hidden)  # it tells the count
        extra["督导走访 visits"] = visits
        record["visits"] = {
            "supervisor_hours_per_month": float(net.visits["supervisor_hours_per_month"].sum()),
            "supervisors_needed": int(net.visits["supervisors_needed"].sum()),
            "director_hours_per_month": float(net.visits["director_hours_per_month"].sum(min_count=1)),
            "basis": "travel grid"
            if "round_trip_min" in net.visits
            else f"straight line × {scenario.detour_factor:g} at {scenario.visit_kmh:g} km/h",
        }
    new_homes, kept = homes_sheets(allocated.homes, reach, inputs, threshold=scenario.small_count_threshold)
    extra["新建儿童之家 new homes"] = new_homes
    extra["已有儿童之家 existing homes"] = kept
    if made.equity is not None and made.gini is not None and made.bands is not None:
        extra["公平 who is left out"] = made.equity
        extra["基尼 Gini by prefecture"] = made.gini
        extra["分段 access bands"] = made.bands["county"][
            [c for c in made.bands["county"].columns if c in ("unit_code", "unit_name_zh") or c.startswith("children")]
        ]
        record["equity"] = made.equity.to_dict("records")
        record["gini_by_prefecture"] = made.gini.to_dict("records")
    if made.within is not None:  # the county rows in the workbook; every level as CSV
        extra["可达性 access times"] = made.within["county"]
        record["children_within_min"] = {
            column: float(made.within["prefecture"][column].sum())
            for column in made.within["prefecture"].columns
            if column.startswith("children_")
        }
    years = years_table(plan_) if plan_.years else None
    if years is not None:
        extra["分年 by year"] = years
    communities_layer = allocated.communities.assign(
        cost_text=[format_cost(v, reach.unit) for v in allocated.communities[reach.column()]]
    )
    counties = inputs.counties[
        [
            c
            for c in ("county_code", "county_name_zh", "county_name_en", "prefecture_code", "geometry")
            if c in inputs.counties
        ]
    ]
    return RunContents(
        record=record,
        tables=made.tables,
        summary=coverage_by_level(made.tables, level="prefecture"),
        homes=allocated.homes,
        allocation=allocated.allocation,
        catchments=allocated.catchments,
        communities=communities_layer,
        counties=counties,
        stations=net.stations,
        centres=net.centres,
        links=net.links,
        report_context=made.context,
        small_count_threshold=scenario.small_count_threshold,
        target_results=made.target_results,
        uncovered=allocated.uncovered,
        extra_tables=extra,
        years=years,
        page=page,
        raster_like=inputs.raster_path,
        raster_resolution_m=scenario.raster_resolution_m,
        travel_time=allocated.travel_time,
        extra_columns=(reach.column("mean"), reach.column("p90")),
        within=made.within,
        bands=made.bands,
        borne=made.borne,
        visits=visits,
    )
