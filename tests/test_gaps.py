"""Gap polygons (rook contiguity) and township rule failures, by hand."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point, box

from access.coverage.gaps import gap_areas, township_rule_failures
from access.coverage.standards import TOWNSHIP_RULES, Circle
from access.errors import InputError

C = Circle(name="c", mode="walk", minutes=10.0,
           requirements={"school": ("primary_school",), "clinic": ("clinic",)})
S = 100.0  # cell size, metres


def _grid(jitter=0.0):
    """3 x 3 cells of 100 m. Underserved: A = (0,0), (1,0) [rook pair];
    B = (2,1), (2,2) [rook pair], diagonal to A's (1,0) -> a separate gap."""
    rng = np.random.default_rng(0)
    rows = []
    under = {(0, 0): 10.0, (1, 0): 5.0, (2, 1): 20.0, (2, 2): 1.0}
    for i in range(3):
        for j in range(3):
            x, y = 1000 + i * S, 2000 + j * S
            x += rng.uniform(-jitter, jitter)
            y += rng.uniform(-jitter, jitter)
            pop = under.get((i, j), 7.0)
            served = (i, j) not in under
            rows.append({"ij": (i, j), "population": pop, "x": x, "y": y,
                         "t_walk_primary_school": 60.0 if served or (i, j) == (2, 1) else 900.0,
                         "t_walk_clinic": 60.0 if served or (i, j) != (2, 1) else 900.0,
                         "reachable_walk": (i, j) != (2, 2),
                         "township": "T2" if i == 2 and j == 1 else "T1",
                         "township_name": "乙" if i == 2 and j == 1 else "甲"})
    rows.append({"ij": (1, 2), "population": 0.0, "x": 1000 + S, "y": 2000 + 2 * S + 0.0,
                 "t_walk_primary_school": np.nan, "t_walk_clinic": np.nan,
                 "reachable_walk": True, "township": "T1", "township_name": "甲"})
    df = pd.DataFrame(rows)
    df = df[~((df["ij"] == (1, 2)) & (df["population"] > 0))]  # replace served (1,2) by empty
    return gpd.GeoDataFrame(df, geometry=[Point(x, y) for x, y in zip(df.x, df.y)],
                            crs="EPSG:32650").reset_index(drop=True)


def test_gaps_by_hand():
    g = gap_areas(_grid(), C, S)
    assert len(g) == 2
    b, a = g.iloc[0], g.iloc[1]  # B has 21 persons, A 15
    assert (b["rank"], a["rank"]) == (1, 2)
    assert b["population"] == 21 and a["population"] == 15
    assert b["cells"] == 2 and a["cells"] == 2
    # B: (2,1) lacks clinic (20 persons), (2,2) unreachable lacks both (1)
    assert b["missing"] == "clinic,school"
    assert b["pop_missing__clinic"] == 21 and b["pop_missing__school"] == 1
    assert a["missing"] == "school" and a["pop_missing__clinic"] == 0
    assert b["township"] == "T2" and b["township_name"] == "乙"
    assert a["township"] == "T1"
    # median binding time: (2,1) 900 s holds 20 of 21 persons
    assert b["t_median_s"] == 900.0 and a["t_median_s"] == 900.0
    assert b["unreachable_population"] == 1 and a["unreachable_population"] == 0
    expect_a = shapely.union_all([box(950, 1950, 1050, 2050), box(1050, 1950, 1150, 2050)])
    assert a.geometry.equals(expect_a)
    assert a.geometry.area == pytest.approx(2 * S * S)
    assert b.geometry.geom_type == "Polygon"
    assert g.crs == "EPSG:32650"


def test_gaps_tolerate_an_irregular_grid():
    g = gap_areas(_grid(jitter=10.0), C, S)
    assert sorted(g["population"]) == [15, 21]


def test_diagonal_only_is_not_contiguous():
    cells = gpd.GeoDataFrame(
        {"population": [1.0, 1.0], "t_walk_primary_school": [np.nan] * 2,
         "t_walk_clinic": [np.nan] * 2},
        geometry=[Point(0, 0), Point(100, 100)], crs="EPSG:32650")
    assert len(gap_areas(cells, C, 100.0)) == 2
    cells.loc[1, "geometry"] = Point(100, 0)
    assert len(gap_areas(cells, C, 100.0)) == 1


def test_no_gap_and_bad_size():
    cells = _grid()
    cells["t_walk_primary_school"] = 1.0
    cells["t_walk_clinic"] = 1.0
    cells["reachable_walk"] = True
    g = gap_areas(cells, C, S)
    assert len(g) == 0 and "population" in g.columns
    with pytest.raises(InputError, match="cell_size_m"):
        gap_areas(cells, C, 0.0)


def test_township_rule_failures():
    tw = gpd.GeoDataFrame(
        {"code": ["T1", "T2", "T3"], "name": ["甲镇", "乙乡", "丙街道"],
         "urban": [False, False, True]},
        geometry=[box(0, 0, 10, 10), box(10, 0, 20, 10), box(20, 0, 30, 10)], crs="EPSG:32650")
    fac = gpd.GeoDataFrame(
        {"category": ["central_kindergarten", "kindergarten", "township_health_centre"]},
        geometry=[Point(5, 5), Point(15, 5), Point(10, 5)],  # the last on the T1/T2 edge
        crs="EPSG:32650")
    out = township_rule_failures(tw, fac, TOWNSHIP_RULES)
    got = {(r.code, r.rule): (r.found, r.required) for r in out.itertuples()}
    # urban T3 is exempt from rural-only rules; the health centre on the edge
    # counts for T1 (smallest code) only.
    assert got == {("T2", "central_kindergarten"): (0, 1),
                   ("T2", "township_health_centre"): (0, 1)}
