"""Travel time against GRASS GIS ``r.cost`` — AccessMod 5's isotropic engine — on the same inputs.

    python -m benchmarks.accessmod_grass [--size-km 100] [--cell-m 200] [--sources 20]

AccessMod 5 computes isotropic accessibility with GRASS ``r.cost`` (8 neighbours, a move
costing the mean of its two cells' friction times its length, no-data impassable). This
script gives GRASS and siting the same inputs, an AccessMod-style scenario on the Yunnan
sample around Kunming: the real MODIS land cover (warped nearest to a UTM grid of
``--cell-m``), the sample's speed table in AccessMod's form (walking speeds per class), the
real rivers and lakes as barriers, the sample's modelled roads burnt over them (bridges; the
demo's road speeds), and ``--sources`` facilities. GRASS burns the barriers
itself (``v.to.rast``) and merges them with the land cover (``r.mapcalc``), as AccessMod does;
siting builds its own grid with the AccessMod switches (``grid = "landcover"``,
``slope = "none"``, ``corner_rule = false``, ``roads_burn`` and ``barriers_burn = "grass"``:
lines drawn one cell a step and areas on cell centres, as ``v.to.rast``). The table
gives the share of cells both reach within 1 minute of each other (issue 24's target: ≥ 97 %),
and the time of each.

Needs GRASS GIS 8 on the PATH (``apt-get install grass-core``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import print_table

ROOT = Path(__file__).resolve().parents[1]
TERRAIN = ROOT / "data" / "yunnan" / "terrain"
CRS = "EPSG:32648"
#: The sample's modelled roads (the demo_travel_time scenario's speeds, km/h), motorised and burnt over the water.
ROADS = ROOT / "data" / "yunnan" / "modelled" / "roads.gpkg"
ROAD_SPEEDS = {"county": 40.0, "township": 25.0, "village": 10.0}
#: Kunming's centre in UTM 48N (102.71 E, 25.04 N).
CENTRE = (269_000.0, 2_771_000.0)


def _landcover(folder: Path, size_km: float, cell_m: float) -> tuple[Path, tuple[float, float, float, float]]:
    """The MODIS land cover warped (nearest) to a UTM grid of ``cell_m`` over the square around Kunming."""
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.warp import Resampling, reproject

    half = size_km * 500.0
    west, north = CENTRE[0] - half, CENTRE[1] + half
    n = round(size_km * 1000 / cell_m)
    transform = from_origin(west, north, cell_m, cell_m)
    classes = np.full((n, n), 255, dtype=np.uint8)
    with rasterio.open(TERRAIN / "landcover_modis_2019.tif") as src:
        reproject(
            rasterio.band(src, 1),
            classes,
            dst_transform=transform,
            dst_crs=CRS,
            dst_nodata=255,
            resampling=Resampling.nearest,
        )
    path = folder / "landcover.tif"
    profile = {"driver": "GTiff", "width": n, "height": n, "count": 1, "dtype": "uint8", "crs": CRS}
    with rasterio.open(path, "w", **profile, transform=transform, nodata=255) as dst:
        dst.write(classes, 1)
    return path, (west, north - n * cell_m, west + n * cell_m, north)


def _grass(
    folder: Path, landcover: Path, speeds: dict[int, float], sources: np.ndarray, *, with_roads: bool
) -> tuple[np.ndarray, float]:
    """Minutes from the nearest source by r.cost, GRASS burning the barriers and merging them itself."""
    import geopandas as gpd
    import rasterio

    (folder / "sources.txt").write_text("\n".join(f"{x}|{y}" for x, y in sources), encoding="ascii")
    # GRASS imports vectors in the location's CRS as they are: hand it the barriers in UTM, one file a layer.
    for layer in ("rivers", "lakes"):
        frame = gpd.read_file(TERRAIN / "rivers_lakes.gpkg", layer=layer).to_crs(CRS)
        frame[["geometry"]].to_file(folder / f"{layer}.gpkg", layer=layer)
    if with_roads:
        roads = gpd.read_file(ROADS).to_crs(CRS)
        roads.assign(speed=roads["class"].map(ROAD_SPEEDS))[["speed", "geometry"]].to_file(folder / "roads.gpkg")
    rules = "\n".join(f"{c}:{c}:{v}:{v}" for c, v in speeds.items() if v > 0)
    (folder / "speeds.rules").write_text(rules + "\n", encoding="ascii")
    # AccessMod stacks the road layers in the order the user gives; siting burns the faster classes last.
    # The same stack here: one raster per class, the fastest on top.
    by_speed = sorted(set(ROAD_SPEEDS.values()))
    stack = "null()"
    lines = [f"v.in.ogr input={folder / 'roads.gpkg'} output=roads --quiet"]
    for kmh in by_speed:
        name = f"road_{int(kmh)}"
        lines.append(
            f"v.to.rast input=roads type=line where='speed={kmh:g}' output={name} use=val value={kmh:g} --quiet"
        )
        stack = f"if(isnull({name}), {stack}, {name})"
    lines.append(f'r.mapcalc "road_speed = {stack}" --quiet')
    lines.append('r.mapcalc "speed = if(isnull(road_speed), land, road_speed)" --quiet')  # roads on top: bridges
    roads_script = "\n".join(lines) if with_roads else 'r.mapcalc "speed = land" --quiet'
    script = f"""set -e
