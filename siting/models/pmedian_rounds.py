"""The uncapacitated p-median in rounds: k nearest pairs plus a "beyond" option, Lagrangian fixing, a MIP, a check.

Each round keeps every demand point's ``k`` cheapest stored pairs and a relaxation
option "beyond them" priced at its next pair: a relaxation of the full model. A
Lagrangian bound (:mod:`siting.models.lagrange`) shuts most sites by reduced-cost fixing
against a target; the MIP solves what is left; a plan at or under the target proves the
fixing safe. When no demand point takes its beyond option the restricted optimum is the
optimum; otherwise ``k`` grows fourfold where it was taken. The best plan seen in any
round is kept, so a stop always returns it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from siting.errors import InfeasibleError, SolverError
from siting.models.lagrange import LagrangianBound, fixed_by_bound, pmedian_lagrangian, relaxed_cost
from siting.models.options import SolverOptions
from siting.models.pmedian_model import Pairs, nearest_open, pmedian_model
from siting.models.sites import SiteRules
from siting.models.solver import solve_matrix_model

__all__ = ["BestPlan", "Outcome", "solve_in_rounds"]

log = logging.getLogger(__name__)

_FIXING_GUESS = 4e-5  # first guess of the gap used for reduced-cost fixing (checked afterwards)


@dataclass(frozen=True)
class Outcome:
    open_sites: np.ndarray
    bound: float
    proven: bool
    solver: str
    solve_s: float
    rounds: int
    k_final: int
    fixed_shut: int
    stopped_by: str | None = None


class BestPlan:
    """The best p sites seen so far: fewest weighted points left without an open pair, then least travel."""

    def __init__(self, pairs: Pairs, w: np.ndarray, floor: np.ndarray | None, n_sites: int) -> None:
        self.pairs, self.w, self.floor, self.n_sites = pairs, w, floor, n_sites
        self.sites: np.ndarray | None = None
        self.key = (np.inf, np.inf)

    def consider(self, open_sites: np.ndarray) -> None:
        mask = np.zeros(self.n_sites, dtype=bool)
        mask[open_sites] = True
        nearest, _ = nearest_open(self.pairs, mask)
        served = np.isfinite(nearest)
        if self.floor is not None:
            served &= nearest <= self.floor
        key = (float(self.w[~served].sum()), float((self.w * np.where(served, nearest, 0.0)).sum()))
        if key < self.key:
            self.sites, self.key = np.asarray(open_sites, dtype=np.int64), key


@dataclass(frozen=True)
class _Round:
    """One round's restricted model: the pairs kept and the price of going beyond them."""

    keep: np.ndarray
    beyond: np.ndarray
    beyond_w: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    cost: np.ndarray
    starts: np.ndarray


def _restricted(pairs: Pairs, wr: np.ndarray, k_per: np.ndarray, floor: np.ndarray | None) -> _Round:
    """Each point's ``k_per`` cheapest pairs and the weighted cost of its beyond option."""
    keep = pairs.rank < k_per[pairs.rows]
    at_end = k_per >= pairs.count
    beyond = np.where(at_end, np.inf, pairs.cost[np.minimum(pairs.starts[:-1] + k_per, len(pairs.cost) - 1)])
    if floor is not None:
        beyond = np.where(at_end, floor[pairs.demand], beyond)
    beyond_w = np.where(np.isfinite(beyond), wr * np.where(np.isfinite(beyond), beyond, 0.0), np.inf)
    rows, cols = pairs.rows[keep], pairs.cols[keep]
    return _Round(
        keep, beyond, beyond_w, rows, cols, wr[rows] * pairs.cost[keep], np.concatenate([[0], np.cumsum(k_per)])
    )


@dataclass
class _Fixed:
    """What fixing and solving a round gave: the plan, the round's bound, whether it is proven, and the log."""

    chosen: np.ndarray
    bound: float
    proven: bool
    solver: str = "Lagrangian bound"
    seconds: float = 0.0
    shut: int = 0
    stopped: str | None = None


