"""The command line: help, sample build, demo, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from siting.cli import main
from tests.conftest import copy_real_parts


def test_help_for_every_command() -> None:
    runner = CliRunner()
    for args in ([], ["demo"], ["sample"], ["sample", "build"], ["sample", "prepare"]):
        result = runner.invoke(main, [*args, "--help"])
        assert result.exit_code == 0, result.output
        assert "Usage:" in result.output


def test_python_dash_m() -> None:
    result = subprocess.run([sys.executable, "-m", "siting", "--version"], capture_output=True, text=True, check=True)
    assert "siting" in result.stdout


@pytest.mark.slow
def test_demo_builds_the_sample_and_prints_a_summary(tmp_path: Path) -> None:
    copy_real_parts(tmp_path / "data")
    result = CliRunner().invoke(
        main,
        [
            "demo",
            "--data-dir",
            str(tmp_path / "data"),
            "--outputs",
            str(tmp_path / "out"),
            "--map",
            str(tmp_path / "maps" / "demo.html"),
            "--budget-cny",
            "3000000",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "homes existing / new      : 1,194 / 100" in result.output
    assert "build cost                : 3,000,000 CNY" in result.output
    assert "mclp, optimal (gap 0.00 %)" in result.output
    assert (tmp_path / "maps" / "demo.html").exists()
    assert (tmp_path / "data" / "yunnan" / "modelled" / "metadata.json").exists()
    # siting demo is the demo scenario with its overrides, nothing else.
    record = json.loads(next((tmp_path / "out" / "demo").glob("*/run.json")).read_text(encoding="utf-8"))
    assert record["scenario"]["model"]["budget_cny"] == 3_000_000
    assert record["scenario"]["access"]["standard_m"] == 5000


def test_missing_data_is_a_one_line_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["sample", "build", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.startswith("error: Yunnan county data not found")
    assert "Traceback" not in result.output


def test_the_national_build_says_what_it_needs(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["sample", "build", "--region", "china", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2 and "--region china needs --divisions" in result.output
    result = runner.invoke(main, ["sample", "build", "--provinces", "53", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2 and "--divisions and --provinces are for --region china" in result.output
    (tmp_path / "notes.txt").write_text("not a tarball")
    result = runner.invoke(
        main,
        [
            "sample",
            "build",
            "--region",
            "china",
            "--divisions",
            str(tmp_path / "notes.txt"),
            "--data-dir",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 2 and "neither a folder nor a tarball" in result.output
    assert not (tmp_path / "china").exists()
