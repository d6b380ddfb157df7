"""One function per map layer. Each takes the map, the data and the display settings and adds one group.

Every name from the data is escaped with :func:`~siting.webmap.engine.escape_text`;
every cost is written from the access unit (:func:`siting.access.format_cost`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from siting.access import cost_column, format_cost
from siting.report.equity import DEFAULT_BANDS, access_bands, band_columns
from siting.webmap.engine import SafeGeoJson, SafeLabels, display_frame, escape_text, small_count

if TYPE_CHECKING:
    from siting.travel.access import TravelTimeRaster

__all__ = [
    "LAYER_NAMES",
    "MapStyle",
    "add_catchments",
    "add_communities",
    "add_homes",
    "add_outlines",
    "add_raster",
    "add_tiers",
    "add_travel_time",
    "add_uncovered_children",
    "colour_classes",
]

COVERED_COLOUR = "#9ecae1"
UNCOVERED_COLOUR = "#fdd0a2"
UNCOVERED_DOT = "#d7301f"
EXISTING_COLOUR = "#31a354"
NEW_COLOUR = "#ff7f00"
STATION_COLOUR = "#6a3d9a"
CENTRE_COLOUR = "#b15928"
#: Catchment colours: no greys, distinct from each other and from the background.
CATCHMENT_PALETTE = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#1f78b4", "#b2df8a"]
LAYER_NAMES = {
    "prefectures": "州市界 prefecture outlines",
    "counties": "县界 county outlines",
    "townships": "乡镇界 township outlines",
    "communities": "村(社区)覆盖 communities covered / not covered",
    "uncovered": "未覆盖儿童 uncovered children",
    "county_coverage": "县儿童覆盖率 children covered by county",
    "raster": "儿童分布 children per km²",
    "travel_time": "到最近儿童之家的时间 travel time to the nearest home",
    "catchments": "责任范围 catchments",
    "existing": "已有儿童之家 existing homes",
    "new": "新建儿童之家 proposed homes",
    "stations": "乡镇工作站 township stations",
    "centres": "县级指导中心 county guidance centres",
}


#: The zoom from which a county fills the screen: catchments and uncovered children show from it on.
COUNTY_ZOOM = 9
#: Classes of the share of a county's children covered (upper bound %, colour, label), a sequential ramp.
COVERAGE_CLASSES = (
    (50.0, "#deebf7", "< 50%"),
    (70.0, "#9ecae1", "50–70%"),
    (85.0, "#6baed6", "70–85%"),
    (95.0, "#3182bd", "85–95%"),
    (100.1, "#08519c", "≥ 95%"),
)


@dataclass(frozen=True)
class MapStyle:
    """Display settings shared by the layers."""

    unit: str = "m"
    gcj02: bool = False
    simplify_m: float = 250.0
    small_count_threshold: int = 5
    #: A travel-time surface is drawn: communities keep their tooltips but no fill, catchments a light one.
    travel_time: bool = False
    #: Homes open a card on click (a light map keeps their names on hover only).
    home_popups: bool = True
    #: Upper edges of the access bands in the county cards (km or minutes; empty: the default bands).
    bands: tuple[float, ...] = ()
    #: Homes drawn from this zoom on (an overview of a large area: thousands of homes hide the county coverage).
    homes_min_zoom: int | None = None


def _group(
    fmap: folium.Map,
    key: str,
    frame: gpd.GeoDataFrame,
    *,
    name: str | None = None,
    show: bool = True,
    styles: dict[str, Any] | None = None,
    interactive: bool = True,
    min_zoom: int | None = None,
    max_zoom: int | None = None,
) -> None:
    layer = folium.FeatureGroup(name=name or LAYER_NAMES[key], show=show)
    SafeGeoJson(
        frame, name=f"{key}_data", styles=styles, interactive=interactive, min_zoom=min_zoom, max_zoom=max_zoom
    ).add_to(layer)
    layer.add_to(fmap)


def add_outlines(
    fmap: folium.Map,
    *,
    counties: gpd.GeoDataFrame,
    townships: gpd.GeoDataFrame | None,
    prefectures: gpd.GeoDataFrame | None,
    style: MapStyle,
) -> None:
    """Township, county and prefecture outlines (they ignore the mouse) and place names by zoom."""
    if townships is not None and len(townships):
        towns = display_frame(townships[["geometry"]], simplify_m=style.simplify_m, gcj02=style.gcj02, coverage=True)
        towns["_style"] = "t"
        _group(
            fmap,
            "townships",
            towns,
            show=False,
            interactive=False,
            styles={"t": {"fill": False, "color": "#888888", "weight": 0.6, "dashArray": "3 3"}},
        )
        labels = townships.geometry.representative_point()
        SafeLabels(labels, townships["township_name"].astype(str).tolist(), min_zoom=11, css_class="town").add_to(fmap)
    shapes = display_frame(counties[["geometry"]], simplify_m=style.simplify_m, gcj02=style.gcj02, coverage=True)
    shapes["_style"] = "k"
    _group(
        fmap, "counties", shapes, interactive=False, styles={"k": {"fill": False, "color": "#333333", "weight": 1.1}}
    )
    names = [f"{z}" for z in counties["county_name_zh"].astype(str)]
    SafeLabels(counties.geometry.representative_point(), names, min_zoom=8, css_class="county").add_to(fmap)
    if prefectures is not None and len(prefectures):
        pref = display_frame(prefectures[["geometry"]], simplify_m=style.simplify_m, gcj02=style.gcj02, coverage=True)
        pref["_style"] = "p"
        _group(
            fmap,
            "prefectures",
            pref,
            interactive=False,
            styles={"p": {"fill": False, "color": "#111111", "weight": 2.6}},
        )
        SafeLabels(
            prefectures.geometry.representative_point(),
            prefectures["prefecture_name"].astype(str).tolist(),
            min_zoom=0,
            css_class="prefecture",
        ).add_to(fmap)


def add_communities(fmap: folium.Map, communities: gpd.GeoDataFrame, style: MapStyle) -> None:
    """Communities filled pale by coverage, with a tooltip: name, children, home and its cost."""
    cost, nearest = cost_column(style.unit), cost_column(style.unit, "nearest")
    covered = communities["covered"].astype(bool).to_numpy()
    # A home is named by its village (a site at a community seat has that community's code as its id).
    village = (
        dict(zip(communities["community_code"].astype(str), communities["community_name"], strict=True))
        if "community_code" in communities
        else {}
    )
    tips = []
    for name, children, is_covered, site, own, near in zip(
        communities["community_name"],
        communities["children"],
        covered,
        communities["site_id"],
        communities[cost],
        communities[nearest],
        strict=True,
    ):
        reach = (
            f"儿童之家 home: {escape_text(village.get(str(site), site))} ({format_cost(own, style.unit)})"
            if is_covered
            else f"未覆盖 not covered — 最近儿童之家 nearest home {format_cost(near, style.unit)}"
        )
        tips.append(f"<b>{escape_text(name)}</b><br>儿童 children: {children:,.0f}<br>{reach}")
    frame = gpd.GeoDataFrame(
        {"_tip": tips, "_style": np.where(covered, "c", "u")},
        geometry=communities.geometry.to_numpy(),
        crs=communities.crs,
    )
    base = {"color": "#777777", "weight": 0.25, "fillOpacity": 0.0 if style.travel_time else 0.45}
    styles = {"c": {**base, "fillColor": COVERED_COLOUR}, "u": {**base, "fillColor": UNCOVERED_COLOUR}}
    _group(
        fmap,
        "communities",
        display_frame(frame, simplify_m=style.simplify_m, gcj02=style.gcj02, coverage=True),
        styles=styles,
    )


def add_uncovered_children(fmap: folium.Map, communities: gpd.GeoDataFrame, style: MapStyle) -> None:
    """Uncovered children as dots at the community seats, area proportional to the children."""
    unc = communities[~communities["covered"].astype(bool)]
    if "seat_x" in unc.columns:
        points = gpd.points_from_xy(unc["seat_x"], unc["seat_y"])
    else:
        points = unc.geometry.representative_point().to_numpy()
    children = unc["children"].to_numpy(dtype=float)
    largest = float(children.max(initial=1.0)) or 1.0
    radius = 2.0 + 12.0 * np.sqrt(np.clip(children, 0, None) / largest)
    # No tooltip of their own: the dot lets the mouse through to its community, whose tooltip says
    # the same (name, children, not covered, the nearest home), so the page carries it once.
    frame = gpd.GeoDataFrame(
        {"_style": ["u"] * len(unc), "_radius": np.round(radius, 1)},
        geometry=points,
        crs=communities.crs,
    )
    dot = {"color": "#7f0000", "fillColor": UNCOVERED_DOT, "fillOpacity": 0.75, "weight": 0.5}
    # The detail below the county view: at province zoom the dots blanket the map and read as failure.
    _group(
        fmap,
        "uncovered",
        display_frame(frame, simplify_m=0, gcj02=style.gcj02),
        styles={"u": dot},
        interactive=False,
        min_zoom=COUNTY_ZOOM,
    )


def coverage_class(share_pct: float) -> int:
    """The class of a county's share of children covered (:data:`COVERAGE_CLASSES`)."""
    return int(np.searchsorted([upper for upper, _, _ in COVERAGE_CLASSES[:-1]], share_pct, side="right"))


