"""Travel time on a user's own terrain files (not Yunnan): known answers, outputs in minutes, bad input refused."""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
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
    "zero speed": (
        write("speeds.csv", "class,mode,kmh\n10,walking,3\n30,walking,0\n"),
        "class 30: speed 0 km/h is not a positive",
    ),
    "bad mode": (
        write("speeds.csv", "class,mode,kmh\n10,walking,3\n30,flying,4\n"),
        "mode 'flying' is not 'walking' or 'motorised'",
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
