"""Travel time over a grid, checked against answers known by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.csgraph import dijkstra

from siting.travel.cycling import bicycle_kmh
from siting.travel.graph import grid_graph
from siting.travel.grid import TravelGrid, nearest_times, search_from, site_times, tobler_kmh

RES = 100.0


def grid(
    speed: np.ndarray,
    *,
    walking: bool | np.ndarray = False,
    elevation: np.ndarray | None = None,
    bicycling: np.ndarray | None = None,
) -> TravelGrid:
    walk = np.full(speed.shape, walking, dtype=bool) if isinstance(walking, bool) else walking
    height = np.zeros(speed.shape) if elevation is None else elevation
    return TravelGrid(
        Affine.translation(0, 0) * Affine.scale(RES, -RES),
        speed.astype(float),
        walk,
        height.astype(float),
        bicycling=bicycling,
    )


def cycled(terrain: TravelGrid, seed: int) -> TravelGrid:
    """The same terrain with about a third of its walking cells ridden by bicycle at 3 × the walking speed."""
    bike = terrain.walking & (np.random.default_rng(seed).random(terrain.shape) < 0.35)
    speed = np.where(bike, terrain.speed_kmh * 3.0, terrain.speed_kmh)
    return grid(speed, walking=terrain.walking & ~bike, elevation=terrain.elevation_m, bicycling=bike)


def minutes(cells: float, kmh: float) -> float:
    return cells * RES / 1000 / kmh * 60


def test_flat_uniform_speed_gives_octile_distance_over_speed() -> None:
    flat = grid(np.full((20, 20), 60.0))
    times = search_from(flat, np.array([2]), np.array([3]))
    assert times[2, 3] == 0.0
    assert times[5, 7] == pytest.approx(minutes(3 * math.sqrt(2) + 1, 60.0))  # 3 diagonal steps and 1 straight
    assert times[2, 19] == pytest.approx(minutes(16, 60.0))
    # Walking on flat ground is walking at its flat speed (Tobler's factor is 1 at s = 0).
    walk = grid(np.full((20, 20), 5.0), walking=True)
    assert search_from(walk, np.array([0]), np.array([0]))[0, 10] == pytest.approx(minutes(10, 5.0))


def test_a_uniform_ramp_gives_toblers_time_and_up_is_not_down() -> None:
    slope = 0.10  # 10 m up per 100 m cell, eastwards
    elevation = np.tile(np.arange(30) * slope * RES, (5, 1))
    ramp = grid(np.full((5, 30), 5.0), walking=True, elevation=elevation)
    up = search_from(ramp, np.array([2]), np.array([0]))[2, 20]
    down = search_from(ramp, np.array([2]), np.array([20]))[2, 0]
    assert up == pytest.approx(20 * RES * 0.06 / float(tobler_kmh(5.0, slope)))
    assert down == pytest.approx(20 * RES * 0.06 / float(tobler_kmh(5.0, -slope)))
    assert up > down  # Tobler's fastest walk is slightly downhill (s = -0.05)
    # Towards the source ("to_home") is the other direction of travel.
    to_source = search_from(ramp, np.array([2]), np.array([0]), reverse=True)[2, 20]
    assert to_source == pytest.approx(down)


def test_cycling_keeps_the_flat_ground_power_on_a_ramp() -> None:
    # The power a rider of 80 kg on a 15 kg bicycle needs at v m/s on grade s (AccessMod's parameters):
    # v (W (s + 0.012) + ½ ρ CdA v²), W = 9.8 × 95 N, CdA = 0.445 m², ρ = 1.1246 kg/m³ (20 °C, 500 m).
    def watts(v_ms: float, s: float) -> float:
        rho = (1.293 - 0.00426 * 20) * math.exp(-500 / 7000)
        return v_ms * (9.8 * 95 * (s + 0.012) + 0.5 * 0.445 * rho * v_ms**2)

    flat_power = watts(15 / 3.6, 0.0)  # about 64.7 W
    assert flat_power == pytest.approx(64.7, abs=0.1)
    up = float(bicycle_kmh(15.0, 0.05))
    assert watts(up / 3.6, 0.05) == pytest.approx(flat_power, rel=1e-9)
    assert up == pytest.approx(4.01, abs=0.01)  # 5 % up at the same power: about 4 km/h
    assert float(bicycle_kmh(15.0, -0.05)) == pytest.approx(30.0)  # downhill: capped at twice the flat speed
    assert float(bicycle_kmh(15.0, 0.0)) == pytest.approx(15.0)
    # Over a uniform ramp the search gives the ramp's length at that speed, up and down.
    slope = 0.05
    elevation = np.tile(np.arange(30) * slope * RES, (5, 1))
    ramp = grid(np.full((5, 30), 15.0), elevation=elevation, bicycling=np.ones((5, 30), bool))
    assert search_from(ramp, np.array([2]), np.array([0]))[2, 20] == pytest.approx(20 * RES * 0.06 / up)
    assert search_from(ramp, np.array([2]), np.array([20]))[2, 0] == pytest.approx(20 * RES * 0.06 / 30.0)
    assert ramp.max_speed_kmh == 30.0 and ramp.summary()["bicycling_cells"] == 150


def test_a_river_with_one_bridge_forces_the_detour() -> None:
    speed = np.full((21, 21), 60.0)
    speed[:, 10] = 0.0  # the river
    speed[0, 10] = 60.0  # the bridge (a road burnt over the river)
    times = search_from(grid(speed), np.array([10]), np.array([5]))
    assert times[10, 15] == pytest.approx(minutes(2 * (5 * math.sqrt(2) + 5), 60.0))
    assert np.isinf(times[10, 10])  # the river itself is never entered


def test_no_slipping_through_a_diagonal_barrier_at_its_corners() -> None:
    speed = np.full((10, 10), 60.0)
    for k in range(10):
        speed[k, 9 - k] = 0.0  # a diagonal wall, cells touching only at corners
    times = search_from(grid(speed), np.array([0]), np.array([0]))
    assert np.isinf(times[9, 9])


def test_nodata_is_impassable_and_sources_snap_off_it() -> None:
    speed = np.full((5, 5), 60.0)
    speed[2, :] = 0.0  # a band of nodata across the grid
    travel = grid(speed)
    times = search_from(travel, np.array([0]), np.array([0]))
    assert np.isinf(times[4, 4]) and np.isinf(times[2, 2])
    rows, cols = travel.snap(np.array([250.0, 2_000.0]), np.array([-250.0, -250.0]))  # cell (2, 2) and off-grid
    assert (rows[0], cols[0]) in {(1, 1), (1, 2), (1, 3), (3, 1), (3, 2), (3, 3)} and rows[1] == -1


def test_bounded_search_stops_at_the_limit() -> None:
    flat = grid(np.full((50, 50), 6.0))  # 100 m per minute
    times = search_from(flat, np.array([25]), np.array([25]), limit_min=10.0)
    assert np.isfinite(times[25, 35]) and np.isinf(times[25, 36])


def test_nearest_home_raster_is_one_multi_source_search() -> None:
    flat = grid(np.full((1, 11), 60.0))
    minutes_to, home = nearest_times(flat, np.array([0, 0]), np.array([0, 10]))
    assert home[0].tolist() == [0] * 5 + [0] + [1] * 5 or home[0].tolist() == [0] * 5 + [1] + [1] * 5
    assert minutes_to[0, 3] == pytest.approx(minutes(3, 60.0)) and minutes_to[0, 8] == pytest.approx(minutes(2, 60))


def random_terrain(seed: int, size: int = 40) -> TravelGrid:
    rng = np.random.default_rng(seed)
    speed = rng.choice([4.0, 5.0, 30.0, 0.0], size=(size, size), p=[0.45, 0.35, 0.12, 0.08])
    elevation = np.cumsum(rng.normal(0, 8, (size, size)), axis=1)
    return grid(speed, walking=speed < 10, elevation=elevation)


def windowed_times(terrain: TravelGrid, sites: np.ndarray, targets: np.ndarray, limit: float, halo: int) -> dict:
    """Each site searched in its own window: the site's cell plus ``halo`` cells around it."""
    out = {}
    for k, (r, c) in enumerate(sites):
        r0, r1 = max(r - halo, 0), min(r + halo + 1, terrain.shape[0])
        c0, c1 = max(c - halo, 0), min(c + halo + 1, terrain.shape[1])
        part = terrain.window(r0, r1, c0, c1)
        inside = [
            (i, (tr - r0) * (c1 - c0) + (tc - c0))
            for i, (tr, tc) in enumerate(targets)
            if r0 <= tr < r1 and c0 <= tc < c1
        ]
        if not inside:
            continue
        cells = np.array([cell for _, cell in inside])
        _, t, m = site_times(part, np.array([r - r0]), np.array([c - c0]), cells, limit_min=limit, reverse=False)
        for target, value in zip(t, m, strict=True):
            out[(k, inside[target][0])] = value
    return out


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1), st.booleans())
def test_windows_with_a_full_halo_equal_the_whole_grid(seed: int, bicycles: bool) -> None:
    terrain = cycled(random_terrain(seed), seed) if bicycles else random_terrain(seed)
    rng = np.random.default_rng(seed + 1)
    sites = rng.integers(0, 40, (6, 2))
    targets = rng.integers(0, 40, (30, 2))
    limit = 12.0
    cells = targets[:, 0] * 40 + targets[:, 1]
    s, t, m = site_times(terrain, sites[:, 0], sites[:, 1], cells, limit_min=limit, reverse=False)
    whole = {(int(a), int(b)): v for a, b, v in zip(s, t, m, strict=True)}
    # No path within 12 minutes goes farther than max_speed × 12 min.
    halo = math.ceil(terrain.max_speed_kmh * 1000 / 60 * limit / RES)
    assert windowed_times(terrain, sites, targets, limit, halo) == pytest.approx(whole)


