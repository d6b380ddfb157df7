"""Scenario files, runs, rerun, compare, sweep, and an interrupted run."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from siting.cli import main
from siting.errors import InputError
from siting.pipeline import run
from siting.runs import compare_runs, rerun, sweep
from siting.sample.build import SampleBuild
from siting.scenario import load_scenario


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def county_scenario(
    tmp_path: Path,
    built: SampleBuild,
    *,
    name: str = "shuangbai",
    budget: int = 90_000,
    model: str = "",
    outputs: str = "map = false",
    sections: str = "",
) -> Path:
    """双柏县 of the sample as a scenario: MCLP under ``budget``; ``model`` and ``outputs`` add lines to those
    tables, ``sections`` whole tables."""
    return write(
        tmp_path / f"{name}.toml",
        f"""
name = "{name}"
[inputs]
sample = true
data_dir = "{built.paths.root.parent}"
[study_area]
counties = ["532322"]
[model]
type = "mclp"
budget_cny = {budget}
{model}
{sections}
[outputs]
dir = "out"
{outputs}
""",
    )


def test_validation_reports_every_problem(tmp_path: Path) -> None:
    path = write(
        tmp_path / "bad.toml",
        """
name = "bad"
colour = "red"
[inputs]
sample = false
communities = "missing.gpkg"
population = "missing.tif"
[model]
type = "mclp"
budget_cny = "lots"
n_homes = 3
locked_in = ["530102001001"]
locked_out = ["530102001001"]
respct = "township"
[access]
standard_m = 5000
""",
    )
    with pytest.raises(InputError) as error:
        load_scenario(path)
    message = str(error.value)
    assert "unknown key 'colour' (valid: [access], [engine], [inputs]" in message
    assert "unknown key 'model.respct' (valid: budget_cny, capacity, cost_per_home_cny" in message
    assert "model.budget_cny must be int or float, got 'lots'" in message
    assert "inputs.communities: file 'missing.gpkg' not found" in message
    assert "sites both locked_in and locked_out: ['530102001001']" in message


def test_contradictions_and_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "targets.toml").write_text('[[target]]\nmetric = "children_covered_pct"\nmin = 1\n', encoding="utf-8")
    path = write(
        tmp_path / "sub" / "s.toml",
        """
name = "s"
[model]
type = "mclp"
budget_cny = 100
n_homes = 2
[targets]
file = "../targets.toml"
""",
    )
    with pytest.raises(InputError, match=r"give either model\.budget_cny or model\.n_homes, not both"):
        load_scenario(path)
    path.write_text(path.read_text(encoding="utf-8").replace("n_homes = 2\n", ""), encoding="utf-8")
    scenario = load_scenario(path)
    assert scenario.targets_file == (tmp_path / "targets.toml").resolve()
    assert scenario.outputs_dir == (tmp_path / "sub" / "outputs").resolve()
    with pytest.raises(InputError, match="needs p"):
        scenario.with_changes(model="pmedian")


def test_shipped_scenarios_are_valid() -> None:
    root = Path(__file__).resolve().parents[1] / "scenarios"
    names = {load_scenario(p).name for p in sorted(root.glob("*.toml"))}
    assert {"demo", "round_2018", "full_coverage_3km", "kunming_capacity"} <= names
    assert load_scenario(root / "round_2018.toml").budget_cny == 16_000_000  # 533 homes at 30,000 CNY


def test_run_rerun_and_outputs(tmp_path: Path, built_sample: SampleBuild) -> None:
    result = run(county_scenario(tmp_path, built_sample))
    assert result.plan.n_new == 3 and result.output_dir.parent == (tmp_path / "out" / "shuangbai").resolve()
    record = (result.output_dir / "run.json").read_text(encoding="utf-8")
    assert '"scenario"' in record and '"library_versions"' in record and '"inputs"' in record
    assert result.report["county"]["unit_code"].tolist() == ["532322"]
    assert len(result.homes) == result.report["province"]["homes_total"].iloc[0]
    identical, differences = rerun(result.output_dir)
    assert identical and differences == []
    copy = result.save(tmp_path / "copy")
    assert (copy / "report.xlsx").exists()
    assert "L.map(" in result.map().get_root().render()


def test_compare_two_runs_with_a_known_difference(tmp_path: Path, built_sample: SampleBuild) -> None:
    small = run(county_scenario(tmp_path, built_sample, name="small", budget=90_000))
    large = run(county_scenario(tmp_path, built_sample, name="large", budget=150_000))
    table, diff = compare_runs([small.output_dir, large.output_dir], tmp_path / "cmp")
    assert table["homes_new"].tolist() == [3, 5]
    assert table["children_covered"].iloc[1] >= table["children_covered"].iloc[0]
    added = (diff["change"] == "added").sum()
    removed = (diff["change"] == "removed").sum()
    assert added - removed == 2
    assert (tmp_path / "cmp" / "compare.png").stat().st_size > 5_000
    # One demand point per community: the communities that change account for the whole difference.
    gained, lost = table["children_gained"].iloc[1], table["children_lost"].iloc[1]
    assert gained - lost == pytest.approx(table["children_covered"].iloc[1] - table["children_covered"].iloc[0])
    assert (tmp_path / "cmp" / "compare_communities.csv").exists()
    out = CliRunner().invoke(
        main, ["compare", str(small.output_dir), str(large.output_dir), "--out", str(tmp_path / "cmp2")]
    )
    assert out.exit_code == 0 and "+" in out.output


def test_two_point_sweep(tmp_path: Path, built_sample: SampleBuild) -> None:
    scenario = load_scenario(county_scenario(tmp_path, built_sample))
    curve, out = sweep(scenario, budgets=[0.0, 60_000.0], workers=2)
    assert curve["budget_cny"].tolist() == [0.0, 60_000.0]
    assert curve["homes_new"].tolist() == [0, 2]
    gained = curve["children_covered"].iloc[1] - curve["children_covered"].iloc[0]
    assert gained > 0
    assert curve["marginal_children_per_10k_cny"].iloc[1] == pytest.approx(gained / 6)
    assert (out / "curve.png").exists() and pd.read_csv(out / "curve.csv").shape[0] == 2


@pytest.mark.slow
def test_a_run_killed_while_writing_leaves_no_output(tmp_path: Path, built_sample: SampleBuild) -> None:
    text = f"""
