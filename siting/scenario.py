"""Scenario files (TOML) → a validated, frozen :class:`Scenario`.

A scenario is a file an analyst can keep, diff and rerun. Validation reports
every problem at once, section by section: unknown keys (with the valid ones),
wrong types, numbers that are not finite or out of range, missing files, model
options the chosen model does not take, and contradictions. Relative paths
resolve against the folder of the scenario file. A file saved in GBK (as Chinese
Windows editors do) is read with a warning.
"""

from __future__ import annotations

import math
import re
import tomllib
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from siting.errors import InputError, SitingWarning

__all__ = ["MODEL_TYPES", "SCHEMA", "Scenario", "load_scenario", "read_text_file", "scenario_from_dict"]

MODEL_TYPES = ("mclp", "lscp", "partial_cover", "pmedian")
NAME = re.compile(r"^[\w\-.\u4e00-\u9fff]+$")
Number = (int, float)

SCHEMA: dict[str, dict[str, tuple[type, ...]]] = {
    "": {"name": (str,), "description": (str,), "seed": (int,)},
    "inputs": {
        "sample": (bool,),
        "data_dir": (str,),
        "communities": (str,),
        "communities_layer": (str,),
        "code_column": (str,),
        "name_column": (str,),
        "township_code_column": (str,),
        "county_code_column": (str,),
        "prefecture_code_column": (str,),
        "township_name_column": (str,),
        "county_name_column": (str,),
        "prefecture_name_column": (str,),
        "encoding": (str,),
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
    "access": {"mode": (str,), "standard_m": Number, "standard_min": Number, "table": (str,), "table_unit": (str,)},
    "model": {
        "type": (str,),
        "budget_cny": Number,
        "cost_per_home_cny": Number,
        "site_cost_column": (str,),
        "n_homes": (int,),
        "p": (int,),
        "share": Number,
        "capacity": Number,
        "respect": (str,),
        "min_per_township": (int,),
        "locked_in": (list,),
        "locked_out": (list,),
        "priority_factors": (dict,),
    },
    "solver": {"name": (str,), "time_limit_s": Number, "gap": Number},
    "phasing": {"years": (list,), "budgets_cny": (list,), "carry_over": (bool,), "method": (str,)},
    "network": {
        "communities_per_supervisor": (int,),
        "supervisor_cny_per_month": Number,
        "max_home_station_m": Number,
        "admit_only_near_station": (bool,),
        "max_station_centre_m": Number,
    },
    "targets": {"file": (str,)},
    "report": {"title": (str,), "region_name": (str,), "region_name_en": (str,)},
    "outputs": {"dir": (str,), "map": (bool,), "small_count_threshold": (int,)},
}
FILE_KEYS = {
    ("inputs", k)
    for k in ("communities", "population", "priority_registry", "existing_homes", "official_totals", "candidate_sites")
} | {("targets", "file"), ("access", "table")}
FOLDER_KEYS = {("inputs", "worldpop_dir")}
OWN_INPUTS = ("communities", "population", "worldpop_dir", "priority_registry", "existing_homes", "official_totals")
#: Scenario field of each key, where the names differ.
FIELD_OF = {
    ("access", "mode"): "access_mode",
    ("access", "table"): "access_table",
    ("access", "table_unit"): "access_table_unit",
    ("model", "type"): "model",
    ("model", "locked_in"): "locked_in",
    ("solver", "name"): "solver",
    ("phasing", "years"): "phasing_years",
    ("phasing", "budgets_cny"): "phasing_budgets_cny",
    ("phasing", "method"): "phasing_method",
    ("targets", "file"): "targets_file",
    ("outputs", "dir"): "outputs_dir",
    ("outputs", "map"): "write_map",
    ("report", "title"): "report_title",
}


@dataclass(frozen=True)
class Scenario:
    """Everything a run needs, validated; paths are absolute. Fields are grouped by the file's sections."""

    name: str
    description: str = ""
    seed: int = 2020
    # [inputs]
    sample: bool = True
    data_dir: Path | None = None
    communities: Path | None = None
    communities_layer: str | None = None
    code_column: str = "community_code"
    name_column: str | None = None
    township_code_column: str | None = None
    county_code_column: str | None = None
    prefecture_code_column: str | None = None
    township_name_column: str | None = None
    county_name_column: str | None = None
    prefecture_name_column: str | None = None
    encoding: str | None = None
    coordinates: str = "wgs84"
    population: Path | None = None
    worldpop_dir: Path | None = None
    age_min: int = 0
    age_max: int = 17
    priority_registry: Path | None = None
    existing_homes: Path | None = None
    official_totals: Path | None = None
    candidate_sites: Path | None = None
    totals_column: str = "children"
    # [study_area]
    prefectures: tuple[str, ...] = ()
    counties: tuple[str, ...] = ()
    # [access]
    access_mode: str = "distance"
    standard_m: float = 5_000.0
    standard_min: float | None = None
    access_table: Path | None = None
    access_table_unit: str | None = None
    # [model]
    model: str = "mclp"
    budget_cny: float | None = None
    cost_per_home_cny: float = 30_000.0
    site_cost_column: str | None = None
    n_homes: int | None = None
    p: int | None = None
    share: float | None = None
    capacity: float | None = None
    respect: str | None = None
    min_per_township: int = 0
    locked_in: tuple[str, ...] = ()
    locked_out: tuple[str, ...] = ()
    priority_factors: tuple[tuple[str, float], ...] = ()
    # [phasing]
    phasing_years: tuple[int, ...] = ()
    phasing_budgets_cny: tuple[float, ...] = ()
    carry_over: bool = False
    phasing_method: str = "auto"
    # [network]
    communities_per_supervisor: int = 10
    supervisor_cny_per_month: float = 2_000.0
    max_home_station_m: float | None = None
    max_station_centre_m: float | None = None
    admit_only_near_station: bool = False
    # [solver]
    solver: str = "cbc"
    time_limit_s: float = 120.0
    gap: float = 0.0
    # [targets]
    targets_file: Path | None = None
    # [report]
    report_title: str | None = None
    region_name: str | None = None
    region_name_en: str | None = None
    # [outputs]
    outputs_dir: Path = Path("outputs")
    write_map: bool = True
    small_count_threshold: int = 5
    source: Path | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The resolved scenario as plain JSON-able values, by field."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, Path):
                out[key] = str(value)
            elif isinstance(value, tuple):
                out[key] = [list(v) if isinstance(v, tuple) else v for v in value]
        return out

    def to_document(self) -> dict[str, Any]:
        """The resolved scenario as a scenario document (sections, absolute paths), for ``run.json``.

        :func:`scenario_from_dict` reads it back through the same validation.
        """
        values = self.to_dict()
        document: dict[str, Any] = {}
        for section, keys in SCHEMA.items():
            for key in keys:
                name = _field_name(section, key)
                value = values.get(name)
                if name == "priority_factors":
                    value = {k: v for k, v in value or []}
                if value is None or value == [] or value == {}:
                    continue
                if section == "":
                    document[key] = value
                else:
                    document.setdefault(section, {})[key] = value
        return document

    def with_changes(self, **changes: Any) -> Scenario:
        """A copy with some fields changed, validated again."""
        unknown = sorted(set(changes) - {f.name for f in fields(self)})
        if unknown:
            raise InputError(f"scenario has no fields {unknown}")
        changed = replace(self, **changes)
        problems = _check(changed)
        if problems:
            raise InputError("scenario: " + "; ".join(problems))
        return changed

    @property
    def modelled(self) -> bool:
        """True when the inputs are the embedded (partly modelled) Yunnan sample."""
        return self.sample

    @property
    def model_options(self) -> dict[str, Any]:
        """The ``[model]`` options that were set (for the model registry)."""
        defaults = Scenario(name="defaults")
        out: dict[str, Any] = {}
        for key in SCHEMA["model"]:
            name = _field_name("model", key)
            value = getattr(self, name)
            if key == "type" or value == getattr(defaults, name):
                continue
            out[key] = value
        return out


def _field_name(section: str, key: str) -> str:
    return FIELD_OF.get((section, key), key)


def _finite(value: Any) -> bool:
    return isinstance(value, Number) and not isinstance(value, bool) and math.isfinite(value)


def _numbers(s: Scenario) -> list[str]:
    """Numbers that are NaN, infinite or out of range."""
    problems = []
    positive = {
        "access.standard_m": s.standard_m,
        "model.cost_per_home_cny": s.cost_per_home_cny,
        "solver.time_limit_s": s.time_limit_s,
        "network.supervisor_cny_per_month": s.supervisor_cny_per_month,
    }
    optional_positive = {
        "access.standard_min": s.standard_min,
        "model.capacity": s.capacity,
        "network.max_home_station_m": s.max_home_station_m,
        "network.max_station_centre_m": s.max_station_centre_m,
    }
    for where, number in positive.items():
        if not _finite(number) or number <= 0:
            problems.append(f"{where} must be a positive finite number, got {number!r}")
    for where, maybe in optional_positive.items():
        if maybe is not None and (not _finite(maybe) or maybe <= 0):
            problems.append(f"{where} must be a positive finite number, got {maybe!r}")
    if s.budget_cny is not None and (not _finite(s.budget_cny) or s.budget_cny < 0):
        problems.append(f"model.budget_cny must be a finite amount ≥ 0 CNY, got {s.budget_cny!r}")
    if not _finite(s.gap) or not 0 <= s.gap < 1:
        problems.append(f"solver.gap must be a fraction from 0 to below 1 (0.01 = 1 %), got {s.gap!r}")
    if s.share is not None and (not _finite(s.share) or not 0 < s.share <= 1):
        problems.append(f"model.share must be a fraction in (0, 1], e.g. 0.9; got {s.share!r}")
    for where, count in (
        ("model.n_homes", s.n_homes),
        ("model.p", s.p),
        ("model.min_per_township", s.min_per_township),
    ):
        if count is not None and count < 0:
            problems.append(f"{where} must be ≥ 0, got {count}")
    if s.small_count_threshold < 2:
        problems.append(
            f"outputs.small_count_threshold must be at least 2 (counts from 1 to threshold-1 are hidden), "
            f"got {s.small_count_threshold}"
        )
    if s.communities_per_supervisor < 1:
        problems.append(f"network.communities_per_supervisor must be ≥ 1, got {s.communities_per_supervisor}")
    if not 0 <= s.age_min <= s.age_max <= 79:
        problems.append(f"inputs.age_min/age_max {s.age_min}-{s.age_max} must satisfy 0 ≤ age_min ≤ age_max ≤ 79")
    bad_budgets = [b for b in s.phasing_budgets_cny if not _finite(b) or b < 0]
    if bad_budgets:
        problems.append(f"phasing.budgets_cny must be finite amounts ≥ 0, got {bad_budgets}")
    if list(s.phasing_years) != sorted(set(s.phasing_years)):
        problems.append(f"phasing.years must be distinct and in order, got {list(s.phasing_years)}")
    bad_factors = [k for k, v in s.priority_factors if not _finite(v) or v < 0]
    if bad_factors:
        problems.append(f"model.priority_factors must be finite numbers ≥ 0, not for {bad_factors}")
    return problems


def _check(s: Scenario) -> list[str]:
    """Every contradiction and bad value of a scenario (empty when it is fine)."""
    from siting.models.registry import option_problems

    own: list[str] = []
    if not s.name or not NAME.match(s.name) or s.name in (".", ".."):
        own.append(
            f"name {s.name!r} must be a plain folder name (letters, digits, Chinese, '-', '_', '.'; no '/' or '..'): "
            "it names the output folder"
        )
    own += _numbers(s)
    own += option_problems(s.model, s.model_options, phased=bool(s.phasing_years))
    if len(s.phasing_years) != len(s.phasing_budgets_cny):
        own.append(f"phasing: {len(s.phasing_years)} years but {len(s.phasing_budgets_cny)} budgets; give one each")
    if s.phasing_years and s.min_per_township:
        own.append("phasing cannot honour model.min_per_township (yearly budgets may not reach every township)")
    if s.admit_only_near_station and s.max_home_station_m is None:
        own.append("network.admit_only_near_station needs network.max_home_station_m")
    if s.site_cost_column is not None and s.candidate_sites is None:
        own.append("model.site_cost_column names a column of inputs.candidate_sites; give that file too")
    if s.phasing_method not in ("auto", "mip", "greedy"):
        own.append(f"phasing.method {s.phasing_method!r} must be 'auto', 'mip' or 'greedy'")
    if s.budget_cny is not None and s.n_homes is not None:
        own.append("give either model.budget_cny or model.n_homes, not both")
    both = sorted(set(s.locked_in) & set(s.locked_out))
    if both:
        own.append(f"sites both locked_in and locked_out: {both}")
    if s.respect not in (None, "township", "county"):
        own.append(f"model.respect {s.respect!r} must be 'township', 'county' or absent")
    own += _access_problems(s)
    if s.solver not in ("cbc", "highs"):
        own.append(f"solver.name {s.solver!r} must be 'cbc' or 'highs'")
    if s.coordinates not in ("wgs84", "gcj02", "bd09"):
        own.append(f"inputs.coordinates {s.coordinates!r} must be 'wgs84', 'gcj02' or 'bd09'")
    own += _inputs_problems(s)
    return own


def _access_problems(s: Scenario) -> list[str]:
    if s.access_mode == "distance":
        if s.access_table is not None or s.standard_min is not None:
            return ["access.mode 'distance' takes standard_m only; remove access.table / standard_min"]
        return []
    if s.access_mode == "table":
        problems = []
        if s.access_table is None:
            problems.append("access.mode 'table' needs access.table (a CSV of demand_id, site_id, cost)")
        if s.access_table_unit not in ("m", "min"):
            problems.append(f"access.table_unit must be 'm' or 'min', got {s.access_table_unit!r}")
        if s.access_table_unit == "min" and s.standard_min is None:
            problems.append("access.table_unit 'min' needs access.standard_min (the standard in minutes)")
        return problems
    return [f"access.mode {s.access_mode!r} must be 'distance' or 'table'"]


def _inputs_problems(s: Scenario) -> list[str]:
    own_given = [k for k in OWN_INPUTS if getattr(s, k) is not None]
    if s.sample:
        if own_given:
            return [
                f"inputs.sample = true with your own inputs {own_given}: the embedded Yunnan sample would be "
                "planned instead of them; remove 'sample = true' (your own inputs switch the sample off)"
            ]
        return []
    if s.communities is None or (s.population is None and s.worldpop_dir is None):
        return ["without the sample, give inputs.communities and inputs.population (or inputs.worldpop_dir)"]
    return []


def read_text_file(path: Path, *, what: str) -> str:
    """A text file as UTF-8, or GB18030 (GBK) with a warning; a clear error for anything else."""
    if not path.exists():
        raise InputError(f"{what} {path} does not exist")
    if path.is_dir():
        raise InputError(f"{what} {path} is a folder; give the file")
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        raise InputError(f"{what} {path} is neither UTF-8 nor GBK text; save it as UTF-8") from None
    warnings.warn(
        f"{what} {path} is not UTF-8; read it as GBK (GB18030). Save it as UTF-8", SitingWarning, stacklevel=2
    )
    return text


def _flatten(document: dict[str, Any], problems: list[str]) -> dict[tuple[str, str], Any]:
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
    return flat


def scenario_from_dict(document: dict[str, Any], *, base_dir: Path, source: Path | None = None) -> Scenario:
    """Validate a parsed scenario document; relative paths resolve against ``base_dir``."""
    problems: list[str] = []
    flat = _flatten(document, problems)
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
        where = f"{section}.{key}"
        if (section, key) in FILE_KEYS:
            if not resolved.exists():
                problems.append(f"{where}: file {value!r} not found (looked for {resolved})")
            elif resolved.is_dir() and resolved.suffix.lower() != ".gdb":
                problems.append(f"{where}: {value!r} is a folder; give the file")
        elif (section, key) in FOLDER_KEYS:
            if not resolved.is_dir():
                problems.append(f"{where}: folder {value!r} not found (looked for {resolved})")
        elif resolved.exists() and not resolved.is_dir():
            problems.append(f"{where}: {value!r} is a file; give a folder")
        return resolved

    def number(section: str, key: str, default: Any = None, kind: Callable[[Any], Any] = float) -> Any:
        value = get(section, key, default)
        return None if value is None else kind(value)

    def texts(section: str, key: str) -> tuple[str, ...]:
        return tuple(str(v) for v in get(section, key, []) or [])

    factors = get("model", "priority_factors", {}) or {}
    bad_factors = [k for k, v in factors.items() if isinstance(v, bool) or not isinstance(v, Number)]
    if bad_factors:
        problems.append(f"model.priority_factors must be numbers, not for {bad_factors}")
    years = get("phasing", "years", []) or []
    budgets = get("phasing", "budgets_cny", []) or []
    if any(isinstance(y, bool) or not isinstance(y, int) for y in years):
        problems.append(f"phasing.years must be whole years, got {years}")
    if any(isinstance(b, bool) or not isinstance(b, Number) for b in budgets):
        problems.append(f"phasing.budgets_cny must be numbers, got {budgets}")
    own_inputs = any(get("inputs", k) is not None for k in OWN_INPUTS)
    scenario = Scenario(
        name=str(get("", "name", "")),
        description=str(get("", "description", "")),
        seed=int(get("", "seed", 2020)),
        sample=bool(get("inputs", "sample", not own_inputs)),
        data_dir=path("inputs", "data_dir"),
        communities=path("inputs", "communities"),
        communities_layer=get("inputs", "communities_layer"),
        code_column=str(get("inputs", "code_column", "community_code")),
        name_column=get("inputs", "name_column"),
        township_code_column=get("inputs", "township_code_column"),
        county_code_column=get("inputs", "county_code_column"),
        prefecture_code_column=get("inputs", "prefecture_code_column"),
        township_name_column=get("inputs", "township_name_column"),
        county_name_column=get("inputs", "county_name_column"),
        prefecture_name_column=get("inputs", "prefecture_name_column"),
        encoding=get("inputs", "encoding"),
        coordinates=str(get("inputs", "coordinates", "wgs84")),
        population=path("inputs", "population"),
        worldpop_dir=path("inputs", "worldpop_dir"),
        age_min=int(get("inputs", "age_min", 0)),
        age_max=int(get("inputs", "age_max", 17)),
        priority_registry=path("inputs", "priority_registry"),
        existing_homes=path("inputs", "existing_homes"),
        official_totals=path("inputs", "official_totals"),
        candidate_sites=path("inputs", "candidate_sites"),
        totals_column=str(get("inputs", "totals_column", "children")),
        prefectures=texts("study_area", "prefectures"),
        counties=texts("study_area", "counties"),
        access_mode=str(get("access", "mode", "distance")),
        standard_m=float(get("access", "standard_m", 5000.0)),
        standard_min=number("access", "standard_min"),
        access_table=path("access", "table"),
        access_table_unit=get("access", "table_unit"),
        model=str(get("model", "type", "mclp")),
        budget_cny=number("model", "budget_cny"),
        cost_per_home_cny=float(get("model", "cost_per_home_cny", 30_000.0)),
        site_cost_column=get("model", "site_cost_column"),
        n_homes=get("model", "n_homes"),
        p=get("model", "p"),
        share=number("model", "share"),
        capacity=number("model", "capacity"),
        respect=get("model", "respect"),
        min_per_township=int(get("model", "min_per_township", 0)),
        locked_in=texts("model", "locked_in"),
        locked_out=texts("model", "locked_out"),
        priority_factors=tuple(sorted((str(k), float(v)) for k, v in factors.items() if k not in bad_factors)),
        phasing_years=tuple(int(y) for y in years if isinstance(y, int)),
        phasing_budgets_cny=tuple(float(b) for b in budgets if isinstance(b, Number)),
        carry_over=bool(get("phasing", "carry_over", False)),
        phasing_method=str(get("phasing", "method", "auto")),
        communities_per_supervisor=int(get("network", "communities_per_supervisor", 10)),
        supervisor_cny_per_month=float(get("network", "supervisor_cny_per_month", 2000.0)),
        max_home_station_m=number("network", "max_home_station_m"),
        max_station_centre_m=number("network", "max_station_centre_m"),
        admit_only_near_station=bool(get("network", "admit_only_near_station", False)),
        solver=str(get("solver", "name", "cbc")),
        time_limit_s=float(get("solver", "time_limit_s", 120.0)),
        gap=float(get("solver", "gap", 0.0)),
        targets_file=path("targets", "file"),
        report_title=get("report", "title"),
        region_name=get("report", "region_name"),
        region_name_en=get("report", "region_name_en"),
        outputs_dir=path("outputs", "dir") or (base_dir / "outputs").resolve(),
        write_map=bool(get("outputs", "map", True)),
        small_count_threshold=int(get("outputs", "small_count_threshold", 5)),
        source=source,
    )
    problems += [p for p in _check(scenario) if p not in problems]
    if problems:
        where = f" {source}" if source else ""
        raise InputError(f"scenario{where}: " + "; ".join(problems))
    return scenario


def load_scenario(path: Path | str) -> Scenario:
    """Read and validate a scenario TOML file (UTF-8, or GBK with a warning)."""
    path = Path(path)
    text = read_text_file(path, what="scenario file")
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"scenario {path} is not valid TOML: {error}") from None
    return scenario_from_dict(document, base_dir=path.resolve().parent, source=path.resolve())
