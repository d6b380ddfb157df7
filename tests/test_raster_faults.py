"""Child rasters that lie about their size or end early are refused in one line, before or during the read."""

from __future__ import annotations

import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from click.testing import CliRunner
from rasterio.transform import from_origin

from siting.cli import main
from siting.errors import InputError
from siting.population import zonal_children
from siting.rasters import write_band
from siting.sample.build import SampleBuild
from tests.test_scenario import county_scenario

CRS = "EPSG:32648"


def zones() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"code": ["a", "b"]}, geometry=[shapely.box(0, 0, 500, 1000), shapely.box(500, 0, 1000, 1000)], crs=CRS
    )


def test_a_header_of_forty_billion_cells_is_refused_before_any_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.tif"
    profile = {
        "driver": "GTiff", "width": 200_000, "height": 200_000, "count": 1, "dtype": "float32", "crs": CRS,
        "transform": from_origin(0, 1000, 0.005, 0.005), "tiled": True, "compress": "deflate", "BIGTIFF": "YES",
        "SPARSE_OK": True,
    }  # fmt: skip
    with rasterio.open(path, "w", **profile):
        pass  # nothing written: the header alone claims the cells
    started = time.perf_counter()
    with pytest.raises(InputError, match=r"200,000 × 200,000 cells, .* over the 2 communities: finer than any"):
        zonal_children(path, zones(), id_column="code", workers=1)
    assert time.perf_counter() - started < 5.0


def test_a_truncated_raster_is_one_error_naming_the_rows(tmp_path: Path) -> None:
    path = tmp_path / "children.tif"
    rng = np.random.default_rng(0)
    write_band(
        path, rng.uniform(0, 5, (400, 400)).astype("float32"), crs=CRS, transform=from_origin(0, 1000, 2.5, 2.5),
        nodata=-1.0,
    )  # fmt: skip
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # the copy stopped half way
    with pytest.raises(InputError, match=r"cannot be read at rows \d+-\d+ \(truncated or damaged\?\)"):
        zonal_children(path, zones(), id_column="code", workers=1)


def test_a_raster_resolution_no_one_can_use_is_refused_before_the_work(
    tmp_path: Path, built_sample: SampleBuild
) -> None:
    scenario = county_scenario(tmp_path, built_sample, name="tiny", outputs="map = false\nraster_resolution_m = 1e-6")
    out = CliRunner().invoke(main, ["run", str(scenario)])
    assert out.exit_code == 2
    assert out.output.strip().splitlines()[-1].startswith("error: outputs.raster_resolution_m = 1e-06 m gives")
    assert not (tmp_path / "out" / "tiny").exists() or not any((tmp_path / "out" / "tiny").iterdir())
