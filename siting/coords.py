"""Conversions between WGS-84 and the Chinese web-map datums GCJ-02 and BD-09.

GCJ-02 (used by Amap/Gaode and Tencent) is WGS-84 plus a published, smooth,
non-linear offset of a few hundred metres inside China; BD-09 (Baidu) is a
further rotation and shift of GCJ-02. The forward offsets are closed-form; the
inverse of GCJ-02 has no closed form, so :func:`gcj02_to_wgs84` solves it by a
fixed-point iteration that converges to far below a millimetre.

All functions are vectorised over NumPy arrays of longitudes and latitudes in
degrees and return new arrays.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

FloatArray = NDArray[np.float64]

# Krasovsky 1940 ellipsoid, which the GCJ-02 offset model is defined on.
_SEMI_MAJOR_M = 6378245.0
_ECCENTRICITY_SQ = 0.00669342162296594323
_BD_FACTOR = np.pi * 3000.0 / 180.0


def _offset_deg(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """GCJ-02 minus WGS-84 at a WGS-84 point, in degrees (lon, lat)."""
    x = lon - 105.0
    y = lat - 35.0
    pi = np.pi
    sqrt_abs_x = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    d_lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x
    d_lat += common
    d_lat += (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
    d_lat += (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    d_lon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x
    d_lon += common
    d_lon += (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
    d_lon += (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    rad_lat = lat / 180.0 * pi
    magic = 1.0 - _ECCENTRICITY_SQ * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_SEMI_MAJOR_M * (1.0 - _ECCENTRICITY_SQ)) / (magic * sqrt_magic) * pi)
    d_lon = (d_lon * 180.0) / (_SEMI_MAJOR_M / sqrt_magic * np.cos(rad_lat) * pi)
    return d_lon, d_lat


def _as_arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert WGS-84 longitudes/latitudes (degrees) to GCJ-02."""
    lon_a, lat_a = _as_arrays(lon, lat)
    d_lon, d_lat = _offset_deg(lon_a, lat_a)
    return lon_a + d_lon, lat_a + d_lat


def gcj02_to_wgs84(
    lon: ArrayLike, lat: ArrayLike, *, tolerance_deg: float = 1e-10, max_iterations: int = 30
) -> tuple[FloatArray, FloatArray]:
    """Convert GCJ-02 longitudes/latitudes (degrees) to WGS-84.

    Solves ``wgs84_to_gcj02(w) == g`` for ``w`` by fixed-point iteration
    ``w <- g - offset(w)``; the offset varies slowly, so each step gains about
    five orders of magnitude and a handful of steps reach ``tolerance_deg``
    (1e-10 degrees is about 0.01 mm).
    """
    g_lon, g_lat = _as_arrays(lon, lat)
    w_lon, w_lat = g_lon.copy(), g_lat.copy()
    for _ in range(max_iterations):
        d_lon, d_lat = _offset_deg(w_lon, w_lat)
        new_lon, new_lat = g_lon - d_lon, g_lat - d_lat
        change = max(
            float(np.max(np.abs(new_lon - w_lon), initial=0.0)),
            float(np.max(np.abs(new_lat - w_lat), initial=0.0)),
        )
        w_lon, w_lat = new_lon, new_lat
        if change < tolerance_deg:
            break
    return w_lon, w_lat


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert GCJ-02 longitudes/latitudes (degrees) to BD-09."""
    x, y = _as_arrays(lon, lat)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _BD_FACTOR)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _BD_FACTOR)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(
    lon: ArrayLike, lat: ArrayLike, *, tolerance_deg: float = 1e-10, max_iterations: int = 30
) -> tuple[FloatArray, FloatArray]:
    """Convert BD-09 longitudes/latitudes (degrees) to GCJ-02.

    The usual closed-form inverse is only accurate to about a metre, so it is
    used as the first guess and refined by fixed-point iteration on
    :func:`gcj02_to_bd09`.
    """
    b_lon, b_lat = _as_arrays(lon, lat)
    x, y = b_lon - 0.0065, b_lat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _BD_FACTOR)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _BD_FACTOR)
    g_lon, g_lat = z * np.cos(theta), z * np.sin(theta)
    for _ in range(max_iterations):
        f_lon, f_lat = gcj02_to_bd09(g_lon, g_lat)
        err_lon, err_lat = f_lon - b_lon, f_lat - b_lat
        g_lon, g_lat = g_lon - err_lon, g_lat - err_lat
        worst = max(float(np.max(np.abs(err_lon), initial=0.0)), float(np.max(np.abs(err_lat), initial=0.0)))
        if worst < tolerance_deg:
            break
    return g_lon, g_lat


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert WGS-84 longitudes/latitudes (degrees) to BD-09."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert BD-09 longitudes/latitudes (degrees) to WGS-84."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))
