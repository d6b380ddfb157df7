"""Split covering problems into independent parts and solve the parts in worker processes.

Two demand points interact only through sites that can serve both, so the
connected components of the bipartite coverage graph (demand ↔ sites within
the standard) are independent problems. Their optima add up to the optimum of
the whole when nothing couples them (set covering); a province-wide budget
couples them, which :mod:`siting.models.knapsack` handles.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from siting.parallel import default_workers, map_parts

__all__ = ["coverage_components", "default_workers", "map_parts", "members_of"]


def coverage_components(cover: sp.csr_array) -> tuple[int, np.ndarray, np.ndarray]:
    """Connected components of the bipartite graph rows ↔ columns of ``cover``.

    Returns
    -------
    tuple
        ``(n_components, row_labels, column_labels)``.
    """
    n_rows = cover.shape[0]
    a = sp.csr_array(cover).astype(np.int8)
    graph: Any = sp.block_array([[None, a], [a.T, None]], format="csr")
    n, labels = connected_components(graph, directed=False)
    return int(n), labels[:n_rows], labels[n_rows:]


def members_of(labels: np.ndarray, n_labels: int) -> list[np.ndarray]:
    """The indices holding each label ``0 .. n_labels - 1``, ascending: one sort, not one scan per label.

    >>> [m.tolist() for m in members_of(np.array([1, 0, 1, 2]), 4)]
    [[1], [0, 2], [3], []]
    """
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(n_labels + 1))
    return [order[bounds[k] : bounds[k + 1]] for k in range(n_labels)]
