"""Interactive coverage maps built with Folium.

The map shows, for a study area:

* a township choropleth per service circle (one switchable overlay each,
  only the first shown at load),
* service areas per facility category,
* coverage-gap polygons,
* facilities as clustered markers,
* proposed sites,

with a layer control, a legend, a title, a scale bar and, for synthetic demo
data, a banner. Popups and tooltips are built here as HTML strings from
``html.escape``-d values, so text read from input files is always shown as
plain text (never markup or script). They are bound in JavaScript from the
feature properties, which Folium embeds with Jinja's ``tojson`` (``<``, ``>``,
``&`` and ``'`` escaped), so no value can close the ``<script>`` element.

The map uses only Leaflet and Leaflet.markercluster: no jQuery, Bootstrap or
awesome-markers. That is what lets :func:`access.maps.offline.save_map` write
maps that work with no network (see there).

Basemaps and GCJ-02
-------------------
Amap (高德) tiles are drawn in GCJ-02, which is offset from WGS84 by roughly
300-600 m in China. When ``amap`` is the *only* basemap, every overlay is
converted WGS84 -> GCJ-02 so it lines up with the tiles. When Amap is mixed
with WGS84 basemaps (OSM, CartoDB, Tianditu), overlays stay in WGS84 and an
:class:`~access.errors.InputWarning` says that the Amap layer will look
shifted: a Leaflet overlay cannot follow the basemap switch honestly.
"""

from __future__ import annotations

import html
import math
import numbers
from collections.abc import Iterable, Sequence

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from folium.plugins import MarkerCluster
from folium.utilities import JsCode

from access.errors import InputError, warn
from access.maps import labels as L

# Share classes for the choropleth: red = large gap, green = well served.
SHARE_BREAKS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
SHARE_COLOURS = ("#d7191c", "#fdae61", "#ffffbf", "#a6d96a", "#1a9641")
NO_DATA_COLOUR = "#bdbdbd"
# Gap polygons drawn on one map: largest first, up to this many vertices over
# all circles (~8 MB of GeoJSON), so that a province's study map still opens;
# gaps.gpkg and the county maps hold the rest.
MAP_GAP_VERTICES = 300_000
MAP_SIMPLIFY_M = 50.0  # gap outlines on maps, metres: the traced staircase is invisible at map zoom

# Qualitative colours for facility categories (stable per category key).
CATEGORY_COLOURS: dict[str, str] = {
    "community_health_centre": "#e41a1c",
    "community_health_station": "#fb8072",
    "township_health_centre": "#b2182b",
    "village_clinic": "#f4a582",
    "hospital": "#67001f",
    "clinic": "#d6604d",
    "kindergarten": "#ff7f00",
    "central_kindergarten": "#a65628",
    "primary_school": "#377eb8",
    "junior_middle_school": "#08519c",
    "elderly_care_centre": "#984ea3",
    "elderly_day_care": "#c2a5cf",
    "cultural_station": "#4daf4a",
    "sports_ground": "#1b7837",
    "food_market": "#e7298a",
}
_FALLBACK_COLOURS = ("#666666", "#8c510a", "#01665e", "#762a83", "#35978f")

BASEMAPS = ("osm", "cartodb", "amap", "tianditu")

# Binds the pre-escaped popup/tooltip HTML carried in each feature's properties.
_BIND = JsCode(
    """function(feature, layer) {
        var p = feature.properties || {};
        if (p._popup) { layer.bindPopup(p._popup, {maxWidth: 360}); }
        if (p._tooltip) { layer.bindTooltip(p._tooltip, {sticky: true}); }
    }"""
)


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------


def esc(value) -> str:
    """Text -> HTML-safe text (``None``/NaN -> empty string)."""
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    return html.escape(str(value), quote=True)


def share_colour(share: float | None) -> str:
    """Fill colour for a population share in 0..1 (grey when missing)."""
    if share is None or not np.isfinite(share):
        return NO_DATA_COLOUR
    share = min(max(float(share), 0.0), 1.0)
    for upper, colour in zip(SHARE_BREAKS[1:], SHARE_COLOURS):
        if share < upper:
            return colour
    return SHARE_COLOURS[-1]


def category_colour(category: str) -> str:
    """Marker colour for a category; unknown keys get a stable fallback."""
    if category in CATEGORY_COLOURS:
        return CATEGORY_COLOURS[category]
    return _FALLBACK_COLOURS[sum(map(ord, str(category))) % len(_FALLBACK_COLOURS)]


def _fmt_persons(value, lang: str) -> str:
    if value is None or (isinstance(value, numbers.Real) and not np.isfinite(value)):
        return "—"
    return f"{float(value):,.0f} {L.ui('persons', lang)}"


