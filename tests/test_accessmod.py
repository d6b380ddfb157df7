"""AccessMod's options reproduce r.cost-style cumulative cost: minutes derived by hand, and an independent reference.

AccessMod 5 (isotropic, 8 neighbours) accumulates GRASS ``r.cost`` costs: a move between
neighbouring cells costs half its length at each cell's speed, cells with no speed are
impassable, and a diagonal move is allowed whatever its two side cells are. The test below
builds that graph itself, cell by cell, and solves it with scipy's Dijkstra.
"""

from __future__ import annotations

import math
import shutil
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


def centre_line(*points: tuple[float, float], rows: int = 8):  # type: ignore[no-untyped-def]
    """A line through cell-centre coordinates ``(col, row)`` on a 1 m north-up grid of ``rows`` rows."""
    from shapely.geometry import LineString

    return LineString([(x + 0.5, rows - (y + 0.5)) for x, y in points])


ONE_METRE = Affine.translation(0, 8) * Affine.scale(1, -1)


@pytest.mark.parametrize(
    ("points", "cells"),
    [
        # Mostly along the columns: columns 0..4 (half a cell beyond each end), rows round(0.12 + 0.265 x).
        (((0.3, 0.2), (3.7, 1.1)), {(0, 0), (0, 1), (1, 2), (1, 3), (1, 4)}),
        # Mostly along the rows: rows 1..5, columns round(2.56 - 0.3 y): 2.26, 1.96, 1.66, 1.36, 1.06.
        (((2.2, 1.2), (1.0, 5.2)), {(1, 2), (2, 2), (3, 2), (4, 1), (5, 1)}),
        # Exactly diagonal: stepped along the rows, one cell a row.
        (((1.0, 1.0), (4.0, 4.0)), {(1, 1), (2, 2), (3, 3), (4, 4)}),
        # A zero-length segment: rows 2..3, with GRASS's slope of 1 for it (x = y + 2.1): columns 4 and 5.
        (((4.6, 2.5), (4.6, 2.5)), {(2, 4), (3, 5)}),
        # Two segments, each drawn with its own ends: the corner cell once.
        (((0.0, 0.0), (3.0, 0.0), (3.0, 2.0)), {(0, 0), (0, 1), (0, 2), (0, 3), (1, 3), (2, 3)}),
    ],
)
def test_lines_are_drawn_as_grass_draws_them(points: tuple, cells: set[tuple[int, int]]) -> None:
    from siting.rasters import draw_lines

    mask = draw_lines([centre_line(*points)], shape=(8, 8), transform=ONE_METRE)
    assert set(zip(*np.nonzero(mask), strict=True)) == cells


def test_drawing_ignores_points_and_what_lies_off_the_grid() -> None:
    from shapely.geometry import Point

    from siting.rasters import draw_lines

    off = centre_line((20.0, 20.0), (30.0, 25.0))
    across = centre_line((-50.0, 3.0), (50.0, 3.0))  # clipped to the grid: one row, all 8 columns
    mask = draw_lines([Point(3, 3), None, off, across], shape=(8, 8), transform=ONE_METRE)
    assert set(zip(*np.nonzero(mask), strict=True)) == {(3, c) for c in range(8)}


def test_grass_burn_takes_lines_drawn_and_areas_on_centres(tmp_path: Path) -> None:
    """Barriers burnt by the 'grass' rule: a line one cell a step, a lake on the centres it covers."""
    import geopandas as gpd
    from shapely.geometry import LineString, box

    classes = np.full((12, 12), 2)
    landcover = write_landcover(tmp_path, classes)
    west, north = 500_030.0, 3_000_070.0
    river = gpd.GeoDataFrame(
        geometry=[
            # a river along row 2's centre line, columns 1.3 .. 6.6: columns 1..7 (half a cell past each end)
            LineString([(west + CELL_M * (x + 0.5), north - CELL_M * 2.5) for x in (1.3, 6.6)]),
            # a lake covering the centres of rows 6..8, columns 3..5 (and only part of its edge cells)
            box(west + 2.6 * CELL_M, north - 8.7 * CELL_M, west + 5.7 * CELL_M, north - 5.8 * CELL_M),
        ],
        crs="EPSG:32648",
    )
    river.to_file(tmp_path / "water.gpkg")
    grid = build_travel_grid(
        (west, north - 12 * CELL_M, west + 12 * CELL_M, north),
        CRS_M,
        TerrainInputs(
            landcover=landcover,
            speed_table=write_speeds(tmp_path),
            barriers=tmp_path / "water.gpkg",
            barriers_burn="grass",
            grid_of="landcover",
            slope="none",
            corner_rule=False,
        ),
    )
    blocked = set(zip(*np.nonzero(grid.speed_kmh == 0), strict=True))
    assert blocked == {(2, c) for c in range(1, 8)} | {(r, c) for r in range(6, 9) for c in range(3, 6)}
    assert grid.layers["barrier_cells"] == 7 + 9


@pytest.mark.skipif(shutil.which("grass") is None, reason="GRASS GIS is not installed")
def test_grass_draws_the_same_cells(tmp_path: Path) -> None:
    """GRASS ``v.to.rast`` itself on 40 random lines at every angle: the same cells, cell for cell."""
    import subprocess

    import geopandas as gpd
    from shapely.geometry import LineString

    from siting.rasters import draw_lines

    rng = np.random.default_rng(7)
    lines = [LineString(rng.uniform(-5, 65, size=(int(rng.integers(2, 6)), 2)) * 10.0) for _ in range(40)]
    gpd.GeoDataFrame(geometry=lines, crs="EPSG:32648").to_file(tmp_path / "lines.gpkg")
    script = tmp_path / "run.sh"
    script.write_text(
        f"""set -e
g.region n=600 s=0 w=0 e=600 res=10
v.in.ogr input={tmp_path / "lines.gpkg"} output=lines --quiet
v.to.rast input=lines type=line output=cells use=val value=1 --quiet
r.out.gdal input=cells output={tmp_path / "grass.tif"} type=Byte nodata=0 --quiet
""",
        encoding="ascii",
    )
    subprocess.run(["grass", "--tmp-location", "EPSG:32648", "--exec", "bash", str(script)], check=True)
    with rasterio.open(tmp_path / "grass.tif") as src:
        theirs = src.read(1) == 1
    ours = draw_lines(lines, shape=(60, 60), transform=Affine.translation(0, 600) * Affine.scale(10, -10))
    assert theirs.sum() > 500
    np.testing.assert_array_equal(ours, theirs)
