"""Folium maps that work offline: Leaflet is inlined, no tile server is needed."""

from __future__ import annotations

import base64
import html
import os
import re
import tempfile
from pathlib import Path

import folium
import geopandas as gpd
import shapely
from branca.element import Element

__all__ = ["OfflineMap", "plan_map", "render_map", "save_map"]

LEAFLET_VERSION = "1.9.3"
DISPLAY_SIMPLIFY_M = 200.0
DISPLAY_PRECISION_DEG = 1e-5
COVERED_COLOUR = "#2b8cbe"
UNCOVERED_COLOUR = "#e34a33"
EXISTING_COLOUR = "#31a354"
NEW_COLOUR = "#ff7f00"


def _leaflet_assets() -> tuple[str, str]:
    """Leaflet's JS and CSS from the ``xstatic-leaflet`` package, images inlined."""
    import xstatic.pkg.leaflet as xleaflet

    if xleaflet.VERSION != LEAFLET_VERSION:
        raise RuntimeError(
            f"xstatic-leaflet ships Leaflet {xleaflet.VERSION}, folium expects {LEAFLET_VERSION}; "
            f"pip install 'xstatic-leaflet=={LEAFLET_VERSION}.*'"
        )
    base = Path(xleaflet.BASE_DIR)
    js = (base / "leaflet.js").read_text(encoding="utf-8")
    css = (base / "leaflet.css").read_text(encoding="utf-8")

    def inline(match: re.Match[str]) -> str:
        image = base / match.group(1)
        data = base64.b64encode(image.read_bytes()).decode("ascii")
        return f"url(data:image/png;base64,{data})"

    css = re.sub(r"url\((images/[\w.-]+\.png)\)", inline, css)
    return js, css


class OfflineMap(folium.Map):
    """A :class:`folium.Map` whose HTML loads nothing from the network.

    Folium's CDN scripts (Leaflet, jQuery, Bootstrap, Font Awesome) are
    replaced by Leaflet inlined from ``xstatic-leaflet``; the map uses only
    Leaflet's own vector layers, so nothing else is needed.
    """

    default_js: list[tuple[str, str]] = []  # noqa: RUF012 (folium's own attribute)
    default_css: list[tuple[str, str]] = []  # noqa: RUF012

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("tiles", None)
        super().__init__(**kwargs)  # type: ignore[arg-type]
        js, css = _leaflet_assets()
        header = self.get_root().header  # type: ignore[attr-defined]
        header.add_child(Element(f"<style>{css}</style>"), name="leaflet_css_inline", index=0)
        header.add_child(Element(f"<script>{js}</script>"), name="leaflet_js_inline", index=1)


def _to_display(gdf: gpd.GeoDataFrame, *, simplify_m: float = DISPLAY_SIMPLIFY_M) -> gpd.GeoDataFrame:
    """Simplify in metres (for display only), convert to EPSG:4326, round to ~1 m."""
    out = gdf.copy()
    if out.crs is not None and out.crs.is_projected and simplify_m > 0:
        out["geometry"] = out.geometry.simplify(simplify_m, preserve_topology=True)
    out = out.to_crs("EPSG:4326")
    out["geometry"] = shapely.set_precision(out.geometry.to_numpy(), DISPLAY_PRECISION_DEG)
    return out


def _escape(value: object) -> str:
    """Text from data made safe for HTML and for a JavaScript template literal."""
    text = html.escape(str(value), quote=True)
    return text.replace("`", "&#96;").replace("$", "&#36;").replace("\\", "&#92;")


