"""Reductions of covering models that never change their optimum: merged rows, dominated sites, set-cover rules."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = ["covered_by", "dominated_sites", "merge_identical_rows", "reduce_set_cover"]


def merge_identical_rows(cover: sp.csr_array, weights: np.ndarray) -> tuple[sp.csr_array, np.ndarray]:
    """Merge demand rows that the same set of sites covers, summing their weights.

    Rows with the same column set are interchangeable in covering models, so
    this shrinks the model without changing its optimum.
    """
    cover = cover.tocsr()
    cover.sort_indices()
    keys = [cover.indices[cover.indptr[r] : cover.indptr[r + 1]].tobytes() for r in range(cover.shape[0])]
    _, first, inverse = np.unique(np.array(keys, dtype=object), return_index=True, return_inverse=True)
    merged_w = np.bincount(inverse, weights=weights, minlength=len(first))
    return cover[first].tocsr(), merged_w


def dominated_sites(cover_csc: sp.csc_array, site_cost: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Candidate columns covered by another candidate that covers a superset and costs no more.

    Ties (identical columns and cost) keep the first. Used only when no
    per-township rule could make a dominated site necessary.
    """
    cover_csc = cover_csc.tocsc()
    cols = {int(j): set(cover_csc.indices[cover_csc.indptr[j] : cover_csc.indptr[j + 1]].tolist()) for j in candidates}
    by_row: dict[int, list[int]] = {}
    for j, rows in cols.items():
        for r in rows:
            by_row.setdefault(r, []).append(j)
    dominated: list[int] = []
    for j, rows in cols.items():
        if not rows:
            dominated.append(j)
            continue
        pivot = min(rows, key=lambda r: len(by_row[r]))
        for other in by_row[pivot]:
            if other == j or site_cost[other] > site_cost[j]:
                continue
            other_rows = cols[other]
            if rows <= other_rows and (len(other_rows) > len(rows) or site_cost[other] < site_cost[j] or other < j):
                dominated.append(j)
                break
    return np.array(sorted(dominated), dtype=np.int64)


def reduce_set_cover(
    cover: sp.csr_array, rows: np.ndarray, columns: np.ndarray, cost: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Classic set-covering reductions, repeated until nothing changes.

    1. a row that only one column covers forces that column open;
    2. a row whose column set contains another row's set is implied by it;
    3. a column whose rows are a subset of a no-dearer column's rows is dropped.

    Parameters
    ----------
    cover
        Rows × columns 0/1 matrix (all rows and columns of the problem).
    rows, columns
        Rows that must be covered and columns that may be opened.
    cost
        Cost per column.

    Returns
    -------
    tuple
        ``(forced_columns, remaining_rows, remaining_columns)``: an optimum of the
        reduced problem plus the forced columns is an optimum of the original.
    """
    a = sp.csr_array(cover).astype(np.int32)
    a.data[:] = 1
    row_alive = np.zeros(a.shape[0], dtype=bool)
    row_alive[rows] = True
    col_alive = np.zeros(a.shape[1], dtype=bool)
    col_alive[columns] = True
    forced = np.zeros(a.shape[1], dtype=bool)
    cost = np.asarray(cost, dtype=float)
    # Subset tests by sparse products: |S_r ∩ S_i| = |S_r| means S_r ⊆ S_i.
    while True:
        changed = False
        sub = a[row_alive][:, col_alive].tocsr()
        row_ids, col_ids = np.flatnonzero(row_alive), np.flatnonzero(col_alive)
        row_size = np.diff(sub.indptr)
        # 1. rows with a single column force it; rows it covers are done.
        single = row_size == 1
        if single.any():
            picked = col_ids[np.unique(sub.indices[sub.indptr[:-1][single]])]
            forced[picked] = True
            col_alive[picked] = False
            row_alive[row_ids[covered_by(a[row_ids][:, picked], np.arange(len(picked)))]] = False
            continue
        # 2. a row whose columns include another row's is implied by it (identical rows: keep the first).
        overlap = (sub @ sub.T).tocoo()
        r, i = overlap.row, overlap.col
        implied = (
            (r != i)
            & (overlap.data == row_size[r])
            & ((row_size[i] > row_size[r]) | ((row_size[i] == row_size[r]) & (i > r)))
        )
        if implied.any():
            row_alive[row_ids[np.unique(i[implied])]] = False
            changed = True
        # 3. a column whose rows are a subset of a no-dearer column's is never needed.
        by_col = a[row_alive][:, col_alive].tocsc()
        col_ids = np.flatnonzero(col_alive)
        col_size = np.diff(by_col.indptr)
        empty = col_size == 0
        overlap = (by_col.T @ by_col).tocoo()
        c, o = overlap.row, overlap.col
        cc, co = cost[col_ids[c]], cost[col_ids[o]]
        dominated = (
            (c != o)
            & (overlap.data == col_size[c])
            & (co <= cc)
            & ((col_size[o] > col_size[c]) | (co < cc) | (col_ids[o] < col_ids[c]))
        )
        drop = np.union1d(col_ids[empty], col_ids[np.unique(c[dominated])])
        if len(drop):
            col_alive[drop] = False
            changed = True
        if not changed:
            break
    return (
        np.flatnonzero(forced).astype(np.int64),
        np.flatnonzero(row_alive).astype(np.int64),
        np.flatnonzero(col_alive).astype(np.int64),
    )


def covered_by(cover: Any, columns: np.ndarray) -> np.ndarray:
    """Boolean per row: covered by at least one of ``columns``."""
    covered = np.zeros(cover.shape[0], dtype=bool)
    if len(columns):
        covered[np.unique(cover[:, columns].tocoo().row)] = True
    return covered
