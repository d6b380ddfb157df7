"""Child-population rasters: checks, calibration to official totals, zonal sums per community.

The zonal sum assigns every raster cell to the community that contains the
cell centre (one rasterization per block of rows, then a weighted
``bincount``), so no child is counted twice and none is lost inside the study
area. A community too small to contain any cell centre shares the cell under
its representative point with the cell's owner, so it never gets zero while the
total is conserved.

Rasters are read in blocks of rows (memory stays bounded for 100 M-cell
rasters), and polygons are reprojected to the raster's CRS: the raster itself
is never resampled.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import rasterio.features
import rasterio.windows
import shapely
from pyproj import Transformer

from siting.errors import CRSError, InputError
from siting.geometry import move_inside
from siting.parallel import Workers, map_parts, worker_count
from siting.rasters import MAX_GRID_CELLS

__all__ = ["ZonalResult", "calibrate_to_totals", "cells_in_zone", "check_raster", "zonal_children"]

# Rasterizing thin strips is faster than thick ones (GDAL's polygon fill cost grows with the strip
# height; measured on 10,000-column rasters: 1,024 rows 6.1 s, 256 rows 3.4 s, 64 rows 2.8 s, 16 rows 4.8 s).
BLOCK_ROWS = 64
PARALLEL_MIN_CELLS = 20_000_000
GDAL_CACHE_MB = 64


@dataclass(frozen=True)
class ZonalResult:
    """Children per zone and their population-weighted centre (in the zones' CRS).

    Every centre lies inside its zone (a zone with no cell centre gets its
    representative point). ``cell_size`` is the diagonal of a raster cell in the
    zones' units: how far a small zone's share of a cell may come from.
    """

    zone_ids: np.ndarray
    children: np.ndarray
    centre_x: np.ndarray
    centre_y: np.ndarray
    cells: np.ndarray
    raster_total: float
    cell_size: float = 0.0

    def to_frame(self, id_column: str) -> pd.DataFrame:
        """The result as a table with ``id_column``, ``children``, ``centre_x``, ``centre_y``, ``cells``."""
        return pd.DataFrame(
            {
                id_column: self.zone_ids,
                "children": self.children,
                "centre_x": self.centre_x,
                "centre_y": self.centre_y,
                "cells": self.cells,
            }
        )


def _apply(transform: rasterio.Affine, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply an affine transform to coordinate arrays."""
    a, b, c, d, e, f = transform[:6]
    return a * x + b * y + c, d * x + e * y + f


def _open_checked(path: Path) -> rasterio.DatasetReader:
    """Open a child raster, refusing what cannot be one: missing, a folder, empty, unreadable, several bands, no CRS."""
    if not path.exists():
        raise InputError(f"population raster {path} does not exist")
    if path.is_dir():
        raise InputError(f"population raster {path} is a folder; give the raster file (.tif)")
    if path.stat().st_size == 0:
        raise InputError(f"population raster {path} is empty (0 bytes)")
    try:
        src = rasterio.open(path)
    except rasterio.errors.RasterioIOError as error:
        raise InputError(f"population raster {path} is not a raster GDAL can read: {error}") from None
    if src.count != 1:
        count = src.count
        src.close()
        raise InputError(
            f"population raster {path} has {count} bands; give a single band of children per cell "
            f"(e.g. gdal_translate -b 1 {path} children.tif)"
        )
    if src.crs is None:
        src.close()
        raise CRSError(f"population raster {path} has no CRS; assign one (gdal_edit.py -a_srs EPSG:4326 {path})")
    return src


def _check_cells_over(src: rasterio.DatasetReader, path: Path, zones: gpd.GeoSeries, n_zones: int) -> None:
    """Refuse, before a cell is read, a raster whose cells over the zones no census grid has."""
    if src.width * src.height <= MAX_GRID_CELLS:
        return
    west, south, east, north = zones.total_bounds
    window = rasterio.windows.from_bounds(west, south, east, north, transform=src.transform)
    over = max(window.width, 0.0) * max(window.height, 0.0)
    if over > MAX_GRID_CELLS:
        raise InputError(
            f"population raster {path} has {src.width:,} × {src.height:,} cells, {over:,.0f} of them over the "
            f"{n_zones:,} communities: finer than any census grid (at most {MAX_GRID_CELLS:,.0f} over the area); "
            "check its header (cell size and extent) or resample it (gdalwarp -tr)"
        )


def row_blocks(src: rasterio.DatasetReader, block_rows: int) -> Iterator[rasterio.windows.Window]:
    for row_off in range(0, src.height, block_rows):
        yield rasterio.windows.Window(0, row_off, src.width, min(block_rows, src.height - row_off))


def _read_counts(src: rasterio.DatasetReader, window: rasterio.windows.Window, path: Path) -> np.ndarray:
    """Counts in a window as float32; nodata and NaN become 0, other negatives are an error."""
    try:
        values = src.read(1, window=window, out_dtype=np.float32)
    except rasterio.errors.RasterioError as error:  # a truncated or damaged file fails on the read, not the open
        raise InputError(
            f"population raster {path} cannot be read at rows {window.row_off}-{window.row_off + window.height} "
            f"(truncated or damaged?): {error}; copy or export it again"
        ) from None
    nodata = src.nodata
    if nodata is not None and not np.isnan(nodata) and nodata >= 0:
        values[values == np.float32(nodata)] = 0.0
    # One comparison finds NaN, infinities and negatives alike (the usual nodata is negative).
    fine = (values >= 0) & (values < np.inf)
    if fine.all():
        return _plausible(values, path, window)
    if nodata is not None and not np.isnan(nodata) and nodata < 0:
        values[values == np.float32(nodata)] = 0.0
    if np.isinf(values).any():
        raise InputError(
            f"population raster {path} has {int(np.isinf(values).sum())} infinite cells in rows "
            f"{window.row_off}-{window.row_off + window.height}; a cell holds a count of children: fix them or "
            "set them to the raster's nodata value"
        )
    values[np.isnan(values)] = 0.0
    if values.min() < 0:
        raise InputError(
            f"population raster {path} has negative cell values (min {values.min()}) that are not nodata; "
            "set the raster's nodata value so they are ignored"
        )
    return _plausible(values, path, window)


#: More children than any cell of any census holds (the densest square kilometres hold tens of thousands).
MAX_CHILDREN_PER_CELL = 1e6


def _plausible(values: np.ndarray, path: Path, window: rasterio.windows.Window) -> np.ndarray:
    """The counts, unless a cell holds more children than any census has (a unit or nodata error)."""
    largest = float(values.max(initial=0.0))
    if largest > MAX_CHILDREN_PER_CELL:
        raise InputError(
            f"population raster {path} has a cell of {largest:.3g} children in rows {window.row_off}-"
            f"{window.row_off + window.height}, more than any census cell holds ({MAX_CHILDREN_PER_CELL:,.0f}); "
            "check its units (children per cell) and its nodata value"
        )
    return values


class _GeoJSONCache:
    """GeoJSON mappings of polygons, made once each (rasterize needs them per block)."""

    def __init__(self, shapes: gpd.GeoSeries) -> None:
        self._geoms = shapes.to_numpy()
        self._mappings: dict[int, dict[str, object]] = {}

    def __getitem__(self, i: int) -> dict[str, object]:
        found = self._mappings.get(i)
        if found is None:
            found = _mapping(self._geoms[i])
            self._mappings[i] = found
        return found


def _rings(polygon: shapely.Polygon) -> list[list[list[float]]]:
    return [shapely.get_coordinates(polygon.exterior).tolist()] + [
        shapely.get_coordinates(ring).tolist() for ring in polygon.interiors
    ]


def _mapping(geometry: shapely.Geometry) -> dict[str, object]:
    """GeoJSON-like mapping of a (multi)polygon, with coordinates copied in C (shapely's is 5x slower)."""
    if isinstance(geometry, shapely.Polygon):
        return {"type": "Polygon", "coordinates": _rings(geometry)}
    if isinstance(geometry, shapely.MultiPolygon):
        return {"type": "MultiPolygon", "coordinates": [_rings(part) for part in geometry.geoms]}
    return dict(getattr(geometry, "__geo_interface__"))  # noqa: B009 - not in the stubs


def _label_block(
    shapes: gpd.GeoSeries | _GeoJSONCache, sindex_hits: np.ndarray, shape: tuple[int, int], transform: rasterio.Affine
) -> np.ndarray:
    """Cells whose centre lies in zone ``i`` get ``i + 1``; cells in no zone get 0."""
    lookup = shapes if isinstance(shapes, _GeoJSONCache) else _GeoJSONCache(shapes)
    return rasterio.features.rasterize(
        ((lookup[int(i)], int(i) + 1) for i in sindex_hits),
        out_shape=shape,
        transform=transform,
        fill=0,
        dtype="int32",
    )


def _sum_strips(windows: list[rasterio.windows.Window], zones: tuple[Path, np.ndarray, bool]) -> tuple[np.ndarray, ...]:
    """Per-zone sums (children, children × column, children × row, cells) over some row strips.

    ``zones`` (the raster's path, the zones as WKB, whether to sum weighted centres) is
    shared by every worker's strips: it reaches each worker once.
    """
    path, wkb, weighted_centres = zones
    shapes = gpd.GeoSeries(shapely.from_wkb(wkb))
    n = len(shapes)
    sums, sum_col, sum_row = np.zeros(n), np.zeros(n), np.zeros(n)
    cells = np.zeros(n, dtype=np.int64)
    sindex = shapes.sindex
    mappings = _GeoJSONCache(shapes)
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB), _open_checked(path) as src:
        for window in windows:
            left, bottom, right, top = rasterio.windows.bounds(window, src.transform)
            hits = sindex.query(shapely.box(left, bottom, right, top))
            if len(hits) == 0:
                continue
            values = _read_counts(src, window, path)
            # Label 0 is "no zone"; zone i is label i + 1, so no masking copies are needed.
            labels = _label_block(mappings, hits, values.shape, src.window_transform(window)).ravel()
            labels = labels.astype(np.intp)  # once, rather than inside every bincount
            sums += np.bincount(labels, weights=values.ravel(), minlength=n + 1)[1:]
            if weighted_centres:
                col_centres = np.arange(values.shape[1], dtype=np.float32) + np.float32(0.5)
                row_centres = np.arange(values.shape[0], dtype=np.float32) + np.float32(window.row_off + 0.5)
                sum_col += np.bincount(labels, weights=(values * col_centres).ravel(), minlength=n + 1)[1:]
                sum_row += np.bincount(labels, weights=(values * row_centres[:, None]).ravel(), minlength=n + 1)[1:]
            cells += np.bincount(labels, minlength=n + 1)[1:]
    return sums, sum_col, sum_row, cells


