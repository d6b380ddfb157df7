"""Split covering problems into independent parts and solve the parts in worker processes.

Two demand points interact only through sites that can serve both, so the
connected components of the bipartite coverage graph (demand ↔ sites within
the standard) are independent problems. Their optima add up to the optimum of
the whole when nothing couples them (set covering); a province-wide budget
couples them, which :mod:`siting.models.knapsack` handles.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

__all__ = ["coverage_components", "default_workers", "map_parts"]

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    """Worker processes to use: the CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


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


def map_parts(function: Callable[[T], R], parts: Sequence[T], *, workers: int | None = None) -> list[R]:
    """``[function(p) for p in parts]``, in worker processes when there are several parts and workers."""
    workers = default_workers() if workers is None else workers
    if workers <= 1 or len(parts) <= 1:
        return [function(p) for p in parts]
    with ProcessPoolExecutor(max_workers=min(workers, len(parts))) as pool:
        # One part per task while there are few (parts differ a lot in size); batches when there are many.
        chunksize = 1 if len(parts) <= 256 else len(parts) // (4 * workers)
        return list(pool.map(function, parts, chunksize=chunksize))
