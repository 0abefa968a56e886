"""Maps in a real headless Chromium, networking blocked.

Oracles: the inputs built here (layer names, counts, the literal text of
names), the DOM Leaflet builds, and pixels of a screenshot.
"""

from __future__ import annotations

import html
import re
import warnings
from html.parser import HTMLParser

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point, box

from access.coverage.standards import CIRCLES
from access.errors import InputError, InputWarning
from access.maps import coverage_map, index_page, render_map, save_map
from access.maps import labels as L
import shapely

from access.maps.basemaps import _gcj02_fallback
from access.maps.basemaps import to_display as _to_display
from access.maps.offline import VENDOR, VENDOR_JS

from browser import Chromium, find_chromium, png_stats
from pathlib import Path

XSS_SCRIPT = "<script>alert(1)</script>"
XSS_IMG = "<img src=x onerror=alert(1)>"
XSS_TPL = "${alert(1)}`);alert(1);(`"
CRS = "EPSG:32650"
CIRCLE_KEYS = ("gb50180_15min", "fujian_30min_medical", "elderly_15min")

needs_chromium = pytest.mark.skipif(find_chromium() is None, reason="chromium not installed")


def _origin():
    """UTM 50N coordinates of 118.5E 26.1N."""
    return gpd.GeoSeries([Point(118.5, 26.1)], crs=4326).to_crs(CRS).iloc[0]


