"""Zonal sums of children per community: siting against exactextract and rasterstats.

Builds a 10,000 x 10,000 float32 raster (100 M cells, 100 m, UTM) and ~14,600
Voronoi community polygons, then times in separate processes (so peak memory
is each tool's own): reading the raster once (the I/O floor), siting's
``zonal_children`` (sums only, like the peers, and with weighted centres),
exactextract and rasterstats. Prints a table with ratios.

    python -m benchmarks.zonal [--size 10000] [--polygons 14600] [--skip-rasterstats]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from affine import Affine

from benchmarks.common import child_main, print_table, run_child

CRS = "EPSG:32648"
CELL_M = 100.0
X0, Y0 = 300_000.0, 3_000_000.0


def build_inputs(folder: Path, size: int, polygons: int, seed: int = 0) -> tuple[Path, Path]:
    """Write the raster (tiled GeoTIFF) and the polygons (GeoPackage)."""
    rng = np.random.default_rng(seed)
    raster = folder / "children.tif"
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 1,
        "dtype": "float32",
        "crs": CRS,
        "transform": Affine.translation(X0, Y0) @ Affine.scale(CELL_M, -CELL_M),
        "nodata": -99999.0,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "BIGTIFF": "YES",
    }
    with rasterio.open(raster, "w", **profile) as dst:
        for row in range(0, size, 1000):
            height = min(1000, size - row)
            block = rng.gamma(0.5, 2.0, (height, size)).astype(np.float32)
            dst.write(block, 1, window=rasterio.windows.Window(0, row, size, height))
    extent = shapely.box(X0, Y0 - size * CELL_M, X0 + size * CELL_M, Y0)
    seeds = rng.uniform([X0, Y0 - size * CELL_M], [X0 + size * CELL_M, Y0], (polygons, 2))
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=extent))
    cells = shapely.intersection(cells, extent)
    gdf = gpd.GeoDataFrame(
        {"community_code": [f"{530000000000 + i:012d}" for i in range(len(cells))]}, geometry=cells, crs=CRS
    )
    vectors = folder / "communities.gpkg"
    gdf.to_file(vectors)
    return raster, vectors


def _work(argv: list[str]) -> dict[str, Any]:
    method, raster, vectors = argv
    zones = gpd.read_file(vectors)
    # Imports are not timed, for any tool.
    if method.startswith("siting"):
        import siting.population  # noqa: F401
    elif method == "exactextract":
        import exactextract  # noqa: F401
    elif method == "rasterstats":
        import rasterstats  # noqa: F401
    started = time.perf_counter()
    if method == "read":
        with rasterio.open(raster) as src:
            total = float(src.read(1).sum(dtype=np.float64))
    elif method == "siting":
        from siting.population import zonal_children

        result = zonal_children(raster, zones, id_column="community_code", weighted_centres=False)
        total = float(result.children.sum())
    elif method == "siting+centres":
        from siting.population import zonal_children

        total = float(zonal_children(raster, zones, id_column="community_code").children.sum())
    elif method == "exactextract":
        from exactextract import exact_extract

        out = exact_extract(raster, zones, "sum", output="pandas")
        total = float(out["sum"].sum())
    elif method == "rasterstats":
        from rasterstats import zonal_stats

        stats = zonal_stats(zones, str(raster), stats=["sum"])
        total = float(sum(s["sum"] or 0.0 for s in stats))
    else:
        raise SystemExit(f"unknown method {method}")
    return {"method": method, "seconds": round(time.perf_counter() - started, 2), "total": round(total, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--polygons", type=int, default=14_600)
    parser.add_argument("--skip-rasterstats", action="store_true")
    parser.add_argument("--timeout-s", type=float, default=600)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="siting-bench-") as tmp:
        started = time.perf_counter()
        raster, vectors = build_inputs(Path(tmp), args.size, args.polygons)
        print(
            f"inputs: {args.size} x {args.size} float32 raster, {args.polygons} polygons "
            f"(built in {time.perf_counter() - started:.0f} s)\n"
        )
        methods = ["read", "siting", "siting+centres", "exactextract"] + (
            [] if args.skip_rasterstats else ["rasterstats"]
        )
        rows = [
            run_child("benchmarks.zonal", [m, str(raster), str(vectors)], timeout_s=args.timeout_s) | {"method": m}
            for m in methods
        ]
    by = {r["method"]: r for r in rows}
    for row in rows:
        if "seconds" in row:
            row["x_read_floor"] = f"{row['seconds'] / by['read']['seconds']:.1f}x"
            if "seconds" in by["siting"]:
                row["siting_speedup"] = f"{row['seconds'] / by['siting']['seconds']:.1f}x"
    print_table(
        rows, ["method", "seconds", "peak_mb", "worker_peak_mb", "total", "x_read_floor", "siting_speedup", "error"]
    )
    print("\nx_read_floor: time / time to read the raster once; siting_speedup: time / siting's time.")
    print(
        "Targets: siting within 3x of the read floor, >= 2x faster than exactextract, >= 10x faster than "
        "rasterstats, peak memory < 1 GB."
    )


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 4 and sys.argv[1] in ("read", "siting", "siting+centres", "exactextract", "rasterstats"):
        child_main(_work)
    else:
        main()
