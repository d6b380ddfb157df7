"""Province-scale machinery checked on small instances: the knapsack across parts, the decomposed MCLP,
the p-median rounds with Lagrangian fixing, and HiGHS's hard wall-clock stop."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from siting.access import Access
from siting.costs import CostMatrix, distance_matrix, restrict_to_same_unit
from siting.errors import InputError
from siting.models import SiteOptions, SolverOptions, solve_mclp, solve_pmedian
from siting.models.decompose import blocks_of, coverage_components, members_of
from siting.models.knapsack import best_without, combine_parts
from siting.models.solver import MatrixModel, solve_matrix_model


def test_knapsack_hand_checked() -> None:
    # Part A: 10 with one home, nothing more with two; part B: 7 per home (non-concave allowed too).
    a, b = np.array([0.0, 10, 10]), np.array([0.0, 7, 14])
    assert combine_parts([a, b], 0) == (0.0, [0, 0])
    assert combine_parts([a, b], 1) == (10.0, [1, 0])
    assert combine_parts([a, b], 2) == (17.0, [1, 1])
    assert combine_parts([a, b], 3) == (24.0, [1, 2])
    # A convex curve (nothing until two homes): greedy by first marginal gain would miss it.
    c = np.array([0.0, 1, 30])
    assert combine_parts([a, c], 2) == (30.0, [0, 2])


@settings(max_examples=25, deadline=None)
@given(st.lists(st.lists(st.integers(0, 20), min_size=1, max_size=4), min_size=1, max_size=4), st.integers(0, 6))
def test_knapsack_matches_enumeration(gains: list[list[int]], capacity: int) -> None:
    curves = [np.concatenate([[0.0], np.cumsum(g)]) for g in gains]
    best = max(
        sum(curve[n] for curve, n in zip(curves, pick, strict=True))
        for pick in itertools.product(*(range(len(c)) for c in curves))
        if sum(pick) <= capacity
    )
    value, homes = combine_parts(curves, capacity)
    assert value == best
    assert sum(homes) <= capacity
    assert sum(curve[n] for curve, n in zip(curves, homes, strict=True)) == value


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(2, 60),
    st.integers(1, 30),
    st.floats(0.0, 1.0),
    st.sampled_from(["concave", "any", "flat tails", "needs one"]),
)
def test_the_reduced_cost_knapsack_equals_the_direct_one(
    seed: int, parts: int, longest: int, share: float, shape: str
) -> None:
    """The Lagrangian path gives the direct programme's optimum on curves of any shape and any capacity."""
    from siting.models.knapsack import _by_reduced_costs, _direct

    rng = np.random.default_rng(seed)
    curves = []
    for _ in range(parts):
        length = int(rng.integers(1, longest + 1))
        gains = rng.integers(0, 100, length).astype(float)
        if shape == "concave":
            gains = np.sort(gains)[::-1]
        elif shape == "flat tails":
            gains[rng.integers(0, length) :] = 0.0
        curve = np.concatenate([[0.0], np.cumsum(gains)])
        if shape == "needs one":  # p-median parts: no option without a home
            curve[0] = -np.inf
        curves.append(curve)
    capacity = int(share * sum(len(c) - 1 for c in curves))
    direct_value, _ = _direct(curves, capacity)
    found = _by_reduced_costs(curves, capacity)
    if found is None:
        assert shape == "needs one" and capacity < parts  # infeasible: the direct programme reports it
        return
    value, homes = found
    assert value == pytest.approx(direct_value, rel=1e-12, abs=1e-9)
    assert sum(homes) <= capacity and all(0 <= n < len(c) for n, c in zip(homes, curves, strict=True))
    assert sum(c[n] for c, n in zip(curves, homes, strict=True)) == pytest.approx(value, rel=1e-12)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 30), st.floats(0.0, 1.0))
def test_the_relaxed_rest_never_falls_below_the_exact_rest(seed: int, parts: int, share: float) -> None:
    """On large inputs best_without gives upper bounds: never below the exact value, and close on many parts."""
    from siting.models.knapsack import _relaxed_without

    rng = np.random.default_rng(seed)
    curves = [np.concatenate([[0.0], np.cumsum(rng.integers(0, 100, rng.integers(1, 12)))]) for _ in range(parts)]
    capacity = int(share * sum(len(c) - 1 for c in curves))
    asked = sorted(set(rng.integers(0, parts, 3).tolist()))
    exact = best_without(curves, capacity, asked)
    relaxed = _relaxed_without(curves, capacity, asked)
    for c in asked:
        assert len(relaxed[c]) == len(exact[c])
        assert np.all(relaxed[c] >= exact[c] - 1e-9)
        # The relaxation adds at most one part's segment: never more than the largest single gain.
        assert np.all(relaxed[c] - exact[c] <= max(float(np.max(np.diff(k), initial=0)) for k in curves) * 12 + 1e-9)


