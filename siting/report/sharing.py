"""What may leave the tool, and how: small-count suppression, formula-safe cells, UTF-8 CSV.

Counts of priority children (left-behind, in difficult circumstances, on 低保) can
identify vulnerable minors. Every file a run writes for sharing (CSV, XLSX, JSON,
GeoPackage, the map) goes through :func:`suppress_counts`:

1. *Primary*: a count from 1 to ``threshold - 1`` is shown as ``"<threshold"``.
2. *Percentages*: a percentage computed from a suppressed count is not shown
   (``"<threshold"`` of 4 children with 75 % covered would give the count away).
3. *Secondary*: where a unit is the only one of its parent with a suppressed count,
   the smallest other count of that parent is hidden too (shown as ``"*"``), so that
   the parent's total minus the shown children cannot recover it.

Everything else stays a number (Excel can sum it). Text cells that a spreadsheet
would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or carriage
return) are neutralised: prefixed with ``'`` in CSV, stored as plain text with
Excel's quote prefix in XLSX.
"""

from __future__ import annotations

import csv
import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "PRIORITY_COLUMNS",
    "SECONDARY_MARK",
    "csv_safe",
    "formula_like",
    "small_count_text",
    "suppress_counts",
    "write_csv",
]

#: Count columns of priority children, and the percentages made from them.
PRIORITY_COLUMNS = ("priority_children", "priority_covered", "priority_served")
PERCENT_OF = {"priority_covered_pct": ("priority_covered", "priority_children")}
SECONDARY_MARK = "*"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def small_count_text(value: float, *, threshold: int = 5) -> str:
    """A priority count as shown: 1 to ``threshold - 1`` become ``"<threshold"``, others a whole number."""
    if value is None or not math.isfinite(float(value)):
        return ""
    if 0 < value < threshold:
        return f"<{threshold}"
    return f"{value:,.0f}"


def _small(values: pd.Series, threshold: int) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce")
    return (numbers > 0) & (numbers < threshold)


def suppress_counts(
    table: pd.DataFrame,
    *,
    threshold: int,
    columns: Sequence[str] = PRIORITY_COLUMNS,
    parent: str | None = None,
) -> pd.DataFrame:
    """A copy of ``table`` safe to share: small priority counts hidden by the rules of this module.

    Parameters
    ----------
    table
        A table with count columns (any subset of ``columns``).
    threshold
        Counts from 1 to ``threshold - 1`` are hidden (``threshold`` ≥ 2).
    columns
        The count columns to protect.
    parent
        Column holding each row's parent unit, for the secondary rule (None: no parent).

    Returns
    -------
    pandas.DataFrame
        Protected columns hold whole numbers, ``"<threshold"`` or ``"*"`` (object dtype);
        the other columns are unchanged.
    """
    out = table.copy()
    present = [c for c in columns if c in out.columns]
    hidden: dict[str, pd.Series] = {}
    for column in present:
        primary = _small(out[column], threshold)
        marked: set[object] = set()
        if parent is not None and parent in out.columns:
            numbers = pd.to_numeric(out[column], errors="coerce").fillna(0)
            for _, rows in out.groupby(parent).groups.items():
                flagged = primary.loc[rows]
                if int(flagged.sum()) != 1:
                    continue
                others = numbers.loc[rows][~flagged & (numbers.loc[rows] > 0)]
                if len(others):
                    marked.add(others.idxmin())
        secondary = pd.Series(out.index.isin(list(marked)), index=out.index)
        values: list[Any] = []
        for value, first, second in zip(out[column], primary, secondary, strict=True):
            if first:
                values.append(f"<{threshold}")
            elif second:
                values.append(SECONDARY_MARK)
            else:
                number = pd.to_numeric(value, errors="coerce")
                values.append(None if pd.isna(number) else round(float(number)))
        out[column] = pd.Series(values, index=out.index, dtype=object)
        hidden[column] = primary | secondary
    for pct, (count, total) in PERCENT_OF.items():
        if pct in out.columns:
            mask = hidden.get(count, pd.Series(False, index=out.index)) | hidden.get(
                total, pd.Series(False, index=out.index)
            )
            out[pct] = out[pct].astype(object).where(~mask, None)
    return out


def formula_like(value: object) -> bool:
    """True for text a spreadsheet would run as a formula."""
    return isinstance(value, str) and value.startswith(FORMULA_START)


def csv_safe(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with formula-like text cells (and headers) prefixed by ``'``."""
    out = table.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(lambda v: f"'{v}" if formula_like(v) else v)
    out.columns = [f"'{c}" if formula_like(c) else c for c in out.columns]
    return out


def _umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: Written before a code in a CSV so that Excel keeps it as text: without it a 12-digit
#: community code opens as 5.30102E+11. Excel shows no tab; a program strips it on reading.
TEXT_MARK = "\t"


def write_csv(table: pd.DataFrame, path: Path, *, float_format: str = "%.2f", text_columns: Iterable[str] = ()) -> Path:
    """Write ``table`` as UTF-8 with BOM (Excel on Chinese Windows reads it), formula-safe, atomically.

    ``text_columns`` (codes) are written after :data:`TEXT_MARK`, so that Excel opens them as
    text with every digit; empty cells stay empty.
    """
    path = Path(path)
    shared = csv_safe(table)
    for column in text_columns:
        shared[column] = shared[column].map(lambda v: v if pd.isna(v) or v == "" else f"{TEXT_MARK}{v}")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        shared.to_csv(tmp, index=False, encoding="utf-8-sig", float_format=float_format, quoting=csv.QUOTE_MINIMAL)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it the owner's only; a shared file takes the umask's rights
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def numbers_or_text(values: Iterable[object]) -> list[object]:
    """Cells as they go to a sheet: numbers as numbers, NaN as empty."""
    out: list[object] = []
    for value in values:
        if isinstance(value, float | np.floating) and not math.isfinite(float(value)):
            out.append(None)
        elif isinstance(value, np.generic):
            out.append(value.item())
        else:
            out.append(value)
    return out
