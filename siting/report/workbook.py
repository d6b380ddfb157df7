"""Excel sheets an office can file: title row, 序号 | 名称 | 代码 first, 合计 row, units in headers, print setup.

Values stay numbers (percentages as fractions shown ``0.0%``, money in 万元, distances
in 公里); text that a spreadsheet would run as a formula is stored as plain text with
Excel's quote prefix. Every sheet is frozen at the name column and prints landscape on
A4, one page wide, with its title and header rows repeated.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.workbook import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from siting.errors import SitingWarning
from siting.report.headers import header
from siting.report.sharing import formula_like

__all__ = ["Column", "column_for", "write_notes_sheet", "write_table_sheet"]

HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
TOTAL_FILL = PatternFill("solid", fgColor="F2F2F2")
FAIL_FILL = PatternFill("solid", fgColor="F4CCCC")
THIN = Side(style="thin", color="BFBFBF")
WRAPPED = Alignment(wrap_text=True, vertical="top")


@dataclass(frozen=True)
class Column:
    """How one column is shown: header, number format, scale, width, and how it totals."""

    name: str
    header: str
    number_format: str | None = None
    scale: float = 1.0
    width: float = 14.0
    total: str = "sum"  # "sum", "ratio:<numerator>/<denominator>", "mean" or "" (left empty)
    wrap: bool = False  # long text: wrapped in its column (the row grows)


def column_for(name: str) -> Column:
    """The display of a report column, from its name (units in the header, Chinese first)."""
    if name.endswith("_pct"):
        numerator, denominator = {
            "children_covered_pct": ("children_covered", "children"),
            "priority_covered_pct": ("priority_covered", "priority_children"),
            "townships_with_home_pct": ("townships_with_home", "townships"),
        }.get(name, ("", ""))
        total = f"ratio:{numerator}/{denominator}" if numerator else ""
        return Column(name, header(name).replace("%", "(%)", 1), "0.0%", 0.01, 12, total)
    if name.endswith("_cny") or name.endswith("_cny_per_year"):
        text = header(name).replace("(元)", "(万元)").replace("CNY", "10k CNY")
        return Column(name, text, "#,##0.0", 1e-4, 14)
    if name.endswith("_m") and name not in ("unit_name_zh",):
        return Column(name, header(name, km=True), "0.0", 1e-3, 12, "mean" if "max" not in name else "")
    if name == "round_trip_min":  # minutes a month, added up
        return Column(name, header(name), "#,##0", 1.0, 14)
    if name.endswith("_min"):
        return Column(name, header(name), "0", 1.0, 12, "mean" if "max" not in name else "")
    if name in ("why", "reason"):
        return Column(name, header(name), None, 1.0, 70, "", wrap=True)
    if name == "reason_kind":
        return Column(name, header(name), None, 1.0, 12, "")
    if name.endswith(("_code", "_id")):
        return Column(name, header(name), "@", 1.0, 13, "")  # 12 digits
    if name.endswith(("_name", "_name_zh")):
        return Column(name, header(name), None, 1.0, 18, "")
    if name == "unit_name_en":
        return Column(name, header(name), None, 1.0, 22, "")
    return Column(name, header(name), "#,##0", 1.0, 12)


def cell_text(value: object) -> object:
    """Text a sheet can hold: control characters (ESC, BEL, vertical tab …) become U+FFFD, with a warning.

    Names are data and are kept; only what the XLSX format cannot store is replaced (openpyxl
    refuses it after the whole computation otherwise). The warning is one line, shown once
    (Python shows a warning once per place by default).
    """
    if isinstance(value, str) and ILLEGAL_CHARACTERS_RE.search(value):
        warnings.warn(
            "names hold control characters (ESC, BEL, vertical tab …) that a workbook cannot store; report.xlsx "
            "shows each as \ufffd, the CSV and GeoPackage files keep them",
            SitingWarning,
            stacklevel=2,
        )
        return ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
    return value


def _set(cell: object, value: object, number_format: str | None = None) -> None:
    """A cell value: numbers as numbers, formula-like text as plain text, NaN as empty."""
    if isinstance(value, float | np.floating) and not math.isfinite(float(value)):
        value = None
    elif isinstance(value, np.generic):
        value = value.item()
    value = cell_text(value)
    cell.value = value  # type: ignore[attr-defined]
    if isinstance(value, str) and formula_like(value):
        cell.data_type = "s"  # type: ignore[attr-defined]
        cell.quotePrefix = True  # type: ignore[attr-defined]
    if number_format and isinstance(value, int | float) and not isinstance(value, bool):
        cell.number_format = number_format  # type: ignore[attr-defined]


def _total(table: pd.DataFrame, column: Column, shown: pd.Series) -> object:
    if column.total == "sum":
        numbers = pd.to_numeric(table[column.name], errors="coerce")
        if numbers.notna().any() and numbers.notna().sum() == len(numbers):
            return float(numbers.sum()) * column.scale
        return None  # a column with hidden (suppressed) cells has no honest total here
    if column.total.startswith("ratio:"):
        numerator, denominator = column.total[6:].split("/")
        if numerator in table and denominator in table:
            top = pd.to_numeric(table[numerator], errors="coerce")
            bottom = pd.to_numeric(table[denominator], errors="coerce")
            if top.notna().all() and bottom.notna().all() and bottom.sum() > 0:
                return float(top.sum() / bottom.sum())
        return None
    if column.total == "mean" and "children" in table:
        values = pd.to_numeric(shown, errors="coerce")
        weights = pd.to_numeric(table["children"], errors="coerce")
        ok = values.notna() & weights.notna() & (weights > 0)
        return float(np.average(values[ok], weights=weights[ok])) if ok.any() else None
    return None


#: The body font (Calibri 11) and the least it may print at.
BODY_PT, LEAST_PRINT_PT = 11.0, 9.0
#: A4 landscape between the default margins (0.75 in each side), in points, less 2 % for rounding.
A4_LANDSCAPE_PT = (297.0 / 25.4 - 1.5) * 72.0 * 0.98


def _display_width(text: str) -> int:
    """Width of text in character units: a Chinese character takes two."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _wrapped_lines(text: str, room: float) -> int:
    """Lines ``text`` takes when wrapped in ``room`` character units: whole words (a Chinese character
    is a word of its own), a word longer than a line broken where it must; bold, so 10 % wider."""
    lines, used = 1, 0.0
    for word in re.findall(r"[\u2e80-\uffff]|[^\s\u2e80-\uffff]+", text):
        width = 1.1 * _display_width(word)
        gap = 0.0 if used == 0 or ord(word[0]) > 0x2E80 else 1.1
        if used + gap + width <= room:
            used += gap + width
            continue
        if used > 0:
            lines, used = lines + 1, 0.0
        while width > room:  # a word wider than the column breaks over lines
            lines, width = lines + 1, width - room
        used = width
    return lines


