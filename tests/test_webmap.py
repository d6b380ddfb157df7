"""Planner maps: structure of the folium objects, and the page in a real (headless) Chromium."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pytest
import shapely

from siting.webmap import LAYER_NAMES, MapLayers, SafeGeoJson, escape_text, plan_map, render_map, save_map

CRS = "EPSG:32648"
HOSTILE = '<img src=x onerror="window.__pwned=1">`${alert(2)}`\\ & "q"'
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def toy_layers() -> MapLayers:
    x0, y0 = 270_000.0, 2_770_000.0  # Kunming, UTM zone 48N
    polys = [shapely.box(x0 + i * 2000, y0, x0 + (i + 1) * 2000, y0 + 2000) for i in range(3)]
    counties = gpd.GeoDataFrame(
        {"county_name_zh": ["五华区"], "county_name_en": ["Wuhua District"]},
        geometry=[shapely.union_all(polys)],
        crs=CRS,
    )
    communities = gpd.GeoDataFrame(
        {
            "community_name": ["翠湖社区", HOSTILE, "远村"],
            "children": [120.0, 80.0, 40.0],
            "covered": [True, True, False],
            "site_id": ["530102001001", "530102001002", None],
            "distance_m": [0.0, 1500.0, 4200.0],
            "nearest_distance_m": [0.0, 1500.0, 4200.0],
        },
        geometry=polys,
        crs=CRS,
    )
    homes = gpd.GeoDataFrame(
        {
            "site_id": ["530102001001", "530102001002"],
            "community_name": ["翠湖社区", HOSTILE],
            "township_name": ["华山街道", "华山街道"],
            "county_name": ["五华区", "五华区"],
            "existing": [True, False],
            "children_served": [120.0, 80.0],
            "priority_served": [3.0, 12.0],
            "communities_served": [1, 1],
            "distance_mean_m": [0.0, 1500.0],
            "distance_max_m": [0.0, 1500.0],
            "cost_cny": [0.0, 30_000.0],
            "children_added": [120.0, 80.0],
            "build_year": [np.nan, 2019],
        },
        geometry=[p.centroid for p in polys[:2]],
        crs=CRS,
    )
    return MapLayers(counties=counties, communities=communities, homes=homes)


def build() -> folium.Map:
    return plan_map(
        toy_layers(), title_zh="测试方案 <b>", title_en="Test plan", summary_lines=["覆盖 90%"], modelled=True
    )


def feature_groups(fmap: folium.Map) -> dict[str, folium.FeatureGroup]:
    return {c.layer_name: c for c in fmap._children.values() if isinstance(c, folium.FeatureGroup)}


def test_layers_named_chinese_first_with_feature_counts() -> None:
    groups = feature_groups(build())
    year_layer = "新建儿童之家 2019 proposed homes 2019"  # one layer per build year when the plan is phased
    assert list(groups) == [
        LAYER_NAMES["communities"],
        LAYER_NAMES["counties"],
        LAYER_NAMES["existing"],
        year_layer,
        LAYER_NAMES["uncovered"],
    ]
    counts = {
        name: next(c for c in g._children.values() if isinstance(c, SafeGeoJson)).feature_count
        for name, g in groups.items()
    }
    assert counts == {
        LAYER_NAMES["communities"]: 3,
        LAYER_NAMES["counties"]: 1,
        LAYER_NAMES["existing"]: 1,
        year_layer: 1,
        LAYER_NAMES["uncovered"]: 1,
    }
    tips = next(c for c in groups[LAYER_NAMES["communities"]]._children.values() if isinstance(c, SafeGeoJson)).tooltips
    assert tips[0].startswith("<b>翠湖社区</b><br>儿童 children: 120")
    assert escape_text(HOSTILE) in tips[1] and "<img" not in tips[1]


def test_bounds_and_self_contained_page(tmp_path: Path) -> None:
    fmap = build()
    (south, west), (north, east) = fmap.get_bounds()
    assert 102.7 < west < east < 102.8 and 25.0 < south < north < 25.1
    page = render_map(fmap)
    import re

    assert not re.search(r'<(?:script|link|img|iframe)[^>]+(?:src|href)\s*=\s*["\']?https?:', page)
    assert not re.search(r"url\(\s*['\"]?https?:", page)
    assert "模拟数据 / modelled data" in page and "<b>测试方案 &lt;b&gt;</b>" not in page
    assert "&lt;b&gt;" in page  # the title is escaped too
    assert HOSTILE not in page  # never raw, anywhere
    path = save_map(fmap, tmp_path / "m.html")
    assert path.stat().st_mode & 0o777 == 0o644


def test_gaode_basemap_shifts_overlays() -> None:
    plain = plan_map(toy_layers(), title_zh="t", title_en="t", summary_lines=[], modelled=False)
    gaode = plan_map(toy_layers(), title_zh="t", title_en="t", summary_lines=[], modelled=False, basemap="gaode")
    (s1, w1), _ = plain.get_bounds()
    (s2, w2), _ = gaode.get_bounds()
    shift_m = np.hypot((w2 - w1) * 101_000, (s2 - s1) * 111_000)
    assert 250 < shift_m < 450
    with pytest.raises(Exception, match="tianditu_key"):
        plan_map(toy_layers(), title_zh="t", title_en="t", summary_lines=[], modelled=False, basemap="tianditu")


@pytest.mark.skipif(
    not os.path.exists(CHROMIUM) and os.environ.get("CI") != "true",
    reason="Chromium is installed by .ci/run (apt-get install chromium); in CI this test always runs",
)
def test_map_in_headless_chromium(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    path = save_map(build(), tmp_path / "map.html")
    url = path.resolve().as_uri()
    errors: list[str] = []
    blocked: list[str] = []
    dialogs: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1200, "height": 800})

        def route(request_route):  # type: ignore[no-untyped-def]
            if request_route.request.url.startswith(("file://", "data:")):
                request_route.continue_()
            else:
                blocked.append(request_route.request.url)
                request_route.abort()

        page.route("**/*", route)
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(url)
        page.wait_for_selector(".leaflet-control-layers")
        counts = page.evaluate(
            """() => Object.keys(window).filter(k => /_data_[0-9a-f]+$/.test(k) && window[k].getLayers)
                    .map(k => [k.replace(/_data_[0-9a-f]+$/, ''), window[k].getLayers().length])"""
        )
        assert dict(counts) == {"communities": 3, "counties": 1, "existing": 1, "new_2019": 1, "uncovered": 1}
        names = page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
        assert [n.strip() for n in names] == [
            LAYER_NAMES["communities"],
            LAYER_NAMES["counties"],
            LAYER_NAMES["existing"],
            "新建儿童之家 2019 proposed homes 2019",
            LAYER_NAMES["uncovered"],
        ]
        page.locator(".siting-triangle").first.click()
        popup = page.locator(".leaflet-popup-content")
        popup.wait_for()
        text = popup.inner_text()
        assert "新建儿童之家 proposed home" in text and "华山街道" in text and "建设年份 build year: 2019" in text
        assert HOSTILE in text  # shown literally
        assert popup.locator("img").count() == 0
        assert page.evaluate("() => window.__pwned") is None
        assert "<5" not in text and "12" in text
        page.wait_for_timeout(400)  # let the popup finish fading in
        page.screenshot(path=str(tmp_path / "map.png"))
        browser.close()
    assert errors == [] and blocked == [] and dialogs == []
    assert (tmp_path / "map.png").stat().st_size > 10_000
