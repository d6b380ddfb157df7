"""``run(scenario)``: the stages in order, one call and one log line each.

read → demand → candidates → access → plan → allocate → network → report → map → write.
The stages themselves live in :mod:`siting.stages`; this module only sequences them,
times them and hands back a frozen :class:`Run`.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import pandas as pd
from tqdm import tqdm

from siting import stages
from siting.access import Access
from siting.allocation import check_raster_resolution
from siting.engine import open_engine, using_engine
from siting.errors import InputError, SitingWarning
from siting.memory import peak_rss_mb, reset_peak_rss
from siting.models.options import SiteOptions
from siting.models.plan import Plan
from siting.report.tables import coverage_by_level, whole_area
from siting.run_record import run_contents
from siting.rundir import (
    check_free_space,
    check_writable,
    clean_stale_folders,
    new_run_dir,
    write_run,
    write_text_atomically,
)
from siting.scenario import Scenario, load_scenario
from siting.webmap import DISPLAY_SIMPLIFY_M, MapLayers, plan_map, render_map
from siting.webmap.layers import COUNTY_ZOOM

__all__ = ["STAGES", "Run", "run"]

log = logging.getLogger(__name__)
WORK_PREFIX = ".siting-work-"
#: Outlines of a light map (``Run.map()`` in a notebook) are simplified by this much.
LIGHT_SIMPLIFY_M = 1_000.0
#: Above this many communities the run's map is an overview (outlines, coverage by county, homes,
#: uncovered children; no village polygons, catchments or sandbox), so that an office PC opens it:
#: a full map takes about 1 KB a community (15 MB for Yunnan's 14,589). Each prefecture's or
#: county's full map, with its sandbox, is one command away (``siting map RUN --unit``).
OVERVIEW_ABOVE_COMMUNITIES = 20_000
STAGES = ("read", "demand", "candidates", "access", "plan", "allocate", "network", "report", "map", "write")


@dataclass(frozen=True, eq=False)
class Run:
    """A finished run: the plan, the tables, the layers and where they were written.

    In a notebook: ``run.homes``, ``run.catchments``, ``run.communities``,
    ``run.report`` (tables per level), ``run.map()`` (a light map, inline and offline;
    ``run.map(full=True)`` for every layer) and ``run.save(path)``.
    """

    scenario: Scenario
    plan: Plan
    access: Access
    site_options: SiteOptions
    summary: pd.DataFrame
    output_dir: Path
    map_path: Path | None
    timings_s: dict[str, float] = field(default_factory=dict)
    #: Peak resident MB of the calling process in each stage (worker processes not counted).
    stage_peak_mb: dict[str, float] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    target_results: pd.DataFrame | None = None
    homes: gpd.GeoDataFrame | None = None
    catchments: gpd.GeoDataFrame | None = None
    communities: gpd.GeoDataFrame | None = None
    #: Gathers the map layers (a cached call: the work is done once, for the map or on first use).
    gather_layers: Callable[[], MapLayers] | None = field(default=None, repr=False)
    map_title: tuple[str, str] = ("", "")
    map_lines: tuple[str, ...] = ()

    @property
    def layers(self) -> MapLayers | None:
        """What the map draws: gathered with the map, or on first use when the run wrote none.

        A run without a map does not pay for them (joining prefectures took 17 s of a
        232k-community run): they are gathered when ``run.map()`` or this is first asked for.
        """
        return self.gather_layers() if self.gather_layers is not None else None

    @property
    def report(self) -> dict[str, pd.DataFrame]:
        """Coverage tables per level (province, prefecture, county, township)."""
        return self.tables

    @property
    def children_total(self) -> float:
        return float(whole_area(self.tables)["children"])

    @property
    def children_covered(self) -> float:
        return float(whole_area(self.tables)["children_covered"])

    def map(self, *, full: bool = False, **options: Any) -> folium.Map:
        """The plan's map (a folium Map; Jupyter shows it inline, with Leaflet inlined, no internet needed).

        By default a light map (outlines, homes, uncovered children) that keeps a notebook
        small; ``full=True`` adds the communities, catchments, townships, tiers and raster.
        """
        if self.layers is None:
            raise InputError("this run has no map layers")
        layers = self.layers if full else stages.light_layers(self.layers)
        if not full:  # a notebook's map is seen whole: outlines at 1 km, homes named on hover, under 2 MB
            options.setdefault("simplify_m", LIGHT_SIMPLIFY_M)
            options.setdefault("home_popups", False)
        if layers.raster_path is not None and not Path(layers.raster_path).exists():
            # A calibrated or summed raster lived in the run's temporary folder.
            warnings.warn(
                f"the child raster {layers.raster_path} was made for the run and is gone; the map leaves it out "
                "(give inputs.population a file of your own to keep it on later maps)",
                SitingWarning,
                stacklevel=2,
            )
            layers = replace(layers, raster_path=None)
        return plan_map(
            layers,
            title_zh=self.map_title[0],
            title_en=self.map_title[1],
            summary_lines=self.map_lines,
            modelled=self.scenario.sample,
            small_count_threshold=self.scenario.small_count_threshold,
            **{"bands": self.scenario.bands, **options},
        )

    def save(self, path: Path | str) -> Path:
        """Copy the run's output folder to ``path`` (which must not exist)."""
        target = Path(path)
        if target.exists():
            raise InputError(f"{target} exists already; choose a new folder")
        shutil.copytree(self.output_dir, target)
        return target