def header_height_pt(headers: Sequence[str], widths: Sequence[float]) -> float:
    """Height of a header row whose cells wrap their text in their column widths (15 pt a line, 2 lines at least)."""
    lines = 2
    for text, width in zip(headers, widths, strict=True):
        room = max(width - 1.5, 1.0)  # the cell's padding
        lines = max(lines, sum(_wrapped_lines(part, room) for part in str(text).split("\n")))
    return 15.0 * lines + 4.0


def print_scale(widths: Sequence[float], *, page_pt: float = A4_LANDSCAPE_PT) -> int:
    """The print scale (%) of a sheet: one page wide where the text stays at 9 pt or more, else 9 pt exactly
    (the columns then print in blocks, 序号 and 名称 repeated on each).

    A fixed scale, never "fit to width": LibreOffice measures columns wider than Excel and
    would shrink a fitted sheet below 9 pt; at a fixed scale a column that does not fit
    moves to the next block instead.
    """
    width_pt = sum(7 * w + 5 for w in widths) * 0.75  # Excel's column width → pixels at 96 dpi → points
    least = int(100 * LEAST_PRINT_PT / BODY_PT + 0.999)
    return max(least, min(100, int(100 * page_pt / max(width_pt, 1.0))))


#: A text column grows to its longest value up to this width (characters; a Chinese character is two).
TEXT_WIDTH_MAX = 20


def _fitted(spec: Column, table: pd.DataFrame) -> Column:
    """A text column (names, codes) as wide as its longest value, within :data:`TEXT_WIDTH_MAX`."""
    if spec.wrap or spec.number_format not in (None, "@") or spec.name not in table.columns:
        return spec
    values = table[spec.name].dropna().astype(str)
    longest = max((_display_width(v) for v in values), default=0) + 2
    return replace(spec, width=float(min(max(spec.width, longest), TEXT_WIDTH_MAX)))


