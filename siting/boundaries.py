"""Community boundaries: reading, validating, administrative codes and the working CRS.

Everything between reading and drawing works in one projected CRS in metres,
chosen once per run by :func:`working_crs`: an Albers equal-area projection
centred on the study area, so areas (children per km²) and distances (metres)
are both meaningful.
"""

from __future__ import annotations

import codecs
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
from siting.levels import LevelColumns, admin_codes, check_hierarchy, nbs_codes, text_codes

__all__ = [
    "ADMIN_CODE_COLUMNS",
    "CoordinateSystem",
    "admin_codes_from_community",
    "detect_dbf_encoding",
    "overlapping_communities",
    "polygonal_part",
    "read_communities",
    "require_projected",
    "working_crs",
]

CoordinateSystem = Literal["wgs84", "gcj02", "bd09"]
ADMIN_CODE_COLUMNS = ("township_code", "county_code", "prefecture_code", "province_code")
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

    Kept for existing callers; :func:`siting.levels.nbs_codes` also gives the province.
    """
    return nbs_codes(codes)[["township_code", "county_code", "prefecture_code"]]


def _dbf_records(dbf_path: Path) -> bytes:
    """The record bytes of a ``.dbf`` table (after its header, without the end-of-file mark)."""
    data = dbf_path.read_bytes()
    if len(data) < 32:
        raise InputError(f"{dbf_path} is not a dBASE table (only {len(data)} bytes)")
    return data[int.from_bytes(data[8:10], "little") :].rstrip(b"\x1a")


def _decodes(records: bytes, encoding: str) -> bool:
    try:
        records.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def _detected(records: bytes, dbf_path: Path) -> str:
    for encoding in ("utf-8", "gb18030"):
        if _decodes(records, encoding):
            return encoding
    raise InputError(
        f"cannot tell the text encoding of {dbf_path}: it is neither UTF-8 nor GBK/GB18030; "
        "pass encoding='...' (for example 'big5'), or add a .cpg file next to the .shp"
    )


def detect_dbf_encoding(dbf_path: Path) -> str:
    """Guess the text encoding of a Shapefile's ``.dbf`` table.

    The records are decoded as UTF-8 first (pure ASCII passes too); if that
    fails, as GB18030 (a superset of GBK and GB2312, what Chinese GIS software
    writes without a ``.cpg``). Anything else needs an explicit ``encoding=``.
    """
    return _detected(_dbf_records(dbf_path), dbf_path)


def _shapefile_encoding(path: Path, encoding: str | None) -> str | None:
    """The encoding to read a Shapefile's table with: the one given, the ``.cpg``'s when it is true, else detected.

    A ``.cpg`` that names an encoding the table is not in (a GBK table saying UTF-8, as some
    tools write) is overruled by what the table decodes as, with one warning. The table is
    read once.
    """
    if encoding is not None or path.suffix.lower() != ".shp":
        return encoding
    dbf = next((p for p in (path.with_suffix(".dbf"), path.with_suffix(".DBF")) if p.exists()), None)
    cpg = next((p for p in (path.with_suffix(".cpg"), path.with_suffix(".CPG")) if p.exists()), None)
    if dbf is None:
        return None
    records = _dbf_records(dbf)
    if cpg is None:
        return _detected(records, dbf)
    declared = cpg.read_text(encoding="ascii", errors="replace").strip()
    name = {"65001": "utf-8", "936": "gbk", "utf8": "utf-8"}.get(declared.lower().replace("-", ""), declared)
    try:
        codecs.lookup(name)
    except LookupError:
        return None  # a name Python does not know: GDAL honours the .cpg
    if _decodes(records, name):
        return None  # GDAL honours the .cpg
    found = _detected(records, dbf)
    warnings.warn(
        f"{cpg.name} says the table of {path.name} is {declared!r}, but it is {found.upper()}: read as {found.upper()} "
        f"(write {found.upper()} in {cpg.name} to silence this)",
        SitingWarning,
        stacklevel=3,
    )
    return found


def _to_wgs84(geometry: gpd.GeoSeries, source: CoordinateSystem) -> gpd.GeoSeries:
    convert = _CONVERTERS[source]

    def transform(coords: np.ndarray) -> np.ndarray:
        lon, lat = convert(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    values = shapely.transform(geometry.to_numpy(), transform)
    return gpd.GeoSeries(values, index=geometry.index, crs="EPSG:4326")


def polygonal_part(geom: BaseGeometry) -> BaseGeometry:
    """The polygon parts of a repaired geometry (make_valid may add lines or points)."""
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def _check_coordinates(gdf: gpd.GeoDataFrame, path: Path) -> None:
    """Refuse degrees labelled as metres and metres labelled as degrees."""
    finite = gdf.geometry[~(gdf.geometry.isna() | gdf.geometry.is_empty)]
    if finite.empty:
        return
    min_x, min_y, max_x, max_y = finite.total_bounds
    looks_like_degrees = -180 <= min_x <= max_x <= 180 and -90 <= min_y <= max_y <= 90
    if gdf.crs.is_projected and looks_like_degrees and (max_x - min_x) < 20 and (max_y - min_y) < 20:
        raise CRSError(
            f"{path}: the coordinates ({min_x:.4f}, {min_y:.4f}) … ({max_x:.4f}, {max_y:.4f}) look like "
            f"longitude/latitude in degrees, but the layer says {gdf.crs.name!r} in metres; declare the right "
            "CRS (e.g. gdf.set_crs('EPSG:4326', allow_override=True), or fix the .prj)"
        )
    if gdf.crs.is_geographic and not looks_like_degrees:
        raise CRSError(
            f"{path}: the coordinates ({min_x:,.0f}, {min_y:,.0f}) … ({max_x:,.0f}, {max_y:,.0f}) are not "
            f"longitude/latitude, but the layer says {gdf.crs.name!r} in degrees; declare its projected CRS"
        )


def _geometry_problems(gdf: gpd.GeoDataFrame, ids: pd.Series) -> list[str]:
    """Empty geometries and geometries that are not polygons, listed by id."""
    problems = []
    empty = gdf.geometry.isna() | gdf.geometry.is_empty
    if empty.any():
        problems.append(f"communities with empty geometry: {list(ids[empty][:10])} ({int(empty.sum())} in all)")
    kinds = gdf.geometry.geom_type
    not_polygons = ~empty & ~kinds.isin(["Polygon", "MultiPolygon"])
    if not_polygons.any():
        found = sorted(kinds[not_polygons].unique())
        problems.append(
            f"{int(not_polygons.sum())} communities are {found}, not polygons (e.g. {list(ids[not_polygons][:5])}); "
            "community boundaries must be polygons: points of village seats go to inputs.candidate_sites"
        )
    return problems


def overlapping_communities(gdf: gpd.GeoDataFrame, *, share: float = 0.01) -> pd.DataFrame:
    """Pairs of communities that overlap by more than ``share`` of the smaller one.

    Boundaries that share an edge, or differ by digitising slivers, do not count.
    """
    geoms = gdf.geometry.to_numpy()
    left, right = gdf.sindex.query(geoms, predicate="intersects")
    pairs = left < right
    left, right = left[pairs], right[pairs]
    # Neighbours that only share an edge are most pairs: a relate (no overlay) sets them aside,
    # and only pairs whose interiors meet are intersected (at 60,803 communities 4.4 s to 2.8 s).
    inner = shapely.relate_pattern(geoms[left], geoms[right], "T********")
    left, right = left[inner], right[inner]
    if len(left) == 0:
        return pd.DataFrame({"a": [], "b": [], "overlap": []})
    overlap = shapely.area(shapely.intersection(geoms[left], geoms[right]))
    smaller = np.minimum(shapely.area(geoms[left]), shapely.area(geoms[right]))
    big = overlap > share * np.maximum(smaller, 1e-12)
    codes = gdf["community_code"].to_numpy()
    return pd.DataFrame({"a": codes[left[big]], "b": codes[right[big]], "overlap": overlap[big] / smaller[big]})


def _only_or_communities_layer(path: Path) -> str | None:
    """The layer to read from a file of several: the one named ``communities``, else the first (with a warning)."""
    if not path.exists():
        return None
    names = [str(name) for name, _ in pyogrio.list_layers(path)]
    if len(names) <= 1:
        return None
    if "communities" in names:
        return "communities"
    warnings.warn(
        f"{path} has layers {names}; read the first, {names[0]!r} (name another with inputs.communities_layer)",
        SitingWarning,
        stacklevel=3,
    )
    return names[0]


def _read_layer(
    path: Path, *, layer: str | None, encoding: str | None, coordinates: CoordinateSystem
) -> gpd.GeoDataFrame:
    """The layer as read, with a CRS its coordinates agree with, in WGS-84 when it came as GCJ-02 or BD-09."""
    read_encoding = _shapefile_encoding(path, encoding)
    try:
        if layer is None:
            layer = _only_or_communities_layer(path)
        gdf = gpd.read_file(path, layer=layer, engine="pyogrio", encoding=read_encoding)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as error:
        raise InputError(f"cannot read {path} as a vector layer: {error}") from None
    if gdf.crs is None:
        raise CRSError(
            f"{path} has no CRS; declare it: for a Shapefile add the .prj file, otherwise "
            "gdf = gdf.set_crs('EPSG:4326') if the coordinates are longitude/latitude in degrees "
            "(and pass coordinates='gcj02' or 'bd09' if they come from Amap or Baidu)"
        )
    if gdf.empty:
        raise InputError(f"{path} holds no communities (the layer is empty)")
    _check_coordinates(gdf, path)
    if coordinates != "wgs84":
        if not gdf.crs.is_geographic:
            raise CRSError(
                f"coordinates={coordinates!r} needs longitudes/latitudes, but {path} is in the projected "
                f"CRS {gdf.crs.name!r}; GCJ-02 and BD-09 exist only as degrees"
            )
        gdf = gdf.set_geometry(_to_wgs84(gdf.geometry, coordinates))

    return gdf


def _standard_columns(gdf: gpd.GeoDataFrame, codes: pd.DataFrame, columns: LevelColumns) -> gpd.GeoDataFrame:
    """Codes of every level, ``community_name`` (the id where missing) and the given level names, then the rest."""
    names = {
        "community_name": columns.name,
        "township_name": columns.township_name,
        "county_name": columns.county_name,
        "prefecture_name": columns.prefecture_name,
        "province_name": columns.province_name,
    }
    standard = {
        "community_name": _names_or_codes(gdf, columns.name, codes["community_code"]),
        **{k: _names_or_codes(gdf, v, None) for k, v in names.items() if k != "community_name" and v is not None},
    }
    if columns.name is None and "community_name" in gdf.columns:
        standard["community_name"] = _names_or_codes(gdf, "community_name", codes["community_code"])
    own = set(names.values()) | set(columns.given().values())
    rest = gdf[[c for c in gdf.columns if c not in own and c not in codes.columns and c not in standard]]
    out = gpd.GeoDataFrame(pd.concat([codes, pd.DataFrame(standard, index=gdf.index), rest], axis=1), crs=gdf.crs)

    return out


def read_communities(
    path: Path | str,
    *,
    layer: str | None = None,
    encoding: str | None = None,
    code_column: str = "community_code",
    columns: LevelColumns | None = None,
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
        Column with each community's unique id (a shortcut for ``columns.id``).
    columns
        Where the id, names and the codes of each level are
        (:class:`siting.levels.LevelColumns`); levels without a column are derived
        from 12-digit NBS ids, and a Shapefile's 10-character field names can be
        named here.
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
        ``community_code`` (str), ``community_name``, ``township_code``,
        ``county_code``, ``prefecture_code``, ``province_code`` and, where given,
        ``township_name``, ``county_name``, ``prefecture_name``; the other columns as
        read, and valid polygon geometry in the file's CRS (EPSG:4326 after a
        GCJ-02/BD-09 conversion).

    Raises
    ------
    CRSError
        The layer has no CRS, its coordinates contradict it (degrees labelled as
        metres), or GCJ-02/BD-09 is declared for a projected layer.
    InputError
        Listing every problem found: missing columns, ids that are missing or
        repeated, codes that cannot be derived, empty or non-polygon geometries,
        overlapping communities, communities outside the study area.

    Warns
    -----
    SitingWarning
        When invalid geometries were repaired with ``make_valid`` (lists the codes).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"community boundaries file {path} does not exist")
    if path.is_dir() and path.suffix.lower() not in (".gdb",):
        raise InputError(f"community boundaries {path} is a folder; give the file (.gpkg, .shp, .geojson)")
    if coordinates not in ("wgs84", "gcj02", "bd09"):
        raise InputError(f"coordinates={coordinates!r}; use 'wgs84', 'gcj02' or 'bd09'")
    columns = columns or LevelColumns(id=code_column)
    gdf = _read_layer(path, layer=layer, encoding=encoding, coordinates=coordinates)
    if columns.id not in gdf.columns:
        raise InputError(
            f"{path} has no {columns.id!r} column (columns: {[c for c in gdf.columns if c != 'geometry']}); "
            "pass code_column='<the column with each community's id>'"
        )
    ids = text_codes(gdf[columns.id])
    problems: list[str] = []
    if ids.isna().any():
        problems.append(f"{int(ids.isna().sum())} communities have no id (rows {list(ids.index[ids.isna()][:10])})")
    duplicated = ids[ids.duplicated(keep=False) & ids.notna()]
    if len(duplicated):
        problems.append(f"duplicate community ids: {sorted(set(duplicated))[:10]} ({len(duplicated)} rows)")
    problems += _geometry_problems(gdf, ids)
    codes = None
    try:
        codes = admin_codes(gdf, columns, source=str(path))
    except InputError as error:
        problems.append(str(error).removeprefix(f"{path}: "))
    if problems:
        raise InputError(f"{path}: " + "; ".join(problems))
    assert codes is not None
    check_hierarchy(codes, source=str(path))

    invalid = ~gdf.geometry.is_valid
    if invalid.any():
        repaired = [polygonal_part(g) for g in shapely.make_valid(gdf.geometry[invalid].to_numpy())]
        gdf.loc[invalid, "geometry"] = gpd.GeoSeries(repaired, index=gdf.index[invalid], crs=gdf.crs)
    # Zero area in any CRS, after the repair (a bow-tie's cancelling lobes are repaired into area first).
    flat = shapely.is_empty(gdf.geometry.to_numpy()) | (shapely.area(gdf.geometry.to_numpy()) <= 0)
    if flat.any():
        raise InputError(
            f"{path}: {int(flat.sum())} communities have polygons of zero area (e.g. {list(ids[flat][:5])}); a "
            "community without area would be given children it cannot hold: fix their boundaries"
        )
    if invalid.any():
        warnings.warn(
            f"repaired {int(invalid.sum())} invalid geometries with make_valid: {list(ids[invalid][:20])}",
            SitingWarning,
            stacklevel=2,
        )
    out = _standard_columns(gdf, codes, columns)
    overlaps = overlapping_communities(out)
    if len(overlaps):
        shown = [f"{a} and {b} ({share:.0%})" for a, b, share in overlaps.head(5).itertuples(index=False)]
        problems.append(
            f"{len(overlaps)} pairs of communities overlap: {', '.join(shown)}; each place must belong to one "
            "community (fix the boundaries, or drop duplicated layers)"
        )
    if study_area is not None:
        area = gpd.GeoSeries([study_area], crs=study_area_crs).to_crs(out.crs).iloc[0]
        outside = ~out.geometry.intersects(area)
        if outside.any():
            problems.append(f"{int(outside.sum())} communities lie outside the study area: {list(ids[outside][:10])}")
    if problems:
        raise InputError(f"{path}: " + "; ".join(problems))
    return out


def _names_or_codes(gdf: gpd.GeoDataFrame, column: str | None, codes: pd.Series | None) -> pd.Series:
    """Names as text; a missing name becomes the code (never ``nan``)."""
    if column is None:
        assert codes is not None
        return codes.astype(object)
    names = gdf[column].astype("string").str.strip()
    names = names.mask(names == "")
    fallback = codes if codes is not None else pd.Series([None] * len(gdf), index=gdf.index)
    return names.astype(object).where(names.notna(), fallback)
