"""Load a scenario's inputs (the embedded sample or the user's files) into one prepared bundle."""

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
from siting.population import calibrate_to_totals, sum_age_bands
from siting.registry import read_priority_registry
from siting.sample.paths import sample_paths
from siting.sample.real import load_communities_table, load_counties, load_prefectures
from siting.scenario import Scenario

__all__ = ["PreparedInputs", "file_sha256", "prepare_inputs"]


@dataclass(frozen=True, eq=False)
class PreparedInputs:
    """Communities in the working CRS with seats and names, the raster, registry and existing homes."""

    crs: CRS
    communities: gpd.GeoDataFrame
    raster_path: Path
    priority: pd.DataFrame | None
    existing_ids: tuple[str, ...]
    counties: gpd.GeoDataFrame
    townships: gpd.GeoDataFrame
    unit_names: pd.DataFrame
    modelled: bool
    input_files: tuple[Path, ...] = field(default=())
    county_seats: gpd.GeoDataFrame | None = None
    institutions: gpd.GeoDataFrame | None = None


def file_sha256(path: Path) -> str:
    """SHA-256 of a file (recorded in ``run.json`` so a rerun can tell if inputs changed)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _in_study_area(codes: pd.Series, scenario: Scenario) -> np.ndarray:
    keep = np.ones(len(codes), dtype=bool)
    if scenario.prefectures:
        keep &= codes.str[:4].isin([p[:4] for p in scenario.prefectures]).to_numpy()
    if scenario.counties:
        keep &= codes.str[:6].isin(list(scenario.counties)).to_numpy()
    if not keep.any():
        raise InputError(
            f"the study area (prefectures {list(scenario.prefectures)}, counties {list(scenario.counties)}) "
            "holds no community of the inputs; check the codes"
        )
    return keep


def _sample_inputs(scenario: Scenario) -> PreparedInputs:
    paths = sample_paths(scenario.data_dir)
    if not paths.is_built():
        raise MissingDataError(f"the Yunnan sample is not built in {paths.modelled_dir}; run 'siting sample build'")
    counties = load_counties(paths)
    crs = working_crs(tuple(counties.total_bounds))
    communities = gpd.read_file(paths.communities_gpkg, layer="communities").to_crs(crs)
    communities = communities.sort_values("community_code").reset_index(drop=True)
    keep = _in_study_area(communities["community_code"], scenario)
    communities = communities[keep].reset_index(drop=True)
    seats = gpd.GeoSeries.from_xy(communities["seat_lon"], communities["seat_lat"], crs="EPSG:4326").to_crs(crs)
    communities["seat_x"] = seats.x.to_numpy()
    communities["seat_y"] = seats.y.to_numpy()
    priority = pd.read_csv(paths.priority_csv, dtype={"community_code": str})
    existing = pd.read_csv(paths.existing_homes_csv, dtype={"site_id": str})["site_id"]
    existing = existing[existing.isin(set(communities["community_code"]))]
    county_codes = set(communities["county_code"])
    townships = gpd.read_file(paths.communities_gpkg, layer="townships").to_crs(crs)
    towns = load_communities_table(paths).drop_duplicates("township_code")
    prefectures = load_prefectures(paths)
    names = pd.concat(
        [
            pd.DataFrame({"unit_code": ["530000"], "unit_name_zh": ["云南省"], "unit_name_en": ["Yunnan Province"]}),
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
    return PreparedInputs(
        county_seats=seats_layer[["county_code", "geometry"]],
        institutions=institution_table,
        crs=crs,
        communities=communities,
        raster_path=paths.children_tif,
        priority=priority,
        existing_ids=tuple(existing),
        counties=counties[counties["county_code"].isin(county_codes)].to_crs(crs).reset_index(drop=True),
        townships=townships[townships["county_code"].isin(county_codes)].reset_index(drop=True),
        unit_names=names,
        modelled=True,
        input_files=(
            paths.communities_gpkg,
            paths.children_tif,
            paths.priority_csv,
            paths.existing_homes_csv,
            paths.counties_gpkg,
        ),
    )


def _user_inputs(scenario: Scenario, work_dir: Path) -> PreparedInputs:
    assert scenario.communities is not None
    raw = read_communities(
        scenario.communities,
        layer=scenario.communities_layer,
        code_column=scenario.code_column,
        coordinates=cast(CoordinateSystem, scenario.coordinates),
    )
    keep = _in_study_area(raw["community_code"], scenario)
    raw = raw[keep].reset_index(drop=True)
    crs = working_crs(tuple(raw.to_crs("EPSG:4326").total_bounds))
    communities = raw.to_crs(crs).sort_values("community_code").reset_index(drop=True)
    if "community_name" not in communities.columns:
        communities["community_name"] = communities["community_code"]
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
    if scenario.official_totals is not None:
        totals = pd.read_csv(scenario.official_totals, dtype={"county_code": str})
        if "county_code" not in totals or scenario.totals_column not in totals:
            raise InputError(f"{scenario.official_totals} needs columns county_code and {scenario.totals_column}")
        counties_m = communities.dissolve(by="county_code", as_index=False)[["county_code", "geometry"]]
        calibrate_to_totals(
            raster,
            counties_m,
            id_column="county_code",
            totals=totals.set_index("county_code")[scenario.totals_column].reindex(counties_m["county_code"]),
            out_path=work_dir / "children_calibrated.tif",
        )
        raster = work_dir / "children_calibrated.tif"
        files.append(scenario.official_totals)
    priority = None
    if scenario.priority_registry is not None:
        children = pd.Series(np.inf, index=communities["community_code"])
        priority = read_priority_registry(scenario.priority_registry, children=children)
        files.append(scenario.priority_registry)
    existing: tuple[str, ...] = ()
    if scenario.existing_homes is not None:
        table = pd.read_csv(scenario.existing_homes, dtype={"site_id": str})
        if "site_id" not in table:
            raise InputError(f"{scenario.existing_homes} needs a site_id column (the community code of each home)")
        existing = tuple(table["site_id"])
        files.append(scenario.existing_homes)
    counties = communities.dissolve(by="county_code", as_index=False)[["county_code", "geometry"]]
    counties["county_name_zh"] = counties["county_code"]
    counties["county_name_en"] = ""
    townships = communities.dissolve(by="township_code", as_index=False)[["township_code", "geometry"]]
    townships["township_name"] = townships["township_code"]
    names = pd.DataFrame({"unit_code": [], "unit_name_zh": [], "unit_name_en": []})
    seats_user = gpd.GeoDataFrame(
        {"county_code": counties["county_code"]}, geometry=counties.geometry.representative_point(), crs=crs
    )
    return PreparedInputs(
        county_seats=seats_user,
        crs=crs,
        communities=communities,
        raster_path=Path(raster),
        priority=priority,
        existing_ids=existing,
        counties=counties,
        townships=townships,
        unit_names=names,
        modelled=False,
        input_files=tuple(Path(f) for f in files),
    )


def prepare_inputs(scenario: Scenario, *, work_dir: Path | None = None) -> PreparedInputs:
    """Load and check the inputs a scenario names."""
    if scenario.sample:
        return _sample_inputs(scenario)
    return _user_inputs(scenario, work_dir or Path(tempfile.mkdtemp(prefix="siting-inputs-")))