def _fix_and_solve(
    pairs: Pairs,
    restricted: _Round,
    lag: LagrangianBound,
    *,
    wr: np.ndarray,
    p: int,
    rules: SiteRules,
    free: np.ndarray,
    solver: SolverOptions,
    deadline: float | None,
    best: BestPlan,
) -> _Fixed:
    """Reduced-cost fixing against a guessed target, checked after the solve.

    A plan at or under the target proves the fixings were safe; otherwise fix again
    against that plan (a real plan: fixing against it is safe, and the next solve proves).
    """
    n_sites = len(free)
    out = _Fixed(chosen=lag.open_sites, bound=lag.bound, proven=False)
    target = lag.bound * (1 + _FIXING_GUESS) + 1e-9
    if rules.min_per_township == 0:
        target = min(target, lag.upper)
    for attempt in range(4):
        if deadline is not None and time.perf_counter() > deadline:
            out.stopped = f"time limit {solver.time_limit_s:g} s"
            return out
        shut, opened = fixed_by_bound(lag, p=p, fixed_open=rules.fixed, free=free, target=target)
        model, scale = pmedian_model(
            pairs,
            restricted.keep & ~shut[pairs.cols],
            w=wr,
            beyond_w=restricted.beyond_w,
            n_sites=n_sites,
            p=p,
            rules=rules,
            shut=shut,
            opened=opened,
            capacity=None,
        )
        try:
            result, values = solve_matrix_model(model, **solver.solve_kwargs(deadline))
        except InfeasibleError:
            if np.isinf(target):
                raise
            target = np.inf if attempt >= 2 else target * (1 + 10 * _FIXING_GUESS) + 1.0
            continue
        except SolverError:  # stopped before it found a plan: keep the best plan held
            out.stopped = f"time limit {solver.time_limit_s:g} s"
            return out
        log.debug(
            "%s %s in %.1f s, %d sites shut, target %.6g",
            result.solver,
            result.status,
            result.seconds,
            int(shut.sum()),
            target,
        )
        out.seconds += result.seconds
        out.solver, out.shut = result.solver, int(shut.sum())
        out.chosen = np.flatnonzero(values[:n_sites] > 0.5)
        best.consider(out.chosen)
        open_mask = np.zeros(n_sites, dtype=bool)
        open_mask[out.chosen] = True
        value = float(
            relaxed_cost(restricted.starts, restricted.cols, restricted.cost, restricted.beyond_w, open_mask).sum()
        )
        core_bound = value if result.bound is None else result.bound * scale
        out.bound = max(lag.bound, min(core_bound, target))
        if result.status != "optimal":
            out.stopped = f"time limit {solver.time_limit_s:g} s"
            return out
        if value <= target * (1 + 1e-12) or np.isinf(target):
            out.proven = True
            out.bound = max(out.bound, min(core_bound, value))
            return out
        target = value
    return out


def solve_in_rounds(
    pairs: Pairs,
    *,
    w: np.ndarray,
    floor: np.ndarray | None,
    n_sites: int,
    p: int,
    rules: SiteRules,
    k_nearest: int | None,
    max_rounds: int,
    solver: SolverOptions,
    deadline: float | None,
) -> Outcome:
    """Rounds of growing ``k`` until the restricted optimum is proven for the full model, or time runs out."""
    wr = w[pairs.demand]
    k_per = pairs.count.copy() if k_nearest is None else np.minimum(pairs.count, k_nearest)
    free = rules.allowed(n_sites)
    free[rules.fixed] = False
    multipliers = None
    bound, solve_s, solver_name, shut = -np.inf, 0.0, "Lagrangian bound", 0
    best = BestPlan(pairs, wr, None if floor is None else floor[pairs.demand], n_sites)
    stopped: str | None = None
    for round_no in range(1, max_rounds + 1):
        restricted = _restricted(pairs, wr, k_per, floor)
        lag = pmedian_lagrangian(
            restricted.rows,
            restricted.cols,
            restricted.cost,
            restricted.beyond_w,
            n_sites=n_sites,
            p=p,
            fixed_open=rules.fixed,
            free=free,
            start=multipliers,
            deadline=deadline,
        )
        multipliers = lag.multipliers
        best.consider(lag.open_sites)
        log.debug(
            "round %d: %d pairs kept, Lagrangian bound %.6g, plan %.6g after %d steps",
            round_no,
            int(restricted.keep.sum()),
            lag.bound,
            lag.upper,
            lag.iterations,
        )
        fixed = _Fixed(chosen=lag.open_sites, bound=lag.bound, proven=lag.proven and rules.min_per_township == 0)
        if not fixed.proven:
            fixed = _fix_and_solve(
                pairs,
                restricted,
                lag,
                wr=wr,
                p=p,
                rules=rules,
                free=free,
                solver=solver,
                deadline=deadline,
                best=best,
            )
        solve_s += fixed.seconds
        solver_name = fixed.solver if fixed.seconds else solver_name
        bound, shut, stopped = max(bound, fixed.bound), fixed.shut, fixed.stopped
        if not fixed.proven:
            held = best.sites if best.sites is not None else fixed.chosen
            return Outcome(held, bound, False, solver_name, solve_s, round_no, int(k_per.max()), shut, stopped)
        open_mask = np.zeros(n_sites, dtype=bool)
        open_mask[fixed.chosen] = True
        nearest, _ = nearest_open(pairs, open_mask)
        # Zero-weight points cost nothing wherever they go; they cannot spoil the proof.
        takers = np.flatnonzero(((nearest > restricted.beyond) | ~np.isfinite(nearest)) & (wr > 0))
        if len(takers) == 0:
            return Outcome(fixed.chosen, bound, True, solver_name, solve_s, round_no, int(k_per.max()), shut)
        growable = takers[k_per[takers] < pairs.count[takers]]
        if len(growable) == 0:
            break
        k_per[growable] = np.minimum(k_per[growable] * 4, pairs.count[growable])
        if deadline is not None and time.perf_counter() > deadline:
            stopped = f"time limit {solver.time_limit_s:g} s"
            break
    held = best.sites if best.sites is not None else rules.fixed
    stopped = stopped or f"{max_rounds} rounds of growing k_nearest"
    return Outcome(held, bound, False, solver_name, solve_s, max_rounds, int(k_per.max()), 0, stopped)