def add_county_coverage(
    fmap: folium.Map, counties: gpd.GeoDataFrame, communities: gpd.GeoDataFrame, style: MapStyle
) -> None:
    """Each county filled by its share of children covered, up to county zoom: the first view leads with it."""
    grouped = communities.groupby("county_code")
    children = grouped["children"].sum()
    covered = (
        communities["children"]
        .where(communities["covered"].astype(bool), 0.0)
        .groupby(communities["county_code"])
        .sum()
    )
    share = (100 * covered / children.where(children > 0)).reindex(counties["county_code"]).to_numpy()
    names = counties.get("county_name_zh", counties["county_code"]).astype(str).to_numpy()
    bands = _band_lines(communities, style)
    frame = gpd.GeoDataFrame(
        {
            "_tip": [
                f"<b>{escape_text(n)}</b><br>覆盖儿童 children covered: "
                + ("—" if not np.isfinite(p) else f"{p:.1f}% ({covered.get(c, 0):,.0f} / {children.get(c, 0):,.0f})")
                + bands.get(c, "")
                for n, p, c in zip(names, share, counties["county_code"], strict=True)
            ],
            "_style": [f"c{coverage_class(p)}" if np.isfinite(p) else "none" for p in share],
        },
        geometry=counties.geometry.to_numpy(),
        crs=counties.crs,
    )
    styles = {
        f"c{k}": {"fillColor": colour, "fillOpacity": 0.85, "color": "#555555", "weight": 0.6}
        for k, (_, colour, _) in enumerate(COVERAGE_CLASSES)
    }
    styles["none"] = {"fillColor": "#dddddd", "fillOpacity": 0.6, "color": "#555555", "weight": 0.6}
    _group(
        fmap,
        "county_coverage",
        # Seen only below county zoom (a pixel is 300 m or more): drawn six times coarser than the outlines.
        display_frame(frame, simplify_m=6 * style.simplify_m, gcj02=style.gcj02, coverage=True),
        styles=styles,
        max_zoom=COUNTY_ZOOM - 1,
    )


