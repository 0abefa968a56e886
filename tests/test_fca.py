"""Floating catchment ratios against PySAL ``access`` and hand-computed values.

The PySAL expectations in tests/data/siting/pysal_*.parquet were produced by
benchmarks/pysal_access_expectations.py running PySAL's own implementation
(access==1.1.10.post3) in a separate venv; see that script. The small
compatibility layer below translates each PySAL call into ours:

* PySAL tables use ids; ours use row numbers -> factorize ids.
* PySAL leaves cells reaching nothing as NaN; we return 0 -> NaN becomes 0.
* PySAL's 3SFCA normalises the selection weights over *all* rows of its cost
  table, ours over the pairs within the threshold (Wan et al. 2012) -> call
  ours with no threshold, the decay cut at ``max_cost`` and the uncut decay
  as ``selection_weight``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from access.errors import InputError
from access.siting import fca

DATA = Path(__file__).parent / "data" / "siting"


# ------------------------------------------------------------ PySAL layer
def _pysal_gravity(scale, alpha):
    return lambda t: (np.asarray(t, float) / scale) ** alpha


def _pysal_gaussian(sigma):
    return lambda t: np.exp(-np.asarray(t, float) ** 2 / (2 * sigma**2))


def _cut(w, max_cost):
    return lambda t: w(t) * (np.asarray(t) <= max_cost)


LUO_QI_MIN = fca.step_weight([10, 20, 30], [1, 0.68, 0.22])  # PySAL's default, minutes

# method name -> our call f(table, supply, demand, n_cells)
CALLS = {
    # hospital example (gravity 1/t, max_cost 61)
    "2sfca": lambda T, s, d, n: fca.two_step(T, s, d, 61, _pysal_gravity(1, -1)),
    "3sfca": lambda T, s, d, n: fca.three_step(T, s, d, np.inf, _cut(_pysal_gravity(1, -1), 61),
                                               _pysal_gravity(1, -1)),
    # grid tests
    "2sfca_large": lambda T, s, d, n: fca.two_step(T, s, d),
    "2sfca_small": lambda T, s, d, n: fca.two_step(T, s, d, 0.9),
    "2sfca_zero": lambda T, s, d, n: fca.two_step(T, s, d, -1),
    "e2sfca_large": lambda T, s, d, n: fca.two_step(T, s, d, np.inf, LUO_QI_MIN),
    "e2sfca_small": lambda T, s, d, n: fca.two_step(T, s, d, 0.9, LUO_QI_MIN),
    "3sfca_large": lambda T, s, d, n: fca.three_step(T, s, d, np.inf, fca.step_weight([10], [25])),
    "3sfca_small": lambda T, s, d, n: fca.three_step(
        T, s, d, np.inf, _cut(fca.step_weight([10], [25]), 0.9), fca.step_weight([10], [25])),
    "catchment_gravity": lambda T, s, d, n: fca.cumulative(T, s, n, None, _pysal_gravity(60, 1)),
    "catchment_step_small": lambda T, s, d, n: fca.cumulative(T, s, n, None, fca.step_weight([0.5], [0.5])),
    "catchment_step_large": lambda T, s, d, n: fca.cumulative(T, s, n, None, fca.step_weight([10], [1])),
    "2sfca_r2": lambda T, s, d, n: fca.two_step(T, s, d, 2.0),
    "e2sfca_steps": lambda T, s, d, n: fca.enhanced_two_step(T, s, d, [1, 2, 3], [1, 0.68, 0.22]),
    "3sfca_gauss": lambda T, s, d, n: fca.three_step(T, s, d, np.inf, _cut(_pysal_gaussian(1.5), 3),
                                                     _pysal_gaussian(1.5)),
    # random cases, seconds
    "cumulative_1800": lambda T, s, d, n: fca.cumulative(T, s, n, 1800),
    "2sfca_1800": lambda T, s, d, n: fca.two_step(T, s, d, 1800),
    "e2sfca_luoqi": lambda T, s, d, n: fca.enhanced_two_step(T, s, d),
    "g2sfca_1800": lambda T, s, d, n: fca.gaussian_two_step(T, s, d, 1800),
    "3sfca_dai_1800": lambda T, s, d, n: fca.three_step(T, s, d, 1800, fca.gaussian_weight(1800)),
    "3sfca_gauss600_1800": lambda T, s, d, n: fca.three_step(
        T, s, d, np.inf, _cut(_pysal_gaussian(600), 1800), _pysal_gaussian(600)),
}


def _load():
    pairs = pd.read_parquet(DATA / "pysal_pairs.parquet")
    nodes = pd.read_parquet(DATA / "pysal_nodes.parquet")
    expected = pd.read_parquet(DATA / "pysal_expected.parquet")
    return pairs, nodes, expected


_PAIRS, _NODES, _EXPECTED = _load()
_KEYS = sorted(set(map(tuple, _EXPECTED[["case", "method"]].to_numpy())))


def _case(case):
    p = _PAIRS[_PAIRS.case == case]
    nd = _NODES[_NODES.case == case]
    dem = nd[nd.kind == "demand"].set_index("id")["value"]
    sup = nd[nd.kind == "supply"].set_index("id")["value"]
    cells = pd.Index(np.union1d(p.origin.unique(), dem.index))
    facs = pd.Index(np.union1d(p.dest.unique(), sup.index))
    table = pd.DataFrame({"facility": facs.get_indexer(p.dest), "cell": cells.get_indexer(p.origin),
                          "seconds": p.cost.to_numpy(float)})
    # PySAL drops cost rows whose origin has no demand entry, and counts a
    # facility without a supply entry as 0: the same as demand/supply 0 here.
    demand = dem.reindex(cells, fill_value=0.0).to_numpy(float)
    supply = sup.reindex(facs, fill_value=0.0).to_numpy(float)
    return table, supply, demand, cells


def test_expectation_files_cover_published_and_random_cases():
    cases = set(_EXPECTED.case)
    assert {"hospital_s0", "hospital_s1", "hospital_s2", "hospital_s3", "grid5_sample5", "grid5_full"} <= cases
    big = _PAIRS.groupby("case").size()
    assert (big[[c for c in cases if c.startswith("random_")]] >= 10_000).all()
    assert len([c for c in cases if c.startswith("random_")]) >= 3
    meta = json.loads((DATA / "pysal_cases.json").read_text())
    assert set(meta) - {"_source"} == cases
    assert {m for _, m in _KEYS} <= set(CALLS)


@pytest.mark.parametrize("case,method", _KEYS, ids=[f"{c}-{m}" for c, m in _KEYS])
def test_matches_pysal_access(case, method):
    table, supply, demand, cells = _case(case)
    ours = CALLS[method](table, supply, demand, len(cells))
    exp = _EXPECTED[(_EXPECTED.case == case) & (_EXPECTED.method == method)]
    want = exp.value.fillna(0.0).to_numpy()
    got = ours[cells.get_indexer(exp.cell)]
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_pysal_published_grid_values():
    """The literal values asserted in PySAL's own grid tests."""
    table, supply, demand, cells = _case("grid5_full")
    g = fca.cumulative(table, supply, len(cells), None, _pysal_gravity(60, 1))
    ids = cells.get_indexer([1, 5, 13, 19, 24])
    np.testing.assert_allclose(g[ids], [1.322340210, 1.322340210, 0.780985109, 0.925540119, 1.133733026],
                               rtol=1e-8)
    table, supply, demand, cells = _case("grid5_sample5")
    sampled = demand > 0
    assert np.allclose(fca.two_step(table, supply, demand)[sampled], 5.0)
    assert np.allclose(fca.two_step(table, supply, demand, 0.9)[sampled], 1.0)


