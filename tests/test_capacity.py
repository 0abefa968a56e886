"""Capacity-aware coverage against hand computations, a brute force and linear programs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from access.coverage.capacity import allocate, by_township, persons_per_unit
from access.errors import InputError


def _table(rows):
    return pd.DataFrame(rows, columns=["facility", "cell", "seconds"]).astype(
        {"facility": "int64", "cell": "int64", "seconds": "float64"})


def test_one_facility_fills_nearest_rings_first():
    # cells at 0.5, 1.5, 2.5 minutes with 50, 40, 30 persons; room for 100
    t = _table([(0, 0, 30.0), (0, 1, 90.0), (0, 2, 150.0)])
    a = allocate(t, [100.0], [50.0, 40.0, 30.0], limit_s=600)
    assert a.served.tolist() == [50.0, 40.0, 10.0]
    assert a.unserved.tolist() == [0.0, 0.0, 20.0]
    assert a.load.tolist() == [100.0]
    assert a.demand_in_reach.tolist() == [120.0] and a.demand_nearest.tolist() == [120.0]


def test_ring_shared_in_proportion_and_limit_respected():
    # two cells in the same one-minute ring (60 and 40 persons), room for 50:
    # each gives half; a third cell beyond the limit is never served
    t = _table([(0, 0, 65.0), (0, 1, 110.0), (0, 2, 700.0)])
    a = allocate(t, [50.0], [60.0, 40.0, 10.0], limit_s=600)
    assert a.served.tolist() == [30.0, 20.0, 0.0]
    assert a.in_reach.tolist() == [True, True, False]
    assert a.demand_in_reach.tolist() == [100.0]


def test_processing_order_and_crowding_out():
    # facility 1 (bigger) goes first and takes the shared cell 1; facility 0
    # then finds only its own cell 0
    t = _table([(0, 0, 10.0), (0, 1, 70.0), (1, 1, 10.0), (1, 2, 200.0)])
    a = allocate(t, [100.0, 150.0], [30.0, 120.0, 80.0], limit_s=600)
    assert a.order.tolist() == [1, 0]
    assert a.load.tolist() == [30.0, 150.0]
    assert a.served.tolist() == [30.0, 120.0, 30.0]
    # nearest (capacity-free) loads: cell 1 is nearer facility 1
    assert a.demand_nearest.tolist() == [30.0, 200.0]
    # an explicit order changes who is crowded out
    b = allocate(t, [100.0, 150.0], [30.0, 120.0, 80.0], limit_s=600, order=[0, 1])
    assert b.load.tolist() == [100.0, 130.0]  # 30 + 70 of cell 1; then 50 + 80
    assert b.served.tolist() == [30.0, 120.0, 80.0]


def test_by_township_and_units():
    t = _table([(0, 0, 10.0), (0, 1, 10.0)])
    a = allocate(t, [50.0], [40.0, 40.0, 20.0], limit_s=60)
    tw = by_township(a, [40.0, 40.0, 20.0], ["A", "A", "B"]).set_index("township")
    assert tw.loc["A", "in_reach"] == 80.0 and tw.loc["A", "served"] == 50.0
    assert tw.loc["A", "crowded_out"] == 30.0 and tw.loc["B", "in_reach"] == 0.0
    assert tw.loc["A", "share_served"] == pytest.approx(50 / 80)
    assert persons_per_unit(5.0) == 200.0


def test_bad_input_is_named():
    t = _table([(0, 0, 10.0)])
    with pytest.raises(InputError, match="capacity of facility row 0"):
        allocate(t, [float("nan")], [1.0], limit_s=60)
    with pytest.raises(InputError, match="cell rows"):
        allocate(_table([(0, 5, 10.0)]), [1.0], [1.0], limit_s=60)
    with pytest.raises(InputError, match="per_1000"):
        persons_per_unit(0)


# ------------------------------------------------------------ independent oracles


def _brute_force(pairs, cap, dem, limit_s, ring_s, order):
    """The same rule written plainly with dicts and loops."""
    residual = {i: float(d) for i, d in enumerate(dem)}
    load = {j: 0.0 for j in range(len(cap))}
    for j in order:
        reach = {}
        for f, c, s in pairs:
            if f == j and s <= limit_s:
                reach[c] = math.floor(s / ring_s)
        room = cap[j]
        for r in sorted(set(reach.values())):
            if room <= 0:
                break
            ring = [c for c in reach if reach[c] == r]
            want = sum(residual[c] for c in ring)
            if want == 0:
                continue
            frac = 1.0 if want <= room else room / want
            for c in ring:
                take = residual[c] * frac
                residual[c] -= take
                load[j] += take
            room -= min(want, room)
    served = [dem[i] - residual[i] for i in range(len(dem))]
    return np.array(served), np.array([load[j] for j in range(len(cap))])


def _instance(seed, n_fac, n_cells):
    rng = np.random.default_rng(seed)
    pairs = []
    for j in range(n_fac):
        for c in range(n_cells):
            if rng.uniform() < 0.5:
                pairs.append((j, c, float(rng.integers(0, 900))))
    cap = rng.integers(0, 120, n_fac).astype(float)
    dem = rng.integers(0, 60, n_cells).astype(float)
    return pairs, cap, dem


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), n_fac=st.integers(1, 5), n_cells=st.integers(1, 12))
def test_equals_brute_force(seed, n_fac, n_cells):
    pairs, cap, dem = _instance(seed, n_fac, n_cells)
    t = _table(pairs) if pairs else _table([]).astype({"facility": "int64", "cell": "int64"})
    a = allocate(t, cap, dem, limit_s=600.0)
    order = a.order.tolist()
    assert sorted(order) == list(range(n_fac))
    # default order: largest capacity first, ties by row
    assert order == sorted(range(n_fac), key=lambda j: (-cap[j], j))
    served, load = _brute_force(pairs, cap, dem, 600.0, 60.0, order)
    assert np.allclose(a.served, served, atol=1e-9)
    assert np.allclose(a.load, load, atol=1e-9)
    # accounting: every person is served or unserved, loads sum to the served
    assert np.allclose(a.served + a.unserved, dem)
    assert a.load.sum() == pytest.approx(a.served.sum(), abs=1e-9)
    assert (a.load <= cap + 1e-9).all()


def _lp_max_served(pairs, cap, dem, limit_s):
    """Most persons any assignment can serve within the limit and capacities (LP)."""
    P = [(f, c) for f, c, s in pairs if s <= limit_s]
    if not P:
        return 0.0
    n = len(P)
    A, b = [], []
    for j in range(len(cap)):
        A.append([1.0 if f == j else 0.0 for f, _ in P])
        b.append(cap[j])
    for i in range(len(dem)):
        A.append([1.0 if c == i else 0.0 for _, c in P])
        b.append(dem[i])
    res = linprog(-np.ones(n), A_ub=A, b_ub=b, bounds=(0, None), method="highs")
    assert res.status == 0
    return -res.fun


@pytest.mark.parametrize("seed", range(25))
def test_each_facility_takes_the_cheapest_rings_lp(seed):
    """Facility by facility, the load is the most it can take from the residual
    population, and the persons taken have the least total ring index any choice
    of that many persons could have (a linear program over the residual)."""
    pairs, cap, dem = _instance(seed, 4, 10)
    t = _table(pairs)
    a = allocate(t, cap, dem, limit_s=600.0)
    residual = dem.copy()
    for j in a.order:
        reach = {c: math.floor(s / 60.0) for f, c, s in pairs if f == j and s <= 600.0}
        # what this facility took: re-run the allocation on the facilities up to j
        k = list(a.order).index(j)
        before = allocate(t, np.where(np.isin(np.arange(4), a.order[:k]), cap, 0.0), dem, 600.0,
                          order=a.order).unserved
        after = allocate(t, np.where(np.isin(np.arange(4), a.order[:k + 1]), cap, 0.0), dem, 600.0,
                         order=a.order).unserved
        took = before - after
        assert np.allclose(before, residual)
        cells = sorted(reach)
        if not cells:
            assert took.sum() == 0
            continue
        amount = min(cap[j], sum(residual[c] for c in cells))
        assert a.load[j] == pytest.approx(amount, abs=1e-9)
        res = linprog([reach[c] for c in cells], A_eq=[[1.0] * len(cells)], b_eq=[amount],
                      bounds=[(0, residual[c]) for c in cells], method="highs")
        assert res.status == 0
        assert sum(reach[c] * took[c] for c in cells) == pytest.approx(res.fun, abs=1e-6)
        residual = after
    # the sequential rule never beats the best assignment, and is at least half of it
    best = _lp_max_served(pairs, cap, dem, 600.0)
    assert a.served.sum() <= best + 1e-6
    assert a.served.sum() >= 0.5 * best - 1e-6


def test_unlimited_capacity_is_capacity_free_coverage():
    pairs, cap, dem = _instance(3, 5, 30)
    a = allocate(_table(pairs), np.full(5, 1e12), dem, limit_s=300.0)
    reach = np.zeros(30, bool)
    for f, c, s in pairs:
        if s <= 300.0:
            reach[c] = True
    assert np.array_equal(a.in_reach, reach)
    assert np.allclose(a.served, np.where(reach, dem, 0.0))


def test_scenario_allocate_key(tmp_path):
    import shutil
    from pathlib import Path

    from access.scenario import load_scenario

    demo = Path(__file__).resolve().parents[1] / "data" / "demo"
    sc = load_scenario(demo / "scenario.toml")
    assert [t.allocate for t in sc.targets] == [True, True]
    d = tmp_path / "d"
    shutil.copytree(demo, d)
    text = (d / "scenario.toml").read_text(encoding="utf-8").replace("allocate = true", 'allocate = "yes"', 1)
    (d / "scenario.toml").write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=r"targets\[1\]\.allocate.*true or false"):
        load_scenario(d / "scenario.toml")
