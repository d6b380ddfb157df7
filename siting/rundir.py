"""The run folder: its file and layer names, writing it atomically, and reading it back validated.

A run is written into a hidden temporary folder next to its final place and renamed
into place only when every file is complete: a failed run (bad input found late, a
full disk, a read-only folder) leaves nothing, and a killed run leaves only a hidden
folder that the next run removes, wherever it writes (each run notes its hidden folder in
the temporary folder while it writes). Reading a run back
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
from collections.abc import Callable, Sequence
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
    "check_free_space",
    "check_writable",
    "clean_killed_runs",
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
PENDING_DIR = "siting-pending"
#: A disk with less free space than this is full for a run's files.
FULL_BELOW_BYTES = 1_000_000
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


def _writer_gone(name: str, prefix: str) -> bool:
    """Whether ``name`` (``<prefix><pid>-…``) was made by a process that no longer runs."""
    match = re.match(rf"^{re.escape(prefix)}(\d+)-", name)
    return match is not None and not _alive(int(match.group(1)))


def clean_stale_folders(parent: Path, *, prefix: str = TEMP_PREFIX) -> list[Path]:
    """Remove hidden temporary folders (``<prefix><pid>-…``) in ``parent`` left by runs that were killed."""
    removed: list[Path] = []
    if not parent.is_dir():
        return removed
    for folder in parent.glob(f"{prefix}*"):
        if _writer_gone(folder.name, prefix) and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _pending_dir() -> Path:
    """Where each run notes the hidden folder it is writing (one small file a folder), until it is renamed."""
    return Path(tempfile.gettempdir()) / PENDING_DIR


def _note_pending(folder: Path) -> Path | None:
    """Note ``folder`` as being written by this process; None when the note cannot be made (it is only a help)."""
    try:
        notes = _pending_dir()
        notes.mkdir(mode=0o700, exist_ok=True)
        note = notes / folder.name
        note.write_text(str(folder), encoding="utf-8")
        return note
    except OSError:
        return None


def clean_killed_runs() -> list[Path]:
    """Remove the hidden folders of runs that were killed while writing, wherever they were writing.

    Each run notes its hidden folder (``.siting-run-<pid>-…``) in the temporary folder while
    it writes; a note whose process is gone names a folder a killed run left behind. Only
    folders with that name pattern are removed.
    """
    removed: list[Path] = []
    notes = _pending_dir()
    if not notes.is_dir():
        return removed
    for note in notes.glob(f"{TEMP_PREFIX}*"):
        if not _writer_gone(note.name, TEMP_PREFIX):
            continue
        try:
            folder = Path(note.read_text(encoding="utf-8").strip())
        except (OSError, UnicodeDecodeError):
            folder = None
        if folder is not None and folder.name == note.name and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
        note.unlink(missing_ok=True)
    return removed


def check_free_space(path: Path, *, needed_bytes: int, what: str) -> None:
    """Refuse, before the work, a place whose disk cannot hold ``needed_bytes`` (an estimate of what is written)."""
    free = shutil.disk_usage(_nearest_existing(path)).free
    if free < needed_bytes:
        raise OutputError(
            f"{what} {path}: {free / 1e6:,.1f} MB free on its disk, and this run needs about "
            f"{needed_bytes / 1e6:,.0f} MB; free some space or choose another folder"
        )


def _disk_full(folder: Path) -> bool:
    """True when the disk holding ``folder`` has (almost) no space left."""
    try:
        return shutil.disk_usage(folder).free < FULL_BELOW_BYTES
    except OSError:
        return False


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
        clean_killed_runs()
        tmp = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", dir=out_dir.parent))
    except OSError as error:
        raise OutputError(
            f"cannot write the run under {out_dir.parent}: {error.strerror or error}; choose a folder you can write "
            "to (outputs.dir) or free some space"
        ) from None
    note = _note_pending(tmp)
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
    except Exception as error:
        # GDAL's writers (pyogrio, rasterio) report a full disk as their own errors, not as OSError.
        shutil.rmtree(tmp, ignore_errors=True)
        if _disk_full(out_dir.parent):
            raise OutputError(
                f"cannot write the run to {out_dir}: the disk is full ({error}); nothing was written (free some "
                "space or choose another outputs.dir)"
            ) from None
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if note is not None:
            note.unlink(missing_ok=True)
    return out_dir


def _nearest_existing(path: Path) -> Path:
    """``path`` or the nearest of its parents that exists (where a folder for it would be made)."""
    here = Path(path).resolve()
    while not here.exists() and here != here.parent:
        here = here.parent
    return here


def check_writable(path: Path, *, what: str) -> None:
    """Refuse, before any work, a place that cannot be written: the nearest existing folder on its way must be."""
    here = _nearest_existing(path)
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


def write_run(out_dir: Path, writers: Sequence[Callable[[Path], None]], *, record: dict[str, Any]) -> Path:
    """Write a run into ``out_dir`` atomically: each writer into the hidden folder, then ``run.json``.

    The run folder knows its place, its names and how to make it appear whole; what goes
    into it is handed over by the caller (:func:`siting.stages.run_writers`): the report's
    files, the rasters, the sandbox and the map.

    Parameters
    ----------
    out_dir
        The run's folder; it must not exist yet.
    writers
        Each takes the hidden folder and writes its files into it.
    record
        The run record, written last as ``run.json`` (a run without it is unfinished).
    """

    def write(tmp: Path) -> None:
        for writer in writers:
            writer(tmp)
        (tmp / RUN_JSON).write_text(json.dumps(record, ensure_ascii=False, indent=2, default=str), encoding="utf-8")

    return write_atomically(out_dir, write)
