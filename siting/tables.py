"""Reading the user's tables (CSV or Excel) with one clear error for every way a file can be wrong.

CSV files are read as UTF-8 (with or without BOM) and, failing that, as GB18030
(GBK, what Excel on Chinese Windows saves) with a warning. Empty files, folders,
Excel files that are not Excel files and unreadable CSV all give an
:class:`~siting.errors.InputError` that names the file and says what to do.
"""

from __future__ import annotations

import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from siting.errors import InputError, SitingWarning

__all__ = ["read_points", "read_table"]

EXCEL = (".xlsx", ".xlsm")
TEXT = (".csv", ".txt", ".tsv")


def read_table(path: Path | str, *, what: str, text_columns: Sequence[str] = (), sheet: str | int = 0) -> pd.DataFrame:
    """A table from a CSV or XLSX file; ``text_columns`` are read as text (codes keep their leading zeros).

    Raises
    ------
    InputError
        The file is missing, a folder, empty, not a table, or an Excel file that is not one.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{what} {path} does not exist")
    if path.is_dir():
        raise InputError(f"{what} {path} is a folder; give the file")
    if path.stat().st_size == 0:
        raise InputError(f"{what} {path} is empty (0 bytes)")
    dtype = {c: str for c in text_columns}
    suffix = path.suffix.lower()
    if suffix in EXCEL:
        if not zipfile.is_zipfile(path):
            raise InputError(f"{what} {path} is not an Excel workbook (.xlsx); save it from Excel or give a CSV")
        try:
            table = pd.read_excel(path, sheet_name=sheet, dtype=dtype)
        except (ValueError, KeyError, zipfile.BadZipFile) as error:
            raise InputError(f"{what} {path} cannot be read as a workbook: {error}") from None
    elif suffix in TEXT:
        separator = "\t" if suffix == ".tsv" else ","
        try:
            table = pd.read_csv(path, dtype=dtype, encoding="utf-8-sig", sep=separator)
        except UnicodeDecodeError:
            try:
                table = pd.read_csv(path, dtype=dtype, encoding="gb18030", sep=separator)
            except UnicodeDecodeError:
                raise InputError(f"{what} {path} is neither UTF-8 nor GBK text; save it as UTF-8 CSV") from None
            warnings.warn(
                f"{what} {path} is not UTF-8; read it as GBK (GB18030). Save it as UTF-8", SitingWarning, stacklevel=2
            )
        except pd.errors.EmptyDataError:
            raise InputError(f"{what} {path} holds no table (no header row)") from None
        except pd.errors.ParserError as error:
            raise InputError(f"{what} {path} is not a readable CSV table: {error}") from None
    else:
        raise InputError(f"{what} {path} must be .csv or .xlsx, not {suffix or 'a file without extension'!r}")
    table.columns = [str(c).strip() for c in table.columns]
    if table.empty:
        raise InputError(f"{what} {path} has a header but no rows")
    return table


def read_points(path: Path, *, what: str, crs: CRS, id_column: str = "site_id") -> gpd.GeoDataFrame:
    """Points from a CSV/XLSX table with ``lon`` and ``lat`` (WGS-84 degrees), checked, in ``crs``."""
    table = read_table(path, what=what, text_columns=(id_column,))
    missing = [c for c in (id_column, "lon", "lat") if c not in table.columns]
    if missing:
        raise InputError(f"{what} {path} lacks columns {missing}; columns are {list(table.columns)}")
    lon = pd.to_numeric(table["lon"], errors="coerce")
    lat = pd.to_numeric(table["lat"], errors="coerce")
    bad = ~(lon.between(-180, 180) & lat.between(-90, 90))
    if bad.any():
        rows = (np.flatnonzero(bad.to_numpy()) + 2).tolist()[:10]
        shown = list(zip(table["lon"][bad][:5], table["lat"][bad][:5], strict=True))
        raise InputError(
            f"{what} {path}: rows {rows} have no valid longitude/latitude (e.g. {shown}); give WGS-84 degrees, "
            "lon in -180..180 and lat in -90..90"
        )
    return gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326").to_crs(crs)
