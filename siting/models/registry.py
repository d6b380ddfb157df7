"""Models by name: what each one is, which ``[model]`` options it takes, and how a run calls it.

The scenario loader asks :func:`option_problems` which options a model ignores and
refuses them by name; the pipeline calls :func:`solve_model`. Adding a model is one
entry in :data:`MODELS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # the scenario loader imports this module: keep it light (solvers load when a model runs)
    from siting.access import Access
    from siting.models.fair import UnitShares
    from siting.models.options import SiteOptions, SolverOptions
    from siting.models.plan import Plan

__all__ = ["COMMON_OPTIONS", "MODELS", "ModelRequest", "ModelSpec", "PhasingOptions", "option_problems", "solve_model"]

#: ``[model]`` keys every model takes (they shape the sites, the costs or the weights, not the model).
COMMON_OPTIONS = (
    "type",
    "cost_per_home_cny",
    "site_cost_column",
    "respect",
    "min_per_township",
    "locked_in",
    "locked_out",
    "priority_factors",
)


@dataclass(frozen=True)
class PhasingOptions:
    """A multi-year build: the years, their budgets, carry-over and the method."""

    years: tuple[int, ...]
    budgets_cny: tuple[float, ...]
    carry_over: bool = False
    method: str = "auto"


@dataclass(frozen=True, eq=False)
class ModelRequest:
    """Everything a model needs from a run."""

    access: Access
    weights: np.ndarray
    site_cost_cny: np.ndarray
    sites: SiteOptions
    solver: SolverOptions
    options: Mapping[str, Any] = field(default_factory=dict)
    phasing: PhasingOptions | None = None
    #: Per demand point (by id) its county and township codes; unit code → name (for min_share and max_min).
    unit_of_demand: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    unit_names: Mapping[str, str] | None = None

    def unit_shares(self) -> UnitShares | None:
        """The ``min_share`` / ``max_min`` options as the fair models take them (None when neither is set)."""
        from siting.models.fair import UnitShares

        share, max_min = self.options.get("min_share"), bool(self.options.get("max_min", False))
        if not share and not max_min:
            return None
        level = str(self.options.get("min_share_per", "county"))
        return UnitShares(
            self.unit_of_demand[level],
            min_share=float(share or 0.0),
            max_min=max_min,
            level=level,
            names=self.unit_names,
        )


@dataclass(frozen=True)
class ModelSpec:
    """One model: its name, what planners call it, the options it takes and how to run it."""

    name: str
    title: str
    options: tuple[str, ...]
    required: tuple[tuple[str, ...], ...]
    phased: bool
    solve: Callable[[ModelRequest], Plan]


def _mclp(request: ModelRequest) -> Plan:
    from siting.models.fair import solve_fair_mclp
    from siting.models.mclp import solve_mclp

    shares = request.unit_shares()
    if shares is not None:
        return solve_fair_mclp(
            request.access,
            request.weights,
            shares=shares,
            budget_cny=request.options.get("budget_cny"),
            n_homes=request.options.get("n_homes"),
            site_cost_cny=request.site_cost_cny,
            sites=request.sites,
            solver=request.solver,
        )

    if request.phasing is not None:
        from siting.phasing import phase_homes

        return phase_homes(
            request.access,
            request.weights,
            years=request.phasing.years,
            budgets_cny=request.phasing.budgets_cny,
            site_cost_cny=request.site_cost_cny,
            sites=request.sites,
            carry_over=request.phasing.carry_over,
            method=request.phasing.method,
            solver=request.solver,
        )
    return solve_mclp(
        request.access,
        request.weights,
        budget_cny=request.options.get("budget_cny"),
        n_homes=request.options.get("n_homes"),
        site_cost_cny=request.site_cost_cny,
        capacity=request.options.get("capacity"),
        sites=request.sites,
        solver=request.solver,
    )


def _lscp(request: ModelRequest) -> Plan:
    from siting.models.fair import solve_fair_lscp
    from siting.models.lscp import solve_lscp

    shares = request.unit_shares()
    if shares is not None:
        return solve_fair_lscp(
            request.access, request.weights, shares=shares, sites=request.sites, solver=request.solver
        )

    return solve_lscp(request.access, weights=request.weights, sites=request.sites, solver=request.solver)


def _partial_cover(request: ModelRequest) -> Plan:
    from siting.models.lscp import solve_partial_cover

    return solve_partial_cover(
        request.access, request.weights, share=request.options["share"], sites=request.sites, solver=request.solver
    )


def _pmedian(request: ModelRequest) -> Plan:
    from siting.models.pmedian import solve_pmedian

    return solve_pmedian(
        request.access,
        request.weights,
        p=request.options["p"],
        capacity=request.options.get("capacity"),
        sites=request.sites,
        solver=request.solver,
    )


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "mclp",
            "最大覆盖 maximal covering (MCLP)",
            ("budget_cny", "n_homes", "capacity", "min_share", "min_share_per", "max_min"),
            (("budget_cny", "n_homes"),),
            True,
            _mclp,
        ),
        ModelSpec("lscp", "全覆盖最少选址 set covering (LSCP)", ("min_share", "min_share_per"), (), False, _lscp),
        ModelSpec("partial_cover", "部分覆盖 partial covering", ("share",), (("share",),), False, _partial_cover),
        ModelSpec("pmedian", "P-中位 p-median", ("p", "capacity"), (("p",),), False, _pmedian),
    )
}


def option_problems(model: str, given: Mapping[str, Any], *, phased: bool = False) -> list[str]:
    """What is wrong with the ``[model]`` options ``given`` for ``model`` (empty when nothing).

    Every option the model does not take is refused by name, with the ones it does take.
    """
    spec = MODELS.get(model)
    if spec is None:
        return [f"model.type {model!r} is not one of {sorted(MODELS)}"]
    problems = []
    takes = set(spec.options) | set(COMMON_OPTIONS)
    if phased:
        if not spec.phased:
            return [f"[phasing] plans yearly builds for model 'mclp', not {model!r}"]
        takes -= {"budget_cny", "n_homes", "capacity", "min_share", "min_share_per", "max_min"}  # yearly budgets
    for key in sorted(set(given) - takes):
        own = ", ".join(spec.options) or "none of its own"
        why = " ([phasing] budgets_cny sets the money)" if phased and key in spec.options else ""
        problems.append(
            f"model {model!r} does not take {key}{why}; remove it (options of {model!r}: {own}; "
            f"every model: {', '.join(c for c in COMMON_OPTIONS if c != 'type')})"
        )
    if not phased:
        for group in spec.required:
            if not any(given.get(k) is not None for k in group):
                problems.append(f"model {model!r} needs {' or '.join(group)}")
    return problems


def solve_model(model: str, request: ModelRequest) -> Plan:
    """Run the model ``model`` on a request."""
    if model not in MODELS:
        raise KeyError(model)
    return MODELS[model].solve(request)
