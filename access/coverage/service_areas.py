"""Service-area polygons from node travel times, built without per-node loops.

Given, per facility, the road nodes within a time limit (``node_times``, e.g.
from :func:`access.routing.node_catchments`), the area is the set of road
segments a person can travel within the limit, buffered by a short off-road
distance. All segments of all facilities are built at once with shapely 2
array functions, grouped into one MultiLineString per facility and buffered
once (GEOS nodes the offset curves of the whole collection in one pass, far
cheaper than buffering each edge and unioning the polygons).

Edges are cut exactly: travel speed is taken as uniform along an arc (its
time spread evenly over the geometry's length), so from a node reached at
``t`` an arc of time ``w`` is covered for a fraction ``(limit - t) / w`` of
its length, measured from that node.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numba import njit

from access.coverage import outline
from access.errors import InputError
from access.network.graph import Graph


def _edge_geoms(graph: Graph, edges) -> np.ndarray:
    if isinstance(edges, gpd.GeoDataFrame):
        g = edges.geometry.values
    elif isinstance(edges, gpd.GeoSeries):
        g = edges.values
    else:
        g = edges
    g = np.asarray(g, dtype=object)
    if len(g) and graph.arc_edge is not None and len(graph.arc_edge) and \
            int(np.max(graph.arc_edge)) >= len(g):
        raise InputError(f"edges: {len(g)} geometries but the graph refers to edge row "
                         f"{int(np.max(graph.arc_edge))}; pass the edge table the graph was "
                         "built from.")
    return g


def _cut_lines(lines: np.ndarray, frac: np.ndarray, from_start: np.ndarray) -> np.ndarray:
    """The first ``frac`` (0..1) of each line's length, measured from its start
    (``from_start``) or its end; vectorised over all lines."""
    n = len(lines)
    coords, gi = shapely.get_coordinates(lines, return_index=True)
    counts = np.bincount(gi, minlength=n)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    local = np.arange(len(gi)) - starts[gi]
    newpos = starts[gi] + np.where(from_start[gi], local, counts[gi] - 1 - local)
    c = np.empty_like(coords)
    c[newpos] = coords
    seg = np.hypot(*np.diff(c, axis=0).T)
    same = gi[1:] == gi[:-1]
    step = np.concatenate([[0.0], np.where(same, seg, 0.0)])
    cum = np.cumsum(step)
    cum -= cum[starts][gi]  # restart at 0 on every line
    total = cum[np.maximum(starts + counts - 1, 0)]
    target = np.clip(frac, 0.0, 1.0) * total
    keep = cum < target[gi]
    keep[starts[counts > 0]] = True  # always the anchor vertex
    nk = np.bincount(gi, weights=keep, minlength=n).astype(np.int64)
    k = np.minimum(starts + nk, starts + counts - 1)  # first vertex past the cut
    km1 = np.maximum(k - 1, starts)
    span = cum[k] - cum[km1]
    with np.errstate(invalid="ignore", divide="ignore"):
        a = np.where(span > 0, (target - cum[km1]) / span, 0.0)
    end = c[km1] + a[:, None] * (c[k] - c[km1])
    pts = np.concatenate([c[keep], end])
    grp = np.concatenate([gi[keep], np.arange(n)])
    seq = np.concatenate([local[keep], np.full(n, np.iinfo(np.int64).max)])
    o = np.lexsort((seq, grp))
    return shapely.linestrings(pts[o], indices=grp[o])


def reached_segments(graph: Graph, edges, node_times: pd.DataFrame, limit_s: float,
                     direction: str = "to") -> tuple[np.ndarray, np.ndarray]:
    """The road pieces each source covers within ``limit_s``.

    Parameters
    ----------
    graph : Graph
    edges : GeoDataFrame, GeoSeries or array of LineString
        Row ``e`` is the geometry of edge ``e`` (``graph.arc_edge``), study
        CRS, metres. Arcs with ``arc_edge == -1`` use the straight line
        between their nodes.
    node_times : DataFrame
        ``source``, ``node``, ``seconds`` (only pairs within the limit are
        used).
    limit_s : float
        Seconds.
    direction : {"to", "from"}
        ``"to"``: ``seconds`` is from the node to the source (a facility's
        catchment): a point on arc ``u -> v`` is covered when
        ``remaining part of the arc + t(v) <= limit``, i.e. the piece next to
        ``v``. ``"from"``: from the source to the node: the piece next to
        ``u``.

    Returns
    -------
    source : ndarray of int64
    pieces : ndarray of LineString
        One row per (source, covered piece); a fully covered edge appears once.
    """
    if direction not in ("to", "from"):
        raise InputError(f"direction = {direction!r}: use 'to' or 'from'.")
    missing = [c for c in ("source", "node", "seconds") if c not in node_times.columns]
    if missing:
        raise InputError(f"node_times: columns {missing} are missing; pass the table of "
                         "access.routing.node_catchments (source, node, seconds).")
    geoms = _edge_geoms(graph, edges)
    n = graph.n_nodes
    src = node_times["source"].to_numpy(np.int64)
    node = node_times["node"].to_numpy(np.int64)
    t = node_times["seconds"].to_numpy(float)
    ok = t <= limit_s
    src, node, t = src[ok], node[ok], t[ok]
    if len(node) and (node.min() < 0 or node.max() >= n):
        raise InputError(f"node_times: node {node[(node < 0) | (node >= n)][0]} is not in "
                         f"0..{n - 1}; times must come from this graph.")

    deg = np.diff(graph.indptr)
    tails = np.repeat(np.arange(n, dtype=np.int64), deg)
    heads = np.asarray(graph.indices, dtype=np.int64)
    if direction == "to":  # arcs grouped by head
        order = np.argsort(heads, kind="stable")
        ptr = np.concatenate([[0], np.cumsum(np.bincount(heads, minlength=n))])
    else:
        order = np.arange(len(heads))
        ptr = np.asarray(graph.indptr, dtype=np.int64)
    d = ptr[node + 1] - ptr[node]
    row = np.repeat(np.arange(len(node)), d)
    off = np.arange(len(row)) - np.repeat(np.cumsum(d) - d, d)
    arc = order[ptr[node[row]] + off]
    if not len(arc):
        return np.empty(0, np.int64), np.empty(0, dtype=object)
    s, anchor = src[row], node[row]
    other = np.where(direction == "to", tails[arc], heads[arc])
    w = graph.weights[arc]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(w > 0, (limit_s - t[row]) / w, 1.0)
    frac = np.clip(frac, 1e-9, 1.0)  # a node reached at the limit still gets a dot
    e = np.asarray(graph.arc_edge, dtype=np.int64)[arc]

    # Straight lines for arcs without an edge row: give them private ids.
    n_e = len(geoms)
    noe = e < 0
    if noe.any():
        a_lo, b_hi = np.minimum(anchor[noe], other[noe]), np.maximum(anchor[noe], other[noe])
        pair, inv = np.unique(np.column_stack([a_lo, b_hi]), axis=0, return_inverse=True)
        xy = graph.node_xy
        extra = shapely.linestrings(np.stack([xy[pair[:, 0]], xy[pair[:, 1]]], axis=1))
        geoms = np.concatenate([geoms, extra])
        e = e.copy()
        e[noe] = n_e + np.asarray(inv).ravel()
    # Which end of the edge geometry is the anchor node.
    xy = graph.node_xy
    ue, inv_e = np.unique(e, return_inverse=True)
    cc, ci = shapely.get_coordinates(geoms[ue], return_index=True)
    cnt = np.bincount(ci, minlength=len(ue))
    st = np.concatenate([[0], np.cumsum(cnt)[:-1]])
    inv_e = np.asarray(inv_e).ravel()
    first, last = cc[st][inv_e], cc[st + cnt - 1][inv_e]
    pa = xy[anchor]
    at_start = (np.hypot(*(pa - first).T) <= np.hypot(*(pa - last).T))

    # Best fraction per (source, edge, end); full when the two ends meet.
    key = (s * len(geoms) + e) * 2 + (~at_start)
    df = pd.DataFrame({"key": key, "frac": frac}).groupby("key", sort=True)["frac"].max()
    k = df.index.to_numpy()
    f = df.to_numpy()
    se = k // 2
    end_flag = (k % 2).astype(bool)  # True: anchored at the geometry's end
    both = np.zeros(len(k), bool)
    nxt = np.flatnonzero(se[1:] == se[:-1])
    full_pair = f[nxt] + f[nxt + 1] >= 1.0
    both[nxt[full_pair]] = True
    drop = np.zeros(len(k), bool)
    drop[nxt[full_pair] + 1] = True
    full = (f >= 1.0) | both
    keep = ~drop
    # An edge full from one end makes the other end's piece redundant.
    full_se = np.unique(se[full & keep])
    keep &= ~(~full & np.isin(se, full_se))
    se, f, end_flag, full = se[keep], f[keep], end_flag[keep], full[keep]
    out_src = se // len(geoms)
    out_e = se % len(geoms)
    pieces = geoms[out_e].copy()
    part = ~full
    if part.any():
        pieces[part] = _cut_lines(geoms[out_e[part]], f[part], ~end_flag[part])
    return out_src, pieces


@njit(cache=True, nogil=True)
def _paint(x0, y0, x1, y1, ptr, buffer_m, res, ox, oy, shape_hw, out_ptr, out):
    """Mark, per source, the pixels whose centre is within ``buffer_m`` of
    any of its segments (numba kernel; see :func:`_raster_areas`)."""
    b2 = buffer_m * buffer_m
    for s in range(len(ptr) - 1):
        h, w = shape_hw[s, 0], shape_hw[s, 1]
        base = out_ptr[s]
        for k in range(ptr[s], ptr[s + 1]):
            ax, ay, bx, by = x0[k] - ox[s], y0[k] - oy[s], x1[k] - ox[s], y1[k] - oy[s]
            dx, dy = bx - ax, by - ay
            ll = dx * dx + dy * dy
            i0 = max(int((min(ax, bx) - buffer_m) / res) - 1, 0)
            i1 = min(int((max(ax, bx) + buffer_m) / res) + 1, w - 1)
            j0 = max(int((min(ay, by) - buffer_m) / res) - 1, 0)
            j1 = min(int((max(ay, by) + buffer_m) / res) + 1, h - 1)
            for j in range(j0, j1 + 1):
                py = (j + 0.5) * res
                for i in range(i0, i1 + 1):
                    if out[base + j * w + i]:
                        continue
                    px = (i + 0.5) * res
                    if ll > 0:
                        t = ((px - ax) * dx + (py - ay) * dy) / ll
                        t = min(max(t, 0.0), 1.0)
                    else:
                        t = 0.0
                    ex, ey = ax + t * dx - px, ay + t * dy - py
                    if ex * ex + ey * ey <= b2:
                        out[base + j * w + i] = 1


@dataclass
class ReachMask:
    """A service area as pixels of the ``res``-metre lattice through the CRS origin.

    ``mask[j, i]`` is the pixel ``x0 + i res <= x < x0 + (i + 1) res``,
    ``y0 + j res <= y < y0 + (j + 1) res`` (rows run north). ``x0`` and
    ``y0`` are multiples of ``res``, so masks drawn by different runs (the
    parts of a partitioned run) line up pixel for pixel.
    """

    mask: np.ndarray  # bool, (h, w)
    x0: float
    y0: float
    res: float

    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax), metres."""
        h, w = self.mask.shape
        return self.x0, self.y0, self.x0 + w * self.res, self.y0 + h * self.res


