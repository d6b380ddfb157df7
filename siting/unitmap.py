"""The map of one prefecture or county, drawn from a finished run's ``plan.gpkg``."""

from __future__ import annotations

from pathlib import Path

import folium
import geopandas as gpd
import pandas as pd

from siting.errors import InputError
from siting.geometry import dissolve
from siting.rundir import FinishedRun, open_run
from siting.sandbox import SANDBOX_NPZ, SandboxData
from siting.webmap import MapLayers, plan_map

__all__ = ["resolve_unit", "unit_map"]


def resolve_unit(finished: FinishedRun, unit: str) -> tuple[str, str, str]:
    """``(level, code, name)`` of a prefecture or county given by code (530100) or name (昆明市, 福贡县).

    Raises
    ------
    InputError
        The unit is in no level of the run, with the closest names.
    """
    import difflib
    import re

    counties = finished.layer("counties")
    communities = finished.layer("communities")
    names = finished.report_tables()
    options: list[tuple[str, str, str]] = []
    for level in ("prefecture", "county"):
        table = names.get(level, pd.DataFrame())
        for code, name in zip(table.get("unit_code", []), table.get("unit_name_zh", []), strict=True):
            options.append((level, str(code), str(name)))
    if not options:  # older runs: fall back to the layers
        options = [
            ("county", str(c), str(n)) for c, n in zip(counties["county_code"], counties["county_name_zh"], strict=True)
        ]
        options += [("prefecture", str(c), str(c)) for c in communities["prefecture_code"].unique()]
    for level, code, name in options:
        if unit in (code, name):
            return level, code, name

    def stem(text: str) -> str:  # 五华区 / 五华县 / 五华: the name without its kind of unit
        return re.sub(r"(自治州|自治县|特区|林区|区|县|市|州|盟|旗)$", "", text)

    same_stem = [name for _, _, name in options if stem(name) == stem(unit)]
    close = same_stem or difflib.get_close_matches(
        unit, [name for _, _, name in options] + [code for _, code, _ in options], n=3
    )
    close = list(dict.fromkeys(close))  # a name several rows share is suggested once
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise InputError(f"no prefecture or county of the run is called or coded {unit!r}{hint}")


def _unit_sandbox(finished: FinishedRun, column: str, code: str) -> SandboxData | None:
    """The run's sandbox cut to the unit (None for a run written before runs kept one)."""
    path = finished.path / SANDBOX_NPZ
    if not path.is_file():
        return None
    data = SandboxData.load(path)
    return data.within(data.codes(column.removesuffix("_code")).astype(str) == code)


def unit_map(
    run_dir: Path, unit: str, *, basemap: str = "none", tianditu_key: str | None = None
) -> tuple[folium.Map, str]:
    """Map the homes, communities and catchments of one unit of a finished run.

    Parameters
    ----------
    run_dir
        A run folder, or a scenario's output folder (its newest run is used).
    unit
        Prefecture or county, by code (``530100``, ``530102``) or by name (``昆明市``, ``福贡县``).

    Returns
    -------
    tuple
        The map and the unit's name (it titles the map).
    """
    finished = open_run(run_dir)
    level, code, name = resolve_unit(finished, unit)
    column = f"{level}_code"
    communities = finished.layer("communities")
    communities = communities[communities[column].astype(str) == code]
    if communities.empty:
        raise InputError(f"no community of the run lies in {name} ({code})")
    homes = finished.layer("homes")
    homes = homes[homes[column].astype(str) == code]
    counties = finished.layer("counties")
    counties = counties[counties["county_code"].isin(set(communities["county_code"]))]
    catchments = finished.layer("catchments")
    catchments = catchments[catchments["site_id"].isin(set(homes["site_id"]))]
    # Township outlines and names: the unit's communities joined by township, named as the report names them.
    townships = dissolve(communities[["township_code", "geometry"]], "township_code")
    named = finished.report_tables().get("township")
    names = {} if named is None else dict(zip(named["unit_code"].astype(str), named["unit_name_zh"], strict=True))
    townships["township_name"] = townships["township_code"].astype(str).map(names).fillna(townships["township_code"])
    unit_of_cost = str(finished.record.get("access", {}).get("unit", "m"))
    if "served_names" in homes:
        homes = homes.assign(
            served_names=homes["served_names"].fillna("").map(lambda t: [n for n in t.split("、") if n])
        )
    if "priority_served" in homes:
        homes = homes.assign(priority_served=pd.to_numeric(homes["priority_served"], errors="coerce").fillna(0))
    covered = communities.loc[communities["covered"].astype(bool), "children"].sum()
    total = communities["children"].sum()
    lines = [
        f"儿童之家 homes: 已有 existing {int(homes['existing'].astype(bool).sum()):,} + "
        f"新建 new {int((~homes['existing'].astype(bool)).sum()):,}",
        f"覆盖儿童 children covered: {covered:,.0f} / {total:,.0f} ({100 * covered / max(total, 1):.1f}%)",
        f"方案 scenario: {finished.name} · 运行 run: {finished.path.name}",
    ]
    fmap = plan_map(
        MapLayers(
            counties=counties,
            communities=gpd.GeoDataFrame(communities),
            homes=gpd.GeoDataFrame(homes),
            unit=unit_of_cost,
            catchments=gpd.GeoDataFrame(catchments),
            townships=gpd.GeoDataFrame(townships),
            sandbox=_unit_sandbox(finished, column, code),
        ),
        title_zh=f"{name} 儿童之家布局方案",
        title_en=f"Children's homes plan, {name} ({code})",
        summary_lines=lines,
        modelled=finished.modelled,
        basemap=basemap,
        tianditu_key=tianditu_key,
    )
    return fmap, name
