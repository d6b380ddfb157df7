"""WorldPop age bands, Sprague splitting and calibration to official totals."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine

from siting.agegroups import SPRAGUE_FIRST, SPRAGUE_MIDDLE, SPRAGUE_SECOND, sprague_single_years, sprague_weights
from siting.errors import InputError
from siting.population import calibrate_to_totals, find_worldpop_bands, sum_age_bands, zonal_children

TRANSFORM = Affine.translation(102.0, 25.0) @ Affine.scale(1 / 120, -1 / 120)
NODATA = -99999.0

# Per sex, 5-year groups 0-4 .. 25-29 for four cells (0-4 is band 0 = 1/5 of it + band 1 = 4/5).
GROUPS = {
    "constant": [50, 50, 50, 50, 50, 50],
    "linear": [50, 45, 40, 35, 30, 25],
    "negative_sprague": [0, 0, 0, 1, 100, 100],
    "nodata": None,
}


def write_bands(folder: Path, *, skip: tuple[str, ...] = ()) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    cells = list(GROUPS.values())
    for sex in ("f", "m"):
        for age, group in ((0, 0), (1, 0), (5, 1), (10, 2), (15, 3), (20, 4), (25, 5)):
            if f"{sex}_{age}" in skip:
                continue
            share = 0.2 if age == 0 else 0.8 if age == 1 else 1.0
            values = np.array([[NODATA if c is None else c[group] * share for c in cells]], dtype=np.float32)
            with rasterio.open(
                folder / f"chn_{sex}_{age}_2020.tif",
                "w",
                driver="GTiff",
                width=4,
                height=1,
                count=1,
                dtype="float32",
                crs="EPSG:4326",
                transform=TRANSFORM,
                nodata=NODATA,
            ) as dst:
                dst.write(values.reshape(1, 1, 4)[0], 1)
    return folder


def test_sprague_panels_preserve_groups() -> None:
    assert SPRAGUE_MIDDLE.sum(axis=0) == pytest.approx([0, 0, 1, 0, 0])
    assert SPRAGUE_FIRST.sum(axis=0) == pytest.approx([1, 0, 0, 0])
    assert SPRAGUE_SECOND.sum(axis=0) == pytest.approx([0, 1, 0, 0])
    assert sprague_weights(7).sum(axis=0) == pytest.approx(np.ones(7))
    # Single-year counts on a cubic are split back exactly.
    ages = np.arange(40)
    single = 900 - 15 * ages + 0.4 * ages**2 - 0.008 * ages**3
    assert sprague_single_years(single.reshape(8, 5).sum(axis=1)) == pytest.approx(single, abs=1e-9)
    # Ages 15-17 of an interior group: the published middle-panel rows 1-3.
    assert SPRAGUE_MIDDLE[:3].sum(axis=0) == pytest.approx([-0.008, 0.0656, 0.6272, -0.0992, 0.0144])


def test_children_0_17_from_bands(tmp_path: Path) -> None:
    folder = write_bands(tmp_path / "wp")
    result = sum_age_bands(folder, tmp_path / "children.tif", age_min=0, age_max=17)
    with rasterio.open(result.path) as src:
        values = src.read(1, masked=True)
        assert src.crs.to_epsg() == 4326 and src.transform == TRANSFORM
    # constant: 10 per single year -> 18 years x 10 x 2 sexes
    assert values[0, 0] == pytest.approx(360.0)
    # linear: 50 + 45 + 40 + (ages 15-17 of 35 with slope -0.2/yr = 7.4+7.2+7.0) = 156.6 per sex
    assert values[0, 1] == pytest.approx(313.2, abs=1e-4)
    # Sprague gives 0.6272 - 9.92 + 1.44 < 0 here: flat 3/5 of the 15-19 group (1) is used instead.
    assert values[0, 2] == pytest.approx(1.2, abs=1e-5)
    assert values.mask[0, 3]
    assert result.weights == pytest.approx(
        {"0-4": 1.0, "5-9": 1 - 0.008, "10-14": 1 + 0.0656, "15-19": 0.6272, "20-24": -0.0992, "25-29": 0.0144}
    )


def test_whole_groups_need_no_neighbours(tmp_path: Path) -> None:
    folder = write_bands(tmp_path / "wp", skip=("f_20", "m_20", "f_25", "m_25"))
    result = sum_age_bands(folder, tmp_path / "c.tif", age_min=0, age_max=14)
    with rasterio.open(result.path) as src:
        assert src.read(1)[0, 1] == pytest.approx(2 * (50 + 45 + 40))


def test_missing_band_is_named(tmp_path: Path) -> None:
    folder = write_bands(tmp_path / "wp", skip=("m_25",))
    with pytest.raises(InputError, match=r"lacks the bands \['m_25'\] needed for ages 0-17"):
        sum_age_bands(folder, tmp_path / "c.tif", age_min=0, age_max=17)
    with pytest.raises(InputError, match="no WorldPop age/sex rasters"):
        find_worldpop_bands(folder, year=2015)


def test_calibrate_to_official_totals(tmp_path: Path) -> None:
    path = tmp_path / "r.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=4,
        height=1,
        count=1,
        dtype="float32",
        crs="EPSG:4326",
        transform=TRANSFORM,
        nodata=NODATA,
    ) as dst:
        dst.write(np.array([[1.0, 3.0, 2.0, 2.0]], dtype=np.float32), 1)
    west = shapely.box(102.0, 25.0 - 1 / 120, 102.0 + 2 / 120, 25.0)
    east = shapely.box(102.0 + 2 / 120, 25.0 - 1 / 120, 102.0 + 4 / 120, 25.0)
    units = gpd.GeoDataFrame({"county_code": ["530102", "530103"]}, geometry=[west, east], crs=4326)
    table = calibrate_to_totals(
        path, units, id_column="county_code", totals={"530102": 8.0, "530103": 2.0}, out_path=tmp_path / "cal.tif"
    )
    assert table["factor"].tolist() == pytest.approx([2.0, 0.5])
    with rasterio.open(tmp_path / "cal.tif") as src:
        assert src.read(1)[0].tolist() == pytest.approx([2.0, 6.0, 1.0, 1.0])
    after = zonal_children(tmp_path / "cal.tif", units, id_column="county_code")
    assert after.children.tolist() == pytest.approx([8.0, 2.0])
    with pytest.raises(InputError, match="unknown ids \\['999999'\\]"):
        calibrate_to_totals(
            path,
            units,
            id_column="county_code",
            totals={"530102": 1, "530103": 1, "999999": 1},
            out_path=tmp_path / "x.tif",
        )
