"""Allocation, catchments, the coverage report, targets, shared-file rules — on a toy province checked by hand."""

from __future__ import annotations

import itertools
import json
import tempfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
import rasterio
import rasterio.features
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl.utils import get_column_letter
from rasterio.transform import from_origin

from siting.access import access_from_points
from siting.allocation import _rasterize_in_windows, allocate, catchments, write_nearest_home_raster
from siting.levels import unit_names
from siting.models.plan import Plan
from siting.rasters import write_band
from siting.report.files import ReportContext, md_text, write_report_files
from siting.report.sharing import suppress_counts, write_csv
from siting.report.tables import COUNT_COLUMNS, coverage_report, whole_area
from siting.report.targets import check_targets, read_targets

CRS = "EPSG:32648"
CODES = ["530101001001", "530101001002", "530101002001", "530102001001", "530301001001", "530301001002"]
X = [0.0, 1000.0, 10_000.0, 20_000.0, 30_000.0, 50_000.0]
CHILDREN = [100.0, 50.0, 30.0, 20.0, 200.0, 10.0]
LEFT_BEHIND = [3, 0, 10, 2, 6, 0]


def toy(standard_m: float = 2000.0, community_codes: list[str] = CODES):  # type: ignore[no-untyped-def]
    codes = pd.Series(community_codes)
    admin = pd.DataFrame(
        {
            "community_code": codes,
            "township_code": codes.str[:9],
            "county_code": codes.str[:6],
            "prefecture_code": codes.str[:4] + "00",
            "province_code": codes.str[:2] + "0000",
        }
    )
    points = gpd.points_from_xy(X, [0.0] * 6)
    demand = gpd.GeoDataFrame(
        admin.assign(demand_id=codes, children=CHILDREN, left_behind=LEFT_BEHIND), geometry=points, crs=CRS
    )
    sites = gpd.GeoDataFrame(admin.assign(site_id=codes, cost_cny=30_000.0), geometry=points, crs=CRS)
    edges = [-500.0] + [(a + b) / 2 for a, b in itertools.pairwise(X)] + [50_500.0]
    polygons = [shapely.box(edges[k], -5000, edges[k + 1], 5000) for k in range(6)]
    communities = gpd.GeoDataFrame(
        admin.assign(community_name=[f"村{k}" for k in range(6)]), geometry=polygons, crs=CRS
    )
    plan = Plan(
        model="mclp",
        parameters={},
        site_ids=(community_codes[0], community_codes[4]),
        existing_ids=(community_codes[0],),
        new_ids=(community_codes[4],),
        objective=350.0,
        bound=350.0,
        status="optimal",
        solver="test",
    )
    access = access_from_points(demand, sites, standard_m=standard_m)
    return demand, sites, communities, plan, access, allocate(access, plan)


def test_allocation_and_uncovered_nearest_home() -> None:
    *_, allocation = toy()
    assert allocation["covered"].tolist() == [True, True, False, False, True, False]
    assert allocation["site_id"].tolist()[:2] == [CODES[0], CODES[0]]
    assert allocation["nearest_site_id"].tolist() == [CODES[0], CODES[0], CODES[0], CODES[4], CODES[4], CODES[4]]
    assert allocation["distance_m"].tolist()[:2] == [0.0, 1000.0]  # the cost of the home it is assigned to
    assert np.isnan(allocation["distance_m"].tolist()[2])  # uncovered: no home, no cost
    assert allocation["nearest_distance_m"].tolist() == [0.0, 1000.0, 10_000.0, 10_000.0, 0.0, 20_000.0]


def test_allocation_follows_the_boundary_rule() -> None:
    demand, sites, *_ = toy(standard_m=15_000.0)
    plan = Plan("mclp", {}, (CODES[0],), (CODES[0],), (), 0.0, None, "optimal", "test")
    free = allocate(access_from_points(demand, sites, standard_m=15_000.0), plan)
    bounded = allocate(access_from_points(demand, sites, standard_m=15_000.0, respect="township"), plan)
    assert free["covered"].tolist()[:3] == [True, True, True]  # 530101002001 is 10 km from the home
    assert bounded["covered"].tolist()[:3] == [True, True, False]  # ... but in another township


