"""HiGHS on a :class:`~siting.models.problem.MatrixModel`, with a hard wall-clock stop from its callbacks."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

import highspy
import numpy as np
import scipy.sparse as sp

from siting.errors import InfeasibleError, InputError, SolverError
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

__all__ = ["highs_lp", "solve_highs"]


def _interrupt_when(deadline: float | None, stop_at_bound: float | None, *, maximise: bool) -> Any:
    """A callback that stops HiGHS after ``deadline``, or once its dual bound is past ``stop_at_bound``."""

    def check(event: Any) -> None:
        if deadline is not None and time.perf_counter() > deadline:
            event.interrupt()
        elif stop_at_bound is not None and event.callback_type == highspy.cb.HighsCallbackType.kCallbackMipInterrupt:
            bound = float(event.data_out.mip_dual_bound)
            if (bound <= stop_at_bound) if maximise else (bound >= stop_at_bound):
                event.interrupt()

    return check


def highs_lp(model: MatrixModel) -> highspy.HighsLp:
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


def _run_until(
    highs: highspy.Highs, deadline: float | None, *, stop_at_bound: float | None = None, maximise: bool = False
) -> None:
    """Run HiGHS, stopped at ``deadline`` (``time.perf_counter``): by its own limit and interrupt callbacks,
    and, for phases that call none (a sub-MIP heuristic), by a watchdog that cancels the solve after the grace.
    A MIP also stops once its dual bound proves the optimum no better than ``stop_at_bound``."""
    if deadline is None and stop_at_bound is None:
        highs.run()
        return
    check = _interrupt_when(deadline, stop_at_bound, maximise=maximise)
    for hook in (highs.cbMipInterrupt, highs.cbSimplexInterrupt, highs.cbIpmInterrupt):
        hook.subscribe(check)
    if deadline is None:
        highs.run()
        return
    left_s = deadline - time.perf_counter()
    highs.setOptionValue("time_limit", max(left_s, 0.01))
    watchdog = threading.Timer(max(left_s * (1 + GRACE_SHARE) + GRACE_S, 0.0), highs.cancelSolve)
    watchdog.daemon = True
    watchdog.start()
    try:
        highs.run()
    finally:
        watchdog.cancel()


def solve_highs(
    model: MatrixModel,
    *,
    time_limit_s: float | None,
    gap: float,
    seed: int,
    threads: int,
    start: np.ndarray | None,
    options: Mapping[str, Any] | None = None,
    stop_at_bound: float | None = None,
) -> tuple[SolveResult, np.ndarray]:
    """Solve ``model`` with HiGHS in this process; see :func:`siting.models.solver.solve_matrix_model`."""
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
    is_mip = bool(np.any(model.integer))
    highs.passModel(highs_lp(model))
    if start is not None and is_mip:
        solution = highspy.HighsSolution()
        solution.col_value = np.asarray(start, dtype=float)
        solution.value_valid = True
        highs.setSolution(solution)
    deadline = None if time_limit_s is None else started + float(time_limit_s)
    _run_until(highs, deadline, stop_at_bound=stop_at_bound if is_mip else None, maximise=model.maximise)
    seconds = time.perf_counter() - started
    warn_if_overrun("HiGHS", seconds, time_limit_s)
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
    if start is not None and abs(float(model.cost @ values) + model.offset - objective) > 1e-6 * max(
        1.0, abs(objective)
    ):
        # Measured with highspy 1.x: when presolve solves a model given a start, getSolution() can hand
        # back the start while the objective is the better optimum's. Solve again without the start.
        left = None if time_limit_s is None else max(float(time_limit_s) - seconds, 0.01)
        return solve_highs(
            model,
            time_limit_s=left,
            gap=gap,
            seed=seed,
            threads=threads,
            start=None,
            options=options,
            stop_at_bound=stop_at_bound,
        )
    optimal = status == highspy.HighsModelStatus.kOptimal
    if is_mip:
        bound: float | None = float(info.mip_dual_bound) if abs(info.mip_dual_bound) < 1e29 else None
        if optimal and bound is None:
            bound = objective
        duals = None
    else:
        bound = objective if optimal else None
        duals = np.asarray(highs.getSolution().row_dual, dtype=float) if optimal else None
    return (
        SolveResult(
            status="optimal" if optimal else "feasible",
            objective=objective,
            bound=bound,
            gap=relative_gap(objective, bound),
            seconds=seconds,
            solver="HiGHS",
            row_duals=duals,
        ),
        values,
    )


# --- CBC ---------------------------------------------------------------------------------------
