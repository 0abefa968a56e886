"""Scopes, demand groups and the new tables through a whole run of the demo inputs.

The demo's population raster is split into an elderly raster (a fixed
fraction per cell, written here) so that the group machinery runs on real
files; every check compares against numbers computed here from the raw
raster, the townships file and the per-cell flags.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio

from access.outputs import write_outputs
from access.study import Study

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("groups")
    with rasterio.open(DEMO / "population.tif") as src:
        a = src.read(1, masked=True).astype("float64").filled(0.0)
        profile = src.profile
    profile.update(dtype="float64", nodata=None)
    # a quarter elderly in the west half, a tenth in the east half
    share = np.where(np.arange(a.shape[1])[None, :] < a.shape[1] // 2, 0.25, 0.10)
    for name, part in (("old_f.tif", 0.5), ("old_m.tif", 0.5)):
        with rasterio.open(tmp / name, "w", **profile) as dst:
            dst.write(a * share * part, 1)
    # a built-up polygon around the first rural township's centre makes some rural cells urban
    tw = gpd.read_file(DEMO / "townships.geojson")
    rural = tw[~tw["urban"].astype(bool)].iloc[0]
    c = rural.geometry.representative_point()
    gpd.GeoDataFrame(geometry=[c.buffer(0.01)], crs=tw.crs).to_file(tmp / "built_up.geojson")
    d = {f: (DEMO / f).as_posix() for f in ("roads.osm.pbf", "population.tif", "facilities.csv",
                                            "counties.geojson", "townships.geojson")}
    circles = "".join(f'[[circles]]\nstandard = "{c}"\n' for c in (
        "fujian_30min_medical", "elderly_15min", "gb50180_15min", "gb50180_5min", "tdt1062_village"))
    text = f"""[study]
name = "demo inputs with an elderly group"
output = "{(tmp / 'out').as_posix()}"
synthetic = true

[inputs]
network = "{d['roads.osm.pbf']}"
population = "{d['population.tif']}"
facilities = "{d['facilities.csv']}"
counties = "{d['counties.geojson']}"
townships = "{d['townships.geojson']}"
urban_areas = "built_up.geojson"

[inputs.groups]
elderly = ["old_*.tif"]

[inputs.boundary_fields]
code = "code"
name = "name"
parent = "county_code"
urban = "urban"

{circles}"""
    (tmp / "scenario.toml").write_text(text, encoding="utf-8")
    study = Study.load(tmp / "scenario.toml", quiet=True)
    results = study.run(service_areas=False)
    return tmp, study, results, a * share, rural


def test_group_persons_come_from_the_rasters(run):
    _, study, results, old, _ = run
    cells = results.cells
    with rasterio.open(DEMO / "population.tif") as src:
        width = src.width
    ids = cells["cell_id"].to_numpy()
    np.testing.assert_allclose(cells["pop_elderly"].to_numpy(), old[ids // width, ids % width], rtol=1e-12)


def test_urban_areas_widen_the_urban_scope(run):
    _, _, results, _, rural = run
    cells = results.cells
    inside = cells["township"] == str(rural["code"])
    assert cells.loc[inside, "urban"].any() and not cells.loc[inside, "urban"].all()


def test_headline_and_tables_use_scope_and_group(run):
    _, study, results, _, _ = run
    cells = results.cells
    h = results.headline.set_index("circle")
    pop = cells["population"].to_numpy(float)
    urban = cells["urban"].to_numpy(bool)
    # elderly_15min: urban scope, elderly persons (its only service is elderly care)
    e = h.loc["elderly_15min"]
    assert (e["scope"], e["demand"]) == ("urban", "elderly")
    inside = cells["in_elderly_15min"].to_numpy(bool)
    assert e["population"] == pytest.approx(cells["pop_elderly"][urban].sum())
    assert e["covered"] == pytest.approx(cells["pop_elderly"][urban & inside].sum())
    v = h.loc["tdt1062_village"]
    assert v["scope"] == "rural" and v["population"] == pytest.approx(pop[~urban].sum())
    # any: distinct persons outside at least one circle that applies to them
    out = np.zeros(len(cells), bool)
    for c in study.scenario.circles:
        scope = np.ones(len(cells), bool) if c.scope == "all" else (urban if c.scope == "urban" else ~urban)
        out |= scope & ~cells[f"in_{c.name}"].to_numpy(bool)
    assert h.loc["any", "outside"] == pytest.approx(pop[out].sum())
    assert h.loc["any", "outside"] <= h.loc["any", "population"] == pytest.approx(pop.sum())
    tw = results.coverage_township.set_index("code")
    assert tw.loc["total", "population_elderly_15min"] == pytest.approx(e["population"])
    eq = results.equity.set_index("circle")
    assert eq.loc["elderly_15min", "demand"] == "elderly"
    assert eq.loc["elderly_15min", "population"] == pytest.approx(e["population"])


def test_gaps_fit_in_their_townships(run):
    _, _, results, _, _ = run
    g = results.gaps
    pop_t = results.cells.groupby("township")["population"].sum()
    assert len(g) and (g["population"] <= g["township"].map(pop_t) + 1e-6).all()
    # per circle, gaps hold exactly the persons outside it in its scope
    for circle, sub in g.groupby("circle"):
        h = results.headline.set_index("circle").loc[circle]
        if h["demand"] == "all":
            assert sub["population"].sum() == pytest.approx(h["outside"])


def test_outputs_write_equity_gaps_and_headline(run):
    tmp, study, results, _, _ = run
    write_outputs(study, results, tmp / "out", quiet=True)
    eq = pd.read_csv(tmp / "out" / "equity.csv", encoding="utf-8-sig")
    gaps = pd.read_csv(tmp / "out" / "gaps.csv", encoding="utf-8-sig")
    head = pd.read_csv(tmp / "out" / "headline.csv", encoding="utf-8-sig")
    assert list(eq["circle"]) == [c.name for c in study.scenario.circles]
    assert {"gini", "theil_between", "theil_within", "palma", "urban_rural_gap", "scope", "demand"} <= set(eq)
    assert len(gaps) == len(results.gaps) and "nearest_primary_care" in gaps.columns
    assert head["circle"].iloc[-1] == "any"
    cells = pd.read_parquet(tmp / "out" / "cells.parquet")
    assert {"urban", "pop_elderly", "completeness_gb50180_15min"} <= set(cells.columns)