def _band_lines(communities: gpd.GeoDataFrame, style: MapStyle) -> dict[str, str]:
    """Per county, its children's shares by distance (or minutes) to the nearest home, one line for its card."""
    nearest = cost_column(style.unit, "nearest")
    if nearest not in communities or "county_code" not in communities:
        return {}
    edges = style.bands or DEFAULT_BANDS[style.unit]
    table = access_bands(
        communities, communities[nearest].to_numpy(dtype=float), unit=style.unit, edges=edges, levels=("county",)
    )["county"].set_index("unit_code")
    columns = band_columns(edges, style.unit)
    shown = "km" if style.unit == "m" else "分钟 min"
    lows = [0.0, *edges]
    labels = [f"{lo:g}–{hi:g}" for lo, hi in zip(lows, edges, strict=False)] + [f"&gt;{edges[-1]:g}"]
    out = {}
    for code, row in table.iterrows():
        total = float(row["children"])
        if total <= 0:
            continue
        parts = " · ".join(f"{label} {100 * row[c] / total:.0f}%" for label, c in zip(labels, columns, strict=True))
        out[str(code)] = f"<br>最近儿童之家 to the nearest home ({shown}): {parts}"
    return out


def colour_classes(polygons: gpd.GeoSeries, n_colours: int = len(CATCHMENT_PALETTE)) -> np.ndarray:
    """A colour index per polygon such that no two touching polygons share one (greedy, largest degree first)."""
    n = len(polygons)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    left, right = polygons.sindex.query(polygons.to_numpy(), predicate="intersects")
    pairs = left != right
    neighbours: list[set[int]] = [set() for _ in range(n)]
    for a, b in zip(left[pairs], right[pairs], strict=True):
        neighbours[int(a)].add(int(b))
    colour = np.full(n, -1, dtype=np.int64)
    for i in sorted(range(n), key=lambda k: -len(neighbours[k])):
        taken = {int(colour[j]) for j in neighbours[i] if colour[j] >= 0}
        free = [c for c in range(n_colours) if c not in taken]
        colour[i] = free[0] if free else min(range(n_colours), key=lambda c: sum(colour[j] == c for j in neighbours[i]))
    return colour


