"""The ``siting`` command line."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

from siting import __version__
from siting.errors import SitingError

__all__ = ["main"]

DEFAULT_TARGETS = Path(__file__).resolve().parents[1] / "targets" / "yunnan_full_coverage.toml"


class _Group(click.Group):
    """Show :class:`SitingError` as a one-line message with exit code 2, not a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except SitingError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="siting")
def main() -> None:
    """Plan Yunnan's children's homes (儿童之家): where they go, whom they serve, what is covered."""


@main.command()
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder holding yunnan/ (default: the checkout's data/ or $SITING_DATA_DIR).",
)
@click.option(
    "--outputs",
    "outputs_dir",
    type=click.Path(path_type=Path),
    default=Path("outputs/demo"),
    show_default=True,
    help="Each run writes a new timestamped folder here.",
)
@click.option(
    "--map",
    "map_path",
    type=click.Path(path_type=Path),
    default=Path("maps/yunnan_demo.html"),
    show_default=True,
    help="Also write the map here.",
)
@click.option("--radius-m", type=float, default=5000.0, show_default=True, help="Service standard (metres).")
@click.option("--budget-cny", type=float, default=13_200_000.0, show_default=True, help="Budget for new homes (CNY).")
@click.option(
    "--cost-per-home-cny", type=float, default=30_000.0, show_default=True, help="Build cost of one home (CNY)."
)
@click.option("--solver", type=click.Choice(["cbc", "highs"]), default="cbc", show_default=True)
@click.option("--time-limit-s", type=float, default=120.0, show_default=True)
@click.option(
    "--targets",
    "targets_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Targets TOML checked in the report (default: targets/yunnan_full_coverage.toml).",
)
def demo(
    data_dir: Path | None,
    outputs_dir: Path,
    map_path: Path,
    radius_m: float,
    budget_cny: float,
    cost_per_home_cny: float,
    solver: str,
    time_limit_s: float,
    targets_path: Path | None,
) -> None:
    """Plan the 2019 round on the Yunnan sample and write the map and tables.

    Builds the modelled sample first if it is not there yet.
    """
    from siting.pipeline import SampleRunSettings, run_sample
    from siting.sample.build import build_sample
    from siting.sample.paths import sample_paths

    started = time.perf_counter()
    paths = sample_paths(data_dir)
    if not paths.is_built():
        click.echo("building the Yunnan sample (modelled parts) ...")
        build_sample(paths)
    if targets_path is None and DEFAULT_TARGETS.exists():
        targets_path = DEFAULT_TARGETS
    settings = SampleRunSettings(
        targets_path=targets_path,
        radius_m=radius_m,
        budget_cny=budget_cny,
        cost_per_home_cny=cost_per_home_cny,
        solver=solver,
        time_limit_s=time_limit_s,
    )
    run = run_sample(settings, paths=paths, outputs_dir=outputs_dir, map_path=map_path)
    province = run.summary.iloc[-1]
    plan = run.plan
    click.echo("siting demo — Yunnan sample (modelled data / 模拟数据)")
    click.echo(f"  homes existing / proposed : {len(plan.existing_ids):,} / {plan.n_new:,}")
    click.echo(
        f"  children covered ({radius_m / 1000:g} km)  : {province['children_covered']:,.0f} of "
        f"{province['children']:,.0f} ({province['children_covered_pct']:.1f}%)"
    )
    click.echo(f"  budget used               : {province['build_cost_cny']:,.0f} of {budget_cny:,.0f} CNY")
    gap = "n/a" if plan.gap is None else f"{plan.gap:.2%}"
    click.echo(f"  model                     : MCLP, {plan.status}, gap {gap}, {plan.solver}")
    if run.target_results is not None:
        failed = run.target_results[~run.target_results["passed"]]
        click.echo(
            f"  targets                   : {len(run.target_results) - len(failed):,} of "
            f"{len(run.target_results):,} unit checks met ({targets_path})"
        )
    click.echo(f"  outputs                   : {run.output_dir}")
    click.echo(f"  map                       : {run.map_path}")
    click.echo(f"  seconds taken             : {time.perf_counter() - started:.1f}")


