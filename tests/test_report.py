"""report.html and helpers.

Oracles: hand-computed Lorenz/Gini values, the literal input text, PNG
decoding of the embedded charts, sums over the demo's per-cell flags, the
text of each page of a PDF printed by a real headless Chromium, and a real
browser for script execution.
"""

from __future__ import annotations

import base64
import html
import io
import re
import unicodedata
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from access.coverage.standards import CIRCLES
from access.errors import InputError
from access.maps import write_report
from access.maps import labels as L
from access.maps.report import find_cjk_font, fmt_value, lorenz_curve, write_study_report

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
    # every image is one of our embedded charts: the Lorenz panels (SVG) and the bars (PNG)
    assert [i["src"].split(",")[0] for i in doc.imgs] == ["data:image/svg+xml;base64", "data:image/png;base64"]
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
    caption, header, *rows = sub.rows
    assert caption == ["表 2\u3000乡镇覆盖情况（按缺口排序）"]  # numbered; repeats on every printed page
    assert header[:3] == ["名称", "人口", "未覆盖人口"] and "15分钟生活圈 覆盖率" in header
    assert [r[0] for r in rows] == ["城关镇", "南山乡", "西乡", "东街街道"]  # uncovered 10800, 5000, 4000, 1500
    assert rows[0][1] == "12,000" and rows[0][3] == "10.0%"
    # headline figures
    assert ["总人口", "55,000"] in doc.rows
    assert ["15分钟生活圈覆盖率 share", "62.0%"] in doc.rows
    # standards with sources, in the page's language
    text = "".join(doc.text)
    for k in CIRCLE_KEYS:
        assert L.standard_text(CIRCLES[k], "source", "zh") in text
        assert L.standard_text(CIRCLES[k], "assumption", "zh") in text
    assert "步行速度 4.5 km/h (assumption)" in text


def test_bar_chart_is_a_real_png(tmp_path):
    from PIL import Image

    page = _write(tmp_path, xss=False).read_text(encoding="utf-8")
    uris = re.findall(r"src='data:image/png;base64,([^']+)'", page)
    assert len(uris) == 1
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


# ---------------------------------------------------------------------------
# the study report on the demo county
# ---------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo county run once: every output (zh) plus an English report."""
    from access.outputs import write_outputs
    from access.study import Study

    study = Study.load(DEMO / "scenario.toml", quiet=True)
    results = study.run()
    out = tmp_path_factory.mktemp("report_demo") / "out"
    write_outputs(study, results, out, lang="zh", quiet=True)
    en = write_study_report(study, results, out.parent / "report_en.html", lang="en")
    return SimpleNamespace(study=study, results=results, out=out, zh=out / "report.html", en=en)


class _Tables(HTMLParser):
    """Every table of a page: caption (the numbered header row), header cells, body rows."""

    def __init__(self):
        super().__init__()
        self.tables, self._t, self._row, self._cell, self._cap = [], None, None, None, False
        self._in_head = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("thead", "tbody"):
            self._in_head = tag == "thead"
        elif tag == "table":
            self._t = {"id": a.get("id", ""), "caption": "", "header": [], "rows": []}
        elif tag == "tr" and self._t is not None:
            self._row, self._cap = [], "cap" in (a.get("class") or "")
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._cap:
                self._t["caption"] = self._row[0]
            elif self._in_head:
                self._t["header"] = self._row
            else:
                self._t["rows"].append(self._row)
            self._row = None
        elif tag == "table" and self._t is not None:
            self.tables.append(self._t)
            self._t = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _squash(text: str) -> str:
    """Text compared across HTML and PDF: NFKC, no whitespace.

    The fonts map some ideographs to radical code points in the PDF: Kangxi
    radicals (NFKC turns them back) and CJK radicals supplement (no
    decomposition: they become ``\\0``, which :func:`_has` lets stand for
    any ideograph).
    """
    text = unicodedata.normalize("NFKC", text).replace("\u2015", "\u2014")
    text = re.sub(r"[\u2e80-\u2eff]", "\0", text)
    return re.sub(r"\s+", "", text)


def _has(page: str, key: str) -> bool:
    """``key`` (squashed HTML text) occurs in ``page`` (squashed PDF text)."""
    if key in page:
        return True
    if "\0" not in page:
        return False
    pattern = "".join(f"(?:{re.escape(ch)}|\0)" if "\u3400" <= ch <= "\u9fff" else re.escape(ch) for ch in key)
    return re.search(pattern, page) is not None


