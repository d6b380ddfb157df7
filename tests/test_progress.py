"""The monthly progress report on a toy plan."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner

from siting.cli import main
from siting.errors import InputError
from siting.progress import progress_report, write_progress_files

CRS = "EPSG:32648"


def toy_run(tmp_path: Path) -> Path:
    """A finished run folder as siting writes it (run.json, report.json, every layer), for a toy plan."""
    import json

    run = tmp_path / "run"
    run.mkdir()
    sites = ["530102001001", "530102001002", "530301001001", "530301001002"]
    homes = gpd.GeoDataFrame(
        {
            "site_id": sites,
            "existing": [True, False, False, False],
            "build_year": [np.nan, 2019, 2019, 2019],
            "county_code": [s[:6] for s in sites],
            "prefecture_code": [s[:4] + "00" for s in sites],
        },
        geometry=[shapely.Point(i, 0) for i in range(4)],
        crs=CRS,
    )
    gpkg = run / "plan.gpkg"
    homes.to_file(gpkg, layer="homes")
    codes = [*sites, "530301001003"]
    communities = gpd.GeoDataFrame(
        {
            "community_code": codes,
            "county_code": [c[:6] for c in codes],
            "prefecture_code": [c[:4] + "00" for c in codes],
            "site_id": [*sites, None],
            "covered": [True, True, True, True, False],
            "children": [100.0, 50.0, 70.0, 30.0, 9.0],
        },
        geometry=[shapely.Point(i, 1) for i in range(5)],
        crs=CRS,
    )
    communities.to_file(gpkg, layer="communities")
    for layer in ("catchments", "counties", "stations", "centres"):
        gpd.GeoDataFrame({"id": [1]}, geometry=[shapely.Point(0, 0)], crs=CRS).to_file(gpkg, layer=layer)
    names = {
        "prefecture": [
            {"unit_code": "530100", "unit_name_zh": "昆明市"},
            {"unit_code": "530300", "unit_name_zh": "曲靖市"},
        ],
        "county": [
            {"unit_code": "530102", "unit_name_zh": "五华区"},
            {"unit_code": "530301", "unit_name_zh": "麒麟区"},
        ],
    }
    (run / "report.json").write_text(json.dumps({"levels": names}, ensure_ascii=False), encoding="utf-8")
    record = {
        "siting_version": "test",
        "plan": {"new_ids": sites[1:]},
        "scenario": {"name": "toy"},
        "title": ["云南省儿童之家布局方案", ""],
    }
    (run / "run.json").write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    return run


def write_status(path: Path, rows: list[tuple[str, int, str, str | None]]) -> Path:
    pd.DataFrame(rows, columns=["community_code", "planned_year", "status", "completion_date"]).to_csv(
        path, index=False
    )
    return path


def test_month_report_known_numbers(tmp_path: Path) -> None:
    run = toy_run(tmp_path)
    status = write_status(
        tmp_path / "s.csv",
        [
            ("530102001002", 2019, "in_service", "2019-03-10"),
            ("530301001001", 2019, "built", "2019-05-01"),
            ("530301001002", 2019, "planned", None),
        ],
    )
    report = progress_report(run, status, month="2019-07")
    pref = report.prefecture.set_index("unit_code")
    assert pref.loc["530100", ["rank", "planned", "built", "in_service", "directors_in_post"]].tolist() == [
        1,
        1,
        1,
        1,
        2,
    ]
    assert pref.loc["530100", "children_covered_now"] == 150.0  # existing home + the home in service
    assert pref.loc["530300", ["rank", "planned", "built", "in_service"]].tolist() == [2, 2, 1, 0]
    assert pref.loc["530300", "year_target_pct"] == 50.0
    assert pref.loc["530300", "unit_name_zh"] == "曲靖市"
    assert pref.loc["530300", "expected_pct"] == pytest.approx(7 / 12 * 100)
    assert pref["behind_schedule"].to_dict() == {"530100": False, "530300": True}
    files = write_progress_files(report, tmp_path / "out")
    book = openpyxl.load_workbook(files[0])
    sheet = book["州市 prefecture"]
    assert sheet.cell(row=1, column=1).value.startswith("云南省儿童之家建设月通报 2019年7月")
    assert [c.value for c in sheet[2]][:3] == ["序号 no.", "名称 name", "代码 code"]
    assert sheet.cell(row=3, column=2).value == "昆明市"
    assert sheet.cell(row=4, column=1).fill.fgColor.rgb.endswith("F4CCCC")  # 530300, behind
    headers = [c.value for c in sheet[2]]
    behind = headers.index("进度 schedule") + 1
    assert sheet.cell(row=4, column=behind).value == "滞后 behind"
    assert sheet.cell(row=5, column=2).value == "合计 total"
    assert sheet.cell(row=5, column=headers.index("年度计划(个) planned this year") + 1).value == 3
    pct = headers.index("完成率 (%) of the year's target") + 1
    assert (
        sheet.cell(row=4, column=pct).value == pytest.approx(0.5)
        and sheet.cell(row=4, column=pct).number_format == "0.0%"
    )
    markdown = files[1].read_text(encoding="utf-8")
    assert "月通报" in markdown and "| 曲靖市 | 530300 |" in markdown and "合计 total" in markdown


def test_chinese_status_words_and_dates(tmp_path: Path) -> None:
    run = toy_run(tmp_path)
    status = write_status(
        tmp_path / "s.csv",
        [
            ("530102001002", 2019, "已投入使用", "2019/3/10"),
            ("530301001001", 2019, "已建成", "2019年5月1日"),
            ("530301001002", 2019, "计划", None),
        ],
    )
    report = progress_report(run, status, month="2019-07")
    assert report.prefecture.set_index("unit_code").loc["530300", ["built", "in_service"]].tolist() == [1, 0]


def test_every_kind_of_bad_row_is_listed(tmp_path: Path) -> None:
    run = toy_run(tmp_path)
    status = write_status(
        tmp_path / "bad.csv",
        [
            ("999999999999", 2019, "built", "2019-02-01"),  # row 2: unknown code
            ("530102001002", 2019, "in_service", "2018-12-01"),  # row 3: before the plan year
            ("530301001001", 2019, "planned", "2019-04-01"),  # row 4: out of order
            ("530301001002", 2019, "finished", None),  # row 5: unknown status
            ("530301001002", 2019, "built", None),  # row 6: built without a date, and a duplicate
        ],
    )
    with pytest.raises(InputError) as error:
        progress_report(run, status, month="2019-07")
    message = str(error.value)
    assert message.count("\n") == 0 and "7 bad rows" in message  # one line, summarised by kind
    for part in (
        "not a new home of the plan: 1 rows (row 2 999999999999)",  # the bad code named, as the office needs it
        "completion_date before the plan year: 1 rows (row 3 530102001002)",
        "a completion_date on a home not yet built: 1 rows (row 4 530301001001)",
        "status is not 计划/在建/已建成/已投入使用",
        "built or in service without a completion_date: 1 rows (row 6 530301001002)",
        "the same home appears more than once: 2 rows (row 5 530301001002, row 6 530301001002)",
    ):
        assert part in message
    result = CliRunner().invoke(
        main, ["progress", str(run), "--status", str(status), "--month", "2019-07", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2 and "bad rows" in result.output
