"""Coverage gaps: contiguous underserved areas, and township rule failures."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.geometry
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from access.coverage.circles import evaluate_circles
from access.coverage.standards import Circle, TownshipRule
from access.coverage.units import _grouped_quantile, _join_points
from access.errors import InputError
from access.network.modes import TravelMode

_GAP_COLUMNS = ["circle", "gap_id", "rank", "population", "cells", "missing", "township",
                "township_name", "t_median_s", "unreachable_population", "geometry"]


def _grid_components(x: np.ndarray, y: np.ndarray, size: float):
    """Grid indices and rook-contiguity component label of each point."""
    x0, y0 = x.min(), y.min()
    ix = np.rint((x - x0) / size).astype(np.int64)
    iy = np.rint((y - y0) / size).astype(np.int64)
    ny = int(iy.max()) + 3
    key = (ix + 1) * ny + (iy + 1)  # +1: neighbours at -1 stay positive
    order = np.argsort(key, kind="stable")
    skey = key[order]
    rows, cols = [np.arange(len(x))], [np.arange(len(x))]
    for d in (ny, 1):  # right neighbour, upper neighbour
        pos = np.searchsorted(skey, key + d)
        pos = np.minimum(pos, len(skey) - 1)
        hit = skey[pos] == key + d
        rows.append(np.flatnonzero(hit))
        cols.append(order[pos[hit]])
    # cells that fall on the same grid square (irregular grids) are joined too
    dup = np.flatnonzero(skey[1:] == skey[:-1])
    rows.append(order[dup])
    cols.append(order[dup + 1])
    r, c = np.concatenate(rows), np.concatenate(cols)
    adj = coo_matrix((np.ones(len(r), np.int8), (r, c)), shape=(len(x), len(x)))
    _, label = connected_components(adj, directed=False)
    return ix, iy, x0, y0, label


def _label_polygons(ix, iy, x0, y0, size, label, n_label) -> np.ndarray:
    """Union of each label's grid squares, by polygonising a label raster.

    Equal to ``union_all`` of the squares but linear in the number of cells
    (``rasterio.features.shapes`` traces all outlines in one pass).
    """
    from rasterio.features import shapes
    from rasterio.transform import Affine

    nx_, ny_ = int(ix.max()) + 1, int(iy.max()) + 1
    grid = np.zeros((ny_, nx_), dtype=np.int32)
    grid[ny_ - 1 - iy, ix] = label + 1
    transform = Affine(size, 0.0, x0 - size / 2, 0.0, -size, y0 + (ny_ - 0.5) * size)
    parts: list[list] = [[] for _ in range(n_label)]
    for geom, value in shapes(grid, mask=grid > 0, connectivity=4, transform=transform):
        parts[int(value) - 1].append(shapely.geometry.shape(geom))
    return np.array([p[0] if len(p) == 1 else shapely.union_all(p) for p in parts], dtype=object)


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
    cell_size_m : float
        Grid spacing of the cells, metres; each cell is drawn as a square of
        this side centred on its point.
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
    included). Two cells are contiguous when their squares share an edge
    (rook). Cells are placed on the grid by rounding to ``cell_size_m``; on a
    grid that is not regular in the study CRS (a reprojected raster) a few
    neighbours may not touch.
    """
    if not (np.isfinite(cell_size_m) and cell_size_m > 0):
        raise InputError(f"cell_size_m = {cell_size_m}: give the cell spacing in metres (> 0).")
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
    sub = df[under]
    pts = sub.geometry.values
    x, y = shapely.get_x(pts), shapely.get_y(pts)
    if np.isnan(x).any():
        bad = sub.index[np.isnan(x)][0]
        raise InputError(f"cells: row {bad} has an empty or non-point geometry; give one "
                         "point per cell.")
    ix, iy, x0, y0, label = _grid_components(x, y, float(cell_size_m))
    w = pop[under]
    n_gap = int(label.max()) + 1

    geoms = _label_polygons(ix, iy, x0, y0, float(cell_size_m), label, n_gap)

    gpop = np.bincount(label, weights=w, minlength=n_gap)
    ok = sub[[f"in_{circle.name}__{s}" for s in services]].fillna(False).to_numpy(dtype=bool)
    lack = np.column_stack([np.bincount(label, weights=w * ~ok[:, j], minlength=n_gap)
                            for j in range(len(services))])
    missing = []
    for k in range(n_gap):
        o = np.argsort(-lack[k], kind="stable")
        missing.append(",".join(services[j] for j in o if lack[k, j] > 0))
    t = sub[f"t_{circle.name}"].to_numpy(dtype=float)
    t_med = _grouped_quantile(label.astype(np.int64), np.where(np.isnan(t), np.inf, t), w, 0.5,
                              n_gap)
    rc = f"reachable_{circle.mode}"
    reach = (sub[rc].fillna(False).to_numpy(dtype=bool) if rc in sub.columns
             else np.ones(len(sub), bool))
    unreach = np.bincount(label, weights=w * ~reach, minlength=n_gap)

    if "township" in sub.columns:
        tw = pd.DataFrame({"g": label, "tw": sub["township"].astype(str).to_numpy(), "w": w,
                           "nm": (sub["township_name"].astype(str).to_numpy()
                                  if "township_name" in sub.columns
                                  else sub["township"].astype(str).to_numpy())})
        s = tw.groupby(["g", "tw", "nm"], sort=True)["w"].sum().reset_index()
        # most persons; ties to the smallest code (deterministic)
        s = s.sort_values(["g", "w", "tw"], ascending=[True, False, True]).drop_duplicates("g")
        s = s.set_index("g").reindex(range(n_gap))
        tw_code, tw_name = s["tw"].to_numpy(object), s["nm"].to_numpy(object)
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
