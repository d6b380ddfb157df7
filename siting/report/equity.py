"""Who is left out: children per access band, priority groups against all children, and inequality of access.

The cost a child bears is the distance or travel time from its community to the nearest
open home (the allocation's ``nearest`` column). From it:

* :func:`access_bands` — children (and each priority group) per band, e.g. 0–1, 1–3, 3–5,
  5–10 and over 10 km, or 0–15, 15–30, 30–60, 60–120 and over 120 minutes, per level; the
  bands of a row add up to its children (a child with no home known falls in the last band);
* :func:`group_equity` — per priority group against all children: the share beyond the
  standard, the mean and the 90th percentile of the cost (weighted by children);
* :func:`gini_by_unit` and :func:`lorenz_points` — the Gini coefficient of the cost over the
  children of each unit and its Lorenz curve (0: everyone equally far; 1: all of the distance
  borne by one child).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from siting.levels import CODE_COLUMNS
from siting.report.tables import weighted_quantile

__all__ = ["DEFAULT_BANDS", "access_bands", "band_columns", "gini", "gini_by_unit", "group_equity", "lorenz_points"]

#: Upper edges of the bands (in the unit planners read: km or minutes); the last band is open.
DEFAULT_BANDS = {"m": (1.0, 3.0, 5.0, 10.0), "min": (15.0, 30.0, 60.0, 120.0)}
#: Display unit of each access unit and its factor from the access unit.
_SHOWN = {"m": ("km", 1e-3), "min": ("min", 1.0)}


def band_columns(edges: Sequence[float], unit: str, *, prefix: str = "children") -> list[str]:
    """Column names of the bands, e.g. ``children_0_1_km`` … ``children_over_10_km``."""
    shown = _SHOWN[unit][0]
    lows = [0.0, *edges[:-1]]
    names = [f"{prefix}_{lo:g}_{hi:g}_{shown}" for lo, hi in zip(lows, edges, strict=True)]
    return [*names, f"{prefix}_over_{edges[-1]:g}_{shown}"]


def _band_of(cost: np.ndarray, edges: Sequence[float], unit: str) -> np.ndarray:
    """The band index of each cost (in the access unit); unknown costs fall in the open band."""
    shown = np.asarray(cost, dtype=float) * _SHOWN[unit][1]
    band = np.searchsorted(np.asarray(edges, dtype=float), shown, side="left")  # a cost on an edge is in the lower band
    return np.where(np.isfinite(shown), band, len(edges))


def access_bands(
    demand: pd.DataFrame,
    cost: np.ndarray,
    *,
    unit: str,
    edges: Sequence[float] | None = None,
    groups: Sequence[str] = (),
    levels: Sequence[str] = ("province", "prefecture", "county", "township"),
) -> dict[str, pd.DataFrame]:
    """Children and each priority group per access band, per level (rows by unit code).

    Parameters
    ----------
    demand
        One row per demand point: the level code columns, ``children`` and the group columns.
    cost
        Cost to the nearest open home per demand point (access unit; NaN where none is known).
    unit
        ``"m"`` or ``"min"``.
    edges
        Upper band edges in km or minutes (default :data:`DEFAULT_BANDS`).
    groups
        Priority-group count columns of ``demand``.
    """
    edges = tuple(edges or DEFAULT_BANDS[unit])
    band = _band_of(cost, edges, unit)
    columns: dict[str, np.ndarray] = {}
    for group in ("children", *groups):
        weight = demand[group].to_numpy(dtype=float)
        for k, name in enumerate(band_columns(edges, unit, prefix=group)):
            columns[name] = np.where(band == k, weight, 0.0)
    table = demand.assign(**columns)
    out = {}
    for level in levels:
        frame = table.groupby(CODE_COLUMNS[level])[["children", *groups, *columns]].sum()
        frame.index.name = "unit_code"
        out[level] = frame.reset_index()
    return out


def group_equity(demand: pd.DataFrame, cost: np.ndarray, *, standard: float, groups: Sequence[str]) -> pd.DataFrame:
    """All children and each priority group: how many, the share beyond the standard, the mean and p90 cost."""
    cost = np.asarray(cost, dtype=float)
    rows = []
    for group in ("children", *groups):
        weight = demand[group].to_numpy(dtype=float)
        total = float(weight.sum())
        beyond = float(weight[~(cost <= standard)].sum())
        known = np.isfinite(cost) & (weight > 0)
        mean = float((cost[known] * weight[known]).sum() / weight[known].sum()) if known.any() else float("nan")
        rows.append(
            {
                "group": group,
                "children": total,
                "beyond_standard": beyond,
                "beyond_standard_pct": 100 * beyond / total if total > 0 else float("nan"),
                "cost_mean": mean,
                "cost_p90": weighted_quantile(cost, weight, 0.9),
            }
        )
    return pd.DataFrame(rows)


def lorenz_points(cost: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Lorenz curve of ``cost`` over ``weight``: cumulative share of children and of the cost they bear."""
    keep = np.isfinite(cost) & (weight > 0)
    order = np.argsort(cost[keep], kind="stable")
    c, w = cost[keep][order], weight[keep][order]
    x = np.concatenate([[0.0], np.cumsum(w)])
    y = np.concatenate([[0.0], np.cumsum(c * w)])
    if x[-1] <= 0 or y[-1] <= 0:
        return np.array([0.0, 1.0]), np.array([0.0, 1.0])
    return x / x[-1], y / y[-1]


def gini(cost: np.ndarray, weight: np.ndarray) -> float:
    """Gini coefficient of ``cost`` over ``weight``: 1 - 2 × the area under the Lorenz curve."""
    x, y = lorenz_points(np.asarray(cost, dtype=float), np.asarray(weight, dtype=float))
    return float(1.0 - np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1])))


def gini_by_unit(demand: pd.DataFrame, cost: np.ndarray, *, level: str = "prefecture") -> pd.DataFrame:
    """Gini of the cost over the children of each unit of ``level``, and the mean cost there."""
    cost = np.asarray(cost, dtype=float)
    codes = demand[CODE_COLUMNS[level]].astype(str).to_numpy()
    children = demand["children"].to_numpy(dtype=float)
    units, unit_of = np.unique(codes, return_inverse=True)
    # One sort by unit, then each unit's points are one slice (a mask per unit grew with units × points).
    order = np.argsort(unit_of, kind="stable")
    starts = np.searchsorted(unit_of[order], np.arange(len(units) + 1))
    rows = []
    for k, code in enumerate(units.tolist()):
        here = order[starts[k] : starts[k + 1]]
        rows.append({"unit_code": code, "gini": gini(cost[here], children[here]), "children": children[here].sum()})
    return pd.DataFrame(rows, columns=["unit_code", "gini", "children"])