def test_large_knapsacks_take_the_reduced_cost_path_and_agree() -> None:
    """3,000 parts and 20,000 homes (1.8 × 10⁹ direct cells): the same optimum as the direct programme on a slice."""
    from siting.models.knapsack import DIRECT_WORK, _direct

    rng = np.random.default_rng(30)
    curves = [np.concatenate([[0.0], np.cumsum(rng.integers(0, 50, rng.integers(1, 60)))]) for _ in range(3_000)]
    capacity = sum(len(c) - 1 for c in curves) // 3
    assert sum(len(c) for c in curves) * (capacity + 1) > DIRECT_WORK
    value, homes = combine_parts(curves, capacity)
    assert sum(homes) <= capacity
    # The direct programme on the first 300 parts with a tenth of the homes, through the same entry:
    few = curves[:300]
    assert combine_parts(few, capacity // 10)[0] == pytest.approx(_direct(few, capacity // 10)[0], rel=1e-12)
    assert value == pytest.approx(sum(c[n] for c, n in zip(curves, homes, strict=True)), rel=1e-12)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.lists(st.integers(-3, 20), min_size=1, max_size=4), min_size=2, max_size=4), st.integers(0, 6))
def test_best_without_matches_enumeration(gains: list[list[int]], capacity: int) -> None:
    # out[c][n]: the best of the other parts with at most capacity - n homes, for every n part c can take.
    curves = [np.concatenate([[0.0], np.cumsum(g)]) for g in gains]
    out = best_without(curves, capacity, list(range(len(curves))))
    for c, curve in enumerate(curves):
        others = [other for k, other in enumerate(curves) if k != c]
        assert len(out[c]) == min(len(curve) - 1, capacity) + 1
        for n, value in enumerate(out[c]):
            best = max(
                sum(other[m] for other, m in zip(others, pick, strict=True))
                for pick in itertools.product(*(range(len(o)) for o in others))
                if sum(pick) <= capacity - n
            )
            assert value == best


def clustered(seed: int, n: int = 40) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 60_000, (4, 2))
    xy = centres[rng.integers(0, 4, n)] + rng.normal(0, 2_000, (n, 2))
    return xy, rng.integers(1, 50, n).astype(float), [f"c{i:03d}" for i in range(n)]


@settings(max_examples=12, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(0, 8), st.booleans())
def test_decomposed_mclp_equals_monolithic(seed: int, homes: int, with_existing: bool) -> None:
    xy, w, ids = clustered(seed)
    costs = distance_matrix(xy, xy, demand_ids=ids, site_ids=ids, cutoff_m=2_500.0, crs="EPSG:32648")
    existing = ids[:3] if with_existing else []
    whole = solve_mclp(costs, w, n_homes=homes, sites=SiteOptions(existing=tuple(existing)))
    parts = solve_mclp(costs, w, n_homes=homes, sites=SiteOptions(existing=tuple(existing)), decompose=True, workers=1)
    assert parts.objective == pytest.approx(whole.objective, rel=1e-9)
    assert parts.status == "optimal" and parts.bound == pytest.approx(parts.objective, rel=1e-9)
    assert len(parts.new_ids) <= homes
    # the plan's objective is what its homes really cover
    covered = costs.within(2_500.0)[:, costs.site_positions(list(parts.site_ids))].sum(axis=1) > 0
    assert float(w[covered].sum()) == pytest.approx(parts.objective, rel=1e-9)
    assert "knapsack" in parts.solver


def test_decomposed_mclp_budget_in_workers_and_refusals() -> None:
    xy, w, ids = clustered(5, n=60)
    costs = distance_matrix(xy, xy, demand_ids=ids, site_ids=ids, cutoff_m=2_500.0, crs="EPSG:32648")
    whole = solve_mclp(costs, w, budget_cny=150_000, site_cost_cny=30_000.0)
    parts = solve_mclp(costs, w, budget_cny=150_000, site_cost_cny=30_000.0, decompose=True, workers=2)
    assert parts.objective == pytest.approx(whole.objective, rel=1e-9)
    assert len(parts.new_ids) <= 5
    varied = np.full(len(ids), 30_000.0)
    varied[0] = 20_000.0
    with pytest.raises(InputError, match="one cost for every new site"):
        solve_mclp(costs, w, budget_cny=150_000, site_cost_cny=varied, decompose=True)


