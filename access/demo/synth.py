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
* a WorldPop-like 3 arc-second population raster, township and county
  polygons that tile exactly, a planner-style facility list in Chinese and a
  scenario file.

Some townships are deliberately underserved; ``expected.json`` says which.

Run ``python -m access.demo.synth data/demo`` to regenerate the committed
files. Generation is deterministic for a given ``seed``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx
import numpy as np
import shapely
import shapely.affinity
from pyproj import Transformer
from scipy import ndimage
from scipy.spatial import Delaunay, cKDTree
from shapely.geometry import LineString, MultiPoint, Point, Polygon, box, mapping

__all__ = ["generate", "main", "STUDY_NAME", "COUNTY_CODE", "TOWNSHIPS"]

STUDY_NAME = "示范县 (synthetic demo county)"
COUNTY_NAME = "示范县"
COUNTY_CODE = "350999"  # fictitious: Fujian prefix 35, unused city 09, county 99

# Local metric frame: UTM 50N shifted so that (0, 0) is at this lon/lat.
_LON0, _LAT0 = 118.55, 26.10
_UTM = "EPSG:32650"

# Raster grid: WorldPop-like 3 arc-seconds in EPSG:4326, aligned to the
# global 1/1200-degree lattice.
_RES = 1.0 / 1200.0
_WEST, _EAST, _SOUTH, _NORTH = 118.3, 118.8, 25.9, 26.3
NODATA = -99999.0

# Township table: name, statistical code suffix, seat (x, y) metres in the
# local frame, kind. Codes follow the national pattern: 街道 001-099,
# 镇 100-199, 乡 200-299.
TOWNSHIPS: tuple[tuple[str, str, tuple[float, float], str], ...] = (
    ("城关街道", "001", (5700.0, 4000.0), "urban"),
    ("东湖街道", "002", (8300.0, 4400.0), "urban"),
    ("凤山街道", "003", (5800.0, 1600.0), "urban"),
    ("南门街道", "004", (8200.0, 2000.0), "urban"),
    ("龙潭镇", "100", (-500.0, -10500.0), "town"),
    ("青山镇", "101", (-5000.0, 12000.0), "town"),
    ("白沙镇", "102", (9000.0, 11000.0), "town"),
    ("梅林镇", "103", (11000.0, -7000.0), "town"),
    ("洋头镇", "104", (13500.0, 3500.0), "town"),
    ("桃源镇", "105", (3000.0, -13500.0), "town"),
    ("溪口镇", "106", (-7000.0, -2000.0), "town"),
    ("云岭乡", "200", (-14000.0, 8000.0), "xiang"),
    ("莲塘乡", "201", (-8000.0, -12500.0), "xiang"),
    ("石门乡", "202", (-16000.0, -6000.0), "xiang"),
    ("海屿乡", "203", (21500.0, -9000.0), "xiang"),
)
ISLAND = "海屿乡"
MOUNTAIN_NO_HEALTH = "石门乡"
NO_CENTRAL_KG = "溪口镇"
URBAN_NO_ELDERLY = "东湖街道"
MOUNTAIN_TOWNSHIPS = ("石门乡", "云岭乡")

# Urban core: centre, size (metres) and rotation of the street grid.
_CORE = (7000.0, 3000.0)
_CORE_W, _CORE_H, _CORE_ROT = 5000.0, 4000.0, math.radians(12.0)

# Persons (before quantisation) per component.
_POP_URBAN = 215_000.0
_POP_VILLAGES = 112_000.0
_POP_DISPERSED = 24_000.0
_POP_SEATS = {
    "龙潭镇": 14000, "青山镇": 9000, "白沙镇": 10000, "梅林镇": 9000, "洋头镇": 8000,
    "桃源镇": 7000, "溪口镇": 6000, "莲塘乡": 5000, "云岭乡": 3500, "石门乡": 2500,
    "海屿乡": 3500,
}
_POP_ISLAND_VILLAGES = 3000.0

# Raw (planner's list) category -> canonical key, every synonym used below.
RAW_CATEGORIES = {
    "社区卫生服务中心": "community_health_centre",
    "社区卫生服务站": "community_health_station",
    "乡镇卫生院": "township_health_centre",
    "中心卫生院": "township_health_centre",
    "村卫生室": "village_clinic",
    "医院": "hospital",
    "人民医院": "hospital",
    "中医院": "hospital",
    "综合医院": "hospital",
    "诊所": "clinic",
    "门诊部": "clinic",
    "幼儿园": "kindergarten",
    "中心幼儿园": "central_kindergarten",
    "小学": "primary_school",
    "初中": "junior_middle_school",
    "初级中学": "junior_middle_school",
    "养老服务中心": "elderly_care_centre",
    "敬老院": "elderly_care_centre",
    "养老院": "elderly_care_centre",
    "日间照料中心": "elderly_day_care",
    "托老所": "elderly_day_care",
    "文化站": "cultural_station",
    "综合文化站": "cultural_station",
    "文化活动中心": "cultural_station",
    "体育场地": "sports_ground",
    "体育场": "sports_ground",
    "运动场": "sports_ground",
    "菜市场": "food_market",
    "农贸市场": "food_market",
}
_PRIMARY_CARE = ("township_health_centre", "community_health_centre", "hospital")

# Highway classes facilities may sit beside.
_PLACEABLE = {"trunk", "primary", "secondary", "tertiary", "unclassified", "residential", "service"}

SCENARIO_TOML = """\
# Scenario for the synthetic demo county (all data invented; see README.md).
[study]
name = "示范县 (synthetic demo county)"
output = "../../maps/demo"
lang = "zh"
synthetic = true

[inputs]
network = "roads.osm.pbf"
population = "population.tif"
facilities = "facilities.csv"
facility_coords = "wgs84"
counties = "counties.geojson"
townships = "townships.geojson"

[inputs.boundary_fields]
code = "code"
name = "name"
parent = "county_code"
urban = "urban"

[snap]
max_distance_m = 500

# the first circle is the one the maps open on
[[circles]]
standard = "fujian_30min_medical"
[[circles]]
standard = "elderly_15min"
[[circles]]
standard = "gb50180_15min"
[[circles]]
standard = "gb50180_5min"

[rules]
township = ["central_kindergarten", "township_health_centre"]

[[targets]]
name = "beds"
categories = ["township_health_centre", "community_health_centre", "hospital"]
capacity_column = "capacity"
per_1000 = 5.0
mode = "drive"
minutes = 30
"""


# --------------------------------------------------------------------------
# small geometry helpers
# --------------------------------------------------------------------------


class _Frame:
    """Local metric frame (UTM 50N shifted to the county centre), metres."""

    def __init__(self) -> None:
        self._fwd = Transformer.from_crs("EPSG:4326", _UTM, always_xy=True)
        self._inv = Transformer.from_crs(_UTM, "EPSG:4326", always_xy=True)
        self.x0, self.y0 = self._fwd.transform(_LON0, _LAT0)

    def to_lonlat(self, x, y):
        lon, lat = self._inv.transform(np.asarray(x, float) + self.x0, np.asarray(y, float) + self.y0)
        return np.asarray(lon), np.asarray(lat)

    def to_xy(self, lon, lat):
        x, y = self._fwd.transform(np.asarray(lon, float), np.asarray(lat, float))
        return np.asarray(x) - self.x0, np.asarray(y) - self.y0

    def geom_to_lonlat(self, g):
        def f(c):
            lon, lat = self.to_lonlat(c[:, 0], c[:, 1])
            return np.round(np.column_stack([lon, lat]), 7)

        return shapely.transform(g, f)


class _Noise:
    """Smooth deterministic 2-D noise: a sum of random plane waves, range about [-1, 1]."""

    def __init__(self, rng: np.random.Generator, n: int, wl_min: float, wl_max: float):
        ang = rng.uniform(0, 2 * np.pi, n)
        k = 2 * np.pi / rng.uniform(wl_min, wl_max, n)
        self.kx, self.ky = k * np.cos(ang), k * np.sin(ang)
        self.ph = rng.uniform(0, 2 * np.pi, n)
        self.scale = 1.0 / math.sqrt(n / 2.0)

    def __call__(self, x, y):
        x = np.asarray(x, float)[..., None]
        y = np.asarray(y, float)[..., None]
        return np.sin(x * self.kx + y * self.ky + self.ph).sum(-1) * self.scale


def _rot(u, v, a):
    c, s = math.cos(a), math.sin(a)
    return u * c - v * s, u * s + v * c


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# --------------------------------------------------------------------------
# road network container
# --------------------------------------------------------------------------


