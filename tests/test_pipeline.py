"""The end-to-end run on the Yunnan sample (what `make demo` does): figures, files, levels, the map."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from siting.errors import MissingDataError
from siting.pipeline import run
from siting.sample.build import SampleBuild
from siting.sample.paths import sample_paths
from siting.scenario import load_scenario

REPO = Path(__file__).resolve().parents[1]


def demo_scenario(data_dir: Path, outputs: Path, **changes):  # type: ignore[no-untyped-def]
    return load_scenario(REPO / "scenarios" / "demo.toml").with_changes(
        data_dir=data_dir, outputs_dir=outputs, **changes
    )


@pytest.fixture(scope="module")
def demo_run(built_sample: SampleBuild, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("outputs")
    return run(demo_scenario(built_sample.paths.root.parent, out), map_path=out / "maps" / "yunnan_demo.html")


@pytest.mark.slow
def test_plan_spends_the_2019_budget(demo_run) -> None:  # type: ignore[no-untyped-def]
    plan = demo_run.plan
    assert len(plan.existing_ids) == 1194
    assert plan.n_new == 440  # 13,200,000 / 30,000
    assert len(set(plan.site_ids)) == 1634
    assert plan.status == "optimal"
    assert plan.gap is not None and plan.gap <= 1e-6
    province = demo_run.summary.iloc[-1]
    assert province["build_cost_cny"] == 13_200_000
    assert province["homes_total"] == 1634
    assert demo_run.access.unit == "m" and demo_run.access.standard == 5000.0


@pytest.mark.slow
def test_levels_add_up(demo_run) -> None:  # type: ignore[no-untyped-def]
    from siting.report.tables import COUNT_COLUMNS

    tables = demo_run.tables
    province = tables["province"].iloc[0]
    assert len(tables["prefecture"]) == 16 and len(tables["county"]) == 129
    assert (tables["township"]["unit_code"].str.len() == 9).all()
    for level in ("prefecture", "county", "township"):
        for column in COUNT_COLUMNS:
            assert tables[level][column].sum() == pytest.approx(province[column]), (level, column)
    assert province["communities"] == 14589 and province["directors"] == 14589
    assert province["priority_children"] == 38_600 + 22_000 + 79_000 + 403_800
    # Zonal sums conserve the census children of the raster: 0-14 plus 3/5 of 15-19.
    assert province["children"] == pytest.approx(9_237_474 + 0.6 * 2_992_872, rel=1e-6)
    assert province["children_covered"] == pytest.approx(demo_run.plan.objective)
    assert province["unit_name_zh"] == "云南省"


@pytest.mark.slow
def test_outputs_written(demo_run) -> None:  # type: ignore[no-untyped-def]
    import geopandas as gpd
    import pyogrio
    import rasterio

    from siting.rundir import FILES, LAYERS

    out: Path = demo_run.output_dir
    written = {p.name for p in out.iterdir()}
    travel_only = {
        "nearest_home_time.tif",
        *(f"access_thresholds_{level}.csv" for level in ("prefecture", "county", "township")),
    }
    assert written <= set(FILES) and written >= set(FILES) - {"phasing.csv", "phasing.png", *travel_only}
    assert {name for name, _ in pyogrio.list_layers(out / "plan.gpkg")} == set(LAYERS)
    areas = gpd.read_file(out / "plan.gpkg", layer="catchments")
    assert areas["communities"].sum() == 14589
    assert areas["site_id"].notna().sum() <= 1634
    with rasterio.open(out / "nearest_home.tif") as src:
        served = src.read(1)
    legend = pd.read_csv(out / "nearest_home.csv")
    assert served.max() == len(legend)
    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert record["plan"]["homes_new"] == 440 and record["plan"]["status_text"] == "optimal (gap 0.00 %)"
    assert record["access"]["unit"] == "m" and record["title"][0] == "云南省儿童之家布局方案"
    table = pd.read_csv(out / "summary_by_prefecture.csv", encoding="utf-8-sig", dtype=str)
    assert table.columns[0] == "层级 level" or table.columns[0].startswith("州市")
    page = demo_run.map_path.read_text(encoding="utf-8")
    assert not re.search(r'<(?:script|link)[^>]+(?:src|href)="https?:', page)
    assert "模拟数据" in page and "L.map(" in page and '<html lang="zh-CN">' in page
    assert "<title>云南省儿童之家布局方案" in page
    assert demo_run.map_path.stat().st_size < 15_000_000
    # Staff beside the source document's 2019 figures (the whole Yunnan sample only).
    staff = pd.read_excel(out / "report.xlsx", sheet_name="人员 staff", header=1)
    assert staff.filter(like="2019").notna().any().any()


def test_unbuilt_sample_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError, match="siting sample build"):
        run(demo_scenario(tmp_path, tmp_path / "o"))
    assert not (tmp_path / "o").exists()
    assert sample_paths(tmp_path).is_built() is False


@pytest.mark.slow
def test_map_of_one_county_from_a_finished_run(demo_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from siting.cli import main

    out = tmp_path / "wuhua.html"
    scenario_folder = demo_run.output_dir.parent  # the newest run of the scenario is taken
    for unit in ("530102", "五华区"):
        result = CliRunner().invoke(main, ["map", str(scenario_folder), "--unit", unit, "--out", str(out)])
        assert result.exit_code == 0, result.output
        page = out.read_text(encoding="utf-8")
        assert "<title>五华区 儿童之家布局方案" in page and "模拟数据" in page
        assert out.stat().st_size < 2_000_000
    bad = CliRunner().invoke(main, ["map", str(demo_run.output_dir), "--unit", "五华县", "--out", str(out)])
    assert bad.exit_code == 2 and "did you mean 五华区" in bad.output


@pytest.mark.slow
def test_a_single_district_adds_the_homes_it_can(built_sample: SampleBuild, tmp_path: Path) -> None:
    # Before the demand points were placed inside their communities, 五华区 showed "uncovered" children whose
    # demand point lay hundreds of kilometres away.
    result = run(
        demo_scenario(
            built_sample.paths.root.parent,
            tmp_path,
            name="wuhua",
            counties=("530102",),
            budget_cny=150_000.0,
            targets_file=None,
            write_map=False,
        )
    )
    province = result.tables["province"].iloc[0]
    assert province["communities_uncovered"] == 0 and province["children_covered"] == province["children"]
    assert result.plan.n_new == 0  # every community lies within 5 km of its 20 existing homes
    assert result.communities["nearest_distance_m"].max() < 5_000
    assert result.map_title[0] == "五华区儿童之家布局方案"
    # No map was asked for: the map stage gathered nothing; run.map() gathers the layers on first use.
    assert result.timings_s["map"] < 0.05 and "layers" not in result.__dict__
    assert result.layers is not None and set(result.layers.counties["county_code"]) == {"530102"}
    assert "五华区" in result.map().get_root().render()


@pytest.mark.slow
def test_who_is_left_out_on_the_demo(demo_run) -> None:  # type: ignore[no-untyped-def]
    import json

    out: Path = demo_run.output_dir
    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    groups = {row["group"].split(" ")[0]: row for row in record["equity"]}
    assert groups["儿童"]["children"] == pytest.approx(11_033_197.2, abs=0.1)
    assert groups["儿童"]["beyond_standard_pct"] == pytest.approx(100 - 74.45, abs=0.01)  # the plan's uncovered share
    assert groups["留守儿童"]["beyond_standard_pct"] > 1.5 * groups["儿童"]["beyond_standard_pct"]
    bands = pd.read_csv(out / "access_bands_county.csv", encoding="utf-8-sig")
    children = bands["儿童数(人) children"]
    band_sum = bands[[c for c in bands.columns if c.startswith("儿童 ")]].sum(axis=1)
    assert (band_sum - children).abs().max() < 0.05 and len(bands) == 129  # every county's bands add up
    assert (out / "lorenz_prefecture.png").stat().st_size > 10_000
    assert len(record["gini_by_prefecture"]) == 16 and all(0 < g["gini"] < 1 for g in record["gini_by_prefecture"])


def test_a_large_area_gets_an_overview_map(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Above the overview size the map keeps outlines, coverage by county, homes and uncovered children only."""
    import siting.pipeline
    from tests.owndata import registry_as_utf8, write_scenario

    scenarios = {}
    for name in ("full", "overview"):
        (tmp_path / name).mkdir()
        scenarios[name] = write_scenario(tmp_path / name)
        registry_as_utf8(tmp_path / name)
    full = run(scenarios["full"])
    monkeypatch.setattr(siting.pipeline, "OVERVIEW_ABOVE_COMMUNITIES", 10)
    overview = run(scenarios["overview"])
    full_page = (full.output_dir / "map.html").read_text(encoding="utf-8")
    page = (overview.output_dir / "map.html").read_text(encoding="utf-8")
    assert "siting-sandbox-data" in full_page and "siting-sandbox-data" not in page
    assert "总览图 overview:" in page and "siting map RUN --unit" in page and "总览图" not in full_page
    assert "村(社区) communities" in page
    assert len(page) < len(full_page)
    # The plan and its files are the same; only the map is lighter.
    assert overview.children_covered == full.children_covered
