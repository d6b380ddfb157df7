"""WorldPop age/sex rasters summed into one raster of children, with a Sprague split of a cut age group."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio

from siting.agegroups import sprague_weights
from siting.errors import CRSError, InputError
from siting.population import BLOCK_ROWS, row_blocks
from siting.rasters import geotiff_profile

__all__ = ["AgeBandRaster", "find_worldpop_bands", "sum_age_bands"]

WORLDPOP_NAME = re.compile(r"^(?P<iso>[a-z]{3})_(?P<sex>[fm])_(?P<age>\d{1,2})_(?P<year>\d{4})(?P<rest>[^.]*)\.tif$")


@dataclass(frozen=True)
class AgeBandRaster:
    """A child-count raster summed from WorldPop age/sex bands."""

    path: Path
    age_min: int
    age_max: int
    weights: Mapping[str, float]
    cut_group_method: str


def find_worldpop_bands(folder: Path, *, iso: str | None = None, year: int | None = None) -> pd.DataFrame:
    """WorldPop age/sex structure files in ``folder``: ``{iso}_{f|m}_{age}_{year}.tif``.

    Returns a table with ``path``, ``iso``, ``sex``, ``age`` (band start) and ``year``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"WorldPop folder {folder} does not exist or is not a folder")
    rows = []
    for path in sorted(folder.iterdir()):
        match = WORLDPOP_NAME.match(path.name.lower())
        if match:
            rows.append(
                {
                    "path": path,
                    "iso": match["iso"],
                    "sex": match["sex"],
                    "age": int(match["age"]),
                    "year": int(match["year"]),
                }
            )
    table = pd.DataFrame(rows, columns=["path", "iso", "sex", "age", "year"])
    if iso is not None:
        table = table[table["iso"] == iso.lower()]
    if year is not None:
        table = table[table["year"] == year]
    if table.empty:
        raise InputError(
            f"no WorldPop age/sex rasters named like 'chn_f_0_2020.tif' in {folder}"
            + (f" for iso={iso!r}" if iso else "")
            + (f" year={year}" if year else "")
        )
    combos = table[["iso", "year"]].drop_duplicates()
    if len(combos) > 1:
        raise InputError(
            f"{folder} mixes countries/years {combos.to_dict('records')}; pass iso= and year= to choose one"
        )
    return table.sort_values(["age", "sex"]).reset_index(drop=True)


def _group_coefficients(age_min: int, age_max: int, n_groups: int) -> tuple[np.ndarray, np.ndarray, dict[int, float]]:
    """Coefficients per 5-year group: (Sprague, flat fallback, flat share of the cut groups)."""
    sprague = np.zeros(n_groups)
    flat = np.zeros(n_groups)
    cut_shares: dict[int, float] = {}
    weights = sprague_weights(n_groups)
    for group in range(n_groups):
        first, last = 5 * group, 5 * group + 4
        lo, hi = max(first, age_min), min(last, age_max)
        if lo > hi:
            continue
        if lo == first and hi == last:
            sprague[group] += 1.0
            flat[group] += 1.0
            continue
        sprague += weights[lo : hi + 1].sum(axis=0)
        flat[group] += (hi - lo + 1) / 5.0
        cut_shares[group] = (hi - lo + 1) / 5.0
    return sprague, flat, cut_shares


