"""Every demand point lies in its own community: property test on random polygons and rasters, and the sample."""

from __future__ import annotations

import tempfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from siting.demand import build_demand, check_points_in_communities
from siting.errors import DataError, InputError
from siting.population import zonal_children
from tests.test_population import UTM, write_raster

X0, Y0 = 500_000.0, 2_800_000.0
CELL = 100.0


def random_zones(rng: np.random.Generator, n_big: int, n_small: int, width: int, height: int) -> gpd.GeoDataFrame:
    """Voronoi cells of random seeds (some cut into C shapes) with small zones carved out of them."""
    frame = shapely.box(X0, Y0 - height * CELL, X0 + width * CELL, Y0)
    seeds = shapely.multipoints(
        np.column_stack([rng.uniform(X0, X0 + width * CELL, n_big), rng.uniform(Y0 - height * CELL, Y0, n_big)])
    )
    cells = [c.intersection(frame) for c in shapely.voronoi_polygons(seeds, extend_to=frame).geoms]
    smalls = []
    for _ in range(n_small):
        # Smaller than a cell and placed anywhere (on a cell centre or not).
        x, y = rng.uniform(X0, X0 + width * CELL), rng.uniform(Y0 - height * CELL, Y0)
        size = rng.uniform(5, 60)
        smalls.append(shapely.box(x, y, x + size, y + size).intersection(frame))
    carved = shapely.union_all(smalls) if smalls else shapely.Polygon()
    zones = []
    for k, c in enumerate(cells):
        c = c.difference(carved)
        if k % 3 == 0:  # a notch through the middle makes C shapes and two-part zones
            cx, cy = c.centroid.x, c.centroid.y
            c = c.difference(shapely.box(cx - 2 * CELL, cy - CELL, cx + 10 * CELL, cy + CELL))
        zones.append(c)
    zones += [s.difference(shapely.union_all(smalls[:k])) if k else s for k, s in enumerate(smalls)]
    keep = [z for z in zones if not z.is_empty and z.area > 1.0]
    codes = [f"530102{k:06d}" for k in range(len(keep))]
    return gpd.GeoDataFrame(
        {
            "community_code": codes,
            "township_code": [c[:9] for c in codes],
            "county_code": [c[:6] for c in codes],
            "prefecture_code": [c[:4] + "00" for c in codes],
        },
        geometry=keep,
        crs=UTM,
    )


def children_inside(values: np.ndarray, zones: gpd.GeoDataFrame) -> bool:
    """Whether a cell with children has its centre in a zone, or holds the representative point of a zone
    that has no cell centre (a small zone, which gets a share of that cell)."""
    height, width = values.shape
    rows, cols = np.divmod(np.arange(height * width), width)
    centres = shapely.points(X0 + (cols + 0.5) * CELL, Y0 - (rows + 0.5) * CELL)
    geoms = zones.geometry.to_numpy()
    holds = np.array([shapely.intersects(centres, g) for g in geoms])  # zones x cells
    positive = values.ravel() > 0
    if (holds[:, positive]).any():
        return True
    reps = shapely.get_coordinates(zones.geometry.representative_point().to_numpy()[~holds.any(axis=1)])
    col = np.floor((reps[:, 0] - X0) / CELL).astype(int)
    row = np.floor((Y0 - reps[:, 1]) / CELL).astype(int)
    inside = (row >= 0) & (row < height) & (col >= 0) & (col < width)
    return bool((values[row[inside], col[inside]] > 0).any())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n_big=st.integers(2, 12),
    n_small=st.integers(0, 12),
    sparse=st.booleans(),
)
@example(seed=1776, n_big=2, n_small=0, sparse=True)  # every child in the notch: the raster is refused
def test_every_demand_point_lies_in_its_community(seed: int, n_big: int, n_small: int, sparse: bool) -> None:
    rng = np.random.default_rng(seed)
    width, height = int(rng.integers(3, 25)), int(rng.integers(3, 25))
    values = rng.gamma(0.6, 20, size=(height, width))
    if sparse:
        values[rng.random(values.shape) < 0.7] = 0.0  # most cells empty: weighted centres swing far
    zones = random_zones(rng, n_big, n_small, width, height)
    with tempfile.TemporaryDirectory() as tmp:
        raster = write_raster(Path(tmp) / "r.tif", values, cell_m=CELL, origin=(X0, Y0))
        if not children_inside(values, zones):
            # Every child lies in a notch outside all zones (or there is none): the raster is refused by name.
            with pytest.raises(InputError, match="holds no children inside the communities"):
                zonal_children(raster, zones, id_column="community_code", workers=1)
            return
        zonal = zonal_children(raster, zones, id_column="community_code", workers=1)
        demand = build_demand(zones, zonal, raster_path=raster, split_area_km2=0.05, seed=seed % 1000)
    assert zonal.cell_size == pytest.approx(CELL * np.sqrt(2))
    own = zones.set_index("community_code").geometry.reindex(demand["community_code"]).to_numpy()
    distance = demand.geometry.distance(gpd.GeoSeries(own, index=demand.index, crs=UTM)).to_numpy()
    small = set(zones["community_code"][zonal.cells == 0])
    allowed = np.where(demand["community_code"].isin(small), CELL * np.sqrt(2), 0.0) + 0.01
    assert (distance <= allowed).all(), demand.loc[distance > allowed, "community_code"].tolist()
    # Mass is still conserved: every child of the raster inside the zones is counted once.
    assert demand["children"].sum() == pytest.approx(zonal.children.sum())


