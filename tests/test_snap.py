"""Snapping points onto the nearest point of the nearest usable edge."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Transformer

from access.network import build, osm
from access.network.modes import DRIVE, WALK
from access.network.snap import snap_points, unsnapped

CRS = "EPSG:32651"
TO_XY = Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
WALK_MS = 4.5 / 3.6


def make_edges(nodes, ways):
    """Edges from {id: (lon, lat)} and [(way_id, [ids], highway, oneway)]."""
    ids, lon, lat, ptr, rows = [], [], [], [0], []
    for wid, refs, hw, ow in ways:
        for r in refs:
            ids.append(r)
            lon.append(nodes[r][0])
            lat.append(nodes[r][1])
        ptr.append(len(ids))
        rows.append((hw, ow, "", np.nan, wid, ""))
    attrs = pd.DataFrame(rows, columns=["highway", "oneway", "junction", "maxspeed", "way_id", "name"])
    return osm.edges_from_ways(np.array(ids), np.array(lon), np.array(lat), np.array(ptr), attrs)


def xy_of(lon, lat):
    x, y = TO_XY.transform(lon, lat)
    return np.array([[x, y]])


@pytest.fixture
def long_road():
    # A-B is about 1 km east-west; B-C a short spur.
    nodes = {1: (120.0, 30.0), 2: (120.0 + 1000 / 96_400, 30.0), 3: (120.0 + 1100 / 96_400, 30.0)}
    e = make_edges(nodes, [(1, [1, 2], "residential", "yes"), (2, [2, 3], "residential", "no")])
    return e, nodes


def line_xy(nodes, refs):
    x, y = TO_XY.transform([nodes[r][0] for r in refs], [nodes[r][1] for r in refs])
    return shapely.LineString(np.column_stack([x, y]))


def test_point_beside_middle_of_long_edge(long_road):
    e, nodes = long_road
    g = build.build_graph(e, WALK, CRS)
    ab = line_xy(nodes, [1, 2])
    mid = ab.interpolate(0.5, normalized=True)
    p = np.array([[mid.x + 3.0, mid.y + 40.0]])
    s = snap_points(p, g, e, WALK)
    d = shapely.Point(p[0]).distance(ab)
    frac = ab.project(shapely.Point(p[0]), normalized=True)
    T = e.edges["length_m"].iloc[0] / WALK_MS  # whole edge, seconds
    assert s.ok[0] and s.edge[0] == 0
    assert s.dist[0] == pytest.approx(d, abs=1e-6)
    assert s.pos[0] == pytest.approx(frac, abs=1e-9)
    assert s.to_a[0] == pytest.approx(d / WALK_MS + frac * T, rel=1e-9)
    assert s.to_b[0] == pytest.approx(d / WALK_MS + (1 - frac) * T, rel=1e-9)
    assert s.from_a[0] == pytest.approx(s.to_a[0]) and s.from_b[0] == pytest.approx(s.to_b[0])
    # ~500 m each way, not the far node's full 1 km
    assert 380 < s.to_a[0] < 440 and 380 < s.to_b[0] < 440
    assert g.node_id[s.node_a[0]] == 1 and g.node_id[s.node_b[0]] == 2


def test_oneway_edge_forbidden_direction_is_inf(long_road):
    e, nodes = long_road
    g = build.build_graph(e, DRIVE, CRS)
    ab = line_xy(nodes, [1, 2])
    mid = ab.interpolate(0.3, normalized=True)
    p = shapely.Point(mid.x, mid.y - 10.0)
    s = snap_points(np.array([[p.x, p.y]]), g, e, DRIVE)
    T = e.edges["length_m"].iloc[0] / (20 / 3.6)
    off = p.distance(ab) / (DRIVE.access_speed_kmh / 3.6)
    f = ab.project(p, normalized=True)
    assert np.isinf(s.to_a[0]) and np.isinf(s.from_b[0])
    assert s.to_b[0] == pytest.approx(off + (1 - f) * T, rel=1e-9)
    assert s.from_a[0] == pytest.approx(f * T + off, rel=1e-9)


def test_far_and_nan_points_reported(long_road):
    e, nodes = long_road
    g = build.build_graph(e, WALK, CRS)
    ab = line_xy(nodes, [1, 2, 3])
    mid = ab.interpolate(0.5, normalized=True)
    pts = np.array([[mid.x, mid.y + 600.0], [np.nan, 1.0], [mid.x, mid.y + 20.0]])
    s = snap_points(pts, g, e, WALK, max_dist_m=500.0)
    assert list(s.ok) == [False, False, True]
    assert list(unsnapped(s)) == [0, 1]
    assert s.dist[0] == pytest.approx(shapely.Point(pts[0]).distance(ab), abs=1e-6)
    assert np.isinf(s.dist[1])
    for k in ("to_a", "to_b", "from_a", "from_b"):
        assert np.isinf(getattr(s, k)[:2]).all()
    assert list(s.node_a[:2]) == [-1, -1] and list(s.edge[:2]) == [-1, -1]


def test_curved_road_snaps_to_polyline_not_chord():
    # An L-shaped way A-(corner)-B: the corner is a shape node, not a graph node.
    nodes = {1: (120.0, 30.0), 2: (120.005, 30.0), 3: (120.005, 30.005)}
    e = make_edges(nodes, [(1, [1, 2, 3], "residential", "no")])
    g = build.build_graph(e, WALK, CRS)
    assert g.n_nodes == 2
    corner = xy_of(*nodes[2])
    p = corner + np.array([[5.0, -5.0]])
    s = snap_points(p, g, e, WALK)
    assert s.dist[0] == pytest.approx(shapely.Point(p[0]).distance(line_xy(nodes, [1, 2, 3])), abs=1e-6)
    assert s.dist[0] < 8.0


def test_unusable_edges_are_ignored():
    nodes = {1: (120.0, 30.0), 2: (120.01, 30.0), 3: (120.0, 30.001), 4: (120.01, 30.001)}
    e = make_edges(nodes, [(1, [1, 2], "motorway", "no"), (2, [3, 4], "footway", "no")])
    g = build.build_graph(e, WALK, CRS)
    p = xy_of(120.005, 29.9995)  # nearer the motorway
    s = snap_points(p, g, e, WALK)
    assert s.edge[0] == 1


@st.composite
def networks(draw):
    n = draw(st.integers(2, 12))
    coords = draw(st.lists(st.tuples(st.floats(0, 0.01), st.floats(0, 0.01)), min_size=n, max_size=n))
    nodes = {i + 1: (120.0 + x, 30.0 + y) for i, (x, y) in enumerate(coords)}
    ways = []
    for w in range(draw(st.integers(1, 8))):
        refs = draw(st.lists(st.integers(1, n), min_size=2, max_size=4))
        hw = draw(st.sampled_from(["residential", "footway", "motorway"]))
        ways.append((w + 1, refs, hw, "no"))
    pts = draw(st.lists(st.tuples(st.floats(-0.002, 0.012), st.floats(-0.002, 0.012)), min_size=1, max_size=20))
    piece = draw(st.sampled_from([5.0, 50.0, 100.0, 1000.0]))
    return nodes, ways, pts, piece


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_snap_distance_equals_shapely(case):
    nodes, ways, pts, piece = case
    if not any(len(set(r)) >= 2 for _, r, _, _ in ways):
        return
    e = make_edges(nodes, ways)
    if not len(e.edges):
        return
    g = build.build_graph(e, WALK, CRS)
    usable_lines = [usable_lines_by_edge(e, i) for i, hw in enumerate(e.edges["highway"])
                    if hw in WALK.speed_kmh]
    xy = np.vstack([xy_of(120.0 + a, 30.0 + b) for a, b in pts])
    s = snap_points(xy, g, e, WALK, max_dist_m=1e7, piece_m=piece)
    if not usable_lines:
        assert not s.ok.any()
        return
    union = shapely.union_all(usable_lines)
    ref = shapely.distance(shapely.points(xy), union)
    assert s.ok.all()
    np.testing.assert_allclose(s.dist, ref, atol=1e-6)
    # the reported edge is at that distance too, and times are consistent
    for i in range(len(xy)):
        assert shapely.Point(xy[i]).distance(usable_lines_by_edge(e, s.edge[i])) == pytest.approx(ref[i], abs=1e-6)
    assert np.all(s.to_a >= s.dist / WALK_MS - 1e-9) and np.all((s.pos >= 0) & (s.pos <= 1))


def usable_lines_by_edge(e, i):
    c = e.coords[e.offsets[i]:e.offsets[i + 1]]
    x, y = TO_XY.transform(c[:, 0], c[:, 1])
    line = shapely.LineString(np.column_stack([x, y]))
    # shapely measures nothing to a zero-length line: use its point
    return line if line.length > 0 else shapely.Point(x[0], y[0])


def test_snap_many_points_matches_strtree():
    # A perturbed grid with diagonals; exact nearest distances from shapely's STRtree.
    rng = np.random.default_rng(1)
    k = 12
    nodes = {i * k + j + 1: (120.0 + 0.001 * i + rng.normal(0, 1e-4), 30.0 + 0.001 * j + rng.normal(0, 1e-4))
             for i in range(k) for j in range(k)}
    ways, w = [], 1
    for i in range(k):
        for j in range(k):
            a = i * k + j + 1
            if i + 1 < k and rng.random() > 0.2:
                ways.append((w, [a, a + k], "residential", "no")); w += 1
            if j + 1 < k and rng.random() > 0.2:
                ways.append((w, [a, a + 1], "residential", "no")); w += 1
            if i + 1 < k and j + 1 < k and rng.random() > 0.8:
                ways.append((w, [a, a + k + 1], "residential", "no")); w += 1
    e = make_edges(nodes, ways)
    g = build.build_graph(e, WALK, CRS)
    lines = [usable_lines_by_edge(e, i) for i in range(len(e.edges))]
    lo = g.node_xy.min(0) - 200
    hi = g.node_xy.max(0) + 200
    xy = rng.uniform(lo, hi, size=(3000, 2))
    s = snap_points(xy, g, e, WALK, max_dist_m=150.0, piece_m=20.0)
    tree = shapely.STRtree(lines)
    _, dist = tree.query_nearest(shapely.points(xy), return_distance=True, all_matches=False)
    np.testing.assert_allclose(np.where(s.ok, s.dist, np.nan), np.where(dist <= 150, dist, np.nan),
                               atol=1e-6)
    np.testing.assert_allclose(s.dist, dist, atol=1e-6)
    assert (s.ok == (dist <= 150.0)).all()


def test_point_on_end_node_of_oneway_edge_sits_on_the_node():
    """A point exactly on the end node of a one-way edge whose cumulative
    lengths round (pos came out 0.9999999999999998): it is at the node, reached
    from it and leaving from it at no cost; it is not stuck behind the edge."""
    nodes = {1: (120.0, 30.002829168316715), 2: (120.001, 30.001533982658444),
             3: (120.002, 30.002928731117123), 4: (120.003, 30.000242508071686),
             5: (120.004, 30.001822067495986), 6: (120.005, 30.00112945975313)}
    e = make_edges(nodes, [(1, [1, 2, 3], "residential", "no"), (2, [3, 4, 5, 6], "residential", "yes")])
    g = build.build_graph(e, DRIVE, CRS)
    s = snap_points(np.vstack([xy_of(*nodes[6]), xy_of(*nodes[3])]), g, e, DRIVE)
    assert s.edge[0] == 1 and g.node_id[s.node_b[0]] == 6
    assert s.pos[0] == 1.0
    assert s.from_b[0] == pytest.approx(0.0, abs=1e-6) and s.to_b[0] == pytest.approx(0.0, abs=1e-6)
    assert np.isinf(s.to_a[0])  # leaving backwards along the one-way edge stays forbidden
    assert s.pos[1] in (0.0, 1.0) and min(s.from_a[1], s.from_b[1]) == pytest.approx(0.0, abs=1e-6)


def test_point_a_few_centimetres_short_of_a_node_is_not_moved():
    """Only points within NODE_TOL_M of a node are put on it."""
    from access.network.snap import NODE_TOL_M

    e = make_edges({1: (120.0, 30.0), 2: (120.001, 30.0)}, [(1, [1, 2], "residential", "yes")])
    g = build.build_graph(e, DRIVE, CRS)
    a, b = xy_of(120.0, 30.0)[0], xy_of(120.001, 30.0)[0]
    u = (b - a) / np.hypot(*(b - a))
    s = snap_points(np.vstack([b - u * NODE_TOL_M / 2, b - u * 0.05]), g, e, DRIVE)
    assert s.pos[0] == 1.0 and s.from_b[0] == pytest.approx(0.0, abs=1e-6)
    assert s.pos[1] < 1.0 and np.isinf(s.from_b[1])


def test_nearest_segment_search_split_over_threads_matches_brute_force():
    # 20,000 points: enough for the search to be split over the cores
    from access.network import snap as snap_mod

    rng = np.random.default_rng(3)
    m = 400
    a = rng.uniform(0, 3000, (m, 2))
    b = a + rng.normal(0, 120, (m, 2))
    coords = np.empty((2 * m, 2))
    coords[0::2], coords[1::2] = a, b
    idx = snap_mod.segment_index(coords, np.arange(0, 2 * m + 1, 2), np.ones(m, bool), 50.0)
    p = rng.uniform(-100, 3100, (20_000, 2))
    seg, t, dist = snap_mod._grid_nearest(
        p[:, 0].copy(), p[:, 1].copy(), idx.x0, idx.y0, idx.dx, idx.dy, float(idx.origin[0]),
        float(idx.origin[1]), idx.cell, idx.shape[0], idx.shape[1], idx.cell_ptr, idx.cell_segs, 80.0)
    # brute force: distance from every point to every segment
    d = b - a
    r = p[:, None, :] - a[None, :, :]
    u = np.clip((r * d).sum(-1) / (d * d).sum(-1), 0.0, 1.0)
    full = np.hypot(*(r - u[..., None] * d).transpose(2, 0, 1))
    best = full.min(axis=1)
    within = best <= 80.0
    assert within.sum() > 5_000 and (~within).sum() > 1_000
    assert np.array_equal(seg >= 0, within)
    np.testing.assert_allclose(dist[within], best[within], rtol=0, atol=1e-9)
    assert np.all(np.isinf(dist[~within]))
    np.testing.assert_allclose(full[np.flatnonzero(within), idx.seg_edge[seg[within]]], best[within], atol=1e-9)
