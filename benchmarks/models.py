"""Siting models against spopt and a plain sparse model, on clustered province-like instances.

    python -m benchmarks.models [--quick | --province | --hard] [--repeat 3] [--out FILE]

Rows run in separate processes (peak memory is each row's own) with a time-out, each
timed from points to plan: wall seconds, CPU seconds (the row's process and its
workers, from ``resource.getrusage``) and the load average when the row ended.
A peer row that does not finish in time or runs out of memory says so.

``--hard``: the wide standards of the 14,589-point province with no existing homes
(MCLP with 440 new homes at 10 km and 110 at 20 km, where 440 cover everything;
LSCP at 10 and 20 km) and the Yunnan sample's 60-minute travel-time matrix, against
the plain sparse model of every pair within the standard solved by HiGHS (PuLP, one
thread), the same solver siting uses there.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path
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


def cpu_s() -> float:
    """CPU seconds of this process and of the worker processes it has waited for."""
    own, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime


def _gap(objective: float, bound: float | None) -> str:
    if bound is None:
        return "none"
    return f"{abs(bound - objective) / max(abs(objective), 1e-9):.3%}"


def _row(plan: Any, started: float, cpu_started: float) -> dict[str, Any]:
    """One siting row: objective, bound, status and times of a plan, timed from ``started``."""
    return {
        "objective": round(plan.objective, 1),
        "gap": _gap(plan.objective, plan.bound),
        "status": plan.status,
        "build_s": round(plan.timings_s["build"], 2),
        "solve_s": round(plan.timings_s["solve"], 2),
        "seconds": round(time.perf_counter() - started, 2),
        "cpu_s": round(cpu_s() - cpu_started, 2),
    }


def _travel_instance() -> tuple[Any, np.ndarray, float]:
    """The Yunnan sample's 60-minute travel-time matrix (demo_travel_time) and its children, cached on disk.

    Built once (about 20 s) and kept in ``benchmarks/.cache``, so every row times the models alone.
    """
    import scipy.sparse as sp

    from siting.costs import CostMatrix

    cache = Path(__file__).resolve().parent / ".cache" / "travel60.npz"
    if not cache.exists():
        import tempfile

        from benchmarks.travel_time import SCENARIO
        from siting import stages
        from siting.scenario import load_scenario
        from siting.travel.access import access_from_terrain

        scenario = load_scenario(SCENARIO)
        inputs = stages.read(scenario, Path(tempfile.mkdtemp()))
        points = stages.demand(scenario, inputs)
        sites, _ = stages.candidates(scenario, inputs, points)
        grid = stages.travel_grid(scenario, inputs)
        access = access_from_terrain(points, sites, grid, standard_min=60.0)
        cache.parent.mkdir(exist_ok=True)
        matrix = access.costs.matrix.tocsr()
        np.savez(
            cache,
            data=matrix.data,
            indices=matrix.indices,
            indptr=matrix.indptr,
            shape=np.array(matrix.shape),
            demand_ids=access.costs.demand_ids.astype(str),
            site_ids=access.costs.site_ids.astype(str),
            children=points["children"].to_numpy(dtype=float),
        )
    saved = np.load(cache)
    matrix = sp.csr_array((saved["data"], saved["indices"], saved["indptr"]), shape=tuple(saved["shape"]))
    ids = saved["demand_ids"].astype(object), saved["site_ids"].astype(object)
    return CostMatrix(matrix, ids[0], ids[1], "min", 60.0), saved["children"], 60.0


#: Time limit of the plain peer (seconds); ``--peer-limit-s`` sets it for a run.
PEER_LIMIT_ENV = "SITING_BENCH_PEER_LIMIT_S"


def _hard(tool: str, model: str, n: int, param: int, standard: str) -> dict[str, Any]:
    """One row of a wide-standard instance with no existing homes: siting, or the plain sparse model.

    ``standard``: ``"10"`` or ``"20"`` (km, on the synthetic province; the distances are timed) or
    ``"60min"`` (the Yunnan sample's travel-time matrix, built before the clock starts).
    """
    from siting.costs import distance_matrix

    if standard == "60min":
        costs, w, cutoff = _travel_instance()
        started, cpu_started = time.perf_counter(), cpu_s()
    else:
        xy, w = province_points(n)
        ids = np.array([f"{i:06d}" for i in range(n)], dtype=object)
        cutoff = float(standard) * 1_000
        started, cpu_started = time.perf_counter(), cpu_s()
        costs = distance_matrix(xy, xy, demand_ids=ids, site_ids=ids, cutoff_m=cutoff, crs="EPSG:32648")
    if tool == "siting":
        from siting.models import SolverOptions, solve_lscp, solve_mclp

        solver = SolverOptions(name="highs", time_limit_s=600)
        if model == "mclp":
            plan = solve_mclp(costs, w, n_homes=param, solver=solver)
        else:
            plan = solve_lscp(costs, solver=solver)
        return _row(plan, started, cpu_started) | {"solver": plan.solver}
    import pulp

    cover = costs.within(cutoff).tocsr()
    reachable = np.flatnonzero(np.diff(cover.indptr) > 0)  # the LSCP covers what some site reaches
    x = [pulp.LpVariable(f"x{j}", cat=pulp.LpBinary) for j in range(cover.shape[1])]
    rows = [cover.indices[cover.indptr[i] : cover.indptr[i + 1]] for i in range(cover.shape[0])]
    if model == "mclp":
        problem = pulp.LpProblem("mclp", pulp.LpMaximize)
        y = [pulp.LpVariable(f"y{i}", 0, 1) for i in range(cover.shape[0])]
        problem += pulp.lpDot(w.tolist(), y)
        for i, cols in enumerate(rows):
            problem += pulp.LpAffineExpression([(y[i], 1.0)] + [(x[j], -1.0) for j in cols]) <= 0
        problem += pulp.lpSum(x) <= param
    else:
        problem = pulp.LpProblem("lscp", pulp.LpMinimize)
        problem += pulp.lpSum(x)
        for i in reachable:
            problem += pulp.LpAffineExpression([(x[j], 1.0) for j in rows[i]]) >= 1
    built = time.perf_counter()
    problem.solve(pulp.HiGHS(msg=False, timeLimit=float(os.environ.get(PEER_LIMIT_ENV, 600)), threads=1))
    objective = float(pulp.value(problem.objective))
    info = problem.solverModel.getInfo()
    bound = abs(float(info.mip_dual_bound))
    optimal = pulp.LpStatus[problem.status] == "Optimal" and abs(bound - objective) <= 1e-6 * max(objective, 1)
    return {
        "objective": round(objective, 1),
        "gap": _gap(objective, bound),
        "status": "optimal" if optimal else "feasible",
        "build_s": round(built - started, 2),
        "solve_s": round(time.perf_counter() - built, 2),
        "seconds": round(time.perf_counter() - started, 2),
        "cpu_s": round(cpu_s() - cpu_started, 2),
        "solver": "HiGHS (PuLP, 1 thread)",
    }


def _work(argv: list[str]) -> dict[str, Any]:
    if len(argv) == 5:
        return _hard(argv[0], argv[1], int(argv[2]), int(argv[3]), argv[4])
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
        # imports (and the synthetic townships) are not timed, for either tool
        started, cpu_started = time.perf_counter(), cpu_s()
        if by_township:
            costs = distance_matrix(xy, xy, demand_ids=ids, site_ids=ids, cutoff_m=60_000.0, crs="EPSG:32648")
            within = restrict_to_same_unit(costs, demand_unit=town, site_unit=town)
            access = Access(costs=within, standard=60_000.0, mode="distance", respect="township")
            plan = solve_pmedian(access, w, p=param, solver=SolverOptions(name="highs", time_limit_s=600))
            return _row(plan, started, cpu_started)
        if model == "pmedian":
            # Exact over every pair, as spopt's dense model: the k-nearest rounds prove it.
            plan = solve_pmedian_nearest(
                xy, xy, w, demand_ids=ids, site_ids=ids, p=param, solver=SolverOptions(name="highs", time_limit_s=600)
            )
            return _row(plan, started, cpu_started)
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
        return _row(plan, started, cpu_started)
    import pulp
    from scipy.spatial.distance import cdist
    from spopt.locate import MCLP, PMedian

    started, cpu_started = time.perf_counter(), cpu_s()
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
        "cpu_s": round(cpu_s() - cpu_started, 2),
    }


def _standard_text(standard: str) -> str:
    return standard.replace("min", " min") if standard.endswith("min") else f"{standard} km"


def _median_row(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median wall time, with the medians of wall and CPU seconds (or the first failure)."""
    failed = [run for run in runs if "error" in run]
    if failed:
        return failed[0]
    middle = sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2]
    return middle | {
        "seconds": statistics.median(run["seconds"] for run in runs),
        "cpu_s": statistics.median(run["cpu_s"] for run in runs),
        "runs": len(runs),
    }


