"""Travel time on a user's own terrain files (not Yunnan): known answers, outputs in minutes, bad input refused."""

from __future__ import annotations

import itertools
import json
import math
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
import rasterio

from siting import stages
from siting.pipeline import run
from siting.scenario import load_scenario
from tests.owndata import edit_scenario, refused_line, registry_as_utf8, write_travel_time_scenario

Breaker = Callable[[Path], None]


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tt")
    write_travel_time_scenario(folder)
    registry_as_utf8(folder)
    return folder


def test_on_flat_ground_travel_time_is_distance_over_walking_speed(tmp_path: Path) -> None:
    write_travel_time_scenario(tmp_path, flat=True)
    registry_as_utf8(tmp_path)
    path = tmp_path / "scenario.toml"
    text = path.read_text(encoding="utf-8")
    for line in (
        'roads = "roads.gpkg"\n',
        'road_class_column = "fclass"\n',
        "road_speeds = { primary = 40, track = 12 }\n",
        'barriers = "river.gpkg"\n',
    ):
        text = text.replace(line, "")
    path.write_text(text.replace("standard_min = 30", "standard_min = 45"), encoding="utf-8")
    scenario = load_scenario(path)
    inputs = stages.read(scenario, tmp_path)
    points = stages.demand(scenario, inputs)
    sites, _ = stages.candidates(scenario, inputs, points)
    access = stages.access(scenario, inputs, points, sites)
    pairs = access.costs.matrix.tocoo()
    assert pairs.nnz > 100
    d_xy, s_xy = points.geometry.get_coordinates().to_numpy(), sites.geometry.get_coordinates().to_numpy()
    straight_m = np.hypot(*(d_xy[pairs.row] - s_xy[pairs.col]).T)
    walked_m = pairs.data / 60 * 4.0 * 1000  # grassland: 4 km/h on flat ground
    # 8-neighbour moves between cell centres: at least the straight line less the two snaps to cell
    # centres, at most 8.3 % longer (the octile bound) plus those snaps.
    snap = 100.0 * math.sqrt(2)
    assert (walked_m >= straight_m - snap - 1e-6).all()
    assert (walked_m <= straight_m * 1.0824 + snap + 1e-6).all()


def test_a_travel_time_run_on_own_terrain_writes_minutes_and_no_yunnan(good: Path, tmp_path: Path) -> None:
    folder = tmp_path / "run"
    shutil.copytree(good, folder)
    result = run(folder / "scenario.toml")
    assert result.access.unit == "min" and result.access.mode == "travel_time"
    out = result.output_dir
    with rasterio.open(out / "nearest_home_time.tif") as src:
        minutes = src.read(1, masked=True)
        assert src.tags()["UNITS"] == "minutes" and "MODELLED" not in src.tags()
    assert float(minutes.min()) >= 0.0 and minutes.count() > 1000
    county = (out / "coverage_county.csv").read_text(encoding="utf-8-sig")
    assert "平均时间(分钟) mean travel time min" in county and "km" not in county.splitlines()[0]
    for name in ("report.md", "coverage_county.csv", "map.html", "run.json"):
        text = (out / name).read_text(encoding="utf-8-sig")
        assert "云南" not in text and "Yunnan" not in text, name
        assert "模拟数据" not in text or name == "run.json", name
    page = (out / "map.html").read_text(encoding="utf-8")
    assert "到最近儿童之家的时间 travel time to the nearest home" in page and "15–30 分钟 min" in page


replace_in_scenario = edit_scenario


def dem_without_crs(folder: Path) -> None:
    path = folder / "dem_wgs84.tif"
    with rasterio.open(path) as src:
        values, profile = src.read(1), src.profile
    profile.pop("crs")
    path.unlink()
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values, 1)


def dem_over_the_west_only(folder: Path) -> None:
    path = folder / "dem_wgs84.tif"
    with rasterio.open(path) as src:
        values, profile = src.read(1), src.profile
    values[:, 200:] = profile["nodata"]  # no heights east of 106.65° E
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values, 1)