def test_every_column_of_the_toy_province() -> None:
    demand, sites, _, plan, access, allocation = toy()
    tables = coverage_report(demand, allocation, sites, plan, access, priority_groups=["left_behind"])
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
        "director_pay_cny_per_year": 6 * 12 * 1900.0,
        "distance_p90_m": 10_000.0,
    }
    for column, value in expected.items():
        assert province[column] == value, column
    assert province["children_covered_pct"] == pytest.approx(100 * 350 / 410)
    assert province["priority_covered_pct"] == pytest.approx(100 * 9 / 21)
    # Mean distance borne by a child: to its home, or the nearest home when uncovered.
    assert province["distance_mean_m"] == pytest.approx((50 * 1000 + 30 * 10_000 + 20 * 10_000 + 10 * 20_000) / 410)
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
    for level in ("prefecture", "county", "township"):
        for column in COUNT_COLUMNS:
            assert tables[level][column].sum() == pytest.approx(province[column]), (level, column)


def test_report_columns_follow_the_unit() -> None:
    from siting.access import Access
    from siting.costs import CostMatrix

    demand, sites, _, plan, access, _ = toy()
    minutes = Access(
        costs=CostMatrix(access.costs.matrix * 0.01, access.demand_ids, access.site_ids, "min", 500.0),
        standard=20.0,
        mode="table",
    )
    allocation = allocate(minutes, plan)
    assert "time_min" in allocation and "nearest_time_min" in allocation and "distance_m" not in allocation
    tables = coverage_report(demand, allocation, sites, plan, minutes)
    assert "time_mean_min" in tables["county"] and "distance_mean_m" not in tables["county"]
    # Uncovered children with no stored pair have no known cost: the statistics leave them out.
    assert tables["province"]["time_p90_min"].iloc[0] == 10.0


def test_catchments_tile_the_area() -> None:
    demand, _, communities, _, access, allocation = toy()
    areas = catchments(communities, demand, allocation, access, priority_groups=["left_behind"])
    by_site = areas.set_index(areas["site_id"].fillna("uncovered " + areas["county_code"]))
    assert by_site.loc[CODES[0], "communities"] == 2 and by_site.loc[CODES[0], "children"] == 150.0
    assert by_site.loc[CODES[4], "community_codes"] == CODES[4]
    # Homes first, then the uncovered area of each county (one community each here), with its children.
    assert by_site.index.tolist() == [CODES[0], CODES[4], "uncovered 530101", "uncovered 530102", "uncovered 530301"]
    assert areas["county_code"].tolist() == ["530101", "530301", "530101", "530102", "530301"]
    assert by_site.loc["uncovered 530101", "community_codes"] == CODES[2]
    assert by_site.loc[["uncovered 530101", "uncovered 530102", "uncovered 530301"], "children"].tolist() == [
        30.0,
        20.0,
        10.0,
    ]
    assert by_site.loc[CODES[0], "distance_max_m"] == 1000.0
    assert by_site.loc[CODES[0], "distance_p90_m"] == 1000.0  # 50 of 150 children at 1 km: the top 10 % is there
    union = shapely.union_all(areas.geometry.to_numpy())
    assert union.area == pytest.approx(communities.union_all().area)
    assert areas.geometry.area.sum() == pytest.approx(union.area)  # no overlaps


