"""Allocation, catchments, the coverage report, targets, small-count suppression — on a toy province."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner

from siting.allocation import assign_to_nearest_home, catchments
from siting.cli import main
from siting.costs import distance_matrix
from siting.models.plan import Plan
from siting.report import COUNT_COLUMNS, coverage_report
from siting.report_files import write_report_files
from siting.targets import check_targets, read_targets

CRS = "EPSG:32648"
CODES = ["530101001001", "530101001002", "530101002001", "530102001001", "530301001001", "530301001002"]
X = [0.0, 1000.0, 10_000.0, 20_000.0, 30_000.0, 50_000.0]
CHILDREN = [100.0, 50.0, 30.0, 20.0, 200.0, 10.0]
LEFT_BEHIND = [3, 0, 10, 2, 6, 0]


def toy() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame, Plan, pd.DataFrame]:
    codes = pd.Series(CODES)
    admin = pd.DataFrame(
        {
            "community_code": codes,
            "township_code": codes.str[:9],
            "county_code": codes.str[:6],
            "prefecture_code": codes.str[:4] + "00",
        }
    )
    points = gpd.points_from_xy(X, [0.0] * 6)
    demand = gpd.GeoDataFrame(
        admin.assign(demand_id=codes, children=CHILDREN, left_behind=LEFT_BEHIND), geometry=points, crs=CRS
    )
    sites = gpd.GeoDataFrame(admin.assign(site_id=codes, cost_cny=30_000.0), geometry=points, crs=CRS)
    # Communities tile a strip: each spans half-way to its neighbours.
    edges = [-500.0] + [(a + b) / 2 for a, b in itertools.pairwise(X)] + [50_500.0]
    polygons = [shapely.box(edges[k], -5000, edges[k + 1], 5000) for k in range(6)]
    communities = gpd.GeoDataFrame(
        admin.assign(community_name=[f"村{k}" for k in range(6)]), geometry=polygons, crs=CRS
    )
    plan = Plan(
        model="mclp",
        parameters={},
        site_ids=(CODES[0], CODES[4]),
        existing_ids=(CODES[0],),
        new_ids=(CODES[4],),
        objective=350.0,
        bound=350.0,
        gap=0.0,
        status="optimal",
        solver="test",
    )
    costs = distance_matrix(
        np.column_stack([X, np.zeros(6)]),
        np.column_stack([X, np.zeros(6)]),
        demand_ids=CODES,
        site_ids=CODES,
        cutoff_m=50_000,
        crs=CRS,
    )
    allocation = assign_to_nearest_home(costs, plan.site_ids, standard=2000.0, demand=demand, sites=sites)
    return demand, sites, communities, plan, allocation


def test_allocation_and_uncovered_nearest_home() -> None:
    _, _, _, _, allocation = toy()
    assert allocation["covered"].tolist() == [True, True, False, False, True, False]
    assert allocation["site_id"].tolist()[:2] == [CODES[0], CODES[0]]
    assert allocation["nearest_site_id"].tolist() == [CODES[0], CODES[0], CODES[0], CODES[4], CODES[4], CODES[4]]
    assert allocation["distance_m"].tolist() == [0.0, 1000.0, 10_000.0, 10_000.0, 0.0, 20_000.0]


def test_every_column_of_the_toy_province() -> None:
    demand, sites, _, plan, allocation = toy()
    tables = coverage_report(demand, allocation, sites, plan, priority_groups=["left_behind"])
    province = tables["province"].iloc[0]
    expected = {
        "unit_code": "530000",
        "communities": 6,
        "children": 410.0,
        "children_covered": 350.0,
        "priority_children": 21.0,
        "priority_covered": 9.0,
        "homes_existing": 1,
        "homes_new": 1,
        "homes_total": 2,
        "townships": 4,
        "townships_with_home": 2,
        "communities_uncovered": 3,
        "build_cost_cny": 30_000.0,
        "directors": 6,
        "staff_cost_cny_per_year": 6 * 12 * 1900.0,
        "distance_p90_m": 10_000.0,
    }
    for column, value in expected.items():
        assert province[column] == value, column
    assert province["children_covered_pct"] == pytest.approx(100 * 350 / 410)
    assert province["priority_covered_pct"] == pytest.approx(100 * 9 / 21)
    assert province["distance_mean_m"] == pytest.approx(750_000 / 410)
    pref = tables["prefecture"].set_index("unit_code")
    assert pref.loc[
        "530100",
        [
            "communities",
            "children_covered",
            "priority_covered",
            "homes_existing",
            "townships",
            "townships_with_home",
            "communities_uncovered",
        ],
    ].tolist() == [4, 150.0, 3.0, 1, 3, 1, 2]
    assert pref.loc["530300", "children_covered_pct"] == pytest.approx(100 * 200 / 210)
    # Levels add up for every count column.
    for level in ("prefecture", "county", "township"):
        for column in COUNT_COLUMNS:
            assert tables[level][column].sum() == pytest.approx(province[column]), (level, column)


def test_catchments_tile_the_area() -> None:
    demand, _, communities, _, allocation = toy()
    areas = catchments(communities, demand, allocation, priority_groups=["left_behind"])
    by_site = areas.set_index(areas["site_id"].fillna("uncovered"))
    assert by_site.loc[CODES[0], "communities"] == 2 and by_site.loc[CODES[0], "children"] == 150.0
    assert by_site.loc[CODES[4], "community_codes"] == CODES[4]
    assert by_site.loc["uncovered", "communities"] == 3
    assert by_site.loc[CODES[0], "distance_max_m"] == 1000.0
    union = shapely.union_all(areas.geometry.to_numpy())
    assert union.area == pytest.approx(communities.union_all().area)
    assert areas.geometry.area.sum() == pytest.approx(union.area)  # no overlaps


def write_run(tmp_path: Path) -> Path:
    demand, sites, _, plan, allocation = toy()
    tables = coverage_report(demand, allocation, sites, plan, priority_groups=["left_behind"])
    run = tmp_path / "run"
    run.mkdir()
    targets_path = tmp_path / "targets.toml"
    targets_path.write_text(
        '[[target]]\nmetric = "children_covered_pct"\nmin = 80\nlevel = "prefecture"\n', encoding="utf-8"
    )
    results = check_targets(tables, read_targets(targets_path))
    write_report_files(tables, run, target_results=results)
    return run


def test_targets_fail_for_exactly_the_named_units(tmp_path: Path) -> None:
    demand, sites, _, plan, allocation = toy()
    tables = coverage_report(demand, allocation, sites, plan, priority_groups=["left_behind"])
    path = tmp_path / "t.toml"
    path.write_text(
        '[[target]]\nmetric = "children_covered_pct"\nmin = 80\nlevel = "prefecture"\n'
        '[[target]]\nmetric = "townships_with_home_pct"\nmin = 100\nlevel = "county"\nunits = ["530101", "530301"]\n',
        encoding="utf-8",
    )
    results = check_targets(tables, read_targets(path))
    failed = results[~results["passed"]][["metric", "unit_code"]].values.tolist()
    assert failed == [["children_covered_pct", "530100"], ["townships_with_home_pct", "530101"]]


def test_bad_targets_file_lists_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text('[[target]]\nmetric = "nope"\nlevel = "village"\nmin = "ninety"\ncolour = 1\n', encoding="utf-8")
    with pytest.raises(Exception) as error:
        read_targets(path, metrics=["children_covered_pct"])
    message = str(error.value)
    for part in ("unknown keys ['colour']", "unknown metric 'nope'", "level 'village'", "min must be a number"):
        assert part in message


def test_check_targets_exit_codes(tmp_path: Path) -> None:
    run = write_run(tmp_path)
    runner = CliRunner()
    failing = runner.invoke(main, ["check-targets", str(run), "--targets", str(tmp_path / "targets.toml")])
    assert failing.exit_code == 1
    assert "FAIL" in failing.output and "530100" in failing.output and "1 of 2 checks met" in failing.output
    easy = tmp_path / "easy.toml"
    easy.write_text('[[target]]\nmetric = "children_covered_pct"\nmin = 50\nlevel = "province"\n', encoding="utf-8")
    assert runner.invoke(main, ["check-targets", str(run), "--targets", str(easy)]).exit_code == 0
    bad = runner.invoke(main, ["check-targets", str(tmp_path / "nowhere"), "--targets", str(easy)])
    assert bad.exit_code == 2 and bad.output.startswith("error:")
    broken = tmp_path / "broken.toml"
    broken.write_text("[[target]\n", encoding="utf-8")
    assert runner.invoke(main, ["check-targets", str(run), "--targets", str(broken)]).exit_code == 2


def test_small_counts_are_suppressed_in_shared_outputs(tmp_path: Path) -> None:
    run = write_run(tmp_path)
    prefecture = pd.read_csv(run / "coverage_prefecture.csv", encoding="utf-8-sig", dtype=str)
    column = "覆盖重点儿童 priority children covered"
    assert prefecture[column].tolist() == ["<5", "6"]
    document = json.loads((run / "report.json").read_text(encoding="utf-8"))
    assert document["levels"]["prefecture"][0]["priority_covered"] == "<5"
    assert document["levels"]["province"][0]["priority_covered"] == "9"
    assert "<5" in (run / "report.md").read_text(encoding="utf-8")
    book = openpyxl.load_workbook(run / "report.xlsx")
    sheet = book["州市 prefecture"]
    headers = [c.value for c in sheet[1]]
    assert headers[1] == "区划代码 code"
    assert sheet.cell(row=2, column=headers.index(column) + 1).value == "<5"
    assert sheet.freeze_panes == "A2"
    # The failing prefecture (530100) is highlighted, the passing one is not.
    assert sheet.cell(row=2, column=1).fill.fgColor.rgb.endswith("F4CCCC")
    assert not sheet.cell(row=3, column=1).fill.fgColor.rgb.endswith("F4CCCC")
    # Registry rows never appear: only per-unit sums.
    assert "left_behind" not in (run / "report.json").read_text(encoding="utf-8")
