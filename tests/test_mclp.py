"""MCLP on hand-checkable instances."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from siting.costs import CostMatrix, distance_matrix
from siting.errors import InfeasibleError, InputError
from siting.models import SiteOptions, SolverOptions, solve_mclp

# A line of demand points 0..6 km; sites at 0, 3 and 6 km; standard 1.5 km.
#   demand x (km): 0    1    2    3    4    5    6
#   weight       : 10   1    1    20   1    1    15
# site A (0 km) covers x=0,1  -> 11
# site B (3 km) covers x=2,3,4 -> 22
# site C (6 km) covers x=5,6  -> 16
DEMAND_X_M = np.arange(7) * 1000.0
WEIGHTS = np.array([10, 1, 1, 20, 1, 1, 15], dtype=float)
SITES_X_M = np.array([0.0, 3000.0, 6000.0])


def line_instance() -> CostMatrix:
    return distance_matrix(
        np.column_stack([DEMAND_X_M, np.zeros(7)]),
        np.column_stack([SITES_X_M, np.zeros(3)]),
        demand_ids=[f"d{i}" for i in range(7)],
        site_ids=["A", "B", "C"],
        cutoff_m=1500.0,
        crs="EPSG:32647",
    )


@pytest.mark.parametrize("solver", ["cbc", "highs"])
def test_one_home_takes_the_heaviest_cover(solver: str) -> None:
    plan = solve_mclp(line_instance(), WEIGHTS, n_homes=1, solver=SolverOptions(name=solver))
    assert plan.new_ids == ("B",)
    assert plan.objective == pytest.approx(22.0)
    assert plan.status == "optimal"
    assert plan.gap == pytest.approx(0.0)


def test_two_homes() -> None:
    plan = solve_mclp(line_instance(), WEIGHTS, n_homes=2)
    assert set(plan.new_ids) == {"B", "C"}
    assert plan.objective == pytest.approx(38.0)


def test_existing_home_is_kept_and_counted() -> None:
    plan = solve_mclp(line_instance(), WEIGHTS, n_homes=1, sites=SiteOptions(existing=("B",)))
    assert plan.existing_ids == ("B",)
    assert plan.new_ids == ("C",)
    assert set(plan.site_ids) == {"B", "C"}
    assert plan.objective == pytest.approx(38.0)


def test_budget_with_site_costs() -> None:
    # C costs 50,000, A and B 30,000; 60,000 buys A+B (33) but not B+C (38, 80,000).
    costs = np.array([30_000.0, 30_000.0, 50_000.0])
    plan = solve_mclp(line_instance(), WEIGHTS, budget_cny=60_000, site_cost_cny=costs)
    assert set(plan.new_ids) == {"A", "B"}
    assert plan.objective == pytest.approx(33.0)


def test_forced_and_excluded() -> None:
    plan = solve_mclp(line_instance(), WEIGHTS, n_homes=2, sites=SiteOptions(forced=("A",), excluded=("B",)))
    assert set(plan.new_ids) == {"A", "C"}
    assert plan.objective == pytest.approx(27.0)
    with pytest.raises(InputError, match="both excluded"):
        SiteOptions(forced=("A",), excluded=("A",))
    with pytest.raises(InfeasibleError, match="forced"):
        solve_mclp(line_instance(), WEIGHTS, n_homes=1, sites=SiteOptions(forced=("A", "B")))
    with pytest.raises(InputError, match="not in the cost matrix"):
        solve_mclp(line_instance(), WEIGHTS, n_homes=1, sites=SiteOptions(existing=("Z",)))


def test_needs_a_limit() -> None:
    with pytest.raises(InputError, match="n_homes or budget_cny"):
        solve_mclp(line_instance(), WEIGHTS)


def test_weights_by_id_order_is_respected() -> None:
    import pandas as pd

    weights = pd.Series(WEIGHTS, index=[f"d{i}" for i in range(7)]).iloc[::-1]
    plan = solve_mclp(line_instance(), weights, n_homes=1)
    assert plan.new_ids == ("B",)


def _brute_force(cover: np.ndarray, weights: np.ndarray, p: int) -> float:
    best = 0.0
    for k in range(p + 1):
        for combo in itertools.combinations(range(cover.shape[1]), k):
            covered = cover[:, list(combo)].any(axis=1) if combo else np.zeros(cover.shape[0], bool)
            best = max(best, float(weights[covered].sum()))
    return best


@settings(max_examples=25, deadline=None)
@given(
    st.integers(min_value=0, max_value=2**31 - 1),
    st.integers(min_value=1, max_value=3),
)
def test_matches_brute_force(seed: int, p: int) -> None:
    rng = np.random.default_rng(seed)
    n, m = 8, 5
    cover = rng.random((n, m)) < 0.35
    weights = rng.integers(0, 20, n).astype(float)
    matrix = sp.csr_array(np.where(cover, 1.0, 0.0))
    costs = CostMatrix(
        matrix=matrix,
        demand_ids=np.array([f"d{i}" for i in range(n)], dtype=object),
        site_ids=np.array([f"s{j}" for j in range(m)], dtype=object),
        unit="m",
        cutoff=1.0,
    )
    plan = solve_mclp(costs, weights, n_homes=p)
    assert plan.objective == pytest.approx(_brute_force(cover, weights, p))
    assert len(plan.new_ids) <= p
