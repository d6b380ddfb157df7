"""The one way a model reaches a solver: :func:`solve_matrix_model` (arrays) or :func:`solve_problem` (PuLP).

Both solvers report the true status, the bound and the gap and stop at the wall-clock
limit: HiGHS (:mod:`siting.models.highs`) in memory, interrupted from its callbacks;
CBC (:mod:`siting.models.cbc`) as a watched child process. A PuLP problem is turned into
arrays first, so both solvers get the same model. The relative gap is the same
everywhere: :func:`siting.models.problem.relative_gap`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import pulp
import scipy.sparse as sp

from siting.errors import InputError, SolverError
from siting.models.cbc import run_cbc
from siting.models.highs import solve_highs
from siting.models.problem import MatrixModel, SolveResult, quiet_stdout, relative_gap, violations

__all__ = [
    "SOLVERS",
    "MatrixModel",
    "SolveResult",
    "integral_point",
    "pulp_to_matrix",
    "quiet_stdout",
    "relative_gap",
    "solve_matrix_model",
    "solve_problem",
    "solve_relaxation",
    "violations",
]

SOLVERS = ("cbc", "highs")


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
    stop_at_bound: float | None = None,
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
    stop_at_bound
        HiGHS only: stop once the MIP's dual bound proves the optimum no better than this
        objective value (the caller needs no more); the result is then ``feasible`` with that bound.

    Returns
    -------
    tuple
        ``(SolveResult, values)``.
    """
    if solver not in SOLVERS:
        raise InputError(f"unknown solver {solver!r}; choose one of {SOLVERS}")
    if solver == "highs":
        return solve_highs(
            model,
            time_limit_s=time_limit_s,
            gap=gap,
            seed=seed,
            threads=threads,
            start=start,
            options=highs_options,
            stop_at_bound=stop_at_bound,
        )
    return run_cbc(
        model, time_limit_s=time_limit_s, gap=gap, seed=seed, threads=threads, start=start, options=cbc_options
    )


def solve_relaxation(model: MatrixModel, *, time_limit_s: float | None) -> tuple[SolveResult, np.ndarray] | None:
    """The LP relaxation of ``model``, solved to optimality by HiGHS in this process, or None.

    None when the limit stopped it or HiGHS failed: such a relaxation bounds nothing.
    A screen before a MIP: its optimum bounds the MIP's, and an integral one is the MIP's.
    """
    relaxation = replace(model, integer=np.zeros(len(model.cost), dtype=bool))
    try:
        relaxed, values = solve_matrix_model(relaxation, solver="highs", time_limit_s=time_limit_s)
    except SolverError:
        return None
    return (relaxed, values) if relaxed.status == "optimal" else None


def integral_point(model: MatrixModel, values: np.ndarray) -> np.ndarray | None:
    """``values`` with its integer variables rounded, when they were integral already and the point is feasible."""
    rounded = np.where(model.integer, np.round(values), values)
    if np.abs(values - rounded).max(initial=0.0) > 1e-6 or violations(model, rounded):
        return None
    return rounded
