"""Modelled geography of the sample: seats and polygons inside the real counties.

The real data say which townships and communities each county has, but not
where they are. This module places them, deterministically from a random
generator, in the working CRS (metres):

1. the county seat at the pole of inaccessibility of the county polygon;
2. township seats: subdistricts (街道, urban) in a tight cluster around the
   county seat; towns (镇) and xiang (乡) spread over the county by
   best-candidate sampling (each new seat is the farthest of a few random
   candidates from the seats already placed). When a county has no subdistrict
   its first town sits at the county seat;
3. township polygons: the Voronoi cells of the township seats clipped to the
   county, so townships tile the county;
4. community seats: residents' committees (居委会, urban) clustered around their
   township seat, village committees (村委会) spread over the township by
   best-candidate sampling;
5. community polygons: Voronoi cells of the community seats clipped to the
   township polygon, so communities tile townships and townships tile counties.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from siting.boundaries import polygonal_part

__all__ = ["ModelledGeography", "place_county"]

# Seats stay this far inside their polygon, so that reprojection to degrees and
# back never moves a seat across a boundary.
INSET_M = 100.0
SUBDISTRICT_SPREAD_M = 2500.0
RESIDENTS_SPREAD_M = 1200.0
BEST_CANDIDATE_TRIES = 8


@dataclass(frozen=True)
class ModelledGeography:
    """Seats and polygons of one county (working CRS, metres)."""

    county_seat: shapely.Point
    township_codes: list[str]
    township_seats: np.ndarray
    township_polygons: np.ndarray
    community_codes: list[str]
    community_seats: np.ndarray
    community_polygons: np.ndarray


def _inset(polygon: BaseGeometry) -> BaseGeometry:
    inner = polygon.buffer(-INSET_M)
    return inner if not inner.is_empty and inner.area > 0.05 * polygon.area else polygon


def _uniform_points(polygon: BaseGeometry, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` points uniform inside ``polygon`` by rejection sampling, as an (n, 2) array."""
    min_x, min_y, max_x, max_y = polygon.bounds
    shapely.prepare(polygon)
    fill = max(polygon.area / max((max_x - min_x) * (max_y - min_y), 1e-9), 0.01)
    found: list[np.ndarray] = []
    count = 0
    while count < n:
        batch = int((n - count) / fill * 1.5) + 8
        xs = rng.uniform(min_x, max_x, batch)
        ys = rng.uniform(min_y, max_y, batch)
        keep = shapely.contains_xy(polygon, xs, ys)
        pts = np.column_stack([xs[keep], ys[keep]])
        found.append(pts)
        count += len(pts)
    return np.concatenate(found)[:n]


def _best_candidate(
    polygon: BaseGeometry, n: int, rng: np.random.Generator, *, existing: np.ndarray | None = None
) -> np.ndarray:
    """``n`` well-spread points inside ``polygon`` (Mitchell's best-candidate sampling)."""
    placed = np.empty((0, 2)) if existing is None else np.asarray(existing, dtype=float).reshape(-1, 2)
    start = len(placed)
    candidates = _uniform_points(polygon, n * BEST_CANDIDATE_TRIES, rng).reshape(n, BEST_CANDIDATE_TRIES, 2)
    for i in range(n):
        options = candidates[i]
        if len(placed) == 0:
            choice = options[0]
        else:
            d2 = ((options[:, None, :] - placed[None, :, :]) ** 2).sum(axis=2).min(axis=1)
            choice = options[int(np.argmax(d2))]
        placed = np.vstack([placed, choice])
    return placed[start:]


def _clustered(
    polygon: BaseGeometry, centre: np.ndarray, n: int, spread_m: float, rng: np.random.Generator
) -> np.ndarray:
    """``n`` points inside ``polygon``, normally scattered around ``centre``."""
    shapely.prepare(polygon)
    out: list[np.ndarray] = []
    count = 0
    for _ in range(50):
        pts = centre + rng.normal(0.0, spread_m, size=(4 * (n - count) + 4, 2))
        pts = pts[shapely.contains_xy(polygon, pts[:, 0], pts[:, 1])]
        out.append(pts)
        count += len(pts)
        if count >= n:
            return np.concatenate(out)[:n]
    rest = _uniform_points(polygon, n - count, rng)
    return np.concatenate([*out, rest])[:n]


def _voronoi_tiles(seats: np.ndarray, frame: BaseGeometry) -> np.ndarray:
    """Voronoi cells of ``seats`` clipped to ``frame``, in the order of ``seats``."""
    if len(seats) == 1:
        return np.array([frame], dtype=object)
    cells = shapely.voronoi_polygons(shapely.multipoints(seats), extend_to=frame, ordered=True)
    parts = np.asarray(shapely.get_parts(cells), dtype=object)
    tiles = shapely.make_valid(shapely.intersection(parts, frame))
    return np.asarray([polygonal_part(tile) for tile in tiles], dtype=object)


def place_county(
    county_polygon: BaseGeometry,
    townships: pd.DataFrame,
    communities: pd.DataFrame,
    rng: np.random.Generator,
) -> ModelledGeography:
    """Place the townships and communities of one county.

    Parameters
    ----------
    county_polygon
        The county in the working CRS.
    townships
        ``township_code`` and ``township_type`` of the county, sorted by code.
    communities
        ``community_code``, ``township_code`` and ``committee_type``, sorted by code.
    rng
        The generator all randomness is drawn from.
    """
    inner = _inset(county_polygon)
    seat_pt = shapely.get_point(shapely.maximum_inscribed_circle(inner, tolerance=200.0), 0)  # type: ignore[call-overload]
    seat = np.array([seat_pt.x, seat_pt.y])

    types = townships["township_type"].to_numpy()
    urban = types == "subdistrict"
    first_town = -1 if urban.any() else int(np.argmax(types == "town")) if (types == "town").any() else 0
    township_seats = np.zeros((len(types), 2))
    n_urban = int(urban.sum())
    if n_urban:
        cluster = _clustered(inner, seat, n_urban - 1, SUBDISTRICT_SPREAD_M * np.sqrt(n_urban), rng)
        township_seats[urban] = np.vstack([seat, cluster])
    spread = ~urban
    if first_town >= 0:
        township_seats[first_town] = seat
        spread[first_town] = False
    if spread.any():
        township_seats[spread] = _best_candidate(inner, int(spread.sum()), rng, existing=township_seats[~spread])
    township_polygons = _voronoi_tiles(township_seats, county_polygon)

    seat_parts: list[np.ndarray] = []
    poly_parts: list[np.ndarray] = []
    codes: list[str] = []
    for t, code in enumerate(townships["township_code"]):
        members = communities[communities["township_code"] == code]
        if members.empty:
            continue
        frame = township_polygons[t]
        frame_inner = _inset(frame)
        residents = (members["committee_type"] == "residents_committee").to_numpy()
        seats = np.zeros((len(members), 2))
        if residents.any():
            seats[residents] = _clustered(frame_inner, township_seats[t], int(residents.sum()), RESIDENTS_SPREAD_M, rng)
        if (~residents).any():
            seats[~residents] = _best_candidate(frame_inner, int((~residents).sum()), rng, existing=seats[residents])
        seat_parts.append(seats)
        poly_parts.append(_voronoi_tiles(seats, frame))
        codes.extend(members["community_code"])
    return ModelledGeography(
        county_seat=seat_pt,
        township_codes=list(townships["township_code"]),
        township_seats=township_seats,
        township_polygons=township_polygons,
        community_codes=codes,
        community_seats=np.concatenate(seat_parts),
        community_polygons=np.concatenate(poly_parts),
    )
