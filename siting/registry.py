"""The priority registry: counts of vulnerable children per community (CSV or Excel).

Counts identify vulnerable minors: the table is validated and aggregated here,
and no output of :mod:`siting` ever contains a registry row.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from siting.errors import InputError
from siting.tables import read_table

__all__ = ["read_priority_registry"]


def read_priority_registry(
    path: Path | str,
    *,
    children: pd.Series,
    groups: list[str] | None = None,
    sheet: str | int = 0,
) -> pd.DataFrame:
    """Read and check a registry of priority-group counts per community.

    Parameters
    ----------
    path
        CSV (UTF-8 or GBK) or XLSX file with a ``community_code`` column and
        one column of counts per group.
    children
        Children per community, indexed by community code (the known communities).
    groups
        Group columns to use (default: every column but ``community_code``).
    sheet
        Worksheet of an Excel file.

    Returns
    -------
    pandas.DataFrame
        ``community_code`` and one integer column per group, one row per code.

    Raises
    ------
    InputError
        Listing every problem at once, with file row numbers (the header is row 1):
        unknown or duplicate codes, missing, fractional or negative counts, and
        counts larger than the community's children.
    """
    path = Path(path)
    table = read_table(path, what="priority registry", text_columns=("community_code",), sheet=sheet)
    if "community_code" not in table.columns:
        raise InputError(f"{path} has no 'community_code' column (columns: {list(table.columns)})")
    groups = groups or [c for c in table.columns if c != "community_code"]
    absent = [g for g in groups if g not in table.columns]
    if absent or not groups:
        raise InputError(f"{path}: group columns {absent or '(none)'} not found; columns are {list(table.columns)}")

    problems: list[str] = []
    row_number = pd.Series(table.index.to_numpy() + 2, index=table.index)
    codes = table["community_code"].astype("string").str.strip()
    unknown = ~codes.isin(children.index.astype(str))
    if unknown.any():
        rows, values = row_number[unknown].head(10).tolist(), codes[unknown].head(10).tolist()
        problems.append(f"unknown community codes at rows {rows}: {values}")
    duplicated = codes.duplicated(keep=False)
    if duplicated.any():
        problems.append(f"duplicate community codes at rows {row_number[duplicated].head(10).tolist()}")
    counts = table[groups].apply(pd.to_numeric, errors="coerce")
    for group in groups:
        column = counts[group]
        bad = column.isna() | (column != np.round(column))
        if bad.any():
            problems.append(f"{group}: missing or non-integer counts at rows {row_number[bad].head(10).tolist()}")
        negative = column < 0
        if negative.any():
            problems.append(
                f"{group}: negative counts at rows {row_number[negative].head(10).tolist()} "
                f"(values {column[negative].head(10).astype(int).tolist()})"
            )
        known = ~unknown
        too_many = known & (column > codes.map(children.to_dict()).astype(float))
        if too_many.any():
            problems.append(
                f"{group}: counts larger than the community's children at rows {row_number[too_many].head(10).tolist()}"
            )
    if problems:
        raise InputError(f"priority registry {path}: " + "; ".join(problems))
    out = counts.astype(np.int64)
    out.insert(0, "community_code", codes.astype(str).to_numpy())
    return out.reset_index(drop=True)
