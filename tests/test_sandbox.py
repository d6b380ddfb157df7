"""The planner's sandbox: the page's totals after changes are what `siting evaluate` computes, level by level."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from siting.cli import main
from siting.evaluate import evaluate_homes
from siting.pipeline import run
from siting.sandbox import SANDBOX_NPZ, SandboxData, coverage_of
from tests.owndata import registry_as_utf8, write_scenario
from tests.test_webmap import chromium_page, needs_chromium


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("sandbox")
    write_scenario(folder)
    registry_as_utf8(folder)
    result = run(folder / "scenario.toml", map_path=folder / "map.html")
    return result.output_dir, folder / "map.html"


def test_the_run_keeps_its_sandbox_and_coverage_of_the_plan_is_the_runs(planned: tuple[Path, Path]) -> None:
    out, _ = planned
    data = SandboxData.load(out / SANDBOX_NPZ)
    assert len(data.community_code) == 24 and data.unit == "m" and data.standard == 3000.0
    tables = coverage_of(data, data.site_planned)
    county = pd.read_csv(out / "coverage_county.csv", encoding="utf-8-sig", dtype={"区划代码 code": str})
    mine = tables["county"].set_index("unit_code")["children_covered"]
    theirs = county.set_index("区划代码 code")["覆盖儿童(人) children covered"]
    assert np.allclose(mine.reindex(theirs.index).to_numpy(), theirs.to_numpy(), atol=0.01)
    # Every pair kept is within the standard, and every covered community has one with an open site.
    assert (data.cost <= data.standard).all()


def test_evaluate_refuses_what_is_not_a_home_of_the_run(planned: tuple[Path, Path], tmp_path: Path) -> None:
    out, _ = planned
    bad = tmp_path / "homes.csv"
    bad.write_text("site_id,status\nV001,new\nNOPE,new\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["evaluate", str(out), "--homes", str(bad)])
    assert result.exit_code == 2 and "1 homes are not candidate sites of the run, e.g. ['NOPE']" in result.output
    bad.write_text("site_id,state\nV001,new\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["evaluate", str(out), "--homes", str(bad)])
    assert result.exit_code == 2 and "lack columns ['status']" in result.output


@needs_chromium
def test_plan_in_the_map_then_evaluate_the_export(planned: tuple[Path, Path], tmp_path: Path) -> None:
    out, page_path = planned
    seen: dict[str, object] = {}

    def check(page) -> None:  # type: ignore[no-untyped-def]
        page.wait_for_function("window.siting !== undefined")
        seen["before"] = page.evaluate("window.siting.totals().province.covered")
        # Search a village by name, as a planner types it, and open it: its county's panel fills.
        page.fill("#siting-sb-search", "乌当甲")
        page.wait_for_selector(".siting-sb-hit")
        page.click(".siting-sb-hit")
        seen["focus"] = page.evaluate("window.siting.focus()")
        seen["panel"] = page.inner_text("#siting-sb-unit")
        proposed = [h["site_id"] for h in page.evaluate("window.siting.homes()") if h["status"] == "new"]
        seen["dropped"] = proposed[:2]
        for site in proposed[:2]:
            page.evaluate(f"window.siting.toggle({json.dumps(site)})")
        suggestion = page.evaluate("window.siting.suggest()")
        seen["suggestion"] = suggestion
        page.evaluate(f"window.siting.toggle({json.dumps(suggestion['site_id'])})")
        seen["after"] = page.evaluate("window.siting.totals()")
        seen["levels"] = {
            level: page.evaluate(f"window.siting.levelTotals({json.dumps(level)})")
            for level in ("prefecture", "county", "township")
        }
        seen["csv"] = page.evaluate("window.siting.exportCsv()")
        seen["snippet"] = page.evaluate("window.siting.scenarioSnippet()")
        page.evaluate("window.siting.undo()")
        seen["undone"] = page.evaluate("window.siting.totals().province.covered")
        page.evaluate("window.siting.reset()")
        seen["reset"] = page.evaluate("window.siting.totals().province.covered")

    errors, blocked = chromium_page(page_path, check, viewport=(1366, 768))
    assert errors == [] and blocked == []
    assert seen["focus"]["county"] == "c2"  # type: ignore[index]
    assert "乌当区" in str(seen["panel"]) and "新建 proposed" in str(seen["panel"])
    assert seen["reset"] == seen["before"]
    homes = tmp_path / "homes.csv"
    homes.write_text(str(seen["csv"]), encoding="utf-8")
    table = pd.read_csv(homes, dtype=str)
    taken = seen["suggestion"]["site_id"]  # type: ignore[index]
    gone = set(seen["dropped"]) - {taken}  # type: ignore[arg-type]
    assert (
        set(table["status"]) <= {"new", "existing"}
        and not gone & set(table["site_id"])
        and taken in set(table["site_id"])
    )
    assert f'"{seen["suggestion"]["site_id"]}"' in str(seen["snippet"])  # type: ignore[index]
    evaluation = evaluate_homes(out, homes)
    province = evaluation.tables["province"].iloc[0]
    after = seen["after"]["province"]  # type: ignore[index]
    assert province["children_covered"] == pytest.approx(after["covered"], abs=1e-6)
    assert province["priority_covered"] == pytest.approx(after["priorityCovered"], abs=1e-6)
    for level, page_totals in seen["levels"].items():  # type: ignore[attr-defined]
        mine = evaluation.tables[level].set_index("unit_code")
        for code, values in page_totals.items():
            assert mine.loc[code, "children_covered"] == pytest.approx(values["covered"], abs=1e-6), (level, code)
    result = CliRunner().invoke(main, ["evaluate", str(out), "--homes", str(homes), "--out", str(tmp_path / "ev")])
    assert result.exit_code == 0, result.output
    assert f"{after['covered']:,.0f} of" in result.output
    written = pd.read_csv(tmp_path / "ev" / "evaluation_county.csv", encoding="utf-8-sig")
    assert "覆盖儿童(人) children covered" in written.columns
    shutil.rmtree(tmp_path / "ev")


def _point_of(page, lat: float, lon: float) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """The page pixel of a place on the map."""
    x, y = page.evaluate(
        f"(function () {{ var m = window.__sitingMap, p = m.latLngToContainerPoint([{lat}, {lon}]),"
        " r = m.getContainer().getBoundingClientRect(); return [p.x + r.left, p.y + r.top]; })()"
    )
    return float(x), float(y)


@needs_chromium
def test_an_existing_home_is_clickable_at_zoom_12_over_the_catchments(planned: tuple[Path, Path]) -> None:
    out, page_path = planned
    data = SandboxData.load(out / SANDBOX_NPZ)
    home = int(np.flatnonzero(data.site_existing & data.site_planned)[0])
    lat, lon = float(data.site_lat[home]), float(data.site_lon[home])
    seen: dict[str, object] = {}

    def check(page) -> None:  # type: ignore[no-untyped-def]
        page.wait_for_function("window.siting !== undefined")
        page.evaluate(f"window.__sitingMap.setView([{lat}, {lon}], 12, {{animate: false}})")
        page.wait_for_timeout(300)
        # The catchments are drawn from zoom 9 and were added after the homes: they must not catch the click.
        seen["catchments"] = page.evaluate("document.querySelectorAll('.leaflet-overlay-pane canvas').length")
        page.mouse.click(*_point_of(page, lat, lon))
        page.wait_for_selector(".leaflet-popup", timeout=3000)
        seen["popup"] = page.inner_text(".leaflet-popup-content")

    errors, _ = chromium_page(page_path, check, viewport=(1366, 768))
    assert errors == []
    assert "已有儿童之家 existing home" in str(seen["popup"])


@needs_chromium
def test_a_proposed_homes_popup_is_wholly_in_view_with_the_panels_open(planned: tuple[Path, Path]) -> None:
    out, page_path = planned
    data = SandboxData.load(out / SANDBOX_NPZ)
    home = int(np.flatnonzero(~data.site_existing & data.site_planned)[0])
    lat, lon = float(data.site_lat[home]), float(data.site_lon[home])
    seen: dict[str, object] = {}

    def check(page) -> None:  # type: ignore[no-untyped-def]
        page.wait_for_function("window.siting !== undefined")
        # Put the home near the bottom of the screen, as a planner scrolling finds it.
        page.evaluate(f"window.__sitingMap.setView([{lat}, {lon}], 12, {{animate: false}})")
        page.evaluate("window.__sitingMap.panBy([0, -330], {animate: false})")
        page.wait_for_timeout(200)
        page.mouse.click(*_point_of(page, lat, lon))
        page.wait_for_selector(".leaflet-popup", timeout=3000)
        page.wait_for_timeout(600)  # the pan that brings it into view
        seen["popup"] = page.evaluate(
            "(function () { var r = document.querySelector('.leaflet-popup').getBoundingClientRect();"
            " return [r.left, r.top, r.right, r.bottom]; })()"
        )
        seen["home"] = _point_of(page, lat, lon)
        seen["panels"] = page.evaluate(
            "Array.from(document.querySelectorAll('.siting-panel')).map(function (el) {"
            " var r = el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })"
        )
        seen["text"] = page.inner_text(".leaflet-popup-content")

    errors, _ = chromium_page(page_path, check, viewport=(1366, 768))
    assert errors == []
    left, top, right, bottom = seen["popup"]  # type: ignore[misc]
    assert left >= 0 and top >= 0 and right <= 1366 and bottom <= 768, seen["popup"]
    x, y = seen["home"]  # type: ignore[misc]
    assert 0 <= x <= 1366 and 0 <= y <= 768  # the clicked home stays on the screen
    for p_left, p_top, p_right, p_bottom in seen["panels"]:  # type: ignore[attr-defined]
        overlap = min(right, p_right) > max(left, p_left) and min(bottom, p_bottom) > max(top, p_top)
        assert not overlap, (seen["popup"], seen["panels"])
    assert "新建儿童之家 proposed home" in str(seen["text"])


@needs_chromium
def test_the_county_map_has_township_outlines_and_names(planned: tuple[Path, Path], tmp_path: Path) -> None:
    out, _ = planned
    page_path = tmp_path / "c2.html"
    result = CliRunner().invoke(main, ["map", str(out), "--unit", "乌当区", "--out", str(page_path)])
    assert result.exit_code == 0, result.output
    seen: dict[str, object] = {}

    def check(page) -> None:  # type: ignore[no-untyped-def]
        page.evaluate("window.__sitingMap.setZoom(12, {animate: false})")
        page.wait_for_timeout(300)
        seen["labels"] = page.evaluate(
            "Array.from(document.querySelectorAll('.siting-label.town')).map(function (e) { return e.textContent; })"
        )
        seen["county"] = page.evaluate("window.siting.levelTotals('county')")

    errors, _ = chromium_page(page_path, check, viewport=(1366, 768))
    assert errors == []
    assert {"乌当甲镇", "乌当乙乡"} <= set(seen["labels"])  # type: ignore[arg-type]
    # The county map plans too: its sandbox holds the county and every site that reaches it.
    data = SandboxData.load(out / SANDBOX_NPZ)
    county = coverage_of(data, data.site_planned)["county"].set_index("unit_code")
    assert list(seen["county"]) == ["c2"]  # type: ignore[arg-type]
    assert seen["county"]["c2"]["covered"] == pytest.approx(county.loc["c2", "children_covered"])  # type: ignore[index]


@needs_chromium
def test_the_browsers_print_gives_one_landscape_sheet_with_title_legend_scale_north_and_notice(
    planned: tuple[Path, Path], tmp_path: Path
) -> None:
    _, page_path = planned
    pdf = tmp_path / "map.pdf"
    seen: dict[str, object] = {}

    def check(page) -> None:  # type: ignore[no-untyped-def]
        page.click(".siting-panel .siting-head button")  # folded on screen: printed open all the same
        page.emulate_media(media="print")
        seen["visible"] = page.evaluate(
            "(function () { function shown(s) { var e = document.querySelector(s);"
            " return !!e && getComputedStyle(e).display !== 'none' && e.getBoundingClientRect().width > 0; }"
            " return {title: shown('.siting-panel .siting-title'), legend: shown('.siting-legend'),"
            " scale: shown('.leaflet-control-scale'), north: shown('#siting-print .siting-north'),"
            " sandbox: shown('.siting-sandbox'), zoom: shown('.leaflet-control-zoom')}; })()"
        )
        seen["sheet"] = page.inner_text("#siting-print")
        page.pdf(path=str(pdf), prefer_css_page_size=True, print_background=True)

    errors, blocked = chromium_page(page_path, check, viewport=(1366, 768))
    assert errors == [] and blocked == []
    assert seen["visible"] == {
        "title": True,
        "legend": True,
        "scale": True,
        "north": True,
        "sandbox": False,
        "zoom": False,
    }
    assert "N 北" in str(seen["sheet"]) and "打印日期 printed 20" in str(seen["sheet"])
    data = pdf.read_bytes()
    assert data.count(b"/Type /Page") - data.count(b"/Type /Pages") == 1  # one sheet
    box = data[data.index(b"/MediaBox") :].split(b"]")[0]
    width, height = (float(v) for v in box.split(b"[")[1].split()[2:4])
    assert width > height and abs(width - 842) < 2  # A4 landscape, in points


@needs_chromium
def test_place_names_never_collide(planned: tuple[Path, Path]) -> None:
    _, page_path = planned
    seen: dict[str, object] = {}

    def check(page) -> None:  # type: ignore[no-untyped-def]
        page.evaluate("window.__sitingMap.setZoom(8, {animate: false})")  # county names from 8, all close together
        page.wait_for_timeout(400)
        seen["boxes"] = page.evaluate(
            "Array.from(document.querySelectorAll('.siting-label')).filter(e => e.style.visibility !== 'hidden')"
            ".map(e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })"
        )
        seen["hidden"] = page.evaluate(
            "document.querySelectorAll('.siting-label[style*=\"visibility: hidden\"]').length"
        )

    errors, _ = chromium_page(page_path, check, viewport=(1366, 768))
    assert errors == []
    boxes = seen["boxes"]
    assert len(boxes) >= 1  # type: ignore[arg-type]
    for i, a in enumerate(boxes):  # type: ignore[arg-type]
        for b in boxes[i + 1 :]:  # type: ignore[index]
            assert not (a[0] < b[2] and a[2] > b[0] and a[1] < b[3] and a[3] > b[1]), (a, b)
