"""environment.yml mirrors pyproject.toml, so conda users get the same dependencies."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_environment_yml_lists_every_runtime_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = [re.split(r"[<>=!~ ]", spec, maxsplit=1)[0].lower() for spec in project["dependencies"]]
    environment = (ROOT / "environment.yml").read_text(encoding="utf-8").lower()
    listed = set(re.findall(r"^\s*-\s*([a-z0-9_.-]+)", environment, flags=re.MULTILINE))
    assert sorted(set(names) - listed) == []
    assert "- -e ." in environment  # and the package itself


def test_environment_yml_lists_the_dask_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = [re.split(r"[<>=!~ ]", spec, maxsplit=1)[0].lower() for spec in project["optional-dependencies"]["dask"]]
    environment = (ROOT / "environment.yml").read_text(encoding="utf-8").lower()
    listed = set(re.findall(r"^\s*-\s*([a-z0-9_.-]+)", environment, flags=re.MULTILINE))
    assert names == ["dask", "distributed", "bokeh"] and sorted(set(names) - listed) == []