def _paint_masks(src: np.ndarray, pieces: np.ndarray, buffer_m: float, res: float):
    """Per source, the pixels whose centre lies within ``buffer_m`` of one of its pieces.

    Returns the sources (sorted) and one :class:`ReachMask` per source (None
    for a source whose pieces have no segment).
    """
    coords, gi = shapely.get_coordinates(pieces, return_index=True)
    nxt = np.flatnonzero(gi[1:] == gi[:-1])  # consecutive vertices of one piece
    # a piece of one vertex (a lone node) is a segment of length 0: a disc of buffer_m
    lone = np.flatnonzero(np.bincount(gi, minlength=len(pieces)) == 1) if len(gi) else np.empty(0, np.int64)
    first = np.searchsorted(gi, lone)
    seg_src = np.concatenate([src[gi[nxt]], src[lone]])
    a = np.concatenate([coords[nxt], coords[first]])
    b = np.concatenate([coords[nxt + 1], coords[first]])
    o = np.argsort(seg_src, kind="stable")
    seg_src, a, b = seg_src[o], a[o], b[o]
    usrc = np.unique(src)
    ptr = np.searchsorted(seg_src, np.concatenate([usrc, [np.iinfo(np.int64).max]]))
    ptr[-1] = len(seg_src)
    lo = np.minimum(a, b)
    hi = np.maximum(a, b)
    has = ptr[1:] > ptr[:-1]
    xmin = np.full(len(usrc), np.nan)
    ymin, xmax, ymax = xmin.copy(), xmin.copy(), xmin.copy()
    st = np.minimum(ptr[:-1], max(len(seg_src) - 1, 0))
    if len(seg_src):
        xmin[has] = np.minimum.reduceat(lo[:, 0], st)[has]
        ymin[has] = np.minimum.reduceat(lo[:, 1], st)[has]
        xmax[has] = np.maximum.reduceat(hi[:, 0], st)[has]
        ymax[has] = np.maximum.reduceat(hi[:, 1], st)[has]
    # Grid aligned to multiples of res so neighbouring areas share pixels.
    ox = np.floor((xmin - buffer_m) / res - 1) * res
    oy = np.floor((ymin - buffer_m) / res - 1) * res
    w = np.ceil((xmax + buffer_m - ox) / res + 1).astype(np.int64)
    h = np.ceil((ymax + buffer_m - oy) / res + 1).astype(np.int64)
    w[~has], h[~has], ox[~has], oy[~has] = 0, 0, 0.0, 0.0
    hw = np.column_stack([h, w])
    out_ptr = np.concatenate([[0], np.cumsum(h * w)])
    out = np.zeros(int(out_ptr[-1]), dtype=np.uint8)
    _paint(a[:, 0].copy(), a[:, 1].copy(), b[:, 0].copy(), b[:, 1].copy(),
               ptr.astype(np.int64), float(buffer_m), float(res), ox, oy, hw,
               out_ptr.astype(np.int64), out)
    masks = [ReachMask(out[out_ptr[s]:out_ptr[s + 1]].reshape(h[s], w[s]).view(bool), float(ox[s]), float(oy[s]),
                       float(res)) if has[s] else None for s in range(len(usrc))]
    return usrc, masks