def _triangles(weights: list[float]) -> CostMatrix:
    """One component per weight: three points, three sites, each site reaching two of the points (a cycle)."""
    blocks = [sp.csr_array(np.array([[1.0, 0, 1], [1, 1, 0], [0, 1, 1]])) for _ in weights]
    matrix = sp.block_diag(blocks, format="csr")
    ids = [f"t{k}" for k in range(matrix.shape[0])]
    return CostMatrix(matrix, np.array(ids, dtype=object), np.array(ids, dtype=object), "m", 1.0)


@pytest.mark.parametrize(("homes", "expected"), [(1, 6.0), (2, 9.0), (3, 11.0), (4, 12.0)])
def test_parts_with_fractional_relaxations_hand_checked(homes: int, expected: float) -> None:
    # Two triangles, weights 1 and 3 a point: one home covers two points of a triangle, two cover all
    # three. The LP relaxation of one home is fractional (½ on every site covers all three points),
    # so the parts' MIPs, LP tangents and bounds are all used. By hand: 1 home → 2·3 = 6; 2 → 9 (the
    # heavy triangle whole); 3 → 9 + 2 = 11; 4 → 9 + 3 = 12.
    costs = _triangles([1.0, 3.0])
    w = np.repeat([1.0, 3.0], 3)
    for solver in ("highs", "cbc"):
        plan = solve_mclp(costs, w, n_homes=homes, decompose=True, workers=1, solver=SolverOptions(name=solver))
        assert plan.objective == pytest.approx(expected)
        assert plan.status == "optimal" and plan.bound == pytest.approx(expected)
        assert len(plan.new_ids) <= homes
        whole = solve_mclp(costs, w, n_homes=homes, decompose=False, solver=SolverOptions(name=solver))
        assert whole.objective == pytest.approx(expected)


def test_parts_are_chosen_by_their_sizes() -> None:
    from siting.models.mclp import PARTS_MIN_PAIRS, parts_pay

    side = int(np.ceil(np.sqrt(PARTS_MIN_PAIRS / 4))) + 1
    four = sp.block_diag([sp.csr_array(np.ones((side, side))) for _ in range(4)], format="csr")
    assert four.nnz >= PARTS_MIN_PAIRS and parts_pay(four)
    one = sp.csr_array(np.ones((2 * side, 2 * side)))  # one component: nothing to split
    assert not parts_pay(one)
    lopsided = sp.block_diag([one, sp.csr_array(np.ones((side, side)))], format="csr")  # largest holds 4/5
    assert not parts_pay(lopsided)
    assert not parts_pay(sp.block_diag([sp.csr_array(np.ones((3, 3)))] * 4, format="csr"))  # small: whole


def test_highs_stops_once_its_bound_is_enough() -> None:
    # 40 triangles of weights 1..40 a point with 40 homes: the LP relaxation covers everything with
    # ½ on every site (value 3·820); the integer optimum is smaller, so HiGHS must branch or cut.
    from siting.models.mclp_parts import _CoverPart, _part_model

    weights = np.repeat(np.arange(1.0, 41.0), 3)
    part = _CoverPart(_triangles(list(range(40))).matrix, weights)
    model, scale = _part_model(part, 40)
    options = {"presolve": "off"}
    exact, _ = solve_matrix_model(model, solver="highs", highs_options=options)
    # By hand: a triangle's first home covers 2w, its second w more; the 40 largest of these gains
    # are two homes for w = 28..40 and one for w = 14..27: 3·442 + 2·287 = 1,900.
    assert exact.status == "optimal"
    assert exact.objective * scale == pytest.approx(3 * sum(range(28, 41)) + 2 * sum(range(14, 28)))
    enough, _ = solve_matrix_model(model, solver="highs", highs_options=options, stop_at_bound=1e9)
    assert enough.status == "feasible" and enough.bound is not None
    assert exact.objective <= enough.bound <= 1e9


