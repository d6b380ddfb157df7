"""Travel-time access: windows in workers equal the whole-grid search, directions, snapping, refusals."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
from affine import Affine
from shapely.geometry import Point

from siting.errors import InputError, SitingWarning
from siting.travel.access import access_from_terrain, halo_cells
from siting.travel.grid import TravelGrid, search_from

RES = 100.0
CRS = "EPSG:32648"


def terrain(seed: int, size: int = 60) -> TravelGrid:
    rng = np.random.default_rng(seed)
    speed = rng.choice([4.0, 5.0, 30.0, 0.0], size=(size, size), p=[0.45, 0.35, 0.12, 0.08])
    elevation = np.cumsum(rng.normal(0, 8, (size, size)), axis=1)
    return TravelGrid(Affine.scale(RES, -RES), speed, speed < 10, elevation)


def points(xy: np.ndarray, prefix: str) -> gpd.GeoDataFrame:
    ids = [f"{prefix}{k}" for k in range(len(xy))]
    frame = gpd.GeoDataFrame(
        {f"{'demand' if prefix == 'd' else 'site'}_id": ids, "community_code": ids},
        geometry=[Point(x, y) for x, y in xy],
        crs=CRS,
    )
    return frame


def cell_centres(cells: np.ndarray) -> np.ndarray:
    return np.column_stack([(cells[:, 1] + 0.5) * RES, -(cells[:, 0] + 0.5) * RES])


def passable_cells(grid: TravelGrid, n: int, rng: np.random.Generator) -> np.ndarray:
    rows, cols = np.nonzero(grid.speed_kmh > 0)
    pick = rng.choice(len(rows), n, replace=False)
    return np.column_stack([rows[pick], cols[pick]])


@pytest.mark.parametrize("direction", ["to_home", "from_home"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_windows_in_workers_equal_one_search_per_site_over_the_whole_grid(seed: int, direction: str) -> None:
    grid = terrain(seed)
    rng = np.random.default_rng(seed)
    site_cells, demand_cells = passable_cells(grid, 25, rng), passable_cells(grid, 120, rng)
    demand_cells[1] = demand_cells[0]  # two communities in one cell get the same times
    sites, demand = points(cell_centres(site_cells), "s"), points(cell_centres(demand_cells), "d")
    access = access_from_terrain(demand, sites, grid, standard_min=15.0, direction=direction, workers=2, tile_cells=8)
    dense = access.costs.matrix.toarray()
    stored = access.costs.matrix.tocoo()
    expected = np.full((len(demand), len(sites)), np.inf)
    for j, (r, c) in enumerate(site_cells):
        times = search_from(grid, np.array([r]), np.array([c]), limit_min=15.0, reverse=direction == "to_home")
        expected[:, j] = times[demand_cells[:, 0], demand_cells[:, 1]]
    within = np.isfinite(expected)
    assert within.sum() > 50  # the instance is not trivial
    assert set(zip(stored.row.tolist(), stored.col.tolist(), strict=True)) == set(zip(*np.nonzero(within), strict=True))
    np.testing.assert_allclose(dense[within], expected[within])
    assert (dense[0] == dense[1]).all()
    assert access.unit == "min" and access.mode == "travel_time" and access.direction == direction


def test_to_home_and_from_home_differ_on_a_slope() -> None:
    elevation = np.tile(np.arange(30) * 10.0, (3, 1))  # 10 % up eastwards
    grid = TravelGrid(Affine.scale(RES, -RES), np.full((3, 30), 5.0), np.ones((3, 30), bool), elevation)
    home, child = points(cell_centres(np.array([[1, 0]])), "s"), points(cell_centres(np.array([[1, 20]])), "d")
    to_home = access_from_terrain(child, home, grid, standard_min=60.0, direction="to_home", workers=1)
    from_home = access_from_terrain(child, home, grid, standard_min=60.0, direction="from_home", workers=1)
    down = 20 * RES * 0.06 / (5.0 * math.exp(0.175) * math.exp(-3.5 * abs(-0.1 + 0.05)))
    up = 20 * RES * 0.06 / (5.0 * math.exp(0.175) * math.exp(-3.5 * abs(0.1 + 0.05)))
    assert to_home.costs.matrix[0, 0] == pytest.approx(down)  # the child walks downhill to the home
    assert from_home.costs.matrix[0, 0] == pytest.approx(up)  # the director walks uphill to the family


def test_nearest_home_at_any_time_comes_from_one_search_over_the_grid() -> None:
    grid = TravelGrid(Affine.scale(RES, -RES), np.full((1, 200), 6.0), np.zeros((1, 200), bool), np.zeros((1, 200)))
    homes = points(cell_centres(np.array([[0, 0], [0, 199]])), "s")
    children = points(cell_centres(np.array([[0, 30], [0, 150], [0, 199]])), "d")
    access = access_from_terrain(children, homes, grid, standard_min=10.0, workers=1)
    assert access.n_pairs == 1  # only the child at the far home is within 10 minutes
    site, minutes = access.nearest(["s0"])
    assert list(site) == ["s0", "s0", "s0"] and minutes == pytest.approx([30.0, 150.0, 199.0])
    site, minutes = access.nearest(["s0", "s1"])
    assert list(site) == ["s0", "s1", "s1"] and minutes == pytest.approx([30.0, 49.0, 0.0])
    raster, home = access.nearest_time_raster(["s1"])
    assert raster[0, 100] == pytest.approx(99.0) and home[0, 100] == 0


def test_communities_off_the_dem_are_listed_and_refused() -> None:
    grid = terrain(5, size=20)
    elevation = grid.elevation_m.copy()
    speed = grid.speed_kmh.copy()
    elevation[:, 15:], speed[:, 15:] = np.nan, 0.0  # the DEM stops at column 15
    short = TravelGrid(grid.transform, speed, grid.walking, elevation)
    demand = points(cell_centres(np.array([[3, 2], [4, 18]])), "d")
    sites = points(cell_centres(np.array([[3, 3]])), "s")
    with pytest.raises(
        InputError, match=r"1 communities cannot be placed.*d1 \(no height in the DEM\).*covers the whole"
    ):
        access_from_terrain(demand, sites, short, standard_min=30.0, workers=1)


def test_a_site_in_a_lake_is_reported_and_reaches_no_one() -> None:
    speed = np.full((20, 20), 5.0)
    speed[5:15, 5:15] = 0.0  # a lake
    grid = TravelGrid(Affine.scale(RES, -RES), speed, np.ones((20, 20), bool), np.zeros((20, 20)))
    sites = points(cell_centres(np.array([[10, 10], [2, 2]])), "s")
    demand = points(cell_centres(np.array([[2, 3], [4, 10]])), "d")  # the second on the shore
    with pytest.warns(SitingWarning, match=r"1 sites are not on a passable cell.*s0 \(on a barrier\)"):
        access = access_from_terrain(demand, sites, grid, standard_min=30.0, workers=1)
    assert access.costs.matrix.tocsc()[:, [0]].nnz == 0
    assert access.costs.matrix[0, 1] == pytest.approx(1.2)  # one cell at 5 km/h


def test_a_max_speed_below_the_grid_is_refused() -> None:
    grid = terrain(1)
    with pytest.raises(InputError, match="max_speed_kmh = 10 is below the fastest move"):
        halo_cells(grid, standard_min=30.0, max_speed_kmh=10.0)
    assert halo_cells(grid, standard_min=30.0) == math.ceil(30.0 * 1000 / 60 * 30 / RES) + 1