@dataclass
class _Way:
    nodes: list[int]
    tags: dict[str, str]
    exempt: bool = False  # grade-separated (motorway, ramps, bridge): not noded


@dataclass
class _Net:
    xy: list[tuple[float, float]] = field(default_factory=list)
    ways: list[_Way] = field(default_factory=list)

    def node(self, x: float, y: float) -> int:
        self.xy.append((float(x), float(y)))
        return len(self.xy) - 1

    def way(self, nodes: list[int], tags: dict[str, str], exempt: bool = False) -> None:
        # OSM ways hold at most 2000 nodes; keep ways of realistic length.
        step = 300
        for s in range(0, len(nodes) - 1, step):
            part = nodes[s: s + step + 1]
            if len(part) >= 2:
                self.ways.append(_Way(list(part), dict(tags), exempt))


def _polyline(a, b, rng, spacing, wiggle, harmonics):
    """Intermediate points of a road from ``a`` to ``b`` (endpoints excluded).

    The lateral offset is a sum of ``sin(k*pi*t)`` terms: zero at both ends
    and a function of the chord position only, so a road never crosses itself.
    """
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    d = b - a
    L = float(np.hypot(*d))
    n = max(1, int(L / spacing))
    if n < 2:
        return np.zeros((0, 2))
    t = np.linspace(0.0, 1.0, n + 1)[1:-1]
    ks = np.arange(1, harmonics + 1)
    amp = rng.normal(0.0, wiggle * L, harmonics) / np.sqrt(ks)
    lat = (amp[None, :] * np.sin(np.pi * t[:, None] * ks[None, :])).sum(1)
    lat = np.clip(lat, -0.22 * L, 0.22 * L)
    nrm = np.array([-d[1], d[0]]) / L
    return a[None, :] + t[:, None] * d[None, :] + lat[:, None] * nrm[None, :]


