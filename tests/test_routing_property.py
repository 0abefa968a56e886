"""Node-level kernels against networkx Dijkstra on random graphs (hypothesis)."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from access.routing import (
    bounded_catchments,
    graph_from_arcs,
    multi_source_nearest,
    one_to_many,
    reverse_graph,
)

TOL = 1e-6
SUPER = "S"


@st.composite
def graphs(draw):
    """Random directed multigraphs: one-way and parallel arcs, isolated nodes.

    Integer weights (exact float sums, so ties are real ties) or continuous
    ones; optionally a ring that makes the graph strongly connected.
    """
    n = draw(st.integers(1, 25))
    m = draw(st.integers(0, 70))
    tails = draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))
    heads = draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))
    if draw(st.booleans()):
        w = draw(st.lists(st.integers(0, 9), min_size=m, max_size=m))
        weights = [float(x) for x in w]
    else:
        weights = draw(st.lists(st.floats(0.01, 100.0), min_size=m, max_size=m))
    if draw(st.booleans()):  # connected: add a ring both ways
        ring = list(range(n))
        tails += ring + [(i + 1) % n for i in ring]
        heads += [(i + 1) % n for i in ring] + ring
        weights += [float(draw(st.integers(1, 9)))] * (2 * n)
    return n, np.array(tails, np.int64), np.array(heads, np.int64), np.array(weights, float)


@st.composite
def seeds(draw, n, max_seeds=8):
    k = draw(st.integers(0, max_seeds))
    nodes = draw(st.lists(st.integers(0, n - 1), min_size=k, max_size=k))
    costs = draw(st.lists(st.one_of(st.integers(0, 9).map(float), st.floats(0, 20),
                                    st.just(math.inf)), min_size=k, max_size=k))
    return np.array(nodes, np.int64), np.array(costs, float)


limits = st.one_of(st.just(math.inf), st.floats(0, 40), st.integers(0, 30).map(float))


def nx_graph(n, tails, heads, weights):
    G = nx.MultiDiGraph()
    G.add_nodes_from(range(n))
    for u, v, w in zip(tails, heads, weights):
        G.add_edge(int(u), int(v), weight=float(w))
    return G


def nx_from_seeds(G, nodes, costs, cutoff=None):
    """Distances from a super-source joined to each seed by its initial cost."""
    H = G.copy()
    H.add_node(SUPER)
    for v, c in zip(nodes, costs):
        if np.isfinite(c):
            H.add_edge(SUPER, int(v), weight=float(c))
    d = nx.single_source_dijkstra_path_length(H, SUPER, cutoff=cutoff)
    d.pop(SUPER)
    return d


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_multi_source_nearest_matches_networkx(data):
    n, tails, heads, weights = data.draw(graphs())
    g = graph_from_arcs(n, tails, heads, weights)
    nodes, costs = data.draw(seeds(n))
    labels = np.array(data.draw(st.lists(st.integers(0, 4), min_size=len(nodes),
                                         max_size=len(nodes))), np.int64)
    limit = data.draw(limits)
    dist, label = multi_source_nearest(g.indptr, g.indices, g.weights, nodes, costs, labels,
                                       limit)
    G = nx_graph(n, tails, heads, weights)
    cutoff = None if math.isinf(limit) else limit
    ref = nx_from_seeds(G, nodes, costs, cutoff)
    # Distance per label, to check the label and the tie rule.
    per_label = {lab: nx_from_seeds(G, nodes[labels == lab], costs[labels == lab], cutoff)
                 for lab in np.unique(labels)}
    integer = np.all(weights == np.round(weights)) and np.all(
        (costs == np.round(costs)) | ~np.isfinite(costs))
    for v in range(n):
        if v not in ref:
            assert dist[v] == math.inf and label[v] == -1
            continue
        assert dist[v] == pytest.approx(ref[v], abs=TOL)
        assert dist[v] <= limit
        best = [lab for lab, d in per_label.items() if v in d and abs(d[v] - ref[v]) <= TOL]
        assert label[v] in best
        if integer:  # exact ties: the smallest label wins
            assert label[v] == min(best)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_bounded_catchments_match_networkx(data):
    n, tails, heads, weights = data.draw(graphs())
    g = graph_from_arcs(n, tails, heads, weights)
    n_src = data.draw(st.integers(0, 5))
    per = [data.draw(seeds(n, 3)) for _ in range(n_src)]
    src_ptr = np.concatenate([[0], np.cumsum([len(p[0]) for p in per])]).astype(np.int64)
    nodes = np.concatenate([p[0] for p in per] + [np.empty(0, np.int64)])
    costs = np.concatenate([p[1] for p in per] + [np.empty(0)])
    limit = data.draw(st.one_of(st.floats(0, 40), st.integers(0, 30).map(float),
                                st.just(math.inf)))
    n_threads = data.draw(st.sampled_from([1, 2]))
    s, v, c = bounded_catchments(g.indptr, g.indices, g.weights, src_ptr, nodes, costs, limit,
                                 n_threads=n_threads)
    assert np.all(np.diff(s) >= 0)  # grouped by source
    G = nx_graph(n, tails, heads, weights)
    for i, (sn, sc) in enumerate(per):
        mine = s == i
        ref = nx_from_seeds(G, sn, sc, None if math.isinf(limit) else limit)
        got = dict(zip(v[mine].tolist(), c[mine].tolist()))
        assert len(got) == mine.sum()  # each node once per source
        assert set(got) == set(ref)
        for node, d in ref.items():
            assert got[node] == pytest.approx(d, abs=TOL)
        assert np.all(c[mine] <= limit)
        assert np.all(np.diff(c[mine]) >= 0)  # settled in increasing order


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_one_to_many_matches_networkx(data):
    n, tails, heads, weights = data.draw(graphs())
    g = graph_from_arcs(n, tails, heads, weights)
    n_src = data.draw(st.integers(0, 4))
    per = [data.draw(seeds(n, 3)) for _ in range(n_src)]
    src_ptr = np.concatenate([[0], np.cumsum([len(p[0]) for p in per])]).astype(np.int64)
    nodes = np.concatenate([p[0] for p in per] + [np.empty(0, np.int64)])
    costs = np.concatenate([p[1] for p in per] + [np.empty(0)])
    targets = np.array(data.draw(st.lists(st.integers(0, n - 1), max_size=6)), np.int64)
    limit = data.draw(limits)
    out = one_to_many(g.indptr, g.indices, g.weights, src_ptr, nodes, costs, targets, limit,
                      n_threads=data.draw(st.sampled_from([1, 2])))
    assert out.shape == (n_src, len(targets))
    G = nx_graph(n, tails, heads, weights)
    for i, (sn, sc) in enumerate(per):
        ref = nx_from_seeds(G, sn, sc, None if math.isinf(limit) else limit)
        for j, t in enumerate(targets):
            assert out[i, j] == pytest.approx(ref.get(int(t), math.inf), abs=TOL)


@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_reverse_graph_is_transpose(data):
    n, tails, heads, weights = data.draw(graphs())
    g = graph_from_arcs(n, tails, heads, weights, arc_edge=np.arange(len(tails)))
    r = reverse_graph(g)
    fwd = sorted(zip(np.repeat(np.arange(n), np.diff(g.indptr)), g.indices, g.weights,
                     g.arc_edge))
    rev = sorted(zip(r.indices, np.repeat(np.arange(n), np.diff(r.indptr)), r.weights,
                     r.arc_edge))
    assert fwd == rev
    assert sorted(zip(tails, heads, weights, range(len(tails)))) == fwd


def test_limit_zero_keeps_only_zero_cost_seeds():
    g = graph_from_arcs(3, [0, 1], [1, 2], [1.0, 1.0])
    dist, lab = multi_source_nearest(g.indptr, g.indices, g.weights, np.array([0, 2]),
                                     np.array([0.0, 0.5]), np.array([3, 4]), 0.0)
    assert dist.tolist() == [0.0, math.inf, math.inf]
    assert lab.tolist() == [3, -1, -1]


def test_labels_outside_packing_range_keep_order():
    """Labels are packed beside the node in the heap; huge or negative ones are
    ranked first, so results and the tie rule are unchanged."""
    g = graph_from_arcs(4, [0, 1, 2, 3, 2], [1, 2, 1, 2, 3], [1.0, 1.0, 1.0, 1.0, 1.0])
    nodes, costs = np.array([0, 2, 3]), np.array([0.0, 0.0, 0.0])
    small = multi_source_nearest(g.indptr, g.indices, g.weights, nodes, costs,
                                 np.array([2, 1, 0]), math.inf)
    huge = np.array([2**40 + 7, 2**40, -5])  # same order as 2, 1, 0
    big = multi_source_nearest(g.indptr, g.indices, g.weights, nodes, costs, huge, math.inf)
    as_huge = {2: 2**40 + 7, 1: 2**40, 0: -5}
    assert np.array_equal(small[0], big[0])
    assert big[1].tolist() == [as_huge[int(lab)] for lab in small[1]]
    # node 1 is tied (1 s from seeds 0 and 2): the smaller label wins
    assert small[1][1] == 1 and big[1][1] == 2**40


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint32, np.int16, float])
def test_graph_from_arcs_any_integer_dtype(dtype):
    ref = graph_from_arcs(3, [2, 0, 1, 0], [0, 1, 2, 2], [4.0, 1.0, 2.0, 3.0])
    g = graph_from_arcs(3, np.array([2, 0, 1, 0], dtype), np.array([0, 1, 2, 2], dtype),
                        [4.0, 1.0, 2.0, 3.0])
    for f in ("indptr", "indices", "weights", "arc_edge"):
        assert np.array_equal(getattr(g, f), getattr(ref, f))
    assert g.indptr.dtype == np.int64 and g.indices.dtype == np.int32
    assert g.arc_edge.tolist() == [-1] * 4
    assert g.indptr.tolist() == [0, 2, 3, 4] and g.indices.tolist() == [1, 2, 2, 0]


@pytest.mark.parametrize("tails, heads, weights, match", [
    ([0, 3], [1, 1], [1.0, 1.0], "tails\\[1\\] = 3"),
    ([0, 1], [-1, 1], [1.0, 1.0], "heads\\[0\\] = -1"),
    ([0, 1], [1, 0], [1.0, np.nan], "weights\\[1\\] = nan"),
    ([0, 1], [1, 0], [np.inf, 1.0], "weights\\[0\\] = inf"),
    ([0, 1], [1], [1.0, 1.0], "same length"),
])
def test_graph_from_arcs_rejects_bad_arcs(tails, heads, weights, match):
    from access.errors import InputError
    with pytest.raises(InputError, match=match):
        graph_from_arcs(3, tails, heads, weights)


# --------------------------------------------------------------------------
# Points exactly on the end nodes of one-way edges: snapping + routing
# --------------------------------------------------------------------------
@st.composite
def oneway_networks(draw):
    """Ways on a jittered grid, most of them one-way, several vertices each.

    Edges after the first start at a large cumulative length, where lengths
    round: the case of a point a hair short of an edge's end node.
    """
    cells = draw(st.lists(st.tuples(st.integers(0, 7), st.integers(0, 7)), min_size=3, max_size=14,
                          unique=True))
    jit = draw(st.lists(st.tuples(st.integers(1, 999), st.integers(1, 999)), min_size=len(cells),
                        max_size=len(cells)))
    nodes = {i + 1: (120.0 + 0.002 * gx + 1.3e-6 * jx, 30.0 + 0.002 * gy + 1.7e-6 * jy)
             for i, ((gx, gy), (jx, jy)) in enumerate(zip(cells, jit))}
    ways = []
    for w in range(draw(st.integers(1, 10))):
        refs = draw(st.lists(st.integers(1, len(nodes)), min_size=2, max_size=5))
        ow = draw(st.sampled_from(["yes", "yes", "-1", "no"]))
        hw = draw(st.sampled_from(["residential", "tertiary", "primary"]))
        ways.append((w + 1, refs, hw, ow))
    return nodes, ways


CRS = "EPSG:32651"


def _edges(nodes, ways):
    """Edges from {id: (lon, lat)} and [(way_id, [ids], highway, oneway)]."""
    import pandas as pd

    from access.network import osm

    ids = [r for _, refs, _, _ in ways for r in refs]
    ptr = np.concatenate([[0], np.cumsum([len(refs) for _, refs, _, _ in ways])])
    attrs = pd.DataFrame([(hw, ow, "", np.nan, wid, "") for wid, _, hw, ow in ways],
                         columns=["highway", "oneway", "junction", "maxspeed", "way_id", "name"])
    return osm.edges_from_ways(np.array(ids), np.array([nodes[r][0] for r in ids]),
                               np.array([nodes[r][1] for r in ids]), ptr, attrs)


def _oracle_drive(e):
    """networkx DiGraph of the edge table under the drive mode's rules."""
    from access.network.modes import DRIVE

    G = nx.DiGraph()
    for u, v, hw, ow, length in e.edges[["u", "v", "highway", "oneway", "length_m"]].itertuples(index=False):
        if u == v:
            continue
        s = length / (DRIVE.speed_kmh[hw] / 3.6)
        for a, b, allowed in ((u, v, ow != "-1"), (v, u, ow not in ("yes",))):
            if allowed and (not G.has_edge(a, b) or G[a][b]["weight"] > s):
                G.add_edge(int(a), int(b), weight=s)
    return G


