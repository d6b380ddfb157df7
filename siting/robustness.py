"""How sure a plan is: its coverage under other child distributions, which homes every one of them chooses.

Child counts per village are modelled from rasters; data sets differ by tens of points. A
run's plan is re-evaluated, and its model re-solved, under alternative distributions of the
same children:

* ``nominal`` — the run's own counts (evaluating it gives the run's own figures);
* ``perturbed k`` — each community's children times a lognormal factor (``sigma``), rescaled
  so that every county keeps its total (the census calibration holds);
* ``even by area`` — each county's children spread over its communities by their area;
* ``raster`` — another child raster given by the user, summed per community.

Coverage is linear in the weights, so the plan that maximises the *expected* coverage over
the alternatives is the model solved once on their mean weights: exact, and reported with
its cost in coverage against the nominal plan. For the MCLP, the plan that maximises the
*worst* alternative's coverage is solved too (a max-min MIP, started from the expected
plan, so a stop at the time limit is never worse than it in the worst case).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from siting.access import Access
from siting.errors import InputError
from siting.levels import names_by_code
from siting.models.options import SiteOptions
from siting.models.plan import Plan
from siting.scenario import Scenario

__all__ = ["Robustness", "robustness", "write_robustness"]

#: A home chosen in at least this share of the alternatives is "most"; in all of them, "always".
MOST = 0.5


@dataclass(frozen=True, eq=False)
class Robustness:
    """Coverage of the nominal plan under each alternative, per county, and how often each home is chosen."""

    scenario: str
    alternatives: tuple[str, ...]
    province: pd.DataFrame
    counties: pd.DataFrame
    homes: pd.DataFrame
    robust: dict[str, float]


def _per_county_rescaled(values: np.ndarray, counties: np.ndarray, totals: pd.Series) -> np.ndarray:
    """``values`` scaled so that each county sums to its total in ``totals``."""
    sums = pd.Series(values).groupby(counties).sum()
    factor = (totals / sums.where(sums > 0)).fillna(0.0)
    return values * pd.Series(counties).map(factor).to_numpy(dtype=float)


def _alternatives(
    children: np.ndarray, counties: np.ndarray, area_km2: np.ndarray, *, k: int, sigma: float, seed: int
) -> list[tuple[str, np.ndarray]]:
    totals = pd.Series(children).groupby(counties).sum()
    rng = np.random.default_rng([seed, 26])
    out = [("nominal", children.copy())]
    for n in range(k):
        noisy = children * np.exp(sigma * rng.standard_normal(len(children)) - sigma**2 / 2)
        out.append((f"perturbed {n + 1}", _per_county_rescaled(noisy, counties, totals)))
    out.append(("even by area", _per_county_rescaled(area_km2.astype(float), counties, totals)))
    return out


def _covered_share(covered: np.ndarray, children: np.ndarray, counties: np.ndarray) -> tuple[float, pd.Series]:
    frame = pd.DataFrame({"c": counties, "all": children, "in": np.where(covered, children, 0.0)})
    by = frame.groupby("c")[["all", "in"]].sum()
    return 100 * float(by["in"].sum() / max(by["all"].sum(), 1e-12)), 100 * by["in"] / by["all"].where(by["all"] > 0)


def robustness(
    scenario: Scenario,
    work_dir: Path,
    *,
    k: int = 8,
    sigma: float = 0.5,
    raster: Path | None = None,
) -> Robustness:
    """Re-evaluate and re-solve the scenario's plan under alternative child distributions.

    Raises
    ------
    InputError
        ``k`` below 1 or ``sigma`` not in (0, 3], a phased plan (years couple the homes), an
        alternative raster that cannot be read.
    """
    from siting import stages
    from siting.population import zonal_children

    if k < 1 or not 0 < sigma <= 3:
        raise InputError(f"robustness needs k ≥ 1 alternatives and 0 < sigma ≤ 3, got k={k}, sigma={sigma}")
    if scenario.phasing_years:
        raise InputError("robustness re-solves one plan; a phased scenario couples its years: drop [phasing]")
    inputs = stages.read(scenario, work_dir)
    points = stages.demand(scenario, inputs)
    sites, options = stages.candidates(scenario, inputs, points)
    reach = stages.access(scenario, inputs, points, sites)
    nominal = stages.plan(scenario, reach, points, sites, options)
    children = points["children"].to_numpy(dtype=float)
    counties = points["county_code"].astype(str).to_numpy()
    area = inputs.communities.set_index("community_code").geometry.area / 1e6
    area_km2 = points["community_code"].map(area).to_numpy(dtype=float)
    alternatives = _alternatives(children, counties, area_km2, k=k, sigma=sigma, seed=scenario.seed)
    if raster is not None:
        zonal = zonal_children(raster, inputs.communities, id_column="community_code")
        by_code = pd.Series(zonal.children, index=pd.Index(zonal.zone_ids).astype(str))
        counts_of = points["community_code"].astype(str).map(by_code).fillna(0.0).to_numpy(dtype=float)
        alternatives.append(("raster " + Path(raster).name, counts_of))
    cover = reach.within_standard().tocsr()
    order = pd.Index(reach.demand_ids.astype(str)).get_indexer(points["demand_id"].astype(str))
    cover = cover[order]

    def covered_by(plan: Plan) -> np.ndarray:
        positions = reach.costs.site_positions(list(plan.site_ids))
        return np.asarray(cover[:, positions].sum(axis=1)).ravel() > 0

    weight = points["weight"].to_numpy(dtype=float)
    per_child = np.divide(weight, children, out=np.ones_like(weight), where=children > 0)
    nominal_covered = covered_by(nominal)
    rows: list[dict[str, object]] = []
    shares: dict[str, pd.Series] = {}
    counts: dict[str, int] = {}
    mean_children = np.zeros(len(children))
    for name, alt in alternatives:
        mean_children += alt / len(alternatives)
        pct, county_pct = _covered_share(nominal_covered, alt, counties)
        shares[name] = county_pct
        own = stages.plan(scenario, reach, points.assign(weight=alt * per_child), sites, options)
        own_pct, _ = _covered_share(covered_by(own), alt, counties)
        rows.append({"alternative": name, "nominal_plan_pct": pct, "own_plan_pct": own_pct, "own_status": own.status})
        for site in own.new_ids:
            counts[site] = counts.get(site, 0) + 1
    robust = stages.plan(scenario, reach, points.assign(weight=mean_children * per_child), sites, options)
    worst_case = _worst_case(scenario, reach, points, sites, options, alternatives, per_child, start=robust)

    def expected(plan: Plan) -> float:
        covered = covered_by(plan)
        return float(np.mean([_covered_share(covered, alt, counties)[0] for _, alt in alternatives]))

    def worst(plan: Plan) -> float:
        covered = covered_by(plan)
        return float(min(_covered_share(covered, alt, counties)[0] for _, alt in alternatives))

    county_table = pd.DataFrame(shares)
    county_table.index.name = "unit_code"
    names = names_by_code(inputs.unit_names)
    summary = pd.DataFrame(
        {
            "unit_name_zh": [names.get(code, code) for code in county_table.index],
            "nominal_pct": county_table["nominal"],
            "min_pct": county_table.min(axis=1),
            "max_pct": county_table.max(axis=1),
        }
    )
    summary["spread_pts"] = summary["max_pct"] - summary["min_pct"]
    summary = summary.reset_index().sort_values("spread_pts", ascending=False).reset_index(drop=True)
    every = sorted(set(counts) | set(nominal.new_ids))
    share = np.array([counts.get(s, 0) / len(alternatives) for s in every])
    homes = pd.DataFrame(
        {
            "site_id": every,
            "in_nominal_plan": [s in set(nominal.new_ids) for s in every],
            "chosen_share": share,
            "class": np.where(share >= 1.0, "always", np.where(share >= MOST, "most", "few")),
        }
    ).sort_values(["chosen_share", "site_id"], ascending=[False, True])
    return Robustness(
        scenario=scenario.name,
        alternatives=tuple(name for name, _ in alternatives),
        province=pd.DataFrame(rows),
        counties=summary,
        homes=homes.reset_index(drop=True),
        robust={
            "nominal_plan_expected_pct": expected(nominal),
            "robust_plan_expected_pct": expected(robust),
            "robust_plan_nominal_pct": _covered_share(covered_by(robust), children, counties)[0],
            "nominal_plan_nominal_pct": _covered_share(nominal_covered, children, counties)[0],
            "homes_moved": float(len(set(robust.new_ids) ^ set(nominal.new_ids)) / 2),
            "nominal_plan_worst_pct": worst(nominal),
            "robust_plan_worst_pct": worst(robust),
            **(
                {}
                if worst_case is None
                else {
                    "worst_case_plan_worst_pct": worst(worst_case),
                    "worst_case_plan_expected_pct": expected(worst_case),
                    "worst_case_plan_nominal_pct": _covered_share(covered_by(worst_case), children, counties)[0],
                    "worst_case_optimal": float(worst_case.status == "optimal"),
                }
            ),
        },
    )


def _worst_case(
    scenario: Scenario,
    reach: Access,
    points: pd.DataFrame,
    sites: pd.DataFrame,
    options: SiteOptions,
    alternatives: list[tuple[str, np.ndarray]],
    per_child: np.ndarray,
    *,
    start: Plan,
) -> Plan | None:
    """The MCLP plan best in the worst alternative (None for other models or a capacity: not defined here)."""
    from siting.models.fair import solve_worst_case_mclp
    from siting.stages import solver_options

    if scenario.model != "mclp" or scenario.capacity is not None:
        return None
    to_matrix = pd.Index(points["demand_id"].astype(str)).get_indexer(pd.Index(reach.demand_ids.astype(str)))
    sets = np.vstack([(alt * per_child)[to_matrix] for _, alt in alternatives])
    plan, _ = solve_worst_case_mclp(
        reach,
        sets,
        n_homes=scenario.n_homes,
        budget_cny=scenario.budget_cny,
        site_cost_cny=sites["cost_cny"].to_numpy(dtype=float),
        sites=options,
        solver=solver_options(scenario),
        start_ids=tuple(start.new_ids),
    )
    return plan


def write_robustness(result: Robustness, out_dir: Path) -> Path:
    """``robustness_alternatives.csv``, ``robustness_counties.csv``, ``robustness_homes.csv``, ``robustness.json``."""
    from siting.report.sharing import write_csv
    from siting.rundir import write_atomically

    def write(tmp: Path) -> None:
        write_csv(result.province, tmp / "robustness_alternatives.csv")
        write_csv(result.counties, tmp / "robustness_counties.csv")
        write_csv(result.homes, tmp / "robustness_homes.csv")
        record = {"scenario": result.scenario, "alternatives": list(result.alternatives), **result.robust}
        (tmp / "robustness.json").write_text(json.dumps(record, ensure_ascii=False, indent=1), encoding="utf-8")

    return write_atomically(out_dir, write)
