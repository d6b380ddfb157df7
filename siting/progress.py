"""The monthly progress report (月通报) on a build plan.

Input: a status table of the plan's new homes — ``community_code``, ``planned_year``,
``status`` (``planned`` → ``under_construction`` → ``built`` → ``in_service``) and
``completion_date`` — and the finished run the plan belongs to. Output, per prefecture
and county for one month: homes planned for the year, built, in service, % of the
year's target, children covered now (by existing homes and homes in service), child
directors in post (one per community served by such a home), prefectures ranked, and
units behind schedule (built share below the share of the year gone) flagged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from openpyxl.styles import Font, PatternFill

from siting.errors import InputError

__all__ = ["STATUSES", "ProgressReport", "progress_report", "read_status_table", "write_progress_files"]

STATUSES = ("planned", "under_construction", "built", "in_service")
HEADERS = {
    "unit_code": "区划代码 code",
    "unit_name_zh": "名称 name",
    "rank": "排名 rank",
    "planned": "年度计划 planned this year",
    "built": "已建成 built",
    "in_service": "已投入使用 in service",
    "pct_of_year_target": "完成率% of the year's target",
    "expected_pct": "时间进度% share of year gone",
    "behind_schedule": "滞后 behind schedule",
    "children_covered_now": "现覆盖儿童 children covered now",
    "directors_in_post": "在岗儿童主任 directors in post",
}


@dataclass(frozen=True, eq=False)
class ProgressReport:
    """Tables per prefecture and county for one month."""

    month: str
    prefecture: pd.DataFrame
    county: pd.DataFrame


def read_status_table(path: Path | str, *, plan_homes: pd.DataFrame, month_end: pd.Timestamp) -> pd.DataFrame:
    """Read and check the status table; every bad row is listed with its row number (header = row 1)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"status table {path} does not exist")
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        table = pd.read_excel(path, dtype={"community_code": str})
    else:
        table = pd.read_csv(path, dtype={"community_code": str}, encoding="utf-8-sig")
    needed = ["community_code", "planned_year", "status", "completion_date"]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise InputError(f"status table {path} lacks columns {missing}; it needs {needed}")
    table["completion_date"] = pd.to_datetime(table["completion_date"], errors="coerce")
    known = plan_homes.set_index("site_id")
    problems = []
    for number, row in zip(table.index + 2, table.to_dict("records"), strict=True):
        code, status, done = str(row["community_code"]), row["status"], row["completion_date"]
        if code not in known.index:
            problems.append(f"row {number}: {code} is not a new home of the plan")
            continue
        if status not in STATUSES:
            problems.append(f"row {number}: status {status!r} is not one of {list(STATUSES)}")
            continue
        try:
            planned_year = int(row["planned_year"])
        except (TypeError, ValueError):
            problems.append(f"row {number}: planned_year {row['planned_year']!r} is not a year")
            continue
        plan_year: Any = known.at[code, "build_year"] if "build_year" in known.columns else np.nan
        if pd.notna(plan_year) and int(plan_year) != planned_year:
            problems.append(f"row {number}: {code} is planned for {int(plan_year)} in the plan, not {planned_year}")
        finished = status in ("built", "in_service")
        if finished and pd.isna(done):
            problems.append(f"row {number}: status {status} needs a completion_date")
        if not finished and pd.notna(done):
            problems.append(f"row {number}: status {status} is out of order with a completion_date {done:%Y-%m-%d}")
        if pd.notna(done) and done < pd.Timestamp(year=planned_year, month=1, day=1):
            problems.append(f"row {number}: completion_date {done:%Y-%m-%d} is before the plan year {planned_year}")
        if pd.notna(done) and done > month_end:
            problems.append(f"row {number}: completion_date {done:%Y-%m-%d} is after the report month")
    duplicated = table["community_code"].duplicated(keep=False)
    if duplicated.any():
        problems.append(f"rows {list(table.index[duplicated] + 2)}: the same home appears more than once")
    if problems:
        raise InputError(f"status table {path}: {len(problems)} bad rows: " + "; ".join(problems))
    return table


