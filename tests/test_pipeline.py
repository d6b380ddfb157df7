"""The thin end-to-end run on the Yunnan sample (what `make demo` does)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from siting.errors import DataError, InputError
from siting.pipeline import SampleRunSettings, run_sample
from siting.sample.build import SampleBuild
from siting.sample.paths import sample_paths


@pytest.fixture(scope="module")
def demo_run(built_sample: SampleBuild, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("outputs")
    return run_sample(
        SampleRunSettings(),
        paths=built_sample.paths,
        outputs_dir=out / "demo",
        map_path=out / "maps" / "yunnan_demo.html",
    )


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


def test_levels_add_up(demo_run) -> None:  # type: ignore[no-untyped-def]
    summary = demo_run.summary
    prefectures, province = summary.iloc[:-1], summary.iloc[-1]
    assert len(prefectures) == 16
    for column in ("communities", "children", "children_covered", "homes_existing", "homes_new", "build_cost_cny"):
        assert prefectures[column].sum() == pytest.approx(province[column])
    assert province["communities"] == 14589
    # Zonal sums conserve the census children of the raster.
    assert province["children"] == pytest.approx(9_237_474 + 0.6 * 2_992_872, rel=1e-6)
    assert province["children_covered"] == pytest.approx(demo_run.plan.objective)


def test_outputs_written(demo_run) -> None:  # type: ignore[no-untyped-def]
    out: Path = demo_run.output_dir
    assert {p.name for p in out.iterdir()} == {
        "summary_by_prefecture.csv",
        "homes.csv",
        "assignment.csv",
        "map.html",
        "run.json",
        "plan.gpkg",
        "coverage_province.csv",
        "coverage_prefecture.csv",
        "coverage_county.csv",
        "coverage_township.csv",
        "report.json",
        "report.md",
        "report.xlsx",
        "nearest_home.tif",
        "nearest_home.csv",
        "links.csv",
    }
    import geopandas as gpd
    import pyogrio
    import rasterio

    layers = {name for name, _ in pyogrio.list_layers(out / "plan.gpkg")}
    assert layers == {"homes", "catchments", "communities", "counties", "stations", "centres"}
    areas = gpd.read_file(out / "plan.gpkg", layer="catchments")
    assert areas["communities"].sum() == 14589
    assert areas["site_id"].notna().sum() <= 1634
    with rasterio.open(out / "nearest_home.tif") as src:
        served = src.read(1)
    legend = pd.read_csv(out / "nearest_home.csv")
    assert served.max() == len(legend)
    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert record["plan"]["homes_new"] == 440
    table = pd.read_csv(out / "summary_by_prefecture.csv", encoding="utf-8-sig", dtype=str)
    assert table.columns[0].startswith("地级")
    page = demo_run.map_path.read_text(encoding="utf-8")
    assert not re.search(r'<(?:script|link)[^>]+(?:src|href)="https?:', page)
    assert "模拟数据" in page and "L.map(" in page
    assert demo_run.map_path.stat().st_size < 15_000_000


def test_all_levels_add_up_on_the_sample(demo_run) -> None:  # type: ignore[no-untyped-def]
    from siting.report import COUNT_COLUMNS

    tables = demo_run.tables
    province = tables["province"].iloc[0]
    assert len(tables["prefecture"]) == 16 and len(tables["county"]) == 129
    assert (tables["township"]["unit_code"].str.len() == 9).all()
    for level in ("prefecture", "county", "township"):
        for column in COUNT_COLUMNS:
            assert tables[level][column].sum() == pytest.approx(province[column]), (level, column)
    assert province["directors"] == 14589
    assert province["priority_children"] == 38_600 + 22_000 + 79_000 + 403_800


def test_unbuilt_sample_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="siting sample build"):
        run_sample(SampleRunSettings(), paths=sample_paths(tmp_path), outputs_dir=tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_bad_settings() -> None:
    with pytest.raises(InputError, match="radius_m must be positive, got -1"):
        SampleRunSettings(radius_m=-1)


def test_map_of_one_county_from_a_finished_run(demo_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from siting.cli import main

    out = tmp_path / "wuhua.html"
    result = CliRunner().invoke(main, ["map", str(demo_run.output_dir), "--unit", "530102", "--out", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert "五华区" in page and "模拟数据" in page
    assert out.stat().st_size < 2_000_000
    bad = CliRunner().invoke(main, ["map", str(demo_run.output_dir), "--unit", "999900", "--out", str(out)])
    assert bad.exit_code == 2 and "no community of the run lies in unit 999900" in bad.output
