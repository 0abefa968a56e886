"""Propose new sites for a circle and show what they change.

Glue between a finished run and the location models: demand = the
population cells, existing cover = cells already inside the circle for the
service, candidates = network junctions inside the circle's gap areas (or
the planner's own), costs = network catchments of the candidates. The chosen
sites are added to a variant of the study, which is re-run (reusing graphs
and unchanged categories) and compared with the base run.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from access.coverage.circles import circle_limit_s
from access.coverage.compare import Comparison, compare
from access.errors import InputError
from access.network import snap as snap_mod
from access.routing import queries
from access.siting import candidates as cand_mod
from access.siting.locate import Solution, maximal_covering


@dataclass
class Proposal:
    """New sites, the model's answer and the re-run they lead to.

    Attributes
    ----------
    sites : GeoDataFrame
        ``site_id``, ``category``, ``newly_covered`` (persons the site
        brings inside the circle's service limit that no existing facility
        reached), ``township``, ``candidate``, point geometry (study CRS).
    solution : Solution
        The location model's result (objective, bound, gap, solver).
    study : Study
        The variant with the sites added.
    results : Results
        The variant's run; ``results.proposed`` holds ``sites``.
    comparison : Comparison
        Base run against the variant, per township and circle.
    """

    sites: gpd.GeoDataFrame
    solution: Solution
    study: object
    results: object
    comparison: Comparison


def propose_sites(study, results, circle: str, p: int, category: str | None = None,
                  candidates: gpd.GeoDataFrame | None = None, spacing_m: float = 500.0,
                  method: str = "auto") -> Proposal:
    """Best ``p`` new facilities of ``category`` for the persons outside ``circle``.

    Parameters
    ----------
    study : Study
        The loaded study of ``results``.
    results : Results
        Its base run.
    circle : str
        Circle name (e.g. ``"fujian_30min_medical"``).
    p : int
        New sites to open.
    category : str, optional
        Category of the new facilities; default the circle's first category.
    candidates : GeoDataFrame, optional
        Candidate points in the study CRS (e.g. township seats, land the
        county owns); default network junctions inside the circle's gap
        areas, about ``spacing_m`` apart.
    spacing_m : float
        Candidate spacing for the default, metres.
    method : {"auto", "exact", "heuristic"}
        Passed to :func:`access.siting.locate.maximal_covering`.

    Returns
    -------
    Proposal
    """
    sc = study.scenario
    by_name = {c.name: c for c in sc.circles}
    if circle not in by_name:
        raise InputError(f"circle {circle!r} is not in this study; choose one of {sorted(by_name)}.")
    c = by_name[circle]
    category = category or c.categories[0]
    if category not in c.categories:
        raise InputError(f"category {category!r} does not serve circle {circle!r}; it counts {list(c.categories)}.")
    net = study.networks[c.mode]
    limit = circle_limit_s(c, sc.modes)
    penalty = net.mode.penalty_min * 60.0

    if candidates is None:
        gaps = results.gaps[results.gaps["circle"] == circle] if len(results.gaps) else results.gaps
        if not len(gaps):
            raise InputError(f"circle {circle!r} has no gap areas: everyone is covered, nothing to site.")
        candidates = cand_mod.from_network_nodes(net.graph.node_xy, gaps, spacing_m=spacing_m, crs=study.crs)
    if not len(candidates):
        raise InputError("no candidate sites: give candidates or check the gap areas.")
    cxy = np.column_stack([candidates.geometry.x.to_numpy(), candidates.geometry.y.to_numpy()])
    csnap = snap_mod.snap_points(cxy, net.graph, study.edges, net.mode, max_dist_m=sc.snap_max_m)

    # existing cover for this service: any category of its requirement within the limit
    service = next(s for s, cats in c.requirements.items() if category in cats)
    times = results.cells[[f"t_{c.mode}_{k}" for k in c.requirements[service]
                           if f"t_{c.mode}_{k}" in results.cells]]
    covered = (times.min(axis=1) <= limit).to_numpy() if times.shape[1] else np.zeros(len(results.cells), bool)
    table = queries.catchments(net.graph, csnap, net.cells, limit, penalty)
    table = table.rename(columns={"facility": "candidate", "cell": "demand"})
    pop = results.cells["population"].to_numpy(float)
    sol = maximal_covering(table, pop, p, limit, covered=covered, n_candidates=len(candidates), method=method)

    chosen = candidates.iloc[sol.sites]
    newly = np.zeros(len(sol.sites))
    serve = (sol.assignment >= 0) & ~covered & sol.covered
    pos = {int(s): i for i, s in enumerate(sol.sites)}
    for s, w in zip(sol.assignment[serve], pop[serve]):
        newly[pos[int(s)]] += w
    sites = gpd.GeoDataFrame({
        "site_id": [f"new-{category}-{i + 1}" for i in range(len(chosen))],
        "category": category,
        "newly_covered": newly,
        "candidate": sol.sites.astype(np.int64),
    }, geometry=chosen.geometry.values, crs=study.crs)
    sites["township"] = _township_of(sites, study)

    variant = study.variant(add=pd.DataFrame({
        "facility_id": sites["site_id"], "name": sites["site_id"], "category": category,
        "x": sites.geometry.x, "y": sites.geometry.y,
    }))
    after = variant.run()
    after.proposed = sites
    return Proposal(sites=sites, solution=sol, study=variant, results=after,
                    comparison=compare(results, after))


def _township_of(sites: gpd.GeoDataFrame, study) -> list:
    if study.townships is None or not len(study.townships):
        return [None] * len(sites)
    j = gpd.sjoin(sites[["geometry"]], study.townships[["code", "name", "geometry"]], how="left",
                  predicate="within")
    j = j[~j.index.duplicated()]
    return j["name"].reindex(sites.index).tolist()
