"""Coverage tables per administrative level: province, prefecture, county, township.

Every count column adds up: the province row equals the sum of the prefecture
rows, which equals the sum of the county rows and of the township rows. Coverage
is weighted by children, never by points. Cost statistics are named from the
access unit (``distance_mean_m``, ``time_p90_min``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from siting.access import Access
from siting.allocation import grouped_weighted_quantile
from siting.levels import CODE_COLUMNS, LEVELS
from siting.models.plan import Plan
from siting.network import StaffRules

__all__ = [
    "COUNT_COLUMNS",
    "LEVELS",
    "PARENT_LEVEL",
    "children_within",
    "coverage_by_level",
    "coverage_report",
    "weighted_quantile",
    "whole_area",
    "within_column",
]

#: Columns that add up across levels.
COUNT_COLUMNS = [
    "communities",
    "children",
    "children_covered",
    "priority_children",
    "priority_covered",
    "homes_existing",
    "homes_new",
    "homes_total",
    "townships",
    "townships_with_home",
    "communities_uncovered",
    "build_cost_cny",
    "directors",
    "director_pay_cny_per_year",
]

#: Count columns that hold whole numbers (the others are sums of modelled, fractional children or yuan).
INTEGER_COLUMNS = [
    c
    for c in COUNT_COLUMNS
    if c
    not in (
        "children",
        "children_covered",
        "priority_children",
        "priority_covered",
        "build_cost_cny",
        "director_pay_cny_per_year",
    )
]
#: The level each level's units lie in (for the secondary suppression rule).
PARENT_LEVEL = {"prefecture": "province", "county": "prefecture", "township": "county"}


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The ``q`` quantile of ``values`` with ``weights`` (lower weighted quantile)."""
    out = grouped_weighted_quantile(np.zeros(len(values)), np.asarray(values, float), np.asarray(weights, float), q)
    return float(out.iloc[0]) if len(out) else float("nan")


def coverage_report(
    demand: pd.DataFrame,
    allocation: pd.DataFrame,
    sites: pd.DataFrame,
    plan: Plan,
    access: Access,
    *,
    priority_groups: list[str] | None = None,
    names: pd.DataFrame | None = None,
    staff: StaffRules | None = None,
) -> dict[str, pd.DataFrame]:
    """One coverage table per level (province, prefecture, county, township).

    Parameters
    ----------
    demand
        ``demand_id``, ``community_code``, the level code columns, ``children`` and
        the priority-group count columns.
    allocation
        From :func:`siting.allocation.allocate`.
    sites
        ``site_id``, the level code columns, ``cost_cny``.
    plan
        Which homes are existing and new.
    access
        The access the plan was made on (the unit of the cost statistics).
    priority_groups
        Priority count columns of ``demand`` (default: none).
    names
        ``unit_code``, ``unit_name_zh``, ``unit_name_en`` for every level's codes.
    staff
        Pay rules for the directors' yearly pay.

    Returns
    -------
    dict
        Level → table with ``unit_code`` and the columns of :data:`COUNT_COLUMNS`,
        percentages, the mean and 90th-percentile cost (children-weighted) and, below
        the province, the parent unit's code in ``parent_code``; sorted by code.
    """
    staff = staff or StaffRules()
    groups = priority_groups or []
    cost = access.column()
    table = demand.merge(allocation, on="demand_id", how="left", validate="one_to_one")
    if table["covered"].isna().any():
        raise ValueError("allocation does not cover every demand point")
    covered = table["covered"].astype(bool).to_numpy()
    children = table["children"].to_numpy(dtype=float)
    priority = table[groups].sum(axis=1).to_numpy(dtype=float) if groups else np.zeros(len(table))
    # The cost a child bears: to its home, or to the nearest home when uncovered.
    borne = np.where(covered, table[cost].to_numpy(dtype=float), table[access.column("nearest")].to_numpy(dtype=float))
    table = table.assign(
        _covered_children=np.where(covered, children, 0.0),
        _priority=priority,
        _priority_covered=np.where(covered, priority, 0.0),
        _borne=borne,
        _weighted=np.where(np.isfinite(borne), borne * children, 0.0),
        _weight=np.where(np.isfinite(borne), children, 0.0),
    )
    site_table = sites.set_index("site_id")
    existing = site_table.loc[list(plan.existing_ids)].reset_index()
    new = site_table.loc[list(plan.new_ids)].reset_index()
    homes = site_table.loc[list(plan.site_ids)].reset_index()
    communities = table.drop_duplicates("community_code")
    uncovered = table[~covered].drop_duplicates("community_code")
    towns = communities[[CODE_COLUMNS[level] for level in LEVELS]].drop_duplicates("township_code")
    towns = towns.assign(_with=towns["township_code"].isin(set(homes["township_code"])))

    out: dict[str, pd.DataFrame] = {}
    for level in LEVELS:
        key = CODE_COLUMNS[level]
        grouped = table.groupby(key)
        frame = pd.DataFrame(
            {
                "children": grouped["children"].sum(),
                "children_covered": grouped["_covered_children"].sum(),
                "priority_children": grouped["_priority"].sum(),
                "priority_covered": grouped["_priority_covered"].sum(),
            }
        )
        frame["communities"] = communities.groupby(key).size()
        frame["communities_uncovered"] = uncovered.groupby(key).size()
        frame["homes_existing"] = existing.groupby(key).size()
        frame["homes_new"] = new.groupby(key).size()
        frame["build_cost_cny"] = new.groupby(key)["cost_cny"].sum()
        frame["townships"] = towns.groupby(key).size()
        frame["townships_with_home"] = towns.groupby(key)["_with"].sum()
        frame = frame.fillna(0)
        frame = _derived(frame, staff)
        frame[access.column("mean")] = grouped["_weighted"].sum() / grouped["_weight"].sum().where(lambda w: w > 0)
        frame[access.column("p90")] = grouped_weighted_quantile(
            table[key].to_numpy(), table["_borne"].to_numpy(dtype=float), children, 0.9
        ).reindex(frame.index)
        out[level] = _labelled(frame, level, communities, names)
    return out


