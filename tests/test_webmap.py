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

from siting.errors import InputError
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
        geometry=[polys[0].centroid, shapely.Point(x0 + 3000, y0 + 1990)],  # the new home at the top edge
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
        LAYER_NAMES["uncovered"],
        LAYER_NAMES["existing"],
        year_layer,
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
    assert "1.5 km" in tips[1] and escape_text(HOSTILE) in tips[1] and "<img" not in tips[1]
    outline = next(c for c in groups[LAYER_NAMES["counties"]]._children.values() if isinstance(c, SafeGeoJson))
    assert outline.interactive_json == "false"  # outlines never catch the hover meant for a community


def test_map_text_follows_the_access_unit() -> None:
    layers = toy_layers()
    minutes = MapLayers(
        counties=layers.counties,
        communities=layers.communities.rename(
            columns={"distance_m": "time_min", "nearest_distance_m": "nearest_time_min"}
        ),
        homes=layers.homes.rename(columns={"distance_mean_m": "time_mean_min", "distance_max_m": "time_max_min"}),
        unit="min",
    )
    groups = feature_groups(plan_map(minutes, title_zh="t", title_en="t", summary_lines=[], modelled=False))
    tips = next(c for c in groups[LAYER_NAMES["communities"]]._children.values() if isinstance(c, SafeGeoJson)).tooltips
    assert "(1,500 min)" in tips[1] and "km" not in tips[1]


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
    assert '<html lang="zh-CN">' in page and "<title>测试方案 &lt;b&gt; Test plan</title>" in page
    path = save_map(fmap, tmp_path / "m.html")
    assert path.stat().st_mode & 0o777 == 0o644


