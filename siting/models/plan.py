"""The result of every siting model: a frozen :class:`Plan`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["Plan", "frozen_mapping"]


def frozen_mapping(values: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    """A read-only copy of ``values``."""
    return MappingProxyType(dict(values or {}))


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
    gap
        Relative gap ``|bound - objective| / |objective|``, when known.
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
    """

    model: str
    parameters: Mapping[str, Any]
    site_ids: tuple[str, ...]
    existing_ids: tuple[str, ...]
    new_ids: tuple[str, ...]
    objective: float
    bound: float | None
    gap: float | None
    status: str
    solver: str
    timings_s: Mapping[str, float] = field(default_factory=frozen_mapping)
    assignment: Mapping[str, str] | None = None
    unreachable_ids: tuple[str, ...] = ()

    @property
    def n_new(self) -> int:
        """Number of homes the plan adds."""
        return len(self.new_ids)
