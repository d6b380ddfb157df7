"""Option types every model shares: which sites are fixed, forced or excluded, and how to solve."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from siting.errors import InputError
from siting.models.solver import SOLVERS

__all__ = ["SiteOptions", "SolverOptions"]


@dataclass(frozen=True)
class SiteOptions:
    """Sites given by id: existing homes, forced and excluded sites, and a township minimum.

    Attributes
    ----------
    existing
        Homes that exist: fixed open, they cost nothing more.
    forced
        Sites that must open as new homes (their cost counts).
    excluded
        Sites that must not open.
    min_per_township
        At least this many open homes (existing ones count) in every township with sites.
    township_of_site
        Site id → township code; needed for ``min_per_township``.
    """

    existing: tuple[str, ...] = ()
    forced: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    min_per_township: int = 0
    township_of_site: Mapping[str, str] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        for name in ("existing", "forced", "excluded"):
            object.__setattr__(self, name, tuple(str(s) for s in getattr(self, name)))
        if isinstance(self.min_per_township, bool) or self.min_per_township < 0:
            raise InputError(f"min_per_township must be a whole number ≥ 0, got {self.min_per_township!r}")
        both = sorted(set(self.excluded) & (set(self.existing) | set(self.forced)))
        if both:
            raise InputError(f"sites both excluded and existing/forced: {both[:10]}; a site cannot be both")
        if self.min_per_township > 0 and self.township_of_site is None:
            raise InputError("min_per_township needs township_of_site (the township code of each site)")


@dataclass(frozen=True)
class SolverOptions:
    """Which solver runs a model and how long it may take.

    Attributes
    ----------
    name
        ``"cbc"`` (bundled with PuLP) or ``"highs"``.
    time_limit_s
        Wall-clock limit for the whole model (all rounds and parts), or None.
    gap
        Relative optimality gap at which the solver may stop (0 = prove the optimum).
    seed
        Solver seed: the same seed gives the same plan.
    threads
        Solver threads.
    """

    name: str = "cbc"
    time_limit_s: float | None = 60.0
    gap: float = 0.0
    seed: int = 0
    threads: int = 1

    def __post_init__(self) -> None:
        if self.name not in SOLVERS:
            raise InputError(f"solver {self.name!r} is not one of {list(SOLVERS)}")
        limit = self.time_limit_s
        if limit is not None and (not isinstance(limit, int | float) or not math.isfinite(limit) or limit <= 0):
            raise InputError(f"time_limit_s must be a positive number of seconds or None, got {limit!r}")
        if not isinstance(self.gap, int | float) or not (0 <= self.gap < 1):
            raise InputError(f"gap must be a fraction from 0 to below 1 (e.g. 0.01 for 1 %), got {self.gap!r}")
        if isinstance(self.threads, bool) or self.threads < 1:
            raise InputError(f"threads must be at least 1, got {self.threads!r}")

    def deadline(self, started: float) -> float | None:
        """The wall-clock time (``time.perf_counter``) by which the model must return."""
        return None if self.time_limit_s is None else started + float(self.time_limit_s)

    def remaining(self, deadline: float | None, *, floor_s: float = 0.05) -> float | None:
        """Seconds left before ``deadline`` (at least ``floor_s``), or None without a limit."""
        return None if deadline is None else max(deadline - time.perf_counter(), floor_s)

    def solve_kwargs(self, deadline: float | None = None) -> dict[str, Any]:
        """Keyword arguments of :func:`siting.models.solver.solve_matrix_model`."""
        limit = self.time_limit_s if deadline is None else self.remaining(deadline)
        return {"solver": self.name, "time_limit_s": limit, "gap": self.gap, "seed": self.seed, "threads": self.threads}
