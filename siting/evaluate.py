"""``siting evaluate``: the coverage of any set of homes with a run's own access, as the sandbox map counts it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from siting.access import format_cost
from siting.errors import InputError
from siting.report.headers import rename_bilingual
from siting.report.sharing import write_csv
from siting.rundir import open_run, write_atomically
from siting.sandbox import LEVELS, SANDBOX_NPZ, SandboxData, coverage_of, read_homes_file

__all__ = ["Evaluation", "evaluate_homes", "write_evaluation"]


@dataclass(frozen=True, eq=False)
class Evaluation:
    """Coverage per level of a set of homes, with the run it was evaluated against."""

    run_name: str
    standard_text: str
    tables: dict[str, pd.DataFrame]
    open_homes: int
    new_homes: int
    closed: int
    build_cost_cny: float


def evaluate_homes(run_dir: Path | str, homes_file: Path) -> Evaluation:
    """Children covered per level by the homes in ``homes_file`` (status new or existing; closed ones shut).

    Raises
    ------
    InputError
        A run without its sandbox, a homes file without ``site_id`` and ``status``, a site
        that is not a candidate of the run, or an existing home listed as new.
    """
    run = open_run(run_dir)
    data = SandboxData.load(run.path / SANDBOX_NPZ)
    opened, closed = read_homes_file(homes_file)
    mask = data.open_mask(opened)
    shut = data.open_mask(closed)
    existing_named = set(np.asarray(data.site_id)[shut & ~data.site_existing].tolist())
    if existing_named:
        raise InputError(
            f"homes {homes_file}: {sorted(existing_named)[:5]} are marked closed but are not existing homes of the run"
        )
    tables = coverage_of(data, mask)
    new = mask & ~data.site_existing
    unit_text = format_cost(data.standard, data.unit)
    return Evaluation(
        run_name=run.name,
        standard_text=f"{unit_text} ({'travel time' if data.unit == 'min' else 'distance'})",
        tables=tables,
        open_homes=int(mask.sum()),
        new_homes=int(new.sum()),
        closed=int((data.site_existing & ~mask).sum()),
        build_cost_cny=float(data.site_cost_cny[new].sum()),
    )


def write_evaluation(evaluation: Evaluation, out_dir: Path) -> Path:
    """``evaluation_<level>.csv`` per level (bilingual headers), atomically."""

    def write(tmp: Path) -> None:
        for level in LEVELS:
            write_csv(rename_bilingual(evaluation.tables[level]), tmp / f"evaluation_{level}.csv")

    if out_dir.exists():
        raise InputError(f"{out_dir} exists; give --out a new folder")
    return write_atomically(out_dir, write)
