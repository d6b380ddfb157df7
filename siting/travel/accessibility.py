"""Accessibility on its own, as bureaus ask before any siting: minutes to the nearest facility, catchments, thresholds.

``siting access SCENARIO [--facilities FILE]`` reads the scenario's communities,
children and terrain, puts the facilities (the existing homes by default, or a table of
community codes or lon/lat) on the travel grid, and runs one multi-source search from
all of them, bounded by the largest threshold. It writes:

* ``nearest_facility_time.tif``: minutes from every cell of the study area to its nearest
  facility (nodata beyond the largest threshold: "more than T minutes");
* ``facility_catchments.gpkg``: the cells each facility is nearest to, as polygons, with
  the children living there;
* ``access_thresholds_<level>.csv`` and ``accessibility.xlsx``: children within each
  threshold (e.g. 15, 30, 60, 120 minutes) per prefecture, county and township, adding up
  to each unit's children with the column beyond the largest;
* ``access.json``: what was read, the grid and the totals.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio.features
import shapely

from siting.errors import InputError
from siting.inputs import read_homes
from siting.rasters import burn_mask
from siting.report.headers import rename_bilingual
from siting.report.sharing import write_csv
from siting.report.tables import children_within
from siting.scenario import Scenario
from siting.travel.access import TravelTimeRaster, snap_points, write_travel_time_raster
from siting.travel.grid import TravelGrid, nearest_times

__all__ = ["Accessibility", "accessibility", "write_accessibility"]


@dataclass(frozen=True, eq=False)
class Accessibility:
    """Minutes to the nearest facility on the grid, each facility's catchment, and children within thresholds.

    Attributes
    ----------
    scenario
        The scenario it was computed for.
    facilities
        ``site_id``, codes and ``children_nearest`` (children whose nearest facility it is, within the cap).
    minutes
        The nearest-facility travel-time raster, clipped to the study area and capped.
    catchments
        One polygon row per facility reached: ``site_id``, ``children``, geometry (grid CRS).
    within
        Level → children within each threshold (:func:`siting.report.tables.children_within`).
    thresholds_min
        The thresholds, the largest being the cap of the search.
    grid
        The travel grid's summary (size, layers burnt).
    modelled
        Whether the inputs are the modelled sample.
    """

    scenario: Scenario
    facilities: gpd.GeoDataFrame
    minutes: TravelTimeRaster
    catchments: gpd.GeoDataFrame
    within: dict[str, pd.DataFrame]
    thresholds_min: tuple[float, ...]
    grid: dict[str, object]
    modelled: bool

    def totals(self) -> dict[str, float]:
        """Children in the whole area within each threshold (and beyond the largest)."""
        table = self.within["prefecture"]
        return {c: float(table[c].sum()) for c in table.columns if c.startswith("children")}


def _catchments(grid: TravelGrid, labels: np.ndarray, facilities: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The cells each facility is nearest to, one (multi)polygon per facility, in the grid's CRS."""
    shapes = rasterio.features.shapes(
        labels.astype(np.int32), mask=labels >= 0, transform=grid.transform, connectivity=8
    )
    pieces = [(int(value), shapely.geometry.shape(geometry)) for geometry, value in shapes]
    if not pieces:
        return gpd.GeoDataFrame({"site_id": [], "children": []}, geometry=[], crs=grid.crs or facilities.crs)
    frame = gpd.GeoDataFrame(
        {"label": [label for label, _ in pieces]},
        geometry=[shape for _, shape in pieces],
        crs=grid.crs or facilities.crs,
    )
    joined = frame.dissolve(by="label", as_index=False)
    joined["site_id"] = facilities["site_id"].to_numpy()[joined["label"].to_numpy()]
    return joined.drop(columns="label")[["site_id", "geometry"]]


