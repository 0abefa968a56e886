"""Service-area polygons against networkx shortest paths (the oracle)."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point

from access.coverage.outline import fill_pinches
from access.coverage.service_areas import (
    dissolve,
    dissolve_by_category,
    reached_segments,
    service_areas,
)
from access.errors import InputError
from access.network.graph import Graph

SPEED = 1.25  # m/s


def _csr(n, tails, heads, weights, arc_edge, xy) -> Graph:
    """Tiny CSR builder (independent of access.routing)."""
    tails, heads = np.asarray(tails, np.int64), np.asarray(heads, np.int64)
    o = np.lexsort((heads, tails))
    indptr = np.concatenate([[0], np.cumsum(np.bincount(tails, minlength=n))])
    return Graph(mode="walk", indptr=indptr, indices=heads[o],
                 weights=np.asarray(weights, float)[o], arc_edge=np.asarray(arc_edge, np.int64)[o],
                 node_xy=np.asarray(xy, float), node_id=np.arange(n), component=np.zeros(n, np.int32))


def _grid_network(side=9, spacing=100.0, seed=3):
    """A jittered grid with missing streets, bent streets and one-way arcs."""
    rng = np.random.default_rng(seed)
    n = side * side
    ij = np.arange(n)
    r, c = ij // side, ij % side
    xy = np.column_stack([c, r]) * spacing + rng.uniform(-20, 20, (n, 2))
    pairs = [(u, u + 1) for u in ij[c < side - 1]] + [(u, u + side) for u in ij[r < side - 1]]
    keep = rng.random(len(pairs)) > 0.2
    geoms, tails, heads, w, ae = [], [], [], [], []
    for a, b in [p for p, k in zip(pairs, keep) if k]:
        pa, pb = xy[a], xy[b]
        if rng.random() < 0.3:  # a bend: the edge is longer than the straight line
            mid = (pa + pb) / 2 + rng.uniform(-30, 30, 2)
            line = LineString([pa, mid, pb])
        else:
            line = LineString([pa, pb])
        if rng.random() < 0.5:  # geometry stored in either direction
            line = line.reverse()
        e = len(geoms)
        geoms.append(line)
        t = line.length / SPEED
        oneway = rng.random() < 0.1
        tails += [a] if oneway else [a, b]
        heads += [b] if oneway else [b, a]
        w += [t] if oneway else [t, t]
        ae += [e] if oneway else [e, e]
    g = _csr(n, tails, heads, w, ae, xy)
    G = nx.DiGraph()
    G.add_nodes_from(range(n))
    for a, b, t in zip(tails, heads, w):
        G.add_edge(a, b, time=t)
    return g, gpd.GeoSeries(geoms, crs="EPSG:32650"), G


def _node_times(G, sources, limit, direction="to"):
    H = G.reverse() if direction == "to" else G
    rows = []
    for k, s in enumerate(sources):
        d = nx.single_source_dijkstra_path_length(H, s, cutoff=limit, weight="time")
        rows += [(k, v, t) for v, t in d.items()]
    return pd.DataFrame(rows, columns=["source", "node", "seconds"]), H


@pytest.mark.parametrize("method", ["raster", "exact"])
@pytest.mark.parametrize("direction", ["to", "from"])
def test_reachable_inside_far_nodes_outside(method, direction):
    g, edges, G = _grid_network()
    sources = [0, 40, 44, 80]
    limit, buf = 300.0, 30.0
    nt, _ = _node_times(G, sources, limit, direction)
    areas = service_areas(g, edges, nt, limit, buffer_m=buf, direction=direction, method=method)
    assert areas["source"].tolist() == [0, 1, 2, 3]
    max_edge = edges.length.max()
    res = buf / 4
    for k in range(len(sources)):
        poly = areas.geometry.iloc[k]
        assert poly.is_valid
        reached = nt.loc[nt["source"] == k, "node"].to_numpy()
        pts = shapely.points(g.node_xy)
        assert shapely.contains(poly, pts[reached]).all()
        # Nodes farther than (longest edge + buffer + pixel) from every reached
        # node cannot be near any reached road piece.
        d = np.min(np.hypot(*(g.node_xy[:, None, :] - g.node_xy[reached][None]).transpose(2, 0, 1)),
                   axis=1)
        far = d > max_edge + buf + 2 * res
        assert far.any()
        assert not shapely.intersects(poly, pts[far]).any()


def _bent():
    """0 --100 m-- 1 ~~300 m bent~~ 2, edge 1-2 stored from 2 to 1."""
    xy = [(0.0, 0.0), (100.0, 0.0), (200.0, 0.0)]
    e0 = LineString([(0, 0), (100, 0)])
    e1 = LineString([(100, 0), (100, 100), (200, 100), (200, 0)]).reverse()
    g = _csr(3, [0, 1, 1, 2], [1, 0, 2, 1], [100.0, 100.0, 300.0, 300.0], [0, 0, 1, 1], xy)
    return g, gpd.GeoSeries([e0, e1], crs="EPSG:32650")


@pytest.mark.parametrize("method", ["exact", "raster"])
def test_partial_edge_cut_along_its_geometry(method):
    g, edges = _bent()
    # From node 0 with 250 s at 1 m/s: 100 m to node 1, then 150 m along the
    # bend: up to (150, 100).
    nt = pd.DataFrame({"source": [0, 0], "node": [0, 1], "seconds": [0.0, 100.0]})
    a = service_areas(g, edges, nt, 250.0, buffer_m=5.0, method=method, resolution_m=1.0)
    poly = a.geometry.iloc[0]
    tol = 0 if method == "exact" else 1.5
    assert poly.contains(Point(100, 50)) and poly.contains(Point(150 - tol, 100))
    assert not poly.intersects(Point(160 + tol, 100))
    assert not poly.intersects(Point(200, 50))
    assert poly.bounds[2] == pytest.approx(155.0, abs=tol + 1e-6)


def test_pieces_full_edge_once_and_both_ends_meeting():
    g, edges = _bent()
    # Both ends of the bent edge reached, 160 + 160 >= 300: one full edge.
    nt = pd.DataFrame({"source": [0, 0, 0], "node": [0, 1, 2], "seconds": [100.0, 0.0, 0.0]})
    src, pieces = reached_segments(g, edges, nt, 160.0, direction="from")
    lengths = sorted(shapely.length(pieces).round(6))
    assert lengths == [100.0, 300.0]
    # 100 + 100 < 300: two pieces of 100 m from each end
    src, pieces = reached_segments(g, edges, nt.iloc[1:], 100.0, direction="from")
    assert sorted(shapely.length(pieces).round(6)) == [100.0, 100.0, 100.0]


def test_one_way_direction():
    xy = [(0.0, 0.0), (100.0, 0.0)]
    g = _csr(2, [0], [1], [100.0], [0], xy)
    edges = gpd.GeoSeries([LineString(xy)])
    # "to" node 1: from node 0 one can reach it; the whole edge is covered.
    src, p = reached_segments(g, edges, pd.DataFrame(
        {"source": [0, 0], "node": [1, 0], "seconds": [0.0, 100.0]}), 100.0, "to")
    assert shapely.length(p).sum() == pytest.approx(100.0)
    # "from" node 1: nothing leaves node 1.
    src, p = reached_segments(g, edges, pd.DataFrame(
        {"source": [0], "node": [1], "seconds": [0.0]}), 100.0, "from")
    assert len(p) == 0


def test_dissolve_and_by_category():
    g, edges, G = _grid_network()
    nt, _ = _node_times(G, [0, 40, 80], 200.0)
    a = service_areas(g, edges, nt, 200.0, buffer_m=20.0)
    fac = pd.DataFrame({"category": ["clinic", "school", "clinic"]})
    by = dissolve_by_category(a, fac)
    assert by["category"].tolist() == ["clinic", "school"]
    assert by.geometry.iloc[0].equals(shapely.union_all(a.geometry.values[[0, 2]]))
    assert dissolve(a).area == pytest.approx(shapely.union_all(a.geometry.values).area)


def test_bad_inputs():
    g, edges = _bent()
    with pytest.raises(InputError, match="node_times"):
        service_areas(g, edges, pd.DataFrame({"node": [0]}), 10.0)
    with pytest.raises(InputError, match="edge row"):
        service_areas(g, edges.iloc[:1], pd.DataFrame(
            {"source": [0], "node": [0], "seconds": [0.0]}), 10.0)


def _pinched(mask: np.ndarray) -> list[tuple[int, int]]:
    """2 x 2 blocks whose set pixels touch only at a corner (plain loops)."""
    h, w = mask.shape
    out = []
    for i in range(h - 1):
        for j in range(w - 1):
            a, b, c, d = mask[i, j], mask[i, j + 1], mask[i + 1, j], mask[i + 1, j + 1]
            if (a and d and not b and not c) or (b and c and not a and not d):
                out.append((i, j))
    return out


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 24), st.integers(2, 24), st.floats(0.2, 0.7))
def test_raster_polygons_are_valid_after_filling_pinches(seed, h, w, density):
    from affine import Affine
    from rasterio import features

    rng = np.random.default_rng(seed)
    mask = rng.random((h, w)) < density
    mask[[0, -1], :] = mask[:, [0, -1]] = False  # a margin, as the grid of _raster_areas has
    before = mask.copy()
    fill_pinches(mask)
    assert _pinched(mask) == []
    assert (mask | before).sum() == mask.sum()  # pixels are only added
    # each added pixel joins two set pixels that touched only at a corner
    pad = np.pad(mask, 1).astype(int)
    for i, j in zip(*np.nonzero(mask & ~before)):
        assert pad[i, j + 1] + pad[i + 2, j + 1] + pad[i + 1, j] + pad[i + 1, j + 2] >= 2
    parts = [shapely.geometry.shape(g) for g, _ in
             features.shapes(mask.view(np.uint8), mask=mask, transform=Affine(2.0, 0, 0, 0, 2.0, 0), connectivity=8)]
    geom = shapely.multipolygons(parts) if parts else shapely.Polygon()
    assert geom.is_valid
    assert geom.area == pytest.approx(4.0 * mask.sum())


def test_dissolve_returns_a_single_area_as_drawn():
    g, edges, G = _grid_network()
    nt, _ = _node_times(G, [0], 400.0)
    a = service_areas(g, edges, nt, 400.0, buffer_m=10.0, resolution_m=5.0)
    one = dissolve(a)
    assert one.is_valid and one is a.geometry.values[0]
    assert one.area == pytest.approx(shapely.union_all(a.geometry.values).area)


def _two_discs(res=25.0, x0=1000.0, y0=2000.0, h=40, w=60):
    ys, xs = np.mgrid[0:h, 0:w]
    cx, cy = x0 + (xs + 0.5) * res, y0 + (ys + 0.5) * res
    m = ((cx - 1500) ** 2 + (cy - 2500) ** 2 < 400 ** 2) | ((cx - 2200) ** 2 + (cy - 2300) ** 2 < 200 ** 2)
    return m, cx, cy


def test_split_by_unit_keeps_pixels_whose_centre_is_inside():
    from access.coverage.service_areas import ReachMask, split_by_unit

    m, cx, cy = _two_discs()
    tri = shapely.Polygon([(1010, 2010), (2400, 2100), (1500, 2990)])
    sq = shapely.box(2000, 2000, 2700, 2500)  # overlaps the triangle: each unit gets its centres
    units = gpd.GeoDataFrame({"code": ["tri", "sq"]}, geometry=[tri, sq])
    # the same pixels drawn as one mask and as two overlapping windows of it
    whole = [ReachMask(m.copy(), 1000.0, 2000.0, 25.0)]
    apart = [ReachMask(m[:, :35].copy(), 1000.0, 2000.0, 25.0), ReachMask(m[:, 20:].copy(), 1500.0, 2000.0, 25.0)]
    for masks in (whole, apart):
        codes, geoms = split_by_unit(masks, units)
        assert list(codes) == ["tri", "sq"]
        for poly, g in zip((tri, sq), geoms):
            # oracle: the pixels of the discs whose centre the unit contains (no pinches in discs)
            expected = (shapely.contains_xy(poly, cx, cy) & m).sum()
            assert g.is_valid and g.area == pytest.approx(expected * 625.0, abs=1e-6)
    # no unit: every pixel once
    codes, geoms = split_by_unit(apart, None)
    assert list(codes) == [""] and geoms[0].area == pytest.approx(m.sum() * 625.0)
    # a unit the masks never reach gets no row
    far = gpd.GeoDataFrame({"code": ["far"]}, geometry=[shapely.box(9000, 9000, 9100, 9100)])
    assert len(split_by_unit(whole, far)[0]) == 0