def test_nearest_home_raster_keeps_the_child_raster_grid_but_only_the_area_planned(tmp_path: Path) -> None:
    # A plan for one area on a much larger raster (a county on a national raster) writes the
    # area: whole cells of the child raster's grid over the catchments, not the whole raster.
    demand, _, communities, _, access, allocation = toy()
    areas = catchments(communities, demand, allocation, access)
    like = tmp_path / "children.tif"
    write_band(
        like,
        np.zeros((200, 200), "float32"),
        crs=CRS,
        transform=from_origin(-100_000, 100_000, 1000, 1000),
        nodata=-1.0,
    )
    legend = write_nearest_home_raster(areas, like=like, out_path=tmp_path / "nearest_home.tif")
    with rasterio.open(tmp_path / "nearest_home.tif") as src:
        served, transform = src.read(1), src.transform
    # Catchments span x -500 … 50,500 and y -5,000 … 5,000: columns 99 … 150, rows 95 … 104.
    assert served.shape == (10, 52) and (transform.c, transform.f) == (-1000.0, 5000.0)
    assert sorted(np.unique(served[served > 0])) == legend["value"].tolist() == [1, 2]
    home_of = dict(zip(legend["value"], legend["site_id"], strict=True))
    assert home_of[served[5, 1]] == CODES[0] and home_of[served[5, 31]] == CODES[4]  # x -500 and 29,500
    assert served[5, 20] == 0  # x 18,500: uncovered


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 40))
def test_the_nearest_home_raster_burnt_in_windows_is_the_whole_burn(seed: int, window: int) -> None:
    # Overlapping polygons (the later wins), windows of any size: the same cells as one whole-raster burn.
    rng = np.random.default_rng(seed)
    polygons = [shapely.Point(rng.uniform(0, 5000, 2)).buffer(rng.uniform(100, 1500)) for _ in range(12)]
    transform, shape = from_origin(0, 5000, 97.0, 97.0), (52, 53)
    whole = rasterio.features.rasterize(
        ((g, k + 1) for k, g in enumerate(polygons)), out_shape=shape, transform=transform, fill=0, dtype="int32"
    )
    path = Path(tempfile.mkdtemp()) / "windows.tif"
    _rasterize_in_windows(
        path, np.array(polygons, dtype=object), shape=shape, transform=transform, crs=CRS, window_cells=window
    )
    with rasterio.open(path) as src:
        assert (src.read(1) == whole).all() and src.nodata == 0


def context(name: str = "toy") -> ReportContext:
    return ReportContext(
        title_zh="测试省儿童之家布局方案", title_en="Test plan", scenario=name, small_count_threshold=5
    )


def write_toy_report(tmp_path: Path) -> tuple[Path, dict[str, pd.DataFrame]]:
    demand, sites, _, plan, access, allocation = toy()
    tables = coverage_report(demand, allocation, sites, plan, access, priority_groups=["left_behind"])
    targets_path = tmp_path / "targets.toml"
    targets_path.write_text(
        '[[target]]\nmetric = "children_covered_pct"\nmin = 80\nlevel = "prefecture"\n', encoding="utf-8"
    )
    results = check_targets(tables, read_targets(targets_path))
    run = tmp_path / "run"
    run.mkdir()
    write_report_files(tables, run, context=context(), target_results=results)
    return run, tables


def test_targets_fail_for_exactly_the_named_units(tmp_path: Path) -> None:
    demand, sites, _, plan, access, allocation = toy()
    tables = coverage_report(demand, allocation, sites, plan, access, priority_groups=["left_behind"])
    path = tmp_path / "t.toml"
    path.write_text(
        '[[target]]\nmetric = "children_covered_pct"\nmin = 80\nlevel = "prefecture"\n'
        '[[target]]\nmetric = "townships_with_home_pct"\nmin = 100\nlevel = "county"\nunits = ["530101", "530301"]\n',
        encoding="utf-8",
    )
    results = check_targets(tables, read_targets(path))
    failed = results[~results["passed"]]
    assert failed[["metric", "unit_code"]].values.tolist() == [
        ["children_covered_pct", "530100"],
        ["townships_with_home_pct", "530101"],
    ]
    assert failed["shortfall"].tolist() == pytest.approx([80 - 100 * 150 / 200, 50.0])


def test_bad_targets_file_lists_every_problem(tmp_path: Path) -> None:
    from siting.errors import InputError

    path = tmp_path / "t.toml"
    path.write_text(
        '[[target]]\nmetric = "nope"\nlevel = "village"\nmin = "ninety"\ncolour = 1\n[[target]]\nmetric = '
        '"children_covered_pct"\nmax = nan\n',
        encoding="utf-8",
    )
    with pytest.raises(InputError) as error:
        read_targets(path, metrics=["children_covered_pct"])
    message = str(error.value)
    for part in (
        "unknown keys ['colour']",
        "unknown metric 'nope'",
        "level 'village'",
        "min must be a finite number",
        "max must be a finite number, got nan",
    ):
        assert part in message