def _measured(args: list[str], *, repeat: int, timeout_s: float) -> dict[str, Any]:
    runs = []
    for _ in range(repeat):
        run = run_child("benchmarks.models", args, timeout_s=timeout_s)
        run["load_1m"] = round(os.getloadavg()[0], 2)
        runs.append(run)
        if "error" in run:
            break
    return _median_row(runs)


COLUMNS = [
    "model",
    "n",
    "param",
    "standard",
    "tool",
    "build_s",
    "solve_s",
    "seconds",
    "cpu_s",
    "load_1m",
    "peak_mb",
    "worker_peak_mb",
    "objective",
    "gap",
    "status",
    "same_objective",
    "ratio",
    "solver",
    "error",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small instances only (about a minute)")
    parser.add_argument("--province", action="store_true", help="the province-sized rows only (siting alone)")
    parser.add_argument("--hard", action="store_true", help="the wide-standard rows against the plain sparse model")
    parser.add_argument("--travel", action="store_true", help="only --hard's rows on the sample's 60-minute matrix")
    parser.add_argument("--repeat", type=int, default=3, help="runs per row; the table shows medians (default 3)")
    parser.add_argument("--timeout-s", type=float, default=700, help="kill a row's process after this")
    parser.add_argument("--peer-limit-s", type=float, default=600, help="the plain model's HiGHS time limit")
    parser.add_argument("--only", default=None, help="only the rows of this model and standard, e.g. mclp:10")
    parser.add_argument("--out", type=Path, default=None, help="also write the table to this file")
    args = parser.parse_args()
    # (model, n, param, standard (km, or "60min") or None for the shipped 5 km rows with existing homes, peer)
    rows_spec: list[tuple[str, int, int, str | None, str | None]] = [
        ("mclp", 2_000, 60, None, "spopt"),
        ("pmedian", 500, 50, None, "spopt"),
    ]
    if not args.quick:
        rows_spec += [
            ("mclp", 5_000, 150, None, "spopt"),
            ("pmedian", 2_000, 200, None, "spopt"),
            ("mclp", 14_589, 440, None, None),
            ("mclp+parts", 14_589, 440, None, None),
            ("lscp", 14_589, 0, None, None),
            ("pmedian", 14_589, 1459, None, None),
            ("pmedian+township", 14_589, 1459, None, None),
        ]
    if args.province:
        rows_spec = [spec for spec in rows_spec if spec[1] == 14_589]
    if args.hard:
        rows_spec = [
            ("mclp", 14_589, 440, "10", "plain"),
            ("mclp", 14_589, 110, "20", "plain"),
            ("lscp", 14_589, 0, "10", "plain"),
            ("lscp", 14_589, 0, "20", "plain"),
        ]
    os.environ[PEER_LIMIT_ENV] = str(args.peer_limit_s)  # the children inherit it
    travel_rows: list[tuple[str, int, int, str | None, str | None]] = [
        ("mclp", 14_589, 440, "60min", "plain"),
        ("lscp", 14_589, 0, "60min", "plain"),
    ]
    if args.hard:
        rows_spec += travel_rows
    elif args.travel:
        rows_spec = travel_rows
    if args.only is not None:
        rows_spec = [spec for spec in rows_spec if f"{spec[0]}:{spec[3]}" == args.only]
    rows: list[dict[str, Any]] = []
    for model, n, param, km, peer in rows_spec:
        where = [] if km is None else [km]
        shape = {"model": model, "n": n, "param": param, "standard": "5 km" if km is None else _standard_text(km)}
        ours = _measured(["siting", model, str(n), str(param), *where], repeat=args.repeat, timeout_s=args.timeout_s)
        row = shape | {"tool": "siting"} | ours
        rows.append(row)
        if peer is not None:
            theirs = _measured([peer, model, str(n), str(param), *where], repeat=args.repeat, timeout_s=args.timeout_s)
            peer_row = shape | {"tool": peer} | theirs
            if "seconds" in theirs and "seconds" in ours:
                key = "seconds" if peer == "spopt" else "cpu_s"
                # A peer stopped by its limit would have needed longer: the ratio is a lower bound.
                at_least = "" if theirs.get("status") in ("optimal", "solved") else ">"
                peer_row["ratio"] = f"{at_least}{theirs[key] / max(ours[key], 1e-9):.1f}x"
                row["same_objective"] = abs(theirs["objective"] - ours["objective"]) <= 1e-6 * max(
                    1, abs(theirs["objective"])
                )
            rows.append(peer_row)
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        print_table(rows, [c for c in COLUMNS if any(c in row for row in rows)])
        if args.hard or args.travel:
            print("\nNo existing homes; mclp param = new homes (440 cover everything at 20 km, so 110 there).")
            print("60 min: the Yunnan sample's travel-time matrix (demo_travel_time), built before the clock starts.")
            limit = f"{args.peer_limit_s:g} s limit"
            print(f"plain: every pair within the standard as one sparse PuLP model, HiGHS, 1 thread, {limit}.")
            print("ratio: plain CPU seconds / siting CPU seconds (siting's worker processes included);")
            print("       '>' where the plain model stopped at its limit unproven, so it would need longer.")
        else:
            print("\nmclp: the whole model (decompose=False); mclp+parts: coverage components, exact knapsack.")
            print("pmedian+township: respect='township' (1,413 k-means townships), exact knapsack.")
            print("pmedian (siting): k-nearest rounds with Lagrangian fixing, proven optimal over every pair.")
            print("\nparam: new homes (mclp, on top of existing homes = 1194/14589 of n) or p (pmedian).")
            print("ratio: spopt seconds / siting seconds, both timed from points to plan.")
        print("gap: (bound - objective) / objective as proven by the plan; cpu_s counts worker processes.")
        print(f"medians of {args.repeat} runs; load_1m: one-minute load average when the row's last run ended.")
        print(f"load average after the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    table = buffer.getvalue()
    print(table, end="")
    if args.out is not None:
        command = "python -m benchmarks.models " + " ".join(sys.argv[1:])
        header = f"# `{command}`\n\n{datetime.date.today()} on {platform.machine()} Linux, {os.cpu_count()} CPUs\n\n"
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(header + "```\n" + table + "```\n", encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:2] in (["siting"], ["spopt"], ["plain"]) and len(sys.argv) in (5, 6):
        child_main(_work)
    else:
        main()
