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
    run = tmp_path / "run"
    run.mkdir()
    sites = ["530102001001", "530102001002", "530301001001", "530301001002"]
    homes = gpd.GeoDataFrame(
        {
            "site_id": sites,
            "existing": [True, False, False, False],
            "build_year": [np.nan, 2019, 2019, 2019],
            "county_code": [s[:6] for s in sites],
        },
        geometry=[shapely.Point(i, 0) for i in range(4)],
        crs=CRS,
    )
    homes.to_file(run / "plan.gpkg", layer="homes")
    communities = gpd.GeoDataFrame(
        {
            "community_code": [*sites, "530301001003"],
            "site_id": [*sites, None],
            "covered": [True, True, True, True, False],
            "children": [100.0, 50.0, 70.0, 30.0, 9.0],
        },
        geometry=[shapely.Point(i, 1) for i in range(5)],
        crs=CRS,
    )
    communities.to_file(run / "plan.gpkg", layer="communities")
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
    assert pref.loc["530300", "pct_of_year_target"] == 50.0
    assert pref.loc["530300", "expected_pct"] == pytest.approx(7 / 12 * 100)
    assert pref["behind_schedule"].to_dict() == {"530100": False, "530300": True}
    files = write_progress_files(report, tmp_path / "out")
    book = openpyxl.load_workbook(files[0])
    sheet = book["州市 prefecture"]
    assert sheet.cell(row=1, column=1).value == "排名 rank"
    assert sheet.cell(row=3, column=1).fill.fgColor.rgb.endswith("F4CCCC")  # 530300, behind
    assert "月通报" in files[1].read_text(encoding="utf-8")


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
    for part in (
        "row 2: 999999999999 is not a new home of the plan",
        "row 3: completion_date 2018-12-01 is before",
        "row 4: status planned is out of order",
        "row 5: status 'finished' is not one of",
        "row 6: status built needs a completion_date",
        "rows [5, 6]: the same home appears more than once",
    ):
        assert part in message
    result = CliRunner().invoke(
        main, ["progress", str(run), "--status", str(status), "--month", "2019-07", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2 and "bad rows" in result.output
