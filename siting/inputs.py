"""The read stage: a scenario's inputs (the embedded sample or the user's files) checked and loaded once.

Everything that can be checked before the expensive stages is checked here: the
community layer (codes, names, geometry), the study-area codes, the child raster
(readable, one band, a CRS, over the communities), the official totals, the
registry and the homes. Names come from the data; the Yunnan title and the source
document's staff figures only from the Yunnan sample.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from siting.boundaries import CoordinateSystem, read_communities, working_crs
from siting.errors import InputError, MissingDataError
from siting.geometry import dissolve
from siting.levels import LevelColumns, study_area_mask, unit_names
from siting.population import calibrate_to_totals, check_raster
from siting.registry import read_priority_registry
from siting.sample.paths import sample_paths
from siting.sample.real import load_communities_table, load_counties, load_prefectures
from siting.scenario import Scenario
from siting.tables import read_points, read_table
from siting.worldpop import sum_age_bands

__all__ = ["PreparedInputs", "file_sha256", "prepare_inputs"]

SAMPLE_REGION = ("云南省", "Yunnan Province")


@dataclass(frozen=True, eq=False)
class PreparedInputs:
    """Communities in the working CRS with codes, names and seats; the raster, registry, homes and units.

    Attributes
    ----------
    communities
        ``community_code``, ``community_name``, the code of every level, ``seat_x``, ``seat_y``.
    unit_names
        ``unit_code``, ``level``, ``unit_name_zh``, ``unit_name_en`` for every unit of every level.
    existing_homes
        Existing homes: ``site_id`` and, where given, their own location (``x``, ``y``).
    region_name
        ``(中文, English)`` name of the whole study area.
    source_staff
        True when the source document's staff figures (Yunnan, 2019) apply: the whole sample.
    """

    crs: CRS
    communities: gpd.GeoDataFrame
    raster_path: Path
    priority: pd.DataFrame | None
    existing_homes: pd.DataFrame
    counties: gpd.GeoDataFrame
    townships: gpd.GeoDataFrame
    unit_names: pd.DataFrame
    modelled: bool
    region_name: tuple[str, str]
    source_staff: bool = False
    input_files: tuple[Path, ...] = field(default=())
    county_seats: gpd.GeoDataFrame | None = None
    institutions: gpd.GeoDataFrame | None = None

    @property
    def existing_ids(self) -> tuple[str, ...]:
        return tuple(self.existing_homes["site_id"])


def file_sha256(path: Path) -> str:
    """SHA-256 of a file (recorded in ``run.json`` so a rerun can tell if inputs changed)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sample_inputs(scenario: Scenario) -> PreparedInputs:
    paths = sample_paths(scenario.data_dir)
    if not paths.is_built():
        raise MissingDataError(f"the Yunnan sample is not built in {paths.modelled_dir}; run 'siting sample build'")
    counties = load_counties(paths)
    crs = working_crs(tuple(counties.total_bounds))
    communities = gpd.read_file(paths.communities_gpkg, layer="communities").to_crs(crs)
    communities = communities.sort_values("community_code").reset_index(drop=True)
    communities["province_code"] = "530000"
    keep = study_area_mask(communities, prefectures=scenario.prefectures, counties=scenario.counties)
    communities = communities[keep].reset_index(drop=True)
    seats = gpd.GeoSeries.from_xy(communities["seat_lon"], communities["seat_lat"], crs="EPSG:4326").to_crs(crs)
    communities["seat_x"] = seats.x.to_numpy()
    communities["seat_y"] = seats.y.to_numpy()
    priority = pd.read_csv(paths.priority_csv, dtype={"community_code": str})
    existing = pd.read_csv(paths.existing_homes_csv, dtype={"site_id": str})[["site_id"]]
    existing = existing[existing["site_id"].isin(set(communities["community_code"]))].reset_index(drop=True)
    county_codes = set(communities["county_code"])
    townships = gpd.read_file(paths.communities_gpkg, layer="townships").to_crs(crs)
    towns = load_communities_table(paths).drop_duplicates("township_code")
    prefectures = load_prefectures(paths)
    known = pd.concat(
        [
            pd.DataFrame(
                {"unit_code": ["530000"], "unit_name_zh": [SAMPLE_REGION[0]], "unit_name_en": [SAMPLE_REGION[1]]}
            ),
            prefectures.rename(
                columns={
                    "prefecture_code": "unit_code",
                    "prefecture_name_zh": "unit_name_zh",
                    "prefecture_name_en": "unit_name_en",
                }
            )[["unit_code", "unit_name_zh", "unit_name_en"]],
            counties.rename(
                columns={"county_code": "unit_code", "county_name_zh": "unit_name_zh", "county_name_en": "unit_name_en"}
            )[["unit_code", "unit_name_zh", "unit_name_en"]],
            pd.DataFrame(
                {"unit_code": towns["township_code"], "unit_name_zh": towns["township_name"], "unit_name_en": ""}
            ),
        ],
        ignore_index=True,
    )
    seats_layer = gpd.read_file(paths.communities_gpkg, layer="county_seats").to_crs(crs)
    seats_layer = seats_layer[seats_layer["county_code"].isin(county_codes)].reset_index(drop=True)
    institution_table = None
    if paths.institutions_csv.exists():
        table = pd.read_csv(paths.institutions_csv, dtype={"county_code": str})
        table = table[table["county_code"].isin(county_codes)]
        institution_table = gpd.GeoDataFrame(
            table, geometry=gpd.points_from_xy(table["lon"], table["lat"]), crs="EPSG:4326"
        ).to_crs(crs)
    whole = not scenario.prefectures and not scenario.counties
    return PreparedInputs(
        county_seats=seats_layer[["county_code", "geometry"]],
        institutions=institution_table,
        crs=crs,
        communities=communities,
        raster_path=paths.children_tif,
        priority=priority,
        existing_homes=existing,
        counties=counties[counties["county_code"].isin(county_codes)].to_crs(crs).reset_index(drop=True),
        townships=townships[townships["county_code"].isin(county_codes)].reset_index(drop=True),
        unit_names=unit_names(communities, names=known),
        modelled=True,
        region_name=SAMPLE_REGION,
        source_staff=whole,
        input_files=(
            paths.communities_gpkg,
            paths.children_tif,
            paths.priority_csv,
            paths.existing_homes_csv,
            paths.counties_gpkg,
        ),
    )