def _trace(masks: list[ReachMask | None]) -> np.ndarray:
    """One (Multi)Polygon per mask along the pixel edges (empty for None or no pixel).

    The outlines are unsimplified: a topology-preserving simplification by
    half a pixel took as long as the tracing and removed under a fifth of the
    vertices (maps simplify for display anyway). Pinches are filled first, in
    place, so every polygon is valid as drawn.
    """
    polys = np.array([shapely.Polygon()] * len(masks), dtype=object)
    for s, rm in enumerate(masks):
        if rm is None or not rm.mask.any():
            continue
        outline.fill_pinches(rm.mask)
        parts = outline.trace(rm.mask, rm.x0, rm.y0, rm.res)
        polys[s] = parts[0] if len(parts) == 1 else shapely.multipolygons(parts)
    return polys


def _raster_areas(src: np.ndarray, pieces: np.ndarray, buffer_m: float, res: float):
    """Buffered pieces per source, drawn on a ``res`` grid and traced."""
    usrc, masks = _paint_masks(src, pieces, buffer_m, res)
    return usrc, _trace(masks)


def service_areas(graph: Graph, edges, node_times: pd.DataFrame, limit_s: float,
                  buffer_m: float = 50.0, direction: str = "to", method: str = "raster",
                  resolution_m: float | None = None, quad_segs: int = 2,
                  crs=None) -> gpd.GeoDataFrame:
    """One polygon per source: road reachable within ``limit_s``, buffered.

    Parameters
    ----------
    graph : Graph
    edges : GeoDataFrame, GeoSeries or array of LineString
        Edge geometries by edge row (see :func:`reached_segments`).
    node_times : DataFrame
        ``source``, ``node``, ``seconds`` (:func:`access.routing.node_catchments`).
    limit_s : float
        Time limit, seconds.
    buffer_m : float
        Off-road distance added around reached roads, metres (> 0 for the
        raster method).
    direction : {"to", "from"}
    method : {"raster", "exact"}
        ``"raster"`` (default, fast): the buffered pieces are drawn on a grid
        of ``resolution_m`` (a pixel is in when its centre lies within
        ``buffer_m`` of a reached piece, numba), traced along the pixel edges
        (:mod:`access.coverage.outline`): the boundary is
        within about ``resolution_m`` of the exact buffer.
        ``"exact"``: one MultiLineString per source buffered by GEOS (about
        10x slower).
    resolution_m : float, optional
        Pixel size for ``"raster"``, metres (default ``buffer_m / 4``: 12.5 m for
        50 m; about 3 % of the area differs from the exact buffer).
    quad_segs : int
        Segments per quarter circle of the exact buffer's round ends.
    crs : optional
        Output CRS (default: that of ``edges`` when it has one).

    Returns
    -------
    GeoDataFrame with ``source`` (int64) and ``geometry`` (Polygon or
    MultiPolygon), one row per source with at least one reached node,
    sorted by source.
    """
    if not (buffer_m >= 0):
        raise InputError(f"buffer_m = {buffer_m}: give an off-road distance in metres >= 0.")
    if crs is None and hasattr(edges, "crs"):
        crs = edges.crs
    if method not in ("raster", "exact"):
        raise InputError(f"method = {method!r}: use 'raster' or 'exact'.")
    src, pieces = reached_segments(graph, edges, node_times, limit_s, direction)
    if method == "raster" and buffer_m > 0 and len(src):
        res = float(resolution_m) if resolution_m else buffer_m / 4.0
        if not res > 0:
            raise InputError(f"resolution_m = {resolution_m}: give a pixel size in metres > 0.")
        usrc, polys = _raster_areas(src, pieces, float(buffer_m), res)
    else:
        o = np.argsort(src, kind="stable")
        src, pieces = src[o], pieces[o]
        usrc, grp = np.unique(src, return_inverse=True)
        multi = shapely.multilinestrings(pieces, indices=np.asarray(grp).ravel())
        polys = shapely.buffer(multi, buffer_m, quad_segs=quad_segs)
    # Sources whose reached nodes have no usable arcs (isolated): a disc.
    nt = node_times[node_times["seconds"] <= limit_s]
    lone = np.setdiff1d(nt["source"].to_numpy(np.int64), usrc)
    if len(lone):
        sub = nt[nt["source"].isin(lone)].sort_values("source")
        pts = shapely.points(graph.node_xy[sub["node"].to_numpy(np.int64)])
        u2, g2 = np.unique(sub["source"].to_numpy(np.int64), return_inverse=True)
        extra = shapely.buffer(shapely.multipoints(pts, indices=np.asarray(g2).ravel()),
                               max(buffer_m, 1e-6), quad_segs=quad_segs)
        usrc = np.concatenate([usrc, u2])
        polys = np.concatenate([polys, extra])
        o = np.argsort(usrc)
        usrc, polys = usrc[o], polys[o]
    return gpd.GeoDataFrame({"source": usrc.astype(np.int64)}, geometry=polys, crs=crs)


