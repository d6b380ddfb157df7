"""AccessMod's options reproduce r.cost-style cumulative cost: minutes derived by hand, and an independent reference.

AccessMod 5 (isotropic, 8 neighbours) accumulates GRASS ``r.cost`` costs: a move between
neighbouring cells costs half its length at each cell's speed, cells with no speed are
impassable, and a diagonal move is allowed whatever its two side cells are. The test below
builds that graph itself, cell by cell, and solves it with scipy's Dijkstra.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from pyproj import CRS
from scipy.sparse import csr_array
from scipy.sparse.csgraph import dijkstra

from siting.errors import CRSError, InputError
from siting.rasters import write_band
from siting.travel import TerrainInputs, build_travel_grid, read_speed_table, search_from

CRS_M = CRS.from_epsg(32648)
CELL_M = 100.0


def write_landcover(
    folder: Path, classes: np.ndarray, *, origin: tuple[float, float] = (500_030.0, 3_000_070.0)
) -> Path:
    """A land-cover raster in UTM 48N with 100 m cells whose grid does not start on a round number."""
    transform = Affine.translation(*origin) * Affine.scale(CELL_M, -CELL_M)
    path = folder / "landcover.tif"
    write_band(path, classes.astype(np.uint8), crs="EPSG:32648", transform=transform, nodata=255)
    return path


def write_speeds(folder: Path) -> Path:
    """AccessMod's speed table: class, label, speed, mode; 0 km/h is impassable (water)."""
    path = folder / "speeds.csv"
    path.write_text(
        "class,label,speed,mode\n1,forest,3,WALKING\n2,grass,6,WALKING\n3,track,30,MOTORIZED\n4,water,0,WALKING\n",
        encoding="utf-8",
    )
    return path


def rcost_minutes(speed_kmh: np.ndarray, source: tuple[int, int]) -> np.ndarray:
    """r.cost-style cumulative minutes: (friction_a + friction_b) / 2 × length a move, 8 neighbours, no corner rule."""
    height, width = speed_kmh.shape
    friction = np.where(speed_kmh > 0, 60.0 / (1000.0 * np.where(speed_kmh > 0, speed_kmh, 1.0)), np.nan)  # min/m
    heads, tails, costs = [], [], []
    for r in range(height):
        for c in range(width):
            if math.isnan(friction[r, c]):
                continue
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    rr, cc = r + dr, c + dc
                    if (dr or dc) and 0 <= rr < height and 0 <= cc < width and not math.isnan(friction[rr, cc]):
                        length = CELL_M * math.hypot(dr, dc)
                        heads.append(r * width + c)
                        tails.append(rr * width + cc)
                        costs.append((friction[r, c] + friction[rr, cc]) / 2 * length)
    graph = csr_array((costs, (heads, tails)), shape=(height * width, height * width))
    return dijkstra(graph, indices=source[0] * width + source[1]).reshape(height, width)


def accessmod_grid(folder: Path, classes: np.ndarray, *, corner_rule: bool = False):  # type: ignore[no-untyped-def]
    landcover = write_landcover(folder, classes)
    with rasterio.open(landcover) as src:
        west, south, east, north = src.bounds
    inputs = TerrainInputs(
        landcover=landcover,
        speed_table=write_speeds(folder),
        grid_of="landcover",
        slope="none",
        corner_rule=corner_rule,
    )
    return build_travel_grid((west + 1, south + 1, east - 1, north - 1), CRS_M, inputs)


def test_hand_derived_minutes_on_the_land_covers_own_grid(tmp_path: Path) -> None:
    classes = np.array([[2, 1, 2], [2, 4, 2], [3, 3, 3]])
    grid = accessmod_grid(tmp_path, classes)
    assert grid.shape == (3, 3) and grid.transform.c == 500_030.0 and grid.transform.f == 3_000_070.0  # cell for cell
    minutes = search_from(grid, np.array([0]), np.array([0]))
    # grass 6 km/h = 100 m/min, forest 3 km/h = 50 m/min, track 30 km/h = 500 m/min, water impassable.
    assert minutes[0, 1] == pytest.approx(0.5 + 1.0)  # 50 m of grass, 50 m of forest
    assert minutes[0, 2] == pytest.approx(0.5 + 1.0 + 1.0 + 0.5)  # across the forest cell
    assert minutes[1, 0] == pytest.approx(1.0)  # 100 m of grass
    assert math.isinf(minutes[1, 1])  # water
    # Down the grass (1.0), onto the track (0.5 + 0.1) and along it (0.2): 1.8 beats the diagonal, 1.0 + 0.85.
    assert minutes[2, 1] == pytest.approx(1.8)