def progress_report(run_dir: Path, status_path: Path | str, *, month: str) -> ProgressReport:
    """Build the monthly report for ``month`` (``YYYY-MM``) from a run and a status table."""
    try:
        period = pd.Period(month, freq="M")
    except ValueError:
        raise InputError(f"month {month!r} is not YYYY-MM") from None
    gpkg = Path(run_dir) / "plan.gpkg"
    if not gpkg.exists():
        raise InputError(f"{run_dir} is not a finished run (no plan.gpkg)")
    homes = gpd.read_file(gpkg, layer="homes")
    communities = gpd.read_file(gpkg, layer="communities")
    month_end = period.end_time.normalize()
    status = read_status_table(status_path, plan_homes=homes[~homes["existing"].astype(bool)], month_end=month_end)
    this_year = status[status["planned_year"].astype(int) == period.year]
    finished = this_year["status"].isin(["built", "in_service"])
    serving_codes = set(homes.loc[homes["existing"].astype(bool), "site_id"]) | set(
        status.loc[status["status"] == "in_service", "community_code"]
    )
    communities["served_now"] = communities["site_id"].isin(serving_codes) & communities["covered"].astype(bool)
    expected = 100.0 * period.month / 12

    tables = {}
    for level, width in (("prefecture", 4), ("county", 6)):

        def unit(codes: pd.Series, width: int = width, level: str = level) -> pd.Series:
            return codes.astype(str).str[:width] + ("00" if level == "prefecture" else "")

        frame = pd.DataFrame(
            {
                "planned": this_year.groupby(unit(this_year["community_code"])).size(),
                "built": this_year[finished].groupby(unit(this_year.loc[finished, "community_code"])).size(),
                "in_service": this_year[this_year["status"] == "in_service"]
                .groupby(unit(this_year.loc[this_year["status"] == "in_service", "community_code"]))
                .size(),
                "children_covered_now": communities[communities["served_now"]]
                .groupby(unit(communities.loc[communities["served_now"], "community_code"]))["children"]
                .sum(),
                "directors_in_post": communities[communities["served_now"]]
                .groupby(unit(communities.loc[communities["served_now"], "community_code"]))
                .size(),
            }
        ).fillna(0)
        for column in ("planned", "built", "in_service", "directors_in_post"):
            frame[column] = frame[column].astype(int)
        frame["pct_of_year_target"] = 100 * frame["built"] / frame["planned"].where(frame["planned"] > 0)
        frame["expected_pct"] = expected
        frame["behind_schedule"] = frame["pct_of_year_target"].fillna(100.0) < expected
        frame.index.name = "unit_code"
        frame = frame.reset_index().sort_values(["pct_of_year_target", "unit_code"], ascending=[False, True])
        frame.insert(0, "rank", np.arange(1, len(frame) + 1))
        tables[level] = frame.reset_index(drop=True)
    return ProgressReport(month=str(period), prefecture=tables["prefecture"], county=tables["county"])


def write_progress_files(report: ProgressReport, out_dir: Path) -> list[Path]:
    """Write ``progress_<month>.xlsx`` (units behind schedule in red) and ``progress_<month>.md``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    xlsx = out_dir / f"progress_{report.month}.xlsx"
    red = PatternFill("solid", fgColor="F4CCCC")
    with pd.ExcelWriter(xlsx, engine="openpyxl") as writer:
        for sheet, table in (("州市 prefecture", report.prefecture), ("县 county", report.county)):
            table.rename(columns=HEADERS).to_excel(writer, sheet_name=sheet, index=False)
            ws = writer.sheets[sheet]
            ws.freeze_panes = "A2"
            for cell in ws[1]:
                cell.font = Font(bold=True)
            for r, behind in enumerate(table["behind_schedule"], start=2):
                if behind:
                    for cell in ws[r]:
                        cell.fill = red
    md = out_dir / f"progress_{report.month}.md"
    lines = [
        f"# 儿童之家建设月通报 Monthly progress report {report.month}",
        "",
        "| 排名 rank | 代码 code | 计划 planned | 建成 built | 使用 in service | 完成率 % | 滞后 behind |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in report.prefecture.to_dict("records"):
        pct = "" if pd.isna(row["pct_of_year_target"]) else f"{row['pct_of_year_target']:.0f}"
        lines.append(
            f"| {row['rank']} | {row['unit_code']} | {row['planned']} | {row['built']} | {row['in_service']} "
            f"| {pct} | {'是 yes' if row['behind_schedule'] else ''} |"
        )
    md.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [xlsx, md]
