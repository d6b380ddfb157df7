"""Scenario files (TOML) → a validated, frozen :class:`Scenario`.

A scenario is a file an analyst can keep, diff and rerun. Validation reports
every problem at once, section by section: unknown keys (with the valid ones),
wrong types, numbers that are not finite or out of range, missing files, model
options the chosen model does not take, and contradictions. Relative paths
resolve against the folder of the scenario file. A file saved in GBK (as Chinese
Windows editors do) is read with a warning.
"""

from __future__ import annotations

import tomllib
import warnings
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from siting.errors import InputError, SitingWarning
from siting.scenario_checks import OWN_INPUTS, scenario_problems

__all__ = ["MODEL_TYPES", "SCHEMA", "Scenario", "load_scenario", "read_text_file", "scenario_from_dict"]

MODEL_TYPES = ("mclp", "lscp", "partial_cover", "pmedian")
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
        "province_name_column": (str,),
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
    "access": {
        "mode": (str,),
        "standard_m": Number,
        "standard_min": Number,
        "table": (str,),
        "table_unit": (str,),
        "direction": (str,),
        "dem": (str,),
        "landcover": (str,),
        "speed_table": (str,),
        "roads": (str,),
        "road_class_column": (str,),
        "road_speeds": (dict,),
        "barriers": (str,),
        "resolution_m": Number,
        "max_speed_kmh": Number,
        "walking_kmh": Number,
        "margin_m": Number,
        "dem_band": (int,),
        "landcover_band": (int,),
        "grid": (str,),
        "slope": (str,),
        "corner_rule": (bool,),
        "roads_burn": (str,),
        "barriers_burn": (str,),
        "layer_order": (list,),
        "thresholds_min": (list,),
    },
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
        "min_share": Number,
        "min_share_per": (str,),
        "max_min": (bool,),
        "locked_in": (list,),
        "locked_out": (list,),
        "priority_factors": (dict,),
    },
    "solver": {"name": (str,), "time_limit_s": Number, "gap": Number},
    "engine": {"use": (str,), "tls_ca_file": (str,), "tls_cert": (str,), "tls_key": (str,)},
    "phasing": {"years": (list,), "budgets_cny": (list,), "carry_over": (bool,), "method": (str,)},
    "network": {
        "communities_per_supervisor": (int,),
        "supervisor_cny_per_month": Number,
        "max_home_station_m": Number,
        "admit_only_near_station": (bool,),
        "max_station_centre_m": Number,
        "visit_kmh": Number,
        "detour_factor": Number,
        "visit_min": Number,
        "supervisor_hours_per_month": Number,
        "home_visit_min": Number,
    },
    "targets": {"file": (str,)},
    "report": {"title": (str,), "region_name": (str,), "region_name_en": (str,), "bands": (list,)},
    "outputs": {"dir": (str,), "map": (bool,), "small_count_threshold": (int,), "raster_resolution_m": Number},
}
PATH_KEYS_EXTRA = {("inputs", "data_dir"), ("outputs", "dir")}
FILE_KEYS = (
    {
        ("inputs", k)
        for k in (
            "communities",
            "population",
            "priority_registry",
            "existing_homes",
            "official_totals",
            "candidate_sites",
        )
    }
    | {("targets", "file")}
    | {("access", k) for k in ("table", "dem", "landcover", "speed_table", "roads", "barriers")}
    | {("engine", k) for k in ("tls_ca_file", "tls_cert", "tls_key")}
)
FOLDER_KEYS = {("inputs", "worldpop_dir")}
#: Scenario field of each key, where the names differ.
FIELD_OF = {
    ("access", "mode"): "access_mode",
    ("access", "table"): "access_table",
    ("access", "table_unit"): "access_table_unit",
    ("access", "direction"): "access_direction",
    ("access", "road_speeds"): "road_speeds_kmh",
    ("access", "grid"): "access_grid",
    ("model", "type"): "model",
    ("model", "locked_in"): "locked_in",
    ("solver", "name"): "solver",
    ("engine", "use"): "engine",
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
    province_name_column: str | None = None
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
    access_direction: str = "to_home"
    dem: Path | None = None
    landcover: Path | None = None
    speed_table: Path | None = None
    roads: Path | None = None
    road_class_column: str = "class"
    road_speeds_kmh: tuple[tuple[str, float], ...] = ()
    barriers: Path | None = None
    resolution_m: float = 200.0
    max_speed_kmh: float | None = None
    walking_kmh: float = 5.0
    margin_m: float = 2_000.0
    dem_band: int | None = None
    landcover_band: int | None = None
    access_grid: str | None = None
    slope: str = "tobler"
    corner_rule: bool = True
    roads_burn: str = "centres"
    barriers_burn: str = "touched"
    layer_order: tuple[str, ...] = ("barriers", "roads")
    thresholds_min: tuple[float, ...] = (15.0, 30.0, 60.0, 120.0)
    #: [report] bands: upper edges of the access bands, in km (distance) or minutes (time); () = the defaults.
    bands: tuple[float, ...] = ()
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
    min_share: float | None = None
    min_share_per: str = "county"
    max_min: bool = False
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
    visit_kmh: float = 30.0
    detour_factor: float = 1.4
    visit_min: float = 60.0
    supervisor_hours_per_month: float = 88.0
    home_visit_min: float = 30.0
    # [solver]
    solver: str = "cbc"
    time_limit_s: float = 120.0
    gap: float = 0.0
    # [engine]: where partitioned stages run ('local', 'dask-local:N', 'dask://HOST:PORT')
    engine: str = "local"
    #: tls:// engines: the cluster's CA file, this client's certificate and key (paths; or Dask's configuration).
    tls_ca_file: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
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
    #: Cell size of nearest_home.tif in metres of the working CRS (None: the child raster's own grid).
    raster_resolution_m: float | None = None
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
                if name in PAIR_FIELDS:
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
        problems = scenario_problems(changed)
        if problems:
            raise InputError("scenario: " + "; ".join(problems))
        return changed

    @property
    def modelled(self) -> bool:
        """True when the inputs are the embedded (partly modelled) Yunnan sample."""
        return self.sample

    @property
    def engine_tls(self) -> tuple[str | None, str | None, str | None]:
        """The ``tls://`` engine's CA file, certificate and key, as :func:`siting.engine.open_engine` takes them."""
        ca, cert, key = (None if p is None else str(p) for p in (self.tls_ca_file, self.tls_cert, self.tls_key))
        return ca, cert, key

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


PATH_KEYS = FILE_KEYS | FOLDER_KEYS | PATH_KEYS_EXTRA
#: Fields kept as sorted (name, number) pairs, written as tables in the file.
PAIR_FIELDS = ("priority_factors", "road_speeds_kmh")
FIELD_TYPES = {f.name: str(f.type) for f in fields(Scenario)}


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


def _convert(name: str, value: Any) -> Any:
    """A document value as the Scenario field wants it (by the field's type)."""
    kind = FIELD_TYPES[name]
    if name in PAIR_FIELDS:
        return tuple(
            sorted((str(k), float(v)) for k, v in value.items() if isinstance(v, Number) and not isinstance(v, bool))
        )
    if kind.startswith("tuple[str"):
        return tuple(str(v) for v in value)
    if kind.startswith("tuple[int"):
        return tuple(int(v) for v in value if isinstance(v, int) and not isinstance(v, bool))
    if kind.startswith("tuple[float"):
        return tuple(float(v) for v in value if isinstance(v, Number) and not isinstance(v, bool))
    if kind.startswith("float"):
        return float(value)
    if kind.startswith("int"):
        return int(value)
    return value


def _checked_path(section: str, key: str, value: str, base_dir: Path, problems: list[str]) -> Path:
    """A path of the document, resolved against ``base_dir``; a missing file or a wrong kind is a problem."""
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


def _list_problems(flat: dict[tuple[str, str], Any]) -> list[str]:
    problems = []
    for section, key in (("model", "priority_factors"), ("access", "road_speeds")):
        table = flat.get((section, key), {})
        if isinstance(table, dict):
            bad = [k for k, v in table.items() if isinstance(v, bool) or not isinstance(v, Number)]
            if bad:
                problems.append(f"{section}.{key} must be numbers, not for {bad}")
    years, budgets = flat.get(("phasing", "years"), []), flat.get(("phasing", "budgets_cny"), [])
    if isinstance(years, list) and any(isinstance(y, bool) or not isinstance(y, int) for y in years):
        problems.append(f"phasing.years must be whole years, got {years}")
    if isinstance(budgets, list) and any(isinstance(b, bool) or not isinstance(b, Number) for b in budgets):
        problems.append(f"phasing.budgets_cny must be numbers, got {budgets}")
    return problems


def scenario_from_dict(document: dict[str, Any], *, base_dir: Path, source: Path | None = None) -> Scenario:
    """Validate a parsed scenario document; relative paths resolve against ``base_dir``."""
    problems: list[str] = []
    flat = _flatten(document, problems)
    if "name" not in document:
        problems.append("the scenario needs a name")
    problems += _list_problems(flat)
    values: dict[str, Any] = {"name": ""}
    for (section, key), value in flat.items():
        types = SCHEMA.get(section, {}).get(key)
        if types is None or value is None or (isinstance(value, bool) and bool not in types):
            continue
        if not isinstance(value, types):
            continue
        name = _field_name(section, key)
        if (section, key) in PATH_KEYS:
            values[name] = _checked_path(section, key, str(value), base_dir, problems)
        else:
            values[name] = _convert(name, value)
    values.setdefault("sample", not any(values.get(k) is not None for k in OWN_INPUTS))
    values.setdefault("outputs_dir", (base_dir / "outputs").resolve())
    scenario = Scenario(**values, source=source)
    problems += [p for p in scenario_problems(scenario) if p not in problems]
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
