"""The coverage report as shared files: CSV per level, JSON, Markdown and the office's Excel workbook.

Every file here is for sharing, so every table passes :func:`siting.report.sharing.suppress_counts`
(small priority counts hidden by its documented rules) and every text cell is
formula-safe. Markdown escapes names (no raw HTML or Markdown from the data).
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook

from siting.explain import KIND_LABELS
from siting.levels import LEVELS
from siting.report.headers import rename_bilingual
from siting.report.sharing import SECONDARY_MARK, suppress_counts, write_csv
from siting.report.tables import PARENT_LEVEL, whole_area
from siting.report.workbook import write_notes_sheet, write_table_sheet

__all__ = ["ReportContext", "md_text", "shared_levels", "target_table", "write_report_files"]

LEVEL_SHEETS = {
    "province": ("全省 province", "全省儿童之家覆盖情况 coverage, province"),
    "prefecture": ("州市 prefecture", "各州市儿童之家覆盖情况 coverage by prefecture"),
    "county": ("县 county", "各县儿童之家覆盖情况 coverage by county"),
    "township": ("乡镇 township", "各乡镇儿童之家覆盖情况 coverage by township"),
}
#: The province sheet's title when a run spans several provinces.
PROVINCES_TITLE = "各省(区、市)儿童之家覆盖情况 coverage by province"
LEVEL_ZH = {"province": "省", "prefecture": "州市", "county": "县", "township": "乡镇"}
#: Characters that make Markdown markup wherever they stand (HTML's < > & are escaped as entities first).
MD_SPECIAL = re.compile(r"([\\`*_\[\]|#~])")


@dataclass(frozen=True)
class ReportContext:
    """What the report says about the run: title, scenario, standard, money, solver, data notice."""

    title_zh: str
    title_en: str
    scenario: str
    description: str = ""
    standard: str = ""
    budget: str = ""
    model: str = ""
    status: str = ""
    date: str = ""
    modelled: bool = False
    modelled_terrain: bool = False
    sources: tuple[str, ...] = ()
    small_count_threshold: int = 5
    extra: Mapping[str, str] = field(default_factory=dict)


def md_text(value: object) -> str:
    """Text from data made safe for Markdown and the HTML it becomes (no tags, no Markdown syntax)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    text = html.escape(str(value), quote=False).replace("\n", " ").replace("\r", " ")
    return MD_SPECIAL.sub(r"\\\1", text)


def _md_number(value: object, digits: int = 0) -> str:
    if isinstance(value, str):
        return md_text(value)
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    number = float(value)  # type: ignore[arg-type]
    return f"{number:,.0f}" if number == round(number) else f"{number:,.{digits}f}"


def shared_levels(tables: Mapping[str, pd.DataFrame], *, threshold: int) -> dict[str, pd.DataFrame]:
    """The level tables as they may be shared (small priority counts suppressed, with the parent rule)."""
    return {
        level: suppress_counts(
            tables[level], threshold=threshold, parent="parent_code" if level in PARENT_LEVEL else None
        )
        for level in LEVELS
    }


def _records(table: pd.DataFrame) -> list[dict[str, object]]:
    out = []
    for row in table.to_dict("records"):
        clean: dict[str, object] = {}
        for key, value in row.items():
            if isinstance(value, float) and not math.isfinite(value):
                value = None
            elif hasattr(value, "item"):
                value = value.item()
            clean[str(key)] = value
        out.append(clean)
    return out


def _decisive(value: float, low: float, high: float) -> int:
    """The fewest decimals (1 to 6) at which ``value`` keeps its verdict against ``≥ low`` and ``≤ high``."""
    for digits in range(1, 7):
        shown = round(value, digits)
        if (pd.isna(low) or (shown >= low) == (value >= low)) and (pd.isna(high) or (shown <= high) == (value <= high)):
            return digits
    return 6


