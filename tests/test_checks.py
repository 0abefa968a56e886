"""Cross-input checks: pure functions against hand-computed cases."""

from __future__ import annotations

import math
import warnings

import geopandas as gpd
import numpy as np
import pytest
import shapely

from access.accounting import Account
from access.checks import (
    CheckSettings,
    dropped_persons,
    empty_units,
    extent_problems,
    facility_problems,
    network_problems,
    output_problems,
)
from access.coverage.standards import Circle
from access.errors import InputWarning, format_warning
from access.scenario import Target

UTM = "EPSG:32650"


def test_extents_apart_name_both_files_and_distance():
    # 1 degree of longitude apart at 26 N: 111.32 km * cos(26 deg) = 100.05 km
    rep = extent_problems({"population": ("pop.tif", (118.0, 26.0, 118.5, 26.0)),
                           "network": ("roads.osm.pbf", (119.5, 26.0, 120.0, 26.0))})
    assert len(rep.problems) == 1
    msg = rep.problems[0]
    assert "pop.tif (population: lon 118.000..118.500, lat 26.000..26.000)" in msg
    assert "roads.osm.pbf (network: lon 119.500..120.000" in msg
    assert round(111.32 * math.cos(math.radians(26.0))) == 100 and "they are 100 km apart" in msg


def test_extents_overlapping_pass():
    rep = extent_problems({"population": ("p", (118, 26, 119, 27)), "network": ("n", (118.9, 26.9, 120, 28)),
                           "facilities": ("f", (118.95, 26.95, 119.0, 27.0)), "boundaries": ("b", (118, 26, 119, 27))})
    assert rep.problems == []


def test_dropped_persons_share_and_threshold():
    acc = Account("pop.tif", read=10, kept=8, dropped={"outside the study area": 2}, population_read=1000.0,
                  population_kept=940.0, population_dropped={"outside the study area": 60.0})
    rep = dropped_persons(acc, CheckSettings(), "pop.tif")
    assert "60 dropped (6.0%): 60 persons outside the study area" in rep.lines[0]
    assert len(rep.problems) == 1 and "6.0% of its persons (60 of 1,000)" in rep.problems[0]
    assert "max_dropped_persons_share = 0.06." in rep.problems[0]  # the fix names the share that passes
    assert dropped_persons(acc, CheckSettings(max_dropped_persons_share=0.06), "pop.tif").problems == []


def test_empty_townships_listed():
    units = gpd.GeoDataFrame({"code": ["1", "2", "3"], "name": ["甲镇", "乙乡", "丙街道"]},
                             geometry=[shapely.box(i, 0, i + 1, 1) for i in range(3)], crs=UTM)
    cells = gpd.GeoDataFrame({"population": [5.0, 0.0], "township": ["1", "2"]},
                             geometry=gpd.points_from_xy([0.5, 1.5], [0.5, 0.5]), crs=UTM)
    rep = empty_units(cells, units, "township", "pop.tif")
    assert rep.problems == [] and len(rep.warnings) == 1
    assert "2 of 3 townships have no population in pop.tif: 乙乡 (2), 丙街道 (3)" in rep.warnings[0]


def _fac(cats, cap=None):
    return gpd.GeoDataFrame({"facility_id": [f"F{i}" for i in range(len(cats))], "category": cats,
                             "capacity": cap if cap is not None else [np.nan] * len(cats)},
                            geometry=gpd.points_from_xy(range(len(cats)), [0] * len(cats)), crs=UTM)


CIRCLE = Circle(name="c15", mode="walk", minutes=15, requirements={"school": ("primary_school",),
                                                                  "health": ("clinic", "hospital")})


def test_circle_service_without_facility_is_an_error_or_a_warning():
    rep = facility_problems(_fac(["primary_school"]), [CIRCLE], [], CheckSettings(), "fac.csv")
    assert len(rep.problems) == 1
    assert "circle 'c15' needs service 'health'" in rep.problems[0] and "(clinic, hospital)" in rep.problems[0]
    low = facility_problems(_fac(["primary_school"]), [CIRCLE], [], CheckSettings(allow_no_facility=True), "fac.csv")
    assert low.problems == [] and len(low.warnings) == 1
    assert facility_problems(_fac(["primary_school", "hospital"]), [CIRCLE], [], CheckSettings(), "f").problems == []


def test_no_facility_at_all():
    rep = facility_problems(_fac([]), [CIRCLE], [], CheckSettings(), "fac.csv")
    assert rep.problems == ["fac.csv: no facility remains after reading, so every circle would show 0 %. Fix: check "
                            "the file and its categories, or accept it with [checks] allow_no_facility = true."]


def test_target_capacity_column_and_zero_capacity():
    t = Target(name="beds", categories=("hospital",), capacity_column="doctors", per_1000=5, minutes=30)
    rep = facility_problems(_fac(["hospital"], [10.0]), [], [t], CheckSettings(), "fac.csv")
    assert "capacity_column = 'doctors' is not a column" in rep.problems[0]
    t2 = Target(name="beds", categories=("hospital",), per_1000=5, minutes=30)
    rep = facility_problems(_fac(["hospital", "clinic"], [np.nan, 4.0]), [], [t2], CheckSettings(), "fac.csv")
    assert "target 'beds' has no facility of categories hospital with a capacity > 0" in rep.problems[0]


