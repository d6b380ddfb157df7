"""Planner maps: one self-contained, bilingual, offline HTML file per run.

:mod:`siting.webmap.engine` is the offline page (no network, no data run as code);
:mod:`siting.webmap.layers` draws one layer per function; :func:`plan_map` composes
them with a collapsible title panel that holds the coverage summary and a legend
entry for every layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import folium
import geopandas as gpd

if TYPE_CHECKING:
    from siting.sandbox import SandboxData
    from siting.travel.access import TravelTimeRaster

from siting.webmap.engine import (
    BASEMAPS,
    OfflineMap,
    RawHtml,
    SafeGeoJson,
    _ValueScript,
    escape_text,
    json_for_script,
    render_map,
    save_map,
    small_count,
    tile_layer,
)
from siting.webmap.engine import PageScript as _PageScript
from siting.webmap.layers import (
    CENTRE_COLOUR,
    COVERAGE_CLASSES,
    COVERED_COLOUR,
    EXISTING_COLOUR,
    LAYER_NAMES,
    NEW_COLOUR,
    STATION_COLOUR,
    UNCOVERED_COLOUR,
    UNCOVERED_DOT,
    MapStyle,
    add_catchments,
    add_communities,
    add_county_coverage,
    add_homes,
    add_outlines,
    add_raster,
    add_tiers,
    add_travel_time,
    add_uncovered_children,
)

__all__ = [
    "BASEMAPS",
    "LAYER_NAMES",
    "MapLayers",
    "OfflineMap",
    "RawHtml",
    "SafeGeoJson",
    "escape_text",
    "plan_map",
    "render_map",
    "save_map",
    "small_count",
]

DISPLAY_SIMPLIFY_M = 250.0
CSS = """
.siting-panel{background:#fff;padding:6px 10px;border:1px solid #888;border-radius:4px;font:13px/1.45 sans-serif;
  max-width:420px;box-shadow:0 1px 4px rgba(0,0,0,.3)}