class _Clock:
    """Times the stages, logs one line per stage and moves the progress bar."""

    def __init__(self, name: str, progress: bool) -> None:
        self.timings: dict[str, float] = {}
        #: Peak resident MB of this process in each stage (worker processes not counted).
        self.peak_mb: dict[str, float] = {}
        self.bar = tqdm(total=len(STAGES), desc=f"siting {name}", disable=not progress, leave=False)

    @contextmanager
    def stage(self, name: str, describe: Any = None) -> Iterator[dict[str, str]]:
        note: dict[str, str] = {}
        self.bar.set_postfix_str(name)
        reset_peak_rss()
        started = time.perf_counter()
        yield note
        self.timings[name] = round(time.perf_counter() - started, 3)
        self.peak_mb[name] = round(peak_rss_mb(), 1)
        log.info("%-10s %6.1f s  %s", name, self.timings[name], note.get("size", ""))
        self.bar.update(1)


#: A run's folder against its vector inputs: 3.6-5.9 x the sample's communities (35-58 MB for 9.8 MB).
RUN_BYTES_PER_VECTOR_BYTE = 6
RUN_BYTES_FIXED = 20_000_000


def estimated_run_bytes(input_files: tuple[Path, ...]) -> int:
    """About what a run writes: six times its vector inputs (boundaries, roads) and 20 MB of rasters and tables."""
    vector_suffixes = (".gpkg", ".shp", ".geojson", ".json")
    vectors = sum(f.stat().st_size for f in input_files if f.suffix.lower() in vector_suffixes and f.exists())
    return RUN_BYTES_PER_VECTOR_BYTE * vectors + RUN_BYTES_FIXED


def _page(scenario: Scenario, layers: MapLayers, report: stages.Report, *, modelled: bool) -> str:
    """The plan's HTML map, titled and summarised as the report; an overview above 20,000 communities."""
    lines, simplify_m, home_popups, homes_from_zoom = list(report.map_lines), DISPLAY_SIMPLIFY_M, True, None
    communities = len(layers.communities)
    if communities > OVERVIEW_ABOVE_COMMUNITIES:
        layers = stages.light_layers(replace(layers, sandbox=None))
        simplify_m, home_popups, homes_from_zoom = LIGHT_SIMPLIFY_M, False, COUNTY_ZOOM
        lines.append(
            f"总览图 overview: {communities:,} 个村(社区) communities — 各州市、县详图与沙盘 a unit's full map and "
            "sandbox: siting map RUN --unit 县名/code --out FILE"
        )
    return render_map(
        plan_map(
            layers,
            title_zh=report.title[0],
            title_en=report.title[1],
            summary_lines=lines,
            modelled=modelled,
            small_count_threshold=scenario.small_count_threshold,
            bands=scenario.bands,
            simplify_m=simplify_m,
            home_popups=home_popups,
            homes_from_zoom=homes_from_zoom,
        )
    )