def add_catchments(fmap: folium.Map, catchments: gpd.GeoDataFrame, style: MapStyle) -> None:
    """Responsibility areas, neighbours in different colours, shown from county zoom (9) on."""
    areas = catchments[catchments["site_id"].notna()].reset_index(drop=True)
    mean = cost_column(style.unit, "mean")
    classes = colour_classes(areas.geometry)
    frame = gpd.GeoDataFrame(
        {
            "_tip": [
                f"责任范围 catchment {escape_text(s)}<br>村(社区) communities: {n}<br>儿童 children: {c:,.0f}<br>"
                f"平均 mean: {format_cost(m, style.unit)}"
                for s, n, c, m in zip(
                    areas["site_id"], areas["communities"], areas["children"], areas[mean], strict=True
                )
            ],
            "_style": [f"p{k}" for k in classes],
        },
        geometry=areas.geometry.to_numpy(),
        crs=areas.crs,
    )
    palette = {
        f"p{k}": {
            "fillColor": colour,
            "color": colour if style.travel_time else "#333333",
            "weight": 2.0 if style.travel_time else 0.7,
            "fillOpacity": 0.12 if style.travel_time else 0.45,
        }
        for k, colour in enumerate(CATCHMENT_PALETTE)
    }
    _group(
        fmap,
        "catchments",
        display_frame(frame, simplify_m=style.simplify_m, gcj02=style.gcj02, coverage=True),
        styles=palette,
        min_zoom=9,
    )


