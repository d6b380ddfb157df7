"""How big the province map is and how long headless Chromium takes to draw it.

    python -m benchmarks.map_render [maps/yunnan_demo.html] [--county outputs/demo 福贡县]

Target (issue 6): under 15 MB, drawn in under 5 s. The peer is folium's own
GeoJson layer with the same communities, written to a file of its own and drawn
in the same browser in the same run.

The sandbox rows (issue 25), timed inside the page with ``performance.now()``: how long after
navigation ``window.siting`` answers (interactive), the median of 20 changes (a proposed home
dropped and taken back: every total recounted and the view redrawn) and of 20 searches. Targets:
province map interactive under 3 s, a change under 100 ms, a search under 50 ms; a county map
(``siting map --unit``) under 1 MB and interactive under 1 s.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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


def _offline_page(p: Any, width: int, height: int) -> tuple[Any, Any]:
    """Headless Chromium and a page of that size with every request but file: and data: blocked."""
    browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=FLAGS)
    page = browser.new_page(viewport={"width": width, "height": height})
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("file:", "data:")) else r.abort())
    return browser, page


def draw_seconds(path: Path, *, timeout_ms: int = 120_000) -> tuple[float | None, int]:
    """Seconds from navigation until every GeoJSON layer exists, and the number of drawn features."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser, page = _offline_page(p, 1400, 900)
        started = time.perf_counter()
        page.goto(path.resolve().as_uri(), wait_until="load", timeout=timeout_ms)
        drawn = page.evaluate("() => typeof L !== 'undefined'")
        seconds: float | None = None
        if drawn:
            # A siting page says it is drawn (window.__sitingMap, set after its layers); the peer draws SVG paths.
            # An overview draws only on the canvas at its first view, with no SVG path to wait for.
            page.wait_for_function(
                "() => window.__sitingMap !== undefined"
                " || document.querySelectorAll('.leaflet-interactive').length > 0",
                timeout=timeout_ms,
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


def sandbox_times(path: Path, *, timeout_ms: int = 120_000) -> dict[str, float | None]:
    """Seconds to interactive, and median milliseconds of a change and of a search in the sandbox."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser, page = _offline_page(p, 1366, 768)
        started = time.perf_counter()
        page.goto(path.resolve().as_uri(), wait_until="commit", timeout=timeout_ms)
        page.wait_for_function("() => window.__sitingMap !== undefined", timeout=timeout_ms, polling=20)
        interactive = time.perf_counter() - started
        if not page.evaluate("() => window.siting !== undefined"):
            browser.close()
            return {"interactive_s": interactive, "change_ms": None, "search_ms": None}
        page.check("#siting-sb-on")  # editing on: every change redraws the sandbox's markers in view
        # A county's view (zoom 11 on a proposed home), where a planner edits.
        page.evaluate(
            """() => { const s = window.siting, h = s.homes().find(x => x.status === "new");
                       s.locate(s.search(h.site_id)[0]); window.__sitingMap.setZoom(11, {animate: false}); }"""
        )
        page.wait_for_timeout(300)
        change, search = page.evaluate(
            """() => {
                const s = window.siting, home = s.homes().find(h => h.status === "new").site_id;
                // A village's first two characters (Yunnan's names hold 村; synthetic areas' do not).
                const found = s.search("村"), name = (found[5] || s.search(home)[0]).name.slice(0, 2), t = [], q = [];
                for (let k = 0; k < 20; k++) {
                    let a = performance.now(); s.toggle(home); t.push(performance.now() - a);  // recount and redraw
                    a = performance.now(); s.search(name); q.push(performance.now() - a);
                }
                const mid = v => v.sort((x, y) => x - y)[v.length >> 1];
                return [mid(t), mid(q)];
            }"""
        )
        browser.close()
    return {"interactive_s": interactive, "change_ms": change, "search_ms": search}


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


def county_map(run: Path, unit: str, out: Path) -> Path:
    """``siting map RUN --unit UNIT`` written to ``out``."""
    from siting.unitmap import unit_map
    from siting.webmap import save_map

    fmap, _ = unit_map(run, unit)
    return save_map(fmap, out)


def main() -> None:
    args = sys.argv[1:]
    county = None
    if "--county" in args:
        at = args.index("--county")
        county = (Path(args[at + 1]), args[at + 2])
        args = args[:at] + args[at + 3 :]
    path = Path(args[0]) if args else Path("maps/yunnan_demo.html")
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
    sandbox_rows = []
    maps = [("province", path)]
    with tempfile.TemporaryDirectory() as tmp:
        if county is not None:
            maps.append((f"county {county[1]}", county_map(county[0], county[1], Path(tmp) / "county.html")))
        for label, page in maps:
            times = sandbox_times(page)
            sandbox_rows.append(
                {
                    "map": label,
                    "size_mb": round(page.stat().st_size / 1e6, 2),
                    "interactive_s": round(times["interactive_s"] or 0.0, 2),
                    "change_ms": "—" if times["change_ms"] is None else round(times["change_ms"], 1),
                    "search_ms": "—" if times["search_ms"] is None else round(times["search_ms"], 1),
                }
            )
    print()
    print_table(sandbox_rows, ["map", "size_mb", "interactive_s", "change_ms", "search_ms"])
    load = ", ".join(f"{v:.2f}" for v in __import__("os").getloadavg())
    print(f"\nload average: {load} on {__import__('os').cpu_count()} CPUs")
    print(
        "\nTarget: under 15 MB and drawn in under 5 s. The folium peer loads Leaflet from a CDN, which is blocked "
        "here as on an offline intranet, so it draws nothing (features = 0)."
    )


if __name__ == "__main__":
    main()
