"""Reading community boundaries from real-world files."""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from siting.boundaries import admin_codes_from_community, read_communities, working_crs
from siting.coords import wgs84_to_gcj02
from siting.errors import CRSError, InputError, SitingWarning

CODES = ["530102001001", "530102001002", "530103002201"]
NAMES = ["翠湖西路社区", "水晶宫社区", "龙泉村委会"]


def squares(lon0: float = 102.70, lat0: float = 25.04) -> list[shapely.Polygon]:
    return [shapely.box(lon0 + i * 0.01, lat0, lon0 + (i + 1) * 0.01, lat0 + 0.01) for i in range(3)]


def frame(**columns: object) -> gpd.GeoDataFrame:
    data = {"community_code": CODES, "name": NAMES}
    data.update(columns)  # type: ignore[arg-type]
    return gpd.GeoDataFrame(data, geometry=squares(), crs="EPSG:4326")


def test_gbk_shapefile_without_cpg_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "villages.shp"
    frame().rename(columns={"community_code": "CODE"}).to_file(path, engine="pyogrio", encoding="GBK")
    for cpg in tmp_path.glob("*.cpg"):
        cpg.unlink()
    raw = (tmp_path / "villages.dbf").read_bytes()
    assert "翠湖西路社区".encode("gbk") in raw  # really GBK on disk
    gdf = read_communities(path, code_column="CODE")
    assert gdf["name"].tolist() == NAMES
    assert gdf["community_code"].tolist() == CODES
    assert read_communities(path, code_column="CODE", encoding="gbk")["name"].tolist() == NAMES


