"""The three tiers: children's homes → township stations → county guidance centres, and their staff.

* County guidance centre (县级儿童福利服务指导中心): one per county, at an existing
  child-welfare or rescue institution of the county where there is one (welfare first),
  otherwise at the county seat.
* Township station (乡镇(街道)儿童福利服务工作站): one per township, at the home (or, in a
  township without a home, the community seat) that minimises the child-weighted distance
  to the township's homes (or communities), unless the user fixes it.
* Staff: one child director (儿童主任) per community; child supervisors (儿童督导员) per
  township from a span rule (default at most 10 communities per supervisor).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting.errors import InputError

__all__ = ["SOURCE_STAFF", "Network", "StaffRules", "plan_network", "sites_beyond_stations", "staff_table"]

#: Staff in the 2019 source document, for comparison.
SOURCE_STAFF = {"directors": 14_619, "supervisors": 1_786}


@dataclass(frozen=True)
class StaffRules:
    """Staffing and pay, the one place they are set.

    One child director per community at 1,500 CNY a month plus up to 400 CNY performance
    bonus (source document); supervisors by a span of communities. Supervisor pay is not in
    the source document: the default is an assumption.
    """

    communities_per_supervisor: int = 10
    director_cny_per_month: float = 1_500.0
    director_bonus_cny_per_month: float = 400.0
    supervisor_cny_per_month: float = 2_000.0

    def __post_init__(self) -> None:
        if self.communities_per_supervisor < 1:
            raise InputError(f"communities_per_supervisor must be ≥ 1, got {self.communities_per_supervisor}")

    @property
    def director_cny_per_year(self) -> float:
        """A director's yearly pay with the full bonus."""
        return 12 * (self.director_cny_per_month + self.director_bonus_cny_per_month)

    @property
    def supervisor_cny_per_year(self) -> float:
        return 12 * self.supervisor_cny_per_month


@dataclass(frozen=True, eq=False)
class Network:
    """Centres, stations, the links between the tiers and the staff per unit."""

    centres: gpd.GeoDataFrame
    stations: gpd.GeoDataFrame
    links: pd.DataFrame
    staff: dict[str, pd.DataFrame] = field(default_factory=dict)
    #: Per township: the supervisor's monthly round and directors' home visits (:mod:`siting.visits`).
    visits: pd.DataFrame | None = None

    @property
    def links_too_long(self) -> pd.DataFrame:
        """Links beyond the user's limits."""
        return self.links[self.links["home_station_too_long"] | self.links["station_centre_too_long"]]


def _best_location(candidates: np.ndarray, targets: np.ndarray, weights: np.ndarray) -> int:
    """Index of the candidate with the least weighted distance to the targets (ties: the first)."""
    distance = np.hypot(candidates[:, None, 0] - targets[None, :, 0], candidates[:, None, 1] - targets[None, :, 1])
    return int(np.argmin(distance @ weights))


def plan_network(
    homes: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    *,
    county_seats: gpd.GeoDataFrame,
    institutions: gpd.GeoDataFrame | None = None,
    fixed_stations: Mapping[str, str] | None = None,
    max_home_station_m: float | None = None,
    max_station_centre_m: float | None = None,
    staff_rules: StaffRules | None = None,
) -> Network:
    """Place county centres and township stations, link the tiers and count staff.

    Parameters
    ----------
    homes
        Open homes: ``site_id``, ``township_code``, ``county_code``, ``children_served``; points.
    communities
        Every community: ``community_code``, ``township_code``, ``county_code``,
        ``prefecture_code``, ``children``; points (seats) or polygons (their
        representative points are used).
    county_seats
        ``county_code`` and a point per county.
    institutions
        Existing institutions: ``county_code``, ``kind`` (``"welfare"`` or
        ``"rescue"``), ``name``; points.
    fixed_stations
        Township code → site id (a home) where the user fixes the station.
    max_home_station_m, max_station_centre_m
        Supervision distances beyond which a link is flagged.
    staff_rules
        Span and pay.

    Returns
    -------
    Network
        ``staff`` holds tables for the levels township, county, prefecture, province.
    """
    rules = staff_rules or StaffRules()
    crs = communities.crs
    for name, frame in (("homes", homes), ("county_seats", county_seats)):
        if frame.crs != crs:
            raise InputError(f"{name} are in {frame.crs}, communities in {crs}; use one working CRS")
    centres = _centres(county_seats, institutions, crs)
    stations = _stations(homes, communities, dict(fixed_stations or {}), crs)
    links = _links(homes, stations, centres, max_home_station_m, max_station_centre_m)
    return Network(centres=centres, stations=stations, links=links, staff=_staff(communities, rules))


