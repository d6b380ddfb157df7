"""Working with finished runs: rerun, compare, sweep."""

from __future__ import annotations

import math
import tempfile
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from siting.access import format_cost
from siting.engine import open_engine, using_engine
from siting.errors import InputError, SitingWarning
from siting.inputs import file_sha256
from siting.parallel import map_parts
from siting.report.charts import budget_curve_chart, compare_chart
from siting.report.sharing import write_csv
from siting.rundir import open_run, writable_folder
from siting.scenario import Scenario

__all__ = ["compare_runs", "parse_range", "read_run", "rerun", "scenario_from_run", "sweep"]


def read_run(run_dir: Path) -> dict[str, Any]:
    """The ``run.json`` of a finished run (or of the newest run in a scenario's folder)."""
    return open_run(run_dir).record


def scenario_from_run(run_dir: Path) -> Scenario:
    """The scenario recorded in a run, validated again by the scenario loader."""
    return open_run(run_dir).scenario()


def rerun(run_dir: Path) -> tuple[bool, list[str]]:
    """Run a recorded scenario again and say whether the plan is identical.

    Returns
    -------
    tuple
        ``(identical, differences)``: differences lists changed input files and
        homes added or removed.
    """
    from siting.pipeline import run

    finished = open_run(run_dir)
    record = finished.record
    differences = []
    for path, digest in record.get("inputs", {}).items():
        if not Path(path).exists():
            differences.append(f"input {path} is gone")
        elif file_sha256(Path(path)) != digest:
            differences.append(f"input {path} changed since the run")
    scenario = finished.scenario().with_changes(write_map=False)
    with tempfile.TemporaryDirectory(prefix="siting-rerun-") as tmp:
        again = run(scenario, run_dir=Path(tmp) / "run")
    before = set(record["plan"]["new_ids"])
    after = set(again.plan.new_ids)
    if before - after:
        differences.append(f"homes no longer chosen: {sorted(before - after)[:20]}")
    if after - before:
        differences.append(f"homes newly chosen: {sorted(after - before)[:20]}")
    if not np.isclose(record["plan"]["objective"], again.plan.objective, rtol=1e-9):
        differences.append(f"objective {record['plan']['objective']} -> {again.plan.objective}")
    return before == after and not differences, differences


def _community_coverage(run_dir: Path) -> pd.DataFrame:
    """Per community of a finished run: names, county, children and whether covered (from ``plan.gpkg``)."""
    import pyogrio

    columns = ["community_code", "community_name", "county_code", "children", "covered"]
    frame = pyogrio.read_dataframe(run_dir / "plan.gpkg", layer="communities", columns=columns, read_geometry=False)
    return frame.set_index("community_code")


def _coverage_changes(first: pd.DataFrame, other: pd.DataFrame) -> pd.DataFrame:
    """Communities whose coverage differs between two runs: ``gained`` or ``lost`` in the second, with children."""
    both = first.merge(
        other[["covered", "children"]], left_index=True, right_index=True, how="inner", suffixes=("", "_other")
    )
    changed = both[both["covered"].astype(bool) != both["covered_other"].astype(bool)]
    return pd.DataFrame(
        {
            "community_code": changed.index,
            "community_name": changed["community_name"].to_numpy(),
            "county_code": changed["county_code"].to_numpy(),
            "children": changed["children_other"].to_numpy(),
            "change": np.where(changed["covered_other"].astype(bool), "gained", "lost"),
        }
    )


def _standard_of(record: dict[str, object]) -> str:
    """The run's standard as planners read it: ``5.0 km (distance)``, ``60 min (travel_time)``."""
    access = record.get("access") or {}
    assert isinstance(access, dict)
    unit, standard = str(access.get("unit", "m")), access.get("standard")
    shown = format_cost(float(standard), unit) if isinstance(standard, int | float) else "?"
    return f"{shown} ({access.get('mode', '?')})"


