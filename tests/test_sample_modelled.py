"""The modelled parts of the Yunnan sample: census-calibrated raster, tiling, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import rasterio.features

from siting.sample.build import SampleBuild, build_sample
from siting.sample.children import children_0_17_per_county
from siting.sample.real import load_counties
from tests.conftest import copy_real_parts

PROVINCE_CHILDREN_0_17 = 9_237_474 + 3 / 5 * 2_992_872


def _county_sums(build: SampleBuild) -> tuple[np.ndarray, np.ndarray]:
    counties = load_counties(build.paths)
    with rasterio.open(build.paths.children_tif) as src:
        values = src.read(1, masked=True).filled(0).astype(np.float64)
        labels = rasterio.features.rasterize(
            ((g, i) for i, g in enumerate(counties.geometry)),
            out_shape=values.shape,
            transform=src.transform,
            fill=-1,
            dtype="int32",
        )
    sums = np.bincount(labels[labels >= 0], weights=values[labels >= 0], minlength=len(counties))
    return sums, children_0_17_per_county(counties).to_numpy()


def test_raster_layout_is_worldpop_like(built_sample: SampleBuild) -> None:
    with rasterio.open(built_sample.paths.children_tif) as src:
        assert src.crs.to_epsg() == 4326
        assert src.dtypes == ("float32",)
        assert src.nodata is not None
        assert src.res == pytest.approx((1 / 120, 1 / 120))
        assert src.tags()["MODELLED"] == "true"
        data = src.read(1, masked=True)
        assert data.min() >= 0


def test_county_sums_equal_census(built_sample: SampleBuild) -> None:
    sums, census = _county_sums(built_sample)
    assert np.max(np.abs(sums / census - 1)) <= 0.001
    assert sums.sum() == pytest.approx(PROVINCE_CHILDREN_0_17, rel=1e-6)


def test_province_sum_of_raster(built_sample: SampleBuild) -> None:
    with rasterio.open(built_sample.paths.children_tif) as src:
        total = src.read(1, masked=True).astype(np.float64).sum()
    assert total == pytest.approx(11_033_197.2, rel=1e-6)
    assert pytest.approx(11_033_197.2) == PROVINCE_CHILDREN_0_17


def test_communities_tile_their_county_and_seats_inside(built_sample: SampleBuild) -> None:
    counties = load_counties(built_sample.paths).set_index("county_code")
    communities = gpd.read_file(built_sample.paths.communities_gpkg, layer="communities")
    assert len(communities) == 14589
    assert communities.geometry.is_valid.all()
    seats = gpd.GeoSeries.from_xy(communities["seat_lon"], communities["seat_lat"], crs=4326)
    county_geoms = gpd.GeoSeries(counties.loc[communities["county_code"], "geometry"].to_numpy(), crs=4326)
    assert county_geoms.contains(seats.reset_index(drop=True)).all()
    crs = "+proj=aea +lat_1=22.5 +lat_2=28 +lat_0=25 +lon_0=101.9"
    by_county = communities.to_crs(crs).area.groupby(communities["county_code"]).sum()
    # Communities tile their county's land: the county without its lakes (Dianchi, Erhai, ...).
    lakes = gpd.read_file(built_sample.paths.water_gpkg, layer="lakes").to_crs(crs).union_all()
    land = gpd.GeoSeries(counties.geometry, crs=4326).to_crs(crs).difference(lakes)
    assert np.allclose(by_county.sort_index().to_numpy(), land.area.sort_index().to_numpy(), rtol=1e-4)
    assert not seats.to_crs(crs).within(lakes).any()
    assert (gpd.GeoSeries(counties.geometry, crs=4326).to_crs(crs).area - land.area).sum() / 1e6 > 900  # km² of lake
    townships = gpd.read_file(built_sample.paths.communities_gpkg, layer="townships")
    assert (townships["township_type"] != "township_like").sum() == 1413


def test_residents_committees_are_denser(built_sample: SampleBuild) -> None:
    communities = gpd.read_file(built_sample.paths.communities_gpkg, layer="communities")
    density = (
        communities["children_modelled"]
        / communities.to_crs("+proj=aea +lat_1=22.5 +lat_2=28 +lat_0=25 +lon_0=101.9").area
    )
    by_type = density.groupby(communities["committee_type"]).median()
    assert by_type["residents_committee"] > 5 * by_type["village_committee"]


def test_priority_and_existing_homes(built_sample: SampleBuild) -> None:
    priority = pd.read_csv(built_sample.paths.priority_csv, dtype={"community_code": str})
    assert priority["left_behind"].sum() == 38_600
    assert priority["difficult_circumstances"].sum() == 22_000
    assert priority["dibao"].sum() == 79_000 + 403_800
    assert len(priority) == 14589
    homes = pd.read_csv(built_sample.paths.existing_homes_csv, dtype={"site_id": str})
    assert len(homes) == 1634 - 440 == 1194
    assert homes["site_id"].is_unique
    meta = json.loads(built_sample.paths.metadata_json.read_text(encoding="utf-8"))
    assert meta["modelled"] is True and meta["seed"] == 2020


def test_same_seed_same_sample(built_sample: SampleBuild, tmp_path: Path) -> None:
    again = build_sample(copy_real_parts(tmp_path), seed=2020)
    with rasterio.open(built_sample.paths.children_tif) as a, rasterio.open(again.paths.children_tif) as b:
        assert np.array_equal(a.read(1), b.read(1))
        assert a.transform == b.transform
    for name in ("priority_csv", "existing_homes_csv"):
        assert getattr(built_sample.paths, name).read_bytes() == getattr(again.paths, name).read_bytes()
    first = gpd.read_file(built_sample.paths.communities_gpkg, layer="communities")
    second = gpd.read_file(again.paths.communities_gpkg, layer="communities")
    assert first.geometry.geom_equals_exact(second.geometry, tolerance=0).all()
    assert build_sample(copy_real_parts(tmp_path / "other"), seed=7).children_total == pytest.approx(
        built_sample.children_total
    )


def test_other_seed_differs(built_sample: SampleBuild, tmp_path: Path) -> None:
    other = build_sample(copy_real_parts(tmp_path), seed=1)
    a = pd.read_csv(built_sample.paths.existing_homes_csv, dtype=str)
    b = pd.read_csv(other.paths.existing_homes_csv, dtype=str)
    assert set(a["site_id"]) != set(b["site_id"])


@pytest.mark.slow
def test_sample_build_shows_its_progress(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from siting.sample.build import build_sample
    from tests.conftest import copy_real_parts

    build_sample(copy_real_parts(tmp_path / "data"), progress=True)
    shown = capsys.readouterr().err
    assert "sample" in shown and "5/5" in shown and "relief and roads" in shown
