"""Snapping points (cells, facilities) to the nearest point of the nearest edge.

CONTRACT (routing relies on these fields; do not rename):
A point ``i`` snapped onto the edge between nodes ``node_a[i]`` and
``node_b[i]`` can *leave* towards either end (``to_a``, ``to_b``: seconds from
the point to that node, off-road leg walked plus the along-edge part, ``inf``
when the mode may not travel that way) and can be *reached* from either end
(``from_a``, ``from_b``: seconds from that node to the point). Points that are
not snapped (too far from any road, NaN coordinates) have ``ok == False``,
``node_a == node_b == -1`` and infinite times. ``edge`` identifies the edge so
that two points on the same edge can be joined directly; ``pos`` is the
position along the edge from ``node_a`` (0..1), exactly 0 or 1 when the point
is within ``NODE_TOL_M`` of an end node (it then joins that node at no cost
in both directions, whatever the edge's one-way rule).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Snap:
    """Where each point joins the network of one travel mode.

    Attributes
    ----------
    node_a, node_b : ndarray of int64, shape (n,)
        Graph node indices at the two ends of the snapped edge (-1 if not ok).
    to_a, to_b : ndarray of float64, shape (n,)
        Seconds from the point to node a / node b (inf where not allowed).
    from_a, from_b : ndarray of float64, shape (n,)
        Seconds from node a / node b to the point (inf where not allowed).
    edge : ndarray of int64, shape (n,)
        Edge row the point was snapped to (-1 if not ok).
    pos : ndarray of float64, shape (n,)
        Fraction along the edge from node a (0..1).
    dist : ndarray of float64, shape (n,)
        Off-road distance from the point to the edge, metres (inf if no edge).
    ok : ndarray of bool, shape (n,)
        True where the point was snapped within the maximum snap distance.
    """

    node_a: np.ndarray
    node_b: np.ndarray
    to_a: np.ndarray
    to_b: np.ndarray
    from_a: np.ndarray
    from_b: np.ndarray
    edge: np.ndarray
    pos: np.ndarray
    dist: np.ndarray
    ok: np.ndarray

    def __len__(self) -> int:
        return len(self.node_a)

    def subset(self, idx: np.ndarray) -> "Snap":
        """Rows ``idx`` (an index array or boolean mask) as a new Snap."""
        return Snap(**{k: getattr(self, k)[idx] for k in self.__dataclass_fields__})

    @staticmethod
    def concat(snaps: list["Snap"]) -> "Snap":
        """Stack several Snaps of the same graph."""
        return Snap(
            **{k: np.concatenate([getattr(s, k) for s in snaps]) for k in Snap.__dataclass_fields__}
        )


# --------------------------------------------------------------------------
# Snapping
# --------------------------------------------------------------------------
import hashlib  # noqa: E402
import os  # noqa: E402

from concurrent.futures import ThreadPoolExecutor  # noqa: E402

from numba import njit  # noqa: E402

from access.errors import InputError  # noqa: E402

_CHUNK = 131_072  # points per vectorised block (bounds memory to ~100 MB)
#: A point this close to the end of its edge (metres along the edge) sits on
#: the end node. OSM stores coordinates to 1e-7 degree (about 1 cm), so
#: nothing in the data tells a point 1 cm from a node from the node itself;
#: the time this moves a point is under 0.01 s at walking pace.
NODE_TOL_M = 0.01


@dataclass
class SegmentIndex:
    """Segments of the usable edges of one mode in a uniform grid of square cells.

    Every segment is cut into pieces no longer than ``cell`` metres and each
    piece is registered in the cells its bounding box overlaps (at most
    2 x 2). A search around a point visits rings of cells until the best
    distance found is no more than the distance to the edge of the visited
    block: a segment with any point inside the block is registered in a block
    cell, so every unvisited segment is at least that far (exact result).

    For points beyond the snap limit a KD-tree of piece midpoints gives the
    distance (any point of a piece lies within ``half`` of its midpoint).
    """

    x0: np.ndarray
    y0: np.ndarray
    dx: np.ndarray
    dy: np.ndarray
    seg_len: np.ndarray
    seg_edge: np.ndarray
    seg_cum0: np.ndarray
    edge_len: np.ndarray
    piece_seg: np.ndarray
    half: float
    mid: np.ndarray
    cell: float
    origin: np.ndarray
    shape: tuple
    cell_ptr: np.ndarray
    cell_segs: np.ndarray
    edge_a: np.ndarray = None  # graph node index of each edge's u (-1 if unusable)
    edge_b: np.ndarray = None
    ends_for: tuple = ()
    _tree: object = None

    @property
    def tree(self):
        """KD-tree of piece midpoints (built on first use: only far points need it)."""
        from scipy.spatial import cKDTree

        if self._tree is None and len(self.mid):
            self._tree = cKDTree(self.mid, balanced_tree=False, compact_nodes=False)
        return self._tree


def segment_index(coords_xy: np.ndarray, offsets: np.ndarray, usable: np.ndarray,
                  piece_m: float = 100.0, max_cells_per_piece: float = 4.0) -> SegmentIndex:
    """Index the segments of the ``usable`` edges.

    Parameters
    ----------
    coords_xy : ndarray (k, 2)
        Projected polyline vertices of all edges (metres).
    offsets : ndarray (n_edges + 1,)
        Edge ``i`` has vertices ``coords_xy[offsets[i]:offsets[i+1]]``.
    usable : ndarray of bool (n_edges,)
    piece_m : float
        Smallest grid cell (metres); larger on sparse networks so that the
        grid has at most about ``max_cells_per_piece`` cells per piece.
    """
    n_edges = len(offsets) - 1
    nv = np.diff(offsets)
    seg_edge_all = np.repeat(np.arange(n_edges), nv)
    # segment j runs from vertex j to j+1 when both belong to the same edge
    start = np.ones(len(coords_xy), dtype=bool)
    start[offsets[1:] - 1] = False
    start &= usable[seg_edge_all]
    j = np.flatnonzero(start)
    x0, y0 = coords_xy[j, 0], coords_xy[j, 1]
    dx, dy = coords_xy[j + 1, 0] - x0, coords_xy[j + 1, 1] - y0
    seg_len = np.hypot(dx, dy)
    seg_edge = seg_edge_all[j]
    # projected length along the edge before each segment
    full_len = np.zeros(len(coords_xy))
    full_len[j] = seg_len
    cum = np.concatenate([[0.0], np.cumsum(full_len)])
    seg_cum0 = cum[j] - cum[offsets[seg_edge]]
    edge_len = cum[offsets[1:]] - cum[offsets[:-1]]
    if len(j):
        lo = np.array([np.minimum(x0, x0 + dx).min(), np.minimum(y0, y0 + dy).min()])
        hi = np.array([np.maximum(x0, x0 + dx).max(), np.maximum(y0, y0 + dy).max()])
    else:
        lo = hi = np.zeros(2)
    cell = float(piece_m)
    for _ in range(60):  # grow cells until the grid is not much larger than the network
        n_pieces = int(np.maximum(1, np.ceil(seg_len / cell)).sum())
        shape = (int((hi[0] - lo[0]) // cell) + 1, int((hi[1] - lo[1]) // cell) + 1)
        if shape[0] * shape[1] <= max(max_cells_per_piece * n_pieces, 1_000_000):
            break
        cell *= 1.25
    pieces = np.maximum(1, np.ceil(seg_len / cell)).astype(np.int64)
    piece_seg = np.repeat(np.arange(len(j)), pieces)
    k = np.arange(len(piece_seg)) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    fm = (k + 0.5) / pieces[piece_seg]
    mid = np.column_stack([x0[piece_seg] + fm * dx[piece_seg], y0[piece_seg] + fm * dy[piece_seg]])
    half = float((seg_len / pieces).max() / 2) if len(j) else 0.0
    cell_ptr, cell_segs = _register(x0, y0, dx, dy, pieces, float(lo[0]), float(lo[1]), cell,
                                    shape[0], shape[1])
    return SegmentIndex(x0, y0, dx, dy, seg_len, seg_edge, seg_cum0, edge_len, piece_seg, half,
                        mid, cell, lo, shape, cell_ptr, cell_segs)


@njit(cache=True)
def _piece_cells(x0, y0, dx, dy, p, k, ox, oy, cell):
    ax = x0 + dx * k / p
    bx = x0 + dx * (k + 1) / p
    ay = y0 + dy * k / p
    by = y0 + dy * (k + 1) / p
    ix0 = np.int64(np.floor((min(ax, bx) - ox) / cell))
    ix1 = np.int64(np.floor((max(ax, bx) - ox) / cell))
    iy0 = np.int64(np.floor((min(ay, by) - oy) / cell))
    iy1 = np.int64(np.floor((max(ay, by) - oy) / cell))
    return ix0, ix1, iy0, iy1


@njit(cache=True)
def _register(x0, y0, dx, dy, pieces, ox, oy, cell, nx, ny):
    """Counting sort of (cell, segment) registrations into a dense CSR grid."""
    # loops rather than np.zeros, np.cumsum and a slice copy: each would add its compilation
    n = nx * ny
    ptr = np.empty(n + 1, np.int64)
    for c in range(n + 1):
        ptr[c] = 0
    for s in range(len(x0)):
        for k in range(pieces[s]):
            ix0, ix1, iy0, iy1 = _piece_cells(x0[s], y0[s], dx[s], dy[s], pieces[s], k, ox, oy, cell)
            for gx in range(max(ix0, 0), min(ix1, nx - 1) + 1):
                for gy in range(max(iy0, 0), min(iy1, ny - 1) + 1):
                    ptr[gx * ny + gy + 1] += 1
    fill = np.empty(n, np.int64)
    for c in range(n):
        ptr[c + 1] += ptr[c]
        fill[c] = ptr[c]
    segs = np.empty(ptr[n], np.int64)
    for s in range(len(x0)):
        for k in range(pieces[s]):
            ix0, ix1, iy0, iy1 = _piece_cells(x0[s], y0[s], dx[s], dy[s], pieces[s], k, ox, oy, cell)
            for gx in range(max(ix0, 0), min(ix1, nx - 1) + 1):
                for gy in range(max(iy0, 0), min(iy1, ny - 1) + 1):
                    c = gx * ny + gy
                    segs[fill[c]] = s
                    fill[c] += 1
    return ptr, segs


@njit(cache=True, nogil=True)
def _grid_nearest_range(px, py, x0, y0, dx, dy, ox, oy, cell, nx, ny, ptr, segs, max_dist,
                        i0, i1, out_s, out_t, out_d):
    """Exact nearest segment within ``max_dist`` of points ``i0..i1-1`` (ring search).

    Writes ``out_s`` (segment), ``out_t`` (0..1 along it) and ``out_d``
    (metres) of those points; the others are left as they are. A plain loop
    run on threads (the GIL is released) rather than ``prange``: same speed,
    and it compiles in a third of the time.
    """
    for i in range(i0, i1):
        x = px[i]
        y = py[i]
        cx = np.int64(np.floor((x - ox) / cell))
        cy = np.int64(np.floor((y - oy) / cell))
        best = np.inf
        bs = np.int64(-1)
        bt = 0.0
        r = 0
        while True:
            for gx in range(cx - r, cx + r + 1):
                if gx < 0 or gx >= nx:
                    continue
                step = 1 if (gx == cx - r or gx == cx + r) else 2 * r
                gy = cy - r
                while gy <= cy + r:
                    if gy >= 0 and gy < ny:
                        c = gx * ny + gy
                        for q in range(ptr[c], ptr[c + 1]):
                            sg = segs[q]
                            ddx = dx[sg]
                            ddy = dy[sg]
                            rx = x - x0[sg]
                            ry = y - y0[sg]
                            l2 = ddx * ddx + ddy * ddy
                            t = 0.0
                            if l2 > 0.0:
                                t = (rx * ddx + ry * ddy) / l2
                                if t < 0.0:
                                    t = 0.0
                                elif t > 1.0:
                                    t = 1.0
                            ex = rx - t * ddx
                            ey = ry - t * ddy
                            d = np.sqrt(ex * ex + ey * ey)
                            if d < best or (d == best and sg < bs):
                                best = d
                                bs = sg
                                bt = t
                    gy += step
            # distance from the point to the edge of the visited block
            bound = min(min(x - (ox + (cx - r) * cell), ox + (cx + r + 1) * cell - x),
                        min(y - (oy + (cy - r) * cell), oy + (cy + r + 1) * cell - y))
            covered = cx - r <= 0 and cx + r >= nx - 1 and cy - r <= 0 and cy + r >= ny - 1
            if best <= bound or bound > max_dist or covered:
                break
            r += 1
        if best <= max_dist:
            out_s[i] = bs
            out_t[i] = bt
            out_d[i] = best


def _grid_nearest(px, py, x0, y0, dx, dy, ox, oy, cell, nx, ny, ptr, segs, max_dist):
    """Exact nearest segment within ``max_dist`` of each point, on all cores.

    Returns ``seg`` (-1 if none), ``t`` (0..1 along it) and ``dist`` (metres,
    inf if none); each point is searched on its own, so the split does not
    change any result.
    """
    n = len(px)
    out_s = np.full(n, -1, np.int64)
    out_t = np.zeros(n)
    out_d = np.full(n, np.inf)

    def work(r):
        _grid_nearest_range(px, py, x0, y0, dx, dy, ox, oy, cell, nx, ny, ptr, segs, max_dist,
                            r[0], r[1], out_s, out_t, out_d)

    n_threads = max(1, min(os.cpu_count() or 1, n // 4096))  # small calls stay on this thread
    bounds = np.linspace(0, n, n_threads + 1).astype(np.int64)
    ranges = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
    if len(ranges) == 1:
        work(ranges[0])
    else:
        with ThreadPoolExecutor(len(ranges)) as ex:
            list(ex.map(work, ranges))
    return out_s, out_t, out_d


def _project(idx: SegmentIndex, px: np.ndarray, py: np.ndarray, seg: np.ndarray):
    """Distance from points to segments and the clamped parameter (0..1)."""
    dx, dy = idx.dx[seg], idx.dy[seg]
    rx, ry = px - idx.x0[seg], py - idx.y0[seg]
    l2 = dx * dx + dy * dy
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(l2 > 0, (rx * dx + ry * dy) / l2, 0.0)
    t = np.clip(t, 0.0, 1.0)
    return np.hypot(rx - t * dx, ry - t * dy), t


def _nearest_segments(idx: SegmentIndex, p: np.ndarray, max_dist: float, k: int = 8):
    """Exact nearest segment (within ``max_dist``) of each point (no NaNs).

    Returns ``seg`` (-1 if none within ``max_dist``), ``t``, ``dist`` (inf
    if none).
    """
    n = len(p)
    seg_out = np.full(n, -1, dtype=np.int64)
    t_out = np.zeros(n)
    d_out = np.full(n, np.inf)
    if idx.tree is None or n == 0:
        return seg_out, t_out, d_out
    n_pieces = len(idx.piece_seg)
    bound = max_dist + idx.half
    todo = np.arange(n)
    kk = min(k, n_pieces)
    while len(todo):
        q = p[todo]
        dd, ii = idx.tree.query(q, k=kk, distance_upper_bound=bound * (1 + 1e-9) + 1e-9, workers=-1)
        dd, ii = dd.reshape(len(q), kk), ii.reshape(len(q), kk)
        valid = ii < n_pieces
        seg = idx.piece_seg[np.where(valid, ii, 0)]
        d, t = _project(idx, np.repeat(q[:, :1], kk, 1), np.repeat(q[:, 1:], kk, 1), seg)
        d = np.where(valid, d, np.inf)
        # ties: the lowest segment (so results do not depend on tree order)
        best = np.lexsort((seg, d), axis=-1)[:, 0] if kk > 1 else np.zeros(len(q), np.int64)
        rows = np.arange(len(q))
        db = d[rows, best]
        # Guarantee: a piece not returned has its midpoint at >= dd[:, -1],
        # so its segment is at >= dd[:, -1] - half from the point.
        target = np.minimum(db, max_dist)
        done = (dd[:, -1] - idx.half >= target) | ~np.isfinite(dd[:, -1]) | (kk >= n_pieces)
        hit = done & (db <= max_dist)
        seg_out[todo[hit]] = seg[rows[hit], best[hit]]
        t_out[todo[hit]] = t[rows[hit], best[hit]]
        d_out[todo[hit]] = db[hit]
        todo = todo[~done]
        kk = min(kk * 8, n_pieces)
    return seg_out, t_out, d_out


def _edge_ends(graph, edges, usable):
    """Graph node index of both ends of every usable edge (-1 elsewhere)."""
    node_ids = np.asarray(graph.node_id)
    out = []
    for col in ("u", "v"):
        ids = edges.edges[col].to_numpy()
        pos = np.full(len(ids), -1, np.int64)
        if len(node_ids):
            k = np.minimum(np.searchsorted(node_ids, ids[usable]), len(node_ids) - 1)
            if not (node_ids[k] == ids[usable]).all():
                raise InputError("snap_points: the graph lacks nodes of the usable edges; build it "
                                 "from the same edges and mode (build_graph(edges, mode, crs)).")
            pos[usable] = k
        out.append(pos)
    return out[0], out[1]


def _on_kept_components(graph, edges, usable: np.ndarray) -> np.ndarray:
    """``usable`` narrowed to edges with both ends in one kept component of ``graph``.

    An edge joining two components is a one-way link: a point on it could
    only leave towards one of them or be reached from the other.
    """
    a, b = _edge_ends(graph, edges, usable)
    rows = np.flatnonzero(usable)
    comp = np.asarray(graph.component)
    ca, cb = comp[a[rows]], comp[b[rows]]
    out = np.zeros_like(usable)
    out[rows] = np.asarray(graph.kept, bool)[a[rows]] & (ca == cb)
    return out


def _infer_crs(graph, edges):
    """The CRS ``graph`` was built in, among the projections cached on ``edges``."""
    ids = np.asarray(graph.node_id)[: min(20, graph.n_nodes)]
    rows = np.searchsorted(edges.nodes["node_id"].to_numpy(), ids)
    for key, val in edges._cache.items():
        if isinstance(key, tuple) and key[0] == "proj":
            if np.allclose(val[0][rows], graph.node_xy[: len(ids)], atol=1e-6):
                return key[1]
    raise InputError("snap_points: the graph was not built from these edges; build it with "
                     "build_graph(edges, mode, crs) or pass crs=.")


def snap_points(
    xy: np.ndarray,
    graph,
    edges,
    mode,
    max_dist_m: float = 500.0,
    crs=None,
    piece_m: float = 100.0,
) -> Snap:
    """Snap points to the nearest point of the nearest edge usable by ``mode``.

    Parameters
    ----------
    xy : ndarray (n, 2)
        Points in the study CRS, metres (NaN rows are reported unsnapped).
    graph : Graph
        Graph of ``mode`` built from ``edges`` (:func:`build_graph`). When
        ``graph.kept`` is set (:func:`access.network.components.keep_components`),
        only edges with both ends in one kept component are candidates.
    edges : Edges
        The road network the graph was built from.
    mode : TravelMode
        Usable classes, one-way rules; off-road leg at
        ``mode.access_speed_kmh``.
    max_dist_m : float
        Points farther than this from every usable edge are not snapped.
    crs : optional
        Study CRS; by default the one ``graph`` was built in.
    piece_m : float
        Search granularity (metres); affects speed only, never the result.

    Returns
    -------
    Snap
        Off-road time ``dist / access speed`` plus the along-edge part:
        the fraction of the edge's length times the edge's travel time in
        that direction; ``inf`` where the mode may not travel that way.
    """
    from access.network.build import edge_times

    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    n = len(xy)
    if not (max_dist_m >= 0):
        raise InputError(f"snap_points: max_dist_m={max_dist_m}; give a distance >= 0 in metres.")
    usable, t_fwd, t_bwd = edge_times(edges, mode)
    if graph.kept is not None and graph.n_nodes:
        usable = _on_kept_components(graph, edges, usable)
    if crs is None:
        crs_key = _infer_crs(graph, edges) if graph.n_nodes else None
    else:
        from pyproj import CRS

        crs_key = CRS.from_user_input(crs).to_wkt()
    out = Snap(
        node_a=np.full(n, -1, np.int64), node_b=np.full(n, -1, np.int64),
        to_a=np.full(n, np.inf), to_b=np.full(n, np.inf),
        from_a=np.full(n, np.inf), from_b=np.full(n, np.inf),
        edge=np.full(n, -1, np.int64), pos=np.full(n, np.nan),
        dist=np.full(n, np.inf), ok=np.zeros(n, bool),
    )
    if crs_key is None or not usable.any() or n == 0:
        return out
    key = ("segidx", crs_key, hashlib.sha1(np.packbits(usable).tobytes()).hexdigest(), float(piece_m))
    if key not in edges._cache:
        _, coords_xy = edges.projected(crs_key)
        edges._cache[key] = segment_index(coords_xy, edges.offsets, usable, piece_m)
    idx: SegmentIndex = edges._cache[key]
    finite = np.flatnonzero(np.isfinite(xy).all(axis=1))
    seg = np.full(n, -1, np.int64)
    tpar = np.zeros(n)
    dist = np.full(n, np.inf)
    if len(finite) and len(idx.x0):
        # points farther than max_dist_m from the network's bounding box cannot snap
        lo = np.array([np.minimum(idx.x0, idx.x0 + idx.dx).min(), np.minimum(idx.y0, idx.y0 + idx.dy).min()])
        hi = np.array([np.maximum(idx.x0, idx.x0 + idx.dx).max(), np.maximum(idx.y0, idx.y0 + idx.dy).max()])
        gap = np.maximum(np.maximum(lo - xy[finite], xy[finite] - hi), 0.0)
        finite = finite[np.hypot(gap[:, 0], gap[:, 1]) <= max_dist_m]
    if len(finite) and len(idx.x0):
        seg[finite], tpar[finite], dist[finite] = _grid_nearest(
            np.ascontiguousarray(xy[finite, 0]), np.ascontiguousarray(xy[finite, 1]),
            idx.x0, idx.y0, idx.dx, idx.dy, float(idx.origin[0]), float(idx.origin[1]),
            idx.cell, idx.shape[0], idx.shape[1], idx.cell_ptr, idx.cell_segs, float(max_dist_m))
    # points with NaN stay inf; points beyond max_dist_m report their distance
    far = np.flatnonzero((seg < 0) & np.isfinite(xy).all(axis=1))
    if len(far) and idx.tree is not None:
        for s in range(0, len(far), _CHUNK):
            rows = far[s:s + _CHUNK]
            _, _, dist[rows] = _nearest_segments(idx, xy[rows], np.inf)
    ok = seg >= 0
    e = idx.seg_edge[seg[ok]]
    el = idx.edge_len[e]
    along = idx.seg_cum0[seg[ok]] + tpar[ok] * idx.seg_len[seg[ok]]
    pos = np.where(el > 0, np.clip(along / np.where(el > 0, el, 1.0), 0.0, 1.0), 0.0)
    # Within NODE_TOL_M of an end the point is at that node: it joins the node
    # at no cost both ways, even on a one-way edge whose far direction is inf.
    # Cumulative lengths round, so a point exactly on the end node can land a
    # hair short of it and, on a one-way edge, be reachable only the long way.
    pos = np.where(el - along <= NODE_TOL_M, 1.0, pos)
    pos = np.where(along <= NODE_TOL_M, 0.0, pos)
    off = dist[ok] / (mode.access_speed_kmh / 3.6)
    tf, tb = t_fwd[e], t_bwd[e]

    def part(frac, t):  # frac * t, with 0 when the point sits on the node
        with np.errstate(invalid="ignore"):
            return np.where(frac == 0, 0.0, frac * t)

    if idx.ends_for != (id(graph.node_id), graph.n_nodes):
        idx.edge_a, idx.edge_b = _edge_ends(graph, edges, usable)
        idx.ends_for = (id(graph.node_id), graph.n_nodes)
    ua, vb = idx.edge_a[e], idx.edge_b[e]
    out.node_a[ok], out.node_b[ok] = ua, vb
    out.to_a[ok] = off + part(pos, tb)
    out.to_b[ok] = off + part(1.0 - pos, tf)
    out.from_a[ok] = part(pos, tf) + off
    out.from_b[ok] = part(1.0 - pos, tb) + off
    out.edge[ok] = e
    out.pos[ok] = pos
    out.dist = dist
    out.ok = ok
    return out


def unsnapped(snap: Snap) -> np.ndarray:
    """Row indices of the points that were not snapped (too far, NaN)."""
    return np.flatnonzero(~np.asarray(snap.ok, dtype=bool))
