"""A user's own data, end to end: nothing Yunnan leaks in, names come from the data, names are never code."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from siting.cli import main
from siting.errors import InputError, SitingWarning
from siting.pipeline import run
from siting.scenario import load_scenario
from tests.owndata import villages, write_scenario, write_shapefile_gcj02_gbk

TEMPLATE_NAMES = ["{{ 7*7 }}", "{% raw %}", "{{ lipsum.__globals__.os.mkdir('PWNED_DIR') }}"]
FORMULA_NAME = '=HYPERLINK("http://evil.example","click")'


@pytest.fixture(scope="module")
def own_run(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("own")
    with pytest.warns(SitingWarning, match=r"registry\.csv is not UTF-8; read it as GBK"):
        return run(write_scenario(folder))


def shared_text(out: Path) -> str:
    parts = []
    for path in sorted(out.iterdir()):
        if path.suffix in (".csv", ".md", ".json", ".html"):
            parts.append(path.read_text(encoding="utf-8-sig"))
    return "\n".join(parts)


def test_own_inputs_switch_the_sample_off_and_names_come_from_the_data(own_run) -> None:  # type: ignore[no-untyped-def]
    assert own_run.scenario.sample is False
    assert own_run.map_title == ("测试市儿童之家布局方案", "Test City children's homes plan")
    assert len(own_run.communities) == 24
    names = set(own_run.communities["community_name"])
    assert "花溪甲1村" in names and "V005" in names  # a village without a name shows its id
    county = own_run.tables["county"].set_index("unit_code")
    assert county.loc["c2", "unit_name_zh"] == "乌当区"
    assert own_run.tables["township"].set_index("unit_code").loc["c1-t0", "unit_name_zh"] == "花溪甲镇"
    assert own_run.tables["province"]["unit_name_zh"].iloc[0] == "测试市"
    assert not own_run.scenario.sample and own_run.plan.n_new >= 1
    assert len(own_run.plan.existing_ids) == 2  # the two homes given by lon/lat


def test_nothing_of_yunnan_in_the_outputs(own_run) -> None:  # type: ignore[no-untyped-def]
    out = own_run.output_dir
    text = shared_text(out)
    for word in ("云南", "Yunnan", "530000", "昆明", "模拟数据"):
        assert word not in text, word
    for path in out.glob("*.csv"):
        assert path.read_bytes().startswith(b"\xef\xbb\xbf"), path.name  # UTF-8 with BOM for Excel
        frame = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
        assert not frame.isin(["nan", "NaN", "None"]).any().any(), path.name
    staff = pd.read_excel(out / "report.xlsx", sheet_name="人员 staff", header=1)
    assert not any("2019" in str(c) for c in staff.columns)  # the source document's figures are Yunnan's
    book = openpyxl.load_workbook(out / "report.xlsx")
    notes = book["说明 notes"]
    assert "全部为用户提供的数据" in " ".join(str(c.value) for c in notes["B"])


def test_wrong_combinations_are_refused_by_name(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path)
    text = scenario.read_text(encoding="utf-8")
    both = tmp_path / "both.toml"
    both.write_text(text.replace("[inputs]\n", "[inputs]\nsample = true\n"), encoding="utf-8")
    with pytest.raises(InputError, match=r"inputs\.sample = true with your own inputs \['communities', 'population'"):
        load_scenario(both)
    area = tmp_path / "area.toml"
    area.write_text(text.replace("[access]", '[study_area]\ncounties = ["c1", "c9"]\n\n[access]'), encoding="utf-8")
    with pytest.raises(InputError, match=r"c9 matches no county code or name; did you mean c[13]\?"):
        run(load_scenario(area))
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(text.replace('name_column = "NAME"', 'name_column = "NAMES"'), encoding="utf-8")
    with pytest.raises(InputError, match=r"has no column name='NAMES'; its columns are \['VID', 'NAME'"):
        run(load_scenario(wrong))
    assert not (tmp_path / "outputs" / "guiyang").exists()


def test_names_are_data_never_template_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    frame = villages()
    frame.loc[[0, 1, 2], "NAME"] = TEMPLATE_NAMES
    frame.loc[3, "NAME"] = FORMULA_NAME
    frame.loc[frame["CNTY"] == "c1", "CNTY_NM"] = "{{ 7*7 }}县"
    scenario = write_scenario(tmp_path, name="hostile")
    write_shapefile_gcj02_gbk(tmp_path, frame)
    with pytest.warns(SitingWarning, match="GBK"):
        result = run(scenario, map_path=tmp_path / "map.html")
    page = (result.output_dir / "map.html").read_text(encoding="utf-8")
    assert not (tmp_path / "PWNED_DIR").exists()
    for name in TEMPLATE_NAMES[:2]:
        assert name in page
    assert "lipsum.__globals__.os.mkdir(" in page  # shown as text (its quotes are escaped)
    assert "49县" not in page and "{{ 7*7 }}县" in page
    # The unit map from plan.gpkg and the notebook map go through the same code: names stay names.
    out = tmp_path / "unit.html"
    cli = CliRunner().invoke(main, ["map", str(result.output_dir.parent), "--unit", "{{ 7*7 }}县", "--out", str(out)])
    assert cli.exit_code == 0, cli.output
    unit_page = out.read_text(encoding="utf-8")
    assert "{{ 7*7 }}县 儿童之家布局方案" in unit_page and "{% raw %}" in unit_page
    notebook_page = result.map(full=True).get_root().render()
    assert "{% raw %}" in notebook_page and not (tmp_path / "PWNED_DIR").exists()
    # Formula-like names are text in every spreadsheet the run writes.
    homes = pd.read_csv(result.output_dir / "assignment.csv", encoding="utf-8-sig", dtype=str)
    assert homes is not None
    uncovered_csv = (result.output_dir / "coverage_county.csv").read_text(encoding="utf-8-sig")
    assert "'{{ 7*7 }}县" not in uncovered_csv  # only formula-like text is prefixed
    book = openpyxl.load_workbook(result.output_dir / "report.xlsx")
    cells = [c for ws in book.worksheets for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
    assert all(c.data_type == "s" for c in cells if c.value.startswith("="))
    markdown = (result.output_dir / "report.md").read_text(encoding="utf-8")
    assert "<" not in markdown.replace("<5", "")  # no raw HTML from names


def test_small_counts_hidden_in_the_geopackage(own_run) -> None:  # type: ignore[no-untyped-def]
    homes = gpd.read_file(own_run.output_dir / "plan.gpkg", layer="homes")
    small = homes["priority_served_text"] == "<5"
    assert homes.loc[small, "priority_served"].isna().all()
    shown = homes["priority_served"].dropna()
    assert ((shown == 0) | (shown >= 5)).all()
    catchments = gpd.read_file(own_run.output_dir / "plan.gpkg", layer="catchments")
    values = catchments["priority_children"].dropna()
    assert ((values == 0) | (values >= 5)).all()


def test_check_targets_on_a_run_folder(own_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    targets = tmp_path / "t.toml"
    targets.write_text(
        '[[target]]\nname = "覆盖率"\nmetric = "children_covered_pct"\nmin = 99.9\nlevel = "county"\n'
        '[[target]]\nname = "乡镇"\nmetric = "townships_with_home_pct"\nmin = 100\nlevel = "county"\n',
        encoding="utf-8",
    )
    runner = CliRunner()
    result = runner.invoke(main, ["check-targets", str(own_run.output_dir.parent), "--targets", str(targets)])
    assert result.exit_code in (0, 1), result.output
    assert "覆盖率: 3 of 3 county units met" in result.output
    lines = [line for line in result.output.splitlines() if line.strip().startswith("FAIL")]
    shortfalls = [float(line.rsplit("short by ", 1)[1].rstrip(")")) for line in lines]
    assert shortfalls == sorted(shortfalls, reverse=True)  # farthest from the target first
    missing = runner.invoke(main, ["check-targets", str(tmp_path / "nowhere"), "--targets", str(targets)])
    assert missing.exit_code == 2 and missing.output.startswith("error:")
    record = json.loads((own_run.output_dir / "run.json").read_text(encoding="utf-8"))
    assert record["scenario"]["inputs"]["code_column"] == "VID"


def test_nearest_home_raster_at_the_resolution_asked(tmp_path: Path) -> None:
    import numpy as np
    import rasterio

    with pytest.warns(SitingWarning, match="read it as GBK"):
        result = run(write_scenario(tmp_path, extra="raster_resolution_m = 250\n"))
    out = result.output_dir
    with rasterio.open(out / "nearest_home.tif") as src:
        served, transform, crs = src.read(1), src.transform, src.crs
    catchments = gpd.read_file(out / "plan.gpkg", layer="catchments")
    assert (transform.a, -transform.e) == (250.0, 250.0) and crs == catchments.crs  # the working CRS, in metres
    west, _, _, north = catchments.total_bounds
    assert transform.c <= west < transform.c + 250 and transform.f - 250 < north <= transform.f
    # Every home has cells, numbered as in the legend; each cell's home owns the catchment around its centre.
    legend = pd.read_csv(out / "nearest_home.csv")
    assert sorted(np.unique(served[served > 0])) == legend["value"].tolist()
    homes = catchments[catchments["site_id"].notna()].set_index("site_id").geometry
    row, col = np.argwhere(served > 0)[len(np.argwhere(served > 0)) // 2]
    x, y = transform * (col + 0.5, row + 0.5)
    site = legend.set_index("value")["site_id"][served[row, col]]
    assert homes[site].buffer(1.0).contains(gpd.points_from_xy([x], [y])[0])


def test_a_full_map_after_the_run_leaves_out_a_raster_made_for_the_run(tmp_path: Path) -> None:
    # Calibrated to official totals, the child raster lived in the run's temporary folder: a full
    # map drawn later in a notebook says so and leaves the raster out instead of failing in GDAL.
    scenario = write_scenario(tmp_path)
    (tmp_path / "totals.csv").write_text("county_code,children\nc1,3000\nc2,3000\nc3,3000\n", encoding="utf-8")
    text = scenario.read_text(encoding="utf-8")
    scenario.write_text(
        text.replace('existing_homes = "homes.csv"', 'existing_homes = "homes.csv"\nofficial_totals = "totals.csv"'),
        encoding="utf-8",
    )
    with pytest.warns(SitingWarning, match="read it as GBK"):
        result = run(scenario)
    assert result.tables["province"]["children"].iloc[0] == pytest.approx(9000.0)
    with pytest.warns(SitingWarning, match="made for the run and is gone"):
        page = result.map(full=True).get_root().render()
    assert "儿童之家" in page and "L.imageOverlay" not in page


def test_a_gbk_shapefile_whose_cpg_says_utf8_is_read_as_gbk_with_a_warning(tmp_path: Path) -> None:
    from siting.boundaries import _read_layer
    from siting.errors import SitingWarning

    path = write_shapefile_gcj02_gbk(tmp_path)
    path.with_suffix(".cpg").write_text("UTF-8", encoding="ascii")  # what some tools write, whatever the table is
    with pytest.warns(SitingWarning, match=r"villages.cpg says the table of villages.shp is 'UTF-8', but it is GB"):
        read = _read_layer(path, layer=None, encoding=None, coordinates="gcj02")
    assert read["NAME"].fillna("").tolist() == villages()["NAME"].fillna("").tolist()  # Chinese, not mojibake