def test_small_counts_are_suppressed_and_numbers_stay_numbers(tmp_path: Path) -> None:
    run, _ = write_toy_report(tmp_path)
    prefecture = pd.read_csv(run / "coverage_prefecture.csv", encoding="utf-8-sig", dtype=str)
    column = "覆盖重点儿童(人) priority children covered"
    # 530100 covers 3 (hidden); it is the only hidden one of its province, so 530300's 6 is hidden too.
    assert prefecture[column].tolist() == ["<5", "*"]
    assert prefecture["重点儿童覆盖率 priority covered %"].isna().all()  # a % made from a hidden count is not shown
    children = pd.read_csv(run / "coverage_prefecture.csv", encoding="utf-8-sig")["儿童数(人) children"]
    assert children.dtype.kind == "f"  # numbers, not text
    document = json.loads((run / "report.json").read_text(encoding="utf-8"))
    assert document["levels"]["prefecture"][0]["priority_covered"] == "<5"
    assert document["levels"]["province"][0]["priority_covered"] == 9  # a number where shown
    assert "<5" in (run / "report.md").read_text(encoding="utf-8")
    assert "left_behind" not in (run / "report.json").read_text(encoding="utf-8")  # only sums per unit


def test_secondary_suppression_by_parent() -> None:
    table = pd.DataFrame(
        {"unit_code": ["a", "b", "c", "d"], "parent_code": ["p", "p", "p", "q"], "priority_children": [3, 40, 12, 2]}
    )
    shown = suppress_counts(table, threshold=5, parent="parent_code")["priority_children"].tolist()
    # a (3) is hidden; p's smallest other count, c (12), is hidden too; d is alone in q, so nothing to add.
    assert shown == ["<5", 40, "*", "<5"]


def printed_pt(sheet) -> float:  # type: ignore[no-untyped-def]
    """The body text's size when the sheet prints on A4 landscape (Calibri 11, Excel's page setup)."""
    widths = [sheet.column_dimensions[get_column_letter(k)].width or 8.43 for k in range(1, sheet.max_column + 1)]
    width_pt = sum(7 * w + 5 for w in widths) * 0.75
    if sheet.sheet_properties.pageSetUpPr.fitToPage:
        page_pt = (297 if sheet.page_setup.orientation == "landscape" else 210) / 25.4 * 72 - 1.5 * 72
        return 11.0 * min(1.0, page_pt / width_pt) * (sheet.page_setup.scale or 100) / 100
    return 11.0 * (sheet.page_setup.scale or 100) / 100


def test_workbook_an_office_can_file(tmp_path: Path) -> None:
    run, tables = write_toy_report(tmp_path)
    book = openpyxl.load_workbook(run / "report.xlsx")
    assert book.sheetnames[0] == "说明 notes"
    sheet = book["州市 prefecture"]
    assert "各州市儿童之家覆盖情况" in sheet.cell(row=1, column=1).value
    headers = [c.value for c in sheet[2]]
    assert headers[:3] == ["序号 no.", "名称 name", "代码 code"]
    assert "儿童数(人) children" in headers and "建设资金(万元) build cost 10k CNY" in headers
    assert sheet.cell(row=3, column=3).value == "530100" and sheet.cell(row=3, column=3).data_type == "s"
    pct = headers.index("儿童覆盖率 children covered (%)") + 1
    assert sheet.cell(row=3, column=pct).number_format == "0.0%"
    assert sheet.cell(row=3, column=pct).value == pytest.approx(0.75)
    total_row = 3 + len(tables["prefecture"])
    assert sheet.cell(row=total_row, column=2).value == "合计 total"
    children_col = headers.index("儿童数(人) children") + 1
    assert sheet.cell(row=total_row, column=children_col).value == pytest.approx(410.0)
    assert sheet.cell(row=total_row, column=pct).value == pytest.approx(350 / 410)
    money = headers.index("建设资金(万元) build cost 10k CNY") + 1
    assert sheet.cell(row=total_row, column=money).value == pytest.approx(3.0)  # 30,000 CNY = 3 万元
    assert sheet.freeze_panes == "C3"
    assert sheet.page_setup.orientation == "landscape" and str(sheet.page_setup.paperSize) == str(sheet.PAPERSIZE_A4)
    assert sheet.print_title_rows == "$1:$2"
    # 22 columns do not fit one A4 page wide at 9 pt: they print in blocks, 序号 and 名称 on each.
    assert not sheet.sheet_properties.pageSetUpPr.fitToPage and sheet.print_title_cols == "$A:$B"
    assert sheet.page_setup.scale == 82
    for each in book.worksheets:
        assert printed_pt(each) >= 9.0, each.title
    # The header row is tall enough for its longest header, wrapped in its column (2 Chinese characters a unit).
    assert sheet.row_dimensions[2].height >= 15 * 3
    # The failing prefecture (530100) is highlighted, the passing one is not.
    assert sheet.cell(row=3, column=1).fill.fgColor.rgb.endswith("F4CCCC")
    assert not sheet.cell(row=4, column=1).fill.fgColor.rgb.endswith("F4CCCC")
    targets = book["目标 targets"]
    assert [c.value for c in targets[2]][:3] == ["序号 no.", "名称 name", "代码 code"]
    assert {targets.cell(row=r, column=9).value for r in (3, 4)} == {"达标 met", "未达标 not met"}


