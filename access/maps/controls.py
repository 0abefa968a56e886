"""Page furniture and behaviour: layer controls, legend, title, banner.

* Circles are an exclusive choice: a layer control of their own whose
  entries are radio buttons (Leaflet base layers), so one choropleth shows at
  a time; basemaps and overlays are in a second control below it.
* The legend is a Leaflet control in the bottom-left corner, stacked with
  the scale bar, while the layer controls sit top right (collapsed to an icon
  on narrow screens), so neither ever covers the colour key. It names the
  circle and the population it applies to, and shows a symbol for every
  layer that is on. The study opens fitted below the title, between the
  legend and the layer controls (on narrow screens above the legend, which
  there spans the screen's lower part).
* Gaps follow the chosen circle (its most populous gaps, outlines only,
  not clickable, with clickable rank badges); service areas follow it too
  and are loaded only when switched on: from a script file beside the map
  (``<script src>`` works for pages opened from disk, where ``fetch`` does
  not), or from data inside the page for the offline map.

All text reaching the page went through :func:`access.maps.text.inert`;
the configuration is JSON inside our own script, inserted as a template
variable (:class:`~access.maps.text.RawHtml`).
"""

from __future__ import annotations

from collections.abc import Sequence

from branca.element import Element

from access.maps import labels as L
from access.maps.formatting import (
    GAP_COLOUR, NO_DATA_COLOUR, PROPOSED_COLOUR, SHARE_BREAKS, SHARE_COLOURS, category_colour,
)
from access.maps.text import RawHtml, inert, script_json

LAYER_DIR = "layers"  # service-area files beside the map, loaded on demand
_FONT = '"Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei","PingFang SC",sans-serif'

STYLE = (
    "<style>"
    ".access-head{position:fixed;z-index:1000;top:10px;left:50%;transform:translateX(-50%);max-width:46%;"
    "display:flex;flex-direction:column;align-items:center;gap:4px;pointer-events:none}"
    f".access-head>div{{background:rgba(255,255,255,0.93);padding:4px 10px;border-radius:4px;"
    f"box-shadow:0 1px 4px rgba(0,0,0,0.35);font:13px/1.35 {_FONT};text-align:center;pointer-events:auto}}"
    "#access-title{font-size:15px;font-weight:bold}"
    "#access-synthetic{background:#b71c1c;color:#fff;font-weight:bold;font-size:12px}"
    f".access-legend{{background:rgba(255,255,255,0.93);padding:6px 9px;border-radius:4px;"
    f"box-shadow:0 1px 4px rgba(0,0,0,0.35);font:12px/1.35 {_FONT};max-width:260px;"
    "max-height:calc(100vh - 150px);overflow:auto;color:#222}"
    ".access-legend .sw{display:inline-block;width:16px;height:11px;margin-right:5px;vertical-align:-1px;"
    "border:1px solid #777}"
    ".access-legend .dot{display:inline-block;width:9px;height:9px;border-radius:50%;margin-right:5px;"
    "border:1px solid #fff;box-shadow:0 0 1px #000}"
    ".access-legend .ramp{display:flex;margin:2px 0}.access-legend .ramp span{flex:1;height:11px}"
    ".access-legend .ticks{display:flex;justify-content:space-between;font-size:10px;color:#555}"
    ".access-legend .cats{display:grid;grid-template-columns:1fr 1fr;column-gap:8px}"
    ".access-legend .sub{color:#555;font-size:11px}"
    ".access-label{background:rgba(255,255,255,0.75);border:0;box-shadow:none;padding:0 3px;font:11px/1.2 "
    f"{_FONT};text-align:center;color:#111}}"
    ".access-label:before{display:none}"
    ".access-badge{background:#fff;border:2px solid " + GAP_COLOUR + ";border-radius:9px;color:" + GAP_COLOUR + ";"
    "font:bold 11px/14px sans-serif;text-align:center}"
    ".access-popup table{border-collapse:collapse;font-size:12px}"
    ".access-popup th{text-align:left;padding:1px 8px 1px 0;vertical-align:top}"
    ".access-popup td{padding:1px 4px;vertical-align:top}"
    ".access-marker{background:transparent;border:none}"
    "@media (max-width:600px){.access-legend{font-size:10.5px;line-height:1.25}"
    "#access-title{font-size:13px}"
    ".access-head{max-width:56%}.access-legend .cats{grid-template-columns:1fr 1fr}.access-legend{max-width:250px}}"
    "</style>"
)


def header_html(title: str, lang: str, synthetic: bool) -> str:
    """Title box at the top centre, with the synthetic-data banner under it."""
    banner = f"<div id='access-synthetic'>{inert(L.ui('synthetic_banner', lang))}</div>" if synthetic else ""
    return f"<div id='access-head' class='access-head'><div id='access-title'>{inert(title)}</div>{banner}</div>"


