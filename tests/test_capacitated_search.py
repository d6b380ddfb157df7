"""The capacitated p-median: a Lagrangian start and swaps give a plan worth having at a short limit, with a bound."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.capacitated import instance, textbook_row
from siting.models.capacitated import capacitated_start
from siting.models.options import SiteOptions, SolverOptions
from siting.models.pmedian import solve_pmedian
from siting.models.pmedian_model import sorted_pairs
from siting.models.sites import resolve_sites


def start_cost(costs, w, cap, p):  # type: ignore[no-untyped-def]
    """The constructive start's cost (what a stopped solve returned before the search)."""
    pairs = sorted_pairs(costs, np.ones(len(w), dtype=bool))
    rules = resolve_sites(costs, SiteOptions(), site_cost_cny=0.0)
    start = capacitated_start(pairs, w, p, rules, cap)
    assert start is not None
    z = start[len(w) :] > 0.5
    return float((w[pairs.demand][pairs.rows[z]] * pairs.cost[z]).sum())


def test_the_proven_optimum_equals_the_textbook_model() -> None:
    costs, w, cap = instance(24, 4, 0.85, seed=3)
    ours = solve_pmedian(costs, w, p=4, capacity=cap, solver=SolverOptions(time_limit_s=None))
    theirs = textbook_row(costs, w, cap, 4, 120.0)
    assert ours.status == "optimal" and theirs["status"] == "Optimal"
    assert ours.objective == pytest.approx(theirs["objective"], rel=1e-6)


@pytest.mark.parametrize("solver", ["cbc", "highs"])
def test_a_one_second_plan_beats_the_start_and_carries_a_bound(solver: str) -> None:
    costs, w, cap = instance(300, 25, 0.85, seed=1)
    plan = solve_pmedian(costs, w, p=25, capacity=cap, solver=SolverOptions(name=solver, time_limit_s=1.0))
    assert len(plan.site_ids) == 25
    assert plan.objective < start_cost(costs, w, cap, 25)
    # The bound is the uncapacitated relaxation's at least: far above each point's cheapest pair (about 0 here).
    assert plan.bound is not None and 0.5 * plan.objective < plan.bound <= plan.objective


def test_a_stopped_capacitated_mclp_keeps_a_greedy_plan_not_an_empty_one() -> None:
    from siting.models.mclp import solve_mclp

    # 800 points: CBC cannot finish in 1 s. The start used to open nothing (0 children covered at a stop).
    costs, w, cap = instance(800, 80, 0.8, seed=2)
    plan = solve_mclp(costs, w, n_homes=60, capacity=cap, standard=15.0, solver=SolverOptions(time_limit_s=1.0))
    assert plan.status == "feasible" and len(plan.new_ids) <= 60
    # Each of 60 homes of capacity ~60 children-weight can take at most its capacity: the plan is a real one.
    assert 0.5 * min(60 * cap[0], w.sum()) < plan.objective <= plan.bound


@pytest.mark.parametrize(("number", "solver"), [(1, "cbc"), (4, "highs"), (11, "cbc")])
def test_published_pmedcap1_optima_are_reached_and_proven(number: int, solver: str) -> None:
    """OR-Library's pmedcap1 (Osman & Christofides 1994): #1 713, #4 651 (50 points, p 5), #11 1,006 (100, p 10)."""
    from benchmarks.pmedcap import costs_of, read_instances

    published = next(i for i in read_instances() if i["number"] == number)
    costs, demand, capacity = costs_of(published)
    plan = solve_pmedian(
        costs, demand, p=published["p"], capacity=capacity, solver=SolverOptions(name=solver, time_limit_s=120)
    )
    assert plan.status == "optimal"
    assert plan.objective == pytest.approx(published["optimum"], abs=0.01)  # 1e-6 a pair keeps zero distances stored
    assert len(plan.site_ids) == published["p"]
