"""report.html and helpers (issue #5).

Oracles: hand-computed Lorenz/Gini values, the literal input text, PNG
decoding of the embedded charts, and a real browser for script execution.
"""

from __future__ import annotations

import base64
import html
import io
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from access.coverage.standards import CIRCLES
from access.errors import InputError
from access.maps import write_report
from access.maps.report import find_cjk_font, fmt_value, lorenz_curve

from browser import Chromium, find_chromium

XSS_SCRIPT = "<script>alert(1)</script>"
XSS_IMG = "<img src=x onerror=alert(1)>"
CIRCLE_KEYS = ("gb50180_15min", "fujian_30min_medical")


class _Doc(HTMLParser):
    """Collects tags, table cells and image sources."""

    def __init__(self):
        super().__init__()
        self.tags, self.imgs, self.rows, self._row, self._cell = [], [], [], None, None
        self.text = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a)
        if tag == "tr":
            self._row = []
        if tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._row is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        if tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def _inputs(xss=True):
    circles = [CIRCLES[k] for k in CIRCLE_KEYS]
    table = pd.DataFrame(
        {
            "name": ["城关镇", XSS_SCRIPT if xss else "西乡", XSS_IMG if xss else "南山乡", "东街街道"],
            "population": [12000, 8000, 5000, 30000],
            "uncovered": [10800, 4000, 5000, 1500],
            f"share_{circles[0].name}": [0.1, 0.5, 0.0, 0.95],
        }
    )
    lorenz = {
        circles[0].name: (np.array([0.1, 0.5, 0.0, 0.95]), np.array([12000, 8000, 5000, 30000])),
        circles[1].name: pd.DataFrame({"population_share": [0, 0.5, 1.0], "value_share": [0, 0.3, 1.0]}),
    }
    bars = table.set_index("name")[[f"share_{circles[0].name}"]].assign(**{f"share_{circles[1].name}": [0.3, 0.7, 0.9, 0.05]})
    return circles, table, lorenz, bars


def _write(tmp_path, xss=True, **kw):
    circles, table, lorenz, bars = _inputs(xss)
    kw.setdefault("lang", "zh")
    return write_report(
        tmp_path / "report.html",
        title=f"测试县报告 {XSS_SCRIPT}" if xss else "测试县报告",
        headline={"总人口": 55000, "15分钟生活圈覆盖率 share": 0.62, XSS_IMG if xss else "缺口": 21300},
        township_table=table,
        circles=circles,
        assumptions=["步行速度 4.5 km/h (assumption)", XSS_SCRIPT if xss else "x"],
        lorenz=lorenz,
        coverage_bars=bars,
        sort_by="uncovered",
        **kw,
    )


# ---------------------------------------------------------------------------
# Lorenz / Gini against hand-computed values
# ---------------------------------------------------------------------------


