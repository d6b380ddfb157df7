"""The planner's sandbox (沙盘): a run's access pairs and counts, so any set of homes can be evaluated exactly.

A run keeps, in ``sandbox.npz``, what coverage needs and nothing more: every community
(its codes, name, seat, children and priority children, small priority counts left out as
in every shared file), every candidate site (existing or not, its cost, its community)
and the pairs of community × site within the standard. The map carries the same data
(:func:`siting.webmap.sandbox.add_sandbox`), so that the page's totals after a planner's
changes and ``siting evaluate RUN --homes FILE`` are the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from siting.access import Access
from siting.errors import InputError
from siting.levels import LEVELS
from siting.models.plan import Plan
from siting.tables import read_table

__all__ = ["LEVELS", "SandboxData", "coverage_of", "read_homes_file", "sandbox_data"]

SANDBOX_NPZ = "sandbox.npz"
#: The arrays per community (in demand order), per candidate site, per unit name, and of the pairs.
COMMUNITY_ARRAYS = (
    "community_code",
    "community_name",
    "township_code",
    "county_code",
    "prefecture_code",
    "province_code",
    "children",
    "priority",
    "lon",
    "lat",
    "plan_nearest_site",
    "plan_nearest_cost",
)
SITE_ARRAYS = ("site_id", "site_community", "site_existing", "site_planned", "site_cost_cny", "site_lon", "site_lat")
UNIT_ARRAYS = ("unit_code", "unit_name", "unit_level")
PAIR_ARRAYS = ("indptr", "indices", "cost")
#: The arrays that hold text (stored as unicode, read back as objects).
_TEXT = (
    "community_code",
    "community_name",
    "township_code",
    "county_code",
    "prefecture_code",
    "province_code",
    "plan_nearest_site",
    "site_id",
    "site_community",
    *UNIT_ARRAYS,
)
_NUMBERS = tuple(name for name in (*COMMUNITY_ARRAYS, *SITE_ARRAYS, *PAIR_ARRAYS) if name not in _TEXT)


@dataclass(frozen=True, eq=False)
class SandboxData:
    """Communities, candidate sites and the pairs within the standard (demand × site, CSR), in demand order.

    ``priority`` holds each community's priority children with counts below the small-count
    threshold left out (0), as every shared file shows them.
    """

    unit: str
    standard: float
    budget_cny: float
    threshold: int
    community_code: np.ndarray
    community_name: np.ndarray
    township_code: np.ndarray
    county_code: np.ndarray
    prefecture_code: np.ndarray
    province_code: np.ndarray
    children: np.ndarray
    priority: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    site_id: np.ndarray
    site_community: np.ndarray
    site_existing: np.ndarray
    site_planned: np.ndarray
    site_cost_cny: np.ndarray
    site_lon: np.ndarray
    site_lat: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    cost: np.ndarray
    unit_code: np.ndarray
    unit_name: np.ndarray
    unit_level: np.ndarray
    #: Each community's nearest open home in the run's plan, at any distance or time, and the cost to it.
    plan_nearest_site: np.ndarray
    plan_nearest_cost: np.ndarray

    def codes(self, level: str) -> np.ndarray:
        """Each community's code at ``level``."""
        return getattr(self, f"{level}_code")

    def save(self, path: Path) -> Path:
        """Write ``sandbox.npz`` (compressed)."""
        arrays = {name: np.asarray(getattr(self, name)).astype(str) for name in _TEXT}
        arrays |= {name: np.asarray(getattr(self, name)) for name in _NUMBERS}
        arrays["meta"] = np.array([self.unit, repr(self.standard), repr(self.budget_cny), str(self.threshold)])
        with open(path, "wb") as handle:
            np.savez_compressed(handle, **arrays)  # type: ignore[arg-type]
        return path

    @classmethod
    def load(cls, path: Path) -> SandboxData:
        """Read ``sandbox.npz`` back (a run folder written before it has none: say so)."""
        if not path.is_file():
            raise InputError(
                f"{path} does not exist: the run was written before runs kept their access pairs; rerun it "
                "(siting rerun RUN) to evaluate other homes with its access"
            )
        with np.load(path, allow_pickle=False) as data:
            unit, standard, budget, threshold = data["meta"].tolist()
            fields = {name: data[name].astype(object) for name in _TEXT}
            fields |= {name: data[name] for name in _NUMBERS}
        return cls(unit=unit, standard=float(standard), budget_cny=float(budget), threshold=int(threshold), **fields)

    def within(self, keep: np.ndarray) -> SandboxData:
        """The sandbox of some communities (a county's map): them, the sites in them or reaching them, their pairs.

        Sites outside that reach a kept community stay, so the unit's coverage is counted exactly.
        """
        rows = np.flatnonzero(keep)
        counts = np.diff(self.indptr)[rows]
        starts = self.indptr[:-1][rows]
        pieces = [np.arange(a, a + n, dtype=np.int64) for a, n in zip(starts, counts, strict=True)]
        take = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)
        inside = np.isin(self.site_community.astype(str), self.community_code[rows].astype(str))
        sites = np.union1d(np.flatnonzero(inside), self.indices[take]).astype(np.int64)
        new_index = np.full(len(self.site_id), -1, dtype=np.int64)
        new_index[sites] = np.arange(len(sites))
        fields = {name: getattr(self, name) for name in ("unit", "standard", "budget_cny", "threshold")}
        return SandboxData(
            **fields,
            **{name: getattr(self, name)[rows] for name in COMMUNITY_ARRAYS},
            **{name: getattr(self, name)[sites] for name in SITE_ARRAYS},
            **{name: getattr(self, name) for name in UNIT_ARRAYS},
            indptr=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            indices=new_index[self.indices[take]],
            cost=self.cost[take],
        )

    def open_mask(self, site_ids: list[str]) -> np.ndarray:
        """True on the given sites; an id that is not a candidate of the run is refused by name."""
        position = pd.Index(self.site_id.astype(str)).get_indexer(site_ids)
        unknown = [s for s, p in zip(site_ids, position, strict=True) if p < 0]
        if unknown:
            raise InputError(
                f"{len(unknown)} homes are not candidate sites of the run, e.g. {unknown[:5]}; give their site ids "
                "(community codes) as the run's homes.csv names them"
            )
        mask = np.zeros(len(self.site_id), dtype=bool)
        mask[position] = True
        return mask


