"""Child-population rasters: zonal sums and population-weighted centres per community.

The zonal sum assigns every raster cell to the community that contains the
cell centre (one rasterization, then a weighted ``bincount``), so no child is
counted twice and none is lost inside the study area. A community too small to
contain any cell centre shares the cell under its representative point with the
cell's owner, so it never gets zero while the total is conserved.

The raster is read in row blocks, and community polygons are reprojected to the
raster's CRS (the raster is never resampled).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import rasterio.features
import rasterio.windows
from pyproj import Transformer
from rasterio.transform import rowcol

from siting.errors import CRSError, InputError

__all__ = ["ZonalResult", "zonal_children"]

BLOCK_ROWS = 1024


@dataclass(frozen=True)
class ZonalResult:
    """Children per zone and their population-weighted centre (in the zones' CRS)."""

    zone_ids: np.ndarray
    children: np.ndarray
    centre_x: np.ndarray
    centre_y: np.ndarray
    cells: np.ndarray
    raster_total: float

    def to_frame(self, id_column: str) -> pd.DataFrame:
        """The result as a table with ``id_column``, ``children``, ``centre_x``, ``centre_y``."""
        return pd.DataFrame(
            {
                id_column: self.zone_ids,
                "children": self.children,
                "centre_x": self.centre_x,
                "centre_y": self.centre_y,
                "cells": self.cells,
            }
        )


def zonal_children(
    raster_path: Path | str, zones: gpd.GeoDataFrame, *, id_column: str, block_rows: int = BLOCK_ROWS
) -> ZonalResult:
    """Sum a child-count raster per zone, conserving mass.

    Parameters
    ----------
    raster_path
        Single-band raster of children per cell (any CRS; nodata and NaN count as 0).
    zones
        Polygons in a projected CRS (the working CRS); the centres are returned in it.
    id_column
        Column of ``zones`` with the zone ids.
    block_rows
        Raster rows read at a time (memory bound).

    Returns
    -------
    ZonalResult
        In the order of ``zones``. ``raster_total`` is the raster sum over the
        cells whose centre lies in some zone.
    """
    path = Path(raster_path)
    if not path.exists():
        raise InputError(f"population raster {path} does not exist")
    if zones.crs is None:
        raise CRSError("zones have no CRS; set it before computing zonal sums")
    n = len(zones)
    sums = np.zeros(n)
    sum_x = np.zeros(n)
    sum_y = np.zeros(n)
    cells = np.zeros(n, dtype=np.int64)
    with rasterio.open(path) as src:
        if src.crs is None:
            raise CRSError(f"population raster {path} has no CRS; assign one with gdal_edit.py -a_srs")
        in_raster_crs = zones.geometry.to_crs(src.crs)
        to_zone_crs = Transformer.from_crs(src.crs, zones.crs, always_xy=True)
        sindex = in_raster_crs.sindex
        for row_off in range(0, src.height, block_rows):
            window = rasterio.windows.Window(0, row_off, src.width, min(block_rows, src.height - row_off))
            w_transform = src.window_transform(window)
            left, bottom, right, top = rasterio.windows.bounds(window, src.transform)
            hits = sindex.query(gpd.GeoSeries.from_xy([left, right], [bottom, top]).union_all().envelope)
            if len(hits) == 0:
                continue
            values = src.read(1, window=window, masked=True).astype(np.float64).filled(0.0)
            values[~np.isfinite(values)] = 0.0
            if (values < 0).any():
                raise InputError(
                    f"population raster {path} has negative cell values (min {values.min()}); "
                    "set the nodata value of the raster so they are ignored"
                )
            labels = rasterio.features.rasterize(
                ((in_raster_crs.iloc[i], int(i)) for i in hits),
                out_shape=values.shape,
                transform=w_transform,
                fill=-1,
                dtype="int32",
            )
            r, c = np.nonzero(labels >= 0)
            lab = labels[r, c]
            v = values[r, c]
            xs, ys = rasterio.transform.xy(w_transform, r, c)
            zx, zy = to_zone_crs.transform(np.asarray(xs), np.asarray(ys))
            sums += np.bincount(lab, weights=v, minlength=n)
            sum_x += np.bincount(lab, weights=v * zx, minlength=n)
            sum_y += np.bincount(lab, weights=v * zy, minlength=n)
            cells += np.bincount(lab, minlength=n)

        raster_total = float(sums.sum())
        orphans = np.flatnonzero(cells == 0)
        if len(orphans):
            reps = in_raster_crs.iloc[orphans].representative_point()
            rows, cols = rowcol(src.transform, reps.x.to_numpy(), reps.y.to_numpy())
            rows, cols = np.asarray(rows), np.asarray(cols)
            groups: dict[tuple[int, int], list[int]] = {}
            for k, (rr, cc) in enumerate(zip(rows, cols, strict=True)):
                groups.setdefault((int(rr), int(cc)), []).append(int(orphans[k]))
            for (rr, cc), members in groups.items():
                if not (0 <= rr < src.height and 0 <= cc < src.width):
                    continue
                value = float(
                    src.read(1, window=rasterio.windows.Window(cc, rr, 1, 1), masked=True)
                    .astype(np.float64)
                    .filled(0.0)[0, 0]
                )
                cx, cy = rasterio.transform.xy(src.transform, rr, cc)
                centre = gpd.points_from_xy([cx], [cy])[0]
                owners = [int(i) for i in sindex.query(centre, predicate="intersects") if cells[i] > 0][:1]
                share = value / (len(members) + len(owners))
                for owner in owners:
                    sums[owner] -= share * len(members)
                for m in members:
                    sums[m] += share
                    cells[m] = 0
                if not owners:
                    raster_total += value
    centroid = zones.geometry.representative_point()
    with np.errstate(invalid="ignore", divide="ignore"):
        cx = np.where(sums > 0, sum_x / np.where(sums > 0, sums, 1), centroid.x.to_numpy())
        cy = np.where(sums > 0, sum_y / np.where(sums > 0, sums, 1), centroid.y.to_numpy())
    # Zones that only share a cell have no own cells: their centre is their representative point.
    cx = np.where(cells > 0, cx, centroid.x.to_numpy())
    cy = np.where(cells > 0, cy, centroid.y.to_numpy())
    return ZonalResult(
        zone_ids=zones[id_column].to_numpy(),
        children=sums,
        centre_x=cx,
        centre_y=cy,
        cells=cells,
        raster_total=raster_total,
    )
