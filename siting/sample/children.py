"""Modelled children of the sample: counts per community, the raster, priority groups, homes.

The census gives children per county only. This module spreads each county's
count over its communities and then over 30 arc-second cells, so that

* each county's raster sum equals its census count of children aged 0–17,
  taken as ``0–14 + 3/5 × (15–19)`` (one flat share for ages 15–17; the census
  publishes 5-year groups only);
* residents' committees (urban) get the county's urban share of children,
  village committees the rest, with lognormal variation inside each group;
* inside a community, children concentrate around its seat (exponential decay).

Priority groups are drawn by multinomial sampling so that the province totals
are exactly the figures of the 2019 source document, rural-weighted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

__all__ = [
    "AGES_15_17_SHARE_OF_15_19",
    "EXISTING_HOMES_BEFORE_2019",
    "PRIORITY_TOTALS",
    "children_0_17_per_county",
    "community_children",
    "existing_homes",
    "institutions",
    "priority_counts",
    "spread_to_cells",
]

AGES_15_17_SHARE_OF_15_19 = 3 / 5
#: Children's homes before the 2019 round: 1,634 in 2019 minus the 440 the
#: 2019 budget (13,200,000 CNY) paid for.
EXISTING_HOMES_BEFORE_2019 = 1634 - 440
#: Institutions being upgraded to serve the county tier (source document): child-welfare and rescue-management.
INSTITUTIONS = {"welfare": 45, "rescue": 92}

#: Province totals from the source document (DESIGN.md), and which committees carry them.
PRIORITY_TOTALS: dict[str, tuple[int, str]] = {
    "left_behind": (38_600, "rural"),
    "difficult_circumstances": (22_000, "rural_weighted"),
    "dibao_urban": (79_000, "urban"),
    "dibao_rural": (403_800, "rural"),
}
RURAL_WEIGHT = 2.0
URBAN_SIGMA = 0.5
RURAL_SIGMA = 0.7
DECAY_URBAN_M = 800.0
DECAY_RURAL_M = 2000.0


def children_0_17_per_county(counties: pd.DataFrame) -> pd.Series:
    """Census children aged 0–17 per county: ``0–14 + 3/5 × (15–19)``, indexed by county code."""
    total = counties["population_0_14"] + AGES_15_17_SHARE_OF_15_19 * counties["pop_age_15_19"]
    return pd.Series(total.to_numpy(dtype=float), index=counties["county_code"], name="children")


def community_children(communities: pd.DataFrame, counties: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """Children per community such that each county sums to its census figure.

    Parameters
    ----------
    communities
        ``county_code`` and ``committee_type`` per community.
    counties
        Census columns per county (``population_0_14``, ``pop_age_15_19``,
        ``population_urban``, ``population_total``).
    rng
        Random generator.
    """
    target = children_0_17_per_county(counties)
    urban_share = pd.Series(
        (counties["population_urban"] / counties["population_total"]).to_numpy(),
        index=counties["county_code"],
    )
    residents = (communities["committee_type"] == "residents_committee").to_numpy()
    sigma = np.where(residents, URBAN_SIGMA, RURAL_SIGMA)
    weight = rng.lognormal(0.0, 1.0, len(communities)) ** sigma
    out = np.zeros(len(communities))
    county = communities["county_code"].to_numpy()
    for code in np.unique(county):
        in_county = county == code
        groups = [in_county & residents, in_county & ~residents]
        present = [g for g in groups if g.any()]
        share = float(np.clip(urban_share[code], 0.02, 0.98))
        shares = [share, 1.0 - share] if len(present) == 2 else [1.0]
        for group, group_share in zip(present, shares, strict=True):
            w = weight[group]
            out[group] = target[code] * group_share * w / w.sum()
    return out


def spread_to_cells(
    children: np.ndarray,
    community_of_cell: np.ndarray,
    cell_xy: np.ndarray,
    seat_xy: np.ndarray,
    decay_m: np.ndarray,
    county_of_cell: np.ndarray,
    community_county: np.ndarray,
) -> np.ndarray:
    """Spread community counts over raster cells; returns a value per cell.

    Parameters
    ----------
    children
        Children per community (length n).
    community_of_cell
        Community index per cell, ``-1`` where none.
    cell_xy
        Cell centres in metres, shape (cells, 2).
    seat_xy
        Community seats in metres, shape (n, 2).
    decay_m
        Exponential decay length per community.
    county_of_cell, community_county
        County index per cell (``-1`` outside) and per community. A cell only
        takes children of a community of its own county, so each county's
        cells sum to the county's children exactly.

    Notes
    -----
    A community whose polygon holds no cell centre puts its children in the
    nearest cell of its county.
    """
    n = len(children)
    values = np.zeros(len(community_of_cell), dtype=np.float64)
    valid = community_of_cell >= 0
    idx = np.flatnonzero(valid)
    com = community_of_cell[idx]
    same = county_of_cell[idx] == community_county[com]
    idx, com = idx[same], com[same]
    distance = np.hypot(*(cell_xy[idx] - seat_xy[com]).T)
    w = np.exp(-distance / decay_m[com]) + 1e-6
    totals = np.bincount(com, weights=w, minlength=n)
    has_cells = totals > 0
    share = np.where(has_cells[com], w / np.where(totals[com] > 0, totals[com], 1.0), 0.0)
    np.add.at(values, idx, children[com] * share)

    orphans = np.flatnonzero(~has_cells)
    if len(orphans) == 0:
        return values
    # Cells grouped by county once (a stable sort keeps each county's cells in index order).
    by_county = np.argsort(county_of_cell, kind="stable")
    starts = np.searchsorted(county_of_cell[by_county], np.arange(community_county.max() + 2))
    orphans = orphans[np.argsort(community_county[orphans], kind="stable")]
    counties, first = np.unique(community_county[orphans], return_index=True)
    for county, members in zip(counties, np.split(orphans, first[1:]), strict=True):
        cells = by_county[starts[county] : starts[county + 1]]
        _, nearest = cKDTree(cell_xy[cells]).query(seat_xy[members])
        np.add.at(values, cells[nearest], children[members])
    return values


def priority_counts(children: np.ndarray, committee_type: pd.Series, rng: np.random.Generator) -> pd.DataFrame:
    """Integer priority-group counts per community with exact province totals.

    ``left_behind`` and ``dibao_rural`` go to village committees in proportion
    to children; ``dibao_urban`` to residents' committees; ``difficult_circumstances``
    to all, village committees weighted ×2.
    """
    rural = (committee_type == "village_committee").to_numpy()
    out = {}
    for name, (total, where) in PRIORITY_TOTALS.items():
        if where == "rural":
            p = children * rural
        elif where == "urban":
            p = children * ~rural
        else:
            p = children * np.where(rural, RURAL_WEIGHT, 1.0)
        out[name] = rng.multinomial(total, p / p.sum())
    frame = pd.DataFrame(out)
    frame["dibao"] = frame.pop("dibao_urban") + frame.pop("dibao_rural")
    return frame


def existing_homes(
    children: np.ndarray, rng: np.random.Generator, *, count: int = EXISTING_HOMES_BEFORE_2019
) -> np.ndarray:
    """Indices of communities hosting an existing home, drawn ∝ children without replacement."""
    p = children / children.sum()
    return np.sort(rng.choice(len(children), size=count, replace=False, p=p))


def institutions(population: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """County indices of the modelled institutions of each kind: distinct counties, drawn ∝ population."""
    p = population / population.sum()
    return {
        kind: np.sort(rng.choice(len(population), size=count, replace=False, p=p))
        for kind, count in INSTITUTIONS.items()
    }