def test_lorenz_equal_values_gini_zero():
    p, v, g = lorenz_curve([2, 2, 2, 2])
    np.testing.assert_allclose(p, [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(v, p)
    assert g == pytest.approx(0.0)


def test_lorenz_hand_example():
    # x = [1, 3], equal weights: p = [0, .5, 1], v = [0, .25, 1]
    # Gini = 1 - (.5*(0+.25) + .5*(.25+1)) = 1 - .75 = .25
    p, v, g = lorenz_curve([3, 1])
    np.testing.assert_allclose(p, [0, 0.5, 1])
    np.testing.assert_allclose(v, [0, 0.25, 1])
    assert g == pytest.approx(0.25)


def test_lorenz_weights_equal_repeated_units():
    # weight 2 on value 1 is the same as two units of value 1
    _, _, g_w = lorenz_curve([1, 4], [2, 1])
    _, _, g_r = lorenz_curve([1, 1, 4])
    assert g_w == pytest.approx(g_r)
    # one of n holds everything: Gini = (n-1)/n for the discrete curve
    _, _, g = lorenz_curve([0, 0, 0, 5])
    assert g == pytest.approx(0.75)


def test_fmt_value():
    assert fmt_value(12345) == "12,345"
    assert fmt_value(0.625, "share_x") == "62.5%"
    assert fmt_value(float("nan")) == "—"
    assert fmt_value(True) == "✓"


# ---------------------------------------------------------------------------
# the page
# ---------------------------------------------------------------------------


def test_report_escapes_every_text(tmp_path):
    page = _write(tmp_path).read_text(encoding="utf-8")
    assert XSS_SCRIPT not in page and XSS_IMG not in page
    doc = _Doc()
    doc.feed(page)
    assert "script" not in doc.tags  # the page has no scripts at all
    # every image is one of our embedded PNG charts
    assert len(doc.imgs) == 2 and all(i["src"].startswith("data:image/png;base64,") for i in doc.imgs)
    text = "".join(doc.text)
    for literal in (XSS_SCRIPT, XSS_IMG, "测试县报告"):
        assert literal in text
    assert f"<title>测试县报告 {html.escape(XSS_SCRIPT)}</title>" in page
    assert "Content-Security-Policy" in page


def test_report_table_sorted_by_gap_and_formatted(tmp_path):
    page = _write(tmp_path, xss=False).read_text(encoding="utf-8")
    doc = _Doc()
    doc.feed(page)
    body = page[page.index("id='townships'"):]
    sub = _Doc()
    sub.feed(body[: body.index("</table>") + 8])
    header, *rows = sub.rows
    assert header[:3] == ["名称", "人口", "未覆盖人口"] and "15分钟生活圈 覆盖率" in header
    assert [r[0] for r in rows] == ["城关镇", "南山乡", "西乡", "东街街道"]  # uncovered 10800, 5000, 4000, 1500
    assert rows[0][1] == "12,000" and rows[0][3] == "10.0%"
    # headline figures
    assert ["总人口", "55,000"] in doc.rows
    assert ["15分钟生活圈覆盖率 share", "62.0%"] in doc.rows
    # standards with sources
    text = "".join(doc.text)
    for k in CIRCLE_KEYS:
        assert CIRCLES[k].source in text
    assert "步行速度 4.5 km/h (assumption)" in text


def test_charts_are_real_pngs(tmp_path):
    from PIL import Image

    page = _write(tmp_path, xss=False).read_text(encoding="utf-8")
    uris = re.findall(r"src='data:image/png;base64,([^']+)'", page)
    assert len(uris) == 2
    for u in uris:
        img = np.asarray(Image.open(io.BytesIO(base64.b64decode(u))).convert("L"), dtype=float)
        assert img.shape[0] > 200 and img.shape[1] > 300
        assert img.std() > 5  # not blank


def test_cjk_font_or_english_fallback(tmp_path):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "Glyph missing" (tofu) warnings escape
        _write(tmp_path, xss=False)
    font = find_cjk_font()
    if font is None:
        pytest.skip("no CJK font installed: charts fall back to English (fonts-noto-cjk)")
    assert "CJK" in font or "WenQuanYi" in font or "Han" in font


def test_english_report(tmp_path):
    page = _write(tmp_path, xss=False, lang="en").read_text(encoding="utf-8")
    assert "Headline figures" in page and "Standards applied" in page and "lang='en'" in page


def test_synthetic_banner(tmp_path):
    page = _write(tmp_path, xss=False, synthetic=True).read_text(encoding="utf-8")
    assert "示范数据（合成）" in page and "Synthetic demo data" in page


def test_dollar_names_do_not_break_charts(tmp_path):
    circles, table, lorenz, bars = _inputs(False)
    bars.index = ["$x^2$", "a$b", "$$", "$\\frac{"]
    write_report(tmp_path / "r.html", title="t", headline={}, township_table=table,
                 circles=circles, lorenz=lorenz, coverage_bars=bars)
    assert (tmp_path / "r.html").stat().st_size > 10_000


def test_bad_sort_column(tmp_path):
    circles, table, *_ = _inputs(False)
    with pytest.raises(InputError, match="gap_persons"):
        write_report(tmp_path / "r.html", title="t", headline={}, township_table=table, sort_by="gap_persons")


@pytest.mark.browser
@pytest.mark.skipif(find_chromium() is None, reason="chromium not installed")
def test_report_in_chromium_runs_no_script(tmp_path):
    path = _write(tmp_path)
    with Chromium() as b:
        log = b.open(path, settle=0.5)
        assert log.js_errors == []
        assert b.eval("window.__alerts") == []
        assert b.eval("document.scripts.length") == 0
        # both charts decoded and laid out
        sizes = b.eval("Array.from(document.images).map(i => [i.naturalWidth, i.complete])")
        assert len(sizes) == 2 and all(w > 300 and ok for w, ok in sizes)
        assert XSS_SCRIPT in b.eval("document.getElementById('townships').textContent")
        b.screenshot(tmp_path / "report.png")


def test_pipeline_adapters_write_maps_index_and_report(tmp_path):
    """write_maps/write_study_report on a stand-in Study/Results."""
    from types import SimpleNamespace

    import geopandas as gpd
    from shapely.geometry import box

    from access.maps.folium_map import write_maps
    from access.maps.report import write_study_report
    from test_maps_browser import sample_inputs

    twp, circles, fac, gaps, areas, _ = sample_inputs(xss=False)
    twp["county"] = ["350181", "350181", "350182", "350182"]
    cov = twp.drop(columns="geometry").rename(columns={"code": "township"})
    x0, y0, x1, y1 = twp.total_bounds
    mid = (x0 + x1) / 2
    counties = gpd.GeoDataFrame(
        {"code": ["350181", "350182"], "name": ["甲县", "乙县"]},
        geometry=[box(x0, y0, x1, (y0 + y1) / 2), box(x0, (y0 + y1) / 2, x1, y1)],
        crs=twp.crs,
    )
    study = SimpleNamespace(
        scenario=SimpleNamespace(name="测试研究区", lang="zh", synthetic=True, circles=circles, snap_max_m=500.0),
        townships=twp[["code", "name", "urban", "county", "geometry"]],
        counties=counties,
    )
    results = SimpleNamespace(
        cells=gpd.GeoDataFrame({"population": [55000.0]}, geometry=[box(mid, y0, mid + 1, y0 + 1)], crs=twp.crs),
        facilities=fac,
        coverage_township=cov,
        gaps=gaps,
        service_areas=areas.assign(circle="x"),
    )
    files = write_maps(study, results, tmp_path, offline=True)
    names = sorted(p.name for p in files)
    assert names == sorted(
        ["map.html", "map_offline.html", "map_350181.html", "map_350181_offline.html",
         "map_350182.html", "map_350182_offline.html", "index.html"]
    )
    idx = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "href='map_350181.html'" in idx and "甲县" in idx and "示范数据" in idx
    rep = write_study_report(study, results, tmp_path / "report.html")
    doc = _Doc()
    doc.feed(rep.read_text(encoding="utf-8"))
    # share for the first circle: covered = 0.1*12000 + 0.95*30000 + 0.5*8000 + 0 (NaN share -> 0 covered)
    expected = (1200 + 28500 + 4000 + 0) / 55000
    assert ["15分钟生活圈 覆盖率", f"{100 * expected:.1f}%"] in doc.rows
    assert ["人口", "55,000"] in doc.rows