.siting-panel .siting-head{display:flex;gap:8px;align-items:flex-start;cursor:pointer}
.siting-panel .siting-title{font-size:15px;font-weight:bold}
.siting-panel button{border:1px solid #aaa;background:#f4f4f4;border-radius:3px;cursor:pointer;padding:0 6px}
.siting-panel .siting-body{margin-top:4px}
.siting-panel.siting-collapsed .siting-body{display:none}
.siting-legend div{white-space:nowrap}
.siting-swatch{display:inline-block;width:12px;height:12px;margin-right:5px;vertical-align:middle;border:1px solid #555}
.siting-label{background:none;border:none;white-space:nowrap;font:12px sans-serif;color:#222;
  text-shadow:0 0 2px #fff,0 0 2px #fff,0 0 3px #fff;transform:translate(-50%,-50%)}
.siting-label.prefecture{font-size:14px;font-weight:bold;color:#000}
.siting-label.town{font-size:11px;color:#444}
.siting-triangle{background:none;border:none}
#siting-offline{display:none;position:absolute;bottom:28px;left:50%;transform:translateX(-50%);z-index:1000;
  background:#fff3cd;border:1px solid #d4a72c;padding:4px 10px;border-radius:4px;font:13px sans-serif}
#siting-print{display:none}
@page{size:A4 landscape;margin:8mm}
@media print{
  html,body{width:100%;height:100%;margin:0}
  .folium-map{position:absolute!important;inset:0!important;width:100%!important;height:100%!important}
  .leaflet-control-zoom,.leaflet-control-layers,.siting-sandbox,#siting-offline,.leaflet-popup{display:none!important}
  .siting-panel.siting-collapsed .siting-body{display:block!important}
  .siting-panel .siting-head button{display:none}
  .siting-panel{box-shadow:none}
  #siting-print{display:block;position:absolute;right:6mm;bottom:6mm;z-index:1000;background:#fff;
    border:1px solid #888;padding:4px 8px;font:12px sans-serif;text-align:center}
  #siting-print .siting-north{font:bold 20px sans-serif;line-height:1}
}
"""


@dataclass(frozen=True)
class MapLayers:
    """What the map draws, all in the working CRS (or any CRS with a definition).

    ``unit`` is the access unit (``"m"`` or ``"min"``): cost columns are named from it
    (``distance_m``, ``nearest_time_min`` …) and every cost on the map is written in it.
    """

    counties: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame
    homes: gpd.GeoDataFrame
    unit: str = "m"
    townships: gpd.GeoDataFrame | None = None
    prefectures: gpd.GeoDataFrame | None = None
    catchments: gpd.GeoDataFrame | None = None
    raster_path: Path | None = None
    stations: gpd.GeoDataFrame | None = None
    centres: gpd.GeoDataFrame | None = None
    travel_time: TravelTimeRaster | None = None
    #: The run's communities, sites and pairs: the sandbox (沙盘) to plan with in the page.
    sandbox: SandboxData | None = None
    #: Draw every community's polygon (a light map leaves them out: outlines, homes, uncovered children).
    community_polygons: bool = True


class _Panel(_ValueScript):
    """The collapsible title panel (title, summary, notice, legend) as a Leaflet control; its HTML is a value."""

    from jinja2 import Template

    _template = Template(
        """{% macro script(this, kwargs) %}
        (function () {
            var map = {{ this._parent.get_name() }};
            var Panel = L.Control.extend({options: {position: "topleft"}, onAdd: function () {
                var box = L.DomUtil.create("div", "siting-panel");
                box.innerHTML = {{ this.html_json }};
                L.DomEvent.disableClickPropagation(box);
                L.DomEvent.disableScrollPropagation(box);
                var button = box.querySelector("button");
                button.addEventListener("click", function () {
                    box.classList.toggle("siting-collapsed");
                    button.textContent = box.classList.contains("siting-collapsed") ? "▸" : "▾";
                });
                return box;
            }});
            new Panel().addTo(map);
        })();
        {% endmacro %}"""
    )

    def __init__(self, html_text: str) -> None:
        super().__init__()
        self._name = "siting_panel"
        self.html_json = json_for_script(html_text)


def _swatch(colour: str, *, shape: str = "square", border: str = "#555") -> str:
    if shape == "circle":
        return (
            f'<span class="siting-swatch" style="background:{colour};border-radius:50%;border-color:{border}"></span>'
        )
    if shape == "triangle":
        return f'<span style="color:{colour};margin-right:5px">▲</span>'
    if shape == "line":
        line = f"background:none;border:0;border-top:2px solid {colour};height:0"
        return f'<span class="siting-swatch" style="{line}"></span>'
    return f'<span class="siting-swatch" style="background:{colour}"></span>'


def _legend(
    layers: MapLayers,
    raster_scale: tuple[float, float] | None,
    travel_classes: Sequence[tuple[str, str]] = (),
    *,
    homes_note: str = "",
) -> str:
    rows = (
        []
        if travel_classes or not layers.community_polygons
        else [  # over a travel-time surface, communities are outlines; a light map has none
            f"{_swatch(COVERED_COLOUR)}{LAYER_NAMES['communities'].split(' ')[0]} 已覆盖 covered",
            f"{_swatch(UNCOVERED_COLOUR)}{LAYER_NAMES['communities'].split(' ')[0]} 未覆盖 not covered",
        ]
    )
    ramp = " ".join(f"{_swatch(colour)}{label}" for _, colour, label in COVERAGE_CLASSES)
    rows += [
        f"<b>{LAYER_NAMES['county_coverage']}</b> (省级视图 province view)",
        ramp,
        f"{_swatch(UNCOVERED_DOT, shape='circle')}{LAYER_NAMES['uncovered']} (面积∝人数 area ∝ children)",
        "<small>县级缩放起 from county zoom: 未覆盖儿童 uncovered children, 责任范围 catchments</small>",
        f"{_swatch(EXISTING_COLOUR, shape='circle')}{LAYER_NAMES['existing']}",
        f"{_swatch(NEW_COLOUR, shape='triangle')}{LAYER_NAMES['new']}" + (f" ({homes_note})" if homes_note else ""),
    ]
    if layers.catchments is not None:
        rows.append(f"{_swatch('#1b9e77')}{_swatch('#d95f02')}{LAYER_NAMES['catchments']} (县级缩放 from county zoom)")
    if layers.stations is not None:
        rows.append(f"{_swatch(STATION_COLOUR, shape='circle')}{LAYER_NAMES['stations']}")
    if layers.centres is not None:
        rows.append(f"{_swatch(CENTRE_COLOUR, shape='circle')}{LAYER_NAMES['centres']}")
    if layers.prefectures is not None:
        rows.append(f"{_swatch('#111111', shape='line')}{LAYER_NAMES['prefectures']}")
    rows.append(f"{_swatch('#333333', shape='line')}{LAYER_NAMES['counties']}")
    if layers.townships is not None:
        rows.append(f"{_swatch('#888888', shape='line')}{LAYER_NAMES['townships']}")
    if travel_classes:
        rows.append(f"<b>{LAYER_NAMES['travel_time']}</b>")
        rows += [f"{_swatch(colour)}{escape_text(label)}" for colour, label in travel_classes]
    if raster_scale is not None:
        low, high = raster_scale
        rows.append(
            '<span class="siting-swatch" style="width:60px;'
            'background:linear-gradient(to right,#ffff3c,#ff1a00)"></span>'
            f"{LAYER_NAMES['raster']}: {low:,.0f} – {high:,.0f}"
        )
    return '<div class="siting-legend">' + "".join(f"<div>{r}</div>" for r in rows) + "</div>"


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
    home_popups: bool = True,
    bands: Sequence[float] = (),
    homes_from_zoom: int | None = None,
) -> folium.Map:
    """Draw a plan: outlines, communities by coverage, uncovered children, catchments, homes, tiers, raster.

    Parameters
    ----------
    layers
        What to draw (:class:`MapLayers`); homes as from :func:`siting.allocation.describe_homes`.
    title_zh, title_en, summary_lines
        Title panel text (summary lines already bilingual); everything is escaped.
    modelled
        Show the "模拟数据 / modelled data" notice.
    basemap
        ``"none"`` (default: the outlines carry the map), ``"osm"``, ``"tianditu"`` (needs a
        key, or ``SITING_TIANDITU_KEY``) or ``"gaode"`` (overlays shifted to GCJ-02).
    bands
        Upper edges of the access bands in the county cards (km or minutes; default the report's).
    homes_from_zoom
        Draw the homes from this zoom on only (an overview of a large area, where thousands of
        homes would hide the county coverage at the first view).
    """
    style = MapStyle(
        unit=layers.unit,
        gcj02=basemap == "gaode",
        simplify_m=simplify_m,
        small_count_threshold=small_count_threshold,
        travel_time=layers.travel_time is not None,
        home_popups=home_popups,
        bands=tuple(bands),
        homes_min_zoom=homes_from_zoom,
    )
    bounds_frame = layers.counties.to_crs("EPSG:4326")
    min_lon, min_lat, max_lon, max_lat = bounds_frame.total_bounds
    fmap = OfflineMap(location=[(min_lat + max_lat) / 2, (min_lon + max_lon) / 2], zoom_start=7, prefer_canvas=True)
    fmap.get_root().title = escape_text(f"{title_zh} {title_en}")  # type: ignore[attr-defined]
    fmap.get_root().header.add_child(RawHtml(f"<style>{CSS}</style>"), name="siting_css")  # type: ignore[attr-defined]
    fmap.fit_bounds([[min_lat, min_lon], [max_lat, max_lon]])
    tiles = tile_layer(basemap, tianditu_key)
    if tiles is not None:
        tiles.add_to(fmap)
    # The raster as far as the study area reaches (a margin of 5 % each side): a national raster
    # under a county's plan is drawn over the county at screen resolution.
    margin_lon, margin_lat = 0.05 * (max_lon - min_lon), 0.05 * (max_lat - min_lat)
    area = (min_lon - margin_lon, min_lat - margin_lat, max_lon + margin_lon, max_lat + margin_lat)
    raster_scale = add_raster(fmap, Path(layers.raster_path), within=area) if layers.raster_path is not None else None
    travel_classes = add_travel_time(fmap, layers.travel_time) if layers.travel_time is not None else []
    if layers.community_polygons:
        add_communities(fmap, layers.communities, style)
    if layers.catchments is not None:
        add_catchments(fmap, layers.catchments, style)
    if "county_code" in layers.counties and "county_code" in layers.communities:
        add_county_coverage(fmap, layers.counties, layers.communities, style)
    add_outlines(
        fmap, counties=layers.counties, townships=layers.townships, prefectures=layers.prefectures, style=style
    )
    add_uncovered_children(fmap, layers.communities, style)
    add_homes(fmap, layers.homes, style)
    names: dict[str, str] = {}
    if layers.townships is not None:
        names.update(zip(layers.townships["township_code"].astype(str), layers.townships["township_name"], strict=True))
    if "county_code" in layers.counties:
        names.update(zip(layers.counties["county_code"].astype(str), layers.counties["county_name_zh"], strict=True))
    add_tiers(fmap, stations=layers.stations, centres=layers.centres, names=names, style=style)
    folium.LayerControl(collapsed=True).add_to(fmap)
    modelled_zh, modelled_en = "村界、儿童分布与已有儿童之家", "boundaries, children and homes"
    if layers.travel_time is not None:
        modelled_zh, modelled_en = (
            "村界、儿童分布、已有儿童之家、地形起伏与道路",
            "boundaries, children, homes, relief and roads",
        )
    notice = (
        '<div style="color:#b30000;font-weight:bold;margin-top:3px">模拟数据 / modelled data — '
        f"{modelled_zh}为模拟 (simulated {modelled_en})</div>"
        if modelled
        else ""
    )
    lines = "".join(f"<div>{escape_text(line)}</div>" for line in summary_lines)
    homes_note = "县级缩放起 from county zoom" if homes_from_zoom else ""
    legend = _legend(layers, raster_scale, travel_classes, homes_note=homes_note)
    panel = (
        '<div class="siting-head"><button type="button" title="收起/展开 collapse/expand">▾</button><div>'
        f'<div class="siting-title">{escape_text(title_zh)}</div><div>{escape_text(title_en)}</div></div></div>'
        f'<div class="siting-body">{lines}{notice}{legend}</div>'
    )
    _Panel(panel).add_to(fmap)
    fmap.get_root().html.add_child(  # type: ignore[attr-defined]
        RawHtml(
            '<div id="siting-offline">底图无法加载（离线），专题图层不受影响 — '
            "basemap offline; thematic layers still work</div>"
        )
    )
    # What only the printed sheet shows (A4 landscape; A3 from the print dialog): a north arrow, the date
    # and the modelled-data notice, beside the title panel, legend and scale bar of the page.
    printed = "模拟数据 modelled data · " if modelled else ""
    fmap.get_root().html.add_child(  # type: ignore[attr-defined]
        RawHtml(
            '<div id="siting-print"><div class="siting-north">▲<br>N 北</div>'
            f"<div>{printed}{escape_text(title_zh)}</div><div>打印日期 printed "
            '<span id="siting-print-date"></span></div></div>'
            "<script>document.getElementById('siting-print-date').textContent="
            "new Date().toISOString().slice(0, 10);</script>"
        )
    )
    _PageScript().add_to(fmap)
    if layers.sandbox is not None:
        from siting.webmap.sandbox import add_sandbox

        colours = {
            "covered": COVERED_COLOUR,
            "uncovered": UNCOVERED_COLOUR,
            "existing": EXISTING_COLOUR,
            "proposed": NEW_COLOUR,
        }
        add_sandbox(fmap, layers.sandbox, colours=colours)
    return fmap
