"""Supervisors' monthly rounds and directors' home visits, on townships computed by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely
from affine import Affine

from siting.errors import InputError
from siting.pipeline import run
from siting.sample.build import SampleBuild
from siting.travel.grid import TravelGrid
from siting.visits import VisitRules, visiting_time
from tests.test_report import printed_pt
from tests.test_scenario import county_scenario

CRS = "EPSG:32648"


def township(xy: list[tuple[float, float]], left_behind: list[int]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "community_code": [f"53010100100{k}" for k in range(len(xy))],
            "township_code": "530101001",
            "county_code": "530101",
            "left_behind": left_behind,
        },
        geometry=[shapely.Point(p) for p in xy],
        crs=CRS,
    )


def station(x: float, y: float) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"township_code": ["530101001"]}, geometry=[shapely.Point(x, y)], crs=CRS)


def test_a_township_by_straight_lines() -> None:
    villages = township([(0, 0), (3000, 0), (0, 4000)], [5, 3, 0])
    table = visiting_time(villages, station(0, 0), priority_columns=("left_behind",))
    row = table.iloc[0]
    # Out and back to each village: 2 × 1.4 × (0 + 3 + 4) km = 19.6 km, at 30 km/h 39.2 minutes;
    # three visits of an hour: (39.2 + 180) / 60 = 3.653 hours a month; one supervisor.
    assert row["villages"] == 3 and row["round_trip_km"] == pytest.approx(19.6)
    assert row["supervisor_hours_per_month"] == pytest.approx(219.2 / 60)
    assert row["supervisors_needed"] == 1
    # Eight priority children, half an hour each.
    assert row["priority_children"] == 8 and row["director_hours_per_month"] == pytest.approx(4.0)
    tight = visiting_time(villages, station(0, 0), rules=VisitRules(supervisor_hours_per_month=2.0))
    assert tight.iloc[0]["supervisors_needed"] == 2 and math.isnan(tight.iloc[0]["priority_children"])


def test_a_township_over_the_travel_grid() -> None:
    # 100 m cells at 6 km/h (100 m a minute), no slope; a wall cuts off the village in the corner.
    speed = np.full((60, 60), 6.0)
    speed[50, 45:] = 0.0
    speed[50:, 45] = 0.0
    grid = TravelGrid(Affine.scale(100.0, -100.0), speed, np.zeros((60, 60), bool), np.zeros((60, 60)))
    at = lambda row, col: ((col + 0.5) * 100.0, -(row + 0.5) * 100.0)  # noqa: E731
    villages = township([at(10, 10), at(10, 40), at(40, 10), at(55, 55)], [0, 0, 0, 0])
    table = visiting_time(villages, station(*at(10, 10)), grid=grid, rules=VisitRules(visit_min=0.0))
    row = table.iloc[0]
    # 30 cells east and 30 south, each 30 minutes each way: 2 × (30 + 30) = 120 minutes.
    assert row["round_trip_min"] == pytest.approx(120.0)
    assert row["villages_unreached"] == 1 and row["supervisor_hours_per_month"] == pytest.approx(2.0)


def test_rules_are_checked() -> None:
    with pytest.raises(InputError, match="detour_factor must be ≥ 1"):
        VisitRules(detour_factor=0.5)
    with pytest.raises(InputError, match="visit_kmh must be a positive number"):
        VisitRules(visit_kmh=0)


def test_a_run_writes_the_visits_per_township(tmp_path: Path, built_sample: SampleBuild) -> None:
    scenario = county_scenario(
        tmp_path,
        built_sample,
        name="visits",
        outputs="",
        sections="[network]\nvisit_kmh = 20\nsupervisor_hours_per_month = 20",
    )
    result = run(scenario)
    table = pd.read_csv(result.output_dir / "visits_township.csv", dtype={"乡镇代码 township code": str})
    assert table["村(社区)数(个) villages"].sum() == len(result.communities)  # every village visited once
    assert (table["县代码 county code"].astype(str) == "532322").all()
    hours = table["督导走访时间(小时/月) supervisor's visiting hours/month"]
    # Round trips at 20 km/h plus an hour a village; supervisors by 20 hours a month, rounded up.
    trips_h = table["督导往返里程(公里/月) supervisor's round trips km/month"] / 20
    assert hours.to_numpy() == pytest.approx((trips_h + table["村(社区)数(个) villages"]).to_numpy(), abs=0.01)
    assert (table["所需督导员(人) supervisors needed"] == np.ceil(hours / 20 - 1e-9)).all()
    record = json.loads((result.output_dir / "run.json").read_text(encoding="utf-8"))
    assert record["visits"]["supervisors_needed"] == table["所需督导员(人) supervisors needed"].sum()
    book = openpyxl.load_workbook(result.output_dir / "report.xlsx")
    assert "督导走访 visits" in book.sheetnames
    for sheet in book.worksheets:  # the office prints every sheet on A4 at 9 pt or more
        assert printed_pt(sheet) >= 9.0, sheet.title
    homes = book["新建儿童之家 new homes"]
    headers = [c.value for c in homes[2]]
    why = [
        homes.cell(row=r, column=headers.index("选址理由 why here") + 1).value for r in range(3, 3 + result.plan.n_new)
    ]
    assert all(w and w.startswith("新增覆盖儿童") and " / adds " in w for w in why)
    left = book["未覆盖村 uncovered"]  # one line a village: no cell wraps
    assert not any(c.alignment.wrap_text for row in left.iter_rows(min_row=3) for c in row)
    page = (result.output_dir / "map.html").read_text(encoding="utf-8")
    assert "小时/月 h/month" in page
    # The county's card gives its children by distance to the nearest home, as access_bands_county.csv does.
    bands = pd.read_csv(result.output_dir / "access_bands_county.csv").iloc[0]
    first = bands["儿童 0–1公里 children 0–1 km"] / bands["儿童数(人) children"]
    assert f"to the nearest home (km): 0–1 {100 * first:.0f}%" in page