def _fmt_share(value) -> str:
    if value is None or (isinstance(value, numbers.Real) and not np.isfinite(value)):
        return "—"
    return f"{100.0 * float(value):.1f}%"


def _fmt_time(value, lang: str) -> str:
    """Seconds -> minutes text; strings are shown as given."""
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, numbers.Real) and not np.isfinite(value)):
        return "—"
    return f"{float(value) / 60.0:.0f} {L.ui('minutes', lang)}"


def _fmt_missing(value, lang: str) -> str:
    """Translate comma-separated category keys, keep anything else as given."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, (list, tuple, set)):
        parts = [str(v) for v in value]
    else:
        parts = [p.strip() for p in str(value).replace("，", ",").replace(";", ",").split(",")]
    sep = "、" if lang == "zh" else ", "
    return sep.join(L.category_label(p, lang) for p in parts if p)


def popup_html(title, rows: Iterable[tuple[str, str]]) -> str:
    """A small popup table; every piece of text is escaped here."""
    body = "".join(
        f"<tr><th style='text-align:left;padding-right:8px'>{esc(k)}</th><td>{esc(v)}</td></tr>"
        for k, v in rows
    )
    return f"<div class='access-popup'><b>{esc(title)}</b><table>{body}</table></div>"


def _require(gdf, columns: Sequence[str], what: str, fix: str) -> list[str]:
    """Problems for ``gdf``: missing columns, missing CRS."""
    problems = []
    if not isinstance(gdf, gpd.GeoDataFrame):
        return [f"{what}: expected a GeoDataFrame, got {type(gdf).__name__}; {fix}"]
    for c in columns:
        if c not in gdf.columns:
            problems.append(f"{what}: column {c!r} is missing; {fix}")
    if gdf.crs is None and len(gdf):
        problems.append(
            f"{what}: no CRS is set; set it with .set_crs(...) (the study CRS, e.g. EPSG:32650)"
        )
    return problems


# --------------------------------------------------------------------------
# coordinates
# --------------------------------------------------------------------------


def _gcj02_fallback(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 -> GCJ-02 with the published forward formula (degrees).

    Points outside mainland China's rough bounding box are returned unchanged,
    as the official transform does.
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    a, ee = 6378245.0, 0.00669342162296594323
    x, y = lon - 105.0, lat - 35.0
    pi = math.pi
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    dlat += (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlat += (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    dlon += (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlon += (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    radlat = lat / 180.0 * pi
    magic = 1.0 - ee * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((a * (1.0 - ee)) / (magic * sqrtmagic) * pi)
    dlon = (dlon * 180.0) / (a / sqrtmagic * np.cos(radlat) * pi)
    inside = (lon > 72.004) & (lon < 137.8347) & (lat > 0.8293) & (lat < 55.8271)
    return np.where(inside, lon + dlon, lon), np.where(inside, lat + dlat, lat)


def _wgs84_to_gcj02():
    """The project's converter if present, else the private fallback."""
    try:  # written by the sources engineer; same (lon, lat) -> (lon, lat) arrays contract
        from access.sources.chinacoords import wgs84_to_gcj02  # type: ignore

        return wgs84_to_gcj02
    except ImportError:
        return _gcj02_fallback


def _to_display(gdf: gpd.GeoDataFrame | None, gcj: bool) -> gpd.GeoDataFrame | None:
    """Reproject to EPSG:4326, optionally shifting to GCJ-02 for Amap tiles."""
    if gdf is None or len(gdf) == 0:
        return gdf
    out = gdf.to_crs(4326) if gdf.crs is not None and not gdf.crs.equals("EPSG:4326") else gdf
    out = out[~(out.geometry.isna() | out.geometry.is_empty)].copy()
    if gcj:
        conv = _wgs84_to_gcj02()

        def shift(coords: np.ndarray) -> np.ndarray:
            lon, lat = conv(coords[:, 0], coords[:, 1])
            return np.column_stack([np.asarray(lon, float), np.asarray(lat, float)])

        out = out.set_geometry(shapely.transform(out.geometry.values, shift))
    return out


def _feature_collection(gdf: gpd.GeoDataFrame, props: list[dict]) -> dict:
    """GeoJSON dict with explicit ids (so Folium needs no identifier search)."""
    # ~0.1 m at 6 decimals: plenty for display, keeps the HTML small.
    geoms = shapely.set_precision(gdf.geometry.values, 1e-6, mode="pointwise")
    features = []
    for i, (g, p) in enumerate(zip(geoms, props)):
        features.append(
            {
                "type": "Feature",
                "id": str(i),
                "properties": p,
                "geometry": shapely.geometry.mapping(g),
            }
        )
    return {"type": "FeatureCollection", "features": features}


# --------------------------------------------------------------------------
# basemaps
# --------------------------------------------------------------------------