def run(
    scenario: Scenario | Path | str,
    *,
    map_path: Path | None = None,
    run_dir: Path | None = None,
    progress: bool = False,
    engine: str | None = None,
) -> Run:
    """Run a scenario: read, demand, candidates, access, plan, allocate, network, report, map, write.

    Parameters
    ----------
    scenario
        A :class:`Scenario` or the path of a scenario TOML file.
    map_path
        Also write the map here (e.g. ``maps/yunnan_demo.html``).
    run_dir
        Write here instead of ``<outputs>/<scenario name>/<timestamp>/`` (must not exist).
    progress
        Show a progress bar (tqdm) on a terminal.
    engine
        Where the partitioned stages run, instead of the scenario's ``[engine] use``:
        ``"local"``, ``"dask-local:N"`` or ``"dask://HOST:PORT"`` (see :mod:`siting.engine`).

    Returns
    -------
    Run
        The plan, the tables, the layers and where they were written.
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    if engine is not None:
        scenario = scenario.with_changes(engine=engine)
    # Where the run will write, checked before the work (a read-only folder was refused after a minute of it).
    check_writable(Path(run_dir) if run_dir is not None else scenario.outputs_dir, what="the run's folder")
    if map_path is not None:
        check_writable(Path(map_path).parent, what="--map")
    clock = _Clock(scenario.name, progress)
    clean_stale_folders(Path(tempfile.gettempdir()), prefix=WORK_PREFIX)
    work = Path(tempfile.mkdtemp(prefix=f"{WORK_PREFIX}{os.getpid()}-"))
    try:
        wanted = scenario.write_map or map_path is not None
        with open_engine(scenario.engine, progress=progress, tls=scenario.engine_tls) as opened, using_engine(opened):
            with clock.stage("read") as note:
                inputs = stages.read(scenario, work)
                check_raster_resolution(tuple(inputs.communities.total_bounds), scenario.raster_resolution_m)
                check_free_space(
                    Path(run_dir) if run_dir is not None else scenario.outputs_dir,
                    needed_bytes=estimated_run_bytes(inputs.input_files),
                    what="the run's folder",
                )
                note["size"] = (
                    f"{len(inputs.communities):,} communities, {inputs.existing_homes.shape[0]:,} existing homes"
                )
            with clock.stage("demand") as note:
                demand = stages.demand(scenario, inputs)
                note["size"] = f"{len(demand):,} demand points, {demand['children'].sum():,.0f} children"
            with clock.stage("candidates") as note:
                sites, site_options = stages.candidates(scenario, inputs, demand)
                note["size"] = f"{len(sites):,} sites ({len(site_options.existing):,} existing)"
            with clock.stage("access") as note:
                access = stages.access(scenario, inputs, demand, sites)
                note["size"] = f"{access.n_pairs:,} pairs within {access.standard_text()}"
                if access.grid is not None:
                    burnt = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in access.grid.layers.items())
                    note["size"] += f"; grid {access.grid.shape[0]:,} × {access.grid.shape[1]:,} cells ({burnt})"
            with clock.stage("plan") as note:
                plan = stages.plan(scenario, access, demand, sites, site_options, unit_names=inputs.unit_names)
                note["size"] = f"{plan.n_new:,} new homes, {plan.model} {plan.status_text()}"
        # The engine closes with the plan: the later stages run in this process, and the workers
        # (with the inputs scattered to them) would only hold memory beside them.
        engine_record = opened.record()
        with clock.stage("allocate") as note:
            allocated = stages.allocate(inputs, demand, sites, access, plan, excluded=site_options.excluded)
            note["size"] = f"{int(allocated.allocation['covered'].sum()):,} demand points covered"
        with clock.stage("network") as note:
            network = stages.network(scenario, inputs, demand, allocated.homes, grid=access.grid)
            note["size"] = f"{len(network.stations):,} stations, {len(network.centres):,} centres"
        with clock.stage("report") as note:
            report = stages.report(scenario, inputs, demand, sites, access, plan, allocated, network)
            note["size"] = f"{len(report.tables['county']):,} counties, {len(report.tables['township']):,} townships"
        with clock.stage("map") as note:
            # Gathered once: here for the map, or by Run.layers on first use.
            gather = functools.cache(functools.partial(stages.map_layers, inputs, allocated, network, access))
            sandbox = stages.sandbox(scenario, inputs, demand, sites, access, plan, allocated.allocation)
            page = None
            if wanted:
                page = _page(scenario, replace(gather(), sandbox=sandbox), report, modelled=inputs.modelled)
                note["size"] = f"{len(page) / 1e6:.1f} MB"
            else:
                note["size"] = "no map asked for (layers gathered on first use of Run.layers)"
        with clock.stage("write") as note:
            target_dir = run_dir or new_run_dir(scenario)
            contents = run_contents(scenario, inputs, access, plan, allocated, network, report, page)
            contents = replace(contents, sandbox=sandbox)
            contents.record["sites"] = {
                "existing": len(site_options.existing),
                "excluded": list(site_options.excluded),
            }
            contents.record["engine"] = engine_record
            record = {**contents.record, "timings_s": dict(clock.timings), "stage_peak_mb": dict(clock.peak_mb)}
            write_run(target_dir, stages.run_writers(contents), record=record)
            written_map = write_text_atomically(map_path, page) if (map_path is not None and page is not None) else None
            note["size"] = str(target_dir)
    finally:
        clock.bar.close()
        shutil.rmtree(work, ignore_errors=True)
    return Run(
        scenario=scenario,
        plan=plan,
        access=access,
        site_options=site_options,
        summary=coverage_by_level(report.tables, level="prefecture"),
        output_dir=target_dir,
        map_path=written_map,
        timings_s=clock.timings,
        stage_peak_mb=clock.peak_mb,
        tables=report.tables,
        target_results=report.target_results,
        homes=allocated.homes,
        catchments=allocated.catchments,
        communities=allocated.communities,
        gather_layers=gather,
        map_title=report.title,
        map_lines=report.map_lines,
    )
