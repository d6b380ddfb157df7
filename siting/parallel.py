"""Run independent pieces of work in worker processes (the CPUs this process may use)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

__all__ = ["default_workers", "map_parts"]

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    """Worker processes to use: the CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def map_parts(
    function: Callable[[T], R],
    parts: Sequence[T],
    *,
    workers: int | None = None,
    initializer: Callable[..., None] | None = None,
    initargs: tuple[Any, ...] = (),
) -> list[R]:
    """``[function(p) for p in parts]``, in worker processes when there are several parts and workers.

    ``initializer(*initargs)`` runs once in each worker (and once here when the
    parts run in this process): the way to hand every worker a large shared input
    (a travel grid) once instead of with every part.
    """
    workers = default_workers() if workers is None else workers
    if workers <= 1 or len(parts) <= 1:
        if initializer is not None:
            initializer(*initargs)
        return [function(p) for p in parts]
    with ProcessPoolExecutor(max_workers=min(workers, len(parts)), initializer=initializer, initargs=initargs) as pool:
        # One part per task while there are few (parts differ a lot in size); batches when there are many.
        chunksize = 1 if len(parts) <= 256 else len(parts) // (4 * workers)
        return list(pool.map(function, parts, chunksize=chunksize))
