"""The report's Lorenz panels: the drawn curve against hand-computed cumulative shares."""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from access.coverage.standards import CIRCLES
from access.maps.lorenz import MAX_POINTS, Panel, lorenz_svg
from access.maps.report import write_report

SVG = "{http://www.w3.org/2000/svg}"


def _points(el) -> np.ndarray:
    return np.array([[float(a) for a in xy.split(",")] for xy in el.get("points").split()])


def _svg_of_page(page: str) -> ET.Element:
    uri = re.search(r"src='data:image/svg\+xml;base64,([^']+)'", page).group(1)
    return ET.fromstring(base64.b64decode(uri).decode("utf-8"))


def test_curve_is_the_cumulative_shares_by_hand(tmp_path):
    # units with values 3 and 1, 1 and 2 persons: sorted by value, (1 x 2) then (3 x 1);
    # persons 0, 2/3, 1; value 0, 2/5, 1 -> Gini 1 - (2/3 (0 + 2/5) + 1/3 (2/5 + 1)) = 4/15
    circle = next(iter(CIRCLES.values()))
    page = write_report(tmp_path / "r.html", title="t", headline={}, township_table=pd.DataFrame({"name": ["a"]}),
                        circles=[circle], lorenz={circle.name: (np.array([3.0, 1.0]), np.array([1.0, 2.0]))},
                        lang="en").read_text(encoding="utf-8")
    svg = _svg_of_page(page)
    curve = svg.find(f".//{SVG}polyline[@class='curve']")
    np.testing.assert_allclose(_points(curve), [[0, 0], [2 / 3, 2 / 5], [1, 1]], atol=1e-4)
    equality = svg.find(f".//{SVG}polyline[@class='equality']")
    np.testing.assert_allclose(_points(equality), [[0, 0], [1, 1]])
    # the shaded gap runs along the curve and back along the line of equality
    gap = _points(svg.find(f".//{SVG}polygon[@class='gap']"))
    np.testing.assert_allclose(gap, [[0, 0], [2 / 3, 2 / 5], [1, 1], [1, 1], [0, 0]], atol=1e-4)
    text = " ".join(t.text or "" for t in svg.iter(f"{SVG}text"))
    assert "Gini 0.267" in text and "Cumulative share of population" in text


def test_unit_square_maps_onto_the_panel():
    svg = ET.fromstring(lorenz_svg([Panel(np.array([0.0, 1.0]), np.array([0.0, 1.0]), ["a"])], "T", "x", "y"))
    g = svg.find(f".//{SVG}polyline[@class='curve']/..")
    a, b, c, d, e, f = (float(v) for v in re.findall(r"-?[\d.]+", g.get("transform")))
    rect = svg.find(f".//{SVG}g[@class='panel']/{SVG}rect")
    x, y, w, h = (float(rect.get(k)) for k in ("x", "y", "width", "height"))
    # (0, 0) is the panel's bottom-left corner and (1, 1) its top-right one
    assert (a * 0 + c * 0 + e, b * 0 + d * 0 + f) == (x, y + h)
    assert (a * 1 + c * 1 + e, b * 1 + d * 1 + f) == (x + w, y)


def test_long_curve_is_thinned_on_the_curve():
    n = 100_000
    p = np.linspace(0.0, 1.0, n + 1)
    v = p ** 2  # values growing linearly: the Lorenz curve of a uniform spread is p^2
    svg = ET.fromstring(lorenz_svg([Panel(p, v, ["a"])], "T", "x", "y"))
    pts = _points(svg.find(f".//{SVG}polyline[@class='curve']"))
    assert len(pts) == MAX_POINTS
    np.testing.assert_allclose(pts[:, 1], pts[:, 0] ** 2, atol=1e-4)


def test_names_are_escaped():
    name = "<script>alert(1)</script>{{x}}"
    svg_text = lorenz_svg([Panel(np.array([0.0, 1.0]), np.array([0.0, 1.0]), [name])], name, "x", "y")
    assert "<script>" not in svg_text and "{{" not in svg_text
    titles = [t.text for t in ET.fromstring(svg_text).iter(f"{SVG}text")]
    assert titles.count("<script>alert(1)</script>&#123;&#123;x&#125;&#125;") == 0  # decoded once by XML
    assert "<script>alert(1)</script>{{x}}" in titles


@pytest.mark.parametrize("n", [1, 3, 4, 7])
def test_rows_of_three(n):
    panels = [Panel(np.array([0.0, 1.0]), np.array([0.0, 1.0]), [str(i)]) for i in range(n)]
    svg = ET.fromstring(lorenz_svg(panels, "T", "x", "y"))
    rects = svg.findall(f".//{SVG}g[@class='panel']/{SVG}rect")
    assert len(rects) == n
    assert len({r.get("x") for r in rects}) == min(n, 3)
    assert len({r.get("y") for r in rects}) == -(-n // 3)