def sample_inputs(xss: bool = True):
    """Four 3 km townships, 7 facilities, 2 gaps, 2 service areas, 1 site."""
    o = _origin()
    x0, y0 = o.x, o.y
    names = ["城关镇", "东街街道", XSS_SCRIPT if xss else "西乡", XSS_IMG if xss else "南山乡"]
    circles = [CIRCLES[k] for k in CIRCLE_KEYS]
    geoms = [box(x0 + i % 2 * 3000, y0 + i // 2 * 3000, x0 + (i % 2 + 1) * 3000, y0 + (i // 2 + 1) * 3000) for i in range(4)]
    twp = gpd.GeoDataFrame(
        {
            "code": ["350181100000", "350181001000", "350181200000", "350181201000"],
            "name": names,
            "urban": [False, True, False, False],
            "population": [12000, 30000, 8000, 5000],
        },
        geometry=geoms,
        crs=CRS,
    )
    for j, c in enumerate(circles):
        share = np.array([0.1, 0.95, 0.5, np.nan]) if j == 0 else np.array([0.3, 0.7, 0.9, 0.05])
        twp[f"share_{c.name}"] = share
        twp[f"covered_{c.name}"] = np.nan_to_num(share) * twp["population"]
    fac = gpd.GeoDataFrame(
        {
            "facility_id": [f"F{i}" for i in range(7)],
            "name": ["城关镇卫生院", XSS_SCRIPT if xss else "东街社区卫生服务中心", XSS_IMG if xss else "幼儿园",
                     XSS_TPL if xss else "小学", "敬老院", "文化站", "农贸市场"],
            "category": ["township_health_centre", "community_health_centre", "kindergarten",
                         "primary_school", "elderly_care_centre", "cultural_station", "food_market"],
            "capacity": [40, 30, 200, 800, 60, np.nan, 120],
        },
        geometry=[Point(x0 + 500 + 700 * i, y0 + 800 + 650 * i) for i in range(7)],
        crs=CRS,
    )
    gaps = gpd.GeoDataFrame(
        {
            "rank": [1, 2],
            "population": [4200, 1300],
            "missing": ["community_health_centre, sports_ground", XSS_IMG if xss else "food_market"],
            "township_name": [names[0], names[2]],
            "time_needed": [2700.0, "> 60 min"],
        },
        geometry=[box(x0 + 200, y0 + 200, x0 + 1400, y0 + 1200), box(x0 + 3500, y0 + 3500, x0 + 4800, y0 + 4700)],
        crs=CRS,
    )
    areas = gpd.GeoDataFrame(
        {"category": ["township_health_centre", "primary_school"]},
        geometry=[Point(x0 + 500, y0 + 800).buffer(1500), Point(x0 + 2600, y0 + 2750).buffer(1000)],
        crs=CRS,
    )
    sites = gpd.GeoDataFrame(
        {"site_id": ["S1"], "category": ["community_health_centre"], "newly_covered": [3100]},
        geometry=[Point(x0 + 900, y0 + 700)],
        crs=CRS,
    )
    return twp, circles, fac, gaps, areas, sites


def build(xss: bool = True, **kw):
    twp, circles, fac, gaps, areas, sites = sample_inputs(xss)
    kw.setdefault("title", "测试县 15分钟生活圈" if not xss else f"标题 {XSS_SCRIPT}")
    return coverage_map(twp, circles, fac, gaps, areas, sites, **kw)


class _ScriptSrc(HTMLParser):
    def __init__(self):
        super().__init__()
        self.srcs, self.hrefs, self.inline = [], [], 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script":
            if a.get("src"):
                self.srcs.append(a["src"])
            else:
                self.inline += 1
        if tag == "link" and a.get("rel") == "stylesheet":
            self.hrefs.append(a["href"])


# ---------------------------------------------------------------------------
# structure (no browser)
# ---------------------------------------------------------------------------


def test_default_map_links_only_local_lib(tmp_path):
    out = save_map(build(), tmp_path / "map.html")
    page = out.read_text(encoding="utf-8")
    p = _ScriptSrc()
    p.feed(page)
    assert sorted(p.srcs) == ["lib/leaflet.js", "lib/leaflet.markercluster.js"]
    assert all(h.startswith("lib/") for h in p.hrefs) and len(p.hrefs) == 3
    for f in p.srcs + p.hrefs:
        assert (tmp_path / f).is_file()
    assert (tmp_path / "lib" / "images" / "layers.png").is_file()
    assert "jquery" not in page.lower() and "bootstrap" not in page.lower()
    # tiles are still online in the default variant
    assert "tile.openstreetmap.org" in page and "basemaps.cartocdn.com" in page


def test_offline_map_is_self_contained(tmp_path):
    out = save_map(build(), tmp_path / "offline.html", offline=True)
    page = out.read_text(encoding="utf-8")
    p = _ScriptSrc()
    p.feed(page)
    assert p.srcs == [] and p.hrefs == []
    assert not (tmp_path / "lib").exists()
    assert "openstreetmap" not in page and "cartocdn" not in page and "L.tileLayer" not in page
    # (Leaflet's own attribution string inside leaflet.js holds an https link: not a load)
    assert not re.search(r"""<(script|link|img)[^>]+(src|href)=["']https?://""", page)
    assert "images/layers.png" not in page  # inlined as data URI
    assert 'L.version="1.9.4"' in page.replace(" ", "") or "1.9.4" in page


def test_vendored_files_cannot_close_script():
    for f in VENDOR_JS.values():
        assert "</script" not in (VENDOR / f).read_text(encoding="utf-8").lower()
    assert (VENDOR / "LICENSE-leaflet.txt").is_file() and (VENDOR / "LICENSE-leaflet.markercluster.txt").is_file()


def test_raw_names_never_reach_html_unescaped(tmp_path):
    page = render_map(build(), offline=True)
    for bad in (XSS_SCRIPT, XSS_IMG, "</script><script>", "<img src=x"):
        assert bad not in page
    # the literal title is escaped in <title> and the title box
    assert f"<title>标题 {html.escape(XSS_SCRIPT)}</title>" in page


def test_repeated_render_does_not_leak_cdn_links(tmp_path):
    m = build()
    m._repr_html_()  # a notebook preview renders with Folium's CDN links
    page = save_map(m, tmp_path / "m.html").read_text(encoding="utf-8")
    p = _ScriptSrc()
    p.feed(page)
    assert all(s.startswith("lib/") for s in p.srcs + p.hrefs)
    # and Folium's class-level defaults were not mutated
    import folium

    assert folium.Map.default_js[0][1].startswith("https://")


def test_synthetic_has_no_tiles_and_banner():
    page = render_map(build(synthetic=True, basemaps=("osm", "amap")), offline=False)
    assert "L.tileLayer" not in page
    assert "示范数据（合成）" in page and "Synthetic demo data" in page


def test_missing_columns_and_crs_reported_together():
    twp, circles, fac, *_ = sample_inputs(False)
    bad = twp.drop(columns=[f"share_{circles[1].name}"])
    fac = fac.drop(columns=["category"])
    with pytest.raises(InputError) as ei:
        coverage_map(bad, circles, fac, title="x")
    text = str(ei.value)
    assert f"share_{circles[1].name}" in text and "'category'" in text
    assert len(ei.value.problems) == 2


def test_unknown_basemap_and_tianditu_without_key():
    with pytest.raises(InputError, match="unknown"):
        build(basemaps=("google",))
    with pytest.warns(InputWarning, match="tianditu_key"):
        page = render_map(build(basemaps=("osm", "tianditu")))
    assert "tianditu.gov.cn" not in page
    page = render_map(build(basemaps=("tianditu",), tianditu_key="abc123"))
    assert "tianditu.gov.cn" in page and "tk=abc123" in page


def test_amap_only_shifts_overlays_to_gcj02():
    twp, circles, fac, *_ = sample_inputs(False)
    wgs = _to_display(twp, gcj=False)
    gcj = _to_display(twp, gcj=True)
    a = shapely.get_coordinates(wgs.geometry.values)
    b = shapely.get_coordinates(gcj.geometry.values)
    lon, lat = _gcj02_fallback(a[:, 0], a[:, 1])
    np.testing.assert_allclose(b, np.column_stack([lon, lat]), atol=1e-9)
    # hundreds of metres here, as published for GCJ-02
    shift_m = np.hypot((b[:, 0] - a[:, 0]) * 111_320 * np.cos(np.radians(a[:, 1])), (b[:, 1] - a[:, 1]) * 110_540)
    assert ((shift_m > 200) & (shift_m < 800)).all()
    # the map built for Amap alone is drawn at the shifted place
    (s1, w1), _ = coverage_map(twp, circles, fac, title="t", basemaps=("osm",)).get_bounds()
    (s2, w2), _ = coverage_map(twp, circles, fac, title="t", basemaps=("amap",)).get_bounds()
    assert abs(s2 - b[:, 1].min()) < 1e-5 and abs(s2 - s1) > 1e-4
    with pytest.warns(InputWarning, match="GCJ-02"):
        coverage_map(twp, circles, fac, title="t", basemaps=("osm", "amap"))


def test_gcj02_fallback_known_point():
    # Widely published pair (e.g. coordtransform examples): WGS84 (116.397, 39.909)
    # -> GCJ-02 about (116.40324, 39.91040) at Tiananmen; and no shift abroad.
    lon, lat = _gcj02_fallback(np.array([116.397, 2.35]), np.array([39.909, 48.85]))
    assert abs(lon[0] - 116.4032) < 3e-4 and abs(lat[0] - 39.9104) < 3e-4
    assert lon[1] == 2.35 and lat[1] == 48.85


def test_english_labels():
    page = render_map(build(xss=False, lang="en"))
    assert "15-minute living circle" in page and "Facilities" in page and "Coverage gaps" in page
    assert "15分钟生活圈" not in page.replace("测试县 15分钟生活圈", "")


def test_map_draws_the_largest_gaps_per_circle_and_says_how_many():
    """A province holds 10^5 gaps: each circle's map layer holds its most
    populous ones, ranked, and knows how many there are; gaps.gpkg keeps them all."""
    from access.maps.study_layers import gaps_for_map

    sq = [box(i * 10.0, 0.0, i * 10.0 + 5, 5.0) for i in range(7)]
    gaps = gpd.GeoDataFrame({"circle": ["a", "a", "a", "a", "b", "b", "b"],
                             "population": [5.0, 50.0, 20.0, 1.0, 7.0, 9.0, 8.0],
                             "missing": "", "township_name": "t"}, geometry=sq, crs=CRS)
    got = gaps_for_map(gaps, [], limit=2)
    a = got[got["circle"] == "a"]
    b = got[got["circle"] == "b"]
    assert a["population"].tolist() == [50.0, 20.0] and a["rank"].tolist() == [1, 2] and (a["of"] == 4).all()
    assert b["population"].tolist() == [9.0, 8.0] and (b["of"] == 3).all()


# ---------------------------------------------------------------------------
# real browser
# ---------------------------------------------------------------------------

_MAP_STATE = r"""
(() => {
  const maps = Object.keys(window).filter(k => { try { return window[k] instanceof L.Map; } catch (e) { return false; } });
  const map = window[maps[0]];
  const groups = [], clusters = [];
  Object.keys(window).forEach(k => { try {
      const v = window[k];
      if (L.MarkerClusterGroup && v instanceof L.MarkerClusterGroup) clusters.push(v);
  } catch (e) {} });
  let popups = 0, tooltips = 0, clustered = 0;
  const visit = (l) => {
    if (l.getPopup && l.getPopup()) popups++;
    if (l.getTooltip && l.getTooltip()) tooltips++;
  };
  map.eachLayer(l => { if (!(l instanceof L.LayerGroup) && !(l instanceof L.MarkerCluster)) visit(l); });
  clusters.forEach(c => c.getLayers().forEach(l => { clustered++; if (!map.hasLayer(l)) visit(l); }));
  const ctrls = Array.from(document.querySelectorAll('.leaflet-control-layers'));
  const labelsIn = (el, sel) => el ? Array.from(el.querySelectorAll(sel)).map(e => e.textContent.trim()) : [];
  const rect = id => { const e = document.getElementById(id); return e ? e.getBoundingClientRect().toJSON() : null; };
  const legend = document.getElementById('access-legend');
  const others = Array.from(document.querySelectorAll('.leaflet-control, #access-head > div'))
    .filter(e => e !== legend && !legend.contains(e) && !e.classList.contains('leaflet-control-scale')
                 && !e.classList.contains('leaflet-control-attribution'))
    .map(e => e.getBoundingClientRect().toJSON());
  return {
    nmaps: maps.length, popups, tooltips, clustered,
    circles: labelsIn(ctrls[0], '.leaflet-control-layers-base label'),
    checkedCircles: ctrls[0] ? ctrls[0].querySelectorAll('.leaflet-control-layers-base input:checked').length : 0,
    bases: labelsIn(ctrls[1], '.leaflet-control-layers-base label'),
    overlays: labelsIn(ctrls[1], '.leaflet-control-layers-overlays label'),
    labels: Array.from(document.querySelectorAll('.access-label')).map(e => e.textContent),
    tiles: document.querySelectorAll('.leaflet-tile').length,
    paths: document.querySelectorAll('path').length,
    interactivePaths: document.querySelectorAll('path.leaflet-interactive').length,
    scale: document.querySelectorAll('.leaflet-control-scale').length,
    legend: legend.textContent,
    legendCircle: document.getElementById('access-legend-circle').textContent,
    title: (document.getElementById('access-title') || {}).textContent || '',
    banner: (document.getElementById('access-synthetic') || {}).textContent || '',
    lang: document.documentElement.lang,
    alerts: window.__alerts,
    legendRect: legend.getBoundingClientRect().toJSON(),
    legendScroll: [legend.scrollHeight, legend.clientHeight, legend.scrollWidth, legend.clientWidth],
    others,
    viewport: [window.innerWidth, window.innerHeight],
    titleRect: rect('access-title'),
    headRect: rect('access-head'),
    studyRect: (() => {  // the drawn townships, gaps and areas, together
      const rs = Array.from(document.querySelectorAll('.leaflet-overlay-pane path')).map(e => e.getBoundingClientRect());
      return rs.length ? {left: Math.min(...rs.map(r => r.left)), top: Math.min(...rs.map(r => r.top)),
                          right: Math.max(...rs.map(r => r.right)), bottom: Math.max(...rs.map(r => r.bottom))} : null;
    })(),
  };
})()
"""

# Open the popup of the first layer whose popup text contains `needle`
# (zooming a cluster open when needed) and return the popup's textContent.
_OPEN_POPUP = r"""
(async (needle) => {
  const map = window[Object.keys(window).find(k => { try { return window[k] instanceof L.Map; } catch (e) { return false; } })];
  const cands = [];
  const collect = l => { if (l.getPopup && l.getPopup()) cands.push(l); if (l.getLayers) l.getLayers().forEach(collect); };
  Object.keys(window).forEach(k => { try { const v = window[k]; if (v instanceof L.Layer && v.getLayers) collect(v); } catch (e) {} });
  const probe = document.createElement('div');
  const text = l => { const c = l.getPopup().getContent(); probe.innerHTML = typeof c === 'string' ? c : ''; return probe.textContent; };
  const layer = cands.find(l => text(l).includes(needle));
  if (!layer) return null;
  const cluster = Object.values(window).find(v => { try { return v instanceof L.MarkerClusterGroup && v.hasLayer(layer); } catch (e) { return false; } });
  if (cluster) { await new Promise(res => cluster.zoomToShowLayer(layer, res)); }
  else if (!map.hasLayer(layer)) { map.addLayer(layer); }
  layer.openPopup();
  await new Promise(r => setTimeout(r, 300));
  const el = document.querySelector('.leaflet-popup-content');
  return el ? {text: el.textContent, imgs: el.querySelectorAll('img').length, scripts: el.querySelectorAll('script').length} : null;
})
"""


@pytest.fixture(scope="module")
def browser():
    if find_chromium() is None:
        pytest.skip("chromium not installed (tests/system_deps.sh installs it)")
    with Chromium() as b:
        yield b


def legend_fully_visible(state) -> None:
    """The colour key lies inside the viewport, shows all of itself and touches no other box."""
    r, (w, h) = state["legendRect"], state["viewport"]
    assert r["left"] >= 0 and r["top"] >= 0 and r["right"] <= w and r["bottom"] <= h, (r, w, h)
    sh, ch, sw, cw = state["legendScroll"]
    assert sh <= ch + 1 and sw <= cw + 1, state["legendScroll"]
    for o in state["others"]:
        apart = r["right"] <= o["left"] or o["right"] <= r["left"] or r["bottom"] <= o["top"] or o["bottom"] <= r["top"]
        assert apart, ("legend overlaps", r, o)


def study_in_view(state) -> None:
    """The study opens whole inside the screen, below the title and clear of the legend."""
    r, (w, h), head, key = state["studyRect"], state["viewport"], state["headRect"], state["legendRect"]
    assert r["left"] >= 0 and r["right"] <= w and r["top"] >= head["bottom"] and r["bottom"] <= h, (r, head, w, h)
    assert r["right"] <= key["left"] or key["right"] <= r["left"] or r["bottom"] <= key["top"], ("legend covers", r, key)


def _check_map_page(b, path, shot, expect_tiles_online):
    log = b.open(path, settle=1.5)
    assert log.js_errors == [], log.js_errors
    state = b.eval(_MAP_STATE)
    assert state["nmaps"] == 1 and state["lang"] == "zh-CN"
    circles = [CIRCLES[k] for k in CIRCLE_KEYS]
    assert state["circles"] == [L.circle_label(c, "zh") for c in circles]
    assert state["checkedCircles"] == 1 and state["legendCircle"] == L.circle_label(circles[0], "zh")
    assert state["overlays"] == ["服务缺口", "服务范围", "公共服务设施", "建议新增设施"]
    assert state["clustered"] == 7  # every facility is in the cluster group
    # Visible at load: first circle's 4 townships + 2 gap badges + 1 site have popups.
    assert state["popups"] >= 4 + 2 + 1
    # township names with their share, drawn on the map (one circle: one label each)
    assert sorted(state["labels"]) == sorted(["城关镇10%", "东街街道95%", f"{XSS_SCRIPT}50%", f"{XSS_IMG}—"])
    assert state["scale"] == 1 and "图例" in state["legend"] and "人口覆盖率" in state["legend"]
    assert "人口最多的 2 处服务缺口（共 2 处" in state["legend"]
    assert state["title"] == f"标题 {XSS_SCRIPT}"
    legend_fully_visible(state)
    if expect_tiles_online:
        assert state["bases"] == ["OpenStreetMap", "CartoDB Positron"]
        # tiles were requested and failed on the network, not in JavaScript
        assert any("tile.openstreetmap.org" in e or "ERR_" in e for e in log.network_errors)
    else:
        assert state["bases"] == [] and state["tiles"] == 0
    # 4 townships + 2 gap outlines; the gap outlines take no clicks
    assert state["paths"] >= 4 + 2 and state["interactivePaths"] == 4
    png = b.screenshot(shot)
    std, colours = png_stats(png)
    assert std > 10 and colours > 20, (std, colours)
    return state


@needs_chromium
@pytest.mark.browser
def test_map_and_offline_map_in_chromium(browser, tmp_path):
    m = build()
    online = save_map(m, tmp_path / "map.html")
    offline = save_map(m, tmp_path / "offline" / "map_offline.html", offline=True)
    s1 = _check_map_page(browser, online, tmp_path / "map.png", expect_tiles_online=True)
    s2 = _check_map_page(browser, offline, tmp_path / "map_offline.png", expect_tiles_online=False)
    assert s1["alerts"] == [] and s2["alerts"] == []


@needs_chromium
@pytest.mark.browser
def test_xss_names_show_as_text_in_popups(browser, tmp_path):
    path = save_map(build(), tmp_path / "xss.html", offline=True)
    log = browser.open(path)
    assert log.js_errors == []
    checks = {
        XSS_SCRIPT: "township popup",  # township (choropleth) and facility
        XSS_IMG: "township/facility/gap popup",
        XSS_TPL: "facility popup (template-literal breakout)",
    }
    for needle in checks:
        got = browser.eval(f"({_OPEN_POPUP})({needle!r})".replace("'", "'"), await_promise=True)
        assert got is not None, f"no popup contains {needle!r}"
        assert needle in got["text"]
        assert got["imgs"] == 0 and got["scripts"] == 0
    # tooltips render text too
    tip = browser.eval(
        """(() => { const m = window[Object.keys(window).find(k => { try { return window[k] instanceof L.Map; } catch (e) { return false; } })];
        let t = null; m.eachLayer(l => { if (!t && l.getTooltip && l.getTooltip() && String(l.getTooltip().getContent()).includes('alert')) { l.openTooltip(); t = l.getTooltip().getElement(); } });
        return t ? {text: t.textContent, imgs: t.querySelectorAll('img').length} : null; })()"""
    )
    assert tip is not None and "alert(1)" in tip["text"] and tip["imgs"] == 0
    browser.eval("new Promise(r => setTimeout(r, 500))", await_promise=True)
    assert browser.eval("window.__alerts") == []
    assert browser.eval("document.querySelectorAll('img[src=\"x\"]').length") == 0


@needs_chromium
@pytest.mark.browser
def test_synthetic_map_in_chromium(browser, tmp_path):
    path = save_map(build(xss=False, synthetic=True), tmp_path / "demo.html")
    log = browser.open(path)
    assert log.js_errors == [] and log.network_errors == []
    state = browser.eval(_MAP_STATE)
    assert state["tiles"] == 0 and state["bases"] == []
    assert "示范数据（合成）" in state["banner"] and "Synthetic demo data" in state["banner"]
    std, colours = png_stats(browser.screenshot(tmp_path / "demo.png"))
    assert std > 10 and colours > 20


@needs_chromium
@pytest.mark.browser
def test_index_page_in_chromium(browser, tmp_path):
    m = build(xss=False)
    save_map(m, tmp_path / "study" / "map.html")
    save_map(m, tmp_path / "350181" / "map.html")
    idx = index_page(
        [("研究区总图", "study/map.html", "4 个乡镇"), (f"福清市 {XSS_IMG}", "350181/map.html", XSS_SCRIPT)],
        tmp_path / "index.html",
        title="福州市 公共服务可达性",
    )
    log = browser.open(idx)
    assert log.js_errors == []
    links = browser.eval("Array.from(document.querySelectorAll('a')).map(a => [a.textContent, a.getAttribute('href')])")
    assert links == [["研究区总图", "study/map.html"], [f"福清市 {XSS_IMG}", "350181/map.html"]]
    assert XSS_SCRIPT in browser.eval("document.body.textContent")
    assert browser.eval("window.__alerts") == [] and browser.eval("document.images.length") == 0
    std, _ = png_stats(browser.screenshot(tmp_path / "index.png"))
    assert std > 1
    # following the link opens a working map
    log = browser.open(tmp_path / "350181" / "map.html")
    assert log.js_errors == []
    assert browser.eval("document.querySelectorAll('.leaflet-control-layers-overlays label').length") == 4


def test_index_page_refuses_scheme_links(tmp_path):
    with pytest.raises(InputError, match="relative"):
        index_page([("x", "javascript:alert(1)", "")], tmp_path / "i.html", title="t")
    with pytest.raises(InputError):
        index_page([("x", "/etc/passwd", "")], tmp_path / "i.html", title="t")


def test_no_warnings_for_plain_inputs():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build(xss=False)


@pytest.fixture(scope="module")
def demo_maps(tmp_path_factory):
    """The real pipeline's maps: `access demo --offline` on the synthetic county."""
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("demo_maps")
    r = subprocess.run([sys.executable, "-m", "access.cli", "demo", "--out", str(out), "--offline", "--quiet"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return out


@needs_chromium
@pytest.mark.browser
@pytest.mark.parametrize("page", ["map.html", "map_offline.html"])
def test_demo_run_maps_in_chromium(browser, demo_maps, page):
    from access.scenario import load_scenario

    sc = load_scenario(Path(__file__).resolve().parents[1] / "data" / "demo" / "scenario.toml")
    log = browser.open(demo_maps / page, settle=2.0)
    assert log.js_errors == [], log.js_errors
    state = browser.eval(_MAP_STATE)
    assert state["circles"] == [L.circle_label(c, "zh") for c in sc.circles] and state["checkedCircles"] == 1
    assert state["overlays"] == ["服务缺口", "服务范围", "公共服务设施"]
    assert "人口最多的 25 处服务缺口" in state["legend"]
    assert len(state["labels"]) == 15  # every township named on the map, with its share
    assert state["tiles"] == 0 and state["bases"] == []  # synthetic: no real basemap under invented roads
    assert "示范数据（合成）" in state["banner"]
    import json

    # every facility the run kept (run.json) is in the cluster group
    assert state["clustered"] == json.loads((demo_maps / "run.json").read_text(encoding="utf-8"))["facilities"]
    # the designed island gap shows in a popup with its township name
    popup = browser.eval(_OPEN_POPUP + "('海屿乡')", await_promise=True)
    assert popup is not None and "海屿乡" in popup["text"] and popup["scripts"] == 0
    std, colours = png_stats(browser.screenshot(demo_maps / f"{page}.png"))
    assert std > 10 and colours > 20


@needs_chromium
@pytest.mark.browser
def test_demo_index_in_chromium(browser, demo_maps):
    log = browser.open(demo_maps / "index.html")
    assert log.js_errors == []
    links = browser.eval("Array.from(document.querySelectorAll('a')).map(a => a.getAttribute('href'))")
    assert "map.html" in links
    std, _ = png_stats(browser.screenshot(demo_maps / "index.png"))
    assert std > 5


def _share_text(share: float) -> str:
    """How a label writes a share: whole percent, never rounding a gap shut or open."""
    if share != share:
        return "—"
    pct = 100 * share
    return "<1%" if 0 < pct < 0.5 else ">99%" if 99.5 <= pct < 100 else f"{pct:.0f}%"


_CLICK_CIRCLE = "document.querySelectorAll('.leaflet-control-layers')[0].querySelectorAll('input')[{i}].click()"
_CLICK_OVERLAY = (
    "Array.from(document.querySelectorAll('.leaflet-control-layers-overlays label'))"
    ".find(l => l.textContent.trim() === {name!r}).querySelector('input').click()"
)


@needs_chromium
@pytest.mark.browser
@pytest.mark.parametrize("size", [(1366, 768), (390, 844)])
def test_demo_map_reads_at_a_glance(demo_maps, size):
    """Legend never hidden, the study opening whole and clear of it, one circle at a time, every township
    labelled with the share its row in coverage_township.csv gives, for each circle."""
    import pandas as pd

    from access.scenario import load_scenario

    sc = load_scenario(Path(__file__).resolve().parents[1] / "data" / "demo" / "scenario.toml")
    table = pd.read_csv(demo_maps / "coverage_township.csv", encoding="utf-8-sig", dtype={"code": str})
    table = table[table["code"] != "total"]
    with Chromium(width=size[0], height=size[1]) as b:
        log = b.open(demo_maps / "map.html", settle=1.5)
        assert log.js_errors == [], log.js_errors
        for i, c in enumerate(sc.circles):
            b.eval(_CLICK_CIRCLE.format(i=i))
            b.eval("new Promise(r => setTimeout(r, 400))", await_promise=True)  # labels fade out in 200 ms
            st = b.eval(_MAP_STATE)
            assert st["checkedCircles"] == 1 and st["legendCircle"] == L.circle_label(c, "zh")
            legend_fully_visible(st)
            expected = sorted(f"{n}{_share_text(s)}" for n, s in zip(table["name"], table[f"share_{c.name}"]))
            assert sorted(st["labels"]) == expected
            if i == 0:
                study_in_view(st)
                b.screenshot(demo_maps / f"map_{size[0]}x{size[1]}.png")
        assert b._log("").js_errors == []


@needs_chromium
@pytest.mark.browser
def test_demo_service_areas_load_only_when_switched_on(browser, demo_maps):
    page = demo_maps / "map.html"
    browser.open(page, settle=1.0)
    assert [u for u in browser.requests() if "/layers/" in u] == []
    before = browser.eval("document.querySelectorAll('path').length")
    browser.eval(_CLICK_OVERLAY.format(name="服务范围"))
    loaded = [u for u in browser.requests(settle=1.5) if "/layers/" in u]
    assert loaded == [(demo_maps / "layers" / "map_service_areas_0.js").as_uri()]
    assert browser.eval("document.querySelectorAll('path').length") > before
    # another circle's areas come with it, the first's are not fetched twice
    browser.eval(_CLICK_CIRCLE.format(i=1))
    loaded = [u for u in browser.requests(settle=1.5) if "/layers/" in u]
    assert loaded == [(demo_maps / "layers" / f"map_service_areas_{i}.js").as_uri() for i in (0, 1)]
    assert browser._log("").js_errors == []


@needs_chromium
@pytest.mark.browser
def test_demo_offline_map_makes_no_request(browser, demo_maps):
    page = demo_maps / "map_offline.html"
    browser.open(page, settle=1.0)
    before = browser.eval("document.querySelectorAll('path').length")
    browser.eval(_CLICK_OVERLAY.format(name="服务范围"))
    browser.eval(_CLICK_CIRCLE.format(i=2))
    requests = browser.requests(settle=1.0)
    assert [u for u in requests if not u.startswith("data:")] == [page.as_uri()]
    assert browser.eval("document.querySelectorAll('path').length") > before
    assert browser._log("").js_errors == [] and browser._log("").network_errors == []