name = "whole"
[inputs]
sample = true
data_dir = "{built_sample.paths.root.parent}"
[model]
type = "mclp"
budget_cny = 13_200_000
[outputs]
dir = "out"
"""
    path = write(tmp_path / "whole.toml", text)
    parent = tmp_path / "out" / "whole"
    earlier = parent / "20200101T000000000000Z"
    earlier.mkdir(parents=True)
    (earlier / "run.json").write_text("{}", encoding="utf-8")
    process = subprocess.Popen([sys.executable, "-m", "siting", "run", str(path), "--quiet"])
    deadline = time.time() + 120
    while not list(parent.glob(".siting-run-*/*")) and time.time() < deadline and process.poll() is None:
        time.sleep(0.01)
    assert process.poll() is None, "the run finished before it could be interrupted"
    process.send_signal(signal.SIGKILL)  # the kill lands while the run folder is being written
    process.wait()
    assert [p.name for p in parent.iterdir() if not p.name.startswith(".")] == [earlier.name]
    assert (earlier / "run.json").read_text(encoding="utf-8") == "{}"
    stale = list(parent.glob(".siting-run-*"))
    assert len(stale) == 1  # the killed run's hidden folder ...
    small = write(tmp_path / "small.toml", text.replace("[model]", '[study_area]\ncounties = ["532322"]\n[model]'))
    run(load_scenario(small).with_changes(budget_cny=300_000.0, write_map=False, targets_file=None))
    assert not stale[0].exists()  # ... is removed by the next run in the same place
    assert len([p for p in parent.iterdir() if not p.name.startswith(".")]) == 2


def test_two_year_build_plan_and_network(tmp_path: Path, built_sample: SampleBuild) -> None:
    path = write(
        tmp_path / "phased.toml",
        f"""
