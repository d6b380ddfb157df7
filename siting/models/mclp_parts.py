r"""MCLP by parts: the connected components of the coverage graph, joined by an exact knapsack.

The parts are independent but for the province-wide number of homes. With
:math:`f_c(n)` the most weight part :math:`c` covers with at most :math:`n` homes,
the optimum of the undivided model is

.. math::

    \max \sum_c f_c(n_c) \quad \text{s.t.} \quad \sum_c n_c \le N,

a multiple-choice knapsack (:mod:`siting.models.knapsack`). Solving every part for
every :math:`n` is wasteful when parts need dozens of homes, so :math:`f_c` is
evaluated only where the optimum could use it. Every part keeps, for every
:math:`n`, a value some plan reaches and a proven bound (the greedy plans and the
weight of its :math:`n` heaviest sites to begin with). In rounds:

1. the knapsack over the bounds picks an :math:`n` per part; where a pick is only
   bounded, that part is solved for that :math:`n` (the LP relaxation first: an
   integral one is the optimum; else the MIP), the parts of a round in parallel;
2. each solve tightens the part's bounds for every :math:`n`: the LP optimum
   :math:`F_c(n)` is concave in :math:`n` and the dual :math:`\lambda` of the count
   row is a supergradient, so :math:`F_c(n) + \lambda (m - n)` bounds
   :math:`f_c(m)` for every :math:`m`; and :math:`f_c` never decreases with
   :math:`n`, so a bound at :math:`n` holds below it and a value above it.

When the knapsack over the bounds picks only solved entries, its value is reached
by the knapsack over the values: the plan is optimal. A time limit stops the rounds
with the plan of the values' knapsack and the bounds' knapsack as its proven bound.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from siting.errors import SolverError
from siting.models.decompose import blocks_of, coverage_components, map_parts, members_of
from siting.models.knapsack import best_without, combine_parts
from siting.models.options import SolverOptions
from siting.models.reductions import covered_by
from siting.models.solver import MatrixModel, integral_point, solve_matrix_model, solve_relaxation
from siting.parallel import Workers, worker_count

__all__ = ["PartsResult", "solve_mclp_by_parts"]


#: HiGHS' presolve costs more than it saves on these models, as on the whole MCLP (measured on the
#: largest 10 km component, 1,120 rows × 881 sites, 33 homes: 24.9 s with it, 20.6 s without).
PART_HIGHS_OPTIONS = {"presolve": "off"}


@dataclass(frozen=True)
class _CoverPart:
    """One connected component of the coverage graph: its rows × sites and row weights."""

    cover: sp.csr_array
    weights: np.ndarray


@dataclass(frozen=True)
class _Ask:
    """Solve part ``part`` with at most ``homes`` homes, starting from the sites ``start``.

    ``mip``: solve the MIP if the LP relaxation is fractional (else the LP alone). ``enough``:
    the MIP may stop once it proves the part covers no more than this with that many homes.
    """

    part: int
    homes: int
    start: tuple[int, ...]
    solver: SolverOptions
    deadline_epoch: float | None
    mip: bool
    enough: float | None = None


@dataclass(frozen=True)
class _Answer:
    """What one solve proved: a plan's covered weight and sites, a bound, and the LP's tangent."""

    part: int
    homes: int
    value: float
    chosen: tuple[int, ...]
    bound: float
    lp_value: float | None
    lp_slope: float | None
    solver: str
    solved: bool
    #: The deadline had passed before the solve began: nothing was learnt.
    skipped: bool = False


@dataclass
class _Curve:
    """One part's values (and their plans) and bounds for 0, 1, … homes, and which were solved."""

    lower: np.ndarray
    upper: np.ndarray
    plans: list[tuple[int, ...]]
    solved: np.ndarray
    relaxed: np.ndarray
    slack: float

    def learn(self, answer: _Answer) -> None:
        """Tighten the curve with one solve's plan, bound and LP tangent."""
        if answer.skipped:
            return
        n = answer.homes
        self.solved[n] |= answer.solved
        self.relaxed[n] = True
        later = np.flatnonzero(self.lower[n:] < answer.value) + n
        self.lower[later] = answer.value
        for m in later:
            self.plans[m] = answer.chosen
        self.upper[: n + 1] = np.minimum(self.upper[: n + 1], answer.bound)
        if answer.lp_value is not None and answer.lp_slope is not None:
            homes = np.arange(len(self.upper))
            tangent = answer.lp_value + answer.lp_slope * (homes - n) + self.slack
            self.upper = np.minimum(self.upper, tangent)
        self.upper = np.maximum(np.minimum.accumulate(self.upper[::-1])[::-1], self.lower)


