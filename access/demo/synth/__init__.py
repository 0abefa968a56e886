"""Generate the embedded synthetic demo county 示范县 (synthetic demo county).

Everything here is invented: the county code 350999 does not exist, and no
real road, person or facility is represented. The county is shaped to look
and behave like a county in south-east China (Fujian coast, about 118.3-118.8 E,
25.9-26.3 N) so that the whole pipeline can be shown and tested without
downloading anything:

* an urban core of four 街道 on a perturbed ~125 m street grid with one-way
  streets;
* eleven rural townships (镇/乡) whose seats are small towns, villages strung
  along a real topological road network, a mountainous west with sparse
  winding tracks, and an island township whose roads do not connect to the
  mainland (no ferry);
* an expressway with two one-way carriageways and diamond interchanges;
* a WorldPop-like 3 arc-second population raster with age-band rasters (a
  young and two ageing townships), township and county polygons that tile
  exactly, a planner-style facility list in Chinese and a scenario file;
* urban services laid out by living-circle level (:mod:`.urban`), so every
  circle covers part of its scope and none all of it.

Every circle has a named, deliberate gap and one 卫生院 is far too small for
its township; ``expected.json`` says where.

Run ``python -m access.demo.synth data/demo`` to regenerate the committed
files. Generation is deterministic for a given ``seed``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import Point

from access.demo.synth import boundaries, expressway, facilities, lanes, population, roads, scenario, streets, terrain
from access.demo.synth import expected as expected_mod
from access.demo.synth import writers
from access.demo.synth.frame import COUNTY_CODE, ISLAND, MOUNTAIN_TOWNSHIPS, STUDY_NAME, TOWNSHIPS, Frame

__all__ = ["generate", "main", "STUDY_NAME", "COUNTY_CODE", "TOWNSHIPS"]


def generate(out_dir: Path | str, seed: int = 2026) -> dict:
    """Write the synthetic demo county into ``out_dir``.

    Parameters
    ----------
    out_dir : path
        Directory to write into (created if missing). Files written:
        ``roads.osm.pbf``, ``population.tif``, ``townships.geojson``,
        ``counties.geojson``, ``facilities.csv``, ``expected.json``,
        ``scenario.toml``.
    seed : int
        Random seed; the same seed gives byte-identical files.

    Returns
    -------
    dict
        The content of ``expected.json`` (design facts: total persons,
        persons per township, designed service gaps, network counts...).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    fr = Frame()

    mainland, island = terrain.outline(rng)
    mountain = terrain.mountain_field(rng)
    seats = {name: np.array(xy) for name, _, xy, _ in TOWNSHIPS}
    for name, xy in seats.items():
        assert (island if name == ISLAND else mainland).buffer(-1000.0).contains(Point(xy)), name
    rural_main = [n for n, _, _, k in TOWNSHIPS if k != "urban" and n != ISLAND]

    # ---- townships and county polygons (lon/lat, 1e-7 degree grid)
    town_ll = boundaries.township_polygons(rng, fr, mainland, island)
    county_ll = shapely.unary_union(list(town_ll.values()))

    # ---- road network
    net = roads.Net()
    core = streets.core_grid(net, rng)
    seat_grid = {}
    for name in rural_main:
        size = 5 if name == "龙潭镇" else (3 if name in MOUNTAIN_TOWNSHIPS else 4)
        seat_grid[name] = streets.seat_grid(net, rng, seats[name], size, name)
    villages = terrain.sample_villages(rng, mainland, mountain, seats, rural_main)
    vnodes = [net.node(*p) for p in villages]
    gates = terrain.gates(mainland)
    roads.rural_roads(net, rng, mainland, mountain, seats, rural_main, core, seat_grid, villages, vnodes, gates)
    expressway.motorway(net, rng, mainland, core, seat_grid["龙潭镇"])
    vil_spur_mid = lanes.village_spurs(net, rng, vnodes, mainland, mountain)
    isl = lanes.island_network(net, rng, island, seats[ISLAND])
    roads.node_crossings(net)

    xy = np.asarray(net.xy)
    lon, lat = fr.to_lonlat(xy[:, 0], xy[:, 1])
    lonlat = np.round(np.column_stack([lon, lat]), 7)

    # ---- facilities
    all_villages = [(p, n, mid) for p, n, mid in zip(villages, vnodes, vil_spur_mid)] + isl["villages"]
    village_names = facilities.village_names(rng, len(all_villages))
    fac = facilities.facilities(rng, net, fr, town_ll, seats, core, seat_grid, isl, all_villages, village_names, mountain)

    # ---- population raster
    pop, labels = population.population(rng, fr, net, town_ll, mountain, seats, core, all_villages)

    # ---- write
    writers.write_pbf(out / "roads.osm.pbf", net, lonlat)
    writers.write_raster(out / "population.tif", pop, seed)
    (out / "age").mkdir(exist_ok=True)
    bands = population.age_bands(rng, pop, labels)
    for stem, band in bands.items():
        writers.write_raster(out / "age" / f"{stem}.tif", band, seed, what=f"persons {stem[4:].replace('_', '-')}")
    boundaries.write_boundaries(out, town_ll, county_ll)
    writers.write_facilities(out / "facilities.csv", fac)
    scenario.write_scenario(out / "scenario.toml")

    facts = expected_mod.design_facts(seed, fr, net, pop, labels, fac, seats, seat_grid, isl, county_ll)
    (out / "expected.json").write_text(json.dumps(facts, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return facts


def main(argv: list[str] | None = None) -> int:
    """``python -m access.demo.synth [out_dir] [--seed N]``."""
    import argparse
    import time

    ap = argparse.ArgumentParser(prog="python -m access.demo.synth", description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", nargs="?", default="data/demo")
    ap.add_argument("--seed", type=int, default=2026)
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    exp = generate(Path(a.out_dir), seed=a.seed)
    print(f"wrote {a.out_dir}: {exp['network']['nodes']} nodes, {exp['network']['ways']} ways, "
          f"{exp['total_population']:.0f} persons, {exp['county_area_km2']:.0f} km2, "
          f"{sum(exp['facility_counts'].values())} facilities in {time.perf_counter() - t0:.1f} s")
    return 0
