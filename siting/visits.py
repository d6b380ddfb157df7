"""The visiting time the network costs: supervisors' monthly rounds and directors' home visits.

The source document chooses children's directors locally to cut home-visit time; this
module counts what the plan leaves of it.

* **Supervisors (督导员).** Each month the township's supervisor visits every village's
  children's director once, from the township station, one trip out and back per village
  (the mountain case: villages are seldom on one road). A trip is the straight line times
  ``detour_factor`` at ``visit_kmh`` (distance runs), or the minutes over the run's
  travel grid (travel-time runs: searched from the station within the bounds of the
  township's villages and ``margin_m`` around them, there and back, each way costed in
  its own direction; a village the search does not reach there is counted, not guessed). Each visit adds
  ``visit_min`` at the village. Supervisors needed: the monthly hours over
  ``supervisor_hours_per_month``, rounded up.
* **Directors (儿童主任).** A director visits each priority child of the village (where the
  counts are known) once a month, ``home_visit_min`` each; the walk inside the village is
  not counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from siting.errors import InputError
from siting.travel.grid import TravelGrid, search_from

__all__ = ["VisitRules", "visiting_time"]


@dataclass(frozen=True)
class VisitRules:
    """How visits are costed (the scenario's ``[network]`` options of the same names)."""

    visit_kmh: float = 30.0
    detour_factor: float = 1.4
    visit_min: float = 60.0
    supervisor_hours_per_month: float = 88.0
    home_visit_min: float = 30.0
    margin_m: float = 10_000.0

    def __post_init__(self) -> None:
        for name in ("visit_kmh", "detour_factor", "supervisor_hours_per_month", "margin_m"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise InputError(f"network.{name} must be a positive number, got {value!r}")
        if self.detour_factor < 1:
            raise InputError(
                f"network.detour_factor must be ≥ 1 (a road is never shorter than the line), got {self.detour_factor!r}"
            )
        for name in ("visit_min", "home_visit_min"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise InputError(f"network.{name} must be a number of minutes ≥ 0, got {value!r}")


def _grid_minutes(
    grid: TravelGrid, station: tuple[float, float], villages: np.ndarray, bounds: tuple[float, float, float, float]
) -> np.ndarray:
    """Minutes there and back from the station to each village, searched within ``bounds`` of the grid."""
    west, south, east, north = bounds
    rows, cols = grid.cells_of(np.array([west, east]), np.array([north, south]))
    height, width = grid.shape
    row0, col0 = max(int(rows[0]) if rows[0] >= 0 else 0, 0), max(int(cols[0]) if cols[0] >= 0 else 0, 0)
    row1 = int(rows[1]) + 1 if rows[1] >= 0 else height
    col1 = int(cols[1]) + 1 if cols[1] >= 0 else width
    window = grid.window(row0, row1, col0, col1)
    sr, sc = window.snap(np.array([station[0]]), np.array([station[1]]))
    vr, vc = window.snap(villages[:, 0], villages[:, 1])
    if sr[0] < 0:
        return np.full(len(villages), np.inf)
    there = search_from(window, sr, sc)
    back = search_from(window, sr, sc, reverse=True)
    inside = vr >= 0
    out = np.full(len(villages), np.inf)
    out[inside] = there[vr[inside], vc[inside]] + back[vr[inside], vc[inside]]
    return out


def visiting_time(
    communities: gpd.GeoDataFrame,
    stations: gpd.GeoDataFrame,
    *,
    rules: VisitRules | None = None,
    grid: TravelGrid | None = None,
    priority_columns: tuple[str, ...] = (),
) -> pd.DataFrame:
    """Per township: the supervisor's monthly round of visits, the supervisors it needs, and directors' visits.

    Parameters
    ----------
    communities
        Community seats (points, working CRS): ``community_code``, ``township_code``,
        ``county_code`` and the ``priority_columns`` counts.
    stations
        One per township (points): ``township_code``.
    rules
        Speeds, visit lengths and the monthly hours.
    grid
        A travel-time run's grid (None: straight lines at ``rules.visit_kmh``).

    Returns
    -------
    pandas.DataFrame
        One row per township: ``villages``, ``round_trip_km`` (distance) or
        ``round_trip_min`` and ``villages_unreached`` (travel time),
        ``supervisor_hours_per_month``, ``supervisors_needed``, ``priority_children``,
        ``director_hours_per_month``.
    """
    rules = rules or VisitRules()
    if grid is not None and grid.crs is not None:  # a grid on a raster's own CRS (access.grid)
        communities, stations = communities.to_crs(grid.crs), stations.to_crs(grid.crs)
    seats = np.column_stack([communities.geometry.x.to_numpy(), communities.geometry.y.to_numpy()])
    station_at = stations.set_index("township_code").geometry
    rows = []
    for town, members in communities.groupby("township_code").indices.items():
        station = station_at.get(town)
        if station is None:
            raise InputError(f"township {town} has no station; the network plans one per township")
        xy = seats[members]
        row: dict[str, object] = {
            "township_code": town,
            "county_code": communities["county_code"].iloc[members[0]],
            "villages": len(members),
        }
        if grid is None:
            km = 2 * rules.detour_factor * np.hypot(xy[:, 0] - station.x, xy[:, 1] - station.y) / 1000
            row["round_trip_km"] = float(km.sum())
            travel_min = float(km.sum() / rules.visit_kmh * 60)
        else:
            around = np.vstack([xy, [[station.x, station.y]]])
            m = rules.margin_m
            bounds = (around[:, 0].min() - m, around[:, 1].min() - m, around[:, 0].max() + m, around[:, 1].max() + m)
            minutes = _grid_minutes(grid, (station.x, station.y), xy, bounds)
            travel_min = float(minutes[np.isfinite(minutes)].sum())
            row["round_trip_min"] = travel_min
            row["villages_unreached"] = int((~np.isfinite(minutes)).sum())
        hours = (travel_min + rules.visit_min * len(members)) / 60
        row["supervisor_hours_per_month"] = hours
        row["supervisors_needed"] = math.ceil(hours / rules.supervisor_hours_per_month - 1e-9)
        priority = (
            float(communities.iloc[members][list(priority_columns)].to_numpy().sum()) if priority_columns else math.nan
        )
        row["priority_children"] = priority
        row["director_hours_per_month"] = priority * rules.home_visit_min / 60
        rows.append(row)
    return pd.DataFrame(rows).sort_values("township_code").reset_index(drop=True)