def check_raster(raster_path: Path | str, zones: gpd.GeoDataFrame, *, id_column: str) -> None:
    """Refuse a child raster that cannot serve the zones: unreadable, several bands, no CRS, not over them.

    Raises
    ------
    InputError
        Naming the zones that lie wholly outside the raster, or saying that none overlaps it.
    """
    path = Path(raster_path)
    with _open_checked(path) as src:
        left, bottom, right, top = src.bounds
        footprint = shapely.box(min(left, right), min(bottom, top), max(left, right), max(bottom, top))
        in_raster_crs = zones.geometry.to_crs(src.crs)
    outside = ~in_raster_crs.intersects(footprint).to_numpy()
    if outside.all():
        raise InputError(
            f"population raster {path} does not overlap the communities (raster bounds {src.bounds}, in {src.crs}); "
            "give the raster of the study area"
        )
    if outside.any():
        ids = zones[id_column].to_numpy()[outside]
        raise InputError(
            f"{int(outside.sum())} communities lie wholly outside population raster {path}, e.g. "
            f"{ids[:10].tolist()}; give a raster that covers the whole study area"
        )


def zonal_children(
    raster_path: Path | str,
    zones: gpd.GeoDataFrame,
    *,
    id_column: str,
    block_rows: int = BLOCK_ROWS,
    weighted_centres: bool = True,
    workers: Workers = None,
) -> ZonalResult:
    """Sum a child-count raster per zone, conserving mass.

    Parameters
    ----------
    raster_path
        Single-band raster of children per cell (any CRS; nodata and NaN count as 0).
    zones
        Polygons with a CRS (normally the working CRS); the centres are returned in it.
    id_column
        Column of ``zones`` with the zone ids.
    block_rows
        Raster rows read at a time (memory bound).
    weighted_centres
        Also compute each zone's population-weighted centre (two more passes over
        the cells); without it the centres are the zones' representative points.
    workers
        Processes that share the strips (default: the CPUs available; rasters under
        ``PARALLEL_MIN_CELLS`` cells are done in this process).

    Returns
    -------
    ZonalResult
        In the order of ``zones``. ``raster_total`` is the raster sum over the
        cells whose centre lies in some zone plus the cells shared by small zones.
    """
    path = Path(raster_path)
    if zones.crs is None:
        raise CRSError("zones have no CRS; set it before computing zonal sums")
    if id_column not in zones.columns:
        raise InputError(f"zones have no column {id_column!r}")
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB), _open_checked(path) as src:
        in_raster_crs = zones.geometry.to_crs(src.crs)
        _check_cells_over(src, path, in_raster_crs, len(zones))
        windows = list(row_blocks(src, block_rows))
        tile_rows = max(src.block_shapes[0][0], block_rows) if src.block_shapes else block_rows
        n_cells = src.width * src.height
        # Strips go to workers in runs that match the file's tiles (each tile is decoded once), round-robin.
        per_run = max(1, tile_rows // block_rows)
        runs = [windows[k : k + per_run] for k in range(0, len(windows), per_run)]
        n_workers = worker_count(workers)
        if n_workers > 1 and n_cells < PARALLEL_MIN_CELLS:
            n_workers = workers = 1  # small rasters: starting workers costs more than it saves
        shares = [[w for run in runs[k::n_workers] for w in run] for k in range(n_workers)]
        shared = (path, shapely.to_wkb(in_raster_crs.to_numpy()), weighted_centres)
        jobs = [share for share in shares if share]
        totals = map_parts(_sum_strips, jobs, workers=workers, shared=shared, what="raster strip")
        sums, sum_col, sum_row, cells = (np.sum(column, axis=0) for column in zip(*totals, strict=True))
        raster_total = float(sums.sum())
        raster_total += _share_cells_with_small_zones(src, path, in_raster_crs, cells, sums, sum_col, sum_row)
        if raster_total <= 0 and len(zones):
            raise InputError(
                f"population raster {path} holds no children inside the communities (every cell there is 0 or "
                "nodata); check the raster and its nodata value"
            )
        cell_size = _cell_size_in(src, zones.crs)

        # Weighted mean cell position -> raster CRS -> zone CRS.
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_col = sum_col / sums
            mean_row = sum_row / sums
        has_centre = (cells > 0) & (sums > 0) & weighted_centres
        raster_x, raster_y = _apply(src.transform, np.where(has_centre, mean_col, 0), np.where(has_centre, mean_row, 0))
        to_zone = Transformer.from_crs(src.crs, zones.crs, always_xy=True)
        zx, zy = to_zone.transform(np.asarray(raster_x), np.asarray(raster_y))
    representative = zones.geometry.representative_point()
    centre_x = np.where(has_centre, zx, representative.x.to_numpy())
    centre_y = np.where(has_centre, zy, representative.y.to_numpy())
    # A weighted centre of a zone that is not convex can fall outside it: bring it back in.
    centre_x, centre_y, _ = move_inside(zones.geometry.to_numpy(), centre_x, centre_y)
    return ZonalResult(
        zone_ids=zones[id_column].to_numpy(),
        children=sums,
        centre_x=centre_x,
        centre_y=centre_y,
        cells=cells,
        raster_total=raster_total,
        cell_size=cell_size,
    )


def _cell_size_in(src: rasterio.DatasetReader, crs: object) -> float:
    """The diagonal of the raster's middle cell, measured in ``crs`` (the zones' units)."""
    col, row = src.width / 2, src.height / 2
    xs, ys = _apply(src.transform, np.array([col, col + 1]), np.array([row, row + 1]))
    zx, zy = Transformer.from_crs(src.crs, crs, always_xy=True).transform(xs, ys)
    return float(np.hypot(zx[1] - zx[0], zy[1] - zy[0]))


def _share_cells_with_small_zones(
    src: rasterio.DatasetReader,
    path: Path,
    zones: gpd.GeoSeries,
    cells: np.ndarray,
    sums: np.ndarray,
    sum_col: np.ndarray,
    sum_row: np.ndarray,
) -> float:
    """Give zones without a cell centre a share of the cell under their representative point.

    The cell's value is split equally between its owner (if any) and the small
    zones on it. The owner loses that share from its weighted row and column sums
    too, so its weighted centre stays a mean of what it keeps. Returns the value of
    shared cells that had no owner (they were not counted yet).
    """
    orphans = np.flatnonzero(cells == 0)
    if len(orphans) == 0:
        return 0.0
    reps = zones.iloc[orphans].representative_point()
    cols_f, rows_f = _apply(~src.transform, reps.x.to_numpy(), reps.y.to_numpy())
    rows = np.floor(rows_f).astype(np.int64)
    cols = np.floor(cols_f).astype(np.int64)
    groups: dict[tuple[int, int], list[int]] = {}
    for k, (r, c) in enumerate(zip(rows, cols, strict=True)):
        groups.setdefault((int(r), int(c)), []).append(int(orphans[k]))
    sindex = zones.sindex
    extra = 0.0
    for (r, c), members in groups.items():
        if not (0 <= r < src.height and 0 <= c < src.width):
            continue
        value = float(_read_counts(src, rasterio.windows.Window(c, r, 1, 1), path)[0, 0])
        cx, cy = _apply(src.transform, np.array([c + 0.5]), np.array([r + 0.5]))
        centre = gpd.points_from_xy(cx, cy)[0]
        owners = [int(i) for i in sindex.query(centre, predicate="intersects") if cells[i] > 0][:1]
        share = value / (len(members) + len(owners))
        for owner in owners:
            sums[owner] -= share * len(members)
            sum_col[owner] -= share * len(members) * (c + 0.5)
            sum_row[owner] -= share * len(members) * (r + 0.5)
        for member in members:
            sums[member] += share
        if not owners:
            extra += value
    return extra


def calibrate_to_totals(
    raster_path: Path | str,
    units: gpd.GeoDataFrame,
    *,
    id_column: str,
    totals: Mapping[str, float] | pd.Series,
    out_path: Path | str,
    block_rows: int = BLOCK_ROWS,
) -> pd.DataFrame:
    """Rescale a raster so that each unit (county, township) sums to an official total.

    Every cell whose centre lies in unit *u* is multiplied by
    ``totals[u] / raster sum in u``. Cells outside every unit are left as they are.

    Returns
    -------
    pandas.DataFrame
        Per unit: ``raster_sum`` before, ``official``, ``factor``.
    """
    totals = pd.Series(totals, dtype=float)
    ids = units[id_column].astype(str)
    unknown = sorted(set(totals.index.astype(str)) - set(ids))
    missing = sorted(set(ids) - set(totals.index.astype(str)))
    if unknown or missing:
        raise InputError(
            f"official totals do not match the units: unknown ids {unknown[:10]}, units without a total "
            f"{missing[:10]}; give one total per {id_column}"
        )
    before = zonal_children(raster_path, units, id_column=id_column, block_rows=block_rows)
    official = totals.reindex(ids).to_numpy()
    empty = (before.children <= 0) & (official > 0)
    if empty.any():
        raise InputError(
            f"units {list(ids[empty][:10])} have an official total but no population in the raster; "
            "the raster cannot be rescaled there"
        )
    factor = np.where(before.children > 0, official / np.where(before.children > 0, before.children, 1), 1.0)
    path = Path(raster_path)
    out_path = Path(out_path)
    with _open_checked(path) as src:
        shapes = units.geometry.to_crs(src.crs)
        sindex = shapes.sindex
        profile = src.profile.copy()
        profile.update(
            dtype="float32",
            count=1,
            compress="deflate",
            predictor=3,
            tiled=True,
            blockxsize=256,
            blockysize=256,
            BIGTIFF="IF_SAFER",
        )
        profile.setdefault("nodata", -99999.0)
        nodata = profile["nodata"]
        fd, tmp_name = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".tif", dir=out_path.parent)
        os.close(fd)
        try:
            with rasterio.open(tmp_name, "w", **profile) as dst:
                for window in row_blocks(src, block_rows):
                    data = src.read(1, window=window, masked=True)
                    values = data.astype(np.float64).filled(0.0)
                    left, bottom, right, top = rasterio.windows.bounds(window, src.transform)
                    hits = sindex.query(gpd.GeoSeries.from_xy([left, right], [bottom, top]).union_all().envelope)
                    if len(hits):
                        labels = _label_block(shapes, hits, values.shape, src.window_transform(window))
                        scale = np.where(labels > 0, factor[np.clip(labels - 1, 0, None)], 1.0)
                        values = values * scale
                    out = np.where(np.ma.getmaskarray(data), nodata, values)
                    dst.write(out.astype(np.float32), 1, window=window)
            Path(tmp_name).replace(out_path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
    return pd.DataFrame(
        {id_column: ids.to_numpy(), "raster_sum": before.children, "official": official, "factor": factor}
    )


def cells_in_zone(
    raster_path: Path | str, zones: gpd.GeoDataFrame, positions: np.ndarray
) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Populated cells of some zones: centre coordinates (zones' CRS) and counts.

    Parameters
    ----------
    raster_path
        Child-count raster.
    zones
        Polygons with a CRS.
    positions
        Row positions in ``zones`` to extract.

    Returns
    -------
    dict
        Position → ``(x, y, count)`` arrays over the cells whose centre lies in
        the zone and whose count is positive.
    """
    path = Path(raster_path)
    out: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    with _open_checked(path) as src:
        shapes = zones.geometry.to_crs(src.crs)
        to_zone = Transformer.from_crs(src.crs, zones.crs, always_xy=True)
        for position in positions:
            geom = shapes.iloc[int(position)]
            try:
                window = rasterio.features.geometry_window(src, [geom]).round_offsets().round_lengths()
            except rasterio.errors.WindowError:
                out[int(position)] = (np.empty(0), np.empty(0), np.empty(0))
                continue
            values = _read_counts(src, window, path)
            inside = rasterio.features.rasterize(
                [(geom, 1)], out_shape=values.shape, transform=src.window_transform(window), fill=0, dtype="uint8"
            ).astype(bool) & (values > 0)
            rows, cols = np.nonzero(inside)
            x, y = _apply(src.window_transform(window), cols + 0.5, rows + 0.5)
            zx, zy = to_zone.transform(x, y)
            out[int(position)] = (np.asarray(zx), np.asarray(zy), values[rows, cols])
    return out


def __getattr__(name: str) -> object:
    """``AgeBandRaster``, ``find_worldpop_bands`` and ``sum_age_bands`` moved to :mod:`siting.worldpop`."""
    if name in ("AgeBandRaster", "find_worldpop_bands", "sum_age_bands"):
        from siting import worldpop

        return getattr(worldpop, name)
    raise AttributeError(f"module 'siting.population' has no attribute {name!r}")