name = "phased"
[inputs]
sample = true
data_dir = "{built_sample.paths.root.parent}"
[study_area]
counties = ["532322"]
[model]
type = "mclp"
cost_per_home_cny = 30_000
[phasing]
years = [2018, 2019]
budgets_cny = [90_000, 60_000]
method = "mip"
[network]
communities_per_supervisor = 10
max_home_station_m = 15_000
[outputs]
dir = "out"
""",
    )
    result = run(path)
    table = pd.read_csv(result.output_dir / "phasing.csv")
    assert table["year"].tolist() == [2018, 2019] and table["homes_built"].tolist() == [3, 2]
    assert (table["covered"] <= table["bound"] + 1e-6).all()
    assert table["covered"].is_monotonic_increasing
    homes = result.homes[~result.homes["existing"]]
    assert sorted(homes["build_year"].astype(int).value_counts().to_dict().items()) == [(2018, 3), (2019, 2)]
    import pyogrio

    layers = {name for name, _ in pyogrio.list_layers(result.output_dir / "plan.gpkg")}
    assert {"stations", "centres"} <= layers
    page = (result.output_dir / "map.html").read_text(encoding="utf-8")
    import json

    for name in ("新建儿童之家 2018 proposed homes 2018", "乡镇工作站 township stations"):
        assert json.dumps(name) in page  # layer-control names are written as JSON strings
    report = (result.output_dir / "report.md").read_text(encoding="utf-8")
    assert "分年 by year" in report and "人员 staff" in report


def test_extra_candidate_sites_with_their_own_costs(tmp_path: Path, built_sample: SampleBuild) -> None:
    import geopandas as gpd

    first = run(county_scenario(tmp_path, built_sample, name="first", budget=90_000))
    communities = gpd.read_file(built_sample.paths.communities_gpkg, layer="communities").set_index("community_code")
    seat = communities.loc[first.plan.new_ids[0], ["seat_lon", "seat_lat"]]
    sites = tmp_path / "sites.csv"
    pd.DataFrame(
        {
            "site_id": ["school-1", "far-away"],
            "lon": [seat["seat_lon"], 90.0],
            "lat": [seat["seat_lat"], 40.0],
            "cost": [10_000, 5_000],
        }
    ).to_csv(sites, index=False)
    text = county_scenario(tmp_path, built_sample, name="extra", budget=100_000).read_text(encoding="utf-8")
    text = text.replace("[model]", '[model]\nsite_cost_column = "cost"').replace(
        "[inputs]", f'[inputs]\ncandidate_sites = "{sites}"'
    )
    path = write(tmp_path / "extra.toml", text)
    with pytest.raises(InputError, match=r"rows \[3\] lie outside every community"):
        run(path)
    pd.read_csv(sites).iloc[:1].to_csv(sites, index=False)
    result = run(path)
    # 100,000 CNY buys four homes only with the 10,000 CNY site: three at seats would leave 10,000 unspent.
    assert "school-1" in result.plan.new_ids and result.plan.n_new == 4
    assert result.report["province"]["build_cost_cny"].iloc[0] == 100_000
    assert result.plan.objective > first.plan.objective


def test_homes_only_within_reach_of_their_station(tmp_path: Path, built_sample: SampleBuild) -> None:
    text = county_scenario(tmp_path, built_sample, name="near").read_text(encoding="utf-8")
    text += "[network]\nmax_home_station_m = 3000\nadmit_only_near_station = true\n"
    result = run(write(tmp_path / "near.toml", text))
    links = pd.read_csv(result.output_dir / "links.csv", dtype={"site_id": str})
    # Sites beyond 3 km of the stations placed before siting were locked out, and none was chosen.
    # (Stations are placed again once the new homes exist, so links.csv may differ.)
    far = set(result.site_options.excluded)
    assert len(far) > 10 and not far & set(result.plan.new_ids)
    assert result.scenario.locked_out == ()  # the scenario is not rewritten
    record = json.loads((result.output_dir / "run.json").read_text(encoding="utf-8"))
    assert "locked_out" not in record["scenario"].get("model", {})
    assert set(record["sites"]["excluded"]) == far
    assert result.plan.n_new >= 1
    free = run(county_scenario(tmp_path, built_sample, name="free"))
    assert result.plan.objective <= free.plan.objective + 1e-6  # a restriction can only cost coverage
    assert set(links["site_id"]) >= set(result.plan.new_ids)
    with pytest.raises(InputError, match=r"admit_only_near_station needs network\.max_home_station_m"):
        load_scenario(
            write(
                tmp_path / "bad.toml",
                county_scenario(tmp_path, built_sample, name="b").read_text(encoding="utf-8")
                + "[network]\nadmit_only_near_station = true\n",
            )
        )


def test_capacity_only_where_a_model_uses_it(tmp_path: Path) -> None:
    path = write(tmp_path / "s.toml", 'name = "s"\n[model]\ntype = "lscp"\ncapacity = 60\n')
    with pytest.raises(InputError, match=r"model 'lscp' does not take capacity; remove it"):
        load_scenario(path)
    path.write_text('name = "s"\n[model]\ntype = "mclp"\nn_homes = 3\ncapacity = 60\n', encoding="utf-8")
    assert load_scenario(path).capacity == 60.0


def test_a_misspelt_access_mode_is_named_as_such(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from siting.errors import InputError
    from siting.scenario import load_scenario

    path = tmp_path / "s.toml"
    path.write_text(
        'name = "x"\n[inputs]\nsample = true\n[access]\nmode = "traveltime"\nstandard_min = 60\n'
        "road_speeds = { county = 40, township = 25, village = 10 }\n",
        encoding="utf-8",
    )
    with pytest.raises(
        InputError, match=r"access.mode 'traveltime' must be .*; did you mean 'travel_time'\?"
    ) as raised:
        load_scenario(path)
    assert "standard_min" not in str(raised.value)  # not blamed on the keys the mode would read
