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
  on Slurm or ``dask-kubernetes``); ``tls://HOST:PORT`` does so encrypted and
  authenticated, with certificates from the scenario (``[engine] tls_ca_file``,
  ``tls_cert``, ``tls_key``) or Dask's configuration (``DASK_DISTRIBUTED__COMM__TLS__*``).

A client trades pickled objects with its scheduler: running one means running what it sends.
Plain TCP to another machine is therefore warned about, in one line.

Dask is the optional extra ``siting[dask]``. The plan does not depend on the engine:
parts are independent and their results come back in order.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from siting.errors import InputError, SitingWarning

__all__ = ["Engine", "EngineSpec", "cluster_workers", "current_engine", "open_engine", "using_engine"]

log = logging.getLogger(__name__)

_FORMS = "'local', 'local:N', 'dask-local', 'dask-local:N', 'dask://HOST:PORT' or 'tls://HOST:PORT'"
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
    #: TLS: the CA file and this client's certificate and key (paths or PEM text; None: Dask's configuration).
    tls_ca_file: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None

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
        remote = re.fullmatch(r"(dask|tcp|tls)://([A-Za-z0-9_.\-]+|\[[0-9A-Fa-f:]+\]):(\d{1,5})", value)
        if remote and 0 < int(remote.group(3)) < 65536:
            scheme = "tls" if remote.group(1) == "tls" else "tcp"
            return cls(kind="dask", address=f"{scheme}://{remote.group(2)}:{remote.group(3)}")
        raise InputError(f"engine {text!r} is not one of {_FORMS}")

    def __str__(self) -> str:
        if self.kind == "dask":
            address = self.address or ""
            return address if address.startswith("tls://") else f"dask://{address.removeprefix('tcp://')}"
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
    security = _security(distributed, address, spec)

    def attempt() -> None:
        try:
            outcome["client"] = distributed.Client(address, timeout=f"{CONNECT_S:g}s", security=security)
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


def is_this_machine(host: str) -> bool:
    """Whether ``host`` names this machine (loopback, its own name, or one of its addresses)."""
    import ipaddress
    import socket

    name = host.strip("[]")
    if name in ("localhost", socket.gethostname(), socket.getfqdn()):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback or name in _own_addresses()
    except ValueError:  # a host name: what it resolves to
        try:
            resolved = {str(info[4][0]) for info in socket.getaddrinfo(name, None)}
        except OSError:
            return False
        return any(ipaddress.ip_address(a).is_loopback or a in _own_addresses() for a in resolved)


def _own_addresses() -> set[str]:
    import socket

    try:
        return {str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None)}
    except OSError:
        return set()


def _security(distributed: Any, address: str, spec: EngineSpec) -> Any:
    """The Dask ``Security`` of a ``tls://`` address (refused without a CA), or None with a warning for plain TCP
    to another machine."""
    host = address.split("://", 1)[1].rsplit(":", 1)[0]
    if address.startswith("tcp://"):
        if not is_this_machine(host):
            warnings.warn(
                f"engine {spec}: plain TCP to {host}, another machine: this client and that scheduler trade pickled "
                "objects unencrypted and unauthenticated; use tls://HOST:PORT with certificates",
                SitingWarning,
                stacklevel=4,
            )
        return None
    given = {
        k: v
        for k, v in (
            ("tls_ca_file", spec.tls_ca_file),
            ("tls_client_cert", spec.tls_cert),
            ("tls_client_key", spec.tls_key),
        )
        if v
    }
    security = distributed.security.Security(require_encryption=True, **given)
    if not security.tls_ca_file:
        raise InputError(
            f"engine {spec}: tls:// needs the cluster's CA certificate: give [engine] tls_ca_file (and tls_cert, "
            "tls_key for this client), or set DASK_DISTRIBUTED__COMM__TLS__CA_FILE and its client keys"
        )
    return security


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
def open_engine(
    spec: EngineSpec | str,
    *,
    progress: bool = False,
    tls: tuple[str | None, str | None, str | None] = (None, None, None),
) -> Iterator[Engine]:
    """Open the engine for a run (start or connect to the cluster) and close it afterwards.

    Parameters
    ----------
    spec
        An :class:`EngineSpec` or its text form.
    progress
        Show one bar per stage for all its parts.
    tls
        The CA file, this client's certificate and key for a ``tls://`` scheduler (paths or PEM text).
    """
    from siting.parallel import default_workers

    spec = EngineSpec.parse(spec) if isinstance(spec, str) else spec
    if any(tls):
        spec = dataclasses.replace(spec, tls_ca_file=tls[0], tls_cert=tls[1], tls_key=tls[2])
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