def test_speed_table_in_accessmods_form_and_spellings(tmp_path: Path) -> None:
    table = read_speed_table(write_speeds(tmp_path))
    assert table["3"].mode == "motorised" and table["3"].kmh == 30.0
    assert table["4"].kmh == 0.0  # water: impassable
    (tmp_path / "british.csv").write_text("class,mode,kmh\n1,motorised,50\n2,Motorized,40\n", encoding="utf-8")
    assert {c.mode for c in read_speed_table(tmp_path / "british.csv").values()} == {"motorised"}


def test_a_bicycling_class_is_ridden_at_its_speed_and_corrected_for_slope(tmp_path: Path) -> None:
    (tmp_path / "speeds.csv").write_text(
        "class,label,speed,mode\n1,path,15,BICYCLING\n2,grass,6,WALKING\n3,track,30,MOTORIZED\n4,lane,12,cycling\n",
        encoding="utf-8",
    )
    table = read_speed_table(tmp_path / "speeds.csv")
    assert table["1"].mode == table["4"].mode == "bicycling" and table["1"].kmh == 15.0
    classes = np.array([[1, 1, 1, 1], [2, 2, 3, 4]])
    landcover = write_landcover(tmp_path, classes)
    with rasterio.open(landcover) as src:
        west, south, east, north = src.bounds
    bounds = (west + 1, south + 1, east - 1, north - 1)
    for slope, corrected in (("tobler", 5), ("none", 0)):
        inputs = TerrainInputs(
            landcover=landcover, speed_table=tmp_path / "speeds.csv", grid_of="landcover", slope=slope
        )
        grid = build_travel_grid(bounds, CRS_M, inputs)
        assert grid.summary()["bicycling_cells"] == corrected
        assert grid.summary()["slope_corrected_cells"] == corrected + (2 if corrected else 0)
        # Flat ground: 300 m of path at 15 km/h (250 m/min) is 1.2 minutes, with or without the slope rule.
        assert search_from(grid, np.array([0]), np.array([0]))[0, 3] == pytest.approx(1.2)


@pytest.mark.parametrize("seed", range(4))
def test_isotropic_without_the_corner_rule_equals_an_rcost_reference(tmp_path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    classes = rng.choice([1, 2, 3, 4], size=(30, 40), p=[0.35, 0.35, 0.1, 0.2])
    classes[0, 0] = 2
    grid = accessmod_grid(tmp_path, classes)
    ours = search_from(grid, np.array([0]), np.array([0]))
    table = {1: 3.0, 2: 6.0, 3: 30.0, 4: 0.0}
    reference = rcost_minutes(np.vectorize(table.get)(classes).astype(float), (0, 0))
    reached = np.isfinite(reference)
    assert (np.isfinite(ours) == reached).all()
    assert np.abs(ours[reached] - reference[reached]).max() < 1e-9  # every cell: the same minutes, not 97 % within 1


def test_the_corner_rule_is_what_separates_the_two(tmp_path: Path) -> None:
    # Water on a diagonal: r.cost slips between the two water cells, the corner rule does not.
    classes = np.array([[2, 4], [4, 2]])
    open_grid = accessmod_grid(tmp_path, classes, corner_rule=False)
    assert search_from(open_grid, np.array([0]), np.array([0]))[1, 1] == pytest.approx(math.sqrt(2))
    closed = accessmod_grid(tmp_path, classes, corner_rule=True)
    assert math.isinf(search_from(closed, np.array([0]), np.array([0]))[1, 1])


def test_a_grid_taken_from_a_raster_in_degrees_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "landcover_deg.tif"
    write_band(
        path,
        np.full((5, 5), 2, dtype=np.uint8),
        crs="EPSG:4326",
        transform=Affine.translation(103.0, 25.0) * Affine.scale(0.001, -0.001),
        nodata=255,
    )
    inputs = TerrainInputs(landcover=path, speed_table=write_speeds(tmp_path), grid_of="landcover")
    with pytest.raises(CRSError, match="not projected in metres; reproject it"):
        build_travel_grid((0.0, 0.0, 1.0, 1.0), CRS_M, inputs)
    with pytest.raises(InputError, match=r"access\.grid 'slope' must be 'dem' or 'landcover'"):
        build_travel_grid((0.0, 0.0, 1.0, 1.0), CRS_M, TerrainInputs(grid_of="slope"))
