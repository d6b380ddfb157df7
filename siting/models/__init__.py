"""Siting models. Each takes an :class:`~siting.access.Access` (or a cost matrix) and returns a frozen :class:`Plan`.

Options shared by every model come as two small types: :class:`SiteOptions` (existing,
forced and excluded sites, the township minimum) and :class:`SolverOptions` (solver,
time limit, gap, seed). :func:`solve_pmedian_nearest` takes points and proves its plan
over every pair. :mod:`siting.models.registry` dispatches by model name for scenarios.
"""

from siting.models.greedy import greedy_mclp
from siting.models.lscp import solve_lscp, solve_partial_cover
from siting.models.mclp import solve_mclp
from siting.models.options import SiteOptions, SolverOptions
from siting.models.plan import Plan, PlanYear
from siting.models.pmedian import solve_pmedian, solve_pmedian_nearest

__all__ = [
    "Plan",
    "PlanYear",
    "SiteOptions",
    "SolverOptions",
    "greedy_mclp",
    "solve_lscp",
    "solve_mclp",
    "solve_partial_cover",
    "solve_pmedian",
    "solve_pmedian_nearest",
]