FILES = {"population": "pop.tif", "network": "roads.osm.pbf", "facilities": "fac.csv"}


def test_zero_reachable_is_an_error_unless_allowed():
    pop = np.array([10.0, 20.0, 30.0])
    fac = _fac(["primary_school", "hospital"])
    ok = {"walk": np.array([True, True])}
    rep = network_problems({"walk": np.zeros(3, bool)}, pop, fac, ok, [CIRCLE], CheckSettings(), 500, FILES)
    assert len(rep.problems) == 1 and "pop.tif: no populated cell is within 500 m of a road of roads.osm.pbf" \
        in rep.problems[0]
    rep = network_problems({"walk": np.zeros(3, bool)}, pop, fac, ok, [CIRCLE],
                           CheckSettings(allow_unreachable=True), 500, FILES)
    assert rep.problems == [] and len(rep.warnings) == 1
    rep = network_problems({"walk": np.array([True, False, True])}, pop, fac, ok, [CIRCLE], CheckSettings(), 500, FILES)
    assert rep.problems == [] and "walk: 40 of 60 persons (66.7%) are on the walk roads; 20 unreachable" in rep.lines[0]


def test_facilities_off_network_share():
    fac = _fac(["primary_school"] * 4 + ["hospital"])
    ok = {"walk": np.array([True, False, True, True, True])}  # 1 of 5 = 20 %: at the threshold, allowed
    rep = network_problems({"walk": np.ones(1, bool)}, np.ones(1), fac, ok, [CIRCLE], CheckSettings(), 500, FILES)
    assert rep.problems == [] and "1 of 5 facilities (20.0%)" in rep.lines[1] and "(ids F1)" in rep.lines[1]
    ok = {"walk": np.array([False, False, True, True, True])}
    rep = network_problems({"walk": np.ones(1, bool)}, np.ones(1), fac, ok, [CIRCLE], CheckSettings(), 500, FILES)
    assert len(rep.problems) == 1 and "40% of facilities (2 of 5; ids F0, F1)" in rep.problems[0]
    # the only hospital off the roads: the health service has no reachable facility
    ok = {"walk": np.array([True, True, True, True, False])}
    rep = network_problems({"walk": np.ones(1, bool)}, np.ones(1), fac, ok, [CIRCLE], CheckSettings(), 500, FILES)
    assert len(rep.problems) == 1 and "service 'health', but none of its 1 facilities" in rep.problems[0]


def test_output_path_file_and_under_a_file(tmp_path):
    f = tmp_path / "out.txt"
    f.write_text("x")
    assert "the output path is a file" in output_problems(f, []).problems[0]
    assert f"because {f} is a file" in output_problems(f / "sub" / "dir", []).problems[0]
    assert output_problems(tmp_path / "new" / "out", []).problems == []


def test_warning_is_one_clean_line():
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        warnings.warn("fac.csv: 3 facilities\n  are far", InputWarning)
    line = format_warning(w[0].message, w[0].category, w[0].filename, w[0].lineno)
    assert line == "warning: fac.csv: 3 facilities are far\n"
    assert format_warning("x", UserWarning, "f.py", 3).startswith("f.py:3: UserWarning")


@pytest.mark.parametrize("text, problem", [
    ("[checks]\nmax_dropped_persons_share = 5\n", "checks.max_dropped_persons_share: is a share between 0 and 1"),
    ("[checks]\nallow_unreachble = true\n", "checks.allow_unreachble: unknown key. Did you mean 'allow_unreachable'?"),
    ("[checks]\nallow_no_facility = \"yes\"\n", "checks.allow_no_facility: must be true or false"),
])
def test_checks_table_parsed(tmp_path, text, problem):
    from access.scenario import validate_scenario

    for f in ("roads.osm.pbf", "pop.tif", "fac.csv"):
        (tmp_path / f).write_text("x")
    p = tmp_path / "s.toml"
    p.write_text('[study]\nname = "x"\n[inputs]\nnetwork = "roads.osm.pbf"\npopulation = "pop.tif"\n'
                 'facilities = "fac.csv"\n' + text, encoding="utf-8")
    assert any(problem in q for q in validate_scenario(p))


def test_checks_defaults(tmp_path):
    from access.scenario import load_scenario

    for f in ("roads.osm.pbf", "pop.tif", "fac.csv"):
        (tmp_path / f).write_text("x")
    p = tmp_path / "s.toml"
    p.write_text('[study]\nname = "x"\n[inputs]\nnetwork = "roads.osm.pbf"\npopulation = "pop.tif"\n'
                 'facilities = "fac.csv"\n[checks]\nallow_unreachable = true\n', encoding="utf-8")
    sc = load_scenario(p)
    assert sc.checks == CheckSettings(allow_unreachable=True, allow_no_facility=False,
                                      max_dropped_persons_share=0.05, max_facilities_off_network_share=0.20)
