"""The map's layers: township choropleths, gaps, service areas, facilities, proposed sites.

Every layer is built from a small GeoDataFrame in EPSG:4326 (see
:mod:`access.maps.study_layers`). Popups, tooltips and labels are HTML built
in :func:`access.maps.formatting.popup_html` from :func:`~access.maps.text.inert`
text and carried in the features' properties; they are bound in JavaScript.
Township choropleths, facilities and proposed sites are Folium layers; gaps
and service areas are plain GeoJSON handed to the page script of
:mod:`access.maps.controls`, which swaps them with the chosen circle and
loads service areas only when they are switched on.
"""

from __future__ import annotations

import math

import folium
import geopandas as gpd
import pandas as pd
import shapely
from folium.plugins import MarkerCluster
from folium.utilities import JsCode

from access.maps import labels as L
from access.maps.formatting import (
    GAP_COLOUR, PROPOSED_COLOUR, category_colour, fmt_missing, fmt_number, fmt_persons, fmt_share, fmt_time,
    popup_html, share_colour,
)
from access.maps.text import inert

# Binds the inert popup/tooltip/label HTML carried in each feature's properties.
# A township's label (name and share) is a permanent tooltip: drawn on the map,
# not only on hover.
BIND = JsCode(
    """function(feature, layer) {
        var p = feature.properties || {};
        if (p._popup) { layer.bindPopup(p._popup, {maxWidth: 360}); }
        if (p._label) {
            layer.bindTooltip(p._label, {permanent: true, direction: 'center', className: 'access-label', opacity: 0.9});
        } else if (p._tooltip) { layer.bindTooltip(p._tooltip, {sticky: true}); }
    }"""
)


def feature_collection(gdf: gpd.GeoDataFrame, props: list[dict]) -> dict:
    """GeoJSON dict with explicit ids; coordinates rounded to 1e-6 degrees (~0.1 m)."""
    geoms = shapely.set_precision(gdf.geometry.values, 1e-6, mode="pointwise")
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "id": str(i), "properties": p, "geometry": shapely.geometry.mapping(g)}
            for i, (g, p) in enumerate(zip(geoms, props))
        ],
    }


def _present(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value)) and value is not pd.NA


