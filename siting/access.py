"""The access stage: who can reach which site, at what cost, within what standard, inside which boundary.

Everything downstream (models, phasing, allocation, the report, the map) takes one
frozen :class:`Access`: the sparse demand × site cost matrix with its unit (``"m"``
for distance, ``"min"`` for travel time), the service standard in that unit, the
mode that produced it and the boundary rule, applied here once. Column names,
headers and map text are made from the unit by :func:`cost_column` and
:func:`format_cost`, so nothing downstream assumes metres.

Constructors: :func:`access_from_points` (straight-line distance) and
:func:`access_from_table` (a long table of costs exported from a routing engine).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.neighbors import KDTree

from siting.costs import CostMatrix, cost_matrix_from_table, distance_matrix, restrict_to_same_unit
from siting.errors import InputError

if TYPE_CHECKING:
    from siting.travel.grid import TravelGrid

__all__ = [
    "MODES",
    "RESPECT_LEVELS",
    "Access",
    "NearestHome",
    "StraightLine",
    "access_codes",
    "access_from_points",
    "access_from_table",
    "cost_column",
    "format_cost",
    "read_cost_table",
    "with_boundary",
]

MODES = ("distance", "table", "travel_time")
RESPECT_LEVELS = ("township", "county")
#: Unit → (quantity, Chinese label, English label, display unit, factor to the display unit).
_UNITS = {
    "m": ("distance", "距离", "distance", "km", 1e-3),
    "min": ("time", "时间", "travel time", "min", 1.0),
}
_DISPLAY_ZH = {"km": "公里", "min": "分钟"}


def cost_column(unit: str, stat: str = "") -> str:
    """The column name of a cost statistic: ``distance_mean_m``, ``time_p90_min``, ``nearest_distance_m``.

    ``stat`` is put between the quantity and the unit; a stat starting with ``nearest``
    is put in front (``nearest_time_min``).
    """
    quantity = _UNITS[unit][0]
    if stat.startswith("nearest"):
        return f"{stat}_{quantity}_{unit}"
    return f"{quantity}_{stat}_{unit}" if stat else f"{quantity}_{unit}"


def format_cost(value: float, unit: str, *, digits: int = 1) -> str:
    """A cost as planners read it: ``3.2 km`` for metres, ``25 min`` for minutes; ``—`` when unknown."""
    if value is None or not math.isfinite(float(value)):
        return "—"
    _, _, _, shown, factor = _UNITS[unit]
    return f"{float(value) * factor:,.{digits if shown == 'km' else 0}f} {shown}"


@dataclass(frozen=True, eq=False)
class Access:
    """Who can reach which site, at what cost, within what standard, inside which boundary.

    Attributes
    ----------
    costs
        Demand × site costs, boundary rule applied; pairs beyond ``costs.cutoff`` are absent.
    standard
        The service standard, in ``costs.unit``: a pair within it covers.
    mode
        ``"distance"`` (straight line), ``"table"`` (a routing engine's table) or ``"travel_time"``.
    respect
        ``"township"``, ``"county"`` or None: pairs crossing that boundary were removed.
    direction
        For travel time: ``"to_home"`` (children travel) or ``"from_home"`` (the director visits).
    beyond
        How the nearest home is found beyond the stored pairs (any distance or time): a
        :class:`StraightLine` over coordinates, or a travel grid's
        :class:`~siting.travel.access.OverGrid`; None: only the stored pairs are known.
    """

    costs: CostMatrix
    standard: float
    mode: str
    respect: str | None = None
    direction: str | None = None
    beyond: NearestHome | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InputError(f"access mode {self.mode!r} is not one of {list(MODES)}")
        if not math.isfinite(self.standard) or self.standard <= 0:
            raise InputError(f"the service standard must be a positive number of {self.unit}, got {self.standard!r}")
        if self.respect not in (None, *RESPECT_LEVELS):
            raise InputError(f"respect {self.respect!r} must be 'township', 'county' or absent")

    @property
    def unit(self) -> str:
        """``"m"`` or ``"min"``."""
        return self.costs.unit

    @property
    def demand_ids(self) -> np.ndarray:
        return self.costs.demand_ids

    @property
    def site_ids(self) -> np.ndarray:
        return self.costs.site_ids

    @property
    def n_pairs(self) -> int:
        """Pairs stored (within the cutoff and the boundary rule)."""
        return self.costs.nnz

    def column(self, stat: str = "") -> str:
        """A cost column named from this access's unit (see :func:`cost_column`)."""
        return cost_column(self.unit, stat)

    def format(self, value: float) -> str:
        """A cost formatted from this access's unit (see :func:`format_cost`)."""
        return format_cost(value, self.unit)

    def standard_text(self) -> str:
        """The standard as planners read it, e.g. ``5 km (straight line)`` or ``60 min (travel time)``."""
        how = {
            "distance": "straight line / 直线",
            "table": "routing table / 路网",
            "travel_time": "travel time / 通行时间",
        }
        text = f"{format_cost(self.standard, self.unit, digits=1)} ({how[self.mode]})"
        if self.direction == "to_home":
            text += ", 儿童前往 children travel to the home"
        elif self.direction == "from_home":
            text += ", 儿童主任入户 the director visits the family"
        return text

    @property
    def grid(self) -> TravelGrid | None:
        """The travel grid, for travel time (the nearest-home raster is drawn on it)."""
        return getattr(self.beyond, "grid", None)

    def nearest(self, open_site_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Per demand point, the nearest open home and its cost (at any distance or time where :attr:`beyond` knows).

        Returns
        -------
        tuple
            ``(site ids, costs)`` in demand order; ``None`` / NaN where no open home is known.
        """
        n = len(self.demand_ids)
        site = np.full(n, None, dtype=object)
        cost = np.full(n, np.nan)
        if len(open_site_ids) == 0:
            return site, cost
        positions = np.sort(self.costs.site_positions(list(open_site_ids)))
        if self.beyond is not None and (self.respect is None or self.beyond.keeps_boundaries):
            which, found = self.beyond.nearest(positions)
            known = which >= 0
            site[known] = self.site_ids[positions[which[known]]]
            cost[known] = found[known]
            return site, cost
        sub = self.costs.matrix[:, positions].tocoo()
        order = np.lexsort((sub.col, sub.data, sub.row))
        rows, cols, data = sub.row[order], sub.col[order], sub.data[order]
        first = np.r_[True, rows[1:] != rows[:-1]] if len(rows) else np.zeros(0, dtype=bool)
        site[rows[first]] = self.site_ids[positions[cols[first]]]
        cost[rows[first]] = data[first]
        return site, cost

    def nearest_time_raster(self, open_site_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Minutes from every cell of the grid to its nearest open home, from one multi-source search.

        Returns
        -------
        tuple
            ``(minutes, home)`` grids: the time (``inf`` where no home is reached) and the
            position of that home among the open homes sorted by column (-1 where none).
            The direction is the access's: ``to_home`` is the time from the cell to the home.

        Raises
        ------
        InputError
            This access has no travel grid (it is not travel time).
        """
        raster = getattr(self.beyond, "raster", None)
        if raster is None:
            raise InputError(f"a nearest-home travel-time raster needs travel-time access, not {self.mode!r}")
        positions = np.sort(self.costs.site_positions(list(open_site_ids)))
        return raster(tuple(positions.tolist()))

    def cost_of(self, demand_positions: np.ndarray, site_positions: np.ndarray) -> np.ndarray:
        """The stored cost of some pairs (NaN for pairs that are not stored)."""
        csr = self.costs.matrix.tocsr()
        out = np.full(len(demand_positions), np.nan)
        for k, (i, j) in enumerate(zip(demand_positions, site_positions, strict=True)):
            row = csr.indices[csr.indptr[i] : csr.indptr[i + 1]]
            hit = np.flatnonzero(row == j)
            if len(hit):
                out[k] = float(csr.data[csr.indptr[i] + hit[0]])
        return out

    def within_standard(self) -> sp.csr_array:
        """0/1 matrix of the pairs within the standard."""
        return self.costs.within(self.standard)

    def summary(self) -> dict[str, Any]:
        """What ``run.json`` records about the access stage."""
        return {
            "mode": self.mode,
            "unit": self.unit,
            "standard": self.standard,
            "cutoff": self.costs.cutoff,
            "respect": self.respect,
            "direction": self.direction,
            "pairs": self.n_pairs,
        } | ({} if self.grid is None else {"grid": self.grid.summary()})


class NearestHome(Protocol):
    """How an access finds each demand point's nearest open home beyond its stored pairs."""

    @property
    def keeps_boundaries(self) -> bool:
        """Whether the answer keeps the boundary rule (a home only serves its own unit)."""
        ...

    def nearest(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per demand point, the index into ``positions`` (sorted site columns) of its nearest home (-1: none),
        and the cost to it."""
        ...


@dataclass(frozen=True, eq=False)
class StraightLine:
    """The nearest home by straight-line distance at any range, within the boundary rule's units when given."""

    demand_xy: np.ndarray
    site_xy: np.ndarray
    demand_unit: np.ndarray | None = None
    site_unit: np.ndarray | None = None
    keeps_boundaries: bool = True

    def nearest(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(self.demand_xy)
        if self.demand_unit is None or self.site_unit is None:
            distance, index = KDTree(self.site_xy[positions]).query(self.demand_xy, k=1)
            return index[:, 0], distance[:, 0]
        which, cost = np.full(n, -1), np.full(n, np.nan)
        homes_of = pd.Series(np.arange(len(positions))).groupby(self.site_unit[positions]).indices
        for code, members in pd.Series(np.arange(n)).groupby(self.demand_unit).indices.items():
            if code not in homes_of:
                continue
            here = homes_of[code]
            distance, index = KDTree(self.site_xy[positions[here]]).query(self.demand_xy[members], k=1)
            which[members] = here[index[:, 0]]
            cost[members] = distance[:, 0]
        return which, cost


def access_codes(frame: pd.DataFrame, respect: str | None, what: str) -> np.ndarray | None:
    """The admin code of each row at the level of ``respect`` (None without a boundary rule)."""
    if respect is None:
        return None
    column = f"{respect}_code"
    if column not in frame.columns:
        raise InputError(f"respect={respect!r} needs a {column!r} column in the {what} table")
    return frame[column].to_numpy(dtype=object)


def with_boundary(costs: CostMatrix, respect: str | None, demand: pd.DataFrame, sites: pd.DataFrame) -> CostMatrix:
    """Drop the pairs that cross the boundary of ``respect`` (the one place the rule is applied)."""
    if respect is None:
        return costs
    if respect not in RESPECT_LEVELS:
        raise InputError(f"respect={respect!r}; use 'township', 'county' or None")
    by_demand = demand.set_index("demand_id")
    by_site = sites.set_index("site_id")
    d_unit = access_codes(by_demand.loc[costs.demand_ids], respect, "demand")
    s_unit = access_codes(by_site.loc[costs.site_ids], respect, "sites")
    assert d_unit is not None and s_unit is not None
    return restrict_to_same_unit(costs, demand_unit=d_unit, site_unit=s_unit)


def access_from_points(
    demand: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    *,
    standard_m: float,
    respect: str | None = None,
    cutoff_m: float | None = None,
) -> Access:
    """Straight-line distances (metres) between demand points and sites, within the standard.

    Parameters
    ----------
    demand
        Points with ``demand_id`` (and the admin code columns when ``respect`` is given),
        in a projected CRS in metres.
    sites
        Points with ``site_id`` (and the admin code columns), same CRS.
    standard_m
        Service standard: a home within it covers.
    respect
        ``"township"`` or ``"county"``: a home only serves its own unit.
    cutoff_m
        Keep pairs up to this distance (default: the standard).
    """
    if not math.isfinite(standard_m) or standard_m <= 0:
        raise InputError(f"the access standard must be a positive number of metres, got {standard_m!r}")
    cutoff = standard_m if cutoff_m is None else cutoff_m
    if cutoff < standard_m:
        raise InputError(f"cutoff_m={cutoff_m} is below the standard {standard_m}; pairs within it would be lost")
    if sites.crs != demand.crs:
        raise InputError(f"demand is in {demand.crs}, sites in {sites.crs}; use one working CRS")
    demand_xy = demand.geometry.get_coordinates().to_numpy()
    site_xy = sites.geometry.get_coordinates().to_numpy()
    costs = distance_matrix(
        demand_xy,
        site_xy,
        demand_ids=demand["demand_id"],
        site_ids=sites["site_id"],
        cutoff_m=cutoff,
        crs=demand.crs,
    )
    return Access(
        costs=with_boundary(costs, respect, demand, sites),
        standard=float(standard_m),
        mode="distance",
        respect=respect,
        beyond=StraightLine(
            demand_xy, site_xy, access_codes(demand, respect, "demand"), access_codes(sites, respect, "sites")
        ),
    )


def read_cost_table(path: Path | str) -> pd.DataFrame:
    """A routing engine's long table (CSV or Parquet): one row per demand–site pair."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"cost table {path} does not exist or is not a file")
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    try:
        return pd.read_csv(path, dtype={"demand_id": str, "site_id": str}, encoding="utf-8-sig")
    except UnicodeDecodeError:
        return pd.read_csv(path, dtype={"demand_id": str, "site_id": str}, encoding="gb18030")
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as error:
        raise InputError(f"cost table {path} is not a readable CSV table: {error}") from None


def access_from_table(
    table: pd.DataFrame | Path | str,
    demand: pd.DataFrame,
    sites: pd.DataFrame,
    *,
    unit: str,
    standard: float,
    respect: str | None = None,
    demand_column: str = "demand_id",
    site_column: str = "site_id",
    cost_column_name: str = "cost",
) -> Access:
    """Costs from a long table exported by a routing engine (OSRM, Valhalla, ArcGIS Network Analyst).

    Parameters
    ----------
    table
        ``demand_id, site_id, cost`` per reachable pair (a frame or a CSV/Parquet path).
    demand, sites
        The demand points and sites the ids refer to (for the boundary rule and the id order).
    unit
        ``"m"`` (network distance) or ``"min"`` (travel time).
    standard
        Service standard in ``unit``.
    respect
        ``"township"`` or ``"county"``.
    """
    frame = read_cost_table(table) if not isinstance(table, pd.DataFrame) else table
    if unit not in _UNITS:
        raise InputError(f"cost table unit {unit!r} must be 'm' or 'min'")
    if not math.isfinite(standard) or standard <= 0:
        raise InputError(f"the access standard must be a positive number of {unit}, got {standard!r}")
    costs = cost_matrix_from_table(
        frame,
        unit=unit,
        demand_ids=demand["demand_id"].to_numpy(),
        site_ids=sites["site_id"].to_numpy(),
        cutoff=standard,
        demand_column=demand_column,
        site_column=site_column,
        cost_column=cost_column_name,
    )
    return Access(
        costs=with_boundary(costs, respect, demand, sites), standard=float(standard), mode="table", respect=respect
    )
