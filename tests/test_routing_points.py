"""Point-level queries against networkx on graphs with the points inserted as
nodes that split their edges (so the along-edge part is routed by networkx)."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from access.errors import InputError
from access.network.snap import Snap
from access.routing import catchments, graph_from_arcs, nearest, node_catchments, od_table
from access.routing.queries import catchment_blocks
from access.siting import fca

TOL = 1e-6
BOTH, AB, BA = 0, 1, 2


# --------------------------------------------------------------------------
# A tiny world: undirected edge table + points on edges
# --------------------------------------------------------------------------
def make_graph(n, ea, eb, t_ab, t_ba, way):
    """Arcs of each edge in its allowed directions, tagged with the edge row."""
    tails, heads, w, edge = [], [], [], []
    for e in range(len(ea)):
        if way[e] in (BOTH, AB):
            tails.append(ea[e]); heads.append(eb[e]); w.append(t_ab[e]); edge.append(e)
        if way[e] in (BOTH, BA):
            tails.append(eb[e]); heads.append(ea[e]); w.append(t_ba[e]); edge.append(e)
    return graph_from_arcs(n, tails, heads, w, arc_edge=edge)


def make_snap(ea, eb, t_ab, t_ba, way, edge, pos, off, ok):
    """Snap fields as the contract defines them (off-road leg both ways)."""
    edge = np.asarray(edge, np.int64)
    pos = np.asarray(pos, float)
    off = np.asarray(off, float)
    ok = np.asarray(ok, bool)
    e = np.where(ok, edge, 0)
    ab = np.isin(np.asarray(way)[e], (BOTH, AB))
    ba = np.isin(np.asarray(way)[e], (BOTH, BA))
    tab, tba = np.asarray(t_ab)[e], np.asarray(t_ba)[e]
    inf = np.inf
    to_a = np.where(ba, off + pos * tba, inf)
    to_b = np.where(ab, off + (1 - pos) * tab, inf)
    from_a = np.where(ab, pos * tab + off, inf)
    from_b = np.where(ba, (1 - pos) * tba + off, inf)
    bad = ~ok
    f = lambda a, fill: np.where(bad, fill, a)  # noqa: E731
    return Snap(
        node_a=f(np.asarray(ea)[e], -1).astype(np.int64),
        node_b=f(np.asarray(eb)[e], -1).astype(np.int64),
        to_a=f(to_a, inf), to_b=f(to_b, inf), from_a=f(from_a, inf), from_b=f(from_b, inf),
        edge=f(edge, -1).astype(np.int64), pos=f(pos, 0.0),
        dist=f(off * 1.25, inf), ok=ok,
    )


def oracle(n, ea, eb, t_ab, t_ba, way, points):
    """networkx graph with every point a node hanging off its own split node.

    ``points`` maps a name to (edge, pos, off, ok).
    """
    G = nx.MultiDiGraph()
    G.add_nodes_from(range(n))
    on_edge = {}
    for name, (e, p, off, ok) in points.items():
        if ok:
            on_edge.setdefault(e, []).append((p, name, off))
    for e in range(len(ea)):
        chain = [(0.0, ea[e])]
        for p, name, off in sorted(on_edge.get(e, []), key=lambda x: x[0]):
            split = ("split", name)
            chain.append((p, split))
            G.add_edge(split, name, weight=off)
            G.add_edge(name, split, weight=off)
        chain.append((1.0, eb[e]))
        for k, ((p0, u), (p1, v)) in enumerate(zip(chain[:-1], chain[1:])):
            if p1 == p0 and 0 < k < len(chain) - 2:
                # Two points at the same spot: zero length, so either order.
                G.add_edge(u, v, weight=0.0)
                G.add_edge(v, u, weight=0.0)
            if way[e] in (BOTH, AB):
                G.add_edge(u, v, weight=(p1 - p0) * t_ab[e])
            if way[e] in (BOTH, BA):
                G.add_edge(v, u, weight=(p1 - p0) * t_ba[e])
    for name, (_, _, _, ok) in points.items():
        G.add_node(name)
    return G


@st.composite
def worlds(draw):
    n = draw(st.integers(2, 10))
    n_e = draw(st.integers(1, 16))
    ea, eb = [], []
    for _ in range(n_e):
        a = draw(st.integers(0, n - 1))
        b = draw(st.integers(0, n - 2))
        ea.append(a)
        eb.append(b if b < a else b + 1)  # no loops; parallel edges allowed
    t_ab = draw(st.lists(st.floats(1, 100), min_size=n_e, max_size=n_e))
    same_speed = draw(st.booleans())
    t_ba = t_ab if same_speed else draw(st.lists(st.floats(1, 100), min_size=n_e, max_size=n_e))
    way = draw(st.lists(st.sampled_from([BOTH, BOTH, AB, BA]), min_size=n_e, max_size=n_e))

    def pts(k):
        out = []
        for _ in range(k):
            e = draw(st.integers(0, n_e - 1))
            p = draw(st.one_of(st.floats(0, 1), st.sampled_from([0.0, 0.5, 1.0])))
            off = draw(st.one_of(st.floats(0, 30), st.just(0.0)))
            ok = draw(st.booleans()) or draw(st.booleans())
            out.append((e, p, off, ok))
        return out

    cells = pts(draw(st.integers(0, 8)))
    facs = pts(draw(st.integers(0, 5)))
    # Sometimes force a cell and a facility onto the same edge.
    if cells and facs and draw(st.booleans()):
        facs[0] = (cells[0][0], draw(st.floats(0, 1)), facs[0][2], True)
        cells[0] = (cells[0][0], cells[0][1], cells[0][2], True)
    return n, ea, eb, t_ab, t_ba, way, cells, facs


def build(world):
    n, ea, eb, t_ab, t_ba, way, cells, facs = world
    g = make_graph(n, ea, eb, t_ab, t_ba, way)

    def snap(pts):
        if not pts:
            return make_snap(ea, eb, t_ab, t_ba, way, [], [], [], [])
        e, p, off, ok = zip(*pts)
        return make_snap(ea, eb, t_ab, t_ba, way, e, p, off, ok)

    points = {("c", i): c for i, c in enumerate(cells)}
    points.update({("f", j): f for j, f in enumerate(facs)})
    G = oracle(n, ea, eb, t_ab, t_ba, way, points)
    return g, snap(cells), snap(facs), G


def all_pairs(G, cells, facs):
    """Seconds cell -> facility for every reachable pair (None where unreachable)."""
    R = G.reverse(copy=False)
    t = {}
    for j, f in enumerate(facs):
        if not f[3]:
            continue
        d = nx.single_source_dijkstra_path_length(R, ("f", j))
        for i, c in enumerate(cells):
            if c[3] and ("c", i) in d:
                t[(i, j)] = d[("c", i)]
    return t


def expected_nearest(pairs, n_cells, limit, penalty):
    sec = np.full(n_cells, np.inf)
    for (i, j), t in pairs.items():
        sec[i] = min(sec[i], t + penalty)
    sec[~(sec <= limit)] = np.inf
    return sec


# --------------------------------------------------------------------------
# Random worlds
# --------------------------------------------------------------------------
settings_ = settings(max_examples=120, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])
limits = st.one_of(st.just(math.inf), st.floats(0, 200))
penalties = st.one_of(st.just(0.0), st.floats(0, 60))


@settings_
@given(world=worlds(), limit=limits, penalty=penalties)
# A facility a hair past the cell on its edge: the same-edge trip rounds to exactly the limit.
@example(world=(2, [0, 0], [1, 1], [1.0, 1.0], [1.0, 1.0], [0, 0], [(0, 0.0, 0.0, False)] * 4
                + [(0, 0.0, 0.0, True)], [(0, 2.3550902301021455e-117, 0.0, True)]),
         limit=0.0, penalty=0.0)
def test_nearest_matches_networkx(world, limit, penalty):
    g, cells, facs, G = build(world)
    pairs = all_pairs(G, world[6], world[7])
    sec, fac = nearest(g, cells, facs, limit_s=limit, penalty_s=penalty)
    want = expected_nearest(pairs, len(cells), limit, penalty)
    # a nearest trip right at the limit may fall either side by rounding, as in the catchment tests
    best = expected_nearest(pairs, len(cells), math.inf, penalty)
    with np.errstate(invalid="ignore"):  # inf - inf: no trip, not near
        near = np.abs(best - limit) < 1e-9
    np.testing.assert_allclose(sec[~near], want[~near], atol=TOL, rtol=0)
    assert all(np.isinf(sec[i]) or sec[i] == pytest.approx(best[i], abs=TOL) for i in np.flatnonzero(near))
    for i in range(len(cells)):
        if np.isfinite(sec[i]):
            assert fac[i] >= 0
            assert pairs[(i, fac[i])] + penalty == pytest.approx(sec[i], abs=TOL)
        else:
            assert fac[i] == -1


@settings_
@given(world=worlds(), limit=st.floats(0, 200), penalty=penalties)
def test_catchments_match_networkx(world, limit, penalty):
    g, cells, facs, G = build(world)
    pairs = all_pairs(G, world[6], world[7])
    df = catchments(g, facs, cells, limit_s=limit, penalty_s=penalty)
    assert list(df.columns) == ["facility", "cell", "seconds"]
    assert df["facility"].dtype == np.int64 and df["cell"].dtype == np.int64
    want = {(j, i): t + penalty for (i, j), t in pairs.items() if t + penalty <= limit}
    got = {(f, c): s for f, c, s in df.itertuples(index=False)}
    # Pairs right at the limit may fall either side by rounding (either way:
    # a true time just above the limit may round to it, and vice versa).
    near = {(j, i) for (i, j), t in pairs.items() if abs(t + penalty - limit) < 1e-9}
    assert set(got) - near == set(want) - near
    for k in set(got) & set(want):
        assert got[k] == pytest.approx(want[k], abs=TOL)
    assert not df.duplicated(["facility", "cell"]).any()


@settings_
@given(world=worlds(), limit=st.floats(0, 200), penalty=penalties, block=st.integers(1, 40))
def test_catchment_blocks_and_streamed_2sfca_match_networkx(world, limit, penalty, block):
    g, cells, facs, G = build(world)
    pairs = all_pairs(G, world[6], world[7])
    blocks = list(catchment_blocks(g, facs, cells, limit_s=limit, penalty_s=penalty, block_pairs=block))
    rows = np.concatenate([r for r, _ in blocks]) if blocks else np.empty(0, np.int64)
    assert rows.tolist() == list(range(len(facs)))  # every facility once, in order
    got = {(int(r[f]), c): s for r, tb in blocks for f, c, s in tb.itertuples(index=False)}
    want = {(j, i): t + penalty for (i, j), t in pairs.items() if t + penalty <= limit}
    near = {(j, i) for (i, j), t in pairs.items() if abs(t + penalty - limit) < 1e-9}
    assert set(got) - near == set(want) - near
    # 2SFCA by hand from the networkx pairs (ties at the limit taken as ours)
    supply = np.arange(1, len(facs) + 1, dtype=float)
    demand = np.arange(len(cells), dtype=float) % 7 + 1
    dem = np.zeros(len(facs))
    for (j, i) in got:
        dem[j] += demand[i]
    expect = np.zeros(len(cells))
    for (j, i) in got:
        expect[i] += supply[j] / dem[j]
    streamed = fca.two_step_blocks(iter(blocks), supply, demand, per=1.0)
    np.testing.assert_allclose(streamed, expect, rtol=1e-12, atol=1e-12)


@settings_
@given(world=worlds(), limit=limits, penalty=penalties)
# A facility a hair past node 0: its same-edge trip rounds to exactly the limit.
@example(world=(2, [0], [1], [1.0], [1.0], [0], [(0, 0.0, 0.0, False)] * 5
                + [(0, 0.0, 0.0, True)], [(0, 1.4592136636470616e-305, 0.0, True)]),
         limit=0.0, penalty=0.0)
def test_od_table_matches_networkx(world, limit, penalty):
    g, cells, facs, G = build(world)
    pairs = all_pairs(G, world[6], world[7])
    # Searches forward from cells when there are fewer cells than facilities,
    # else backward from facilities; the random sizes exercise both.
    df = od_table(g, cells, facs, limit_s=limit, penalty_s=penalty)
    want = {k: t + penalty for k, t in pairs.items() if t + penalty <= limit}
    got = {(o, d): s for o, d, s in df.itertuples(index=False)}
    near = {k for k, t in pairs.items() if abs(t + penalty - limit) < 1e-9}  # either side
    assert set(got) - near == set(want) - near
    for k in set(got) & set(want):
        assert got[k] == pytest.approx(want[k], abs=TOL)


# --------------------------------------------------------------------------
# Hand-built cases
# --------------------------------------------------------------------------
def line():
    """0 --100 s-- 1 --50 s-- 2, both ways."""
    ea, eb, t, way = [0, 1], [1, 2], [100.0, 50.0], [BOTH, BOTH]
    return ea, eb, t, t, way


def test_point_beside_long_edge_gets_interpolated_time():
    ea, eb, tab, tba, way = line()
    g = make_graph(3, ea, eb, tab, tba, way)
    # Cell 30% along edge 0 with a 5 s off-road leg; facility exactly at node 2.
    cells = make_snap(ea, eb, tab, tba, way, [0], [0.3], [5.0], [True])
    facs = make_snap(ea, eb, tab, tba, way, [1], [1.0], [0.0], [True])
    sec, fac = nearest(g, cells, facs)
    assert sec[0] == pytest.approx(5 + 0.7 * 100 + 50)
    assert fac[0] == 0


def test_same_edge_travels_directly():
    ea, eb, tab, tba, way = line()
    g = make_graph(3, ea, eb, tab, tba, way)
    cells = make_snap(ea, eb, tab, tba, way, [0, 0], [0.2, 0.9], [3.0, 0.0], [True, True])
    facs = make_snap(ea, eb, tab, tba, way, [0], [0.6], [4.0], [True])
    sec, _ = nearest(g, cells, facs)
    assert sec == pytest.approx([3 + 40 + 4, 0 + 30 + 4])
    df = catchments(g, facs, cells, limit_s=40)
    assert df["cell"].tolist() == [1]
    assert df["seconds"].tolist() == pytest.approx([34.0])


def test_one_way_edge_forbids_going_back():
    # 0 -> 1 one-way (100 s); 1 -> 2 -> 0 both ways, 50 s each.
    ea, eb, t, way = [0, 1, 2], [1, 2, 0], [100.0, 50.0, 50.0], [AB, BOTH, BOTH]
    g = make_graph(3, ea, eb, t, t, way)
    # Cell at 0.7, facility at 0.3 on the one-way edge: the cell must leave via
    # node 1, loop 1 -> 2 -> 0 and come back in along the edge.
    cells = make_snap(ea, eb, t, t, way, [0], [0.7], [0.0], [True])
    facs = make_snap(ea, eb, t, t, way, [0], [0.3], [0.0], [True])
    sec, _ = nearest(g, cells, facs)
    assert sec[0] == pytest.approx(30 + 50 + 50 + 30)
    # With no way round the loop, unreachable.
    g2 = make_graph(3, ea[:1], eb[:1], t[:1], t[:1], way[:1])
    sec2, fac2 = nearest(g2, cells, facs)
    assert sec2[0] == math.inf and fac2[0] == -1


def test_unreachable_and_unsnapped_cells_are_inf():
    ea, eb, t, way = [0, 2], [1, 3], [10.0, 10.0], [BOTH, BOTH]  # two islands
    g = make_graph(4, ea, eb, t, t, way)
    cells = make_snap(ea, eb, t, t, way, [1, 0, 0], [0.5, 0.5, 0.5], [0, 0, 0],
                      [True, True, False])
    facs = make_snap(ea, eb, t, t, way, [0], [0.0], [0.0], [True])
    sec, fac = nearest(g, cells, facs)
    assert sec.tolist() == [math.inf, 5.0, math.inf]
    assert fac.tolist() == [-1, 0, -1]
    df = od_table(g, cells, facs)
    assert df[["origin", "destination"]].values.tolist() == [[1, 0]]


def test_penalty_added_once_and_counted_in_limit():
    ea, eb, tab, tba, way = line()
    g = make_graph(3, ea, eb, tab, tba, way)
    cells = make_snap(ea, eb, tab, tba, way, [0, 1], [0.0, 1.0], [0, 0], [True, True])
    facs = make_snap(ea, eb, tab, tba, way, [0, 1], [1.0, 1.0], [0, 0], [True, True])
    sec, fac = nearest(g, cells, facs, penalty_s=60)
    assert sec.tolist() == pytest.approx([160.0, 60.0])
    sec, fac = nearest(g, cells, facs, limit_s=150, penalty_s=60)
    assert sec.tolist() == [math.inf, 60.0]
    assert fac.tolist() == [-1, 1]
    df = od_table(g, cells, facs, penalty_s=60)
    assert df["seconds"].tolist() == pytest.approx([160, 210, 110, 60])


def test_tie_goes_to_lowest_facility_row():
    ea, eb, tab, tba, way = line()
    g = make_graph(3, ea, eb, tab, tba, way)
    cells = make_snap(ea, eb, tab, tba, way, [0], [1.0], [0.0], [True])  # at node 1
    facs = make_snap(ea, eb, tab, tba, way, [1, 0, 1], [1.0, 0.5, 1.0], [0, 0, 0], [True] * 3)
    sec, fac = nearest(g, cells, facs)
    assert sec[0] == 50.0 and fac[0] == 0


def test_node_catchments_both_directions():
    # 0 -> 1 (10 s) one-way, 1 <-> 2 (5 s).
    g = graph_from_arcs(3, [0, 1, 2], [1, 2, 1], [10.0, 5.0, 5.0])
    to = node_catchments(g, [1], limit_s=100)
    assert dict(zip(to["node"], to["seconds"])) == {1: 0.0, 0: 10.0, 2: 5.0}
    frm = node_catchments(g, [1], limit_s=100, direction="from")
    assert dict(zip(frm["node"], frm["seconds"])) == {1: 0.0, 2: 5.0}
    pen = node_catchments(g, [0], limit_s=12, penalty_s=2, direction="from")
    assert dict(zip(pen["node"], pen["seconds"])) == {0: 2.0, 1: 12.0}


def test_bad_input_raises_input_error():
    ea, eb, tab, tba, way = line()
    g = make_graph(3, ea, eb, tab, tba, way)
    cells = make_snap(ea, eb, tab, tba, way, [0], [0.5], [0.0], [True])
    cells.node_a[0] = 7
    facs = make_snap(ea, eb, tab, tba, way, [1], [0.5], [0.0], [True])
    with pytest.raises(InputError, match="cells: row 0 has node_a = 7"):
        nearest(g, cells, facs)
    with pytest.raises(InputError, match="limit_s"):
        catchments(g, facs, facs, limit_s=float("nan"))
    with pytest.raises(InputError, match="weights"):
        graph_from_arcs(2, [0], [1], [-1.0])