@main.group()
def sample() -> None:
    """Build or regenerate the embedded Yunnan sample."""


@sample.command("build")
@click.option("--seed", type=int, default=2020, show_default=True, help="Seed of every random draw.")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder holding yunnan/ (default: the checkout's data/ or $SITING_DATA_DIR).",
)
def sample_build(seed: int, data_dir: Path | None) -> None:
    """Generate the modelled parts (communities, child raster, priority groups, existing homes)."""
    from siting.sample.build import build_sample
    from siting.sample.paths import sample_paths

    result = build_sample(sample_paths(data_dir), seed=seed)
    click.echo(
        f"built {result.communities:,} communities, {result.children_total:,.0f} children "
        f"(seed {seed}) in {result.seconds:.1f} s -> {result.paths.modelled_dir}"
    )


@sample.command("prepare")
@click.option(
    "--reference",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    required=True,
    help="Folder with the reference CSVs (yunnan_counties_2020.csv, ...).",
)
@click.option("--data-dir", type=click.Path(path_type=Path), default=None)
def sample_prepare(reference: Path, data_dir: Path | None) -> None:
    """Regenerate the committed real parts (needs: pip install -e '.[dataprep]')."""
    from siting.sample.paths import sample_paths
    from siting.sample.prepare import prepare_real_parts

    paths = sample_paths(data_dir)
    prepare_real_parts(reference, paths)
    click.echo(f"wrote the real parts of the sample to {paths.root}")


@main.command("check-targets")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--targets",
    "targets_path",
    type=click.Path(path_type=Path),
    required=True,
    help="Targets TOML ([[target]] metric, min/max, level, units).",
)
def check_targets_command(run_dir: Path, targets_path: Path) -> None:
    """Check a finished run against targets: exit 0 when all are met, 1 when one is not, 2 on bad input."""
    import pandas as pd

    from siting.errors import InputError
    from siting.report_files import read_report_json
    from siting.targets import check_targets, read_targets

    if not (run_dir / "report.json").exists():
        raise InputError(f"{run_dir} is not a finished run (no report.json); pass a folder written by siting")
    tables = read_report_json(run_dir)
    results = check_targets(tables, read_targets(targets_path, metrics=list(tables["county"].columns)))
    failed = results[~results["passed"]]
    rows: list[dict[str, Any]] = failed.to_dict("records")  # type: ignore[assignment]
    for row in rows:
        bounds = [
            f">= {row['min']:g}" if pd.notna(row["min"]) else "",
            f"<= {row['max']:g}" if pd.notna(row["max"]) else "",
        ]
        need = " and ".join(b for b in bounds if b)
        name = row["unit_name_zh"] if isinstance(row["unit_name_zh"], str) else ""
        click.echo(
            f"FAIL  {row['target']} | {row['level']} {row['unit_code']} {name} | {row['metric']} = "
            f"{row['value']:.2f} (needs {need})"
        )
    click.echo(f"{len(results) - len(failed)} of {len(results)} checks met")
    sys.exit(0 if failed.empty else 1)


@main.command("map")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--unit", "unit_code", required=True, help="Prefecture (e.g. 530100) or county (e.g. 530102) code.")
@click.option("--out", "out_path", type=click.Path(path_type=Path), required=True, help="HTML file to write.")
@click.option("--basemap", type=click.Choice(["none", "osm", "tianditu", "gaode"]), default="none", show_default=True)
@click.option("--tianditu-key", default=None, help="Key for the Tianditu basemap.")
def map_command(run_dir: Path, unit_code: str, out_path: Path, basemap: str, tianditu_key: str | None) -> None:
    """Write the map of one prefecture or county from a finished run."""
    from siting.unitmap import unit_map
    from siting.webmap import save_map

    fmap = unit_map(run_dir, unit_code, basemap=basemap, tianditu_key=tianditu_key)
    click.echo(f"wrote {save_map(fmap, out_path)}")


def _configure_logging(verbose: bool) -> None:
    import logging

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


