"""Travel-time access on the province: siting's windowed bucket search against scipy's Dijkstra.

    python -m benchmarks.travel_time [--peer-sites 30]

The instance is the Yunnan sample's demo_travel_time scenario: every candidate site
(one per community seat plus the existing homes), 60 minutes towards the home, on the
200 m travel grid (real heights plus modelled relief, real rivers and lakes, modelled roads).

Rows (each in its own process, peak memory its own):

* ``matrix siting``: :func:`siting.travel.access.access_from_terrain`, 2 workers.
* ``matrix scipy per site``: the same search per site over the whole grid with
  ``scipy.sparse.csgraph.dijkstra(limit=60)`` on the explicit grid graph. It is timed on
  ``--peer-sites`` sites and extrapolated to all of them (said in the row); its pairs
  are checked against siting's for those sites.
* ``raster siting`` / ``raster scipy``: the nearest-home travel-time raster from the
  1,194 existing homes, one multi-source search each (scipy: ``min_only=True``).

``cells/s`` is the physical-limit reference: grid cells settled per second of search.
Targets (issue 14): matrix under 2 minutes and 4 GB on 2 cores, at least 20× faster than
the per-site whole-grid search; raster under 10 s.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import child_main, print_table, run_child

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "demo_travel_time.toml"


def _instance() -> tuple[Any, Any, Any, Any, Any]:
    from siting import stages
    from siting.scenario import load_scenario

    scenario = load_scenario(SCENARIO)
    inputs = stages.read(scenario, Path(tempfile.mkdtemp()))
    points = stages.demand(scenario, inputs)
    sites, options = stages.candidates(scenario, inputs, points)
    started = time.perf_counter()
    grid = stages.travel_grid(scenario, inputs)
    return scenario, points, sites, (grid, time.perf_counter() - started), options


def _work(argv: list[str]) -> dict[str, Any]:
    what, peer_sites = argv[0], int(argv[1])
    from scipy.sparse.csgraph import dijkstra

    from siting.travel.access import access_from_terrain, snap_points
    from siting.travel.graph import grid_graph
    from siting.travel.grid import nearest_times

    _, points, sites, (grid, grid_s), options = _instance()
    n_cells = int((grid.speed_kmh > 0).sum())
    if what == "matrix-siting":
        started = time.perf_counter()
        access = access_from_terrain(points, sites, grid, standard_min=60.0, workers=2)
        seconds = time.perf_counter() - started
        return {
            "seconds": round(seconds, 1),
            "grid_s": round(grid_s, 1),
            "sites": len(sites),
            "pairs": access.n_pairs,
            "grid_cells": n_cells,
        }
    rows, cols, _ = snap_points(grid, sites)
    if what == "matrix-scipy":
        reference = access_from_terrain(points, sites.iloc[:peer_sites], grid, standard_min=60.0, workers=1)
        graph = grid_graph(grid, reverse=True)
        d_rows, d_cols, _ = snap_points(grid, points)
        demand_cells = d_rows * grid.shape[1] + d_cols
        started = time.perf_counter()
        pairs, worst = 0, 0.0
        for k in range(peer_sites):
            times = dijkstra(graph, indices=int(rows[k] * grid.shape[1] + cols[k]), limit=60.0)
            reached = np.isfinite(times[demand_cells])
            pairs += int(reached.sum())
            ours = reference.costs.matrix.tocsc()[:, [k]].toarray().ravel()
            worst = max(
                worst, float(np.abs(np.where(reached, times[demand_cells], 0) - np.where(reached, ours, 0)).max())
            )
        per_site = (time.perf_counter() - started) / peer_sites
        return {
            "seconds": round(per_site * len(sites), 1),
            "note": f"{per_site:.2f} s a site × {len(sites):,} sites (timed on {peer_sites})",
            "pairs_checked": pairs,
            "same_pairs": pairs == reference.costs.matrix.tocsc()[:, :peer_sites].nnz and worst < 1e-9,
            "grid_cells": n_cells,
        }
    existing = np.flatnonzero(sites["site_id"].isin(options.existing).to_numpy())
    if what == "raster-siting":
        started = time.perf_counter()
        minutes, _ = nearest_times(grid, rows[existing], cols[existing], reverse=True)
        seconds = time.perf_counter() - started
        settled = int(np.isfinite(minutes).sum())
        return {"seconds": round(seconds, 1), "cells_per_s": f"{settled / seconds / 1e6:.1f} M", "grid_cells": n_cells}
    graph = grid_graph(grid, reverse=True)
    started = time.perf_counter()
    times = dijkstra(graph, indices=rows[existing] * grid.shape[1] + cols[existing], min_only=True)
    seconds = time.perf_counter() - started
    settled = int(np.isfinite(times).sum())
    return {"seconds": round(seconds, 1), "cells_per_s": f"{settled / seconds / 1e6:.1f} M", "grid_cells": n_cells}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer-sites", type=int, default=30, help="sites the per-site scipy search is timed on")
    args = parser.parse_args()
    rows = []
    for what, tool in (
        ("matrix-siting", "siting (windows, 2 workers)"),
        ("matrix-scipy", "scipy dijkstra per site"),
        ("raster-siting", "siting (one search)"),
        ("raster-scipy", "scipy dijkstra min_only"),
    ):
        result = run_child("benchmarks.travel_time", ["--child", what, str(args.peer_sites)], timeout_s=1800)
        rows.append({"task": what.split("-")[0], "tool": tool, **result})
    for task in ("matrix", "raster"):
        ours, peer = (r for r in rows if r["task"] == task)
        if "seconds" in ours and "seconds" in peer:
            peer["ratio"] = f"{peer['seconds'] / max(ours['seconds'], 1e-9):.1f}x"
    load = os.getloadavg()
    columns = ["task", "tool", "seconds", "peak_mb", "worker_peak_mb", "pairs", "cells_per_s", "ratio", "note"]
    print_table(rows, columns)
    print()
    matrix = rows[0]
    print(
        f"grid: {matrix.get('grid_cells', 0):,} passable cells of 200 m, built in {matrix.get('grid_s')} s; "
        f"{matrix.get('sites', 0):,} sites; 60 min towards the home."
    )
    print(f"scipy per site: pairs checked {rows[1].get('pairs_checked')}, same as siting: {rows[1].get('same_pairs')}.")
    print("ratio: scipy seconds / siting seconds. Targets: matrix < 120 s and < 4 GB, ≥ 20x; raster < 10 s.")
    print(f"load average during the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    import sys

    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        sys.argv = [sys.argv[0], *sys.argv[2:]]
        child_main(_work)
    else:
        main()
