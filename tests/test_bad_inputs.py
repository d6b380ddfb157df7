"""Bad input, one case per kind: a one-line error that shows the value, exit 2, and nothing written.

Every case starts from the own-data set of :mod:`tests.owndata`, breaks one thing and runs
``siting run`` on it. The run must stop with ``error: …`` on one line, exit code 2, and
leave no run folder and no temporary folder behind.
"""

from __future__ import annotations

import errno
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from click.testing import CliRunner

from siting.cli import main
from siting.errors import OutputError, SitingWarning
from tests.owndata import (
    edit_scenario,
    refused_line,
    registry_as_utf8,
    villages,
    write_scenario,
    write_shapefile_gcj02_gbk,
)

Breaker = Callable[[Path], None]


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("good")
    write_scenario(folder)
    registry_as_utf8(folder)
    return folder


edit = edit_scenario


def raster(change: Callable[[np.ndarray], np.ndarray], *, count: int = 1, shift_m: float = 0.0) -> Breaker:
    def apply(folder: Path) -> None:
        path = folder / "children_utm.tif"
        with rasterio.open(path) as src:
            values, profile = src.read(1), src.profile
        profile.update(count=count, transform=profile["transform"] * rasterio.Affine.translation(shift_m / 250, 0))
        with rasterio.open(path, "w", **profile) as dst:
            for band in range(1, count + 1):
                dst.write(change(values.copy()), band)

    return apply


def communities(change: Callable[[gpd.GeoDataFrame], gpd.GeoDataFrame]) -> Breaker:
    def apply(folder: Path) -> None:
        for old in folder.glob("villages.*"):
            old.unlink()
        write_shapefile_gcj02_gbk(folder, change(villages()))

    return apply


def file_text(name: str, text: str | bytes) -> Breaker:
    def apply(folder: Path) -> None:
        path = folder / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")

    return apply


def both(*breakers: Breaker) -> Breaker:
    def apply(folder: Path) -> None:
        for breaker in breakers:
            breaker(folder)

    return apply


def shrink_raster(folder: Path) -> None:
    path = folder / "children_utm.tif"
    with rasterio.open(path) as src:
        values, profile = src.read(1)[:, :40], src.profile
    profile.update(width=40)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values, 1)


def as_points(folder: Path) -> None:
    """A GeoPackage (a Shapefile cannot mix kinds) where two villages are points."""
    frame = villages()
    frame.loc[[0, 1], "geometry"] = [frame.geometry[0].centroid, frame.geometry[1].centroid]
    frame.to_file(folder / "villages.gpkg")
    edit('communities = "villages.shp"', 'communities = "villages.gpkg"')(folder)
    edit('coordinates = "gcj02"', 'coordinates = "wgs84"')(folder)


