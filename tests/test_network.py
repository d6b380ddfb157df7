"""The three tiers on a toy two-township county, with hand-computed stations, spans and costs."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely

from siting.errors import InputError
from siting.network import StaffRules, plan_network

CRS = "EPSG:32648"


def toy() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    # Township A (12 communities on a line at x = 0..11 km), township B (3 communities at x = 20..22 km).
    codes = [f"530102001{k:03d}" for k in range(1, 13)] + [f"530102002{k:03d}" for k in range(1, 4)]
    xs = [k * 1000.0 for k in range(12)] + [20_000.0, 21_000.0, 22_000.0]
    communities = gpd.GeoDataFrame(
        {
            "community_code": codes,
            "township_code": [c[:9] for c in codes],
            "county_code": "530102",
            "prefecture_code": "530100",
            "children": [100.0] * 12 + [10.0, 50.0, 10.0],
        },
        geometry=[shapely.Point(x, 0) for x in xs],
        crs=CRS,
    )
    # Homes in township A at 0, 5 and 6 km serving 100, 300 and 100 children; none in township B.
    homes = gpd.GeoDataFrame(
        {
            "site_id": ["530102001001", "530102001006", "530102001007"],
            "township_code": "530102001",
            "county_code": "530102",
            "children_served": [100.0, 300.0, 100.0],
        },
        geometry=[shapely.Point(0, 0), shapely.Point(5000, 0), shapely.Point(6000, 0)],
        crs=CRS,
    )
    seats = gpd.GeoDataFrame({"county_code": ["530102"]}, geometry=[shapely.Point(3000, 4000)], crs=CRS)
    return communities, homes, seats


def test_stations_centres_links_and_staff() -> None:
    communities, homes, seats = toy()
    network = plan_network(
        homes,
        communities,
        county_seats=seats,
        max_home_station_m=4000,
        staff_rules=StaffRules(communities_per_supervisor=10, supervisor_cny_per_month=2000),
    )
    stations = network.stations.set_index("township_code")
    # A: weighted distance from 0 km = 300*5 + 100*6 = 2100; from 5 km = 100*5 + 100*1 = 600;
    # from 6 km = 100*6 + 300*1 = 900.
    assert stations.loc["530102001", "placed_at"] == "home:530102001006"
    # B has no home: the community minimising 10*d + 50*d + 10*d is the middle one (21 km).
    assert stations.loc["530102002", "placed_at"] == "community:530102002002"
    assert network.centres["placed_at"].tolist() == ["county_seat"]
    links = network.links.set_index("site_id")
    assert links["home_station_m"].tolist() == [5000.0, 0.0, 1000.0]
    assert links.loc["530102001006", "station_centre_m"] == pytest.approx(((5000 - 3000) ** 2 + 4000**2) ** 0.5)
    assert network.links_too_long["site_id"].tolist() == ["530102001001"]
    county = network.staff["county"].iloc[0]
    # 12 communities -> 2 supervisors, 3 -> 1; 15 directors.
    assert (county["directors"], county["supervisors"]) == (15, 3)
    assert county["staff_pay_cny_per_year"] == 15 * 12 * 1900 + 3 * 12 * 2000
    assert county["director_pay_cny_per_year"] == 15 * 12 * 1900
    assert network.staff["province"]["supervisors"].iloc[0] == 3


def test_centre_at_an_institution_and_fixed_station() -> None:
    communities, homes, seats = toy()
    institutions = gpd.GeoDataFrame(
        {"county_code": ["530102", "530102"], "kind": ["rescue", "welfare"], "name": ["救助站", "福利院"]},
        geometry=[shapely.Point(1, 1), shapely.Point(2, 2)],
        crs=CRS,
    )
    network = plan_network(
        homes, communities, county_seats=seats, institutions=institutions, fixed_stations={"530102001": "530102001001"}
    )
    assert network.centres["placed_at"].tolist() == ["institution:welfare"]
    assert network.stations.set_index("township_code").loc["530102001", "placed_at"] == "fixed:530102001001"
    with pytest.raises(InputError, match="is not an open home"):
        plan_network(homes, communities, county_seats=seats, fixed_stations={"530102001": "530102001002"})
