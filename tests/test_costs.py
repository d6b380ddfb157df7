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
