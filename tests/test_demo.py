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
# hand-written raw-category mapping and driving speeds, shared with the networkx oracle
from demo_oracle import DRIVE_KMH, RAW

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "data" / "demo"
UTM = "EPSG:32650"

CLASSES = ["motorway", "motorway_link", "trunk", "primary", "secondary", "tertiary",
           "unclassified", "residential", "service", "track", "footway"]
# Grade-separated ways: they may cross other ways without a shared node.
GRADE_SEPARATED = {"motorway", "motorway_link"}

PRIMARY_CARE = {"township_health_centre", "community_health_centre", "hospital"}


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
    island = expected["island_township"]
    assert street_d > 2 * max(d for n, d in dens.items() if not n.endswith("街道") and n != island)
    # a crowded fishing island, denser than any mainland rural township
    assert per_town[island] > 10_000
    assert dens[island] == max(d for n, d in dens.items() if not n.endswith("街道"))
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
    for n in expected["no_elderly_care_centre"]:
        assert count(n, "elderly_care_centre") == 0

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
    assert [c["standard"] for c in sc["circles"]] == ["fujian_30min_medical", "gb50180_15min", "gb50180_10min",
                                                      "gb50180_5min", "elderly_15min", "tdt1062_township",
                                                      "tdt1062_village"]
    for files in sc["inputs"]["groups"].values():
        assert all((demo / f).exists() for f in files)
    assert [t["name"] for t in sc["targets"] if t.get("allocate")] == ["beds", "primary_beds"]
    from access.coverage.standards import CIRCLES, TOWNSHIP_RULES

    assert all(c["standard"] in CIRCLES for c in sc["circles"])
    assert all(r in TOWNSHIP_RULES for r in sc["rules"]["township"])


def _raster(p):
    with rasterio.open(p) as r:
        return r.read(1), r.transform, r.tags()


TEXT_FILES = ["facilities.csv", "townships.geojson", "counties.geojson", "expected.json", "scenario.toml"]
RASTERS = ["population.tif", "age/pop_3_5.tif", "age/pop_6_11.tif", "age/pop_12_14.tif", "age/pop_60_69.tif",
           "age/pop_70_plus.tif"]


def test_deterministic(demo, tmp_path):
    generate(tmp_path)
    for name in TEXT_FILES + ["roads.osm.pbf"]:
        assert (demo / name).read_bytes() == (tmp_path / name).read_bytes(), name
    for name in RASTERS:
        a, ta, _ = _raster(demo / name)
        b, tb, _ = _raster(tmp_path / name)
        assert ta == tb and np.array_equal(a, b), name


def test_committed_files_match_fresh_generation(demo):
    assert COMMITTED.is_dir(), "data/demo is missing: run python -m access.demo.synth data/demo"
    for name in TEXT_FILES:
        assert (COMMITTED / name).read_bytes() == (demo / name).read_bytes(), (
            f"data/demo/{name} is stale: run python -m access.demo.synth data/demo")
    for name in RASTERS:
        a, ta, _ = _raster(COMMITTED / name)
        b, tb, _ = _raster(demo / name)
        assert ta == tb and np.array_equal(a, b), f"data/demo/{name} is stale"
    assert (COMMITTED / "roads.osm.pbf").read_bytes() == (demo / "roads.osm.pbf").read_bytes()
    assert (COMMITTED / "README.md").exists()
    size = sum(p.stat().st_size for p in COMMITTED.rglob("*") if p.is_file())
    assert size < 8_000_000


