"""The run's report: coverage tables, targets, access bands and equity, its title and the lines read first.

:func:`build_report` turns a run's plan and allocation into everything the report
files, the workbook and the map print about it (:class:`Report`); :func:`titles` names
the plan from the scenario or the data, never Yunnan for other data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import geopandas as gpd
import pandas as pd

from siting.access import Access
from siting.inputs import PreparedInputs
from siting.levels import names_by_code
from siting.models.plan import Plan
from siting.network import StaffRules
from siting.report.equity import access_bands, gini_by_unit, group_equity
from siting.report.files import ReportContext
from siting.report.headers import GROUPS
from siting.report.tables import children_within, coverage_report, whole_area
from siting.report.targets import check_targets, read_targets
from siting.scenario import Scenario

__all__ = ["Report", "build_report", "named_units", "titles"]


@dataclass(frozen=True, eq=False)
class Report:
    """The coverage tables, target results, staff table, title and summary lines of a run."""

    tables: dict[str, pd.DataFrame]
    target_results: pd.DataFrame | None
    staff: pd.DataFrame
    title: tuple[str, str]
    map_lines: tuple[str, ...]
    context: ReportContext
    #: Travel time: children within each of ``access.thresholds_min`` of the nearest home, per level.
    within: dict[str, pd.DataFrame] | None = None
    #: Who is left out: children and priority groups per access band, per level.
    bands: dict[str, pd.DataFrame] | None = None
    #: All children and each priority group: share beyond the standard, mean and p90 cost.
    equity: pd.DataFrame | None = None
    #: Gini of the cost to the nearest home over each prefecture's children.
    gini: pd.DataFrame | None = None
    #: Each demand point's cost to the nearest home and children (for the Lorenz curves).
    borne: pd.DataFrame | None = None


def named_units(table: pd.DataFrame, names: pd.DataFrame) -> pd.DataFrame:
    """``table`` (by ``unit_code``) with the units' Chinese names second."""
    known = names_by_code(names)
    out = table.copy()
    out.insert(1, "unit_name_zh", out["unit_code"].astype(str).map(known).fillna(out["unit_code"].astype(str)))
    return out


def titles(scenario: Scenario, inputs: PreparedInputs) -> tuple[str, str]:
    """The title of maps and reports, from the scenario or the data (never Yunnan for other data)."""
    if scenario.report_title:
        return scenario.report_title, ""
    names = inputs.unit_names.drop_duplicates("unit_code").set_index("unit_code")
    chosen = list(scenario.counties) or list(scenario.prefectures)
    if chosen:
        zh = "、".join(str(names.at[c, "unit_name_zh"]) if c in names.index else c for c in chosen[:3])
        en = ", ".join(
            str(names.at[c, "unit_name_en"]) for c in chosen[:3] if c in names.index and names.at[c, "unit_name_en"]
        )
        more = "等" if len(chosen) > 3 else ""
        return f"{zh}{more}儿童之家布局方案", f"{en} children's homes plan".strip()
    region_zh, region_en = inputs.region_name
    if region_zh:
        return f"{region_zh}儿童之家布局方案", f"{region_en} children's homes plan".strip()
    return f"儿童之家布局方案 {scenario.name}", f"Children's homes plan {scenario.name}"


def build_report(
    scenario: Scenario,
    inputs: PreparedInputs,
    points: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    reach: Access,
    plan_: Plan,
    allocation: pd.DataFrame,
    *,
    staff: pd.DataFrame,
    staff_rules: StaffRules,
    groups: list[str],
    model_title: str,
) -> Report:
    """Coverage per level, the targets, access bands and equity, and the lines a planner reads first.

    Parameters
    ----------
    scenario, inputs
        The run's scenario and its checked inputs (unit names, region, sources).
    points, sites, reach, plan_, allocation
        Demand points, candidate sites, access, the plan and each point's home.
    staff
        Staff per unit (:func:`siting.network.staff_table`).
    staff_rules
        The staffing rules the coverage tables count supervisors and directors by.
    groups
        The priority groups' columns.
    model_title
        The model's name as the report prints it.
    """
    tables = coverage_report(
        points,
        allocation,
        sites,
        plan_,
        reach,
        priority_groups=groups,
        names=inputs.unit_names,
        staff=staff_rules,
    )
    targets = (
        read_targets(scenario.targets_file, metrics=list(tables["county"].columns)) if scenario.targets_file else None
    )
    target_results = check_targets(tables, targets) if targets else None
    province = whole_area(tables)
    title = titles(scenario, inputs)
    nearest = points[["demand_id"]].merge(allocation, on="demand_id", how="left")[reach.column("nearest")]
    cost = nearest.to_numpy(dtype=float)
    within = None
    if reach.unit == "min":
        within = children_within(points, cost, scenario.thresholds_min, names=inputs.unit_names)
    edges = scenario.bands or None
    bands = {
        level: named_units(table, inputs.unit_names)
        for level, table in access_bands(points, cost, unit=reach.unit, edges=edges, groups=groups).items()
    }
    equity = group_equity(points, cost, standard=reach.standard, groups=groups)
    gini = named_units(gini_by_unit(points, cost, level="prefecture"), inputs.unit_names)
    prefecture = points["prefecture_code"].astype(str)
    known = names_by_code(inputs.unit_names)
    borne = pd.DataFrame(
        {"prefecture": prefecture.map(known).fillna(prefecture), "children": points["children"], "cost": cost}
    )
    equity = equity.assign(group=equity["group"].map(lambda g: " ".join(GROUPS.get(g, (g, g)))))
    money = (
        f"{sum(scenario.phasing_budgets_cny):,.0f} CNY ({len(scenario.phasing_years)} 年 years)"
        if scenario.phasing_years
        else f"{scenario.budget_cny:,.0f} CNY"
        if scenario.budget_cny is not None
        else "—"
    )
    lines = (
        f"方案 scenario: {scenario.name}",
        f"覆盖儿童 children covered: {province['children_covered']:,.0f} / {province['children']:,.0f} "
        f"({province['children_covered_pct']:.1f}%) · 标准 standard {reach.standard_text()}",
        f"儿童之家 homes: 已有 existing {int(province['homes_existing']):,} + 新建 new {int(province['homes_new']):,}",
        f"资金 build cost: {province['build_cost_cny']:,.0f} CNY · 求解 {plan_.status_text()}",
        f"日期 date: {datetime.now(UTC):%Y-%m-%d}",
    )
    context = ReportContext(
        title_zh=title[0],
        title_en=title[1],
        scenario=scenario.name,
        description=scenario.description,
        standard=reach.standard_text(),
        budget=money,
        model=model_title + (" + 分年 phased" if scenario.phasing_years else ""),
        status=f"{plan_.status_text()}, {plan_.solver}",
        date=f"{datetime.now(UTC):%Y-%m-%d}",
        modelled=inputs.modelled,
        modelled_terrain=inputs.modelled and reach.mode == "travel_time",
        sources=tuple(str(f) for f in inputs.input_files),
        small_count_threshold=scenario.small_count_threshold,
    )
    return Report(
        tables,
        target_results,
        staff,
        title,
        lines,
        context,
        within,
        bands,
        equity,
        gini,
        borne,
    )