@dataclass(frozen=True)
class PartsResult:
    """The joined plan: chosen columns, objective, bound, whether proven, and what stopped it."""

    chosen: np.ndarray
    objective: float
    bound: float
    proven: bool
    solver: str
    seconds: float
    stopped_by: str | None


def _part_model(part: _CoverPart, homes: int) -> tuple[MatrixModel, float]:
    """``max Σ w_i y_i`` s.t. ``y_i ≤ Σ x_j`` and ``Σ x_j ≤ homes`` (the last row); weights scaled to ≤ 1."""
    n_rows, n_sites = part.cover.shape
    rows = np.repeat(np.arange(n_rows), np.diff(part.cover.indptr))
    matrix = sp.csr_array(
        (
            np.concatenate([np.ones(n_rows), -np.ones(len(rows)), np.ones(n_sites)]),
            (
                np.concatenate([np.arange(n_rows), rows, np.full(n_sites, n_rows)]),
                np.concatenate([n_sites + np.arange(n_rows), part.cover.indices, np.arange(n_sites)]),
            ),
        ),
        shape=(n_rows + 1, n_sites + n_rows),
    )
    scale = max(float(part.weights.max(initial=0.0)), 1.0)
    model = MatrixModel(
        name="mclp_part",
        maximise=True,
        cost=np.concatenate([np.zeros(n_sites), part.weights / scale]),
        lower=np.zeros(n_sites + n_rows),
        upper=np.ones(n_sites + n_rows),
        integer=np.arange(n_sites + n_rows) < n_sites,
        matrix=matrix,
        row_lower=np.full(n_rows + 1, -np.inf),
        row_upper=np.append(np.zeros(n_rows), float(homes)),
    )
    return model, scale


def _covered_weight(part: _CoverPart, chosen: np.ndarray) -> float:
    return float(part.weights[covered_by(part.cover, chosen.astype(np.int64))].sum())


def _solve_count(ask: _Ask, parts: tuple[_CoverPart, ...]) -> _Answer:
    """Solve one part for one number of homes: the LP relaxation (with its tangent), then the MIP if needed.

    A part whose turn comes after the deadline is not started (each would otherwise still
    build its model and take a last moment of solver time: thousands of parts overran a
    120 s limit by a minute).
    """
    if ask.deadline_epoch is not None and time.time() >= ask.deadline_epoch:
        return _Answer(ask.part, ask.homes, 0.0, (), np.inf, None, None, "", False, skipped=True)
    part = parts[ask.part]
    n_sites = part.cover.shape[1]
    model, scale = _part_model(part, ask.homes)
    start = np.array(ask.start, dtype=np.int64)
    start_value = _covered_weight(part, start)

    def answer(value: float, chosen: np.ndarray, bound: float, solver: str, *, solved: bool = True) -> _Answer:
        found = tuple(chosen.tolist())
        return _Answer(ask.part, ask.homes, value, found, max(bound, value), lp_value, lp_slope, solver, solved)

    def left() -> float | None:
        return None if ask.deadline_epoch is None else max(ask.deadline_epoch - time.time(), 0.05)

    lp_value = lp_slope = None
    relaxed = solve_relaxation(model, time_limit_s=left())
    if relaxed is not None:
        lp_value = relaxed[0].objective * scale
        duals = relaxed[0].row_duals
        lp_slope = None if duals is None else abs(float(duals[-1])) * scale
        point = integral_point(model, relaxed[1])
        if point is not None:
            chosen = np.flatnonzero(point[:n_sites] > 0.5)
            value = _covered_weight(part, chosen)
            return answer(value, chosen, value, "HiGHS (integral LP)")
    bound = np.inf if lp_value is None else lp_value
    if not ask.mip:
        return answer(start_value, start, bound, "", solved=False)  # no plan of its own
    x_start = np.zeros(n_sites)
    x_start[start] = 1.0
    try:
        result, solution = solve_matrix_model(
            model,
            solver=ask.solver.name,
            time_limit_s=left(),
            gap=ask.solver.gap,
            seed=ask.solver.seed,
            start=np.concatenate([x_start, covered_by(part.cover, start).astype(float)]),
            highs_options=PART_HIGHS_OPTIONS,
            stop_at_bound=None if ask.enough is None else ask.enough / scale,
        )
    except SolverError:
        return answer(start_value, start, bound, "greedy (the solver stopped without a plan)")
    chosen = np.flatnonzero(solution[:n_sites] > 0.5)
    value = _covered_weight(part, chosen)
    if value < start_value:
        value, chosen = start_value, start
    if result.bound is not None:
        bound = min(bound, result.bound * scale)
    if result.status == "optimal" and ask.solver.gap == 0:
        bound = min(bound, value)
    return answer(value, chosen, bound, result.solver, solved=result.status == "optimal")


