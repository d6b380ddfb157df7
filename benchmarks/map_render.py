"""How big the province map is and how long headless Chromium takes to draw it.

    python -m benchmarks.map_render [maps/yunnan_demo.html]

Target (issue 6): under 15 MB, drawn in under 5 s. The peer is folium's own
GeoJson layer with the same communities, written to a file of its own and drawn
in the same browser in the same run.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import print_table

FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def draw_seconds(path: Path, *, timeout_ms: int = 120_000) -> tuple[float | None, int]:
    """Seconds from navigation until every GeoJSON layer exists, and the number of drawn features."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("file:", "data:")) else r.abort())
        started = time.perf_counter()
        page.goto(path.resolve().as_uri(), wait_until="load", timeout=timeout_ms)
        drawn = page.evaluate("() => typeof L !== 'undefined'")
        seconds: float | None = None
        if drawn:
            page.wait_for_function(
                "() => document.querySelectorAll('.leaflet-interactive').length > 0", timeout=timeout_ms
            )
            page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
            seconds = time.perf_counter() - started
        features = (
            page.evaluate(
                """() => Object.keys(window)
                    .filter(k => window[k] && window[k].getLayers && /^(geo_json|.*_data)_/.test(k))
                    .reduce((n, k) => n + window[k].getLayers().length, 0)"""
            )
            if drawn
            else 0
        )
        browser.close()
    return seconds, int(features)


def folium_peer(siting_map: Path, out: Path) -> Path:
    """The same communities drawn with folium.GeoJson + GeoJsonTooltip (folium's default way)."""
    import folium
    import geopandas as gpd

    from siting.sample.paths import sample_paths

    communities = gpd.read_file(sample_paths().communities_gpkg, layer="communities")
    communities = communities[["community_name", "children_modelled", "geometry"]]
    fmap = folium.Map(location=[25, 101.5], zoom_start=7, tiles=None, prefer_canvas=True)
    folium.GeoJson(communities, tooltip=folium.GeoJsonTooltip(["community_name", "children_modelled"])).add_to(fmap)
    fmap.save(str(out))
    return out


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("maps/yunnan_demo.html")
    if not path.exists():
        raise SystemExit(f"{path} does not exist; run `make demo` first")
    rows = []
    seconds, features = draw_seconds(path)
    rows.append(
        {
            "map": "siting (all layers, offline)",
            "size_mb": round(path.stat().st_size / 1e6, 1),
            "draw_s": round(seconds, 2),
            "features": features,
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        peer = folium_peer(path, Path(tmp) / "folium.html")
        seconds_peer, features_peer = draw_seconds(peer, timeout_ms=30_000)
        rows.append(
            {
                "map": "folium GeoJson, communities only (CDN blocked)",
                "size_mb": round(peer.stat().st_size / 1e6, 1),
                "draw_s": "blank: no Leaflet offline" if seconds_peer is None else round(seconds_peer, 2),
                "features": features_peer,
            }
        )
    print_table(rows, ["map", "size_mb", "draw_s", "features"])
    print(
        "\nTarget: under 15 MB and drawn in under 5 s. The folium peer loads Leaflet from a CDN, which is blocked "
        "here as on an offline intranet, so it draws nothing (features = 0)."
    )


if __name__ == "__main__":
    main()