@main.command("run")
@click.argument("scenario_path", type=click.Path(path_type=Path))
@click.option("--map", "map_path", type=click.Path(path_type=Path), default=None, help="Also write the map here.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--verbose", is_flag=True, help="Show the log.")
def run_command(scenario_path: Path, map_path: Path | None, quiet: bool, verbose: bool) -> None:
    """Run a scenario file; writes outputs/<scenario>/<timestamp>/."""
    import os

    from siting.pipeline import run
    from siting.scenario import load_scenario

    _configure_logging(verbose)
    scenario = load_scenario(scenario_path)
    show = not quiet and sys.stderr.isatty() and os.environ.get("CI") != "true"
    result = run(scenario, map_path=map_path, progress=show)
    province = result.tables["province"].iloc[0]
    click.echo(
        f"{scenario.name}: {result.plan.model} {result.plan.status}; homes {len(result.plan.existing_ids):,} "
        f"existing + {result.plan.n_new:,} new; children covered {province['children_covered']:,.0f} "
        f"({province['children_covered_pct']:.1f}%)"
    )
    click.echo(f"outputs: {result.output_dir}")


@main.command("rerun")
@click.argument("run_dir", type=click.Path(path_type=Path))
def rerun_command(run_dir: Path) -> None:
    """Reproduce a run from its run.json and say whether the plan is identical (exit 1 if not)."""
    from siting.runs import rerun

    identical, differences = rerun(run_dir)
    for line in differences:
        click.echo(f"  {line}")
    click.echo("identical plan" if identical else "the plan differs")
    sys.exit(0 if identical else 1)


@main.command("compare")
@click.argument("run_dirs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("outputs/compare"), show_default=True)
def compare_command(run_dirs: tuple[Path, ...], out_dir: Path) -> None:
    """Compare finished runs: coverage, homes, cost, targets, and homes added/removed."""
    from siting.runs import compare_runs

    table, diff = compare_runs(list(run_dirs), out_dir)
    click.echo(table.to_string(index=False, float_format=lambda v: f"{v:,.1f}"))
    for run_name, part in diff.groupby("run", sort=False):
        added = (part["change"] == "added").sum()
        removed = (part["change"] == "removed").sum()
        click.echo(f"{run_name}: +{added} homes, -{removed} homes against the first run")
    click.echo(f"written: {out_dir / 'compare.csv'}, {out_dir / 'compare_sites.csv'}, {out_dir / 'compare.png'}")


@main.command("sweep")
@click.argument("scenario_path", type=click.Path(path_type=Path))
@click.option("--budget", default=None, help="start:stop:step in CNY, e.g. 0:30000000:3000000 (stop included).")
@click.option("--radius", default=None, help="start:stop:step in metres, or a,b,c.")
@click.option("--workers", type=int, default=2, show_default=True, help="Worker processes.")
def sweep_command(scenario_path: Path, budget: str | None, radius: str | None, workers: int) -> None:
    """Run budget (and/or radius) variants in parallel; write the budget–coverage curve (CSV + PNG)."""
    from siting.runs import parse_range, sweep
    from siting.scenario import load_scenario

    scenario = load_scenario(scenario_path)
    budgets = parse_range(budget, what="budget") if budget else None
    radii = parse_range(radius, what="radius") if radius else None
    curve, out = sweep(scenario, budgets=budgets, radii_m=radii, workers=workers)
    click.echo(curve.drop(columns="run_dir").to_string(index=False, float_format=lambda v: f"{v:,.1f}"))
    click.echo(f"written: {out / 'curve.csv'}, {out / 'curve.png'}")


@main.command("progress")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--status",
    "status_path",
    type=click.Path(path_type=Path),
    required=True,
    help="Status table: community_code, planned_year, status, completion_date.",
)
@click.option("--month", required=True, help="Report month, YYYY-MM.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("outputs/progress"), show_default=True)
def progress_command(run_dir: Path, status_path: Path, month: str, out_dir: Path) -> None:
    """The monthly progress report (月通报) per prefecture and county, Excel and Markdown."""
    from siting.progress import progress_report, write_progress_files

    report = progress_report(run_dir, status_path, month=month)
    for path in write_progress_files(report, out_dir):
        click.echo(f"wrote {path}")
    behind = report.prefecture[report.prefecture["behind_schedule"]]
    click.echo(f"{len(behind)} of {len(report.prefecture)} prefectures behind schedule")
