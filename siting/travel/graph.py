"""The travel grid as an explicit graph, for checking the search against scipy and for benchmarks.

A run never builds it: it holds 8 moves per cell (the province at 200 m is about 6 GB).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from siting.travel.cycling import bicycle_kmh
from siting.travel.grid import TravelGrid
from siting.travel.search import _DC, _DR

__all__ = ["grid_graph"]


def grid_graph(grid: TravelGrid, *, reverse: bool = False) -> sp.csr_array:
    """The grid as an explicit directed graph (scipy CSR, minutes per move), with the moves the search makes.

    For checks and benchmarks against :func:`scipy.sparse.csgraph.dijkstra`; a run never
    builds it (it holds 8 moves per cell). ``reverse`` gives each move the cost of the
    opposite direction of travel, as the search's ``reverse``.
    """
    height, width = grid.shape
    index = np.arange(height * width).reshape(height, width)
    # The search computes in float64 whatever the grid stores: so does the graph.
    speed, walking = grid.speed_kmh.astype(np.float64), grid.walking
    bicycling = np.zeros_like(walking) if grid.bicycling is None else grid.bicycling
    heights = grid.elevation_m.astype(np.float64)
    heads, tails, minutes = [], [], []
    for dr, dc in zip(_DR.tolist(), _DC.tolist(), strict=True):
        r0, r1 = max(0, -dr), height - max(0, dr)
        c0, c1 = max(0, -dc), width - max(0, dc)
        a = (slice(r0, r1), slice(c0, c1))
        b = (slice(r0 + dr, r1 + dr), slice(c0 + dc, c1 + dc))
        ok = (speed[a] > 0) & (speed[b] > 0)
        if dr and dc and grid.corner_rule:  # the corner rule: not between two impassable cells
            side_1 = speed[slice(r0 + dr, r1 + dr), slice(c0, c1)] > 0
            side_2 = speed[slice(r0, r1), slice(c0 + dc, c1 + dc)] > 0
            ok &= side_1 | side_2
        length = grid.resolution_m * (math.sqrt(2.0) if dr and dc else 1.0)
        start, end = (b, a) if reverse else (a, b)  # the direction of travel
        slope = (heights[end] - heights[start]) / length
        slower = np.exp(3.5 * np.abs(slope + 0.05) - 0.175)
        half = 0.03 * length
        cost = np.zeros(slope.shape)
        for cell in (start, end):
            flat = np.where(speed[cell] > 0, speed[cell], 1.0)
            cycled = np.where(bicycling[cell], bicycle_kmh(flat, slope) / flat, 1.0)
            cost += half * np.where(walking[cell], slower, 1.0) / (flat * cycled)
        heads.append(index[a][ok])
        tails.append(index[b][ok])
        minutes.append(cost[ok])
    n = height * width
    head, tail, cost = np.concatenate(heads), np.concatenate(tails), np.concatenate(minutes)
    return sp.csr_array((cost, (head, tail)), shape=(n, n))
