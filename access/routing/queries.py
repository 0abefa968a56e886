"""Travel times between snapped points (cells, facilities) on a road graph.

Travel always goes *from* a cell (origin) *to* a facility (destination), so
most queries search the reverse graph outward from the facilities. A point
joins the network through the two end nodes of its snapped edge
(:class:`access.network.snap.Snap`); two points on the same edge may also
travel directly along it without reaching a node. Every time returned is
exact: equal to a shortest path on the graph with the points inserted as
nodes that split their edges.

A trip ``penalty_s`` (parking, waiting) is added once to every finite time,
and ``limit_s`` applies to the total including the penalty.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator

import numpy as np
import pandas as pd
from numba import njit

from access.errors import InputError
from access.network.graph import Graph
from access.network.snap import Snap
from access.routing import dijkstra as _k

__all__ = [
    "graph_from_arcs",
    "reverse_graph",
    "nearest",
    "catchments",
    "catchment_blocks",
    "od_table",
    "node_catchments",
]


# --------------------------------------------------------------------------
# Graph helpers
# --------------------------------------------------------------------------
def graph_from_arcs(n_nodes: int, tails, heads, weights, arc_edge=None, node_xy=None,
                    mode: str = "walk") -> Graph:
    """Build a CSR :class:`Graph` from arc arrays.

    Parameters
    ----------
    n_nodes : int
        Number of nodes; nodes are ``0 .. n_nodes-1``.
    tails, heads : array-like of int, shape (m,)
        Arc start and end nodes.
    weights : array-like of float, shape (m,)
        Arc travel times, seconds (finite, >= 0).
    arc_edge : array-like of int, shape (m,), optional
        Edge row each arc comes from (needed to join two points snapped to
        the same edge directly); default -1 (unknown).
    node_xy : array-like, shape (n_nodes, 2), optional
        Node coordinates, metres; default zeros.
    mode : str
        Travel-mode name.

    Returns
    -------
    Graph
    """
    tails = _int_array(tails)
    heads = _int_array(heads)
    weights = np.asarray(weights, dtype=np.float64)
    m = len(tails)
    if len(heads) != m or len(weights) != m:
        raise InputError([f"arcs: tails ({m}), heads ({len(heads)}) and weights "
                          f"({len(weights)}) must have the same length."])
    if arc_edge is None:
        arc_edge = np.empty(0, dtype=np.int64)  # the kernel fills -1
    else:
        arc_edge = np.asarray(arc_edge, dtype=np.int64)
        if len(arc_edge) != m:
            raise InputError([f"arcs: arc_edge has {len(arc_edge)} rows for {m} arcs."])
    # One compiled pass validates and counts, a second scatters; int32 heads
    # when they fit (less memory traffic in every search).
    ok, indptr, indices, w, ae = _k.csr_build_checked(
        int(n_nodes), tails, heads, weights, arc_edge,
        np.empty(0, dtype=_index_dtype(n_nodes)))
    if not ok:
        _arc_problems(n_nodes, tails, heads, weights)
    return Graph(
        mode=mode,
        indptr=indptr,
        indices=indices,
        weights=w,
        arc_edge=ae,
        node_xy=(np.zeros((n_nodes, 2)) if node_xy is None
                 else np.asarray(node_xy, dtype=np.float64)),
        node_id=np.arange(n_nodes, dtype=np.int64),
        component=None,
    )


def _index_dtype(n_nodes: int):
    return np.int32 if n_nodes < 2**31 - 1 else np.int64


def _int_array(a) -> np.ndarray:
    """``a`` as an int32/int64 array, without a copy when it already is one."""
    a = np.asarray(a)
    if a.dtype == np.int64 or a.dtype == np.int32:
        return a
    return a.astype(np.int64)


def _arc_problems(n_nodes: int, tails, heads, weights) -> None:
    """Raise the detailed :class:`InputError` for bad arcs (slow path only)."""
    problems = []
    for name, a in (("tails", tails), ("heads", heads)):
        bad = np.flatnonzero((a < 0) | (a >= n_nodes))
        if len(bad):
            problems.append(f"arcs: {name}[{bad[0]}] = {a[bad[0]]} is not a node in "
                            f"0..{n_nodes - 1} ({len(bad)} such arcs); fix the arc table.")
    bad = np.flatnonzero(~(weights >= 0) | ~np.isfinite(weights))
    if len(bad):
        problems.append(f"arcs: weights[{bad[0]}] = {weights[bad[0]]} is not a finite "
                        f"number of seconds >= 0 ({len(bad)} such arcs); drop or fix "
                        "those arcs.")
    raise InputError(problems or ["arcs: invalid arc table."])


def reverse_graph(graph: Graph) -> Graph:
    """The transpose of ``graph``: every arc ``u -> v`` becomes ``v -> u``.

    Searching the reverse graph from a facility gives, for each node, the
    time to travel *from* that node *to* the facility.
    """
    arc_edge = (np.asarray(graph.arc_edge, np.int64) if graph.arc_edge is not None
                else np.empty(0, dtype=np.int64))
    indptr, indices, w, ae = _k.csr_transpose(np.asarray(graph.indptr, np.int64),
                                              graph.indices,
                                              np.asarray(graph.weights, np.float64), arc_edge,
                                              np.empty(0, _index_dtype(graph.n_nodes)))
    return Graph(mode=graph.mode, indptr=indptr, indices=indices, weights=w, arc_edge=ae,
                 node_xy=graph.node_xy, node_id=graph.node_id, component=graph.component)


def _check_graph(graph: Graph) -> None:
    problems = []
    n = graph.n_nodes
    if graph.indptr[0] != 0 or graph.indptr[-1] != graph.n_arcs or np.any(np.diff(graph.indptr) < 0):
        problems.append(f"graph '{graph.mode}': indptr is not a valid CSR pointer array "
                        "(must start at 0, never decrease and end at the number of arcs); "
                        "rebuild the graph with graph_from_arcs.")
    w = graph.weights
    if len(w) != graph.n_arcs:
        problems.append(f"graph '{graph.mode}': {len(w)} weights for {graph.n_arcs} arcs; "
                        "rebuild the graph.")
    elif len(w) and not (np.min(w) >= 0 and np.isfinite(np.max(w))):
        j = int(np.flatnonzero(~(w >= 0) | ~np.isfinite(w))[0])
        problems.append(f"graph '{graph.mode}': arc {j} has travel time {w[j]} s; times "
                        "must be finite and >= 0 (check the edge speeds of this mode).")
    if graph.n_arcs and (np.min(graph.indices) < 0 or np.max(graph.indices) >= n):
        problems.append(f"graph '{graph.mode}': arc head outside 0..{n - 1}; rebuild the graph.")
    if problems:
        raise InputError(problems)


def _check_snap(snap: Snap, graph: Graph, name: str) -> None:
    problems = []
    n = len(snap)
    for f in Snap.__dataclass_fields__:
        if len(getattr(snap, f)) != n:
            problems.append(f"{name}: field '{f}' has {len(getattr(snap, f))} rows, "
                            f"node_a has {n}; rebuild the Snap.")
    if problems:
        raise InputError(problems)
    ok = np.asarray(snap.ok, dtype=bool)
    for f in ("node_a", "node_b"):
        a = np.asarray(getattr(snap, f))
        bad = np.flatnonzero(ok & ((a < 0) | (a >= graph.n_nodes)))
        if len(bad):
            problems.append(f"{name}: row {bad[0]} has {f} = {a[bad[0]]}, not a node of graph "
                            f"'{graph.mode}' (0..{graph.n_nodes - 1}); snap the points to "
                            "this graph.")
    for f in ("to_a", "to_b", "from_a", "from_b"):
        a = np.asarray(getattr(snap, f), dtype=np.float64)
        bad = np.flatnonzero(ok & (np.isnan(a) | (a < 0)))
        if len(bad):
            problems.append(f"{name}: row {bad[0]} has {f} = {a[bad[0]]}; snapped times must "
                            "be seconds >= 0 or inf; re-snap the points.")
    if problems:
        raise InputError(problems)


def _budget(graph: Graph, limit_s, penalty_s, **points: Snap) -> tuple[float, float]:
    """Checked inputs of a point query: (seconds left for the road after the penalty, penalty)."""
    limit_s, penalty_s = _check_times(limit_s, penalty_s)
    _check_graph(graph)
    for name, snap in points.items():
        _check_snap(snap, graph, name)
    return limit_s - penalty_s, penalty_s


def _check_times(limit_s, penalty_s) -> tuple[float, float]:
    problems = []
    if not isinstance(limit_s, numbers.Real) or np.isnan(limit_s) or limit_s < 0:
        problems.append(f"limit_s = {limit_s!r}: give a number of seconds >= 0 (np.inf for "
                        "no limit).")
    if not isinstance(penalty_s, numbers.Real) or not np.isfinite(penalty_s) or penalty_s < 0:
        problems.append(f"penalty_s = {penalty_s!r}: give a finite number of seconds >= 0.")
    if problems:
        raise InputError(problems)
    return float(limit_s), float(penalty_s)


# --------------------------------------------------------------------------
# Seeds and entries
# --------------------------------------------------------------------------
def _seeds(snap: Snap, cost_a, cost_b):
    """Per-point seeds (node, cost) in CSR form; skips not-ok and inf legs."""
    n = len(snap)
    nodes = np.stack([np.asarray(snap.node_a, np.int64), np.asarray(snap.node_b, np.int64)], 1)
    costs = np.stack([np.asarray(cost_a, np.float64), np.asarray(cost_b, np.float64)], 1)
    use = np.asarray(snap.ok, bool)[:, None] & np.isfinite(costs)
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(use.sum(1), out=ptr[1:])
    return ptr, nodes[use], costs[use]


def _graph_arrays(g: Graph):
    return g.indptr, g.indices, g.weights


# --------------------------------------------------------------------------
# Same-edge pairs
# --------------------------------------------------------------------------
@njit(cache=True, nogil=True, inline="always")
def _arc_time(indptr, indices, weights, arc_edge, u, v, e):
    """Weight of arc ``u -> v`` belonging to edge ``e``.

    Arcs whose edge is unknown (-1) match any edge; the smallest weight wins;
    inf where no such arc exists (the direction is not allowed).
    """
    out = np.inf
    for j in range(indptr[u], indptr[u + 1]):
        if indices[j] == v and (arc_edge[j] == e or arc_edge[j] < 0) and weights[j] < out:
            out = weights[j]
    return out


@njit(cache=True)
def _arc_times(indptr, indices, weights, arc_edge, tails, heads, edges):
    """:func:`_arc_time` of every ``tails[i] -> heads[i]`` on edge ``edges[i]``."""
    out = np.empty(len(tails))
    for i in range(len(tails)):
        out[i] = _arc_time(indptr, indices, weights, arc_edge, tails[i], heads[i], edges[i])
    return out


def _same_edge_runs(org: Snap, dst: Snap):
    """Origins with destinations on their edge: (origins, first, count, destinations sorted by edge)."""
    o_ok = np.flatnonzero(np.asarray(org.ok, bool) & (np.asarray(org.edge) >= 0))
    d_ok = np.flatnonzero(np.asarray(dst.ok, bool) & (np.asarray(dst.edge) >= 0))
    d_edge = np.asarray(dst.edge)[d_ok]
    order = np.argsort(d_edge, kind="stable")
    d_sorted, d_edge = d_ok[order], d_edge[order]
    o_edge = np.asarray(org.edge)[o_ok]
    lo = np.searchsorted(d_edge, o_edge, "left")
    cnt = np.searchsorted(d_edge, o_edge, "right") - lo
    has = cnt > 0
    return o_ok[has].astype(np.int64), lo[has].astype(np.int64), cnt[has].astype(np.int64), d_sorted.astype(np.int64)


@njit(cache=True, nogil=True)
def _same_edge_min(origins, first, count, d_sorted, o_a, o_b, o_edge, o_pos, o_to_a, o_to_b,
                   d_a, d_b, d_pos, d_from_a, d_from_b, indptr, indices, weights, arc_edge, best, lab):
    """Fold each origin's fastest same-edge destination (ties: lowest row) into ``best``/``lab``."""
    for k in range(len(origins)):
        c = origins[k]
        a, b, e = o_a[c], o_b[c], o_edge[c]
        t_ab = _arc_time(indptr, indices, weights, arc_edge, a, b, e)
        t_ba = _arc_time(indptr, indices, weights, arc_edge, b, a, e)
        for j in range(first[k], first[k] + count[k]):
            f = d_sorted[j]
            if d_a[f] != a or d_b[f] != b:
                continue
            t = _direct_time(o_pos[c], o_to_a[c], o_to_b[c], d_pos[f], d_from_a[f], d_from_b[f], t_ab, t_ba)
            if t < best[c] or (t == best[c] and t < np.inf and f < lab[c]):
                best[c] = t
                lab[c] = f