def _greedy_curve(part: _CoverPart) -> _Curve:
    """Greedy plans for 0, 1, … homes until the part is covered, and the heaviest-sites bound."""
    csc = part.cover.tocsc()
    total = float(part.weights.sum())
    covered = np.zeros(part.cover.shape[0], dtype=bool)
    picked: list[int] = []
    values: list[float] = [0.0]
    plans: list[tuple[int, ...]] = [()]
    while values[-1] < total * (1 - 1e-12):
        gain = csc.T @ (part.weights * ~covered)
        j = int(np.argmax(gain))
        if gain[j] <= 0:
            break
        picked.append(j)
        covered[csc.indices[csc.indptr[j] : csc.indptr[j + 1]]] = True
        values.append(float(part.weights[covered].sum()))
        plans.append(tuple(sorted(picked)))
    lower = np.array(values)
    heaviest = np.concatenate([[0.0], np.cumsum(np.sort(csc.T @ part.weights)[::-1])])[: len(lower)]
    upper = np.maximum(np.minimum(heaviest, total), lower)
    solved = np.zeros(len(lower), dtype=bool)
    solved[[0, -1]] = True  # no homes, and every row covered
    if len(lower) > 1:
        solved[1] = True  # the heaviest single site is the greedy's first
    slack = 1e-7 * max(total, 1.0)
    return _Curve(lower, upper, plans, solved, solved.copy(), slack)


def _with_neighbours(
    asks: list[_Ask], curves: list[_Curve], capacity: int, objective: float, *, slots: int
) -> list[_Ask]:
    """The MIP asks (largest part first), each told how much is enough, plus nearby numbers of homes for idle workers.

    A part's MIP need only prove that ``n`` homes there cannot beat the plan in hand: its
    bound may stop at ``objective`` less the most the other parts reach with the rest.
    When a round has fewer asks than workers, the idle ones solve the numbers of homes
    nearest the picks (largest part first) whose bounds could still beat the plan: the
    next rounds would likely ask for them. (Adding them when no worker idles was measured
    slower: 10 km province, 177 s against 144 s.)
    """
    rest = best_without([curve.upper for curve in curves], capacity, sorted({ask.part for ask in asks}))
    asked = {(ask.part, ask.homes) for ask in asks}
    extra: list[_Ask] = []
    for ask in asks:
        want = slots - len(asks) - len(extra)
        curve, others = curves[ask.part], rest[ask.part]
        # ``others`` stops at the most homes the part may take (the capacity can be below its curve's end).
        nearest = sorted(range(1, len(others)), key=lambda n: (abs(n - ask.homes), n))
        for n in nearest:
            if want <= 0:
                break
            if (ask.part, n) in asked or curve.solved[n]:
                continue
            if curve.upper[n] + others[n] > objective + curve.slack:
                extra.append(replace(ask, homes=n, start=curve.plans[n]))
                asked.add((ask.part, n))
                want -= 1
    return [replace(ask, enough=objective - rest[ask.part][ask.homes]) for ask in asks + extra]


