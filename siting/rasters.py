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

__all__ = ["burn_mask", "geotiff_profile", "write_band"]


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
