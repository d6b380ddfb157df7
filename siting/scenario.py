"""Scenario files (TOML) → a validated, frozen :class:`Scenario`.

A scenario is a file an analyst can keep, diff and rerun. Validation reports
every problem at once: unknown keys (with the valid ones), wrong types,
missing files and contradictions. Relative paths resolve against the folder of
the scenario file.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from siting.errors import InputError

__all__ = ["MODEL_TYPES", "Scenario", "load_scenario", "scenario_from_dict"]

MODEL_TYPES = ("mclp", "lscp", "partial_cover", "pmedian")

SCHEMA: dict[str, dict[str, tuple[type, ...]]] = {
    "": {"name": (str,), "description": (str,), "seed": (int,)},
    "inputs": {
        "sample": (bool,),
        "data_dir": (str,),
        "communities": (str,),
        "communities_layer": (str,),
        "code_column": (str,),
        "coordinates": (str,),
        "population": (str,),
        "worldpop_dir": (str,),
        "age_min": (int,),
        "age_max": (int,),
        "priority_registry": (str,),
        "existing_homes": (str,),
        "official_totals": (str,),
        "candidate_sites": (str,),
        "totals_column": (str,),
    },
    "study_area": {"prefectures": (list,), "counties": (list,)},
    "access": {"mode": (str,), "standard_m": (int, float)},
    "model": {
        "type": (str,),
        "budget_cny": (int, float),
        "cost_per_home_cny": (int, float),
        "site_cost_column": (str,),
        "n_homes": (int,),
        "p": (int,),
        "share": (int, float),
        "capacity": (int, float),
        "respect": (str,),
        "min_per_township": (int,),
        "locked_in": (list,),
        "locked_out": (list,),
        "priority_factors": (dict,),
    },
    "solver": {"name": (str,), "time_limit_s": (int, float), "gap": (int, float)},
    "phasing": {"years": (list,), "budgets_cny": (list,), "carry_over": (bool,), "method": (str,)},
    "network": {
        "communities_per_supervisor": (int,),
        "supervisor_cny_per_month": (int, float),
        "max_home_station_m": (int, float),
        "admit_only_near_station": (bool,),
        "max_station_centre_m": (int, float),
    },
    "targets": {"file": (str,)},
    "outputs": {"dir": (str,), "map": (bool,), "small_count_threshold": (int,)},
}
PATH_KEYS = {
    ("inputs", k)
    for k in (
        "data_dir",
        "communities",
        "population",
        "worldpop_dir",
        "priority_registry",
        "existing_homes",
        "official_totals",
        "candidate_sites",
    )
} | {("targets", "file"), ("outputs", "dir")}


@dataclass(frozen=True)
class Scenario:
    """Everything a run needs, validated; paths are absolute."""

    name: str
    description: str = ""
    seed: int = 2020
    sample: bool = True
    data_dir: Path | None = None
    communities: Path | None = None
    communities_layer: str | None = None
    code_column: str = "community_code"
    coordinates: str = "wgs84"
    population: Path | None = None
    worldpop_dir: Path | None = None
    age_min: int = 0
    age_max: int = 17
    priority_registry: Path | None = None
    existing_homes: Path | None = None
    official_totals: Path | None = None
    candidate_sites: Path | None = None
    site_cost_column: str | None = None
    totals_column: str = "children"
    prefectures: tuple[str, ...] = ()
    counties: tuple[str, ...] = ()
    access_mode: str = "distance"
    standard_m: float = 5_000.0
    model: str = "mclp"
    budget_cny: float | None = None
    cost_per_home_cny: float = 30_000.0
    n_homes: int | None = None
    p: int | None = None
    share: float | None = None
    capacity: float | None = None
    respect: str | None = None
    min_per_township: int = 0
    locked_in: tuple[str, ...] = ()
    locked_out: tuple[str, ...] = ()
    priority_factors: tuple[tuple[str, float], ...] = ()
    phasing_years: tuple[int, ...] = ()
    phasing_budgets_cny: tuple[float, ...] = ()
    carry_over: bool = False
    phasing_method: str = "auto"
    communities_per_supervisor: int = 10
    supervisor_cny_per_month: float = 2_000.0
    max_home_station_m: float | None = None
    max_station_centre_m: float | None = None
    admit_only_near_station: bool = False
    solver: str = "cbc"
    time_limit_s: float = 120.0
    gap: float = 0.0
    targets_file: Path | None = None
    outputs_dir: Path = Path("outputs")
    write_map: bool = True
    small_count_threshold: int = 5
    source: Path | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The resolved scenario as plain JSON-able values (for ``run.json``)."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, Path):
                out[key] = str(value)
            elif isinstance(value, tuple):
                out[key] = [list(v) if isinstance(v, tuple) else v for v in value]
        return out

    def with_changes(self, **changes: Any) -> Scenario:
        """A copy with some fields changed (checked again)."""
        return _check_contradictions(replace(self, **changes))


def _check_contradictions(s: Scenario, problems: list[str] | None = None) -> Scenario:
    own = problems if problems is not None else []
    if s.model not in MODEL_TYPES:
        own.append(f"model.type {s.model!r} is not one of {list(MODEL_TYPES)}")
    if s.model == "mclp" and s.budget_cny is None and s.n_homes is None and not s.phasing_years:
        own.append("model 'mclp' needs budget_cny or n_homes (or a [phasing] table of yearly budgets)")
    if len(s.phasing_years) != len(s.phasing_budgets_cny):
        own.append(f"phasing: {len(s.phasing_years)} years but {len(s.phasing_budgets_cny)} budgets; give one each")
    if s.phasing_years and s.model != "mclp":
        own.append(f"phasing plans yearly builds for model 'mclp', not {s.model!r}")
    if s.admit_only_near_station and s.max_home_station_m is None:
        own.append("network.admit_only_near_station needs network.max_home_station_m")
    if s.site_cost_column is not None and s.candidate_sites is None:
        own.append("model.site_cost_column names a column of inputs.candidate_sites; give that file too")
    if s.phasing_method not in ("auto", "mip", "greedy"):
        own.append(f"phasing.method {s.phasing_method!r} must be 'auto', 'mip' or 'greedy'")
    if s.budget_cny is not None and s.n_homes is not None:
        own.append("give either model.budget_cny or model.n_homes, not both")
    if s.model == "pmedian" and s.p is None:
        own.append("model 'pmedian' needs p (the number of homes in all)")
    if s.model == "partial_cover" and s.share is None:
        own.append("model 'partial_cover' needs share (e.g. 0.9)")
    if s.capacity is not None and s.model not in ("mclp", "pmedian"):
        own.append(f"model.capacity applies to 'mclp' and 'pmedian', not {s.model!r}; remove it or change model.type")
    if s.capacity is not None and s.phasing_years:
        own.append("phasing does not take model.capacity yet; remove one of them")
    both = sorted(set(s.locked_in) & set(s.locked_out))
    if both:
        own.append(f"sites both locked_in and locked_out: {both}")
    if s.respect not in (None, "township", "county"):
        own.append(f"model.respect {s.respect!r} must be 'township', 'county' or absent")
    if s.access_mode != "distance":
        own.append(f"access.mode {s.access_mode!r}: only 'distance' (straight line) is available so far")
    if s.standard_m <= 0:
        own.append(f"access.standard_m must be positive, got {s.standard_m}")
    if s.solver not in ("cbc", "highs"):
        own.append(f"solver.name {s.solver!r} must be 'cbc' or 'highs'")
    if not s.sample and (s.communities is None or (s.population is None and s.worldpop_dir is None)):
        own.append("without inputs.sample = true, give inputs.communities and inputs.population or worldpop_dir")
    if problems is None and own:
        raise InputError("scenario: " + "; ".join(own))
    return s


def scenario_from_dict(document: dict[str, Any], *, base_dir: Path, source: Path | None = None) -> Scenario:
    """Validate a parsed scenario document; relative paths resolve against ``base_dir``."""
    problems: list[str] = []
    flat: dict[tuple[str, str], Any] = {}
    for key, value in document.items():
        if key in SCHEMA and key != "":
            if not isinstance(value, dict):
                problems.append(f"[{key}] must be a table")
                continue
            for sub, item in value.items():
                flat[(key, sub)] = item
        else:
            flat[("", key)] = value
    for (section, key), value in flat.items():
        allowed = SCHEMA.get(section, {})
        where = f"{section}.{key}" if section else key
        if key not in allowed:
            valid = sorted(allowed) if section else sorted(set(allowed) | {f"[{s}]" for s in SCHEMA if s})
            problems.append(f"unknown key {where!r} (valid: {', '.join(valid)})")
            continue
        types = allowed[key]
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            problems.append(f"{where} must be {' or '.join(t.__name__ for t in types)}, got {value!r}")
    if "name" not in document:
        problems.append("the scenario needs a name")

    def get(section: str, key: str, default: Any = None) -> Any:
        value = flat.get((section, key), default)
        return default if value is not None and not isinstance(value, SCHEMA[section][key]) else value

    def path(section: str, key: str) -> Path | None:
        value = get(section, key)
        if value is None:
            return None
        resolved = (base_dir / value).resolve()
        if (section, key) not in {("outputs", "dir"), ("inputs", "data_dir")} and not resolved.exists():
            problems.append(f"{section}.{key}: file {value!r} not found (looked for {resolved})")
        return resolved

    model = flat.get(("model", "type"), "mclp")
    factors = get("model", "priority_factors", {}) or {}
    bad_factors = [k for k, v in factors.items() if isinstance(v, bool) or not isinstance(v, int | float)]
    if bad_factors:
        problems.append(f"model.priority_factors must be numbers, not for {bad_factors}")
    scenario = Scenario(
        name=str(get("", "name", "unnamed")),
        description=str(get("", "description", "")),
        seed=int(get("", "seed", 2020)),
        sample=bool(get("inputs", "sample", True)),
        data_dir=path("inputs", "data_dir"),
        communities=path("inputs", "communities"),
        communities_layer=get("inputs", "communities_layer"),
        code_column=str(get("inputs", "code_column", "community_code")),
        coordinates=str(get("inputs", "coordinates", "wgs84")),
        population=path("inputs", "population"),
        worldpop_dir=path("inputs", "worldpop_dir"),
        age_min=int(get("inputs", "age_min", 0)),
        age_max=int(get("inputs", "age_max", 17)),
        priority_registry=path("inputs", "priority_registry"),
        existing_homes=path("inputs", "existing_homes"),
        official_totals=path("inputs", "official_totals"),
        candidate_sites=path("inputs", "candidate_sites"),
        site_cost_column=get("model", "site_cost_column"),
        totals_column=str(get("inputs", "totals_column", "children")),
        prefectures=tuple(str(v) for v in get("study_area", "prefectures", []) or []),
        counties=tuple(str(v) for v in get("study_area", "counties", []) or []),
        access_mode=str(get("access", "mode", "distance")),
        standard_m=float(get("access", "standard_m", 5000.0)),
        model=str(model),
        budget_cny=None if get("model", "budget_cny") is None else float(get("model", "budget_cny")),
        cost_per_home_cny=float(get("model", "cost_per_home_cny", 30_000.0)),
        n_homes=get("model", "n_homes"),
        p=get("model", "p"),
        share=None if get("model", "share") is None else float(get("model", "share")),
        capacity=None if get("model", "capacity") is None else float(get("model", "capacity")),
        respect=get("model", "respect"),
        min_per_township=int(get("model", "min_per_township", 0)),
        locked_in=tuple(str(v) for v in get("model", "locked_in", []) or []),
        locked_out=tuple(str(v) for v in get("model", "locked_out", []) or []),
        priority_factors=tuple(sorted((str(k), float(v)) for k, v in factors.items() if k not in bad_factors)),
        phasing_years=tuple(int(v) for v in get("phasing", "years", []) or []),
        phasing_budgets_cny=tuple(float(v) for v in get("phasing", "budgets_cny", []) or []),
        carry_over=bool(get("phasing", "carry_over", False)),
        phasing_method=str(get("phasing", "method", "auto")),
        communities_per_supervisor=int(get("network", "communities_per_supervisor", 10)),
        supervisor_cny_per_month=float(get("network", "supervisor_cny_per_month", 2000.0)),
        max_home_station_m=get("network", "max_home_station_m"),
        max_station_centre_m=get("network", "max_station_centre_m"),
        admit_only_near_station=bool(get("network", "admit_only_near_station", False)),
        solver=str(get("solver", "name", "cbc")),
        time_limit_s=float(get("solver", "time_limit_s", 120.0)),
        gap=float(get("solver", "gap", 0.0)),
        targets_file=path("targets", "file"),
        outputs_dir=path("outputs", "dir") or (base_dir / "outputs").resolve(),
        write_map=bool(get("outputs", "map", True)),
        small_count_threshold=int(get("outputs", "small_count_threshold", 5)),
        source=source,
    )
    _check_contradictions(scenario, problems)
    if problems:
        where = f" {source}" if source else ""
        raise InputError(f"scenario{where}: " + "; ".join(problems))
    return scenario


def load_scenario(path: Path | str) -> Scenario:
    """Read and validate a scenario TOML file."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"scenario file {path} does not exist")
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"scenario {path} is not valid TOML: {error}") from None
    return scenario_from_dict(document, base_dir=path.resolve().parent, source=path.resolve())