# ------------------------------------------------------------ hand-computed
@pytest.fixture
def tiny():
    # 2 facilities, 3 cells; seconds
    table = pd.DataFrame({"facility": [0, 0, 1, 1], "cell": [0, 1, 1, 2],
                          "seconds": [300.0, 900.0, 600.0, 1800.0]})
    return table, np.array([10.0, 4.0]), np.array([1000.0, 3000.0, 1000.0])


def test_two_step_by_hand(tiny):
    table, s, p = tiny
    # within 900 s: f0 serves cells 0,1 (4000 p) -> R0 = 10/4000; f1 serves cell 1 (3000 p) -> 4/3000
    r0, r1 = 10 / 4000, 4 / 3000
    np.testing.assert_allclose(fca.two_step(table, s, p, 900), [r0, r0 + r1, 0.0])
    np.testing.assert_allclose(fca.two_step(table, s, p, 900, per=1000), [1000 * r0, 1000 * (r0 + r1), 0])
    # threshold inclusive: 1800 s reaches cell 2 from f1
    r1b = 4 / 4000
    np.testing.assert_allclose(fca.two_step(table, s, p, 1800), [r0, r0 + r1b, r1b])
    # total supply is conserved when every facility has demand: sum A_k P_k = sum S_j
    assert fca.two_step(table, s, p, 1800) @ p == pytest.approx(14.0)


def test_cumulative_by_hand(tiny):
    table, s, p = tiny
    np.testing.assert_allclose(fca.cumulative(table, s, 3, 600), [10.0, 4.0, 0.0])
    np.testing.assert_allclose(fca.cumulative(table, np.ones(2), 3, 1800), [1, 2, 1])


