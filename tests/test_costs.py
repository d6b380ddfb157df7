"""Sparse cost matrices."""

from __future__ import annotations

import numpy as np
import pytest

from siting.costs import distance_matrix
from siting.errors import CRSError, InputError


def test_pairs_within_cutoff_only() -> None:
    demand = np.array([[0.0, 0.0], [3000.0, 4000.0], [100_000.0, 0.0]])
    sites = np.array([[0.0, 0.0], [6000.0, 8000.0]])
    cm = distance_matrix(
        demand, sites, demand_ids=["a", "b", "c"], site_ids=["s", "t"], cutoff_m=5000.0, crs="EPSG:32648"
    )
    dense = cm.matrix.toarray()
    assert cm.nnz == 3
    # a-s distance 0 is stored explicitly; b is 5 km from both sites.
    assert dense[0, 0] == 0.0
    assert cm.within(5000.0).toarray().tolist() == [[1, 0], [1, 1], [0, 0]]
    assert dense[1].tolist() == [5000.0, 5000.0]
    assert cm.unit == "m"


def test_degrees_are_refused() -> None:
    with pytest.raises(CRSError, match="geographic CRS in degrees"):
        distance_matrix(
            np.zeros((1, 2)), np.zeros((1, 2)), demand_ids=["a"], site_ids=["s"], cutoff_m=1.0, crs="EPSG:4326"
        )
    with pytest.raises(CRSError, match="no CRS"):
        distance_matrix(np.zeros((1, 2)), np.zeros((1, 2)), demand_ids=["a"], site_ids=["s"], cutoff_m=1.0, crs=None)


def test_duplicate_ids_are_refused() -> None:
    with pytest.raises(InputError, match="not unique"):
        distance_matrix(
            np.zeros((2, 2)), np.zeros((1, 2)), demand_ids=["a", "a"], site_ids=["s"], cutoff_m=1.0, crs="EPSG:32648"
        )


def test_from_dense_array_keeps_costs_as_given() -> None:
    from siting.costs import cost_matrix_from_array

    dense = np.array([[0.0, 12.5, np.inf], [7.25, np.nan, 30.0]])
    cm = cost_matrix_from_array(dense, demand_ids=["a", "b"], site_ids=["s", "t", "u"], unit="min")
    assert cm.nnz == 4  # the zero is a pair; inf and NaN are not
    assert cm.matrix.toarray()[1, 0] == 7.25
    assert cm.cutoff == 30.0
    assert (
        cost_matrix_from_array(dense, demand_ids=["a", "b"], site_ids=["s", "t", "u"], unit="min", cutoff=10.0).nnz == 2
    )
    with pytest.raises(InputError, match="negative costs"):
        cost_matrix_from_array(np.array([[-1.0]]), demand_ids=["a"], site_ids=["s"], unit="min")


def test_from_sparse_and_table() -> None:
    import pandas as pd
    import scipy.sparse as sp

    from siting.costs import cost_matrix_from_array, cost_matrix_from_table

    sparse = sp.csr_array((np.array([0.0, 4.0]), (np.array([0, 1]), np.array([1, 0]))), shape=(2, 2))
    cm = cost_matrix_from_array(sparse, demand_ids=["a", "b"], site_ids=["s", "t"], unit="m")
    assert cm.nnz == 2 and cm.within(0.0).toarray().tolist() == [[0, 1], [0, 0]]
    table = pd.DataFrame({"demand_id": ["a", "a", "b"], "site_id": ["s", "t", "t"], "cost": [3.3, 9.0, 1.0]})
    cm = cost_matrix_from_table(table, unit="min", site_ids=["s", "t", "u"])
    assert cm.matrix.toarray().tolist() == [[3.3, 9.0, 0.0], [0.0, 1.0, 0.0]]
    assert list(cm.site_ids) == ["s", "t", "u"] and cm.unit == "min"
    with pytest.raises(InputError, match="repeats demand-site pairs at rows \\[2, 3\\]"):
        cost_matrix_from_table(pd.concat([table.iloc[:1], table.iloc[:1]]), unit="min")
    with pytest.raises(InputError, match="lacks columns \\['cost'\\]"):
        cost_matrix_from_table(table.drop(columns="cost"), unit="min")
