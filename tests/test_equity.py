"""Who is left out: bands that add up, priority groups against all children, Gini of access (hand-checked)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from siting.report.equity import access_bands, band_columns, gini, gini_by_unit, group_equity, lorenz_points


def demand() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "community_code": ["a", "b", "c", "d"],
            "township_code": ["t1", "t1", "t2", "t2"],
            "county_code": ["k1", "k1", "k1", "k1"],
            "prefecture_code": ["p1", "p1", "p1", "p1"],
            "province_code": ["x", "x", "x", "x"],
            "children": [10.0, 20.0, 30.0, 40.0],
            "left_behind": [1.0, 2.0, 3.0, 4.0],
        }
    )


COST_M = np.array([500.0, 2000.0, 3000.0, np.nan])  # the last community has no home known


def test_bands_add_up_and_a_cost_on_an_edge_falls_in_the_lower_band() -> None:
    tables = access_bands(demand(), COST_M, unit="m", groups=["left_behind"])
    assert band_columns((1, 3, 5, 10), "m") == [
        "children_0_1_km",
        "children_1_3_km",
        "children_3_5_km",
        "children_5_10_km",
        "children_over_10_km",
    ]
    town = tables["township"].set_index("unit_code")
    assert town.loc["t1", ["children_0_1_km", "children_1_3_km"]].tolist() == [10.0, 20.0]
    assert town.loc["t2", ["children_1_3_km", "children_over_10_km"]].tolist() == [30.0, 40.0]  # 3 km is 1–3
    province = tables["province"].iloc[0]
    bands = band_columns((1, 3, 5, 10), "m")
    assert province[bands].sum() == province["children"] == 100.0
    assert province[band_columns((1, 3, 5, 10), "m", prefix="left_behind")].tolist() == [1.0, 5.0, 0.0, 0.0, 4.0]


def test_minutes_take_their_own_bands() -> None:
    tables = access_bands(demand(), np.array([10.0, 15.0, 61.0, 200.0]), unit="min")
    row = tables["province"].iloc[0]
    assert row[band_columns((15, 30, 60, 120), "min")].tolist() == [30.0, 0.0, 0.0, 30.0, 40.0]


def test_priority_groups_against_all_children() -> None:
    table = group_equity(demand(), COST_M, standard=2500.0, groups=["left_behind"]).set_index("group")
    assert table.loc["children", "beyond_standard_pct"] == pytest.approx(70.0)  # 30 beyond 2.5 km, 40 unknown
    assert table.loc["children", "cost_mean"] == pytest.approx((500 * 10 + 2000 * 20 + 3000 * 30) / 60)
    assert table.loc["children", "cost_p90"] == 3000.0
    assert table.loc["left_behind", "beyond_standard_pct"] == pytest.approx(70.0)
    assert table.loc["left_behind", "cost_mean"] == pytest.approx((500 + 4000 + 9000) / 6)


def test_gini_of_access() -> None:
    weights = np.ones(4)
    assert gini(np.full(4, 7.0), weights) == pytest.approx(0.0)  # everyone equally far
    assert gini(np.array([0.0, 0.0, 0.0, 10.0]), weights) == pytest.approx(0.75)  # one bears it all: 1 - 1/n
    assert gini(np.array([1.0, 2.0, 3.0, 4.0]), weights) == pytest.approx(0.25)  # mean abs difference / 2 mean
    x, y = lorenz_points(np.array([1.0, 2.0, 3.0, 4.0]), weights)
    assert x.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0] and y.tolist() == [0.0, 0.1, 0.3, 0.6, 1.0]
    table = gini_by_unit(demand(), np.array([1.0, 1.0, 1.0, 1.0]), level="prefecture")
    assert table["gini"].tolist() == [pytest.approx(0.0)] and table["children"].tolist() == [100.0]
