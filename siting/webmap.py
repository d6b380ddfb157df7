"""Planner maps: one self-contained, bilingual, offline HTML file per run.

Folium's own popups need jQuery and put text into JavaScript template literals;
this module draws every data layer with :class:`SafeGeoJson`, which embeds the
features as JSON (``<`` written as ``\\u003c``, so no string can close the
script) and binds tooltips and popups whose data parts were HTML-escaped in
Python. Leaflet is inlined from ``xstatic-leaflet``; no request leaves the file.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, MacroElement
from jinja2 import Template

from siting.coords import wgs84_to_gcj02
from siting.errors import InputError

__all__ = [
    "BASEMAPS",
    "MapLayers",
    "OfflineMap",
    "SafeGeoJson",
    "escape_text",
    "plan_map",
    "render_map",
    "save_map",
    "small_count",
]

LEAFLET_VERSION = "1.9.3"
DISPLAY_SIMPLIFY_M = 250.0
DISPLAY_PRECISION_DEG = 1e-5
COVERED_COLOUR = "#2b8cbe"
UNCOVERED_COLOUR = "#e34a33"
EXISTING_COLOUR = "#31a354"
NEW_COLOUR = "#ff7f00"
CATCHMENT_PALETTE = [
    "#8dd3c7",
    "#ffffb3",
    "#bebada",
    "#fb8072",
    "#80b1d3",
    "#fdb462",
    "#b3de69",
    "#fccde5",
    "#d9d9d9",
    "#bc80bd",
    "#ccebc5",
    "#ffed6f",
]
BASEMAPS = ("none", "osm", "tianditu", "gaode")

LAYER_NAMES = {
    "counties": "县界 county outlines",
    "townships": "乡镇界 township outlines",
    "communities": "村(社区)覆盖 communities covered / not covered",
    "raster": "儿童分布 children per cell",
    "catchments": "责任范围 catchments",
    "existing": "已有儿童之家 existing homes",
    "new": "新建儿童之家 proposed homes",
    "uncovered": "未覆盖村(社区) uncovered communities",
    "stations": "乡镇工作站 township stations",
    "centres": "县级指导中心 county guidance centres",
}


def escape_text(value: object) -> str:
    """Text from data made safe for HTML and for any JavaScript string it may end up in."""
    text = html.escape(str(value), quote=True)
    return text.replace("`", "&#96;").replace("$", "&#36;").replace("\\", "&#92;")


def small_count(value: float, *, threshold: int = 5) -> str:
    """A priority count as shown to planners: 1 to threshold-1 become ``"<threshold"``."""
    if 0 < value < threshold:
        return f"<{threshold}"
    return f"{value:,.0f}"


def _json_for_script(data: object) -> str:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


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
        data = base64.b64encode((base / match.group(1)).read_bytes()).decode("ascii")
        return f"url(data:image/png;base64,{data})"

    return js, re.sub(r"url\((images/[\w.-]+\.png)\)", inline, css)


class OfflineMap(folium.Map):
    """A :class:`folium.Map` whose HTML loads nothing from the network.

    Folium's CDN scripts (Leaflet, jQuery, Bootstrap, Font Awesome) are replaced
    by Leaflet inlined from ``xstatic-leaflet``; the layers here use only Leaflet.
    """

    default_js: list[tuple[str, str]] = []  # noqa: RUF012 (folium's own attribute)
    default_css: list[tuple[str, str]] = []  # noqa: RUF012

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("tiles", None)
        super().__init__(**kwargs)
        js, css = _leaflet_assets()
        header = self.get_root().header  # type: ignore[attr-defined]
        header.add_child(Element(f"<style>{css}</style>"), name="leaflet_css_inline", index=0)
        header.add_child(Element(f"<script>{js}</script>"), name="leaflet_js_inline", index=1)


class SafeGeoJson(MacroElement):
    """GeoJSON drawn with Leaflet only, styles, tooltips and popups carried in the feature properties.

    Each feature's properties hold ``_style`` (Leaflet path options), optional
    ``_tip`` and ``_popup`` (HTML whose data parts are already escaped) and, for
    points, ``_marker`` (``"circle"`` or ``"triangle"``). ``_style`` may also be
    a key into ``styles`` (shared by many features, so the file stays small).

    Notes
    -----
    For
    points, ``_marker`` (``"circle"`` or ``"triangle"``).
    """

    _template = Template(
        """{% macro script(this, kwargs) %}
        var {{ this.get_name() }}_styles = {{ this.styles_json }};
        var {{ this.get_name() }} = L.geoJSON({{ this.data_json }}, {
            style: function (f) {
                var s = f.properties._style;
                return (typeof s === "string" ? {{ this.get_name() }}_styles[s] : s) || {};
            },
            pointToLayer: function (f, latlng) {
                var st = f.properties._style;
                st = (typeof st === "string" ? {{ this.get_name() }}_styles[st] : st) || {};
                if (f.properties._marker === "triangle") {
                    var c = st.color || "#ff7f00";
                    return L.marker(latlng, {icon: L.divIcon({className: "siting-triangle", iconSize: [14, 14],
                        html: '<svg width="14" height="14"><polygon points="7,1 13,13 1,13" fill="' + c +
                              '" stroke="#333" stroke-width="1"/></svg>'})});
                }
                return L.circleMarker(latlng, st);
            },
            onEachFeature: function (f, layer) {
                if (f.properties._tip) { layer.bindTooltip(f.properties._tip, {sticky: true}); }
                if (f.properties._popup) { layer.bindPopup(f.properties._popup, {maxWidth: 340}); }
            }
        }).addTo({{ this._parent.get_name() }});
        {% endmacro %}"""
    )

    def __init__(
        self, features: gpd.GeoDataFrame, *, name: str = "safe_geojson", styles: dict[str, dict[str, Any]] | None = None
    ) -> None:
        super().__init__()
        self._name = name
        self.styles = dict(styles or {})
        self.styles_json = _json_for_script(self.styles)
        self.feature_count = len(features)
        self.tooltips = [f for f in features.get("_tip", pd.Series(dtype=object)).tolist()]
        self.data_json = _json_for_script(json.loads(features.to_json(drop_id=True)))
        self._bounds: list[list[float]] | None = None
        if len(features) and features.crs is not None:
            west, south, east, north = features.to_crs("EPSG:4326").total_bounds
            self._bounds = [[float(south), float(west)], [float(north), float(east)]]

    def get_bounds(self) -> list[list[float | None]]:
        """``[[south, west], [north, east]]`` of the features (folium uses it to fit maps)."""
        if self._bounds is None:
            return [[None, None], [None, None]]
        return [list(corner) for corner in self._bounds]


@dataclass(frozen=True)
class MapLayers:
    """What the map draws, all in the working CRS (or any CRS with a definition)."""

    counties: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame
    homes: gpd.GeoDataFrame
    townships: gpd.GeoDataFrame | None = None
    catchments: gpd.GeoDataFrame | None = None
    raster_path: Path | None = None
    stations: gpd.GeoDataFrame | None = None
    centres: gpd.GeoDataFrame | None = None


def _display(gdf: gpd.GeoDataFrame, *, simplify_m: float, gcj02: bool) -> gpd.GeoDataFrame:
    """Simplify in metres (display only), go to EPSG:4326 (GCJ-02 for Gaode tiles), round to ~1 m."""
    out = gdf.copy()
    if out.crs is not None and out.crs.is_projected and simplify_m > 0:
        out["geometry"] = out.geometry.simplify(simplify_m, preserve_topology=True)
    out = out.to_crs("EPSG:4326")
    geoms = out.geometry.to_numpy()
    if gcj02:

        def shift(coords: np.ndarray) -> np.ndarray:
            lon, lat = wgs84_to_gcj02(coords[:, 0], coords[:, 1])
            return np.column_stack([lon, lat])

        geoms = shapely.transform(geoms, shift)
    out["geometry"] = shapely.set_precision(geoms, DISPLAY_PRECISION_DEG, mode="pointwise")
    return out


def _tile_layer(basemap: str, tianditu_key: str | None) -> folium.TileLayer | None:
    if basemap == "none":
        return None
    if basemap == "osm":
        return folium.TileLayer("OpenStreetMap", name="OpenStreetMap 底图 basemap", overlay=False, control=True)
    if basemap == "tianditu":
        if not tianditu_key:
            raise InputError("basemap 'tianditu' needs tianditu_key (a key from the Tianditu developer site)")
        url = (
            "https://t{s}.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=vec"
            "&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}"
            f"&tk={tianditu_key}"
        )
        return folium.TileLayer(url, attr="天地图 Tianditu", name="天地图 Tianditu", subdomains="01234567")
    if basemap == "gaode":
        url = "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}"
        return folium.TileLayer(url, attr="高德 Amap (GCJ-02)", name="高德 Gaode", subdomains="1234")
    raise InputError(f"basemap {basemap!r} is not one of {BASEMAPS}")


def _raster_overlay(
    path: Path, bounds_filter: tuple[float, float, float, float] | None
) -> folium.raster_layers.ImageOverlay:
    import rasterio

    with rasterio.open(path) as src:
        data = src.read(1, masked=True).astype(np.float64)
        left, bottom, right, top = src.bounds
        if src.crs is None or not src.crs.is_geographic:
            raise InputError(f"the map overlays rasters in longitude/latitude; {path} is in {src.crs}")
    values = np.log1p(np.clip(data.filled(0.0), 0, None))
    scale = values.max() if values.max() > 0 else 1.0
    t = values / scale
    rgba = np.zeros((*values.shape, 4), dtype=np.uint8)
    rgba[..., 0] = (255 * np.clip(1.6 * t, 0, 1)).astype(np.uint8)
    rgba[..., 1] = (255 * np.clip(1.6 * t - 0.6, 0, 1)).astype(np.uint8)
    rgba[..., 2] = (120 * (1 - t)).astype(np.uint8)
    rgba[..., 3] = np.where(np.ma.getmaskarray(data) | (data.filled(0.0) <= 0), 0, 170).astype(np.uint8)
    return folium.raster_layers.ImageOverlay(
        image=rgba, bounds=[[bottom, left], [top, right]], mercator_project=True, name=LAYER_NAMES["raster"], show=False
    )


def plan_map(
    layers: MapLayers,
    *,
    title_zh: str,
    title_en: str,
    summary_lines: Sequence[str],
    modelled: bool,
    basemap: str = "none",
    tianditu_key: str | None = None,
    small_count_threshold: int = 5,
    simplify_m: float = DISPLAY_SIMPLIFY_M,
) -> folium.Map:
    """Draw a plan: outlines, communities by coverage, catchments, homes, uncovered communities.

    Parameters
    ----------
    layers
        ``counties`` (``county_name_zh``, ``county_name_en``); ``communities``
        (``community_name``, ``children``, ``covered``, ``site_id``,
        ``distance_m``, ``seat_x``, ``seat_y`` optional); ``homes`` (``site_id``,
        ``community_name``, ``township_name``, ``county_name``, ``existing``,
        ``children_served``, ``priority_served``, ``communities_served``,
        ``distance_mean_m``, ``distance_max_m``, ``cost_cny``,
        ``children_added``, optional ``build_year``); optional ``townships``,
        ``catchments`` and the child raster.
    title_zh, title_en, summary_lines
        Title block (summary lines already bilingual).
    modelled
        Show the "模拟数据 / modelled data" notice.
    basemap
        ``"none"`` (default: the outlines carry the map), ``"osm"``,
        ``"tianditu"`` (needs ``tianditu_key``) or ``"gaode"`` (every overlay is
        shifted to GCJ-02 so it lines up with Gaode's tiles).
    """
    gcj = basemap == "gaode"
    counties = _display(layers.counties[["county_name_zh", "county_name_en", "geometry"]], simplify_m=0, gcj02=gcj)
    min_lon, min_lat, max_lon, max_lat = counties.total_bounds
    fmap = OfflineMap(
        location=[(min_lat + max_lat) / 2, (min_lon + max_lon) / 2],
        zoom_start=7,
        control_scale=True,
        prefer_canvas=True,
    )
    fmap.fit_bounds([[min_lat, min_lon], [max_lat, max_lon]])
    tiles = _tile_layer(basemap, tianditu_key)
    if tiles is not None:
        tiles.add_to(fmap)

    def group(
        key: str,
        frame: gpd.GeoDataFrame,
        *,
        show: bool = True,
        styles: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> None:
        layer = folium.FeatureGroup(name=name or LAYER_NAMES[key], show=show)
        SafeGeoJson(frame, name=f"{key}_data", styles=styles).add_to(layer)
        layer.add_to(fmap)

    if layers.raster_path is not None:
        _raster_overlay(Path(layers.raster_path), None).add_to(fmap)

    com = layers.communities
    covered = com["covered"].astype(bool).to_numpy()
    tips = [
        f"<b>{escape_text(n)}</b><br>儿童 children: {c:,.0f}<br>"
        + (f"儿童之家 home: {escape_text(s)} ({d / 1000:.1f} km)" if cov else "未覆盖 not covered")
        for n, c, cov, s, d in zip(
            com["community_name"], com["children"], covered, com["site_id"], com["distance_m"], strict=True
        )
    ]
    style_cov = {"fillColor": COVERED_COLOUR, "color": "#555555", "weight": 0.3, "fillOpacity": 0.45}
    com_frame = gpd.GeoDataFrame(
        {"_tip": tips, "_style": np.where(covered, "c", "u")}, geometry=com.geometry.to_numpy(), crs=com.crs
    )
    com_styles = {"c": style_cov, "u": {**style_cov, "fillColor": UNCOVERED_COLOUR}}
    group("communities", _display(com_frame, simplify_m=simplify_m, gcj02=gcj), styles=com_styles)

    if layers.catchments is not None:
        areas = layers.catchments[layers.catchments["site_id"].notna()].reset_index(drop=True)
        palette = {
            f"p{k}": {"fillColor": colour, "color": "#444444", "weight": 0.6, "fillOpacity": 0.5}
            for k, colour in enumerate(CATCHMENT_PALETTE)
        }
        frame = gpd.GeoDataFrame(
            {
                "_tip": [
                    f"责任范围 catchment {escape_text(s)}<br>村(社区) communities: {n}<br>儿童 children: {c:,.0f}"
                    for s, n, c in zip(areas["site_id"], areas["communities"], areas["children"], strict=True)
                ],
                "_style": [f"p{k % len(CATCHMENT_PALETTE)}" for k in range(len(areas))],
            },
            geometry=areas.geometry.to_numpy(),
            crs=areas.crs,
        )
        group("catchments", _display(frame, simplify_m=simplify_m, gcj02=gcj), show=False, styles=palette)

    if layers.townships is not None:
        towns = layers.townships
        frame = gpd.GeoDataFrame(
            {"_tip": [escape_text(n) for n in towns["township_name"]], "_style": ["t"] * len(towns)},
            geometry=towns.geometry.to_numpy(),
            crs=towns.crs,
        )
        town_style = {"t": {"fill": False, "color": "#777777", "weight": 0.7}}
        group("townships", _display(frame, simplify_m=simplify_m, gcj02=gcj), show=False, styles=town_style)

    county_frame = gpd.GeoDataFrame(
        {
            "_tip": [
                f"{escape_text(z)} {escape_text(e)}"
                for z, e in zip(counties["county_name_zh"], counties["county_name_en"], strict=True)
            ],
            "_style": ["k"] * len(counties),
        },
        geometry=counties.geometry.to_numpy(),
        crs="EPSG:4326",
    )
    group("counties", county_frame, styles={"k": {"fill": False, "color": "#222222", "weight": 1.3}})

    homes = layers.homes
    home_groups: list[tuple[bool, str, str, gpd.GeoDataFrame]] = [
        (True, "existing", LAYER_NAMES["existing"], homes[homes["existing"]])
    ]
    new_homes = homes[~homes["existing"].astype(bool)]
    years = new_homes["build_year"].dropna().unique() if "build_year" in new_homes else []
    if len(years):
        for build_year in sorted(int(y) for y in years):
            name = f"新建儿童之家 {build_year} proposed homes {build_year}"
            home_groups.append((False, f"new_{build_year}", name, new_homes[new_homes["build_year"] == build_year]))
    else:
        home_groups.append((False, "new", LAYER_NAMES["new"], new_homes))
    for existing, key, layer_name, subset in home_groups:
        popups = []
        for row in subset.to_dict("records"):
            year_text = f"<br>建设年份 build year: {int(row['build_year'])}" if pd.notna(row.get("build_year")) else ""
            popups.append(
                f"<b>{'已有儿童之家 existing home' if existing else '新建儿童之家 proposed home'}</b><br>"
                f"{escape_text(row['community_name'])} ({escape_text(row['site_id'])})<br>"
                f"乡镇 township: {escape_text(row.get('township_name', ''))}<br>"
                f"县 county: {escape_text(row.get('county_name', ''))}<br>"
                f"服务儿童 children served: {row['children_served']:,.0f}<br>"
                f"重点儿童 priority children: {small_count(row['priority_served'], threshold=small_count_threshold)}"
                f"<br>服务村(社区) communities served: {int(row['communities_served'])}<br>"
                f"平均/最远距离 mean/max distance: {row['distance_mean_m'] / 1000:.1f} / "
                f"{row['distance_max_m'] / 1000:.1f} km<br>"
                f"建设资金 cost: {row['cost_cny']:,.0f} CNY<br>"
                f"选址理由 why: 新增覆盖儿童 adds {row['children_added']:,.0f} children{year_text}"
            )
        style = (
            {"radius": 3, "color": EXISTING_COLOUR, "fillColor": EXISTING_COLOUR, "fillOpacity": 0.9, "weight": 1}
            if existing
            else {"color": NEW_COLOUR}
        )
        frame = gpd.GeoDataFrame(
            {
                "_tip": [escape_text(n) for n in subset["community_name"]],
                "_popup": popups,
                "_style": ["h"] * len(subset),
                "_marker": ["circle" if existing else "triangle"] * len(subset),
            },
            geometry=subset.geometry.to_numpy(),
            crs=homes.crs,
        )
        group(key, _display(frame, simplify_m=0, gcj02=gcj), styles={"h": style}, name=layer_name)

    for key, tier, colour in (("stations", layers.stations, "#6a3d9a"), ("centres", layers.centres, "#b15928")):
        if tier is None or tier.empty:
            continue
        label = "乡镇工作站 township station" if key == "stations" else "县级指导中心 county centre"
        code = tier["township_code"] if key == "stations" else tier["county_code"]
        frame = gpd.GeoDataFrame(
            {
                "_tip": [
                    f"{label}: {escape_text(c)} ({escape_text(p)})"
                    for c, p in zip(code, tier["placed_at"], strict=True)
                ],
                "_style": ["s"] * len(tier),
            },
            geometry=tier.geometry.to_numpy(),
            crs=tier.crs,
        )
        size = 4 if key == "stations" else 7
        style = {"radius": size, "color": "#222222", "fillColor": colour, "fillOpacity": 0.95, "weight": 1}
        group(key, _display(frame, simplify_m=0, gcj02=gcj), show=False, styles={"s": style})

    unc = com[~covered]
    if "seat_x" in unc.columns:
        points = gpd.points_from_xy(unc["seat_x"], unc["seat_y"])
    else:
        points = unc.geometry.representative_point().to_numpy()
    frame = gpd.GeoDataFrame(
        {
            "_tip": [
                f"未覆盖 not covered: {escape_text(n)}<br>最近儿童之家 nearest home: {d / 1000:.1f} km"
                for n, d in zip(unc["community_name"], unc["nearest_distance_m"], strict=True)
            ],
            "_style": ["u"] * len(unc),
        },
        geometry=points,
        crs=com.crs,
    )
    dot = {"radius": 2, "color": UNCOVERED_COLOUR, "fillColor": UNCOVERED_COLOUR, "fillOpacity": 1, "weight": 0}
    group("uncovered", _display(frame, simplify_m=0, gcj02=gcj), show=False, styles={"u": dot})
    folium.LayerControl(collapsed=False).add_to(fmap)

    notice = (
        '<div class="siting-modelled" style="color:#b30000;font-weight:bold">模拟数据 / modelled data — '
        "村界、儿童分布与已有儿童之家为模拟 (simulated boundaries, children and homes)</div>"
        if modelled
        else ""
    )
    lines = "".join(f"<div>{escape_text(line)}</div>" for line in summary_lines)
    block = (
        '<div class="siting-title" style="position:fixed;top:10px;left:50px;z-index:1000;background:white;'
        'padding:8px 12px;border:1px solid #888;border-radius:4px;font:13px sans-serif;max-width:440px">'
        f'<div style="font-size:16px;font-weight:bold">{escape_text(title_zh)}</div>'
        f"<div>{escape_text(title_en)}</div>{lines}{notice}"
        '<div class="siting-legend" style="margin-top:4px">'
        f'<span style="color:{COVERED_COLOUR}">■</span> 已覆盖 covered '
        f'<span style="color:{UNCOVERED_COLOUR}">■</span> 未覆盖 not covered '
        f'<span style="color:{EXISTING_COLOUR}">●</span> 已有 existing '
        f'<span style="color:{NEW_COLOUR}">▲</span> 新建 proposed</div></div>'
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
