"""The nearest-home raster on a large grid: burnt in windows against one whole-array burn.

    python -m benchmarks.nearest_raster [--cells 20000] [--homes 20000]

The instance is synthetic: ``--homes`` catchments (the Voronoi cells of random homes over
a square, clipped to it) burnt on a ``--cells`` × ``--cells`` grid in UTM metres, as a
240k-community area on a 3″ raster would be (about a billion cells at 31,600²). Each row
runs in its own process, peak memory its own:

* ``siting (windows)``: :func:`siting.allocation._rasterize_in_windows`, 2048² a window;
* ``whole array``: one ``rasterio.features.rasterize`` of the whole grid, then one write
  (what siting did before issue 30).

Both files are compared cell for cell (a sample of windows). Target (issue 30): memory
that follows the window, not the raster; the time no worse than the whole burn.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import child_main, print_table, run_child

CRS = "EPSG:32648"


def _catchments(cells: int, homes: int, seed: int = 30) -> tuple[np.ndarray, Any]:
    import shapely
    from rasterio.transform import from_origin

    size_m = cells * 90.0  # 3″ is about 90 m
    rng = np.random.default_rng(seed)
    points = shapely.points(rng.uniform(0, size_m, (homes, 2)))
    frame = shapely.box(0, 0, size_m, size_m)
    cells_of = shapely.voronoi_polygons(shapely.MultiPoint(list(points)), extend_to=frame)
    polygons = np.array([shapely.intersection(p, frame) for p in shapely.get_parts(cells_of)], dtype=object)
    return polygons, from_origin(0, size_m, 90.0, 90.0)


def _child(argv: list[str]) -> dict[str, Any]:
    what, cells, homes, out = argv[0], int(argv[1]), int(argv[2]), Path(argv[3])
    polygons, transform = _catchments(cells, homes)
    started = time.perf_counter()
    if what == "windows":
        import rasterio.crs

        from siting.allocation import _rasterize_in_windows

        crs = rasterio.crs.CRS.from_string(CRS)
        _rasterize_in_windows(out, polygons, shape=(cells, cells), transform=transform, crs=crs)
    else:
        import rasterio.features

        from siting.rasters import write_band

        grid = rasterio.features.rasterize(
            ((g, k + 1) for k, g in enumerate(polygons)),
            out_shape=(cells, cells),
            transform=transform,
            fill=0,
            dtype="int32",
        )
        write_band(out, grid, crs=CRS, transform=transform, nodata=0)
    return {"seconds": round(time.perf_counter() - started, 1)}


def _same(a: Path, b: Path, cells: int) -> bool:
    import rasterio
    from rasterio.windows import Window

    rng = np.random.default_rng(0)
    with rasterio.open(a) as one, rasterio.open(b) as two:
        for _ in range(20):
            r, c = rng.integers(0, max(cells - 1000, 1), 2)
            window = Window(int(c), int(r), min(1000, cells), min(1000, cells))
            if not (one.read(1, window=window) == two.read(1, window=window)).all():
                return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=20_000, help="rows and columns of the grid")
    parser.add_argument("--homes", type=int, default=20_000, help="catchments burnt")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="nearest-raster-"))
    rows = []
    for what, tool in (("windows", "siting (windows)"), ("whole", "whole array")):
        out = folder / f"{what}.tif"
        result = run_child(
            "benchmarks.nearest_raster",
            ["--child", what, str(args.cells), str(args.homes), str(out)],
            timeout_s=3600,
            tree_memory=True,
        )
        rows.append({"tool": tool, **result})
    ours, peer = rows
    if "peak_mb" in ours and "peak_mb" in peer:
        peer["memory_ratio"] = f"{peer['peak_mb'] / max(ours['peak_mb'], 1e-9):.1f}x"
        peer["time_ratio"] = f"{peer['seconds'] / max(ours['seconds'], 1e-9):.2f}x"
    print_table(rows, ["tool", "seconds", "peak_mb", "tree_peak_mb", "memory_ratio", "time_ratio", "error"])
    print()
    same = _same(folder / "windows.tif", folder / "whole.tif", args.cells) if "error" not in peer else None
    print(f"grid {args.cells:,} × {args.cells:,} = {args.cells**2 / 1e6:,.0f} M cells, {args.homes:,} catchments;")
    print(f"same cells (20 windows of 1000² compared): {same}. ratio: whole array / windows.")
    print(f"load average during the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    import sys

    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main(lambda argv: _child(argv[1:]))
    else:
        main()
