"""Models as arrays and what a solve reports: the shared vocabulary of the solver layer.

:class:`MatrixModel` holds a MIP as arrays; :class:`SolveResult` what a solver proved;
:func:`relative_gap` is the one definition of the gap used everywhere (plans, phasing,
reports): ``|bound - objective| / |objective|`` (HiGHS' definition), 0 when both are 0.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from siting.errors import InputError, SitingWarning

__all__ = [
    "GRACE_S",
    "GRACE_SHARE",
    "MatrixModel",
    "SolveResult",
    "quiet_stdout",
    "relative_gap",
    "violations",
    "warn_if_overrun",
]

#: Grace after a time limit before a solver is stopped from outside: 5 % of the limit plus 0.5 s.
GRACE_SHARE, GRACE_S = 0.05, 0.5


@dataclass(frozen=True)
class SolveResult:
    """Status, objective, bound and gap of one solve.

    ``row_duals`` holds the dual value of every row when HiGHS solved an LP (no integer
    variables) to optimality, else None: how much the objective moves per unit of each
    row's right-hand side.
    """

    status: str
    objective: float
    bound: float | None
    gap: float | None
    seconds: float
    solver: str
    row_duals: np.ndarray | None = field(default=None, compare=False, repr=False)


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


def warn_if_overrun(name: str, seconds: float, time_limit_s: float | None) -> None:
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


def violations(model: MatrixModel, values: np.ndarray, *, tolerance: float = 1e-6) -> int:
    """How many rows, bounds and integrality conditions ``values`` break (0: a feasible plan)."""
    activity = model.matrix @ values
    scale = tolerance * np.maximum(1.0, np.abs(activity))
    rows = (activity < model.row_lower - scale) | (activity > model.row_upper + scale)
    bounds = (values < model.lower - tolerance) | (values > model.upper + tolerance)
    whole = model.integer & (np.abs(values - np.round(values)) > 1e-5)
    return int(rows.sum() + bounds.sum() + whole.sum())