def _visible_text(page: str, drop_ids=("synthetic",)) -> str:
    """Text of the page body without <title>, <h1> (the study's own name) and the given ids."""
    body = page[page.index("<body>"):]
    body = re.sub(r"<h1>.*?</h1>", "", body, flags=re.S)
    for i in drop_ids:
        body = re.sub(rf"<div class='banner' id='{i}'>.*?</div>", "", body, flags=re.S)
    body = re.sub(r"<img[^>]*>", "", body)
    doc = _Doc()
    doc.feed(body)
    return html.unescape(" ".join(doc.text))


def _report_tables(path) -> dict[str, dict]:
    parser = _Tables()
    parser.feed(Path(path).read_text(encoding="utf-8"))
    return {t["id"] or t["caption"]: t for t in parser.tables}


def test_headline_counts_each_person_once(demo):
    """Persons outside at least one circle: an independent sum over the cells' flags, never a sum over circles."""
    cells = demo.results.cells
    pop = cells["population"].to_numpy(float)
    urban = cells["urban"].fillna(False).to_numpy(bool) if "urban" in cells else np.ones(len(cells), bool)
    scope = {"urban": urban, "rural": ~urban, "all": np.ones(len(cells), bool)}
    outside_any = np.zeros(len(cells), bool)
    outside_each = {}
    for c in demo.study.scenario.circles:
        inside = cells[f"in_{c.name}"].to_numpy(bool)
        applies = scope[getattr(c, "scope", "all")]
        outside_any |= applies & ~inside
        outside_each[c.name] = pop[applies & ~inside].sum()
    expected = pop[outside_any].sum()

    tables = _report_tables(demo.zh)
    head = {r[0]: r[1] for r in tables["headline"]["rows"]}
    got = float(head[L.ui("outside_any", "zh")].replace(",", ""))
    assert got == pytest.approx(round(expected), abs=0.5)
    assert float(head[L.ui("population", "zh")].replace(",", "")) == pytest.approx(round(pop.sum()), abs=0.5)
    assert got <= pop.sum()
    # the demo has several circles with persons outside: a sum over circles would be larger
    assert sum(outside_each.values()) > expected + 1
    # per circle (demand group everyone): persons outside in the circle's scope
    summary = tables["circle-summary"]
    labels = {L.circle_label(c, "zh"): c.name for c in demo.study.scenario.circles}
    checked = 0
    for row in summary["rows"]:
        rec = dict(zip(["circle", "scope", "demand", "scope_population", "covered", "outside", "share"], row))
        if rec["demand"] != L.group_label("all", "zh"):
            continue
        assert float(rec["outside"].replace(",", "")) == pytest.approx(round(outside_each[labels[rec["circle"]]]),
                                                                       abs=0.5)
        checked += 1
    assert checked >= 2


def test_report_sections_and_standard_text_in_each_language(demo):
    zh = demo.zh.read_text(encoding="utf-8")
    en = demo.en.read_text(encoding="utf-8")
    for key in ("headline", "circles", "coverage", "rules", "equity", "standards", "accounting", "methods"):
        assert f"id='{key}'" in zh and f"id='{key}'" in en, key
    for c in demo.study.scenario.circles:
        assert f"id='coverage-{c.name}'" in zh
        assert html.escape(L.standard_text(c, "source", "zh"), quote=True) in zh
        assert html.escape(L.standard_text(c, "source", "en"), quote=True) in en
    assert zh.count("class='chart'") >= 1 and "chart-lorenz" not in zh  # the Lorenz panels sit with equity
    assert "lang='zh-CN'" in zh and "lang='en'" in en


def test_zh_report_has_no_english_prose(demo):
    """Everything the report says is Chinese; only codes, file names and input names stay as they are."""
    text = _visible_text(demo.zh.read_text(encoding="utf-8"))
    allowed = [r"GB 50180-2018", r"TD/T 1062-2021", r"[\w.-]+\.(?:gpkg|xlsx|json|csv|pbf|tif|geojson|html)",
               r"snap_max_m", r"2SFCA", r"km/h"]
    allowed += [re.escape(t.name) for t in demo.study.scenario.targets]  # the scenario's own target names
    for a in allowed:
        text = re.sub(a, " ", text)
    prose = re.findall(r"[A-Za-z]{3,}(?:[ ,;:()-]+[A-Za-z]{2,}){2,}", text)
    assert prose == []


