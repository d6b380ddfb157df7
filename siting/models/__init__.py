"""Siting models. Each takes a :class:`~siting.costs.CostMatrix` and returns a frozen :class:`Plan`.

:func:`solve_pmedian_nearest` is the exception: it takes points and proves its plan over every pair.
"""

from siting.models.greedy import greedy_mclp
from siting.models.lscp import solve_lscp, solve_partial_cover
from siting.models.mclp import solve_mclp
from siting.models.plan import Plan
from siting.models.pmedian import solve_pmedian, solve_pmedian_nearest

__all__ = [
    "Plan",
    "greedy_mclp",
    "solve_lscp",
    "solve_mclp",
    "solve_partial_cover",
    "solve_pmedian",
    "solve_pmedian_nearest",
]