def _basemap_layers(basemaps: Sequence[str], tianditu_key: str | None, lang: str):
    """TileLayers for the requested basemap names (first one shown)."""
    layers = []
    for name in basemaps:
        key = str(name).lower()
        if key in ("osm", "openstreetmap"):
            layers.append(folium.TileLayer("OpenStreetMap", name="OpenStreetMap"))
        elif key in ("cartodb", "cartodbpositron", "positron"):
            # Explicit URL: the xyzservices entry now warns about an API key.
            layers.append(
                folium.TileLayer(
                    tiles="https://{s}.basemaps.cartocdn.com/light_all/{z}/{x}/{y}{r}.png",
                    attr='&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> '
                    'contributors &copy; <a href="https://carto.com/attributions">CARTO</a>',
                    name="CartoDB Positron",
                    subdomains="abcd",
                    max_zoom=20,
                )
            )
        elif key in ("amap", "gaode"):
            layers.append(
                folium.TileLayer(
                    tiles="https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
                    attr="&copy; 高德地图 AutoNavi (GCJ-02)",
                    name="高德地图 Amap (GCJ-02)" if lang == "zh" else "Amap (GCJ-02)",
                    subdomains="1234",
                    max_zoom=18,
                )
            )
        elif key == "tianditu":
            if not tianditu_key:
                warn(
                    "basemap 'tianditu' needs a key: pass tianditu_key=... (free from "
                    "console.tianditu.gov.cn); the Tianditu basemap was not added"
                )
                continue
            tk = html.escape(str(tianditu_key).strip(), quote=True)
            if not tk.isalnum():
                raise InputError(
                    f"tianditu_key {tianditu_key!r} is not a Tianditu key (letters and digits only); "
                    "copy it again from console.tianditu.gov.cn"
                )
            base = "https://t{s}.tianditu.gov.cn/%s_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=%s&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=" + tk
            layers.append(
                folium.TileLayer(
                    tiles=base % ("vec", "vec"),
                    attr="&copy; 天地图 Tianditu",
                    name="天地图 Tianditu" if lang == "zh" else "Tianditu",
                    subdomains="01234567",
                    max_zoom=18,
                )
            )
            # Place-name annotations are a separate transparent layer.
            layers.append(
                folium.TileLayer(
                    tiles=base % ("cva", "cva"),
                    attr="&copy; 天地图 Tianditu",
                    name="天地图注记 Tianditu labels" if lang == "zh" else "Tianditu labels",
                    subdomains="01234567",
                    max_zoom=18,
                    overlay=True,
                    control=True,
                )
            )
        else:
            raise InputError(
                f"basemap {name!r} is unknown: use any of {BASEMAPS} (or none for synthetic data)"
            )
    return layers


# --------------------------------------------------------------------------
# page furniture: legend, title, banner
# --------------------------------------------------------------------------

_BOX = (
    "position:fixed;z-index:1000;background:rgba(255,255,255,0.92);padding:6px 10px;"
    "border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,0.35);font:13px/1.4 "
    '"Noto Sans CJK SC","Microsoft YaHei","PingFang SC",sans-serif;'  # inside style='...'

)


def legend_html(lang: str, categories: Sequence[str] = ()) -> str:
    """Legend: share colour ramp plus facility category swatches."""
    rows = []
    for lo, hi, colour in zip(SHARE_BREAKS[:-1], SHARE_BREAKS[1:], SHARE_COLOURS):
        rows.append(
            f"<div><i style='display:inline-block;width:18px;height:12px;margin-right:6px;"
            f"background:{colour};border:1px solid #777'></i>{lo * 100:.0f}–{hi * 100:.0f}%</div>"
        )
    rows.append(
        f"<div><i style='display:inline-block;width:18px;height:12px;margin-right:6px;"
        f"background:{NO_DATA_COLOUR};border:1px solid #777'></i>{esc(L.ui('no_data', lang))}</div>"
    )
    cats = "".join(
        f"<div><i style='display:inline-block;width:10px;height:10px;border-radius:50%;"
        f"margin:0 10px 0 4px;background:{category_colour(c)};border:1px solid #fff'></i>"
        f"{esc(L.category_label(c, lang))}</div>"
        for c in categories
    )
    return (
        f"<div id='access-legend' class='access-legend' style='{_BOX}bottom:24px;right:10px;max-height:55%;overflow:auto'>"
        f"<b>{esc(L.ui('legend', lang))}</b><div>{esc(L.ui('legend_share', lang))}</div>{''.join(rows)}"
        + (f"<div style='margin-top:4px'><b>{esc(L.ui('facilities', lang))}</b></div>{cats}" if cats else "")
        + "</div>"
    )


def title_html(title: str) -> str:
    return (
        f"<div id='access-title' class='access-title' style='{_BOX}top:10px;left:50%;"
        f"transform:translateX(-50%);font-size:16px;font-weight:bold;max-width:50%;text-align:center'>{esc(title)}</div>"
    )


