"""Run a PuLP problem on CBC or HiGHS and report what the solver really proved.

PuLP maps a CBC run stopped at its time limit with an incumbent to
``LpStatusOptimal``; only ``sol_status`` tells the difference. The bound and the
gap are read from the solver itself (HiGHS' info, CBC's log).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pulp

from siting.errors import InfeasibleError, InputError, SitingWarning, SolverError

__all__ = ["SOLVERS", "SolveResult", "quiet_stdout", "relative_gap", "solve_problem", "warn_if_overrun"]

SOLVERS = ("cbc", "highs")


@dataclass(frozen=True)
class SolveResult:
    """Status, objective, bound and gap of one solve."""

    status: str
    objective: float
    bound: float | None
    gap: float | None
    seconds: float
    solver: str


def relative_gap(objective: float, bound: float | None) -> float | None:
    if bound is None:
        return None
    return abs(bound - objective) / max(abs(objective), 1e-9)


def _cbc_bound(log: str, sense: int) -> float | None:
    """Best bound from a CBC log, in the problem's own sense."""
    found = re.findall(r"^Lower bound:\s+(-?[\d.eE+-]+)", log, flags=re.MULTILINE)
    if not found:
        return None
    # CBC minimises; PuLP hands it -objective for maximisation problems.
    value = float(found[-1])
    return -value if sense == pulp.LpMaximize else value


def warn_if_overrun(name: str, seconds: float, time_limit_s: float | None) -> None:
    """Warn, with the real time, when a solver ran clearly past its time limit."""
    if time_limit_s is not None and seconds > 1.1 * time_limit_s + 1.0:
        warnings.warn(
            f"{name} ran {seconds:.1f} s although the time limit was {time_limit_s:g} s; the plan's timings "
            "report the real time",
            SitingWarning,
            stacklevel=3,
        )


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Silence output written by C code to file descriptor 1 (not only Python's sys.stdout)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # captured streams in tests and notebooks
        yield
        return
    sys.stdout.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), fd)
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, fd)
        os.close(saved)


def solve_problem(
    problem: pulp.LpProblem,
    *,
    solver: str = "cbc",
    time_limit_s: float | None = None,
    gap: float = 0.0,
    threads: int = 1,
    seed: int = 0,
    warm_start: bool = False,
    cbc_options: tuple[str, ...] = (),
    highs_options: Mapping[str, Any] | None = None,
) -> SolveResult:
    """Solve ``problem`` and return its true status.

    Parameters
    ----------
    problem
        A PuLP problem.
    solver
        ``"cbc"`` (bundled with PuLP) or ``"highs"`` (highspy).
    time_limit_s
        Wall-clock limit handed to the solver.
    gap
        Relative optimality gap at which the solver may stop.
    threads
        Solver threads.
    seed
        Solver random seed (same seed, same plan).
    warm_start
        Start from the variables' initial values.
    cbc_options, highs_options
        Extra options for CBC (strings) or HiGHS (name → value).

    Returns
    -------
    SolveResult
        ``status`` is ``"optimal"`` when proven within ``gap``, ``"feasible"``
        when the solver stopped early with an incumbent.

    Raises
    ------
    InfeasibleError
        The problem has no feasible solution.
    SolverError
        The solver stopped without any feasible solution.
    """
    if solver not in SOLVERS:
        raise InputError(f"unknown solver {solver!r}; choose one of {SOLVERS}")
    started = time.perf_counter()
    if solver == "cbc":
        with tempfile.TemporaryDirectory(prefix="siting-cbc-") as tmp:
            log_path = Path(tmp) / "cbc.log"
            # CBC's threaded mode (any "threads" option, even 1) sometimes idles 10 s at
            # exit; the serial code path is used unless more threads are asked for.
            cmd = pulp.PULP_CBC_CMD(
                msg=False,
                timeLimit=time_limit_s,
                gapRel=gap,
                threads=threads if threads > 1 else None,
                logPath=str(log_path),
                warmStart=warm_start,
                options=[f"randomCbcSeed {seed + 1}", *cbc_options],
            )
            problem.solve(cmd)
            log = log_path.read_text(errors="replace") if log_path.exists() else ""
        bound = _cbc_bound(log, problem.sense)
        name = "CBC (bundled with PuLP)"
    else:
        # HiGHS gets the model as arrays, with a hard wall-clock stop (see siting.models.matrix).
        from siting.models.matrix import pulp_to_matrix, solve_matrix_model

        model, variables = pulp_to_matrix(problem)
        start = None
        if warm_start:
            start = np.array([v.value() or 0.0 for v in variables], dtype=float)
        result, values = solve_matrix_model(
            model,
            solver="highs",
            time_limit_s=time_limit_s,
            gap=gap,
            seed=seed,
            threads=threads,
            start=start,
            highs_options=highs_options,
        )
        for variable, value in zip(variables, values, strict=True):
            variable.varValue = float(value)
        return result
    seconds = time.perf_counter() - started
    warn_if_overrun(name, seconds, time_limit_s)

    sol_status = problem.sol_status
    if problem.status == pulp.LpStatusInfeasible or sol_status == pulp.LpSolutionInfeasible:
        raise InfeasibleError(f"the model {problem.name!r} is infeasible")
    if sol_status not in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible):
        raise SolverError(
            f"{name} found no feasible plan for {problem.name!r} (PuLP status "
            f"{pulp.LpStatus.get(problem.status)}, solution status {sol_status}); "
            "raise time_limit_s or relax the constraints"
        )
    objective = float(pulp.value(problem.objective) or 0.0)
    if sol_status == pulp.LpSolutionOptimal:
        status = "optimal"
        if bound is None:
            bound = objective
    else:
        status = "feasible"
    return SolveResult(
        status=status,
        objective=objective,
        bound=bound,
        gap=relative_gap(objective, bound),
        seconds=seconds,
        solver=name,
    )