def accessibility(
    scenario: Scenario,
    work_dir: Path,
    *,
    facilities_file: Path | None = None,
    thresholds_min: tuple[float, ...] | None = None,
) -> Accessibility:
    """Minutes from every cell and community to the nearest facility, and children within each threshold.

    Parameters
    ----------
    scenario
        A travel-time scenario (its inputs, terrain and ``access.thresholds_min``).
    work_dir
        Where temporary rasters of the read stage go.
    facilities_file
        Facilities (community codes in ``site_id``, or ``site_id``, ``lon``, ``lat``); default the
        scenario's existing homes.
    thresholds_min
        Rising thresholds in minutes (default the scenario's); the largest caps the search.

    Raises
    ------
    InputError
        The scenario is not travel time, no facility is given or placed, a threshold is wrong.
    """
    from siting import stages

    if scenario.access_mode != "travel_time":
        raise InputError(
            f"siting access needs a travel-time scenario (access.mode = 'travel_time'), got {scenario.access_mode!r}"
        )
    thresholds = tuple(float(t) for t in (thresholds_min or scenario.thresholds_min))
    if not thresholds or list(thresholds) != sorted(set(thresholds)) or not all(0 < t <= 1440 for t in thresholds):
        raise InputError(f"thresholds must be rising minutes from above 0 to 1440, got {list(thresholds)}")
    inputs = stages.read(scenario, work_dir)
    if facilities_file is not None:
        homes = read_homes(facilities_file, inputs.communities, inputs.communities.crs)
        inputs = replace(inputs, existing_homes=homes)
    points = stages.demand(scenario, inputs)
    sites, options = stages.candidates(scenario, inputs, points)
    facilities = sites[sites["site_id"].isin(set(options.existing))].reset_index(drop=True)
    if facilities.empty:
        where = f"facilities file {facilities_file}" if facilities_file else "the scenario's existing homes"
        raise InputError(f"{where} name no facility of the study area; give community codes or lon and lat")
    grid = stages.travel_grid(scenario, inputs)
    rows, cols, reason = snap_points(grid, facilities)
    if (rows < 0).all():
        raise InputError(f"none of the {len(facilities):,} facilities lies on a passable cell of the travel grid")
    cap = thresholds[-1]
    minutes, labels = nearest_times(grid, rows, cols, limit_min=cap, reverse=scenario.access_direction == "to_home")
    d_rows, d_cols, _ = snap_points(grid, points)
    placed = d_rows >= 0
    point_minutes = np.full(len(points), np.inf)
    point_label = np.full(len(points), -1)
    point_minutes[placed] = minutes[d_rows[placed], d_cols[placed]]
    point_label[placed] = labels[d_rows[placed], d_cols[placed]]
    within = children_within(points, point_minutes, thresholds, names=inputs.unit_names)
    served = pd.Series(points["children"].to_numpy(dtype=float)).groupby(point_label).sum()
    facilities = facilities.assign(
        children_nearest=served.reindex(np.arange(len(facilities))).fillna(0.0).to_numpy(),
        placed=np.where(rows >= 0, "", reason),
    )
    catchments = _catchments(grid, labels, facilities)
    catchments["children"] = catchments["site_id"].map(facilities.set_index("site_id")["children_nearest"])
    area = gpd.GeoSeries([inputs.counties.union_all()], crs=inputs.counties.crs)
    crs = grid.crs if grid.crs is not None else inputs.communities.crs
    inside = burn_mask(area.to_crs(crs), shape=grid.shape, transform=grid.transform)
    raster = TravelTimeRaster(
        np.where(inside & np.isfinite(minutes), minutes, np.nan).astype(np.float32),
        grid.transform,
        crs,
        cap,
        scenario.access_direction,
    )
    return Accessibility(scenario, facilities, raster, catchments, within, thresholds, grid.summary(), inputs.modelled)


def new_access_dir(scenario: Scenario) -> Path:
    """``<outputs>/<scenario name>_access/<UTC timestamp>``."""
    return scenario.outputs_dir / f"{scenario.name}_access" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def write_accessibility(result: Accessibility, out_dir: Path) -> Path:
    """Write the raster, catchments, threshold tables, workbook and record into ``out_dir``, atomically."""
    from openpyxl import Workbook

    from siting.report.workbook import write_notes_sheet, write_table_sheet
    from siting.rundir import write_atomically

    sheets = {"prefecture": "州市 prefectures", "county": "县 counties", "township": "乡镇 townships"}
    cap = result.thresholds_min[-1]

    def write(tmp: Path) -> None:
        write_travel_time_raster(result.minutes, tmp / "nearest_facility_time.tif", modelled=result.modelled)
        result.catchments.to_file(tmp / "facility_catchments.gpkg", layer="catchments", driver="GPKG")
        facilities = result.facilities.drop(columns="geometry")
        write_csv(facilities, tmp / "facilities.csv")
        for level, table in result.within.items():
            write_csv(rename_bilingual(table), tmp / f"access_thresholds_{level}.csv")
        book = Workbook()
        book.remove(book.active)
        notes = {
            "方案 scenario": result.scenario.name,
            "设施 facilities": f"{len(facilities):,}",
            "阈值 thresholds": "、".join(f"{t:g}" for t in result.thresholds_min) + " 分钟 min",
            "方向 direction": result.scenario.access_direction,
            "说明 note": f"超过{cap:g}分钟者记为“超过” (beyond {cap:g} min: not searched further)",
        }
        if result.modelled:
            notes["模拟数据 modelled data"] = (
                "样例数据为模拟数据 the sample's villages, children and relief are modelled"
            )
        write_notes_sheet(book, "说明 notes", "可达性 accessibility", notes)
        for level, table in result.within.items():
            write_table_sheet(
                book,
                sheets[level],
                table,
                title=f"到最近设施的时间 children by minutes to the nearest facility — {result.scenario.name}",
                columns=[c for c in table.columns if c.startswith("children")],
                total_label="合计 total",
            )
        book.save(tmp / "accessibility.xlsx")
        record = {
            "scenario": result.scenario.to_document(),
            "facilities": len(facilities),
            "facilities_not_placed": int((facilities["placed"] != "").sum()),
            "thresholds_min": list(result.thresholds_min),
            "direction": result.scenario.access_direction,
            "totals": result.totals(),
            "grid": result.grid,
            "modelled_data": result.modelled,
        }
        (tmp / "access.json").write_text(json.dumps(record, ensure_ascii=False, indent=1, default=str), "utf-8")

    if not math.isfinite(cap):
        raise InputError("the largest threshold must be finite")
    return write_atomically(out_dir, write)
