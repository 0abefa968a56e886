"""Design facts of the synthetic county for ``expected.json``: counts, gaps, drive minutes."""

from __future__ import annotations

import networkx as nx
import numpy as np
from scipy.spatial import cKDTree

from access.demo.synth import population, urban
from access.demo.synth.boundaries import area_km2 as county_area_km2
from access.demo.synth.facilities import PRIMARY_CARE, RAW_CATEGORIES
from access.demo.synth.frame import (COUNTY_CODE, COUNTY_NAME, EAST, ISLAND, MOUNTAIN_NO_HEALTH, MOUNTAIN_TOWNSHIPS,
                                     NO_CENTRAL_KG, NO_ELDERLY_POINTS, NODATA, NORTH, OVERSUBSCRIBED_THC, RES, SOUTH,
                                     STUDY_NAME, THC_BEDS, TOWNSHIPS, URBAN_NO_ELDERLY, WEST, Frame)

def seat_drive_minutes(net, fac, seat_grid, isl):
    """Drive minutes from each rural seat to the nearest primary-care facility (networkx)."""
    from access.network.modes import DRIVE

    xy = np.asarray(net.xy)
    G = nx.DiGraph()
    for w in net.ways:
        h = w.tags["highway"]
        if h not in DRIVE.speed_kmh:
            continue
        sp = float(w.tags.get("maxspeed", DRIVE.speed_kmh[h]))
        ow = w.tags.get("oneway") == "yes"
        for a, b in zip(w.nodes[:-1], w.nodes[1:]):
            t = float(np.hypot(*(xy[a] - xy[b]))) / (sp / 3.6)
            G.add_edge(a, b, t=t)
            if not ow:
                G.add_edge(b, a, t=t)
    nodes = np.fromiter(G.nodes, dtype=np.int64)
    tree = cKDTree(xy[nodes])
    fr = Frame()
    src = set()
    for f in fac:
        if RAW_CATEGORIES[f["category"]] in PRIMARY_CARE:
            x, y = fr.to_xy(float(f["lon"]), float(f["lat"]))
            src.add(int(nodes[tree.query([float(x), float(y)])[1]]))
    dist = nx.multi_source_dijkstra_path_length(G.reverse(copy=False), src, weight="t")
    out = {}
    for n, sg in list(seat_grid.items()) + [(ISLAND, isl["seat_grid"])]:
        t = dist.get(sg["centre_node"])
        out[n] = None if t is None else t / 60.0
    return out


def design_facts(seed, fr, net, pop, labels, fac, seats, seat_grid, isl, county_ll) -> dict:
    """The content of ``expected.json``: what the county was built to be, for tests and readers."""
    names = [n for n, _, _, _ in TOWNSHIPS]
    valid = pop != NODATA
    total = float(pop[valid].astype(np.float64).sum())
    town_pop = {
        n: float(pop[labels == i].astype(np.float64).sum()) for i, n in enumerate(names)
    }
    drive_min = seat_drive_minutes(net, fac, seat_grid, isl)
    area_km2 = county_area_km2(fr, county_ll)
    counts: dict[str, int] = {}
    for w in net.ways:
        counts[w.tags["highway"]] = counts.get(w.tags["highway"], 0) + 1
    fac_by_town: dict[str, dict[str, int]] = {n: {} for n in names}
    fac_counts: dict[str, int] = {}
    for f in fac:
        c = RAW_CATEGORIES[f["category"]]
        fac_counts[c] = fac_counts.get(c, 0) + 1
        fac_by_town[f["township"]][c] = fac_by_town[f["township"]].get(c, 0) + 1

    return {
        "synthetic": True,
        "study": STUDY_NAME,
        "seed": seed,
        "county_code": COUNTY_CODE,
        "county_name": COUNTY_NAME,
        "county_area_km2": round(area_km2, 3),
        "total_population": total,
        "township_population": town_pop,
        "townships": {
            n: {"code": COUNTY_CODE + c + "000", "urban": k == "urban",
                "seat_lonlat": [round(float(v), 7) for v in fr.to_lonlat(*seats[n])]}
            for n, c, _, k in TOWNSHIPS
        },
        "island_township": ISLAND,
        "mountain_townships": list(MOUNTAIN_TOWNSHIPS),
        "underserved_townships": {
            MOUNTAIN_NO_HEALTH: (
                "mountain township with no township health centre and no other primary-care "
                f"facility; nearest primary care is {drive_min[MOUNTAIN_NO_HEALTH]:.0f} min drive "
                "from its seat (fujian_30min_medical gap)"
            ),
            NO_CENTRAL_KG: "no public central kindergarten (central_kindergarten rule fails)",
            ISLAND: (
                "island township with no road link to the mainland (no ferry modelled) and no "
                "township health centre: no primary care reachable by road"
            ),
        },
        "no_township_health_centre": [MOUNTAIN_NO_HEALTH, ISLAND],
        "no_central_kindergarten": [NO_CENTRAL_KG],
        "urban_gaps": {
            URBAN_NO_ELDERLY: "no 养老服务中心 (elderly care centre): the 15-minute circle's elderly service "
                              "only near its boundary",
            urban.URBAN_GAPS["elderly_15min"][1]: urban.URBAN_GAPS["elderly_15min"][2],
        },
        "no_elderly_care_centre": [URBAN_NO_ELDERLY],
        "circle_gaps": urban.designed_gaps(fr) | {
            "fujian_30min_medical": {"townships": [MOUNTAIN_NO_HEALTH, ISLAND], "missing": ["primary_care"],
                                     "what": "no 卫生院 (township health centre) and no road to the island"},
            "tdt1062_township": {"townships": [MOUNTAIN_NO_HEALTH, ISLAND], "missing": ["township_health_centre"],
                                 "what": "township seats without a 卫生院"},
            "tdt1062_village": {"townships": list(NO_ELDERLY_POINTS), "missing": ["elderly_day_care"],
                                "what": "villages without a 居家养老服务站 (elderly service point)"},
        },
        "age_bands": {"files": [f"age/{k}.tif" for k in population.AGE_BANDS],
                      "young_township": population.YOUNG_TOWNSHIP,
                      "ageing_townships": list(population.AGEING_TOWNSHIPS),
                      "old_quarter": population.OLD_QUARTER},
        "capacity_shortfall": {"facility": f"{OVERSUBSCRIBED_THC}卫生院", "township": OVERSUBSCRIBED_THC,
                               "beds": THC_BEDS[OVERSUBSCRIBED_THC], "target": "primary_beds",
                               "what": "12 beds for a township of about 30,000 (1.2 beds per 1,000 "
                                       "would need about 36)"},
        "seat_drive_min_to_primary_care": {
            n: (None if v is None else round(v, 2)) for n, v in drive_min.items()
        },
        "facility_counts": dict(sorted(fac_counts.items())),
        "facilities_by_township": {n: dict(sorted(d.items())) for n, d in fac_by_town.items()},
        "raw_categories": RAW_CATEGORIES,
        "network": {
            "nodes": len(net.xy),
            "ways": len(net.ways),
            "highway_ways": dict(sorted(counts.items())),
            "oneway_ways": sum(1 for w in net.ways if w.tags.get("oneway") == "yes"),
            "island_nodes": isl["n_nodes"],
        },
        "raster": {
            "crs": "EPSG:4326", "res_deg": RES, "width": pop.shape[1], "height": pop.shape[0],
            "bounds": [WEST, SOUTH, EAST, NORTH], "nodata": NODATA,
            "cells_with_data": int(valid.sum()),
        },
    }
