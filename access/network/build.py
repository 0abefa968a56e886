"""Per-mode directed graphs in CSR form, components and their population.

:func:`build_graph` turns the undirected :class:`~access.network.osm.Edges`
table into the forward :class:`~access.network.graph.Graph` of one travel
mode: usable classes, speeds, one-way rules, fastest of parallel arcs, no
self-loops, nodes in the study CRS, strongly connected components.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from access.errors import InputError
from access.network.graph import Graph
from access.network.modes import TravelMode


def edge_times(edges, mode: TravelMode) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which edges a mode may use and how long each direction takes.

    Parameters
    ----------
    edges : Edges
        Road network (see :func:`access.network.osm.read_network`).
    mode : TravelMode

    Returns
    -------
    usable : ndarray of bool, shape (n_edges,)
        Highway class listed in ``mode.speed_kmh``.
    t_fwd, t_bwd : ndarray of float64, shape (n_edges,)
        Seconds to travel the whole edge u -> v and v -> u; ``inf`` where the
        mode may not go that way (one-way rules) or cannot use the edge.
        Speed is the class speed, or ``maxspeed`` (km/h) when
        ``mode.use_maxspeed`` and the way has one. Roundabouts are one-way.
    """
    key = ("times", repr(mode))
    cache = getattr(edges, "_cache", None)
    if cache is not None and key in cache:
        return cache[key]
    t = edges.edges
    speed = _lookup(t["highway"], mode.speed_kmh, np.nan)  # NaN if class unusable
    usable = np.isfinite(speed) & (speed > 0)
    if mode.use_maxspeed:
        ms = t["maxspeed"].to_numpy(dtype=np.float64)
        use_ms = usable & np.isfinite(ms) & (ms > 0)
        speed = np.where(use_ms, ms, speed)
    length = t["length_m"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        full = np.where(usable, length / (speed / 3.6), np.inf)
    t_fwd = full.copy()
    t_bwd = full.copy()
    if mode.oneway:
        ow = _lookup(t["oneway"], {"yes": 1.0, "-1": -1.0}, 0.0)
        rb = _lookup(t["junction"], {"roundabout": 1.0, "circular": 1.0}, 0.0) > 0
        rev = ow < 0
        t_fwd[rev] = np.inf
        t_bwd[((ow > 0) | rb) & ~rev] = np.inf
    if cache is not None:
        cache[key] = (usable, t_fwd, t_bwd)
    return usable, t_fwd, t_bwd


def _lookup(column: pd.Series, table: dict, default: float) -> np.ndarray:
    """Map a string column through ``table`` (fast: one lookup per distinct value)."""
    codes, uniq = pd.factorize(column, use_na_sentinel=True)
    vals = np.array([float(table.get(str(u), default)) for u in uniq] + [default], dtype=np.float64)
    return vals[codes]  # code -1 (missing) takes the default at the end


def csr_from_arcs(
    n_nodes: int, tails: np.ndarray, heads: np.ndarray, weights: np.ndarray, arc_edge: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sort arcs by tail (then head), keeping the fastest of parallel arcs.

    Self-loops are dropped. Returns ``indptr, indices, weights, arc_edge``.
    """
    tails = np.asarray(tails, dtype=np.int64)
    heads = np.asarray(heads, dtype=np.int64)
    weights = np.asarray(weights, dtype=np.float64)
    arc_edge = np.asarray(arc_edge, dtype=np.int64)
    keep = (tails != heads) & np.isfinite(weights)
    tails, heads, weights, arc_edge = tails[keep], heads[keep], weights[keep], arc_edge[keep]
    key = tails * np.int64(max(n_nodes, 1)) + heads
    order = np.argsort(key)
    ks = key[order]
    first = np.ones(len(ks), dtype=bool)
    first[1:] = ks[1:] != ks[:-1]
    if not first.all():
        # parallel arcs (rare): re-sort only their groups by weight, fastest first
        grp = np.cumsum(first) - 1
        dup_grp = np.zeros(int(grp[-1]) + 1, dtype=bool)
        dup_grp[grp[~first]] = True
        sel = np.flatnonzero(dup_grp[grp])
        sub = order[sel]
        order[sel] = sub[np.lexsort((weights[sub], key[sub]))]
    order = order[first]
    tails, heads, weights, arc_edge = tails[order], heads[order], weights[order], arc_edge[order]
    indptr = np.zeros(n_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(tails, minlength=n_nodes), out=indptr[1:])
    return indptr, heads, weights, arc_edge


def strong_components(indptr: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Strongly connected component of each node, 0 the largest (int32)."""
    n = len(indptr) - 1
    if n == 0:
        return np.zeros(0, dtype=np.int32)
    m = csr_matrix((np.ones(len(indices), dtype=np.int8), indices, indptr), shape=(n, n))
    _, labels = connected_components(m, directed=True, connection="strong")
    sizes = np.bincount(labels)
    rank = np.empty(len(sizes), dtype=np.int32)
    rank[np.argsort(-sizes, kind="stable")] = np.arange(len(sizes), dtype=np.int32)
    return rank[labels]


def graph_nodes(edges, usable: np.ndarray) -> np.ndarray:
    """Rows of ``edges.nodes`` that end at least one usable edge (sorted)."""
    mask = np.zeros(len(edges.nodes), dtype=bool)
    mask[edges.u_idx[usable]] = True
    mask[edges.v_idx[usable]] = True
    return np.flatnonzero(mask)


def build_graph(edges, mode: TravelMode, crs) -> Graph:
    """The forward graph of one travel mode.

    Parameters
    ----------
    edges : Edges
        Road network from :func:`access.network.osm.read_network`.
    mode : TravelMode
        Usable classes and speeds (km/h), one-way and maxspeed rules. The
        mode's ``penalty_min`` is *not* added to arcs (routing adds it once
        per trip).
    crs : pyproj CRS or anything ``CRS.from_user_input`` accepts
        Projected study CRS (metres) for ``node_xy``.

    Returns
    -------
    Graph
        Nodes are the road-network nodes that end a usable edge, in
        ``node_id`` order; arc weights in seconds; ``arc_edge`` is the edge
        row of each arc; ``component`` labels strongly connected components
        (0 the largest).
    """
    from pyproj import CRS

    crs = CRS.from_user_input(crs)
    if crs.is_geographic:
        raise InputError(f"study CRS {crs.name} is in degrees; give a projected CRS in metres "
                         "(e.g. the UTM zone of the study area).")
    usable, t_fwd, t_bwd = edge_times(edges, mode)
    keep_nodes = graph_nodes(edges, usable)
    remap = np.full(len(edges.nodes), -1, dtype=np.int64)
    remap[keep_nodes] = np.arange(len(keep_nodes))
    n = len(keep_nodes)
    rows = np.flatnonzero(usable)
    a, b = remap[edges.u_idx[rows]], remap[edges.v_idx[rows]]
    tails = np.concatenate([a, b])
    heads = np.concatenate([b, a])
    w = np.concatenate([t_fwd[rows], t_bwd[rows]])
    ae = np.concatenate([rows, rows])
    indptr, indices, weights, arc_edge = csr_from_arcs(n, tails, heads, w, ae)
    node_xy_all, _ = edges.projected(crs)
    g = Graph(
        mode=mode.name,
        indptr=indptr,
        indices=indices,
        weights=weights,
        arc_edge=arc_edge,
        node_xy=node_xy_all[keep_nodes],
        node_id=edges.nodes["node_id"].to_numpy()[keep_nodes].astype(np.int64),
    )
    g.component = strong_components(indptr, indices)
    return g


def reverse(graph: Graph) -> Graph:
    """The transposed graph (every arc turned round), for routing to destinations."""
    n = graph.n_nodes
    tails = np.repeat(np.arange(n, dtype=np.int64), np.diff(graph.indptr))
    heads = np.asarray(graph.indices, dtype=np.int64)
    order = np.lexsort((tails, heads))
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(heads, minlength=n), out=indptr[1:])
    return Graph(
        mode=graph.mode,
        indptr=indptr,
        indices=tails[order],
        weights=np.asarray(graph.weights)[order],
        arc_edge=np.asarray(graph.arc_edge)[order],
        node_xy=graph.node_xy,
        node_id=graph.node_id,
        component=graph.component,
        kept=graph.kept,
    )

