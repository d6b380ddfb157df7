"""Write the coverage report as CSV, JSON, Markdown and an Excel workbook for the office.

Priority-group counts identify vulnerable children: in every file written
here a count from 1 to ``threshold - 1`` is shown as ``"<threshold"``, and no
file contains a registry row (only sums per unit).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from siting.report import BILINGUAL_HEADERS, LEVELS, suppress_small_counts

__all__ = ["PRIORITY_COUNT_COLUMNS", "read_report_json", "write_report_files"]

PRIORITY_COUNT_COLUMNS = ["priority_children", "priority_covered"]
LEVEL_NAMES = {
    "province": "全省 province",
    "prefecture": "州市 prefecture",
    "county": "县 county",
    "township": "乡镇 township",
}
FAIL_FILL = PatternFill("solid", fgColor="F4CCCC")
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")


def _shareable(table: pd.DataFrame, threshold: int) -> pd.DataFrame:
    columns = [c for c in PRIORITY_COUNT_COLUMNS if c in table.columns]
    return suppress_small_counts(table, columns, threshold=threshold)


def _json_value(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "" if not math.isfinite(value) else f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def _records(table: pd.DataFrame) -> list[dict[str, object]]:
    return [{str(k): _json_value(v) for k, v in row.items()} for row in table.to_dict("records")]


def write_report_files(
    tables: dict[str, pd.DataFrame],
    out_dir: Path,
    *,
    target_results: pd.DataFrame | None = None,
    uncovered: pd.DataFrame | None = None,
    small_count_threshold: int = 5,
    title: str = "儿童之家覆盖报告 Children's homes coverage report",
    extra_tables: dict[str, pd.DataFrame] | None = None,
) -> list[Path]:
    """Write ``coverage_<level>.csv``, ``report.json``, ``report.md`` and ``report.xlsx`` into ``out_dir``.

    Parameters
    ----------
    tables
        Level → table from :func:`siting.report.coverage_report`.
    out_dir
        Existing folder.
    target_results
        Output of :func:`siting.targets.check_targets` (failing units are highlighted).
    uncovered
        Communities beyond the standard: code, name, unit codes, nearest home, distance.
    small_count_threshold
        Priority counts below it (and above 0) are shown as ``"<threshold"``.
    """
    written: list[Path] = []
    shared = {level: _shareable(tables[level], small_count_threshold) for level in LEVELS}
    for level in LEVELS:
        path = out_dir / f"coverage_{level}.csv"
        labelled = shared[level].rename(columns={c: BILINGUAL_HEADERS.get(c, c) for c in shared[level].columns})
        labelled.to_csv(path, index=False, encoding="utf-8-sig", float_format="%.2f")
        written.append(path)

    failing = set()
    if target_results is not None and len(target_results):
        failing = set(
            zip(
                target_results.loc[~target_results["passed"], "level"],
                target_results.loc[~target_results["passed"], "unit_code"],
                strict=True,
            )
        )
    document = {
        "small_count_threshold": small_count_threshold,
        "levels": {level: _records(shared[level]) for level in LEVELS},
        "targets": [] if target_results is None else _records(target_results),
        "all_targets_met": None if target_results is None else bool(target_results["passed"].all()),
        "uncovered_communities": [] if uncovered is None else _records(uncovered),
    }
    json_path = out_dir / "report.json"
    json_path.write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")
    written.append(json_path)

    province = tables["province"].iloc[0]
    lines = [
        f"# {title}",
        "",
        f"- 儿童 children: {province['children']:,.0f}; 覆盖 covered: {province['children_covered']:,.0f} "
        f"({province['children_covered_pct']:.1f}%)",
        f"- 儿童之家 homes: {int(province['homes_existing']):,} 已有 existing + "
        f"{int(province['homes_new']):,} 新建 new",
        f"- 有儿童之家的乡镇 townships with a home: {int(province['townships_with_home']):,} / "
        f"{int(province['townships']):,}",
        f"- 建设资金 build cost: {province['build_cost_cny']:,.0f} CNY; 儿童主任年经费 directors' pay: "
        f"{province['staff_cost_cny_per_year']:,.0f} CNY/year",
        "",
    ]
    if target_results is not None and len(target_results):
        bad = target_results[~target_results["passed"]]
        lines += [f"## 未达标 Targets not met: {len(bad)} of {len(target_results)} checks", ""]
        if len(bad):
            lines += [
                "| 目标 target | 层级 level | 代码 code | 名称 name | 值 value | 要求 required |",
                "|---|---|---|---|---|---|",
            ]
            bad_rows: list[dict[str, Any]] = bad.to_dict("records")  # type: ignore[assignment]
            for item in bad_rows:
                need = " ".join(
                    x
                    for x in (
                        f"≥ {item['min']:g}" if pd.notna(item["min"]) else "",
                        f"≤ {item['max']:g}" if pd.notna(item["max"]) else "",
                    )
                    if x
                )
                lines.append(
                    f"| {item['target']} | {item['level']} | {item['unit_code']} | {item['unit_name_zh'] or ''} | "
                    f"{item['value']:.1f} | {need} |"
                )
        lines.append("")
    pref = shared["prefecture"]
    lines += [
        "## 州市 Prefectures",
        "",
        "| 代码 code | 名称 name | 儿童 children | 覆盖率 covered % | 重点儿童覆盖 priority covered | 新建 new homes |",
        "|---|---|---|---|---|---|",
    ]
    pref_rows: list[dict[str, Any]] = pref.to_dict("records")  # type: ignore[assignment]
    for row in pref_rows:
        lines.append(
            f"| {row['unit_code']} | {row.get('unit_name_zh') or ''} | {row['children']:,.0f} | "
            f"{row['children_covered_pct']:.1f} | {row['priority_covered']} | {row['homes_new']} |"
        )
    for heading, extra in (extra_tables or {}).items():
        lines += [
            "",
            f"## {heading}",
            "",
            "| " + " | ".join(str(c) for c in extra.columns) + " |",
            "|" + "---|" * len(extra.columns),
        ]
        for record in extra.head(40).to_dict("records"):
            lines.append("| " + " | ".join(_cell(v) for v in record.values()) + " |")
    md_path = out_dir / "report.md"
    md_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    written.append(md_path)

    xlsx_path = out_dir / "report.xlsx"
    with pd.ExcelWriter(xlsx_path, engine="openpyxl") as writer:
        for level in LEVELS:
            table = shared[level]
            labelled = table.rename(columns={c: BILINGUAL_HEADERS.get(c, c) for c in table.columns})
            sheet = LEVEL_NAMES[level]
            labelled.to_excel(writer, sheet_name=sheet, index=False)
            ws = writer.sheets[sheet]
            ws.freeze_panes = "A2"
            for k, column in enumerate(table.columns, start=1):
                cell = ws.cell(row=1, column=k)
                cell.font = Font(bold=True)
                cell.fill = HEADER_FILL
                cell.alignment = Alignment(wrap_text=True, vertical="top")
                ws.column_dimensions[get_column_letter(k)].width = 16
                fmt = "0.0" if column.endswith("_pct") else "#,##0" if column not in ("level", "unit_code") else None
                if fmt and column not in PRIORITY_COUNT_COLUMNS and not column.startswith("unit_name"):
                    for r in range(2, len(table) + 2):
                        ws.cell(row=r, column=k).number_format = fmt
            for r, code in enumerate(table["unit_code"], start=2):
                if (level, code) in failing:
                    for k in range(1, len(table.columns) + 1):
                        ws.cell(row=r, column=k).fill = FAIL_FILL
        if uncovered is not None:
            labelled = uncovered.rename(columns={c: BILINGUAL_HEADERS.get(c, c) for c in uncovered.columns})
            labelled.to_excel(writer, sheet_name="未覆盖村 uncovered", index=False)
            writer.sheets["未覆盖村 uncovered"].freeze_panes = "A2"
        if target_results is not None:
            target_results.to_excel(writer, sheet_name="目标 targets", index=False)
        for heading, extra in (extra_tables or {}).items():
            extra.to_excel(writer, sheet_name=heading[:31], index=False)
            writer.sheets[heading[:31]].freeze_panes = "A2"
    written.append(xlsx_path)
    return written


def read_report_json(run_dir: Path) -> dict[str, pd.DataFrame]:
    """Level tables from a run's ``report.json`` (priority counts as written, possibly ``"<5"``)."""
    document = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    return {level: pd.DataFrame(records) for level, records in document["levels"].items()}
