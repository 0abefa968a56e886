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
    # A = (0,0)+(1,0): T1, both lack the school only -> one gap of 15.
    # (2,1) T2 lacks the clinic (20); (2,2) T1 is off-road and lacks both (1):
    # rook neighbours, but another township and another missing set -> apart.
    assert len(g) == 3
    b, a, c = g.iloc[0], g.iloc[1], g.iloc[2]
    assert list(g["rank"]) == [1, 2, 3]
    assert (b["population"], a["population"], c["population"]) == (20, 15, 1)
    assert (b["cells"], a["cells"], c["cells"]) == (1, 2, 1)
    assert b["missing"] == "clinic" and a["missing"] == "school" and c["missing"] == "school,clinic"
    assert b["pop_missing__clinic"] == 20 and b["pop_missing__school"] == 0
    assert a["pop_missing__school"] == 15 and a["pop_missing__clinic"] == 0
    assert (b["township"], b["township_name"]) == ("T2", "乙")
    assert a["township"] == "T1" and c["township"] == "T1"
    assert b["t_median_s"] == 900.0 and a["t_median_s"] == 900.0 and c["t_median_s"] == np.inf
    # current time to each missing service; NaN for services not missing
    assert b["t_clinic_s"] == 900.0 and np.isnan(b["t_school_s"]) and a["t_school_s"] == 900.0
    assert c["unreachable_population"] == 1 and a["unreachable_population"] == 0
    expect_a = shapely.union_all([box(950, 1950, 1050, 2050), box(1050, 1950, 1150, 2050)])
    assert a.geometry.equals(expect_a)
    assert a.geometry.area == pytest.approx(2 * S * S)
    assert b.geometry.equals(box(1150, 2050, 1250, 2150))
    assert g.crs == "EPSG:32650"


def test_gaps_tolerate_an_irregular_grid():
    g = gap_areas(_grid(jitter=10.0), C, S)
    assert sorted(g["population"]) == [1, 15, 20]


def test_gaps_split_at_township_borders_and_never_exceed_the_township():
    """A 4 x 1 strip lacking the same service, cut by a township border
    after the second cell; a fifth cell in T2 lacks another set."""
    xs = [0.0, 100.0, 200.0, 300.0, 400.0]
    cells = gpd.GeoDataFrame({
        "population": [1.0, 2.0, 4.0, 8.0, 16.0],
        "t_walk_primary_school": [900.0, 900.0, 900.0, 800.0, 900.0],
        "t_walk_clinic": [60.0, 60.0, 60.0, 60.0, 900.0],
        "nearest_walk_primary_school": ["s1", "s1", "s2", "s2", "s2"],
        "nearest_walk_clinic": ["k1"] * 5,
        "township": ["T1", "T1", "T2", "T2", "T2"], "township_name": ["甲", "甲", "乙", "乙", "乙"],
        "pop_age_6_11": [0.1, 0.2, 0.4, 0.8, 1.6],
    }, geometry=[Point(x, 0) for x in xs], crs="EPSG:32650")
    fac = pd.DataFrame({"facility_id": ["s1", "s2", "k1"], "name": ["一小", "二小", "卫生站"]})
    demand = {"primary_school": "age_6_11"}
    g = gap_areas(cells, C, 100.0, demand=demand, facilities=fac).set_index("gap_id")
    assert len(g) == 3
    assert g["population"].tolist() == [16.0, 12.0, 3.0]  # ranked by persons
    top, mid, low = g.iloc[0], g.iloc[1], g.iloc[2]
    assert (top["township"], top["missing"]) == ("T2", "school,clinic")
    assert (mid["township"], mid["missing"], mid["cells"]) == ("T2", "school", 2)
    assert (low["township"], low["missing"], low["cells"]) == ("T1", "school", 2)
    # persons by group: the school's demand is ages 6-11
    assert mid["pop_age_6_11"] == pytest.approx(1.2) and mid["pop_missing__school"] == pytest.approx(1.2)
    assert top["pop_missing__clinic"] == 16.0  # the clinic's demand is everyone
    # population-weighted median time to the school in mid: 800 s holds 8 of 12
    assert mid["t_school_s"] == 800.0
    # nearest existing facility: the one nearest to most persons
    assert (low["nearest_school"], low["nearest_name_school"]) == ("s1", "一小")
    assert (mid["nearest_school"], mid["nearest_name_school"]) == ("s2", "二小")
    assert top["nearest_clinic"] == "k1" and mid["nearest_clinic"] == ""
    pop_t = cells.groupby("township")["population"].sum()
    assert (g["population"] <= g["township"].map(pop_t)).all()
    assert g.groupby("township")["population"].sum().to_dict() == pop_t.to_dict()