def _same_edge_pairs(graph: Graph, org: Snap, dst: Snap):
    """Direct along-edge times for origin/destination pairs on the same edge.

    For an origin at ``p`` and a destination at ``q >= p`` on edge a-b, the
    direct trip is ``off_o + (q - p) * t_ab + off_d``; since
    ``to_b(o) = off_o + (1 - p) t_ab`` and ``from_a(d) = q t_ab + off_d`` this
    equals ``to_b(o) + from_a(d) - t_ab`` with ``t_ab`` the arc time of the
    edge. Symmetrically ``to_a(o) + from_b(d) - t_ba`` when ``q <= p``.

    Returns
    -------
    o, d : ndarray of int64
    t : ndarray of float64 (finite only)
    """
    # no early return when nothing shares an edge: the kernels below then still compile on the
    # first run, so which kernels a run compiles does not depend on where its points lie
    o_ok, lo, cnt, d_sorted = _same_edge_runs(org, dst)
    o = np.repeat(o_ok, cnt)
    # Position of each pair within its origin's run of destinations.
    start = np.repeat(lo - np.concatenate([[0], np.cumsum(cnt)[:-1]]).astype(np.int64), cnt)
    d = d_sorted[start + np.arange(len(o))]
    a = np.asarray(org.node_a, np.int64)[o]
    b = np.asarray(org.node_b, np.int64)[o]
    same = (np.asarray(dst.node_a)[d] == a) & (np.asarray(dst.node_b)[d] == b)
    o, d, a, b = o[same], d[same], a[same], b[same]
    e = np.asarray(org.edge, np.int64)[o]
    arc_edge = (graph.arc_edge if graph.arc_edge is not None
                else np.full(graph.n_arcs, -1, np.int64))
    t_ab = _arc_times(graph.indptr, graph.indices, graph.weights, arc_edge, a, b, e)
    t_ba = _arc_times(graph.indptr, graph.indices, graph.weights, arc_edge, b, a, e)
    t = _direct_times(np.asarray(org.pos, np.float64)[o], np.asarray(org.to_a, np.float64)[o],
                      np.asarray(org.to_b, np.float64)[o], np.asarray(dst.pos, np.float64)[d],
                      np.asarray(dst.from_a, np.float64)[d], np.asarray(dst.from_b, np.float64)[d], t_ab, t_ba)
    keep = np.isfinite(t)
    return o[keep], d[keep], t[keep]


