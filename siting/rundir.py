"""The run folder: its file and layer names, writing it atomically, and reading it back validated.

A run is written into a hidden temporary folder next to its final place and renamed
into place only when every file is complete: a failed run (bad input found late, a
full disk, a read-only folder) leaves nothing, and a killed run leaves only a hidden
folder that the next run in the same place removes. Reading a run back
(:func:`open_run`) checks that it is a finished run of this tool and re-validates its
scenario through the scenario loader; given a scenario's output folder, it takes the
newest run in it. ``rerun``, ``compare``, ``map``, ``progress`` and ``check-targets``
all read runs through here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import pandas as pd
import pyogrio

from siting.errors import InputError, OutputError
from siting.levels import LEVELS
from siting.scenario import Scenario, scenario_from_dict

if TYPE_CHECKING:
    from siting.travel.access import TravelTimeRaster

__all__ = [
    "FILES",
    "LAYERS",
    "FinishedRun",
    "RunContents",
    "check_writable",
    "clean_stale_folders",
    "new_run_dir",
    "open_run",
    "writable_folder",
    "write_atomically",
    "write_run",
    "write_text_atomically",
]

RUN_JSON = "run.json"
PLAN_GPKG = "plan.gpkg"
#: Every file a run writes, and what it holds.
FILES = {
    RUN_JSON: "settings, versions, input hashes, solver status, bound, gap, seconds per stage",
    PLAN_GPKG: "layers homes, catchments, communities, counties, stations, centres",
    "summary_by_prefecture.csv": "coverage per prefecture and the province",
    "homes.csv": "every open home and what it serves",
    "assignment.csv": "each demand point's home, cost, covered or not, nearest home",
    "coverage_province.csv": "coverage table, province",
    "coverage_prefecture.csv": "coverage table, prefectures",
    "coverage_county.csv": "coverage table, counties",
    "coverage_township.csv": "coverage table, townships",
    "report.json": "the coverage tables, targets and uncovered communities",
    "report.md": "the report in Markdown",
    "report.xlsx": "the workbook for the office",
    "links.csv": "home → township station → county centre",
    "map.html": "the map (when outputs.map is on)",
    "nearest_home.tif": "which home serves each raster cell",
    "nearest_home.csv": "home number → site id of nearest_home.tif",
    "nearest_home_time.tif": "minutes from each cell to the nearest home (travel-time runs)",
    "phasing.csv": "build years (phased plans)",
    "phasing.png": "children covered by year (phased plans)",
    "sandbox.npz": "communities, candidate sites and pairs within the standard (the map's sandbox, siting evaluate)",
    **{f"access_bands_{level}.csv": f"children and priority groups per access band, {level}" for level in LEVELS},
    **{
        f"access_thresholds_{level}.csv": f"children within each travel-time threshold, {level} (travel-time runs)"
        for level in ("prefecture", "county", "township")
    },
    "lorenz_prefecture.png": "Lorenz curves and Gini of access by prefecture",
    "visits_township.csv": "supervisors' monthly visiting time and directors' home visits per township",
}
LAYERS = ("homes", "catchments", "communities", "counties", "stations", "centres")
TEMP_PREFIX = ".siting-run-"
TIMESTAMP = re.compile(r"^\d{8}T\d{12}Z$")


def new_run_dir(scenario: Scenario) -> Path:
    """``<outputs>/<scenario name>/<UTC timestamp>``: where a run of ``scenario`` goes."""
    return scenario.outputs_dir / scenario.name / datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_folders(parent: Path, *, prefix: str = TEMP_PREFIX) -> list[Path]:
    """Remove hidden temporary folders (``<prefix><pid>-…``) in ``parent`` left by runs that were killed."""
    removed: list[Path] = []
    if not parent.is_dir():
        return removed
    for folder in parent.glob(f"{prefix}*"):
        match = re.match(rf"^{re.escape(prefix)}(\d+)-", folder.name)
        if match and not _alive(int(match.group(1))) and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def write_atomically(out_dir: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_dir)`` and rename the folder to ``out_dir`` only when it succeeds.

    Raises
    ------
    InputError
        ``out_dir`` exists already.
    OutputError
        The folder cannot be written (permissions, a full disk); nothing is left behind.
    """
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise InputError(f"output folder {out_dir} already exists; choose another")
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        clean_stale_folders(out_dir.parent)
        tmp = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", dir=out_dir.parent))
    except OSError as error:
        raise OutputError(
            f"cannot write the run under {out_dir.parent}: {error.strerror or error}; choose a folder you can write "
            "to (outputs.dir) or free some space"
        ) from None
    try:
        write(tmp)
        tmp.chmod(0o755)
        os.rename(tmp, out_dir)
    except OSError as error:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(error, OutputError):
            raise
        raise OutputError(
            f"cannot write the run to {out_dir}: {error.strerror or error}; nothing was written (free some space "
            "or choose another outputs.dir)"
        ) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def check_writable(path: Path, *, what: str) -> None:
    """Refuse, before any work, a place that cannot be written: the nearest existing folder on its way must be."""
    here = Path(path).resolve()
    while not here.exists() and here != here.parent:
        here = here.parent
    if not here.is_dir():
        raise OutputError(f"{what} {path}: {here} is a file, not a folder; give a folder to write into")
    if not os.access(here, os.W_OK | os.X_OK):
        raise OutputError(f"{what} {path} cannot be written ({here} is read-only); give a folder you may write to")


