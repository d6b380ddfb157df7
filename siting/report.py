"""Coverage tables per administrative level: province, prefecture, county, township.

Every count column adds up: the province row equals the sum of the
prefecture rows, which equals the sum of the county rows and of the township
rows. Coverage is weighted by children, never by points.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from siting.models.plan import Plan

__all__ = [
    "BILINGUAL_HEADERS",
    "COUNT_COLUMNS",
    "LEVELS",
    "StaffPay",
    "coverage_by_level",
    "coverage_report",
    "suppress_small_counts",
    "weighted_quantile",
    "write_bilingual_csv",
]

LEVELS = ("province", "prefecture", "county", "township")

#: Columns that add up across levels.
COUNT_COLUMNS = [
    "communities",
    "children",
    "children_covered",
    "priority_children",
    "priority_covered",
    "homes_existing",
    "homes_new",
    "homes_total",
    "townships",
    "townships_with_home",
    "communities_uncovered",
    "build_cost_cny",
    "directors",
    "staff_cost_cny_per_year",
]

#: Count columns that hold whole numbers (the others are sums of modelled, fractional children or yuan).
INTEGER_COLUMNS = [
    c
    for c in COUNT_COLUMNS
    if c
    not in (
        "children",
        "children_covered",
        "priority_children",
        "priority_covered",
        "build_cost_cny",
        "staff_cost_cny_per_year",
    )
]

#: Column → header shown to planners (Chinese first).
BILINGUAL_HEADERS = {
    "level": "层级 level",
    "unit_code": "区划代码 code",
    "unit_name_zh": "名称 name",
    "unit_name_en": "Name (English)",
    "prefecture_code": "地级代码 prefecture code",
    "prefecture_name_zh": "地级 prefecture",
    "prefecture_name_en": "Prefecture (English)",
    "communities": "村(社区)数 communities",
    "children": "儿童数 children",
    "children_covered": "覆盖儿童 children covered",
    "children_covered_pct": "儿童覆盖率% children covered %",
    "priority_children": "重点儿童 priority children",
    "priority_covered": "覆盖重点儿童 priority children covered",
    "priority_covered_pct": "重点儿童覆盖率% priority covered %",
    "homes_existing": "已有儿童之家 existing homes",
    "homes_new": "新建儿童之家 new homes",
    "homes_total": "儿童之家合计 homes total",
    "townships": "乡镇(街道)数 townships",
    "townships_with_home": "有儿童之家的乡镇 townships with a home",
    "townships_with_home_pct": "乡镇覆盖率% townships with a home %",
    "communities_uncovered": "服务半径外村(社区) communities beyond the standard",
    "distance_mean_m": "平均距离(米) mean distance m",
    "distance_p90_m": "90%分位距离(米) 90th percentile distance m",
    "build_cost_cny": "建设资金(元) build cost CNY",
    "directors": "儿童主任 child directors",
    "staff_cost_cny_per_year": "儿童主任年经费(元) directors' pay CNY/year",
    "community_code": "村(社区)代码 community code",
    "community_name": "村(社区) community",
    "township_code": "乡镇代码 township code",
    "county_code": "县代码 county code",
    "nearest_site_id": "最近儿童之家 nearest home",
    "nearest_distance_m": "距离(米) distance m",
    "children_pct": "% children",
}


@dataclass(frozen=True)
class StaffPay:
    """Child directors' pay: one director per community (source document: 1,500 + up to 400 CNY a month)."""

    director_cny_per_month: float = 1_500.0
    bonus_cny_per_month: float = 400.0

    @property
    def director_cny_per_year(self) -> float:
        return 12 * (self.director_cny_per_month + self.bonus_cny_per_month)


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The ``q`` quantile of ``values`` with ``weights`` (lower weighted quantile)."""
    keep = np.isfinite(values) & (weights > 0)
    if not keep.any():
        return float("nan")
    order = np.argsort(values[keep], kind="stable")
    v, w = values[keep][order], weights[keep][order]
    cumulative = np.cumsum(w)
    return float(v[np.searchsorted(cumulative, q * cumulative[-1])])


def _unit_codes(table: pd.DataFrame, level: str) -> pd.Series:
    if level == "province":
        return table["prefecture_code"].astype(str).str[:2] + "0000"
    return table[f"{level}_code"].astype(str)


def coverage_report(
    demand: pd.DataFrame,
    allocation: pd.DataFrame,
    sites: pd.DataFrame,
    plan: Plan,
    *,
    priority_groups: list[str] | None = None,
    names: pd.DataFrame | None = None,
    staff: StaffPay | None = None,
) -> dict[str, pd.DataFrame]:
    """One coverage table per level (province, prefecture, county, township).

    Parameters
    ----------
    demand
        ``demand_id``, ``community_code``, admin codes, ``children`` and the
        priority-group count columns.
    allocation
        ``demand_id``, ``site_id`` (or None), ``covered`` and ``distance_m``
        (see :func:`siting.allocation.assign_to_nearest_home`).
    sites
        ``site_id``, admin codes, ``cost_cny``.
    plan
        Which homes are existing and new.
    priority_groups
        Priority count columns of ``demand`` (default: none).
    names
        ``unit_code``, ``unit_name_zh``, ``unit_name_en`` for every level's codes.
    staff
        Pay rules for the yearly staff cost.

    Returns
    -------
    dict
        Level → table with ``unit_code`` and the columns of :data:`COUNT_COLUMNS`
        plus percentages and distance statistics, sorted by code.
    """
    staff = staff or StaffPay()
    groups = priority_groups or []
    table = demand.merge(allocation, on="demand_id", how="left", validate="one_to_one")
    if table["covered"].isna().any():
        raise ValueError("allocation does not cover every demand point")
    covered = table["covered"].astype(bool).to_numpy()
    children = table["children"].to_numpy(dtype=float)
    priority = table[groups].sum(axis=1).to_numpy(dtype=float) if groups else np.zeros(len(table))
    distance = table["distance_m"].to_numpy(dtype=float)
    table = table.assign(
        _covered_children=np.where(covered, children, 0.0),
        _priority=priority,
        _priority_covered=np.where(covered, priority, 0.0),
        _uncovered=(~covered).astype(int),
        _distance=distance,
    )
    site_table = sites.set_index("site_id")
    existing = site_table.loc[list(plan.existing_ids)].reset_index()
    new = site_table.loc[list(plan.new_ids)].reset_index()
    homes = site_table.loc[list(plan.site_ids)].reset_index()
    communities = table.drop_duplicates("community_code")
    township_codes = communities[["township_code", "county_code", "prefecture_code"]].drop_duplicates()
    served_towns = set(homes["township_code"].astype(str))

    out: dict[str, pd.DataFrame] = {}
    for level in LEVELS:
        unit = _unit_codes(table, level)
        grouped = table.groupby(unit)
        frame = pd.DataFrame(
            {
                "children": grouped["children"].sum(),
                "children_covered": grouped["_covered_children"].sum(),
                "priority_children": grouped["_priority"].sum(),
                "priority_covered": grouped["_priority_covered"].sum(),
                "communities_uncovered": grouped["_uncovered"].sum(),
            }
        )
        frame["communities"] = communities.groupby(_unit_codes(communities, level)).size()
        frame["homes_existing"] = existing.groupby(_unit_codes(existing, level)).size()
        frame["homes_new"] = new.groupby(_unit_codes(new, level)).size()
        frame["build_cost_cny"] = new.groupby(_unit_codes(new, level))["cost_cny"].sum()
        towns = township_codes.assign(_with=township_codes["township_code"].astype(str).isin(served_towns))
        town_unit = _unit_codes(towns, level)
        frame["townships"] = towns.groupby(town_unit).size()
        frame["townships_with_home"] = towns.groupby(town_unit)["_with"].sum()
        frame = frame.fillna(0)
        frame["homes_total"] = frame["homes_existing"] + frame["homes_new"]
        frame["directors"] = frame["communities"]
        frame["staff_cost_cny_per_year"] = frame["directors"] * staff.director_cny_per_year
        for column in INTEGER_COLUMNS:
            frame[column] = frame[column].astype(np.int64)
        frame["children_covered_pct"] = 100 * frame["children_covered"] / frame["children"].where(frame["children"] > 0)
        frame["priority_covered_pct"] = (
            100 * frame["priority_covered"] / frame["priority_children"].where(frame["priority_children"] > 0)
        )
        frame["townships_with_home_pct"] = (
            100 * frame["townships_with_home"] / frame["townships"].where(frame["townships"] > 0)
        )
        stats = {
            code: (
                float(np.average(part["_distance"], weights=part["children"]))
                if part["children"].sum() > 0
                else np.nan,
                weighted_quantile(part["_distance"].to_numpy(), part["children"].to_numpy(), 0.9),
            )
            for code, part in grouped
        }
        frame["distance_mean_m"] = pd.Series({k: v[0] for k, v in stats.items()})
        frame["distance_p90_m"] = pd.Series({k: v[1] for k, v in stats.items()})
        frame.index.name = "unit_code"
        frame = frame.reset_index().sort_values("unit_code").reset_index(drop=True)
        frame.insert(0, "level", level)
        if names is not None:
            frame = frame.merge(names, on="unit_code", how="left")
        out[level] = frame
    return out


def coverage_by_level(tables: dict[str, pd.DataFrame], *, level: str) -> pd.DataFrame:
    """The rows of one level followed by the province row (the demo's summary table).

    Parameters
    ----------
    tables
        Output of :func:`coverage_report` (reused, not computed again).
    level
        ``"prefecture"``, ``"county"`` or ``"township"``; columns are named
        ``<level>_code``, ``<level>_name_zh``, ``<level>_name_en``.
    """
    rename = {"unit_code": f"{level}_code", "unit_name_zh": f"{level}_name_zh", "unit_name_en": f"{level}_name_en"}
    out = pd.concat([tables[level], tables["province"]], ignore_index=True).drop(columns="level")
    return out.rename(columns=rename)


def suppress_small_counts(table: pd.DataFrame, columns: list[str], *, threshold: int = 5) -> pd.DataFrame:
    """Show counts from 1 to ``threshold - 1`` as ``"<threshold"`` (vulnerable minors can be identified)."""
    out = table.copy()
    for column in columns:
        values = out[column]
        small = (values > 0) & (values < threshold)
        text = values.map(lambda v: f"{v:,.0f}" if pd.notna(v) else "")
        out[column] = text.where(~small, f"<{threshold}")
    return out


def write_bilingual_csv(table: pd.DataFrame, path: Path) -> None:
    """Write ``table`` as UTF-8 CSV (with BOM, so Excel shows Chinese) with bilingual headers."""
    labelled = table.rename(columns={c: BILINGUAL_HEADERS.get(c, c) for c in table.columns})
    labelled.to_csv(path, index=False, encoding="utf-8-sig", float_format="%.2f")
