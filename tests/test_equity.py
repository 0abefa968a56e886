"""Inequality indices against hand-computed values and their defining properties."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from access.coverage.equity import equity_table, gini, lorenz, palma, theil_t, urban_rural_gap
from access.coverage.standards import Circle
from access.errors import InputError


def test_perfect_equality_is_zero():
    assert gini([3.0, 3.0, 3.0]) == pytest.approx(0.0)
    assert theil_t([3.0, 3.0, 3.0])[0] == pytest.approx(0.0)
    assert palma([2.0] * 10) == pytest.approx(0.25)  # 10 % / 40 %


@pytest.mark.parametrize("n", [2, 4, 7])
def test_one_person_holds_everything(n):
    x = np.zeros(n)
    x[-1] = 5.0
    assert gini(x) == pytest.approx((n - 1) / n)
    assert theil_t(x)[0] == pytest.approx(np.log(n))


def test_hand_values():
    # Gini of 1, 2, 3: sum |xi - xj| over ordered pairs = 8; 8 / (2 * 9 * 2)
    assert gini([1.0, 2.0, 3.0]) == pytest.approx(8 / 36)
    # Theil of 1, 3: mu 2; (0.5 ln 0.5 + 1.5 ln 1.5) / 2
    assert theil_t([1.0, 3.0])[0] == pytest.approx((0.5 * np.log(0.5) + 1.5 * np.log(1.5)) / 2)
    # Palma of 1..10: top 10 % holds 10, bottom 40 % holds 1+2+3+4 = 10
    assert palma(np.arange(1.0, 11.0)) == pytest.approx(1.0)
    # Fractional split: five persons 1,1,1,1,6 (total 10). Bottom 40 % =
    # two persons = 2/10; top 10 % = half of the last person = 3/10.
    assert palma([1.0, 1.0, 1.0, 1.0, 6.0]) == pytest.approx(1.5)
    # Same with a weighted cell straddling both cuts: 4 persons at 1, 1 at 6
    assert palma([1.0, 6.0], [4.0, 1.0]) == pytest.approx(1.5)
    assert palma([0.0, 0.0, 0.0, 0.0, 1.0]) == np.inf


def test_weights_equal_replication():
    x, w = np.array([0.0, 1.0, 4.0, 2.0]), np.array([2.0, 1.0, 3.0, 1.0])
    rep = np.repeat(x, w.astype(int))
    assert gini(x, w) == pytest.approx(gini(rep))
    assert palma(x, w) == pytest.approx(palma(rep))
    g = np.array(["a", "b", "a", "b"])
    assert np.allclose(theil_t(x, w, g), theil_t(rep, None, np.repeat(g, w.astype(int))))


def test_zero_weight_values_are_ignored():
    assert gini([1.0, 2.0, 100.0], [1.0, 1.0, 0.0]) == pytest.approx(gini([1.0, 2.0]))


def test_theil_decomposition_by_hand():
    # groups a: 1, 1 ; b: 4. mu = 2, mu_a = 1, mu_b = 4
    x, g = [1.0, 1.0, 4.0], ["a", "a", "b"]
    tot, between, within = theil_t(x, None, g)
    # shares s_a = 2*1/(3*2) = 1/3, s_b = 4/6 = 2/3; within-group Theil 0
    assert between == pytest.approx(1 / 3 * np.log(0.5) + 2 / 3 * np.log(2.0))
    assert within == pytest.approx(0.0)
    assert tot == pytest.approx(between + within)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 100.0), st.floats(0.1, 10.0), st.sampled_from("abc")),
                min_size=2, max_size=30))
def test_between_plus_within_is_total(rows):
    x = np.array([r[0] for r in rows])
    if x.sum() <= 0:
        return
    w = np.array([r[1] for r in rows])
    g = np.array([r[2] for r in rows])
    tot, between, within = theil_t(x, w, g)
    assert tot == pytest.approx(between + within, abs=1e-9)
    assert 0.0 <= gini(x, w) <= 1.0


def test_lorenz_ends():
    p, s = lorenz([3.0, 1.0], [1.0, 1.0])
    assert p.tolist() == [0.0, 0.5, 1.0] and s.tolist() == [0.0, 0.25, 1.0]


def test_urban_rural_gap_by_hand():
    r = urban_rural_gap([4.0, 2.0, 1.0], [1.0, 3.0, 1.0], [True, True, False])
    assert r["urban_mean"] == pytest.approx((4 + 6) / 4)
    assert r["rural_mean"] == 1.0
    assert r["gap"] == pytest.approx(1.5)
    assert r["ratio"] == pytest.approx(0.4)


def test_bad_values_are_input_errors():
    with pytest.raises(InputError, match="x >= 0"):
        gini([1.0, -1.0])
    with pytest.raises(InputError, match="one weight"):
        gini([1.0, 2.0], [1.0])
    with pytest.raises(InputError, match="finite"):
        theil_t([1.0, np.inf])


def test_equity_table_on_completeness():
    c = Circle(name="c", mode="walk", minutes=10.0,
               requirements={"s1": ("primary_school",), "s2": ("clinic",)})
    cells = pd.DataFrame({
        "population": [10.0, 10.0, 20.0],
        "t_walk_primary_school": [60.0, 60.0, np.nan],
        "t_walk_clinic": [60.0, 9000.0, np.nan],
        "reachable_walk": [True, True, False],
        "township": ["T1", "T1", "T2"],
        "urban": [True, True, False],
    })
    tab = equity_table(cells, [c]).set_index("circle")
    # 设施完备度: 2/2, 1/2, 0 with weights 10, 10, 20
    x, w = np.array([1.0, 0.5, 0.0]), np.array([10.0, 10.0, 20.0])
    assert tab.loc["c", "measure"] == "completeness" and tab.loc["c", "demand"] == "all"
    assert tab.loc["c", "mean"] == pytest.approx(15 / 40)
    assert tab.loc["c", "share_complete"] == pytest.approx(0.25)
    assert tab.loc["c", "gini"] == pytest.approx(
        sum(wi * wj * abs(xi - xj) for xi, wi in zip(x, w) for xj, wj in zip(x, w))
        / (2 * 40**2 * (15 / 40)))
    assert tab.loc["c", "theil"] == pytest.approx(
        tab.loc["c", "theil_between"] + tab.loc["c", "theil_within"])
    assert tab.loc["c", "urban_mean"] == 0.75 and tab.loc["c", "rural_mean"] == 0.0
    assert tab.loc["c", "urban_rural_gap"] == 0.75


def test_equity_two_counties_by_hand():
    """County A: two persons with every service (1, 1); county B: one with
    half (0.5), one with none (0). Persons 10 each (indices are weight-scale free)."""
    c = Circle(name="c", mode="walk", minutes=10.0,
               requirements={"s1": ("primary_school",), "s2": ("clinic",)})
    cells = pd.DataFrame({
        "population": [10.0, 10.0, 10.0, 10.0],
        "t_walk_primary_school": [60.0, 60.0, 60.0, np.nan],
        "t_walk_clinic": [60.0, 60.0, 9000.0, np.nan],
        "county": ["A", "A", "B", "B"],
        "urban": [True, True, False, False],
    })
    tab = equity_table(cells, [c], groups="county").set_index("circle").loc["c"]
    mu = 2.5 / 4
    total = (2 * (1 / mu) * math.log(1 / mu) + (0.5 / mu) * math.log(0.5 / mu)) / 4
    s_a, s_b = 2 * 1.0 / (4 * mu), 2 * 0.25 / (4 * mu)  # shares of the total held by each county
    between = s_a * math.log(1.0 / mu) + s_b * math.log(0.25 / mu)
    theil_b = (2 * math.log(2) + 0) / 2  # B: values 0.5 and 0 around its mean 0.25
    within = s_a * 0.0 + s_b * theil_b
    assert total == pytest.approx(between + within)
    assert tab["theil"] == pytest.approx(total)
    assert tab["theil_between"] == pytest.approx(between)
    assert tab["theil_within"] == pytest.approx(within)
    # Palma: bottom 40 % = one person at 0 and 0.6 of one at 0.5 -> 0.3 of 2.5;
    # top 10 % = 0.4 of a person at 1 -> 0.4 of 2.5
    assert tab["palma"] == pytest.approx((0.4 / 2.5) / (0.3 / 2.5))
    assert tab["urban_rural_gap"] == pytest.approx(1.0 - 0.25)


def test_equity_uses_scope_and_group_persons():
    c = Circle(name="c", mode="walk", minutes=10.0, scope="rural",
               requirements={"care": ("elderly_day_care",)})
    cells = pd.DataFrame({
        "population": [100.0, 100.0, 100.0],
        "pop_elderly": [1.0, 3.0, 50.0],
        "t_walk_elderly_day_care": [60.0, np.nan, 60.0],
        "urban": [False, False, True],
    })
    tab = equity_table(cells, [c], demand={"elderly_day_care": "elderly"}).set_index("circle").loc["c"]
    # rural elderly only: 1 person covered of 4
    assert tab["population"] == 4.0 and tab["mean"] == pytest.approx(0.25)
    assert (tab["scope"], tab["demand"]) == ("rural", "elderly")
    assert np.isnan(tab["urban_mean"]) and np.isnan(tab["urban_rural_gap"])

