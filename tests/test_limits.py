"""A time limit returns the best plan found, never an exception, and the call ends near the limit (#12 §4).

The instance is hard on purpose: 3,000 points spread evenly, a standard wide enough that the
coverage graph does not fall apart, and models no solver proves in one second.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pytest

from siting.costs import CostMatrix, distance_matrix
from siting.models import Plan, SolverOptions, solve_lscp, solve_mclp, solve_partial_cover, solve_pmedian

LIMIT_S = 1.0
#: The p-median's plan is checked for quality too: its Lagrangian is 29–36 % from its bound after
#: 0.6–0.8 s and 9 % after 1 s on a quiet machine, so a 1 s limit failed whenever the machine
#: was a little slower (23.6 % in one clean-clone CI run). Two seconds leave that margin.
PMEDIAN_LIMIT_S = 2.0
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def hard() -> tuple[CostMatrix, np.ndarray]:
    rng = np.random.default_rng(5)
    xy = rng.uniform(0, 100_000, (3000, 2))
    ids = [f"p{i}" for i in range(len(xy))]
    weights = rng.integers(1, 50, len(xy)).astype(float)
    return distance_matrix(xy, xy, demand_ids=ids, site_ids=ids, cutoff_m=15_000, crs="EPSG:32648"), weights


def timed(call: Callable[[], Plan]) -> tuple[Plan, float]:
    started = time.perf_counter()
    plan = call()
    return plan, time.perf_counter() - started


def assert_honest_stop(plan: Plan, took: float, limit_s: float = LIMIT_S) -> None:
    assert took <= limit_s * 1.1 + 2.0, took
    assert plan.status in ("feasible", "optimal")
    if plan.status == "feasible":
        assert plan.stopped_by and f"time limit {limit_s:g} s" in plan.stopped_by
        assert plan.status_text().startswith("feasible (") and f"time limit {limit_s:g} s" in plan.status_text()


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_pmedian_returns_the_best_plan_it_holds(hard, solver: str) -> None:  # type: ignore[no-untyped-def]
    costs, w = hard
    options = SolverOptions(name=solver, time_limit_s=PMEDIAN_LIMIT_S)
    plan, took = timed(lambda: solve_pmedian(costs, w, p=150, solver=options))
    assert_honest_stop(plan, took, PMEDIAN_LIMIT_S)
    assert len(plan.site_ids) == 150 and plan.bound is not None and plan.bound <= plan.objective
    assert plan.gap is not None and plan.gap < 0.2


def test_capacitated_pmedian_on_cbc_keeps_its_start_plan(hard) -> None:  # type: ignore[no-untyped-def]
    costs, w = hard
    capacity = float(w.sum() / 120)  # 150 homes for 120 homes' worth of children: 25 % to spare
    plan, took = timed(
        lambda: solve_pmedian(
            costs, w, p=150, capacity=capacity, solver=SolverOptions(name="cbc", time_limit_s=LIMIT_S)
        )
    )
    assert_honest_stop(plan, took)
    assert plan.status == "feasible" and len(plan.site_ids) == 150
    loads: dict[str, float] = {}
    assert plan.assignment is not None and len(plan.assignment) == len(w)
    index = {d: i for i, d in enumerate(costs.demand_ids)}
    for demand, site in plan.assignment.items():
        loads[site] = loads.get(site, 0.0) + w[index[demand]]
    assert max(loads.values()) <= capacity + 1e-6


@pytest.mark.parametrize("decompose", [False, True])
def test_mclp_stops_with_a_plan_and_its_bound(hard, decompose: bool) -> None:  # type: ignore[no-untyped-def]
    costs, w = hard
    plan, took = timed(
        lambda: solve_mclp(
            costs,
            w,
            n_homes=60,
            standard=8_000,
            decompose=decompose,
            workers=1,
            solver=SolverOptions(name="cbc", time_limit_s=LIMIT_S),
        )
    )
    assert_honest_stop(plan, took)
    assert plan.n_new == 60 and plan.bound is not None and plan.bound >= plan.objective
    assert plan.gap is not None and plan.gap < 0.3


def test_set_covering_stops_with_a_full_cover(hard) -> None:  # type: ignore[no-untyped-def]
    costs, w = hard
    plan, took = timed(lambda: solve_lscp(costs, standard=6_000, workers=1, solver=SolverOptions(time_limit_s=LIMIT_S)))
    assert_honest_stop(plan, took)
    cover = costs.within(6_000)[:, costs.site_positions(list(plan.site_ids))]
    assert (np.asarray(cover.sum(axis=1)).ravel() > 0).all()  # every coverable point is covered
    assert float(plan.objective).is_integer()  # counts of homes are whole numbers
    share, took = timed(
        lambda: solve_partial_cover(costs, w, share=0.9, standard=6_000, solver=SolverOptions(time_limit_s=LIMIT_S))
    )
    assert_honest_stop(share, took)
