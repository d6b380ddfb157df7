"""Small geometric rules shared by the stages: keeping a point inside the polygon it stands for."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.ops import nearest_points

__all__ = ["move_inside"]

#: How far inside the polygon a moved point is put (metres in a projected CRS), so that it is
#: inside by more than rounding error; thinner polygons take their representative point.
INSET_M = 1.0


def move_inside(polygons: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Move points that fall outside their own polygon to the nearest place inside it.

    A population-weighted centre is a mean of points inside a polygon, so it can fall
    outside a polygon that is not convex (a C-shaped valley, a village in two parts).
    Such a point goes to the point of the polygon, shrunk by :data:`INSET_M`, nearest
    to it; a polygon too thin to shrink gives its representative point.

    Parameters
    ----------
    polygons
        One (multi)polygon per point, in the points' projected CRS.
    x, y
        Point coordinates.

    Returns
    -------
    tuple
        ``(x, y, moved)``: the coordinates, inside their polygon, and which were moved.
    """
    x = np.asarray(x, dtype=float).copy()
    y = np.asarray(y, dtype=float).copy()
    geoms = np.asarray(polygons, dtype=object)
    points = np.asarray(shapely.points(x, y), dtype=object)
    usable = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
    moved = usable & ~shapely.covers(geoms, points)
    for i in np.flatnonzero(moved):
        inner = shapely.buffer(geoms[i], -INSET_M)
        target = geoms[i].representative_point() if inner.is_empty else nearest_points(inner, points[i])[0]
        x[i], y[i] = target.x, target.y
    return x, y, moved
