"""Partitioned runs on dask.distributed equal the single-process run, cell by cell."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

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


@pytest.mark.parametrize("by", ["township", "county"])
def test_dask_local_cluster_equals_single_process(scenario, single, tmp_path, by):
    _, ref = single
    _, results, summary = run_partitioned(scenario, tmp_path, workers=2, by=by, quiet=True)
    assert summary["workers"] == 2
    assert len(summary["parts"]) == (2 * ref["township"].nunique() if by == "township" else 2)
    got = results.cells.set_index("cell_id").loc[ref.index]
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


def test_partitioned_supply_equals_single_process(tmp_path):
    """2SFCA with demand crossing township borders: parts add their shares of
    each facility's demand, so the merged ratios equal the one-process run."""
    sc = replace(load_scenario(DEMO), search_minutes=40.0)
    assert sc.targets, "the demo scenario has a supply target"
    study = Study.load(sc, quiet=True)
    cells, fac, snaps = study.travel_times()
    want = study._supply(cells, fac, snaps)
    _, results, _ = run_partitioned(sc, tmp_path, workers=2, by="township", service_areas=False, quiet=True)
    got = results.supply
    assert len(got) == len(want) > 1
    a = want.set_index(["target", "township"]).sort_index()
    b = got.set_index(["target", "township"]).sort_index()
    assert a.index.equals(b.index)
    for c in ("population", "per_1000", "shortfall_per_1000", "supply_needed"):
        np.testing.assert_allclose(b[c].to_numpy(float), a[c].to_numpy(float), rtol=1e-9, atol=1e-12, err_msg=c)
    # per cell too, and the demand really crosses borders: some facility serves
    # cells of more than one township
    col = f"supply_{sc.targets[0].name}_per_1000"
    ref = cells.set_index("cell_id")[col]
    mine = results.cells.set_index("cell_id").loc[ref.index, col]
    np.testing.assert_allclose(mine.to_numpy(), ref.to_numpy(), rtol=1e-9, atol=1e-12)
    assert (ref > 0).mean() > 0.5