def banner_html(lang: str) -> str:
    return (
        f"<div id='access-synthetic' class='access-synthetic' style='{_BOX}top:54px;left:50%;transform:translateX(-50%);"
        f"background:#b71c1c;color:#fff;font-weight:bold'>{esc(L.ui('synthetic_banner', lang))}</div>"
    )


# --------------------------------------------------------------------------
# overlays
# --------------------------------------------------------------------------


def _dot_icon(colour: str, size: int = 12, shape: str = "circle") -> folium.DivIcon:
    radius = "50%" if shape == "circle" else "2px"
    border = "2px solid #000" if shape == "square" else "1px solid #fff"
    return folium.DivIcon(
        html=(
            f"<div style='width:{size}px;height:{size}px;border-radius:{radius};background:{colour};"
            f"border:{border};box-shadow:0 0 2px rgba(0,0,0,0.6)'></div>"
        ),
        icon_size=(size, size),
        icon_anchor=(size // 2, size // 2),
        class_name="access-marker",
    )


def _points(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Polygons (e.g. a school site) are shown at a point inside them."""
    if (gdf.geom_type != "Point").any():
        gdf = gdf.copy()
        gdf["geometry"] = gdf.geometry.representative_point()
    return gdf


def _township_layers(m, twp: gpd.GeoDataFrame, circles, lang: str) -> None:
    urban = twp["urban"] if "urban" in twp.columns else pd.Series(None, index=twp.index)
    for i, circle in enumerate(circles):
        label = L.circle_label(circle, lang)
        share = pd.to_numeric(twp[f"share_{circle.name}"], errors="coerce")
        covered = pd.to_numeric(twp[f"covered_{circle.name}"], errors="coerce")
        props = []
        for name, u, pop, cov, sh, code in zip(
            twp["name"], urban, twp["population"], covered, share,
            twp["code"] if "code" in twp.columns else [None] * len(twp),
        ):
            rows = []
            if code is not None and not (isinstance(code, float) and math.isnan(code)):
                rows.append((L.ui("code", lang), code))
            if u is not None and not (isinstance(u, float) and math.isnan(u)):
                rows.append((L.ui("township", lang), L.ui("urban" if bool(u) else "rural", lang)))
            rows += [
                (L.ui("population", lang), _fmt_persons(pop, lang)),
                (L.ui("covered", lang), _fmt_persons(cov, lang)),
                (L.ui("share", lang), _fmt_share(sh)),
            ]
            props.append(
                {
                    "_popup": popup_html(f"{name} · {label}", rows),
                    "_tooltip": f"{esc(name)}: {esc(_fmt_share(sh))}",
                    "_fill": share_colour(sh),
                }
            )
        group = folium.FeatureGroup(name=esc(label), show=(i == 0))
        folium.GeoJson(
            _feature_collection(twp, props),
            style_function=lambda f: {
                "fillColor": f["properties"]["_fill"],
                "color": "#444444",
                "weight": 1,
                "fillOpacity": 0.6,
            },
            highlight_function=lambda f: {"weight": 3, "color": "#000000"},
            on_each_feature=_BIND,
            control=False,
        ).add_to(group)
        group.add_to(m)


def _service_area_layers(m, areas: gpd.GeoDataFrame, lang: str) -> None:
    for cat, part in areas.groupby("category", sort=True):
        label = f"{L.ui('service_area', lang)}：{L.category_label(cat, lang)}" if lang == "zh" else (
            f"{L.ui('service_area', lang)}: {L.category_label(cat, lang)}"
        )
        colour = category_colour(cat)
        props = [
            {"_popup": popup_html(label, []), "_tooltip": esc(L.category_label(cat, lang)), "_c": colour}
        ] * len(part)
        group = folium.FeatureGroup(name=esc(label), show=False)
        folium.GeoJson(
            _feature_collection(part, [dict(p) for p in props]),
            style_function=lambda f: {
                "fillColor": f["properties"]["_c"],
                "color": f["properties"]["_c"],
                "weight": 1,
                "fillOpacity": 0.15,
            },
            on_each_feature=_BIND,
            control=False,
        ).add_to(group)
        group.add_to(m)


def _gap_layers(m, gaps: gpd.GeoDataFrame, circles, lang: str) -> None:
    """One gap layer per circle (only the first circle's shown at load), or one layer."""
    if "circle" not in gaps.columns:
        _gap_layer(m, gaps, lang)
        return
    first = True
    budget = MAP_GAP_VERTICES // max(1, gaps["circle"].nunique())
    for c in circles:
        sub = gaps[gaps["circle"] == c.name]
        if len(sub):
            name = f"{L.ui('gaps', lang)}：{L.circle_label(c, lang)}"
            sub = sub.sort_values("rank", kind="stable") if "rank" in sub.columns else sub
            fits = np.cumsum(shapely.get_num_coordinates(sub.geometry.values)) <= budget
            if not fits.all():
                note = L.ui("gaps_largest", lang).format(k=f"{int(fits.sum()):,}", n=f"{len(sub):,}")
                name = f"{name}（{note}）" if lang == "zh" else f"{name} ({note})"
                sub = sub[fits]
            _gap_layer(m, sub, lang, name=name, show=first)
            first = False


def _gap_layer(m, gaps: gpd.GeoDataFrame, lang: str, name: str | None = None, show: bool = True) -> None:
    props = []
    for _, r in gaps.iterrows():
        rows = []
        if "rank" in gaps.columns:
            rows.append((L.ui("rank", lang), r["rank"]))
        rows += [
            (L.ui("township", lang), r.get("township_name")),
            (L.ui("population", lang), _fmt_persons(r.get("population"), lang)),
            (L.ui("missing", lang), _fmt_missing(r.get("missing"), lang)),
        ]
        if "time_needed" in gaps.columns:
            rows.append((L.ui("time_needed", lang), _fmt_time(r.get("time_needed"), lang)))
        title = f"{L.ui('gap', lang)} #{r['rank']}" if "rank" in gaps.columns else L.ui("gap", lang)
        props.append(
            {
                "_popup": popup_html(title, rows),
                "_tooltip": f"{esc(title)}: {esc(_fmt_persons(r.get('population'), lang))}",
            }
        )
    group = folium.FeatureGroup(name=esc(name or L.ui("gaps", lang)), show=show)
    folium.GeoJson(
        _feature_collection(gaps, props),
        style_function=lambda f: {
            "fillColor": "#7a0177",
            "color": "#7a0177",
            "weight": 2,
            "dashArray": "4 3",
            "fillOpacity": 0.35,
        },
        on_each_feature=_BIND,
        control=False,
    ).add_to(group)
    group.add_to(m)


def _facility_layer(m, fac: gpd.GeoDataFrame, lang: str) -> None:
    fac = _points(fac)
    cluster = MarkerCluster(name=esc(L.ui("facilities", lang)), show=True)
    for cat, part in fac.groupby("category", sort=True):
        props = []
        for _, r in part.iterrows():
            rows = [(L.ui("category", lang), L.category_label(cat, lang))]
            if "capacity" in part.columns:
                cap = r["capacity"]
                rows.append((L.ui("capacity", lang), "—" if pd.isna(cap) else cap))
            if "facility_id" in part.columns:
                rows.append(("ID", r["facility_id"]))
            props.append(
                {
                    "_popup": popup_html(r["name"], rows),
                    "_tooltip": f"{esc(r['name'])} ({esc(L.category_label(cat, lang))})",
                }
            )
        folium.GeoJson(
            _feature_collection(part, props),
            marker=folium.Marker(icon=_dot_icon(category_colour(cat))),
            on_each_feature=_BIND,
            control=False,
        ).add_to(cluster)
    cluster.add_to(m)


def _proposed_layer(m, sites: gpd.GeoDataFrame, lang: str) -> None:
    sites = _points(sites)
    props = []
    for _, r in sites.iterrows():
        rows = [
            (L.ui("category", lang), L.category_label(r.get("category"), lang)),
            (L.ui("newly_covered", lang), _fmt_persons(r.get("newly_covered"), lang)),
        ]
        title = f"{L.ui('site', lang)} {r.get('site_id', '')}"
        props.append({"_popup": popup_html(title, rows), "_tooltip": esc(title)})
    group = folium.FeatureGroup(name=esc(L.ui("proposed", lang)), show=True)
    folium.GeoJson(
        _feature_collection(sites, props),
        marker=folium.Marker(icon=_dot_icon("#ffd700", size=16, shape="square")),
        on_each_feature=_BIND,
        control=False,
    ).add_to(group)
    group.add_to(m)


# --------------------------------------------------------------------------
# public
# --------------------------------------------------------------------------


def coverage_map(
    townships: gpd.GeoDataFrame,
    circles: Sequence,
    facilities: gpd.GeoDataFrame,
    gaps: gpd.GeoDataFrame | None = None,
    service_areas: gpd.GeoDataFrame | None = None,
    proposed: gpd.GeoDataFrame | None = None,
    *,
    title: str,
    lang: str = "zh",
    synthetic: bool = False,
    basemaps: Sequence[str] = ("osm", "cartodb"),
    tianditu_key: str | None = None,
) -> folium.Map:
    """Interactive coverage map of a study area.

    Parameters
    ----------
    townships : GeoDataFrame
        One row per township in the (projected) study CRS with ``name``,
        ``population`` (persons) and, per circle, ``share_<circle>`` (0..1)
        and ``covered_<circle>`` (persons); ``code`` and ``urban`` (bool) are
        shown when present.
    circles : sequence of Circle
        Circles to draw, one choropleth overlay each; only the first is shown
        when the page opens.
    facilities : GeoDataFrame
        ``name``, ``category`` (canonical key) and optionally ``capacity`` and
        ``facility_id``; drawn as clustered markers.
    gaps : GeoDataFrame, optional
        ``population`` (persons), ``missing`` (comma-separated categories or
        services), ``township_name``, optionally ``rank`` and ``time_needed``
        (seconds as a number, or text).
    service_areas : GeoDataFrame, optional
        ``category`` and a (dissolved) polygon per category.
    proposed : GeoDataFrame, optional
        ``site_id``, ``category``, ``newly_covered`` (persons).
    title : str
        Shown on the map and as the page title.
    lang : {"zh", "en"}
        Language of every label.
    synthetic : bool
        Demo data: no basemap tiles at all and a visible banner.
    basemaps : sequence of str
        Any of ``osm``, ``cartodb``, ``amap`` (GCJ-02; see module notes),
        ``tianditu`` (needs ``tianditu_key``); the first is shown.
    tianditu_key : str, optional
        Tianditu token; without it the Tianditu basemap is skipped with a warning.

    Returns
    -------
    folium.Map
        Save it with :func:`access.maps.save_map` (works without CDNs).

    Raises
    ------
    InputError
        Missing columns or CRS, unknown basemap, all problems together.
    """
    L.check_lang(lang)
    circles = list(circles)
    problems: list[str] = []
    twp_cols = ["name", "population"]
    for c in circles:
        twp_cols += [f"share_{c.name}", f"covered_{c.name}"]
    problems += _require(
        townships, twp_cols, "townships",
        "compute coverage per township first (access.coverage) for every circle you map",
    )
    problems += _require(facilities, ["name", "category"], "facilities", "read them with access.sources")
    if gaps is not None:
        problems += _require(
            gaps, ["population", "missing", "township_name"], "gaps", "use access.coverage gap output"
        )
    if service_areas is not None:
        problems += _require(service_areas, ["category"], "service_areas", "dissolve service areas per category")
    if proposed is not None:
        problems += _require(
            proposed, ["site_id", "category", "newly_covered"], "proposed sites", "use access.siting output"
        )
    if not circles:
        problems.append("circles: none given; pass at least one Circle from access.coverage.standards.CIRCLES")
    if problems:
        raise InputError(problems)

    basemaps = [] if synthetic else [str(b).lower() for b in basemaps]
    amap_only = len(basemaps) > 0 and all(b in ("amap", "gaode") for b in basemaps)
    if any(b in ("amap", "gaode") for b in basemaps) and not amap_only:
        warn(
            "basemap 'amap' uses GCJ-02 and is mixed with WGS84 basemaps: overlays are drawn in WGS84, "
            "so they will look shifted by ~300-600 m on the Amap layer; pass basemaps=('amap',) alone "
            "to shift the overlays to GCJ-02 instead"
        )
    tiles = _basemap_layers(basemaps, tianditu_key, lang)

    twp = _to_display(townships, amap_only)
    fac = _to_display(facilities, amap_only)
    gp = _to_display(gaps, amap_only) if gaps is not None else None
    sa = _to_display(service_areas, amap_only) if service_areas is not None else None
    pr = _to_display(proposed, amap_only) if proposed is not None else None

    frames = [g for g in (twp, fac, gp, sa, pr) if g is not None and len(g)]
    if frames:
        bounds = np.array([g.total_bounds for g in frames])
        minx, miny = bounds[:, 0].min(), bounds[:, 1].min()
        maxx, maxy = bounds[:, 2].max(), bounds[:, 3].max()
    else:
        minx, miny, maxx, maxy = 73.5, 18.0, 135.0, 53.5  # China
    m = folium.Map(
        location=[(miny + maxy) / 2.0, (minx + maxx) / 2.0],
        zoom_start=11,
        tiles=None,
        control_scale=True,
    )
    # Marker clustering needs a map maxZoom even when no tile layer sets one
    # (Folium's max_zoom only reaches the tiles).
    m.options["max_zoom"] = 19
    for t in tiles:
        t.add_to(m)
    # Only the first base layer may be visible at load.
    for t in [t for t in tiles if not t.overlay][1:]:
        t.show = False

    if twp is not None and len(twp):
        _township_layers(m, twp, circles, lang)
    if sa is not None and len(sa):
        _service_area_layers(m, sa, lang)
    if gp is not None and len(gp):
        _gap_layers(m, gp, circles, lang)
    if fac is not None and len(fac):
        _facility_layer(m, fac, lang)
    if pr is not None and len(pr):
        _proposed_layer(m, pr, lang)

    folium.LayerControl(collapsed=False).add_to(m)
    m.fit_bounds([[miny, minx], [maxy, maxx]])

    root = m.get_root()
    root.header.add_child(folium.Element(f"<title>{esc(title)}</title>"), name="access_title")
    root.header.add_child(
        folium.Element(
            "<style>.access-popup table{border-collapse:collapse;font-size:12px}"
            ".access-popup th,.access-popup td{padding:1px 4px;vertical-align:top}"
            ".access-marker{background:transparent;border:none}"
            + ("html body .leaflet-container{background:#f2efe9}" if synthetic else "")
            + "</style>"
        ),
        name="access_style",
    )
    cats = sorted(set(fac["category"].astype(str))) if fac is not None and len(fac) else []
    root.html.add_child(folium.Element(title_html(title)), name="access_title_box")
    root.html.add_child(folium.Element(legend_html(lang, cats)), name="access_legend")
    if synthetic:
        root.html.add_child(folium.Element(banner_html(lang)), name="access_banner")
    return m


def change_map(study, after, comparison, circle: str, *, lang: str = "zh", cell_size_m: float = 100.0) -> folium.Map:
    """Map of a scenario's effect on one circle.

    The scenario's coverage map (township shares after the change,
    facilities, proposed sites) with two extra layers: cells newly inside
    the circle (green) and newly outside it (red), drawn as grid squares.

    Parameters
    ----------
    study : Study
        The variant.
    after : Results
        The variant's run.
    comparison : Comparison
        :func:`access.coverage.compare.compare` of the base run and ``after``.
    circle : str
    lang : {"zh", "en"}
    cell_size_m : float
        Side of the drawn squares, metres (the population grid spacing).
    """
    circles = [c for c in study.scenario.circles if c.name == circle]
    if not circles:
        raise InputError(f"circle {circle!r} is not in this study.")
    twp = township_layer(study, after)
    m = coverage_map(twp, circles, after.facilities, proposed=getattr(after, "proposed", None),
                     title=f"{study.scenario.name} · {L.ui('change', lang)}", lang=lang,
                     synthetic=bool(getattr(study.scenario, "synthetic", False)))
    cells = comparison.cells[comparison.cells["circle"] == circle]
    for kind, colour in (("newly_covered", "#1a9850"), ("newly_uncovered", "#d73027")):
        sub = cells[cells["change"] == kind]
        if not len(sub):
            continue
        squares = shapely.union_all(sub.geometry.buffer(cell_size_m / 2, cap_style="square").values)
        shape = gpd.GeoSeries([squares], crs=cells.crs).to_crs(4326)
        persons = float(sub["population"].sum())
        group = folium.FeatureGroup(name=esc(f"{L.ui(kind, lang)}: {_fmt_persons(persons, lang)}"), show=True)
        folium.GeoJson(shapely.geometry.mapping(shape.iloc[0]),
                       style_function=lambda f, c=colour: {"fillColor": c, "color": c, "weight": 0.5,
                                                           "fillOpacity": 0.6}).add_to(group)
        group.add_to(m)
    return m


# --------------------------------------------------------------------------
# pipeline adapter (called by access.outputs)
# --------------------------------------------------------------------------


def township_layer(study, results) -> gpd.GeoDataFrame | None:
    """Township polygons joined with the coverage table (by ``code``).

    ``results.coverage_township`` is expected to hold ``share_<circle>`` and
    ``covered_<circle>`` per circle and a key column ``township`` or ``code``;
    circles missing from it show as "no data" (grey), never as zero.
    """
    twp = study.townships
    if twp is None or len(twp) == 0:
        return None
    cov = results.coverage_township
    twp = twp.copy()
    if "code" not in twp.columns:
        return None
    key = next((k for k in ("code", "township", "township_code") if k in cov.columns), None)
    if key is not None:
        keep = [c for c in cov.columns if c.startswith(("share_", "covered_")) or c == "population"]
        add = cov[[key] + keep].drop_duplicates(key).rename(columns={key: "code"})
        add["code"] = add["code"].astype(str)
        twp["code"] = twp["code"].astype(str)
        twp = twp.drop(columns=[c for c in keep if c in twp.columns]).merge(add, on="code", how="left")
    for c in study.scenario.circles:
        for col in (f"share_{c.name}", f"covered_{c.name}"):
            if col not in twp.columns:
                twp[col] = np.nan
    if "population" not in twp.columns:
        twp["population"] = np.nan
    if "name" not in twp.columns:
        twp["name"] = twp["code"]
    # the county of each township, for one map per county
    if "county" not in twp.columns and "parent_code" in twp.columns:
        twp["county"] = twp["parent_code"].astype(str)
    elif "county" not in twp.columns and study.counties is not None and "code" in study.counties.columns:
        from access.coverage.units import _join_points

        pos = _join_points(gpd.GeoDataFrame(geometry=twp.representative_point()), study.counties)
        codes = study.counties["code"].astype(str).to_numpy(object)
        twp["county"] = np.where(pos >= 0, codes[np.maximum(pos, 0)], None)
    return gpd.GeoDataFrame(twp, geometry=study.townships.geometry.name, crs=study.townships.crs)


def _gaps_for_map(results, circles) -> gpd.GeoDataFrame | None:
    g = results.gaps
    if g is None or len(g) == 0:
        return None
    g = g.copy()
    if g.crs is not None and g.crs.is_projected:
        g[g.geometry.name] = g.geometry.simplify(MAP_SIMPLIFY_M)
    labels = {c.name: c for c in circles}
    if "missing" not in g.columns:
        g["missing"] = g["circle"].map(lambda n: labels[n].label_zh if n in labels else n) if "circle" in g else ""
    if "township_name" not in g.columns:
        g["township_name"] = g["township"] if "township" in g.columns else ""
    if "population" not in g.columns:
        g["population"] = np.nan
    if "time_needed" not in g.columns and "t_median_s" in g.columns:
        g["time_needed"] = g["t_median_s"]
    if "rank" not in g.columns:
        g = g.sort_values("population", ascending=False, kind="stable")
        g["rank"] = np.arange(1, len(g) + 1)
    return g


def _areas_for_map(results) -> gpd.GeoDataFrame | None:
    a = results.service_areas
    if a is None or len(a) == 0 or "category" not in a.columns:
        return None
    return a[["category", a.geometry.name]].dissolve(by="category", as_index=False)


def write_maps(study, results, out, *, lang: str | None = None, offline: bool = False) -> list:
    """Write the study map, one map per county and ``index.html`` into ``out``.

    Files: ``map.html`` (study area), ``map_<county>.html``, ``lib/`` and,
    with ``offline=True``, the same maps as ``*_offline.html`` (self-contained).

    Returns
    -------
    list of Path
    """
    from pathlib import Path

    from access.maps.offline import save_map
    from access.maps.report import index_page

    sc = study.scenario
    lang = lang or getattr(sc, "lang", "zh") or "zh"
    out = Path(out)
    circles = list(sc.circles)
    twp = township_layer(study, results)
    if twp is None:
        # Without township polygons, one box around the facilities keeps the map usable.
        env = results.facilities.geometry.union_all().envelope.buffer(1.0)
        twp = gpd.GeoDataFrame({"code": ["study"], "name": [sc.name], "population": [np.nan]},
                               geometry=[env], crs=results.facilities.crs)
        for c in circles:
            twp[f"share_{c.name}"] = np.nan
            twp[f"covered_{c.name}"] = np.nan
    fac = results.facilities
    if "name" not in fac.columns:
        fac = fac.assign(name=fac.get("facility_id", pd.Series(range(len(fac)), index=fac.index)).astype(str))
    gaps = _gaps_for_map(results, circles)
    areas = _areas_for_map(results)
    synthetic = bool(getattr(sc, "synthetic", False))
    files, entries = [], []

    proposed = getattr(results, "proposed", None)

    def one(tw, fa, gp, ar, stem: str, title: str, pr=None) -> None:
        m = coverage_map(tw, circles, fa, gp, ar, pr, title=title, lang=lang, synthetic=synthetic)
        files.append(save_map(m, out / f"{stem}.html"))
        if offline:
            files.append(save_map(m, out / f"{stem}_offline.html", offline=True))

    one(twp, fac, gaps, areas, "map", sc.name, proposed)
    entries.append((f"{sc.name} · {L.ui('study_map', lang)}", "map.html", f"{len(twp)} {L.ui('township', lang)}"))
    counties = study.counties
    if counties is not None and len(counties) > 1 and "county" in twp.columns and "code" in counties.columns:
        for _, c in counties.iterrows():
            code = str(c["code"])
            sub = twp[twp["county"].astype(str) == code]
            if not len(sub):
                continue
            shape = c.geometry
            fsub = fac[fac.geometry.within(shape)] if len(fac) else fac
            gsub = gaps[gaps.geometry.intersects(shape)] if gaps is not None else None
            asub = areas.clip(shape) if areas is not None else None
            name = str(c.get("name", code))
            stem = "map_" + "".join(ch if ch.isalnum() else "_" for ch in code)
            psub = proposed[proposed.geometry.within(shape)] if proposed is not None else None
            one(sub, fsub, gsub, asub, stem, f"{sc.name} · {name}", psub)
            entries.append((name, f"{stem}.html", f"{len(sub)} {L.ui('township', lang)}"))
    files.append(index_page(entries, out / "index.html", title=sc.name, lang=lang, synthetic=synthetic))
    return files
