"""LSCP, partial cover, p-median (capacitated too), boundaries, township minimums, greedy."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from siting.access import Access
from siting.costs import CostMatrix, distance_matrix, restrict_to_same_unit
from siting.errors import InfeasibleError
from siting.models import SiteOptions, greedy_mclp, solve_lscp, solve_mclp, solve_partial_cover, solve_pmedian

# Demand on a line at 0..6 km (weights 10 1 1 20 1 1 15) plus one point at 50 km no site reaches.
# Sites A 0 km, B 3 km, C 6 km, D 1 km; standard 1.5 km.
DEMAND_X = np.array([0, 1, 2, 3, 4, 5, 6, 50.0]) * 1000
WEIGHTS = np.array([10, 1, 1, 20, 1, 1, 15, 5.0])
SITES_X = np.array([0, 3, 6, 1.0]) * 1000
DEMAND_IDS = [f"d{i}" for i in range(8)]
SITE_IDS = ["A", "B", "C", "D"]


def instance(cutoff_m: float = 1500.0) -> CostMatrix:
    return distance_matrix(
        np.column_stack([DEMAND_X, np.zeros(8)]),
        np.column_stack([SITES_X, np.zeros(4)]),
        demand_ids=DEMAND_IDS,
        site_ids=SITE_IDS,
        cutoff_m=cutoff_m,
        crs="EPSG:32648",
    )


def test_lscp_covers_every_reachable_point_and_reports_the_rest() -> None:
    plan = solve_lscp(instance(), weights=WEIGHTS)
    # d0..d6 need A or D (d0,d1), B (d2,d3,d4), C (d5,d6): 3 homes; d7 is unreachable.
    assert plan.objective == 3
    assert set(plan.new_ids) in ({"A", "B", "C"}, {"D", "B", "C"})
    assert plan.unreachable_ids == ("d7",)
    assert plan.parameters["unreachable_weight"] == 5.0


def test_lscp_least_cost_and_existing() -> None:
    cost = pd.Series({"A": 50_000.0, "B": 30_000.0, "C": 30_000.0, "D": 30_000.0})
    plan = solve_lscp(instance(), site_cost_cny=cost)
    assert set(plan.new_ids) == {"B", "C", "D"}
    assert plan.objective == 90_000
    plan = solve_lscp(instance(), sites=SiteOptions(existing=("B",)))
    assert plan.objective == 2 and "B" in plan.existing_ids


def test_partial_cover() -> None:
    # Total weight 54. 40% = 21.6 -> B alone (22). 60% = 32.4 -> B + C (38).
    assert solve_partial_cover(instance(), WEIGHTS, share=0.4).new_ids == ("B",)
    assert set(solve_partial_cover(instance(), WEIGHTS, share=0.6).new_ids) == {"B", "C"}
    with pytest.raises(InfeasibleError, match=r"at most 90\.74% of the weight can be covered"):
        solve_partial_cover(instance(), WEIGHTS, share=0.95)


def test_pmedian_hand_checked() -> None:
    costs = instance(cutoff_m=100_000.0)
    w = np.array([10, 1, 1, 20, 1, 1, 15, 0.0])
    plan = solve_pmedian(costs, w, p=2)
    # B + C: d0 3 km x 10 + d1 2 x 1 + d2 1 x 1 + d4 1 x 1 (to B) + d5 1 x 1 (to C) = 35 km x children;
    # D + C would cost d3 2 km x 20 = 40 alone, A + C 3 km x 20 = 60: B + C is optimal.
    assert set(plan.site_ids) == {"B", "C"}
    assert plan.objective == pytest.approx(35_000.0)
    assert plan.assignment is not None and plan.assignment["d0"] == "B" and plan.assignment["d6"] == "C"


def test_capacitated_pmedian_single_source() -> None:
    costs = instance(cutoff_m=100_000.0)
    w = np.array([10, 1, 1, 20, 1, 1, 15, 0.0])
    plan = solve_pmedian(costs, w, p=2, capacity=30.0)
    loads: dict[str, float] = {}
    assert plan.assignment is not None
    for demand, site in plan.assignment.items():
        loads[site] = loads.get(site, 0.0) + float(w[DEMAND_IDS.index(demand)])
    assert max(loads.values()) <= 30.0
    uncapacitated = solve_pmedian(costs, w, p=2)
    assert plan.objective > uncapacitated.objective


def test_respect_boundaries_and_township_minimum() -> None:
    demand_town = np.array(["t1"] * 3 + ["t2"] * 5, dtype=object)
    site_town = np.array(["t1", "t2", "t2", "t1"], dtype=object)
    # B (township t2) may not cover d2 (t1) any more: B covers d3, d4 = 21.
    within = restrict_to_same_unit(instance(), demand_unit=demand_town, site_unit=site_town)
    access = Access(costs=within, standard=1500.0, mode="distance", respect="township")
    plan = solve_mclp(access, WEIGHTS, n_homes=1)
    assert plan.new_ids == ("B",) and plan.objective == pytest.approx(21.0)
    # Each township at least one home: with 2 homes, B (t2) + A or D (t1).
    towns = dict(zip(SITE_IDS, site_town, strict=True))
    plan = solve_mclp(instance(), WEIGHTS, n_homes=2, sites=SiteOptions(min_per_township=1, township_of_site=towns))
    assert "B" in plan.new_ids and ({"A", "D"} & set(plan.new_ids))


def test_greedy_reports_a_true_bound() -> None:
    plan = greedy_mclp(instance(), WEIGHTS, n_homes=2)
    exact = solve_mclp(instance(), WEIGHTS, n_homes=2)
    assert plan.status == "heuristic"
    assert plan.objective <= exact.objective + 1e-9
    assert plan.bound is not None and plan.bound >= exact.objective - 1e-9


@settings(max_examples=20, deadline=None)
@given(st.integers(min_value=0, max_value=2**31 - 1), st.integers(min_value=1, max_value=3))
def test_pmedian_and_greedy_properties(seed: int, p: int) -> None:
    rng = np.random.default_rng(seed)
    n, m = 7, 5
    dense = rng.uniform(1, 10, (n, m)).round(1)
    w = rng.integers(1, 10, n).astype(float)
    costs = CostMatrix(
        matrix=sp.csr_array(dense),
        demand_ids=np.array([f"d{i}" for i in range(n)], dtype=object),
        site_ids=np.array([f"s{j}" for j in range(m)], dtype=object),
        unit="min",
        cutoff=10.0,
    )
    plan = solve_pmedian(costs, w, p=p)
    best = min((w * dense[:, list(c)].min(axis=1)).sum() for c in itertools.combinations(range(m), p))
    assert plan.objective == pytest.approx(best)
    assert plan.assignment is not None
    open_cols = [int(s[1:]) for s in plan.site_ids]
    for i in range(n):  # every demand goes to its nearest open home
        assert dense[i, int(plan.assignment[f"d{i}"][1:])] == pytest.approx(dense[i, open_cols].min())
    # Coverage never decreases as the budget grows; greedy's bound holds.
    values = [solve_mclp(costs, w, standard=5.0, n_homes=k).objective for k in range(m + 1)]
    assert all(a <= b + 1e-9 for a, b in itertools.pairwise(values))
    greedy = greedy_mclp(costs, w, standard=5.0, n_homes=p)
    assert greedy.objective <= values[p] + 1e-9 <= (greedy.bound or 0) + 1e-6


@settings(max_examples=15, deadline=None)
@given(st.integers(min_value=0, max_value=2**31 - 1))
def test_decomposed_lscp_equals_monolithic(seed: int) -> None:
    rng = np.random.default_rng(seed)
    xy = np.concatenate([rng.normal(c, 800.0, (6, 2)) for c in ([0, 0], [2500, 0], [10_000, 10_000])])
    ids = [f"p{i}" for i in range(len(xy))]
    costs = distance_matrix(xy, xy, demand_ids=ids, site_ids=ids, cutoff_m=1000.0, crs="EPSG:32648")
    price = rng.integers(1, 4, len(ids)).astype(float)
    parts = solve_lscp(costs, site_cost_cny=price, workers=1)
    whole = solve_lscp(costs, site_cost_cny=price, decompose=False)
    assert parts.objective == pytest.approx(whole.objective)
    covered = costs.within(1000.0)[:, [ids.index(s) for s in parts.site_ids]].sum(axis=1)
    assert (covered > 0).all()  # every coverable point is covered


def test_lscp_in_worker_processes() -> None:
    rng = np.random.default_rng(3)
    xy = np.concatenate([rng.normal(c, 500.0, (10, 2)) for c in ([0, 0], [20_000, 0], [0, 20_000])])
    ids = [f"p{i}" for i in range(len(xy))]
    costs = distance_matrix(xy, xy, demand_ids=ids, site_ids=ids, cutoff_m=400.0, crs="EPSG:32648")
    assert solve_lscp(costs, workers=2).objective == solve_lscp(costs, decompose=False).objective


@settings(max_examples=15, deadline=None)
@given(st.integers(min_value=0, max_value=2**31 - 1), st.integers(min_value=1, max_value=3))
def test_k_nearest_pmedian_is_exact(seed: int, p: int) -> None:
    from siting.models.pmedian import solve_pmedian_nearest

    rng = np.random.default_rng(seed)
    demand = rng.uniform(0, 10_000, (9, 2))
    sites = rng.uniform(0, 10_000, (6, 2))
    w = rng.integers(1, 10, 9).astype(float)
    full = np.hypot(demand[:, None, 0] - sites[None, :, 0], demand[:, None, 1] - sites[None, :, 1])
    best = min((w * full[:, list(c)].min(axis=1)).sum() for c in itertools.combinations(range(6), p))
    plan = solve_pmedian_nearest(
        demand, sites, w, demand_ids=[f"d{i}" for i in range(9)], site_ids=[f"s{j}" for j in range(6)], p=p, k=1
    )
    assert plan.objective == pytest.approx(best, rel=1e-9)
    assert plan.unreachable_ids == ()
    assert plan.status == "optimal"
    assert "no demand point used an option beyond" in plan.parameters["proof"]


def test_pmedian_infeasible_says_why() -> None:
    # Two demand points 10 km apart, each only reaches its own site: one home cannot serve both.
    costs = distance_matrix(
        np.array([[0.0, 0.0], [10_000.0, 0.0]]),
        np.array([[0.0, 0.0], [10_000.0, 0.0]]),
        demand_ids=["a", "b"],
        site_ids=["s", "t"],
        cutoff_m=1000.0,
        crs="EPSG:32648",
    )
    with pytest.raises(InfeasibleError, match=r"p=1 cannot serve every demand point .* Raise p"):
        solve_pmedian(costs, np.array([1.0, 1.0]), p=1)


def _cover_part(cover: np.ndarray, cost: np.ndarray | None = None):  # type: ignore[no-untyped-def]
    from siting.models.lscp import _CoverPart
    from siting.models.options import SolverOptions

    matrix = sp.csr_array(cover.astype(float))
    cost = np.ones(cover.shape[1]) if cost is None else cost
    return _CoverPart(matrix, np.arange(cover.shape[1]), cost, SolverOptions(), None)


def test_cover_part_proven_without_a_mip_when_the_lp_allows() -> None:
    from siting.models.lscp import _solve_cover_part

    # Five rows in a ring, each column covers two neighbours: LP 2.5, so 3 homes are optimal (greedy finds 3).
    ring = np.array([[1 if j in (i, (i + 1) % 5) else 0 for i in range(5)] for j in range(5)]).T
    result = _solve_cover_part(_cover_part(ring))
    assert (result.objective, result.bound, result.status) == (3.0, 3.0, "optimal")
    assert result.solver == "greedy (proven by the LP bound)"
    # Two rows of 14 points; the greedy takes the 16-, 8- and 4-point blocks (3), the two rows do (2): LP is integral.
    rows = np.zeros((28, 5), dtype=int)
    rows[:14, 0] = rows[14:, 1] = 1
    for col, (a, b) in zip((2, 3, 4), ((0, 2), (2, 6), (6, 14)), strict=True):
        rows[[*range(a, b), *range(14 + a, 14 + b)], col] = 1
    result = _solve_cover_part(_cover_part(rows))
    assert (result.chosen, result.objective, result.solver) == ((0, 1), 2.0, "HiGHS (integral LP)")


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=0, max_value=2**31 - 1))
def test_cover_part_matches_brute_force(seed: int) -> None:
    from siting.models.lscp import _solve_cover_part

    rng = np.random.default_rng(seed)
    n_rows, n_cols = int(rng.integers(3, 12)), int(rng.integers(3, 9))
    cover = (rng.random((n_rows, n_cols)) < 0.35).astype(int)
    cover[np.arange(n_rows), rng.integers(0, n_cols, n_rows)] = 1  # every row coverable
    cost = rng.integers(1, 5, n_cols).astype(float) if seed % 2 else np.ones(n_cols)
    best = min(
        cost[list(subset)].sum()
        for k in range(1, n_cols + 1)
        for subset in itertools.combinations(range(n_cols), k)
        if cover[:, list(subset)].any(axis=1).all()
    )
    result = _solve_cover_part(_cover_part(cover, cost))
    assert result.status == "optimal" and result.objective == pytest.approx(best)
    assert cover[:, list(result.chosen)].any(axis=1).all()


@pytest.mark.parametrize("decompose", [False, True])
def test_mclp_builds_no_home_that_covers_nothing_new(decompose: bool) -> None:
    # Room for 4 homes; A or D, B and C cover every reachable child: the fourth would cover nothing new.
    plan = solve_mclp(instance(), WEIGHTS, n_homes=4, decompose=decompose)
    assert plan.objective == 49.0 and plan.status == "optimal"  # every reachable child (d7 is not)
    assert len(plan.new_ids) == 3 and {"B", "C"} <= set(plan.new_ids)