def _home_popup(row: dict[str, Any], style: MapStyle, *, existing: bool) -> str:
    unit = style.unit
    year = f"<br>建设年份 build year: {int(row['build_year'])}" if pd.notna(row.get("build_year")) else ""
    served = list(row.get("served_names") or [])
    names = "、".join(escape_text(n) for n in served[:10]) + ("…" if len(served) > 10 else "")
    kind = "已有儿童之家 existing home" if existing else "新建儿童之家 proposed home"
    lines = [
        f"<b>{kind}</b>{year}",
        f"{escape_text(row['community_name'])} ({escape_text(row['site_id'])})",
        f"乡镇 township: {escape_text(row.get('township_name', ''))} · "
        f"县 county: {escape_text(row.get('county_name', ''))}",
        f"服务村(社区) serves {int(row['communities_served'])}: {names or '—'}",
        f"服务儿童 children served: {row['children_served']:,.0f}; 重点儿童 priority: "
        f"{small_count(row['priority_served'], threshold=style.small_count_threshold)}",
        f"平均/最远 mean/farthest: {format_cost(row[cost_column(unit, 'mean')], unit)} / "
        f"{format_cost(row[cost_column(unit, 'max')], unit)}",
    ]
    if not existing:
        lines.append(f"建设资金 cost: {row['cost_cny']:,.0f} 元 CNY")
        why = [f"只有此家能覆盖的儿童 children only this home reaches: {row['children_added']:,.0f}"]
        if row.get("alternative_name") is not None and pd.notna(row.get("alternative_added")):
            why.append(f"乡镇次优 next best: {escape_text(row['alternative_name'])} +{row['alternative_added']:,.0f}")
        if pd.notna(row.get("cost_share_pct")):
            why.append(f"资金占比 cost share {row['cost_share_pct']:.2f}%")
        if pd.notna(row.get("township_uncovered_before")):
            why.append(
                f"本乡镇未覆盖儿童 uncovered children in its township: {row['township_uncovered_before']:,.0f} → "
                f"{row['township_uncovered_after']:,.0f}"
            )
        if pd.notna(row.get("nearest_existing_m")):
            why.append(
                f"最近已有儿童之家 nearest existing home: {format_cost(row['nearest_existing_m'], 'm')} "
                "(直线 straight line)"
            )
        lines.append("<b>选址理由 why here</b>: " + "<br>".join(why))
    return "<br>".join(lines)


def add_homes(fmap: folium.Map, homes: gpd.GeoDataFrame, style: MapStyle) -> None:
    """Existing homes (circles) and proposed homes (triangles), one layer per build year when phased."""
    groups: list[tuple[bool, str, str, gpd.GeoDataFrame]] = [
        (True, "existing", LAYER_NAMES["existing"], homes[homes["existing"].astype(bool)])
    ]
    new_homes = homes[~homes["existing"].astype(bool)]
    years = new_homes["build_year"].dropna().unique() if "build_year" in new_homes else []
    if len(years):
        for year in sorted(int(y) for y in years):
            name = f"新建儿童之家 {year} proposed homes {year}"
            groups.append((False, f"new_{year}", name, new_homes[new_homes["build_year"] == year]))
    else:
        groups.append((False, "new", LAYER_NAMES["new"], new_homes))
    for existing, key, layer_name, subset in groups:
        records = subset.drop(columns="geometry").to_dict("records")
        frame = gpd.GeoDataFrame(
            {
                "_tip": [escape_text(r["community_name"]) for r in records],
                "_popup": [_home_popup(r, style, existing=existing) if style.home_popups else "" for r in records],
                "_style": ["h"] * len(subset),
                "_marker": ["circle" if existing else "triangle"] * len(subset),
            },
            geometry=subset.geometry.to_numpy(),
            crs=homes.crs,
        )
        marker = (
            {"radius": 3.5, "color": "#1b5e20", "fillColor": EXISTING_COLOUR, "fillOpacity": 0.9, "weight": 1}
            if existing
            else {"color": NEW_COLOUR}
        )
        _group(
            fmap,
            key,
            display_frame(frame, simplify_m=0, gcj02=style.gcj02),
            styles={"h": marker},
            name=layer_name,
            min_zoom=style.homes_min_zoom,
        )


def add_tiers(
    fmap: folium.Map,
    *,
    stations: gpd.GeoDataFrame | None,
    centres: gpd.GeoDataFrame | None,
    names: dict[str, str],
    style: MapStyle,
) -> None:
    """Township stations and county guidance centres (off at first: the layer control shows them)."""
    for key, tier, colour in (("stations", stations, STATION_COLOUR), ("centres", centres, CENTRE_COLOUR)):
        if tier is None or tier.empty:
            continue
        label = "乡镇工作站 township station" if key == "stations" else "县级指导中心 county centre"
        code = tier["township_code"] if key == "stations" else tier["county_code"]
        where = [""] * len(tier) if key == "stations" else [f" ({escape_text(p)})" for p in tier["placed_at"]]
        visits = [""] * len(tier)
        if "supervisor_hours_per_month" in tier:  # the supervisor's monthly round from this station
            visits = [
                f"<br>督导 {h:.0f} 小时/月 h/month · {int(n)} 督导员 supervisors" if np.isfinite(h) else ""
                for h, n in zip(tier["supervisor_hours_per_month"], tier["supervisors_needed"].fillna(0), strict=True)
            ]
        frame = gpd.GeoDataFrame(
            {
                # A station is where its township's homes are: the site it stands at says nothing more to a
                # planner (1,413 of them weigh 35 kB); a centre says whether it is at an institution.
                "_tip": [
                    f"{label}: {escape_text(names.get(str(c), c))}{w}{v}"
                    for c, w, v in zip(code, where, visits, strict=True)
                ],
                "_style": ["s"] * len(tier),
            },
            geometry=tier.geometry.to_numpy(),
            crs=tier.crs,
        )
        size = 4 if key == "stations" else 7
        marker = {"radius": size, "color": "#222222", "fillColor": colour, "fillOpacity": 0.95, "weight": 1}
        _group(fmap, key, display_frame(frame, simplify_m=0, gcj02=style.gcj02), show=False, styles={"s": marker})


