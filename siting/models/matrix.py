"""A MIP held as arrays, solved by HiGHS directly (with a hard wall-clock stop) or by CBC through PuLP.

Large sparse models (p-median on hundreds of thousands of pairs) are built in
milliseconds as arrays; building the same model from PuLP objects takes seconds.
HiGHS gets the arrays as they are. Its own ``time_limit`` has been seen to run far
past the limit, so the solve is also interrupted from HiGHS' callbacks once the
wall clock passes the limit: the time a plan reports is the time it took.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import highspy
import numpy as np
import pulp
import scipy.sparse as sp

from siting.errors import InfeasibleError, InputError, SolverError
from siting.models.solve import SOLVERS, SolveResult, quiet_stdout, relative_gap, solve_problem, warn_if_overrun

__all__ = ["MatrixModel", "pulp_to_matrix", "solve_matrix_model"]


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


def _interrupt_after(deadline: float) -> Any:
    def check(event: Any) -> None:
        if time.perf_counter() > deadline:
            event.interrupt()

    return check


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
        highs.setOptionValue("time_limit", float(time_limit_s))
        check = _interrupt_after(started + float(time_limit_s))
        for hook in (highs.cbMipInterrupt, highs.cbSimplexInterrupt, highs.cbIpmInterrupt):
            hook.subscribe(check)
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
    is_mip = bool(np.any(model.integer))
    if is_mip:
        kinds = np.where(model.integer, 1, 0)
        lp.integrality_ = [highspy.HighsVarType(int(v)) for v in kinds]
    highs.passModel(lp)
    if start is not None and is_mip:
        solution = highspy.HighsSolution()
        solution.col_value = np.asarray(start, dtype=float)
        solution.value_valid = True
        highs.setSolution(solution)
    highs.run()
    seconds = time.perf_counter() - started
    warn_if_overrun("HiGHS", seconds, time_limit_s)
    status = highs.getModelStatus()
    info = highs.getInfo()
    name = "HiGHS"
    if status in (highspy.HighsModelStatus.kInfeasible, highspy.HighsModelStatus.kUnboundedOrInfeasible):
        raise InfeasibleError(f"the model {model.name!r} is infeasible")
    has_solution = int(info.primal_solution_status) == 2  # kSolutionStatusFeasible
    if not has_solution:
        raise SolverError(
            f"{name} found no feasible plan for {model.name!r} in {seconds:.1f} s (status "
            f"{highs.modelStatusToString(status)}); raise time_limit_s or relax the constraints"
        )
    values = np.asarray(highs.getSolution().col_value, dtype=float)
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
            solver=name,
        ),
        values,
    )


def matrix_to_pulp(model: MatrixModel) -> tuple[pulp.LpProblem, list[pulp.LpVariable]]:
    """The same model as PuLP objects (for CBC)."""
    problem = pulp.LpProblem(model.name, pulp.LpMaximize if model.maximise else pulp.LpMinimize)
    variables = [
        pulp.LpVariable(
            f"v_{k}",
            lowBound=None if np.isneginf(lo) else float(lo),
            upBound=None if np.isposinf(hi) else float(hi),
            cat=pulp.LpInteger if integer else pulp.LpContinuous,
        )
        for k, (lo, hi, integer) in enumerate(zip(model.lower, model.upper, model.integer, strict=True))
    ]
    problem += pulp.LpAffineExpression(
        [(variables[k], float(c)) for k, c in enumerate(model.cost) if c != 0.0], constant=model.offset
    )
    a = sp.csr_array(model.matrix)
    for r in range(a.shape[0]):
        cols, vals = a.indices[a.indptr[r] : a.indptr[r + 1]], a.data[a.indptr[r] : a.indptr[r + 1]]
        expression = pulp.LpAffineExpression([(variables[int(c)], float(v)) for c, v in zip(cols, vals, strict=True)])
        lo, hi = float(model.row_lower[r]), float(model.row_upper[r])
        if lo == hi:
            problem += expression == lo, f"r_{r}"
            continue
        if np.isfinite(lo):
            problem += expression >= lo, f"r_{r}_lo"
        if np.isfinite(hi):
            problem += expression <= hi, f"r_{r}_hi"
    return problem, variables


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
    for r, constraint in enumerate(problem.constraints.values()):
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
        Wall-clock limit; HiGHS is interrupted from its callbacks once it passes.
    gap, seed, threads
        As in :func:`siting.models.solve.solve_problem`.
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
    problem, variables = matrix_to_pulp(model)
    if start is not None:
        for variable, value in zip(variables, start, strict=True):
            variable.setInitialValue(float(value))
    result = solve_problem(
        problem,
        solver="cbc",
        time_limit_s=time_limit_s,
        gap=gap,
        seed=seed,
        threads=threads,
        warm_start=start is not None,
        cbc_options=cbc_options,
    )
    return result, np.array([v.value() or 0.0 for v in variables], dtype=float)
