"""Units assignment and coverage tables, hand-computed on a tiny network.

Network (walk, seconds): path 0 -100- 1 -100- 2 -100- 3 and an island
4 -50- 5. A primary school sits on node 0, a clinic on node 2, nothing on
the island. Travel times come from networkx (the oracle), not our routing.
"""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from access.coverage.circles import evaluate_circles
from access.coverage.standards import Circle
from access.coverage.units import assign_units, coverage_table, weighted_quantile
from access.errors import InputError

C = Circle(name="c", mode="walk", minutes=2.5,  # 150 s
           requirements={"school": ("primary_school",), "clinic": ("clinic",)})


def _graph():
    G = nx.Graph()
    G.add_weighted_edges_from([(0, 1, 100.0), (1, 2, 100.0), (2, 3, 100.0), (4, 5, 50.0)])
    return G


def _cells():
    """a on node 1, b on node 3, c on island node 4, d not snapped."""
    G = _graph()
    fac = {"primary_school": [0], "clinic": [2]}
    snapped = {"a": 1, "b": 3, "c": 4, "d": None}
    rows = []
    for cid, node in snapped.items():
        row = {"cell_id": cid, "reachable_walk": node is not None}
        for cat, nodes in fac.items():
            t = np.nan
            if node is not None:
                d = nx.multi_source_dijkstra_path_length(G, nodes)
                t = d.get(node, np.nan)
            row[f"t_walk_{cat}"] = t
        rows.append(row)
    xy = {"a": (50, 50), "b": (150, 50), "c": (60, 60), "d": (160, 40)}
    df = pd.DataFrame(rows)
    return gpd.GeoDataFrame(
        df.assign(population=[100.0, 50.0, 30.0, 20.0]),
        geometry=[Point(xy[c]) for c in df["cell_id"]], crs="EPSG:32650",
    )


def _units():
    tw = gpd.GeoDataFrame(
        {"code": ["T1", "T2"], "name": ["甲镇", "乙镇"], "level": "township",
         "parent_code": ["C1", "C1"], "urban": [False, True]},
        geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)], crs="EPSG:32650")
    co = gpd.GeoDataFrame({"code": ["C1"], "name": ["某县"], "level": "county",
                           "parent_code": [None], "urban": [False]},
                          geometry=[box(0, 0, 200, 100)], crs="EPSG:32650")
    return tw, co


def test_networkx_times_give_the_expected_flags():
    cells = _cells()
    r = evaluate_circles(cells, C)
    # a: school 100, clinic 100 -> in; b: school 300 -> missing school;
    # c: island, no facility -> NaN -> missing both; d: not snapped.
    assert r["in_c"].tolist() == [True, False, False, False]
    assert r["missing_c"].tolist() == ["", "school", "school,clinic", "school,clinic"]


def test_assign_units_boundary_and_outside():
    tw, co = _units()
    cells = gpd.GeoDataFrame(
        {"population": [1.0, 2.0, 3.0, 4.0]},
        geometry=[Point(50, 50), Point(100, 50), Point(150, 50), Point(500, 500)],
        crs="EPSG:32650")
    out, acc = assign_units(cells, tw, co)
    # (100, 50) lies on the shared edge: the smallest code wins.
    assert out["township"].tolist() == ["T1", "T1", "T2", "outside"]
    assert out["township_name"].tolist() == ["甲镇", "甲镇", "乙镇", "outside"]
    assert out["county"].tolist() == ["C1", "C1", "C1", "outside"]
    assert out["urban"].tolist() == [False, False, True, False]
    assert len(out) == 4 and acc.read == acc.kept == 4
    assert acc.population_kept == 10.0
    assert any("1 cells (4 persons)" in n for n in acc.notes)
    # Row order of the polygons does not change the tie-break.
    out2, _ = assign_units(cells, tw.iloc[::-1], co)
    assert out2["township"].tolist() == out["township"].tolist()


def test_assign_units_errors_name_the_column():
    tw, co = _units()
    with pytest.raises(InputError, match="'code'"):
        assign_units(_cells(), tw.drop(columns="code"), co)
    with pytest.raises(InputError, match="CRS"):
        assign_units(_cells(), tw.to_crs("EPSG:4326"), co)