def test_gaussian_weight_dai_formula():
    w = fca.gaussian_weight(1800)
    e = math.exp(-0.5)
    for t in [0, 300, 900, 1799.9, 1800]:
        assert w(np.array([t]))[0] == pytest.approx((math.exp(-0.5 * (t / 1800) ** 2) - e) / (1 - e))
    assert w(np.array([0.0]))[0] == 1.0 and w(np.array([1800.0, 1801.0])).tolist() == [0.0, 0.0]


def test_enhanced_steps_by_hand(tiny):
    table, s, p = tiny
    # Luo & Qi zones: 300 s -> 1, 600 s -> 1 (inclusive), 900 s -> 0.68, 1800 s -> 0.22
    d0 = 1000 * 1 + 3000 * 0.68
    d1 = 3000 * 1 + 1000 * 0.22
    r0, r1 = 10 / d0, 4 / d1
    np.testing.assert_allclose(fca.enhanced_two_step(table, s, p),
                               [r0, 0.68 * r0 + r1, 0.22 * r1])


def test_three_step_by_hand(tiny):
    table, s, p = tiny
    w = fca.step_weight([600, 1200], [1.0, 0.5])  # 300->1, 600->1, 900->.5, 1800->0 (beyond)
    # cell 1 reaches f0 (w .5) and f1 (w 1): G = 1/3, 2/3
    g = {(0, 0): 1.0, (0, 1): 0.5 / 1.5, (1, 1): 1.0 / 1.5}
    ww = {(0, 0): 1.0, (0, 1): 0.5, (1, 1): 1.0}
    dem = {0: 1000 * g[0, 0] * ww[0, 0] + 3000 * g[0, 1] * ww[0, 1], 1: 3000 * g[1, 1] * ww[1, 1]}
    r = {0: 10 / dem[0], 1: 4 / dem[1]}
    want = [g[0, 0] * ww[0, 0] * r[0], g[0, 1] * ww[0, 1] * r[0] + g[1, 1] * ww[1, 1] * r[1], 0.0]
    np.testing.assert_allclose(fca.three_step(table, s, p, 1200, w), want)


def test_facility_without_demand_serves_nobody():
    table = pd.DataFrame({"facility": [0, 1], "cell": [0, 1], "seconds": [10.0, 10.0]})
    out = fca.two_step(table, [5.0, 7.0], [100.0, 0.0], 60)
    np.testing.assert_allclose(out, [0.05, 0.0])


def test_routing_style_table_dtypes():
    table = pd.DataFrame({"facility": np.array([], np.int64), "cell": np.array([], np.int64),
                          "seconds": np.array([], float)})
    assert fca.two_step(table, [1.0], [10.0, 20.0], 900).tolist() == [0.0, 0.0]


# ------------------------------------------------------------ summaries
def test_by_township_population_weighted():
    df = fca.by_township([1.0, 3.0, 2.0, 5.0], [100, 300, 0, 0], ["a", "a", "b", None])
    a = df.set_index("township")
    assert a.loc["a", "value"] == pytest.approx((100 * 1 + 300 * 3) / 400)
    assert a.loc["a", "population"] == 400
    assert np.isnan(a.loc["b", "value"]) and "NA" in a.index


def test_compare_target():
    assert fca.compare_target(2.0, 3.05) == pytest.approx(1.05)
    np.testing.assert_allclose(fca.compare_target(np.array([4.0, 3.05, np.nan]), 3.05), [0.0, 0.0, np.nan])
    s = fca.compare_target(pd.Series([1.0, 5.0], index=["x", "y"]), 3.05)
    assert list(s.index) == ["x", "y"] and s["x"] == pytest.approx(2.05) and s["y"] == 0
    # 20,000 persons at 2.05 per 1,000 need 1 doctor per 1,000 more: 20 doctors
    assert fca.supply_needed(np.array([2.05]), np.array([20_000]), 3.05)[0] == pytest.approx(20.0)


# ------------------------------------------------------------ bad input
def test_bad_inputs_are_reported_together(tiny):
    table, s, p = tiny
    bad = table.assign(cell=[0, 1, 5, -1], seconds=[1.0, np.nan, 3.0, 4.0])
    with pytest.raises(InputError) as e:
        fca.two_step(bad, s, p, 900)
    assert len(e.value.problems) == 2 and "cell" in str(e.value) and "seconds" in str(e.value)
    with pytest.raises(InputError, match="columns facility, cell, seconds"):
        fca.two_step(table.rename(columns={"seconds": "cost"}), s, p, 900)
    with pytest.raises(InputError, match="demand"):
        fca.two_step(table, s, [1.0, np.nan, 2.0], 900)
    with pytest.raises(InputError, match="strictly increasing"):
        fca.step_weight([600, 300], [1, 0.5])
    with pytest.raises(InputError, match="d0_s"):
        fca.gaussian_weight(0)
    with pytest.raises(InputError, match="target"):
        fca.compare_target(1.0, -3)