def test_gaode_basemap_shifts_overlays(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = plan_map(toy_layers(), title_zh="t", title_en="t", summary_lines=[], modelled=False)
    gaode = plan_map(toy_layers(), title_zh="t", title_en="t", summary_lines=[], modelled=False, basemap="gaode")
    (s1, w1), _ = plain.get_bounds()
    (s2, w2), _ = gaode.get_bounds()
    shift_m = np.hypot((w2 - w1) * 101_000, (s2 - s1) * 111_000)
    assert 250 < shift_m < 450
    monkeypatch.delenv("SITING_TIANDITU_KEY", raising=False)
    with pytest.raises(InputError, match="needs a key: pass --tianditu-key or set SITING_TIANDITU_KEY"):
        plan_map(toy_layers(), title_zh="t", title_en="t", summary_lines=[], modelled=False, basemap="tianditu")
    with pytest.raises(InputError, match="is not a Tianditu key"):
        plan_map(
            toy_layers(),
            title_zh="t",
            title_en="t",
            summary_lines=[],
            modelled=False,
            basemap="tianditu",
            tianditu_key="{{7*7}}",
        )
    monkeypatch.setenv("SITING_TIANDITU_KEY", "0123456789abcdef0123456789abcdef")
    page = render_map(
        plan_map(toy_layers(), title_zh="t", title_en="t", summary_lines=[], modelled=False, basemap="tianditu")
    )
    assert "tk=0123456789abcdef0123456789abcdef" in page and "底图无法加载（离线），专题图层不受影响" in page


def test_catchment_colours_differ_between_neighbours() -> None:
    from siting.webmap.layers import CATCHMENT_PALETTE, colour_classes

    grid = gpd.GeoSeries([shapely.box(i, j, i + 1, j + 1) for i in range(6) for j in range(6)], crs=CRS)
    colours = colour_classes(grid)
    left, right = grid.sindex.query(grid.to_numpy(), predicate="intersects")
    touching = left != right
    assert (colours[left[touching]] != colours[right[touching]]).all()
    assert not {"#d9d9d9", "#cccccc", "#bdbdbd"} & set(CATCHMENT_PALETTE)  # no greys


def chromium_page(path: Path, check, *, viewport=(1400, 900)) -> tuple[list[str], list[str]]:  # type: ignore[no-untyped-def]
    """Open ``path`` in headless Chromium with every outside request blocked and run ``check(page)``."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    blocked: list[str] = []
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
        page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})

        def route(request_route):  # type: ignore[no-untyped-def]
            if request_route.request.url.startswith(("file://", "data:")):
                request_route.continue_()
            else:
                blocked.append(request_route.request.url)
                request_route.abort()

        page.route("**/*", route)
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("dialog", lambda d: (errors.append(d.message), d.dismiss()))
        page.goto(path.resolve().as_uri())
        page.wait_for_selector(".leaflet-control-layers")
        check(page)
        browser.close()
    return errors, blocked


needs_chromium = pytest.mark.skipif(
    not os.path.exists(CHROMIUM) and os.environ.get("CI") != "true",
    reason="Chromium is installed by .ci/run (apt-get install chromium); in CI this test always runs",
)


@needs_chromium
def test_map_in_headless_chromium(tmp_path: Path) -> None:
    path = save_map(build(), tmp_path / "map.html")

    def check(page):  # type: ignore[no-untyped-def]
        assert page.evaluate("() => document.documentElement.lang") == "zh-CN"
        assert page.title().startswith("测试方案")
        # The layer control starts collapsed; the title panel is open and collapses on click.
        assert page.locator(".leaflet-control-layers-expanded").count() == 0
        panel = page.locator(".siting-panel")
        assert "覆盖 90%" in panel.inner_text() and "模拟数据" in panel.inner_text()
        panel.locator("button").click()
        assert "siting-collapsed" in (panel.get_attribute("class") or "")
        panel.locator("button").click()
        # Hovering a community shows the community, not the county outline drawn over it.
        box = page.evaluate(
            """() => { const k = Object.keys(window).find(k => /^communities_data_[0-9a-f]+$/.test(k));
                       const l = window[k].getLayers()[0], b = l.getBounds();
                       const c = L.latLng(b.getSouth() * 0.75 + b.getNorth() * 0.25,
                                          b.getWest() * 0.75 + b.getEast() * 0.25);
                       const pt = l._map.latLngToContainerPoint(c); return [pt.x, pt.y]; }"""
        )
        page.mouse.move(box[0], box[1])
        tooltip = page.locator(".leaflet-tooltip")
        tooltip.wait_for()
        assert "翠湖社区" in tooltip.inner_text() and "儿童 children: 120" in tooltip.inner_text()
        page.mouse.move(5, 890)
        # The proposed home sits at the top edge of the view: its popup opens fully visible, below the panel.
        page.locator(".siting-triangle").first.click()
        popup = page.locator(".leaflet-popup-content-wrapper")
        popup.wait_for()
        page.wait_for_timeout(500)
        text = popup.inner_text()
        assert "新建儿童之家 proposed home" in text and "华山街道" in text and "建设年份 build year: 2019" in text
        assert HOSTILE in text and "选址理由 why here" in text  # shown literally
        assert popup.locator("img").count() == 0 and page.evaluate("() => window.__pwned") is None
        pop = popup.bounding_box()
        head = panel.bounding_box()
        assert pop is not None and head is not None
        assert pop["y"] >= 0 and pop["y"] + pop["height"] <= 900 and pop["x"] >= 0 and pop["x"] + pop["width"] <= 1400
        beside = pop["x"] >= head["x"] + head["width"] - 1 or pop["x"] + pop["width"] <= head["x"] + 1
        assert beside or pop["y"] >= head["y"] + head["height"] - 1  # not under the panel
        page.screenshot(path=str(tmp_path / "map.png"))

    errors, blocked = chromium_page(path, check)
    assert errors == [] and blocked == []
    assert (tmp_path / "map.png").stat().st_size > 10_000


TEMPLATE_NAMES = ["{{ 7*7 }}", "{% raw %}", "{{ lipsum.__globals__.os.mkdir('PWNED_DIR') }}", "{# c #}{%endraw%}"]


def test_names_are_data_never_template_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    layers = toy_layers()
    communities = layers.communities.assign(community_name=TEMPLATE_NAMES[:3])
    homes = layers.homes.assign(community_name=TEMPLATE_NAMES[2:4], township_name=TEMPLATE_NAMES[:2])
    counties = layers.counties.assign(county_name_zh=TEMPLATE_NAMES[1], county_name_en=TEMPLATE_NAMES[0])
    fmap = plan_map(
        MapLayers(counties=counties, communities=communities, homes=homes),
        title_zh=TEMPLATE_NAMES[2],
        title_en=TEMPLATE_NAMES[1],
        summary_lines=["方案 scenario: {{ 7*7 }}", "{% raw %}"],
        modelled=False,
    )
    page = render_map(fmap)
    assert not (tmp_path / "PWNED_DIR").exists()  # nothing was executed
    for name in TEMPLATE_NAMES:
        assert escape_text(name) in page, name  # shown literally
    assert "方案 scenario: {{ 7*7 }}" in page and "scenario: 49" not in page


def test_the_child_raster_is_drawn_over_the_study_area_only(tmp_path: Path) -> None:
    # A national raster (here 10° × 10° at 0.1°) under a 1° study area: the overlay covers the
    # study area at screen resolution, not the whole raster at a few pixels a county.
    from rasterio.transform import from_origin

    from siting.rasters import write_band
    from siting.webmap.layers import add_raster

    path = tmp_path / "children.tif"
    write_band(
        path, np.ones((100, 100), "float32"), crs="EPSG:4326", transform=from_origin(100, 30, 0.1, 0.1), nodata=-1.0
    )
    whole, part = folium.Map(), folium.Map()
    add_raster(whole, path, max_pixels=200)
    add_raster(part, path, max_pixels=200, within=(101.0, 21.0, 102.0, 22.0))

    def overlay(fmap: folium.Map) -> folium.raster_layers.ImageOverlay:
        found = [c for c in fmap._children.values() if isinstance(c, folium.raster_layers.ImageOverlay)]
        found += [
            g
            for c in fmap._children.values()
            for g in getattr(c, "_children", {}).values()
            if isinstance(g, folium.raster_layers.ImageOverlay)
        ]
        return found[0]

    assert np.allclose(overlay(whole).bounds, [[20, 100], [30, 110]])
    assert np.allclose(overlay(part).bounds, [[21, 101], [22, 102]])
    # The image is the ramp's own colours, not rescaled channel by channel: see-through (alpha
    # 190) and yellow-to-red (blue at most 60), never the opaque cyan folium's reprojection made.
    import base64
    import io

    from PIL import Image

    png = base64.b64decode(overlay(part).url.split(",", 1)[1])
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGBA")).reshape(-1, 4)
    drawn = pixels[pixels[:, 3] > 0]
    assert len(drawn) and set(drawn[:, 3].tolist()) == {190} and drawn[:, 2].max() <= 60
    assert set(drawn[:, 0].tolist()) == {255}  # the legend's yellow to red, no green
