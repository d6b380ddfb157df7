"""What the provincial office opens: the homes it decides on, the villages left out, CSVs Excel reads right."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import openpyxl
import pandas as pd
import pytest

from siting.pipeline import run
from tests.owndata import registry_as_utf8, write_scenario


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("office")
    path = write_scenario(folder)
    registry_as_utf8(folder)
    # One new home for 24 villages of 2 × 2 km at 3 km: some villages are left out.
    path.write_text(path.read_text(encoding="utf-8").replace("n_homes = 4", "n_homes = 1"), encoding="utf-8")
    return run(folder / "scenario.toml").output_dir


def rows(sheet) -> list[list[object]]:  # type: ignore[no-untyped-def]
    return [[cell.value for cell in row] for row in sheet.iter_rows()]


def test_the_workbook_lists_every_new_home_with_names_at_every_level(out: Path) -> None:
    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    book = openpyxl.load_workbook(out / "report.xlsx")
    table = rows(book["新建儿童之家 new homes"])
    header = table[1]
    assert header[:6] == ["序号 no.", "名称 name", "代码 code", "乡镇 township", "县 county", "州市 prefecture"]
    body, total = table[2:-1], table[-1]
    assert sorted(r[2] for r in body) == sorted(record["plan"]["new_ids"])  # one row per new home
    assert all(r[1] and r[3] and r[4] == r[4] and r[5] == "测试市" for r in body)  # names, not codes
    assert total[1] == "合计 total"
    cost = header.index("建设资金(万元) cost 10k CNY")
    assert total[cost] == pytest.approx(record["build_cost_cny"] / 1e4)
    kept = rows(book["已有儿童之家 existing homes"])
    assert len(kept) - 3 == record["sites"]["existing"]  # title, header, rows, 合计


def test_uncovered_villages_print_one_line_each_with_names_children_and_the_nearest_home(out: Path) -> None:
    book = openpyxl.load_workbook(out / "report.xlsx")
    table = rows(book["未覆盖村 uncovered"])
    header = table[1]
    for column in ("乡镇 township", "县 county", "州市 prefecture", "儿童数(人) children", "最近儿童之家 nearest home"):
        assert column in header, header
    report = pd.read_csv(out / "coverage_province.csv", encoding="utf-8-sig")
    beyond = report["儿童数(人) children"].iloc[0] - report["覆盖儿童(人) children covered"].iloc[0]
    assert table[-1][1] == "合计 total" and table[-1][header.index("儿童数(人) children")] == pytest.approx(
        beyond, abs=0.05
    )
    villages = [r for r in table[2:-1] if not str(r[1]).startswith("小计")]
    subtotals = [r for r in table[2:-1] if str(r[1]).startswith("小计")]
    children = header.index("儿童数(人) children")
    assert sum(r[children] for r in subtotals) == pytest.approx(sum(r[children] for r in villages))


def test_homes_csv_has_chinese_first_headers_and_yes_no(out: Path) -> None:
    homes = pd.read_csv(out / "homes.csv", encoding="utf-8-sig", dtype=str)
    assert "儿童之家编号 home id" in homes.columns and "已有 existing" in homes.columns
    assert set(homes["已有 existing"]) <= {"是", "否"} and set(homes["新建 new"]) <= {"是", "否"}
    # Codes after a tab, so that Excel keeps all 12 digits as text instead of 5.30102E+11.
    for column in ("儿童之家编号 home id", "村(社区)代码 community code", "县代码 county code"):
        assert homes[column].str.fullmatch(r"\t\S+").all(), homes[column].head()
    plan = gpd.read_file(out / "plan.gpkg", layer="homes")
    assert sorted(homes["儿童之家编号 home id"].str.strip()) == sorted(plan["site_id"].astype(str))
    assert homes["服务儿童(人) children served"].str.fullmatch(r"[\d.]+").all()  # numbers stay numbers


def test_the_notes_sheet_names_files_not_the_paths_of_the_machine(out: Path) -> None:
    book = openpyxl.load_workbook(out / "report.xlsx")
    notes = {r[0]: r[1] for r in rows(book["说明 notes"]) if r and r[0]}
    sources = str(notes["数据来源 data sources"])
    assert "villages.shp" in sources and "/" not in sources


def test_compare_says_when_the_standards_differ(out: Path, tmp_path: Path) -> None:
    import shutil
    import warnings

    from siting.errors import SitingWarning
    from siting.runs import compare_runs

    folder = tmp_path / "other"
    shutil.copytree(out.parents[2], folder, ignore=shutil.ignore_patterns("outputs"))
    path = folder / "scenario.toml"
    path.write_text(path.read_text(encoding="utf-8").replace("standard_m = 3000", "standard_m = 2000"), "utf-8")
    other = run(path).output_dir
    with pytest.warns(SitingWarning, match=r"different service standards \(3.0 km \(distance\), 2.0 km \(distance\)\)"):
        compare_runs([out, other], tmp_path / "cmp")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compare_runs([out, out], tmp_path / "same")  # the same standard: not a word


def test_control_characters_in_names_do_not_crash_the_workbook(tmp_path: Path) -> None:
    import geopandas as gpd

    from siting.errors import SitingWarning

    folder = tmp_path / "ctl"
    folder.mkdir()
    path = write_scenario(folder)
    registry_as_utf8(folder)
    villages = gpd.read_file(folder / "villages.shp", encoding="gbk")
    villages.loc[0, "NAME"] = "花\x1b[2J溪\x07甲\x0b1村"  # ESC (clear screen), BEL, vertical tab
    villages.to_file(folder / "villages.shp", encoding="gbk")
    with pytest.warns(SitingWarning, match="control characters"):
        result = run(path)
    book = openpyxl.load_workbook(result.output_dir / "report.xlsx")
    names = [c.value for row in book["新建儿童之家 new homes"].iter_rows() for c in row if isinstance(c.value, str)]
    names += [
        c.value for row in book["已有儿童之家 existing homes"].iter_rows() for c in row if isinstance(c.value, str)
    ]
    names += [c.value for row in book["未覆盖村 uncovered"].iter_rows() for c in row if isinstance(c.value, str)]
    assert not any("\x1b" in n or "\x07" in n for n in names)
    homes = pd.read_csv(result.output_dir / "assignment.csv", encoding="utf-8-sig", dtype=str)
    assert len(homes) == 24  # the run finished and wrote everything


def test_names_reach_the_terminal_escaped(capsys) -> None:  # type: ignore[no-untyped-def]
    from siting.cli import _echo

    _echo("花溪\x1b[2J甲\x07村\r\t1")
    assert capsys.readouterr().out == "花溪\\x1b[2J甲\\x07村\\x0d\t1\n"  # no clear screen, no bell, no overwrite


def test_compare_and_progress_refuse_a_file_as_their_folder(out: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from siting.cli import main

    taken = tmp_path / "taken"
    taken.write_text("x", encoding="utf-8")
    result = CliRunner().invoke(main, ["compare", str(out), str(out), "--out", str(taken)])
    assert result.exit_code == 2 and "compare --out" in result.output and "is a file, not a folder" in result.output
    assert result.output.count("\n") == 1


def test_a_place_that_cannot_be_written_is_refused_before_the_work(out: Path, tmp_path: Path) -> None:
    import time

    from click.testing import CliRunner

    from siting.cli import main

    scenario = out.parents[2] / "scenario.toml"
    blocker = tmp_path / "a_file"
    blocker.write_text("x", encoding="utf-8")
    started = time.perf_counter()
    result = CliRunner().invoke(main, ["run", str(scenario), "--quiet", "--map", str(blocker / "maps" / "m.html")])
    assert result.exit_code == 2 and "--map" in result.output and "is a file, not a folder" in result.output
    assert time.perf_counter() - started < 2.0  # refused before reading anything
    assert len(list((out.parents[1]).iterdir())) == 1  # no second run was written


def test_robustness_with_the_runs_own_raster_gives_the_runs_own_figures(out: Path, tmp_path: Path) -> None:
    from siting.robustness import robustness
    from siting.rundir import open_run

    finished = open_run(out)
    scenario = finished.scenario()
    result = robustness(scenario, tmp_path, k=3, sigma=0.5, raster=scenario.population)
    table = result.province.set_index("alternative")
    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    nominal = 100 * record["children_covered"] / record["children_total"]
    assert table.loc["nominal", "nominal_plan_pct"] == pytest.approx(nominal, abs=1e-6)
    assert table.loc["raster children_utm.tif", "nominal_plan_pct"] == pytest.approx(nominal, abs=1e-3)
    assert len(table) == 1 + 3 + 1 + 1  # nominal, perturbed, even by area, the raster
    assert (table["own_plan_pct"] >= table["nominal_plan_pct"] - 1e-6).all()  # each re-solve is at least as good
    # The robust plan maximises the expected coverage: never below the nominal plan's.
    assert result.robust["robust_plan_expected_pct"] >= result.robust["nominal_plan_expected_pct"] - 1e-6
    # The worst-case plan, started from the robust one, is never worse than either in the worst alternative,
    # and its worst share is the least of the table's columns for it.
    worst = result.robust["worst_case_plan_worst_pct"]
    assert worst >= result.robust["robust_plan_worst_pct"] - 1e-6
    assert worst >= result.robust["nominal_plan_worst_pct"] - 1e-6
    assert result.robust["nominal_plan_worst_pct"] == pytest.approx(table["nominal_plan_pct"].min(), abs=1e-9)
    assert set(result.homes["class"]) <= {"always", "most", "few"}