def target_table(results: pd.DataFrame) -> pd.DataFrame:
    """Target results as the office reads them: Chinese first, 达标 / 未达标, and never a verdict the numbers deny.

    A value is shown with as many decimals as it takes to fall on the side of its bound that
    decided the verdict (89.96 against ≥ 90 shows 89.96, not 90.0); the shortfall likewise.
    """
    if results.empty:
        return results
    need = [
        " 且 ".join(x for x in (f"≥ {lo:g}" if pd.notna(lo) else "", f"≤ {hi:g}" if pd.notna(hi) else "") if x)
        for lo, hi in zip(results["min"], results["max"], strict=True)
    ]
    digits = [
        _decisive(float(v), lo, hi) if pd.notna(v) else 1
        for v, lo, hi in zip(results["value"], results["min"], results["max"], strict=True)
    ]
    values = [round(float(v), d) if pd.notna(v) else v for v, d in zip(results["value"], digits, strict=True)]
    shortfall = (
        [
            None if pd.isna(s) else (round(float(s), d) if round(float(s), d) > 0 or float(s) == 0 else 10.0**-d)
            for s, d in zip(results["shortfall"], digits, strict=True)
        ]
        if "shortfall" in results
        else None
    )
    return pd.DataFrame(
        {
            "目标 target": results["target"],
            "层级 level": [f"{LEVEL_ZH.get(level, level)} {level}" for level in results["level"]],
            "unit_name_zh": results["unit_name_zh"].fillna(results["unit_code"]),
            "unit_code": results["unit_code"],
            "指标 metric": results["metric"],
            "值 value": values,
            "要求 required": need,
            "结果 result": ["达标 met" if ok else "未达标 not met" for ok in results["passed"]],
            "差距 short by": shortfall,
        }
    )


def _markdown(
    tables: Mapping[str, pd.DataFrame],
    shared: Mapping[str, pd.DataFrame],
    context: ReportContext,
    target_results: pd.DataFrame | None,
    extra_tables: Mapping[str, pd.DataFrame],
) -> str:
    province = whole_area(tables)
    lines = [
        f"# {md_text(context.title_zh)} {md_text(context.title_en)}",
        "",
        f"- 方案 scenario: {md_text(context.scenario)}",
        f"- 服务标准 access standard: {md_text(context.standard)}",
        f"- 模型 model: {md_text(context.model)}, {md_text(context.status)}",
        f"- 儿童 children: {province['children']:,.0f}; 覆盖 covered: {province['children_covered']:,.0f} "
        f"({province['children_covered_pct']:.1f}%)",
        f"- 儿童之家 homes: {int(province['homes_existing']):,} 已有 existing + "
        f"{int(province['homes_new']):,} 新建 new",
        f"- 有儿童之家的乡镇 townships with a home: {int(province['townships_with_home']):,} / "
        f"{int(province['townships']):,}",
        f"- 建设资金 build cost: {province['build_cost_cny']:,.0f} CNY; 儿童主任年报酬 directors' pay: "
        f"{province['director_pay_cny_per_year']:,.0f} CNY/year",
    ]
    if context.modelled:
        lines.append(
            "- **模拟数据 / modelled data**: 村界、儿童分布与已有儿童之家为模拟 (simulated boundaries, children, homes)"
            if not context.modelled_terrain
            else "- **模拟数据 / modelled data**: 村界、儿童分布、已有儿童之家、地形起伏与道路为模拟 "
            "(simulated boundaries, children, homes, relief and roads)"
        )
    lines.append("")
    if target_results is not None and len(target_results):
        bad = target_results[~target_results["passed"]]
        lines += [f"## 未达标 Targets not met: {len(bad)} of {len(target_results)} checks", ""]
        if len(bad):
            lines += [
                "| 目标 target | 层级 level | 名称 name | 代码 code | 值 value | 要求 required |",
                "|---|---|---|---|---|---|",
            ]
            for row in target_table(bad).head(60).to_dict("records"):
                lines.append(
                    f"| {md_text(row['目标 target'])} | {md_text(row['层级 level'])} | "
                    f"{md_text(row['unit_name_zh'])} | {md_text(row['unit_code'])} | "
                    f"{_md_number(row['值 value'], 1)} | {md_text(row['要求 required'])} |"
                )
        lines.append("")
    if len(shared["province"]) > 1:
        lines += [*_md_units("## 省 Provinces", shared["province"]), ""]
    lines += _md_units("## 州市 Prefectures", shared["prefecture"])
    for heading, extra in extra_tables.items():
        lines += ["", f"## {md_text(heading)}", "", "| " + " | ".join(md_text(c) for c in extra.columns) + " |"]
        lines.append("|" + "---|" * len(extra.columns))
        for record in extra.head(40).to_dict("records"):
            lines.append(
                "| "
                + " | ".join(_md_number(v, 1) if not isinstance(v, str) else md_text(v) for v in record.values())
                + " |"
            )
    lines += [
        "",
        f"说明 note: 重点儿童 1–{context.small_count_threshold - 1} 人显示为 <{context.small_count_threshold}; "
        f"{SECONDARY_MARK} 为防止推算而隐藏 (hidden so that a small count cannot be worked out).",
    ]
    return "\n".join(lines) + "\n"


