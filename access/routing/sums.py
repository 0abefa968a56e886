"""Sums over binary catchments, without listing the (facility, cell) pairs.

A floating catchment needs, for every facility, the persons of the cells
within its travel time (:meth:`CatchmentSums.facility_sums`) and, for every
cell, a value summed over the facilities within reach
(:meth:`CatchmentSums.cell_sums`). Listing the pairs first
(:func:`access.routing.queries.catchments`) costs time and memory in
proportion to the pairs, which for a county with 200,000 facilities are
billions. Here each catchment is walked and summed on the fly:

* Cells snapped to the same edge (same two end nodes ``p``, ``q``) with
  similar legs form a *group* of at most :data:`GROUP_CELLS`. When the
  group's longest leg to ``p`` (or to ``q``) plus that node's time is within
  the limit, every cell of the group is inside, because a sum of floats never
  decreases when one term grows; when even the shortest legs are beyond it,
  none is. Either way the group counts as one number. Only groups the
  catchment's edge runs through are looked at cell by cell.
* Facilities snapped to the same edge (same end nodes ``a``, ``b``) share
  two searches, from ``a`` and from ``b`` at cost 0; a facility's time from
  a cell is then ``leg + (node time + facility leg)``, and they are
  classified against the groups together, :data:`BAND` at a time (sorted by
  their legs). A facility alone on its edge is searched from its own seeds
  exactly as :func:`~access.routing.queries.catchments` does, so its times
  are the same bit for bit. The shared form adds the same shortest times in
  another order, which can move a time by a few units in the last place: a pair
  that lies on the limit to within rounding may then fall on the other side,
  as for any floating-point route.
* Two points on the same edge also travel directly along it
  (:func:`~access.routing.queries._direct_time`), counted only when the
  nodes do not already bring the cell in.

A cell is in a facility's catchment when its time ``t`` (penalty not
included) satisfies ``t <= limit_s - penalty_s`` and ``t + penalty_s <=
limit_s``: the pairs :func:`~access.routing.queries.catchments` lists with
seconds ``<= limit_s``. Each pair counts once, however many ways reach it.
Sums are float64 in an order of their own (by group), so they agree with a
pair-table 2SFCA to about 1e-15 relative.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from queue import SimpleQueue

import numpy as np
from numba import njit

from access.errors import InputError
from access.network.graph import Graph
from access.network.snap import Snap
from access.routing import dijkstra as _k
from access.routing import queries as _q

__all__ = ["CatchmentSums", "FacilityCatchments", "catchment_into", "catchment_sums", "facility_catchments"]

_INF = np.inf

#: Most cells in a group: cells close along an edge share the end nodes and
#: about the same legs, so whole groups fall inside or outside a catchment.
GROUP_CELLS = 16
#: Facilities of a search unit classified together (see :func:`_walk`).
BAND = 32


@dataclass(frozen=True)
class CatchmentSums:
    """Prepared binary catchments of facilities over cells (see the module notes).

    Build with :func:`catchment_sums`; the arrays are internal. Cells are
    kept by *group* (same two end nodes ``p``, ``q`` and similar legs);
    positions below index the cells in group order.
    """

    n_facilities: int
    n_cells: int
    budget: float  # seconds left for the road after the penalty
    penalty: float
    limit: float
    n_threads: int
    rg_ptr: np.ndarray  # reverse graph
    rg_ind: np.ndarray
    rg_w: np.ndarray
    g_start: np.ndarray  # group -> first position (n_groups + 1)
    g_p: np.ndarray
    g_q: np.ndarray
    g_legs: np.ndarray  # (n_groups, 4): longest leg to p, to q; shortest leg to p, to q (seconds)
    s_cell: np.ndarray  # position -> cell row
    s_la: np.ndarray  # legs to p and to q, seconds
    s_lb: np.ndarray
    s_pos: np.ndarray
    s_edge: np.ndarray
    ng_ptr: np.ndarray  # node -> groups with it as an end node
    ng_grp: np.ndarray
    u_fptr: np.ndarray  # search unit -> its facilities (u_fac) and searches (sides)
    u_fac: np.ndarray
    u_sptr: np.ndarray
    u_cells: np.ndarray  # (n_units, 4): positions lo..hi of the cells on the unit's end nodes a, b
    s_qptr: np.ndarray  # side -> seeds (q_node, q_cost) and search bound
    q_node: np.ndarray
    q_cost: np.ndarray
    s_bound: np.ndarray
    f_off: np.ndarray  # (n_facilities, 2): facility leg added to side 0 / side 1 times
    f_edge: np.ndarray  # facility snap fields for the direct trips along one edge
    f_pos: np.ndarray
    f_fa: np.ndarray
    f_fb: np.ndarray
    f_tab: np.ndarray
    f_tba: np.ndarray

    def facility_sums(self, cell_values, progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Sum of ``cell_values`` over each facility's catchment (first 2SFCA step).

        Parameters
        ----------
        cell_values : array-like, shape (n_cells,)
            Value per cell, finite and >= 0 (e.g. persons).
        progress : callable, optional
            Called with the number of facilities done, as they finish.

        Returns
        -------
        ndarray of float64, shape (n_facilities,)
            0 for facilities that are not snapped or reach no cell (exactly
            0 when every cell reached has value 0).
        """
        v = _values(cell_values, self.n_cells, "cell_values")
        vs = v[self.s_cell]
        gsum = _group_sums(vs, self.g_start)
        out = np.zeros(self.n_facilities)
        self._sweep(1, gsum, vs, np.zeros(0), out, progress)
        return out

    def cell_sums(self, facility_values, progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Sum of ``facility_values`` over the facilities each cell reaches (second 2SFCA step).

        With facility values ``supply / facility_sums(persons)`` this is the
        2SFCA ratio; with the supply itself, the cumulative opportunities.

        Parameters
        ----------
        facility_values : array-like, shape (n_facilities,)
            Value per facility, finite and >= 0.
        progress : callable, optional
            Called with the number of facilities done.

        Returns
        -------
        ndarray of float64, shape (n_cells,)
            0 for cells that are not snapped or reach no facility.
        """
        r = _values(facility_values, self.n_facilities, "facility_values")
        parts = self._sweep(2, np.zeros(0), np.zeros(0), r, np.zeros(0), progress)
        acc_g, acc_c = np.zeros(len(self.g_p)), np.zeros(len(self.s_cell))
        for g, c in parts:
            acc_g += g
            acc_c += c
        out = np.zeros(self.n_cells)
        out[self.s_cell] = acc_c + np.repeat(acc_g, np.diff(self.g_start))
        return out

    def _sweep(self, mode, gsum, vs, fval, out_f, progress):
        """Walk every unit's catchments in threads; returns each thread's (acc_g, acc_c)."""
        n_units = len(self.u_fptr) - 1
        if self.budget < 0 or n_units == 0 or not len(self.s_cell):
            if progress is not None:
                progress(self.n_facilities)
            return []
        chunks = _chunks(self.u_fptr, self.u_sptr, self.n_threads)
        n_threads = min(self.n_threads, len(chunks))
        pool: SimpleQueue = SimpleQueue()
        scratches = [_Scratch(len(self.rg_ptr) - 1, len(self.g_p), len(self.s_cell) if mode == 2 else 0)
                     for _ in range(n_threads)]
        for s in scratches:
            pool.put(s)

        def work(chunk):
            s = pool.get()
            try:
                s.stamp = _walk(
                    self.rg_ptr, self.rg_ind, self.rg_w, chunk[0], chunk[1],
                    self.u_fptr, self.u_fac, self.u_sptr, self.u_cells, self.s_qptr, self.q_node, self.q_cost,
                    self.s_bound, self.f_off, self.f_edge, self.f_pos, self.f_fa, self.f_fb, self.f_tab,
                    self.f_tba, self.ng_ptr, self.ng_grp, self.g_start, self.g_p, self.g_q, self.g_legs,
                    self.s_la, self.s_lb, self.s_pos, self.s_edge,
                    self.budget, self.penalty, self.limit, mode, gsum, vs, fval, out_f,
                    s.acc_g, s.acc_c, s.dist, s.touched, s.settled, s.gstamp, s.glist, s.gd, s.mixed, s.stamp)
            finally:
                pool.put(s)
            return int(self.u_fptr[chunk[1]] - self.u_fptr[chunk[0]])

        done = 0
        if n_threads <= 1:
            for c in chunks:
                k = work(c)
                done += k
                if progress is not None:
                    progress(k)
        else:
            with ThreadPoolExecutor(n_threads) as ex:
                for fut in as_completed([ex.submit(work, c) for c in chunks]):
                    k = fut.result()
                    done += k
                    if progress is not None:
                        progress(k)
        if progress is not None and self.n_facilities > done:
            progress(self.n_facilities - done)  # not snapped: nothing to walk
        return [(s.acc_g, s.acc_c) for s in scratches]


class _Scratch:
    """One thread's working arrays; each search restores ``dist`` to inf."""

    def __init__(self, n_nodes: int, n_groups: int, n_acc: int):
        self.dist = np.full((2, n_nodes), _INF)
        self.touched = np.empty((2, n_nodes), np.int64)
        self.settled = np.empty((2, n_nodes), np.int64)
        self.gstamp = np.full(n_groups, -1, np.int64)
        self.glist = np.empty(n_groups, np.int64)
        self.gd = np.empty((n_groups, 4))
        self.mixed = np.empty(n_groups, np.int64)
        self.acc_g = np.zeros(n_groups if n_acc else 0)
        self.acc_c = np.zeros(n_acc)
        self.stamp = 0


def _values(x, n: int, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64).ravel()
    if len(a) != n:
        raise InputError(f"{name}: {len(a)} values for {n} rows; give one value per row.")
    bad = np.flatnonzero(~np.isfinite(a) | (a < 0))
    if len(bad):
        raise InputError(f"{name}: {len(bad)} values are negative, NaN or infinite (first at row "
                         f"{bad[0]}: {a[bad[0]]}); fill missing values with 0.")
    return a


def _chunks(u_fptr, u_sptr, n_threads: int) -> list[tuple[int, int]]:
    """Contiguous unit ranges of similar work (a search counted as 32 facilities), several
    per thread so that a thread finishing early takes the next."""
    n = len(u_fptr) - 1
    w = np.cumsum(32.0 * np.diff(u_sptr) + np.diff(u_fptr))
    k = max(1, min(n, 16 * n_threads if n_threads > 1 else 64))
    cuts = np.searchsorted(w, w[-1] * np.arange(1, k) / k, side="left") + 1
    bounds = np.unique(np.r_[0, np.clip(cuts, 0, n), n])
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


# --------------------------------------------------------------------------
# Kernels
# --------------------------------------------------------------------------
@njit(cache=True, nogil=True, inline="always")
def _ok(t, budget, pen, limit):
    """Inside the catchment: the test of :func:`~access.routing.queries.catchments` and 2SFCA."""
    return (t <= budget) & (t + pen <= limit)


@njit(cache=True, nogil=True)
def _group_sums(x, g_start):
    out = np.zeros(len(g_start) - 1)
    for g in range(len(g_start) - 1):
        acc = 0.0
        for j in range(g_start[g], g_start[g + 1]):
            acc += x[j]
        out[g] = acc
    return out


@njit(cache=True, nogil=True)
def _walk(rg_ptr, rg_ind, rg_w, u0, u1,
          u_fptr, u_fac, u_sptr, u_cells, s_qptr, q_node, q_cost, s_bound,
          f_off, f_edge, f_pos, f_fa, f_fb, f_tab, f_tba,
          ng_ptr, ng_grp, g_start, g_p, g_q, g_legs, s_la, s_lb, s_pos, s_edge,
          budget, pen, limit, mode, gsum, vs, fval, out_f,
          acc_g, acc_c, dist, touched, settled, gstamp, glist, gd, mixed, stamp):
    """Walk the catchments of units ``u0..u1-1``; returns the next group stamp.

    ``mode`` 1: ``out_f[f]`` = sum over f's catchment of the cell values
    (``gsum``: per group, ``vs``: per position). ``mode`` 2: add ``fval[f]``
    to ``acc_g`` for whole groups and to ``acc_c`` for single positions.
    """
    hp = np.empty(2048, dtype=np.float64)
    nset = np.zeros(2, np.int64)
    ntch = np.zeros(2, np.int64)
    for u in range(u0, u1):
        f0 = u_fptr[u]
        f1 = u_fptr[u + 1]
        if mode == 2:
            rsum = 0.0
            for i in range(f0, f1):
                rsum += fval[u_fac[i]]
            if rsum == 0.0:
                continue
        ns = u_sptr[u + 1] - u_sptr[u]
        for si in range(ns):
            s = u_sptr[u] + si
            a, b, hp = _k._search(rg_ptr, rg_ind, rg_w, q_node, q_cost, s_qptr[s], s_qptr[s + 1],
                                  s_bound[s], dist[si], touched[si], hp, settled[si])
            nset[si] = a
            ntch[si] = b
        stamp += 1
        ng = 0
        for si in range(ns):
            for i in range(nset[si]):
                v = settled[si, i]
                for j in range(ng_ptr[v], ng_ptr[v + 1]):
                    g = ng_grp[j]
                    if gstamp[g] != stamp:
                        gstamp[g] = stamp
                        glist[ng] = g
                        ng += 1
        c_lo = u_cells[u, 0]
        c_hi = u_cells[u, 1]
        # Facilities in bands of similar legs (sorted so at preparation): a group is
        # inside for the whole band (taking its longest legs), outside for all
        # (shortest legs), or mixed and looked at facility by facility.
        for b0 in range(f0, f1, BAND):
            b1 = min(b0 + BAND, f1)
            c0lo = _INF
            c1lo = _INF
            c0hi = -_INF
            c1hi = -_INF
            rband = 0.0
            for i in range(b0, b1):
                f = u_fac[i]
                if mode == 2:
                    rband += fval[f]
                c0lo = min(c0lo, f_off[f, 0])
                c0hi = max(c0hi, f_off[f, 0])
                c1lo = min(c1lo, f_off[f, 1])
                c1hi = max(c1hi, f_off[f, 1])
            if mode == 2 and rband == 0.0:
                continue
            full_sum = 0.0
            nm = 0
            for gi in range(ng):
                g = glist[gi]
                p = g_p[g]
                q = g_q[g]
                d0p = dist[0, p]
                d1p = dist[1, p]
                d0q = dist[0, q]
                d1q = dist[1, q]
                if (_ok(g_legs[g, 0] + min(d0p + c0hi, d1p + c1hi), budget, pen, limit)
                        or _ok(g_legs[g, 1] + min(d0q + c0hi, d1q + c1hi), budget, pen, limit)):
                    if mode == 1:
                        full_sum += gsum[g]
                    else:
                        acc_g[g] += rband
                    continue
                if not (_ok(g_legs[g, 2] + min(d0p + c0lo, d1p + c1lo), budget, pen, limit)
                        or _ok(g_legs[g, 3] + min(d0q + c0lo, d1q + c1lo), budget, pen, limit)):
                    continue
                gd[nm, 0] = d0p
                gd[nm, 1] = d1p
                gd[nm, 2] = d0q
                gd[nm, 3] = d1q
                mixed[nm] = g
                nm += 1
            for i in range(b0, b1):
                f = u_fac[i]
                r = 0.0
                if mode == 2:
                    r = fval[f]
                    if r == 0.0:
                        continue
                c0 = f_off[f, 0]
                c1 = f_off[f, 1]
                acc = full_sum
                for mi in range(nm):
                    g = mixed[mi]
                    al = min(gd[mi, 0] + c0, gd[mi, 1] + c1)  # time from p, facility leg included
                    be = min(gd[mi, 2] + c0, gd[mi, 3] + c1)  # from q
                    if _ok(g_legs[g, 0] + al, budget, pen, limit) or _ok(g_legs[g, 1] + be, budget, pen, limit):
                        if mode == 1:
                            acc += gsum[g]
                        else:
                            acc_g[g] += r
                    elif _ok(g_legs[g, 2] + al, budget, pen, limit) or _ok(g_legs[g, 3] + be, budget, pen, limit):
                        # cell by cell, branch-free so that it vectorises
                        if mode == 1:
                            for j in range(g_start[g], g_start[g + 1]):
                                inside = _ok(s_la[j] + al, budget, pen, limit) | _ok(s_lb[j] + be, budget, pen, limit)
                                acc += vs[j] * inside
                        else:
                            for j in range(g_start[g], g_start[g + 1]):
                                inside = _ok(s_la[j] + al, budget, pen, limit) | _ok(s_lb[j] + be, budget, pen, limit)
                                acc_c[j] += r * inside
                # along the facility's own edge, for cells the nodes do not bring in
                if c_hi > c_lo and f_edge[f] >= 0:
                    p = u_cells[u, 2]
                    q = u_cells[u, 3]
                    al = min(dist[0, p] + c0, dist[1, p] + c1)
                    be = min(dist[0, q] + c0, dist[1, q] + c1)
                    for j in range(c_lo, c_hi):
                        if s_edge[j] != f_edge[f]:
                            continue
                        t = _q._direct_time(s_pos[j], s_la[j], s_lb[j], f_pos[f], f_fa[f], f_fb[f], f_tab[f],
                                            f_tba[f])
                        if (not _ok(t, budget, pen, limit) or _ok(s_la[j] + al, budget, pen, limit)
                                or _ok(s_lb[j] + be, budget, pen, limit)):
                            continue
                        if mode == 1:
                            acc += vs[j]
                        else:
                            acc_c[j] += r
                if mode == 1:
                    out_f[f] = acc
        for si in range(ns):
            for i in range(ntch[si]):
                dist[si, touched[si, i]] = _INF
    return stamp


# --------------------------------------------------------------------------
# Preparation
# --------------------------------------------------------------------------
def catchment_sums(graph: Graph, facilities: Snap, cells: Snap, limit_s: float, penalty_s: float = 0.0,
                   n_threads: int | None = None) -> CatchmentSums:
    """Prepare the binary catchments of ``facilities`` over ``cells`` for summing.

    Parameters
    ----------
    graph : Graph
        Forward graph of one travel mode (seconds).
    facilities, cells : Snap
        Snapped facilities (destinations) and cells (origins).
    limit_s : float
        Catchment size, seconds, penalty included (inclusive: ``t <= limit_s``).
    penalty_s : float
        Fixed seconds added once per trip.
    n_threads : int, optional
        Threads for the walks (default: all cores).

    Returns
    -------
    CatchmentSums
        Call :meth:`~CatchmentSums.facility_sums` and
        :meth:`~CatchmentSums.cell_sums` on it. Memory: the graph and a few
        arrays per cell and facility, plus per thread a few arrays per node
        and cell; never per (facility, cell) pair.

    Examples
    --------
    Two-step floating catchment, supply per 1,000 persons::

        cs = catchment_sums(graph, facilities, cells, 1800.0)
        demand = cs.facility_sums(persons)
        ratio = np.divide(beds, demand, out=np.zeros_like(beds), where=demand > 0)
        per_1000 = 1000.0 * cs.cell_sums(ratio)
    """
    budget, pen = _q._budget(graph, limit_s, penalty_s, facilities=facilities, cells=cells)
    n = graph.n_nodes
    rg = _q.reverse_graph(graph)
    n_threads = max(1, int(n_threads if n_threads is not None else (os.cpu_count() or 1)))
    groups, keys, key_start = _cell_groups(cells, n)
    return CatchmentSums(
        n_facilities=len(facilities), n_cells=len(cells), budget=budget, penalty=pen, limit=float(limit_s),
        n_threads=n_threads, rg_ptr=rg.indptr, rg_ind=rg.indices, rg_w=rg.weights,
        **groups, **_units(graph, facilities, budget, keys, key_start))


def _legs(snap: Snap, a, b):
    ok = np.asarray(snap.ok, bool)
    la = np.where(ok, np.asarray(a, np.float64), _INF)
    lb = np.where(ok, np.asarray(b, np.float64), _INF)
    return ok, la, lb


def _cell_groups(cells: Snap, n_nodes: int) -> tuple[dict, np.ndarray, np.ndarray]:
    """Snapped cells in groups: same two end nodes, at most :data:`GROUP_CELLS` of them with
    successive legs to ``p``; node -> group CSR.

    Cells of similar legs tend to fall on the same side of a catchment's
    edge. Returns the arrays, the end-node keys ``p * n_nodes + q`` present
    and the first position of each key's cells (one more at the end).
    """
    ok, la, lb = _legs(cells, cells.to_a, cells.to_b)
    rows = np.flatnonzero(ok)
    pos = np.asarray(cells.pos, np.float64)
    keys, inv, cnt = np.unique(np.asarray(cells.node_a, np.int64)[rows] * n_nodes
                               + np.asarray(cells.node_b, np.int64)[rows], return_inverse=True, return_counts=True)
    inv = inv.ravel()
    k_start = np.r_[0, np.cumsum(cnt)]
    order = np.lexsort((la[rows], inv))  # by key, then by leg to p
    s_cell = rows[order]
    s_key = inv[order]
    per_key = -(-cnt // GROUP_CELLS)
    first_group = np.r_[0, np.cumsum(per_key)]
    gid = first_group[s_key] + (np.arange(len(rows)) - k_start[s_key]) // GROUP_CELLS
    n_groups = int(first_group[-1])
    g_start = np.zeros(n_groups + 1, np.int64)
    np.cumsum(np.bincount(gid, minlength=n_groups), out=g_start[1:])
    s_lb = lb[s_cell]
    g_key = np.repeat(keys, per_key)
    g_p, g_q = np.divmod(g_key, max(n_nodes, 1))
    two = g_q != g_p
    ends = np.r_[g_p, g_q[two]]
    grp = np.r_[np.arange(n_groups), np.flatnonzero(two)].astype(np.int64)
    ng_ptr, perm = _k.csr_from_arcs(n_nodes, ends, grp)
    s_la = la[s_cell]
    legs = np.zeros((n_groups, 4))
    if n_groups:
        first = g_start[:-1]
        legs[:, 0] = np.maximum.reduceat(s_la, first)
        legs[:, 1] = np.maximum.reduceat(s_lb, first)
        legs[:, 2] = np.minimum.reduceat(s_la, first)
        legs[:, 3] = np.minimum.reduceat(s_lb, first)
    arrays = dict(
        g_start=g_start, g_p=g_p, g_q=g_q, g_legs=legs, s_cell=s_cell, s_la=s_la, s_lb=s_lb,
        s_pos=pos[s_cell], s_edge=np.asarray(cells.edge, np.int64)[s_cell], ng_ptr=ng_ptr, ng_grp=grp[perm])
    return arrays, keys, k_start


def _units(graph: Graph, fac: Snap, budget: float, cell_keys: np.ndarray, key_start: np.ndarray) -> dict:
    """Search units: snapped facilities grouped by their two end nodes.

    A facility alone on its end nodes is a unit with one search from its own
    seeds (its legs count there, 0 is added afterwards); facilities sharing
    end nodes ``a, b`` are a unit with two searches, from ``a`` and from
    ``b`` at cost 0, their own legs ``from_a``, ``from_b`` added afterwards.
    """
    n_nodes = graph.n_nodes
    ok, fa, fb = _legs(fac, fac.from_a, fac.from_b)
    rows = np.flatnonzero(ok)
    node_a = np.asarray(fac.node_a, np.int64)
    node_b = np.asarray(fac.node_b, np.int64)
    _, inv, cnt = np.unique(node_a[rows] * n_nodes + node_b[rows], return_inverse=True, return_counts=True)
    inv = inv.ravel()
    single = cnt[inv] == 1
    f_off = np.empty((len(fac), 2))
    f_off[:, 0] = 0.0
    f_off[:, 1] = _INF
    s_rows = rows[single]
    sptr, s_nodes, s_costs = _q._seeds(fac.subset(s_rows), fac.from_a[s_rows], fac.from_b[s_rows])
    m_rows = rows[~single]
    m_inv = inv[~single]
    order = np.lexsort((fb[m_rows], fa[m_rows], m_inv))  # by unit, then by legs (bands)
    m_rows, m_inv = m_rows[order], m_inv[order]
    starts = np.flatnonzero(np.r_[True, m_inv[1:] != m_inv[:-1]]) if len(m_inv) else np.zeros(0, np.int64)
    n1, n2 = len(s_rows), len(starts)
    f_off[m_rows, 0] = fa[m_rows]
    f_off[m_rows, 1] = fb[m_rows]
    sh = m_rows[starts]
    s_bound = np.full(n1 + 2 * n2, budget)
    if n2:
        cmin = np.stack([np.minimum.reduceat(fa[m_rows], starts), np.minimum.reduceat(fb[m_rows], starts)], 1)
        with np.errstate(invalid="ignore"):
            # a node time D counts when (leg + D) + facility leg c <= budget, so D <= budget - c
            # up to rounding (hence the margin); a side no facility can use searches nothing
            s_bound[n1:] = np.where(np.isfinite(cmin), budget - cmin + 1e-9 * abs(budget), -_INF).ravel()
    first = np.r_[s_rows, sh]
    u_key = node_a[first] * n_nodes + node_b[first]
    # positions of the cells on the unit's own end nodes (same-edge trips)
    at = np.searchsorted(cell_keys, u_key)
    has = at < len(cell_keys)
    has[has] = cell_keys[at[has]] == u_key[has]
    u_cells = np.zeros((len(u_key), 4), np.int64)
    u_cells[has, 0] = key_start[at[has]]
    u_cells[has, 1] = key_start[at[has] + 1]
    u_cells[:, 2] = node_a[first]
    u_cells[:, 3] = node_b[first]
    # the edge's own arc times, for the direct trips along it
    e = np.asarray(fac.edge, np.int64)
    use = ok & (e >= 0)
    f_tab = np.full(len(fac), _INF)
    f_tba = np.full(len(fac), _INF)
    if use.any():
        arc_edge = (graph.arc_edge if graph.arc_edge is not None else np.full(graph.n_arcs, -1, np.int64))
        args = (graph.indptr, graph.indices, graph.weights, arc_edge)
        f_tab[use] = _q._arc_times(*args, node_a[use], node_b[use], e[use])
        f_tba[use] = _q._arc_times(*args, node_b[use], node_a[use], e[use])
    return dict(
        u_fptr=np.r_[np.arange(n1 + 1), n1 + np.r_[starts[1:], len(m_rows)][:n2]].astype(np.int64),
        u_fac=np.r_[s_rows, m_rows].astype(np.int64),
        u_sptr=np.r_[np.arange(n1 + 1), n1 + 2 * np.arange(1, n2 + 1)].astype(np.int64),
        u_cells=u_cells,
        s_qptr=np.r_[sptr, sptr[-1] + np.arange(1, 2 * n2 + 1)].astype(np.int64),
        q_node=np.r_[s_nodes, np.stack([node_a[sh], node_b[sh]], 1).ravel()].astype(np.int64),
        q_cost=np.r_[s_costs, np.zeros(2 * n2)],
        s_bound=s_bound, f_off=f_off, f_edge=np.where(ok, e, -1),
        f_pos=np.asarray(fac.pos, np.float64), f_fa=fa, f_fb=fb, f_tab=f_tab, f_tba=f_tba)


# --------------------------------------------------------------------------
# One facility's catchment at a time, with its times
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class FacilityCatchments:
    """Prepared exact catchments, computed one facility at a time into scratch arrays.

    Build with :func:`facility_catchments`; call :meth:`scratch` once and
    :func:`catchment_into` per facility. A facility's catchment is the cells
    and seconds :func:`~access.routing.queries.catchments` lists for it,
    bit for bit and sorted by cell, without any table of pairs.
    """

    n_facilities: int
    n_cells: int
    budget: float  # seconds left for the road after the penalty
    penalty: float
    rg_ptr: np.ndarray  # reverse graph
    rg_ind: np.ndarray
    rg_w: np.ndarray
    q_ptr: np.ndarray  # facility -> seeds (node, cost): its legs from the end nodes
    q_node: np.ndarray
    q_cost: np.ndarray
    j_ptr: np.ndarray  # node -> cells entering through it, with the cell's leg (seconds)
    j_cell: np.ndarray
    j_leg: np.ndarray
    d_ptr: np.ndarray  # facility -> cells on its edge and their direct trip along it (seconds)
    d_cell: np.ndarray
    d_time: np.ndarray

    def scratch(self) -> tuple[np.ndarray, ...]:
        """Working arrays for :func:`catchment_into` (a few per node and per cell)."""
        n, m = len(self.rg_ptr) - 1, self.n_cells
        return (np.full(n, _INF), np.empty(n, np.int64), np.empty(n, np.int64), np.full(m, _INF),
                np.zeros(m // 64 + 1, np.uint8), np.zeros(m // 4096 + 1, np.uint8))

    def arrays(self) -> tuple:
        """The prepared arrays in the order :func:`catchment_into` takes them."""
        return (self.rg_ptr, self.rg_ind, self.rg_w, self.q_ptr, self.q_node, self.q_cost, self.j_ptr,
                self.j_cell, self.j_leg, self.d_ptr, self.d_cell, self.d_time, self.budget, self.penalty)


def facility_catchments(graph: Graph, facilities: Snap, cells: Snap, limit_s: float,
                        penalty_s: float = 0.0) -> FacilityCatchments:
    """Prepare :func:`catchment_into` for ``facilities`` over ``cells``.

    Parameters are those of :func:`~access.routing.queries.catchments`.
    Memory: the reverse graph, two entries per cell and the same-edge pairs
    (cells and facilities on one edge), never a pair per (facility, cell).
    """
    budget, pen = _q._budget(graph, limit_s, penalty_s, facilities=facilities, cells=cells)
    rg = _q.reverse_graph(graph)
    q_ptr, q_node, q_cost = _q._seeds(facilities, facilities.from_a, facilities.from_b)
    j_ptr, j_cell, j_leg = _q._join_index(graph, cells, cells.to_a, cells.to_b)
    o, d, t = _q._same_edge_pairs(graph, cells, facilities)  # (cell, facility, seconds)
    d_ptr, perm = _k.csr_from_arcs(len(facilities), d.astype(np.int64), o.astype(np.int64))
    return FacilityCatchments(
        n_facilities=len(facilities), n_cells=len(cells), budget=budget, penalty=pen,
        rg_ptr=rg.indptr, rg_ind=rg.indices, rg_w=rg.weights, q_ptr=q_ptr, q_node=q_node, q_cost=q_cost,
        j_ptr=j_ptr, j_cell=j_cell, j_leg=j_leg, d_ptr=d_ptr, d_cell=o[perm].astype(np.int64),
        d_time=t[perm].astype(np.float64))


@njit(cache=True, nogil=True, inline="always")
def _keep_shorter(c, t, tcell, b1, b2):
    """Cell ``c`` reached in ``t`` seconds: keep the shorter time, flag the cell when first reached."""
    if tcell[c] == _INF:
        b1[c >> 6] = 1
        b2[c >> 12] = 1
    if t < tcell[c]:
        tcell[c] = t


@njit(cache=True, nogil=True)
def catchment_into(f, rg_ptr, rg_ind, rg_w, q_ptr, q_node, q_cost, j_ptr, j_cell, j_leg, d_ptr, d_cell,
                   d_time, budget, pen, dist, touched, settled, tcell, b1, b2, hp, out_c, out_t):
    """Facility ``f``'s catchment into ``out_c[:k]`` (cell rows, increasing) and ``out_t[:k]``
    (seconds, penalty included); returns ``(k, hp)``.

    Arguments after ``f`` are :meth:`FacilityCatchments.arrays`, then
    :meth:`FacilityCatchments.scratch` (left as found), a heap buffer
    (returned, perhaps grown) and two output arrays of one slot per cell.
    The times are those of :func:`~access.routing.queries.catchments`: the
    shortest of node routes (``node time + cell leg``) and the direct trip
    along a shared edge, each kept when ``<= budget``, plus the penalty.
    """
    ns, nt, hp = _k._search(rg_ptr, rg_ind, rg_w, q_node, q_cost, q_ptr[f], q_ptr[f + 1], budget, dist, touched,
                            hp, settled)
    for i in range(ns):
        v = settled[i]
        dv = dist[v]
        for e in range(j_ptr[v], j_ptr[v + 1]):
            t = dv + j_leg[e]
            if t <= budget:
                _keep_shorter(j_cell[e], t, tcell, b1, b2)
    for i in range(nt):
        dist[touched[i]] = _INF
    for e in range(d_ptr[f], d_ptr[f + 1]):
        t = d_time[e]
        if t <= budget:
            _keep_shorter(d_cell[e], t, tcell, b1, b2)
    # cells in increasing order by two levels of flags: no sort, and only the flagged ranges are read
    k = 0
    n = len(tcell)
    for w2 in range(len(b2)):
        if b2[w2] == 0:
            continue
        b2[w2] = 0
        for w1 in range(w2 << 6, min((w2 + 1) << 6, len(b1))):
            if b1[w1] == 0:
                continue
            b1[w1] = 0
            for c in range(w1 << 6, min((w1 + 1) << 6, n)):
                if tcell[c] < _INF:
                    out_c[k] = c
                    out_t[k] = tcell[c] + pen
                    tcell[c] = _INF
                    k += 1
    return k, hp
