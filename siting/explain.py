"""Why a home is here and why a village is left out, in words a bureau can read.

For every new home: the children it adds that no other home of the plan reaches, the best
other candidate site of its township and what that site would add in its place (with every
other home kept), and its share of the build cost. For every village left uncovered: no
candidate site within the standard; every site within it excluded by the user; or the
budget spent, with what the best site within reach would add against the least any new
home of the plan adds.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from siting.access import Access, format_cost

__all__ = ["KIND_LABELS", "LIMIT_WORDS", "explain_homes", "explain_uncovered"]


def _open_counts(cover: Any, open_pos: np.ndarray) -> np.ndarray:
    """How many open sites reach each demand row."""
    return np.diff(sp.csr_array(cover)[:, np.asarray(open_pos, dtype=np.int64)].tocsr().indptr)


def explain_homes(
    homes: pd.DataFrame,
    access: Access,
    *,
    children: np.ndarray,
    site_township: pd.Series,
    excluded: Sequence[str],
    site_names: pd.Series,
) -> pd.DataFrame:
    """``homes`` with, for new homes, the township's best alternative, what it would add, the cost share, a ``why``.

    Parameters
    ----------
    homes
        :func:`siting.allocation.describe_homes`' table (``site_id``, ``new``, ``children_added``,
        ``cost_cny``).
    access
        The run's access (its standard and boundary rule).
    children
        Children per demand point, in the access's demand order.
    site_township
        Site id → township code, for every candidate site.
    excluded
        Sites the user excluded (never an alternative).
    site_names
        Site id → the name to show (its village).
    """
    out = homes.copy()
    cover = access.within_standard().tocsc()
    n_rows = cover.shape[0]
    open_ids = out["site_id"].astype(str).tolist()
    open_pos = access.costs.site_positions(open_ids)
    counts = _open_counts(cover, open_pos)
    barred = set(map(str, excluded)) | set(open_ids)
    candidates = pd.Series(access.site_ids.astype(str)).groupby(site_township.reindex(access.site_ids).to_numpy())
    by_town = {str(t): [s for s in ids if s not in barred] for t, ids in candidates}
    position = pd.Series(np.arange(len(access.site_ids)), index=access.site_ids.astype(str))
    alt_id: list[str | None] = []
    alt_added: list[float] = []
    for pos, town, new in zip(open_pos, out["township_code"].astype(str), out["new"], strict=True):
        if not new:
            alt_id.append(None)
            alt_added.append(np.nan)
            continue
        rows = cover.indices[cover.indptr[pos] : cover.indptr[pos + 1]]
        left = np.zeros(n_rows, dtype=bool)  # rows no home reaches once this one is taken out
        left[rows[counts[rows] == 1]] = True
        left |= counts == 0
        best, gain = None, -1.0
        for other in by_town.get(town, []):
            j = position[other]
            reach = cover.indices[cover.indptr[j] : cover.indptr[j + 1]]
            added = float(children[reach[left[reach]]].sum())
            if added > gain:
                best, gain = other, added
        alt_id.append(best)
        alt_added.append(gain if best is not None else np.nan)
    out["alternative_site_id"] = alt_id
    out["alternative_name"] = [None if s is None else str(site_names.get(s, s)) for s in alt_id]
    out["alternative_added"] = alt_added
    spent = float(out.loc[out["new"], "cost_cny"].sum())
    out["cost_share_pct"] = np.where(out["new"] & (spent > 0), 100 * out["cost_cny"] / max(spent, 1e-300), np.nan)
    out["why"] = [_home_words(r) if r["new"] else "" for r in out.to_dict("records")]
    return out


def _home_words(row: Mapping[Hashable, object]) -> str:
    added = float(row["children_added"])  # type: ignore[arg-type]
    words_zh = [f"新增覆盖儿童 {added:,.0f} 名(其他儿童之家均不可及)"]
    words_en = [f"adds {added:,.0f} children no other home reaches"]
    other = row.get("alternative_name")
    if other is None or not np.isfinite(float(row.get("alternative_added", np.nan))):  # type: ignore[arg-type]
        words_zh.append("本乡镇无其他可选址点")
        words_en.append("no other candidate site in its township")
    else:
        alt = float(row["alternative_added"])  # type: ignore[arg-type]
        if round(alt) < round(added):
            zh, en = "仅可新增", "only"
        elif round(alt) == round(added):
            zh, en = "同样可新增", "as many,"
        else:
            zh, en = "可新增更多", "more,"
        words_zh.append(f"本乡镇次优选址 {other} {zh} {alt:,.0f} 名")
        words_en.append(f"the best other site in its township, {other}, would add {en} {alt:,.0f}")
    share = row.get("cost_share_pct")
    if isinstance(share, float) and np.isfinite(share):
        words_zh.append(f"占建设资金 {share:.2f}%")
        words_en.append(f"{share:.2f} % of the build cost")
    return "；".join(words_zh) + " / " + "; ".join(words_en)


#: What stopped the plan short of a village, by model: (Chinese, English).
LIMIT_WORDS = {
    "budget": ("资金已用完", "budget spent"),
    "homes": ("新建数量已满", "the number of new homes is reached"),
    "share": ("已达到要求的覆盖比例", "the share asked is covered"),
    "p": ("儿童之家数量已定", "the number of homes is set"),
}


#: Short labels of the kinds of reason, for a sheet that prints one line a village.
KIND_LABELS = {
    "beyond": "超出标准 beyond",
    "excluded": "被排除 excluded",
    "budget": "资金用完 budget",
    "homes": "数量已满 homes",
    "share": "比例已达 share",
    "p": "数量已定 p",
}


def explain_uncovered(
    uncovered: pd.DataFrame,
    access: Access,
    *,
    children: np.ndarray,
    demand_community: np.ndarray,
    open_site_ids: Sequence[str],
    excluded: Sequence[str],
    least_added: float | None,
    site_names: pd.Series,
    limit: str = "budget",
) -> pd.DataFrame:
    """``uncovered`` (one row per village left out) with ``reason_kind`` and ``reason`` in words.

    ``demand_community`` is each demand point's community code (access order);
    ``least_added`` the fewest children a new home of the plan adds (None: no new home);
    ``limit`` what stopped the plan (a key of :data:`LIMIT_WORDS`).
    """
    out = uncovered.copy()
    cover = access.within_standard().tocsr()
    csc = cover.tocsc()
    rows_of = pd.Series(np.arange(len(demand_community))).groupby(np.asarray(demand_community).astype(str)).indices
    stop_zh, stop_en = LIMIT_WORDS[limit]
    barred = np.zeros(len(access.site_ids), dtype=bool)
    barred[access.costs.site_positions([s for s in map(str, excluded) if s in set(access.site_ids.astype(str))])] = True
    counts = _open_counts(cover, access.costs.site_positions(list(open_site_ids)))
    kinds, words = [], []
    standard = format_cost(access.standard, access.unit)
    for code in out["community_code"].astype(str):
        own = rows_of.get(code, np.zeros(0, dtype=np.int64))
        parts = [cover.indices[cover.indptr[i] : cover.indptr[i + 1]] for i in own]
        sites = np.unique(np.concatenate(parts)).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)
        if len(sites) == 0:
            kinds.append("beyond")
            words.append(
                f"所有候选点均在服务标准({standard})之外 / beyond the standard ({standard}) from every candidate site"
            )
            continue
        allowed = sites[~barred[sites]]
        if len(allowed) == 0:
            kinds.append("excluded")
            words.append(
                f"可及的 {len(sites)} 个候选点均被排除(locked_out 或站点距离规则) / every site within reach "
                f"({len(sites)}) was excluded (locked_out or the station distance rule)"
            )
            continue
        gains = []
        for j in allowed:
            rows = csc.indices[csc.indptr[j] : csc.indptr[j + 1]]
            gains.append(float(children[rows[counts[rows] == 0]].sum()))
        best = int(np.argmax(gains))
        name = str(site_names.get(str(access.site_ids[allowed[best]]), access.site_ids[allowed[best]]))
        kinds.append(limit)
        least = "" if least_added is None else f",少于入选新建儿童之家的最少新增 {least_added:,.0f} 名"
        least_en = "" if least_added is None else f", fewer than the {least_added:,.0f} the least-adding new home adds"
        words.append(
            f"{stop_zh}:可覆盖本村的最佳候选点 {name} 可新增 {gains[best]:,.0f} 名{least} / {stop_en}: the best site "
            f"within reach, {name}, would add {gains[best]:,.0f} children{least_en}"
        )
    out["reason_kind"] = kinds
    out["reason"] = words
    return out