def dissolve(areas: gpd.GeoDataFrame):
    """Union of all service-area polygons (one geometry; empty if none).

    A single area is returned as it is: :func:`service_areas` draws valid
    polygons, so a union would only repeat it (at the cost of a full overlay).
    """
    if not len(areas):
        return shapely.Polygon()
    if len(areas) == 1:
        return areas.geometry.values[0]
    return shapely.union_all(areas.geometry.values)


def dissolve_by_category(areas: gpd.GeoDataFrame, facilities: pd.DataFrame) -> gpd.GeoDataFrame:
    """Union of service areas per facility category.

    Parameters
    ----------
    areas : GeoDataFrame
        ``source`` = row position in ``facilities`` (as given to the routing).
    facilities : DataFrame
        With ``category``.

    Returns
    -------
    GeoDataFrame with ``category`` and ``geometry``, sorted by category.
    """
    if "category" not in facilities.columns:
        raise InputError("facilities: column 'category' is missing.")
    src = areas["source"].to_numpy(np.int64)
    if len(src) and (src.min() < 0 or src.max() >= len(facilities)):
        raise InputError("areas: a source is not a row of facilities; pass the same "
                         "facilities table that was given to the routing.")
    cat = facilities["category"].astype(str).to_numpy()[src]
    rows = []
    for c in sorted(set(cat)):
        rows.append((c, shapely.union_all(areas.geometry.values[cat == c])))
    return gpd.GeoDataFrame({"category": [r[0] for r in rows]},
                            geometry=[r[1] for r in rows], crs=areas.crs)


