"""Siting models against spopt, on clustered province-like instances, each timed from points to plan.

    python -m benchmarks.models [--quick]

Rows run in separate processes (peak memory is each row's own) with a time-out.
A spopt row that does not finish in time or runs out of memory says so.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np

from benchmarks.common import child_main, print_table, run_child

HOME_COST_CNY = 30_000.0


def province_points(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Clustered points (metres) over a 900 x 800 km area and lognormal child counts."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform([0, 0], [900_000, 800_000], (max(n // 110, 1), 2))
    which = rng.integers(0, len(centres), n)
    xy = centres[which] + rng.normal(0, 9_000, (n, 2))
    children = rng.lognormal(6.0, 0.8, n)
    return xy, children


def _row(plan: Any, started: float) -> dict[str, Any]:
    """One siting row: objective, status and times of a plan, timed from ``started``."""
    return {
        "objective": round(plan.objective, 1),
        "status": plan.status,
        "build_s": round(plan.timings_s["build"], 2),
        "solve_s": round(plan.timings_s["solve"], 2),
        "seconds": round(time.perf_counter() - started, 2),
    }


def _work(argv: list[str]) -> dict[str, Any]:
    tool, model, n_text, param_text = argv
    decomposed = model.endswith("+parts")
    by_township = model.endswith("+township")
    model = model.removesuffix("+parts").removesuffix("+township")
    n, param = int(n_text), int(param_text)
    xy, w = province_points(n)
    ids = np.array([f"{i:06d}" for i in range(n)], dtype=object)
    rng = np.random.default_rng(1)
    existing = ids[rng.choice(n, size=int(n * 1194 / 14589), replace=False)] if model == "mclp" else ids[:0]
    if tool == "siting":
        from siting.costs import distance_matrix
        from siting.models import SiteOptions, SolverOptions, solve_lscp, solve_mclp
        from siting.models.pmedian import solve_pmedian_nearest

        if by_township:
            # Townships: 1,413 compact groups of about 10 communities (k-means), as Yunnan's 1,413.
            from sklearn.cluster import KMeans

            from siting.access import Access
            from siting.costs import restrict_to_same_unit
            from siting.models import solve_pmedian

            town = KMeans(n_clusters=1_413, n_init=1, random_state=0).fit_predict(xy).astype(str).astype(object)
        started = time.perf_counter()  # imports (and the synthetic townships) are not timed, for either tool
        if by_township:
            costs = distance_matrix(xy, xy, demand_ids=ids, site_ids=ids, cutoff_m=60_000.0, crs="EPSG:32648")
            within = restrict_to_same_unit(costs, demand_unit=town, site_unit=town)
            access = Access(costs=within, standard=60_000.0, mode="distance", respect="township")
            plan = solve_pmedian(access, w, p=param, solver=SolverOptions(name="highs", time_limit_s=600))
            return _row(plan, started)
        if model == "pmedian":
            # Exact over every pair, as spopt's dense model: the k-nearest rounds prove it.
            plan = solve_pmedian_nearest(
                xy, xy, w, demand_ids=ids, site_ids=ids, p=param, solver=SolverOptions(name="highs", time_limit_s=600)
            )
            return _row(plan, started)
        costs = distance_matrix(xy, xy, demand_ids=ids, site_ids=ids, cutoff_m=5_000.0, crs="EPSG:32648")
        if model == "mclp":
            plan = solve_mclp(
                costs,
                w,
                budget_cny=param * HOME_COST_CNY,
                site_cost_cny=HOME_COST_CNY,
                sites=SiteOptions(existing=tuple(existing)),
                solver=SolverOptions(time_limit_s=600),
                decompose=decomposed,
            )
        else:
            plan = solve_lscp(costs, solver=SolverOptions(time_limit_s=600))  # the default solver (CBC)
        return _row(plan, started)
    import pulp
    from scipy.spatial.distance import cdist
    from spopt.locate import MCLP, PMedian

    started = time.perf_counter()
    dense = cdist(xy, xy)
    if model == "mclp":
        predefined = np.isin(ids, existing)
        problem = MCLP.from_cost_matrix(
            dense,
            w,
            service_radius=5_000.0,
            p_facilities=int(predefined.sum()) + param,
            predefined_facilities_arr=predefined,
        )
    else:
        problem = PMedian.from_cost_matrix(dense, w, p_facilities=param)
    built = time.perf_counter()
    problem.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=600))
    objective = float(pulp.value(problem.problem.objective))
    return {
        "objective": round(objective, 1),
        "status": "solved",
        "build_s": round(built - started, 2),
        "solve_s": round(time.perf_counter() - built, 2),
        "seconds": round(time.perf_counter() - started, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small instances only (about a minute)")
    parser.add_argument("--province", action="store_true", help="the province-sized rows only (siting alone)")
    parser.add_argument("--timeout-s", type=float, default=600)
    args = parser.parse_args()
    rows_spec = [
        ("mclp", 2_000, 60, True),
        ("pmedian", 500, 50, True),
    ]
    if not args.quick:
        rows_spec += [
            ("mclp", 5_000, 150, True),
            ("pmedian", 2_000, 200, True),
            ("mclp", 14_589, 440, False),
            ("mclp+parts", 14_589, 440, False),
            ("lscp", 14_589, 0, False),
            ("pmedian", 14_589, 1459, False),
            ("pmedian+township", 14_589, 1459, False),
        ]
    if args.province:
        rows_spec = [spec for spec in rows_spec if spec[1] == 14_589]
    rows: list[dict[str, Any]] = []
    for model, n, param, with_peer in rows_spec:
        ours = run_child("benchmarks.models", ["siting", model, str(n), str(param)], timeout_s=args.timeout_s)
        row = {"model": model, "n": n, "param": param, "tool": "siting"} | ours
        rows.append(row)
        if with_peer:
            peer = run_child("benchmarks.models", ["spopt", model, str(n), str(param)], timeout_s=args.timeout_s)
            peer_row = {"model": model, "n": n, "param": param, "tool": "spopt"} | peer
            if "seconds" in peer and "seconds" in ours:
                peer_row["ratio"] = f"{peer['seconds'] / ours['seconds']:.1f}x"
                row["same_objective"] = abs(peer["objective"] - ours["objective"]) <= 1e-6 * max(
                    1, abs(peer["objective"])
                )
            rows.append(peer_row)
    print_table(
        rows,
        [
            "model",
            "n",
            "param",
            "tool",
            "build_s",
            "solve_s",
            "seconds",
            "peak_mb",
            "worker_peak_mb",
            "objective",
            "status",
            "same_objective",
            "ratio",
            "error",
        ],
    )
    print("\nmclp+parts: the same MCLP split into coverage components joined by the exact knapsack.")
    print("pmedian+township: respect='township' (1,413 k-means townships), each solved for every p, exact knapsack.")
    print("pmedian (siting): k-nearest rounds with Lagrangian fixing, proven optimal over every pair.")
    print("\nparam: new homes (mclp, on top of existing homes = 1194/14589 of n) or p (pmedian).")
    print("ratio: spopt seconds / siting seconds, both timed from points to plan.")
    print(f"load average after the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 5 and sys.argv[1] in ("siting", "spopt"):
        child_main(_work)
    else:
        main()