def writable_folder(path: Path, *, what: str) -> Path:
    """``path`` as a folder to write into (made if missing); a file there, or no rights, is refused in one line."""
    if path.exists() and not path.is_dir():
        raise OutputError(f"{what} {path} is a file, not a folder; give a folder (it is made if missing)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot make the folder {path} for {what}: {error.strerror or error}") from None
    if not os.access(path, os.W_OK):
        raise OutputError(f"{what} {path} is not writable; give a folder you may write to")
    return path


def write_text_atomically(path: Path, text: str) -> Path:
    """Write one text file atomically (temp file + rename); a failure leaves the old file or nothing."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror or error}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as error:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {error.strerror or error}; nothing was written") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@dataclass(frozen=True, eq=False)
class FinishedRun:
    """A finished run read back: its folder and ``run.json``; layers and tables on demand."""

    path: Path
    record: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.record.get("scenario", {}).get("name", self.path.parent.name))

    @property
    def modelled(self) -> bool:
        return bool(self.record.get("modelled_data", False))

    @property
    def new_ids(self) -> list[str]:
        return list(self.record["plan"]["new_ids"])

    def scenario(self) -> Scenario:
        """The recorded scenario, validated again by the scenario loader."""
        document = self.record.get("scenario")
        if not isinstance(document, dict):
            raise InputError(f"{self.path / RUN_JSON} holds no scenario; rerun it with this version of siting")
        return scenario_from_dict(document, base_dir=self.path, source=self.path / RUN_JSON)

    def layer(self, name: str) -> gpd.GeoDataFrame:
        """A layer of ``plan.gpkg``."""
        if name not in LAYERS:
            raise InputError(f"a run has no layer {name!r}; layers are {list(LAYERS)}")
        return gpd.read_file(self.path / PLAN_GPKG, layer=name)

    def report_tables(self) -> dict[str, pd.DataFrame]:
        """Level tables from ``report.json`` (priority counts as shared: ``"<5"`` where suppressed)."""
        document = json.loads((self.path / "report.json").read_text(encoding="utf-8"))
        return {level: pd.DataFrame(records) for level, records in document["levels"].items()}


def _newest(folder: Path) -> Path | None:
    runs = sorted(p for p in folder.iterdir() if p.is_dir() and TIMESTAMP.match(p.name) and (p / RUN_JSON).exists())
    return runs[-1] if runs else None


def open_run(path: Path | str) -> FinishedRun:
    """A finished run: ``path`` itself, or the newest run inside a scenario's output folder.

    Raises
    ------
    InputError
        ``path`` is not a folder, holds no finished run, or its files are incomplete.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"run folder {path} does not exist")
    if not path.is_dir():
        raise InputError(f"{path} is a file; give a run folder (outputs/<scenario>/<timestamp>) or a scenario's folder")
    if not (path / RUN_JSON).exists():
        newest = _newest(path)
        if newest is None:
            raise InputError(
                f"{path} is not a finished run and holds none (no {RUN_JSON}); give a folder written by siting run"
            )
        path = newest
    try:
        record = json.loads((path / RUN_JSON).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"{path / RUN_JSON} is not a run record: {error}") from None
    if not isinstance(record, dict) or "plan" not in record or "siting_version" not in record:
        raise InputError(f"{path / RUN_JSON} is not a run record of siting (no plan or version)")
    missing = [name for name in (PLAN_GPKG, "report.json") if not (path / name).exists()]
    if missing:
        raise InputError(f"run {path} is incomplete: {missing} missing; run the scenario again")
    layers = {name for name, _ in pyogrio.list_layers(path / PLAN_GPKG)}
    absent = sorted(set(LAYERS) - layers)
    if absent:
        raise InputError(f"{path / PLAN_GPKG} lacks layers {absent}; rerun the scenario with this siting version")
    return FinishedRun(path=path, record=record)