def test_parts_whose_turn_comes_after_the_deadline_are_not_started() -> None:
    import time

    from siting.models.mclp_parts import _Ask, _CoverPart, _greedy_curve, _solve_count

    weights = np.repeat(np.arange(1.0, 41.0), 3)
    parts = (_CoverPart(_triangles(list(range(40))).matrix, weights),)
    curve = _greedy_curve(parts[0])
    before = (curve.lower.copy(), curve.upper.copy(), curve.relaxed.copy())
    late = _Ask(0, 40, curve.plans[40], SolverOptions(name="highs"), time.time() - 1.0, mip=True)
    answer = _solve_count(late, parts)
    assert answer.skipped and not answer.solved
    curve.learn(answer)  # nothing learnt: values, bounds and the relaxed marks stay
    assert all(np.array_equal(a, b) for a, b in zip(before, (curve.lower, curve.upper, curve.relaxed), strict=True))
    on_time = _solve_count(_Ask(0, 40, curve.plans[40], SolverOptions(name="highs"), None, mip=True), parts)
    assert not on_time.skipped and on_time.value == pytest.approx(1_900)


def brute_force_pmedian(costs: CostMatrix, w: np.ndarray, p: int) -> float:
    dense = costs.matrix.toarray()
    dense[costs.matrix.toarray() == 0] = np.inf
    dense[costs.matrix.tocoo().row, costs.matrix.tocoo().col] = costs.matrix.tocoo().data
    best = np.inf
    for combo in itertools.combinations(range(dense.shape[1]), p):
        value = (w * dense[:, list(combo)].min(axis=1)).sum()
        best = min(best, value)
    return float(best)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 4), st.sampled_from(["cbc", "highs"]))
def test_pmedian_rounds_match_brute_force(seed: int, p: int, solver: str) -> None:
    # k_nearest=1 forces several rounds, the beyond option and Lagrangian fixing on every instance.
    rng = np.random.default_rng(seed)
    demand, sites = rng.uniform(0, 8_000, (10, 2)), rng.uniform(0, 8_000, (7, 2))
    w = rng.integers(1, 20, 10).astype(float)
    costs = distance_matrix(
        demand,
        sites,
        demand_ids=[f"d{i}" for i in range(10)],
        site_ids=[f"s{j}" for j in range(7)],
        cutoff_m=20_000.0,
        crs="EPSG:32648",
    )
    best = brute_force_pmedian(costs, w, p)
    plan = solve_pmedian(costs, w, p=p, k_nearest=1, solver=SolverOptions(name=solver))
    assert plan.objective == pytest.approx(best, rel=1e-9)
    assert plan.status == "optimal"
    assert plan.bound == pytest.approx(best, rel=1e-6)
    assert plan.parameters["rounds"] >= 1
    whole = solve_pmedian(costs, w, p=p, k_nearest=None, solver=SolverOptions(name=solver))
    assert whole.objective == pytest.approx(best, rel=1e-9)


def test_pmedian_restricted_pairs_keep_existing_and_township_minimum() -> None:
    import pandas as pd

    # Four points on a line 0, 1, 10, 11 km, two townships; p = 2 with site "a" existing and at
    # least one home in each township: a + c (cost 1 + 1 km) is optimal.
    xy = np.array([[0, 0], [1_000, 0], [10_000, 0], [11_000, 0]], dtype=float)
    ids = ["a", "b", "c", "d"]
    costs = distance_matrix(xy, xy, demand_ids=ids, site_ids=ids, cutoff_m=50_000.0, crs="EPSG:32648")
    codes = pd.DataFrame({"township_code": ["t1", "t1", "t2", "t2"], "county_code": ["k"] * 4}, index=ids)
    w = np.array([1.0, 1.0, 1.0, 1.0])
    towns = codes["township_code"].to_dict()
    plan = solve_pmedian(
        costs, w, p=2, sites=SiteOptions(existing=("a",), min_per_township=1, township_of_site=towns), k_nearest=1
    )
    assert set(plan.site_ids) in ({"a", "c"}, {"a", "d"})
    assert plan.objective == pytest.approx(2_000.0)
    assert plan.status == "optimal"


