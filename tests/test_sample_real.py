"""The real parts of the Yunnan sample: counts, code nesting, census totals, boundaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from siting.boundaries import working_crs
from siting.sample.paths import SamplePaths
from siting.sample.real import load_communities_table, load_counties, load_prefectures, townships_table

# Yunnan's bounding box (degrees), generous by ~0.1°.
YUNNAN_BBOX = (97.4, 21.0, 106.3, 29.35)


def test_division_counts(real_paths: SamplePaths) -> None:
    communities = load_communities_table(real_paths)
    townships = townships_table(communities)
    assert len(load_counties(real_paths)) == 129
    assert len(load_prefectures(real_paths)) == 16
    assert communities["county_code"].nunique() == 129
    assert communities["prefecture_code"].nunique() == 16
    assert (townships["township_type"] != "township_like").sum() == 1413
    assert len(communities) == 14589
    assert communities["committee_type"].value_counts().to_dict() == {
        "village_committee": 11834,
        "residents_committee": 2755,
    }


def test_community_codes_nest(real_paths: SamplePaths) -> None:
    c = load_communities_table(real_paths)
    assert c["community_code"].str.fullmatch(r"\d{12}").all()
    assert c["community_code"].is_unique
    assert (c["community_code"].str[:9] == c["township_code"]).all()
    assert (c["township_code"].str[:6] == c["county_code"]).all()
    assert (c["county_code"].str[:4] + "00" == c["prefecture_code"]).all()
    # Codes 400-599 (similar units) are left out.
    assert (c["community_code"].str[9:].astype(int) <= 399).all()


def test_census_totals(real_paths: SamplePaths) -> None:
    counties = load_counties(real_paths)
    assert counties["population_total"].sum() == 47_209_277
    assert counties["population_0_14"].sum() == 9_237_474
    parts = counties[["pop_age_0", "pop_age_1_4", "pop_age_5_9", "pop_age_10_14"]].sum(axis=1)
    assert (parts == counties["population_0_14"]).all()
    assert counties["pop_age_15_19"].sum() == 2_992_872
    prefectures = load_prefectures(real_paths)
    by_prefecture = counties.groupby("prefecture_code")["population_0_14"].sum()
    assert (prefectures.set_index("prefecture_code")["population_0_14"] == by_prefecture).all()


def test_county_boundaries_are_valid_wgs84_in_yunnan(real_paths: SamplePaths) -> None:
    counties = load_counties(real_paths)
    assert counties.crs.to_epsg() == 4326
    assert counties["county_code"].is_unique
    assert counties.geometry.is_valid.all()
    assert set(counties.geom_type) <= {"Polygon", "MultiPolygon"}
    min_lon, min_lat, max_lon, max_lat = counties.total_bounds
    assert YUNNAN_BBOX[0] <= min_lon and min_lat >= YUNNAN_BBOX[1]
    assert max_lon <= YUNNAN_BBOX[2] and max_lat <= YUNNAN_BBOX[3]
    # Kunming's Dianchi-side district 五华区 contains a known point in central Kunming (翠湖 Green Lake).
    wuhua = counties.set_index("county_code").loc["530102", "geometry"]
    assert wuhua.contains(shapely.Point(102.7047, 25.0506))
    # Counties do not overlap (beyond slivers from the source): summed area ≈ union area.
    projected = counties.to_crs(working_crs(tuple(counties.total_bounds)))
    areas = projected.area
    union = shapely.union_all(projected.geometry.to_numpy())
    assert np.isclose(areas.sum(), union.area, rtol=1e-3)
    # Yunnan's area is about 394,000 km².
    assert 380_000 < areas.sum() / 1e6 < 400_000


def test_names_are_bilingual(real_paths: SamplePaths) -> None:
    counties = load_counties(real_paths)
    assert counties.set_index("county_code").loc["530102", ["county_name_zh", "county_name_en"]].tolist() == [
        "五华区",
        "Wuhua District",
    ]
    assert not pd.isna(counties["prefecture_name_en"]).any()
