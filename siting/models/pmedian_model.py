"""Building blocks of the p-median: stored pairs sorted per demand point, the model as arrays, nearest open sites."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from siting.costs import CostMatrix
from siting.models.lagrange import cheapest_open
from siting.models.sites import SiteRules
from siting.models.solver import MatrixModel

__all__ = ["Pairs", "nearest_open", "pmedian_model", "sorted_pairs"]


@dataclass(frozen=True)
class Pairs:
    """Stored pairs to sites that may open, sorted by demand then cost; demand rows have ≥ 1 pair."""

    demand: np.ndarray  # demand position of each row
    rows: np.ndarray  # row of each pair
    cols: np.ndarray  # site position of each pair
    cost: np.ndarray  # cost of each pair (costs.unit)
    rank: np.ndarray  # 0 for a row's cheapest pair, 1 for the next, ...
    count: np.ndarray  # pairs per row
    starts: np.ndarray  # first pair of each row, and len(pairs) at the end


def sorted_pairs(costs: CostMatrix, allowed: np.ndarray) -> Pairs:
    """The stored pairs to sites that may open, sorted by demand point then cost."""
    matrix = costs.matrix.tocoo()
    keep = allowed[matrix.col]
    demand, cols, cost = matrix.row[keep].astype(np.int64), matrix.col[keep].astype(np.int64), matrix.data[keep]
    order = np.lexsort((cols, cost, demand))
    demand, cols, cost = demand[order], cols[order], cost[order]
    positions, rows, count = np.unique(demand, return_inverse=True, return_counts=True)
    starts = np.concatenate([[0], np.cumsum(count)])
    rank = np.arange(len(rows)) - starts[rows]
    return Pairs(positions, rows, cols, cost, rank, count, starts)


def pmedian_model(
    pairs: Pairs,
    keep: np.ndarray,
    *,
    w: np.ndarray,
    beyond_w: np.ndarray,
    n_sites: int,
    p: int,
    rules: SiteRules,
    shut: np.ndarray,
    opened: np.ndarray,
    capacity: np.ndarray | None,
) -> tuple[MatrixModel, float]:
    r"""The (restricted) p-median as arrays: variables x (sites), z (kept pairs), b (beyond options)."""
    rows, cols = pairs.rows[keep], pairs.cols[keep]
    wcost = w[rows] * pairs.cost[keep]
    n_rows, n_pairs = len(pairs.demand), len(rows)
    with_beyond = np.flatnonzero(np.isfinite(beyond_w))
    n_vars = n_sites + n_pairs + len(with_beyond)
    z0, b0 = n_sites, n_sites + n_pairs
    scale = float(max(np.abs(wcost).max(initial=0.0), np.abs(beyond_w[with_beyond]).max(initial=0.0), 1.0)) / 1e4

    cost = np.zeros(n_vars)
    cost[z0:b0] = wcost / scale
    cost[b0:] = beyond_w[with_beyond] / scale
    lower, upper = np.zeros(n_vars), np.ones(n_vars)
    allowed = rules.allowed(n_sites)
    upper[:n_sites] = (allowed & ~shut).astype(float)
    lower[rules.fixed] = 1.0
    lower[:n_sites][opened] = 1.0
    integer = np.zeros(n_vars, dtype=bool)
    integer[:n_sites] = True
    if capacity is not None:
        integer[z0:b0] = True  # single-source assignment

    blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    row_lower: list[np.ndarray] = []
    row_upper: list[np.ndarray] = []
    # Σ_j z_ij + b_i = 1
    blocks.append((rows, z0 + np.arange(n_pairs), np.ones(n_pairs)))
    blocks.append((with_beyond, b0 + np.arange(len(with_beyond)), np.ones(len(with_beyond))))
    row_lower.append(np.ones(n_rows))
    row_upper.append(np.ones(n_rows))
    first = n_rows
    # z_ij - x_j ≤ 0 (with a capacity too: it tightens the relaxation)
    link = first + np.arange(n_pairs)
    blocks.append((link, z0 + np.arange(n_pairs), np.ones(n_pairs)))
    blocks.append((link, cols, -np.ones(n_pairs)))
    row_lower.append(np.full(n_pairs, -np.inf))
    row_upper.append(np.zeros(n_pairs))
    first += n_pairs
    if capacity is not None:
        # Σ_i w_i z_ij - Q_j x_j ≤ 0
        sites = np.unique(cols)
        site_row = first + np.searchsorted(sites, cols)
        blocks.append((site_row, z0 + np.arange(n_pairs), w[rows]))
        blocks.append((first + np.arange(len(sites)), sites, -capacity[sites]))
        row_lower.append(np.full(len(sites), -np.inf))
        row_upper.append(np.zeros(len(sites)))
        first += len(sites)
    # Σ_j x_j = p
    blocks.append((np.full(n_sites, first), np.arange(n_sites), np.ones(n_sites)))
    row_lower.append(np.array([float(p)]))
    row_upper.append(np.array([float(p)]))
    first += 1
    for _town, positions, need in rules.township_minimums():
        blocks.append((np.full(len(positions), first), positions, np.ones(len(positions))))
        row_lower.append(np.array([float(need)]))
        row_upper.append(np.array([np.inf]))
        first += 1
    r = np.concatenate([b[0] for b in blocks])
    c = np.concatenate([b[1] for b in blocks])
    v = np.concatenate([b[2] for b in blocks])
    model = MatrixModel(
        name="pmedian" if capacity is None else "capacitated_pmedian",
        maximise=False,
        cost=cost,
        lower=lower,
        upper=upper,
        integer=integer,
        matrix=sp.csr_array((v, (r, c)), shape=(first, n_vars)),
        row_lower=np.concatenate(row_lower),
        row_upper=np.concatenate(row_upper),
    )
    return model, scale


def nearest_open(pairs: Pairs, open_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per demand row: cost and site of the cheapest open stored pair (``inf`` / -1 when none)."""
    best = cheapest_open(pairs.starts, pairs.cols, pairs.cost, open_mask)
    # pairs are sorted by cost within a row, so the first open pair is the cheapest
    first_open = np.full(len(pairs.demand), -1, dtype=np.int64)
    hit = np.flatnonzero(open_mask[pairs.cols])[::-1]
    first_open[pairs.rows[hit]] = pairs.cols[hit]
    return best, first_open
