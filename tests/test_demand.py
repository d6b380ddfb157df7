"""Demand points, sub-community splitting and the priority registry."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from affine import Affine

from siting.demand import build_demand, split_integer
from siting.errors import InputError, SitingWarning
from siting.population import zonal_children
from siting.registry import read_priority_registry

UTM = "EPSG:32648"
X0, Y0 = 500_000.0, 2_800_000.0


def big_village(tmp_path: Path) -> tuple[gpd.GeoDataFrame, Path]:
    """A 20 x 10 km village (200 km²) with two hamlets of children at its ends, and a small town."""
    values = np.zeros((10, 30), dtype=np.float32)  # 1 km cells
    values[4:6, 0:2] = 25.0  # west hamlet: 100 children
    values[4:6, 18:20] = 75.0  # east hamlet: 300 children
    values[4, 25] = 40.0  # the town
    path = tmp_path / "r.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=30,
        height=10,
        count=1,
        dtype="float32",
        crs=UTM,
        transform=Affine.translation(X0, Y0) @ Affine.scale(1000, -1000),
        nodata=-1,
    ) as dst:
        dst.write(values, 1)
    communities = gpd.GeoDataFrame(
        {
            "community_code": ["530102201201", "530102001001"],
            "township_code": ["530102201", "530102001"],
            "county_code": ["530102", "530102"],
            "prefecture_code": ["530100", "530100"],
        },
        geometry=[
            shapely.box(X0, Y0 - 10_000, X0 + 20_000, Y0),
            shapely.box(X0 + 20_000, Y0 - 10_000, X0 + 30_000, Y0),
        ],
        crs=UTM,
    )
    return communities, path


def test_one_point_per_community_at_weighted_centre(tmp_path: Path) -> None:
    communities, raster = big_village(tmp_path)
    zonal = zonal_children(raster, communities, id_column="community_code")
    demand = build_demand(communities, zonal)
    assert demand["children"].tolist() == [400.0, 40.0]
    # Weighted centre: x = (100 * 1 km + 300 * 19 km) / 400 = 14.5 km, far from the polygon centroid (10 km).
    assert demand.geometry.iloc[0].x - X0 == pytest.approx(14_500.0)
    assert demand["weight"].tolist() == [400.0, 40.0]


def test_large_village_split_preserves_totals(tmp_path: Path) -> None:
    communities, raster = big_village(tmp_path)
    zonal = zonal_children(raster, communities, id_column="community_code")
    priority = pd.DataFrame({"community_code": ["530102201201", "530102001001"], "left_behind": [7, 1]})
    demand = build_demand(
        communities,
        zonal,
        priority=priority,
        priority_factors={"left_behind": 2.0},
        raster_path=raster,
        split_area_km2=100.0,
        seed=1,
    )
    assert demand["demand_id"].tolist() == ["530102201201-01", "530102201201-02", "530102001001"]
    split = demand.iloc[:2].sort_values("children")
    assert split["children"].tolist() == pytest.approx([100.0, 300.0])
    assert sorted((split.geometry.x - X0).round().tolist()) == [1000.0, 19000.0]
    assert demand["children"].sum() == pytest.approx(440.0)
    assert demand["left_behind"].sum() == 8
    assert split["left_behind"].tolist() == [2, 5]  # 7 split 1:3 by largest remainder
    assert demand["weight"].sum() == pytest.approx(440.0 + 2 * 8)


def test_split_integer() -> None:
    assert split_integer(7, np.array([1.0, 3.0])).tolist() == [2, 5]
    assert split_integer(10, np.array([1.0, 1.0, 1.0])).sum() == 10


def test_registry_problems_listed_with_rows(tmp_path: Path) -> None:
    children = pd.Series([100.0, 5.0], index=["530102001001", "530102001002"])
    path = tmp_path / "registry.csv"
    pd.DataFrame(
        {
            "community_code": ["530102001001", "530102001002", "999999999999", "530102001001"],
            "left_behind": [3, 6, 1, -2],
        }
    ).to_csv(path, index=False)
    with pytest.raises(InputError) as error:
        read_priority_registry(path, children=children)
    message = str(error.value)
    assert "unknown community codes at rows [4]: ['999999999999']" in message
    assert "duplicate community codes at rows [2, 5]" in message
    assert "left_behind: negative counts at rows [5] (values [-2])" in message
    assert "left_behind: counts larger than the community's children at rows [3]" in message


def test_registry_xlsx_and_gbk(tmp_path: Path) -> None:
    children = pd.Series([100.0], index=["530102001001"])
    table = pd.DataFrame({"community_code": ["530102001001"], "left_behind": [3], "dibao": [4]})
    table.to_excel(tmp_path / "r.xlsx", index=False)
    out = read_priority_registry(tmp_path / "r.xlsx", children=children)
    assert out.to_dict("records") == [{"community_code": "530102001001", "left_behind": 3, "dibao": 4}]
    (tmp_path / "r.csv").write_bytes("community_code,留守儿童\n530102001001,2\n".encode("gbk"))
    with pytest.warns(SitingWarning, match=r"is not UTF-8; read it as GBK"):
        assert read_priority_registry(tmp_path / "r.csv", children=children)["留守儿童"].tolist() == [2]