def reach_mask(graph: Graph, edges, node_times: pd.DataFrame, limit_s: float, buffer_m: float = 50.0,
               resolution_m: float = 25.0) -> ReachMask | None:
    """The pixels within ``buffer_m`` of the road every source reaches together, or None.

    As :func:`service_areas` (raster method) with every source taken as one,
    before tracing: a reached node without a usable arc counts as a point.

    Parameters
    ----------
    graph, edges, node_times, limit_s
        See :func:`service_areas` (direction "to").
    buffer_m, resolution_m : float
        Off-road distance and pixel size, metres (> 0).
    """
    if not (buffer_m > 0 and resolution_m > 0):
        raise InputError(f"buffer_m = {buffer_m}, resolution_m = {resolution_m}: give metres > 0.")
    src, pieces = reached_segments(graph, edges, node_times, limit_s, "to")
    nt = node_times[node_times["seconds"] <= limit_s]
    nodes = np.unique(nt["node"].to_numpy(np.int64))
    points = shapely.points(graph.node_xy[nodes]) if len(nodes) else np.empty(0, object)
    # every reached node as a point too: one on a road already drawn adds no pixel,
    # one without a usable arc is its own disc
    pieces = np.concatenate([pieces, points])
    if not len(pieces):
        return None
    _, masks = _paint_masks(np.zeros(len(pieces), np.int64), pieces, float(buffer_m), float(resolution_m))
    return masks[0]