def compare_runs(run_dirs: list[Path], out_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A table of runs (children covered, homes, cost, targets met) and the home-level diff to the first run.

    Writes ``compare.csv``, ``compare_sites.csv``, ``compare_communities.csv`` (communities
    whose coverage changes against the first run, with their children) and ``compare.png``.
    """
    if len(run_dirs) < 2:
        raise InputError("compare needs at least two run folders")
    rows, sites, communities = [], [], []
    first_ids: set[str] = set()
    first_coverage = pd.DataFrame()
    for k, run_dir in enumerate(run_dirs):
        finished = open_run(run_dir)
        record = finished.record
        new_ids = set(record["plan"]["new_ids"])
        rows.append(
            {
                "run": f"{finished.name} ({finished.path.name[:15]})",
                "children": record["children_total"],
                "children_covered": record["children_covered"],
                "children_covered_pct": 100 * record["children_covered"] / max(record["children_total"], 1e-9),
                "homes_existing": record["plan"]["homes_existing"],
                "homes_new": record["plan"]["homes_new"],
                "build_cost_cny": record["build_cost_cny"],
                "targets_met": record.get("all_targets_met"),
                "status": record["plan"].get("status_text", record["plan"]["status"]),
                "standard": _standard_of(record),
            }
        )
        if k == 0:
            first_ids, first_coverage = new_ids, _community_coverage(finished.path)
            continue
        changes = _coverage_changes(first_coverage, _community_coverage(finished.path))
        rows[-1]["children_gained"] = float(changes.loc[changes["change"] == "gained", "children"].sum())
        rows[-1]["children_lost"] = float(changes.loc[changes["change"] == "lost", "children"].sum())
        communities.append(changes.assign(run=rows[-1]["run"]))
        sites += [{"run": rows[-1]["run"], "site_id": s, "change": "added"} for s in sorted(new_ids - first_ids)]
        sites += [{"run": rows[-1]["run"], "site_id": s, "change": "removed"} for s in sorted(first_ids - new_ids)]
    table = pd.DataFrame(rows)
    standards = table["standard"].unique().tolist()
    if len(standards) > 1:
        warnings.warn(
            f"the runs have different service standards ({', '.join(standards)}): children covered are not "
            "counted the same way, so their difference is not the plans' alone",
            SitingWarning,
            stacklevel=2,
        )
    diff = pd.DataFrame(sites, columns=["run", "site_id", "change"])
    writable_folder(out_dir, what="compare --out")
    write_csv(table, out_dir / "compare.csv")
    write_csv(diff, out_dir / "compare_sites.csv")
    if communities:
        changed = pd.concat(communities, ignore_index=True)
        write_csv(changed[["run", *changed.columns[:-1]]], out_dir / "compare_communities.csv")
    compare_chart(table, out_dir / "compare.png")
    return table, diff


def parse_range(text: str, *, what: str) -> list[float]:
    """``"start:stop:step"`` (stop included) or ``"a,b,c"`` → finite values ≥ 0 (at most 200)."""
    try:
        if ":" in text:
            start, stop, step = (float(v) for v in text.split(":"))
            if step <= 0 or stop < start or not all(math.isfinite(v) for v in (start, stop, step)):
                raise ValueError
            values = [float(v) for v in np.arange(start, stop + step / 2, step)]
        else:
            values = [float(v) for v in text.split(",")]
        if not values or any(not math.isfinite(v) or v < 0 for v in values) or len(values) > 200:
            raise ValueError
        return values
    except ValueError:
        raise InputError(
            f"--{what} {text!r} is not start:stop:step (e.g. 0:30000000:3000000) or a,b,c of finite numbers ≥ 0 "
            "(at most 200 values)"
        ) from None


def standard_of(scenario: Scenario) -> tuple[str, float]:
    """The column and value of a scenario's service standard: ``standard_m`` or, for travel time, ``standard_min``."""
    if scenario.access_mode == "travel_time" or (
        scenario.access_mode == "table" and scenario.access_table_unit == "min"
    ):
        assert scenario.standard_min is not None
        return "standard_min", scenario.standard_min
    return "standard_m", scenario.standard_m


def _sweep_one(args: tuple[Scenario, Path]) -> dict[str, Any]:
    from siting.pipeline import run

    scenario, run_dir = args
    result = run(scenario, run_dir=run_dir)
    column, value = standard_of(scenario)
    return {
        "budget_cny": scenario.budget_cny,
        column: value,
        "children_covered": result.children_covered,
        "children_covered_pct": 100 * result.children_covered / max(result.children_total, 1e-9),
        "homes_new": result.plan.n_new,
        "status": result.plan.status_text(),
        "run_dir": str(run_dir),
    }


def sweep(
    scenario: Scenario,
    *,
    budgets: list[float] | None = None,
    radii_m: list[float] | None = None,
    workers: int = 2,
    progress: bool = False,
    report: Any = None,
) -> tuple[pd.DataFrame, Path]:
    """Run variants of a scenario in worker processes and write the budget–coverage curve.

    Returns the curve table and the folder holding ``curve.csv``, ``curve.png``
    and one run folder per variant. ``progress`` shows a bar; ``report`` (a callable)
    is called with each finished variant's row as it comes in.
    """
    if isinstance(workers, bool) or workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    if not budgets and not radii_m:
        raise InputError("sweep needs --budget or --radius values")
    out = scenario.outputs_dir / scenario.name / f"sweep-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}"
    variants = []
    budget_values: list[float | None] = list(budgets) if budgets else [scenario.budget_cny]
    standard, current = standard_of(scenario)  # --radius is in the scenario's unit: metres or minutes
    for budget in budget_values:
        for radius in radii_m or [current]:
            changed = scenario.with_changes(
                budget_cny=budget,
                n_homes=None if budget is not None else scenario.n_homes,
                write_map=False,
                **{standard: radius},
            )
            label = "none" if budget is None else f"{budget:.0f}"
            variants.append((changed, out / f"budget_{label}_radius_{radius:.0f}"))
    out.mkdir(parents=True)

    def finished(row: dict[str, Any]) -> None:
        bar.update(1)
        if report is not None:
            report(row)

    # The variants are the parts: on the scenario's engine (each variant runs its own stages in
    # its worker, serially), or in a pool of ``workers`` processes with the local engine.
    bar = tqdm(total=len(variants), desc=f"sweep {scenario.name}", disable=not progress)
    try:
        with open_engine(scenario.engine, tls=scenario.engine_tls) as engine, using_engine(engine):
            rows = map_parts(
                _sweep_one,
                [(changed.with_changes(engine="local"), run_dir) for changed, run_dir in variants],
                workers=workers if engine.executor is None else None,
                what="variant",
                on_result=finished,
            )
    finally:
        bar.close()
    curve = pd.DataFrame(rows).sort_values([standard, "budget_cny"]).reset_index(drop=True)
    gained = curve.groupby(standard)["children_covered"].diff()
    spent = curve.groupby(standard)["budget_cny"].diff()
    curve["marginal_children_per_10k_cny"] = (gained / spent * 10_000).fillna(0.0)
    write_csv(curve, out / "curve.csv")
    budget_curve_chart(
        curve[curve[standard] == curve[standard].iloc[0]],
        out / "curve.png",
        title=f"{scenario.name}: budget–coverage",
    )
    return curve, out
