"""End to end: `access run` on the demo county writes every file of the contract."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"

CONTRACT = [
    "cells.parquet",
    "coverage_county.csv",
    "coverage_township.csv",
    "gaps.gpkg",
    "service_areas.gpkg",
    "map.html",
    "index.html",
    "report.html",
    "run.json",
]


def _access(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "access.cli", *args], capture_output=True, text=True, cwd=ROOT
    )


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo_out")
    r = _access("run", str(DEMO / "scenario.toml"), "--out", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    return out


def _raster_total() -> float:
    with rasterio.open(DEMO / "population.tif") as src:
        a = src.read(1, masked=True)
    return float(a.filled(0).astype(np.float64).sum())


def test_every_contract_file_is_written(demo_run):
    missing = [f for f in CONTRACT if not (demo_run / f).exists()]
    assert not missing


def test_cells_parquet_columns_types_and_total(demo_run):
    cells = pd.read_parquet(demo_run / "cells.parquet")
    for col in ("cell_id", "x", "y", "lon", "lat", "population", "county", "township"):
        assert col in cells, col
    assert cells["cell_id"].is_unique
    assert any(c.startswith("t_") for c in cells) and any(c.startswith("in_") for c in cells)
    for c in cells.columns:
        if c.startswith("in_"):
            assert cells[c].dtype == bool, c
        if c.startswith("t_"):
            assert np.issubdtype(cells[c].dtype, np.floating), c
    # The raster, read independently, holds exactly the persons in cells.parquet
    # plus whatever run.json says was dropped with a reason.
    run = json.loads((demo_run / "run.json").read_text(encoding="utf-8"))
    pop_acc = [a for a in run["accounting"] if a.get("population_read") is not None][0]
    dropped = sum(pop_acc["population_dropped"].values())
    assert cells["population"].sum() + dropped == pytest.approx(_raster_total(), rel=1e-9)
    assert cells["lon"].between(118, 119.2).all() and cells["lat"].between(25.5, 26.7).all()


def test_coverage_tables_agree_with_cells(demo_run):
    cells = pd.read_parquet(demo_run / "cells.parquet")
    raw = (demo_run / "coverage_township.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "Excel needs the UTF-8 BOM to show Chinese"
    tw = pd.read_csv(demo_run / "coverage_township.csv", encoding="utf-8-sig", dtype={"code": str})
    total = tw[tw["code"] == "total"]
    units = tw[tw["code"] != "total"]
    assert len(total) == 1 and len(units) == cells["township"].nunique()
    assert units["population"].sum() == pytest.approx(cells["population"].sum(), rel=1e-9)
    assert total["population"].iloc[0] == pytest.approx(cells["population"].sum(), rel=1e-9)
    # per township, the table's population is the sum of its cells
    by_cells = cells.groupby("township")["population"].sum()
    got = units.set_index("code")["population"]
    assert np.allclose(got.loc[by_cells.index].to_numpy(), by_cells.to_numpy(), rtol=1e-12)
    for circle in [c.removeprefix("in_") for c in cells if c.startswith("in_") and "__" not in c]:
        col = f"covered_{circle}"
        if col in units:
            # persons of the circle's demand group living in its scope (urban, rural or all cells)
            scope, group = units[f"scope_{circle}"].iloc[0], units[f"demand_{circle}"].iloc[0]
            persons = cells["population"] if group == "all" else cells[f"pop_{group}"]
            urban = cells["urban"].fillna(False).astype(bool)
            applies = urban if scope == "urban" else ~urban if scope == "rural" else pd.Series(True, cells.index)
            expected = persons[applies & cells[f"in_{circle}"]].sum()
            assert units[col].sum() == pytest.approx(expected, rel=1e-9), circle


def test_gpkg_layers_open(demo_run):
    gaps = gpd.read_file(demo_run / "gaps.gpkg")
    assert len(gaps) > 0 and gaps.crs is not None
    assert (gaps["population"] > 0).all()
    areas = gpd.read_file(demo_run / "service_areas.gpkg")
    assert len(areas) > 0 and areas.geometry.is_valid.all()


def test_validate_reports_every_problem_without_computing(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[study]\nname = 3\ncolour = "red"\n[inputs]\nnetwork = "nowhere.osm.pbf"\n'
        'population = "nowhere.tif"\nfacilities = "nowhere.csv"\n',
        encoding="utf-8",
    )
    r = _access("validate", str(bad))
    assert r.returncode != 0
    msg = r.stderr
    assert "Traceback" not in msg
    for needle in ("colour", "nowhere.osm.pbf", "nowhere.tif", "nowhere.csv", "name"):
        assert needle in msg, needle


def test_run_fails_with_one_paragraph(tmp_path):
    r = _access("run", str(tmp_path / "missing.toml"))
    assert r.returncode != 0
    assert "Traceback" not in r.stderr and "missing.toml" in r.stderr


def test_fetch_rejects_a_bad_bbox_before_any_download():
    r = _access("fetch", "overpass", "119.2,26.0", "out.graphml")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and "west,south,east,north" in r.stderr


def test_outputs_name_the_designed_gaps(demo_run):
    """The demo was built with gaps (expected.json); the outputs must name them."""
    exp = json.loads((DEMO / "expected.json").read_text(encoding="utf-8"))
    rules = pd.read_csv(demo_run / "township_rules.csv", encoding="utf-8-sig")
    assert set(rules.loc[rules["rule"] == "township_health_centre", "name"]) == set(exp["no_township_health_centre"])
    assert set(rules.loc[rules["rule"] == "central_kindergarten", "name"]) == set(exp["no_central_kindergarten"])
    tw = pd.read_csv(demo_run / "coverage_township.csv", encoding="utf-8-sig", dtype={"code": str})
    tw = tw[tw["code"] != "total"]
    worst = tw.nsmallest(2, "share_fujian_30min_medical")["name"]
    assert set(worst) == set(exp["no_township_health_centre"])
    assert tw.set_index("name").loc["海屿乡", "share_fujian_30min_medical"] == 0  # island: no road to care
    urban = tw[tw["name"].str.endswith("街道")]
    assert urban.nsmallest(1, "share_elderly_15min")["name"].iloc[0] in exp["urban_gaps"]
    gaps = gpd.read_file(demo_run / "gaps.gpkg")
    top = gaps[gaps["circle"] == "fujian_30min_medical"].nsmallest(2, "rank")
    assert set(top["township_name"]) == set(exp["no_township_health_centre"])


def test_run_json_lists_every_file_and_resolved_paths(demo_run):
    import hashlib

    run = json.loads((demo_run / "run.json").read_text(encoding="utf-8"))
    listed = {f["path"]: f for f in run["files"]}
    on_disk = {p.relative_to(demo_run).as_posix() for p in demo_run.rglob("*") if p.is_file()}
    assert on_disk == set(listed) | {"run.json"}
    assert "lib/leaflet.js" in listed  # the maps' scripts are files of the run too
    for rel, f in listed.items():
        data = (demo_run / rel).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (f["bytes"], f["sha256"]), rel
    paths = run["paths"]
    assert paths["output"] == str(demo_run.resolve()) and paths["scenario"] == str((DEMO / "scenario.toml").resolve())
    assert paths["inputs"]["population"] == str((DEMO / "population.tif").resolve())
    assert all(Path(p).is_absolute() and Path(p).exists() for p in paths["inputs"].values())


def test_output_folder_that_holds_inputs_is_refused(tmp_path):
    import shutil

    study = tmp_path / "study"
    shutil.copytree(DEMO, study)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.move(study / "facilities.csv", elsewhere / "facilities.csv")
    text = (study / "scenario.toml").read_text(encoding="utf-8")
    (study / "scenario.toml").write_text(text.replace('"facilities.csv"', '"../elsewhere/facilities.csv"'),
                                         encoding="utf-8")

    def tree() -> dict:
        return {p: p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file()}

    before = tree()
    for out, holds in ((study, "the scenario file"), (elsewhere, "input facilities")):
        r = _access("run", str(study / "scenario.toml"), "--out", str(out), "--quiet")
        assert r.returncode == 2, r.stderr
        assert "Traceback" not in r.stderr and "must not be the scenario's or an input's folder" in r.stderr
        assert f"{out.resolve()}: the output folder holds {holds}" in r.stderr
        assert tree() == before  # nothing written, nothing removed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere", "study"]  # no lock, no staging