@dataclass(frozen=True, eq=False)
class RunContents:
    """Everything a run writes, computed before the folder is touched."""

    record: dict[str, Any]
    tables: dict[str, pd.DataFrame]
    summary: pd.DataFrame
    homes: gpd.GeoDataFrame
    allocation: pd.DataFrame
    catchments: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame
    counties: gpd.GeoDataFrame
    stations: gpd.GeoDataFrame
    centres: gpd.GeoDataFrame
    links: pd.DataFrame
    report_context: Any
    small_count_threshold: int
    target_results: pd.DataFrame | None = None
    uncovered: pd.DataFrame | None = None
    extra_tables: dict[str, pd.DataFrame] | None = None
    years: pd.DataFrame | None = None
    page: str | None = None
    raster_like: Path | None = None
    raster_resolution_m: float | None = None
    travel_time: TravelTimeRaster | None = None
    extra_columns: tuple[str, ...] = ()
    within: dict[str, pd.DataFrame] | None = None
    sandbox: Any = None  # siting.sandbox.SandboxData: written as sandbox.npz
    bands: dict[str, pd.DataFrame] | None = None
    borne: pd.DataFrame | None = None
    visits: pd.DataFrame | None = None  # per township, small priority counts already hidden


def _shared_homes(homes: gpd.GeoDataFrame, threshold: int) -> gpd.GeoDataFrame:
    """Homes as they may be shared: small priority counts hidden (a number column with gaps, and its text)."""
    from siting.sharing import suppress_counts

    out = homes.copy()
    shown = suppress_counts(out[["county_code", "priority_served"]], threshold=threshold, parent="county_code")
    out["priority_served_text"] = shown["priority_served"].astype(str).replace("None", "")
    out["priority_served"] = pd.to_numeric(shown["priority_served"], errors="coerce").astype("Int64")
    if "served_names" in out:
        out["served_names"] = out["served_names"].map(
            lambda names: "、".join(map(str, names)) if isinstance(names, list) else ""
        )
    return out


def _shared_catchments(areas: gpd.GeoDataFrame, threshold: int) -> gpd.GeoDataFrame:
    from siting.sharing import suppress_counts

    out = areas.copy()
    shown = suppress_counts(out[["priority_children"]], threshold=threshold)
    out["priority_children_text"] = shown["priority_children"].astype(str).replace("None", "")
    out["priority_children"] = pd.to_numeric(shown["priority_children"], errors="coerce").astype("Int64")
    return out