def whole_area(tables: Mapping[str, pd.DataFrame]) -> pd.Series:
    """The study area's own figures: its province row, or the provinces added up when it spans several.

    A multi-province run (a national plan) has one province row each; the totals a run
    prints and records are the sums, with the percentages taken from them.

    >>> rows = pd.DataFrame({"children": [100.0, 300.0], "children_covered": [50.0, 250.0]})
    >>> whole_area({"province": rows})[["children", "children_covered", "children_covered_pct"]].tolist()
    [400.0, 300.0, 75.0]
    """
    provinces = tables["province"]
    if len(provinces) == 1:
        return provinces.iloc[0]
    total = provinces[[column for column in COUNT_COLUMNS if column in provinces]].sum().to_frame().T
    return _with_percentages(total).iloc[0]


#: The report's percentages: (column, part, whole).
PERCENTAGES = (
    ("children_covered_pct", "children_covered", "children"),
    ("priority_covered_pct", "priority_covered", "priority_children"),
    ("townships_with_home_pct", "townships_with_home", "townships"),
)


def _with_percentages(frame: pd.DataFrame) -> pd.DataFrame:
    """Each percentage of :data:`PERCENTAGES` whose part and whole are in ``frame`` (empty where the whole is 0)."""
    for pct, part, whole in PERCENTAGES:
        if part in frame and whole in frame:
            frame[pct] = 100 * frame[part] / frame[whole].where(frame[whole] > 0)
    return frame


def _derived(frame: pd.DataFrame, staff: StaffRules) -> pd.DataFrame:
    """Totals, directors and their pay, whole numbers where they count, and the percentages."""
    frame["homes_total"] = frame["homes_existing"] + frame["homes_new"]
    frame["directors"] = frame["communities"]
    frame["director_pay_cny_per_year"] = frame["directors"] * staff.director_cny_per_year
    for column in INTEGER_COLUMNS:
        frame[column] = frame[column].astype(np.int64)
    return _with_percentages(frame)


