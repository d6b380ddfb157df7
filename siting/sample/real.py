"""Loaders for the committed, real parts of the Yunnan sample."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

from siting.errors import MissingDataError
from siting.sample.paths import SamplePaths

__all__ = ["load_communities_table", "load_counties", "load_prefectures", "townships_table"]

CODE_COLUMNS = ["community_code", "township_code", "county_code", "prefecture_code"]


def _require(path_list: list, what: str) -> None:
    missing = [str(p) for p in path_list if not p.exists()]
    if missing:
        raise MissingDataError(
            f"{what} not found: {missing}. These files are committed under data/yunnan/; "
            "restore them with git checkout, or regenerate with 'siting sample prepare'"
        )


def load_counties(paths: SamplePaths) -> gpd.GeoDataFrame:
    """The 129 county polygons (EPSG:4326) joined with their 2020 census figures."""
    _require([paths.counties_gpkg, paths.counties_csv], "Yunnan county data")
    shapes = gpd.read_file(paths.counties_gpkg, layer="counties")
    census = pd.read_csv(paths.counties_csv, dtype={"county_code": str, "prefecture_code": str})
    keep = [c for c in census.columns if c not in shapes.columns or c == "county_code"]
    merged = shapes.merge(census[keep], on="county_code", how="left", validate="one_to_one")
    return gpd.GeoDataFrame(merged.sort_values("county_code").reset_index(drop=True), crs=shapes.crs)


def load_prefectures(paths: SamplePaths) -> pd.DataFrame:
    """The 16 prefectures with their 2020 census figures."""
    _require([paths.prefectures_csv], "Yunnan prefecture data")
    return pd.read_csv(paths.prefectures_csv, dtype={"prefecture_code": str})


def load_communities_table(paths: SamplePaths) -> pd.DataFrame:
    """The 14,589 village-level communities (NBS 2020 codes 001–399) with names and codes."""
    _require([paths.communities_csv], "Yunnan community codes")
    table = pd.read_csv(paths.communities_csv, dtype=str)
    return table.sort_values("community_code").reset_index(drop=True)


def townships_table(communities: pd.DataFrame) -> pd.DataFrame:
    """One row per township-level unit that has communities, sorted by code.

    ``township_type`` is ``subdistrict``, ``town`` or ``xiang`` for the 1,413
    townships proper, and ``township_like`` for the 14 development zones and
    farms that hold committees with codes 001–399.
    """
    cols = ["township_code", "township_name", "township_type", "county_code", "prefecture_code"]
    return communities[cols].drop_duplicates("township_code").sort_values("township_code").reset_index(drop=True)