def test_hostile_names_are_neutralised_in_every_shared_file(tmp_path: Path) -> None:
    names = ['=HYPERLINK("http://x")', "+1+1", "-2", "@SUM(A1)", "\tTAB", "<img src=x onerror=alert(1)>*bold*|"]
    table = pd.DataFrame({"community_name": names, "children": [1.0] * 6})
    path = write_csv(table, tmp_path / "names.csv")
    back = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)["community_name"].tolist()
    assert back[:5] == [f"'{name}" for name in names[:5]] and back[5] == names[5]
    from openpyxl import Workbook

    from siting.report.workbook import write_table_sheet

    book = Workbook()
    write_table_sheet(book, "t", table, title="t", columns=["children"], name_column="community_name", code_column=None)
    book.save(tmp_path / "t.xlsx")
    sheet = openpyxl.load_workbook(tmp_path / "t.xlsx")["t"]
    cell = sheet.cell(row=3, column=2)
    assert cell.value == names[0] and cell.data_type == "s"  # text, not a formula
    escaped = md_text(names[5])
    assert "<img" not in escaped and "\\*bold\\*" in escaped and "\\|" in escaped


def test_whole_area_adds_up_the_provinces_of_a_multi_province_run() -> None:
    # A national run has one province row each: the totals it prints and records are their sums.
    provinces = pd.DataFrame(
        {
            "unit_code": ["520000", "530000"],
            "children": [8_000.0, 6_000.0],
            "children_covered": [2_000.0, 5_000.0],
            "children_covered_pct": [25.0, 83.3],
            "priority_children": [0.0, 0.0],
            "priority_covered": [0.0, 0.0],
            "build_cost_cny": [90_000.0, 60_000.0],
            "homes_new": [3, 2],
            "distance_mean_m": [900.0, 1_200.0],
        }
    )
    area = whole_area({"province": provinces})
    assert area["children"] == 14_000.0 and area["children_covered"] == 7_000.0
    assert area["children_covered_pct"] == 50.0
    assert area["build_cost_cny"] == 150_000.0 and area["homes_new"] == 5
    assert np.isnan(area["priority_covered_pct"])
    assert "distance_mean_m" not in area  # a mean does not add up
    assert whole_area({"province": provinces.iloc[:1]}).equals(provinces.iloc[0])  # one province: its own row


