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
