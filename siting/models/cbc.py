"""CBC (the binary bundled with PuLP) on a :class:`~siting.models.problem.MatrixModel`, as a watched child process.

The model goes to CBC as an MPS file written by HiGHS from the arrays. CBC dies with
its parent, is interrupted and then killed if it runs past the limit (which covers
writing its file), and its status is read from its own log, so that a run stopped
before it found a plan is never reported as infeasible. Every point it returns is
checked against the model: after a stop CBC may write its last LP point under an
"objective value" header.
"""

from __future__ import annotations

import re
import signal
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import highspy
import numpy as np
import pulp

from siting.errors import InfeasibleError, SolverError
from siting.models.highs import highs_lp
from siting.models.problem import (
    GRACE_S,
    GRACE_SHARE,
    MatrixModel,
    SolveResult,
    quiet_stdout,
    relative_gap,
    violations,
    warn_if_overrun,
)
from siting.parallel import die_with_parent

__all__ = ["CBC_NAME", "run_cbc"]

CBC_NAME = "CBC (bundled with PuLP)"
#: CBC is interrupted at the limit plus its grace (GRACE_SHARE, GRACE_S) and killed this much later.
KILL_AFTER_S = 1.0
#: Seconds HiGHS takes to write one non-zero of an MPS file for CBC (measured: 1.6 M in 2.0 s).
WRITE_S_PER_NONZERO = 1.3e-6


def _cbc_bound(log: str, maximise: bool) -> float | None:
    """Best bound from a CBC log, in the problem's own sense (a maximisation reached CBC negated)."""
    found = re.findall(r"^Lower bound:\s+(-?[\d.eE+-]+)", log, flags=re.MULTILINE)
    if not found:
        return None
    value = float(found[-1])  # CBC minimises; a maximisation is handed to it negated
    return -value if maximise else value


def _write_mps(model: MatrixModel, path: Path) -> None:
    """The model as an MPS file, written by HiGHS from the arrays (C++: 1.6 M non-zeros in about 2 s).

    It is written as a minimisation (a maximisation's costs negated), with HiGHS'
    names ``c<j>`` and ``r<i>``, for CBC.
    """
    lp = highs_lp(replace(model, maximise=False, cost=-model.cost if model.maximise else model.cost, offset=0.0))
    with quiet_stdout():
        highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.passModel(lp)
    if highs.writeModel(str(path)) == highspy.HighsStatus.kError or not path.exists():
        raise SolverError(f"could not write the model {model.name!r} for CBC to {path}")


def _write_start(start: np.ndarray, path: Path) -> None:
    """A CBC MIP start file (the solution-file format CBC reads with ``-mips``)."""
    lines = ["Stopped on time - objective value 0"]
    lines += [f"{j:>7} c{j} {float(v):>15.10g} {0:>23}" for j, v in enumerate(start)]
    path.write_text("\n".join(lines) + "\n", encoding="ascii")


def _read_solution(path: Path, n_cols: int) -> np.ndarray | None:
    """Column values of a CBC solution file, or None when it holds no integer plan."""
    if not path.exists():
        return None
    text = path.read_text(errors="replace").splitlines()
    if not text or "objective value" not in text[0] or "no integer solution" in text[0]:
        return None
    values = np.zeros(n_cols)
    for line in text[1:]:
        parts = line.replace("**", " ").split()
        if len(parts) >= 3 and parts[1].startswith("c") and parts[1][1:].isdigit():
            values[int(parts[1][1:])] = float(parts[2])
    return values