def _write_weighted_sum(
    paths_by_group: list[list[Path]],
    out_path: Path,
    sprague: np.ndarray,
    flat: np.ndarray,
    block_rows: int,
    *,
    tags: str,
) -> None:
    """Σ coefficient × group over the bands, strip by strip, into a temporary file renamed into place."""
    sources = [[rasterio.open(p) for p in group] for group in paths_by_group]
    try:
        reference = sources[0][0]
        for band_group in sources:
            for src in band_group:
                if (src.shape, src.transform, src.crs) != (reference.shape, reference.transform, reference.crs):
                    raise InputError(
                        f"{src.name} is not on the grid of {reference.name} (shape {src.shape} vs "
                        f"{reference.shape}); all bands must share one grid"
                    )
        if reference.crs is None:
            raise CRSError(f"{reference.name} has no CRS")
        profile = geotiff_profile(
            width=reference.width,
            height=reference.height,
            dtype="float32",
            crs=reference.crs,
            transform=reference.transform,
            nodata=-99999.0,
        )
        fd, tmp_name = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".tif", dir=out_path.parent)
        os.close(fd)
        try:
            with rasterio.open(tmp_name, "w", **profile) as dst:
                for window in row_blocks(reference, block_rows):
                    groups = np.zeros((len(sources), int(window.height), int(window.width)))
                    valid = np.zeros((int(window.height), int(window.width)), dtype=bool)
                    for g, band_group in enumerate(sources):
                        for src in band_group:
                            data = src.read(1, window=window, masked=True)
                            valid |= ~np.ma.getmaskarray(data)
                            groups[g] += np.clip(data.astype(np.float64).filled(0.0), 0, None)
                    with_sprague = np.tensordot(sprague, groups, axes=(0, 0))
                    with_flat = np.tensordot(flat, groups, axes=(0, 0))
                    total = np.where(with_sprague >= 0, with_sprague, with_flat)
                    dst.write(np.where(valid, total, -99999.0).astype(np.float32), 1, window=window)
                dst.update_tags(AGES=tags, METHOD="sum of WorldPop bands; Sprague split of cut group")
            Path(tmp_name).replace(out_path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
    finally:
        for band_group in sources:
            for src in band_group:
                src.close()


def sum_age_bands(
    folder: Path | str,
    out_path: Path | str,
    *,
    age_min: int = 0,
    age_max: int = 17,
    iso: str | None = None,
    year: int | None = None,
    block_rows: int = BLOCK_ROWS,
) -> AgeBandRaster:
    """Sum WorldPop age/sex rasters into one raster of children aged ``age_min``–``age_max``.

    WorldPop's bands start at ages 0, 1, 5, 10, 15, …; bands 0 and 1 form the
    0–4 group. Groups wholly inside the range are added. A group the range cuts
    (15–19 for 0–17) is split into single years with Sprague multipliers
    (:mod:`siting.agegroups`), which use the two groups on each side; in a cell
    where that split comes out negative (irregular, near-empty cells) the flat
    share (3/5 for 15–17) is used instead.

    Parameters
    ----------
    folder
        Folder with ``{iso}_{f|m}_{age}_{year}.tif`` files on one grid.
    out_path
        GeoTIFF to write (float32, same grid and CRS).
    age_min, age_max
        Inclusive age range.
    iso, year
        Which files to use when the folder holds several.
    block_rows
        Rows processed at a time.
    """
    if not (0 <= age_min <= age_max <= 79):
        raise InputError(f"age range {age_min}-{age_max} is not within 0-79 with age_min <= age_max")
    if 0 < age_min < 5 or age_max < 4:
        raise InputError(
            f"age range {age_min}-{age_max} cuts the 0-4 group, which Sprague splitting cannot use here; "
            "start at 0 or at 5 or above, and end at 4 or above"
        )
    bands = find_worldpop_bands(Path(folder), iso=iso, year=year)
    needs_neighbours = (age_max + 1) % 5 != 0 or age_min % 5 != 0
    # A cut group needs two 5-year groups beyond it (and Sprague at least five groups).
    n_groups = max(age_max // 5 + 3, 5) if needs_neighbours else age_max // 5 + 1
    wanted_ages = [0, 1] + [5 * g for g in range(1, n_groups)]
    missing = [
        f"{sex}_{age}"
        for age in wanted_ages
        for sex in ("f", "m")
        if bands[(bands["age"] == age) & (bands["sex"] == sex)].empty
    ]
    if missing:
        raise InputError(
            f"WorldPop folder {folder} lacks the bands {missing} needed for ages {age_min}-{age_max}"
            + (" (Sprague splitting of a cut 5-year group uses two groups on each side)" if needs_neighbours else "")
        )
    if needs_neighbours:
        sprague, flat, cut_shares = _group_coefficients(age_min, age_max, n_groups)
    else:
        sprague = np.array([1.0 if age_min <= 5 * g and 5 * g + 4 <= age_max else 0.0 for g in range(n_groups)])
        flat, cut_shares = sprague, {}
    paths_by_group: list[list[Path]] = [[] for _ in range(n_groups)]
    for age, band_path in zip(bands["age"].tolist(), bands["path"].tolist(), strict=True):
        index = 0 if age < 5 else age // 5
        if index < n_groups:
            paths_by_group[index].append(Path(band_path))

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    _write_weighted_sum(paths_by_group, out_path, sprague, flat, block_rows, tags=f"{age_min}-{age_max}")
    labels = {g: f"{5 * g}-{5 * g + 4}" for g in range(n_groups)}
    return AgeBandRaster(
        path=out_path,
        age_min=age_min,
        age_max=age_max,
        weights={labels[g]: float(sprague[g]) for g in range(n_groups) if sprague[g] != 0},
        cut_group_method="sprague" if cut_shares else "none",
    )