def write_run(
    out_dir: Path, contents: RunContents, *, timings: dict[str, float], stage_peak_mb: dict[str, float] | None = None
) -> Path:
    """Write every file of a run into ``out_dir`` atomically (see :func:`write_atomically`)."""
    from siting.allocation import write_nearest_home_raster
    from siting.charts import phasing_chart
    from siting.headers import rename_bilingual
    from siting.report_files import write_report_files
    from siting.sharing import suppress_counts, write_csv

    threshold = contents.small_count_threshold

    def write(tmp: Path) -> None:
        write_csv(
            rename_bilingual(suppress_counts(contents.summary, threshold=threshold)), tmp / "summary_by_prefecture.csv"
        )
        homes = _shared_homes(contents.homes, threshold)
        # Chinese-first headers and 是/否, as in every CSV the office opens (the GeoPackage keeps the plain names).
        table = homes.drop(columns="geometry").assign(x_m=homes.geometry.x, y_m=homes.geometry.y)
        for flag in ("existing", "new"):
            if flag in table:
                table[flag] = table[flag].map({True: "是", False: "否"}).fillna("")
        codes = [c for c in table.columns if c == "site_id" or c.endswith(("_code", "_site_id"))]
        shared = rename_bilingual(table)
        write_csv(shared, tmp / "homes.csv", text_columns=[shared.columns[table.columns.get_loc(c)] for c in codes])
        write_csv(contents.allocation, tmp / "assignment.csv")
        write_csv(contents.links, tmp / "links.csv")
        write_report_files(
            contents.tables,
            tmp,
            context=contents.report_context,
            target_results=contents.target_results,
            uncovered=contents.uncovered,
            extra_tables=contents.extra_tables,
            extra_columns=contents.extra_columns,
        )
        gpkg = tmp / PLAN_GPKG
        homes.to_file(gpkg, layer="homes", driver="GPKG")
        _shared_catchments(contents.catchments, threshold).to_file(gpkg, layer="catchments", driver="GPKG")
        contents.communities.to_file(gpkg, layer="communities", driver="GPKG")
        contents.counties.to_file(gpkg, layer="counties", driver="GPKG")
        contents.stations.to_file(gpkg, layer="stations", driver="GPKG")
        contents.centres.to_file(gpkg, layer="centres", driver="GPKG")
        if contents.raster_like is not None and contents.raster_like.exists():
            write_nearest_home_raster(
                contents.catchments,
                like=contents.raster_like,
                resolution_m=contents.raster_resolution_m,
                out_path=tmp / "nearest_home.tif",
            )
        if contents.travel_time is not None:
            from siting.travel.access import write_travel_time_raster

            write_travel_time_raster(
                contents.travel_time, tmp / "nearest_home_time.tif", modelled=bool(contents.record.get("modelled_data"))
            )
        if contents.sandbox is not None:
            contents.sandbox.save(tmp / "sandbox.npz")
        for level, table in (contents.bands or {}).items():
            groups = [
                c for c in table.columns if not c.startswith("children") and c not in ("unit_code", "unit_name_zh")
            ]
            shown = suppress_counts(table, threshold=threshold, columns=groups)
            write_csv(rename_bilingual(shown), tmp / f"access_bands_{level}.csv")
        if contents.borne is not None:
            from siting.charts import lorenz_chart

            lorenz_chart(contents.borne, tmp / "lorenz_prefecture.png")
        for level, table in (contents.within or {}).items():
            write_csv(rename_bilingual(table), tmp / f"access_thresholds_{level}.csv")
        if contents.visits is not None:
            write_csv(rename_bilingual(contents.visits), tmp / "visits_township.csv")
        if contents.years is not None:
            write_csv(contents.years, tmp / "phasing.csv")
            phasing_chart(contents.years, tmp / "phasing.png")
        if contents.page is not None:
            (tmp / "map.html").write_text(contents.page, encoding="utf-8")
        record = {**contents.record, "timings_s": dict(timings), "stage_peak_mb": dict(stage_peak_mb or {})}
        (tmp / RUN_JSON).write_text(json.dumps(record, ensure_ascii=False, indent=2, default=str), encoding="utf-8")

    return write_atomically(out_dir, write)
