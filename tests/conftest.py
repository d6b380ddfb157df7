"""Shared fixtures: a Yunnan sample built once per session in a temporary folder."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import settings

from siting.sample.build import SampleBuild, build_sample
from siting.sample.paths import SamplePaths, sample_paths

# CI runs the property tests on a fixed set of examples (SITING_HYPOTHESIS_PROFILE=ci, set by .ci/run) so a
# landing is reproducible; locally each run explores new ones.
settings.register_profile("ci", derandomize=True, database=None)
settings.load_profile(os.environ.get("SITING_HYPOTHESIS_PROFILE", "default"))

REPO = Path(__file__).resolve().parents[1]
REAL_FILES = [
    "yunnan_counties_2020.gpkg",
    "yunnan_counties_2020.csv",
    "yunnan_prefectures_2020.csv",
    "yunnan_communities_2020.csv",
    "terrain/heights_5arcmin.tif",
    "terrain/rivers_lakes.gpkg",
    "terrain/landcover_modis_2019.tif",
    "terrain/landcover_speeds.csv",
]


def copy_real_parts(data_dir: Path) -> SamplePaths:
    """Copy the committed real files of the sample into ``data_dir/yunnan``."""
    paths = sample_paths(data_dir)
    paths.terrain_dir.mkdir(parents=True)
    for name in REAL_FILES:
        shutil.copy2(REPO / "data" / "yunnan" / name, paths.root / name)
    return paths


@pytest.fixture(scope="session")
def real_paths() -> SamplePaths:
    """The committed sample in the checkout (real parts only are guaranteed)."""
    return sample_paths(REPO / "data")


@pytest.fixture(scope="session")
def built_sample(tmp_path_factory: pytest.TempPathFactory) -> SampleBuild:
    """The sample built with the default seed in a temporary data folder."""
    paths = copy_real_parts(tmp_path_factory.mktemp("data"))
    return build_sample(paths)
