"""The map of one prefecture or county, drawn from a finished run's ``plan.gpkg``."""

from __future__ import annotations

import json
from pathlib import Path

import folium
import geopandas as gpd
import pyogrio

from siting.errors import InputError
from siting.webmap import MapLayers, plan_map

__all__ = ["unit_map"]


def _prefix(unit_code: str) -> str:
    if len(unit_code) != 6 or not unit_code.isdigit():
        raise InputError(f"unit code {unit_code!r} is not a 6-digit prefecture or county code (e.g. 530100, 530102)")
    return unit_code[:4] if unit_code.endswith("00") else unit_code


def unit_map(run_dir: Path, unit_code: str, *, basemap: str = "none", tianditu_key: str | None = None) -> folium.Map:
    """Map the homes, communities and catchments of one unit of a finished run.

    Parameters
    ----------
    run_dir
        A folder written by ``siting demo`` / ``siting run`` (holds ``plan.gpkg``).
    unit_code
        Prefecture (``530100``) or county (``530102``) code.
    """
    gpkg = Path(run_dir) / "plan.gpkg"
    if not gpkg.exists():
        raise InputError(f"{run_dir} is not a finished run (no plan.gpkg)")
    layers = {name for name, _ in pyogrio.list_layers(gpkg)}
    missing = {"homes", "communities", "catchments", "counties"} - layers
    if missing:
        raise InputError(f"{gpkg} lacks layers {sorted(missing)}; rerun the scenario with this siting version")
    prefix = _prefix(unit_code)
    communities = gpd.read_file(gpkg, layer="communities")
    communities = communities[communities["community_code"].str.startswith(prefix)]
    if communities.empty:
        raise InputError(f"no community of the run lies in unit {unit_code}")
    homes = gpd.read_file(gpkg, layer="homes")
    homes = homes[homes["county_code"].str.startswith(prefix)]
    counties = gpd.read_file(gpkg, layer="counties")
    counties = counties[counties["county_code"].str.startswith(prefix)]
    catchments = gpd.read_file(gpkg, layer="catchments")
    catchments = catchments[catchments["site_id"].isin(set(homes["site_id"]))]
    record = json.loads((Path(run_dir) / "run.json").read_text(encoding="utf-8"))
    covered = communities.loc[communities["covered"].astype(bool), "children"].sum()
    total = communities["children"].sum()
    names = counties["county_name_zh"].tolist()
    title = names[0] if len(names) == 1 else f"{unit_code} ({len(names)} 县 counties)"
    lines = [
        f"儿童之家 homes: 已有 existing {int(homes['existing'].sum()):,} + "
        f"新建 new {int((~homes['existing']).sum()):,}",
        f"覆盖儿童 children covered: {covered:,.0f} / {total:,.0f} ({100 * covered / max(total, 1):.1f}%)",
        f"运行 run: {Path(run_dir).name}",
    ]
    return plan_map(
        MapLayers(counties=counties, communities=communities, homes=homes, catchments=catchments),
        title_zh=f"{title} 儿童之家布局方案",
        title_en=f"Children's homes plan, unit {unit_code}",
        summary_lines=lines,
        modelled=bool(record.get("modelled_data", False)),
        basemap=basemap,
        tianditu_key=tianditu_key,
    )
