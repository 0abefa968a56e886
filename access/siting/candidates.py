"""Candidate sites for new facilities.

Three sources, all returning a GeoDataFrame with ``candidate`` (0..n-1, the
number used in the location tables), ``source`` and ``geometry`` (points):

* :func:`from_file` -- a planner's list (GeoJSON/GeoPackage/Shapefile, or CSV
  with lon/lat columns);
* :func:`from_points` -- given points, e.g. township seats (乡镇驻地);
* :func:`from_network_nodes` -- road-network junctions inside gap polygons,
  thinned to a minimum spacing and capped in number.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from access.errors import InputError


def _finish(gdf: gpd.GeoDataFrame, source: str) -> gpd.GeoDataFrame:
    gdf = gdf.reset_index(drop=True)
    gdf.insert(0, "candidate", np.arange(len(gdf), dtype=np.int64))
    if "source" not in gdf.columns:
        gdf.insert(1, "source", source)
    return gdf


def from_file(path: str | Path, lon: str = "lon", lat: str = "lat", crs: str = "EPSG:4326") -> gpd.GeoDataFrame:
    """Candidate points from a vector file or a CSV with ``lon``/``lat`` columns (degrees).

    Rows with missing or non-point geometry are an :class:`InputError`
    naming the rows.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: file not found; give the path of the candidate sites file.")
    if p.suffix.lower() in (".csv", ".txt"):
        df = pd.read_csv(p)
        missing = [c for c in (lon, lat) if c not in df.columns]
        if missing:
            raise InputError(f"{p.name}: columns {missing} not found (have {list(df.columns)}); "
                             "pass lon=/lat= with your column names.")
        x = pd.to_numeric(df[lon], errors="coerce")
        y = pd.to_numeric(df[lat], errors="coerce")
        bad = np.flatnonzero((x.isna() | y.isna()).to_numpy())
        if len(bad):
            raise InputError(f"{p.name}: {len(bad)} rows have missing or non-numeric {lon}/{lat} "
                             f"(first data row {bad[0] + 2}); fix or delete them.")
        gdf = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(x, y), crs=crs)
    else:
        gdf = gpd.read_file(p)
        bad = np.flatnonzero(~(gdf.geom_type == "Point").to_numpy() | gdf.geometry.isna().to_numpy())
        if len(bad):
            raise InputError(f"{p.name}: {len(bad)} features are not points (first at row {bad[0]}); "
                             "candidate sites must be points.")
    return _finish(gdf, p.name)


def from_points(points: gpd.GeoDataFrame, source: str = "township_seat") -> gpd.GeoDataFrame:
    """Candidates at given points (e.g. township seats), keeping their attributes."""
    if not isinstance(points, gpd.GeoDataFrame):
        raise InputError("points: expected a GeoDataFrame of points (e.g. township seats).")
    bad = np.flatnonzero(~(points.geom_type == "Point").to_numpy())
    if len(bad):
        raise InputError(f"points: {len(bad)} rows are not points (first at row {bad[0]}).")
    return _finish(points.copy(), source)


def from_network_nodes(node_xy: np.ndarray, gaps: gpd.GeoDataFrame, spacing_m: float = 500.0,
                       max_count: int | None = None, crs=None) -> gpd.GeoDataFrame:
    """Network junctions inside gap polygons, at least about ``spacing_m`` apart.

    Parameters
    ----------
    node_xy : ndarray, shape (n, 2)
        Node coordinates in the metric CRS of ``gaps`` (metres).
    gaps : GeoDataFrame
        Gap polygons (areas outside the standard), metric CRS.
    spacing_m : float
        Thinning: at most one node per ``spacing_m`` square, the one nearest
        the square's centre (metres).
    max_count : int, optional
        Cap on the number of candidates; when exceeded, nodes are kept from
        the largest gaps first, evenly spread within each gap.
    crs : optional
        CRS of the result (default: that of ``gaps``).

    Returns
    -------
    GeoDataFrame
        ``candidate``, ``source`` ("network_node"), ``node`` (node index),
        ``gap`` (row of ``gaps``), ``geometry``.
    """
    xy = np.asarray(node_xy, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise InputError(f"node_xy: shape {xy.shape}; give an (n, 2) array of metres.")
    if not (spacing_m > 0):
        raise InputError(f"spacing_m: {spacing_m} must be > 0 metres.")
    if gaps.crs is not None and gaps.crs.is_geographic:
        raise InputError("gaps: CRS is geographic (degrees); project to a metric CRS first (e.g. UTM).")
    pts = shapely.points(xy)
    tree = shapely.STRtree(pts)
    geoms = gaps.geometry.to_numpy()
    gi, ni = tree.query(geoms, predicate="intersects")
    if not len(ni):
        return gpd.GeoDataFrame({"candidate": np.empty(0, np.int64), "source": [], "node": np.empty(0, np.int64),
                                 "gap": np.empty(0, np.int64)}, geometry=[], crs=crs or gaps.crs)
    # one node per gap: a node in overlapping gaps belongs to the first
    order = np.lexsort((gi, ni))
    ni, gi = ni[order], gi[order]
    first = np.r_[True, ni[1:] != ni[:-1]]
    ni, gi = ni[first], gi[first]
    # grid thinning: keep the node nearest each cell centre
    cell = np.floor(xy[ni] / spacing_m).astype(np.int64)
    centre = (cell + 0.5) * spacing_m
    d = np.hypot(*(xy[ni] - centre).T)
    key = cell[:, 0] * 1_000_003 + cell[:, 1]
    o = np.lexsort((d, key))
    keep = o[np.r_[True, key[o][1:] != key[o][:-1]]]
    ni, gi = ni[keep], gi[keep]
    if max_count is not None and len(ni) > max_count:
        area = shapely.area(geoms)
        # round-robin over gaps, largest first, so every big gap gets sites
        rank = np.argsort(-area[gi], kind="stable")
        ni, gi = ni[rank], gi[rank]
        within = np.zeros(len(ni), dtype=np.int64)
        for g in np.unique(gi):
            m = gi == g
            within[m] = np.arange(m.sum())
        pick = np.lexsort((-area[gi], within))[: int(max_count)]
        ni, gi = ni[pick], gi[pick]
    out = gpd.GeoDataFrame({"source": "network_node", "node": ni.astype(np.int64), "gap": gi.astype(np.int64)},
                           geometry=shapely.points(xy[ni]), crs=crs or gaps.crs)
    return _finish(out, "network_node")