def points(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Polygons (e.g. a school site) are shown at a point inside them."""
    if (gdf.geom_type != "Point").any():
        gdf = gdf.copy()
        gdf[gdf.geometry.name] = gdf.geometry.representative_point()
    return gdf


def dot_icon(colour: str, size: int = 12, shape: str = "circle") -> folium.DivIcon:
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


def township_layers(m, twp: gpd.GeoDataFrame, circles, lang: str) -> list[folium.FeatureGroup]:
    """One choropleth group per circle, labelled; only the first is on the map at load."""
    urban = twp["urban"] if "urban" in twp.columns else pd.Series(None, index=twp.index)
    codes = twp["code"] if "code" in twp.columns else pd.Series(None, index=twp.index)
    groups = []
    for i, circle in enumerate(circles):
        label = L.circle_label(circle, lang)
        scope = L.scope_label(getattr(circle, "scope", "all") or "all", lang)
        share = pd.to_numeric(twp[f"share_{circle.name}"], errors="coerce")
        covered = pd.to_numeric(twp[f"covered_{circle.name}"], errors="coerce")
        props = []
        for name, u, pop, cov, sh, code in zip(twp["name"], urban, twp["population"], covered, share, codes):
            rows = []
            if _present(code):
                rows.append((L.ui("code", lang), code))
            if _present(u):
                rows.append((L.ui("township", lang), L.ui("urban" if bool(u) else "rural", lang)))
            rows += [
                (L.ui("scope", lang), scope),
                (L.ui("population", lang), fmt_persons(pop, lang)),
                (L.ui("covered", lang), fmt_persons(cov, lang)),
                (L.ui("share", lang), fmt_share(sh)),
            ]
            props.append({
                "_popup": popup_html(f"{name} · {label}", rows),
                "_label": f"{inert(name)}<br><b>{inert(fmt_share(sh))}</b>",
                "_fill": share_colour(sh),
            })
        group = folium.FeatureGroup(name=inert(label), show=(i == 0), control=False)
        folium.GeoJson(
            feature_collection(twp, props),
            style_function=lambda f: {
                "fillColor": f["properties"]["_fill"],
                "color": "#444444",
                "weight": 1,
                "fillOpacity": 0.65,
            },
            highlight_function=lambda f: {"weight": 3, "color": "#000000"},
            on_each_feature=BIND,
            control=False,
        ).add_to(group)
        group.add_to(m)
        groups.append(group)
    return groups


def gap_data(gaps: gpd.GeoDataFrame, circle, lang: str) -> dict:
    """The circle's drawn gaps as GeoJSON, each with a rank badge position and popup."""
    props = []
    at = gaps.geometry.representative_point()
    for (_, r), pt in zip(gaps.iterrows(), at):
        rows = [
            (L.ui("township", lang), r.get("township_name")),
            (L.ui("population", lang), fmt_persons(r.get("population"), lang)),
            (L.ui("missing", lang), fmt_missing(r.get("missing"), lang, circle)),
        ]
        if "time_needed" in gaps.columns:
            rows.append((L.ui("time_needed", lang), fmt_time(r.get("time_needed"), lang)))
        rank = int(r["rank"])
        props.append({
            "_popup": popup_html(f"{L.ui('gap', lang)} #{rank} · {L.circle_label(circle, lang)}", rows),
            "_rank": rank,
            "_at": [round(pt.y, 6), round(pt.x, 6)],
        })
    return feature_collection(gaps, props)


def area_data(areas: gpd.GeoDataFrame, lang: str) -> dict:
    """A circle's service areas as GeoJSON, coloured like their category."""
    props = [
        {"_c": category_colour(cat), "_tooltip": inert(f"{L.ui('service_area', lang)} · {L.category_label(cat, lang)}")}
        for cat in areas["category"]
    ]
    return feature_collection(areas, props)


def facility_layer(m, fac: gpd.GeoDataFrame, lang: str) -> MarkerCluster:
    """Facilities as coloured dots in one cluster layer."""
    fac = points(fac)
    cluster = MarkerCluster(name=inert(L.ui("facilities", lang)), show=True, control=False)
    for cat, part in fac.groupby("category", sort=True):
        label = L.category_label(cat, lang)
        n = len(part)
        capacity = part["capacity"].tolist() if "capacity" in part.columns else [None] * n
        ids = part["facility_id"].tolist() if "facility_id" in part.columns else [None] * n
        props = []
        for name, cap, fid in zip(part["name"].tolist(), capacity, ids):
            rows = [(L.ui("category", lang), label)]
            if "capacity" in part.columns:
                rows.append((L.ui("capacity", lang), fmt_number(cap)))
            if fid is not None:
                rows.append(("ID", fid))
            props.append({"_popup": popup_html(name, rows), "_tooltip": f"{inert(name)} ({inert(label)})"})
        folium.GeoJson(
            feature_collection(part, props),
            marker=folium.Marker(icon=dot_icon(category_colour(cat))),
            on_each_feature=BIND,
            control=False,
        ).add_to(cluster)
    cluster.add_to(m)
    return cluster


def proposed_layer(m, sites: gpd.GeoDataFrame, lang: str) -> folium.FeatureGroup:
    """Proposed sites as gold squares."""
    sites = points(sites)
    props = []
    for _, r in sites.iterrows():
        rows = [
            (L.ui("category", lang), L.category_label(r.get("category"), lang)),
            (L.ui("newly_covered", lang), fmt_persons(r.get("newly_covered"), lang)),
        ]
        title = f"{L.ui('site', lang)} {r.get('site_id', '')}"
        props.append({"_popup": popup_html(title, rows), "_tooltip": inert(title)})
    group = folium.FeatureGroup(name=inert(L.ui("proposed", lang)), show=True, control=False)
    folium.GeoJson(
        feature_collection(sites, props),
        marker=folium.Marker(icon=dot_icon(PROPOSED_COLOUR, size=16, shape="square")),
        on_each_feature=BIND,
        control=False,
    ).add_to(group)
    group.add_to(m)
    return group


__all__ = [
    "BIND", "GAP_COLOUR", "feature_collection", "points", "dot_icon", "township_layers", "gap_data", "area_data",
    "facility_layer", "proposed_layer",
]
