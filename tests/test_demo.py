"""The synthetic demo county, checked with independent tools.

Every check reads the written files with rasterio, shapely/geopandas, osmium
or the csv module and compares against the brief's requirements or against
values recomputed here (areas in UTM, sums of the raster, networkx
components), never against numbers saved from the generator itself.
"""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
import tomllib
from itertools import combinations
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import osmium
import pytest
import rasterio
import shapely
from shapely.geometry import Point

from access.demo.synth import generate

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "data" / "demo"
UTM = "EPSG:32650"

CLASSES = ["motorway", "motorway_link", "trunk", "primary", "secondary", "tertiary",
           "unclassified", "residential", "service", "track", "footway"]
# Grade-separated ways: they may cross other ways without a shared node.
GRADE_SEPARATED = {"motorway", "motorway_link"}

# Hand-written mapping of the planner's raw categories (the oracle for the CSV).
RAW = {
    "社区卫生服务中心": "community_health_centre", "社区卫生服务站": "community_health_station",
    "乡镇卫生院": "township_health_centre", "中心卫生院": "township_health_centre",
    "村卫生室": "village_clinic", "医院": "hospital", "人民医院": "hospital", "中医院": "hospital",
    "综合医院": "hospital", "诊所": "clinic", "门诊部": "clinic", "幼儿园": "kindergarten",
    "中心幼儿园": "central_kindergarten", "小学": "primary_school", "初中": "junior_middle_school",
    "初级中学": "junior_middle_school", "养老服务中心": "elderly_care_centre", "敬老院": "elderly_care_centre",
    "养老院": "elderly_care_centre", "日间照料中心": "elderly_day_care", "托老所": "elderly_day_care",
    "文化站": "cultural_station", "综合文化站": "cultural_station", "文化活动中心": "cultural_station",
    "体育场地": "sports_ground", "体育场": "sports_ground", "运动场": "sports_ground",
    "菜市场": "food_market", "农贸市场": "food_market",
}
PRIMARY_CARE = {"township_health_centre", "community_health_centre", "hospital"}
# Driving speeds by class, km/h (rural Chinese defaults, as in issue #3).
DRIVE_KMH = {"motorway": 100, "motorway_link": 50, "trunk": 70, "primary": 60, "secondary": 40,
             "tertiary": 30, "unclassified": 20, "residential": 20, "service": 15, "track": 15}


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    generate(out)
    return out