def test_gaps_keep_to_the_circle_scope():
    cu = Circle(name="u", mode="walk", minutes=10.0, scope="urban",
                requirements={"school": ("primary_school",)})
    cells = gpd.GeoDataFrame({
        "population": [5.0, 7.0], "t_walk_primary_school": [np.nan, np.nan], "urban": [True, False]},
        geometry=[Point(0, 0), Point(100, 0)], crs="EPSG:32650")
    g = gap_areas(cells, cu, 100.0)
    assert g["population"].tolist() == [5.0] and g["scope"].tolist() == ["urban"]


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


def test_gap_grid_of_raster_cells_and_of_scattered_points():
    """Raster cells keep their own spacing (a sparse lon/lat grid too); scattered
    points are traced on the 100 m grid instead of one island per point."""
    from access.study import POINT_GRID_M, _cell_size

    rng = np.random.default_rng(1)
    # a 3" lon/lat grid near 26 N, one cell in five populated, projected to UTM 50N
    lon = 118.0 + (np.arange(300) + 0.5) / 1200.0
    lat = 26.0 + (np.arange(300) + 0.5) / 1200.0
    lo, la = np.meshgrid(lon, lat)
    keep = rng.random(lo.size) < 0.2
    grid = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lo.ravel()[keep], la.ravel()[keep]), crs=4326).to_crs(32650)
    dx, dy = _cell_size(grid)
    # 3" of longitude at 26 N is 83.3 m, of latitude 92.3 m (WGS84 ellipsoid)
    assert dx == pytest.approx(83.3, abs=0.6) and dy == pytest.approx(92.3, abs=0.6)
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(rng.uniform(0, 20_000, 50_000),
                                                       rng.uniform(0, 20_000, 50_000)), crs=32650)
    assert _cell_size(pts) == (POINT_GRID_M, POINT_GRID_M)


def test_points_closer_than_the_spacing_join_one_gap():
    """Scattered points whose 100 m squares overlap are neighbours: one gap per
    township and missing set, not one island per point; a point hidden under
    another township's points keeps its own square."""
    rng = np.random.default_rng(3)
    # 400 points in a 300 m x 300 m block, all lacking both services
    xy = rng.uniform(0, 300, (400, 2))
    cells = gpd.GeoDataFrame({"population": np.ones(400), "t_walk_primary_school": np.nan,
                              "t_walk_clinic": np.nan, "township": "T1", "township_name": "甲"},
                             geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs="EPSG:32650")
    g = gap_areas(cells, C, 100.0)
    assert len(g) == 1 and g["cells"].iloc[0] == 400 and g["population"].iloc[0] == 400.0
    assert g.geometry.iloc[0].covers(shapely.MultiPoint(xy))
    # one point of another township inside the block: its pixels all go to T1's
    # points painted after it, yet its gap has an area holding it
    lone = gpd.GeoDataFrame({"population": [5.0], "t_walk_primary_school": [np.nan], "t_walk_clinic": [np.nan],
                             "township": ["T2"], "township_name": ["乙"]},
                            geometry=[Point(150.0, 150.0)], crs="EPSG:32650")
    both = pd.concat([lone, cells], ignore_index=True)
    g = gap_areas(both, C, 100.0).set_index("township")
    assert g["population"].to_dict() == {"T1": 400.0, "T2": 5.0}
    assert g.geometry["T2"].equals(box(100, 100, 200, 200))
