"""Scopes, demand groups, 设施完备度 and the headline, by hand.

Four cells, two urban (township A) and two rural (township B); seconds to
each category are given, so every figure below is worked out by hand.

====  =====  ===  =======  =======  ====  ======  =======
cell  urban  pop  age 3-5  elderly  kg    clinic  day care
====  =====  ===  =======  =======  ====  ======  =======
u1    yes    100  10       20       300   300     300
u2    yes     50   5       30       900   300     none
r1    no      80   8       40       none  300     300
r2    no      20   2       10       none  1200    900
====  =====  ===  =======  =======  ====  ======  =======

Limit 600 s for every circle.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from access.coverage import demand as dm
from access.coverage.indicators import completeness_table, headline
from access.coverage.standards import CIRCLES, Circle, standards_table
from access.coverage.units import coverage_table
from access.errors import InputError
from access.scenario import load_scenario, validate_scenario

U = Circle(name="u", mode="walk", minutes=10.0, scope="urban",
           requirements={"kg": ("kindergarten",), "clinic": ("clinic",), "care": ("elderly_day_care",)})
R = Circle(name="r", mode="walk", minutes=10.0, scope="rural", requirements={"clinic": ("clinic",)})
E = Circle(name="e", mode="walk", minutes=10.0, scope="all", requirements={"care": ("elderly_day_care",)})
DEMAND = dm.demand_map(["age_3_5", "elderly"])


def _cells() -> pd.DataFrame:
    return pd.DataFrame({
        "cell": ["u1", "u2", "r1", "r2"],
        "urban": [True, True, False, False],
        "township": ["A", "A", "B", "B"], "county": ["C", "C", "C", "C"],
        "population": [100.0, 50.0, 80.0, 20.0],
        "pop_age_3_5": [10.0, 5.0, 8.0, 2.0],
        "pop_elderly": [20.0, 30.0, 40.0, 10.0],
        "t_walk_kindergarten": [300.0, 900.0, np.nan, np.nan],
        "t_walk_clinic": [300.0, 300.0, 300.0, 1200.0],
        "t_walk_elderly_day_care": [300.0, np.nan, 300.0, 900.0],
        "reachable_walk": [True] * 4,
    })


def test_demand_groups_defaults_and_fallback():
    assert DEMAND["kindergarten"] == "age_3_5" and DEMAND["elderly_day_care"] == "elderly"
    assert dm.category_group("clinic", DEMAND) == "all"
    # a default group without persons falls back to everyone
    assert dm.demand_map([])["primary_school"] == "all"
    assert dm.demand_map(["age_6_11"])["primary_school"] == "age_6_11"
    assert dm.service_groups(U, DEMAND) == {"kg": "age_3_5", "clinic": "all", "care": "elderly"}
    # mixed groups -> the circle counts everyone; one shared group -> that group
    assert dm.circle_group(U, DEMAND) == "all" and dm.circle_group(E, DEMAND) == "elderly"
    assert dm.circle_group(E, None) == "all"


def test_scope_and_groups_in_the_coverage_table():
    tab = coverage_table(_cells(), [U, R, E], level="township", demand=DEMAND).set_index("code")
    # U applies to urban cells only: everyone (mixed groups), u1 inside
    assert tab.loc["A", "population_u"] == 150 and tab.loc["A", "covered_u"] == 100
    assert tab.loc["A", "share_u"] == pytest.approx(100 / 150)
    assert tab.loc["B", "population_u"] == 0 and np.isnan(tab.loc["B", "share_u"])
    assert tab.loc["total", "share_u"] == pytest.approx(100 / 150)
    # per service, in persons of the service's own group within the scope
    assert tab.loc["A", "population_u__kg"] == 15 and tab.loc["A", "covered_u__kg"] == 10
    assert tab.loc["A", "population_u__care"] == 50 and tab.loc["A", "covered_u__care"] == 20
    assert tab.loc["A", "share_u__clinic"] == 1.0
    # 设施完备度: u1 3/3, u2 1/3 (clinic only)
    assert tab.loc["A", "completeness_u"] == pytest.approx((100 * 1 + 50 / 3) / 150)
    # R: rural persons, r1 inside
    assert tab.loc["total", "population_r"] == 100 and tab.loc["total", "covered_r"] == 80
    assert tab.loc["A", "population_r"] == 0
    # E: everyone's scope, elderly persons: u1 (20) and r1 (40) of 100
    assert tab.loc["total", "population_e"] == 100 and tab.loc["total", "covered_e"] == 60
    assert tab.loc["B", "share_e"] == pytest.approx(40 / 50)
    assert tab.attrs["scope"] == {"u": "urban", "r": "rural", "e": "all"}
    assert tab.attrs["demand"] == {"u": "all", "r": "all", "e": "elderly"}
    # distinct persons outside a circle that applies to them: u2 (50) and r2 (20)
    assert tab.loc["A", "outside_any_circle"] == 50 and tab.loc["B", "outside_any_circle"] == 20
    units = tab.drop(index="total")
    for col in ("population_u", "covered_u__kg", "population_e", "outside_any_circle"):
        assert units[col].sum() == pytest.approx(tab.loc["total", col])


def test_missing_group_column_is_an_input_error():
    with pytest.raises(InputError, match="pop_age_6_11"):
        coverage_table(_cells(), [Circle(name="p", mode="walk", minutes=10.0,
                                         requirements={"p": ("primary_school",)})],
                       demand={"primary_school": "age_6_11"})


def test_headline_counts_distinct_persons():
    h = headline(_cells(), [U, R, E], demand=DEMAND).set_index("circle")
    assert h.loc["u", ["population", "covered", "outside"]].tolist() == [150, 100, 50]
    assert h.loc["r", ["population", "covered", "outside"]].tolist() == [100, 80, 20]
    assert h.loc["e", ["population", "covered", "outside", "demand"]].tolist() == [100, 60, 40, "elderly"]
    # outside at least one circle: u2 (50) and r2 (20), not 50 + 20 + 40
    assert h.loc["any", ["population", "outside", "scope", "demand"]].tolist() == [250, 70, "all", "all"]
    assert h.loc["any", "share"] == pytest.approx(180 / 250)
    assert h.index.tolist() == ["u", "r", "e", "any"]


def test_headline_without_groups_says_all():
    h = headline(_cells(), [E])
    assert h["demand"].tolist() == ["all", "all"]
    assert h.loc[0, "population"] == 250 and h.loc[0, "covered"] == 180


def test_completeness_distribution_per_township():
    t = completeness_table(_cells(), [U], level="township", demand=DEMAND)
    a = t[(t["code"] == "A")].set_index("within")
    assert a["persons"].tolist() == [0, 50, 0, 100]
    assert a.loc[1, "completeness"] == pytest.approx(1 / 3)
    assert a.loc[3, "share"] == pytest.approx(100 / 150)
    b = t[(t["code"] == "B")]
    assert b["persons"].sum() == 0 and b["share"].isna().all()  # rural: outside U's scope
    tot = t[t["code"] == "total"].set_index("within")
    assert tot["persons"].sum() == 150


def test_library_circles_carry_scope_and_source():
    assert {CIRCLES[n].scope for n in ("gb50180_15min", "gb50180_10min", "gb50180_5min")} == {"urban"}
    assert CIRCLES["fujian_30min_medical"].scope == "all" and CIRCLES["jiaxing_20min_chc"].scope == "all"
    for n in ("tdt1062_township", "tdt1062_village"):
        c = CIRCLES[n]
        assert c.scope == "rural" and "TD/T 1062-2021" in c.source
        assert "assumption" in c.assumption and "no travel time" in c.assumption
    tab = standards_table(CIRCLES).set_index("name")
    assert tab.loc["gb50180_5min", "scope"] == "urban"
    assert "kindergarten: age_3_5" in tab.loc["gb50180_5min", "demand"]
    assert "#" not in "".join(tab["source"])


def _scenario(tmp_path, extra: str, population: str = "pop.tif") -> str:
    for f in ("roads.osm", "fac.csv"):
        (tmp_path / f).write_text("x", encoding="utf-8")
    (tmp_path / population).write_bytes(b"")
    (tmp_path / "age").mkdir(exist_ok=True)
    for b in ("60", "65"):
        for s in ("f", "m"):
            (tmp_path / "age" / f"pop_{b}_{s}.tif").write_bytes(b"")
    p = tmp_path / "s.toml"
    p.write_text(f'[study]\nname = "t"\n[inputs]\nnetwork = "roads.osm"\npopulation = "{population}"\n'
                 f'facilities = "fac.csv"\n{extra}', encoding="utf-8")
    return str(p)


def test_scenario_reads_scope_groups_and_demand(tmp_path):
    p = _scenario(tmp_path, '[inputs.groups]\nelderly = ["age/pop_6*_*.tif"]\n'
                            '[demand]\nelderly_care_centre = "elderly"\nclinic = "all"\n'
                            '[[circles]]\nstandard = "elderly_15min"\nscope = "all"\n')
    sc = load_scenario(p)
    assert [f.name for f in sc.groups["elderly"]] == ["pop_60_f.tif", "pop_60_m.tif", "pop_65_f.tif",
                                                      "pop_65_m.tif"]
    assert sc.demand == {"elderly_care_centre": "elderly", "clinic": "all"}
    assert sc.circles[0].scope == "all"


def test_scenario_group_problems_are_named(tmp_path):
    p = _scenario(tmp_path, '[inputs.groups]\nelderly = ["age/pop_9*.tif"]\nage_3_5 = { column = "a" }\n'
                            '[demand]\nkindergarten = "age_3_5x"\n'
                            '[[circles]]\nstandard = "gb50180_5min"\nscope = "town"\n')
    problems = "\n".join(validate_scenario(p))
    assert "inputs.groups.elderly" in problems and "matches no file" in problems
    assert "inputs.groups.age_3_5" in problems and "raster" in problems
    assert "demand.kindergarten" in problems and "age_3_5x" in problems
    assert "circles[1].scope" in problems


def test_groups_without_persons_are_named():
    assert dm.missing_groups([U, E], ["elderly"]) == ["age_3_5"]
    assert dm.missing_groups([U, E], ["elderly"], {"kindergarten": "all"}) == []
    assert dm.missing_groups([R], []) == []
