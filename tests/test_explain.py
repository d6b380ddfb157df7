"""Why a home is here and why a village is left out: explanations on a small line of villages known by hand."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from siting.access import access_from_points
from siting.explain import explain_homes, explain_uncovered

# Villages on a line, 1 km apart (x = 0 … 6 km), all in township T1 except v6 in T2; the standard is 1.2 km,
# so a site at a village covers it and its neighbours. Children: 100, 10, 300, 20, 5, 50, 70.
X_KM = [0, 1, 2, 3, 4, 5, 9]
CHILDREN = np.array([100.0, 10.0, 300.0, 20.0, 5.0, 50.0, 70.0])
TOWN = ["T1"] * 6 + ["T2"]


def line_access():  # type: ignore[no-untyped-def]
    points = [shapely.Point(1000.0 * x, 0.0) for x in X_KM]
    ids = [f"v{k}" for k in range(len(X_KM))]
    demand = gpd.GeoDataFrame({"demand_id": ids, "township_code": TOWN}, geometry=points, crs="EPSG:32648")
    sites = gpd.GeoDataFrame({"site_id": ids, "township_code": TOWN}, geometry=points, crs="EPSG:32648")
    return access_from_points(demand, sites, standard_m=1200.0)


def test_each_new_home_names_the_best_alternative_of_its_township() -> None:
    access = line_access()
    # The plan: v2 (covers v1 v2 v3: 330) and v5 (covers v4 v5: 55) new; no existing home.
    homes = pd.DataFrame(
        {
            "site_id": ["v2", "v5"],
            "township_code": ["T1", "T1"],
            "new": [True, True],
            "children_added": [330.0, 55.0],
            "cost_cny": [30_000.0, 30_000.0],
        }
    )
    names = pd.Series({f"v{k}": f"村{k}" for k in range(7)})
    out = explain_homes(
        homes,
        access,
        children=CHILDREN,
        site_township=pd.Series(dict(zip(names.index, TOWN, strict=True))),
        excluded=["v3"],
        site_names=names,
    )
    # Without v2, v1 v2 v3 are left out (v0 too, as before): the best other T1 site is v1 (covers v0 v1 v2:
    # 100 + 10 + 300 = 410); v3 is excluded, v6 is in another township.
    first = out.iloc[0]
    assert first["alternative_site_id"] == "v1" and first["alternative_added"] == 410.0
    # Without v5, v4 and v5 are left out (and v0, as before). T1's free sites: v0 (v0 v1: adds v0, 100),
    # v1 (v0 v1 v2: adds 100), v4 (v3 v4 v5: adds 55). The first of the best is v0, with 100.
    second = out.iloc[1]
    assert second["alternative_site_id"] == "v0" and second["alternative_added"] == 100.0
    assert first["cost_share_pct"] == pytest.approx(50.0)
    assert "新增覆盖儿童 330 名" in first["why"] and "村1 可新增更多 410 名" in first["why"]
    assert "would add more, 410" in first["why"] and "50.00 % of the build cost" in first["why"]


def test_each_uncovered_village_says_why() -> None:
    access = line_access()
    uncovered = pd.DataFrame({"community_code": ["v0", "v6", "v4"]})
    out = explain_uncovered(
        uncovered,
        access,
        children=CHILDREN,
        demand_community=np.array([f"v{k}" for k in range(7)]),
        open_site_ids=["v2"],
        excluded=["v6"],
        least_added=330.0,
        site_names=pd.Series({f"v{k}": f"村{k}" for k in range(7)}),
    )
    assert out["reason_kind"].tolist() == ["budget", "excluded", "budget"]
    # v0: the best site within reach (v0 or v1) adds v0 = 100 (v1, v2 are covered by v2).
    assert "可新增 100 名,少于入选新建儿童之家的最少新增 330 名" in out["reason"].iloc[0]
    assert "every site within reach (1) was excluded" in out["reason"].iloc[1]
    # v4 is reached from v3 (v2 v3 v4: only v4 is new, 5), v4 (v3 v4 v5: v3 is v2's, so 5 + 50) and v5 (55).
    assert "村4, would add 55 children" in out["reason"].iloc[2]


def test_a_village_beyond_every_site_is_said_so() -> None:
    access = line_access()
    far = access_from_points(
        gpd.GeoDataFrame({"demand_id": ["far"]}, geometry=[shapely.Point(50_000, 0)], crs="EPSG:32648"),
        gpd.GeoDataFrame({"site_id": ["v0"]}, geometry=[shapely.Point(0, 0)], crs="EPSG:32648"),
        standard_m=1200.0,
    )
    out = explain_uncovered(
        pd.DataFrame({"community_code": ["far"]}),
        far,
        children=np.array([5.0]),
        demand_community=np.array(["far"]),
        open_site_ids=[],
        excluded=[],
        least_added=None,
        site_names=pd.Series(dtype=object),
    )
    assert out["reason_kind"].iloc[0] == "beyond" and "1.2 km" in out["reason"].iloc[0]
    assert access.standard == 1200.0
