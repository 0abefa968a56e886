"""Circle membership, missing services and binding times against hand values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from access.coverage.circles import circle_limit_s, evaluate_circles, mode_speed_kmh
from access.coverage.standards import CIRCLES, Circle, standards_table
from access.errors import InputError
from access.network.modes import PRESETS, WALK

C = Circle(
    name="c", mode="walk", minutes=10.0,
    requirements={"school": ("primary_school",),
                  "health": ("community_health_station", "community_health_centre")},
)


def _times():
    return pd.DataFrame(
        {
            "t_walk_primary_school": [300.0, 700.0, 100.0, np.nan, 600.0],
            "t_walk_community_health_station": [np.nan, 100.0, 50.0, 200.0, 900.0],
            "t_walk_community_health_centre": [500.0, np.nan, 60.0, np.nan, 599.0],
            "reachable_walk": [True, True, False, True, True],
        },
        index=["a", "b", "c", "d", "e"],
    )


def test_membership_missing_and_binding_time():
    r = evaluate_circles(_times(), [C])
    # a: school 300, health min(NaN, 500) = 500 -> in, binding 500
    # b: school 700 > 600 -> missing school, binding 700
    # c: not snapped -> never in, every service missing, inf
    # d: no school within the search limit -> missing school, inf
    # e: school 600 == limit (inclusive), health min(900, 599) = 599 -> in
    assert r["in_c"].tolist() == [True, False, False, False, True]
    assert r["missing_c"].tolist() == ["", "school", "school,health", "school", ""]
    assert r["t_c"].tolist() == [500.0, 700.0, np.inf, np.inf, 600.0]
    assert r["in_c__school"].tolist() == [True, False, False, False, True]
    assert r["in_c__health"].tolist() == [True, True, False, True, True]
    assert list(r.index) == ["a", "b", "c", "d", "e"]


def test_missing_category_column_means_no_facility():
    t = _times().drop(columns=["t_walk_primary_school"])
    r = evaluate_circles(t, C)
    assert not r["in_c"].any()
    assert (r["t_c"] == np.inf).all()


def test_no_reachable_column_means_all_reachable():
    t = _times().drop(columns=["reachable_walk"])
    assert evaluate_circles(t, C)["in_c"].tolist() == [True, False, True, False, True]


def test_metre_circles_use_the_modal_walking_speed():
    assert mode_speed_kmh(WALK) == 4.5
    # GB 50180-2018: 300 m at 4.5 km/h = 240 s, 500 m = 400 s, 1000 m = 800 s
    assert circle_limit_s(CIRCLES["gb50180_5min"], PRESETS) == pytest.approx(240.0)
    assert circle_limit_s(CIRCLES["gb50180_10min"]) == pytest.approx(400.0)
    assert circle_limit_s(CIRCLES["gb50180_15min"]) == pytest.approx(800.0)
    slow = WALK.with_overrides(speed_kmh={h: 3.6 for h in WALK.speed_kmh})
    assert circle_limit_s(CIRCLES["gb50180_15min"], {"walk": slow}) == pytest.approx(1000.0)
    assert circle_limit_s(CIRCLES["fujian_30min_medical"]) == 1800.0


def test_levels_are_not_nested():
    """A cell with every 15-minute service but no food market is in the
    15-minute circle and not in the 10-minute one."""
    c15, c10 = CIRCLES["gb50180_15min"], CIRCLES["gb50180_10min"]
    row = {f"t_walk_{k}": 100.0 for k in c15.categories + c10.categories}
    row["t_walk_food_market"] = np.nan
    r = evaluate_circles(pd.DataFrame([row]), [c15, c10])
    assert bool(r["in_gb50180_15min"].iloc[0])
    assert not bool(r["in_gb50180_10min"].iloc[0])
    assert r["missing_gb50180_10min"].iloc[0] == "food_market"


def test_unknown_mode_is_an_input_error():
    bad = Circle(name="x", mode="boat", metres=100.0, requirements={"s": ("clinic",)})
    with pytest.raises(InputError, match="boat"):
        evaluate_circles(pd.DataFrame({"t_boat_clinic": [1.0]}), [bad])


def test_empty_times():
    r = evaluate_circles(_times().iloc[:0], C)
    assert len(r) == 0 and "missing_c" in r.columns


def test_standards_table_lists_every_circle():
    tab = standards_table(list(CIRCLES.values()))
    assert list(tab["name"]) == list(CIRCLES)
    row = tab.set_index("name").loc["gb50180_5min"]
    assert row["mode"] == "walk" and "300 m" in row["limit"]
    assert "GB 50180-2018" in row["source"]
    assert {"name", "zh", "en", "mode", "limit", "requirements", "source",
            "assumption"} <= set(tab.columns)
