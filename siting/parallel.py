"""Run independent parts of a stage: in this process, in a process pool, or on the run's engine.

:func:`map_parts` is the one way a stage hands out parts. Without an engine (or with
the ``local`` one) it starts a process pool on this machine; inside a run on a Dask
engine (:mod:`siting.engine`) the parts go to the cluster, a large input shared by all
parts goes to each worker once (scattered), and no pool is started inside a worker.
"""

from __future__ import annotations

import ctypes
import os
import signal
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Any, TypeVar

from tqdm.auto import tqdm

from siting.engine import cluster_workers, current_engine
from siting.errors import EngineError, SitingError

__all__ = ["Workers", "default_workers", "map_parts", "worker_count"]

#: Where a stage's parts run: a number of local worker processes (None: the CPUs available,
#: or the run's engine), or a :class:`concurrent.futures.Executor` (a Dask ``ClientExecutor``,
#: a process or thread pool) to hand them to.
Workers = int | Executor | None

T = TypeVar("T")
R = TypeVar("R")

#: Set in a process that runs parts for an engine: parts never start a pool of their own there.
_INSIDE_PART = False
_NO_SHARED = object()
_shared: Any = _NO_SHARED


def default_workers() -> int:
    """Workers to use: the run's engine's, else the CPUs this process may run on (1 inside a worker running a part)."""
    if _INSIDE_PART:
        return 1
    engine = current_engine()
    if engine is not None:
        return max(1, engine.workers)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def worker_count(workers: Workers) -> int:
    """How many parts can run at once with ``workers`` (an executor's workers, or the number given)."""
    if workers is None:
        return default_workers()
    if isinstance(workers, Executor):
        client = getattr(workers, "_client", None)
        if client is not None:
            return max(1, cluster_workers(client))
        return max(1, int(getattr(workers, "_max_workers", 1)))
    return max(1, int(workers))


def die_with_parent(parent_pid: int | None = None) -> None:
    """Ask Linux to kill this process when its parent dies (SIGKILL by the OOM killer or a batch scheduler).

    With ``parent_pid``, a parent that died before the request took effect ends this process at once.
    Elsewhere than Linux nothing is done.
    """
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)


def _keep_shared(has_shared: bool, value: Any, parent_pid: int) -> None:
    """Process-pool initialiser: end with the run, and keep the stage's shared input in this worker."""
    global _shared, _INSIDE_PART
    die_with_parent(parent_pid)  # no worker outlives a killed run (they held 270-480 MB each, idle, forever)
    _shared, _INSIDE_PART = (value if has_shared else _NO_SHARED), True


def _pool_part(function: Callable[..., R], part: Any) -> R:
    """One part in a pool worker, with the shared input kept there (if any)."""
    return function(part) if _shared is _NO_SHARED else function(part, _shared)


def _engine_part(function: Callable[..., R], part: Any, has_shared: bool, shared: Any) -> R:
    """One part on an engine's worker: no pool inside it; the shared input arrives resolved."""
    global _INSIDE_PART
    _INSIDE_PART = True
    return function(part, shared) if has_shared else function(part)


def _engine_batch(function: Callable[..., R], batch: Sequence[Any], has_shared: bool, shared: Any) -> list[R]:
    """Several small parts in one task (a task costs the scheduler milliseconds; a part may take less)."""
    return [_engine_part(function, part, has_shared, shared) for part in batch]


#: More parts than this go to an executor in batches of about a quarter of a worker's share,
#: as :class:`~concurrent.futures.ProcessPoolExecutor` gets them (``chunksize``).
BATCH_ABOVE_PARTS = 256


