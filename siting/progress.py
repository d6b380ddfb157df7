"""The monthly progress report (月通报) on a build plan.

Input: a status table of the plan's new homes — ``community_code``, ``planned_year``,
``status`` and ``completion_date`` — and the finished run the plan belongs to. The
status may be written in English (``planned`` → ``under_construction`` → ``built`` →
``in_service``) or in Chinese (计划 / 在建 / 已建成 / 已投入使用); dates as
``2019-06-05``, ``2019/6/5`` or ``2019年6月5日``. Output, per prefecture and county for
one month: homes planned for the year, built, in service, % of the year's target,
children covered now (by existing homes and homes in service), child directors in post
(one per community served by such a home), units ranked, and units behind schedule
(built share below the share of the year gone) flagged.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from openpyxl import Workbook

from siting.errors import InputError
from siting.report.files import md_text
from siting.report.workbook import write_table_sheet
from siting.rundir import open_run, writable_folder, write_text_atomically
from siting.tables import read_table

__all__ = ["STATUSES", "ProgressReport", "progress_report", "read_status_table", "write_progress_files"]

STATUSES = ("planned", "under_construction", "built", "in_service")
CHINESE_STATUS = {"计划": "planned", "在建": "under_construction", "已建成": "built", "已投入使用": "in_service"}
STATUS_ZH = {v: k for k, v in CHINESE_STATUS.items()}
COLUMNS = [
    "planned",
    "built",
    "in_service",
    "year_target_pct",
    "expected_pct",
    "behind_schedule",
    "children_covered_now",
    "directors_in_post",
    "rank",
]


@dataclass(frozen=True, eq=False)
class ProgressReport:
    """Tables per prefecture and county for one month, and the run they report on."""

    month: str
    prefecture: pd.DataFrame
    county: pd.DataFrame
    scenario: str = ""
    region: str = ""


def _date(value: object) -> pd.Timestamp | None:
    """A completion date from ``2019-06-05``, ``2019/6/5``, ``2019.6.5`` or ``2019年6月5日``; None when empty."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() in ("", "NaT", "nan"):
        return None
    if isinstance(value, pd.Timestamp):
        return value
    text = str(value).strip()
    match = re.fullmatch(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T].*)?", text)
    if not match:
        raise ValueError(text)
    return pd.Timestamp(year=int(match[1]), month=int(match[2]), day=int(match[3]))


def read_status_table(path: Path | str, *, plan_homes: pd.DataFrame, month_end: pd.Timestamp) -> pd.DataFrame:
    """Read and check the status table; bad rows are summarised by kind, with a count and the first row numbers."""
    path = Path(path)
    table = read_table(path, what="status table", text_columns=("community_code", "completion_date"))
    needed = ["community_code", "planned_year", "status", "completion_date"]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise InputError(f"status table {path} lacks columns {missing}; it needs {needed}")
    known = plan_homes.set_index("site_id")
    problems: dict[str, list[tuple[int, str]]] = defaultdict(list)  # kind → (row number, community code)
    statuses: list[str] = []
    dates: list[pd.Timestamp | None] = []
    for number, row in zip(table.index + 2, table.to_dict("records"), strict=True):
        code = str(row["community_code"]).strip()
        status = CHINESE_STATUS.get(str(row["status"]).strip(), str(row["status"]).strip())
        statuses.append(status)
        try:
            done = _date(row["completion_date"])
        except ValueError:
            problems["completion_date is not a date (2019-06-05, 2019/6/5 or 2019年6月5日)"].append((number, code))
            dates.append(None)
            continue
        dates.append(done)
        if code not in known.index:
            problems["not a new home of the plan"].append((number, code))
            continue
        if status not in STATUSES:
            problems["status is not 计划/在建/已建成/已投入使用 (planned/under_construction/built/in_service)"].append(
                (number, code)
            )
            continue
        try:
            planned_year = int(row["planned_year"])
        except (TypeError, ValueError):
            problems["planned_year is not a year"].append((number, code))
            continue
        plan_year: Any = known.at[code, "build_year"] if "build_year" in known.columns else np.nan
        if pd.notna(plan_year) and int(plan_year) != planned_year:
            problems["planned_year differs from the plan's build year"].append((number, code))
        finished = status in ("built", "in_service")
        if finished and done is None:
            problems["built or in service without a completion_date"].append((number, code))
        if not finished and done is not None:
            problems["a completion_date on a home not yet built"].append((number, code))
        if done is not None and done < pd.Timestamp(year=planned_year, month=1, day=1):
            problems["completion_date before the plan year"].append((number, code))
        if done is not None and done > month_end:
            problems["completion_date after the report month"].append((number, code))
    codes = table["community_code"].astype(str).str.strip()
    duplicated = codes.duplicated(keep=False)
    for number, code in zip((table.index[duplicated] + 2).tolist(), codes[duplicated], strict=True):
        problems["the same home appears more than once"].append((number, code))
    if problems:
        total = sum(len(rows) for rows in problems.values())
        parts = [
            f"{kind}: {len(rows)} rows ({', '.join(f'row {n} {code}' for n, code in rows[:5])}"
            f"{', …' if len(rows) > 5 else ''})"
            for kind, rows in sorted(problems.items(), key=lambda item: -len(item[1]))
        ]
        raise InputError(f"status table {path}: {total} bad rows — " + "; ".join(parts))
    table["community_code"] = table["community_code"].astype(str).str.strip()
    table["status"] = statuses
    table["completion_date"] = dates
    return table


