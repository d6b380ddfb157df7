"""The one way a model reaches a solver: CBC or HiGHS, with the true status, bound, gap and a hard time limit.

A model is held either as arrays (:class:`MatrixModel`, built in milliseconds even
with hundreds of thousands of pairs) or as a PuLP problem, which is turned into
arrays. HiGHS gets the arrays as they are and is interrupted from its callbacks once
the wall clock passes the limit. CBC (the binary bundled with PuLP) gets an MPS file
written straight from the arrays and runs as a child process that this module
starts, watches and stops: it dies with its parent, it is interrupted and then
killed if it runs past the limit (the limit covers writing its file too), and its
status is read from its own log, so that a run stopped before it found a plan is
never reported as infeasible.

The relative gap is the same everywhere (plans, phasing, reports):
``|bound - objective| / |objective|`` (HiGHS' definition), 0 when both are 0.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import highspy
import numpy as np
import pulp
import scipy.sparse as sp

from siting.errors import InfeasibleError, InputError, SitingWarning, SolverError

__all__ = [
    "SOLVERS",
    "MatrixModel",
    "SolveResult",
    "pulp_to_matrix",
    "quiet_stdout",
    "relative_gap",
    "solve_matrix_model",
    "solve_problem",
]

SOLVERS = ("cbc", "highs")
CBC_NAME = "CBC (bundled with PuLP)"
#: Grace after the time limit: CBC is interrupted at limit + 5 % + 0.5 s and killed 1 s later.
GRACE_SHARE, GRACE_S, KILL_AFTER_S = 0.05, 0.5, 1.0
#: Seconds HiGHS takes to write one non-zero of an MPS file for CBC (measured: 1.6 M in 2.0 s).
WRITE_S_PER_NONZERO = 1.3e-6


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
    """``|bound - objective| / |objective|``; 0 when both are 0, None without a bound."""
    if bound is None or not np.isfinite(bound):
        return None
    difference = abs(bound - objective)
    if difference <= 1e-12 * max(abs(bound), abs(objective), 1.0):
        return 0.0
    return difference / max(abs(objective), 1e-9)


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


def _warn_if_overrun(name: str, seconds: float, time_limit_s: float | None) -> None:
    if time_limit_s is not None and seconds > 1.1 * time_limit_s + 2.0:
        warnings.warn(
            f"{name} ran {seconds:.1f} s although the time limit was {time_limit_s:g} s; the plan's timings "
            "report the real time",
            SitingWarning,
            stacklevel=3,
        )


@dataclass(frozen=True)
class MatrixModel:
    """``min|max cost·v + offset`` s.t. ``row_lower ≤ A v ≤ row_upper``, ``lower ≤ v ≤ upper``.

    Attributes
    ----------
    name
        Model name (used in messages).
    maximise
        True to maximise.
    cost, lower, upper
        Per-variable objective coefficient and bounds (``±inf`` allowed).
    integer
        Per-variable flag: True for integer variables.
    matrix
        Constraint matrix, rows × variables.
    row_lower, row_upper
        Row bounds (``±inf`` allowed).
    offset
        Constant added to the objective.
    """

    name: str
    maximise: bool
    cost: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    integer: np.ndarray
    matrix: sp.csr_array
    row_lower: np.ndarray
    row_upper: np.ndarray
    offset: float = 0.0

    def __post_init__(self) -> None:
        n_rows, n_cols = self.matrix.shape
        sizes = {len(self.cost), len(self.lower), len(self.upper), len(self.integer)}
        if sizes != {n_cols} or {len(self.row_lower), len(self.row_upper)} != {n_rows}:
            raise InputError(
                f"model {self.name!r}: {n_cols} columns and {n_rows} rows in the matrix, but vectors of "
                f"lengths {sorted(sizes)} (columns) and {len(self.row_lower)}, {len(self.row_upper)} (rows)"
            )


# --- HiGHS -------------------------------------------------------------------------------------


def _interrupt_after(deadline: float) -> Any:
    def check(event: Any) -> None:
        if time.perf_counter() > deadline:
            event.interrupt()

    return check


def _highs_lp(model: MatrixModel) -> highspy.HighsLp:
    lp = highspy.HighsLp()
    csc = sp.csc_array(model.matrix)
    csc.sort_indices()
    lp.num_col_, lp.num_row_ = int(model.matrix.shape[1]), int(model.matrix.shape[0])
    lp.col_cost_ = np.asarray(model.cost, dtype=float)
    lp.col_lower_ = np.asarray(model.lower, dtype=float)
    lp.col_upper_ = np.asarray(model.upper, dtype=float)
    lp.row_lower_ = np.asarray(model.row_lower, dtype=float)
    lp.row_upper_ = np.asarray(model.row_upper, dtype=float)
    lp.offset_ = float(model.offset)
    lp.sense_ = highspy.ObjSense.kMaximize if model.maximise else highspy.ObjSense.kMinimize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = csc.indptr.astype(np.int32)
    lp.a_matrix_.index_ = csc.indices.astype(np.int32)
    lp.a_matrix_.value_ = csc.data.astype(float)
    if np.any(model.integer):
        lp.integrality_ = [highspy.HighsVarType(int(v)) for v in np.where(model.integer, 1, 0)]
    return lp


def _solve_highs(
    model: MatrixModel,
    *,
    time_limit_s: float | None,
    gap: float,
    seed: int,
    threads: int,
    start: np.ndarray | None,
    options: Mapping[str, Any] | None = None,
) -> tuple[SolveResult, np.ndarray]:
    started = time.perf_counter()
    with quiet_stdout():  # highspy prints a banner when the first instance is made
        highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("mip_rel_gap", float(gap))
    highs.setOptionValue("random_seed", int(seed))
    highs.setOptionValue("threads", int(threads))
    for key, value in (options or {}).items():
        with quiet_stdout():
            accepted = highs.setOptionValue(key, value) == highspy.HighsStatus.kOk
        if not accepted:
            raise InputError(
                f"HiGHS refused the option {key}={value!r}: unknown name or bad value; see "
                "https://ergo-code.github.io/HiGHS/stable/options/definitions/ for the options"
            )
    if time_limit_s is not None:
        highs.setOptionValue("time_limit", max(float(time_limit_s), 0.01))
        check = _interrupt_after(started + float(time_limit_s))
        for hook in (highs.cbMipInterrupt, highs.cbSimplexInterrupt, highs.cbIpmInterrupt):
            hook.subscribe(check)
    is_mip = bool(np.any(model.integer))
    highs.passModel(_highs_lp(model))
    if start is not None and is_mip:
        solution = highspy.HighsSolution()
        solution.col_value = np.asarray(start, dtype=float)
        solution.value_valid = True
        highs.setSolution(solution)
    highs.run()
    seconds = time.perf_counter() - started
    _warn_if_overrun("HiGHS", seconds, time_limit_s)
    status = highs.getModelStatus()
    info = highs.getInfo()
    if status in (highspy.HighsModelStatus.kInfeasible, highspy.HighsModelStatus.kUnboundedOrInfeasible):
        raise InfeasibleError(f"the model {model.name!r} is infeasible")
    if int(info.primal_solution_status) != 2:  # kSolutionStatusFeasible
        raise SolverError(
            f"HiGHS found no feasible plan for {model.name!r} in {seconds:.1f} s (status "
            f"{highs.modelStatusToString(status)}); raise time_limit_s or relax the constraints"
        )
    values = np.asarray(highs.getSolution().col_value, dtype=float)
    if violations(model, values, tolerance=1e-5):
        raise SolverError(f"HiGHS returned a point that breaks the model {model.name!r}; raise time_limit_s")
    objective = float(info.objective_function_value)
    optimal = status == highspy.HighsModelStatus.kOptimal
    if is_mip:
        bound: float | None = float(info.mip_dual_bound) if abs(info.mip_dual_bound) < 1e29 else None
        if optimal and bound is None:
            bound = objective
    else:
        bound = objective if optimal else None
    return (
        SolveResult(
            status="optimal" if optimal else "feasible",
            objective=objective,
            bound=bound,
            gap=relative_gap(objective, bound),
            seconds=seconds,
            solver="HiGHS",
        ),
        values,
    )


# --- CBC ---------------------------------------------------------------------------------------


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to kill the child when the process that started it dies (no orphaned CBC)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


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
    lp = _highs_lp(replace(model, maximise=False, cost=-model.cost if model.maximise else model.cost, offset=0.0))
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


def violations(model: MatrixModel, values: np.ndarray, *, tolerance: float = 1e-6) -> int:
    """How many rows, bounds and integrality conditions ``values`` break (0: a feasible plan)."""
    activity = model.matrix @ values
    scale = tolerance * np.maximum(1.0, np.abs(activity))
    rows = (activity < model.row_lower - scale) | (activity > model.row_upper + scale)
    bounds = (values < model.lower - tolerance) | (values > model.upper + tolerance)
    whole = model.integer & (np.abs(values - np.round(values)) > 1e-5)
    return int(rows.sum() + bounds.sum() + whole.sum())


def _run_cbc(
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
                args, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent
            )
            _wait_for(child, left)
        log = log_path.read_text(errors="replace")
        values = _read_solution(sol, len(model.cost))
    if values is not None and violations(model, values):
        # After a stop CBC may write its last LP point under an "objective value" header: not a plan.
        values = None
    seconds = time.perf_counter() - started
    _warn_if_overrun(CBC_NAME, seconds, time_limit_s)
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
    """Solve a PuLP ``problem`` and return its true status; the variables take the plan's values.

    Parameters
    ----------
    problem
        A PuLP problem.
    solver
        ``"cbc"`` (bundled with PuLP) or ``"highs"`` (highspy).
    time_limit_s
        Wall-clock limit; the call returns within about ``1.05 × limit + 1.5 s``.
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
        ``status`` is ``"optimal"`` when proven within ``gap``, ``"feasible"`` when the
        solver stopped early with a plan.

    Raises
    ------
    InfeasibleError
        The solver proved that the problem has no feasible solution.
    SolverError
        The solver stopped (for example at the time limit) without any feasible plan.
    """
    if solver not in SOLVERS:
        raise InputError(f"unknown solver {solver!r}; choose one of {SOLVERS}")
    started = time.perf_counter()
    model, variables = pulp_to_matrix(problem)
    start = np.array([v.value() or 0.0 for v in variables], dtype=float) if warm_start else None
    left = None if time_limit_s is None else max(time_limit_s - (time.perf_counter() - started), 0.05)
    result, values = solve_matrix_model(
        model,
        solver=solver,
        time_limit_s=left,
        gap=gap,
        seed=seed,
        threads=threads,
        start=start,
        cbc_options=cbc_options,
        highs_options=highs_options,
    )
    for variable, value in zip(variables, values, strict=True):
        variable.varValue = float(value)
    return replace(result, seconds=time.perf_counter() - started)


def pulp_to_matrix(problem: pulp.LpProblem) -> tuple[MatrixModel, list[pulp.LpVariable]]:
    """Arrays of a PuLP problem (so HiGHS gets it with a hard wall-clock stop)."""
    variables = problem.variables()
    position = {v.name: k for k, v in enumerate(variables)}
    n = len(variables)
    cost = np.zeros(n)
    for v, c in problem.objective.items():
        cost[position[v.name]] = c
    lower = np.array([-np.inf if v.lowBound is None else v.lowBound for v in variables], dtype=float)
    upper = np.array([np.inf if v.upBound is None else v.upBound for v in variables], dtype=float)
    integer = np.array([v.cat == pulp.LpInteger for v in variables], dtype=bool)
    rows, cols, vals, row_lower, row_upper = [], [], [], [], []
    # PuLP 3.3 lists the constraints when called; earlier versions hold them in a dict.
    listed = problem.constraints() if callable(problem.constraints) else list(problem.constraints.values())
    for r, constraint in enumerate(listed):
        for v, c in constraint.items():
            rows.append(r)
            cols.append(position[v.name])
            vals.append(c)
        rhs = -constraint.constant
        row_lower.append(-np.inf if constraint.sense == pulp.LpConstraintLE else rhs)
        row_upper.append(np.inf if constraint.sense == pulp.LpConstraintGE else rhs)
    matrix = sp.csr_array((vals, (rows, cols)), shape=(len(row_lower), n))
    model = MatrixModel(
        name=problem.name,
        maximise=problem.sense == pulp.LpMaximize,
        cost=cost,
        lower=lower,
        upper=upper,
        integer=integer,
        matrix=matrix,
        row_lower=np.array(row_lower, dtype=float),
        row_upper=np.array(row_upper, dtype=float),
        offset=float(problem.objective.constant),
    )
    return model, variables


def solve_matrix_model(
    model: MatrixModel,
    *,
    solver: str = "cbc",
    time_limit_s: float | None = None,
    gap: float = 0.0,
    seed: int = 0,
    threads: int = 1,
    start: np.ndarray | None = None,
    cbc_options: tuple[str, ...] = (),
    highs_options: Mapping[str, Any] | None = None,
) -> tuple[SolveResult, np.ndarray]:
    """Solve ``model``; return what the solver proved and the variable values.

    Parameters
    ----------
    model
        The model as arrays.
    solver
        ``"cbc"`` or ``"highs"``.
    time_limit_s
        Wall-clock limit (both solvers are stopped from outside once it passes).
    gap, seed, threads
        As in :func:`solve_problem`.
    start
        A feasible solution to start from (warm start), one value per variable.
    cbc_options
        Extra CBC options.
    highs_options
        Extra HiGHS options (name → value).

    Returns
    -------
    tuple
        ``(SolveResult, values)``.
    """
    if solver not in SOLVERS:
        raise InputError(f"unknown solver {solver!r}; choose one of {SOLVERS}")
    if solver == "highs":
        return _solve_highs(
            model, time_limit_s=time_limit_s, gap=gap, seed=seed, threads=threads, start=start, options=highs_options
        )
    return _run_cbc(
        model, time_limit_s=time_limit_s, gap=gap, seed=seed, threads=threads, start=start, options=cbc_options
    )