def _md_units(heading: str, table: pd.DataFrame) -> list[str]:
    """A level's units as a Markdown table: name, code, children, covered %, priority covered, new homes."""
    lines = [
        heading,
        "",
        "| 名称 name | 代码 code | 儿童 children | 覆盖率 covered % | 重点儿童覆盖 priority covered | 新建 new homes |",
        "|---|---|---|---|---|---|",
    ]
    for row in table.to_dict("records"):
        lines.append(
            f"| {md_text(row.get('unit_name_zh'))} | {md_text(row['unit_code'])} | {row['children']:,.0f} | "
            f"{row['children_covered_pct']:.1f} | {_md_number(row['priority_covered'])} | {row['homes_new']} |"
        )
    return lines


def _by_county(uncovered: pd.DataFrame) -> pd.DataFrame:
    """The uncovered communities to print, one line a village: names, children, the nearest home; a 小计 per county.

    The code columns of the levels are left out (the names say where); each county's villages
    are followed by a subtotal line with its children.
    """
    # One line a village: the reason's kind in a few words (the sentence is in report.json).
    drop = ("township_code", "county_code", "prefecture_code", "reason", "nearest_site_id")  # the home is named
    keep = [c for c in uncovered.columns if c not in drop]
    if "reason_kind" in uncovered:
        uncovered = uncovered.assign(
            reason_kind=uncovered["reason_kind"].map(KIND_LABELS).fillna(uncovered["reason_kind"])
        )
    parts = []
    for (county, name), villages in uncovered.groupby(["county_code", "county_name"], sort=True, dropna=False):
        subtotal = {"community_name": f"小计 subtotal {name}", "community_code": str(county)}
        parts += [villages[keep], pd.DataFrame([{**subtotal, "children": villages["children"].sum()}])]
    everyone = {"community_name": "合计 total", "community_code": "", "children": uncovered["children"].sum()}
    total = pd.DataFrame([everyone]).reindex(columns=keep)  # every column, even with no village to list
    return pd.concat([*parts, total], ignore_index=True)


def _notes(context: ReportContext) -> dict[str, str]:
    items = {
        "方案 scenario": f"{context.scenario} — {context.description}".strip(" —"),
        "日期 date": context.date,
        "服务标准 access standard": context.standard,
        "资金 budget": context.budget,
        "模型 model": context.model,
        "求解状态 solver status": context.status,
        # File names only: the paths of the machine that ran the plan stay in run.json.
        "数据来源 data sources": "; ".join(dict.fromkeys(Path(source).name for source in context.sources)),
        "模拟数据 modelled data": (
            "村界、儿童分布、重点儿童与已有儿童之家为模拟数据，仅供演示 (village boundaries, children, priority "
            "children and existing homes are modelled, for demonstration)"
            if context.modelled
            else "全部为用户提供的数据 (all data provided by the user)"
        ),
        "红色 highlighting": "红色行为未达标的单位 (red rows: units that miss a coverage target)",
        "小数保护 small counts": (
            f"重点儿童 1–{context.small_count_threshold - 1} 人显示为 <{context.small_count_threshold}；"
            "同一上级单位中仅一个被隐藏时，"
            f"另隐藏一个最小值，标为 {SECONDARY_MARK}；由被隐藏数算出的百分比不显示。Counts of priority children "
            f"from 1 to {context.small_count_threshold - 1} show as <{context.small_count_threshold}; where only one "
            f"unit of a parent is hidden, the next smallest is hidden too ({SECONDARY_MARK}); percentages made from "
            "hidden counts are left empty."
        ),
        "单位 units": "人 persons; 个 count; 万元 10,000 CNY; 公里 km; 分钟 minutes; 百分比 percent",
    }
    items.update(context.extra)
    return items


#: Columns of the per-level sheets: coverage and homes, then any extra columns, then money and staff.
LEVEL_COLUMNS = (
    "children",
    "children_covered",
    "children_covered_pct",
    "priority_children",
    "priority_covered",
    "priority_covered_pct",
    "communities",
    "communities_uncovered",
    "homes_existing",
    "homes_new",
    "homes_total",
    "townships",
    "townships_with_home",
    "townships_with_home_pct",
)
LEVEL_MONEY_COLUMNS = ("build_cost_cny", "directors", "director_pay_cny_per_year")