def _centres(county_seats: gpd.GeoDataFrame, institutions: gpd.GeoDataFrame | None, crs: object) -> gpd.GeoDataFrame:
    """One centre per county: at a child-welfare institution, else a rescue institution, else the county seat."""
    centre_rows = []
    for county, seat in zip(county_seats["county_code"], county_seats.geometry, strict=True):
        chosen = None
        if institutions is not None and len(institutions):
            here = institutions[institutions["county_code"] == county]
            for kind in ("welfare", "rescue"):
                match = here[here["kind"] == kind]
                if len(match):
                    row = match.iloc[0]
                    chosen = {
                        "county_code": county,
                        "placed_at": f"institution:{kind}",
                        "name": row.get("name", kind),
                        "geometry": row.geometry,
                    }
                    break
        centre_rows.append(
            chosen or {"county_code": county, "placed_at": "county_seat", "name": "county seat", "geometry": seat}
        )
    centres = gpd.GeoDataFrame(centre_rows, geometry="geometry", crs=crs)

    return centres


def _stations(
    homes: gpd.GeoDataFrame, communities: gpd.GeoDataFrame, fixed: dict[str, str], crs: object
) -> gpd.GeoDataFrame:
    """One station per township, at the home (or community seat) nearest, weighted, to the township's others."""
    points = communities.geometry
    if not (points.geom_type == "Point").all():
        points = points.representative_point()
    com_xy = np.column_stack([points.x.to_numpy(), points.y.to_numpy()])
    home_xy = (
        np.column_stack([homes.geometry.x.to_numpy(), homes.geometry.y.to_numpy()]) if len(homes) else np.empty((0, 2))
    )
    station_rows = []
    towns = communities[["township_code", "county_code"]].drop_duplicates().sort_values("township_code")
    homes_of = homes.groupby("township_code").indices if len(homes) else {}
    communities_of = communities.groupby("township_code").indices
    home_ids = homes["site_id"].to_numpy()
    home_children = homes["children_served"].to_numpy(dtype=float) if len(homes) else np.zeros(0)
    com_codes = communities["community_code"].to_numpy()
    com_children = communities["children"].to_numpy(dtype=float)
    for town, county in zip(towns["township_code"], towns["county_code"], strict=True):
        in_town = homes_of.get(town, np.zeros(0, dtype=np.int64))
        if town in fixed:
            match = homes[homes["site_id"] == fixed[town]]
            if match.empty:
                raise InputError(f"fixed station for township {town}: {fixed[town]!r} is not an open home")
            geom, placed = match.geometry.iloc[0], f"fixed:{fixed[town]}"
        elif len(in_town):
            xy = home_xy[in_town]
            best = _best_location(xy, xy, home_children[in_town] + 1e-9)
            geom, placed = shapely.Point(xy[best]), f"home:{home_ids[in_town[best]]}"
        else:
            members = communities_of[town]
            xy = com_xy[members]
            best = _best_location(xy, xy, com_children[members] + 1e-9)
            geom, placed = shapely.Point(xy[best]), f"community:{com_codes[members[best]]}"
        station_rows.append({"township_code": town, "county_code": county, "placed_at": placed, "geometry": geom})
    stations = gpd.GeoDataFrame(station_rows, geometry="geometry", crs=crs)

    return stations


def _links(
    homes: gpd.GeoDataFrame,
    stations: gpd.GeoDataFrame,
    centres: gpd.GeoDataFrame,
    max_home_station_m: float | None,
    max_station_centre_m: float | None,
) -> pd.DataFrame:
    """Home → station → centre, with their straight-line lengths and the links beyond the limits flagged."""
    station_at = stations.set_index("township_code").geometry
    centre_at = centres.set_index("county_code").geometry
    links = pd.DataFrame(
        {
            "site_id": homes["site_id"].to_numpy(),
            "township_code": homes["township_code"].to_numpy(),
            "county_code": homes["county_code"].to_numpy(),
        }
    )
    links["home_station_m"] = [
        h.distance(station_at[t]) for h, t in zip(homes.geometry, links["township_code"], strict=True)
    ]
    links["station_centre_m"] = [
        station_at[t].distance(centre_at[c]) for t, c in zip(links["township_code"], links["county_code"], strict=True)
    ]
    links["home_station_too_long"] = (links["home_station_m"] > max_home_station_m) if max_home_station_m else False
    links["station_centre_too_long"] = (
        (links["station_centre_m"] > max_station_centre_m) if max_station_centre_m else False
    )

    return links


