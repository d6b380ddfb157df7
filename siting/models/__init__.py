"""Siting models. Each takes a :class:`~siting.costs.CostMatrix` and returns a :class:`Plan`."""

from siting.models.mclp import solve_mclp
from siting.models.plan import Plan

__all__ = ["Plan", "solve_mclp"]