def test_a_multi_province_workbook_names_each_province_and_adds_them_up(tmp_path: Path) -> None:
    # The last two communities lie in Guizhou: a national plan's 全省 sheet has a row per
    # province, each named as itself (not by the study area's name), and a 合计 row.
    codes = [*CODES[:4], "520301001001", "520301001002"]
    demand, sites, _, plan, access, allocation = toy(community_codes=codes)
    names = unit_names(demand, region_name_zh="西南（模拟）", region_name_en="Southwest (modelled)")
    tables = coverage_report(demand, allocation, sites, plan, access, names=names)
    assert tables["province"]["unit_name_zh"].tolist() == ["贵州省", "云南省"]
    assert tables["province"]["unit_name_en"].tolist() == ["Guizhou", "Yunnan"]
    run = tmp_path / "run"
    run.mkdir()
    write_report_files(tables, run, context=context())
    sheet = openpyxl.load_workbook(run / "report.xlsx")["全省 province"]
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0][0].startswith("各省(区、市)儿童之家覆盖情况")
    header = rows[1]
    name, children = header.index("名称 name"), next(i for i, h in enumerate(header) if str(h).startswith("儿童"))
    assert [row[name] for row in rows[2:4]] == ["贵州省", "云南省"]
    assert [row[children] for row in rows[2:4]] == [210.0, 200.0]
    total = rows[4]
    assert "合计" in str(total[0]) + str(total[name]) and total[children] == 410.0
    assert "## 省 Provinces" in (run / "report.md").read_text(encoding="utf-8")
    # One province is still the whole area, named by the study area and without a 合计 row.
    one = unit_names(demand.iloc[:4], region_name_zh="云南（模拟）")
    assert one.loc[one["level"] == "province", "unit_name_zh"].tolist() == ["云南（模拟）"]


def test_no_target_verdict_contradicts_its_shown_values() -> None:
    from siting.report.files import target_table

    results = pd.DataFrame(
        {
            "target": ["t"] * 4,
            "level": ["county"] * 4,
            "unit_code": ["a", "b", "c", "d"],
            "unit_name_zh": ["甲", "乙", "丙", "丁"],
            "metric": ["children_covered_pct"] * 4,
            "value": [89.96, 89.7, 90.0, 90.004],
            "min": [90.0] * 4,
            "max": [float("nan")] * 4,
            "passed": [False, False, True, True],
            "shortfall": [0.04, 0.3, 0.0, 0.0],
        }
    )
    table = target_table(results)
    assert table["值 value"].tolist() == [89.96, 89.7, 90.0, 90.0]  # 89.96 is not shown as 90.0
    assert table["差距 short by"].tolist() == [0.04, 0.3, 0.0, 0.0]
    for shown, verdict in zip(table["值 value"], table["结果 result"], strict=True):
        assert (shown >= 90.0) == (verdict == "达标 met")


def test_one_prefectures_data_names_the_top_row_as_that_prefecture() -> None:
    from siting.levels import unit_names

    codes = pd.DataFrame(
        {
            "community_code": ["513401001001", "513422100201"],
            "township_code": ["513401001", "513422100"],
            "county_code": ["513401", "513422"],
            "prefecture_code": ["513400", "513400"],
            "province_code": ["510000", "510000"],
        }
    )
    names = pd.DataFrame({"unit_code": ["513400"], "unit_name_zh": ["凉山彝族自治州"], "unit_name_en": ["Liangshan"]})
    table = unit_names(codes, names=names).set_index("unit_code")
    assert table.loc["510000", "unit_name_zh"] == "凉山彝族自治州"  # not 四川省 over Liangshan's numbers
    two = pd.concat([codes, codes.assign(prefecture_code="510100", county_code="510104")], ignore_index=True)
    assert unit_names(two).set_index("unit_code").loc["510000", "unit_name_zh"] == "四川省"  # several: the province


def test_a_name_two_counties_share_is_refused_with_their_codes() -> None:
    from siting.errors import InputError
    from siting.levels import study_area_mask

    codes = pd.DataFrame(
        {
            "community_code": ["1", "2", "3"],
            "county_code": ["110101", "120101", "130101"],
            "county_name": ["同名区", "同名区", "别区"],
            "prefecture_code": ["110100", "120100", "130100"],
        }
    )
    with pytest.raises(InputError, match=r"同名区 names 2 county units \(110101, 120101\); give the code"):
        study_area_mask(codes, counties=["同名区"])
    assert study_area_mask(codes, counties=["120101"]).tolist() == [False, True, False]
    assert study_area_mask(codes, counties=["别区"]).tolist() == [False, False, True]