def _level_columns(scenario: Scenario) -> LevelColumns:
    return LevelColumns(
        id=scenario.code_column,
        name=scenario.name_column,
        township_code=scenario.township_code_column,
        county_code=scenario.county_code_column,
        prefecture_code=scenario.prefecture_code_column,
        township_name=scenario.township_name_column,
        county_name=scenario.county_name_column,
        prefecture_name=scenario.prefecture_name_column,
        province_name=scenario.province_name_column,
    )


def _names_from_data(communities: pd.DataFrame) -> pd.DataFrame:
    """Unit names given in the community layer's name columns."""
    parts = []
    for level in ("township", "county", "prefecture", "province"):
        column = f"{level}_name"
        if column in communities.columns:
            named = communities[[f"{level}_code", column]].dropna().drop_duplicates(f"{level}_code")
            parts.append(named.rename(columns={f"{level}_code": "unit_code", column: "unit_name_zh"}))
    if not parts:
        return pd.DataFrame({"unit_code": [], "unit_name_zh": [], "unit_name_en": []})
    return pd.concat(parts, ignore_index=True).assign(unit_name_en="")


def _official_totals(scenario: Scenario, counties: pd.Series) -> pd.Series:
    """County totals from ``inputs.official_totals``; every county of the study area needs one."""
    assert scenario.official_totals is not None
    table = read_table(scenario.official_totals, what="official totals", text_columns=("county_code",))
    if "county_code" not in table.columns or scenario.totals_column not in table.columns:
        raise InputError(
            f"official totals {scenario.official_totals} need columns county_code and {scenario.totals_column}; "
            f"columns are {list(table.columns)}"
        )
    totals = pd.to_numeric(table[scenario.totals_column], errors="coerce")
    bad = totals.isna() | ~np.isfinite(totals) | (totals < 0)
    if bad.any():
        raise InputError(
            f"official totals {scenario.official_totals}: rows {(np.flatnonzero(bad.to_numpy()) + 2).tolist()[:10]} "
            f"have no valid {scenario.totals_column} (a finite number ≥ 0)"
        )
    by_county = pd.Series(totals.to_numpy(), index=table["county_code"].astype(str))
    missing = sorted(set(counties) - set(by_county.index))
    if missing:
        raise InputError(
            f"official totals {scenario.official_totals} have no row for counties {missing[:10]} "
            f"({len(missing)} of {counties.nunique()}); give every county of the study area a total"
        )
    return by_county.reindex(sorted(set(counties)))


def _existing_homes(scenario: Scenario, communities: gpd.GeoDataFrame, crs: CRS) -> pd.DataFrame:
    """Existing homes by community code (``site_id``), or at their own lon/lat."""
    if scenario.existing_homes is None:
        return pd.DataFrame({"site_id": pd.Series([], dtype=object)})
    return read_homes(scenario.existing_homes, communities, crs)


