"""Cells to administrative units, and coverage tables per county / township.

Every cell keeps a unit: cells outside every township polygon get the code
``"outside"`` and are counted as "outside the study area", never dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import geopandas as gpd
import shapely
import numpy as np
import pandas as pd

from access.accounting import Account
from access.coverage.circles import _circles, evaluate_circles
from access.coverage.indicators import outside_any, unit_rows
from access.coverage.standards import Circle
from access.errors import InputError
from access.network.modes import TravelMode

OUTSIDE = "outside"
TOTAL = "total"


# --------------------------------------------------------------------------
# Assignment
# --------------------------------------------------------------------------
def _check_units(units: gpd.GeoDataFrame, name: str, crs) -> list[str]:
    problems = []
    for col in ("code", "name"):
        if col not in units.columns:
            problems.append(f"{name}: column {col!r} is missing; add the unit {col} column.")
    if units.crs is not None and crs is not None and units.crs != crs:
        problems.append(f"{name}: CRS {units.crs} differs from the cells' CRS {crs}; "
                        "reproject both to the study CRS first.")
    return problems


def _join_points(cells: gpd.GeoDataFrame | shapely.STRtree, units: gpd.GeoDataFrame) -> np.ndarray:
    """Position in ``units`` for every cell, -1 when outside all of them.

    ``cells`` may be an STRtree of the cell points already built.
    ``intersects`` so that a point exactly on a boundary is not lost; where a
    point touches several units the one with the smallest code wins
    (deterministic, independent of row order).
    """
    # tree over the points, polygons as queries: each polygon is prepared once,
    # which is ~7x faster than testing every point against the polygon tree
    tree = cells if isinstance(cells, shapely.STRtree) else shapely.STRtree(cells.geometry.values)
    pos = np.full(len(tree.geometries), -1, dtype=np.int64)
    if not len(units) or not len(pos):
        return pos
    un, pt = tree.query(units.geometry.values, predicate="intersects")
    if len(pt):
        codes = units["code"].astype(str).to_numpy()
        order = np.lexsort((codes[un], pt))  # by point, then code
        pt, un = pt[order], un[order]
        first = np.ones(len(pt), dtype=bool)
        first[1:] = pt[1:] != pt[:-1]
        pos[pt[first]] = un[first]
    return pos


def assign_units(cells: gpd.GeoDataFrame, townships: gpd.GeoDataFrame | None,
                 counties: gpd.GeoDataFrame | None) -> tuple[gpd.GeoDataFrame, Account]:
    """Give every cell a township and a county (codes and names).

    Parameters
    ----------
    cells : GeoDataFrame
        Points with ``population`` (persons), in the study CRS (metres).
    townships, counties : GeoDataFrame or None
        Polygons with ``code`` and ``name`` (townships optionally
        ``parent_code``: the county code), same CRS as ``cells``.

    Returns
    -------
    cells : GeoDataFrame
        A copy with ``township``, ``township_name``, ``county``,
        ``county_name`` (str). Cells outside every polygon get ``"outside"``.
        A township's ``parent_code`` wins over the county polygon so that
        the two levels nest. ``urban`` (bool) is copied from the townships
        when they have that column (False outside).
    account : Account
        ``read == kept`` (no cell is dropped); notes say how many cells and
        persons lie outside.
    """
    problems = []
    if "population" not in cells.columns:
        problems.append("cells: column 'population' is missing; give persons per cell.")
    for units, name in ((townships, "townships"), (counties, "counties")):
        if units is not None:
            problems += _check_units(units, name, cells.crs)
    if problems:
        raise InputError(problems)

    out = cells.copy()
    n = len(out)
    pop = out["population"].to_numpy(dtype=float)
    acc = Account(source="assign_units", read=n, kept=n,
                  population_read=float(np.nansum(pop)), population_kept=float(np.nansum(pop)))

    def codes_names(units, pos):
        if units is None:
            return np.full(n, OUTSIDE, dtype=object), np.full(n, OUTSIDE, dtype=object)
        code = units["code"].astype(str).to_numpy(dtype=object)
        nm = units["name"].astype(str).to_numpy(dtype=object)
        inside = pos >= 0
        c = np.full(n, OUTSIDE, dtype=object)
        m = np.full(n, OUTSIDE, dtype=object)
        c[inside] = code[pos[inside]]
        m[inside] = nm[pos[inside]]
        return c, m

    tree = shapely.STRtree(out.geometry.values)  # one tree for both levels
    tw_pos = _join_points(tree, townships) if townships is not None else np.full(n, -1)
    tw_code, tw_name = codes_names(townships, tw_pos)
    # A township's parent county wins, so that the levels nest; only cells
    # without one are joined to the county polygons.
    par = np.full(n, -1, dtype=np.int64)
    if townships is not None and "parent_code" in townships.columns and counties is not None:
        row_of = {c: i for i, c in enumerate(counties["code"].astype(str))}
        tw_par = np.array([row_of.get(str(p), -1) if not pd.isna(p) else -1
                           for p in townships["parent_code"]], dtype=np.int64)
        has = tw_pos >= 0
        par[has] = tw_par[tw_pos[has]]
    co_pos = par.copy()
    if counties is not None and (par < 0).any():
        rest = np.flatnonzero(par < 0)
        pts = tree if len(rest) == n else shapely.STRtree(out.geometry.values[rest])
        co_pos[rest] = _join_points(pts, counties)
    co_code, co_name = codes_names(counties, co_pos)

    out["township"], out["township_name"] = tw_code, tw_name
    out["county"], out["county_name"] = co_code, co_name
    if townships is not None and "urban" in townships.columns:
        # urban 街道 vs rural 乡/镇, for the urban-rural equity gap.
        flag = townships["urban"].fillna(False).astype(bool).to_numpy()
        out["urban"] = np.where(tw_pos >= 0, flag[np.maximum(tw_pos, 0)], False)
    for level, code in (("township", tw_code), ("county", co_code)):
        outside = code == OUTSIDE
        if (townships if level == "township" else counties) is not None and outside.any():
            acc.notes.append(
                f"{int(outside.sum())} cells ({np.nansum(pop[outside]):.0f} persons) lie outside "
                f"every {level} polygon: kept with {level} = 'outside' (outside the study area).")
    acc.check()
    return out, acc


# --------------------------------------------------------------------------
# Population-weighted quantiles
# --------------------------------------------------------------------------
def weighted_quantile(x, w, q: float) -> float:
    """Population-weighted quantile: the smallest ``x`` whose cumulative weight
    reaches ``q`` of the total.

    ``Q(q) = min{ x_i : sum_{j: x_j <= x_i} w_j >= q * sum_j w_j }``
    (the lower inverse of the weighted empirical CDF, no interpolation; with
    equal weights this is numpy's ``method="inverted_cdf"``). Zero-weight
    values are ignored; ``inf`` is a valid value (unreachable). NaN when the
    total weight is 0.
    """
    x = np.asarray(x, dtype=float)
    w = np.asarray(w, dtype=float)
    return float(_grouped_quantile(np.zeros(len(x), np.int64), x, w, q, 1)[0])


def _grouped_quantile(g: np.ndarray, x: np.ndarray, w: np.ndarray, q,
                      n_groups: int, total: bool = False) -> np.ndarray:
    """:func:`weighted_quantile` per group ``g`` (0..n_groups-1), vectorised.

    ``q`` may be a sequence: the result is then (len(q), n_groups), from one
    sort. With ``total``, one more group at the end: all values together.
    """
    qs = np.atleast_1d(np.asarray(q, dtype=float))
    keep = (w > 0) & ~np.isnan(x)
    g, x, w = g[keep], x[keep], w[keep]
    order = np.argsort(x)  # ties share one value: any order will do
    parts = []
    if len(g):
        # then a stable sort by group: radix sort on small integer labels,
        # much faster than a lexsort of (x, g)
        small = np.uint16 if n_groups < 2**16 else np.int64
        by_g = order[np.argsort(g[order].astype(small), kind="stable")]
        parts.append(_sorted_quantiles(g[by_g], x[by_g], w[by_g], qs, n_groups))
    else:
        parts.append(np.full((len(qs), n_groups), np.nan))
    if total:
        parts.append(_sorted_quantiles(np.zeros(len(x), np.int64), x[order], w[order], qs, 1))
    out = np.concatenate(parts, axis=1)
    return out if np.ndim(q) else out[0]


def _sorted_quantiles(g, x, w, qs, n_groups) -> np.ndarray:
    """Quantiles of values sorted by group, then value."""
    out = np.full((len(qs), n_groups), np.nan)
    if not len(g):
        return out
    cw = np.cumsum(w)
    start = np.searchsorted(g, np.arange(n_groups), side="left")
    end = np.searchsorted(g, np.arange(n_groups), side="right")
    has = end > start
    before = np.where(start > 0, cw[np.maximum(start - 1, 0)], 0.0)
    tot = np.where(has, cw[np.maximum(end - 1, 0)] - before, 0.0)
    for i, qi in enumerate(qs):
        # Smallest position with cumulative (within group) >= q * total; a
        # relative tolerance keeps q * total from missing by one rounding error.
        idx = np.searchsorted(cw, before + qi * tot * (1 - 1e-12), side="left")
        idx = np.clip(idx, start, np.maximum(end - 1, start))
        out[i, has] = x[idx[has]]
    return out


# --------------------------------------------------------------------------
# Coverage tables
# --------------------------------------------------------------------------
def coverage_table(cells: pd.DataFrame, circles: Circle | Iterable[Circle],
                   level: str = "township", results: pd.DataFrame | None = None,
                   modes: Mapping[str, TravelMode] | None = None,
                   demand: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Coverage per unit (township or county) plus a study-total row.

    Parameters
    ----------
    cells : DataFrame
        Cells with ``population``, unit codes (:func:`assign_units`), the
        ``t_<mode>_<category>`` / ``reachable_<mode>`` columns and, unless
        ``results`` is given, the columns of
        :func:`~access.coverage.circles.evaluate_circles` (computed here when
        absent). ``urban`` (bool) decides the scopes of circles (absent:
        every cell is in every scope); ``pop_<group>`` holds the persons of
        each demand group named by ``demand``.
    circles : Circle or iterable of Circle
    level : {"township", "county"}
    results : DataFrame, optional
        Output of ``evaluate_circles`` indexed like ``cells``.
    modes : dict[str, TravelMode], optional
        For metre limits; presets by default.
    demand : dict[str, str], optional
        Category -> demand group (:func:`access.coverage.demand.demand_map`);
        absent: every service's demand is everyone (``all``).

    Returns
    -------
    DataFrame, one row per unit (sorted by code) and a last row with code
    ``"total"``. Columns (persons, shares 0..1, seconds):

    ``code``, ``name``, ``population`` (all persons);
    ``unreachable_<mode>``: persons in cells not snapped to that mode's roads;
    per circle ``c`` (persons of the circle's demand group living in its
    scope, see :mod:`access.coverage.demand`): ``scope_<c>`` and
    ``demand_<c>`` (text: whom the circle counts), ``population_<c>``,
    ``covered_<c>`` (inside the complete circle), ``share_<c>``,
    ``completeness_<c>`` (population-weighted mean 设施完备度: share of the
    circle's services within its limit, 0..1), ``t50_<c>``, ``t90_<c>``
    (population-weighted median / 90th percentile of the binding time
    ``t_<c>``, see :func:`weighted_quantile`; ``inf`` when that share of
    persons lacks a service); per service ``s`` of ``c`` (persons of the
    service's own group in the circle's scope): ``population_<c>__<s>``,
    ``covered_<c>__<s>``, ``share_<c>__<s>``;
    ``outside_any_circle``: distinct persons (everyone) outside at least one
    circle that applies to them.

    The sum of every person column over units equals the total row.
    ``attrs["scope"]`` and ``attrs["demand"]`` name each circle's scope and
    group.
    """
    from access.coverage import demand as dm

    if level not in ("township", "county"):
        raise InputError(f"level = {level!r}: use 'township' or 'county'.")
    circles = _circles(circles)
    problems = []
    for col in ("population", level):
        if col not in cells.columns:
            fix = "run assign_units first" if col == level else "give persons per cell"
            problems.append(f"cells: column {col!r} is missing; {fix}.")
    for c in circles:
        for g in {dm.circle_group(c, demand), *dm.service_groups(c, demand).values()}:
            if dm.group_column(g) not in cells.columns:
                problems.append(f"cells: column {dm.group_column(g)!r} (persons of demand group {g!r}, used "
                                f"by circle {c.name!r}) is missing; give the group under [inputs.groups] "
                                "or map its categories to 'all' under [demand].")
    if problems:
        raise InputError(problems)
    df = cells  # read column by column: no copy of a province's cells
    if results is not None:
        df = df.drop(columns=[c for c in results.columns if c in df.columns]).join(results)
    missing = [c for c in circles if f"in_{c.name}" not in df.columns]
    if missing:
        df = df.join(evaluate_circles(df, missing, modes))

    pop = np.nan_to_num(df["population"].to_numpy(dtype=float))
    g, codes, names = unit_rows(df, level)
    k = len(codes) - 1

    def per_unit(v):  # sums per unit and total
        s = np.bincount(g, weights=v, minlength=k)
        return np.append(s, v.sum())

    cols: dict[str, np.ndarray] = {
        "code": codes,
        "name": names,
    }
    cols["population"] = per_unit(pop)

    def share(v, base):
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(base > 0, v / base, np.nan)

    for m in dict.fromkeys(c.mode for c in circles):
        rc = f"reachable_{m}"
        reach = (df[rc].fillna(False).to_numpy(dtype=bool) if rc in df.columns
                 else np.ones(len(df), bool))
        cols[f"unreachable_{m}"] = per_unit(pop * ~reach)
    for c in circles:
        scope = dm.in_scope(df, c.scope)
        w = dm.group_persons(df, dm.circle_group(c, demand)) * scope
        inside = df[f"in_{c.name}"].fillna(False).to_numpy(dtype=bool)
        base = per_unit(w)
        cols[f"scope_{c.name}"] = np.full(k + 1, c.scope, dtype=object)  # the CSV names whom it counts
        cols[f"demand_{c.name}"] = np.full(k + 1, dm.circle_group(c, demand), dtype=object)
        cols[f"population_{c.name}"] = base
        cov = per_unit(w * inside)
        cols[f"covered_{c.name}"] = cov
        cols[f"share_{c.name}"] = share(cov, base)
        ok = df[[f"in_{c.name}__{s}" for s in c.requirements]].fillna(False).to_numpy(dtype=bool)
        cols[f"completeness_{c.name}"] = share(per_unit(w * ok.mean(axis=1)), base)
        t = df[f"t_{c.name}"].to_numpy(dtype=float)
        qt = _grouped_quantile(g, t, w, (0.5, 0.9), k, total=True)
        cols[f"t50_{c.name}"], cols[f"t90_{c.name}"] = qt[0], qt[1]
        for j, (s, sg) in enumerate(dm.service_groups(c, demand).items()):
            ws = dm.group_persons(df, sg) * scope
            bs = per_unit(ws)
            cs = per_unit(ws * ok[:, j])
            cols[f"population_{c.name}__{s}"] = bs
            cols[f"covered_{c.name}__{s}"] = cs
            cols[f"share_{c.name}__{s}"] = share(cs, bs)
    cols["outside_any_circle"] = per_unit(pop * outside_any(df, circles))
    out = pd.DataFrame(cols)
    # Units sum to the total by construction; check anyway (float round-off).
    person_cols = [c for c in out.columns if c.startswith(
        ("population", "covered_", "unreachable_", "outside_any"))]
    sums = out.iloc[:-1][person_cols].sum().to_numpy(float)
    tot = out.iloc[-1][person_cols].to_numpy(float)
    assert np.allclose(sums, tot, rtol=1e-9, atol=1e-6), "unit sums differ from the study total"
    out.attrs["level"] = level
    out.attrs["scope"] = {c.name: c.scope for c in circles}
    out.attrs["demand"] = {c.name: dm.circle_group(c, demand) for c in circles}
    return out


def mark_urban(cells: gpd.GeoDataFrame, areas: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    """Cells inside urban/built-up polygons (城区/建成区) become urban.

    Parameters
    ----------
    cells : GeoDataFrame
        Points in the study CRS; an existing ``urban`` column (from urban
        townships, see :func:`assign_units`) is kept and widened.
    areas : GeoDataFrame or None
        Polygons, any CRS (reprojected to the cells' CRS).

    Returns
    -------
    GeoDataFrame
        A copy with ``urban`` (bool) = urban township OR inside an area.
    """
    out = cells.copy()
    urban = (out["urban"].fillna(False).to_numpy(dtype=bool) if "urban" in out.columns
             else np.zeros(len(out), dtype=bool))
    if areas is not None and len(areas):
        polys = areas.to_crs(out.crs) if areas.crs is not None and out.crs is not None else areas
        geom = shapely.union_all(shapely.make_valid(np.asarray(polys.geometry.values)))
        shapely.prepare(geom)
        pts = out.geometry.values
        urban = urban | shapely.intersects_xy(geom, shapely.get_x(pts), shapely.get_y(pts))
    out["urban"] = urban
    return out