# random ways often make no usable drive edge (assume() discards those): filtering is expected here
@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(case=oneway_networks(), data=st.data())
def test_points_on_oneway_end_nodes_match_networkx(case, data):
    """Cells and facilities placed exactly on nodes of one-way edges: times
    equal networkx shortest paths between those nodes."""
    import shapely
    from hypothesis import assume
    from pyproj import Transformer

    from access.network import build, osm
    from access.network.modes import DRIVE
    from access.network.snap import snap_points
    from access.routing import nearest

    nodes, ways = case
    e = _edges(nodes, ways)
    assume(len(e.edges))
    e = osm.split_loops_and_parallels(e)
    oneway = e.edges["oneway"].isin(["yes", "-1"]).to_numpy()
    assume(oneway.any())
    ends = np.unique(np.concatenate([e.edges["u"].to_numpy()[oneway], e.edges["v"].to_numpy()[oneway]]))
    g = build.build_graph(e, DRIVE, CRS)
    # a point on a node that also lies on another road is ambiguous: skip
    node_xy, coords_xy = e.projected(CRS)
    ids = e.nodes["node_id"].to_numpy()
    lines = [shapely.LineString(coords_xy[e.offsets[i]:e.offsets[i + 1]]) for i in range(len(e.edges))]
    for n in ends:
        p = shapely.Point(node_xy[np.searchsorted(ids, n)])
        for i, (u, v) in enumerate(zip(e.edges["u"], e.edges["v"])):
            if n not in (u, v):
                assume(p.distance(lines[i]) > 0.5)
    fac_nodes = data.draw(st.lists(st.sampled_from(list(ends)), min_size=1, max_size=4, unique=True))
    tr = Transformer.from_crs("EPSG:4326", CRS, always_xy=True)

    def xy(node_ids):
        lon = e.nodes.set_index("node_id").loc[node_ids, "lon"].to_numpy()
        lat = e.nodes.set_index("node_id").loc[node_ids, "lat"].to_numpy()
        return np.column_stack(tr.transform(lon, lat))

    cells = snap_points(xy(list(ends)), g, e, DRIVE)
    facs = snap_points(xy(fac_nodes), g, e, DRIVE)
    assert cells.ok.all() and facs.ok.all()
    sec, _ = nearest(g, cells, facs)
    G = _oracle_drive(e)
    G.add_nodes_from(int(n) for n in ends)
    ref = nx.multi_source_dijkstra_path_length(G.reverse(copy=True), [int(f) for f in fac_nodes])
    for i, n in enumerate(ends):
        want = ref.get(int(n), math.inf)
        assert sec[i] == pytest.approx(want, abs=1e-6, rel=1e-9), (n, sec[i], want)