def legend_html(lang: str, circle_label: str, scope: str, categories: Sequence[str] = (),
                layers: Sequence[str] = ()) -> str:
    """The legend's inner HTML; sections for layers not on the map are hidden by the page script.

    Parameters
    ----------
    circle_label, scope : str
        The circle shown at load and its population scope (plain text).
    categories : sequence of str
        Facility categories on this map.
    layers : sequence of str
        Which of ``gaps``, ``areas``, ``facilities``, ``proposed`` the map has.
    """
    ramp = "".join(f"<span style='background:{c}'></span>" for c in SHARE_COLOURS)
    ticks = "".join(f"<span>{b * 100:.0f}</span>" for b in SHARE_BREAKS)
    parts = [
        f"<b>{inert(L.ui('legend', lang))}</b>",
        f"<div>{inert(L.ui('circle_shown', lang))}: <b id='access-legend-circle'>{inert(circle_label)}</b></div>",
        f"<div class='sub'>{inert(L.ui('scope', lang))}: <span id='access-legend-scope'>{inert(scope)}</span></div>",
        f"<div style='margin-top:3px'>{inert(L.ui('legend_share', lang))} (%)</div>",
        f"<div class='ramp'>{ramp}</div><div class='ticks'>{ticks}</div>",
        f"<div><i class='sw' style='background:{NO_DATA_COLOUR}'></i>{inert(L.ui('no_data', lang))}</div>",
        f"<div><i class='sw' style='background:#fff;border-color:#444'></i>{inert(L.ui('labels_note', lang))}</div>",
    ]
    if "gaps" in layers:
        parts.append(
            f"<div data-layer='gaps'><i class='sw' style='background:transparent;border:2px dashed {GAP_COLOUR}'></i>"
            f"<span id='access-legend-gaps'></span></div>"
        )
    if "areas" in layers:
        parts.append(
            f"<div data-layer='areas'><i class='sw' style='background:rgba(55,126,184,0.25);border-color:#377eb8'></i>"
            f"{inert(L.ui('service_areas_note', lang))}</div>"
        )
    if "proposed" in layers:
        parts.append(
            f"<div data-layer='proposed'><i class='sw' style='background:{PROPOSED_COLOUR};border:2px solid #000'></i>"
            f"{inert(L.ui('proposed', lang))}</div>"
        )
    if "facilities" in layers and categories:
        cats = "".join(
            f"<div><i class='dot' style='background:{category_colour(c)}'></i>{inert(L.category_label(c, lang))}</div>"
            for c in categories
        )
        parts.append(
            f"<div data-layer='facilities'><div style='margin-top:3px'><b>{inert(L.ui('facilities', lang))}</b></div>"
            f"<div class='cats'>{cats}</div></div>"
        )
    return "".join(parts)


