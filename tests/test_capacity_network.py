"""Capacity allocation routed facility by facility equals the allocation of the whole catchment table.

The table of :func:`access.routing.queries.catchments` (checked against
networkx in ``test_routing_points``) served by :func:`allocate` is the
oracle; routing each catchment as its turn comes must give the same numbers
bit for bit: same-edge trips, one-way edges, penalties, unsnapped points and
ties included.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_routing_points import AB, BOTH, build, make_graph, make_snap, worlds
from test_supply_fused import crowded_worlds

from access.coverage.capacity import allocate, allocate_network
from access.routing import catchments

FIELDS = ("served", "unserved", "in_reach", "load", "demand_in_reach", "demand_nearest", "order")


def assert_same(a, b):
    for k in FIELDS:
        x, y = getattr(a, k), getattr(b, k)
        assert np.array_equal(x, y), (k, x, y)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(world=st.one_of(worlds(), crowded_worlds()), limit=st.one_of(st.floats(0, 200), st.just(np.inf)),
       penalty=st.one_of(st.just(0.0), st.floats(0, 60)), ring_s=st.sampled_from([60.0, 7.5, 0.01, 0.0]),
       seed=st.integers(0, 2**32 - 1), explicit=st.booleans())
def test_routed_allocation_equals_table_allocation(world, limit, penalty, ring_s, seed, explicit):
    g, cells, facs, _ = build(world)
    rng = np.random.default_rng(seed)
    n_f, n_c = len(facs), len(cells)
    cap = rng.integers(0, 4, n_f) * 15.0  # few values: ties in the processing order
    dem = rng.integers(0, 4, n_c) * 10.0
    order = rng.permutation(n_f) if explicit else None
    a = allocate_network(g, facs, cells, cap, dem, limit, penalty, ring_s=ring_s, order=order)
    b = allocate(catchments(g, facs, cells, limit, penalty), cap, dem, limit, ring_s=ring_s, order=order)
    assert_same(a, b)


def test_same_edge_one_way_and_unsnapped_by_hand():
    """0 -> 1 one-way (100 s), 1 - 2 both ways (50 s); cells and a facility on edge 0."""
    ea, eb, t, way = [0, 1], [1, 2], [100.0, 50.0], [AB, BOTH]
    g = make_graph(3, ea, eb, t, t, way)
    # cells 20 % and 80 % along edge 0 and one not snapped; facility 50 % along edge 0, one not snapped
    cells = make_snap(ea, eb, t, t, way, [0, 0, 1], [0.2, 0.8, 0.5], [0.0, 0.0, 0.0], [True, True, False])
    facs = make_snap(ea, eb, t, t, way, [0, 0], [0.5, 0.5], [0.0, 0.0], [True, False])
    cap, dem = [25.0, 100.0], [20.0, 30.0, 40.0]
    a = allocate_network(g, facs, cells, cap, dem, 120.0, 10.0)
    assert_same(a, allocate(catchments(g, facs, cells, 120.0, 10.0), cap, dem, 120.0))
    # the cell before the facility drives 30 s along the edge (+10 s penalty: ring 0) and is served first;
    # the cell past it can only come back round the one-way loop, which does not exist: out of reach
    assert a.order.tolist() == [1, 0]
    assert a.load.tolist() == [20.0, 0.0]
    assert a.served.tolist() == [20.0, 0.0, 0.0]
    assert a.in_reach.tolist() == [True, False, False]
    assert a.demand_nearest.tolist() == [20.0, 0.0]
