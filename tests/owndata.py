"""A small region that is not Yunnan, written as a user would bring it.

Guizhou-like place names, 3 counties × 2 townships × 4 villages (24 villages of 2 × 2 km)
near Guiyang; a Shapefile in GBK without ``.cpg`` whose fields stop at 10 characters,
with the village's own ids (not NBS codes) and explicit level columns, in GCJ-02
longitude/latitude; a child raster in UTM zone 48N (a projected raster); a priority
registry saved in GBK; existing homes by lon/lat; and a scenario TOML naming them all.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from affine import Affine

from siting.coords import wgs84_to_gcj02
from siting.rasters import write_band

LON0, LAT0 = 106.55, 26.45
COUNTIES = [("c1", "花溪区"), ("c2", "乌当区"), ("c3", "白云区")]
TOWNS = ["甲镇", "乙乡"]


def villages() -> gpd.GeoDataFrame:
    """The 24 villages in WGS-84 with their ids, names and level codes."""
    rows = []
    k = 0
    for c, (county, county_name) in enumerate(COUNTIES):
        for t, town_name in enumerate(TOWNS):
            for v in range(4):
                x0 = LON0 + (c * 2 + t) * 0.04 + (v % 2) * 0.02
                y0 = LAT0 + (v // 2) * 0.018
                rows.append(
                    {
                        "VID": f"V{k:03d}",
                        "NAME": f"{county_name[:2]}{town_name[:1]}{v + 1}村" if k != 5 else None,
                        "TOWN": f"{county}-t{t}",
                        "TOWN_NM": f"{county_name[:2]}{town_name}",
                        "CNTY": county,
                        "CNTY_NM": county_name,
                        "PREF": "p1",
                        "PREF_NM": "测试市",
                        "geometry": shapely.box(x0, y0, x0 + 0.02, y0 + 0.018),
                    }
                )
                k += 1
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")


def write_shapefile_gcj02_gbk(folder: Path, frame: gpd.GeoDataFrame | None = None) -> Path:
    """The villages as a GBK Shapefile without .cpg, coordinates shifted to GCJ-02 (as Amap exports them)."""
    frame = villages() if frame is None else frame
    shifted = frame.copy()

    def shift(coords: np.ndarray) -> np.ndarray:
        lon, lat = wgs84_to_gcj02(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    shifted["geometry"] = shapely.transform(shifted.geometry.to_numpy(), shift)
    path = folder / "villages.shp"
    shifted.to_file(path, engine="pyogrio", encoding="GBK")
    for cpg in folder.glob("villages.cpg"):
        cpg.unlink()
    return path


def write_raster_utm(folder: Path, *, seed: int = 7) -> Path:
    """Children per 250 m cell in UTM zone 48N over the villages (a projected raster)."""
    rng = np.random.default_rng(seed)
    west, north = 650_000.0, 2_940_000.0
    cell = 250.0
    width, height = 140, 60
    values = rng.gamma(1.2, 3.0, size=(height, width)).astype(np.float32)
    values[rng.random(values.shape) < 0.2] = 0.0
    path = folder / "children_utm.tif"
    transform = Affine.translation(west, north) @ Affine.scale(cell, -cell)
    write_band(path, values, crs="EPSG:32648", transform=transform, nodata=-1.0)
    return path


def write_registry_gbk(folder: Path) -> Path:
    path = folder / "registry.csv"
    table = pd.DataFrame(
        {
            "community_code": [f"V{k:03d}" for k in range(24)],
            "left_behind": [k % 4 for k in range(24)],
            "困境儿童": [(k * 7) % 3 for k in range(24)],
        }
    )
    path.write_bytes(table.to_csv(index=False).encode("gbk"))
    return path


def write_homes(folder: Path) -> Path:
    path = folder / "homes.csv"
    frame = villages()
    points = frame.geometry.representative_point()
    pd.DataFrame(
        {"site_id": ["H1", "H2"], "lon": [points.x[0], points.x[13]], "lat": [points.y[0], points.y[13]]}
    ).to_csv(path, index=False)
    return path


def write_scenario(folder: Path, *, name: str = "guiyang", extra: str = "") -> Path:
    """The whole own-data set and its scenario (no ``sample`` key: own inputs switch the sample off)."""
    write_shapefile_gcj02_gbk(folder)
    write_raster_utm(folder)
    write_registry_gbk(folder)
    write_homes(folder)
    path = folder / "scenario.toml"
    path.write_text(
        f'''name = "{name}"
description = "own data: a GBK shapefile in GCJ-02, a UTM raster"

[inputs]
communities = "villages.shp"
code_column = "VID"
name_column = "NAME"
township_code_column = "TOWN"
township_name_column = "TOWN_NM"
county_code_column = "CNTY"
county_name_column = "CNTY_NM"
prefecture_code_column = "PREF"
prefecture_name_column = "PREF_NM"
coordinates = "gcj02"
population = "children_utm.tif"
priority_registry = "registry.csv"
existing_homes = "homes.csv"

[access]
standard_m = 3000

[model]
type = "mclp"
n_homes = 4

[report]
region_name = "测试市"
region_name_en = "Test City"

[outputs]
dir = "outputs"
{extra}''',
        encoding="utf-8",
    )
    return path


#: The travel-time inputs below, as a scenario's [access] section.
TRAVEL_TIME_ACCESS = """[access]
mode = "travel_time"
standard_min = 30
direction = "to_home"
dem = "dem_wgs84.tif"
landcover = "landcover_utm.tif"
speed_table = "speeds.csv"
roads = "roads.gpkg"
road_class_column = "fclass"
road_speeds = { primary = 40, track = 12 }
barriers = "river.gpkg"
resolution_m = 100
"""


def write_terrain(folder: Path, *, flat: bool = False) -> None:
    """Travel-time inputs as a user brings them: an SRTM-like DEM in lon/lat, a land-cover raster in
    UTM with a CSV speed table, OSM-like roads with an ``fclass`` column, and a river (a barrier) that
    only the primary road crosses. ``flat``: height 1,200 m everywhere, one land-cover class."""
    west, north, cell = 106.45, 26.56, 0.001
    width, height = 400, 160
    lon = west + (np.arange(width) + 0.5) * cell
    heights = np.full((height, width), 1200.0, dtype=np.float32)
    if not flat:
        heights += (200.0 * (lon - west) / (width * cell)).astype(np.float32)[None, :]
    transform = Affine.translation(west, north) @ Affine.scale(cell, -cell)
    write_band(folder / "dem_wgs84.tif", heights, crs="EPSG:4326", transform=transform, nodata=-9999.0)
    classes = np.full((60, 140), 30, dtype=np.uint8)  # grassland
    if not flat:
        classes[:, 70:] = 10  # forest in the east
    landcover_transform = Affine.translation(645_000.0, 2_942_000.0) @ Affine.scale(250.0, -250.0)
    write_band(folder / "landcover_utm.tif", classes, crs="EPSG:32648", transform=landcover_transform, nodata=0)
    (folder / "speeds.csv").write_text("class,mode,kmh\n10,walking,3\n30,walking,4\n", encoding="utf-8")
    mid = LAT0 + 0.018
    roads = gpd.GeoDataFrame(
        {"fclass": ["primary", "track"]},
        geometry=[
            shapely.LineString([(LON0 - 0.02, mid), (LON0 + 0.26, mid)]),
            shapely.LineString([(LON0 + 0.05, LAT0 - 0.01), (LON0 + 0.05, LAT0 + 0.05)]),
        ],
        crs="EPSG:4326",
    )
    roads.to_file(folder / "roads.gpkg")
    river = gpd.GeoDataFrame(
        geometry=[shapely.LineString([(LON0 + 0.121, LAT0 - 0.05), (LON0 + 0.121, LAT0 + 0.1)])], crs="EPSG:4326"
    )
    river.to_file(folder / "river.gpkg")


def write_travel_time_scenario(folder: Path, *, name: str = "guiyang_tt", flat: bool = False) -> Path:
    """The own-data set planned on travel time over its own terrain files."""
    path = write_scenario(folder, name=name)
    write_terrain(folder, flat=flat)
    text = path.read_text(encoding="utf-8").replace("[access]\nstandard_m = 3000\n", TRAVEL_TIME_ACCESS)
    path.write_text(text, encoding="utf-8")
    return path


def edit_scenario(old: str, new: str) -> Callable[[Path], None]:
    """A change to ``scenario.toml``: the first ``old`` becomes ``new`` (which must be there)."""

    def apply(folder: Path) -> None:
        path = folder / "scenario.toml"
        text = path.read_text(encoding="utf-8")
        assert old in text, old
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    return apply


def registry_as_utf8(folder: Path) -> None:
    """The registry re-saved in UTF-8, so that a run's only message is the one under test."""
    registry = folder / "registry.csv"
    registry.write_text(registry.read_bytes().decode("gbk"), encoding="utf-8")


def refused_line(scenario: Path, case: str) -> str:
    """``siting run`` on a broken scenario: exit 2 and one ``error:`` line, which is returned."""
    from click.testing import CliRunner

    from siting.cli import main

    result = CliRunner().invoke(main, ["run", str(scenario), "--quiet"])
    assert result.exit_code == 2, (case, result.output)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), (case, result.output)
    return lines[0]
