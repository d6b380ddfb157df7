"""PNG charts with Chinese-first labels (matplotlib, CJK font found on the system)."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path

import matplotlib
import pandas as pd
from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from siting.errors import SitingWarning

__all__ = ["budget_curve_chart", "cjk_font", "compare_chart", "lorenz_chart", "phasing_chart"]

CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Noto Sans SC",
    "WenQuanYi Zen Hei",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
    "Source Han Sans SC",
)


def cjk_font() -> str | None:
    """A font family that draws Chinese, or None (with a warning that says what to install)."""
    for attempt in range(2):
        installed = {f.name for f in font_manager.fontManager.ttflist}
        for family in CJK_FAMILIES:
            if family in installed:
                return family
        if attempt == 0:  # fonts installed after matplotlib built its cache: rebuild it once
            try:
                font_manager.fontManager = font_manager._load_fontmanager(try_read_cache=False)  # type: ignore[attr-defined]
            except Exception:  # pragma: no cover - private API; fall through to the message
                break
    warnings.warn(
        "no CJK font found, so chart labels are English only; install one (Debian/Ubuntu: "
        "apt-get install fonts-noto-cjk) and delete matplotlib's font cache (~/.cache/matplotlib)",
        SitingWarning,
        stacklevel=2,
    )
    return None


def _label(zh: str, en: str, font: str | None) -> str:
    return f"{zh} {en}" if font else en


@contextlib.contextmanager
def _chart(path: Path, *, size: tuple[float, float]) -> Iterator[tuple[Axes, str | None]]:
    """Axes to draw on, in a CJK font when there is one; the figure is saved to ``path`` and closed."""
    font = cjk_font()
    # A Figure of its own, not pyplot's: importing this module never changes the backend, so a
    # notebook's own charts still show inline (pyplot's figures are the notebook's business).
    with matplotlib.rc_context({"font.family": font} if font else {}):
        fig = Figure(figsize=size)
        ax = fig.subplots()
        yield ax, font
        fig.tight_layout()
        fig.savefig(path, dpi=110)


def budget_curve_chart(curve: pd.DataFrame, path: Path, *, title: str) -> Path:
    """Children covered against budget, with the marginal children per 10,000 CNY on a second axis."""
    with _chart(path, size=(8, 4.5)) as (ax, font):
        ax.plot(curve["budget_cny"] / 1e6, curve["children_covered"] / 1e3, marker="o", color="#2b8cbe")
        ax.set_xlabel(_label("预算(百万元)", "budget (million CNY)", font))
        ax.set_ylabel(_label("覆盖儿童(千人)", "children covered (thousands)", font))
        twin = ax.twinx()
        twin.bar(
            curve["budget_cny"] / 1e6, curve["marginal_children_per_10k_cny"], width=0.4, alpha=0.3, color="#ff7f00"
        )
        twin.set_ylabel(_label("每万元新增覆盖", "children added per 10,000 CNY", font))
        ax.set_title(title)
    return path


def compare_chart(table: pd.DataFrame, path: Path) -> Path:
    """Children covered (%) and new homes per run."""
    with _chart(path, size=(8, 4.5)) as (ax, font):
        ax.bar(table["run"], table["children_covered_pct"], color="#2b8cbe")
        for k, (pct, homes) in enumerate(zip(table["children_covered_pct"], table["homes_new"], strict=True)):
            ax.text(k, pct, f"{pct:.1f}% / +{homes}", ha="center", va="bottom")
        ax.set_ylabel(_label("儿童覆盖率 %", "children covered %", font))
        ax.set_title(_label("方案比较", "scenario comparison", font))
        ax.tick_params(axis="x", labelrotation=15)
    return path


def phasing_chart(table: pd.DataFrame, path: Path) -> Path:
    """Children covered at the end of each year, with the proven bound."""
    with _chart(path, size=(7, 4)) as (ax, font):
        years = table["year"].astype(str)
        ax.bar(years, table["covered"] / 1e3, color="#2b8cbe", label=_label("覆盖儿童", "children covered", font))
        if table["bound"].notna().all():
            ax.plot(years, table["bound"] / 1e3, "k_", markersize=30, label=_label("上界", "bound", font))
        for k, (covered, built) in enumerate(zip(table["covered"], table["homes_built"], strict=True)):
            ax.text(k, covered / 1e3, f"+{built}", ha="center", va="bottom")
        ax.set_ylabel(_label("覆盖儿童(千人)", "children covered (thousands)", font))
        ax.set_title(_label("分年建设", "children covered by year", font))
        ax.legend(loc="lower right")
    return path


def lorenz_chart(borne: pd.DataFrame, path: Path) -> Path:
    """Lorenz curves of the cost to the nearest home over each prefecture's children, with their Gini.

    ``borne`` has ``prefecture`` (its name), ``children`` and ``cost`` per demand point; the equality
    line is the diagonal. A curve far below it means a few children bear most of the distance.
    """
    from siting.report.equity import gini, lorenz_points

    with _chart(path, size=(7, 6)) as (ax, font):
        ax.plot([0, 1], [0, 1], color="#999999", linewidth=1, label=_label("完全均等", "equal access", font))
        for name, group in borne.groupby("prefecture"):
            cost, weight = group["cost"].to_numpy(dtype=float), group["children"].to_numpy(dtype=float)
            x, y = lorenz_points(cost, weight)
            ax.plot(x, y, linewidth=1, label=f"{name} (Gini {gini(cost, weight):.2f})")
        ax.set_xlabel(_label("儿童累计占比", "cumulative share of children (nearest first)", font))
        ax.set_ylabel(_label("距离/时间累计占比", "cumulative share of distance or time", font))
        ax.set_title(_label("到最近儿童之家的洛伦兹曲线", "Lorenz curves of access, by prefecture", font))
        ax.legend(fontsize=6, ncol=2, loc="upper left")
    return path
