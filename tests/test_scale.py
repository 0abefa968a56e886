"""Partitioned runs on dask.distributed equal the single-process run, cell by cell."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from access.outputs import cells_table, write_cell_parts, write_cells
from access.scale import buffer_m, partitions, run_partitioned, top_speed_kmh
from access.scenario import load_scenario
from access.study import Study

pytest.importorskip("dask.distributed")

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo" / "scenario.toml"


@pytest.fixture(scope="module")
def scenario():
    # 40 min search: both runs must use the same limit; targets (supply) are
    # single-process only
    return replace(load_scenario(DEMO), search_minutes=40.0, targets=[])


@pytest.fixture(scope="module")
def single(scenario):
    study = Study.load(scenario, quiet=True)
    cells, _, _ = study.travel_times()
    return study, cells.set_index("cell_id")


def test_buffer_is_search_time_at_top_speed(scenario, single):
    study, _ = single
    # the demo's motorway ways carry maxspeed=120, which the drive preset honours
    tags = study.edges.edges.loc[study.edges.edges["highway"] == "motorway", "maxspeed"]
    assert tags.max() == 120
    assert top_speed_kmh(study.edges, scenario.modes["drive"]) == pytest.approx(120.0)
    assert buffer_m(scenario, study.edges, "drive") == pytest.approx(40 * 60 * 120 / 3.6 + 1.0)
    assert buffer_m(scenario, study.edges, "walk") == pytest.approx(40 * 60 * 4.5 / 3.6 + 1.0)


def test_parts_cover_every_cell_once(scenario):
    study = Study.read(scenario, quiet=True)
    parts = list(partitions(study, by="township"))
    for mode in ("walk", "drive"):
        ids = np.concatenate([p.study.cells["cell_id"].to_numpy() for p in parts if p.mode == mode])
        assert len(ids) == len(study.cells) and len(np.unique(ids)) == len(ids)
    # a township part holds far fewer roads than the county
    walk = [p for p in parts if p.mode == "walk"]
    assert max(len(p.study.edges.edges) for p in walk) < len(study.edges.edges)


@pytest.mark.parametrize("by", ["county"])
def test_dask_local_cluster_equals_single_process(scenario, single, tmp_path, by):
    _, ref = single
    _, results, summary = run_partitioned(scenario, tmp_path, workers=2, by=by, quiet=True)
    assert summary["workers"] == 2
    assert len(summary["parts"]) == (2 * ref["township"].nunique() if by == "township" else 2)
    # the parts' own files hold full-precision times (cells.parquet holds 32-bit ones)
    modes = {}
    for d in summary["parts"]:
        modes.setdefault(d["mode"], []).append(pd.read_parquet(d["path"]))
    got = pd.concat([pd.concat(f).set_index("cell_id") for f in modes.values()], axis=1).loc[ref.index]
    compared = 0
    for c in ref.columns:
        if c.startswith(("t_", "in_", "missing_", "reachable_")):
            a, b = ref[c].to_numpy(), got[c].to_numpy()
            if a.dtype.kind == "f":
                # equal paths may sum their arcs in another order: 1e-6 s
                assert np.array_equal(np.isnan(a), np.isnan(b)), c
                assert np.allclose(a, b, rtol=0, atol=1e-6, equal_nan=True), c
            else:
                assert (a == b).all(), c
            compared += 1
    assert compared > 20
    # the merged coverage total is the study total
    total = results.coverage_township.query("code == 'total'")["population"].iloc[0]
    assert total == pytest.approx(ref["population"].sum(), rel=1e-12)


@pytest.fixture(scope="module")
def by_township(tmp_path_factory):
    """The demo run in one process and as township parts, supply targets and
    service areas included (allocation is single-process only, so both runs
    leave it out)."""
    sc = load_scenario(DEMO)
    sc = replace(sc, search_minutes=40.0, targets=[replace(t, allocate=False) for t in sc.targets])
    assert sc.targets, "the demo scenario has a supply target"
    study = Study.load(sc, quiet=True)
    single = study.run()
    _, parts, summary = run_partitioned(sc, tmp_path_factory.mktemp("parts"), workers=2, by="township", quiet=True)
    return study, single, parts, summary


def _same_table(a, b, keys, name):
    """Equal tables: the same rows and columns, counts exact, floats to rtol 1e-9."""
    a = a.set_index(keys).sort_index()
    b = b.set_index(keys).sort_index()
    assert a.index.equals(b.index), name
    assert list(a.columns) == list(b.columns), name
    for c in a.columns:
        x, y = a[c].to_numpy(), b[c].to_numpy()
        if x.dtype.kind in "fc" or y.dtype.kind in "fc":
            np.testing.assert_allclose(y.astype(float), x.astype(float), rtol=1e-9, atol=1e-9,
                                       err_msg=f"{name}.{c}")
        else:
            assert ((x == y) | (pd.isna(x) & pd.isna(y))).all(), f"{name}.{c}"


def test_partitioned_service_areas_equal_single_process(by_township):
    # each township part draws its own facilities' areas; put together per county
    # they are, pixel for pixel, the area one search from every facility draws
    study, single, parts, _ = by_township
    a, b = single.service_areas, parts.service_areas
    keys = ["county", "circle", "category"]
    assert len(a) > 20 and a[keys].equals(b[keys])
    assert (a["facilities"].to_numpy() == b["facilities"].to_numpy()).all()
    for ga, gb, key in zip(a.geometry.values, b.geometry.values, a[keys].itertuples(index=False)):
        assert ga.is_valid and gb.is_valid, key
        assert ga.symmetric_difference(gb).area == 0.0, key
    # a county keeps the 25 m pixels whose centre lies inside it: nothing beyond half a pixel's diagonal
    county = study.counties.geometry.values[0]
    assert all(county.buffer(25.0 * 0.7072).contains(g) for g in a.geometry.values)


def test_partitioned_tables_equal_single_process(by_township):
    study, single, parts, summary = by_township
    # each township's columns were put together and its gaps traced on a worker
    assert len(summary["units"]) == single.cells["township"].nunique() > 5
    assert parts.cell_files and "geometry" not in parts.cells.columns
    assert not any(c.startswith(("t_walk_", "nearest_")) for c in parts.cells.columns)
    _same_table(single.coverage_township, parts.coverage_township, ["code"], "coverage_township")
    _same_table(single.coverage_county, parts.coverage_county, ["code"], "coverage_county")
    _same_table(single.headline, parts.headline, ["circle"], "headline")
    _same_table(single.completeness, parts.completeness, ["code", "circle", "within"], "completeness")
    _same_table(single.equity, parts.equity, ["circle"], "equity")
    _same_table(single.supply, parts.supply, ["target", "township"], "supply")
    # the coverage total is every person of the study
    total = parts.coverage_township.query("code == 'total'")["population"].iloc[0]
    assert total == pytest.approx(float(single.cells["population"].sum()), rel=1e-12)


def test_partitioned_gaps_equal_single_process(by_township):
    _, single, parts, _ = by_township
    a, b = single.gaps, parts.gaps
    assert len(a) == len(b) > 100
    # same ranks and ids: gaps never cross a township, and ranks are given over all of them
    _same_table(a.drop(columns="geometry"), b.drop(columns="geometry"), ["gap_id"], "gaps")
    a, b = a.set_index("gap_id").sort_index(), b.set_index("gap_id").sort_index()
    np.testing.assert_allclose(b.geometry.area.to_numpy(), a.geometry.area.to_numpy(), rtol=1e-9)
    # the same polygons, whatever vertex each ring starts at
    assert (b.geometry.symmetric_difference(a.geometry, align=True).area <= 1e-6 * a.geometry.area).all()
    # a gap's polygon covers its cells: about one grid cell of area per cell
    per_cell = (a.geometry.area / a["cells"]).median()
    assert 0.5 * 80 * 90 < per_cell < 2 * 80 * 95


def test_partitioned_cells_parquet_equals_single_process(by_township, tmp_path):
    """cells.parquet joined from the township files holds the one-process file's rows and columns."""
    study, single, parts, _ = by_township
    one = pd.read_parquet(write_cells(cells_table(study, single), tmp_path / "one.parquet"))
    joined = pd.read_parquet(write_cell_parts(parts.cell_files, tmp_path / "joined.parquet"))
    assert sorted(joined.columns) == sorted(one.columns)
    assert len(joined) == len(one) == len(single.cells)
    one, joined = one.set_index("cell_id").sort_index(), joined.set_index("cell_id").sort_index()
    assert one.index.equals(joined.index)
    compared = 0
    for c in one.columns:
        a, b = one[c], joined[c]
        if pd.api.types.is_float_dtype(a):
            a, b = a.to_numpy(float), b.to_numpy(float)
            assert np.array_equal(np.isnan(a), np.isnan(b)), c
            # times are 32-bit in the file: equal paths summed in another order (1e-6 s)
            # may round to the neighbouring float32 (1 ms at an hour)
            np.testing.assert_allclose(b, a, rtol=1e-6 if c.startswith("t_") else 1e-12, atol=1e-9, err_msg=c)
        else:
            assert a.astype(str).equals(b.astype(str)), c
        compared += 1
    assert compared > 60
    # supply per cell: partitioned ratios add demand across township borders
    for t in study.scenario.targets:
        col = f"supply_{t.name}_per_1000"
        ref = single.cells.set_index("cell_id")[col]
        mine = parts.cells.set_index("cell_id").loc[ref.index, col]
        np.testing.assert_allclose(mine.to_numpy(), ref.to_numpy(), rtol=1e-9, atol=1e-12)
        assert (ref > 0).mean() > 0.5


def test_cell_parts_join_keeps_each_columns_type(tmp_path):
    """A column empty in one part (written as text there) takes the type the other parts give it."""
    a = pd.DataFrame({"cell_id": [1, 2], "t_walk_school": [60.0, np.nan], "in_c": [True, False],
                      "missing_c": ["school", None]})
    b = pd.DataFrame({"cell_id": [3], "t_walk_school": [np.nan], "in_c": pd.Series([None], dtype=object),
                      "missing_c": pd.Series([None], dtype=object)})
    pa_, pb_ = write_cells(a, tmp_path / "a.parquet"), write_cells(b, tmp_path / "b.parquet")
    joined = pd.read_parquet(write_cell_parts([pa_, pb_], tmp_path / "cells.parquet"))
    assert joined["cell_id"].tolist() == [1, 2, 3]
    assert joined["in_c"].tolist()[:2] == [True, False] and pd.isna(joined["in_c"].iloc[2])
    assert joined["missing_c"].iloc[0] == "school" and joined["missing_c"].iloc[1:].isna().all()
    assert joined["t_walk_school"].iloc[0] == 60.0 and joined["t_walk_school"].iloc[1:].isna().all()