def write(name: str, text: str) -> Breaker:
    def apply(folder: Path) -> None:
        (folder / name).write_text(text, encoding="utf-8")

    return apply


def roads_without_class(folder: Path) -> None:
    import geopandas as gpd

    roads = gpd.read_file(folder / "roads.gpkg").rename(columns={"fclass": "highway"})
    (folder / "roads.gpkg").unlink()
    roads.to_file(folder / "roads.gpkg")


def with_layer(name: str, change: Callable[[gpd.GeoDataFrame], gpd.GeoDataFrame]) -> Breaker:
    """A change to a vector layer of the set (its geometry, its rows)."""

    def apply(folder: Path) -> None:
        frame = change(gpd.read_file(folder / name))
        (folder / name).unlink()
        frame.to_file(folder / name)

    return apply


def with_dem(change: Callable[[np.ndarray], np.ndarray], *, nodata: float | None = -9999.0, bands: int = 1) -> Breaker:
    """A change to the DEM's heights (and its declared nodata, and its number of bands)."""

    def apply(folder: Path) -> None:
        path = folder / "dem_wgs84.tif"
        with rasterio.open(path) as src:
            values, profile = src.read(1), src.profile
        profile.update(nodata=nodata, count=bands, dtype="float32")
        path.unlink()
        with rasterio.open(path, "w", **profile) as dst:
            for band in range(1, bands + 1):
                dst.write(change(values.astype(np.float32)), band)

    return apply


def with_landcover(change: Callable[[np.ndarray], np.ndarray]) -> Breaker:
    def apply(folder: Path) -> None:
        path = folder / "landcover_utm.tif"
        with rasterio.open(path) as src:
            values, profile = src.read(1), src.profile
        profile.update(dtype="float32", nodata=0.0)
        path.unlink()
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(change(values.astype(np.float32)), 1)

    return apply


def _srtm_voids(heights: np.ndarray) -> np.ndarray:
    heights[70:75, 150:250] = -32768.0  # a 34 km trench where the survey had no heights
    return heights


def _half(classes: np.ndarray) -> np.ndarray:
    classes[classes == 30] = 30.5
    return classes