def sandbox_data(
    demand: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    access: Access,
    plan: Plan,
    *,
    unit_names: pd.DataFrame,
    priority_columns: list[str],
    budget_cny: float | None,
    threshold: int,
) -> SandboxData:
    """The sandbox of a run: communities (demand order), candidate sites (matrix order), pairs within the standard."""
    if not demand["demand_id"].astype(str).equals(demand["community_code"].astype(str)):
        raise InputError("the sandbox needs one demand point per community (split communities are not kept)")
    order = pd.Index(access.demand_ids.astype(str)).get_indexer(demand["demand_id"].astype(str))
    matrix = access.costs.matrix.tocsr()[order]  # rows in demand order; a stored cost may be 0 (a home in place)
    rows = np.repeat(np.arange(len(demand)), np.diff(matrix.indptr))
    keep = matrix.data <= access.standard
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows[keep], minlength=len(demand)))]).astype(np.int64)
    indices, costs = matrix.indices[keep].astype(np.int64), matrix.data[keep].astype(np.float64)
    site_rows = pd.Index(sites["site_id"].astype(str)).get_indexer(access.site_ids.astype(str))
    site_table = sites.iloc[site_rows]
    seats = demand.geometry.to_crs(4326)
    site_points = site_table.geometry.to_crs(4326)
    raw = demand[priority_columns].sum(axis=1).to_numpy(dtype=float) if priority_columns else np.zeros(len(demand))
    shown = np.where((raw > 0) & (raw < threshold), 0.0, raw)
    names = unit_names.drop_duplicates("unit_code")
    planned = np.isin(access.site_ids.astype(str), np.array(plan.site_ids, dtype=str))
    return SandboxData(
        unit=access.unit,
        standard=float(access.standard),
        budget_cny=float("nan") if budget_cny is None else float(budget_cny),
        threshold=int(threshold),
        community_code=demand["community_code"].astype(str).to_numpy(dtype=object),
        community_name=demand.get("community_name", demand["community_code"]).astype(str).to_numpy(dtype=object),
        township_code=demand["township_code"].astype(str).to_numpy(dtype=object),
        county_code=demand["county_code"].astype(str).to_numpy(dtype=object),
        prefecture_code=demand["prefecture_code"].astype(str).to_numpy(dtype=object),
        province_code=demand["province_code"].astype(str).to_numpy(dtype=object),
        children=demand["children"].to_numpy(dtype=float),
        priority=shown,
        lon=seats.x.to_numpy(),
        lat=seats.y.to_numpy(),
        site_id=access.site_ids.astype(str).astype(object),
        site_community=site_table["community_code"].astype(str).to_numpy(dtype=object),
        site_existing=site_table["existing"].to_numpy(dtype=bool),
        site_planned=planned,
        site_cost_cny=site_table["cost_cny"].to_numpy(dtype=float),
        site_lon=site_points.x.to_numpy(),
        site_lat=site_points.y.to_numpy(),
        indptr=indptr,
        indices=indices,
        cost=costs,
        unit_code=names["unit_code"].astype(str).to_numpy(dtype=object),
        unit_name=names["unit_name_zh"].astype(str).to_numpy(dtype=object),
        unit_level=names["level"].astype(str).to_numpy(dtype=object),
        plan_nearest_site=demand.get("nearest_site_id", pd.Series([""] * len(demand)))
        .fillna("")
        .astype(str)
        .to_numpy(dtype=object),
        plan_nearest_cost=demand.get("nearest_cost", pd.Series([np.nan] * len(demand))).to_numpy(dtype=float),
    )


