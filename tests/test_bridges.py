"""A road over a river is a bridge at any angle: the grid built from files keeps it, over lines and polygons."""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from pyproj import CRS
from shapely.geometry import LineString, box

from siting.travel.build import TerrainInputs, build_travel_grid, join_cut_road_steps
from siting.travel.grid import search_from

CRS_M = CRS.from_epsg(32648)  # UTM 48N: metres
BOUNDS = (0.0, 0.0, 10_000.0, 10_000.0)
RES_M = 100.0


def write_layers(folder: Path, *, angle_deg: float, river: str, width_m: float) -> TerrainInputs:
    """A river across the middle (x = 5 km, ``width_m`` wide) and one road through the centre at ``angle_deg``."""
    if river == "polygon":
        water = box(5_000 - width_m / 2, -1_000, 5_000 + width_m / 2, 11_000)
    else:  # a line: burnt on every cell it touches, one or two cells wide
        water = LineString([(5_000 + 13.0, -1_000), (5_000 + 13.0, 11_000)])
    gpd.GeoDataFrame(geometry=[water], crs=CRS_M).to_file(folder / "river.gpkg")
    t = math.radians(angle_deg)
    half = 4_000.0
    road = LineString([(5_000 - half * math.cos(t), 5_000 - half * math.sin(t)),
                       (5_000 + half * math.cos(t), 5_000 + half * math.sin(t))])  # fmt: skip
    gpd.GeoDataFrame({"class": ["track"]}, geometry=[road], crs=CRS_M).to_file(folder / "roads.gpkg")
    return TerrainInputs(
        roads=folder / "roads.gpkg",
        road_speeds_kmh={"track": 30.0},
        barriers=folder / "river.gpkg",
        resolution_m=RES_M,
        walking_kmh=5.0,
    )


def minutes_across(grid_inputs: TerrainInputs) -> float:
    """Minutes from a cell 2 km west of the river to the cell 2 km east, on the centre row."""
    grid = build_travel_grid(BOUNDS, CRS_M, grid_inputs)
    rows, cols = grid.cells_of(np.array([3_050.0, 7_050.0]), np.array([5_050.0, 5_050.0]))
    times = search_from(grid, rows[:1], cols[:1])
    return float(times[rows[1], cols[1]])


@pytest.mark.parametrize("angle_deg", [0, 20, 33, 45, 60, 75, 120, 135, 150])
@pytest.mark.parametrize(("river", "width_m"), [("polygon", 250.0), ("polygon", 90.0), ("polygon", 730.0), ("line", 0)])
def test_a_road_over_a_river_is_a_bridge_at_any_angle(
    tmp_path: Path, angle_deg: float, river: str, width_m: float
) -> None:
    minutes = minutes_across(write_layers(tmp_path, angle_deg=angle_deg, river=river, width_m=width_m))
    # Across the bridge and back to the centre row: walking 4 km at 5 km/h takes 48 min straight,
    # so the bridge must be used; at most the road's 8 km at 30 km/h (16 min) plus 2 km walked each
    # side (24 min each) and the octile bound.
    assert math.isfinite(minutes), f"the bridge at {angle_deg}° over a {river} is cut"
    assert minutes <= (16 + 48) * 1.09


def test_without_a_road_the_river_cannot_be_crossed(tmp_path: Path) -> None:
    inputs = write_layers(tmp_path, angle_deg=45, river="polygon", width_m=250)
    assert minutes_across(TerrainInputs(barriers=inputs.barriers, resolution_m=RES_M)) == math.inf


def test_a_cut_diagonal_road_step_is_joined_through_the_side_in_its_column() -> None:
    speed = np.array([[30.0, 0.0, 5.0], [0.0, 30.0, 5.0], [5.0, 0.0, 30.0]])
    speed[0, 2] = speed[1, 2] = 0.0  # the road (0,0)-(1,1)-(2,2) over water on both sides of each step
    speed[2, 0] = 0.0
    walking = speed == 5.0
    on_road = speed == 30.0
    assert join_cut_road_steps(speed, walking, on_road) == 2
    assert speed[1, 0] == 30.0 and speed[2, 1] == 30.0 and not walking[1, 0] and on_road[2, 1]
    assert join_cut_road_steps(speed, walking, on_road) == 0  # nothing left to join


def test_a_diagonal_with_one_passable_side_is_left_as_it_is() -> None:
    speed = np.array([[30.0, 5.0], [0.0, 30.0]])
    walking, on_road = speed == 5.0, speed == 30.0
    assert join_cut_road_steps(speed, walking, on_road) == 0
    assert speed[1, 0] == 0.0


@pytest.mark.slow
def test_the_sample_grid_has_no_cut_road_step(built_sample) -> None:  # type: ignore[no-untyped-def]
    from siting import stages
    from siting.scenario import load_scenario
    from tests.conftest import REPO

    scenario = load_scenario(REPO / "scenarios" / "demo_travel_time.toml").with_changes(
        data_dir=built_sample.paths.root.parent
    )
    grid = stages.travel_grid(scenario, stages.read(scenario, REPO / "scenarios"))
    speed, walking = grid.speed_kmh.astype(np.float64), grid.walking.copy()
    on_road = ~walking & (speed > 0)
    assert on_road.sum() > 300_000  # the sample's roads are there
    assert join_cut_road_steps(speed, walking, on_road) == 0  # was 115 before roads were joined
