"""Both notebooks run clean from top to bottom (their own asserts check the numbers they show)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NB = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.mark.parametrize("name", ["01_coverage_walkthrough.ipynb", "02_scenario_testing.ipynb"])
def test_notebook_runs_clean(name, tmp_path, monkeypatch):
    monkeypatch.setenv("ACCESS_NOTEBOOK_OUT", str(tmp_path))
    nb = nbformat.read(NB / name, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NB)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    html = list(tmp_path.rglob("*.html"))
    assert html, "the notebook writes its maps"
    # the last cell shows a Folium map
    last = nb.cells[-1]["outputs"][-1]
    assert "text/html" in last.get("data", {}) and "leaflet" in last["data"]["text/html"].lower()
    assert os.environ["ACCESS_NOTEBOOK_OUT"] == str(tmp_path)
