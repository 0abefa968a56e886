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


def _paint_components(x: np.ndarray, y: np.ndarray, dx: float, dy: float, key: np.ndarray | None = None,
                      origin: tuple[float, float] | None = None, others: np.ndarray | None = None):
    """Gap areas of cells drawn as dx-by-dy squares on a fine raster.

    Each cell paints its index into the pixels whose centres fall in its
    square (grown by 10 % of the spacing, so that the rows of a reprojected
    lon/lat grid, tilted by the meridian convergence, still touch, while
    diagonal neighbours, a quarter of the spacing away from the nearest
    pixel centre, never do). Two cells are neighbours when pixels they
    painted touch along an edge or when they painted the same pixel
    (scattered points closer than the spacing), whichever cell kept the
    pixel; neighbours with the same ``key`` (e.g. township and missing
    services) join one component
    (connected components of the cell graph), and the components are traced
    into polygons in one pass over the raster. A component whose pixels all
    went to cells of other components is drawn as the union of its cells'
    rectangles.

    The raster's pixel edges lie on a lattice of step ``min(dx, dy) / 2``
    through ``origin`` (default: the lowest x and highest y of the cells), so
    the cells of one part of a study paint the same pixels as in the whole.
    A pixel several cells paint goes to the one whose point is nearest its
    centre; ``others`` (x, y of the populated cells outside the gaps, or
    beyond a part) keep the pixels nearest to them unpainted. Both rules
    depend only on where the cells are, so a part traced with the points
    around it draws the whole study's polygons.

    Returns
    -------
    label : ndarray of int64, shape (n,)
        Gap number of each cell (0..n_gap-1).
    polygons : ndarray of object, shape (n_gap,)
    """
    from rasterio.features import shapes
    from rasterio.transform import Affine
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(x)
    res = min(dx, dy) / 2.0
    pad = 0.1 * min(dx, dy)
    ox, oy = (x.min(), y.max()) if origin is None else origin
    x0 = ox + np.round((x.min() - dx - ox) / res) * res
    y1 = oy + np.round((y.max() + dy - oy) / res) * res
    ncol = int(np.ceil((x.max() + dx - x0) / res)) + 1
    nrow = int(np.ceil((y1 - (y.min() - dy)) / res)) + 1
    # pixel j has centre x0 + (j + 0.5) res; row i has centre y1 - (i + 0.5) res
    j0 = np.ceil((x - dx / 2 - pad - x0) / res - 0.5).astype(np.int64)
    j1 = np.floor((x + dx / 2 + pad - x0) / res - 0.5).astype(np.int64)
    i0 = np.ceil((y1 - (y + dy / 2 + pad)) / res - 0.5).astype(np.int64)
    i1 = np.floor((y1 - (y - dy / 2 - pad)) / res - 0.5).astype(np.int64)
    owner = np.full((nrow, ncol), -1, dtype=np.int32)
    idx = np.arange(n, dtype=np.int32)
    offsets = [(a, b) for a in range(int((j1 - j0).max()) + 1) for b in range(int((i1 - i0).max()) + 1)]
    pix = np.concatenate([(i0 + b)[ok] * ncol + (j0 + a)[ok]
                          for a, b in offsets for ok in [(j0 + a <= j1) & (i0 + b <= i1)]])
    who = np.concatenate([idx[(j0 + a <= j1) & (i0 + b <= i1)] for a, b in offsets])
    flat = owner.ravel()
    flat[pix] = who
    # pixels painted twice (none on a regular grid) go to the nearest cell
    bpix, bwho = np.empty(0, np.int64), np.empty(0, np.int64)
    if others is not None and len(others):
        ox_, oy_ = others[:, 0], others[:, 1]
        near = (ox_ > x0 - dx) & (ox_ < x0 + ncol * res + dx) & (oy_ < y1 + dy) & (oy_ > y1 - nrow * res - dy)
        ox_, oy_, onum = ox_[near], oy_[near], np.flatnonzero(near)
        oj0 = np.ceil((ox_ - dx / 2 - pad - x0) / res - 0.5).astype(np.int64)
        oj1 = np.floor((ox_ + dx / 2 + pad - x0) / res - 0.5).astype(np.int64)
        oi0 = np.ceil((y1 - (oy_ + dy / 2 + pad)) / res - 0.5).astype(np.int64)
        oi1 = np.floor((y1 - (oy_ - dy / 2 - pad)) / res - 0.5).astype(np.int64)
        bp, bw = [], []
        for a, b in offsets:
            jj, ii = oj0 + a, oi0 + b
            ok = (jj <= oj1) & (ii <= oi1) & (jj >= 0) & (jj < ncol) & (ii >= 0) & (ii < nrow)
            pp = ii[ok] * ncol + jj[ok]
            hit = flat[pp] >= 0
            bp.append(pp[hit])
            bw.append(onum[ok][hit])
        bpix, bwho = np.concatenate(bp), np.concatenate(bw)
    contested = np.zeros(flat.size, bool)
    contested[pix[flat[pix] != who]] = True
    contested[bpix] = True
    m = contested[pix]
    if m.any() or len(bpix):
        ep = np.concatenate([pix[m], bpix])
        ex = np.concatenate([x[who[m]], others[bwho, 0] if len(bwho) else []])
        ey = np.concatenate([y[who[m]], others[bwho, 1] if len(bwho) else []])
        ew = np.concatenate([who[m], np.full(len(bwho), -1)])
        d2 = (x0 + (ep % ncol + 0.5) * res - ex) ** 2 + (y1 - (ep // ncol + 0.5) * res - ey) ** 2
        # nearest point per pixel; a full sort by pixel and distance costs seconds at 10^6 points
        best = np.full(flat.size, np.inf)
        np.minimum.at(best, ep, d2)
        win = np.flatnonzero(d2 == best[ep])
        tied = np.bincount(ep[win], minlength=flat.size)[ep[win]] > 1
        flat[ep[win[~tied]]] = ew[win[~tied]]
        if tied.any():  # equidistant points (never on a grid): the lower-left one
            t = win[tied]
            t = t[np.lexsort((ey[t], ex[t], ep[t]))]
            first = np.r_[True, ep[t][1:] != ep[t][:-1]]
            flat[ep[t][first]] = ew[t][first]
    # neighbours among the cells of one key, on every pixel each cell paints (not
    # only the ones it keeps): a cell of another key (another township, perhaps
    # in another part of the study) taking a pixel never cuts a gap in two
    ki = np.zeros(n, np.int64) if key is None else np.unique(key, return_inverse=True)[1].ravel()
    uid = ki[who] * np.int64(nrow * ncol) + pix  # (key, pixel) as one integer
    order = np.argsort(uid, kind="stable")
    uid, who = uid[order], who[order]
    same = uid[1:] == uid[:-1]  # cells of one key painting the same pixel
    pa, pb = [who[:-1][same]], [who[1:][same]]
    first = np.r_[True, ~same]
    uid, who = uid[first], who[first]
    pix = uid % (nrow * ncol)
    for step, inside in ((1, pix % ncol < ncol - 1), (ncol, pix < (nrow - 1) * ncol)):  # right, below
        at = np.minimum(np.searchsorted(uid, uid + step), len(uid) - 1)
        hit = inside & (uid[at] == uid + step)
        pa.append(who[hit])
        pb.append(who[at[hit]])
    pa, pb = np.concatenate(pa), np.concatenate(pb)
    graph = coo_matrix((np.ones(len(pa), np.int8), (pa, pb)), shape=(n, n)).tocsr()
    n_gap, label = connected_components(graph, directed=False)
    label = label.astype(np.int64)
    lab = np.where(owner >= 0, label[np.maximum(owner, 0)] + 1, 0).astype(np.int32)
    del owner
    transform = Affine(res, 0.0, x0, 0.0, -res, y1)
    # Build the polygons in bulk (one array of vertices, rings and polygons
    # by index): a shapely object per traced shape costs more than tracing.
    pts: list = []
    ring_len: list[int] = []
    ring_poly: list[int] = []
    values: list[int] = []
    for k, (geom, value) in enumerate(shapes(lab, mask=lab > 0, connectivity=4, transform=transform)):
        for ring in geom["coordinates"]:
            pts.extend(ring)
            ring_len.append(len(ring))
            ring_poly.append(k)
        values.append(int(value) - 1)
    rings = shapely.linearrings(np.asarray(pts, dtype=float),
                                indices=np.repeat(np.arange(len(ring_len)), ring_len))
    traced = shapely.polygons(rings, indices=np.asarray(ring_poly))
    which = np.asarray(values, dtype=np.int64)
    polys = np.empty(n_gap, dtype=object)
    order = np.argsort(which, kind="stable")
    bounds = np.searchsorted(which[order], np.arange(n_gap + 1))
    count = np.diff(bounds)
    one = np.flatnonzero(count == 1)
    polys[one] = traced[order[bounds[one]]]
    for k in np.flatnonzero(count > 1):
        polys[k] = shapely.union_all(traced[order[bounds[k]:bounds[k + 1]]])
    hidden = np.flatnonzero(count == 0)
    if len(hidden):  # every pixel went to another gap's cells: the cells' own rectangles
        cells = np.flatnonzero(np.isin(label, hidden))
        cells = cells[np.argsort(label[cells], kind="stable")]
        boxes = shapely.box(x[cells] - dx / 2, y[cells] - dy / 2, x[cells] + dx / 2, y[cells] + dy / 2)
        cuts = np.searchsorted(label[cells], hidden)
        for k, part in zip(hidden, np.split(boxes, cuts[1:])):
            polys[k] = part[0] if len(part) == 1 else shapely.union_all(part)
    return label, polys


def _service_nearest(sub: pd.DataFrame, circle: Circle, service: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seconds to a service and the facility giving it, per cell.

    The time is the minimum over the service's categories; the facility is
    that category's ``nearest_<mode>_<category>`` (none when the column is
    absent or no facility is within the search limit).

    Returns
    -------
    seconds : ndarray of float (inf: none within the search limit)
    facility : ndarray of int64
        Position in ``ids`` of each cell's facility, -1 for none.
    ids : ndarray of object
        Facility ids, sorted.
    """
    cats = circle.requirements[service]
    t = np.full((len(sub), len(cats)), np.inf)
    codes = np.zeros((len(sub), len(cats)), dtype=np.int64)
    uniques = [np.array([""], dtype=object)]  # "": no facility
    for j, cat in enumerate(cats):
        tc, fc = f"t_{circle.mode}_{cat}", f"nearest_{circle.mode}_{cat}"
        if tc in sub.columns:
            v = sub[tc].to_numpy(dtype=float)
            t[:, j] = np.where(np.isnan(v), np.inf, v)
        if fc in sub.columns:
            # integer codes, not a string per cell: a county has 10^6 cells
            code, u = pd.factorize(sub[fc])
            codes[:, j] = np.where(code >= 0, code + sum(len(x) for x in uniques), 0)
            uniques.append(np.asarray(u.astype(str), dtype=object))
    ids, remap = np.unique(np.concatenate(uniques), return_inverse=True)
    best = np.argmin(t, axis=1)
    rows = np.arange(len(sub))
    tt, ff = t[rows, best], remap.ravel()[codes[rows, best]]
    ff = np.where(np.isfinite(tt) & (ids[ff] != ""), ff, -1)
    return tt, ff, ids


def gap_areas(cells: gpd.GeoDataFrame, circle: Circle, cell_size_m: float,
              results: pd.DataFrame | None = None,
              modes: Mapping[str, TravelMode] | None = None,
              demand: Mapping[str, str] | None = None,
              facilities: pd.DataFrame | None = None,
              origin: tuple[float, float] | None = None,
              neighbours: np.ndarray | None = None) -> gpd.GeoDataFrame:
    """Contiguous areas of populated cells outside ``circle``, split by
    township and by missing-service set, largest first.

    Parameters
    ----------
    cells : GeoDataFrame
        Point cells (study CRS, metres) with ``population`` and, unless
        ``results`` is given, ``in_<circle>``, ``t_<circle>`` and
        ``in_<circle>__<service>`` (computed from ``t_`` columns if absent).
        Used when present: ``township``/``township_name``, ``urban`` (the
        circle's scope), ``reachable_<mode>``, ``pop_<group>`` (persons by
        demand group) and ``nearest_<mode>_<category>`` (id of the nearest
        facility).
    circle : Circle
    cell_size_m : float or (float, float)
        Grid spacing of the cells, metres, or (dx, dy) when the spacing
        differs by axis (a lon/lat raster in a projected CRS); each cell is
        drawn as a dx-by-dy rectangle centred on its point.
    results : DataFrame, optional
        ``evaluate_circles`` output indexed like ``cells``.
    modes : dict, optional
    demand : dict, optional
        Category -> demand group; absent: everyone.
    facilities : DataFrame, optional
        ``facility_id`` and ``name``: names the nearest facilities.
    origin : (float, float), optional
        A point (metres) the tracing raster is aligned to; default the
        lowest x and highest y of ``cells``. Parts of a study traced with the
        whole study's origin give the whole study's polygons.
    neighbours : ndarray, shape (k, 2), optional
        x, y (metres) of populated cells beyond ``cells`` (the rest of the
        study around a part): like the cells outside the gaps, they keep the
        raster pixels nearest to them.

    Returns
    -------
    GeoDataFrame (CRS of ``cells``), one row per gap: ``circle``,
    ``gap_id``, ``rank`` (1 = most persons), ``scope``, ``township``,
    ``township_name`` (the one township holding the whole gap), ``missing``
    (the services every cell of the gap lacks, comma-joined),
    ``population`` (persons, everyone), ``pop_<group>`` (persons of each
    demand group the circle's services use), ``cells``, ``t_median_s``
    (population-weighted median binding time, seconds; ``inf`` = no
    facility within the search limit or off-road),
    ``unreachable_population`` (persons not snapped to the network), and
    per service ``s`` of the circle: ``pop_missing__<s>`` (persons of the
    service's group lacking it: all of them when ``s`` is missing, else 0),
    ``t_<s>_s`` (population-weighted median time to the nearest ``s``,
    seconds, NaN when ``s`` is not missing), ``nearest_<s>`` and
    ``nearest_name_<s>`` (the existing facility nearest to most of the
    gap's persons; "" when none is within the search limit), then the
    polygon.

    Notes
    -----
    Underserved = population > 0, in the circle's scope and not
    ``in_<circle>`` (unreachable cells included). Two cells join one gap
    when their rectangles share an edge (rook, not a corner) and they lie
    in the same township and lack the same services, so a gap's persons
    never exceed its township's. Polygons are traced on a raster of half
    the cell spacing: exact for a regular grid, within half a spacing
    otherwise.
    """
    from access.coverage import demand as dm

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
    sgroups = dm.service_groups(circle, demand)
    groups = [g for g in dict.fromkeys(sgroups.values()) if g != dm.ALL]
    pop = np.nan_to_num(df["population"].to_numpy(dtype=float))
    under = ((pop > 0) & dm.in_scope(df, circle.scope)
             & ~df[f"in_{circle.name}"].fillna(False).to_numpy(dtype=bool))
    svc_cols = [f"pop_missing__{s}" for s in services]
    for s in services:
        svc_cols += [f"t_{s}_s", f"nearest_{s}", f"nearest_name_{s}"]
    empty = gpd.GeoDataFrame({c: [] for c in _GAP_COLUMNS[:-1]} | {"scope": []}
                             | {f"pop_{g}": [] for g in groups} | {c: [] for c in svc_cols},
                             geometry=[], crs=cells.crs)
    if not under.any():
        return empty
    rc = f"reachable_{circle.mode}"
    tcols = [c for s in services for cat in circle.requirements[s]
             for c in (f"t_{circle.mode}_{cat}", f"nearest_{circle.mode}_{cat}") if c in df.columns]
    cols = ["geometry", f"t_{circle.name}", *[f"in_{circle.name}__{s}" for s in services],
            *[c for c in (rc, "township", "township_name") if c in df.columns],
            *[dm.group_column(g) for g in groups], *dict.fromkeys(tcols)]
    sub = df.loc[under, cols]  # only what is used: a province's cells carry dozens of columns
    pts = sub.geometry.values
    x, y = shapely.get_x(pts), shapely.get_y(pts)
    if np.isnan(x).any():
        bad = sub.index[np.isnan(x)][0]
        raise InputError(f"cells: row {bad} has an empty or non-point geometry; give one "
                         "point per cell.")
    ok = sub[[f"in_{circle.name}__{s}" for s in services]].fillna(False).to_numpy(dtype=bool)
    # missing set as bits of one integer; with the township it keys the gaps
    bits = (~ok).astype(np.int64) @ (np.int64(1) << np.arange(len(services), dtype=np.int64))
    if "township" in sub.columns:
        ti, tcodes = pd.factorize(sub["township"].astype(str), sort=True)
        names = sub["township_name"] if "township_name" in sub.columns else sub["township"]
        tnames = names.iloc[np.unique(ti, return_index=True)[1]].astype(str).to_numpy(object)
    else:
        ti, tcodes, tnames = np.zeros(len(sub), np.int64), pd.Index([None]), np.array([None], object)
    key = ti.astype(np.int64) * (np.int64(1) << len(services)) + bits
    if origin is None:
        origin = (float(np.nanmin(shapely.get_x(df.geometry.values))),
                  float(np.nanmax(shapely.get_y(df.geometry.values))))
    rest = df.geometry.values[~under]
    others = np.column_stack([shapely.get_x(rest), shapely.get_y(rest)])
    if neighbours is not None:
        others = np.vstack([others, np.asarray(neighbours, dtype=float).reshape(-1, 2)])
    label, geoms = _paint_components(x, y, float(dx), float(dy), key, origin, others)
    n_gap = len(geoms)
    w = pop[under]
    gkey = np.zeros(n_gap, dtype=np.int64)
    gkey[label] = key
    gt = gkey >> len(services)  # township index per gap
    gbits = gkey & ((np.int64(1) << len(services)) - 1)

    out = pd.DataFrame({
        "circle": circle.name, "scope": circle.scope,
        "township": np.asarray(tcodes.astype(object), dtype=object)[gt] if "township" in sub.columns
        else None,
        "township_name": tnames[gt],
        "missing": [",".join(s for j, s in enumerate(services) if (int(b) >> j) & 1) for b in gbits],
        "population": np.bincount(label, weights=w, minlength=n_gap),
    })
    for gname in groups:
        out[f"pop_{gname}"] = np.bincount(label, weights=np.nan_to_num(sub[dm.group_column(gname)].to_numpy(float)),
                                          minlength=n_gap)
    out["cells"] = np.bincount(label, minlength=n_gap)
    t = sub[f"t_{circle.name}"].to_numpy(dtype=float)
    out["t_median_s"] = _grouped_quantile(label, np.where(np.isnan(t), np.inf, t), w, 0.5, n_gap)
    reach = (sub[rc].fillna(False).to_numpy(dtype=bool) if rc in sub.columns
             else np.ones(len(sub), bool))
    out["unreachable_population"] = np.bincount(label, weights=w * ~reach, minlength=n_gap)
    for j, s in enumerate(services):
        ws = w if sgroups[s] == dm.ALL else np.nan_to_num(sub[dm.group_column(sgroups[s])].to_numpy(float))
        lacks = (gbits >> j) & 1 == 1
        out[f"pop_missing__{s}"] = np.bincount(label, weights=ws * ~ok[:, j], minlength=n_gap)
        ts, fs, fids = _service_nearest(sub, circle, s)
        med = _grouped_quantile(label, ts, w, 0.5, n_gap)
        out[f"t_{s}_s"] = np.where(lacks, med, np.nan)
        # the facility nearest to most of the gap's persons (ties: the smallest id)
        near = np.full(n_gap, "", dtype=object)
        has = fs >= 0
        if has.any():
            lk, linv = np.unique(label[has] * len(fids) + fs[has], return_inverse=True)
            pw = np.bincount(np.asarray(linv).ravel(), weights=w[has])
            gl, fl = lk // len(fids), lk % len(fids)
            o = np.lexsort((fl, -pw, gl))
            firsts = o[np.r_[True, gl[o][1:] != gl[o][:-1]]]
            near[gl[firsts]] = fids[fl[firsts]]
        near = np.where(lacks, near, "")
        out[f"nearest_{s}"] = near
        out[f"nearest_name_{s}"] = ""
    name_nearest(out, list(services), facilities)
    out["geometry"] = geoms
    return gpd.GeoDataFrame(ranked(out, circle.name), geometry="geometry", crs=cells.crs)


def ranked(gaps: pd.DataFrame, circle_name: str) -> pd.DataFrame:
    """One circle's gaps most persons first, then most cells, then by township and missing services,
    numbered in that order (``gap_id`` and ``rank`` as the second and third columns).

    Ties within one township and missing set keep their order (of their
    first cell), so gaps traced per part and put together rank as in one run.
    """
    out = gaps.drop(columns=[c for c in ("gap_id", "rank") if c in gaps.columns])
    out = out.sort_values(["population", "cells", "township", "missing"], ascending=[False, False, True, True],
                          kind="stable", na_position="last").reset_index(drop=True)
    out.insert(1, "gap_id", [f"{circle_name}-{i + 1}" for i in range(len(out))])
    out.insert(2, "rank", np.arange(1, len(out) + 1))
    return out


def name_nearest(gaps: pd.DataFrame, services: list[str], facilities: pd.DataFrame | None) -> None:
    """Fill ``nearest_name_<service>`` from ``nearest_<service>`` (in place; "" where none or unnamed)."""
    near = {s: gaps[f"nearest_{s}"].astype(str).to_numpy(object) for s in services if f"nearest_{s}" in gaps}
    names = _facility_names(facilities, set().union(*near.values()) - {""} if near else set())
    for s, ids in near.items():
        gaps[f"nearest_name_{s}"] = [names.get(f, "") for f in ids]


def joined(parts: list[gpd.GeoDataFrame], crs) -> gpd.GeoDataFrame:
    """Gaps of several circles or parts as one frame (an empty one with ``circle`` and ``population``)."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return gpd.GeoDataFrame({"circle": [], "population": []}, geometry=[], crs=crs)
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=crs)


def gaps_table(gaps: gpd.GeoDataFrame) -> pd.DataFrame:
    """``gaps.csv``: the gaps without their polygons, ranked by persons within each circle.

    Columns with no value for any gap (services of other circles) are kept
    so the file has one layout per run; times stay in seconds.
    """
    if gaps is None or not len(gaps):
        return pd.DataFrame(columns=[c for c in _GAP_COLUMNS if c != "geometry"])
    return pd.DataFrame(gaps.drop(columns=gaps.geometry.name))


def _facility_names(facilities: pd.DataFrame | None, ids: set) -> dict[str, str]:
    """``facility_id`` -> ``name`` of the given ids only (a province lists a hundred thousand facilities)."""
    if facilities is None or not ids or not {"facility_id", "name"} <= set(facilities.columns):
        return {}
    fid = facilities["facility_id"].astype(str)
    hit = fid.isin(list(ids)).to_numpy()
    return dict(zip(fid[hit], facilities.loc[hit, "name"].astype(str)))


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