def _window(bounds, res: float) -> tuple[float, float, int, int]:
    # the lattice pixels a box touches: (x0, y0, h, w)
    x0, y0 = np.floor(bounds[0] / res) * res, np.floor(bounds[1] / res) * res
    w, h = int(np.ceil((bounds[2] - x0) / res)), int(np.ceil((bounds[3] - y0) / res))
    return float(x0), float(y0), max(h, 0), max(w, 0)


def split_by_unit(masks: list[ReachMask], units: gpd.GeoDataFrame | None) -> tuple[np.ndarray, np.ndarray]:
    """The pixels of any of ``masks`` per unit polygon, traced.

    A pixel belongs to the unit its centre lies in (GDAL's rasterising rule),
    so the pieces of units that tile the plane (counties) never overlap, and
    a pixel outside every unit is left out. Masks drawn apart (the parts of
    a partitioned run) give the same pieces as their union drawn at once.

    Parameters
    ----------
    masks : list of ReachMask
        On one lattice (same ``res``).
    units : GeoDataFrame or None
        ``code`` and polygons in the masks' CRS; None: one piece of every
        pixel, code ``""``.

    Returns
    -------
    codes : ndarray of str
        Units with at least one pixel.
    geoms : ndarray of (Multi)Polygon
    """
    from affine import Affine
    from rasterio import features

    masks = [m for m in masks if m is not None and m.mask.any()]
    if not masks:
        return np.empty(0, dtype=object), np.empty(0, dtype=object)
    res = masks[0].res
    if any(m.res != res for m in masks):
        raise ValueError("masks on different pixel sizes cannot be put together")
    mb = np.array([m.bounds() for m in masks])
    if units is None:
        boxes, codes, shapes = [(mb[:, 0].min(), mb[:, 1].min(), mb[:, 2].max(), mb[:, 3].max())], [""], [None]
    else:
        boxes = list(units.geometry.bounds.to_numpy())
        codes, shapes = list(units["code"].astype(str)), list(units.geometry.values)
    out_codes, pieces = [], []
    for box, code, shape in zip(boxes, codes, shapes):
        x0, y0, h, w = _window(box, res)
        near = np.flatnonzero((mb[:, 0] < x0 + w * res) & (mb[:, 2] > x0) & (mb[:, 1] < y0 + h * res) & (mb[:, 3] > y0))
        if not len(near) or h == 0 or w == 0:
            continue
        comp = np.zeros((h, w), dtype=bool)
        for k in near:
            m = masks[k]
            # integer offsets: both origins are multiples of res
            di, dj = int(round((m.x0 - x0) / res)), int(round((m.y0 - y0) / res))
            mh, mw = m.mask.shape
            i0, j0, i1, j1 = max(di, 0), max(dj, 0), min(di + mw, w), min(dj + mh, h)
            if i0 < i1 and j0 < j1:
                comp[j0:j1, i0:i1] |= m.mask[j0 - dj:j1 - dj, i0 - di:i1 - di]
        if shape is not None and comp.any():
            inside = features.rasterize([(shape, 1)], out_shape=(h, w), transform=Affine(res, 0.0, x0, 0.0, res, y0),
                                        fill=0, dtype=np.uint8)
            comp &= inside.view(bool)
        if comp.any():
            out_codes.append(code)
            pieces.append(ReachMask(comp, x0, y0, res))
    return np.asarray(out_codes, dtype=object), _trace(pieces)