#: The projection of the map's screen (Leaflet's default); overlays are drawn on its grid.
WEB_MERCATOR = "EPSG:3857"
#: Web Mercator ends here (degrees of latitude).
MERCATOR_MAX_LAT = 85.0511


def _ramp(t: np.ndarray) -> np.ndarray:
    """Colour ramp for children per km²: none at 0, then yellow ``#ffff3c`` → red ``#ff1a00``, as the legend."""
    rgba = np.zeros((*t.shape, 4), dtype=np.uint8)
    rgba[..., 0] = 255
    rgba[..., 1] = (255 * np.clip(1.0 - 0.9 * t, 0, 1)).astype(np.uint8)
    rgba[..., 2] = (60 * (1 - t)).astype(np.uint8)
    rgba[..., 3] = np.where(t > 0, 190, 0).astype(np.uint8)
    return rgba


def _screen_grid(
    crs: Any,
    bounds: tuple[float, float, float, float],
    max_pixels: int,
    *,
    within: tuple[float, float, float, float] | None = None,
) -> tuple[tuple[float, float, float, float], Any, int, int]:
    """A Web Mercator grid over ``bounds`` (in ``crs``) at most ``max_pixels`` on its long side: what a screen shows.

    Leaflet stretches an overlay linearly between its corners on a Web Mercator map, so the
    image is made on that grid and handed over as it is. (folium's ``mercator_project``
    turns the image into floats and rescales each colour channel to its own maximum: faint
    densities came out cyan and every pixel opaque.) ``within`` (lon/lat) cuts the grid
    to the study area: a county's map on a national raster shows the county at full screen
    resolution, not China at a few pixels a county.

    Returns ``((west, south, east, north), transform, width, height)``: the corners in
    lon/lat (for the overlay) and the grid's transform in :data:`WEB_MERCATOR`.
    """
    from rasterio.transform import from_bounds
    from rasterio.warp import transform_bounds

    west, south, east, north = transform_bounds(crs, "EPSG:4326", *bounds)
    if within is not None:
        inner = (max(west, within[0]), max(south, within[1]), min(east, within[2]), min(north, within[3]))
        if inner[0] < inner[2] and inner[1] < inner[3]:
            west, south, east, north = inner
    south, north = max(south, -MERCATOR_MAX_LAT), min(north, MERCATOR_MAX_LAT)
    x0, y0, x1, y1 = transform_bounds("EPSG:4326", WEB_MERCATOR, west, south, east, north)
    scale = max(x1 - x0, y1 - y0) / max_pixels
    width, height = max(1, math.ceil((x1 - x0) / scale)), max(1, math.ceil((y1 - y0) / scale))
    return (west, south, east, north), from_bounds(x0, y0, x1, y1, width, height), width, height