def overlapping(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    frame = frame.copy()
    frame.loc[1, "geometry"] = shapely.affinity.translate(frame.geometry[1], xoff=-0.012)
    return frame


def degrees_as_metres(folder: Path) -> None:
    communities(lambda f: f)(folder)
    (folder / "villages.prj").write_text(gpd.GeoSeries([], crs="EPSG:32648").crs.to_wkt("WKT1_ESRI"), encoding="utf-8")


def zero_area(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    frame = frame.copy()
    x, y = frame.geometry[3].centroid.x, frame.geometry[3].centroid.y
    frame.loc[3, "geometry"] = shapely.Polygon([(x, y), (x + 0.01, y), (x + 0.02, y)])  # a polygon with no area
    return frame


def huge_counts(folder: Path) -> None:
    path = folder / "children_utm.tif"
    with rasterio.open(path) as src:
        values, profile = src.read(1), src.profile
    values[:] = 1e30
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values, 1)


CASES: dict[str, tuple[Breaker, str]] = {
    "a community of zero area": (communities(zero_area), "1 communities have polygons of zero area (e.g. ['V003'])"),
    "1e30 children a cell": (huge_counts, "has a cell of 1e+30 children"),
    "empty name": (edit('name = "guiyang"', 'name = ""'), "name '' must be a plain folder name"),
    "name with a slash": (edit('name = "guiyang"', 'name = "a/b"'), "name 'a/b' must be a plain folder name"),
    "name climbing out": (edit('name = "guiyang"', 'name = "../../x"'), "name '../../x' must be a plain folder name"),
    "NaN standard": (edit("standard_m = 3000", "standard_m = nan"), "access.standard_m must be a positive finite"),
    "infinite standard": (edit("standard_m = 3000", "standard_m = inf"), "got inf"),
    "NaN budget": (
        edit("n_homes = 4", "budget_cny = nan"),
        "model.budget_cny must be a finite amount ≥ 0 CNY, got nan",
    ),
    "zero cost per home": (edit("n_homes = 4", "n_homes = 4\ncost_per_home_cny = 0"), "cost_per_home_cny must be"),
    "negative cost": (edit("n_homes = 4", "n_homes = 4\ncost_per_home_cny = -30000"), "got -30000"),
    "negative gap": (edit("[report]", "[solver]\ngap = -0.1\n\n[report]"), "solver.gap must be a fraction"),
    "threshold 0": (edit('dir = "outputs"', 'dir = "outputs"\nsmall_count_threshold = 0'), "at least 2"),
    "repeated years": (
        edit("n_homes = 4", "[phasing]\nyears = [2019, 2019]\nbudgets_cny = [1, 1]"),
        "phasing.years must be distinct and in order, got [2019, 2019]",
    ),
    "option the model ignores": (
        edit('type = "mclp"\nn_homes = 4', 'type = "lscp"\nbudget_cny = 100000'),
        "model 'lscp' does not take budget_cny",
    ),
    "unknown key": (edit("[access]", "[access]\nstandard_km = 3"), "unknown key 'access.standard_km'"),
    "points for polygons": (as_points, "2 communities are ['Point'], not polygons"),
    "degrees labelled as metres": (degrees_as_metres, "look like longitude/latitude in degrees"),
    "overlapping villages": (communities(overlapping), "pairs of communities overlap: V000 and V001"),
    "all-zero raster": (raster(lambda v: v * 0), "holds no children inside the communities"),
    "three-band raster": (raster(lambda v: v, count=3), "has 3 bands; give a single band"),
    "raster elsewhere": (raster(lambda v: v, shift_m=500_000), "does not overlap the communities"),
    "raster over half": (shrink_raster, "communities lie wholly outside population raster"),
    "zero-byte raster": (file_text("children_utm.tif", b""), "is empty (0 bytes)"),
    "text as raster": (file_text("children_utm.tif", "not a raster"), "is not a raster GDAL can read"),
    "infinite cells": (raster(lambda v: np.where(v > 5, np.inf, v)), "infinite cells"),
    "registry text counts": (
        file_text("registry.csv", "community_code,left_behind\nV000,three\n"),
        "left_behind: missing or non-integer counts at rows [2]",
    ),
    "empty registry": (file_text("registry.csv", ""), "registry.csv is empty (0 bytes)"),
    "registry not Excel": (
        both(file_text("registry.xlsx", "community_code\n"), edit("registry.csv", "registry.xlsx")),
        "is not an Excel workbook",
    ),
    "registry larger than children": (
        file_text("registry.csv", "community_code,left_behind\nV000,100000\n"),
        "left_behind counts exceed the community's children from the raster in 1 communities: V000 (100000 >",
    ),
    "totals lack a county": (
        both(
            file_text("totals.csv", "county_code,children\nc1,1000\nc2,1000\n"),
            edit('existing_homes = "homes.csv"', 'existing_homes = "homes.csv"\nofficial_totals = "totals.csv"'),
        ),
        "official totals",
    ),
    "home at longitude 999": (
        file_text("homes.csv", "site_id,lon,lat\nH1,999,26.5\n"),
        "rows [2] have no valid longitude/latitude (e.g. [(999, 26.5)])",
    ),
    "folder for a file": (
        both(lambda f: (f / "rasterdir").mkdir(), edit('population = "children_utm.tif"', 'population = "rasterdir"')),
        "inputs.population: 'rasterdir' is a folder; give the file",
    ),
    "file for a folder": (
        both(file_text("outfile", "x"), edit('dir = "outputs"', 'dir = "outfile"')),
        "outputs.dir: 'outfile' is a file; give a folder",
    ),
    "p = 0 with existing homes": (
        edit('type = "mclp"\nn_homes = 4', 'type = "pmedian"\np = 0'),
        "p=0 is fewer than the 2 existing and locked-in homes: p counts every home",
    ),
    "township minimum beyond the homes": (
        edit("n_homes = 4", "n_homes = 1\nmin_per_township = 1"),
        "min_per_township=1 needs",
    ),
    "unknown locked-in site": (edit("n_homes = 4", 'n_homes = 4\nlocked_in = ["V999"]'), "V999"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_exit_2_and_nothing_written(case: str, good: Path, tmp_path: Path) -> None:
    breaker, expected = CASES[case]
    folder = tmp_path / "case"
    shutil.copytree(good, folder)
    breaker(folder)
    line = refused_line(folder / "scenario.toml", case)
    assert expected in line, (case, line)
    outputs = folder / "outputs"
    left = [p.name for p in outputs.rglob("*")] if outputs.exists() else []
    assert left in ([], ["guiyang"]) and not list(outputs.glob("guiyang/*")), (case, left)


def test_gbk_files_are_read_with_a_warning(good: Path, tmp_path: Path) -> None:
    folder = tmp_path / "gbk"
    shutil.copytree(good, folder)
    toml = folder / "scenario.toml"
    toml.write_bytes(toml.read_text(encoding="utf-8").replace("own data", "自己的数据").encode("gbk"))
    with warnings.catch_warnings():
        warnings.simplefilter("default", SitingWarning)
        result = CliRunner().invoke(main, ["run", str(toml), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "warning: scenario file" in result.output and "is not UTF-8; read it as GBK" in result.output


def test_a_full_disk_or_a_read_only_folder_leaves_nothing(good: Path, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import siting.report.run_files

    folder = tmp_path / "full"
    shutil.copytree(good, folder)

    def no_space(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(siting.report.run_files, "write_report_files", no_space)
    import siting.rundir

    original = siting.rundir.write_run
    result = CliRunner().invoke(main, ["run", str(folder / "scenario.toml"), "--quiet"])
    assert result.exit_code == 2, result.output
    assert "No space left on device; nothing was written" in result.output
    assert list((folder / "outputs" / "guiyang").iterdir()) == []  # no run, no hidden temporary folder
    assert original is siting.rundir.write_run

    def read_only(*args: object, **kwargs: object) -> str:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(siting.rundir.tempfile, "mkdtemp", read_only)
    with pytest.raises(OutputError, match=r"cannot write the run under .*: Permission denied; choose a folder"):
        siting.rundir.write_atomically(tmp_path / "ro" / "run", lambda tmp: None)


def test_a_full_disk_under_gdals_writers_is_one_line(good: Path, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """GDAL (pyogrio) reports a full disk as "Failed to commit transaction", not as OSError."""
    import pyogrio.errors

    import siting.rundir

    folder = tmp_path / "gdal-full"
    shutil.copytree(good, folder)

    def no_space(*args: object, **kwargs: object) -> None:
        raise pyogrio.errors.DataSourceError("Failed to commit transaction")

    monkeypatch.setattr(gpd.GeoDataFrame, "to_file", no_space)
    monkeypatch.setattr(siting.rundir, "_disk_full", lambda folder: True)
    result = CliRunner().invoke(main, ["run", str(folder / "scenario.toml"), "--quiet"])
    assert result.exit_code == 2, result.output
    assert "the disk is full (Failed to commit transaction); nothing was written" in result.output
    assert "Traceback" not in result.output
    assert list((folder / "outputs" / "guiyang").iterdir()) == []


def test_too_little_free_space_is_refused_before_the_work(good: Path, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import siting.pipeline
    import siting.rundir

    folder = tmp_path / "small-disk"
    shutil.copytree(good, folder)
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(siting.rundir.shutil, "disk_usage", lambda path: usage._replace(free=3_000_000))
    planned = []
    monkeypatch.setattr(siting.pipeline.stages, "plan", lambda *args, **kwargs: planned.append(1))
    result = CliRunner().invoke(main, ["run", str(folder / "scenario.toml"), "--quiet"])
    assert result.exit_code == 2, result.output
    assert "3.0 MB free on its disk, and this run needs about" in result.output
    assert planned == []  # refused after reading, before the plan
    assert not (folder / "outputs" / "guiyang").exists()


def test_a_killed_runs_hidden_folder_is_removed_by_a_run_anywhere(tmp_path: Path) -> None:
    """A run killed while writing its folder (SIGKILL) leaves a hidden folder; the next run elsewhere removes it."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from siting.rundir import TEMP_PREFIX, clean_killed_runs

    place = tmp_path / "place-a"
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from siting.rundir import write_atomically\n"
        "def slow(tmp):\n"
        "    (tmp / 'homes.csv').write_text('half')\n"
        "    time.sleep(120)\n"
        "write_atomically(Path(sys.argv[1]) / 'run', slow)\n"
    )
    writer = subprocess.Popen([sys.executable, "-c", script, str(place)])
    try:
        deadline = time.monotonic() + 60
        while not any(place.glob(f"{TEMP_PREFIX}{writer.pid}-*/homes.csv")) and time.monotonic() < deadline:
            time.sleep(0.1)
        hidden = list(place.glob(f"{TEMP_PREFIX}{writer.pid}-*"))
        assert len(hidden) == 1
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=10)
    finally:
        if writer.poll() is None:
            writer.kill()
    assert hidden[0].exists()  # nothing ran on a SIGKILL
    assert hidden[0] in clean_killed_runs()  # as every run does first, wherever it writes
    assert not hidden[0].exists() and list(place.iterdir()) == []


def test_a_stale_temporary_folder_of_a_killed_run_is_removed(good: Path, tmp_path: Path) -> None:
    folder = tmp_path / "stale"
    shutil.copytree(good, folder)
    parent = folder / "outputs" / "guiyang"
    parent.mkdir(parents=True)
    dead = parent / ".siting-run-999999-abc"  # a pid that does not exist
    dead.mkdir()
    (dead / "homes.csv").write_text("half", encoding="utf-8")
    result = CliRunner().invoke(main, ["run", str(folder / "scenario.toml"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert not dead.exists()
    assert len([p for p in parent.iterdir() if not p.name.startswith(".")]) == 1


def test_official_totals_name_the_counties_they_lack(good: Path, tmp_path: Path) -> None:
    folder = tmp_path / "totals"
    shutil.copytree(good, folder)
    CASES["totals lack a county"][0](folder)
    result = CliRunner().invoke(main, ["run", str(folder / "scenario.toml"), "--quiet"])
    assert result.exit_code == 2 and "have no row for counties ['c3'] (1 of 3)" in result.output


def test_status_tables_in_gbk_are_read(tmp_path: Path) -> None:
    from siting.tables import read_table

    path = tmp_path / "status.csv"
    path.write_bytes("community_code,status\nV001,已建成\n".encode("gbk"))
    with pytest.warns(Warning, match="read it as GBK"):
        assert read_table(path, what="status table")["status"].tolist() == ["已建成"]
    pd.DataFrame().to_csv(tmp_path / "empty.csv", index=False)