#: columns of a service-area table, in order (the geometry comes last)
AREA_COLUMNS = ("county", "county_name", "circle", "category", "facilities", "minutes")


def area_table(groups: list[tuple[dict, list[ReachMask]]], counties: gpd.GeoDataFrame | None, crs) -> gpd.GeoDataFrame:
    """Service areas per county, circle and category, as a table.

    Parameters
    ----------
    groups : list of (dict, list of ReachMask)
        Per (circle, category): ``circle``, ``category``, ``facilities``
        (count), ``minutes``, and the masks whose union is its area.
    counties : GeoDataFrame or None
        ``code`` (and ``name``) with polygons; None: one row per group,
        county ``""``.
    crs
        Of the masks and counties.

    Returns
    -------
    GeoDataFrame with :data:`AREA_COLUMNS` and one (Multi)Polygon per
    county with pixels of the area (a pixel goes to the county its centre
    lies in), sorted by circle, category and county.
    """
    names = {}
    if counties is not None:
        names = dict(zip(counties["code"].astype(str), counties.get("name", counties["code"]).astype(str)))
    rows, split = [], {}
    for meta, masks in groups:
        # circles sharing a category, mode and limit share their masks: traced once
        key = tuple(id(m) for m in masks)
        if key not in split:
            split[key] = split_by_unit(masks, counties)
        codes, geoms = split[key]
        rows += [{"county": c, "county_name": names.get(c, ""), "circle": meta["circle"],
                  "category": meta["category"], "facilities": int(meta["facilities"]),
                  "minutes": float(meta["minutes"]), "geometry": g} for c, g in zip(codes, geoms)]
    return joined_areas([gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)] if rows else [], crs)


def joined_areas(frames: list[gpd.GeoDataFrame], crs) -> gpd.GeoDataFrame:
    """Service-area tables (:func:`area_table`) as one, sorted by circle, category and county.

    No frame with a row: the empty table, with :data:`AREA_COLUMNS`.
    """
    frames = [f for f in frames if len(f)]
    if not frames:
        return gpd.GeoDataFrame({c: [] for c in AREA_COLUMNS}, geometry=[], crs=crs)
    out = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=crs)
    return out.sort_values(["circle", "category", "county"], kind="stable", ignore_index=True)