@pytest.fixture(scope="module")
def expected(demo) -> dict:
    return json.loads((demo / "expected.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def osm(demo):
    """Nodes {id: (lon, lat)} and ways [(id, [node ids], tags)] read with osmium."""
    nodes, ways = {}, []
    for o in osmium.FileProcessor(str(demo / "roads.osm.pbf")):
        if o.is_node():
            nodes[o.id] = (o.location.lon, o.location.lat)
        elif o.is_way():
            ways.append((o.id, [n.ref for n in o.nodes], dict(o.tags)))
    return nodes, ways


@pytest.fixture(scope="module")
def townships(demo) -> gpd.GeoDataFrame:
    return gpd.read_file(demo / "townships.geojson")


@pytest.fixture(scope="module")
def facilities(demo) -> list[dict]:
    with open(demo / "facilities.csv", encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def _utm_xy(lonlat):
    from pyproj import Transformer

    t = Transformer.from_crs("EPSG:4326", UTM, always_xy=True)
    a = np.asarray(lonlat, float)
    x, y = t.transform(a[:, 0], a[:, 1])
    return np.column_stack([x, y])


# ---------------------------------------------------------------- boundaries


def test_county_area_and_tiling(demo, townships):
    county = gpd.read_file(demo / "counties.geojson")
    assert len(county) == 1
    assert county.loc[0, "code"] == "350999" and county.loc[0, "name"] == "示范县"
    assert bool(county.loc[0, "synthetic"])
    assert county.crs.to_epsg() == 4326
    c_utm = county.to_crs(UTM).geometry.iloc[0]
    area_km2 = c_utm.area / 1e6
    assert 1000 <= area_km2 <= 2000

    t_utm = townships.to_crs(UTM)
    assert t_utm.geometry.is_valid.all()
    union = shapely.unary_union(t_utm.geometry.values)
    assert abs(union.area - c_utm.area) <= 1e-6 * c_utm.area
    assert union.symmetric_difference(c_utm).area <= 1e-6 * c_utm.area
    overlap = sum(a.intersection(b).area for a, b in combinations(t_utm.geometry.values, 2))
    assert overlap <= 1e-6 * c_utm.area

    # lon/lat inside the brief's window
    minx, miny, maxx, maxy = county.total_bounds
    assert 118.3 <= minx and maxx <= 118.8 and 25.9 <= miny and maxy <= 26.3


def test_township_attributes(townships, expected):
    t = townships
    assert set(t.columns) >= {"code", "name", "county_code", "urban", "synthetic", "geometry"}
    assert t["code"].is_unique and t["name"].is_unique
    assert all(len(c) == 12 and c.isdigit() and c.startswith("350999") for c in t["code"])
    assert (t["county_code"] == "350999").all()
    assert t["synthetic"].all()
    streets = t[t["name"].str.endswith("街道")]
    rural = t[t["name"].str.endswith(("镇", "乡"))]
    assert len(streets) + len(rural) == len(t)
    assert 3 <= len(streets) <= 5 and 8 <= len(rural) <= 15
    assert streets["urban"].all() and not rural["urban"].any()
    island = expected["island_township"]
    assert island in set(rural["name"])
    # the island is its own polygon, apart from every other township
    geo = t.set_index("name").to_crs(UTM).geometry
    others = shapely.unary_union(geo.drop(island).values)
    assert geo[island].distance(others) > 1000.0


# ---------------------------------------------------------------- population


def test_population_raster(demo, expected, townships):
    with rasterio.open(demo / "population.tif") as r:
        a = r.read(1)
        assert r.crs.to_epsg() == 4326
        assert r.dtypes[0] == "float32"
        assert r.nodata == -99999
        assert math.isclose(r.res[0], 1 / 1200, rel_tol=1e-9) and math.isclose(r.res[1], 1 / 1200, rel_tol=1e-9)
        assert r.tags()["SYNTHETIC"] == "yes"
        assert r.profile["compress"].lower() == "deflate"
        transform = r.transform
    valid = a != -99999
    assert (a[valid] >= 0).all()
    total = float(a[valid].astype(np.float64).sum())
    assert 300_000 <= total <= 600_000
    assert total == pytest.approx(expected["total_population"], rel=1e-12)

    # cells with data are exactly those whose centre is in the county
    rows, cols = np.nonzero(np.ones_like(a, bool))
    xs, ys = rasterio.transform.xy(transform, rows, cols)
    county = shapely.unary_union(townships.geometry.values)
    inside = shapely.contains_xy(county, np.asarray(xs), np.asarray(ys)).reshape(a.shape)
    assert (inside == valid).all()

    # density pattern: urban streets dense, island populated, mountain township sparse
    per_town = {}
    areas = townships.set_index("name").to_crs(UTM).geometry.area / 1e6
    for name, geom in zip(townships["name"], townships.geometry):
        m = shapely.contains_xy(geom, np.asarray(xs), np.asarray(ys)).reshape(a.shape)
        per_town[name] = float(a[m & valid].astype(np.float64).sum())
    assert sum(per_town.values()) == pytest.approx(total, rel=1e-12)
    for n, v in per_town.items():
        assert v == pytest.approx(expected["township_population"][n], rel=1e-9)
    dens = {n: per_town[n] / areas[n] for n in per_town}
    street_d = min(d for n, d in dens.items() if n.endswith("街道"))
    assert street_d > 2 * max(d for n, d in dens.items() if not n.endswith("街道"))
    assert per_town[expected["island_township"]] > 1000
    assert dens["石门乡"] < min(d for n, d in dens.items() if n not in ("石门乡", "云岭乡"))


# ---------------------------------------------------------------- network


def test_network_classes_and_ids(osm):
    nodes, ways = osm
    assert 15_000 <= len(nodes) <= 40_000
    assert all(i > 0 for i in nodes) and all(w[0] > 0 for w in ways)
    assert len({w[0] for w in ways}) == len(ways)
    referenced = {n for _, ns, _ in ways for n in ns}
    assert referenced <= set(nodes)
    counts = {}
    for _, ns, tags in ways:
        assert len(ns) >= 2
        counts[tags["highway"]] = counts.get(tags["highway"], 0) + 1
    for c in CLASSES:
        assert counts.get(c, 0) > 0, f"no {c} ways"
    assert any("maxspeed" in t for _, _, t in ways)
    # motorways are one-way per carriageway, ramps too
    for _, _, t in ways:
        if t["highway"] in GRADE_SEPARATED:
            assert t.get("oneway") == "yes"
    oneway_local = [t for _, _, t in ways if t.get("oneway") == "yes" and t["highway"] in ("residential", "tertiary")]
    assert len(oneway_local) >= 5
    # intersections are shared nodes
    uses = {}
    for _, ns, _ in ways:
        for n in set(ns):
            uses[n] = uses.get(n, 0) + 1
    assert sum(1 for v in uses.values() if v >= 2) > 1000


def test_pbf_readable_by_pyrosm(demo):
    pyrosm = pytest.importorskip("pyrosm")
    net = pyrosm.OSM(str(demo / "roads.osm.pbf")).get_network("all")
    assert set(CLASSES) <= set(net["highway"].unique())


def test_at_grade_crossings_share_a_node(osm):
    """Ways that cross at grade meet at a node (no phantom crossings)."""
    nodes, ways = osm
    segs, ends = [], []
    for _, ns, t in ways:
        if t["highway"] in GRADE_SEPARATED or t.get("bridge") == "yes":
            continue
        for a, b in zip(ns[:-1], ns[1:]):
            segs.append((nodes[a], nodes[b]))
            ends.append((a, b))
    xy = _utm_xy([p for s in segs for p in s]).reshape(-1, 2, 2)
    lines = shapely.linestrings(xy)
    tree = shapely.STRtree(lines)
    qa, qb = tree.query(lines, predicate="crosses")
    bad = [(i, j) for i, j in zip(qa, qb) if i < j and not (set(ends[i]) & set(ends[j]))]
    assert not bad, f"{len(bad)} crossings without a shared node"


def _drive_graph(nodes, ways, directed=True):
    G = nx.DiGraph() if directed else nx.Graph()
    for _, ns, t in ways:
        h = t["highway"]
        if h not in DRIVE_KMH:
            continue
        kmh = float(t.get("maxspeed", DRIVE_KMH[h]))
        xy = _utm_xy([nodes[n] for n in ns])
        for k, (a, b) in enumerate(zip(ns[:-1], ns[1:])):
            s = float(np.hypot(*(xy[k + 1] - xy[k]))) / (kmh / 3.6)
            G.add_edge(a, b, t=s)
            if directed and t.get("oneway") != "yes":
                G.add_edge(b, a, t=s)
    return G


def test_island_disconnected_and_mainland_strongly_connected(osm, townships, expected):
    nodes, ways = osm
    island = townships.set_index("name").geometry[expected["island_township"]]
    U = nx.Graph()
    for _, ns, _ in ways:
        nx.add_path(U, ns)
    on_island = {n for n in U if island.contains(Point(nodes[n]))}
    assert len(on_island) >= 50
    for comp in nx.connected_components(U):
        if comp & on_island:
            assert comp <= on_island, "island roads reach the mainland"
    biggest = max(nx.connected_components(U), key=len)
    assert not (biggest & on_island)
    # With one-way streets respected, every mainland road node off the
    # expressway is in one strongly connected piece. (The expressway's ends
    # run out of the county like a real extract's, so its tails are not.)
    D = _drive_graph(nodes, ways)
    scc = max(nx.strongly_connected_components(D), key=len)
    local = {n for _, ns, t in ways if t["highway"] not in GRADE_SEPARATED and t["highway"] in DRIVE_KMH
             for n in ns} - on_island
    assert local <= scc


def test_oneway_direction_semantics(osm):
    """oneway=yes means travel in node order only: the reverse arc is absent."""
    nodes, ways = osm
    D = _drive_graph(nodes, ways)
    two_way = {frozenset(p) for _, ns, t in ways if t.get("oneway") != "yes" for p in zip(ns[:-1], ns[1:])}
    checked = 0
    for _, ns, t in ways:
        if t.get("oneway") != "yes":
            continue
        for a, b in zip(ns[:-1], ns[1:]):
            assert D.has_edge(a, b)
            if frozenset((a, b)) not in two_way:
                assert not D.has_edge(b, a)
                checked += 1
    assert checked > 100


# ---------------------------------------------------------------- facilities


def test_facilities_csv(demo, facilities, osm, townships):
    raw = (demo / "facilities.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert raw.decode("utf-8-sig").splitlines()[0] == "id,name,category,capacity,lon,lat"
    assert len({f["id"] for f in facilities}) == len(facilities)
    assert len({f["name"] for f in facilities}) == len(facilities)
    cats = {RAW[f["category"]] for f in facilities}  # KeyError = unknown raw category
    assert cats == set(RAW.values())  # all 15 canonical keys
    for f in facilities:
        if f["capacity"]:
            assert int(f["capacity"]) > 0
        if RAW[f["category"]] in PRIMARY_CARE:
            assert f["capacity"], f["name"]  # beds
    # inside the county and within 50 m of a road a facility can sit beside
    nodes, ways = osm
    county = shapely.unary_union(townships.geometry.values)
    pts = np.array([(float(f["lon"]), float(f["lat"])) for f in facilities])
    assert shapely.contains_xy(county, pts[:, 0], pts[:, 1]).all()
    roads = [shapely.LineString(_utm_xy([nodes[n] for n in ns])) for _, ns, t in ways
             if t["highway"] not in GRADE_SEPARATED | {"footway"}]
    tree = shapely.STRtree(roads)
    fxy = shapely.points(_utm_xy(pts))
    idx, d = tree.query_nearest(fxy, return_distance=True, all_matches=False)
    assert d.max() <= 50.0


def test_designed_gaps(facilities, townships, expected, osm):
    t = townships.set_index("name")
    rural = [n for n in t.index if not n.endswith("街道")]

    def count(name, canon):
        g = t.geometry[name]
        return sum(1 for f in facilities if RAW[f["category"]] == canon
                   and g.contains(Point(float(f["lon"]), float(f["lat"]))))

    no_thc = set(expected["no_township_health_centre"])
    no_kg = set(expected["no_central_kindergarten"])
    assert expected["island_township"] in no_thc and "石门乡" in no_thc
    assert set(expected["underserved_townships"]) >= no_thc | no_kg
    for n in rural:
        assert (count(n, "township_health_centre") == 0) == (n in no_thc), n
        assert (count(n, "central_kindergarten") == 0) == (n in no_kg), n
    for n in no_thc:
        assert all(count(n, c) == 0 for c in PRIMARY_CARE)
    for n in expected["urban_gaps"]:
        assert count(n, "elderly_care_centre") == 0 and count(n, "elderly_day_care") == 0

    # the mountain township's seat is more than 30 minutes' drive from primary care
    nodes, ways = osm
    D = _drive_graph(nodes, ways)
    ids = np.array(list(D.nodes))
    xy = _utm_xy([nodes[n] for n in ids])
    from scipy.spatial import cKDTree

    kd = cKDTree(xy)
    src = {int(ids[kd.query(p)[1]]) for p in _utm_xy(
        [(float(f["lon"]), float(f["lat"])) for f in facilities if RAW[f["category"]] in PRIMARY_CARE])}
    dist = nx.multi_source_dijkstra_path_length(D.reverse(copy=False), src, weight="t")
    seat = _utm_xy([expected["townships"]["石门乡"]["seat_lonlat"]])[0]
    assert dist[int(ids[kd.query(seat)[1]])] / 60 > 30
    isl = _utm_xy([expected["townships"][expected["island_township"]]["seat_lonlat"]])[0]
    assert int(ids[kd.query(isl)[1]]) not in dist
    for n in rural:
        if n not in no_thc:
            s = _utm_xy([expected["townships"][n]["seat_lonlat"]])[0]
            assert dist[int(ids[kd.query(s)[1]])] / 60 < 10, n


# ---------------------------------------------------------------- scenario, determinism


def test_scenario(demo):
    sc = tomllib.loads((demo / "scenario.toml").read_text(encoding="utf-8"))
    assert sc["study"]["synthetic"] is True
    assert sc["study"]["output"] == "../../maps/demo"
    assert "synthetic" in sc["study"]["name"]
    for key in ("network", "population", "facilities", "counties", "townships"):
        assert (demo / sc["inputs"][key]).exists()
    assert [c["standard"] for c in sc["circles"]] == ["fujian_30min_medical", "elderly_15min",
                                                      "gb50180_15min", "gb50180_5min"]
    from access.coverage.standards import CIRCLES, TOWNSHIP_RULES

    assert all(c["standard"] in CIRCLES for c in sc["circles"])
    assert all(r in TOWNSHIP_RULES for r in sc["rules"]["township"])


def _raster(p):
    with rasterio.open(p) as r:
        return r.read(1), r.transform, r.tags()


TEXT_FILES = ["facilities.csv", "townships.geojson", "counties.geojson", "expected.json", "scenario.toml"]


def test_deterministic(demo, tmp_path):
    generate(tmp_path)
    for name in TEXT_FILES + ["roads.osm.pbf"]:
        assert (demo / name).read_bytes() == (tmp_path / name).read_bytes(), name
    a, ta, _ = _raster(demo / "population.tif")
    b, tb, _ = _raster(tmp_path / "population.tif")
    assert ta == tb and np.array_equal(a, b)


def test_committed_files_match_fresh_generation(demo):
    assert COMMITTED.is_dir(), "data/demo is missing: run python -m access.demo.synth data/demo"
    for name in TEXT_FILES:
        assert (COMMITTED / name).read_bytes() == (demo / name).read_bytes(), (
            f"data/demo/{name} is stale: run python -m access.demo.synth data/demo")
    a, ta, _ = _raster(COMMITTED / "population.tif")
    b, tb, _ = _raster(demo / "population.tif")
    assert ta == tb and np.array_equal(a, b)
    assert (COMMITTED / "roads.osm.pbf").read_bytes() == (demo / "roads.osm.pbf").read_bytes()
    assert (COMMITTED / "README.md").exists()
    size = sum(p.stat().st_size for p in COMMITTED.iterdir())
    assert size < 8_000_000


def test_cli(tmp_path):
    r = subprocess.run([sys.executable, "-m", "access.demo.synth", str(tmp_path / "d")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "d" / "roads.osm.pbf").exists()
