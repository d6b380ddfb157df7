"""Community boundaries: reading, validating, administrative codes and the working CRS.

Everything between reading and drawing works in one projected CRS in metres,
chosen once per run by :func:`working_crs`: an Albers equal-area projection
centred on the study area, so areas (children per km²) and distances (metres)
are both meaningful.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from siting.coords import bd09_to_wgs84, gcj02_to_wgs84
from siting.errors import CRSError, InputError, SitingWarning

__all__ = [
    "ADMIN_CODE_COLUMNS",
    "CoordinateSystem",
    "admin_codes_from_community",
    "detect_dbf_encoding",
    "read_communities",
    "require_projected",
    "working_crs",
]

CoordinateSystem = Literal["wgs84", "gcj02", "bd09"]
ADMIN_CODE_COLUMNS = ("township_code", "county_code", "prefecture_code")
_CONVERTERS = {"gcj02": gcj02_to_wgs84, "bd09": bd09_to_wgs84}


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
    min_lon, min_lat, max_lon, max_lat = (float(v) for v in bounds_lonlat)
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


def detect_dbf_encoding(dbf_path: Path) -> str:
    """Guess the text encoding of a Shapefile's ``.dbf`` table.

    The records are decoded as UTF-8 first (pure ASCII passes too); if that
    fails, as GB18030 (a superset of GBK and GB2312, what Chinese GIS software
    writes without a ``.cpg``). Anything else needs an explicit ``encoding=``.
    """
    data = dbf_path.read_bytes()
    if len(data) < 32:
        raise InputError(f"{dbf_path} is not a dBASE table (only {len(data)} bytes)")
    header_length = int.from_bytes(data[8:10], "little")
    records = data[header_length:].rstrip(b"\x1a")
    for encoding in ("utf-8", "gb18030"):
        try:
            records.decode(encoding)
        except UnicodeDecodeError:
            continue
        return encoding
    raise InputError(
        f"cannot tell the text encoding of {dbf_path}: it is neither UTF-8 nor GBK/GB18030; "
        "pass encoding='...' (for example 'big5'), or add a .cpg file next to the .shp"
    )


def _shapefile_encoding(path: Path, encoding: str | None) -> str | None:
    if encoding is not None or path.suffix.lower() != ".shp":
        return encoding
    if path.with_suffix(".cpg").exists() or path.with_suffix(".CPG").exists():
        return None  # GDAL honours the .cpg
    dbf = next((p for p in (path.with_suffix(".dbf"), path.with_suffix(".DBF")) if p.exists()), None)
    return detect_dbf_encoding(dbf) if dbf is not None else None


def _to_wgs84(geometry: gpd.GeoSeries, source: CoordinateSystem) -> gpd.GeoSeries:
    convert = _CONVERTERS[source]

    def transform(coords: np.ndarray) -> np.ndarray:
        lon, lat = convert(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    values = shapely.transform(geometry.to_numpy(), transform)
    return gpd.GeoSeries(values, index=geometry.index, crs="EPSG:4326")


def _polygonal(geom: BaseGeometry) -> BaseGeometry:
    """The polygon parts of a repaired geometry (make_valid may add lines or points)."""
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def read_communities(
    path: Path | str,
    *,
    layer: str | None = None,
    encoding: str | None = None,
    code_column: str = "community_code",
    coordinates: CoordinateSystem = "wgs84",
    study_area: BaseGeometry | None = None,
    study_area_crs: CRS | str | None = "EPSG:4326",
) -> gpd.GeoDataFrame:
    """Read community polygons and check everything the pipeline relies on.

    Parameters
    ----------
    path
        Any vector file GDAL reads (GeoPackage, Shapefile, GeoJSON, FlatGeobuf).
    layer
        Layer name for multi-layer files.
    encoding
        Text encoding of a Shapefile without ``.cpg`` (default: detect UTF-8 or GBK/GB18030).
    code_column
        Column with the 12-digit NBS community code; renamed to ``community_code``.
    coordinates
        ``"gcj02"`` (Amap/Gaode, Tencent) or ``"bd09"`` (Baidu) when the layer's
        longitudes/latitudes are in those datums; they are converted to WGS-84.
    study_area
        Optional polygon; communities that do not intersect it are reported.
    study_area_crs
        CRS of ``study_area``.

    Returns
    -------
    geopandas.GeoDataFrame
        ``community_code`` (str), ``township_code``, ``county_code``,
        ``prefecture_code`` (derived from the community code where absent), the
        other columns as read, and valid polygon geometry in the file's CRS
        (EPSG:4326 after a GCJ-02/BD-09 conversion).

    Raises
    ------
    CRSError
        The layer has no CRS, or GCJ-02/BD-09 is declared for a projected layer.
    InputError
        Listing every problem found: missing code column, malformed or duplicate
        codes, empty geometries, communities outside the study area.

    Warns
    -----
    SitingWarning
        When invalid geometries were repaired with ``make_valid`` (lists the codes).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"community boundaries file {path} does not exist")
    if coordinates not in ("wgs84", "gcj02", "bd09"):
        raise InputError(f"coordinates={coordinates!r}; use 'wgs84', 'gcj02' or 'bd09'")
    read_encoding = _shapefile_encoding(path, encoding)
    try:
        gdf = gpd.read_file(path, layer=layer, engine="pyogrio", encoding=read_encoding)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as error:
        raise InputError(f"cannot read {path} as a vector layer: {error}") from None
    if gdf.crs is None:
        raise CRSError(
            f"{path} has no CRS; declare it: for a Shapefile add the .prj file, otherwise "
            "gdf = gdf.set_crs('EPSG:4326') if the coordinates are longitude/latitude in degrees "
            "(and pass coordinates='gcj02' or 'bd09' if they come from Amap or Baidu)"
        )
    if coordinates != "wgs84":
        if not gdf.crs.is_geographic:
            raise CRSError(
                f"coordinates={coordinates!r} needs longitudes/latitudes, but {path} is in the projected "
                f"CRS {gdf.crs.name!r}; GCJ-02 and BD-09 exist only as degrees"
            )
        gdf = gdf.set_geometry(_to_wgs84(gdf.geometry, coordinates))

    problems: list[str] = []
    if code_column not in gdf.columns:
        raise InputError(
            f"{path} has no {code_column!r} column (columns: {[c for c in gdf.columns if c != 'geometry']}); "
            "pass code_column='<the column with the 12-digit NBS code>'"
        )
    if code_column != "community_code":
        gdf = gdf.rename(columns={code_column: "community_code"})
    codes = gdf["community_code"].astype("string").str.strip()
    codes = codes.str.replace(r"\.0$", "", regex=True)
    gdf["community_code"] = codes.astype(object)
    malformed = codes[~codes.fillna("").str.fullmatch(r"\d{12}")]
    if len(malformed):
        problems.append(
            f"{len(malformed)} community codes are not 12 digits (rows {list(malformed.index[:10])}, values "
            f"{list(malformed.head(10))}); read the column as text so leading digits are kept"
        )
    duplicated = codes[codes.duplicated(keep=False) & codes.notna()]
    if len(duplicated):
        problems.append(f"duplicate community codes: {sorted(set(duplicated))[:10]} ({len(duplicated)} rows)")
    empty = gdf.geometry.isna() | gdf.geometry.is_empty
    if empty.any():
        problems.append(f"communities with empty geometry: {list(codes[empty][:10])} ({int(empty.sum())} in all)")

    invalid = ~empty & ~gdf.geometry.is_valid
    if invalid.any():
        repaired = [_polygonal(g) for g in shapely.make_valid(gdf.geometry[invalid].to_numpy())]
        gdf.loc[invalid, "geometry"] = gpd.GeoSeries(repaired, index=gdf.index[invalid], crs=gdf.crs)
        warnings.warn(
            f"repaired {int(invalid.sum())} invalid geometries with make_valid: {list(codes[invalid][:20])}",
            SitingWarning,
            stacklevel=2,
        )

    if study_area is not None and not empty.all():
        area = gpd.GeoSeries([study_area], crs=study_area_crs).to_crs(gdf.crs).iloc[0]
        outside = ~empty & ~gdf.geometry.intersects(area)
        if outside.any():
            problems.append(f"{int(outside.sum())} communities lie outside the study area: {list(codes[outside][:10])}")
    if problems:
        raise InputError(f"{path}: " + "; ".join(problems))

    derived = admin_codes_from_community(gdf["community_code"])
    for column in ADMIN_CODE_COLUMNS:
        if column not in gdf.columns:
            gdf[column] = derived[column]
        else:
            gdf[column] = gdf[column].astype(str)
    return gdf