_SCRIPT = r"""
(function () {
  var cfg = __CFG__;
  var map = window[cfg.map];
  var narrow = window.innerWidth < 700;
  var byName = function (n) { return n ? window[n] : null; };
  var current = 0;
  var gapSlot = L.layerGroup(), areaSlot = L.layerGroup();
  var gapCache = {}, areaCache = {};
  window.__accessLayers = window.__accessLayers || {};

  var circleLayers = {}, bases = {}, overlays = {};
  cfg.circles.forEach(function (c) { circleLayers[c.label] = byName(c.layer); });
  // tile layers are absent from the offline map: skip names that are not defined
  cfg.bases.forEach(function (b) { if (byName(b.layer)) { bases[b.name] = byName(b.layer); } });
  if (cfg.has.gaps) { overlays[cfg.names.gaps] = gapSlot; }
  if (cfg.has.areas) { overlays[cfg.names.areas] = areaSlot; }
  cfg.overlays.forEach(function (o) { if (byName(o.layer)) { overlays[o.name] = byName(o.layer); } });
  L.control.layers(circleLayers, null, {collapsed: narrow, position: 'topright'}).addTo(map);
  L.control.layers(bases, overlays, {collapsed: narrow, position: 'topright'}).addTo(map);

  var legend = L.control({position: 'bottomleft'});
  legend.onAdd = function () {
    var div = L.DomUtil.create('div', 'access-legend');
    div.id = 'access-legend';
    div.innerHTML = cfg.legend;
    L.DomEvent.disableClickPropagation(div);
    L.DomEvent.disableScrollPropagation(div);
    return div;
  };
  legend.addTo(map);
  var legendLayers = {gaps: gapSlot, areas: areaSlot, facilities: byName(cfg.facilities), proposed: byName(cfg.proposed)};

  function syncLegend() {
    var c = cfg.circles[current];
    document.getElementById('access-legend-circle').innerHTML = c.label;
    document.getElementById('access-legend-scope').innerHTML = c.scope;
    var g = document.getElementById('access-legend-gaps');
    if (g) { g.innerHTML = c.gapsNote; }
    Array.prototype.forEach.call(document.querySelectorAll('#access-legend [data-layer]'), function (el) {
      var layer = legendLayers[el.getAttribute('data-layer')];
      el.style.display = layer && map.hasLayer(layer) ? '' : 'none';
    });
  }

  function gapLayer(i) {
    if (!gapCache[i]) {
      var group = L.layerGroup(), data = cfg.circles[i].gaps;
      if (data) {
        L.geoJSON(data, {interactive: false, style: {color: cfg.gapColour, weight: 2, dashArray: '5 4', fill: false}})
          .addTo(group);
        data.features.forEach(function (f) {
          var icon = L.divIcon({className: 'access-badge', html: String(f.properties._rank), iconSize: [22, 18]});
          L.marker(f.properties._at, {icon: icon, keyboard: false}).bindPopup(f.properties._popup, {maxWidth: 360})
            .addTo(group);
        });
      }
      gapCache[i] = group;
    }
    return gapCache[i];
  }

  function areaLayer(data) {
    return L.geoJSON(data, {
      interactive: false,
      style: function (f) { return {color: f.properties._c, fillColor: f.properties._c, weight: 1, fillOpacity: 0.15}; }
    });
  }

  function showAreas(i) {
    var a = cfg.circles[i].areas;
    if (!a) { areaSlot.clearLayers(); return; }
    var put = function () { if (current === i && map.hasLayer(areaSlot)) { areaSlot.clearLayers(); areaSlot.addLayer(areaCache[i]); } };
    if (areaCache[i]) { put(); return; }
    if (a.data) { areaCache[i] = areaLayer(a.data); put(); return; }
    var s = document.createElement('script');
    s.src = a.src;
    s.onload = function () { areaCache[i] = areaLayer(window.__accessLayers[a.key]); put(); };
    s.onerror = function () { console.warn('service areas not found beside the map: ' + a.src); };
    document.head.appendChild(s);
  }

  function setCircle(i) {
    current = i;
    gapSlot.clearLayers();
    gapSlot.addLayer(gapLayer(i));
    if (map.hasLayer(areaSlot)) { showAreas(i); }
    syncLegend();
  }

  map.on('baselayerchange', function (e) {
    cfg.circles.forEach(function (c, i) { if (byName(c.layer) === e.layer) { setCircle(i); } });
  });
  map.on('overlayadd', function (e) { if (e.layer === areaSlot) { showAreas(current); } syncLegend(); });
  map.on('overlayremove', function () { syncLegend(); });
  if (cfg.has.gaps) { gapSlot.addTo(map); }
  setCircle(0);

  // the study clear of the title, the legend and the layer controls: beside them on a wide screen,
  // between the title and the legend (the screen's lower part) on a phone
  var head = document.getElementById('access-head');
  var top = head ? head.getBoundingClientRect().bottom : 0;
  var key = document.getElementById('access-legend').getBoundingClientRect();
  var controls = document.querySelector('.leaflet-top.leaflet-right').getBoundingClientRect();
  map.fitBounds(cfg.bounds, narrow ? {paddingTopLeft: [0, top], paddingBottomRight: [0, window.innerHeight - key.top]}
                                   : {paddingTopLeft: [key.right, top], paddingBottomRight: [window.innerWidth - controls.left, 0]});
})();
"""


class MapControls(Element):
    """The page script: controls, legend and the circle-following gap and service-area layers.

    Parameters
    ----------
    map_name : str
        Folium's variable name of the map.
    config : dict
        Circles (label, scope, layer variable, gaps GeoJSON, gap note), bases,
        overlays, legend HTML, names; all text already inert.
    areas : dict
        Circle index -> service-area GeoJSON, written beside the map (or
        inlined for the offline map) by :mod:`access.maps.offline`.
    """

    def __init__(self, config: dict, areas: dict[int, dict]):
        super().__init__()
        self._name = "MapControls"
        self.config = config
        self.areas = areas
        # Set by access.maps.offline before rendering: inline the areas, or
        # load them from LAYER_DIR/<prefix>_service_areas_<i>.js.
        self.inline_areas = True
        self.prefix = "map"

    def area_files(self) -> dict[str, str]:
        """Relative path -> script text defining one circle's service areas."""
        return {
            f"{LAYER_DIR}/{self.prefix}_service_areas_{i}.js": (
                "window.__accessLayers = window.__accessLayers || {};\n"
                f"window.__accessLayers[{script_json(self._key(i))}] = {script_json(data)};\n"
            )
            for i, data in self.areas.items()
        }

    def _key(self, i: int) -> str:
        return f"{self.prefix}_service_areas_{i}"

    def render(self, **kwargs):
        cfg = dict(self.config)
        circles = []
        for i, c in enumerate(cfg["circles"]):
            c = dict(c)
            if i in self.areas:
                c["areas"] = (
                    {"data": self.areas[i]} if self.inline_areas
                    else {"src": f"{LAYER_DIR}/{self.prefix}_service_areas_{i}.js", "key": self._key(i)}
                )
            circles.append(c)
        cfg["circles"] = circles
        script = _SCRIPT.replace("__CFG__", script_json(cfg))
        self.get_root().script.add_child(RawHtml(script), name=self.get_name())


__all__ = ["MapControls", "legend_html", "header_html", "STYLE", "LAYER_DIR"]