def progress_report(run_dir: Path, status_path: Path | str, *, month: str) -> ProgressReport:
    """Build the monthly report for ``month`` (``YYYY-MM``) from a run (or a scenario's folder) and a status table."""
    try:
        period = pd.Period(month, freq="M")
    except ValueError:
        raise InputError(f"month {month!r} is not YYYY-MM (e.g. 2019-06)") from None
    finished = open_run(run_dir)
    homes = finished.layer("homes")
    communities = finished.layer("communities")
    names = finished.report_tables()
    month_end = period.end_time.normalize()
    status = read_status_table(status_path, plan_homes=homes[~homes["existing"].astype(bool)], month_end=month_end)
    status = status.merge(
        homes[["site_id", "prefecture_code", "county_code"]], left_on="community_code", right_on="site_id"
    )
    this_year = status[status["planned_year"].astype(int) == period.year]
    finished_now = this_year["status"].isin(["built", "in_service"])
    serving = set(homes.loc[homes["existing"].astype(bool), "site_id"]) | set(
        status.loc[status["status"] == "in_service", "community_code"]
    )
    communities["served_now"] = communities["site_id"].isin(serving) & communities["covered"].astype(bool)
    served = communities[communities["served_now"]]
    expected = 100.0 * period.month / 12
    tables = {}
    for level in ("prefecture", "county"):
        key = f"{level}_code"
        frame = pd.DataFrame(
            {
                "planned": this_year.groupby(key).size(),
                "built": this_year[finished_now].groupby(key).size(),
                "in_service": this_year[this_year["status"] == "in_service"].groupby(key).size(),
                "children_covered_now": served.groupby(key)["children"].sum(),
                "directors_in_post": served.groupby(key).size(),
            }
        ).fillna(0)
        for column in ("planned", "built", "in_service", "directors_in_post"):
            frame[column] = frame[column].astype(int)
        frame["year_target_pct"] = 100 * frame["built"] / frame["planned"].where(frame["planned"] > 0)
        frame["expected_pct"] = expected
        frame["behind_schedule"] = frame["year_target_pct"].fillna(100.0) < expected
        frame.index.name = "unit_code"
        frame = frame.reset_index()
        known = names.get(level, pd.DataFrame({"unit_code": [], "unit_name_zh": []}))
        lookup = dict(zip(known.get("unit_code", []), known.get("unit_name_zh", []), strict=True))
        frame.insert(1, "unit_name_zh", [lookup.get(c, c) for c in frame["unit_code"]])
        frame = frame.sort_values(["year_target_pct", "unit_code"], ascending=[False, True], na_position="last")
        frame.insert(0, "rank", np.arange(1, len(frame) + 1))
        tables[level] = frame.reset_index(drop=True)
    region = str((finished.record.get("title") or ["", ""])[0]).removesuffix("儿童之家布局方案")
    return ProgressReport(
        month=str(period),
        prefecture=tables["prefecture"],
        county=tables["county"],
        scenario=finished.name,
        region=region,
    )


def write_progress_files(report: ProgressReport, out_dir: Path) -> list[Path]:
    """Write ``progress_<month>.xlsx`` (units behind schedule in red) and ``progress_<month>.md``."""
    writable_folder(out_dir, what="progress --out")
    year, month = report.month.split("-")
    title = f"{report.region}儿童之家建设月通报 {year}年{int(month)}月 monthly progress report {report.month}"
    book = Workbook()
    book.remove(book.active)
    for sheet, table, level in (("州市 prefecture", report.prefecture, "州市"), ("县 county", report.county, "县")):
        shown = table.assign(behind_schedule=np.where(table["behind_schedule"], "滞后 behind", "正常 on schedule"))
        write_table_sheet(
            book,
            sheet,
            shown,
            title=f"{title} — 按{level} by {sheet.split(' ')[1]} ({report.scenario})",
            columns=COLUMNS,
            highlight=list(table["behind_schedule"]),
            notes=["红色行为进度滞后的单位 red rows: behind schedule (built share below the share of the year gone)"],
        )
    xlsx = out_dir / f"progress_{report.month}.xlsx"
    book.save(xlsx)
    lines = [
        f"# {md_text(title)}",
        "",
        f"方案 scenario: {md_text(report.scenario)}",
        "",
        "| 排名 rank | 名称 name | 代码 code | 计划 planned | 建成 built | 使用 in service | 完成率 % "
        "| 进度 schedule |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in report.prefecture.to_dict("records"):
        pct = "" if pd.isna(row["year_target_pct"]) else f"{row['year_target_pct']:.0f}"
        lines.append(
            f"| {row['rank']} | {md_text(row['unit_name_zh'])} | {md_text(row['unit_code'])} | {row['planned']} | "
            f"{row['built']} | {row['in_service']} | {pct} | {'滞后 behind' if row['behind_schedule'] else '正常'} |"
        )
    totals = report.prefecture[["planned", "built", "in_service"]].sum()
    pct_total = 100 * totals["built"] / totals["planned"] if totals["planned"] else float("nan")
    lines.append(
        f"| | **合计 total** | | {totals['planned']} | {totals['built']} | {totals['in_service']} | "
        f"{'' if np.isnan(pct_total) else f'{pct_total:.0f}'} | |"
    )
    md = write_text_atomically(out_dir / f"progress_{report.month}.md", "\n".join(lines) + "\n")
    return [xlsx, md]