def add_raster(
    fmap: folium.Map,
    path: Path,
    *,
    max_pixels: int = 1000,
    within: tuple[float, float, float, float] | None = None,
) -> tuple[float, float] | None:
    """The child raster at the resolution a screen shows (memory independent of the input), in any CRS.

    ``within``: the study area's lon/lat bounds; only that part of the raster is drawn.
    Returns the children per km² at the ends of the colour scale (for the legend), or None when empty.
    """
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT

    with rasterio.open(path) as src:
        (west, south, east, north), transform, width, height = _screen_grid(
            src.crs, tuple(src.bounds), max_pixels, within=within
        )
        # Children per km² of the native cells, averaged into display pixels.
        native_km2 = abs(src.res[0] * src.res[1]) / 1e6
        if src.crs.is_geographic:
            native_km2 = abs(src.res[0] * src.res[1]) * (111.32**2) * math.cos(math.radians((south + north) / 2))
        with WarpedVRT(
            src, crs=WEB_MERCATOR, transform=transform, width=width, height=height, resampling=Resampling.average
        ) as vrt:
            data = vrt.read(1, masked=True).astype(np.float64)
    density = np.clip(data.filled(0.0), 0, None) / max(native_km2, 1e-12)
    positive = density[density > 0]
    if positive.size == 0:
        return None
    low, high = float(np.quantile(positive, 0.05)), float(np.quantile(positive, 0.995))
    span = math.log(max(high, low * 1.0001) / low)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(density > 0, np.clip(np.log(np.maximum(density, low) / low) / span, 0.02, 1), 0.0)
    folium.raster_layers.ImageOverlay(
        image=_ramp(t),
        bounds=[[south, west], [north, east]],
        mercator_project=False,
        name=LAYER_NAMES["raster"],
        show=False,
    ).add_to(fmap)
    return low, high


#: Travel-time classes as shares of the standard, and their colours: greens within it, orange and lilac
#: beyond (never the red of the uncovered-children dots).
TRAVEL_CLASSES = ((0.25, "#1a9850"), (0.5, "#91cf60"), (1.0, "#d9ef8b"), (2.0, "#fdae61"), (math.inf, "#9e9ac8"))


def travel_time_classes(standard_min: float) -> list[tuple[str, str]]:
    """``(colour, label)`` of each class, e.g. ``("#1a9850", "≤ 15 分钟 min")``."""
    out, low = [], 0.0
    for share, colour in TRAVEL_CLASSES:
        high = share * standard_min
        label = f"> {low:,.0f} 分钟 min" if math.isinf(high) else f"{low:,.0f}–{high:,.0f} 分钟 min"
        out.append((colour, label))
        low = high
    return out


def add_travel_time(fmap: folium.Map, raster: TravelTimeRaster, *, max_pixels: int = 1200) -> list[tuple[str, str]]:
    """The nearest-home travel-time raster in classes of the standard, at screen resolution; returns the legend."""
    from rasterio.enums import Resampling
    from rasterio.transform import array_bounds
    from rasterio.warp import reproject

    height, width = raster.minutes.shape
    west, south, east, north = array_bounds(height, width, raster.transform)
    (west, south, east, north), transform, out_w, out_h = _screen_grid(
        raster.crs, (west, south, east, north), max_pixels
    )
    shown = np.full((out_h, out_w), np.nan, dtype=np.float32)
    reproject(
        raster.minutes,
        shown,
        src_transform=raster.transform,
        src_crs=raster.crs,
        src_nodata=np.nan,
        dst_transform=transform,
        dst_crs=WEB_MERCATOR,
        dst_nodata=np.nan,
        resampling=Resampling.average,
    )
    # Class k holds the minutes in (edge k-1, edge k]; the first class starts at 0, the last is open.
    edges = np.array([share * raster.standard_min for share, _ in TRAVEL_CLASSES[:-1]])
    palette = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] + [170] for _, c in TRAVEL_CLASSES], np.uint8)
    known = np.isfinite(shown)
    rgba = np.zeros((out_h, out_w, 4), dtype=np.uint8)
    rgba[known] = palette[np.searchsorted(edges, shown[known], side="left")]
    folium.raster_layers.ImageOverlay(
        image=rgba,
        bounds=[[south, west], [north, east]],
        mercator_project=False,
        name=LAYER_NAMES["travel_time"],
        show=True,
    ).add_to(fmap)
    return travel_time_classes(raster.standard_min)
