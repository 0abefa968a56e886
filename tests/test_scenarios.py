"""What-if scenarios from Python: variants, comparisons and proposed sites on the demo county."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from access.coverage.compare import compare
from access.network import snap as snap_mod
from access.routing import queries
from access.siting.propose import propose_sites
from access.study import Study

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"
CIRCLE = "fujian_30min_medical"


@pytest.fixture(scope="module")
def base():
    study = Study.load(DEMO / "scenario.toml", quiet=True)
    return study, study.run(service_areas=False)


@pytest.fixture(scope="module")
def expected():
    return json.loads((DEMO / "expected.json").read_text(encoding="utf-8"))


def test_added_facility_times_are_min_of_old_and_new(base):
    study, before = base
    gap = before.gaps[before.gaps["circle"] == CIRCLE].geometry.iloc[0].representative_point()
    new = pd.DataFrame({"facility_id": ["new-1"], "name": ["新卫生院"], "category": ["township_health_centre"],
                        "x": [gap.x], "y": [gap.y]})
    v = study.variant(add=new)
    # the variant reuses the graphs and the cell snapping
    assert all(v.networks[m].graph is study.networks[m].graph for m in study.networks)
    after = v.run(service_areas=False)
    net = study.networks["drive"]
    fs = snap_mod.snap_points(np.array([[gap.x, gap.y]]), net.graph, study.edges, net.mode, max_dist_m=500)
    od = queries.od_table(net.graph, net.cells, fs, limit_s=study.scenario.search_minutes * 60)
    t_new = np.full(len(study.cells), np.inf)
    t_new[od["origin"].to_numpy()] = od["seconds"].to_numpy()
    col = "t_drive_township_health_centre"
    old = before.cells[col].fillna(np.inf).to_numpy()
    got = after.cells[col].fillna(np.inf).to_numpy()
    want = np.minimum(old, t_new)
    assert np.allclose(got, want, atol=1e-6, rtol=0) or np.array_equal(got, want)
    assert (got < old).sum() > 100  # the new centre does serve people
    # other categories untouched
    assert np.array_equal(before.cells["t_walk_kindergarten"].to_numpy(), after.cells["t_walk_kindergarten"].to_numpy(),
                          equal_nan=True)


def test_closed_facility_never_shortens_a_trip(base):
    study, before = base
    fac = study.facilities
    closed = fac.loc[fac["category"] == "community_health_station", "facility_id"].iloc[:3].tolist()
    after = study.variant(close=closed).run(service_areas=False)
    col = "t_walk_community_health_station"
    a = before.cells[col].fillna(np.inf).to_numpy()
    b = after.cells[col].fillna(np.inf).to_numpy()
    assert (b >= a - 1e-9).all() and (b > a).any()
    cmp = compare(before, after)
    # persons newly uncovered, summed from the cells themselves, match the per-township change
    for circle, g in cmp.townships[cmp.townships["code"] != "total"].groupby("circle"):
        x = before.cells[f"in_{circle}"].to_numpy(bool)
        y = after.cells[f"in_{circle}"].to_numpy(bool)
        pop = before.cells["population"].to_numpy(float)
        assert g["change"].sum() == pytest.approx(pop[y & ~x].sum() - pop[x & ~y].sum(), abs=1e-6)


def test_proposed_health_centres_go_to_the_designed_gaps(base, expected):
    study, before = base
    prop = propose_sites(study, before, CIRCLE, p=2, category="township_health_centre")
    assert prop.solution.gap <= 1e-9  # solved to optimality by HiGHS
    assert set(prop.sites["township"]) == set(expected["no_township_health_centre"])
    # the model's newly covered persons agree with the re-run's routing, cell by cell
    summary = prop.comparison.summary().set_index("circle")
    assert prop.sites["newly_covered"].sum() == pytest.approx(summary.loc[CIRCLE, "newly_covered"], rel=1e-9)
    assert summary.loc[CIRCLE, "newly_uncovered"] == 0
    assert prop.results.proposed is prop.sites
