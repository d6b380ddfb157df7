"""The report wing's files of a run: the CSVs, the report files and workbook, the GeoPackage, the charts.

Everything here is shared with the office, so small counts are hidden first
(:func:`siting.report.sharing.suppress_counts`) and the CSVs have Chinese-first headers.
:func:`write_shared_files` is one of the writers :func:`siting.rundir.write_run` is handed.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd

from siting.report.charts import lorenz_chart, phasing_chart
from siting.report.files import write_report_files
from siting.report.headers import rename_bilingual
from siting.report.sharing import suppress_counts, write_csv
from siting.rundir import PLAN_GPKG, RunContents

__all__ = ["write_shared_files"]


def _shared_homes(homes: gpd.GeoDataFrame, threshold: int) -> gpd.GeoDataFrame:
    """Homes as they may be shared: small priority counts hidden (a number column with gaps, and its text)."""
    out = homes.copy()
    shown = suppress_counts(out[["county_code", "priority_served"]], threshold=threshold, parent="county_code")
    out["priority_served_text"] = shown["priority_served"].astype(str).replace("None", "")
    out["priority_served"] = pd.to_numeric(shown["priority_served"], errors="coerce").astype("Int64")
    if "served_names" in out:
        out["served_names"] = out["served_names"].map(
            lambda names: "、".join(map(str, names)) if isinstance(names, list) else ""
        )
    return out


def _shared_catchments(areas: gpd.GeoDataFrame, threshold: int) -> gpd.GeoDataFrame:
    """Responsibility areas as they may be shared: small priority counts hidden."""
    out = areas.copy()
    shown = suppress_counts(out[["priority_children"]], threshold=threshold)
    out["priority_children_text"] = shown["priority_children"].astype(str).replace("None", "")
    out["priority_children"] = pd.to_numeric(shown["priority_children"], errors="coerce").astype("Int64")
    return out


def write_shared_files(tmp: Path, contents: RunContents) -> None:
    """Write the run's shared tables, report files, GeoPackage and charts into the folder ``tmp``."""
    threshold = contents.small_count_threshold
    write_csv(
        rename_bilingual(suppress_counts(contents.summary, threshold=threshold)), tmp / "summary_by_prefecture.csv"
    )
    homes = _shared_homes(contents.homes, threshold)
    # Chinese-first headers and 是/否, as in every CSV the office opens (the GeoPackage keeps the plain names).
    table = homes.drop(columns="geometry").assign(x_m=homes.geometry.x, y_m=homes.geometry.y)
    for flag in ("existing", "new"):
        if flag in table:
            table[flag] = table[flag].map({True: "是", False: "否"}).fillna("")
    codes = [c for c in table.columns if c == "site_id" or c.endswith(("_code", "_site_id"))]
    shared = rename_bilingual(table)
    write_csv(shared, tmp / "homes.csv", text_columns=[shared.columns[table.columns.get_loc(c)] for c in codes])
    write_csv(contents.allocation, tmp / "assignment.csv")
    write_csv(contents.links, tmp / "links.csv")
    write_report_files(
        contents.tables,
        tmp,
        context=contents.report_context,
        target_results=contents.target_results,
        uncovered=contents.uncovered,
        extra_tables=contents.extra_tables,
        extra_columns=contents.extra_columns,
    )
    gpkg = tmp / PLAN_GPKG
    homes.to_file(gpkg, layer="homes", driver="GPKG")
    _shared_catchments(contents.catchments, threshold).to_file(gpkg, layer="catchments", driver="GPKG")
    contents.communities.to_file(gpkg, layer="communities", driver="GPKG")
    contents.counties.to_file(gpkg, layer="counties", driver="GPKG")
    contents.stations.to_file(gpkg, layer="stations", driver="GPKG")
    contents.centres.to_file(gpkg, layer="centres", driver="GPKG")
    for level, table in (contents.bands or {}).items():
        groups = [c for c in table.columns if not c.startswith("children") and c not in ("unit_code", "unit_name_zh")]
        shown = suppress_counts(table, threshold=threshold, columns=groups)
        write_csv(rename_bilingual(shown), tmp / f"access_bands_{level}.csv")
    if contents.borne is not None:
        lorenz_chart(contents.borne, tmp / "lorenz_prefecture.png")
    for level, table in (contents.within or {}).items():
        write_csv(rename_bilingual(table), tmp / f"access_thresholds_{level}.csv")
    if contents.visits is not None:
        write_csv(rename_bilingual(contents.visits), tmp / "visits_township.csv")
    if contents.years is not None:
        write_csv(contents.years, tmp / "phasing.csv")
        phasing_chart(contents.years, tmp / "phasing.png")