def run_cbc(
    model: MatrixModel,
    *,
    time_limit_s: float | None,
    gap: float,
    seed: int,
    threads: int,
    start: np.ndarray | None,
    options: tuple[str, ...],
) -> tuple[SolveResult, np.ndarray]:
    """Run the CBC bundled with PuLP on ``model`` as a watched child; the limit covers writing the file too."""
    started = time.perf_counter()
    writing_s = WRITE_S_PER_NONZERO * (model.matrix.nnz + 2 * len(model.cost))
    if time_limit_s is not None and writing_s > time_limit_s:
        raise SolverError(
            f"{time_limit_s:.1f} s is too little to hand the model {model.name!r} ({model.matrix.nnz:,} non-zeros) "
            f"to CBC (about {writing_s:.1f} s to write it); raise time_limit_s or use solver 'highs'"
        )
    with tempfile.TemporaryDirectory(prefix="siting-cbc-") as tmp:
        folder = Path(tmp)
        mps, sol, mst, log_path = folder / "m.mps", folder / "m.sol", folder / "m.mst", folder / "cbc.log"
        _write_mps(model, mps)
        args = [pulp.PULP_CBC_CMD.pulp_cbc_path, str(mps)]
        if start is not None:
            _write_start(start, mst)
            args += ["-mips", str(mst)]
        left = None if time_limit_s is None else max(time_limit_s - (time.perf_counter() - started), 0.05)
        if left is not None:
            args += ["-sec", f"{left:.3f}"]
        args += ["-ratio", f"{gap:g}", "-randomCbcSeed", str(seed + 1)]
        # CBC's threaded mode (any "threads" option, even 1) sometimes idles 10 s at exit.
        if threads > 1:
            args += ["-threads", str(threads)]
        for option in options:
            args += ["-" + option.split()[0], *option.split()[1:]]
        args += ["-solve", "-printingOptions", "all", "-solution", str(sol)]
        with log_path.open("w") as log_file:
            child = subprocess.Popen(
                args, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent
            )
            _wait_for(child, left)
        log = log_path.read_text(errors="replace")
        values = _read_solution(sol, len(model.cost))
    if values is not None and violations(model, values):
        # After a stop CBC may write its last LP point under an "objective value" header: not a plan.
        values = None
    seconds = time.perf_counter() - started
    warn_if_overrun(CBC_NAME, seconds, time_limit_s)
    result = re.search(r"^Result - (.*)$", log, flags=re.MULTILINE)
    proven = re.search(r"^Problem (?:is|proven) infeasible", log, flags=re.MULTILINE)
    verdict = result.group(1).strip() if result else ("infeasible" if proven else "stopped before it finished")
    if "infeasible" in verdict.lower():
        raise InfeasibleError(f"the model {model.name!r} is infeasible (CBC: {verdict})")
    if values is None:
        raise SolverError(
            f"{CBC_NAME} found no feasible plan for {model.name!r} in {seconds:.1f} s ({verdict}); "
            "raise time_limit_s or relax the constraints"
        )
    objective = float(model.cost @ values) + model.offset
    optimal = verdict.startswith("Optimal")
    bound = _cbc_bound(log, model.maximise)
    if bound is not None:
        bound += model.offset
    if optimal and bound is None:
        bound = objective
    if bound is not None:  # the log rounds; a bound never lies on the wrong side of a plan
        bound = max(bound, objective) if model.maximise else min(bound, objective)
    return (
        SolveResult(
            status="optimal" if optimal else "feasible",
            objective=objective,
            bound=bound,
            gap=relative_gap(objective, bound),
            seconds=seconds,
            solver=CBC_NAME,
        ),
        values,
    )


def _wait_for(child: subprocess.Popen[bytes], time_limit_s: float | None) -> None:
    """Wait for CBC; past the limit and its grace, interrupt it (it writes its plan), then kill it."""
    try:
        if time_limit_s is None:
            child.wait()
            return
        try:
            child.wait(timeout=time_limit_s * (1 + GRACE_SHARE) + GRACE_S)
            return
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGINT)
        try:
            child.wait(timeout=KILL_AFTER_S)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    except BaseException:
        child.kill()
        child.wait()
        raise


# --- entry points ------------------------------------------------------------------------------
