"""Child rasters that lie about their size or end early are refused in one line, before or during the read."""

from __future__ import annotations

import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin

from siting.errors import InputError
from siting.population import zonal_children
from siting.rasters import write_band

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
