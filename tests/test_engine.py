"""Engines: the same plan on a real 2-worker Dask LocalCluster as in the process pool; specs; failures."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from siting import parallel
from siting.engine import EngineSpec, open_engine, using_engine
from siting.errors import EngineError, InputError
from siting.parallel import default_workers, map_parts
from siting.scenario import load_scenario

REPO = Path(__file__).resolve().parents[1]
#: Four counties of Kunming (五华, 盘龙, 官渡, 西山) and 富民: small, several travel windows and model parts.
COUNTIES = ("530102", "530103", "530111", "530112", "530124")

distributed = pytest.importorskip("distributed")


def test_engine_specs_read_and_refused() -> None:
    assert EngineSpec.parse("local") == EngineSpec("local")
    assert EngineSpec.parse("dask-local:2") == EngineSpec("dask-local", workers=2)
    assert EngineSpec.parse("dask://10.1.2.3:8786") == EngineSpec("dask", address="tcp://10.1.2.3:8786")
    assert str(EngineSpec.parse("dask://scheduler.example:8786")) == "dask://scheduler.example:8786"
    for bad in ("dask-lokal", "dask-local:0", "dask://host", "dask://host:99999", "spark://host:7077"):
        with pytest.raises(InputError, match="engine"):
            EngineSpec.parse(bad)
    # 100,000 workers grew to 1.3 GB and stuck: refused in one line, with the machine's CPUs.
    with pytest.raises(InputError, match=r"asks for 100,000 workers but this machine has \d+ CPUs; give at most"):
        EngineSpec.parse("dask-local:100000")


def test_an_unreachable_scheduler_is_one_clear_error() -> None:
    with (
        pytest.raises(InputError, match=r"could not reach the Dask scheduler.*dask scheduler"),
        open_engine("dask://127.0.0.1:9"),
    ):
        pass


def _plus_sum(k: int, shared: tuple[int, ...]) -> int:
    return k + sum(shared)


def _square_plus(part: int, shared: int) -> tuple[int, int]:
    return part * part + shared, default_workers()


def _dies_on_two(part: int) -> int:
    if part == 2:
        os._exit(3)  # the worker process dies mid-part
    return part


@pytest.mark.slow
def test_parts_on_a_connected_cluster_come_back_in_order_and_a_dead_worker_stops_the_stage() -> None:
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
        address = cluster.scheduler_address.removeprefix("tcp://")
        with open_engine(f"dask://{address}") as engine, using_engine(engine):
            assert engine.workers == 2
            results = map_parts(_square_plus, list(range(8)), shared=100)
            # In order, the shared input reached every part, and no part would start a pool of its own.
            assert results == [(k * k + 100, 1) for k in range(8)]
            # The worker that dies on part 3 may take a queued part down with it (Dask reschedules it and
            # gives up after its allowed failures): the stage stops on whichever fails first, in one line.
            with pytest.raises(EngineError, match=r"^part [1-4] of 4 failed on the engine: .*nothing was written"):
                map_parts(_dies_on_two, [0, 1, 2, 3])
            # Many small parts travel in batches (a task costs the scheduler more than such a part),
            # still in order and each with the shared input; a failure names its batch.
            many = list(range(1_000))
            seen: list[tuple[int, int]] = []
            assert map_parts(_square_plus, many, shared=7, on_result=seen.append) == [(k * k + 7, 1) for k in many]
            assert seen == [(k * k + 7, 1) for k in many]
            with pytest.raises(
                EngineError, match=r"^part 3, 19, … \(every 16th, 63 parts\) of 1000 failed on the engine"
            ):
                map_parts(_dies_on_two, many)
            # A shared tuple reaches the parts whole, and the same object is sent once for many calls.
            pair = (10, 20)
            assert map_parts(_plus_sum, [0, 1, 2], shared=pair) == [30, 31, 32]
            sent = engine.executor._client._siting_last_scattered[1]
            assert map_parts(_plus_sum, [5, 6], shared=pair) == [35, 36]
            assert engine.executor._client._siting_last_scattered[1] is sent


def test_dask_batches_are_few_strided_and_cover_every_part_once() -> None:
    assert parallel._dask_batches(3, 2) == [range(0, 3, 3), range(1, 3, 3), range(2, 3, 3)]
    batches = parallel._dask_batches(200, 2)
    assert len(batches) == 16  # at most 8 tasks a worker
    assert sorted(k for batch in batches for k in batch) == list(range(200))
    assert [len(batch) for batch in batches] == [13] * 8 + [12] * 8
    assert list(batches[0][:3]) == [0, 16, 32]  # each task gets large parts and small ones
    assert parallel._which(batches[2]) == "3, 19, … (every 16th, 13 parts)"
    assert parallel._which(range(4, 5)) == "5" and parallel._which(range(0, 125)) == "1–125"


def test_batches_cover_every_part_once_in_order() -> None:
    assert parallel._batches(3, 2) == [range(0, 1), range(1, 2), range(2, 3)]
    batches = parallel._batches(1_000, 2)
    assert [k for batch in batches for k in batch] == list(range(1_000))
    assert {len(batch) for batch in batches} == {125}
    assert [k for batch in parallel._batches(257, 16) for k in batch] == list(range(257))


@pytest.mark.slow
def test_dask_local_gives_the_process_pool_plan(built_sample, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from siting.pipeline import run

    scenario = load_scenario(REPO / "scenarios" / "demo_travel_time.toml").with_changes(
        name="engines",
        data_dir=built_sample.paths.root.parent,
        outputs_dir=tmp_path,
        counties=COUNTIES,
        budget_cny=150_000,  # 5 homes: the budget binds
        write_map=False,
    )
    local = run(scenario, run_dir=tmp_path / "local")
    stages_on_cluster: list[tuple[str, int]] = []
    handed_out = parallel._on_executor

    def spy(function, parts, executor, has_shared, shared, what, **options):  # type: ignore[no-untyped-def]
        stages_on_cluster.append((what, len(parts)))
        return handed_out(function, parts, executor, has_shared, shared, what, **options)

    monkeypatch.setattr(parallel, "_on_executor", spy)
    on_dask = run(scenario, run_dir=tmp_path / "dask", engine="dask-local:2")
    # The travel windows (with the grid scattered once) went to the cluster, in several parts.
    assert any(what == "travel window" and n > 1 for what, n in stages_on_cluster), stages_on_cluster
    assert on_dask.plan.site_ids == local.plan.site_ids and len(local.plan.new_ids) == 5
    assert on_dask.plan.objective == local.plan.objective
    assert on_dask.access.n_pairs == local.access.n_pairs
    for level in ("county", "township"):
        pd.testing.assert_frame_equal(on_dask.tables[level], local.tables[level])
    record = json.loads((tmp_path / "dask" / "run.json").read_text(encoding="utf-8"))
    assert record["engine"]["engine"] == "dask-local:2" and record["engine"]["workers"] == 2
    assert json.loads((tmp_path / "local" / "run.json").read_text(encoding="utf-8"))["engine"]["engine"] == "local"


@pytest.mark.slow
def test_a_sweep_on_dask_gives_the_local_curve(built_sample, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from siting.runs import sweep
    from tests.test_scenario import county_scenario

    scenario = load_scenario(county_scenario(tmp_path, built_sample))
    reported: list[float] = []
    local, _ = sweep(scenario, budgets=[0.0, 60_000.0, 120_000.0], workers=2)
    on_dask, _ = sweep(
        scenario.with_changes(engine="dask-local:2"),
        budgets=[0.0, 60_000.0, 120_000.0],
        report=lambda row: reported.append(row["budget_cny"]),
    )
    # Each variant reported as it came in, in order; the same curve as in the process pool.
    assert reported == [0.0, 60_000.0, 120_000.0]
    assert on_dask["homes_new"].tolist() == local["homes_new"].tolist() == [0, 2, 4]
    assert on_dask["children_covered"].tolist() == local["children_covered"].tolist()


@pytest.mark.slow
def test_a_port_that_accepts_and_never_answers_is_refused_in_time(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import socket
    import time

    import siting.engine as engine

    monkeypatch.setattr(engine, "CONNECT_S", 2.0)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(5)  # accepts (the kernel does), never answers
    port = silent.getsockname()[1]
    started = time.perf_counter()
    try:
        with pytest.raises(InputError, match=rf"127.0.0.1:{port}"), open_engine(f"dask://127.0.0.1:{port}"):
            pass
    finally:
        silent.close()
    assert time.perf_counter() - started < 15


@pytest.mark.slow
def test_a_web_server_is_not_taken_for_a_scheduler(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import http.server
    import threading

    import siting.engine as engine

    monkeypatch.setattr(engine, "CONNECT_S", 3.0)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # no request lines in the test's output
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        with pytest.raises(InputError, match=rf"127.0.0.1:{port}"), open_engine(f"dask://127.0.0.1:{port}"):
            pass
    finally:
        server.shutdown()


@pytest.mark.slow
def test_a_scheduler_without_workers_is_one_line(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import siting.engine as engine

    monkeypatch.setattr(engine, "WORKERS_S", 2.0)
    cluster = distributed.LocalCluster(n_workers=0, processes=True, dashboard_address=":0")
    try:
        address = cluster.scheduler_address.removeprefix("tcp://")
        with (
            pytest.raises(InputError, match=r"has no worker .*start some with 'dask worker"),
            open_engine(f"dask://{address}"),
        ):
            pass
    finally:
        cluster.close()


def _children_of(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (from /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (not gone, not a zombie)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc").exists(), reason="Linux only: parent-death signal")
def test_pool_workers_end_when_their_run_is_killed(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "stuck.py"
    script.write_text(
        "import time\nfrom siting.parallel import map_parts\n"
        "def nap(x):\n    time.sleep(120)\n    return x\n"
        "if __name__ == '__main__':\n    map_parts(nap, [1, 2], workers=2, what='nap')\n",
        encoding="utf-8",
    )
    run = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path)
    deadline = time.time() + 30
    workers: list[int] = []
    while time.time() < deadline and len(workers) < 2:
        time.sleep(0.2)
        workers = _children_of(run.pid)
    assert len(workers) >= 2, "the pool did not start"
    os.kill(run.pid, signal.SIGKILL)  # as the OOM killer or a batch scheduler does
    run.wait()
    deadline = time.time() + 15
    alive = workers
    while time.time() < deadline and alive:
        time.sleep(0.2)
        alive = [w for w in alive if _running(w)]
    assert alive == [], f"pool workers {alive} outlived the killed run"


@pytest.mark.slow
def test_a_dask_local_engine_leaves_no_scratch_space(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import tempfile

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # the temporary folder is read again: tmp_path
    with open_engine("dask-local:1") as engine:
        assert engine.workers == 1
        assert any(tmp_path.iterdir())  # the run's scratch folder, while it runs
    assert list(tmp_path.iterdir()) == []  # no dask-scratch-space left behind


def test_tls_needs_a_ca_and_plain_tcp_to_another_machine_is_warned_about(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from siting.engine import _security, is_this_machine
    from siting.errors import SitingWarning

    assert EngineSpec.parse("tls://10.1.2.3:8786") == EngineSpec("dask", address="tls://10.1.2.3:8786")
    assert str(EngineSpec.parse("tls://scheduler.example:8786")) == "tls://scheduler.example:8786"
    assert is_this_machine("127.0.0.1") and is_this_machine("localhost") and is_this_machine("[::1]")
    assert not is_this_machine("192.0.2.7")  # TEST-NET-1: never this machine
    for key in ("CA_FILE", "CLIENT_CERT", "CLIENT_KEY"):
        monkeypatch.delenv(f"DASK_DISTRIBUTED__COMM__TLS__{key}", raising=False)
    with (
        pytest.raises(InputError, match=r"tls:// needs the cluster's CA certificate: give \[engine\] tls_ca_file"),
        open_engine("tls://192.0.2.7:8786"),
    ):
        pass
    # Plain TCP to an address that is not this machine: one warning line before the connection.
    spec = EngineSpec.parse("dask://192.0.2.7:8786")
    with pytest.warns(SitingWarning, match=r"plain TCP to 192\.0\.2\.7, another machine: .*use tls://HOST:PORT"):
        assert _security(distributed, str(spec.address), spec) is None


@pytest.mark.slow
def test_parts_run_on_a_tls_cluster_with_the_scenarios_certificates(tmp_path: Path) -> None:
    pytest.importorskip("cryptography")
    security = distributed.security.Security.temporary()  # a self-signed CA, scheduler, worker and client
    files = []
    for name, text in (
        ("ca", security.tls_ca_file),
        ("cert", security.tls_client_cert),
        ("key", security.tls_client_key),
    ):
        (tmp_path / f"{name}.pem").write_text(text, encoding="ascii")
        files.append(str(tmp_path / f"{name}.pem"))
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, dashboard_address=None, protocol="tls://", security=security
    ) as cluster:
        assert cluster.scheduler_address.startswith("tls://")
        address = cluster.scheduler_address.replace("0.0.0.0", "127.0.0.1")
        with open_engine(address, tls=(files[0], files[1], files[2])) as engine, using_engine(engine):
            assert map_parts(_square_plus, [1, 2, 3], shared=5) == [(6, 1), (9, 1), (14, 1)]