def _batches(n_parts: int, n_workers: int) -> list[range]:
    """Consecutive ranges of part positions: one a part up to ``BATCH_ABOVE_PARTS``, else about 4 a worker."""
    size = 1 if n_parts <= BATCH_ABOVE_PARTS else max(1, n_parts // (4 * max(n_workers, 1)))
    return [range(k, min(k + size, n_parts)) for k in range(0, n_parts, size)]


#: On a Dask cluster a task costs the scheduler and the client milliseconds of CPU (at 60,803
#: communities the MCLP rounds sent about 3,600 tasks, 13 s of CPU in the scheduler's thread
#: beside two workers on two cores): parts go in at most this many tasks a worker.
DASK_TASKS_PER_WORKER = 8


def _dask_batches(n_parts: int, n_workers: int) -> list[range]:
    """Every ``n``-th part position from ``k``, ``k = 0 .. n - 1``, ``n`` at most ``DASK_TASKS_PER_WORKER`` a worker.

    Strided, not consecutive: the models send their parts largest first, so each task gets
    its share of large and small ones and no worker is left with the largest few at the end.
    """
    tasks = min(n_parts, DASK_TASKS_PER_WORKER * max(n_workers, 1))
    return [range(k, n_parts, tasks) for k in range(tasks)]


def _which(batch: range) -> str:
    """The part numbers of a batch, counted from 1, for an error."""
    if len(batch) == 1:
        return f"{batch.start + 1}"
    if batch.step == 1:
        return f"{batch.start + 1}–{batch.stop}"
    return f"{batch.start + 1}, {batch.start + 1 + batch.step}, … (every {batch.step}th, {len(batch)} parts)"


def map_parts(
    function: Callable[..., R],
    parts: Sequence[T],
    *,
    workers: Workers = None,
    shared: Any = _NO_SHARED,
    what: str = "part",
    on_result: Callable[[R], None] | None = None,
) -> list[R]:
    """``[function(p) for p in parts]`` (or ``function(p, shared)``), in order, on the run's workers.

    Parameters
    ----------
    function
        A module-level function (it is sent to other processes by name).
    parts
        The parts; results come back in their order whatever the engine.
    workers
        Worker processes for a local pool (default: the run's engine, else the CPUs
        available; 1 runs the parts here, even inside a run on a cluster), or a
        :class:`concurrent.futures.Executor` to hand them to (Dask's ``ClientExecutor``
        is recognised: shared inputs are scattered to its workers once).
    shared
        A large input every part needs (a travel grid): handed to each worker once,
        then passed as ``function``'s second argument.
    what
        What a part is, for the progress bar and errors (``"travel window"``).
    on_result
        Called with each result as it comes in, in the parts' order (a sweep reports
        each finished variant).
    """
    engine = current_engine()
    has_shared = shared is not _NO_SHARED
    if not has_shared:
        shared = None
    executor = workers if isinstance(workers, Executor) else None
    if executor is None and engine is not None and workers != 1 and len(parts) > 1 and not _INSIDE_PART:
        executor = engine.executor
    if executor is not None and len(parts) > 0:
        progress = bool(engine and engine.progress)
        return _on_executor(function, parts, executor, has_shared, shared, what, progress=progress, on_result=on_result)
    n_workers = worker_count(workers)
    if n_workers <= 1 or len(parts) <= 1:
        coming: Iterator[R] = (function(p, shared) if has_shared else function(p) for p in parts)
        return _collected(coming, on_result)
    with ProcessPoolExecutor(
        max_workers=min(n_workers, len(parts)),
        initializer=_keep_shared,
        initargs=(has_shared, shared, os.getpid()),
    ) as pool:
        # One part per task while there are few (parts differ a lot in size); batches when there are many.
        chunksize = 1 if len(parts) <= 256 else len(parts) // (4 * n_workers)
        functions = [function] * len(parts)
        return _collected(pool.map(_pool_part, functions, parts, chunksize=chunksize), on_result)


def _collected(results: Iterator[R], on_result: Callable[[R], None] | None) -> list[R]:
    """The results in order, each handed to ``on_result`` as it comes in."""
    out = []
    for result in results:
        out.append(result)
        if on_result is not None:
            on_result(result)
    return out


def _on_executor(
    function: Callable[..., R],
    parts: Sequence[T],
    executor: Executor,
    has_shared: bool,
    shared: Any,
    what: str,
    *,
    progress: bool,
    on_result: Callable[[R], None] | None,
) -> list[R]:
    """Submit every part, one bar for all of them; a failed part stops the stage with one line naming it."""
    client = getattr(executor, "_client", None)  # Dask's ClientExecutor
    batches = (_dask_batches if client is not None else _batches)(len(parts), worker_count(executor))
    if client is not None:
        if has_shared:
            shared = _scattered(client, shared)
        stage = uuid.uuid4().hex[:12]
        futures = [
            client.submit(
                _engine_batch,
                function,
                [parts[k] for k in batch],
                has_shared,
                shared,
                pure=False,
                retries=1,
                key=f"{what}-{stage}-{batch.start}",
            )
            for batch in batches
        ]
    else:
        futures = [
            executor.submit(_engine_batch, function, [parts[k] for k in batch], has_shared, shared) for batch in batches
        ]
    results: list[Any] = [None] * len(parts)
    handed = 0  # results before this position went to on_result, in the parts' order
    ready = [False] * len(parts)
    with tqdm(total=len(parts), desc=f"{what}s", unit=what, disable=not progress, leave=False) as bar:
        for batch, future in zip(batches, futures, strict=True):
            try:
                done = future.result()
            except SitingError:
                _cancel(futures)
                raise
            except Exception as error:
                _cancel(futures)
                raise EngineError(
                    f"{what} {_which(batch)} of {len(parts)} failed on the engine: {type(error).__name__}: {error}; "
                    "nothing was written (rerun, or use the engine 'local')"
                ) from None
            for k, result in zip(batch, done, strict=True):
                results[k], ready[k] = result, True
            bar.update(len(batch))
            while handed < len(parts) and ready[handed]:
                if on_result is not None:
                    on_result(results[handed])
                handed += 1
    return results


def _scattered(client: Any, shared: Any) -> Any:
    """``shared`` on every worker of ``client``, sent once: again for the same object, the same future.

    Scattered as one object (a tuple or list would otherwise become one future per element,
    and every task would wait on all of them). The last object sent is remembered on the
    client, so the rounds of one model, which pass the same parts each round, send them once.
    """
    last = getattr(client, "_siting_last_scattered", None)
    if last is not None and last[0] is shared:
        return last[1]
    [future] = client.scatter([shared], broadcast=True, hash=False)
    client._siting_last_scattered = (shared, future)
    return future


def _cancel(futures: list[Any]) -> None:
    for future in futures:
        future.cancel()