def coverage_of(data: SandboxData, open_sites: np.ndarray) -> dict[str, pd.DataFrame]:
    """Children and priority children covered by the open sites, per level (the page computes the same).

    Parameters
    ----------
    data
        The run's sandbox.
    open_sites
        Boolean mask over ``data.site_id``.
    """
    counts = np.add.reduceat(open_sites[data.indices].astype(np.int64), data.indptr[:-1]) if len(data.indices) else None
    empty = np.diff(data.indptr) == 0
    covered = np.zeros(len(data.children), dtype=bool) if counts is None else (counts > 0) & ~empty
    frame = pd.DataFrame(
        {
            "children": data.children,
            "children_covered": np.where(covered, data.children, 0.0),
            "priority_children": data.priority,
            "priority_covered": np.where(covered, data.priority, 0.0),
        }
    )
    names = dict(zip(data.unit_code, data.unit_name, strict=True))
    out = {}
    for level in LEVELS:
        table = frame.groupby(data.codes(level)).sum()
        table.index.name = "unit_code"
        table = table.reset_index()
        table.insert(1, "unit_name_zh", table["unit_code"].map(names).fillna(table["unit_code"]))
        table["children_covered_pct"] = 100 * table["children_covered"] / table["children"].where(lambda c: c > 0)
        out[level] = table
    return out


def read_homes_file(path: Path) -> tuple[list[str], list[str]]:
    """Open and closed homes from a sandbox export (``site_id``, ``status`` = new / existing / closed)."""
    table = read_table(path, what="homes", text_columns=("site_id", "status"))
    missing = [c for c in ("site_id", "status") if c not in table.columns]
    if missing:
        raise InputError(
            f"homes {path} lack columns {missing}; give site_id and status (new, existing or closed), as the "
            "map's 导出 export writes them"
        )
    status = table["status"].astype(str).str.strip().str.lower()
    wrong = sorted(set(status) - {"new", "existing", "closed"})
    if wrong:
        raise InputError(f"homes {path}: status {wrong[:5]} is not new, existing or closed")
    ids = table["site_id"].astype(str).str.strip()
    return ids[status != "closed"].tolist(), ids[status == "closed"].tolist()