def test_highs_stops_at_the_wall_clock_limit() -> None:
    # A p-median far too big to prove in 0.3 s: HiGHS must come back on time with what it has.
    rng = np.random.default_rng(0)
    n = 1_500
    xy = rng.uniform(0, 100_000, (n, 2))
    costs = distance_matrix(
        xy,
        xy,
        demand_ids=[str(i) for i in range(n)],
        site_ids=[str(i) for i in range(n)],
        cutoff_m=15_000.0,
        crs="EPSG:32648",
    )
    coo = costs.matrix.tocoo()
    n_pairs = len(coo.row)
    link = sp.csr_array(
        (
            np.concatenate([np.ones(n_pairs), -np.ones(n_pairs)]),
            (np.concatenate([np.arange(n_pairs)] * 2), np.concatenate([n + np.arange(n_pairs), coo.col])),
        ),
        shape=(n_pairs, n + n_pairs),
    )
    assign = sp.csr_array((np.ones(n_pairs), (coo.row, n + np.arange(n_pairs))), shape=(n, n + n_pairs))
    count = sp.csr_array((np.ones(n), (np.zeros(n, dtype=int), np.arange(n))), shape=(1, n + n_pairs))
    model = MatrixModel(
        name="pmedian",
        maximise=False,
        cost=np.concatenate([np.zeros(n), coo.data / 1000]),
        lower=np.zeros(n + n_pairs),
        upper=np.ones(n + n_pairs),
        integer=np.arange(n + n_pairs) < n,
        matrix=sp.vstack([assign, link, count]).tocsr(),
        row_lower=np.concatenate([np.ones(n), np.full(n_pairs, -np.inf), [60]]),
        row_upper=np.concatenate([np.ones(n), np.zeros(n_pairs), [60]]),
    )
    try:
        result, _ = solve_matrix_model(model, solver="highs", time_limit_s=0.3)
    except Exception as error:  # no incumbent yet is an honest answer too, but it must be on time
        assert "no feasible plan" in str(error)
    else:
        assert result.status == "feasible"
        assert result.seconds < 3.0


@settings(max_examples=12, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(0, 6), st.booleans(), st.booleans())
def test_township_parts_pmedian_equals_one_model(seed: int, extra: int, with_existing: bool, enumerate_: bool) -> None:
    import pandas as pd

    import siting.models.pmedian_parts as parts

    xy, w, ids = clustered(seed, n=24)
    townships = [f"t{int(x // 20_000)}" for x in xy[:, 0]]
    codes = pd.DataFrame({"township_code": townships, "county_code": ["k"] * len(ids)}, index=ids)
    costs = distance_matrix(xy, xy, demand_ids=ids, site_ids=ids, cutoff_m=100_000.0, crs="EPSG:32648")
    existing = ids[:2] if with_existing else []
    p = len(set(townships)) + extra + len(existing)  # enough for a home in every township
    town = codes["township_code"].to_numpy(dtype=object)
    within = restrict_to_same_unit(costs, demand_unit=town, site_unit=town)
    access = Access(costs=within, standard=100_000.0, mode="distance", respect="township")
    options = {"sites": SiteOptions(existing=tuple(existing)), "solver": SolverOptions(name="highs")}
    whole = solve_pmedian(access, w, p=p, decompose=False, k_nearest=None, **options)
    saved = parts.EXHAUSTIVE_SITES
    parts.EXHAUSTIVE_SITES = 64 if enumerate_ else 0  # both ways of drawing a part's curve
    try:
        split = solve_pmedian(access, w, p=p, **options)
    finally:
        parts.EXHAUSTIVE_SITES = saved
    assert "knapsack" in split.solver
    assert split.objective == pytest.approx(whole.objective, rel=1e-9)
    assert split.status == "optimal" and len(split.site_ids) == p
    assert set(existing) <= set(split.site_ids)
    # every community is served inside its own township
    for demand, site in split.assignment.items():
        assert codes.loc[demand, "township_code"] == codes.loc[site, "township_code"]


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1), st.booleans())
def test_set_cover_reductions_keep_the_optimum(seed: int, unit_cost: bool) -> None:
    from siting.models.reductions import reduce_set_cover

    rng = np.random.default_rng(seed)
    n_rows, n_cols = 9, 7
    cover = (rng.random((n_rows, n_cols)) < 0.35).astype(float)
    cover[np.arange(n_rows), rng.integers(0, n_cols, n_rows)] = 1.0  # every row coverable
    cost = np.ones(n_cols) if unit_cost else rng.integers(1, 4, n_cols).astype(float)

    def best(rows: np.ndarray, cols: np.ndarray) -> float:
        values = [
            cost[list(combo)].sum()
            for k in range(len(cols) + 1)
            for combo in itertools.combinations(cols.tolist(), k)
            if len(rows) == 0 or cover[np.ix_(rows, list(combo))].sum(axis=1).min(initial=1) > 0
        ]
        return float(min(values))

    forced, rows, cols = reduce_set_cover(sp.csr_array(cover), np.arange(n_rows), np.arange(n_cols), cost)
    assert set(forced.tolist()).isdisjoint(cols.tolist())
    assert cost[forced].sum() + best(rows, cols) == best(np.arange(n_rows), np.arange(n_cols))


