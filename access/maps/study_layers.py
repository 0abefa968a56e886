"""What a run's maps draw: township, gap and service-area aggregates.

Maps are built from these small tables (one row per township, per drawn gap,
per circle and category), never from population cells, so the cost of
writing a map does not grow with the number of cells. Outlines are
simplified to what shows at map zoom.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

# Gap polygons drawn per circle, largest first; gaps.gpkg holds every gap.
MAP_GAPS = 25
# Outline tolerance on maps, metres: the traced 25-100 m staircase of gaps and
# service areas is invisible at map zoom and would triple the file size.
MAP_SIMPLIFY_M = 50.0
TOWNSHIP_SIMPLIFY_M = 15.0


def _simplified(gdf: gpd.GeoDataFrame, tolerance_m: float) -> gpd.GeoDataFrame:
    """Douglas-Peucker outlines for display; a part that would vanish keeps its traced outline.

    Topology is not preserved (ten times faster on traced staircases); a
    self-touching ring draws the same in a browser, and the exact polygons
    are in the GeoPackages.
    """
    if gdf.crs is None or not gdf.crs.is_projected or not len(gdf):
        return gdf
    out = gdf.copy()
    geoms = out.geometry.values
    simple = shapely.simplify(geoms, tolerance_m, preserve_topology=False)
    out[out.geometry.name] = np.where(shapely.is_empty(simple), geoms, simple)
    return out


def township_layer(study, results) -> gpd.GeoDataFrame | None:
    """Township polygons joined with the coverage table (by ``code``).

    ``results.coverage_township`` is expected to hold ``share_<circle>`` and
    ``covered_<circle>`` per circle and a key column ``township`` or ``code``;
    circles missing from it show as "no data" (grey), never as zero.

    Returns
    -------
    GeoDataFrame or None
        ``code``, ``name``, ``population`` (persons), ``share_<circle>``,
        ``covered_<circle>``, ``county`` when known, in the study CRS; None
        without township polygons.
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


def gaps_for_map(gaps: gpd.GeoDataFrame | None, circles, limit: int = MAP_GAPS) -> gpd.GeoDataFrame | None:
    """The ``limit`` most populous gaps per circle, ranked, outlines simplified.

    Adds ``rank`` (1 = most persons within its circle) and ``of`` (the
    circle's number of gaps) when absent.
    """
    if gaps is None or len(gaps) == 0:
        return None
    g = gaps.copy()
    if "population" not in g.columns:
        g["population"] = np.nan
    if "township_name" not in g.columns:
        g["township_name"] = g["township"] if "township" in g.columns else ""
    if "missing" not in g.columns:
        g["missing"] = ""
    if "time_needed" not in g.columns and "t_median_s" in g.columns:
        g["time_needed"] = g["t_median_s"]
    if "circle" not in g.columns:
        g["circle"] = circles[0].name if circles else ""
    parts = []
    for _, sub in g.groupby("circle", sort=False):
        if "rank" not in sub.columns or sub["rank"].isna().any():
            sub = sub.sort_values("population", ascending=False, kind="stable")
            sub = sub.assign(rank=np.arange(1, len(sub) + 1))
        sub = sub.sort_values("rank", kind="stable")
        parts.append(sub.head(limit).assign(of=len(sub)))
    out = gpd.GeoDataFrame(pd.concat(parts), geometry=g.geometry.name, crs=g.crs)
    return _simplified(out, MAP_SIMPLIFY_M)


def areas_for_map(areas: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    """Service areas simplified for display: a polygon per county, circle and category.

    The counties' pieces never overlap (:func:`access.coverage.service_areas.area_table`),
    so they are drawn as they are, without a union.
    """
    if areas is None or len(areas) == 0 or "category" not in areas.columns:
        return None
    a = areas.copy()
    for col in ("county", "circle"):
        if col not in a.columns:
            a[col] = ""
    return _simplified(a[["county", "circle", "category", a.geometry.name]], MAP_SIMPLIFY_M)


def townships_for_map(twp: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Township outlines simplified for display, shared borders kept shared.

    ``shapely.coverage_simplify`` simplifies each shared edge once; a set of
    polygons that is not a clean coverage (overlaps) falls back to
    simplifying each polygon on its own.
    """
    if twp.crs is None or not twp.crs.is_projected or not len(twp):
        return twp
    out = twp.copy()
    geoms = out.geometry.values
    try:
        simple = shapely.coverage_simplify(geoms, TOWNSHIP_SIMPLIFY_M)
    except shapely.errors.GEOSException:
        simple = shapely.simplify(geoms, TOWNSHIP_SIMPLIFY_M, preserve_topology=True)
    out[out.geometry.name] = simple
    return out


__all__ = ["MAP_GAPS", "township_layer", "gaps_for_map", "areas_for_map", "townships_for_map"]
