"""Coverage tables per administrative level."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from siting.models.plan import Plan

__all__ = ["BILINGUAL_HEADERS", "coverage_by_level", "write_bilingual_csv"]

#: Column → header shown to planners (Chinese first).
BILINGUAL_HEADERS = {
    "prefecture_code": "地级代码 prefecture code",
    "prefecture_name_zh": "地级 prefecture",
    "prefecture_name_en": "Prefecture (English)",
    "communities": "村(社区)数 communities",
    "children": "儿童数 children",
    "children_covered": "覆盖儿童 children covered",
    "children_covered_pct": "儿童覆盖率% children covered %",
    "homes_existing": "已有儿童之家 existing homes",
    "homes_new": "新建儿童之家 new homes",
    "homes_total": "儿童之家合计 homes total",
    "build_cost_cny": "建设资金(元) build cost CNY",
}


def coverage_by_level(
    demand: gpd.GeoDataFrame,
    allocation: pd.DataFrame,
    sites: gpd.GeoDataFrame,
    plan: Plan,
    *,
    level: str,
    names: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Children covered, homes and cost per unit of ``level``, plus a province row.

    Coverage is weighted by children, never by points.

    Parameters
    ----------
    demand
        Demand table with ``demand_id``, ``children`` and ``level``.
    allocation
        Output of :func:`siting.allocation.assign_to_nearest_home`.
    sites
        Sites with ``site_id``, ``level`` and ``cost_cny``.
    plan
        The plan (which homes are existing and new).
    level
        Admin code column, e.g. ``"prefecture_code"``.
    names
        Optional table keyed by ``level`` with name columns to join.
    """
    table = demand[["demand_id", level, "children"]].merge(
        allocation[["demand_id", "covered"]], on="demand_id", validate="one_to_one"
    )
    table["children_covered"] = np.where(table["covered"], table["children"], 0.0)
    out = table.groupby(level).agg(
        communities=("demand_id", "size"),
        children=("children", "sum"),
        children_covered=("children_covered", "sum"),
    )
    site_table = sites.set_index("site_id")
    existing = site_table.loc[list(plan.existing_ids)]
    new = site_table.loc[list(plan.new_ids)]
    out["homes_existing"] = existing.groupby(level).size().reindex(out.index, fill_value=0)
    out["homes_new"] = new.groupby(level).size().reindex(out.index, fill_value=0)
    out["homes_total"] = out["homes_existing"] + out["homes_new"]
    out["build_cost_cny"] = new.groupby(level)["cost_cny"].sum().reindex(out.index, fill_value=0.0)
    out = out.reset_index()
    first = str(out[level].iloc[0]) if len(out) else ""
    total = {
        level: first[:2] + "0000" if first.isdigit() else "all",
        **out.drop(columns=[level]).sum(numeric_only=True).to_dict(),
    }
    out = pd.concat([out, pd.DataFrame([total])], ignore_index=True)
    out["children_covered_pct"] = 100.0 * out["children_covered"] / out["children"].where(out["children"] > 0)
    for column in ("communities", "homes_existing", "homes_new", "homes_total"):
        out[column] = out[column].astype(int)
    if names is not None:
        out = out.merge(names, on=level, how="left")
    return out


def write_bilingual_csv(table: pd.DataFrame, path: Path) -> None:
    """Write ``table`` as UTF-8 CSV (with BOM, so Excel shows Chinese) with bilingual headers."""
    labelled = table.rename(columns={c: BILINGUAL_HEADERS.get(c, c) for c in table.columns})
    labelled.to_csv(path, index=False, encoding="utf-8-sig", float_format="%.2f")
