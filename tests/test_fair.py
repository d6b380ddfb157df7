"""Minimum shares per county and max-min coverage: optima known by hand, and refusals by name."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from siting.cli import main
from siting.costs import CostMatrix
from siting.errors import InfeasibleError, InputError
from siting.models.checks import unit_shares
from siting.models.fair import UnitShares, solve_fair_lscp, solve_fair_mclp
from siting.models.mclp import solve_mclp
from siting.models.reductions import covered_by
from siting.pipeline import Run, run
from siting.sample.build import SampleBuild
from tests.test_scenario import county_scenario

# County A has two villages of 100 children, county B two of 10 and one of 10 that no site reaches.
# Site s1 covers a1, s2 a2, s3 b1, s4 b2 (1 km each; the standard is 2 km).
DEMAND = np.array(["a1", "a2", "b1", "b2", "b3"], dtype=object)
SITES = np.array(["s1", "s2", "s3", "s4"], dtype=object)
WEIGHTS = np.array([100.0, 100.0, 10.0, 10.0, 10.0])
COUNTY = {"a1": "530101", "a2": "530101", "b1": "530102", "b2": "530102", "b3": "530102"}
NAMES = {"530101": "甲县", "530102": "乙县"}


def costs() -> CostMatrix:
    matrix = sp.csr_array((np.full(4, 1000.0), ([0, 1, 2, 3], [0, 1, 2, 3])), shape=(5, 4))
    return CostMatrix(matrix, DEMAND, SITES, "m", 5000.0)


def shares(min_share: float = 0.0, *, max_min: bool = False) -> UnitShares:
    return UnitShares(COUNTY, min_share=min_share, max_min=max_min, names=NAMES)


def test_plain_mclp_leaves_the_small_county_out() -> None:
    plan = solve_mclp(costs(), WEIGHTS, n_homes=2, standard=2000.0)
    assert set(plan.new_ids) == {"s1", "s2"} and plan.objective == 200.0


def test_a_minimum_share_per_county_is_met_exactly() -> None:
    plan = solve_fair_mclp(costs(), WEIGHTS, shares=shares(0.3), n_homes=2, standard=2000.0)
    # One home in each county: 100 + 10 = 110 children, A at 50 %, B at 1/3 (the best two homes can do).
    assert len(plan.new_ids) == 2 and plan.objective == 110.0
    assert {"s1", "s2"} & set(plan.new_ids) and {"s3", "s4"} & set(plan.new_ids)
    assert plan.parameters["worst_share"] == pytest.approx(1 / 3)
    assert plan.status == "optimal"


def test_max_min_raises_the_worst_county_first_then_covers_the_most() -> None:
    plan = solve_fair_mclp(costs(), WEIGHTS, shares=shares(max_min=True), n_homes=3, standard=2000.0)
    # Three homes: the worst share is at most B's 2/3 with both its sites, then A gets one: 120 children.
    assert set(plan.new_ids) >= {"s3", "s4"} and plan.objective == 120.0
    assert plan.parameters["worst_share"] == pytest.approx(0.5)  # A at 1/2, B at 2/3
    # With four homes everyone reachable is covered; the worst share is B's 2/3.
    full = solve_fair_mclp(costs(), WEIGHTS, shares=shares(max_min=True), n_homes=4, standard=2000.0)
    assert full.objective == 220.0 and full.parameters["worst_share"] == pytest.approx(2 / 3)


def test_a_share_no_site_can_reach_is_refused_by_county_name() -> None:
    with pytest.raises(InfeasibleError, match=r"1 countys? cannot keep 70% .*乙县 \(530102\) 66\.7%"):
        solve_fair_mclp(costs(), WEIGHTS, shares=shares(0.7), n_homes=4, standard=2000.0)


def test_limits_too_tight_for_every_county_name_what_each_needs() -> None:
    with pytest.raises(InfeasibleError, match=r"n_homes=2 .*need at least 4 new homes .*甲县 \(530101\) 2"):
        solve_fair_mclp(costs(), WEIGHTS, shares=shares(0.6), n_homes=2, standard=2000.0)


def test_lscp_with_county_shares_opens_the_fewest_homes() -> None:
    plan = solve_fair_lscp(costs(), WEIGHTS, shares=shares(0.3), standard=2000.0)
    assert len(plan.new_ids) == 2 and plan.objective == 2.0
    plan = solve_fair_lscp(costs(), WEIGHTS, shares=shares(0.6), standard=2000.0)
    assert len(plan.new_ids) == 4
    with pytest.raises(InputError, match="max_min"):
        solve_fair_lscp(costs(), WEIGHTS, shares=shares(max_min=True), standard=2000.0)


def test_options_are_checked() -> None:
    with pytest.raises(InputError, match="min_share must be a fraction"):
        UnitShares(COUNTY, min_share=60)
    with pytest.raises(InputError, match="have no county"):
        solve_fair_mclp(costs(), WEIGHTS, shares=UnitShares({"a1": "1"}, min_share=0.1), n_homes=1, standard=2000.0)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from([0.2, 0.4]), st.booleans())
def test_random_instances_keep_every_units_share(seed: int, share: float, max_min: bool) -> None:
    rng = np.random.default_rng(seed)
    n_demand, n_sites = 40, 15
    matrix = sp.random(n_demand, n_sites, density=0.15, random_state=rng, format="csr")
    matrix.data = rng.uniform(100, 3000, len(matrix.data))
    ids = np.array([f"d{i}" for i in range(n_demand)], dtype=object)
    units = {d: f"u{i % 4}" for i, d in enumerate(ids)}
    w = rng.integers(1, 50, n_demand).astype(float)
    cost = CostMatrix(matrix, ids, np.array([f"s{j}" for j in range(n_sites)], dtype=object), "m", 3000.0)
    options = UnitShares(units, min_share=share, max_min=max_min)
    try:
        plan = solve_fair_mclp(cost, w, shares=options, n_homes=6, standard=3000.0)
    except InfeasibleError:
        return
    covered = covered_by(cost.within(3000.0).tocsr(), cost.site_positions(list(plan.site_ids)))
    unit = np.array([int(units[d][1:]) for d in ids])
    assert unit_shares(unit, w, covered).min() >= share - 1e-9
    assert plan.objective == pytest.approx(float(w[covered].sum()))
    plain = solve_mclp(cost, w, n_homes=6, standard=3000.0)
    assert plan.objective <= plain.objective + 1e-9  # a fairness rule never covers more
    if max_min:  # and max-min's worst unit is never worse off than under the plain plan
        plain_covered = covered_by(cost.within(3000.0).tocsr(), cost.site_positions(list(plain.site_ids)))
        assert plan.parameters["worst_share"] >= unit_shares(unit, w, plain_covered).min() - 1e-9


def fair_scenario(tmp_path: Path, built: SampleBuild, options: str) -> Path:
    return county_scenario(tmp_path, built, name="fair", model=f'min_share_per = "township"\n{options}')


def township_shares(result: Run) -> pd.Series:
    table = result.report["township"]
    return table["children_covered"] / table["children"]


def test_a_run_with_max_min_raises_the_worst_township(tmp_path: Path, built_sample: SampleBuild) -> None:
    plain = run(fair_scenario(tmp_path, built_sample, ""))
    fair = run(fair_scenario(tmp_path, built_sample, "max_min = true"))
    assert fair.plan.n_new == plain.plan.n_new == 3
    assert township_shares(fair).min() == pytest.approx(fair.plan.parameters["worst_share"])
    assert township_shares(fair).min() >= township_shares(plain).min() - 1e-9
    record = json.loads((fair.output_dir / "run.json").read_text(encoding="utf-8"))
    assert record["plan"]["max_min"] is True and record["plan"]["worst_share"] == fair.plan.parameters["worst_share"]


def test_a_share_the_budget_cannot_give_every_township_is_one_error_line(
    tmp_path: Path, built_sample: SampleBuild
) -> None:
    out = CliRunner().invoke(main, ["run", str(fair_scenario(tmp_path, built_sample, "min_share = 0.99"))])
    assert out.exit_code == 2, out.output
    line = out.output.strip().splitlines()[-1]
    assert line.startswith("error:") and "township" in line and ("need at least" in line or "cannot keep" in line)
    assert not (tmp_path / "out" / "fair").exists() or not any((tmp_path / "out" / "fair").iterdir())