def plan_map(
    *,
    counties: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    homes: gpd.GeoDataFrame,
    title_zh: str,
    title_en: str,
    summary_lines: list[str],
    modelled: bool,
) -> folium.Map:
    """Draw a plan: county outlines, communities by coverage, existing and new homes.

    Parameters
    ----------
    counties
        County polygons with ``county_name_zh``, ``county_name_en``.
    communities
        Community polygons with ``community_name``, ``children``, ``covered``,
        ``site_id`` and ``distance_m`` (working CRS).
    homes
        Open homes with ``site_id``, ``community_name``, ``existing``,
        ``children_served`` (working CRS).
    title_zh, title_en
        Title block text.
    summary_lines
        Lines under the title (already bilingual).
    modelled
        Show the "模拟数据 / modelled data" notice.
    """
    county_disp = _to_display(counties[["county_name_zh", "county_name_en", "geometry"]], simplify_m=0)
    min_lon, min_lat, max_lon, max_lat = county_disp.total_bounds
    fmap = OfflineMap(
        location=[(min_lat + max_lat) / 2, (min_lon + max_lon) / 2],
        zoom_start=7,
        control_scale=True,
        prefer_canvas=True,
    )
    fmap.fit_bounds([[min_lat, min_lon], [max_lat, max_lon]])

    com = communities[["community_name", "children", "covered", "site_id", "distance_m", "geometry"]].copy()
    com["label"] = [
        f"{_escape(n)}<br>儿童 children: {c:,.0f}<br>"
        + (f"儿童之家 home: {_escape(s)} ({d / 1000:.1f} km)" if cov else "未覆盖 not covered")
        for n, c, cov, s, d in zip(
            com["community_name"], com["children"], com["covered"], com["site_id"], com["distance_m"], strict=True
        )
    ]
    com = _to_display(com[["label", "covered", "geometry"]])
    com["covered"] = com["covered"].astype(bool)
    layer = folium.FeatureGroup(name="村(社区)覆盖 communities covered / not covered", show=True)
    folium.GeoJson(
        com,
        style_function=lambda f: {
            "fillColor": COVERED_COLOUR if f["properties"]["covered"] else UNCOVERED_COLOUR,
            "color": "#555555",
            "weight": 0.3,
            "fillOpacity": 0.45,
        },
        tooltip=folium.GeoJsonTooltip(fields=["label"], labels=False),
    ).add_to(layer)
    layer.add_to(fmap)

    outline = folium.FeatureGroup(name="县界 county outlines", show=True)
    county_disp["label"] = [
        f"{_escape(z)} {_escape(e)}"
        for z, e in zip(county_disp["county_name_zh"], county_disp["county_name_en"], strict=True)
    ]
    folium.GeoJson(
        county_disp[["label", "geometry"]],
        style_function=lambda f: {"fill": False, "color": "#222222", "weight": 1.2},
        tooltip=folium.GeoJsonTooltip(fields=["label"], labels=False),
    ).add_to(outline)
    outline.add_to(fmap)

    homes_disp = homes.to_crs("EPSG:4326")
    for existing, name, colour in (
        (True, "已有儿童之家 existing homes", EXISTING_COLOUR),
        (False, "新建儿童之家 proposed homes", NEW_COLOUR),
    ):
        group = folium.FeatureGroup(name=name, show=True)
        subset = homes_disp[homes_disp["existing"] == existing]
        for row in subset.itertuples():
            text = (
                f"{'已有 existing' if existing else '新建 proposed'}: {_escape(row.community_name)}"
                f"<br>{_escape(row.site_id)}<br>服务儿童 children served: {row.children_served:,.0f}"
            )
            folium.CircleMarker(
                location=[row.geometry.y, row.geometry.x],
                radius=3 if existing else 4,
                color=colour,
                fill=True,
                fill_opacity=0.9,
                weight=1,
                tooltip=text,
                popup=folium.Popup(text, max_width=300),
            ).add_to(group)
        group.add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)

    notice = (
        '<div style="color:#b30000;font-weight:bold">模拟数据 / modelled data — '
        "村界、儿童分布与已有儿童之家为模拟 (simulated locations, children and homes)</div>"
        if modelled
        else ""
    )
    lines = "".join(f"<div>{_escape(line)}</div>" for line in summary_lines)
    block = (
        '<div style="position:fixed;top:10px;left:50px;z-index:1000;background:white;'
        'padding:8px 12px;border:1px solid #888;border-radius:4px;font:13px sans-serif;max-width:420px">'
        f'<div style="font-size:16px;font-weight:bold">{_escape(title_zh)}</div>'
        f"<div>{_escape(title_en)}</div>{lines}{notice}"
        '<div style="margin-top:4px">'
        f'<span style="color:{COVERED_COLOUR}">■</span> 已覆盖 covered '
        f'<span style="color:{UNCOVERED_COLOUR}">■</span> 未覆盖 not covered '
        f'<span style="color:{EXISTING_COLOUR}">●</span> 已有 existing '
        f'<span style="color:{NEW_COLOUR}">●</span> 新建 proposed</div></div>'
    )
    fmap.get_root().html.add_child(Element(block))  # type: ignore[attr-defined]
    return fmap


def render_map(fmap: folium.Map) -> str:
    """The map as one self-contained HTML page; refuses any script or style from the network."""
    page: str = fmap.get_root().render()
    leaks = re.findall(r'<(?:script|link)[^>]+(?:src|href)="(https?:[^"]+)"', page)
    if leaks:
        raise RuntimeError(f"map would load {leaks} from the network; report this as a bug")
    return page


def save_map(fmap: folium.Map | str, path: Path) -> Path:
    """Write a map (or its rendered page) as one HTML file, atomically (temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    page = fmap if isinstance(fmap, str) else render_map(fmap)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(page)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