def _staff(communities: gpd.GeoDataFrame, rules: StaffRules) -> dict[str, pd.DataFrame]:
    """Directors (one per community) and supervisors (by the span rule) with their pay, per level."""
    per_town = communities.groupby("township_code").agg(
        communities=("community_code", "size"),
        county_code=("county_code", "first"),
        prefecture_code=("prefecture_code", "first"),
    )
    per_town["supervisors"] = [math.ceil(n / rules.communities_per_supervisor) for n in per_town["communities"]]
    per_town["directors"] = per_town["communities"]
    staff = {}
    for level, key in (
        ("township", None),
        ("county", "county_code"),
        ("prefecture", "prefecture_code"),
        ("province", "province"),
    ):
        if key is None:
            table = per_town[["directors", "supervisors"]].copy()
        elif key == "province":
            table = per_town[["directors", "supervisors"]].sum().to_frame().T
            provinces = communities["province_code"].unique() if "province_code" in communities else []
            table.index = pd.Index([provinces[0] if len(provinces) == 1 else "total"], name="unit_code")
        else:
            table = per_town.groupby(key)[["directors", "supervisors"]].sum()
        table["director_pay_cny_per_year"] = table["directors"] * rules.director_cny_per_year
        table["supervisor_pay_cny_per_year"] = table["supervisors"] * rules.supervisor_cny_per_year
        table["staff_pay_cny_per_year"] = table["director_pay_cny_per_year"] + table["supervisor_pay_cny_per_year"]
        table.index.name = "unit_code"
        staff[level] = table.reset_index()
    return staff


def staff_table(network: Network, *, source_figures: bool, names: pd.DataFrame | None = None) -> pd.DataFrame:
    """Staff and pay per province, prefecture and county, named; the source document's 2019 totals beside the
    province row only when they describe the same area (the whole Yunnan sample)."""
    words = {"province": "省 province", "prefecture": "州市 prefecture", "county": "县 county"}
    out = pd.concat([network.staff[level].assign(level=level) for level in ("province", "prefecture", "county")])
    out = out.reset_index(drop=True)
    is_province = (out["level"] == "province").to_numpy()
    out["level"] = out["level"].map(words)
    for column in ("directors", "supervisors"):
        out[column] = out[column].astype(np.int64)
    if names is not None:
        lookup = names.drop_duplicates("unit_code").set_index("unit_code")["unit_name_zh"]
        out.insert(1, "unit_name_zh", out["unit_code"].map(lookup).fillna(out["unit_code"]))
    if source_figures:
        out["source_directors_2019"] = np.where(is_province, SOURCE_STAFF["directors"], np.nan)
        out["source_supervisors_2019"] = np.where(is_province, SOURCE_STAFF["supervisors"], np.nan)
    return out


def sites_beyond_stations(
    sites: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    *,
    county_seats: gpd.GeoDataFrame,
    max_home_station_m: float,
    keep: set[str],
) -> list[str]:
    """Candidate sites farther than ``max_home_station_m`` from their township's station.

    Stations are placed from the existing homes (or, where a township has none, its
    community seats), as :func:`plan_network` does; new homes may then only go within
    reach of them. Existing sites and the ids in ``keep`` (locked in) are never listed.
    """
    existing = sites[sites["existing"]].assign(children_served=1.0)
    stations = plan_network(existing, communities, county_seats=county_seats).stations.set_index("township_code")
    where = gpd.GeoSeries(
        stations.geometry.reindex(sites["township_code"]).to_numpy(), index=sites.index, crs=sites.crs
    )
    far = sites.loc[sites.geometry.distance(where) > max_home_station_m, "site_id"]
    protected = keep | set(sites.loc[sites["existing"], "site_id"])
    return [s for s in far if s not in protected]
