"""What makes a scenario wrong: bad numbers, options a model ignores, contradictions, inputs that clash.

:func:`scenario_problems` lists every problem of a :class:`~siting.scenario.Scenario`
at once (the loader reports them together); nothing here reads a file.
"""

from __future__ import annotations

import difflib
import math
import re
from typing import TYPE_CHECKING, Any

from siting.engine import EngineSpec
from siting.errors import InputError

if TYPE_CHECKING:
    from siting.scenario import Scenario

__all__ = ["NAME", "OWN_INPUTS", "scenario_problems"]

NAME = re.compile(r"^[\w\-.\u4e00-\u9fff]+$")
Number = (int, float)
OWN_INPUTS = ("communities", "population", "worldpop_dir", "priority_registry", "existing_homes", "official_totals")


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
        "network.visit_kmh": s.visit_kmh,
        "network.supervisor_hours_per_month": s.supervisor_hours_per_month,
    }
    optional_positive = {
        "access.standard_min": s.standard_min,
        "model.capacity": s.capacity,
        "network.max_home_station_m": s.max_home_station_m,
        "network.max_station_centre_m": s.max_station_centre_m,
        "outputs.raster_resolution_m": s.raster_resolution_m,
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
    bands = list(s.bands)
    if bands and (bands != sorted(set(bands)) or not all(_finite(b) and b > 0 for b in bands)):
        problems.append(
            f"report.bands must be rising numbers above 0 (km or minutes), e.g. [1, 3, 5, 10]; got {bands!r}"
        )
    if not _finite(s.detour_factor) or s.detour_factor < 1:
        problems.append(
            f"network.detour_factor must be ≥ 1 (a road is never shorter than the line), got {s.detour_factor!r}"
        )
    for where, minutes in (("network.visit_min", s.visit_min), ("network.home_visit_min", s.home_visit_min)):
        if not _finite(minutes) or minutes < 0:
            problems.append(f"{where} must be a number of minutes ≥ 0, got {minutes!r}")
    if s.share is not None and (not _finite(s.share) or not 0 < s.share <= 1):
        problems.append(f"model.share must be a fraction in (0, 1], e.g. 0.9; got {s.share!r}")
    if s.min_share is not None and (not _finite(s.min_share) or not 0 < s.min_share <= 1):
        problems.append(
            f"model.min_share must be a fraction in (0, 1], e.g. 0.6 for 60 % per county; got {s.min_share!r}"
        )
    if s.min_share_per not in ("county", "township"):
        problems.append(f"model.min_share_per must be 'county' or 'township', got {s.min_share_per!r}")
    if s.max_min and s.capacity is not None:
        problems.append("model.max_min does not take a capacity; remove model.capacity or model.max_min")
    if s.min_share is not None and s.capacity is not None:
        problems.append("model.min_share does not take a capacity; remove model.capacity or model.min_share")
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


def scenario_problems(s: Scenario) -> list[str]:
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
    try:
        EngineSpec.parse(s.engine)
    except InputError as error:
        own.append(f"engine.use: {error}")
    if s.coordinates not in ("wgs84", "gcj02", "bd09"):
        own.append(f"inputs.coordinates {s.coordinates!r} must be 'wgs84', 'gcj02' or 'bd09'")
    own += _inputs_problems(s)
    return own


TERRAIN_KEYS = ("dem", "landcover", "speed_table", "roads", "barriers", "dem_band", "landcover_band", "access_grid")


def _travel_time_problems(s: Scenario) -> list[str]:
    from siting.travel.build import MAX_STANDARD_MIN, TerrainInputs

    problems = []
    if s.standard_min is None:
        problems.append("access.mode 'travel_time' needs access.standard_min (e.g. 60)")
    elif _finite(s.standard_min) and s.standard_min > MAX_STANDARD_MIN:
        problems.append(
            f"access.standard_min = {s.standard_min:g} minutes is more than a day ({MAX_STANDARD_MIN:g}); give the "
            "standard in minutes (e.g. 60)"
        )
    if s.access_direction not in ("to_home", "from_home"):
        problems.append(f"access.direction {s.access_direction!r} must be 'to_home' or 'from_home'")
    if s.dem is None and not s.sample:
        problems.append("access.mode 'travel_time' needs access.dem (an elevation raster covering the study area)")
    if s.sample and s.dem is None and not s.road_speeds_kmh:
        problems.append(
            "the sample's roads need access.road_speeds for their classes county, township and village "
            "(e.g. { county = 40, township = 25, village = 10 })"
        )
    if (s.landcover is None) != (s.speed_table is None):
        problems.append("access.landcover and access.speed_table go together (classes and their speeds)")
    if s.roads is not None and not s.road_speeds_kmh:
        problems.append("access.roads needs access.road_speeds (a table of road class = km/h)")
    problems += TerrainInputs.from_scenario(s).problems(sample_terrain=s.sample and s.dem is None)
    if s.max_speed_kmh is not None and (not _finite(s.max_speed_kmh) or s.max_speed_kmh <= 0):
        problems.append(f"access.max_speed_kmh must be a positive finite number, got {s.max_speed_kmh!r}")
    if not _finite(s.margin_m) or s.margin_m < 0:
        problems.append(f"access.margin_m must be a finite number ≥ 0 of metres, got {s.margin_m!r}")
    thresholds = list(s.thresholds_min)
    if (
        not thresholds
        or any(not 0 < t <= MAX_STANDARD_MIN for t in thresholds)
        or thresholds != sorted(set(thresholds))
    ):
        problems.append(
            f"access.thresholds_min must be rising minutes from above 0 to {MAX_STANDARD_MIN:g}, e.g. [15, 30, 60, "
            f"120]; got {thresholds!r}"
        )
    return problems


def _access_problems(s: Scenario) -> list[str]:
    modes = ("distance", "table", "travel_time")
    if s.access_mode not in modes:  # first: a misspelt mode is the problem, not the keys it would read
        close = difflib.get_close_matches(str(s.access_mode), modes, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return [f"access.mode {s.access_mode!r} must be 'distance', 'table' or 'travel_time'{hint}"]
    terrain = [f"access.{k}" for k in TERRAIN_KEYS if getattr(s, k) is not None]
    if s.access_mode != "travel_time" and terrain:
        return [f"{', '.join(terrain)} are read only with access.mode = 'travel_time'; set it or remove them"]
    if s.access_mode == "travel_time":
        return _travel_time_problems(s)
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
    return [f"access.mode {s.access_mode!r} must be 'distance', 'table' or 'travel_time'"]


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
