"""Versions of the libraries that shape a plan (recorded in ``run.json``)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["LIBRARIES", "library_versions"]

LIBRARIES = (
    "numpy",
    "scipy",
    "pandas",
    "geopandas",
    "shapely",
    "pyproj",
    "rasterio",
    "scikit-learn",
    "pulp",
    "highspy",
    "folium",
)


def library_versions() -> dict[str, str]:
    """Library name → installed version (``"not installed"`` when absent)."""
    out = {}
    for name in LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out