def write_table_sheet(
    book: Workbook,
    sheet: str,
    table: pd.DataFrame,
    *,
    title: str,
    columns: Sequence[str],
    name_column: str | None = "unit_name_zh",
    code_column: str | None = "unit_code",
    total_label: str | None = "合计 total",
    highlight: Sequence[bool] | None = None,
    notes: Sequence[str] = (),
) -> Worksheet:
    """One sheet: title row, header row 序号 | 名称 | 代码 | …, the rows, a 合计 row, frozen and print-ready.

    Parameters
    ----------
    book, sheet
        The workbook and the new sheet's name (at most 31 characters).
    table
        The rows (shared values: suppression already applied).
    title
        The sheet's title (first row).
    columns
        The other columns, in order, after 名称 and 代码.
    name_column, code_column
        Columns shown as 名称 and 代码 (None: not shown).
    total_label
        Label of the 合计 row (None: no total row).
    highlight
        Rows to fill red (e.g. units that miss a target).
    notes
        Lines under the table.
    """
    ws = book.create_sheet(str(cell_text(sheet))[:31])
    specs = [Column("_n", "序号 no.", "0", 1.0, 6, "")]
    if name_column:
        specs.append(Column(name_column, "名称 name", None, 1.0, 18, ""))
    if code_column:
        specs.append(Column(code_column, "代码 code", "@", 1.0, 13, ""))
    specs += [column_for(c) for c in columns if c not in (name_column, code_column) and c in table.columns]
    specs = [_fitted(spec, table) for spec in specs]
    ws.cell(row=1, column=1, value=cell_text(title)).font = Font(bold=True, size=13)
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=max(len(specs), 2))
    for k, spec in enumerate(specs, start=1):
        cell = ws.cell(row=2, column=k, value=spec.header)
        cell.font = Font(bold=True)
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
        cell.border = Border(bottom=THIN, top=THIN, left=THIN, right=THIN)
        ws.column_dimensions[get_column_letter(k)].width = spec.width
    ws.row_dimensions[2].height = header_height_pt([c.header for c in specs], [c.width for c in specs])
    scaled = {
        spec.name: table[spec.name].map(
            lambda v, s=spec.scale: v * s if isinstance(v, int | float | np.number) and not isinstance(v, bool) else v
        )
        for spec in specs
        if spec.name != "_n"
    }
    # Plain lists, read once: a pandas lookup per cell made this loop most of a large sheet's time.
    values = [list(range(1, len(table) + 1)) if spec.name == "_n" else scaled[spec.name].tolist() for spec in specs]
    for k, (spec, column) in enumerate(zip(specs, values, strict=True), start=1):
        for r, value in enumerate(column):
            missing = isinstance(value, float) and not math.isfinite(value)
            if spec.number_format == "@" and value is not None and not missing and not isinstance(value, str):
                value = str(value)
            cell = ws.cell(row=r + 3, column=k)
            _set(cell, value, spec.number_format)
            if spec.wrap:
                cell.alignment = WRAPPED
            if highlight is not None and highlight[r]:
                cell.fill = FAIL_FILL
    last = len(table) + 2
    if total_label is not None and len(table):
        last += 1
        for k, spec in enumerate(specs, start=1):
            cell = ws.cell(row=last, column=k)
            if k == (2 if name_column else 1):
                cell.value = total_label
            elif spec.name != "_n":
                _set(cell, _total(table, spec, scaled[spec.name]), spec.number_format)
            cell.font = Font(bold=True)
            cell.fill = TOTAL_FILL
    for offset, line in enumerate(notes, start=2):
        ws.cell(row=last + offset, column=1, value=cell_text(line)).font = Font(italic=True, color="555555")
    # The table's own columns: text running over the last column must not add a block of empty columns.
    ws.print_area = f"A1:{get_column_letter(len(specs))}{last + len(notes) + 1}"
    ws.freeze_panes = ws.cell(row=3, column=3 if name_column else 2)
    ws.print_title_rows = "1:2"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.sheet_properties.pageSetUpPr.fitToPage = False
    ws.page_setup.scale = print_scale([c.width for c in specs])
    ws.print_title_cols = "A:B" if name_column else "A:A"  # on every block of columns, if it takes more than one
    ws.print_options.horizontalCentered = True
    return ws


#: Both columns of the 说明 sheet, in characters: one A4 portrait page wide at 100 %, as LibreOffice measures
#: columns too (24 + 64 printed the text on a page of its own).
NOTES_WIDTH = 76.0


def write_notes_sheet(book: Workbook, sheet: str, title: str, items: Mapping[str, str]) -> Worksheet:
    """The 说明 sheet: a title and one row per item (label, text), one A4 portrait page wide.

    The labels' column is as wide as the longest label, the text's takes the rest of
    :data:`NOTES_WIDTH` and wraps, and each row is as tall as its wrapped text.
    """
    ws = book.create_sheet(str(cell_text(sheet))[:31])
    ws.cell(row=1, column=1, value=cell_text(title)).font = Font(bold=True, size=14)
    label_width = min(30.0, max((1.1 * _display_width(str(label)) + 2 for label in items), default=10.0))
    text_width = NOTES_WIDTH - label_width
    for r, (label, text) in enumerate(items.items(), start=3):
        label_cell = ws.cell(row=r, column=1, value=cell_text(label))
        label_cell.font = Font(bold=True)
        label_cell.alignment = Alignment(vertical="top")  # beside the first line of its text
        cell = ws.cell(row=r, column=2)
        _set(cell, text)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        lines = sum(_wrapped_lines(part, text_width - 1.5) for part in str(text).split("\n"))
        ws.row_dimensions[r].height = 15.0 * max(lines, 1) + 2.0
    ws.column_dimensions["A"].width = label_width
    ws.column_dimensions["B"].width = text_width
    ws.page_setup.orientation = "portrait"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.sheet_properties.pageSetUpPr.fitToPage = False
    ws.page_setup.scale = 100
    return ws
