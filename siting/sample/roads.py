"""The sample's modelled rural road network: county, township and village roads along least-cost paths.

On a 1 km grid taken from the modelled DEM, a move costs the time to walk it
(Tobler's function, the mean of both directions, so the network is undirected),
three times that outside the province, plus a penalty for entering a river cell
(roads cross rivers rarely, on bridges); lake cells are not entered.

* County roads link the 129 county seats: one multi-source search from all seats
  splits the grid into least-cost regions; two neighbouring regions give a
  candidate road through their cheapest shared edge; the minimum spanning tree
  of the candidates plus the shorter fifth of the others (loops) are built.
* Township roads join each township seat to the county roads along its least-cost path.
* Village roads join each community seat to the nearest county or township road.

**Modelled**: where the roads run follows the modelled relief, not the real roads.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import scipy.sparse as sp
from affine import Affine
from scipy.sparse.csgraph import dijkstra, minimum_spanning_tree
from shapely.geometry import LineString

from siting.rasters import burn_mask

__all__ = ["ROAD_CELL_M", "model_roads"]

ROAD_CELL_M = 1_000.0
RIVER_PENALTY_MIN = 120.0
OUTSIDE_FACTOR = 3.0
EXTRA_LINK_SHARE = 0.2
_OFFSETS = ((0, 1), (1, -1), (1, 0), (1, 1))  # each undirected edge once


def _coarse(heights_m: np.ndarray, transform: Affine, factor: int) -> tuple[np.ndarray, Affine]:
    rows, cols = (heights_m.shape[0] // factor) * factor, (heights_m.shape[1] // factor) * factor
    blocks = heights_m[:rows, :cols].reshape(rows // factor, factor, cols // factor, factor)
    return blocks.mean(axis=(1, 3)), transform * Affine.scale(factor, factor)


def _graph(heights: np.ndarray, river: np.ndarray, lake: np.ndarray, inside: np.ndarray) -> sp.csr_array:
    """Undirected 8-neighbour graph of the cells, weights in minutes."""
    height, width = heights.shape
    index = np.arange(height * width).reshape(height, width)
    heads, tails, weights = [], [], []
    for dr, dc in _OFFSETS:
        r0, r1 = max(0, -dr), height - max(0, dr)
        c0, c1 = max(0, -dc), width - max(0, dc)
        a = (slice(r0, r1), slice(c0, c1))
        b = (slice(r0 + dr, r1 + dr), slice(c0 + dc, c1 + dc))
        length = ROAD_CELL_M * math.hypot(dr, dc)
        slope = (heights[b] - heights[a]) / length
        tobler = 5.0 * math.exp(0.175)
        kmh = 0.5 * (tobler * np.exp(-3.5 * np.abs(slope + 0.05)) + tobler * np.exp(-3.5 * np.abs(-slope + 0.05)))
        minutes = length * 0.06 / kmh
        minutes = minutes * np.where(inside[a] & inside[b], 1.0, OUTSIDE_FACTOR)
        minutes = minutes + RIVER_PENALTY_MIN * (river[a] | river[b])
        keep = ~(lake[a] | lake[b])
        heads.append(index[a][keep])
        tails.append(index[b][keep])
        weights.append(minutes[keep])
    head, tail, weight = np.concatenate(heads), np.concatenate(tails), np.concatenate(weights)
    n = height * width
    return sp.csr_array((np.r_[weight, weight], (np.r_[head, tail], np.r_[tail, head])), shape=(n, n))


def _trace(predecessors: np.ndarray, node: int) -> list[int]:
    path = [node]
    while predecessors[path[-1]] >= 0:
        path.append(int(predecessors[path[-1]]))
    return path


def _county_links(graph: sp.csr_array, seats: np.ndarray) -> list[list[int]]:
    """Cell paths of the county roads: least-cost regions, their cheapest links, MST plus short loops."""
    dist, pred, source = dijkstra(graph, indices=seats, min_only=True, return_predecessors=True)
    coo = graph.tocoo()
    a, b = coo.row, coo.col
    ok = (source[a] >= 0) & (source[b] >= 0) & (source[a] != source[b]) & (a < b)
    a, b = a[ok], b[ok]
    cost = dist[a] + coo.data[ok] + dist[b]
    region = {int(s): k for k, s in enumerate(seats)}
    pair_a = np.array([region[int(s)] for s in source[a]])
    pair_b = np.array([region[int(s)] for s in source[b]])
    low, high = np.minimum(pair_a, pair_b), np.maximum(pair_a, pair_b)
    order = np.lexsort((cost, high, low))
    first = np.r_[True, (low[order][1:] != low[order][:-1]) | (high[order][1:] != high[order][:-1])]
    best = order[first]
    links = sp.coo_array((cost[best], (low[best], high[best])), shape=(len(seats), len(seats)))
    tree = minimum_spanning_tree(links).tocoo()
    chosen = {(int(i), int(j)) for i, j in zip(tree.row, tree.col, strict=True)}
    others = sorted(
        (float(c), int(i), int(j))
        for c, i, j in zip(cost[best], low[best], high[best], strict=True)
        if (int(i), int(j)) not in chosen
    )
    chosen |= {(i, j) for _, i, j in others[: int(len(others) * EXTRA_LINK_SHARE)]}
    by_pair = {(int(low[k]), int(high[k])): k for k in best}
    paths = []
    for pair in sorted(chosen):
        k = by_pair[pair]
        paths.append(_trace(pred, int(a[k]))[::-1] + _trace(pred, int(b[k])))
    return paths


def _joins(graph: sp.csr_array, network: np.ndarray, starts: np.ndarray) -> list[list[int]]:
    """Least-cost path from each start cell to the nearest cell of ``network``."""
    _, pred, _ = dijkstra(graph, indices=network, min_only=True, return_predecessors=True)
    return [_trace(pred, int(s)) for s in starts]


def _passable_cells(rows: np.ndarray, cols: np.ndarray, lake: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    _, (near_r, near_c) = ndimage.distance_transform_edt(lake, return_indices=True)
    rows, cols = near_r[rows, cols], near_c[rows, cols]
    return rows * lake.shape[1] + cols


def model_roads(
    heights_m: np.ndarray,
    transform: Affine,
    *,
    province: gpd.GeoSeries,
    rivers: gpd.GeoSeries,
    lakes: gpd.GeoSeries,
    county_seats: np.ndarray,
    township_seats: np.ndarray,
    community_seats: np.ndarray,
) -> gpd.GeoDataFrame:
    """County, township and village roads (working CRS lines with ``class``) over the modelled DEM.

    Seats are (n, 2) coordinate arrays in the DEM's CRS.
    """
    factor = max(1, round(ROAD_CELL_M / transform.a))
    heights, coarse = _coarse(heights_m, transform, factor)
    shape = heights.shape

    lake = burn_mask(lakes, shape=shape, transform=coarse)
    rivers_mask = burn_mask(rivers, shape=shape, transform=coarse, all_touched=True)
    graph = _graph(heights, rivers_mask, lake, burn_mask(province, shape=shape, transform=coarse, all_touched=True))

    def cells(xy: np.ndarray) -> np.ndarray:
        cols, rows = ~coarse * (xy[:, 0], xy[:, 1])
        rows = np.clip(np.floor(rows).astype(int), 0, shape[0] - 1)
        cols = np.clip(np.floor(cols).astype(int), 0, shape[1] - 1)
        return _passable_cells(rows, cols, lake)

    county_paths = _county_links(graph, cells(county_seats))
    county_cells = np.unique(np.concatenate(county_paths))
    township_paths = _joins(graph, county_cells, cells(township_seats))
    network = np.unique(np.concatenate([county_cells, *township_paths]))
    village_paths = _joins(graph, network, cells(community_seats))
    rows, classes = [], []
    for name, paths, ends in (
        ("county", county_paths, None),
        ("township", township_paths, township_seats),
        ("village", village_paths, community_seats),
    ):
        for k, path in enumerate(paths):
            r, c = np.divmod(np.asarray(path), shape[1])
            x, y = coarse * (c + 0.5, r + 0.5)  # type: ignore[operator]
            xy = np.column_stack([x, y])
            if ends is not None:
                xy = np.vstack([ends[k], xy])
            if len(xy) >= 2:
                rows.append(LineString(xy))
                classes.append(name)
    return gpd.GeoDataFrame({"class": classes}, geometry=rows, crs=None)
