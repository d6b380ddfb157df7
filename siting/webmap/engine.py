"""The offline map engine: a folium page that loads nothing from the network and never runs data as code.

Folium's own popups need jQuery and put text into JavaScript template literals,
and branca renders every macro's output a second time *as template source*. Here
every data layer is a :class:`SafeGeoJson` (features embedded as JSON with ``<``
written as ``\\u003c``; tooltips and popups whose data parts were HTML-escaped in
Python) and every piece of HTML made from data is a :class:`RawHtml`, placed in
the page as a value. Leaflet is inlined from ``xstatic-leaflet``.
"""

from __future__ import annotations

import base64
import html
import json
import re
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
from siting.rundir import write_text_atomically

__all__ = [
    "BASEMAPS",
    "OfflineMap",
    "RawHtml",
    "SafeGeoJson",
    "SafeLabels",
    "display_frame",
    "escape_text",
    "json_for_script",
    "render_map",
    "save_map",
    "small_count",
    "tile_layer",
]

LEAFLET_VERSION = "1.9.3"
DISPLAY_PRECISION_DEG = 1e-5
#: Polygons are drawn simplified by ~250 m, so vertices on a ~10 m grid lose nothing visible.
POLYGON_PRECISION_DEG = 1e-4
BASEMAPS = ("none", "osm", "tianditu", "gaode")
TIANDITU_ENV = "SITING_TIANDITU_KEY"