def _labelled(frame: pd.DataFrame, level: str, communities: pd.DataFrame, names: pd.DataFrame | None) -> pd.DataFrame:
    """The level's table by code, with its parent, its names (the code where none is known) first."""
    frame.index.name = "unit_code"
    frame = frame.reset_index().sort_values("unit_code").reset_index(drop=True)
    if level in PARENT_LEVEL:
        key = CODE_COLUMNS[level]
        parent = communities.drop_duplicates(key).set_index(key)[CODE_COLUMNS[PARENT_LEVEL[level]]]
        frame.insert(1, "parent_code", frame["unit_code"].map(parent))
    frame.insert(0, "level", level)
    known = (
        names.drop_duplicates("unit_code")[["unit_code", "unit_name_zh", "unit_name_en"]]
        if names is not None
        else pd.DataFrame({"unit_code": [], "unit_name_zh": [], "unit_name_en": []})
    )
    frame = frame.merge(known, on="unit_code", how="left")
    frame["unit_name_zh"] = (
        frame["unit_name_zh"].astype(object).where(frame["unit_name_zh"].notna(), frame["unit_code"])
    )
    frame["unit_name_en"] = frame["unit_name_en"].astype(object).where(frame["unit_name_en"].notna(), "")
    first = [c for c in ("level", "unit_code", "unit_name_zh", "unit_name_en", "parent_code") if c in frame]
    return frame[first + [c for c in frame.columns if c not in first]]


def within_column(minutes: float) -> str:
    """The column of children within ``minutes`` of the nearest home: ``children_within_30_min``."""
    return f"children_within_{minutes:g}_min"


def children_within(
    demand: pd.DataFrame,
    minutes: np.ndarray,
    thresholds_min: Sequence[float],
    *,
    names: pd.DataFrame | None = None,
    levels: Sequence[str] = ("prefecture", "county", "township"),
) -> dict[str, pd.DataFrame]:
    """Children within each travel-time threshold of the nearest home (or facility), per level.

    Parameters
    ----------
    demand
        ``community_code``, the level code columns and ``children``, one row per demand point.
    minutes
        Minutes from each demand point to its nearest home; NaN or ``inf`` where none is
        within the largest threshold.
    thresholds_min
        Rising thresholds, e.g. ``(15, 30, 60, 120)``.
    names
        ``unit_code``, ``unit_name_zh``, ``unit_name_en``.
    levels
        The levels to tabulate.

    Returns
    -------
    dict
        Level → table: ``children``, ``children_within_<t>_min`` for each threshold (each
        counts the children of the ones before it too) and ``children_beyond_<T>_min`` for
        the largest, so that the last two add up to ``children``; sorted by code.
    """
    minutes = np.asarray(minutes, dtype=float)
    children = demand["children"].to_numpy(dtype=float)
    reached = np.where(np.isfinite(minutes), minutes, np.inf)
    columns = {within_column(t): np.where(reached <= t, children, 0.0) for t in thresholds_min}
    beyond = f"children_beyond_{thresholds_min[-1]:g}_min"
    columns[beyond] = np.where(reached > thresholds_min[-1], children, 0.0)
    table = demand.assign(**columns)
    communities = demand.drop_duplicates("community_code")
    out = {}
    for level in levels:
        key = CODE_COLUMNS[level]
        frame = table.groupby(key)[["children", *columns]].sum()
        out[level] = _labelled(frame, level, communities, names)
    return out


def coverage_by_level(tables: dict[str, pd.DataFrame], *, level: str) -> pd.DataFrame:
    """The rows of one level followed by the province row (the run's summary table).

    Parameters
    ----------
    tables
        Output of :func:`coverage_report` (reused, not computed again).
    level
        ``"prefecture"``, ``"county"`` or ``"township"``; columns are named
        ``<level>_code``, ``<level>_name_zh``, ``<level>_name_en``.
    """
    rename = {"unit_code": f"{level}_code", "unit_name_zh": f"{level}_name_zh", "unit_name_en": f"{level}_name_en"}
    out = pd.concat([tables[level], tables["province"]], ignore_index=True).drop(columns=["level", "parent_code"])
    return out.rename(columns=rename)