def test_capacitated_mclp_hand_checked() -> None:
    # d0, d1, d2 (10 children each) within 1 km of site A; d3 (30 children) at site B. Standard 1 km.
    demand = np.array([[0, 0], [500, 0], [1_000, 0], [5_000, 0]], dtype=float)
    sites = np.array([[500, 0], [5_000, 0]], dtype=float)
    w = np.array([10.0, 10.0, 10.0, 30.0])
    costs = distance_matrix(
        demand, sites, demand_ids=["d0", "d1", "d2", "d3"], site_ids=["A", "B"], cutoff_m=1_000.0, crs="EPSG:32648"
    )
    # Capacity 20: A serves two whole communities; B cannot take d3's 30 (no splitting).
    plan = solve_mclp(costs, w, n_homes=1, capacity=20.0)
    assert plan.objective == 20.0 and plan.new_ids == ("A",) and plan.status == "optimal"
    assert sorted(plan.assignment.values()) == ["A", "A"]
    plan = solve_mclp(costs, w, n_homes=2, capacity=np.array([30.0, 30.0]), solver=SolverOptions(name="highs"))
    assert plan.objective == 60.0 and plan.assignment["d3"] == "B"
    # An existing home is capacitated too; no new home allowed.
    plan = solve_mclp(costs, w, n_homes=0, capacity=20.0, sites=SiteOptions(existing=("B",)))
    assert plan.objective == 0.0 and plan.site_ids == ("B",)
    plan = solve_mclp(
        costs, w, budget_cny=30_000, site_cost_cny=30_000.0, capacity=25.0, sites=SiteOptions(existing=("A",))
    )
    assert plan.objective == 20.0  # A serves two; B (30,000 CNY) cannot take d3's 30 children


def test_bad_capacity_and_rounds_are_refused() -> None:
    xy = np.array([[0.0, 0.0], [1_000.0, 0.0]])
    costs = distance_matrix(xy, xy, demand_ids=["a", "b"], site_ids=["A", "B"], cutoff_m=5_000.0, crs="EPSG:32648")
    w = np.array([1.0, 1.0])
    with pytest.raises(
        InputError, match=r"capacity must be a finite number of children ≥ 0; sites \['B'\] have \[-5.0\]"
    ):
        solve_mclp(costs, w, n_homes=1, capacity=np.array([10.0, -5.0]))
    with pytest.raises(InputError, match="capacity must be a finite number"):
        solve_pmedian(costs, w, p=1, capacity=float("nan"))
    with pytest.raises(InputError, match="max_rounds must be ≥ 1, got 0"):
        solve_pmedian(costs, w, p=1, max_rounds=0)


def test_highs_options_reach_the_solver() -> None:
    model = MatrixModel(
        name="tiny",
        maximise=True,
        cost=np.array([3.0, 2.0]),
        lower=np.zeros(2),
        upper=np.ones(2),
        integer=np.array([True, True]),
        matrix=sp.csr_array(np.array([[1.0, 1.0]])),
        row_lower=np.array([-np.inf]),
        row_upper=np.array([1.0]),
    )
    result, values = solve_matrix_model(model, solver="highs", highs_options={"presolve": "off"})
    assert result.objective == 3.0 and values.tolist() == [1.0, 0.0]
    with pytest.raises(InputError, match="HiGHS refused the option presolve='maybe'"):
        solve_matrix_model(model, solver="highs", highs_options={"presolve": "maybe"})


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 60), st.integers(1, 40))
def test_component_blocks_are_the_fancy_indexed_blocks(seed: int, n_rows: int, n_cols: int) -> None:
    # The blocks cut from one permutation equal cover[rows][:, cols] of each component, entry for entry.
    rng = np.random.default_rng(seed)
    dense = (rng.random((n_rows, n_cols)) < 3 / n_cols) * rng.integers(1, 9, (n_rows, n_cols))
    cover = sp.csr_array(dense)
    n, row_labels, column_labels = coverage_components(cover)
    rows_of, cols_of = members_of(row_labels, n), members_of(column_labels, n)
    pairs = zip(rows_of, cols_of, blocks_of(cover, rows_of, cols_of), strict=True)
    for rows, cols, block in pairs:
        assert block.shape == (len(rows), len(cols))
        assert np.array_equal(block.toarray(), dense[np.ix_(rows, cols)])
