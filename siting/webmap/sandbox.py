"""The sandbox (沙盘) in the page: the run's communities, sites and pairs, and the plain script that plans with them.

:func:`add_sandbox` embeds :class:`siting.sandbox.SandboxData` as JSON (the pairs as
base64 typed arrays) and the script ``sandbox.js`` beside this module. The script counts
coverage exactly as :func:`siting.sandbox.coverage_of` does, so ``siting evaluate`` on the
page's export gives the same children covered at every level. Its JavaScript face is
``window.siting`` (``totals()``, ``toggle(siteId)``, ``homes()``, ``suggest()``,
``search(text)``, ``exportCsv()``, ``scenarioSnippet()``, ``undo()``, ``reset()``).
"""

from __future__ import annotations

import base64
from importlib import resources
from typing import Any

import folium
import numpy as np
import pandas as pd
from jinja2 import Template

from siting.sandbox import SandboxData
from siting.webmap.engine import RawHtml, _ValueScript, json_for_script

__all__ = ["SANDBOX_CSS", "add_sandbox", "sandbox_payload"]

SANDBOX_CSS = """
.siting-sandbox{max-width:400px;max-height:calc(100vh - 40px);overflow-y:auto}
.siting-sandbox .siting-sb-hit{cursor:pointer;padding:1px 3px}
.siting-sandbox .siting-sb-hit:hover,.siting-sandbox tr[data-site]:hover,
.siting-sandbox tr[data-community]:hover{background:#eef}
.siting-sandbox table{border-collapse:collapse;width:100%;font-size:12px}
.siting-sandbox th{cursor:pointer;text-align:left;border-bottom:1px solid #999}
.siting-sandbox td{padding:0 3px;border-bottom:1px solid #eee}
.siting-sandbox .siting-sb-table{max-height:150px;overflow-y:auto;margin-top:4px}
.siting-sandbox .siting-sb-buttons{margin:4px 0}
.siting-sandbox .siting-sb-hint{color:#666}
.leaflet-tooltip.siting-sb-name{background:none;border:none;box-shadow:none;padding:0 2px;font:11px sans-serif;
  color:#222;text-shadow:0 0 2px #fff,0 0 2px #fff,0 0 3px #fff}
.leaflet-tooltip.siting-sb-name:before{display:none}
"""


def _b64(values: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(values).tobytes()).decode("ascii")


def sandbox_payload(data: SandboxData, *, colours: dict[str, str]) -> dict[str, Any]:
    """The JSON the page carries: communities, sites, the pairs and unit names.

    Numbers go as base64 little-endian typed arrays: children and priority in float64 (the
    page's sums are siting's), seats in float32 (a metre), a pair's cost in uint16 (metres, or
    tenths of a minute: only shown, never counted), codes as indices into the unit list.
    """
    codes = sorted(set(data.unit_code.tolist()) | set(data.township_code) | set(data.county_code))
    codes = sorted(set(codes) | set(data.prefecture_code))
    index = {code: k for k, code in enumerate(codes)}
    community_of = pd.Index(data.community_code.astype(str)).get_indexer(data.site_community.astype(str))
    scale = 1.0 if data.unit == "m" else 10.0
    return {
        "unit": data.unit,
        "standard": data.standard,
        "budget": None if not np.isfinite(data.budget_cny) else data.budget_cny,
        "threshold": data.threshold,
        "colours": colours,
        "unitCodes": codes,
        "communities": {
            "code": data.community_code.tolist(),
            "name": data.community_name.tolist(),
            "township": _b64(np.array([index[c] for c in data.township_code], dtype="<u4")),
            "county": _b64(np.array([index[c] for c in data.county_code], dtype="<u4")),
            "prefecture": _b64(np.array([index[c] for c in data.prefecture_code], dtype="<u4")),
            "children": _b64(data.children.astype("<f8")),
            "priority": _b64(data.priority.astype("<f8")),
            "lon": _b64(data.lon.astype("<f4")),
            "lat": _b64(data.lat.astype("<f4")),
        },
        "sites": {
            # A site at a community seat has that community's code as its id (most do): sent once.
            "id": [
                None if i >= 0 and s == data.community_code[i] else s
                for s, i in zip(data.site_id.tolist(), community_of.tolist(), strict=True)
            ],
            "community": _b64(community_of.astype("<i4")),
            "existing": _b64(data.site_existing.astype("<u1")),
            "planned": _b64(data.site_planned.astype("<u1")),
            "cost": _b64(data.site_cost_cny.astype("<f8")),
            "lon": _b64(data.site_lon.astype("<f4")),
            "lat": _b64(data.site_lat.astype("<f4")),
        },
        "pairs": {
            "indptr": _b64(data.indptr.astype("<u4")),
            "indices": _b64(data.indices.astype("<u2" if len(data.site_id) < 2**16 else "<u4")),
            "wide": len(data.site_id) >= 2**16,
            "cost": _b64(np.minimum(np.round(data.cost * scale), 65535).astype("<u2")),
            "scale": scale,
        },
        "units": dict(zip(data.unit_code.tolist(), data.unit_name.tolist(), strict=True)),
        # The plan's nearest home of each community at any distance (shown for the villages left out).
        "nearestSite": data.plan_nearest_site.tolist(),
        "nearestCost": [None if not np.isfinite(c) else round(float(c), 1) for c in data.plan_nearest_cost],
        "levels": dict(zip(data.unit_code.tolist(), data.unit_level.tolist(), strict=True)),
    }


class _SandboxScript(_ValueScript):
    """The sandbox script, given the map it plans on."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        window.__sitingMap = {{ this._parent.get_name() }};
        {{ this.code }}
        {% endmacro %}"""
    )

    def __init__(self, code: str) -> None:
        super().__init__()
        self._name = "SitingSandbox"
        self.code = code


def add_sandbox(fmap: folium.Map, data: SandboxData, *, colours: dict[str, str]) -> None:
    """Embed the sandbox's data and script in the page (data as JSON, never as code)."""
    payload = json_for_script(sandbox_payload(data, colours=colours))
    fmap.get_root().html.add_child(  # type: ignore[attr-defined]
        RawHtml(f'<script type="application/json" id="siting-sandbox-data">{payload}</script>')
    )
    fmap.get_root().header.add_child(RawHtml(f"<style>{SANDBOX_CSS}</style>"), name="siting_sandbox_css")  # type: ignore[attr-defined]
    code = resources.files("siting.webmap").joinpath("sandbox.js").read_text(encoding="utf-8")
    _SandboxScript(code).add_to(fmap)
