"""What the solver wrapper reports, including PuLP's 'Optimal' for a CBC run stopped at its time limit."""

from __future__ import annotations

from typing import Any

import pulp
import pytest

from siting.errors import InfeasibleError, SolverError
from siting.models.solve import solve_problem


class StoppedAtTimeLimit(pulp.LpProblem):
    """A problem whose solve behaves like CBC stopped with an unproven incumbent."""

    def solve(self, solver: Any = None, **kwargs: Any) -> int:
        for var in self.variables():
            var.varValue = 1.0
        self.status = pulp.LpStatusOptimal  # what PuLP reports for CBC in this case
        self.sol_status = pulp.LpSolutionIntegerFeasible  # what really happened
        return self.status


def test_time_limit_incumbent_is_feasible_not_optimal() -> None:
    problem = StoppedAtTimeLimit("p", pulp.LpMaximize)
    x = pulp.LpVariable("x", cat=pulp.LpBinary)
    problem += 3 * x
    problem += x <= 1
    result = solve_problem(problem, solver="cbc", time_limit_s=1)
    assert result.status == "feasible"
    assert result.objective == 3.0


@pytest.mark.parametrize("solver", ["cbc", "highs"])
def test_optimal_and_infeasible(solver: str) -> None:
    problem = pulp.LpProblem("p", pulp.LpMaximize)
    x = pulp.LpVariable("x", lowBound=0, upBound=4, cat=pulp.LpInteger)
    problem += x
    problem += 2 * x <= 7
    result = solve_problem(problem, solver=solver)
    assert (result.status, result.objective, result.bound, result.gap) == ("optimal", 3.0, 3.0, 0.0)
    bad = pulp.LpProblem("bad", pulp.LpMinimize)
    y = pulp.LpVariable("y", lowBound=0)
    bad += y
    bad += y >= 2
    bad += y <= 1
    with pytest.raises(InfeasibleError, match="infeasible"):
        solve_problem(bad, solver=solver)


def test_unknown_solver() -> None:
    with pytest.raises(Exception, match="unknown solver 'gurobi'"):
        solve_problem(pulp.LpProblem("p"), solver="gurobi")
    assert issubclass(SolverError, RuntimeError)


class SlowSolve(pulp.LpProblem):
    """A problem whose solver 'overruns' its time limit."""

    def solve(self, solver: Any = None, **kwargs: Any) -> int:
        import time

        time.sleep(1.3)
        for var in self.variables():
            var.varValue = 1.0
        self.status = pulp.LpStatusOptimal
        self.sol_status = pulp.LpSolutionOptimal
        return self.status


def test_a_solver_overrunning_its_limit_is_reported() -> None:
    problem = SlowSolve("p", pulp.LpMaximize)
    x = pulp.LpVariable("x", cat=pulp.LpBinary)
    problem += x
    with pytest.warns(Warning, match=r"ran 1\.\d s although the time limit was 0\.1 s"):
        result = solve_problem(problem, solver="cbc", time_limit_s=0.1)
    assert result.seconds >= 1.3
