"""Siting models. Each takes a :class:`~siting.costs.CostMatrix` and returns a frozen :class:`Plan`."""

from siting.models.greedy import greedy_mclp
from siting.models.lscp import solve_lscp, solve_partial_cover
from siting.models.mclp import solve_mclp
from siting.models.plan import Plan
from siting.models.pmedian import solve_pmedian

__all__ = ["Plan", "greedy_mclp", "solve_lscp", "solve_mclp", "solve_partial_cover", "solve_pmedian"]
