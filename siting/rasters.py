"""Single-band GeoTIFFs and masks on a grid: the one place a raster is written or shapes are burnt."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.features
from affine import Affine
from shapely.geometry.base import BaseGeometry

__all__ = ["MAX_GRID_CELLS", "burn_mask", "draw_lines", "geotiff_profile", "write_band"]

#: More cells over a study area than any census grid has, or anyone can use (a 3″ raster over all
#: of China has about 1e9): the limit of a child raster read and of a nearest-home raster written.
MAX_GRID_CELLS = 4e9


def burn_mask(
    shapes: Iterable[BaseGeometry | None], *, shape: tuple[int, int], transform: Affine, all_touched: bool = False
) -> np.ndarray:
    """True in the cells the shapes cover (cell centres, or every cell touched); empty shapes are skipped."""
    return rasterio.features.rasterize(
        ((g, 1) for g in shapes if g is not None and not g.is_empty),
        out_shape=shape,
        transform=transform,
        fill=0,
        dtype="uint8",
        all_touched=all_touched,
    ).astype(bool)


def draw_lines(lines: Iterable[BaseGeometry | None], *, shape: tuple[int, int], transform: Affine) -> np.ndarray:
    """True in the cells a line drawing steps through, as GRASS ``v.to.rast`` draws lines (AccessMod's rule).

    Each segment is drawn on its own, in cell-centre coordinates (the centre of cell
    ``(row, col)`` at ``(col, row)``), stepping one cell at a time along its longer
    axis (the rows when the two spans are equal) from half a cell before its first end
    to half a cell past its last: at each whole column ``x`` (or row ``y``) of that
    range the cell is the one whose centre is nearest the segment's line there,
    ``round(y1 + m (x - x1))``, halves rounded up. So a segment of ``n`` cells marks
    ``n`` or ``n + 1`` cells, 8-connected, one per step. Points and polygons are not
    lines and are ignored; so are empty shapes.

    Parameters
    ----------
    lines
        Line geometries in the grid's CRS (multi-part lines are drawn part by part).
    shape, transform
        The grid: ``(rows, cols)`` and its affine transform.

    Returns
    -------
    numpy.ndarray
        A boolean ``shape`` array.
    """
    import shapely

    rows, cols = shape
    mask = np.zeros(shape, dtype=bool)
    parts = shapely.get_parts(np.asarray([g for g in lines if g is not None and not g.is_empty], dtype=object))
    parts = parts[np.isin(shapely.get_type_id(parts), (1, 2))]  # LineString, LinearRing
    if parts.size == 0:
        return mask
    # Clip to the grid and two cells round it: a cut end only moves cells outside the grid.
    inverse = ~transform
    west, north = transform * (-2, -2)
    east, south = transform * (cols + 2, rows + 2)
    box = (min(west, east), min(south, north), max(west, east), max(south, north))
    parts = shapely.get_parts(shapely.clip_by_rect(parts, *box))
    parts = parts[np.isin(shapely.get_type_id(parts), (1, 2))]
    if parts.size == 0:
        return mask
    coords, index = shapely.get_coordinates(parts, return_index=True)
    col, row = inverse * (coords[:, 0], coords[:, 1])
    x, y = np.asarray(col) - 0.5, np.asarray(row) - 0.5
    same = index[1:] == index[:-1]
    x1, y1, x2, y2 = x[:-1][same], y[:-1][same], x[1:][same], y[1:][same]
    for steps_along_x in (True, False):
        chosen = (np.abs(x2 - x1) > np.abs(y2 - y1)) == steps_along_x
        a1, b1, a2, b2 = (x1, y1, x2, y2) if steps_along_x else (y1, x1, y2, x2)
        a1, b1, a2, b2 = a1[chosen], b1[chosen], a2[chosen], b2[chosen]
        da, db = a2 - a1, b2 - b1
        slope = np.divide(db, da, out=np.ones_like(da), where=da != 0)
        start = np.ceil(np.minimum(a1, a2) - 0.5).astype(np.int64)
        stop = np.floor(np.maximum(a1, a2) + 0.5).astype(np.int64)
        counts = np.maximum(stop - start + 1, 0)
        segment = np.repeat(np.arange(counts.size), counts)
        along = start[segment] + (np.arange(segment.size) - np.repeat(np.cumsum(counts) - counts, counts))
        intercept = b1 - slope * a1
        across = np.floor(slope[segment] * along + intercept[segment] + 0.5).astype(np.int64)
        c, r = (along, across) if steps_along_x else (across, along)
        inside = (r >= 0) & (r < rows) & (c >= 0) & (c < cols)
        mask[r[inside], c[inside]] = True
    return mask


def geotiff_profile(
    *, width: int, height: int, dtype: Any, crs: Any, transform: Affine, nodata: float | int
) -> dict[str, Any]:
    """A tiled, deflate-compressed single-band GeoTIFF (predictor 3 for floats, 2 for integers)."""
    floating = np.issubdtype(np.dtype(dtype), np.floating)
    return {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 1,
        "dtype": np.dtype(dtype).name,
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
        "compress": "deflate",
        "predictor": 3 if floating else 2,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "BIGTIFF": "IF_SAFER",
    }


def write_band(
    path: Path | str,
    values: np.ndarray,
    *,
    crs: Any,
    transform: Affine,
    nodata: float | int,
    tags: Mapping[str, str] | None = None,
    description: str | None = None,
) -> None:
    """Write ``values`` as a single-band GeoTIFF with its tags and band description."""
    profile = geotiff_profile(
        width=values.shape[1], height=values.shape[0], dtype=values.dtype, crs=crs, transform=transform, nodata=nodata
    )
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values, 1)
        if tags:
            dst.update_tags(**tags)
        if description:
            dst.set_band_description(1, description)