def solve_mclp_by_parts(
    cover: sp.csr_array,
    weights: np.ndarray,
    *,
    max_homes: int,
    solver: SolverOptions,
    started: float,
    workers: Workers,
) -> PartsResult:
    """Chosen columns, objective, bound and status of the decomposed MCLP (limit: ``solver.time_limit_s``)."""
    n_parts, row_labels, column_labels = coverage_components(cover)
    left = None if solver.time_limit_s is None else solver.time_limit_s - (time.perf_counter() - started)
    deadline_epoch = None if left is None else time.time() + left
    columns, parts = [], []
    rows_of, cols_of = members_of(row_labels, n_parts), members_of(column_labels, n_parts)
    for rows, cols, block in zip(rows_of, cols_of, blocks_of(cover, rows_of, cols_of), strict=True):
        if len(rows) and len(cols):
            columns.append(cols)
            parts.append(_CoverPart(block, weights[rows]))
    clock = time.perf_counter()
    curves = [_greedy_curve(part) for part in parts]
    capacity = min(max_homes, sum(len(curve.lower) - 1 for curve in curves))
    solvers: set[str] = set()
    rounds = 0
    every_part = tuple(parts)  # one object for every round: an engine sends it to its workers once
    while True:
        tick = time.perf_counter()
        bound, picks = combine_parts([curve.upper for curve in curves], capacity)
        objective, homes = combine_parts([curve.lower for curve in curves], capacity)
        # The last round's results need these two knapsacks too (2 s each at 2,843 parts and
        # 18,595 homes): the parts stop that much before the deadline, so the limit holds.
        closing_s = time.perf_counter() - tick
        parts_deadline = None if deadline_epoch is None else deadline_epoch - closing_s
        unsolved = [(c, n) for c, n in enumerate(picks) if not curves[c].solved[n]]
        # The LP relaxations first (fast): their tangents bound the whole curve, so the MIPs
        # are asked only where the relaxations leave the optimum.
        mip = all(curves[c].relaxed[n] for c, n in unsolved)
        asks = [
            _Ask(c, n, curves[c].plans[n], solver, parts_deadline, mip)
            for c, n in unsolved
            if mip or not curves[c].relaxed[n]
        ]
        tolerance = max(solver.gap * abs(objective), 1e-9 * max(abs(objective), 1.0))
        out_of_time = parts_deadline is not None and time.time() >= parts_deadline
        if not asks or bound - objective <= tolerance or out_of_time:
            break
        rounds += 1
        # Largest parts first, so that no worker is left with a big one at the end.
        asks.sort(key=lambda ask: -parts[ask.part].cover.nnz)
        if mip:
            asks = _with_neighbours(asks, curves, capacity, objective, slots=worker_count(workers))
        for found in map_parts(_solve_count, asks, workers=workers, shared=every_part, what="coverage part"):
            curves[found.part].learn(found)
            solvers.add(found.solver)
    solvers.discard("")
    proven = bound - objective <= tolerance
    chosen = [columns[c][list(curves[c].plans[n])] for c, n in enumerate(homes)]
    picked = np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)
    solver_name = " and ".join(sorted(solvers)) or "none (trivial)"
    stopped_by = f"time limit {solver.time_limit_s:g} s" if out_of_time else f"gap {solver.gap:g}"
    return PartsResult(
        chosen=np.sort(picked).astype(np.int64),
        objective=objective,
        bound=max(bound, objective),
        proven=proven,
        solver=f"{solver_name}, {len(parts)} parts + exact knapsack ({rounds} rounds)",
        seconds=time.perf_counter() - clock,
        stopped_by=None if proven else stopped_by,
    )