def escape_text(value: object) -> str:
    """Text from data made safe for HTML and for any JavaScript string it may end up in."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return ""
    text = html.escape(str(value), quote=True)
    return text.replace("`", "&#96;").replace("$", "&#36;").replace("\\", "&#92;")


def small_count(value: float, *, threshold: int = 5) -> str:
    """A priority count as shown to planners: 1 to threshold-1 become ``"<threshold"``."""
    from siting.report.sharing import small_count_text

    return small_count_text(value, threshold=threshold)


def json_for_script(data: object) -> str:
    """JSON that can sit inside a ``<script>`` element whatever strings it holds."""
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


class RawHtml(Element):
    """HTML placed in the page as a value, never parsed as a template.

    branca's :class:`~branca.element.Element` takes its first argument as Jinja2
    *template source*: a name such as ``{{ lipsum.__globals__ }}`` in it would run
    Python. Every piece of HTML built from data goes through this class instead; its
    template is fixed and the HTML is only ever a variable's value.
    """

    def __init__(self, html_text: str) -> None:
        super().__init__(template="{{ this.html }}")
        self.html = html_text


class _ValueScript(MacroElement):
    """A macro element whose rendered script goes into the page as a value (see :meth:`render`)."""

    def render(self, **kwargs: Any) -> None:  # type: ignore[override]
        """Add the script to the page as a value.

        branca's ``MacroElement.render`` wraps a macro's output in ``Element(...)``, which
        renders it a second time *as template source*; the output here holds names from
        the data, so it goes in through :class:`RawHtml` instead.
        """
        script = self._template.module.__dict__["script"](self, kwargs)
        self.get_root().script.add_child(RawHtml(str(script)), name=self.get_name())  # type: ignore[attr-defined]


class OfflineMap(folium.Map):
    """A :class:`folium.Map` whose HTML loads nothing from the network.

    Folium's CDN scripts (Leaflet, jQuery, Bootstrap, Font Awesome) are replaced
    by Leaflet inlined from ``xstatic-leaflet``; the layers here use only Leaflet.
    """

    default_js: list[tuple[str, str]] = []  # noqa: RUF012 (folium's own attribute)
    default_css: list[tuple[str, str]] = []  # noqa: RUF012

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("tiles", None)
        kwargs.setdefault("control_scale", False)
        super().__init__(**kwargs)
        _Panes().add_to(self)  # first of the map's scripts: the panes exist before any layer
        js, css = _leaflet_assets()
        header = self.get_root().header  # type: ignore[attr-defined]
        header.add_child(RawHtml(f"<style>{css}</style>"), name="leaflet_css_inline", index=0)
        header.add_child(RawHtml(f"<script>{js}</script>"), name="leaflet_js_inline", index=1)


class _Panes(_ValueScript):
    """The map's panes: points above every area, below the proposed homes' icons (overlays 400, markers 600)."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        {{ this._parent.get_name() }}.createPane("sitingPoints").style.zIndex = 590;
        // SVG, not canvas: an SVG layer takes the mouse only where it paints, so the areas below
        // keep their hovers and the proposed homes' icons (the marker pane, 600) stay on top.
        window.__sitingPoints = L.svg({pane: "sitingPoints"});
        {% endmacro %}"""
    )


class SafeGeoJson(_ValueScript):
    """GeoJSON drawn with Leaflet only, styles, tooltips and popups carried in the feature properties.

    Each feature's properties hold ``_style`` (a key into ``styles``, or Leaflet path
    options), optional ``_tip`` and ``_popup`` (HTML whose data parts are already
    escaped) and, for points, ``_marker`` (``"circle"`` or ``"triangle"``) and
    ``_radius``. ``interactive=False`` makes a layer ignore the mouse (outlines must
    not catch the hovers meant for what lies under them); ``min_zoom`` shows the layer
    only from that zoom on.
    """

    _template = Template(
        """{% macro script(this, kwargs) %}
        var {{ this.get_name() }}_styles = {{ this.styles_json }};
        var {{ this.get_name() }}_packed = {{ this.data_json }};
        var {{ this.get_name() }} = L.geoJSON({{ this.get_name() }}_packed.geometries.map(function (g, i) {
            var p = {}, row = {{ this.get_name() }}_packed.rows[i];
            {{ this.get_name() }}_packed.keys.forEach(function (k, j) { if (row[j] !== null) { p[k] = row[j]; } });
            return {type: "Feature", properties: p, geometry: g};
        }), {
            interactive: {{ this.interactive_json }},
            style: function (f) {
                var s = f.properties._style;
                return (typeof s === "string" ? {{ this.get_name() }}_styles[s] : s) || {};
            },
            pointToLayer: function (f, latlng) {
                var st = f.properties._style;
                st = Object.assign({}, (typeof st === "string" ? {{ this.get_name() }}_styles[st] : st) || {});
                if (f.properties._radius) { st.radius = f.properties._radius; }
                if (f.properties._marker === "triangle") {
                    var c = st.color || "#ff7f00";
                    return L.marker(latlng, {icon: L.divIcon({className: "siting-triangle", iconSize: [14, 14],
                        html: '<svg width="14" height="14"><polygon points="7,1 13,13 1,13" fill="' + c +
                              '" stroke="#333" stroke-width="1"/></svg>'})});
                }
                // Points sit in their own pane above every area (catchments, communities): always
                // on top and clickable, whatever layer was switched on last.
                var where = {pane: "sitingPoints", renderer: window.__sitingPoints};
                return L.circleMarker(latlng, Object.assign(where, st));
            },
            onEachFeature: function (f, layer) {
                if (f.properties._tip) { layer.bindTooltip(f.properties._tip, {sticky: true}); }
                if (f.properties._popup) { layer.bindPopup(f.properties._popup, {maxWidth: 360}); }
            }
        });
        {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        {% if this.min_zoom or this.max_zoom %}
        (function () {
            var map = {{ this._parent.get_name() }}._map || {{ this._parent._parent.get_name() }};
            var parent = {{ this._parent.get_name() }}, layer = {{ this.get_name() }};
            function show() {
                var m = parent._map || map;
                var z = m.getZoom(), wanted = z >= {{ this.min_zoom or 0 }} && z <= {{ this.max_zoom or 99 }};
                if (wanted) { if (!parent.hasLayer(layer)) { parent.addLayer(layer); } }
                else if (parent.hasLayer(layer)) { parent.removeLayer(layer); }
            }
            map.on("zoomend", show);
            map.whenReady(show);
        })();
        {% endif %}
        {% endmacro %}"""
    )

    def __init__(
        self,
        features: gpd.GeoDataFrame,
        *,
        name: str = "safe_geojson",
        styles: dict[str, dict[str, Any]] | None = None,
        interactive: bool = True,
        min_zoom: int | None = None,
        max_zoom: int | None = None,
    ) -> None:
        super().__init__()
        self._name = name
        self.styles_json = json_for_script(dict(styles or {}))
        self.interactive_json = "true" if interactive else "false"
        self.min_zoom = min_zoom
        self.max_zoom = max_zoom
        self.feature_count = len(features)
        self.tooltips = list(features.get("_tip", pd.Series(dtype=object)).tolist())
        self.data_json = json_for_script(_packed(features))
        self._bounds: list[list[float]] | None = None
        if len(features) and features.crs is not None:
            west, south, east, north = features.to_crs("EPSG:4326").total_bounds
            self._bounds = [[float(south), float(west)], [float(north), float(east)]]

    def get_bounds(self) -> list[list[float | None]]:
        """``[[south, west], [north, east]]`` of the features (folium uses it to fit maps)."""
        if self._bounds is None:
            return [[None, None], [None, None]]
        return [list(corner) for corner in self._bounds]


def _packed(features: gpd.GeoDataFrame) -> dict[str, Any]:
    """Features as columns of properties and a list of geometries (a third of the size of GeoJSON features)."""
    collection = json.loads(features.to_json(drop_id=True))
    keys = [c for c in features.columns if c != features.geometry.name]
    rows = [[f["properties"].get(k) for k in keys] for f in collection["features"]]
    return {"keys": keys, "rows": rows, "geometries": [f["geometry"] for f in collection["features"]]}


class SafeLabels(_ValueScript):
    """Place names drawn on the map from ``min_zoom`` on (county names from 8, township names from 11)."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        (function () {
            var map = {{ this._parent.get_name() }};
            var group = L.layerGroup();
            {{ this.data_json }}.forEach(function (p) {
                L.marker([p[0], p[1]], {interactive: false, keyboard: false, icon: L.divIcon({
                    className: "siting-label {{ this.css_class }}", html: p[2], iconSize: null})}).addTo(group);
            });
            // Labels that would overlap one drawn before them are hidden, so names never collide.
            function declutter() {
                if (!map.hasLayer(group)) { return; }
                var kept = [];
                group.eachLayer(function (m) {
                    var el = m.getElement();
                    if (!el) { return; }
                    el.style.visibility = "visible";
                    var r = el.getBoundingClientRect();
                    var clash = kept.some(function (k) {
                        return r.left < k.right && r.right > k.left && r.top < k.bottom && r.bottom > k.top;
                    });
                    if (clash) { el.style.visibility = "hidden"; } else { kept.push(r); }
                });
            }
            function show() {
                if (map.getZoom() >= {{ this.min_zoom }}) { group.addTo(map); } else { group.remove(); }
                requestAnimationFrame(declutter);  // once the labels stand where this zoom puts them
            }
            map.on("zoomend", show);
            map.on("moveend", declutter);
            map.whenReady(show);
        })();
        {% endmacro %}"""
    )

    def __init__(self, points: gpd.GeoSeries, texts: list[str], *, min_zoom: int, css_class: str) -> None:
        super().__init__()
        self._name = f"labels_{css_class}"
        lonlat = points.to_crs("EPSG:4326")
        data = [
            [round(float(p.y), 5), round(float(p.x), 5), escape_text(t)]
            for p, t in zip(lonlat, texts, strict=True)
            if p is not None and not p.is_empty
        ]
        self.data_json = json_for_script(data)
        self.min_zoom = int(min_zoom)
        self.css_class = re.sub(r"[^a-z-]", "", css_class)


class PageScript(_ValueScript):
    """A fixed script (no data in it) run once the map exists: scale bar, popup padding, basemap notice."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        (function () {
            var map = {{ this._parent.get_name() }};
            window.__sitingMap = map;  // for tests and the sandbox: the page's one map
            L.control.scale({imperial: false, metric: true}).addTo(map);
            // Popups open clear of the panels they would fall under: below a panel on the left that
            // shares their columns (the title panel), left of one on the right that shares their rows
            // (the sandbox, the layer control); a panel beside them costs them no room.
            map.on("popupopen", function (e) {
                var top = 10, right = 10, m = map.getContainer().getBoundingClientRect();
                var box = e.popup.getElement().getBoundingClientRect();
                document.querySelectorAll(".siting-panel, .leaflet-control-layers").forEach(function (el) {
                    var r = el.getBoundingClientRect();
                    if (r.width === 0) { return; }
                    if (r.left > m.left + m.width / 2) {
                        if (Math.min(r.bottom, box.bottom) > Math.max(r.top, box.top) - 20 || r.left < box.right) {
                            right = Math.max(right, m.right - r.left + 10);
                        }
                    } else if (Math.min(r.right, box.right) > Math.max(r.left, box.left)) {
                        top = Math.max(top, r.bottom - m.top + 10);
                    }
                });
                e.popup.options.autoPanPaddingTopLeft = L.point(10, top);
                e.popup.options.autoPanPaddingBottomRight = L.point(right, 10);
                if (e.popup._adjustPan) { e.popup._adjustPan(); }
            });
            // Tiles that cannot load (an office intranet): say so, the thematic layers still work.
            map.eachLayer(function (layer) {
                if (layer instanceof L.TileLayer) {
                    layer.on("tileerror", function () {
                        var note = document.getElementById("siting-offline");
                        if (note) { note.style.display = "block"; }
                    });
                }
            });
        })();
        {% endmacro %}"""
    )


def display_frame(gdf: gpd.GeoDataFrame, *, simplify_m: float, gcj02: bool, coverage: bool = False) -> gpd.GeoDataFrame:
    """Simplify in metres (display only), go to EPSG:4326 (GCJ-02 for Gaode tiles), round to ~1 m.

    ``coverage=True`` simplifies polygons that share edges as a coverage (shared edges
    stay shared: no white slivers between neighbours).
    """
    out = gdf.copy()
    if out.crs is not None and out.crs.is_projected and simplify_m > 0 and len(out):
        geoms = out.geometry.to_numpy()
        simplified = None
        if coverage:
            try:
                simplified = shapely.coverage_simplify(geoms, simplify_m)
            except Exception:  # not a clean coverage (gaps, slivers): simplify one by one
                simplified = None
        if simplified is None:
            simplified = shapely.simplify(geoms, simplify_m, preserve_topology=True)
        out["geometry"] = simplified
    out = out.to_crs("EPSG:4326")
    geoms = out.geometry.to_numpy()
    if gcj02:

        def shift(coords: np.ndarray) -> np.ndarray:
            lon, lat = wgs84_to_gcj02(coords[:, 0], coords[:, 1])
            return np.column_stack([lon, lat])

        geoms = shapely.transform(geoms, shift)
    polygons = simplify_m > 0
    grid = POLYGON_PRECISION_DEG if polygons else DISPLAY_PRECISION_DEG
    out["geometry"] = shapely.set_precision(geoms, grid, mode="pointwise")
    return out


def tile_layer(basemap: str, tianditu_key: str | None) -> folium.TileLayer | None:
    """The optional basemap (none by default: the outlines carry the map)."""
    import os

    if basemap == "none":
        return None
    if basemap == "osm":
        return folium.TileLayer("OpenStreetMap", name="OpenStreetMap 底图 basemap", overlay=False, control=True)
    if basemap == "tianditu":
        key = tianditu_key or os.environ.get(TIANDITU_ENV)
        if not key:
            raise InputError(
                f"basemap 'tianditu' needs a key: pass --tianditu-key or set {TIANDITU_ENV} (a key from the Tianditu "
                "developer site)"
            )
        if not re.fullmatch(r"[0-9A-Za-z]{16,64}", key):
            raise InputError(
                f"tianditu key {key!r} is not a Tianditu key (16 to 64 letters and digits); copy it from the console "
                "of the Tianditu developer site"
            )
        url = (
            "https://t{s}.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=vec"
            "&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}"
            f"&tk={key}"
        )
        return folium.TileLayer(url, attr="天地图 Tianditu", name="天地图 Tianditu", subdomains="01234567")
    if basemap == "gaode":
        url = "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}"
        return folium.TileLayer(url, attr="高德 Amap (GCJ-02)", name="高德 Gaode", subdomains="1234")
    raise InputError(f"basemap {basemap!r} is not one of {BASEMAPS}")


def render_map(fmap: folium.Map) -> str:
    """The map as one self-contained HTML page (``lang="zh-CN"``); refuses any script or style from the network."""
    page: str = fmap.get_root().render()
    leaks = re.findall(r'<(?:script|link)[^>]+(?:src|href)="(https?:[^"]+)"', page)
    if leaks:
        raise RuntimeError(f"map would load {leaks} from the network; report this as a bug")
    return page.replace("<html>", '<html lang="zh-CN">', 1)


def save_map(fmap: folium.Map | str, path: Path) -> Path:
    """Write a map (or its rendered page) as one HTML file, atomically (temp file + rename)."""
    page = fmap if isinstance(fmap, str) else render_map(fmap)
    return write_text_atomically(Path(path), page)
