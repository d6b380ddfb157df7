"""Helpers shared by the benchmark scripts: child processes with peak memory, and tables."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from siting.memory import peak_rss_mb


class TreeMemory:
    """The peak, over time, of the proportional memory (PSS) of a process and all its descendants.

    PSS shares each page among the processes mapping it, so the sum is what the whole tree
    (the run, its process pool or Dask workers and nannies) takes from the machine: unlike
    summing resident sizes, pages a forked worker shares with its parent count once.
    Polled every ``interval_s`` on a thread (``psutil``; nothing is measured without it).
    """

    def __init__(self, pid: int, *, interval_s: float = 0.5) -> None:
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, args=(pid, interval_s), daemon=True)
        self._thread.start()

    def _poll(self, pid: int, interval_s: float) -> None:
        try:
            import psutil
        except ImportError:  # pragma: no cover - psutil comes with distributed
            return
        try:
            root = psutil.Process(pid)
        except psutil.NoSuchProcess:
            return
        while not self._stop.is_set():
            total = 0
            try:
                processes = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for process in processes:
                try:
                    total += process.memory_full_info().pss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
            self.peak_mb = max(self.peak_mb, total / 2**20)
            self._stop.wait(interval_s)

    def stop(self) -> float:
        """Stop polling; the peak in MB."""
        self._stop.set()
        self._thread.join()
        return round(self.peak_mb, 1)


def run_child(module: str, args: Sequence[str], *, timeout_s: float, tree_memory: bool = False) -> dict[str, Any]:
    """Run ``python -m module args`` and parse the JSON it prints last; time-outs are reported.

    With ``tree_memory``, the result also has ``tree_peak_mb`` (see :class:`TreeMemory`).
    """
    started = time.perf_counter()
    # A session of its own, so that a time-out also stops the solver processes the child started
    # (spopt leaves CBC running otherwise, and it would slow every later row).
    child = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    memory = TreeMemory(child.pid) if tree_memory else None
    try:
        stdout, stderr = child.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        return {"error": f"did not finish in {timeout_s:.0f} s", "wall_s": time.perf_counter() - started}
    finally:
        tree_peak_mb = memory.stop() if memory is not None else None
    done = subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["?"]
        reason = "out of memory" if done.returncode in (-9, 137) or "MemoryError" in done.stderr else tail[0]
        return {"error": reason, "wall_s": time.perf_counter() - started}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if tree_peak_mb is not None:
        result["tree_peak_mb"] = tree_peak_mb
    return result


def child_main(work: Callable[[list[str]], dict[str, Any]]) -> None:
    """Entry point of a child: run ``work(argv)`` and print its result plus peak memory as JSON."""
    result = work(sys.argv[1:])
    result["peak_mb"] = round(peak_rss_mb(), 1)
    # Worker processes (siting's parallel parts) are counted separately: the largest one's peak.
    # Pages they share with the parent after fork are counted in both, so parent + workers overstates.
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if workers > 0:
        result["worker_peak_mb"] = round(workers, 1)
    print(json.dumps(result))


def print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """Print rows as an aligned text table."""
    text = [[str(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in text)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in text:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))