def _workbook(
    shared: Mapping[str, pd.DataFrame],
    context: ReportContext,
    failing: set[tuple[str, str]],
    target_results: pd.DataFrame | None,
    uncovered: pd.DataFrame | None,
    extra_tables: Mapping[str, pd.DataFrame],
    extra_columns: Sequence[str],
) -> Workbook:
    """The office's workbook: 说明 first, one sheet per level, uncovered communities, targets, extra sheets."""
    book = Workbook()
    book.remove(book.active)
    write_notes_sheet(book, "说明 notes", f"{context.title_zh} {context.title_en}", _notes(context))
    columns = [*LEVEL_COLUMNS, *extra_columns, *LEVEL_MONEY_COLUMNS]
    for level in LEVELS:
        sheet, title = LEVEL_SHEETS[level]
        table = shared[level]
        several = len(table) > 1
        if level == "province" and several:
            title = PROVINCES_TITLE
        write_table_sheet(
            book,
            sheet,
            table,
            title=f"{title} — {context.scenario}",
            columns=columns,
            # One province is the whole area; several (a national plan) add up to a 合计 row.
            total_label="合计 total" if level != "province" or several else None,
            highlight=[(level, str(code)) in failing for code in table["unit_code"]],
        )
    if uncovered is not None:
        listed = _by_county(uncovered)
        write_table_sheet(
            book,
            "未覆盖村 uncovered",
            listed,
            title=f"服务标准外的村(社区) communities beyond the standard — {context.scenario}",
            columns=[c for c in listed.columns if c not in ("community_name", "community_code")],
            name_column="community_name",
            code_column="community_code",
            total_label=None,  # the last line of _by_county: the subtotals must not be counted twice
        )
    if target_results is not None and len(target_results):
        write_table_sheet(
            book,
            "目标 targets",
            target_table(target_results),
            title=f"目标检查 target checks — {context.scenario}",
            columns=[
                "目标 target",
                "层级 level",
                "指标 metric",
                "值 value",
                "要求 required",
                "结果 result",
                "差距 short by",
            ],
            total_label=None,
            highlight=[not ok for ok in target_results["passed"]],
        )
    for heading, extra in extra_tables.items():
        homes = "site_id" in extra.columns and "community_name" in extra.columns  # a list of homes, by village
        name_column = "community_name" if homes else "unit_name_zh" if "unit_name_zh" in extra.columns else None
        code_column = "site_id" if homes else "unit_code" if "unit_code" in extra.columns else None
        write_table_sheet(
            book,
            heading,
            extra,
            title=f"{heading} — {context.scenario}",
            columns=[c for c in extra.columns if c not in (name_column, code_column)],
            name_column=name_column,
            code_column=code_column,
            total_label="合计 total" if homes else None,
        )
    return book


def write_report_files(
    tables: Mapping[str, pd.DataFrame],
    out_dir: Path,
    *,
    context: ReportContext,
    target_results: pd.DataFrame | None = None,
    uncovered: pd.DataFrame | None = None,
    extra_tables: Mapping[str, pd.DataFrame] | None = None,
    extra_columns: Sequence[str] = (),
) -> list[Path]:
    """Write ``coverage_<level>.csv``, ``report.json``, ``report.md`` and ``report.xlsx`` into ``out_dir``.

    Parameters
    ----------
    tables
        Level → table from :func:`siting.report.tables.coverage_report`.
    out_dir
        Existing folder.
    context
        Title, scenario, standard, money and solver lines for the report header and 说明 sheet.
    target_results
        Output of :func:`siting.report.targets.check_targets` (failing units are highlighted).
    uncovered
        Communities beyond the standard: code, name, unit codes, nearest home and its cost.
    extra_tables
        Sheet name → table for further sheets (staff, build years).
    """
    extra_tables = dict(extra_tables or {})
    threshold = context.small_count_threshold
    written: list[Path] = []
    shared = shared_levels(tables, threshold=threshold)
    for level in LEVELS:
        written.append(write_csv(rename_bilingual(shared[level]), out_dir / f"coverage_{level}.csv"))
    failing: set[tuple[str, str]] = set()
    if target_results is not None and len(target_results):
        bad = target_results[~target_results["passed"]]
        failing = set(zip(bad["level"], bad["unit_code"].astype(str), strict=True))
    document = {
        "title": f"{context.title_zh} {context.title_en}",
        "small_count_threshold": threshold,
        "levels": {level: _records(shared[level]) for level in LEVELS},
        "targets": [] if target_results is None else _records(target_results),
        "all_targets_met": None if target_results is None else bool(target_results["passed"].all()),
        "uncovered_communities": [] if uncovered is None else _records(uncovered),
    }
    json_path = out_dir / "report.json"
    json_path.write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")
    written.append(json_path)
    md_path = out_dir / "report.md"
    md_path.write_text(_markdown(tables, shared, context, target_results, extra_tables), encoding="utf-8")
    written.append(md_path)

    xlsx_path = out_dir / "report.xlsx"
    _workbook(shared, context, failing, target_results, uncovered, extra_tables, extra_columns).save(xlsx_path)
    written.append(xlsx_path)
    return written


def report_json_tables(path: Path) -> dict[str, Any]:
    """The raw ``report.json`` document of a run folder."""
    return dict(json.loads((path / "report.json").read_text(encoding="utf-8")))
