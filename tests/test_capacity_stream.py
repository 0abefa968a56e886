"""Capacity allocation from whole tables and from catchments routed facility by facility, against the
plain brute force."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_capacity import _brute_force, _table
from test_routing_points import BOTH, make_graph, make_snap

from access.coverage.capacity import allocate, allocate_network, processing_order
from access.routing import catchments

QUANTUM = 0.5  # pair times are multiples of it, so ring_s = 0 is the brute force's rings of QUANTUM


def _plain_reach(pairs, n_fac, dem, limit_s):
    """Capacity-free reach and nearest facility (ties to the lower row), by loops."""
    in_reach = np.zeros(len(dem), bool)
    in_demand = np.zeros(n_fac)
    best = {}
    for f, c, s in pairs:
        if s <= limit_s:
            in_reach[c] = True
            in_demand[f] += dem[c]
            if c not in best or (s, f) < best[c]:
                best[c] = (s, f)
    nearest = np.zeros(n_fac)
    for c, (_, f) in best.items():
        nearest[f] += dem[c]
    return in_reach, in_demand, nearest


@st.composite
def instances(draw):
    n_fac = draw(st.integers(1, 7))
    n_cells = draw(st.integers(1, 14))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    # few distinct times: ties in time within and across facilities
    times = QUANTUM * rng.integers(0, draw(st.sampled_from([4, 40, 1900])), (n_fac, n_cells))
    listed = rng.uniform(size=(n_fac, n_cells)) < draw(st.floats(0.2, 1.0))
    pairs = [(j, c, float(times[j, c])) for j in range(n_fac) for c in range(n_cells) if listed[j, c]]
    cap = rng.integers(0, 150, n_fac).astype(float)
    cap[rng.uniform(size=n_fac) < 0.25] = 0.0  # facilities that serve nobody
    dem = rng.integers(0, 60, n_cells).astype(float)
    dem[rng.uniform(size=n_cells) < 0.15] = 0.0
    return pairs, cap, dem, rng


@settings(max_examples=200, deadline=None)
@given(inst=instances(), ring_s=st.sampled_from([60.0, 45.0, 0.1, 0.0]), limit_s=st.sampled_from([300.0, 900.0]),
       explicit=st.booleans())
def test_allocation_equals_brute_force(inst, ring_s, limit_s, explicit):
    pairs, cap, dem, rng = inst
    n_fac = len(cap)
    order = rng.permutation(n_fac) if explicit else None
    proc = processing_order(cap, order)
    if order is None:
        assert proc.tolist() == sorted(range(n_fac), key=lambda j: (-cap[j], j))
    shuffled = list(pairs)
    rng.shuffle(shuffled)
    table = _table(shuffled) if pairs else _table([]).astype({"facility": "int64", "cell": "int64"})
    a = allocate(table, cap, dem, limit_s, ring_s=ring_s, order=order)
    # ring_s = 0 serves strictly by time: the brute force's rings of one time quantum
    served, load = _brute_force(pairs, cap, dem, limit_s, ring_s or QUANTUM, proc.tolist())
    assert a.order.tolist() == proc.tolist()
    np.testing.assert_allclose(a.served, served, atol=1e-9)
    np.testing.assert_allclose(a.load, load, atol=1e-9)
    in_reach, in_demand, nearest = _plain_reach(pairs, n_fac, dem, limit_s)
    assert a.in_reach.tolist() == in_reach.tolist()
    np.testing.assert_allclose(a.demand_in_reach, in_demand, atol=1e-9)
    np.testing.assert_allclose(a.demand_nearest, nearest, atol=1e-9)
    np.testing.assert_allclose(a.served + a.unserved, dem, atol=1e-9)
    assert (a.load <= cap + 1e-9).all() and (a.unserved >= 0).all()


def test_nearest_ties_go_to_the_lower_row_not_the_first_served():
    # cell 0 is 60 s from both facilities; facility 1 is served first
    t = [(0, 0, 60.0), (1, 0, 60.0), (1, 1, 30.0)]
    a = allocate(_table(t), [10.0, 5.0], [8.0, 4.0], 600.0, order=[1, 0])
    assert a.demand_nearest.tolist() == [8.0, 4.0]
    # facility 1 takes cell 1's 4 persons (ring 0) and 1 of cell 0's 8 (ring 1); facility 0 the other 7
    assert a.load.tolist() == [7.0, 5.0] and a.served.tolist() == [8.0, 4.0]


def _grid(rng, side, n_cells, n_fac):
    """A grid road network with random times and points on random edges."""
    ea, eb = [], []
    for r in range(side):
        for q in range(side):
            v = r * side + q
            if q + 1 < side:
                ea.append(v), eb.append(v + 1)
            if r + 1 < side:
                ea.append(v), eb.append(v + side)
    t = rng.uniform(20, 90, len(ea)).tolist()
    way = [BOTH] * len(ea)
    g = make_graph(side * side, ea, eb, t, t, way)

    def points(n):
        e = rng.integers(0, len(ea), n)
        return make_snap(ea, eb, t, t, way, e, rng.uniform(0, 1, n), rng.uniform(0, 30, n), np.ones(n, bool))

    return g, points(n_cells), points(n_fac)


@pytest.mark.parametrize("seed", [0, 1])
def test_routed_facility_by_facility_matches_brute_force(seed):
    """Hundreds of facilities on a grid: routed one by one, served as the brute force serves the table."""
    rng = np.random.default_rng(seed)
    g, cells, facs = _grid(rng, 8, 40, 400)
    cap = rng.integers(0, 6, 400).astype(float)
    dem = rng.integers(0, 90, 40).astype(float)
    limit = 240.0
    order = processing_order(cap)
    done = []
    a = allocate_network(g, facs, cells, cap, dem, limit, progress=done.append)
    assert sum(done) == 400
    table = catchments(g, facs, cells, limit)
    pairs = list(table.itertuples(index=False, name=None))
    served, load = _brute_force(pairs, cap, dem, limit, 60.0, order.tolist())
    np.testing.assert_allclose(a.served, served, atol=1e-9)
    np.testing.assert_allclose(a.load, load, atol=1e-9)
    in_reach, in_demand, nearest = _plain_reach(pairs, 400, dem, limit)
    assert a.in_reach.tolist() == in_reach.tolist()
    np.testing.assert_allclose(a.demand_in_reach, in_demand, atol=1e-9)
    np.testing.assert_allclose(a.demand_nearest, nearest, atol=1e-9)
    assert 0 < a.served.sum() < dem.sum()  # capacity binds somewhere, and serves someone


def test_pairs_given_twice_count_once_at_the_shorter_time():
    rng = np.random.default_rng(7)
    pairs = [(j, c, float(rng.integers(0, 1200))) for j in range(4) for c in range(30) if rng.uniform() < 0.6]
    cap = rng.integers(0, 200, 4).astype(float)
    dem = rng.integers(0, 40, 30).astype(float)
    slower = [(f, c, s + float(rng.integers(1, 600))) for f, c, s in pairs if rng.uniform() < 0.5]
    messy = pairs + slower
    rng.shuffle(messy)
    a = allocate(_table(messy), cap, dem, 900.0)
    served, load = _brute_force(pairs, cap, dem, 900.0, 60.0, processing_order(cap).tolist())
    np.testing.assert_allclose(a.served, served, atol=1e-9)
    np.testing.assert_allclose(a.load, load, atol=1e-9)
    _, in_demand, nearest = _plain_reach(pairs, 4, dem, 900.0)
    np.testing.assert_allclose(a.demand_in_reach, in_demand, atol=1e-9)
    np.testing.assert_allclose(a.demand_nearest, nearest, atol=1e-9)
