"""Where the partitioned stages run: this machine's process pool, or a Dask cluster.

A run opens one :class:`Engine` and every partitioned stage (zonal sums by raster
strips, travel-time windows, coverage components and county or township parts of the
models) hands its parts to it through :func:`siting.parallel.map_parts`:

* ``local`` (default) or ``local:N``: a process pool on this machine per stage, as
  without an engine (no new dependency);
* ``dask-local`` or ``dask-local:N``: starts a :class:`distributed.LocalCluster` with N
  worker processes for the run (and prints its dashboard address);
* ``dask://HOST:PORT``: connects to a running Dask scheduler (``dask scheduler`` and
  ``dask worker tcp://HOST:PORT`` on the machines, or a cluster from ``dask-jobqueue``
  on Slurm or ``dask-kubernetes``).

Dask is the optional extra ``siting[dask]``. The plan does not depend on the engine:
parts are independent and their results come back in order.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from siting.errors import InputError

__all__ = ["Engine", "EngineSpec", "cluster_workers", "current_engine", "open_engine", "using_engine"]

log = logging.getLogger(__name__)

_FORMS = "'local', 'local:N', 'dask-local', 'dask-local:N' or 'dask://HOST:PORT'"
_current: contextvars.ContextVar[Engine | None] = contextvars.ContextVar("siting_engine", default=None)


@dataclass(frozen=True)
class EngineSpec:
    """Which engine a run asks for, parsed from its text form (``[engine] use`` or ``--engine``).

    Attributes
    ----------
    kind
        ``"local"``, ``"dask-local"`` or ``"dask"``.
    workers
        Worker processes asked for (None: the CPUs available, or the cluster's own).
    address
        The scheduler's address for ``dask`` (``tcp://HOST:PORT``).
    """

    kind: str
    workers: int | None = None
    address: str | None = None

    @classmethod
    def parse(cls, text: str) -> EngineSpec:
        """Read ``local[:N]``, ``dask-local[:N]`` or ``dask://HOST:PORT``; anything else is refused."""
        if not isinstance(text, str):
            raise InputError(f"engine must be text such as 'dask-local:2', got {text!r}; use {_FORMS}")
        value = text.strip()
        local = re.fullmatch(r"(local|dask-local)(?::(\d+))?", value)
        if local:
            workers = None if local.group(2) is None else int(local.group(2))
            if workers is not None and workers < 1:
                raise InputError(f"engine {text!r} asks for {workers} workers; give at least 1 (e.g. 'dask-local:2')")
            cpus = os.cpu_count() or 1
            if workers is not None and workers > cpus:
                raise InputError(
                    f"engine {text!r} asks for {workers:,} workers but this machine has {cpus} CPUs; give at most "
                    f"{cpus} (e.g. '{local.group(1)}:{cpus}'), or a dask:// cluster for more"
                )
            return cls(kind=local.group(1), workers=workers)
        remote = re.fullmatch(r"(?:dask|tcp)://([A-Za-z0-9_.\-]+|\[[0-9A-Fa-f:]+\]):(\d{1,5})", value)
        if remote and 0 < int(remote.group(2)) < 65536:
            return cls(kind="dask", address=f"tcp://{remote.group(1)}:{remote.group(2)}")
        raise InputError(f"engine {text!r} is not one of {_FORMS}")

    def __str__(self) -> str:
        if self.kind == "dask":
            return f"dask://{(self.address or '').removeprefix('tcp://')}"
        return self.kind if self.workers is None else f"{self.kind}:{self.workers}"


@dataclass(frozen=True)
class Engine:
    """An open engine: the executor the stages hand their parts to.

    Attributes
    ----------
    spec
        What was asked for.
    workers
        Worker processes it has (for a cluster: when it was opened).
    executor
        A standard :class:`concurrent.futures.Executor` (Dask's ``ClientExecutor``), or
        None for ``local``: each stage then starts its own process pool.
    dashboard
        The Dask dashboard's address, when there is one.
    progress
        Show one bar per stage for all its parts.
    """

    spec: EngineSpec
    workers: int
    executor: Executor | None = None
    dashboard: str | None = None
    progress: bool = False

    def record(self) -> dict[str, object]:
        """What ``run.json`` keeps of the engine."""
        return {"engine": str(self.spec), "workers": self.workers, "dashboard": self.dashboard}


def cluster_workers(client: Any) -> int:
    """How many workers a Dask client's scheduler has now."""
    return len(client.scheduler_info().get("workers", {}))


#: Seconds to connect to a remote scheduler and complete its handshake, and to wait for its first worker.
CONNECT_S = 20.0
WORKERS_S = 15.0


def _connect(distributed: Any, address: str, spec: EngineSpec) -> Any:
    """A client of the scheduler at ``address``, or one line saying what was found there instead.

    The connection runs in a daemon thread bounded by :data:`CONNECT_S`: a port that accepts and
    never answers would otherwise hang past any timeout of the client's own; anything else that
    answers (a web server makes the client read a 3 EiB frame length) is refused by name; a
    scheduler with no worker is refused after :data:`WORKERS_S` instead of a task timeout later.
    """
    outcome: dict[str, Any] = {}

    def attempt() -> None:
        try:
            outcome["client"] = distributed.Client(address, timeout=f"{CONNECT_S:g}s")
        except BaseException as error:  # reported below as one line, whatever the client raised
            outcome["error"] = error

    thread = threading.Thread(target=attempt, name="siting-dask-connect", daemon=True)
    thread.start()
    thread.join(CONNECT_S + 5)
    if thread.is_alive():
        raise InputError(
            f"engine {spec}: {address} accepted the connection but gave no Dask handshake within "
            f"{CONNECT_S + 5:g} s; is a Dask scheduler listening there (dask scheduler --port PORT)?"
        )
    if "error" in outcome:
        error = outcome["error"]
        if isinstance(error, OSError):
            raise error
        raise InputError(
            f"engine {spec}: what answers at {address} is not a Dask scheduler ({type(error).__name__}: "
            f"{str(error)[:120]}); give the scheduler's address (dask scheduler prints it)"
        )
    client = outcome["client"]
    if cluster_workers(client) == 0:
        try:
            client.wait_for_workers(1, timeout=WORKERS_S)
        except Exception:
            client.close()
            raise InputError(
                f"engine {spec}: the Dask scheduler at {address} has no worker (waited {WORKERS_S:g} s); start "
                f"some with 'dask worker {address}'"
            ) from None
    return client


def _dask() -> Any:
    try:
        import distributed
    except ImportError:
        raise InputError(
            "a Dask engine needs the optional extra: pip install 'siting[dask]' (dask and distributed), "
            "or use the engine 'local'"
        ) from None
    return distributed


@contextmanager
def open_engine(spec: EngineSpec | str, *, progress: bool = False) -> Iterator[Engine]:
    """Open the engine for a run (start or connect to the cluster) and close it afterwards.

    Parameters
    ----------
    spec
        An :class:`EngineSpec` or its text form.
    progress
        Show one bar per stage for all its parts.
    """
    from siting.parallel import default_workers

    spec = EngineSpec.parse(spec) if isinstance(spec, str) else spec
    if spec.kind == "local":
        yield Engine(spec=spec, workers=spec.workers or default_workers(), progress=progress)
        return
    distributed = _dask()
    import dask

    cluster = None
    scratch = None
    settings = contextlib.ExitStack()
    try:
        if spec.kind == "dask-local":
            n_workers = spec.workers or default_workers()
            # The workers' dask-scratch-space goes in a folder of the run's own, removed with the cluster.
            scratch = tempfile.mkdtemp(prefix="siting-dask-")
            settings.enter_context(dask.config.set({"temporary-directory": scratch}))  # the scheduler's too
            cluster = distributed.LocalCluster(
                n_workers=n_workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
                local_directory=scratch,
            )
            client = distributed.Client(cluster)
        else:
            client = _connect(distributed, str(spec.address), spec)
    except OSError as error:
        if cluster is not None:
            cluster.close()
        settings.close()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        raise InputError(
            f"engine {spec}: could not reach the Dask scheduler ({error}); start one with "
            "'dask scheduler' and 'dask worker tcp://HOST:PORT', or use 'dask-local:N'"
        ) from None
    try:
        workers = cluster_workers(client)
        dashboard = client.dashboard_link if cluster is not None else None
        if dashboard:
            log.info("Dask dashboard: %s", dashboard)
            if progress:
                print(f"Dask dashboard: {dashboard}", file=sys.stderr, flush=True)
        yield Engine(
            spec=spec,
            workers=workers,
            executor=client.get_executor(pure=False),
            dashboard=dashboard,
            progress=progress,
        )
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
        settings.close()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


@contextmanager
def using_engine(engine: Engine | None) -> Iterator[Engine | None]:
    """Make ``engine`` the one :func:`siting.parallel.map_parts` uses inside the block."""
    token = _current.set(engine)
    try:
        yield engine
    finally:
        _current.reset(token)


def current_engine() -> Engine | None:
    """The engine of the run in progress (None outside a run: each stage uses its own pool)."""
    return _current.get()
