"""Multi-year build plans."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from siting.costs import CostMatrix
from siting.errors import InputError
from siting.phasing import homes_per_year, phase_homes


def cover_matrix(columns: list[list[int]], n_rows: int) -> CostMatrix:
    dense = np.zeros((n_rows, len(columns)))
    for j, rows in enumerate(columns):
        dense[rows, j] = 1.0
    return CostMatrix(
        matrix=sp.csr_array(dense),
        demand_ids=np.array([f"d{i}" for i in range(n_rows)], dtype=object),
        site_ids=np.array([f"s{j}" for j in range(len(columns))], dtype=object),
        unit="m",
        cutoff=1.0,
    )


# Three sites covering disjoint demand worth 10 (s0), 30 (s1) and 20 (s2); one home a year.
THREE = cover_matrix([[0], [1], [2]], 3)
THREE_W = np.array([10.0, 30.0, 20.0])


@pytest.mark.parametrize("method", ["mip", "greedy"])
def test_three_year_known_order(method: str) -> None:
    plan = phase_homes(
        THREE, THREE_W, years=[2018, 2019, 2020], budgets_cny=[1, 1, 1], site_cost_cny=1.0, method=method
    )
    assert plan.build_year == {"s1": 2018, "s2": 2019, "s0": 2020}
    assert plan.covered_by_year == (30.0, 50.0, 60.0)
    assert plan.bound_by_year == (30.0, 50.0, 60.0)
    assert plan.gap_by_year == (0.0, 0.0, 0.0)
    assert plan.table()["homes_built"].tolist() == [1, 1, 1]


def test_carry_over_only_when_asked() -> None:
    strict = phase_homes(THREE, THREE_W, years=[1, 2], budgets_cny=[0.5, 1.5], site_cost_cny=1.0, method="mip")
    assert strict.build_year == {"s1": 2}
    carried = phase_homes(
        THREE, THREE_W, years=[1, 2], budgets_cny=[0.5, 1.5], site_cost_cny=1.0, method="mip", carry_over=True
    )
    assert carried.build_year == {"s1": 2, "s2": 2}
    assert carried.spent_by_year == (0.0, 2.0)


def test_mip_beats_greedy_where_ratios_mislead() -> None:
    # X (cost 2) covers 30; Y (cost 1) covers 16; Z (cost 1) covers 10. One year, budget 2.
    costs = cover_matrix([[0, 1, 2], [3], [4]], 5)
    w = np.array([10.0, 10.0, 10.0, 16.0, 10.0])
    prices = np.array([2.0, 1.0, 1.0])
    greedy = phase_homes(costs, w, years=[2019], budgets_cny=[2], site_cost_cny=prices, method="greedy")
    exact = phase_homes(costs, w, years=[2019], budgets_cny=[2], site_cost_cny=prices, method="mip")
    assert greedy.covered_by_year == (26.0,) and exact.covered_by_year == (30.0,)
    # LP bound: Y whole (16) and half of X (15) = 31 ≥ the optimum 30.
    assert greedy.bound_by_year == (31.0,) and greedy.gap_by_year[0] == pytest.approx(5 / 31)


def test_existing_homes_and_the_source_rounds() -> None:
    plan = phase_homes(THREE, THREE_W, years=[2019], budgets_cny=[1], site_cost_cny=1.0, existing=["s1"])
    assert plan.build_year == {"s2": 2019} and plan.covered_by_year == (50.0,)
    assert homes_per_year([16_000_000, 13_200_000], 30_000) == [533, 440]
    with pytest.raises(InputError, match="one budget per year"):
        phase_homes(THREE, THREE_W, years=[2018, 2019], budgets_cny=[1], site_cost_cny=1.0)
