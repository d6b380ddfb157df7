"""Zonal sums that conserve mass, on rasters built in code."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine

from siting.errors import CRSError
from siting.population import zonal_children

UTM = "EPSG:32648"


def write_raster(
    path: Path,
    values: np.ndarray,
    *,
    crs: str | None = UTM,
    cell_m: float = 100.0,
    origin: tuple[float, float] = (500_000.0, 2_800_000.0),
    nodata: float = -1.0,
) -> Path:
    transform = Affine.translation(*origin) @ Affine.scale(cell_m, -cell_m)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=values.shape[1],
        height=values.shape[0],
        count=1,
        dtype="float32",
        crs=crs,
        transform=transform,
        nodata=nodata,
    ) as dst:
        dst.write(values.astype(np.float32), 1)
    return path


def box(x0: float, y0: float, x1: float, y1: float) -> shapely.Polygon:
    return shapely.box(x0, y0, x1, y1)


def test_sums_and_weighted_centres(tmp_path: Path) -> None:
    # 4 x 4 cells of 100 m; values 1..16 row by row; nodata in one cell.
    values = np.arange(1, 17, dtype=float).reshape(4, 4)
    values[3, 3] = -1.0
    raster = write_raster(tmp_path / "r.tif", values)
    x0, y_top = 500_000.0, 2_800_000.0
    zones = gpd.GeoDataFrame(
        {"code": ["left", "right"]},
        geometry=[box(x0, y_top - 400, x0 + 200, y_top), box(x0 + 200, y_top - 400, x0 + 400, y_top)],
        crs=UTM,
    )
    result = zonal_children(raster, zones, id_column="code")
    left = 1 + 2 + 5 + 6 + 9 + 10 + 13 + 14
    right = 3 + 4 + 7 + 8 + 11 + 12 + 15
    assert result.children.tolist() == [left, right]
    assert result.raster_total == left + right
    # Left zone: cell centres x = 50 and 150 m; weighted mean x = (50*(1+5+9+13) + 150*(2+6+10+14)) / 60.
    assert result.centre_x[0] - x0 == pytest.approx((50 * 28 + 150 * 32) / 60)


def test_small_zone_shares_a_cell_and_mass_is_conserved(tmp_path: Path) -> None:
    values = np.full((2, 2), 10.0)
    raster = write_raster(tmp_path / "r.tif", values)
    x0, y_top = 500_000.0, 2_800_000.0
    big = box(x0, y_top - 200, x0 + 200, y_top).difference(box(x0 + 10, y_top - 30, x0 + 30, y_top - 10))
    tiny = box(x0 + 10, y_top - 30, x0 + 30, y_top - 10)  # holds no cell centre
    zones = gpd.GeoDataFrame({"code": ["big", "tiny"]}, geometry=[big, tiny], crs=UTM)
    result = zonal_children(raster, zones, id_column="code")
    assert result.children.tolist() == [35.0, 5.0]
    assert result.children.sum() == pytest.approx(40.0)


def test_raster_in_another_crs(tmp_path: Path) -> None:
    # The same 100 m cells described in UTM; zones given in Web Mercator still get the right sums.
    values = np.ones((10, 10))
    raster = write_raster(tmp_path / "r.tif", values)
    x0, y_top = 500_000.0, 2_800_000.0
    zone = gpd.GeoDataFrame({"code": ["a"]}, geometry=[box(x0, y_top - 1000, x0 + 500, y_top)], crs=UTM)
    result = zonal_children(raster, zone.to_crs("EPSG:3857"), id_column="code")
    assert result.children.tolist() == [50.0]


def test_missing_crs_is_an_error(tmp_path: Path) -> None:
    raster = write_raster(tmp_path / "r.tif", np.ones((2, 2)), crs=None)
    zones = gpd.GeoDataFrame({"code": ["a"]}, geometry=[box(0, 0, 1, 1)], crs=UTM)
    with pytest.raises(CRSError, match="has no CRS"):
        zonal_children(raster, zones, id_column="code")


def test_worker_processes_give_the_same_sums(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import siting.population as population

    # 40 x 30 cells with known integer values, strips of 3 rows in runs of 2 (tiles of 6 rows),
    # zones with a hole and a multipolygon: two workers must add up exactly to one.
    values = np.arange(1, 1201, dtype=float).reshape(40, 30)
    transform_origin = (500_000.0, 2_800_000.0)
    path = tmp_path / "r.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=30,
        height=40,
        count=1,
        dtype="float32",
        crs=UTM,
        nodata=-1.0,
        transform=Affine.translation(*transform_origin) @ Affine.scale(100.0, -100.0),
        tiled=True,
        blockxsize=16,
        blockysize=16,
    ) as dst:
        dst.write(values.astype(np.float32), 1)
    x0, y_top = transform_origin
    ring = box(x0, y_top - 4_000, x0 + 1_500, y_top).difference(box(x0 + 300, y_top - 900, x0 + 900, y_top - 300))
    parts = shapely.MultiPolygon(
        [box(x0 + 1_500, y_top - 1_000, x0 + 3_000, y_top), box(x0 + 1_500, y_top - 4_000, x0 + 3_000, y_top - 3_000)]
    )
    middle = box(x0 + 1_500, y_top - 3_000, x0 + 3_000, y_top - 1_000)
    zones = gpd.GeoDataFrame({"code": ["ring", "parts", "middle"]}, geometry=[ring, parts, middle], crs=UTM)
    one = zonal_children(path, zones, id_column="code", block_rows=3, workers=1)
    monkeypatch.setattr(population, "PARALLEL_MIN_CELLS", 0)
    two = zonal_children(path, zones, id_column="code", block_rows=3, workers=2)
    assert two.children.tolist() == one.children.tolist()
    assert two.cells.tolist() == one.cells.tolist() == [600 - 36, 300, 300]
    assert two.centre_x == pytest.approx(one.centre_x) and two.centre_y == pytest.approx(one.centre_y)
    assert two.children.sum() == values.sum() - values[3:9, 3:9].sum()  # the hole belongs to no zone
