"""Scenario files: schema, defaults, overrides, problems reported together."""

from __future__ import annotations

from pathlib import Path

import pytest

from access.coverage.standards import CIRCLES, TOWNSHIP_RULES
from access.errors import InputError
from access.network.modes import PRESETS
from access.scenario import DEFAULT_CIRCLES, load_scenario, validate_scenario


def make_inputs(folder: Path) -> None:
    (folder / "data").mkdir(parents=True, exist_ok=True)
    for name in ("roads.osm.pbf", "pop.tif", "fac.csv", "towns.geojson"):
        (folder / "data" / name).write_text("x")


MINIMAL = """
[study]
name = "示范县"
[inputs]
network = "data/roads.osm.pbf"
population = "data/pop.tif"
facilities = "data/fac.csv"
"""


def write(tmp_path, text):
    make_inputs(tmp_path)
    p = tmp_path / "scenario.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_minimal_defaults(tmp_path):
    sc = load_scenario(write(tmp_path, MINIMAL))
    assert sc.name == "示范县" and sc.crs is None and sc.lang == "zh" and not sc.synthetic
    assert sc.network == (tmp_path / "data" / "roads.osm.pbf").resolve()
    assert sc.output == (tmp_path / "output").resolve()
    assert [c.name for c in sc.circles] == DEFAULT_CIRCLES
    assert [r.name for r in sc.township_rules] == list(TOWNSHIP_RULES)
    assert set(sc.modes) == set(PRESETS) and sc.modes["walk"] == PRESETS["walk"]
    assert sc.snap_max_m == 500.0 and sc.targets == [] and sc.encoding == "auto"
    assert validate_scenario(tmp_path / "scenario.toml") == []


FULL = MINIMAL + """
townships = "data/towns.geojson"
facility_coords = "gcj02"
[inputs.columns]
id = "编号"
lon = "经度"
[inputs.boundary_fields]
code = "XZQDM"
[categories]
"卫生服务站" = "community_health_station"
"药店" = "ignore"
[snap]
max_distance_m = 300
[modes.walk]
speed_kmh = 4.0
[modes.drive]
penalty_min = 2
speeds_kmh = { primary = 55, tertiary = 25 }
use_maxspeed = false
[modes.tractor]
base = "drive"
speed_kmh = 15
[[circles]]
standard = "gb50180_15min"
[[circles]]
standard = "fujian_30min_medical"
minutes = 25
mode = "tractor"
[[circles]]
name = "school_10min_walk"
mode = "walk"
minutes = 10
categories = ["primary_school", "kindergarten"]
[rules]
township = ["central_kindergarten"]
[[targets]]
name = "doctors"
categories = ["township_health_centre", "hospital"]
per_1000 = 3.05
minutes = 30
"""


def test_full_scenario(tmp_path):
    sc = load_scenario(write(tmp_path, FULL))
    assert sc.facility_coords == "gcj02" and sc.columns == {"id": "编号", "lon": "经度"}
    assert sc.categories["药店"] == "ignore" and sc.snap_max_m == 300
    assert set(sc.modes["walk"].speed_kmh.values()) == {4.0}
    assert set(sc.modes["walk"].speed_kmh) == set(PRESETS["walk"].speed_kmh)
    d = sc.modes["drive"]
    assert d.penalty_min == 2 and d.speed_kmh["primary"] == 55 and d.speed_kmh["motorway"] == 100 and not d.use_maxspeed
    assert sc.modes["tractor"].oneway and set(sc.modes["tractor"].speed_kmh.values()) == {15.0}
    c15, c30, school = sc.circles
    assert c15 == CIRCLES["gb50180_15min"]
    assert c30.minutes == 25 and c30.mode == "tractor" and c30.requirements == CIRCLES["fujian_30min_medical"].requirements
    assert school.limit_seconds() == 600 and school.requirements == {
        "primary_school": ("primary_school",), "kindergarten": ("kindergarten",)}
    assert [r.name for r in sc.township_rules] == ["central_kindergarten"]
    t = sc.targets[0]
    assert (t.mode, t.minutes, t.per_1000, t.capacity_column) == ("drive", 30.0, 3.05, "capacity")


def test_metres_override_replaces_minutes(tmp_path):
    sc = load_scenario(write(tmp_path, MINIMAL + '[[circles]]\nstandard = "elderly_15min"\nmetres = 800\n'))
    assert sc.circles[0].metres == 800 and sc.circles[0].minutes is None


def test_all_problems_in_one_error(tmp_path):
    bad = MINIMAL.replace('"data/fac.csv"', '"data/nope.csv"') + """
encodng = "gbk"
[snap]
max_distance_m = "500"
[[circles]]
name = "x"
mode = "wlak"
minutes = 10
categories = ["primary_scool"]
[[circles]]
standard = "gb50180_15mn"
[categories]
"a" = "hopsital"
[rules]
township = ["central_kindergarden"]
"""
    p = write(tmp_path, bad)
    with pytest.raises(InputError) as ei:
        load_scenario(p)
    msg = str(ei.value)
    problems = ei.value.problems
    assert len(problems) == 8, problems
    for fragment in ("inputs.facilities", "nope.csv", "inputs.encodng", "Did you mean 'encoding'",
                     "snap.max_distance_m", "must be a number", "Did you mean 'walk'", "Did you mean 'primary_school'",
                     "Did you mean 'gb50180_15min'", "Did you mean 'hospital'", "Did you mean 'central_kindergarten'"):
        assert fragment in msg, fragment
    assert all(x.startswith("scenario.toml:") for x in problems)
    assert validate_scenario(p) == problems


def test_bad_toml_syntax(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text("[study]\nname = unquoted\n")
    with pytest.raises(InputError, match="not valid TOML"):
        load_scenario(p)


def test_new_mode_needs_base_and_crs_must_be_projected(tmp_path):
    p = write(tmp_path, MINIMAL.replace('[inputs]', 'crs = "EPSG:4326"\n[inputs]') + "[modes.boat]\nspeed_kmh = 10\n")
    problems = validate_scenario(p)
    assert any("modes.boat" in x and "base" in x for x in problems)
    assert any("study.crs" in x and "not projected" in x for x in problems)
