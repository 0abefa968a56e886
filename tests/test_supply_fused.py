"""Catchment sums without pair tables (access.routing.sums) against networkx and the pair-table 2SFCA.

Oracles: networkx shortest paths on graphs with the points inserted as nodes
(tests/test_routing_points.py), 2SFCA written out by hand from those pairs,
and hand-computed cases.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_routing_points import AB, BA, BOTH, all_pairs, build, make_graph, make_snap, worlds

from access.errors import InputError
from access.routing import catchments
from access.routing.sums import GROUP_CELLS, catchment_sums
from access.siting import fca
from access.siting import supply as supply_mod

settings_ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
penalties = st.one_of(st.just(0.0), st.floats(0, 60))


def two_step_by_hand(pairs, supply, demand, n_cells, limit, penalty):
    """2SFCA from networkx pairs {(cell, facility): seconds}, catchment t + penalty <= limit."""
    inside = [(i, j) for (i, j), t in pairs.items() if t + penalty <= limit]
    dem = np.zeros(len(supply))
    for i, j in inside:
        dem[j] += demand[i]
    ratio = np.divide(supply, dem, out=np.zeros_like(supply), where=dem > 0)
    out = np.zeros(n_cells)
    for i, j in inside:
        out[i] += ratio[j]
    return dem, out


def fused(g, facs, cells, supply, demand, limit, penalty, n_threads=1):
    cs = catchment_sums(g, facs, cells, limit, penalty, n_threads=n_threads)
    dem = cs.facility_sums(demand)
    return dem, cs.cell_sums(fca.ratios(supply, dem))


@st.composite
def crowded_worlds(draw):
    """``worlds`` with extra facilities and cells on edges already used, so that
    several facilities share end nodes (one search pair for all of them)."""
    n, ea, eb, t_ab, t_ba, way, cells, facs = draw(worlds())
    for pts, k in ((facs, draw(st.integers(0, 6))), (cells, draw(st.integers(0, 6)))):
        for _ in range(k):
            if not pts:
                break
            e = pts[draw(st.integers(0, len(pts) - 1))][0]
            pts.append((e, draw(st.floats(0, 1)), draw(st.floats(0, 30)), True))
    return n, ea, eb, t_ab, t_ba, way, cells, facs


@settings_
@given(world=st.one_of(worlds(), crowded_worlds()), limit=st.floats(0, 200), penalty=penalties,
       n_threads=st.sampled_from([1, 2]))
def test_fused_two_step_matches_networkx_and_pair_table(world, limit, penalty, n_threads):
    g, cells, facs, G = build(world)
    pairs = all_pairs(G, world[6], world[7])
    # a pair within rounding of the limit may fall either side (see the module notes)
    assume(not any(abs(t + penalty - limit) < 1e-9 for t in pairs.values()))
    supply = np.arange(1, len(facs) + 1, dtype=float)
    demand = np.arange(len(cells), dtype=float) % 4  # some cells hold nobody
    dem, got = fused(g, facs, cells, supply, demand, limit, penalty, n_threads)
    want_dem, want = two_step_by_hand(pairs, supply, demand, len(cells), limit, penalty)
    np.testing.assert_allclose(dem, want_dem, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    table = catchments(g, facs, cells, limit, penalty)
    np.testing.assert_allclose(got, fca.two_step(table, supply, demand, limit), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dem, fca.facility_demand(table, len(facs), demand, limit), rtol=1e-12, atol=0)
    # the second step alone with the supply: cumulative opportunities
    cs = catchment_sums(g, facs, cells, limit, penalty, n_threads=n_threads)
    np.testing.assert_allclose(cs.cell_sums(supply), fca.cumulative(table, supply, len(cells), limit),
                               rtol=1e-12, atol=0)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), limit=st.floats(20, 400), penalty=penalties)
def test_many_cells_and_facilities_on_few_edges_match_networkx(seed, limit, penalty):
    """More cells per edge than a group holds and dozens of facilities per edge, with one-way edges."""
    rng = np.random.default_rng(seed)
    n, n_e = 6, 8
    ea = [0, 1, 2, 3, 4, 0, 2, 5]
    eb = [1, 2, 3, 4, 5, 3, 5, 1]
    t_ab = list(rng.uniform(5, 120, n_e))
    t_ba = list(rng.uniform(5, 120, n_e))
    way = list(rng.choice([BOTH, BOTH, AB, BA], n_e))

    def pts(k):
        return [(int(rng.integers(0, 3)), float(rng.choice([rng.random(), 0.0, 1.0], p=[0.8, 0.1, 0.1])),
                 float(rng.uniform(0, 60)), bool(rng.random() > 0.05)) for _ in range(k)]

    world = (n, ea, eb, t_ab, t_ba, way, pts(3 * GROUP_CELLS), pts(67))
    g, cells, facs, G = build(world)
    pairs = all_pairs(G, world[6], world[7])
    assume(not any(abs(t + penalty - limit) < 1e-9 for t in pairs.values()))
    supply = rng.uniform(0, 10, len(facs))
    demand = rng.uniform(0, 100, len(cells))
    dem, got = fused(g, facs, cells, supply, demand, limit, penalty, n_threads=2)
    want_dem, want = two_step_by_hand(pairs, supply, demand, len(cells), limit, penalty)
    np.testing.assert_allclose(dem, want_dem, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------
# Hand-built cases: 0 --100 s-- 1 --50 s-- 2, both ways unless said
# --------------------------------------------------------------------------
def line(way=(BOTH, BOTH)):
    ea, eb, t = [0, 1], [1, 2], [100.0, 50.0]
    return ea, eb, t, t, list(way)


def world_of(way, cells, facs):
    ea, eb, tab, tba, way = line(way)
    g = make_graph(3, ea, eb, tab, tba, way)
    snap = lambda p: make_snap(ea, eb, tab, tba, way, *map(list, zip(*p)))  # noqa: E731
    return g, snap(cells), snap(facs)


@pytest.mark.parametrize("shared", [False, True])
def test_time_exactly_at_the_limit_is_inside(shared):
    # cell at node 0; facility at node 2 (time 150 s) and, when shared, a second one at
    # node 2 on the same edge (one search pair for both)
    facs = [(1, 1.0, 0.0, True)] + ([(1, 1.0, 0.0, True)] if shared else [])
    g, cells, fs = world_of((BOTH, BOTH), [(0, 0.0, 0.0, True), (1, 1.0, 0.0, True)], facs)
    cs = catchment_sums(g, fs, cells, 150.0, 0.0)
    assert cs.facility_sums([2.0, 3.0]).tolist() == [5.0] * len(facs)
    cs = catchment_sums(g, fs, cells, 150.0, 30.0)  # 150 + 30 > 150: only the cell at node 2
    assert cs.facility_sums([2.0, 3.0]).tolist() == [3.0] * len(facs)
    cs = catchment_sums(g, fs, cells, 180.0, 30.0)  # 150 + 30 == 180: inside
    assert cs.facility_sums([2.0, 3.0]).tolist() == [5.0] * len(facs)


def test_same_edge_trip_counts_once_and_one_way_forbids_it():
    # cells at 0.2 and 0.9 of edge 0 (100 s), facility at 0.6: direct trips of 40 and 30 s;
    # through the nodes: 20 + 60 = 80 s and 10 + 40 = 50 s
    cells = [(0, 0.2, 0.0, True), (0, 0.9, 0.0, True)]
    g, c, f = world_of((BOTH, BOTH), cells, [(0, 0.6, 0.0, True)])
    cs = catchment_sums(g, f, c, 45.0)
    assert cs.facility_sums([1.0, 10.0]).tolist() == [11.0]
    assert cs.cell_sums([2.0]).tolist() == [2.0, 2.0]
    # one-way 0 -> 1: the cell at 0.9 cannot go back to 0.6 along the edge, nor round
    g, c, f = world_of((AB, BOTH), cells, [(0, 0.6, 0.0, True)])
    cs = catchment_sums(g, f, c, 45.0)
    assert cs.facility_sums([1.0, 10.0]).tolist() == [1.0]
    assert cs.cell_sums([2.0]).tolist() == [2.0, 0.0]


def test_unsnapped_points_and_empty_catchments_give_zero_not_nan():
    cells = [(0, 0.5, 0.0, True), (0, 0.5, 0.0, False), (1, 1.0, 0.0, True)]
    facs = [(0, 0.5, 0.0, True), (0, 0.5, 0.0, False), (1, 1.0, 0.0, True)]
    g, c, f = world_of((BOTH, BOTH), cells, facs)
    supply = np.array([4.0, 5.0, 6.0])
    # facility 2 reaches only cell 2, which holds nobody: its ratio is 0
    dem, out = fused(g, f, c, supply, np.array([10.0, 99.0, 0.0]), 20.0, 0.0)
    assert dem.tolist() == [10.0, 0.0, 0.0]
    assert out.tolist() == [0.4, 0.0, 0.0]
    assert np.isfinite(out).all()


def test_penalty_over_limit_and_bad_values():
    g, c, f = world_of((BOTH, BOTH), [(0, 0.5, 0.0, True)], [(0, 0.5, 0.0, True)])
    cs = catchment_sums(g, f, c, 10.0, 20.0)
    assert cs.facility_sums([3.0]).tolist() == [0.0]
    assert cs.cell_sums([3.0]).tolist() == [0.0]
    cs = catchment_sums(g, f, c, 10.0)
    with pytest.raises(InputError, match="cell_values: 1 values are negative"):
        cs.facility_sums([-1.0])
    with pytest.raises(InputError, match="facility_values: 2 values for 1 rows"):
        cs.cell_sums([1.0, 2.0])
    with pytest.raises(InputError, match="limit_s"):
        catchment_sums(g, f, c, math.nan)


def test_per_1000_equals_streamed_pair_table():
    rng = np.random.default_rng(3)
    world = (6, [0, 1, 2, 3, 4, 0], [1, 2, 3, 4, 5, 3], list(rng.uniform(10, 90, 6)), list(rng.uniform(10, 90, 6)),
             [BOTH, AB, BOTH, BA, BOTH, BOTH],
             [(int(rng.integers(0, 6)), float(rng.random()), float(rng.uniform(0, 20)), True) for _ in range(40)],
             [(int(rng.integers(0, 6)), float(rng.random()), float(rng.uniform(0, 20)), True) for _ in range(9)])
    g, cells, facs, _ = build(world)
    cap, pop = rng.uniform(1, 50, 9), rng.uniform(0, 300, 40)
    from access.routing.queries import catchment_blocks
    want = fca.two_step_blocks(catchment_blocks(g, facs, cells, 150.0, 12.0), cap, pop, 150.0, per=1000.0)
    got = supply_mod.per_1000(g, facs, cells, cap, pop, 150.0, 12.0)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert (want > 0).sum() > 10


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(world=crowded_worlds(), limit=st.one_of(st.just(math.inf), st.floats(0, 200)), penalty=penalties)
def test_nearest_with_crowded_edges_matches_networkx(world, limit, penalty):
    # many facilities beside the cells of one edge: nearest() folds the direct along-edge trips per cell
    from access.routing import nearest

    g, cells, facs, G = build(world)
    pairs = all_pairs(G, world[6], world[7])
    sec, fac = nearest(g, cells, facs, limit_s=limit, penalty_s=penalty)
    for i in range(len(cells)):
        times = [t + penalty for (c, _), t in pairs.items() if c == i]
        want = min(times) if times and min(times) <= limit else math.inf
        if math.isinf(want):
            assert math.isinf(sec[i]) and fac[i] == -1
        else:
            assert sec[i] == pytest.approx(want, abs=1e-6)
            assert pairs[(i, int(fac[i]))] + penalty == pytest.approx(sec[i], abs=1e-6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(world=crowded_worlds(), limit=st.floats(0, 200), penalty=penalties, n_threads=st.sampled_from([1, 2]))
def test_second_step_from_kept_catchments_equals_searching_again_and_networkx(world, limit, penalty, n_threads):
    g, cells, facs, G = build(world)
    pairs = all_pairs(G, world[6], world[7])
    assume(not any(abs(t + penalty - limit) < 1e-9 for t in pairs.values()))
    supply = np.arange(1, len(facs) + 1, dtype=float)
    demand = np.arange(len(cells), dtype=float) % 4
    cs = catchment_sums(g, facs, cells, limit, penalty, n_threads=n_threads)
    kept = cs.first_step(demand)
    walked = cs.budget >= 0 and len(cs.s_cell) > 0  # else there is nothing to walk
    assert kept.kept_units == (len(cs.u_fptr) - 1 if walked else 0)
    # no memory: no shared node rows, nothing kept, every walk searched on its own
    again = catchment_sums(g, facs, cells, limit, penalty, n_threads=n_threads, memory_mb=0.0).first_step(demand)
    assert again.kept_units == 0
    np.testing.assert_allclose(kept.facility_sums, again.facility_sums, rtol=1e-14, atol=0)
    r = fca.ratios(supply, kept.facility_sums)
    got = kept.cell_sums(r)
    np.testing.assert_allclose(got, again.cell_sums(r), rtol=1e-14, atol=0)
    np.testing.assert_array_equal(got, cs.cell_sums(r))
    want_dem, want = two_step_by_hand(pairs, supply, demand, len(cells), limit, penalty)
    np.testing.assert_allclose(kept.facility_sums, want_dem, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_memory_bound_keeps_some_units_and_searches_the_rest_again():
    rng = np.random.default_rng(11)
    n_e = 8
    world = (6, [0, 1, 2, 3, 4, 0, 2, 5], [1, 2, 3, 4, 5, 3, 5, 1], list(rng.uniform(5, 120, n_e)),
             list(rng.uniform(5, 120, n_e)), [BOTH, BOTH, AB, BOTH, BA, BOTH, BOTH, BOTH],
             [(int(rng.integers(0, n_e)), float(rng.random()), float(rng.uniform(0, 30)), True) for _ in range(200)],
             [(int(rng.integers(0, n_e)), float(rng.random()), float(rng.uniform(0, 30)), True) for _ in range(90)])
    g, cells, facs, G = build(world)
    pairs = all_pairs(G, world[6], world[7])
    supply, demand = rng.uniform(1, 10, len(facs)), rng.uniform(0, 100, len(cells))
    cs = catchment_sums(g, facs, cells, 150.0, 5.0, n_threads=1)
    n_units = len(cs.u_fptr) - 1
    full = cs.first_step(demand)
    assert full.kept_units == n_units >= 4
    nbytes = sum(a.nbytes for k in full.kept.values() for a in k)
    rows = 16 * 6 * len(np.unique(cs.s_node[cs.s_node >= 0]))  # the shared node rows come first
    half = catchment_sums(g, facs, cells, 150.0, 5.0, n_threads=1,
                          memory_mb=(rows + 0.5 * nbytes) / 2.0**20).first_step(demand)
    assert 0 < half.kept_units < n_units
    np.testing.assert_array_equal(half.facility_sums, full.facility_sums)
    r = fca.ratios(supply, full.facility_sums)
    got = half.cell_sums(r)
    np.testing.assert_array_equal(got, full.cell_sums(r))
    np.testing.assert_array_equal(got, cs.cell_sums(r))
    want_dem, want = two_step_by_hand(pairs, supply, demand, len(cells), 150.0, 5.0)
    np.testing.assert_allclose(full.facility_sums, want_dem, rtol=1e-12)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert (want > 0).sum() > 50


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), limit=st.floats(30, 250))
def test_catchment_edges_running_through_long_rows_of_cells_match_networkx(seed, limit):
    """Hundreds of cells on two edges, so that a catchment's edge cuts many neighbouring
    groups and cells of a group reach the same facilities in runs."""
    rng = np.random.default_rng(seed)
    world = (4, [0, 1, 2, 0], [1, 2, 3, 3], [150.0, 90.0, 60.0, 200.0], [150.0, 90.0, 60.0, 200.0],
             [BOTH, BOTH, AB, BOTH],
             [(int(rng.integers(0, 2)), float(rng.random()), float(rng.choice([0.0, rng.uniform(0, 8)])), True)
              for _ in range(300)],
             [(int(rng.integers(1, 4)), float(rng.random()), float(rng.uniform(0, 40)), True) for _ in range(40)])
    g, cells, facs, G = build(world)
    pairs = all_pairs(G, world[6], world[7])
    assume(not any(abs(t - limit) < 1e-9 for t in pairs.values()))
    supply, demand = rng.uniform(1, 10, len(facs)), rng.uniform(0, 100, len(cells))
    cs = catchment_sums(g, facs, cells, limit, 0.0, n_threads=1)
    first = cs.first_step(demand)
    got = first.cell_sums(fca.ratios(supply, first.facility_sums))
    want_dem, want = two_step_by_hand(pairs, supply, demand, len(cells), limit, 0.0)
    np.testing.assert_allclose(first.facility_sums, want_dem, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