# --------------------------------------------------------------------------
# the generator
# --------------------------------------------------------------------------


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
    fr = _Frame()

    mainland, island = _outline(rng)
    mountain = _mountain_field(rng)
    seats = {name: np.array(xy) for name, _, xy, _ in TOWNSHIPS}
    for name, xy in seats.items():
        assert (island if name == ISLAND else mainland).buffer(-1000.0).contains(Point(xy)), name
    rural_main = [n for n, _, _, k in TOWNSHIPS if k != "urban" and n != ISLAND]

    # ---- townships and county polygons (lon/lat, 1e-7 degree grid)
    town_ll = _township_polygons(rng, fr, mainland, island)
    county_ll = shapely.unary_union(list(town_ll.values()))

    # ---- road network
    net = _Net()
    core = _core_grid(net, rng)
    seat_grid = {}
    for name in rural_main:
        size = 5 if name == "龙潭镇" else (3 if name in MOUNTAIN_TOWNSHIPS else 4)
        seat_grid[name] = _seat_grid(net, rng, seats[name], size, name)
    villages = _sample_villages(rng, mainland, mountain, seats, rural_main)
    vnodes = [net.node(*p) for p in villages]
    gates = _gates(mainland)
    _rural_roads(net, rng, mainland, mountain, seats, rural_main, core, seat_grid, villages, vnodes, gates)
    _motorway(net, rng, mainland, core, seat_grid["龙潭镇"])
    vil_spur_mid = _village_spurs(net, rng, vnodes, mainland, mountain)
    isl = _island_network(net, rng, island, seats[ISLAND])
    _node_crossings(net)

    xy = np.asarray(net.xy)
    lon, lat = fr.to_lonlat(xy[:, 0], xy[:, 1])
    lonlat = np.round(np.column_stack([lon, lat]), 7)

    # ---- facilities
    all_villages = [(p, n, mid) for p, n, mid in zip(villages, vnodes, vil_spur_mid)] + isl["villages"]
    village_names = _village_names(rng, len(all_villages))
    fac = _facilities(rng, net, fr, town_ll, seats, core, seat_grid, isl, all_villages, village_names, mountain)

    # ---- population raster
    pop, labels = _population(rng, fr, net, town_ll, mountain, seats, core, all_villages)

    # ---- write
    names = [n for n, _, _, _ in TOWNSHIPS]
    _write_pbf(out / "roads.osm.pbf", net, lonlat)
    _write_raster(out / "population.tif", pop, seed)
    _write_boundaries(out, town_ll, county_ll)
    _write_facilities(out / "facilities.csv", fac)
    (out / "scenario.toml").write_text(SCENARIO_TOML, encoding="utf-8")

    valid = pop != NODATA
    total = float(pop[valid].astype(np.float64).sum())
    town_pop = {
        n: float(pop[labels == i].astype(np.float64).sum()) for i, n in enumerate(names)
    }
    drive_min = _seat_drive_minutes(net, fac, seat_grid, isl)
    area_km2 = _area_km2(fr, county_ll)
    counts: dict[str, int] = {}
    for w in net.ways:
        counts[w.tags["highway"]] = counts.get(w.tags["highway"], 0) + 1
    fac_by_town: dict[str, dict[str, int]] = {n: {} for n in names}
    fac_counts: dict[str, int] = {}
    for f in fac:
        c = RAW_CATEGORIES[f["category"]]
        fac_counts[c] = fac_counts.get(c, 0) + 1
        fac_by_town[f["township"]][c] = fac_by_town[f["township"]].get(c, 0) + 1

    expected = {
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
            URBAN_NO_ELDERLY: "no elderly care centre and no elderly day care (elderly_15min gap)",
        },
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
            "crs": "EPSG:4326", "res_deg": _RES, "width": pop.shape[1], "height": pop.shape[0],
            "bounds": [_WEST, _SOUTH, _EAST, _NORTH], "nodata": NODATA,
            "cells_with_data": int(valid.sum()),
        },
    }
    (out / "expected.json").write_text(
        json.dumps(expected, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return expected


# --------------------------------------------------------------------------
# landscape
# --------------------------------------------------------------------------


def _outline(rng):
    """Mainland and island outlines in the local frame (metres)."""
    th = np.linspace(0, 2 * np.pi, 720, endpoint=False)
    ph = rng.uniform(0, 2 * np.pi, 7)
    r = 1.0 + 0.05 * np.sin(2 * th + ph[0]) + 0.035 * np.sin(3 * th + ph[1]) \
        + 0.03 * np.sin(5 * th + ph[2]) + 0.015 * np.sin(9 * th + ph[3]) + 0.008 * np.sin(17 * th + ph[4]) \
        + 0.005 * np.sin(31 * th + ph[5]) + 0.003 * np.sin(53 * th + ph[6])
    x = -2000.0 + 21000.0 * r * np.cos(th)
    y = 18500.0 * r * np.sin(th)
    main = Polygon(np.column_stack([x, y]))
    # Keep the county inside the raster window (with a 400 m margin).
    fr = _Frame()
    m = 0.004
    wx, wy = fr.to_xy([_WEST + m, _EAST - m, _EAST - m, _WEST + m], [_SOUTH + m, _SOUTH + m, _NORTH - m, _NORTH - m])
    window = Polygon(np.column_stack([wx, wy]))
    while not window.contains(main):
        main = shapely.affinity.scale(main, 0.99, 0.99, origin=(-2000.0, 0.0))
    cx, cy = TOWNSHIPS[[t[0] for t in TOWNSHIPS].index(ISLAND)][2]
    r2 = 1.0 + 0.08 * np.sin(3 * th + ph[1]) + 0.04 * np.sin(5 * th + ph[0])
    u, v = 2600.0 * r2 * np.cos(th), 1400.0 * r2 * np.sin(th)
    u, v = _rot(u, v, math.radians(30.0))
    island = Polygon(np.column_stack([u + cx, v + cy]))
    assert window.contains(island)
    # A strait of at least 2 km between island and mainland.
    main = main.difference(island.buffer(2000.0))
    if main.geom_type != "Polygon":
        main = max(main.geoms, key=lambda g: g.area)
    return shapely.normalize(main), shapely.normalize(island)


def _mountain_field(rng):
    """Function (x, y) -> mountainousness in [0, 1]: high in the west."""
    nz = _Noise(rng, 6, 6000.0, 14000.0)

    def m(x, y):
        return _sigmoid((-np.asarray(x, float) - 8500.0) / 2200.0 + 0.9 * nz(x, y))

    return m


def _township_polygons(rng, fr, mainland, island):
    """Township polygons (lon/lat) tiling the county: warped Voronoi of the seats."""
    names = [n for n, _, _, _ in TOWNSHIPS if n != ISLAND]
    seeds = np.array([xy for n, _, xy, _ in TOWNSHIPS if n != ISLAND])
    frame = box(-60000, -60000, 60000, 60000)
    cells = list(shapely.get_parts(shapely.voronoi_polygons(MultiPoint(seeds), extend_to=frame)))
    na, nb = _Noise(rng, 4, 7000.0, 15000.0), _Noise(rng, 4, 7000.0, 15000.0)

    def warp(c):
        return c + 550.0 * np.column_stack([na(c[:, 0], c[:, 1]), nb(c[:, 0], c[:, 1])])

    # Densify every Voronoi edge in one canonical direction so that the two
    # cells sharing it get bit-identical vertices, then bend all edges with
    # the same smooth displacement field: boundaries wiggle, tiling stays exact.
    def densify(ring):
        c = np.asarray(ring.coords)
        out = [c[0]]
        for a, b in zip(c[:-1], c[1:]):
            lo, hi = (a, b) if tuple(a) <= tuple(b) else (b, a)
            n = max(1, int(np.hypot(*(hi - lo)) / 200.0))
            t = np.linspace(0.0, 1.0, n + 1)[1:-1, None]
            pts = lo[None, :] + t * (hi - lo)[None, :]
            if lo is not a:
                pts = pts[::-1]
            out.extend(pts)
            out.append(b)
        return np.asarray(out)

    out = {}
    for i, n in enumerate(names):
        cell = next(c for c in cells if c.contains(Point(seeds[i])))
        g = Polygon(warp(densify(cell.exterior))).intersection(mainland)
        if g.geom_type != "Polygon":
            parts = sorted(shapely.get_parts(g), key=lambda q: -q.area)
            g = parts[0]
        out[n] = g
    # Pieces of the mainland cut off from their cell by a concave coast or the
    # warp are given to the township they touch most.
    rest = mainland.difference(shapely.unary_union(list(out.values())))
    for piece in shapely.get_parts(rest):
        if piece.area < 1.0:
            continue
        best = max(names, key=lambda n: out[n].boundary.intersection(piece.boundary).length)
        out[best] = shapely.unary_union([out[best], piece])
    out[ISLAND] = island
    ll = {}
    for n, _, _, _ in TOWNSHIPS:
        g = fr.geom_to_lonlat(out[n])
        if not g.is_valid:
            g = shapely.make_valid(g)
        assert g.geom_type == "Polygon", (n, g.geom_type)
        ll[n] = shapely.orient_polygons(g)
    return ll


def _area_km2(fr, g_ll) -> float:
    def f(c):
        x, y = fr.to_xy(c[:, 0], c[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(g_ll, f).area / 1e6


def _gates(mainland):
    """Points where trunk/primary roads leave the county (on the outline)."""
    out = {}
    for name, deg in (("trunk_s", 262.0), ("trunk_ne", 42.0), ("primary_n", 100.0), ("primary_se", 318.0)):
        d = np.array([math.cos(math.radians(deg)), math.sin(math.radians(deg))])
        c = np.array([_CORE[0] if "trunk" in name else -2000.0, _CORE[1] if "trunk" in name else 0.0])
        ray = LineString([c, c + 80000 * d])
        hit = ray.intersection(mainland.boundary)
        pts = [hit] if hit.geom_type == "Point" else list(hit.geoms)
        p = min(pts, key=lambda q: q.distance(Point(c)))
        out[name] = np.array([p.x, p.y]) - 150.0 * d  # just inside the county
    return out


def _sample_villages(rng, mainland, mountain, seats, rural_main):
    """Village centres by dart throwing: denser on plains, sparse in mountains."""
    minx, miny, maxx, maxy = mainland.bounds
    cand = np.column_stack([rng.uniform(minx, maxx, 30000), rng.uniform(miny, maxy, 30000)])
    inside = shapely.contains_xy(mainland.buffer(-600.0), cand[:, 0], cand[:, 1])
    cand = cand[inside]
    m = mountain(cand[:, 0], cand[:, 1])
    keep = rng.uniform(0, 1, len(cand)) < (1.0 - 0.75 * m)
    cand, m = cand[keep], m[keep]
    u, v = _rot(cand[:, 0] - _CORE[0], cand[:, 1] - _CORE[1], -_CORE_ROT)
    ok = ~((np.abs(u) < _CORE_W / 2 + 1300) & (np.abs(v) < _CORE_H / 2 + 1300))
    for n in rural_main:
        ok &= np.hypot(cand[:, 0] - seats[n][0], cand[:, 1] - seats[n][1]) > 1500.0
    cand, m = cand[ok], m[ok]
    spacing = 2000.0 + 1600.0 * m
    acc: list[np.ndarray] = []
    acc_s: list[float] = []
    for p, s in zip(cand, spacing):
        if acc:
            a = np.asarray(acc)
            d = np.hypot(a[:, 0] - p[0], a[:, 1] - p[1])
            if np.any(d < np.maximum(s, np.asarray(acc_s))):
                continue
        acc.append(p)
        acc_s.append(s)
    return np.asarray(acc)


# --------------------------------------------------------------------------
# urban core and town grids
# --------------------------------------------------------------------------

_ROW_NAMES = ["北环路", "学府路", "凤山路", "文昌路", "建设路", "解放路", "人民路", "中山路", "新华路",
              "和平路", "府前路", "青年路", "南环路"]
_COL_NAMES = ["西环路", "工业路", "西门街", "龙津街", "鼓楼街", "胜利街", "五一路", "东街", "滨河路",
              "东湖路", "花园街", "东环路"]


def _core_grid(net, rng):
    """Perturbed urban street grid with arterials, one-way streets, alleys, footpaths."""
    def positions(total):
        gaps = rng.uniform(100.0, 150.0, 200)
        pos = np.concatenate([[0.0], np.cumsum(gaps)])
        pos = pos[pos <= total]
        return pos - pos[-1] / 2.0

    U, V = positions(_CORE_W), positions(_CORE_H)
    nx_, ny_ = len(U), len(V)
    bend_r = rng.uniform(-50, 50, 3)
    ids = np.zeros((nx_, ny_), dtype=np.int64)
    pos = np.zeros((nx_, ny_, 2))
    for i in range(nx_):
        for j in range(ny_):
            u = U[i] + rng.uniform(-12, 12) + 40.0 * math.sin(math.pi * (V[j] / _CORE_H + 0.5)) * bend_r[0] / 50
            v = V[j] + rng.uniform(-12, 12) + 60.0 * math.sin(math.pi * (U[i] / _CORE_W + 0.5)) * math.sin(math.pi * j / ny_) * bend_r[1] / 50
            x, y = _rot(u, v, _CORE_ROT)
            pos[i, j] = (x + _CORE[0], y + _CORE[1])
            ids[i, j] = net.node(*pos[i, j])

    ci, cj = nx_ // 2, ny_ // 2
    art_i = {ci: "primary", 8: "secondary", nx_ - 9: "secondary", 0: "secondary", nx_ - 1: "secondary"}
    art_j = {cj: "primary", 7: "secondary", ny_ - 8: "secondary", 0: "secondary", ny_ - 1: "secondary"}

    def cls(line_i, is_col):
        art = art_i if is_col else art_j
        if line_i in art:
            return art[line_i]
        return "tertiary" if line_i % 4 == 0 else "residential"

    # One-way lines: two tertiary couplets and about a quarter of residential rows/columns.
    oneway: dict[tuple[bool, int], bool] = {}
    flip = False
    for is_col, n in ((False, ny_), (True, nx_)):
        for k in range(1, n - 1):
            c = cls(k, is_col)
            if (c == "tertiary" and k in (4, 12)) or (c == "residential" and rng.uniform() < 0.25):
                oneway[(is_col, k)] = flip
                flip = not flip

    # Segments; drop ~7 % of two-way residential segments (superblocks, dead ends).
    seg_mid: dict[tuple, int] = {}
    removed = set()
    for is_col, n_lines, n_steps in ((False, ny_, nx_ - 1), (True, nx_, ny_ - 1)):
        for k in range(n_lines):
            if cls(k, is_col) != "residential" or (is_col, k) in oneway:
                continue
            for s in range(n_steps):
                if rng.uniform() < 0.07:
                    removed.add((is_col, k, s))

    # Alleys (service) off the middle of a block side, footpaths across other blocks.
    for bi in range(nx_ - 1):
        for bj in range(ny_ - 1):
            r = rng.uniform()
            if r < 0.10 and (False, bj, bi) not in removed:
                a, b = pos[bi, bj], pos[bi + 1, bj]
                mid = net.node(*((a + b) / 2))
                seg_mid[(False, bj, bi)] = mid
                inward = (pos[bi, bj + 1] - pos[bi, bj])
                depth = rng.uniform(0.3, 0.6)
                p1 = (a + b) / 2 + inward * depth * 0.5
                p2 = (a + b) / 2 + inward * depth + (b - a) * rng.uniform(-0.2, 0.2)
                net.way([mid, net.node(*p1), net.node(*p2)], {"highway": "service", "service": "alley"})
            elif r < 0.15:
                q = (pos[bi, bj] + pos[bi + 1, bj + 1]) / 2 + rng.uniform(-10, 10, 2)
                net.way([int(ids[bi, bj]), net.node(*q), int(ids[bi + 1, bj + 1])], {"highway": "footway"})

    def emit(is_col, k, n_steps):
        c = cls(k, is_col)
        names = _COL_NAMES if is_col else _ROW_NAMES
        name = names[(k * len(names)) // (nx_ if is_col else ny_)]
        if c == "residential":
            name = name[:-1] + ("巷" if k % 2 else "里")
            name = f"{name}{k}"
        tags = {"highway": c, "name": name}
        if c in ("primary", "secondary"):
            tags["maxspeed"] = "50" if c == "primary" else "40"
            tags["lanes"] = "4" if c == "primary" else "2"
        elif c == "residential" and k % 3 == 0:
            tags["maxspeed"] = "30"
        ow = oneway.get((is_col, k))
        if ow is not None:
            tags["oneway"] = "yes"
        run: list[int] = []
        runs = []
        for s in range(n_steps + 1):
            if s > 0 and (is_col, k, s - 1) in removed:
                runs.append(run)
                run = []
            if s > 0 and (is_col, k, s - 1) in seg_mid:
                run.append(seg_mid[(is_col, k, s - 1)])
            run.append(int(ids[k, s] if is_col else ids[s, k]))
            # break long lines at arterial crossings, as OSM streets often are
            if len(run) > 12 and s < n_steps and (s in (art_j if is_col else art_i)):
                runs.append(run)
                run = [run[-1]]
        runs.append(run)
        for r in runs:
            if len(r) >= 2:
                net.way(r[::-1] if ow else r, tags)

    for j in range(ny_):
        emit(False, j, nx_ - 1)
    for i in range(nx_):
        emit(True, i, ny_ - 1)

    # Ends of arterial lines on the grid edge: where country roads come in.
    ends = []
    for i in art_i:
        if 0 < i < nx_ - 1:
            ends += [int(ids[i, 0]), int(ids[i, ny_ - 1])]
    for j in art_j:
        if 0 < j < ny_ - 1:
            ends += [int(ids[0, j]), int(ids[nx_ - 1, j])]
    ends += [int(ids[0, 0]), int(ids[0, ny_ - 1]), int(ids[nx_ - 1, 0]), int(ids[nx_ - 1, ny_ - 1])]
    west_mid = int(ids[0, cj])
    return {"ends": ends, "ids": ids, "pos": pos, "west_mid": west_mid, "centre": np.array(_CORE)}


def _seat_grid(net, rng, centre, size, name):
    """A township seat: a few local streets on a small jittered grid."""
    sp = 150.0
    rot = rng.uniform(0, np.pi / 2)
    ids = np.zeros((size, size), dtype=np.int64)
    pos = np.zeros((size, size, 2))
    off = (size - 1) / 2.0
    for i in range(size):
        for j in range(size):
            u, v = (i - off) * sp + rng.uniform(-15, 15), (j - off) * sp + rng.uniform(-15, 15)
            x, y = _rot(u, v, rot)
            pos[i, j] = (x + centre[0], y + centre[1])
            ids[i, j] = net.node(*pos[i, j])
    main = size // 2
    street = name[:-1]
    for j in range(size):
        tags = {"highway": "tertiary" if j == main else "residential",
                "name": f"{street}{'大道' if j == main else '街'}{'' if j == main else j + 1}"}
        net.way([int(ids[i, j]) for i in range(size)], tags)
    for i in range(size):
        tags = {"highway": "tertiary" if i == main else "residential", "name": f"{street}{'中路' if i == main else '巷'}{'' if i == main else i + 1}"}
        net.way([int(ids[i, j]) for j in range(size)], tags)
    # a service lane and a footpath
    a, b = pos[0, 0], pos[1, 0]
    mid = net.node(*((a + b) / 2 + (pos[0, 0] - pos[0, 1]) * 0.4))
    net.way([int(ids[0, 0]), mid], {"highway": "service"})
    net.way([int(ids[1, 1]), net.node(*((pos[1, 1] + pos[2, 2]) / 2 + rng.uniform(-8, 8, 2))), int(ids[2, 2])],
            {"highway": "footway"})
    perim = [int(ids[i, j]) for i in range(size) for j in range(size) if i in (0, size - 1) or j in (0, size - 1)]
    return {"ids": ids, "pos": pos, "perim": perim, "centre_node": int(ids[main, main]), "centre": np.asarray(centre)}


# --------------------------------------------------------------------------
# rural roads
# --------------------------------------------------------------------------


def _rural_roads(net, rng, mainland, mountain, seats, rural_main, core, seat_grid, villages, vnodes, gates):
    """Country roads on a planar (Gabriel/RNG) graph of core, seats, villages and gates."""
    names = ["@core"] + list(rural_main) + [f"v{i}" for i in range(len(villages))] + list(gates)
    P = np.vstack([core["centre"][None, :], np.array([seats[n] for n in rural_main]),
                   villages, np.array(list(gates.values()))])
    n_core, n_seat = 1, len(rural_main)
    gate_idx = {g: 1 + n_seat + len(villages) + k for k, g in enumerate(gates)}
    kind = np.array(["core"] + ["seat"] * n_seat + ["village"] * len(villages) + ["gate"] * len(gates))

    tri = Delaunay(P)
    E = set()
    for s in tri.simplices:
        for a, b in ((s[0], s[1]), (s[1], s[2]), (s[0], s[2])):
            E.add((min(a, b), max(a, b)))
    E = sorted(E)
    mid_m = {}
    keep = []
    for a, b in E:
        pa, pb = P[a], P[b]
        c, r = (pa + pb) / 2, np.hypot(*(pa - pb)) / 2
        others = np.ones(len(P), bool)
        others[[a, b]] = False
        d_c = np.hypot(P[:, 0] - c[0], P[:, 1] - c[1])
        gabriel = not np.any(d_c[others] < r)
        da = np.hypot(P[:, 0] - pa[0], P[:, 1] - pa[1])
        db = np.hypot(P[:, 0] - pb[0], P[:, 1] - pb[1])
        rng_edge = not np.any(np.maximum(da, db)[others] < 2 * r)
        m = float(mountain(c[0], c[1]))
        mid_m[(a, b)] = m
        if not gabriel:
            continue
        if kind[a] == "gate" and kind[b] == "gate":
            continue
        if m > 0.45 and not rng_edge:
            continue
        keep.append((a, b))
    G = nx.Graph()
    G.add_nodes_from(range(len(P)))
    for a, b in keep:
        G.add_edge(a, b, length=float(np.hypot(*(P[a] - P[b]))))
    mst = set((min(a, b), max(a, b)) for a, b in nx.minimum_spanning_edges(G, weight="length", data=False))
    core_poly = shapely.Polygon(
        [(_rot(u, v, _CORE_ROT)[0] + _CORE[0], _rot(u, v, _CORE_ROT)[1] + _CORE[1])
         for u, v in ((-1, -1), (1, -1), (1, 1), (-1, 1)) for u, v in [(u * (_CORE_W / 2 + 150), v * (_CORE_H / 2 + 150))]])
    for a, b in list(G.edges):
        e = (min(a, b), max(a, b))
        if e in mst:
            continue
        seg = LineString([P[a], P[b]])
        bad = G.edges[a, b]["length"] > 5500.0
        if kind[a] != "core" and kind[b] != "core" and seg.intersects(core_poly):
            bad = True
        for k, n in enumerate(rural_main):
            if a != 1 + k and b != 1 + k and seg.distance(Point(seats[n])) < 500.0:
                bad = True
        # the mountain township keeps only a thin net of tracks
        if mid_m[e] > 0.8 and rng.uniform() < 0.35:
            bad = True
        if bad:
            G.remove_edge(a, b)
    assert nx.is_connected(G)

    # Route hierarchy on weights that make mountains expensive.
    for a, b in G.edges:
        G.edges[a, b]["w"] = G.edges[a, b]["length"] * (1 + 3 * mid_m[(min(a, b), max(a, b))])
    rank = {"trunk": 5, "primary": 4, "secondary": 3, "tertiary": 2}
    ecls: dict[tuple[int, int], tuple[str, str]] = {}
    seat_i = {n: 1 + k for k, n in enumerate(rural_main)}
    nearest_seat = {}
    for v in range(1 + n_seat, 1 + n_seat + len(villages)):
        nearest_seat[v] = min(rural_main, key=lambda n: np.hypot(*(P[v] - seats[n])))
    shimen = seat_i[MOUNTAIN_NO_HEALTH]
    shimen_zone = {v for v, n in nearest_seat.items() if n == MOUNTAIN_NO_HEALTH} | {shimen}

    def route(a, b, c, ref):
        path = nx.shortest_path(G, a, b, weight="w")
        for u, v in zip(path[:-1], path[1:]):
            e = (min(u, v), max(u, v))
            if u in shimen_zone and v in shimen_zone:
                continue  # the mountain township is served by tracks only
            old = ecls.get(e)
            if old is None or rank[old[0]] < rank[c]:
                ecls[e] = (c, ref)

    route(gate_idx["trunk_s"], 0, "trunk", "G316")
    route(0, gate_idx["trunk_ne"], "trunk", "G316")
    route(0, gate_idx["primary_n"], "primary", "S201")
    route(0, seat_i["龙潭镇"], "primary", "S203")
    route(0, seat_i["梅林镇"], "primary", "S205")
    route(seat_i["梅林镇"], gate_idx["primary_se"], "primary", "S205")
    xk = 101
    for n in rural_main:
        if n == MOUNTAIN_NO_HEALTH:
            continue
        route(seat_i[n], 0, "secondary", f"X{xk}")
        xk += 1
    for a, b in (("莲塘乡", "龙潭镇"), ("桃源镇", "梅林镇"), ("青山镇", "白沙镇"), ("溪口镇", "云岭乡"),
                 ("桃源镇", "龙潭镇")):
        route(seat_i[a], seat_i[b], "secondary", f"X{xk}")
        xk += 1
    yk = 1
    for n in rural_main:
        mine = [v for v, s in nearest_seat.items() if s == n]
        mine.sort(key=lambda v: -np.hypot(*(P[v] - seats[n])))
        for v in mine[:2]:
            route(seat_i[n], v, "tertiary", f"Y{yk:03d}")
            yk += 1

    # Attachment nodes: villages and gates are single nodes, seats and the
    # core attach at the grid node that faces the other end.
    vnode_of = {1 + n_seat + k: vnodes[k] for k in range(len(villages))}
    gate_node = {gate_idx[g]: net.node(*gates[g]) for g in gates}

    def attach(i, toward):
        if kind[i] == "village":
            return vnode_of[i]
        if kind[i] == "gate":
            return gate_node[i]
        if kind[i] == "core":
            cands, centre = core["ends"], core["centre"]
        else:
            sg = seat_grid[names[i]]
            cands, centre = sg["perim"], sg["centre"]
        d = toward - centre
        d = d / (np.hypot(*d) + 1e-9)
        xy = np.asarray([net.xy[c] for c in cands])
        score = (xy - centre) @ d
        return int(cands[int(np.argmax(score))])

    # Build each edge's polyline once, then chain same-class edges into ways.
    geom: dict[tuple[int, int], list[int]] = {}
    for a, b in sorted((min(a, b), max(a, b)) for a, b in G.edges):
        na, nb = attach(a, P[b]), attach(b, P[a])
        m = mid_m[(a, b)]
        c = ecls.get((a, b), (None, None))[0]
        if c is None:
            c = ("track" if rng.uniform() < 0.5 else "unclassified") if m > 0.5 else \
                ("track" if rng.uniform() < 0.1 else "unclassified")
            ecls[(a, b)] = (c, "")
        mountain_road = m > 0.5 and c not in ("trunk", "primary")
        pts = _polyline(net.xy[na], net.xy[nb], rng,
                        spacing=35.0 if mountain_road else 70.0,
                        wiggle=0.06 if mountain_road else 0.02,
                        harmonics=9 if mountain_road else 3)
        geom[(a, b)] = [na] + [net.node(*p) for p in pts] + [nb]

    groups: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for e, key in ecls.items():
        groups.setdefault(key, []).append(e)
    for key in sorted(groups):
        c, ref = key
        H = nx.Graph()
        H.add_edges_from(groups[key])
        used = set()
        starts = sorted(H.nodes, key=lambda v: (H.degree(v) == 2 and kind[v] not in ("core", "seat"), v))
        for s in starts:
            for nb0 in sorted(H.neighbors(s)):
                e0 = (min(s, nb0), max(s, nb0))
                if e0 in used:
                    continue
                chain_nodes, cur, nxt = [], s, nb0
                while True:
                    e = (min(cur, nxt), max(cur, nxt))
                    used.add(e)
                    g = geom[e] if cur == e[0] else geom[e][::-1]
                    assert not chain_nodes or chain_nodes[-1] == g[0]
                    chain_nodes += g if not chain_nodes else g[1:]
                    # seats and the core attach each road to a different
                    # street node, so a way must end there
                    if H.degree(nxt) != 2 or kind[nxt] in ("core", "seat"):
                        break
                    cand = [w for w in H.neighbors(nxt) if (min(nxt, w), max(nxt, w)) not in used]
                    if not cand:
                        break
                    cur, nxt = nxt, cand[0]
                tags = {"highway": c}
                if ref:
                    tags["ref"] = ref
                if c == "trunk":
                    tags.update(name="316国道", maxspeed="80", lanes="2")
                elif c == "primary":
                    tags["name"] = f"{ref[1:]}省道"
                    if ref != "S205":
                        tags["maxspeed"] = "60"
                elif c == "track":
                    tags.update(tracktype="grade3", surface="unpaved")
                net.way(chain_nodes, tags)


def _motorway(net, rng, mainland, core, longtan):
    """Dual-carriageway expressway (two one-way ways) with two diamond interchanges."""
    ys = np.arange(-26000.0, 26001.0, 100.0)
    xs = 2300.0 + 900.0 * np.sin(ys / 9000.0 + 0.5)
    inside = shapely.contains_xy(mainland.buffer(600.0), xs, ys)
    idx = np.flatnonzero(inside)
    ys, xs = ys[idx[0]: idx[-1] + 1], xs[idx[0]: idx[-1] + 1]
    dx, dy = np.gradient(xs), np.gradient(ys)
    L = np.hypot(dx, dy)
    nx_, ny_ = dy / L, -dx / L  # unit normal pointing east
    east = [net.node(x + 15 * a, y + 15 * b) for x, y, a, b in zip(xs, ys, nx_, ny_)]   # northbound
    west = [net.node(x - 15 * a, y - 15 * b) for x, y, a, b in zip(xs, ys, nx_, ny_)]   # southbound
    mtags = {"highway": "motorway", "oneway": "yes", "ref": "G15", "name": "沈海高速",
             "maxspeed": "120", "lanes": "2"}
    net.way(east, mtags, exempt=True)
    net.way(west[::-1], mtags, exempt=True)
    ltags = {"highway": "motorway_link", "oneway": "yes", "maxspeed": "40"}

    def interchange(yc, local_node):
        k = int(np.argmin(np.abs(ys - yc)))
        c = np.array([xs[k], ys[k]])
        e_pt = c + 320.0 * np.array([nx_[k], ny_[k]])
        w_pt = c - 320.0 * np.array([nx_[k], ny_[k]])
        E = net.node(*e_pt)
        W = net.node(*w_pt)
        net.way([W, E], {"highway": "primary", "bridge": "yes", "layer": "1", "name": "互通连接线"}, exempt=True)

        def ramp(a, b, side):
            pa, pb = np.asarray(net.xy[a]), np.asarray(net.xy[b])
            t = np.linspace(0, 1, 9)[1:-1]
            bulge = side * 120.0 * np.sin(np.pi * t)
            pts = pa[None] + t[:, None] * (pb - pa)[None] + bulge[:, None] * np.array([nx_[k], ny_[k]])[None]
            return [a] + [net.node(*p) for p in pts] + [b]

        k_s, k_n = k - 7, k + 7
        net.way(ramp(east[k_s], E, 1), ltags, exempt=True)   # northbound off
        net.way(ramp(E, east[k_n], 1), ltags, exempt=True)   # northbound on
        net.way(ramp(west[k_n], W, -1), ltags, exempt=True)  # southbound off
        net.way(ramp(W, west[k_s], -1), ltags, exempt=True)  # southbound on
        # connector from the interchange to the local network
        p_loc = np.asarray(net.xy[local_node])
        near = E if np.hypot(*(p_loc - e_pt)) < np.hypot(*(p_loc - w_pt)) else W
        pts = _polyline(net.xy[near], p_loc, rng, 70.0, 0.01, 2)
        net.way([near] + [net.node(*p) for p in pts] + [local_node],
                {"highway": "primary", "name": "互通连接线", "maxspeed": "60"})

    interchange(float(net.xy[core["west_mid"]][1]), core["west_mid"])
    sg = longtan
    east_node = max(sg["perim"], key=lambda n: net.xy[n][0])
    interchange(float(sg["centre"][1]), east_node)


def _village_spurs(net, rng, vnodes, mainland, mountain):
    """A few residential/track/service ways radiating from each village node."""
    # directions of roads already leaving each node
    adj: dict[int, list[int]] = {}
    for w in net.ways:
        for a, b in zip(w.nodes[:-1], w.nodes[1:]):
            adj.setdefault(a, []).append(b)
            adj.setdefault(b, []).append(a)
    prep = mainland.buffer(-100.0)
    shapely.prepare(prep)
    mids = []
    for vn in vnodes:
        c = np.asarray(net.xy[vn])
        angs = sorted(math.atan2(net.xy[o][1] - c[1], net.xy[o][0] - c[0]) for o in adj.get(vn, []))
        m = float(mountain(*c))
        n_sp = int(rng.integers(2, 5)) if m < 0.5 else int(rng.integers(1, 3))
        gaps = []
        if angs:
            for k in range(len(angs)):
                a0, a1 = angs[k], angs[(k + 1) % len(angs)] + (2 * np.pi if k == len(angs) - 1 else 0)
                gaps.append((a1 - a0, a0))
        else:
            gaps = [(2 * np.pi, 0.0)]
        gaps.sort(reverse=True)
        vm = []
        for s in range(n_sp):
            g, a0 = gaps[s % len(gaps)]
            frac = (s // len(gaps) + 1) / (n_sp // len(gaps) + 2)
            th = a0 + g * (0.5 if s < len(gaps) else frac) + rng.uniform(-0.15, 0.15)
            kind = ["residential", "track", "residential", "service"][s % 4]
            length = {"residential": rng.uniform(150, 400), "track": rng.uniform(400, 1000),
                      "service": rng.uniform(60, 120)}[kind]
            n = max(2, int(length / 40.0))
            curv = rng.uniform(-0.6, 0.6) / length
            nodes = [vn]
            p, ang = c.copy(), th
            for _ in range(n):
                ang += curv * (length / n)
                p = p + (length / n) * np.array([math.cos(ang), math.sin(ang)])
                if not prep.contains(Point(p)):
                    break
                nodes.append(net.node(*p))
            if len(nodes) >= 2:
                tags = {"highway": kind}
                if kind == "track":
                    tags["tracktype"] = "grade4"
                net.way(nodes, tags)
                if kind == "residential":
                    vm.append(nodes[len(nodes) // 2])
        mids.append(vm)
    return mids


def _island_network(net, rng, island, seat):
    """The island township: its own seat grid and villages, no link to the mainland."""
    sg = _seat_grid(net, rng, seat, 3, ISLAND)
    inner = island.buffer(-350.0)
    minx, miny, maxx, maxy = inner.bounds
    pts: list[np.ndarray] = []
    while len(pts) < 5:
        p = np.array([rng.uniform(minx, maxx), rng.uniform(miny, maxy)])
        if not inner.contains(Point(p)) or np.hypot(*(p - seat)) < 900:
            continue
        if all(np.hypot(*(p - q)) > 900 for q in pts):
            pts.append(p)
    vn = [net.node(*p) for p in pts]
    P = np.vstack([seat[None], np.asarray(pts)])
    G = nx.Graph()
    for a in range(len(P)):
        for b in range(a + 1, len(P)):
            G.add_edge(a, b, length=float(np.hypot(*(P[a] - P[b]))))
    T = nx.minimum_spanning_tree(G, weight="length")
    edges = sorted((min(a, b), max(a, b)) for a, b in T.edges)
    for a, b in edges:
        na = sg["centre_node"] if a == 0 else vn[a - 1]
        if a == 0:
            d = P[b] - seat
            na = max(sg["perim"], key=lambda n: (np.asarray(net.xy[n]) - seat) @ d)
        nb = vn[b - 1]
        line = _polyline(net.xy[na], net.xy[nb], rng, 60.0, 0.02, 3)
        tags = {"highway": "tertiary", "ref": "Y099"} if a == 0 else {"highway": "unclassified"}
        net.way([na] + [net.node(*p) for p in line] + [nb], tags)
    mids = _village_spurs(net, rng, vn, island, lambda x, y: 0.0)
    first = sg["ids"].min()
    n_nodes = len(net.xy) - int(first)
    return {"seat_grid": sg, "villages": [(p, n, m) for p, n, m in zip(pts, vn, mids)], "n_nodes": n_nodes}


def _node_crossings(net):
    """Insert a shared node wherever two at-grade ways cross (a topological network)."""
    xy = np.asarray(net.xy)
    segs, owners = [], []
    for wi, w in enumerate(net.ways):
        if w.exempt:
            continue
        for k in range(len(w.nodes) - 1):
            segs.append((w.nodes[k], w.nodes[k + 1]))
            owners.append((wi, k))
    S = np.asarray(segs)
    lines = shapely.linestrings(np.stack([xy[S[:, 0]], xy[S[:, 1]]], axis=1))
    tree = shapely.STRtree(lines)
    qa, qb = tree.query(lines, predicate="intersects")
    sel = qa < qb
    qa, qb = qa[sel], qb[sel]
    share = (S[qa, 0] == S[qb, 0]) | (S[qa, 0] == S[qb, 1]) | (S[qa, 1] == S[qb, 0]) | (S[qa, 1] == S[qb, 1])
    qa, qb = qa[~share], qb[~share]
    inserts: dict[tuple[int, int], list[tuple[float, int]]] = {}
    for a, b in zip(qa.tolist(), qb.tolist()):
        p1, p2 = xy[S[a, 0]], xy[S[a, 1]]
        p3, p4 = xy[S[b, 0]], xy[S[b, 1]]
        d1, d2 = p2 - p1, p4 - p3
        den = d1[0] * d2[1] - d1[1] * d2[0]
        if abs(den) < 1e-9:
            continue  # collinear overlap: does not happen by construction
        t = ((p3[0] - p1[0]) * d2[1] - (p3[1] - p1[1]) * d2[0]) / den
        u = ((p3[0] - p1[0]) * d1[1] - (p3[1] - p1[1]) * d1[0]) / den
        eps = 1e-9
        ina, inb = eps < t < 1 - eps, eps < u < 1 - eps
        if ina and inb:
            n = net.node(*(p1 + t * d1))
            inserts.setdefault(owners[a], []).append((t, n))
            inserts.setdefault(owners[b], []).append((u, n))
        elif ina:  # b's end touches a's interior
            inserts.setdefault(owners[a], []).append((t, int(S[b, 0] if u <= eps else S[b, 1])))
        elif inb:
            inserts.setdefault(owners[b], []).append((u, int(S[a, 0] if t <= eps else S[a, 1])))
    by_way: dict[int, dict[int, list]] = {}
    for (wi, k), lst in inserts.items():
        by_way.setdefault(wi, {})[k] = sorted(lst)
    for wi, ks in by_way.items():
        w = net.ways[wi]
        new = [w.nodes[0]]
        for k in range(len(w.nodes) - 1):
            for _, n in ks.get(k, []):
                if n != new[-1]:
                    new.append(n)
            new.append(w.nodes[k + 1])
        w.nodes = new


# --------------------------------------------------------------------------
# facilities
# --------------------------------------------------------------------------

_V1 = list("上下前后东西南北新旧大小高低长")
_V2 = ["洋", "坑", "坂", "厝", "埔", "墩", "岭", "头", "尾", "口", "溪", "山", "林", "塘", "田", "湾", "厝", "岐",
       "垄", "园"]
_V0 = list("林陈黄张吴郑王李刘杨蔡许何")


def _village_names(rng, n):
    pool = [a + b + "村" for a in _V1 for b in _V2] + [a + b + "村" for a in _V0 for b in ("厝", "坑", "洋", "坂")]
    pool = sorted(set(pool))
    idx = rng.permutation(len(pool))[:n]
    return [pool[i] for i in idx]


_COMMUNITIES = ["南街", "北门", "西门", "东街", "府前", "解放", "建设", "新华", "文昌", "凤凰", "龙津", "水南",
                "沙堤", "塔山", "锦江", "桥南", "青年", "学府", "鼓楼", "梅溪", "金山", "翠屏", "湖滨", "玉泉"]


def _facilities(rng, net, fr, town_ll, seats, core, seat_grid, isl, villages, vnames, mountain):
    """A planner's facility list: Chinese names, raw categories, capacities, near roads."""
    xy = np.asarray(net.xy)
    segs = []
    for w in net.ways:
        if w.tags["highway"] in _PLACEABLE and not w.exempt:
            segs += list(zip(w.nodes[:-1], w.nodes[1:]))
    S = np.asarray(segs)
    lines = shapely.linestrings(np.stack([xy[S[:, 0]], xy[S[:, 1]]], axis=1))
    tree = shapely.STRtree(lines)
    names_t = [n for n, _, _, _ in TOWNSHIPS]
    polys = [town_ll[n] for n in names_t]
    for p in polys:
        shapely.prepare(p)

    rows: list[dict] = []
    used_names: set[str] = set()

    def township_of(x, y):
        lo, la = fr.to_lonlat(x, y)
        for n, p in zip(names_t, polys):
            if shapely.contains_xy(p, float(lo), float(la)):
                return n
        return None

    def place(p, name, cat, cap=None, avoid=None):
        """Put a facility 10-35 m beside the road nearest to ``p``."""
        p = np.asarray(p, float)
        k = int(tree.nearest(Point(p)))
        a, b = xy[S[k, 0]], xy[S[k, 1]]
        d = b - a
        t = float(np.clip(((p - a) @ d) / (d @ d), 0.15, 0.85))
        q = a + t * d
        nrm = np.array([-d[1], d[0]]) / np.hypot(*d)
        side = 1.0 if (p - q) @ nrm >= 0 else -1.0
        q = q + side * rng.uniform(10.0, 35.0) * nrm
        town = township_of(*q)
        if town is None or (avoid and town in avoid):
            return None
        nm = name(town) if callable(name) else name
        base, k2 = nm, 2
        while nm in used_names:
            nm = f"{base}{k2}分部"
            k2 += 1
        used_names.add(nm)
        lo, la = fr.to_lonlat(*q)
        rows.append({"name": nm, "category": cat, "capacity": "" if cap is None else str(int(cap)),
                     "lon": f"{float(lo):.6f}", "lat": f"{float(la):.6f}", "township": town})
        return nm

    # --- urban core
    def core_pt():
        u = rng.uniform(-_CORE_W / 2 + 100, _CORE_W / 2 - 100)
        v = rng.uniform(-_CORE_H / 2 + 100, _CORE_H / 2 - 100)
        x, y = _rot(u, v, _CORE_ROT)
        return np.array([x + _CORE[0], y + _CORE[1]])

    comm = list(_COMMUNITIES)
    rng.shuffle(comm)
    place(np.array(_CORE) + [150, 120], "示范县人民医院", "人民医院", 600)
    place(core_pt(), "示范县中医院", "中医院", 300)
    place(core_pt(), "示范县妇幼保健院", "医院", 120)
    place(core_pt(), "示范县仁爱医院", "综合医院", 150)
    urban = [n for n, _, _, k in TOWNSHIPS if k == "urban"]
    for n in urban:
        s = seats[n]
        place(s + rng.uniform(-200, 200, 2), f"{n}社区卫生服务中心", "社区卫生服务中心", rng.integers(20, 61))
        place(s + rng.uniform(-300, 300, 2), f"{n}文化站" if n != "东湖街道" else "东湖文化活动中心",
              "文化站" if n != "东湖街道" else "文化活动中心")
    for k in range(14):
        place(core_pt(), lambda t, c=comm[k % len(comm)]: f"{c}社区卫生服务站", "社区卫生服务站")
    for k in range(16):
        place(core_pt(), f"{rng.choice(_V0)}{['氏', '济', '仁', '康'][k % 4]}诊所" if k % 3 else f"{comm[k]}口腔门诊部",
              "诊所" if k % 3 else "门诊部")
    kg_brand = ["实验", "机关", "阳光", "育才", "启明", "蓝天", "向日葵", "小太阳", "童心", "春蕾", "金太阳",
                "七彩", "爱心", "星星", "绿苗", "小百灵", "博雅", "新苗", "晨曦", "明珠", "育英", "红黄蓝", "贝贝", "乐乐"]
    for k in range(24):
        place(core_pt(), f"示范县{kg_brand[k]}幼儿园", "幼儿园", 90 * rng.integers(2, 5))
    ps_names = ["示范县实验小学", "城关第一小学", "城关第二小学", "凤山小学", "东湖小学", "南门小学", "文昌小学",
                "解放路小学", "塔山小学", "锦江小学"]
    for nm in ps_names:
        place(core_pt(), nm, "小学", 45 * rng.integers(24, 48))
    for nm, cat in (("示范县第二中学", "初中"), ("示范县第三中学", "初中"), ("东湖初级中学", "初级中学"),
                    ("凤山初级中学", "初中")):
        place(core_pt(), nm, cat, 50 * rng.integers(24, 40))
    for nm in ("示范县社会福利中心", "城关街道养老服务中心", "凤山街道养老服务中心", "南门养老院"):
        cat = "养老院" if nm.endswith("养老院") else "养老服务中心"
        for _ in range(20):
            if place(core_pt(), nm, cat, 20 * rng.integers(3, 10), avoid={URBAN_NO_ELDERLY}):
                break
    k = 0
    for j in range(40):
        if k >= 12:
            break
        c = comm[(j + 5) % len(comm)]
        if place(core_pt(), f"{c}社区{'日间照料中心' if j % 4 else '托老所'}", "日间照料中心" if j % 4 else "托老所",
                 10 * rng.integers(2, 5), avoid={URBAN_NO_ELDERLY}):
            k += 1
    place(np.array(_CORE) + [-900, -600], "示范县体育场", "体育场")
    for k in range(7):
        place(core_pt(), f"{comm[(k + 3) % len(comm)]}社区{'运动场' if k % 2 else '体育场地'}",
              "运动场" if k % 2 else "体育场地")
    for k in range(8):
        place(core_pt(), f"{comm[(k + 9) % len(comm)]}菜市场", "菜市场")

    # --- township seats
    rural = [n for n, _, _, k in TOWNSHIPS if k != "urban"]
    for n in rural:
        c = seats[n]
        short = n[:-1]

        def near():
            return c + rng.uniform(-320, 320, 2)

        if n not in (MOUNTAIN_NO_HEALTH, ISLAND):
            if n == "龙潭镇":
                place(near(), "龙潭中心卫生院", "中心卫生院", 99)
            else:
                place(near(), f"{n}卫生院", "乡镇卫生院", 10 * rng.integers(2, 9))
        if n != NO_CENTRAL_KG:
            place(near(), f"{n}中心幼儿园", "中心幼儿园", 90 * rng.integers(2, 5))
        else:
            place(near(), f"{short}育苗幼儿园", "幼儿园", 90)
        place(near(), f"{short}中心小学", "小学", 45 * rng.integers(6, 20))
        if n != ISLAND:
            place(near(), f"{short}中学", "初中", 50 * rng.integers(8, 20))
            place(near(), f"{n}敬老院" if n not in ("龙潭镇", "青山镇") else f"{n}养老服务中心",
                  "敬老院" if n not in ("龙潭镇", "青山镇") else "养老服务中心", 10 * rng.integers(3, 9))
            place(near(), f"{short}农贸市场", "农贸市场")
            if n != MOUNTAIN_NO_HEALTH:
                place(near(), f"{short}{rng.choice(_V0)}氏诊所", "诊所")
        place(near(), f"{n}综合文化站", "综合文化站")
        if n in ("龙潭镇", "青山镇", "白沙镇", "梅林镇", "洋头镇", "桃源镇"):
            place(near(), f"{short}体育场地", "体育场地")
            place(near(), f"{short}日间照料中心", "日间照料中心", 30)

    # --- villages
    for (p, vn, mids), vname in zip(villages, vnames):
        c = np.asarray(net.xy[vn])
        m = float(mountain(*c))
        r = rng.uniform()
        if r < 0.68:
            place(c + rng.uniform(-80, 80, 2), f"{vname}卫生室", "村卫生室")
        r = rng.uniform()
        if r < 0.13 * (1 - m) + 0.02:
            place(c + rng.uniform(-100, 100, 2), f"{vname[:-1]}小学", "小学", 30 * rng.integers(2, 7))
        r = rng.uniform()
        if r < 0.07:
            place(c + rng.uniform(-100, 100, 2), f"{vname[:-1]}幼儿园", "幼儿园", 60)
        r = rng.uniform()
        if r < 0.08 * (1 - m):
            place(c + rng.uniform(-100, 100, 2), f"{vname}居家养老服务站", "日间照料中心", 20)
    # ids in file order
    for k, r in enumerate(rows):
        r["id"] = f"F{k + 1:04d}"
    return rows


# --------------------------------------------------------------------------
# population
# --------------------------------------------------------------------------


def _population(rng, fr, net, town_ll, mountain, seats, core, villages):
    """WorldPop-like persons per 3 arc-second cell; nodata outside the county."""
    W = int(round((_EAST - _WEST) / _RES))
    H = int(round((_NORTH - _SOUTH) / _RES))
    col = np.arange(W)
    row = np.arange(H)
    lon = _WEST + (col + 0.5) * _RES
    lat = _NORTH - (row + 0.5) * _RES
    LON, LAT = np.meshgrid(lon, lat)
    X, Y = fr.to_xy(LON.ravel(), LAT.ravel())
    X, Y = X.reshape(H, W), Y.reshape(H, W)

    names = [n for n, _, _, _ in TOWNSHIPS]
    labels = np.full((H, W), -1, dtype=np.int32)
    for i, n in enumerate(names):
        inside = shapely.contains_xy(town_ll[n], LON, LAT) & (labels < 0)
        labels[inside] = i
    mask = labels >= 0

    def cell(x, y):
        lo, la = fr.to_lonlat(x, y)
        c = int((float(lo) - _WEST) / _RES)
        r = int((_NORTH - float(la)) / _RES)
        return r, c

    def norm(f, total):
        s = float((f * mask).sum())
        return f * mask * (total / s) if s > 0 else f * 0

    # urban core: dense, peaking at the centre, inside the street grid
    u, v = _rot(X - _CORE[0], Y - _CORE[1], -_CORE_ROT)
    edge = np.minimum(_CORE_W / 2 - np.abs(u), _CORE_H / 2 - np.abs(v))
    urban = _sigmoid(edge / 120.0) * (np.exp(-(u ** 2 + v ** 2) / (2 * 1800.0 ** 2)) + 0.25)
    pop = norm(urban, _POP_URBAN)

    # seats: gaussian towns
    for n, total in _POP_SEATS.items():
        g = np.zeros((H, W))
        r, c = cell(*seats[n])
        g[r, c] = 1.0
        g = ndimage.gaussian_filter(g, sigma=4.0, mode="constant")
        pop += norm(g, total)

    # villages: small clusters at the village node and along its lanes
    nodes_xy = np.asarray(net.xy)
    gv = np.zeros((H, W))
    gi = np.zeros((H, W))
    for p, vn, mids in villages:
        m = float(mountain(*nodes_xy[vn]))
        w = 300.0 + 1200.0 * (1 - m) * rng.uniform(0.3, 1.0)
        pts = [vn] + list(mids)
        for k, q in enumerate(pts):
            r, c = cell(*nodes_xy[q])
            if 0 <= r < H and 0 <= c < W:
                tgt = gi if labels[r, c] == names.index(ISLAND) else gv
                tgt[r, c] += w * (0.6 if k == 0 else 0.4 / max(1, len(pts) - 1))
    gv = ndimage.gaussian_filter(gv, sigma=1.6, mode="constant")
    gi = ndimage.gaussian_filter(gi, sigma=1.6, mode="constant")
    pop += norm(gv, _POP_VILLAGES) + norm(gi, _POP_ISLAND_VILLAGES)

    # dispersed farmhouses near roads on the plains
    tree = cKDTree(nodes_xy)
    d, _ = tree.query(np.column_stack([X[mask], Y[mask]]), k=1)
    disp = np.zeros((H, W))
    m_cells = mountain(X[mask], Y[mask])
    disp[mask] = (1 - m_cells) ** 3 * np.exp(-d / 200.0)
    disp[labels == names.index(ISLAND)] *= 0.2
    pop += norm(disp, _POP_DISPERSED)

    noise = rng.lognormal(0.0, 0.35, (H, W))
    pop = pop * noise
    pop[pop < 0.05] = 0.0
    # quantise to 1/16 person: exact in float32 and in any float64 sum order
    pop = np.round(pop * 16.0) / 16.0
    out = np.where(mask, pop, NODATA).astype(np.float32)
    return out, labels


# --------------------------------------------------------------------------
# derived checks
# --------------------------------------------------------------------------


def _seat_drive_minutes(net, fac, seat_grid, isl):
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
    fr = _Frame()
    src = set()
    for f in fac:
        if RAW_CATEGORIES[f["category"]] in _PRIMARY_CARE:
            x, y = fr.to_xy(float(f["lon"]), float(f["lat"]))
            src.add(int(nodes[tree.query([float(x), float(y)])[1]]))
    dist = nx.multi_source_dijkstra_path_length(G.reverse(copy=False), src, weight="t")
    out = {}
    for n, sg in list(seat_grid.items()) + [(ISLAND, isl["seat_grid"])]:
        t = dist.get(sg["centre_node"])
        out[n] = None if t is None else t / 60.0
    return out


# --------------------------------------------------------------------------
# writers
# --------------------------------------------------------------------------


def _write_pbf(path: Path, net: _Net, lonlat: np.ndarray) -> None:
    import osmium
    from osmium.osm.mutable import Node, Way

    if path.exists():
        path.unlink()
    used = sorted({n for w in net.ways for n in w.nodes})
    hdr = osmium.io.Header()
    hdr.set("generator", "access.demo.synth (synthetic data)")
    lo, la = lonlat[used, 0], lonlat[used, 1]
    hdr.add_box(osmium.osm.Box(osmium.osm.Location(float(lo.min()), float(la.min())),
                               osmium.osm.Location(float(lo.max()), float(la.max()))))
    meta = dict(version=1, timestamp="2026-01-01T00:00:00Z", changeset=1, uid=1, user="synthetic")
    base_n, base_w = 1_000_001, 50_000_001
    wr = osmium.SimpleWriter(str(path), header=hdr, overwrite=True)
    try:
        for n in used:
            wr.add_node(Node(id=base_n + n, location=(float(lonlat[n, 0]), float(lonlat[n, 1])), tags={}, **meta))
        for k, w in enumerate(net.ways):
            tags = {key: val for key, val in w.tags.items() if val != ""}
            wr.add_way(Way(id=base_w + k, nodes=[base_n + n for n in w.nodes], tags=tags, **meta))
    finally:
        wr.close()


def _write_raster(path: Path, pop: np.ndarray, seed: int) -> None:
    import rasterio
    from affine import Affine

    profile = dict(driver="GTiff", width=pop.shape[1], height=pop.shape[0], count=1, dtype="float32",
                   crs="EPSG:4326", transform=Affine(_RES, 0.0, _WEST, 0.0, -_RES, _NORTH), nodata=NODATA,
                   compress="deflate", predictor=3, tiled=True, blockxsize=256, blockysize=256)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(pop, 1)
        dst.update_tags(SYNTHETIC="yes", STUDY=STUDY_NAME, UNITS="persons per cell",
                        SOURCE=f"access.demo.synth seed={seed}; invented data, not WorldPop")
        dst.set_band_description(1, "population (synthetic)")


def _geojson(features: list[dict], name: str) -> str:
    fc = {"type": "FeatureCollection", "name": name, "features": features}
    return json.dumps(fc, ensure_ascii=False, separators=(",", ":")) + "\n"


def _write_boundaries(out: Path, town_ll: dict, county_ll) -> None:
    feats = []
    for n, c, _, k in TOWNSHIPS:
        level = {"urban": "街道", "town": "镇", "xiang": "乡"}[k]
        feats.append({"type": "Feature",
                      "properties": {"code": COUNTY_CODE + c + "000", "name": n, "county_code": COUNTY_CODE,
                                     "urban": k == "urban", "level": level, "synthetic": True},
                      "geometry": mapping(town_ll[n])})
    (out / "townships.geojson").write_text(_geojson(feats, "townships"), encoding="utf-8")
    county = shapely.orient_polygons(county_ll)
    feats = [{"type": "Feature",
              "properties": {"code": COUNTY_CODE, "name": COUNTY_NAME, "name_en": "Synthetic Demo County",
                             "synthetic": True},
              "geometry": mapping(county)}]
    (out / "counties.geojson").write_text(_geojson(feats, "counties"), encoding="utf-8")


def _write_facilities(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id", "name", "category", "capacity", "lon", "lat"])
    for r in rows:
        w.writerow([r["id"], r["name"], r["category"], r["capacity"], r["lon"], r["lat"]])
    path.write_bytes(buf.getvalue().encode("utf-8-sig"))


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


if __name__ == "__main__":
    sys.exit(main())
