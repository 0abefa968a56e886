"""Text from input files can never run, on any HTML output of a real run.

Folium and branca render maps through Jinja2, some pieces twice. Names that
carry Jinja payloads are put into every input field that reaches HTML
(facility, township, county and study names, a raw category value mapped in
``[categories]``, circle labels and a service name), the real ``access run``
writes the study map, two county maps, their offline copies, the report and
the index, and then:

* no payload had a side effect (the file a payload would create is absent);
* no payload was evaluated (the products and loop output are absent);
* every name is displayed exactly as typed in headless Chromium.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from access.maps import coverage_map, render_map
from access.maps.text import inert
from browser import Chromium, find_chromium

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"

P_MUL = "{{7*191}}"  # 1337 if evaluated
P_BIG = "{{ 123457 * 1000003 }}"
BIG = str(123457 * 1000003)
P_FOR = "{% for x in range(3) %}ZQX{% endfor %}"  # ZQXZQXZQX if evaluated
P_OPEN = "人民医院{%分院"  # a template syntax error if parsed
P_COMMENT = "{# 注释 #}"
P_HTML = "<img src=x onerror=alert(1)>\"双引号\" & '单引号' 50%"


def p_exec(marker: Path) -> str:
    return "{{ cycler.__init__.__globals__.os.popen('touch " + str(marker) + "').read() }}"


def _evaluated(text: str) -> list[str]:
    return [v for v in (BIG, "ZQXZQXZQX") if v in text]


@pytest.fixture(scope="module")
def poisoned(tmp_path_factory):
    """The demo county split in two counties, every name field poisoned, run for real."""
    root = tmp_path_factory.mktemp("inject")
    marker = root / "pwned"
    data = root / "data"
    data.mkdir()
    for f in ("roads.osm.pbf", "population.tif"):
        shutil.copyfile(DEMO / f, data / f)
    ex = p_exec(marker)

    fac = pd.read_csv(DEMO / "facilities.csv", encoding="utf-8-sig", dtype=str)
    names = {1: ex, 2: P_FOR, 3: P_OPEN, 4: f"卫生院{P_HTML}", 5: f"{P_COMMENT}敬老院{P_MUL}"}
    for row, name in names.items():
        fac.loc[row, "name"] = name
    kg = fac.index[fac["category"].isin(["幼儿园"])][0]
    raw_category = f"幼儿园{P_MUL}{P_OPEN}"
    fac.loc[kg, "category"] = raw_category
    fac.to_csv(data / "facilities.csv", index=False, encoding="utf-8-sig")

    twp = gpd.read_file(DEMO / "townships.geojson")
    twp["code"] = twp["code"].astype(str)
    east = twp["code"].str[6:9].isin(["001", "002", "003", "004", "100", "101", "102"])
    twp["county_code"] = ["350999" if e else "350998" for e in east]
    twp.loc[twp["name"] == "石门乡", "name"] = f"石门乡{P_MUL}{P_OPEN}"
    twp.loc[twp["name"] == "海屿乡", "name"] = f"海屿乡{ex}"
    twp.loc[twp["name"] == "城关街道", "name"] = f"城关街道{P_HTML}"
    twp.to_file(data / "townships.geojson", driver="GeoJSON")
    counties = twp.dissolve(by="county_code", as_index=False)[["county_code", "geometry"]]
    counties = counties.rename(columns={"county_code": "code"})
    counties["name"] = counties["code"].map({"350999": f"甲县{P_FOR}", "350998": f"乙县{ex}{P_BIG}"})
    counties.to_file(data / "counties.geojson", driver="GeoJSON")

    study = f"研究区{P_MUL}{P_BIG}{P_OPEN}"
    circle_label = f"30分钟{P_FOR}医疗圈{P_COMMENT}"
    school_label = f"步行上学{P_MUL}"
    service = f"学校{P_OPEN}"
    (data / "scenario.toml").write_text(
        f"""
[study]
name = {json.dumps(study, ensure_ascii=False)}
lang = "zh"
synthetic = true

