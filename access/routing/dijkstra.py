"""Node-level shortest-path kernels (numba).

All kernels work on a CSR graph (``indptr``, ``indices``, ``weights`` as in
:class:`access.network.graph.Graph`; weights are seconds, >= 0) and take
*seeds*: nodes with an initial cost in seconds, so that a point snapped part
way along an edge can start from both end nodes at once.

The priority queue is a 4-ary heap with lazy deletion, written here. The
bounded searches reset only the nodes they touched, so one search costs time
proportional to the part of the graph within the limit, never ``O(n)``.

The all-node search (:func:`multi_source_nearest`) on a large graph is bound by
memory latency, not by arithmetic: thousands of search fronts advance at once,
so nearly every node it settles is a cache miss. It therefore software-
prefetches the CSR rows and distance slots of the nodes next in the heap
(root and its children) while relaxing the current node; this changes no
result, only when the memory is fetched. No ``fastmath`` anywhere: results are
bit-for-bit those of a textbook Dijkstra.

These functions do no input checking: the wrappers in
:mod:`access.routing.queries` validate first.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

_INF = np.inf
_LOW32 = np.int64(0xFFFFFFFF)


@intrinsic
def _prefetch(typingctx, arr, idx):
    """Hint the CPU to fetch ``arr[idx]`` into cache (no effect on results).

    Emits ``llvm.prefetch`` (read, high locality); ``idx`` must be in bounds.
    """
    if not isinstance(arr, types.Array) or not isinstance(idx, types.Integer):
        return None
    sig = types.void(arr, idx)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]],
                                       wraparound=False, boundscheck=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
        # rw = 0 (read), locality = 3 (keep in all levels), cache type = 1 (data)
        builder.call(fn, [builder.bitcast(ptr, i8p), ir.Constant(i32, 0), ir.Constant(i32, 3),
                          ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen


# --------------------------------------------------------------------------
# 4-ary min-heap with lazy deletion. Key and node sit side by side in one
# float64 buffer (``hp[2i]`` key, ``hp[2i+1]`` node, exact below 2**53) so a
# sift touches one cache line per level; a node whose cost improves is pushed
# again and stale entries are skipped when popped. On a 1M-node road graph
# this beats an indexed binary heap with decrease-key by about 30 %.
# --------------------------------------------------------------------------
@njit(cache=True, nogil=True, inline="always")
def _push(hp, size, key, node):
    """Insert (key, node); the caller makes sure ``hp`` has room."""
    i = size
    while i > 0:
        p = (i - 1) >> 2
        if hp[2 * p] <= key:
            break
        hp[2 * i] = hp[2 * p]
        hp[2 * i + 1] = hp[2 * p + 1]
        i = p
    hp[2 * i] = key
    hp[2 * i + 1] = node


@njit(cache=True, nogil=True, inline="always")
def _drop_root(hp, size):
    """Refill the root after removing it; ``size`` is the size after removal."""
    kk = hp[2 * size]
    vv = hp[2 * size + 1]
    i = 0
    while True:
        c = 4 * i + 1
        if c >= size:
            break
        best = c
        bk = hp[2 * c]
        for cc in range(c + 1, min(c + 4, size)):
            if hp[2 * cc] < bk:
                bk = hp[2 * cc]
                best = cc
        if bk >= kk:
            break
        hp[2 * i] = bk
        hp[2 * i + 1] = hp[2 * best + 1]
        i = best
    hp[2 * i] = kk
    hp[2 * i + 1] = vv


@njit(cache=True, nogil=True)
def _grow(hp, size):
    """A copy of heap buffer ``hp`` (``size`` entries) with twice the room.

    Callers test ``2 * size + 2 > len(hp)`` inline and call this only when
    full, so the common push pays no call and no reference counting.
    """
    out = np.empty(2 * len(hp) + 2, dtype=np.float64)
    # a loop, not a slice assignment: the first slice copy in a process costs seconds of compilation
    for i in range(2 * size):
        out[i] = hp[i]
    return out


# --------------------------------------------------------------------------
# CSR construction
# --------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def csr_from_arcs(n, tails, heads):
    """Counting sort of arcs by tail node.

    Parameters
    ----------
    n : int
        Number of nodes.
    tails, heads : ndarray of int
        Arc end nodes, ``0 <= tails, heads < n``.

    Returns
    -------
    indptr : ndarray of int64, shape (n + 1,)
    order : ndarray of int64, shape (n_arcs,)
        Arc permutation: CSR slot ``j`` holds input arc ``order[j]``; arcs of a
        tail keep their input order (stable).
    """
    m = len(tails)
    indptr = np.zeros(n + 1, dtype=np.int64)
    for j in range(m):
        indptr[tails[j] + 1] += 1
    fill = np.empty(n, dtype=np.int64)  # a loop, not a slice copy: quicker to compile
    for u in range(n):
        fill[u] = indptr[u]
        indptr[u + 1] += indptr[u]
    order = np.empty(m, dtype=np.int64)
    for j in range(m):
        u = tails[j]
        order[fill[u]] = j
        fill[u] += 1
    return indptr, order


@njit(cache=True, nogil=True)
def csr_build(n, tails, heads, weights, arc_edge):
    """CSR arrays in one pass: (indptr, indices, weights, arc_edge).

    ``indices`` has the dtype of ``heads`` (int32 halves the memory traffic).

    Same order as :func:`csr_from_arcs`, without materialising the permutation.
    """
    m = len(tails)
    indptr = np.zeros(n + 1, dtype=np.int64)
    for j in range(m):
        indptr[tails[j] + 1] += 1
    for u in range(n):
        indptr[u + 1] += indptr[u]
    fill = indptr[:-1].copy()
    ind = np.empty(m, dtype=heads.dtype)
    w = np.empty(m, dtype=np.float64)
    ae = np.empty(m, dtype=np.int64)
    for j in range(m):
        u = tails[j]
        k = fill[u]
        fill[u] = k + 1
        ind[k] = heads[j]
        w[k] = weights[j]
        ae[k] = arc_edge[j]
    return indptr, ind, w, ae


@njit(cache=True, nogil=True)
def csr_build_checked(n, tails, heads, weights, arc_edge, ind_like):
    """Validate arcs and build the CSR arrays: counting sort, two passes over m.

    Parameters
    ----------
    n : int
        Number of nodes.
    tails, heads : ndarray of any integer dtype, shape (m,)
    weights : ndarray of float64, shape (m,)
    arc_edge : ndarray of int64, shape (m,) or (0,)
        Edge row of each arc; an empty array means "unknown" (-1 for all).
    ind_like : ndarray
        Empty array whose dtype ``indices`` gets (int32 when ``n`` allows).

    Returns
    -------
    ok : bool
        False when some arc has an end outside ``0..n-1`` or a weight that is
        not a finite number >= 0; the other outputs are then empty and the
        caller reports the details.
    indptr : ndarray of int64, shape (n + 1,)
    indices : ndarray (dtype of ``ind_like``), shape (m,)
    weights : ndarray of float64, shape (m,)
    arc_edge : ndarray of int64, shape (m,)
        Arcs grouped by tail in input order (stable), as :func:`csr_build`.
    """
    m = len(tails)
    indptr = np.zeros(n + 1, dtype=np.int64)
    ok = True
    # Pass 1: count arcs per tail and check every value on the way (the
    # branch is never taken on good input, so the checks are nearly free).
    for j in range(m):
        u = tails[j]
        h = heads[j]
        x = weights[j]
        if u < 0 or u >= n or h < 0 or h >= n or not (x >= 0.0) or x == _INF:
            ok = False
            break
        indptr[u + 1] += 1
    if not ok:
        return (False, indptr, np.empty(0, dtype=ind_like.dtype), np.empty(0, np.float64),
                np.empty(0, np.int64))
    for u in range(n):
        indptr[u + 1] += indptr[u]
    fill = indptr[:-1].copy()
    ind = np.empty(m, dtype=ind_like.dtype)
    w = np.empty(m, dtype=np.float64)
    has_ae = len(arc_edge) == m and m > 0
    # Pass 2: scatter each arc to its slot.
    if has_ae:
        ae = np.empty(m, dtype=np.int64)
        for j in range(m):
            u = tails[j]
            k = fill[u]
            fill[u] = k + 1
            ind[k] = heads[j]
            w[k] = weights[j]
            ae[k] = arc_edge[j]
    else:
        ae = np.full(m, -1, dtype=np.int64)  # sequential fill, no scatter
        for j in range(m):
            u = tails[j]
            k = fill[u]
            fill[u] = k + 1
            ind[k] = heads[j]
            w[k] = weights[j]
    return True, indptr, ind, w, ae


@njit(cache=True, nogil=True)
def csr_transpose(indptr, indices, weights, arc_edge, ind_like):
    """The CSR of the reversed graph: arc ``u -> v`` becomes ``v -> u``.

    Arcs of each new tail keep the forward CSR order (stable), exactly as
    :func:`csr_build` on the arcs listed in CSR order. ``arc_edge`` may be
    empty (all -1); ``indices`` of the result get the dtype of ``ind_like``.

    Returns
    -------
    indptr : ndarray of int64, indices (dtype of ``ind_like``), weights (float64),
    arc_edge (int64)
    """
    n = len(indptr) - 1
    m = len(indices)
    rptr = np.zeros(n + 1, dtype=np.int64)
    for j in range(m):
        rptr[indices[j] + 1] += 1
    fill = np.empty(n, dtype=np.int64)  # loops, not a slice copy or np.full: quicker to compile
    for u in range(n):
        fill[u] = rptr[u]
        rptr[u + 1] += rptr[u]
    ind = np.empty(m, dtype=ind_like.dtype)
    w = np.empty(m, dtype=np.float64)
    has_ae = len(arc_edge) == m and m > 0
    ae = np.empty(m, dtype=np.int64)
    if not has_ae:
        for k in range(m):
            ae[k] = -1
    for u in range(n):
        for j in range(indptr[u], indptr[u + 1]):
            v = indices[j]
            k = fill[v]
            fill[v] = k + 1
            ind[k] = u
            w[k] = weights[j]
            if has_ae:
                ae[k] = arc_edge[j]
    return rptr, ind, w, ae


# --------------------------------------------------------------------------
# 1. Multi-source nearest
# --------------------------------------------------------------------------
# Heap entries here are (key, packed) with ``packed = label << 32 | node``,
# both in one float64 buffer (the packed int64 read through an int64 view),
# ordered by (key, packed): by cost, then by label. So the first entry popped
# for a node carries its final cost *and* the smallest label among the seeds
# at that cost; later entries of that node are skipped. Labels never need to
# be looked up or rewritten while relaxing arcs.
@njit(cache=True, nogil=True, inline="always")
def _push_lex(hk, hi, size, key, packed):
    """Insert (key, packed); ``hk``/``hi`` are float/int views of one buffer."""
    i = size
    while i > 0:
        p = (i - 1) >> 2
        kp = hk[2 * p]
        if kp < key or (kp == key and hi[2 * p + 1] <= packed):
            break
        hk[2 * i] = kp
        hi[2 * i + 1] = hi[2 * p + 1]
        i = p
    hk[2 * i] = key
    hi[2 * i + 1] = packed


@njit(cache=True, nogil=True, inline="always")
def _drop_root_lex(hk, hi, size):
    """Refill the root after removing it; ``size`` is the size after removal."""
    kk = hk[2 * size]
    vv = hi[2 * size + 1]
    i = 0
    while True:
        c = 4 * i + 1
        if c >= size:
            break
        best = c
        bk = hk[2 * c]
        bp = hi[2 * c + 1]
        e = c + 4
        if e > size:
            e = size
        for cc in range(c + 1, e):
            kc = hk[2 * cc]
            if kc < bk or (kc == bk and hi[2 * cc + 1] < bp):
                bk = kc
                bp = hi[2 * cc + 1]
                best = cc
        if bk > kk or (bk == kk and bp >= vv):
            break
        hk[2 * i] = bk
        hi[2 * i + 1] = bp
        i = best
    hk[2 * i] = kk
    hi[2 * i + 1] = vv


@njit(cache=True, nogil=True, boundscheck=False)
def _multi_source_nearest(indptr, indices, weights, seed_nodes, seed_costs, seed_labels, limit):
    """Kernel of :func:`multi_source_nearest`; labels in 0..2**31-1, n <= 2**32."""
    n = len(indptr) - 1
    dist = np.empty(n)  # filled by a loop, not np.full: quicker to compile
    label = np.empty(n, dtype=np.int64)  # -1 until settled
    for v in range(n):
        dist[v] = _INF
        label[v] = -1
    hk = np.empty(2 * (len(seed_nodes) + 4096), dtype=np.float64)
    hi = hk.view(np.int64)
    size = np.int64(0)
    for s in range(len(seed_nodes)):
        v = seed_nodes[s]
        c = seed_costs[s]
        if not (c <= limit) or not (c < _INF):
            continue
        if c <= dist[v]:  # equal cost: the heap order picks the smaller label
            dist[v] = c
            if 2 * size + 2 > len(hk):
                hk = _grow(hk, size)
                hi = hk.view(np.int64)
            _push_lex(hk, hi, size, c, (seed_labels[s] << 32) | v)
            size += 1
    while size > 0:
        d = hk[0]
        pk = hi[1]
        size -= 1
        if size > 0:
            _drop_root_lex(hk, hi, size)
            # Fetch what the next pops will read while this node is relaxed:
            # the root (next pop) in full, its children (likely the one after)
            # up to their CSR row pointer and cost slots.
            e = 5 if size > 5 else size
            for cc in range(1, e):
                r = hi[2 * cc + 1] & _LOW32
                _prefetch(indptr, r)
                _prefetch(dist, r)
                _prefetch(label, r)
            r = hi[1] & _LOW32
            _prefetch(dist, r)
            _prefetch(label, r)
            a = indptr[r]
            _prefetch(indices, a)
            _prefetch(weights, a)
        u = pk & _LOW32
        if d > dist[u] or label[u] >= 0:
            continue  # stale, or a tie already settled with a smaller label
        label[u] = pk >> 32
        hl = pk & ~_LOW32
        for j in range(indptr[u], indptr[u + 1]):
            v = np.int64(indices[j])
            nd = d + weights[j]
            if nd > limit:
                continue
            dv = dist[v]
            if nd < dv:
                dist[v] = nd
            elif not (nd == dv and label[v] < 0):
                continue  # no better; equal-cost ties still compete by label
            if 2 * size + 2 > len(hk):
                hk = _grow(hk, size)
                hi = hk.view(np.int64)
            _push_lex(hk, hi, size, nd, hl | v)
            size += 1
    return dist, label


def multi_source_nearest(indptr, indices, weights, seed_nodes, seed_costs, seed_labels, limit):
    """One Dijkstra from all seeds at once.

    Parameters
    ----------
    indptr, indices, weights : ndarray
        CSR graph; weights in seconds (>= 0).
    seed_nodes : ndarray of int64, shape (k,)
    seed_costs : ndarray of float64, shape (k,)
        Initial cost of each seed, seconds. Seeds with cost > ``limit`` (or
        inf) are ignored.
    seed_labels : ndarray of int64, shape (k,)
        Label carried from each seed (e.g. facility index), >= 0.
    limit : float
        Search radius, seconds (``inf`` = unbounded). Nodes farther away get
        ``inf`` and label -1.

    Returns
    -------
    dist : ndarray of float64, shape (n,)
        Seconds from the nearest seed (seed cost included).
    label : ndarray of int64, shape (n,)
        Label of that seed; ties go to the smallest label.
    """
    n = len(indptr) - 1
    if n > 2**32:
        raise ValueError(f"multi_source_nearest: {n} nodes; at most 2**32 are supported.")
    seed_nodes = np.asarray(seed_nodes, dtype=np.int64)
    seed_costs = np.asarray(seed_costs, dtype=np.float64)
    seed_labels = np.asarray(seed_labels, dtype=np.int64)
    uniq = None
    if len(seed_labels) and (seed_labels.min() < 0 or seed_labels.max() >= 2**31):
        # Pack ranks instead (same order), map back afterwards.
        uniq, seed_labels = np.unique(seed_labels, return_inverse=True)
        seed_labels = seed_labels.astype(np.int64).ravel()
    dist, label = _multi_source_nearest(indptr, indices, weights, seed_nodes, seed_costs,
                                        seed_labels, float(limit))
    if uniq is not None:
        ok = label >= 0
        label[ok] = uniq[label[ok]]
    return dist, label


# --------------------------------------------------------------------------
# 2. Bounded catchments, one search per source, sparse long output
# --------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _search(indptr, indices, weights, seed_nodes, seed_costs, q0, q1, limit, dist, touched,
            hp, settled):
    """One bounded search from seeds ``q0..q1-1``; settled nodes in cost order.

    Writes settled nodes to ``settled`` and returns (count settled, count
    touched, heap buffer). ``dist`` must be all inf for untouched nodes; the
    caller resets ``dist[touched[:nt]]`` afterwards.
    """
    nt = 0
    ns = 0
    size = np.int64(0)
    for q in range(q0, q1):
        v = seed_nodes[q]
        c = seed_costs[q]
        if not (c <= limit) or not (c < dist[v]):
            continue
        if dist[v] == _INF:
            touched[nt] = v
            nt += 1
        dist[v] = c
        if 2 * size + 2 > len(hp):
            hp = _grow(hp, size)
        _push(hp, size, c, v)
        size += 1
    while size > 0:
        d = hp[0]
        u = np.int64(hp[1])
        size -= 1
        if size > 0:
            _drop_root(hp, size)
        if d > dist[u]:
            continue  # stale entry
        settled[ns] = u
        ns += 1
        for j in range(indptr[u], indptr[u + 1]):
            v = indices[j]
            nd = d + weights[j]
            if nd > limit:
                continue
            dv = dist[v]
            if not (nd < dv):
                continue
            if dv == _INF:
                touched[nt] = v
                nt += 1
            dist[v] = nd
            if 2 * size + 2 > len(hp):
                hp = _grow(hp, size)
            _push(hp, size, nd, v)
            size += 1
    return ns, nt, hp


@njit(cache=True, nogil=True)
def _bounded_range(indptr, indices, weights, src_ptr, seed_nodes, seed_costs, limit,
                   s0, s1, dist, touched, settled):
    """Bounded searches for sources ``s0..s1-1`` with the caller's scratch.

    ``dist`` must be all inf on entry; it is restored on exit by resetting only
    the touched nodes, so each search costs only the nodes within reach.
    """
    cap = 1024
    out_s = np.empty(cap, dtype=np.int64)
    out_v = np.empty(cap, dtype=np.int64)
    out_c = np.empty(cap, dtype=np.float64)
    hp = np.empty(2048, dtype=np.float64)
    k = 0
    for s in range(s0, s1):
        ns, nt, hp = _search(indptr, indices, weights, seed_nodes, seed_costs, src_ptr[s],
                             src_ptr[s + 1], limit, dist, touched, hp, settled)
        if k + ns > cap:
            # Grow the output buffers geometrically.
            while k + ns > cap:
                cap *= 2
            t_s = np.empty(cap, dtype=np.int64)
            t_v = np.empty(cap, dtype=np.int64)
            t_c = np.empty(cap, dtype=np.float64)
            for i in range(k):
                t_s[i] = out_s[i]
                t_v[i] = out_v[i]
                t_c[i] = out_c[i]
            out_s, out_v, out_c = t_s, t_v, t_c
        for i in range(ns):
            v = settled[i]
            out_s[k] = s
            out_v[k] = v
            out_c[k] = dist[v]
            k += 1
        for i in range(nt):
            dist[touched[i]] = _INF
    return out_s[:k].copy(), out_v[:k].copy(), out_c[:k].copy()


def _split(n_items: int, n_threads: int | None, min_per_thread: int = 32) -> list[tuple[int, int]]:
    """Contiguous ranges for worker threads (all cores by default)."""
    if n_threads is None:
        n_threads = os.cpu_count() or 1
    n_threads = max(1, min(int(n_threads), n_items // min_per_thread + 1))
    bounds = np.linspace(0, n_items, n_threads + 1).astype(np.int64)
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def _run(work, ranges):
    """Run ``work`` over ranges, in threads when more than one (GIL released)."""
    if len(ranges) <= 1:
        return [work(r) for r in ranges]
    with ThreadPoolExecutor(len(ranges)) as ex:
        return list(ex.map(work, ranges))


def bounded_catchments(indptr, indices, weights, src_ptr, seed_nodes, seed_costs, limit,
                       n_threads: int | None = None):
    """Every (source, node) pair within ``limit`` seconds, as a long table.

    Parameters
    ----------
    indptr, indices, weights : ndarray
        CSR graph; weights in seconds (>= 0).
    src_ptr : ndarray of int64, shape (n_sources + 1,)
        Source ``s`` has seeds ``seed_nodes[src_ptr[s]:src_ptr[s+1]]`` with
        initial costs ``seed_costs[...]`` (seconds); inf costs are ignored.
    seed_nodes, seed_costs : ndarray
    limit : float
        Seconds; a node is reported when its cost is ``<= limit``.
    n_threads : int, optional
        Worker threads (the kernel releases the GIL); default all cores.

    Returns
    -------
    src, node : ndarray of int64, shape (k,)
    cost : ndarray of float64, shape (k,)
        Grouped by source in increasing source order, and by increasing cost
        within each source (the order nodes were settled).
    """
    n = len(indptr) - 1
    n_src = len(src_ptr) - 1
    limit = float(limit)

    def work(r):
        dist = np.full(n, _INF)
        touched = np.empty(n, dtype=np.int64)
        settled = np.empty(n, dtype=np.int64)
        return _bounded_range(indptr, indices, weights, src_ptr, seed_nodes, seed_costs,
                              limit, r[0], r[1], dist, touched, settled)

    parts = _run(work, _split(n_src, n_threads))
    if not parts:
        return (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64))
    if len(parts) == 1:
        return parts[0]
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))


# --------------------------------------------------------------------------
# 3. One-to-many: dense costs from each source to a list of target nodes
# --------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _one_to_many_range(indptr, indices, weights, src_ptr, seed_nodes, seed_costs, targets,
                       is_target, n_unique, limit, s0, s1, out, dist, touched):
    hp = np.empty(2048, dtype=np.float64)
    for s in range(s0, s1):
        nt = 0
        size = np.int64(0)
        for q in range(src_ptr[s], src_ptr[s + 1]):
            v = seed_nodes[q]
            c = seed_costs[q]
            if not (c <= limit) or not (c < dist[v]):
                continue
            if dist[v] == _INF:
                touched[nt] = v
                nt += 1
            dist[v] = c
            if 2 * size + 2 > len(hp):
                hp = _grow(hp, size)
            _push(hp, size, c, v)
            size += 1
        left = n_unique
        while size > 0 and left > 0:
            d = hp[0]
            u = np.int64(hp[1])
            size -= 1
            if size > 0:
                _drop_root(hp, size)
            if d > dist[u]:
                continue
            if is_target[u]:
                left -= 1  # stop once every target is settled
            for j in range(indptr[u], indptr[u + 1]):
                v = indices[j]
                nd = d + weights[j]
                if nd > limit:
                    continue
                dv = dist[v]
                if not (nd < dv):
                    continue
                if dv == _INF:
                    touched[nt] = v
                    nt += 1
                dist[v] = nd
                if 2 * size + 2 > len(hp):
                    hp = _grow(hp, size)
                _push(hp, size, nd, v)
                size += 1
        # Targets are final here: either all settled or the search ran dry.
        for t in range(len(targets)):
            out[s, t] = dist[targets[t]]
        for t in range(nt):
            dist[touched[t]] = _INF


def one_to_many(indptr, indices, weights, src_ptr, seed_nodes, seed_costs, targets,
                limit=np.inf, n_threads: int | None = None):
    """Seconds from each source (with its seeds) to each target node.

    Each search stops once every target node is settled or ``limit`` is
    reached, so few targets close to the sources cost little.

    Parameters
    ----------
    indptr, indices, weights, src_ptr, seed_nodes, seed_costs
        As in :func:`bounded_catchments`.
    targets : ndarray of int64, shape (t,)
        Target nodes (repeats allowed).
    limit : float
        Seconds; farther targets get ``inf``.
    n_threads : int, optional

    Returns
    -------
    ndarray of float64, shape (n_sources, t)
    """
    n = len(indptr) - 1
    n_src = len(src_ptr) - 1
    targets = np.asarray(targets, dtype=np.int64)
    is_target = np.zeros(n, dtype=np.bool_)
    is_target[targets] = True
    n_unique = int(is_target.sum())
    out = np.empty((n_src, len(targets)), dtype=np.float64)
    limit = float(limit)

    def work(r):
        dist = np.full(n, _INF)
        touched = np.empty(n, dtype=np.int64)
        _one_to_many_range(indptr, indices, weights, src_ptr, seed_nodes, seed_costs, targets,
                           is_target, n_unique, limit, r[0], r[1], out, dist, touched)

    _run(work, _split(n_src, n_threads, min_per_thread=8))
    return out