def test_outputs_carry_no_development_references(demo):
    """Outputs speak of the study only: no numbered work items or development notes."""
    pattern = re.compile(r"issue\s*#?\s*\d|\bticket\b|\btracker\b", re.I)
    files = [p for p in demo.out.rglob("*") if p.suffix in (".html", ".csv", ".json")] + [demo.en]
    assert len(files) >= 5
    for p in files:
        assert not pattern.search(p.read_text(encoding="utf-8-sig", errors="replace")), p.name


def _print_pdf(html_path: Path, pdf_path: Path) -> Path:
    with Chromium() as b:
        b.open(html_path, settle=0.3)
        r = b.send("Page.printToPDF", preferCSSPageSize=True, printBackground=True)
    pdf_path.write_bytes(base64.b64decode(r["data"]))
    return pdf_path


def _pages_text(pdf_path: Path) -> tuple[list[str], list[tuple[float, float]]]:
    from pypdf import PdfReader

    reader = PdfReader(str(pdf_path))
    sizes = [(float(p.mediabox.width), float(p.mediabox.height)) for p in reader.pages]
    return [_squash(p.extract_text() or "") for p in reader.pages], sizes


def _check_tables_whole(html_path: Path, pages: list[str]) -> int:
    """Every table: its numbered caption on each page it spans, each row on one page; returns tables spanning pages."""
    spanning = 0
    start = 0
    for t in _report_tables(html_path).values():
        cap = _squash(t["caption"])
        assert cap, f"table {t['id']} has no caption"
        first = next(i for i in range(start, len(pages)) if _has(pages[i], cap))
        rows = [[_squash(c) for c in r] for r in t["rows"]]
        page = first
        for r in rows:
            # a row lives on one page: its first and last cells are found together, at or after the previous row
            key = [c[:6] for c in (r[0], r[-1]) if c]
            page = next(i for i in range(page, len(pages)) if all(_has(pages[i], k) for k in key))
        for i in range(first, page + 1):
            assert _has(pages[i], cap), f"{t['caption']!r} runs onto page {i + 1} without its header"
        spanning += page > first
        start = first
    return spanning


@pytest.mark.browser
@pytest.mark.skipif(find_chromium() is None, reason="chromium not installed")
def test_demo_report_prints_on_a4_with_every_table_whole(demo, tmp_path):
    pdf = _print_pdf(demo.zh, tmp_path / "report.pdf")
    pages, sizes = _pages_text(pdf)
    # A4 is 595 x 842 pt
    assert all(abs(w - 595.3) < 2 and abs(h - 841.9) < 2 for w, h in sizes)
    assert 3 <= len(pages) <= 25
    _check_tables_whole(demo.zh, pages)
    # nothing printed is cut off at the right edge: every headline figure is on page 1
    for label in (L.ui("population", "zh"), L.ui("outside_any", "zh")):
        assert _has(pages[0], _squash(label))


@pytest.mark.browser
@pytest.mark.skipif(find_chromium() is None, reason="chromium not installed")
def test_long_table_repeats_its_header_on_every_page(tmp_path):
    circles, _, lorenz, bars = _inputs(False)
    n = 160
    table = pd.DataFrame({
        "name": [f"第{i:03d}乡" for i in range(n)],
        "population": np.arange(n) * 97 + 1000,
        "uncovered": np.arange(n)[::-1] * 13,
        f"share_{circles[0].name}": np.linspace(0, 1, n),
    })
    path = write_report(tmp_path / "long.html", title="长表", headline={"总人口": 1}, township_table=table,
                        circles=circles, lorenz=lorenz, coverage_bars=bars, lang="zh")
    pages, _ = _pages_text(_print_pdf(path, tmp_path / "long.pdf"))
    assert _check_tables_whole(path, pages) >= 1  # the 160 rows span pages, each with the header
    header = _squash("名称人口未覆盖人口")
    spanned = [p for p in pages if _has(p, "第080乡") or _has(p, "第159乡")]
    assert spanned and all(_has(p, header) for p in spanned)