def test_shared_cell_keeps_the_owner_centre_on_its_own_cells(tmp_path: Path) -> None:
    # A 1 x 3 row of cells: an owner zone over all three, and a tiny zone inside the first cell.
    values = np.array([[90.0, 0.0, 10.0]])
    raster = write_raster(tmp_path / "r.tif", values, cell_m=CELL, origin=(X0, Y0))
    owner = shapely.box(X0, Y0 - CELL, X0 + 3 * CELL, Y0).difference(shapely.box(X0 + 10, Y0 - 20, X0 + 20, Y0 - 10))
    tiny = shapely.box(X0 + 10, Y0 - 20, X0 + 20, Y0 - 10)
    zones = gpd.GeoDataFrame({"community_code": ["530102001001", "530102001002"]}, geometry=[owner, tiny], crs=UTM)
    zonal = zonal_children(raster, zones, id_column="community_code", workers=1)
    # The first cell (90) is split between its owner and the tiny zone: 45 each.
    assert zonal.children.tolist() == pytest.approx([55.0, 45.0])
    # The owner keeps 45 at x = 50 m and 10 at x = 250 m: its centre is their weighted mean.
    assert zonal.centre_x[0] - X0 == pytest.approx((45 * 50 + 10 * 250) / 55)
    assert zonal.centre_y[0] == pytest.approx(Y0 - 50)


def test_a_misplaced_point_is_refused_by_name() -> None:
    zones = gpd.GeoDataFrame(
        {"community_code": ["530102001001", "530102001002"]},
        geometry=[shapely.box(0, 0, 1000, 1000), shapely.box(1000, 0, 2000, 1000)],
        crs=UTM,
    )
    demand = gpd.GeoDataFrame(
        {"community_code": ["530102001001", "530102001002"]},
        geometry=shapely.points([[500, 500], [80_000, 500]]),
        crs=UTM,
    )
    with pytest.raises(DataError, match=r"1 demand points lie outside their own community: 530102001002 \(78\.0 km"):
        check_points_in_communities(demand, zones)


def test_every_demand_point_of_the_sample_lies_in_its_community(built_sample) -> None:  # type: ignore[no-untyped-def]
    from siting.inputs import prepare_inputs
    from siting.scenario import Scenario

    inputs = prepare_inputs(Scenario(name="placement", data_dir=built_sample.paths.root.parent))
    communities = inputs.communities
    zonal = zonal_children(inputs.raster_path, communities, id_column="community_code")
    demand = build_demand(communities, zonal)
    own = communities.set_index("community_code").geometry.reindex(demand["community_code"]).to_numpy()
    distance = demand.geometry.distance(gpd.GeoSeries(own, index=demand.index, crs=communities.crs)).to_numpy()
    small = demand["community_code"].isin(set(communities["community_code"][zonal.cells == 0])).to_numpy()
    assert len(demand) == 14_589
    assert (distance[~small] <= 0.01).all()
    assert (distance[small] <= zonal.cell_size + 0.01).all()
    # The census children are all placed (0-14 plus 3/5 of 15-19).
    assert demand["children"].sum() == pytest.approx(9_237_474 + 0.6 * 2_992_872, rel=1e-6)
