"""Coverage gaps: contiguous underserved areas, and township rule failures."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.geometry

from access.coverage.circles import evaluate_circles
from access.coverage.standards import Circle, TownshipRule
from access.coverage.units import _grouped_quantile, _join_points
from access.errors import InputError
from access.network.modes import TravelMode

_GAP_COLUMNS = ["circle", "gap_id", "rank", "population", "cells", "missing", "township",
                "township_name", "t_median_s", "unreachable_population", "geometry"]


def _paint_components(x: np.ndarray, y: np.ndarray, dx: float, dy: float):
    """Gap areas of cells drawn as dx-by-dy squares on a fine raster.

    Each cell paints the pixels whose centres fall in its square (grown by
    10 % of the spacing, so that the rows of a reprojected lon/lat grid,
    tilted by the meridian convergence, still touch, while diagonal
    neighbours, a quarter of the spacing away from the nearest pixel centre,
    never do). Rook-contiguous cells share painted pixels; the painted raster
    is labelled (4-connectivity) and traced into polygons in one pass.

    Returns
    -------
    label : ndarray of int64, shape (n,)
        Gap number of each cell (0..n_gap-1).
    polygons : ndarray of object, shape (n_gap,)
    """
    from rasterio.features import shapes
    from rasterio.transform import Affine
    from scipy import ndimage

    res = min(dx, dy) / 2.0
    pad = 0.1 * min(dx, dy)
    x0, y1 = x.min() - dx, y.max() + dy
    ncol = int(np.ceil((x.max() + dx - x0) / res)) + 1
    nrow = int(np.ceil((y1 - (y.min() - dy)) / res)) + 1
    # pixel j has centre x0 + (j + 0.5) res; row i has centre y1 - (i + 0.5) res
    j0 = np.ceil((x - dx / 2 - pad - x0) / res - 0.5).astype(np.int64)
    j1 = np.floor((x + dx / 2 + pad - x0) / res - 0.5).astype(np.int64)
    i0 = np.ceil((y1 - (y + dy / 2 + pad)) / res - 0.5).astype(np.int64)
    i1 = np.floor((y1 - (y - dy / 2 - pad)) / res - 0.5).astype(np.int64)
    mask = np.zeros((nrow, ncol), dtype=bool)
    for a in range(int((j1 - j0).max()) + 1):
        for b in range(int((i1 - i0).max()) + 1):
            ok = (j0 + a <= j1) & (i0 + b <= i1)
            mask[(i0 + b)[ok], (j0 + a)[ok]] = True
    labels, n = ndimage.label(mask)  # default structure: 4-connectivity
    ic = np.clip(np.floor((y1 - y) / res).astype(np.int64), 0, nrow - 1)
    jc = np.clip(np.floor((x - x0) / res).astype(np.int64), 0, ncol - 1)
    lab = labels[ic, jc].astype(np.int64)
    # renumber to the labels cells actually hold, in order of first appearance
    used, label = np.unique(lab, return_inverse=True)
    # every component holds the centre pixel of a cell that painted it, so
    # normally all labels are used and the mask alone selects them
    keep = mask if len(used) == n else np.isin(labels, used)
    transform = Affine(res, 0.0, x0, 0.0, -res, y1)
    # Build the polygons in bulk (one array of vertices, rings and polygons
    # by index): a shapely object per traced shape costs more than tracing.
    pts: list = []
    ring_len: list[int] = []
    ring_poly: list[int] = []
    values: list[int] = []
    for k, (geom, value) in enumerate(shapes(labels.astype(np.int32), mask=keep, connectivity=4,
                                             transform=transform)):
        for ring in geom["coordinates"]:
            pts.extend(ring)
            ring_len.append(len(ring))
            ring_poly.append(k)
        values.append(int(value))
    rings = shapely.linearrings(np.asarray(pts, dtype=float),
                                indices=np.repeat(np.arange(len(ring_len)), ring_len))
    traced = shapely.polygons(rings, indices=np.asarray(ring_poly))
    which = np.searchsorted(used, np.asarray(values))
    polys = np.empty(len(used), dtype=object)
    order = np.argsort(which, kind="stable")
    bounds = np.searchsorted(which[order], np.arange(len(used) + 1))
    for k in range(len(used)):
        g = traced[order[bounds[k]:bounds[k + 1]]]
        polys[k] = g[0] if len(g) == 1 else shapely.union_all(g)
    return np.asarray(label).ravel(), polys


def gap_areas(cells: gpd.GeoDataFrame, circle: Circle, cell_size_m: float,
              results: pd.DataFrame | None = None,
              modes: Mapping[str, TravelMode] | None = None) -> gpd.GeoDataFrame:
    """Contiguous areas of populated cells outside ``circle``, largest first.

    Parameters
    ----------
    cells : GeoDataFrame
        Point cells (study CRS, metres) with ``population`` and, unless
        ``results`` is given, ``in_<circle>``, ``t_<circle>`` and
        ``in_<circle>__<service>`` (computed from ``t_`` columns if absent).
        ``township``/``township_name`` and ``reachable_<mode>`` are used when
        present.
    circle : Circle
    cell_size_m : float or (float, float)
        Grid spacing of the cells, metres, or (dx, dy) when the spacing
        differs by axis (a lon/lat raster in a projected CRS); each cell is
        drawn as a dx-by-dy rectangle centred on its point.
    results : DataFrame, optional
        ``evaluate_circles`` output indexed like ``cells``.
    modes : dict, optional

    Returns
    -------
    GeoDataFrame (CRS of ``cells``), one row per gap: ``circle``, ``gap_id``,
    ``rank`` (1 = most persons), ``population`` (persons), ``cells``,
    ``missing`` (services lacking for at least one person, most persons
    first), ``pop_missing__<service>`` (persons lacking that service),
    ``township``/``township_name`` (the township holding most of the gap's
    persons), ``t_median_s`` (population-weighted median binding time,
    seconds; ``inf`` = the median person has no facility within the search
    limit or is off-road), ``unreachable_population`` (persons not snapped to
    the network) and the polygon.

    Notes
    -----
    Underserved = population > 0 and not ``in_<circle>`` (unreachable cells
    included). Two cells are contiguous when their rectangles share an edge
    (rook), not a corner. Polygons are traced on a raster of half the cell
    spacing: exact for a regular grid, within half a spacing otherwise.
    """
    dx, dy = (cell_size_m, cell_size_m) if np.isscalar(cell_size_m) else tuple(cell_size_m)
    if not all(np.isfinite(v) and v > 0 for v in (dx, dy)):
        raise InputError(f"cell_size_m = {cell_size_m}: give the cell spacing in metres (> 0), "
                         "or (dx, dy) for a grid with different spacings.")
    if "population" not in cells.columns:
        raise InputError("cells: column 'population' is missing; give persons per cell.")
    df = cells
    if results is not None:
        df = df.drop(columns=[c for c in results.columns if c in df.columns]).join(results)
    need = [f"in_{circle.name}", f"t_{circle.name}"] + [
        f"in_{circle.name}__{s}" for s in circle.requirements]
    if any(c not in df.columns for c in need):
        flags = evaluate_circles(df, circle, modes)
        df = df.drop(columns=[c for c in flags.columns if c in df.columns]).join(flags)

    services = list(circle.requirements)
    pop = np.nan_to_num(df["population"].to_numpy(dtype=float))
    under = (pop > 0) & ~df[f"in_{circle.name}"].fillna(False).to_numpy(dtype=bool)
    empty = gpd.GeoDataFrame({c: [] for c in _GAP_COLUMNS[:-1]}
                             | {f"pop_missing__{s}": [] for s in services},
                             geometry=[], crs=cells.crs)
    if not under.any():
        return empty
    rc = f"reachable_{circle.mode}"
    cols = ["geometry", f"t_{circle.name}", *[f"in_{circle.name}__{s}" for s in services],
            *[c for c in (rc, "township", "township_name") if c in df.columns]]
    sub = df.loc[under, cols]  # only what is used: a province's cells carry dozens of columns
    pts = sub.geometry.values
    x, y = shapely.get_x(pts), shapely.get_y(pts)
    if np.isnan(x).any():
        bad = sub.index[np.isnan(x)][0]
        raise InputError(f"cells: row {bad} has an empty or non-point geometry; give one "
                         "point per cell.")
    label, geoms = _paint_components(x, y, float(dx), float(dy))
    w = pop[under]
    n_gap = len(geoms)

    gpop = np.bincount(label, weights=w, minlength=n_gap)
    ok = sub[[f"in_{circle.name}__{s}" for s in services]].fillna(False).to_numpy(dtype=bool)
    lack = np.column_stack([np.bincount(label, weights=w * ~ok[:, j], minlength=n_gap)
                            for j in range(len(services))])
    rank = np.argsort(-lack, axis=1, kind="stable")
    missing = [",".join(services[j] for j in row if lack[k, j] > 0) for k, row in enumerate(rank)]
    t = sub[f"t_{circle.name}"].to_numpy(dtype=float)
    t_med = _grouped_quantile(label.astype(np.int64), np.where(np.isnan(t), np.inf, t), w, 0.5,
                              n_gap)
    reach = (sub[rc].fillna(False).to_numpy(dtype=bool) if rc in sub.columns
             else np.ones(len(sub), bool))
    unreach = np.bincount(label, weights=w * ~reach, minlength=n_gap)

    if "township" in sub.columns:
        # integer codes, not strings: a province holds millions of cells
        ti, tcodes = pd.factorize(sub["township"], sort=True, use_na_sentinel=False)
        first = np.unique(ti, return_index=True)[1]
        names = sub["township_name"] if "township_name" in sub.columns else sub["township"]
        tnames = names.iloc[first].astype(str).to_numpy(object)
        nt = len(tcodes)
        key, inv = np.unique(label.astype(np.int64) * nt + ti, return_inverse=True)
        wsum = np.bincount(inv.ravel(), weights=w)
        g_of, t_of = key // nt, key % nt
        # most persons; ties to the smallest code (deterministic)
        o = np.lexsort((t_of, -wsum, g_of))
        best = o[np.searchsorted(g_of[o], np.arange(n_gap))]
        tw_code = np.asarray(tcodes.astype(str), dtype=object)[t_of[best]]
        tw_name = tnames[t_of[best]]
    else:
        tw_code = tw_name = np.full(n_gap, None, dtype=object)

    out = pd.DataFrame({
        "circle": circle.name, "population": gpop,
        "cells": np.bincount(label, minlength=n_gap), "missing": missing,
        "township": tw_code, "township_name": tw_name, "t_median_s": t_med,
        "unreachable_population": unreach,
    })
    for j, s_ in enumerate(services):
        out[f"pop_missing__{s_}"] = lack[:, j]
    out["geometry"] = geoms
    out = out.sort_values(["population", "cells"], ascending=False, kind="stable")
    out = out.reset_index(drop=True)
    out.insert(1, "gap_id", [f"{circle.name}-{i + 1}" for i in range(n_gap)])
    out.insert(2, "rank", np.arange(1, n_gap + 1))
    return gpd.GeoDataFrame(out, geometry="geometry", crs=cells.crs)


def township_rule_failures(townships: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame,
                           rules: Mapping[str, TownshipRule] | Iterable[TownshipRule]
                           ) -> pd.DataFrame:
    """Townships that do not meet a rule (e.g. one central kindergarten each).

    Parameters
    ----------
    townships : GeoDataFrame
        ``code``, ``name``, polygons and optionally ``urban`` (bool): rules
        with ``rural_only`` skip urban 街道.
    facilities : GeoDataFrame
        ``category`` and points, same CRS. A facility on a boundary counts
        for one township only (the smallest code).
    rules : dict or iterable of TownshipRule

    Returns
    -------
    DataFrame with one row per failing (township, rule): ``code``, ``name``,
    ``rule``, ``label_zh``, ``found``, ``required``; sorted by code, rule.
    """
    rules = list(rules.values()) if isinstance(rules, Mapping) else list(rules)
    cols = ["code", "name", "rule", "label_zh", "found", "required"]
    if townships is None or not len(townships) or not rules:
        return pd.DataFrame({c: [] for c in cols})
    problems = [f"townships: column {c!r} is missing; add it." for c in ("code", "name")
                if c not in townships.columns]
    if "category" not in facilities.columns:
        problems.append("facilities: column 'category' is missing; map names to categories "
                        "first (access.sources).")
    if problems:
        raise InputError(problems)
    pos = _join_points(facilities, townships)
    cat = facilities["category"].astype(str).to_numpy()
    urban = (townships["urban"].fillna(False).astype(bool).to_numpy()
             if "urban" in townships.columns else np.zeros(len(townships), bool))
    rows = []
    for r in rules:
        m = np.isin(cat, list(r.categories)) & (pos >= 0)
        found = np.bincount(pos[m], minlength=len(townships))
        for i in np.flatnonzero(found < r.min_count):
            if r.rural_only and urban[i]:
                continue
            rows.append({"code": str(townships["code"].iloc[i]), "name": townships["name"].iloc[i],
                         "rule": r.name, "label_zh": r.label_zh, "found": int(found[i]),
                         "required": int(r.min_count)})
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values(["code", "rule"]).reset_index(drop=True)
