"""Community boundaries: reading, validating, administrative codes and the working CRS.

Everything between reading and drawing works in one projected CRS in metres,
chosen once per run by :func:`working_crs`: an Albers equal-area projection
centred on the study area, so areas (children per km²) and distances (metres)
are both meaningful.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from siting.errors import CRSError, InputError

__all__ = [
    "admin_codes_from_community",
    "read_communities",
    "require_projected",
    "working_crs",
]

ADMIN_CODE_LENGTHS = {"prefecture_code": 4, "county_code": 6, "township_code": 9}


def working_crs(bounds_lonlat: tuple[float, float, float, float]) -> CRS:
    """An Albers equal-area CRS in metres fitted to a study area.

    Parameters
    ----------
    bounds_lonlat
        ``(min_lon, min_lat, max_lon, max_lat)`` of the study area in degrees.

    Returns
    -------
    pyproj.CRS
        Albers equal-area on WGS-84 with the standard parallels at 1/6 and 5/6 of
        the latitude range (the usual choice that keeps scale error small across
        the area) and the central meridian in the middle.
    """
    min_lon, min_lat, max_lon, max_lat = bounds_lonlat
    if not (-180 <= min_lon < max_lon <= 180 and -90 <= min_lat < max_lat <= 90):
        raise CRSError(
            f"study-area bounds {bounds_lonlat} are not (min_lon, min_lat, max_lon, max_lat) in "
            "degrees; reproject the layer to EPSG:4326 before asking for its bounds"
        )
    span = max_lat - min_lat
    lat_1 = round(min_lat + span / 6, 4)
    lat_2 = round(max_lat - span / 6, 4)
    lat_0 = round((min_lat + max_lat) / 2, 4)
    lon_0 = round((min_lon + max_lon) / 2, 4)
    return CRS.from_proj4(
        f"+proj=aea +lat_1={lat_1} +lat_2={lat_2} +lat_0={lat_0} +lon_0={lon_0} "
        "+x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs"
    )


def require_projected(crs: CRS | None, *, what: str) -> None:
    """Raise :class:`CRSError` unless ``crs`` is a projected CRS in metres."""
    if crs is None:
        raise CRSError(f"{what} has no CRS; set one (e.g. gdf.set_crs('EPSG:4326')) before use")
    crs = CRS.from_user_input(crs)
    if not crs.is_projected:
        raise CRSError(
            f"{what} is in {crs.name!r}, a geographic CRS in degrees; distances need metres: "
            "reproject with gdf.to_crs(siting.boundaries.working_crs(bounds))"
        )
    unit = crs.axis_info[0].unit_name if crs.axis_info else ""
    if unit not in ("metre", "meter"):
        raise CRSError(f"{what} is in {crs.name!r} with unit {unit!r}; reproject to a CRS in metres")


def admin_codes_from_community(codes: pd.Series) -> pd.DataFrame:
    """Township, county and prefecture codes derived from 12-digit NBS community codes.

    Parameters
    ----------
    codes
        Community codes as strings of 12 digits.

    Returns
    -------
    pandas.DataFrame
        Columns ``township_code`` (9 digits), ``county_code`` (6) and
        ``prefecture_code`` (6, the first four digits followed by ``00``).
    """
    codes = codes.astype(str)
    bad = codes[~codes.str.fullmatch(r"\d{12}")]
    if len(bad):
        raise InputError(
            f"{len(bad)} community codes are not 12 digits, e.g. {list(bad.head(5))}; "
            "community_code must be the 12-digit NBS statistical code (read it as text so leading "
            "digits are kept)"
        )
    return pd.DataFrame(
        {
            "township_code": codes.str[:9],
            "county_code": codes.str[:6],
            "prefecture_code": codes.str[:4] + "00",
        },
        index=codes.index,
    )


def read_communities(path: Path | str, *, layer: str | None = None) -> gpd.GeoDataFrame:
    """Read community polygons and check the minimum the pipeline relies on.

    Parameters
    ----------
    path
        Any vector file GDAL reads (GeoPackage, Shapefile, GeoJSON, FlatGeobuf).
    layer
        Layer name for multi-layer files.

    Returns
    -------
    geopandas.GeoDataFrame
        With string ``community_code`` and derived admin code columns where absent.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"community boundaries file {path} does not exist")
    gdf = gpd.read_file(path, layer=layer, engine="pyogrio")
    if gdf.crs is None:
        raise CRSError(
            f"{path} has no CRS; declare it (for a Shapefile add the .prj, or call "
            "gdf.set_crs('EPSG:4326') if the coordinates are WGS-84 degrees)"
        )
    if "community_code" not in gdf.columns:
        raise InputError(
            f"{path} has no 'community_code' column (columns: {list(gdf.columns)}); rename the "
            "column that holds the 12-digit NBS code to community_code"
        )
    gdf["community_code"] = gdf["community_code"].astype(str)
    dupes = gdf["community_code"][gdf["community_code"].duplicated()]
    if len(dupes):
        raise InputError(f"{path}: duplicate community codes {sorted(set(dupes))[:10]}; each must be unique")
    derived = admin_codes_from_community(gdf["community_code"])
    for column in derived.columns:
        if column not in gdf.columns:
            gdf[column] = derived[column]
    empty = gdf.geometry.is_empty | gdf.geometry.isna()
    if bool(np.any(empty)):
        raise InputError(f"{path}: communities with empty geometry: {list(gdf.loc[empty, 'community_code'][:10])}")
    return gdf