def read_homes(path: Path, communities: gpd.GeoDataFrame, crs: CRS) -> pd.DataFrame:
    """Homes (or other facilities) from a table: community codes in ``site_id``, or ``site_id``, ``lon``, ``lat``."""
    table = read_table(path, what="existing homes", text_columns=("site_id",))
    if "lon" in table.columns or "lat" in table.columns:
        points = read_points(path, what="existing homes", crs=crs)
        return pd.DataFrame({"site_id": points["site_id"].to_numpy(), "x": points.geometry.x, "y": points.geometry.y})
    if "site_id" not in table.columns:
        raise InputError(
            f"existing homes {path} need a site_id column (the community code of each home) or lon and lat columns; "
            f"columns are {list(table.columns)}"
        )
    ids = table["site_id"].astype(str).str.strip()
    unknown = sorted(set(ids) - set(communities["community_code"]))
    if unknown:
        raise InputError(
            f"existing homes {path}: {len(unknown)} site ids are not communities of the study area, e.g. "
            f"{unknown[:5]}; give each home's community code, or its lon and lat"
        )
    return pd.DataFrame({"site_id": ids.drop_duplicates().to_numpy()})


def _user_inputs(scenario: Scenario, work_dir: Path) -> PreparedInputs:
    assert scenario.communities is not None
    raw = read_communities(
        scenario.communities,
        layer=scenario.communities_layer,
        encoding=scenario.encoding,
        columns=_level_columns(scenario),
        coordinates=cast(CoordinateSystem, scenario.coordinates),
    )
    keep = study_area_mask(raw, prefectures=scenario.prefectures, counties=scenario.counties)
    raw = raw[keep].reset_index(drop=True)
    crs = working_crs(tuple(raw.to_crs("EPSG:4326").total_bounds))
    communities = raw.to_crs(crs).sort_values("community_code").reset_index(drop=True)
    seats = communities.geometry.representative_point()
    communities["seat_x"] = seats.x.to_numpy()
    communities["seat_y"] = seats.y.to_numpy()
    files = [scenario.communities]
    if scenario.population is not None:
        raster = scenario.population
        files.append(raster)
    else:
        assert scenario.worldpop_dir is not None
        raster = sum_age_bands(
            scenario.worldpop_dir, work_dir / "children.tif", age_min=scenario.age_min, age_max=scenario.age_max
        ).path
    check_raster(raster, communities, id_column="community_code")
    # Townships from communities (edge-matched within a township), counties from townships: each
    # polygon is joined once at its own level (at 60,803 communities 2.9 s instead of 8.2 s).
    townships = dissolve(communities, "township_code", keep=("county_code", "prefecture_code"))
    counties = dissolve(townships, "county_code", keep=("prefecture_code",), edge_matched=False)
    if scenario.official_totals is not None:
        totals = _official_totals(scenario, communities["county_code"])
        calibrate_to_totals(
            raster,
            counties[["county_code", "geometry"]],
            id_column="county_code",
            totals=totals.reindex(counties["county_code"]),
            out_path=work_dir / "children_calibrated.tif",
        )
        raster = work_dir / "children_calibrated.tif"
        files.append(scenario.official_totals)
    priority = None
    if scenario.priority_registry is not None:
        priority = read_priority_registry(
            scenario.priority_registry, children=pd.Series(np.inf, index=communities["community_code"])
        )
        files.append(scenario.priority_registry)
    existing = _existing_homes(scenario, communities, crs)
    if scenario.existing_homes is not None:
        files.append(scenario.existing_homes)
    region = (scenario.region_name or "", scenario.region_name_en or "")
    names = unit_names(
        communities, names=_names_from_data(communities), region_name_zh=region[0], region_name_en=region[1]
    )
    by_code = names.drop_duplicates("unit_code").set_index("unit_code")
    counties["county_name_zh"] = counties["county_code"].map(by_code["unit_name_zh"])
    counties["county_name_en"] = counties["county_code"].map(by_code["unit_name_en"])
    townships = townships.drop(columns="prefecture_code")
    townships["township_name"] = townships["township_code"].map(by_code["unit_name_zh"])
    seats_user = gpd.GeoDataFrame(
        {"county_code": counties["county_code"]}, geometry=counties.geometry.representative_point(), crs=crs
    )
    return PreparedInputs(
        county_seats=seats_user,
        crs=crs,
        communities=communities,
        raster_path=Path(raster),
        priority=priority,
        existing_homes=existing,
        counties=counties,
        townships=townships,
        unit_names=names,
        modelled=False,
        region_name=region,
        input_files=tuple(Path(f) for f in files),
    )


def prepare_inputs(scenario: Scenario, *, work_dir: Path | None = None) -> PreparedInputs:
    """Load and check the inputs a scenario names."""
    if scenario.sample:
        return _sample_inputs(scenario)
    return _user_inputs(scenario, work_dir or Path(tempfile.mkdtemp(prefix="siting-inputs-")))