@njit(cache=True, nogil=True, inline="always")
def _direct_time(p, to_a, to_b, q, from_a, from_b, t_ab, t_ba):
    """Seconds along one edge from an origin at ``p`` to a destination at ``q``
    (see :func:`_same_edge_pairs`); inf when the edge's direction forbids it."""
    fwd = np.inf
    if q >= p:
        fwd = to_b + from_a - t_ab
        if np.isnan(fwd):  # inf - inf: that direction is not allowed
            fwd = np.inf
    bwd = np.inf
    if q <= p:
        bwd = to_a + from_b - t_ba
        if np.isnan(bwd):
            bwd = np.inf
    return max(min(fwd, bwd), 0.0)  # 0 guards against -1e-13 from the subtraction


@njit(cache=True, nogil=True)
def _direct_times(p, to_a, to_b, q, from_a, from_b, t_ab, t_ba):
    out = np.empty(len(p))
    for i in range(len(p)):
        out[i] = _direct_time(p[i], to_a[i], to_b[i], q[i], from_a[i], from_b[i], t_ab[i], t_ba[i])
    return out


# --------------------------------------------------------------------------
# Public queries
# --------------------------------------------------------------------------
def nearest(graph: Graph, cells: Snap, facilities: Snap, limit_s: float = np.inf,
            penalty_s: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Travel time from each cell to its nearest facility.

    Parameters
    ----------
    graph : Graph
        Forward graph of one travel mode (weights in seconds).
    cells : Snap
        Origins (population cells) snapped to ``graph``.
    facilities : Snap
        Destinations snapped to ``graph``.
    limit_s : float
        Largest total time of interest, seconds (penalty included).
    penalty_s : float
        Fixed seconds added once per trip (parking, waiting).

    Returns
    -------
    seconds : ndarray of float64, shape (n_cells,)
        Total travel time to the nearest facility; ``inf`` for cells that are
        not snapped, cannot reach any facility or exceed ``limit_s``.
    facility : ndarray of int64, shape (n_cells,)
        Row of that facility in ``facilities`` (ties: lowest row), or -1.
    """
    budget, penalty_s = _budget(graph, limit_s, penalty_s, cells=cells, facilities=facilities)
    n_c = len(cells)
    best = np.full(n_c, np.inf)
    lab = np.full(n_c, -1, dtype=np.int64)
    if budget < 0 or n_c == 0 or len(facilities) == 0:
        return best, lab
    rg = reverse_graph(graph)
    ptr, s_nodes, s_costs = _seeds(facilities, facilities.from_a, facilities.from_b)
    s_labels = np.repeat(np.arange(len(facilities), dtype=np.int64), np.diff(ptr))
    dist, label = _k.multi_source_nearest(*_graph_arrays(rg), s_nodes, s_costs, s_labels,
                                          budget)
    ok = np.asarray(cells.ok, bool)
    for node, leg in ((cells.node_a, cells.to_a), (cells.node_b, cells.to_b)):
        node = np.where(ok, np.asarray(node, np.int64), 0)
        t = np.where(ok, np.asarray(leg, np.float64) + dist[node], np.inf)
        f = label[node]
        better = (t < best) | ((t == best) & (f < lab) & np.isfinite(t))
        best = np.where(better, t, best)
        lab = np.where(better, f, lab)
    # a direct trip along a shared edge can beat the route through its end nodes; folded in per cell
    # without listing the pairs (a hundred thousand facilities share the edges of a few thousand cells)
    origins, first, count, d_sorted = _same_edge_runs(cells, facilities)
    arc_edge = (graph.arc_edge if graph.arc_edge is not None else np.full(graph.n_arcs, -1, np.int64))

    def arr(x, dtype):
        return np.ascontiguousarray(np.asarray(x), dtype=dtype)

    _same_edge_min(origins, first, count, d_sorted, arr(cells.node_a, np.int64), arr(cells.node_b, np.int64),
                   arr(cells.edge, np.int64), arr(cells.pos, np.float64), arr(cells.to_a, np.float64),
                   arr(cells.to_b, np.float64), arr(facilities.node_a, np.int64),
                   arr(facilities.node_b, np.int64), arr(facilities.pos, np.float64),
                   arr(facilities.from_a, np.float64), arr(facilities.from_b, np.float64),
                   graph.indptr, graph.indices, graph.weights, arr(arc_edge, np.int64), best, lab)
    out = ~(best <= budget)
    best = best + penalty_s
    best[out] = np.inf
    lab[out] = -1
    return best, lab


@njit(cache=True)
def _join_min(src, node, cost, ent_ptr, ent_pt, ent_cost, n_pts, budget):
    """Expand (source, node, t) rows to (source, point, t + leg), min per pair.

    Rows must be grouped by source. Uses per-point stamps so each source
    costs only its own rows.
    """
    total = 0
    for r in range(len(node)):
        total += ent_ptr[node[r] + 1] - ent_ptr[node[r]]
    out_s = np.empty(total, np.int64)
    out_p = np.empty(total, np.int64)
    out_c = np.empty(total, np.float64)
    stamp = np.full(n_pts, -1, np.int64)
    slot = np.empty(n_pts, np.int64)
    k = 0
    for r in range(len(node)):
        s = src[r]
        v = node[r]
        for e in range(ent_ptr[v], ent_ptr[v + 1]):
            t = cost[r] + ent_cost[e]
            if not (t <= budget):
                continue
            p = ent_pt[e]
            if stamp[p] != s:
                stamp[p] = s
                slot[p] = k
                out_s[k] = s
                out_p[k] = p
                out_c[k] = t
                k += 1
            elif t < out_c[slot[p]]:
                out_c[slot[p]] = t
    return out_s[:k], out_p[:k], out_c[:k]


def _point_join(graph: Graph, seeds_snap: Snap, seed_a, seed_b, join_snap: Snap, leg_a, leg_b,
                budget: float, search_graph: Graph, n_threads: int | None, join_index=None):
    """Sparse (seed point, join point, seconds) within ``budget``, exact.

    ``join_index`` is :func:`_join_index` of the join points, computed once
    when the same points are joined block after block.
    """
    ptr, s_nodes, s_costs = _seeds(seeds_snap, seed_a, seed_b)
    s, v, t = _k.bounded_catchments(*_graph_arrays(search_graph), ptr, s_nodes, s_costs,
                                    budget, n_threads=n_threads)
    node_ptr, ent_pt, ent_cost = join_index or _join_index(graph, join_snap, leg_a, leg_b)
    return _join_min(s, v, t, node_ptr, ent_pt, ent_cost, len(join_snap), budget)


def _join_index(graph: Graph, join_snap: Snap, leg_a, leg_b):
    """Node -> join points in CSR form (each point enters through up to two nodes)."""
    e_ptr, e_nodes, e_cost = _seeds(join_snap, leg_a, leg_b)
    e_pt = np.repeat(np.arange(len(join_snap), dtype=np.int64), np.diff(e_ptr))
    node_ptr, order = _k.csr_from_arcs(graph.n_nodes, e_nodes, e_pt)
    return node_ptr, e_pt[order], e_cost[order]


def _long_table(a, b, t, direct, names, budget, penalty_s, swap=False):
    """Merge node-route and same-edge pairs, min per pair, sorted, penalty added."""
    do, dd, dt = direct
    if swap:
        do, dd = dd, do
    keep = dt <= budget
    if keep.any():
        a = np.concatenate([a, do[keep]])
        b = np.concatenate([b, dd[keep]])
        t = np.concatenate([t, dt[keep]])
        order = np.lexsort((t, b, a))
        a, b, t = a[order], b[order], t[order]
        first = np.r_[True, (a[1:] != a[:-1]) | (b[1:] != b[:-1])]
        a, b, t = a[first], b[first], t[first]
    else:
        order = np.lexsort((b, a))
        a, b, t = a[order], b[order], t[order]
    return pd.DataFrame({names[0]: a.astype(np.int64), names[1]: b.astype(np.int64),
                         "seconds": t + penalty_s})


def catchments(graph: Graph, facilities: Snap, cells: Snap, limit_s: float,
               penalty_s: float = 0.0, n_threads: int | None = None) -> pd.DataFrame:
    """Every (facility, cell) pair whose cell-to-facility time is within the limit.

    Runs one bounded search per facility on the reverse graph, touching only
    the nodes within reach, then joins nodes to cells; memory is proportional
    to the number of pairs found, never facilities x nodes.

    Parameters
    ----------
    graph : Graph
        Forward graph (seconds).
    facilities, cells : Snap
        Snapped facilities (destinations) and cells (origins).
    limit_s : float
        Largest total time, seconds (penalty included), e.g. 900 for 15 min.
    penalty_s : float
        Fixed seconds added once per trip.
    n_threads : int, optional
        Threads for the searches (default: all cores).

    Returns
    -------
    pandas.DataFrame
        Columns ``facility`` (int64, row in ``facilities``), ``cell`` (int64,
        row in ``cells``), ``seconds`` (float64, total time); sorted by
        facility then cell.
    """
    budget, penalty_s = _budget(graph, limit_s, penalty_s, facilities=facilities, cells=cells)
    if budget < 0 or not len(cells) or not len(facilities):
        return _empty(("facility", "cell"))
    rg = reverse_graph(graph)
    f, c, t = _point_join(graph, facilities, facilities.from_a, facilities.from_b,
                          cells, cells.to_a, cells.to_b, budget, rg, n_threads)
    direct = _same_edge_pairs(graph, cells, facilities)  # (cell, facility, t)
    return _long_table(f, c, t, direct, ("facility", "cell"), budget, penalty_s, swap=True)


def catchment_blocks(graph: Graph, facilities: Snap, cells: Snap, limit_s: float,
                     penalty_s: float = 0.0, block_pairs: int = 4_000_000,
                     n_threads: int | None = None) -> Iterator[tuple[np.ndarray, pd.DataFrame]]:
    """:func:`catchments` of successive blocks of facilities, one block in memory at a time.

    Every facility's whole catchment is in its block, so per-facility sums
    (the first step of a floating catchment) are complete within a block and
    a study with hundreds of thousands of facilities needs memory for one
    block's pairs only.

    Parameters
    ----------
    graph, facilities, cells, limit_s, penalty_s, n_threads
        As :func:`catchments`.
    block_pairs : int
        Pairs aimed at per block; the number of facilities per block is set
        from the pairs per facility seen so far.

    Yields
    ------
    rows : ndarray of int64
        Rows of ``facilities`` in this block, increasing.
    table : DataFrame
        As :func:`catchments` with ``facility`` numbered within ``rows``.
    """
    budget, penalty_s = _budget(graph, limit_s, penalty_s, facilities=facilities, cells=cells)
    n = len(facilities)
    if budget < 0 or not len(cells) or not n:
        if n:
            yield np.arange(n, dtype=np.int64), _empty(("facility", "cell"))
        return
    rg = reverse_graph(graph)
    join = _join_index(graph, cells, cells.to_a, cells.to_b)
    start, size = 0, 256  # a small first block measures the pairs per facility
    while start < n:
        rows = np.arange(start, min(n, start + size), dtype=np.int64)
        sub = facilities.subset(rows)
        f, c, t = _point_join(graph, sub, sub.from_a, sub.from_b, cells, cells.to_a, cells.to_b,
                              budget, rg, n_threads, join_index=join)
        direct = _same_edge_pairs(graph, cells, sub)
        table = _long_table(f, c, t, direct, ("facility", "cell"), budget, penalty_s, swap=True)
        yield rows, table
        start += len(rows)
        per_facility = max(1.0, len(table) / len(rows))
        size = int(min(max(64, block_pairs / per_facility), 1 << 20))


def _empty(names) -> pd.DataFrame:
    return pd.DataFrame({names[0]: np.empty(0, np.int64), names[1]: np.empty(0, np.int64),
                         "seconds": np.empty(0, np.float64)})


def od_table(graph: Graph, origins: Snap, destinations: Snap, limit_s: float = np.inf,
             penalty_s: float = 0.0, n_threads: int | None = None) -> pd.DataFrame:
    """Origin-destination travel times in long form.

    Searches from the smaller side (forward from origins or backward from
    destinations), each search stopping once all the other side's nodes are
    settled. Holds a dense ``min(n_o, n_d) x 2 max(n_o, n_d)`` array while
    working: for large sparse problems use :func:`catchments`.

    Parameters
    ----------
    graph : Graph
        Forward graph (seconds).
    origins, destinations : Snap
    limit_s, penalty_s : float
        Seconds, as in :func:`nearest`.

    Returns
    -------
    pandas.DataFrame
        Columns ``origin``, ``destination`` (int64 rows of the inputs) and
        ``seconds`` (float64). Only pairs reachable within ``limit_s`` are
        listed (unreachable pairs are absent, not inf); sorted by origin then
        destination.
    """
    budget, penalty_s = _budget(graph, limit_s, penalty_s, origins=origins, destinations=destinations)
    names = ("origin", "destination")
    if budget < 0 or not len(origins) or not len(destinations):
        return _empty(names)
    forward = len(origins) <= len(destinations)
    if forward:
        src, src_a, src_b, g = origins, origins.to_a, origins.to_b, graph
        tgt, tgt_a, tgt_b = destinations, destinations.from_a, destinations.from_b
    else:
        src, src_a, src_b, g = destinations, destinations.from_a, destinations.from_b, \
            reverse_graph(graph)
        tgt, tgt_a, tgt_b = origins, origins.to_a, origins.to_b
    ptr, s_nodes, s_costs = _seeds(src, src_a, src_b)
    ok = np.asarray(tgt.ok, bool)
    ta = np.where(ok, np.asarray(tgt.node_a, np.int64), 0)
    tb = np.where(ok, np.asarray(tgt.node_b, np.int64), 0)
    dist = _k.one_to_many(*_graph_arrays(g), ptr, s_nodes, s_costs, np.concatenate([ta, tb]),
                          budget, n_threads=n_threads)
    nt = len(tgt)
    with np.errstate(invalid="ignore"):
        legs_a = np.where(ok, np.asarray(tgt_a, np.float64), np.inf)
        legs_b = np.where(ok, np.asarray(tgt_b, np.float64), np.inf)
        T = np.minimum(dist[:, :nt] + legs_a, dist[:, nt:] + legs_b)
    T[~np.asarray(src.ok, bool)] = np.inf
    i, j = np.nonzero((T <= budget) & np.isfinite(T))
    t = T[i, j]
    a, b = (i, j) if forward else (j, i)
    direct = _same_edge_pairs(graph, origins, destinations)
    return _long_table(a.astype(np.int64), b.astype(np.int64), t, direct, names, budget,
                       penalty_s)


def node_catchments(graph: Graph, sources, limit_s: float, penalty_s: float = 0.0,
                    direction: str = "to", n_threads: int | None = None) -> pd.DataFrame:
    """Node-level service areas: every (source, node) pair within the limit.

    Parameters
    ----------
    graph : Graph
        Forward graph (seconds).
    sources : Snap or array-like of int
        Snapped points (e.g. facilities) or plain node indices.
    limit_s : float
        Largest total time, seconds (penalty included).
    penalty_s : float
        Fixed seconds added once per trip.
    direction : {"to", "from"}
        ``"to"``: seconds to travel from the node *to* the source (the
        service area of a facility); ``"from"``: from the source to the node.
    n_threads : int, optional

    Returns
    -------
    pandas.DataFrame
        Columns ``source`` (int64, row/position in ``sources``), ``node``
        (int64) and ``seconds`` (float64, penalty included); grouped by source
        and ordered by increasing time within each source.
    """
    limit_s, penalty_s = _check_times(limit_s, penalty_s)
    if direction not in ("to", "from"):
        raise InputError(f"direction = {direction!r}: use 'to' (node to source) or 'from' "
                         "(source to node).")
    _check_graph(graph)
    budget = limit_s - penalty_s
    if isinstance(sources, Snap):
        _check_snap(sources, graph, "sources")
        a, b = ((sources.from_a, sources.from_b) if direction == "to"
                else (sources.to_a, sources.to_b))
        ptr, s_nodes, s_costs = _seeds(sources, a, b)
    else:
        s_nodes = np.asarray(sources, dtype=np.int64).ravel()
        bad = np.flatnonzero((s_nodes < 0) | (s_nodes >= graph.n_nodes))
        if len(bad):
            raise InputError(f"sources: position {bad[0]} is node {s_nodes[bad[0]]}, not in "
                             f"0..{graph.n_nodes - 1}; pass node indices of this graph.")
        ptr = np.arange(len(s_nodes) + 1, dtype=np.int64)
        s_costs = np.zeros(len(s_nodes))
    if budget < 0:
        return pd.DataFrame({"source": np.empty(0, np.int64), "node": np.empty(0, np.int64),
                             "seconds": np.empty(0, np.float64)})
    g = reverse_graph(graph) if direction == "to" else graph
    s, v, t = _k.bounded_catchments(*_graph_arrays(g), ptr, s_nodes, s_costs, budget,
                                    n_threads=n_threads)
    return pd.DataFrame({"source": s, "node": v, "seconds": t + penalty_s})
