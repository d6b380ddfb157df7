"""Coverage targets (TOML) and the per-unit check the provincial office runs."""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from siting.errors import InputError
from siting.levels import LEVELS
from siting.scenario import read_text_file

__all__ = ["Target", "check_targets", "read_targets"]

TARGET_KEYS = {"name", "metric", "min", "max", "level", "units"}


@dataclass(frozen=True)
class Target:
    """One target: ``metric`` ≥ ``min`` and/or ≤ ``max`` for every unit of ``level`` (or the named units)."""

    name: str
    metric: str
    level: str
    minimum: float | None
    maximum: float | None
    units: tuple[str, ...] | None


def read_targets(path: Path | str, *, metrics: list[str] | None = None) -> list[Target]:
    """Read targets from a TOML file; every problem is reported at once.

    Example::

        [[target]]
        name = "children covered"
        metric = "children_covered_pct"
        min = 90
        level = "county"            # province, prefecture, county or township

        [[target]]
        metric = "townships_with_home_pct"
        min = 100
        level = "prefecture"
        units = ["530100", "530300"]  # only these units
    """
    path = Path(path)
    text = read_text_file(path, what="targets file")
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"targets file {path} is not valid TOML: {error}") from None
    unknown_top = sorted(set(document) - {"target"})
    entries = document.get("target", [])
    problems = [f"unknown top-level keys {unknown_top}; targets go in [[target]] tables"] if unknown_top else []
    if not isinstance(entries, list) or not entries:
        problems.append("no [[target]] entries")
        entries = []
    targets = []
    for k, entry in enumerate(entries, start=1):
        where = f"target {k}"
        if not isinstance(entry, dict):
            problems.append(f"{where}: must be a [[target]] table, got {entry!r}")
            continue
        extra = sorted(set(entry) - TARGET_KEYS)
        if extra:
            problems.append(f"{where}: unknown keys {extra} (valid: {sorted(TARGET_KEYS)})")
        metric = entry.get("metric")
        if not isinstance(metric, str):
            problems.append(f"{where}: 'metric' is required (a column such as 'children_covered_pct')")
            continue
        if metrics is not None and metric not in metrics:
            problems.append(f"{where}: unknown metric {metric!r}; choose from {sorted(metrics)}")
        level = entry.get("level", "county")
        if level not in LEVELS:
            problems.append(f"{where}: level {level!r} is not one of {list(LEVELS)}")
        low, high = entry.get("min"), entry.get("max")
        for key, value in (("min", low), ("max", high)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
            ):
                problems.append(f"{where}: {key} must be a finite number, got {value!r}")
        low = low if isinstance(low, int | float) and not isinstance(low, bool) and math.isfinite(low) else None
        high = high if isinstance(high, int | float) and not isinstance(high, bool) and math.isfinite(high) else None
        if entry.get("min") is None and entry.get("max") is None:
            problems.append(f"{where}: give min and/or max")
        units = entry.get("units")
        if units is not None and not (isinstance(units, list) and all(isinstance(u, str) for u in units)):
            problems.append(f"{where}: units must be a list of code strings, got {units!r}")
        targets.append(
            Target(
                name=str(entry.get("name", metric)),
                metric=metric,
                level=str(level),
                minimum=None if low is None else float(low),
                maximum=None if high is None else float(high),
                units=None if units is None else tuple(units),
            )
        )
    if problems:
        raise InputError(f"targets file {path}: " + "; ".join(problems))
    return targets


def check_targets(tables: dict[str, pd.DataFrame], targets: list[Target]) -> pd.DataFrame:
    """Pass/fail per target and unit.

    Returns
    -------
    pandas.DataFrame
        ``target``, ``metric``, ``level``, ``unit_code``, ``unit_name_zh`` (if
        known), ``value``, ``min``, ``max``, ``passed`` and ``shortfall`` (how far
        the value is from the target, 0 when met). A unit named in a target but
        absent from the report fails with value NaN.
    """
    rows = []
    for target in targets:
        table = tables[target.level].set_index("unit_code")
        if target.metric not in table.columns:
            raise InputError(f"target {target.name!r}: the report has no column {target.metric!r}")
        codes = list(table.index) if target.units is None else list(target.units)
        for code in codes:
            cell: Any = table.at[code, target.metric] if code in table.index else float("nan")
            value = float(pd.to_numeric(cell, errors="coerce"))
            passed = bool(np.isfinite(value))
            if target.minimum is not None:
                passed &= value >= target.minimum - 1e-9
            if target.maximum is not None:
                passed &= value <= target.maximum + 1e-9
            name = table.at[code, "unit_name_zh"] if code in table.index and "unit_name_zh" in table else None
            shortfall = 0.0 if passed else float("inf")
            if np.isfinite(value):
                low = 0.0 if target.minimum is None else max(target.minimum - value, 0.0)
                high = 0.0 if target.maximum is None else max(value - target.maximum, 0.0)
                shortfall = max(low, high)
            rows.append(
                {
                    "target": target.name,
                    "metric": target.metric,
                    "level": target.level,
                    "unit_code": code,
                    "unit_name_zh": name,
                    "value": value,
                    "min": target.minimum,
                    "max": target.maximum,
                    "passed": passed,
                    "shortfall": shortfall,
                }
            )
    return pd.DataFrame(rows)