def test_cpg_is_honoured(tmp_path: Path) -> None:
    path = tmp_path / "villages.shp"
    frame().rename(columns={"community_code": "CODE"}).to_file(path, engine="pyogrio", encoding="UTF-8")
    assert (tmp_path / "villages.cpg").exists()
    assert read_communities(path, code_column="CODE")["name"].tolist() == NAMES


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".fgb"])
def test_other_formats(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"villages{suffix}"
    frame().to_file(path, engine="pyogrio")
    gdf = read_communities(path).sort_values("community_code")  # FlatGeobuf stores features in spatial order
    assert gdf["community_code"].tolist() == CODES
    assert gdf["township_code"].tolist() == ["530102001", "530102001", "530103002"]
    assert gdf["county_code"].tolist() == ["530102", "530102", "530103"]
    assert gdf["prefecture_code"].tolist() == ["530100"] * 3


def test_missing_crs_says_how_to_set_it(tmp_path: Path) -> None:
    path = tmp_path / "villages.shp"
    frame().rename(columns={"community_code": "CODE"}).to_file(path, engine="pyogrio")
    path.with_suffix(".prj").unlink()
    with pytest.raises(CRSError, match=r"has no CRS; declare it: for a Shapefile add the \.prj"):
        read_communities(path)


def test_self_intersecting_polygon_is_repaired_with_warning(tmp_path: Path) -> None:
    bowtie = shapely.Polygon([(102.71, 25.04), (102.72, 25.05), (102.72, 25.04), (102.71, 25.05)])
    gdf = frame()
    gdf.loc[1, "geometry"] = bowtie
    path = tmp_path / "v.gpkg"
    gdf.to_file(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = read_communities(path)
    messages = [str(w.message) for w in caught if issubclass(w.category, SitingWarning)]
    assert messages == ["repaired 1 invalid geometries with make_valid: ['530102001002']"]
    assert out.geometry.is_valid.all()
    assert out.geometry.iloc[1].geom_type == "MultiPolygon"
    assert out.geometry.iloc[1].area == pytest.approx(0.5 * 0.01 * 0.01)


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    gdf = frame()
    gdf["community_code"] = ["530102001001", "530102001001", "53010200"]
    gdf.loc[2, "geometry"] = shapely.Polygon()
    path = tmp_path / "v.gpkg"
    gdf.to_file(path)
    with pytest.raises(InputError) as error:
        read_communities(path)
    message = str(error.value)
    assert "the ids in 'community_code' (e.g. ['530102001001', '530102001001', '53010200']) are not 12-digit" in message
    assert "give township_code_column, county_code_column, prefecture_code_column" in message
    assert "duplicate community ids: ['530102001001'] (2 rows)" in message
    assert "communities with empty geometry: ['53010200'] (1 in all)" in message


def test_outside_study_area(tmp_path: Path) -> None:
    path = tmp_path / "v.gpkg"
    frame().to_file(path)
    area = shapely.box(102.695, 25.0, 102.715, 25.1)  # holds the first two squares only
    with pytest.raises(InputError, match=r"1 communities lie outside the study area: \['530103002201'\]"):
        read_communities(path, study_area=area)


def test_code_column_rename_and_missing(tmp_path: Path) -> None:
    gdf = frame().rename(columns={"community_code": "CODE"})
    path = tmp_path / "v.gpkg"
    gdf.to_file(path)
    assert read_communities(path, code_column="CODE")["community_code"].tolist() == CODES
    with pytest.raises(InputError, match="has no 'community_code' column"):
        read_communities(path)


def test_gcj02_layer_is_converted(tmp_path: Path) -> None:
    truth = frame()
    shifted = truth.copy()
    shifted["geometry"] = [
        shapely.Polygon(np.column_stack(wgs84_to_gcj02(*np.array(sq.exterior.coords).T))) for sq in squares()
    ]
    path = tmp_path / "gaode.geojson"
    shifted.to_file(path)
    out = read_communities(path, coordinates="gcj02")
    assert out.geometry.iloc[0].bounds == pytest.approx((102.70, 25.04, 102.71, 25.05), abs=1e-9)
    projected = gpd.GeoDataFrame(geometry=[shapely.box(270_000, 2_770_000, 271_000, 2_771_000)], crs="EPSG:32648")
    projected["community_code"] = CODES[0]
    projected.to_file(tmp_path / "utm.gpkg")
    with pytest.raises(CRSError, match="GCJ-02 and BD-09 exist only as degrees"):
        read_communities(tmp_path / "utm.gpkg", coordinates="gcj02")


def test_working_crs_is_equal_area_in_metres() -> None:
    crs = working_crs((97.5, 21.1, 106.2, 29.2))
    assert crs.is_projected
    assert crs.axis_info[0].unit_name == "metre"
    assert "Albers" in crs.to_wkt()
    with pytest.raises(CRSError, match="not \\(min_lon"):
        working_crs((500000, 0, 600000, 10))


def test_admin_codes() -> None:
    import pandas as pd

    out = admin_codes_from_community(pd.Series(["533421101203"]))
    assert out.iloc[0].tolist() == ["533421101", "533421", "533400"]
    with pytest.raises(InputError, match=r"not 12-digit NBS statistical codes .* give the columns township_code"):
        admin_codes_from_community(pd.Series(["5334"]))


def test_degrees_labelled_as_metres_are_refused(tmp_path: Path) -> None:
    frame().set_crs("EPSG:32648", allow_override=True).to_file(tmp_path / "v.gpkg")
    with pytest.raises(CRSError, match=r"look like longitude/latitude in degrees, but the layer says 'WGS 84 / UTM"):
        read_communities(tmp_path / "v.gpkg")


def test_points_and_mixed_geometry_are_refused(tmp_path: Path) -> None:
    gdf = frame()
    gdf.loc[0, "geometry"] = shapely.Point(102.705, 25.045)
    gdf.loc[2, "geometry"] = shapely.LineString([(102.72, 25.04), (102.73, 25.05)])
    gdf.to_file(tmp_path / "v.gpkg")
    with pytest.raises(InputError, match=r"2 communities are \['LineString', 'Point'\], not polygons"):
        read_communities(tmp_path / "v.gpkg")


def test_overlapping_communities_are_refused(tmp_path: Path) -> None:
    gdf = frame()
    gdf.loc[1, "geometry"] = shapely.box(102.705, 25.04, 102.72, 25.05)  # covers half of the first square
    gdf.to_file(tmp_path / "v.gpkg")
    with pytest.raises(InputError, match=r"1 pairs of communities overlap: 530102001001 and 530102001002 \(50%\)"):
        read_communities(tmp_path / "v.gpkg")


def test_own_ids_with_explicit_level_columns_and_names(tmp_path: Path) -> None:
    from siting.levels import LevelColumns

    gdf = frame()
    gdf["VID"] = ["v1", "v2", "v3"]
    gdf["TOWN"] = ["t1", "t1", "t2"]
    gdf["TOWN_NM"] = ["甲镇", "甲镇", None]
    gdf["CNTY"] = ["c1", "c1", "c1"]
    gdf["PREF"] = ["p1", "p1", "p1"]
    gdf.loc[1, "name"] = None
    path = tmp_path / "villages.shp"  # dBASE field names stop at 10 characters
    gdf.drop(columns="community_code").to_file(path, engine="pyogrio", encoding="UTF-8")
    columns = LevelColumns(
        id="VID", name="name", township_code="TOWN", county_code="CNTY", prefecture_code="PREF", township_name="TOWN_NM"
    )
    out = read_communities(path, columns=columns)
    assert out["community_code"].tolist() == ["v1", "v2", "v3"]
    assert out["community_name"].tolist() == [NAMES[0], "v2", NAMES[2]]  # a missing name shows the id, never nan
    assert out["township_code"].tolist() == ["t1", "t1", "t2"]
    assert out["province_code"].tolist() == ["000000"] * 3  # not NBS codes: the study area is one unit
    assert out["township_name"].tolist() == ["甲镇", "甲镇", None]
    with pytest.raises(InputError, match=r"not 12-digit NBS codes, so the township, county, prefecture"):
        read_communities(path, code_column="VID")
    with pytest.raises(InputError, match=r"has no column county_code='COUNTY'"):
        read_communities(path, columns=LevelColumns(id="VID", county_code="COUNTY"))


def test_a_township_in_two_counties_is_refused(tmp_path: Path) -> None:
    from siting.levels import LevelColumns

    gdf = frame(TOWN=["t1", "t1", "t1"], CNTY=["c1", "c1", "c2"], PREF=["p", "p", "p"])
    gdf.to_file(tmp_path / "v.gpkg")
    columns = LevelColumns(township_code="TOWN", county_code="CNTY", prefecture_code="PREF")
    with pytest.raises(InputError, match=r"1 township codes lie in several counties \{'t1': \['c1', 'c2'\]\}"):
        read_communities(tmp_path / "v.gpkg", columns=columns)


def test_a_file_of_several_layers_reads_communities_or_the_first_with_a_warning(tmp_path: Path) -> None:
    codes = ["530102001001", "530102001002", "530102001003"]
    others = ["530102001004", "530102001005", "530102001006"]
    path = tmp_path / "several.gpkg"
    frame(community_code=codes).to_file(path, layer="villages")
    frame(community_code=others).to_file(path, layer="other")
    with pytest.warns(SitingWarning, match=r"has layers \['villages', 'other'\]; read the first, 'villages'"):
        assert read_communities(path)["community_code"].tolist() == codes
    frame(community_code=others).to_file(path, layer="communities")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_communities(path)["community_code"].tolist() == others