[inputs]
network = "roads.osm.pbf"
population = "population.tif"
facilities = "facilities.csv"
counties = "counties.geojson"
townships = "townships.geojson"

[inputs.boundary_fields]
code = "code"
name = "name"
parent = "county_code"
urban = "urban"

[categories]
{json.dumps(raw_category, ensure_ascii=False)} = "kindergarten"

[[circles]]
standard = "fujian_30min_medical"
label_zh = {json.dumps(circle_label, ensure_ascii=False)}

[[circles]]
name = "school_walk"
mode = "walk"
minutes = 15
scope = "all"
label_zh = {json.dumps(school_label, ensure_ascii=False)}
label_en = "walk to school"
requirements = {{ {json.dumps(service, ensure_ascii=False)} = ["primary_school"] }}

[rules]
township = []
""",
        encoding="utf-8",
    )
    out = root / "out"
    r = subprocess.run(
        [sys.executable, "-m", "access.cli", "run", str(data / "scenario.toml"), "--out", str(out), "--offline",
         "--quiet"],
        capture_output=True, text=True,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return {
        "out": out, "marker": marker, "study": study, "circle": circle_label, "school": school_label,
        "service": service, "raw_category": raw_category, "townships": [f"石门乡{P_MUL}{P_OPEN}", f"海屿乡{ex}", f"城关街道{P_HTML}"],
        "counties": {"350999": f"甲县{P_FOR}", "350998": f"乙县{ex}{P_BIG}"},
        "facilities": list(names.values()),
    }


def _pages(out: Path) -> list[Path]:
    return sorted(out.glob("*.html")) + sorted((out / "layers").glob("*.js"))


def test_run_writes_every_page_and_no_payload_ran(poisoned):
    out = poisoned["out"]
    names = {p.name for p in out.glob("*.html")}
    assert names == {
        "index.html", "report.html", "map.html", "map_offline.html",
        "map_350999.html", "map_350999_offline.html", "map_350998.html", "map_350998_offline.html",
    }
    assert not poisoned["marker"].exists()
    for page in _pages(out):
        text = page.read_text(encoding="utf-8")
        assert _evaluated(text) == [], page.name
        # no payload survives as template source: its delimiters are character references
        for payload in (P_MUL, P_FOR, P_OPEN, P_COMMENT, P_BIG):
            assert payload not in text, (page.name, payload)


def test_inert_text_survives_double_rendering():
    """What inert() returns, rendered by Jinja twice, is still the same HTML."""
    from jinja2 import Template

    for payload in (P_MUL, P_FOR, P_OPEN, P_COMMENT, P_HTML, p_exec(Path("/nonexistent/x"))):
        once = inert(payload)
        assert Template(Template(once).render()).render() == once
        assert not any(d in once for d in ("{{", "{%", "{#", "<", ">", "\"", "'"))


def test_english_labels_and_legend_are_inert_too():
    from dataclasses import replace

    from test_maps_browser import sample_inputs

    twp, circles, fac, gaps, areas, sites = sample_inputs(xss=False)
    circles = [replace(circles[0], label_en=P_FOR, label_zh=""), *circles[1:]]
    fac.loc[0, "category"] = f"自定义{P_MUL}"  # a category key with no label: shown as given
    page = render_map(coverage_map(twp, circles, fac, gaps, areas, sites, title=P_BIG, lang="en"), offline=True)
    assert _evaluated(page) == []
    for payload in (P_FOR, P_MUL, P_BIG):
        # as HTML, or as HTML inside a JSON string ("&" written \u0026)
        assert payload not in page
        assert inert(payload) in page or inert(payload).replace("&", "\\u0026") in page
    assert '<html lang="en">' in page


# ---------------------------------------------------------------------------
# literal display in Chromium
# ---------------------------------------------------------------------------

needs_chromium = pytest.mark.skipif(find_chromium() is None, reason="chromium not installed")

_STATE = r"""
(() => {
  const text = sel => Array.from(document.querySelectorAll(sel)).map(e => e.textContent.trim());
  return {
    title: document.title,
    head: text('#access-title'),
    circles: text('.leaflet-control-layers-base label'),
    legend: text('#access-legend-circle'),
    labels: text('.access-label'),
    body: document.body.innerText,
    alerts: window.__alerts,
    injected: document.querySelectorAll('img[src="x"]').length,
  };
})()
"""


@pytest.fixture(scope="module")
def chromium():
    if find_chromium() is None:
        pytest.skip("chromium not installed (tests/system_deps.sh installs it)")
    with Chromium(width=1366, height=768) as b:
        yield b


def _open_popup(b, needle):
    from test_maps_browser import _OPEN_POPUP

    return b.eval(f"({_OPEN_POPUP})({json.dumps(needle)})", await_promise=True)


@needs_chromium
@pytest.mark.browser
@pytest.mark.parametrize("page", ["map.html", "map_offline.html"])
def test_study_map_shows_names_as_typed(chromium, poisoned, page):
    log = chromium.open(poisoned["out"] / page, settle=1.5)
    assert log.js_errors == [], log.js_errors
    st = chromium.eval(_STATE)
    assert st["title"] == poisoned["study"] and st["head"] == [poisoned["study"]]
    assert poisoned["circle"] in st["circles"] and poisoned["school"] in st["circles"]
    assert st["legend"] == [poisoned["circle"]]
    for name in poisoned["townships"]:
        assert any(label.startswith(name) for label in st["labels"]), name
    for name in poisoned["facilities"]:
        popup = _open_popup(chromium, name)
        assert popup is not None and name in popup["text"] and popup["imgs"] == 0 and popup["scripts"] == 0, name
    # the poisoned service name, in planner's words, in a gap popup of the school circle
    chromium.eval("document.querySelectorAll('.leaflet-control-layers')[0].querySelectorAll('input')[1].click()")
    chromium.eval("new Promise(r => setTimeout(r, 300))", await_promise=True)
    badges = chromium.eval(
        "(() => { const m = Object.values(window).find(v => { try { return v instanceof L.Map; } catch (e) { return false; } });"
        " m.closePopup(); let got = null;"
        " m.eachLayer(l => { if (!got && l instanceof L.Marker && l.options.icon.options.className === 'access-badge') {"
        " l.openPopup(); got = l.getPopup().getElement().textContent; } }); return got; })()"
    )
    assert badges is not None and poisoned["school"] in badges
    assert chromium.eval("window.__alerts") == [] and st["alerts"] == []
    assert chromium.eval("document.querySelectorAll('img[src=\"x\"]').length") == 0


@needs_chromium
@pytest.mark.browser
@pytest.mark.parametrize("code", ["350999", "350998"])
def test_county_maps_show_county_names_as_typed(chromium, poisoned, code):
    for page in (f"map_{code}.html", f"map_{code}_offline.html"):
        log = chromium.open(poisoned["out"] / page, settle=1.0)
        assert log.js_errors == [], log.js_errors
        st = chromium.eval(_STATE)
        assert st["head"] == [f"{poisoned['study']} · {poisoned['counties'][code]}"]
        assert st["alerts"] == []


@needs_chromium
@pytest.mark.browser
def test_index_and_report_show_names_as_typed(chromium, poisoned):
    log = chromium.open(poisoned["out"] / "index.html", settle=0.3)
    assert log.js_errors == []
    links = chromium.eval("Array.from(document.querySelectorAll('a')).map(a => a.textContent)")
    for code, name in poisoned["counties"].items():
        assert f"{name} · map_{code}.html" in links
    assert chromium.eval("document.title") == poisoned["study"]
    log = chromium.open(poisoned["out"] / "report.html", settle=0.3)
    assert log.js_errors == []
    st = chromium.eval(_STATE)
    assert poisoned["study"] in st["body"] and poisoned["circle"] in st["body"]
    # the raw category value mapped in [categories] and the circle's service name
    assert poisoned["raw_category"] in st["body"] and poisoned["service"] in st["body"]
    for name in poisoned["townships"]:
        assert name in st["body"], name
    assert st["alerts"] == [] and st["injected"] == 0
