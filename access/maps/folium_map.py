"""Interactive coverage maps built with Folium.

A map shows, for a study area: the township choropleth of one circle at a
time (chosen with radio buttons), township names with their share drawn on
the map, the chosen circle's most populous gaps, its service areas (loaded
when switched on), facilities as clustered markers and proposed sites, with
a legend that never hides, a title, a scale bar and, for synthetic demo
data, a banner. The pieces live in their own modules:

* :mod:`access.maps.text` -- input text made inert (the one mechanism);
* :mod:`access.maps.study_layers` -- the aggregates a run's maps draw;
* :mod:`access.maps.layers` -- the layers;
* :mod:`access.maps.controls` -- controls, legend, title, page script;
* :mod:`access.maps.basemaps` -- tiles and GCJ-02 display coordinates;
* :mod:`access.maps.formatting` -- colours and numbers in planners' words;
* :mod:`access.maps.offline` -- writing maps that need no CDN;
* :mod:`access.maps.index` -- ``index.html``.

The map uses only Leaflet and Leaflet.markercluster (no jQuery, Bootstrap or
awesome-markers), which is what lets :func:`access.maps.offline.save_map`
write maps that work with no network.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from access.errors import InputError, warn
from access.maps import labels as L
from access.maps.basemaps import basemap_layers, to_display
from access.maps.controls import STYLE, MapControls, header_html, legend_html
from access.maps.formatting import GAP_COLOUR, fmt_persons
from access.maps.index import map_stem, write_index
from access.maps.layers import area_data, facility_layer, gap_data, proposed_layer, township_layers
from access.maps.offline import save_map
from access.maps.study_layers import (
    MAP_GAPS, areas_for_map, gaps_for_map, township_layer, townships_for_map,
)
from access.maps.text import PageFigure, RawHtml, inert


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
    max_gaps: int = MAP_GAPS,
    extra_layers: Sequence[tuple[str, dict, str]] = (),
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
        Circles to draw, one choropleth each, one at a time; the first is
        shown when the page opens. ``circle.scope`` (``all`` when absent) is
        named in the legend.
    facilities : GeoDataFrame
        ``name``, ``category`` (canonical key) and optionally ``capacity`` and
        ``facility_id``; drawn as clustered markers.
    gaps : GeoDataFrame, optional
        ``population`` (persons), ``missing`` (comma-separated services or
        categories), ``township_name``, optionally ``circle``, ``rank`` and
        ``time_needed`` (seconds, or text). The ``max_gaps`` most populous
        per circle are drawn.
    service_areas : GeoDataFrame, optional
        ``category`` (and ``circle``) and a polygon per category; loaded by
        the page only when switched on.
    proposed : GeoDataFrame, optional
        ``site_id``, ``category``, ``newly_covered`` (persons).
    title : str
        Shown on the map and as the page title.
    lang : {"zh", "en"}
        Language of every label and of the page (``<html lang>``).
    synthetic : bool
        Demo data: no basemap tiles at all and a visible banner.
    basemaps : sequence of str
        Any of ``osm``, ``cartodb``, ``amap`` (GCJ-02; see
        :mod:`access.maps.basemaps`), ``tianditu`` (needs ``tianditu_key``);
        the first is shown.
    tianditu_key : str, optional
        Tianditu token; without it the Tianditu basemap is skipped with a warning.
    max_gaps : int
        Gaps drawn per circle, most populous first; the legend says how many
        of how many.
    extra_layers : sequence of (name, GeoJSON dict, colour)
        Further overlays, shown at load (e.g. a scenario's changed cells).

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
    tiles = basemap_layers(basemaps, tianditu_key, lang)

    twp = to_display(townships, amap_only)
    fac = to_display(facilities, amap_only)
    gp = to_display(gaps_for_map(gaps, circles, max_gaps), amap_only) if gaps is not None else None
    sa = to_display(service_areas, amap_only) if service_areas is not None else None
    pr = to_display(proposed, amap_only) if proposed is not None else None

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
        zoom_snap=0.25,  # the fit below the title (and above a phone's legend) wastes less of the screen
    )
    PageFigure(lang).add_child(m)
    # Marker clustering needs a map maxZoom even when no tile layer sets one
    # (Folium's max_zoom only reaches the tiles).
    m.options["max_zoom"] = 19
    for t in tiles:
        t.add_to(m)
    # Only the first base layer may be visible at load.
    for t in [t for t in tiles if not t.overlay][1:]:
        t.show = False

    groups = township_layers(m, twp, circles, lang) if twp is not None and len(twp) else []
    cluster = facility_layer(m, fac, lang) if fac is not None and len(fac) else None
    sites = proposed_layer(m, pr, lang) if pr is not None and len(pr) else None
    extras = []
    for name, data, colour in extra_layers:
        group = folium.FeatureGroup(name=inert(name), show=True, control=False)
        folium.GeoJson(data, style_function=lambda f, c=colour: {"fillColor": c, "color": c, "weight": 0.5,
                                                                  "fillOpacity": 0.6}).add_to(group)
        group.add_to(m)
        extras.append((name, group))

    circle_cfg, areas = [], {}
    for i, c in enumerate(circles):
        entry = {
            "label": inert(L.circle_label(c, lang)),
            "scope": inert(L.scope_label(getattr(c, "scope", "all") or "all", lang)),
            "layer": groups[i].get_name() if groups else None,
            "gaps": None,
            "gapsNote": "",
        }
        if gp is not None and len(gp):
            sub = gp[gp["circle"] == c.name] if "circle" in gp.columns else gp
            if len(sub):
                entry["gaps"] = gap_data(sub, c, lang)
                of = int(sub["of"].max()) if "of" in sub.columns else len(sub)
                entry["gapsNote"] = inert(L.ui("gaps_top", lang).format(k=f"{len(sub):,}", n=f"{of:,}"))
            else:
                entry["gapsNote"] = inert(L.ui("gaps_top", lang).format(k="0", n="0"))
        if sa is not None and len(sa):
            sub = sa[sa["circle"] == c.name] if "circle" in sa.columns else sa
            if len(sub):
                areas[i] = area_data(sub, lang)
        circle_cfg.append(entry)

    cats = sorted(set(fac["category"].astype(str))) if fac is not None and len(fac) else []
    has = {"gaps": gp is not None and len(gp) > 0, "areas": bool(areas)}
    present = [k for k, v in (("gaps", has["gaps"]), ("areas", has["areas"]), ("facilities", cluster is not None),
                              ("proposed", sites is not None)) if v]
    first = circles[0]
    overlays = [{"name": inert(t.layer_name), "layer": t.get_name()} for t in tiles if t.overlay]
    if cluster is not None:
        overlays.append({"name": inert(L.ui("facilities", lang)), "layer": cluster.get_name()})
    if sites is not None:
        overlays.append({"name": inert(L.ui("proposed", lang)), "layer": sites.get_name()})
    overlays += [{"name": inert(name), "layer": g.get_name()} for name, g in extras]
    config = {
        "map": m.get_name(),
        "circles": circle_cfg,
        "bases": [{"name": inert(t.layer_name), "layer": t.get_name()} for t in tiles if not t.overlay],
        "overlays": overlays,
        "names": {"gaps": inert(L.ui("gaps", lang)), "areas": inert(L.ui("service_area", lang))},
        "has": has,
        "facilities": cluster.get_name() if cluster is not None else None,
        "proposed": sites.get_name() if sites is not None else None,
        "legend": legend_html(lang, L.circle_label(first, lang),
                              L.scope_label(getattr(first, "scope", "all") or "all", lang), cats, present),
        "gapColour": GAP_COLOUR,
        "bounds": [[float(miny), float(minx)], [float(maxy), float(maxx)]],
    }
    m.add_child(MapControls(config, areas))

    root = m.get_root()
    root.header.add_child(RawHtml(f"<title>{inert(title)}</title>"), name="access_title")
    style = STYLE + ("<style>html body .leaflet-container{background:#f2efe9}</style>" if synthetic else "")
    root.header.add_child(RawHtml(style), name="access_style")
    root.html.add_child(RawHtml(header_html(title, lang, synthetic)), name="access_head")
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
    cells = comparison.cells[comparison.cells["circle"] == circle]
    extra = []
    for kind, colour in (("newly_covered", "#1a9850"), ("newly_uncovered", "#d73027")):
        sub = cells[cells["change"] == kind]
        if not len(sub):
            continue
        squares = shapely.union_all(sub.geometry.buffer(cell_size_m / 2, cap_style="square").values)
        shape = gpd.GeoSeries([squares], crs=cells.crs).to_crs(4326)
        persons = float(sub["population"].sum())
        extra.append((f"{L.ui(kind, lang)}: {fmt_persons(persons, lang)}",
                      shapely.geometry.mapping(shape.iloc[0]), colour))
    return coverage_map(twp, circles, after.facilities, proposed=getattr(after, "proposed", None),
                        title=f"{study.scenario.name} · {L.ui('change', lang)}", lang=lang,
                        synthetic=bool(getattr(study.scenario, "synthetic", False)), extra_layers=extra)


def write_maps(study, results, out, *, lang: str | None = None, offline: bool = False, index: bool = True) -> list:
    """Write the study map, one map per county and ``index.html`` into ``out``.

    Files: ``map.html`` (study area), ``map_<county>.html``, ``lib/`` and
    ``layers/`` (scripts and service areas beside the maps) and, with
    ``offline=True``, the same maps as ``*_offline.html`` (self-contained).
    With ``index=True``, ``index.html`` lists every file then in ``out``;
    :func:`access.outputs.write_outputs` passes ``index=False`` and writes it
    last, with :func:`access.maps.index.write_study_index`.

    Returns
    -------
    list of Path
    """
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
    twp = townships_for_map(twp)
    fac = results.facilities
    if "name" not in fac.columns:
        fac = fac.assign(name=fac.get("facility_id", pd.Series(range(len(fac)), index=fac.index)).astype(str))
    all_gaps = results.gaps if results.gaps is not None and len(results.gaps) else None
    areas = areas_for_map(results.service_areas)
    synthetic = bool(getattr(sc, "synthetic", False))
    proposed = getattr(results, "proposed", None)
    files: list[Path] = []
    county_names: dict[str, str] = {}

    def one(tw, fa, gp, ar, stem: str, title: str, pr=None) -> None:
        m = coverage_map(tw, circles, fa, gp, ar, pr, title=title, lang=lang, synthetic=synthetic)
        files.append(save_map(m, out / f"{stem}.html"))
        if offline:
            files.append(save_map(m, out / f"{stem}_offline.html", offline=True))

    one(twp, fac, all_gaps, areas, "map", sc.name, proposed)
    counties = study.counties
    if counties is not None and len(counties) > 1 and "county" in twp.columns and "code" in counties.columns:
        for _, c in counties.iterrows():
            code = str(c["code"])
            sub = twp[twp["county"].astype(str) == code]
            if not len(sub):
                continue
            shape = c.geometry
            fsub = fac[fac.geometry.within(shape)] if len(fac) else fac
            gsub = all_gaps[all_gaps.geometry.intersects(shape)] if all_gaps is not None else None
            asub = areas[areas["county"].astype(str) == code] if areas is not None else None
            name = str(c.get("name", code))
            stem = map_stem(code)
            psub = proposed[proposed.geometry.within(shape)] if proposed is not None else None
            one(sub, fsub, gsub, asub, stem, f"{sc.name} · {name}", psub)
            county_names[stem] = name
    if index:
        files.append(write_index(out, title=sc.name, lang=lang, synthetic=synthetic, county_names=county_names))
    return files


__all__ = ["coverage_map", "change_map", "write_maps", "township_layer"]