def test_cli(tmp_path):
    r = subprocess.run([sys.executable, "-m", "access.demo.synth", str(tmp_path / "d")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "d" / "roads.osm.pbf").exists()


# ---------------------------------------------------------------- age bands


def test_age_bands(demo, expected, townships):
    """Bands on the population grid, never more persons than the cell; a young and ageing townships."""
    pop, tp, _ = _raster(demo / "population.tif")
    valid = pop != -99999
    bands = {}
    for f in expected["age_bands"]["files"]:
        with rasterio.open(demo / f) as r:
            assert r.transform == tp and r.nodata == -99999 and r.tags()["SYNTHETIC"] == "yes"
            assert r.profile["compress"].lower() == "deflate"
            a = r.read(1)
        assert np.array_equal(a == -99999, ~valid), f
        assert (a[valid] >= 0).all() and np.all(a[valid] * 16 == np.round(a[valid] * 16)), f
        bands[Path(f).stem] = np.where(valid, a, 0).astype(np.float64)
    p = np.where(valid, pop, 0).astype(np.float64)
    assert (sum(bands.values()) <= p).all()
    with rasterio.open(demo / "population.tif") as r:
        rows, cols = np.nonzero(np.ones_like(pop, bool))
        xs, ys = rasterio.transform.xy(r.transform, rows, cols)
    elder = bands["pop_60_69"] + bands["pop_70_plus"]
    child = bands["pop_3_5"] + bands["pop_6_11"] + bands["pop_12_14"]
    share_e, share_c = {}, {}
    for name, g in zip(townships["name"], townships.geometry):
        m = shapely.contains_xy(g, np.asarray(xs), np.asarray(ys)).reshape(pop.shape) & valid
        share_e[name] = elder[m].sum() / p[m].sum()
        share_c[name] = child[m].sum() / p[m].sum()
    county_e = elder.sum() / p.sum()
    assert 0.15 <= county_e <= 0.25  # a Chinese county's 60+ share, roughly
    for n in expected["age_bands"]["ageing_townships"]:
        assert share_e[n] > 1.5 * county_e and share_c[n] < 0.7 * share_c["城关街道"], n
    young = expected["age_bands"]["young_township"]
    assert max(share_c, key=share_c.get) == young and share_e[young] < 0.75 * county_e


# ---------------------------------------------------------------- circles, with an independent oracle


@pytest.fixture(scope="module")
def oracle(demo):
    import demo_oracle

    return demo_oracle, demo_oracle.load(demo)


def test_every_circle_tells_something(oracle):
    """networkx shortest paths on the raw files: every circle partly covered, county and 街道."""
    o, c = oracle
    for name in o.CIRCLES:
        s = o.shares(c, name)
        assert 0.05 < s["county"] < 0.95, (name, s["county"])
        if name.startswith("gb50180"):
            # urban 5/10/15-minute tiers: partial in every 街道, never empty or full
            streets = {k: v for k, v in s.items() if k.endswith("街道")}
            assert len(streets) == 4 and all(0.15 <= v <= 0.9 for v in streets.values()), (name, streets)


def test_urban_gaps_are_where_they_are_designed(oracle, expected, facilities):
    """Each named gap area has no facility of the missing kind, and its persons are outside the limit."""
    o, c = oracle
    for circle, gap in expected["circle_gaps"].items():
        if "area_lonlat" not in gap:
            continue
        area = shapely.Polygon(gap["area_lonlat"])
        inside = [f for f in facilities if RAW[f["category"]] in gap["missing"]
                  and area.contains(Point(float(f["lon"]), float(f["lat"])))]
        assert not inside, (circle, [f["name"] for f in inside])
        mode, limit, req, _ = o.CIRCLES[circle]
        area_utm = shapely.Polygon(_utm_xy(gap["area_lonlat"]))
        cells = shapely.contains_xy(area_utm, c.cell_xy[:, 0], c.cell_xy[:, 1]) & (c.cell_pop > 0)
        assert c.cell_pop[cells].sum() > 1000, circle
        # reach of the missing service: several thousand persons of the area lack
        # it within the circle's limit, and the area is worse off than the rest of its 街道
        t = np.isfinite(o.times(c, mode, tuple(gap["missing"]), limit))
        assert c.cell_pop[cells & ~t].sum() > 2000, circle
        s_in = c.cell_pop[cells & t].sum() / c.cell_pop[cells].sum()
        rest = (c.cell_town == gap["township"]) & ~cells
        s_rest = c.cell_pop[rest & t].sum() / c.cell_pop[rest].sum()
        assert s_rest > s_in + 0.1, (circle, s_rest, s_in)
        if circle != "elderly_15min":  # the walk to elderly care is long; the others are near-total gaps
            assert s_in < 0.1, (circle, s_in)


def test_elderly_gap_street_is_the_worst(oracle, expected):
    o, c = oracle
    w = c.bands["pop_60_69"] + c.bands["pop_70_plus"]
    inside, scope = o.circle(c, "elderly_15min")
    share = {t: w[(c.cell_town == t) & inside].sum() / w[c.cell_town == t].sum() for t in c.urban_towns}
    assert min(share, key=share.get) in expected["urban_gaps"]


def test_rural_village_gap(oracle, expected, facilities, townships):
    o, c = oracle
    gap = expected["circle_gaps"]["tdt1062_village"]
    t = townships.set_index("name").geometry
    for n in gap["townships"]:
        assert not [f for f in facilities if f["name"].endswith("居家养老服务站")
                    and t[n].contains(Point(float(f["lon"]), float(f["lat"])))]
    s = o.shares(c, "tdt1062_village")
    assert 0.05 < s["county"] < 0.95


def test_oversubscribed_health_centre(oracle, expected):
    """Persons whose nearest primary-care bed is the designed 卫生院 far exceed what its beds serve."""
    o, c = oracle
    sel = [i for i, f in enumerate(c.fac) if RAW[f["category"]] in ("township_health_centre",
                                                                   "community_health_centre")]
    T = np.vstack([o.times(c, "drive", None, 1800.0, only=[i]) for i in sel])
    reach = np.isfinite(T).any(0)
    nearest = np.where(reach, np.argmin(np.where(np.isfinite(T), T, np.inf), 0), -1)
    cap = expected["capacity_shortfall"]
    persons_per_bed = 1000 / 1.2
    ratio = {}
    for k, i in enumerate(sel):
        f = c.fac[i]
        if RAW[f["category"]] == "township_health_centre":
            ratio[f["name"]] = c.cell_pop[nearest == k].sum() / (float(f["capacity"]) * persons_per_bed)
    assert max(ratio, key=ratio.get) == cap["facility"]
    assert ratio[cap["facility"]] > 2.0
    assert sorted(ratio.values())[-2] < 1.5  # the others are roughly sized to their townships


# ---------------------------------------------------------------- the pipeline on the demo


@pytest.fixture(scope="module")
def demo_results(demo):
    from access.study import Study

    study = Study.load(demo / "scenario.toml", quiet=True)
    return study, study.run(service_areas=False)


def test_pipeline_names_gaps_and_shortfalls(demo_results, expected, oracle):
    study, res = demo_results
    h = res.headline.set_index("circle")
    o, c = oracle
    for name in o.CIRCLES:
        assert 0.05 < h.loc[name, "share"] < 0.95, name
        # the pipeline and the oracle agree on the county share within a few points
        assert abs(h.loc[name, "share"] - o.shares(c, name)["county"]) < 0.03, name
    assert h.loc["any", "outside"] <= res.cells["population"].sum()
    # gaps: each designed township appears in its circle's gaps
    gaps = res.gaps
    for circle, gap in expected["circle_gaps"].items():
        towns = gap.get("townships", [gap.get("township")])
        named = set(gaps.loc[gaps["circle"] == circle, "township_name"])
        assert set(towns) <= named, circle
    # capacity: the over-subscribed 卫生院 heads the shortfall list of its target
    cap = expected["capacity_shortfall"]
    fac = res.capacity["facilities"]
    ft = fac[fac["target"] == cap["target"]].reset_index(drop=True)
    assert ft.loc[0, "name"] == cap["facility"] and bool(ft.loc[0, "oversubscribed"])
    assert ft.loc[0, "capacity"] == cap["beds"] and ft.loc[0, "load"] == pytest.approx(ft.loc[0, "capacity_persons"])
    # capacity-free coverage of its township is near complete, capacity-aware is not
    tw = res.capacity["township"]
    row = tw[(tw["target"] == cap["target"]) & (tw["township_name"] == cap["township"])].iloc[0]
    assert row["share_in_reach"] > 0.95 and row["share_served"] < row["share_in_reach"] - 0.2
    # the beds target has the 30-minute circle's categories, mode and limit: its capacity-free
    # reach (catchment pairs) is the circle's coverage (nearest-facility times)
    beds = tw[tw["target"] == "beds"]
    assert beds["in_reach"].sum() == pytest.approx(h.loc["fujian_30min_medical", "covered"], rel=1e-12)
    # accounting: every person served or not, loads never over capacity
    assert (fac["load"] <= fac["capacity_persons"] + 1e-6).all()
    for t, g in tw.groupby("target"):
        assert g["served"].sum() == pytest.approx(fac.loc[fac["target"] == t, "load"].sum(), rel=1e-9)
        assert g["population"].sum() == pytest.approx(res.cells["population"].sum(), rel=1e-12)