def test_weighted_quantile_by_hand():
    x, w = [30.0, 10.0, 20.0], [2.0, 1.0, 1.0]
    # sorted 10 (1), 20 (1), 30 (2): cumulative 1, 2, 4 of 4
    assert weighted_quantile(x, w, 0.25) == 10.0
    assert weighted_quantile(x, w, 0.5) == 20.0
    assert weighted_quantile(x, w, 0.51) == 30.0
    assert weighted_quantile(x, w, 0.9) == 30.0
    assert weighted_quantile([1.0, np.inf], [3.0, 1.0], 0.75) == 1.0
    assert weighted_quantile([1.0, np.inf], [3.0, 1.0], 0.9) == np.inf
    assert np.isnan(weighted_quantile([1.0], [0.0], 0.5))
    # equal weights: numpy's inverted_cdf
    v = np.array([5.0, 1.0, 4.0, 2.0, 3.0, 9.0])
    for q in (0.1, 0.5, 0.9):
        assert weighted_quantile(v, np.ones(6), q) == np.quantile(v, q, method="inverted_cdf")


def test_coverage_table_by_hand():
    tw, co = _units()
    cells, _ = assign_units(_cells(), tw, co)
    # a (100 persons) and c (30) in T1, b (50) and d (20) in T2
    assert cells["township"].tolist() == ["T1", "T2", "T1", "T2"]
    tab = coverage_table(cells, [C], level="township").set_index("code")
    assert tab.loc["T1", "population"] == 130 and tab.loc["T2", "population"] == 70
    assert tab.loc["T1", "covered_c"] == 100 and tab.loc["T2", "covered_c"] == 0
    assert tab.loc["T1", "share_c"] == pytest.approx(100 / 130)
    assert tab.loc["total", "share_c"] == pytest.approx(0.5)
    # binding times: T1 a=100 (100 persons), c=inf (30); T2 b=300 (50), d=inf (20)
    assert tab.loc["T1", "t50_c"] == 100 and tab.loc["T1", "t90_c"] == np.inf
    assert tab.loc["T2", "t50_c"] == 300 and tab.loc["T2", "t90_c"] == np.inf
    # per service within 150 s: school only a; clinic a and b (100 s)
    assert tab.loc["T1", "covered_c__school"] == 100
    assert tab.loc["T2", "covered_c__school"] == 0
    assert tab.loc["T2", "covered_c__clinic"] == 50
    assert tab.loc["total", "share_c__clinic"] == pytest.approx(150 / 200)
    # 设施完备度: a 2/2, b 1/2, c 0, d 0 -> T1 (100*1 + 30*0)/130, T2 (50*0.5)/70
    assert tab.loc["T1", "completeness_c"] == pytest.approx(100 / 130)
    assert tab.loc["T2", "completeness_c"] == pytest.approx(25 / 70)
    assert tab.loc["total", "completeness_c"] == pytest.approx(125 / 200)
    assert tab.loc["T2", "unreachable_walk"] == 20 and tab.loc["T1", "unreachable_walk"] == 0
    assert tab.loc["T1", "outside_any_circle"] == 30 and tab.loc["T2", "outside_any_circle"] == 70
    assert tab.loc["T1", "name"] == "甲镇" and tab.loc["total", "name"] == "study total"
    # sum over units == study total, for every person column
    units = tab.drop(index="total")
    for col in ("population", "covered_c", "covered_c__clinic", "unreachable_walk",
                "outside_any_circle", "population_c", "population_c__school"):
        assert units[col].sum() == pytest.approx(tab.loc["total", col])


def test_county_table_and_precomputed_results():
    tw, co = _units()
    cells, _ = assign_units(_cells(), tw, co)
    flags = evaluate_circles(cells, C)
    tab = coverage_table(cells, C, level="county", results=flags)
    assert tab["code"].tolist() == ["C1", "total"]
    assert tab["covered_c"].tolist() == [100.0, 100.0]
    assert tab["population"].tolist() == [200.0, 200.0]


def test_outside_cells_form_their_own_row():
    tw, co = _units()
    cells = _cells()
    cells.loc[3, "geometry"] = Point(900, 900)
    cells, _ = assign_units(cells, tw, co)
    tab = coverage_table(cells, C).set_index("code")
    assert tab.loc["outside", "population"] == 20
    assert tab.drop(index="total")["population"].sum() == tab.loc["total", "population"] == 200


def test_bad_level():
    with pytest.raises(InputError, match="level"):
        coverage_table(_cells(), C, level="village")
    with pytest.raises(InputError, match="assign_units"):
        coverage_table(_cells(), C, level="township")
