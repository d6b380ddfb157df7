"""The result of every siting model: a frozen :class:`Plan`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from siting.models.problem import relative_gap

__all__ = ["Plan", "PlanYear", "frozen_mapping"]


def frozen_mapping(values: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    """A read-only copy of ``values``."""
    return MappingProxyType(dict(values or {}))


@dataclass(frozen=True)
class PlanYear:
    """One year of a phased plan: money spent, homes built, weight covered at its end and the proven bound."""

    year: int
    budget_cny: float
    spent_cny: float
    homes_built: int
    covered: float
    bound: float | None

    @property
    def gap(self) -> float | None:
        """Relative gap of the year's coverage to its bound (see :func:`siting.models.solver.relative_gap`)."""
        return relative_gap(self.covered, self.bound)


@dataclass(frozen=True, eq=False)
class Plan:
    """Which sites are open, why, and how sure the solver is.

    Attributes
    ----------
    model
        Model name, e.g. ``"mclp"``.
    parameters
        The model's parameters as given (read-only mapping).
    site_ids
        Every open home: fixed existing and forced ones plus the new ones chosen.
    existing_ids
        Homes that were fixed open because they already exist.
    new_ids
        Homes the model adds (forced ones included).
    objective
        Objective value of the plan in the model's own terms (e.g. weighted
        children covered, including those covered by existing homes).
    bound
        Best proven bound on the objective, when known.
    status
        ``"optimal"`` (proven within the requested gap), ``"feasible"`` (stopped
        early with this plan, not proven), or ``"heuristic"``.
    solver
        Solver name and version.
    timings_s
        Seconds per step (``build``, ``solve``).
    assignment
        Demand id → site id where the model assigns demand, else ``None``.
    unreachable_ids
        Demand ids that no allowed site can serve within the standard; they are
        reported, never silently dropped.
    stopped_by
        What stopped the solve before it proved the optimum (``"time limit 120 s"``),
        or None.
    build_year
        New site id → the year it is built, for phased plans.
    years
        One :class:`PlanYear` per year of a phased plan.
    """

    model: str
    parameters: Mapping[str, Any]
    site_ids: tuple[str, ...]
    existing_ids: tuple[str, ...]
    new_ids: tuple[str, ...]
    objective: float
    bound: float | None
    status: str
    solver: str
    timings_s: Mapping[str, float] = field(default_factory=frozen_mapping)
    assignment: Mapping[str, str] | None = None
    unreachable_ids: tuple[str, ...] = ()
    stopped_by: str | None = None
    build_year: Mapping[str, int] | None = None
    years: tuple[PlanYear, ...] = ()

    @property
    def n_new(self) -> int:
        """Number of homes the plan adds."""
        return len(self.new_ids)

    @property
    def gap(self) -> float | None:
        """``|bound - objective| / |objective|`` (:func:`siting.models.solver.relative_gap`), when known."""
        return relative_gap(self.objective, self.bound)

    def status_text(self) -> str:
        """The status as a summary line shows it: ``feasible (gap 9.95 %, time limit 120 s)``."""
        parts = [] if self.gap is None else [f"gap {100 * self.gap:.2f} %"]
        if self.stopped_by:
            parts.append(self.stopped_by)
        return f"{self.status} ({', '.join(parts)})" if parts else self.status