r.in.gdal -o input={landcover} output=lc --quiet
g.region raster=lc
v.in.ogr input={folder / "rivers.gpkg"} output=rivers --quiet
v.in.ogr input={folder / "lakes.gpkg"} output=lakes --quiet
v.to.rast input=rivers type=line output=river_cells use=val value=1 --quiet
v.to.rast input=lakes type=area output=lake_cells use=val value=1 --quiet
r.mapcalc "barrier = if(isnull(river_cells) && isnull(lake_cells), null(), 1)" --quiet
r.recode input=lc output=cover_speed rules={folder / "speeds.rules"} --quiet
r.mapcalc "land = if(isnull(barrier), cover_speed, null())" --quiet
{roads_script}
r.mapcalc "friction = nsres() * 0.06 / speed" --quiet
v.in.ascii input={folder / "sources.txt"} output=sources separator=pipe x=1 y=2 --quiet
r.cost input=friction output=minutes start_points=sources --quiet
r.out.gdal input=minutes output={folder / "grass.tif"} type=Float64 --quiet
"""
    (folder / "run.sh").write_text(script, encoding="ascii")
    started = time.perf_counter()
    subprocess.run(
        ["grass", "--tmp-location", CRS, "--exec", "bash", str(folder / "run.sh")],
        check=True,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    with rasterio.open(folder / "grass.tif") as src:
        minutes = src.read(1)
        nodata = src.nodata
    minutes = np.where((minutes == nodata) | ~np.isfinite(minutes), np.inf, minutes)
    return minutes, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-km", type=float, default=100.0, help="side of the square around Kunming")
    parser.add_argument("--cell-m", type=float, default=200.0, help="grid cell")
    parser.add_argument("--sources", type=int, default=20, help="facilities (random passable cells)")
    parser.add_argument("--no-roads", action="store_true", help="leave the sample's roads out")
    parser.add_argument(
        "--roads-burn",
        choices=("centres", "touched", "grass"),
        default="grass",
        help="siting's access.roads_burn (GRASS v.to.rast draws lines one cell a step: 'grass')",
    )
    parser.add_argument(
        "--barriers-burn",
        choices=("centres", "touched", "grass"),
        default="grass",
        help="siting's access.barriers_burn (as v.to.rast: 'grass')",
    )
    args = parser.parse_args()
    if shutil.which("grass") is None:
        raise SystemExit("GRASS GIS is not installed: apt-get install grass-core")
    from siting.travel import TerrainInputs, build_travel_grid, read_speed_table
    from siting.travel.grid import nearest_times

    folder = Path(tempfile.mkdtemp(prefix="accessmod-grass-"))
    landcover, bounds = _landcover(folder, args.size_km, args.cell_m)
    speed_table = TERRAIN / "landcover_speeds.csv"
    speeds = {int(c): entry.kmh for c, entry in read_speed_table(speed_table).items()}
    inputs = TerrainInputs(
        landcover=landcover,
        speed_table=speed_table,
        barriers=TERRAIN / "rivers_lakes.gpkg",
        grid_of="landcover",
        slope="none",
        corner_rule=False,
        barriers_burn=args.barriers_burn,
        roads=None if args.no_roads else ROADS,
        road_class_column="class",
        road_speeds_kmh=None if args.no_roads else ROAD_SPEEDS,
        roads_burn=args.roads_burn,
    )
    west, south, east, north = bounds
    started = time.perf_counter()
    grid = build_travel_grid((west + 1, south + 1, east - 1, north - 1), CRS, inputs)
    build_s = time.perf_counter() - started
    rng = np.random.default_rng(24)
    passable = np.flatnonzero(grid.speed_kmh.reshape(-1) > 0)
    picks = np.sort(rng.choice(passable, args.sources, replace=False))
    rows, cols = np.divmod(picks, grid.shape[1])
    xs, ys = grid.transform * (cols + 0.5, rows + 0.5)
    started = time.perf_counter()
    ours, _ = nearest_times(grid, rows, cols)
    search_s = time.perf_counter() - started
    theirs, grass_s = _grass(folder, landcover, speeds, np.column_stack([xs, ys]), with_roads=not args.no_roads)
    both = np.isfinite(ours) & np.isfinite(theirs)
    either = np.isfinite(ours) | np.isfinite(theirs)
    difference = np.abs(ours[both] - theirs[both])
    within = float((difference <= 1.0).sum() / max(either.sum(), 1))
    rows_out = [
        {
            "tool": "siting (build + search)",
            "seconds": round(build_s + search_s, 2),
            "cells_reached": int(np.isfinite(ours).sum()),
        },
        {
            "tool": "GRASS r.cost (import, burn, merge, cost)",
            "seconds": round(grass_s, 2),
            "cells_reached": int(np.isfinite(theirs).sum()),
        },
    ]
    print_table(rows_out, ["tool", "seconds", "cells_reached"])
    print()
    print(
        f"{args.size_km:g} km square around Kunming, {args.cell_m:g} m cells ({grid.shape[0]:,} × {grid.shape[1]:,}), "
        f"{args.sources} facilities; MODIS land cover, the sample's speeds, rivers and lakes as barriers "
        f"(siting burns them by the rule {args.barriers_burn!r})"
        + (
            "."
            if args.no_roads
            else ", the sample's modelled roads over them (county 40, township 25, village 10 km/h)."
        )
    )
    print(
        f"cells reached by either: {int(either.sum()):,}; by both: {int(both.sum()):,}; within 1 minute of each "
        f"other: {100 * within:.2f} % (target ≥ 97 %); median |difference| {np.median(difference):.3f} min, "
        f"99th percentile {np.percentile(difference, 99):.2f} min, largest {difference.max():.1f} min."
    )
    print(f"load average during the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