def _moved(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return frame.set_geometry(frame.geometry.translate(xoff=10.0))  # 10° east: nowhere near the study area


HOSTILE_TERRAIN: dict[str, tuple[Breaker, str]] = {
    "roads as polygons": (
        with_layer("roads.gpkg", lambda f: f.set_geometry(f.to_crs(32648).buffer(500).to_crs(4326))),
        "roads {folder}/roads.gpkg must hold LineString features, but has 2 Polygon (of 2); give roads as linestrings",
    ),
    "roads as points": (
        with_layer("roads.gpkg", lambda f: f.set_geometry(f.geometry.representative_point())),
        "must hold LineString features, but has 2 Point (of 2)",
    ),
    "barriers as points": (
        with_layer("river.gpkg", lambda f: f.set_geometry(f.geometry.representative_point())),
        "barriers {folder}/river.gpkg must hold LineString or Polygon features, but has 1 Point (of 1)",
    ),
    "empty roads": (with_layer("roads.gpkg", lambda f: f.iloc[:0]), "roads {folder}/roads.gpkg has no features"),
    "roads outside the grid": (
        with_layer("roads.gpkg", _moved),
        "roads {folder}/roads.gpkg: none of its 2 features lies on the travel grid",
    ),
    "barriers outside the grid": (
        with_layer("river.gpkg", _moved),
        "barriers {folder}/river.gpkg: none of its 1 features lies on the travel grid",
    ),
    "a land-cover class twice": (
        write("speeds.csv", "class,mode,kmh\n10,walking,3\n30,walking,4\n30,motorised,60\n"),
        "classes ['30'] are listed more than once",
    ),
    "a land-cover speed of 1e9 km/h": (
        write("speeds.csv", "class,mode,kmh\n10,walking,3\n30,walking,1e9\n"),
        "class 30 = 1e+09 km/h is faster than any road (200 km/h at most)",
    ),
    "a road speed of 1e12 km/h": (
        replace_in_scenario("track = 12", "track = 1e12"),
        "access.road_speeds.track = 1e+12 km/h is faster than any road",
    ),
    "walking at 1e9 km/h": (
        replace_in_scenario("resolution_m = 100", "resolution_m = 100\nwalking_kmh = 1e9"),
        "access.walking_kmh = 1e+09 km/h is faster than any road",
    ),
    "a standard of 1e9 minutes": (
        replace_in_scenario("standard_min = 30", "standard_min = 1e9"),
        "access.standard_min = 1e+09 minutes is more than a day (1440)",
    ),
    "SRTM voids not declared nodata": (
        with_dem(_srtm_voids, nodata=None),
        "has heights of -32,768 m (the SRTM void value) in",
    ),
    "every height 1e30 m": (
        with_dem(lambda h: np.full_like(h, 1e30), nodata=None),
        "has heights from 1e+30 to 1e+30 m, outside -500 … 9,000 m",
    ),
    "a 3-band DEM": (with_dem(lambda h: h, bands=3), "has 3 bands; name the one to use with access.dem_band (1 to 3)"),
    "fractional land-cover classes": (with_landcover(_half), "has fractional classes [30.5]"),
    "an all-nodata land cover": (
        with_landcover(lambda c: np.zeros_like(c)),
        "has no class over the study area (all nodata)",
    ),
    "a 1 m grid": (
        replace_in_scenario("resolution_m = 100", "resolution_m = 1"),
        "a 1 m travel grid over the study area has",
    ),
}


CASES: dict[str, tuple[Breaker, str]] = {
    "DEM without CRS": (dem_without_crs, "has no CRS; assign one (gdal_edit.py -a_srs EPSG:4326"),
    "DEM not covering the study area": (
        dem_over_the_west_only,
        "14 communities cannot be placed on the travel grid: V009",
    ),
    "unknown land-cover class": (
        write("speeds.csv", "class,mode,kmh\n10,walking,3\n"),
        "has classes [30] that the speed table",
    ),
    "negative speed": (
        write("speeds.csv", "class,mode,kmh\n10,walking,3\n30,walking,-1\n"),
        "class 30 must be a number ≥ 0 (0: impassable) of km/h, got -1.0",
    ),
    "bad mode": (
        write("speeds.csv", "class,mode,kmh\n10,walking,3\n30,flying,4\n"),
        "mode 'flying' is not 'walking', 'bicycling' or 'motorised'",
    ),
    "roads without the class column": (roads_without_class, "have no class column 'fclass' (columns: ['highway'])"),
    "road class without speed": (
        replace_in_scenario("primary = 40, track = 12", "primary = 40"),
        "classes ['track'] have no speed",
    ),
    "negative road speed": (
        replace_in_scenario("track = 12", "track = -5"),
        "access.road_speeds.track must be a positive",
    ),
    "no standard in minutes": (replace_in_scenario("standard_min = 30\n", ""), "needs access.standard_min"),
    "wrong direction": (
        replace_in_scenario('direction = "to_home"', 'direction = "uphill"'),
        "access.direction 'uphill'",
    ),
    "DEM file missing": (
        replace_in_scenario('dem = "dem_wgs84.tif"', 'dem = "srtm.tif"'),
        "access.dem: file 'srtm.tif' not found",
    ),
    "max speed below the roads": (
        replace_in_scenario("resolution_m = 100", "resolution_m = 100\nmax_speed_kmh = 20"),
        "access.max_speed_kmh = 20 is below the fastest move of the grid (40.0 km/h",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_terrain_input_is_one_line_exit_2_and_nothing_written(case: str, good: Path, tmp_path: Path) -> None:
    breaker, expected = CASES[case]
    folder = tmp_path / "case"
    shutil.copytree(good, folder)
    breaker(folder)
    line = refused_line(folder / "scenario.toml", case)
    assert expected in line, (case, line)
    outputs = folder / "outputs"
    assert not list(outputs.glob("*/*")) if outputs.exists() else True, case


@pytest.mark.parametrize("case", sorted(HOSTILE_TERRAIN))
def test_terrain_that_would_plan_wrongly_is_refused_before_the_work(case: str, good: Path, tmp_path: Path) -> None:
    breaker, expected = HOSTILE_TERRAIN[case]
    folder = tmp_path / "case"
    shutil.copytree(good, folder)
    breaker(folder)
    line = refused_line(folder / "scenario.toml", case)
    assert expected.format(folder=folder) in line, (case, line)
    assert not (folder / "outputs").exists() or not list((folder / "outputs").glob("*/*")), case


def test_a_travel_time_run_writes_children_within_each_threshold(good: Path, tmp_path: Path) -> None:
    folder = tmp_path / "run"
    shutil.copytree(good, folder)
    result = run(folder / "scenario.toml")
    out = result.output_dir
    for level in ("prefecture", "county", "township"):
        table = pd.read_csv(out / f"access_thresholds_{level}.csv", encoding="utf-8-sig")
        children = table["儿童数(人) children"]
        within = [table[f"{t}分钟内儿童(人) children within {t} min"] for t in (15, 30, 60, 120)]
        beyond = table["超过120分钟儿童(人) children beyond 120 min"]
        assert ((within[-1] + beyond - children).abs() <= 0.02).all(), level  # each unit adds up (2-decimal CSV)
        assert all((a <= b + 1e-9).all() for a, b in itertools.pairwise(within)), level
    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    totals = record["children_within_min"]
    assert totals["children_within_120_min"] + totals["children_beyond_120_min"] == pytest.approx(
        record["children_total"]
    )
    # The nearest home of a covered child is within the 30-minute standard.
    assert totals["children_within_30_min"] >= record["children_covered"] - 1e-6
    assert "可达性 access times" in openpyxl.load_workbook(out / "report.xlsx").sheetnames
    assert stat.S_IMODE((out / "coverage_county.csv").stat().st_mode) & 0o044  # the umask's rights, not 0600


def test_siting_access_on_own_data_from_given_facilities(good: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from siting.cli import main

    folder = tmp_path / "acc"
    shutil.copytree(good, folder)
    code = str(gpd.read_file(folder / "villages.shp")["VID"].iloc[0])
    (folder / "clinics.csv").write_text(f"site_id\n{code}\n", encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["access", str(folder / "scenario.toml"), "--facilities", str(folder / "clinics.csv"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "1 facilities" in result.output and "within 15 min" in result.output
    facilities = pd.read_csv(out / "facilities.csv", encoding="utf-8-sig", dtype={"site_id": str})
    assert facilities["site_id"].tolist() == [code]
    county = pd.read_csv(out / "access_thresholds_county.csv", encoding="utf-8-sig")
    reached = county["120分钟内儿童(人) children within 120 min"].sum()
    # Every child within the cap has this one clinic as the nearest facility.
    assert facilities["children_nearest"].iloc[0] == pytest.approx(reached, abs=0.05 * len(county))
    with rasterio.open(out / "nearest_facility_time.tif") as src:
        minutes = src.read(1, masked=True)
        assert float(minutes.min()) == 0.0 and float(minutes.max()) <= 120.0
    catchments = gpd.read_file(out / "facility_catchments.gpkg")
    assert catchments["site_id"].tolist() == [code]
    assert "accessibility.xlsx" in {p.name for p in out.iterdir()}
    bad = CliRunner().invoke(main, ["access", str(folder / "scenario.toml"), "--thresholds", "30,15"])
    assert bad.exit_code == 2 and bad.output.count("\n") == 1 and "rising minutes" in bad.output