def test_a_halo_too_small_gives_wrong_times() -> None:
    # A fast road that leaves the window and comes back: a window too small must miss the fast way.
    speed = np.full((30, 30), 5.0)
    speed[0, :] = 60.0
    speed[:, 0] = 60.0
    speed[:, 29] = 60.0
    speed[15, 1:29] = 0.0  # a wall between the two halves, except through the roads around it
    terrain = grid(speed, walking=speed < 10)
    sites, targets, limit = np.array([[14, 15]]), np.array([[16, 15]]), 60.0
    whole = site_times(terrain, sites[:, 0], sites[:, 1], np.array([16 * 30 + 15]), limit_min=limit, reverse=False)
    assert len(whole[2]) == 1
    small = windowed_times(terrain, sites, targets, limit, halo=5)
    assert small.get((0, 0)) != pytest.approx(float(whole[2][0]))


def cliff_terrain(seed: int, size: int = 30) -> TravelGrid:
    """Roads, walking, barriers and cliffs: some moves take thousands of times the quickest one."""
    rng = np.random.default_rng(seed)
    speed = rng.choice([3.0, 5.0, 60.0, 0.0], size=(size, size), p=[0.4, 0.35, 0.15, 0.1])
    elevation = np.cumsum(rng.normal(0, 20, (size, size)), axis=0)
    elevation[:, size // 2] += 400.0  # a cliff: walking up it takes days
    return grid(speed, walking=speed < 10, elevation=elevation)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1), st.booleans(), st.booleans(), st.booleans())
def test_the_bucket_search_equals_scipy_dijkstra_on_the_same_graph(
    seed: int, reverse: bool, single: bool, bicycles: bool
) -> None:
    terrain = cycled(cliff_terrain(seed), seed) if bicycles else cliff_terrain(seed)
    if single:  # grids built from files store float32 speeds and heights
        terrain = TravelGrid(
            terrain.transform,
            terrain.speed_kmh.astype(np.float32),
            terrain.walking,
            terrain.elevation_m.astype(np.float32),
            bicycling=terrain.bicycling,
        )
    rng = np.random.default_rng(seed)
    passable = np.flatnonzero(terrain.speed_kmh.reshape(-1) > 0)
    sources = rng.choice(passable, 3, replace=False)
    rows, cols = np.divmod(sources, terrain.shape[1])
    ours, nearest = nearest_times(terrain, rows, cols, reverse=reverse)
    # scipy searches from the sources along the graph's edges; "to the source" is the transposed graph.
    graph = grid_graph(terrain, reverse=reverse)
    theirs = dijkstra(graph, indices=sources, min_only=True).reshape(terrain.shape)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    assert (nearest[np.isfinite(ours)] >= 0).all()
