"""Sums over binary catchments, without listing the (facility, cell) pairs.

A floating catchment needs, for every facility, the persons of the cells
within its travel time (:meth:`CatchmentSums.first_step`) and, for every
cell, a value summed over the facilities within reach
(:meth:`FirstStep.cell_sums`). Listing the pairs first
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
* Facilities snapped to the same edge (same end nodes ``a``, ``b``) form a
  search *unit* and share two searches, from ``a`` and from ``b`` at cost 0;
  a facility's time from a cell is then ``leg + (node time + facility
  leg)``. An end node shared by several units is searched once (its row of
  times kept within the memory budget). A facility alone on its edge is
  searched from its own seeds exactly as
  :func:`~access.routing.queries.catchments` does, so its times are the
  same bit for bit. The shared form adds the same shortest times in another
  order, which can move a time by a few units in the last place: a pair that
  lies on the limit to within rounding may then fall on the other side, as
  for any floating-point route.
* A unit's facilities are ranked by their leg from ``a`` and by their leg
  from ``b``. A time never decreases when the leg grows, also when rounded,
  so a cell reaches through ``a`` the first ``x`` facilities of the first
  rank and through ``b`` the first ``y`` of the second (binary searches): it
  is a *point* ``(x, y)`` and reaches facility ``k`` when ``k < x`` or
  ``rank_b(k) < y``. A group whose longest and shortest legs give the same
  point is one point; the cells of the other (*cut*) groups are points of
  their own, neighbours with the same point joined in runs. The sums over
  these sets are swept in rank order with a Fenwick tree, every term >= 0
  (no differences that could cancel), so a unit costs its searches and a
  few comparisons per group and per cut cell, however many facilities it
  holds (200,000 facilities on a county's 2,729 edges).
* The first step keeps each unit's points, within the memory budget, and the
  second only sweeps them again with the facilities' values; units beyond
  the budget are searched again, with the same result bit for bit.
* Two points on the same edge also travel directly along it
  (:func:`~access.routing.queries._direct_time`), counted only when the
  nodes do not already bring the cell in.

A cell is in a facility's catchment when its time ``t`` (penalty not
included) satisfies ``t <= limit_s - penalty_s`` and ``t + penalty_s <=
limit_s``: the pairs :func:`~access.routing.queries.catchments` lists with
seconds ``<= limit_s``. Each pair counts once, however many ways reach it.
Sums are float64 in an order of their own (by point), so they agree with a
pair-table 2SFCA to about 1e-15 relative.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from queue import SimpleQueue
from threading import Lock

import numpy as np
from numba import njit

from access.errors import InputError
from access.network.graph import Graph
from access.network.snap import Snap
from access.routing import dijkstra as _k
from access.routing import queries as _q

__all__ = ["CatchmentSums", "FacilityCatchments", "FirstStep", "catchment_into", "catchment_sums",
           "facility_catchments"]

_INF = np.inf

#: Most cells in a group: cells close along an edge share the end nodes and
#: about the same legs, so whole groups fall inside or outside a catchment.
GROUP_CELLS = 16


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
    u_fptr: np.ndarray  # search unit -> its facilities (u_fac, by leg to side 0) and searches (sides)
    u_fac: np.ndarray
    ua_val: np.ndarray  # per u_fac entry: its leg to side 0 (ascending in a unit)
    ub_val: np.ndarray  # the unit's legs to side 1, ascending
    u_rb: np.ndarray  # per u_fac entry: its rank by leg to side 1 in the unit
    u_sptr: np.ndarray
    u_cells: np.ndarray  # (n_units, 4): positions lo..hi of the cells on the unit's end nodes a, b
    s_qptr: np.ndarray  # side -> seeds (q_node, q_cost) and search bound
    q_node: np.ndarray
    q_cost: np.ndarray
    s_bound: np.ndarray
    s_node: np.ndarray  # side -> its one seed node (cost 0), or -1 when searched from its own seeds
    memory_mb: float  # for node rows and kept points (see catchment_sums)
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
        return self._first_step(cell_values, progress, keep=False).facility_sums

    def first_step(self, cell_values, progress: Callable[[int], None] | None = None) -> FirstStep:
        """:meth:`facility_sums`, keeping what each catchment reached for the second step.

        Parameters
        ----------
        cell_values, progress
            As for :meth:`facility_sums`. What is kept stays within
            ``memory_mb`` (see :func:`catchment_sums`); units beyond it are
            searched again by :meth:`FirstStep.cell_sums`.

        Returns
        -------
        FirstStep
            Its ``facility_sums`` are those of :meth:`facility_sums`, and its
            :meth:`~FirstStep.cell_sums` equals :meth:`cell_sums` bit for bit.
        """
        return self._first_step(cell_values, progress, keep=True)

    def _first_step(self, cell_values, progress, keep: bool) -> FirstStep:
        v = _values(cell_values, self.n_cells, "cell_values")
        vs = v[self.s_cell]
        gsum = _group_sums(vs, self.g_start)
        out = np.zeros(self.n_facilities)
        kept: dict = {}
        self._sweep(1, gsum, vs, np.zeros(0), out, progress, kept, keep)
        return FirstStep(self, out, kept)

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
        return self._cell_sums(facility_values, progress, {})

    def _cell_sums(self, facility_values, progress, kept: dict) -> np.ndarray:
        r = _values(facility_values, self.n_facilities, "facility_values")
        parts = self._sweep(2, np.zeros(0), np.zeros(0), r, np.zeros(0), progress, kept, False)
        acc_g, acc_c = np.zeros(len(self.g_p)), np.zeros(len(self.s_cell))
        for g, c in parts:
            acc_g += g
            acc_c += c
        out = np.zeros(self.n_cells)
        out[self.s_cell] = acc_c + np.repeat(acc_g, np.diff(self.g_start))
        return out

    def _sweep(self, mode, gsum, vs, fval, out_f, progress, kept: dict, keep: bool):
        """Walk every unit's catchments in threads; returns each thread's (acc_g, acc_c).

        ``mode`` 1 adds the chunks it keeps (when ``keep``, within the memory
        left after the node rows) to ``kept``; ``mode`` 2 replays those and
        searches the others again.
        """
        n_units = len(self.u_fptr) - 1
        if self.budget < 0 or n_units == 0 or not len(self.s_cell):
            if progress is not None:
                progress(self.n_facilities)
            return []
        chunks = _chunks(self.u_fptr, self.u_sptr, self.n_threads)
        n_threads = min(self.n_threads, len(chunks))
        pool: SimpleQueue = SimpleQueue()
        n_max = int(np.diff(self.u_fptr).max())
        scratches = [_Scratch(len(self.rg_ptr) - 1, len(self.g_p), len(self.s_cell), n_max, mode == 2)
                     for _ in range(n_threads)]
        for s in scratches:
            pool.put(s)
        budget = self.memory_mb * 2.0**20
        todo = [c for c in chunks if c not in kept]
        s_row, rows, row_order, row_n = self._node_rows(n_threads, budget) if todo else _no_rows(len(self.s_node))
        keep_bytes = budget - rows.nbytes - row_order.nbytes if keep else 0.0
        lock = Lock()
        used = [0]

        def work(chunk):
            s = pool.get()
            try:
                u0, u1 = chunk
                if mode == 2 and chunk in kept:
                    u_off, sx, sy, sid, sn, u_dd = kept[chunk]
                    _replay(u0, u1, self.u_fptr, self.u_fac, self.u_rb, self.u_cells, fval, sx, sy, sid, sn, u_off,
                            u_dd, self.f_off, self.f_edge, self.f_pos, self.f_fa, self.f_fb, self.f_tab, self.f_tba,
                            self.s_la, self.s_lb, self.s_pos, self.s_edge, self.budget, self.penalty, self.limit,
                            s.acc_g, s.acc_c, s.bit, s.fsum)
                else:
                    store = used[0] < keep_bytes
                    u_off = np.zeros(u1 - u0 + 1, np.int64)
                    u_dd = np.empty((u1 - u0, 4))
                    buf = (np.empty(1 << 16, np.int32) for _ in range(4)) if store else (s.sx, s.sy, s.sid, s.sn)
                    s.stamp, sx, sy, sid, sn = _walk(
                        self.rg_ptr, self.rg_ind, self.rg_w, u0, u1,
                        self.u_fptr, self.u_fac, self.u_sptr, self.u_cells, self.s_qptr, self.q_node,
                        self.q_cost, self.s_bound, self.ua_val, self.ub_val, self.u_rb, self.f_off, self.f_edge,
                        self.f_pos, self.f_fa, self.f_fb, self.f_tab, self.f_tba, self.ng_ptr, self.ng_grp,
                        self.g_start, self.g_p, self.g_q, self.g_legs, self.s_la, self.s_lb, self.s_pos,
                        self.s_edge, s_row, rows, row_order, row_n, self.budget, self.penalty, self.limit, mode,
                        gsum, vs, fval, out_f,
                        s.acc_g, s.acc_c, s.dist, s.touched, s.settled, s.gstamp, s.glist, s.stamp,
                        s.px, s.py, s.pid, s.pn, s.cnt, s.bit, s.fsum, store, *buf, u_off, u_dd)
                    if store:
                        m = u_off[-1]
                        keep = (u_off, sx[:m].copy(), sy[:m].copy(), sid[:m].copy(), sn[:m].copy(), u_dd)
                        nbytes = sum(a.nbytes for a in keep)
                        with lock:
                            if used[0] + nbytes <= keep_bytes:
                                used[0] += nbytes
                                kept[chunk] = keep
            finally:
                pool.put(s)
            return int(self.u_fptr[u1] - self.u_fptr[u0])

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

    def _node_rows(self, n_threads: int, budget: float):
        """Times to every node from each end node that sides search from at cost 0, when they fit
        in ``budget`` bytes: per side its row (or -1), the rows, their settled nodes in order
        and counts. Each row is searched to the largest bound of its sides."""
        n = len(self.rg_ptr) - 1
        use = self.s_node >= 0
        nodes, inv = np.unique(self.s_node[use], return_inverse=True)
        if not len(nodes) or len(nodes) >= use.sum() or 16.0 * len(nodes) * n > budget:
            return _no_rows(len(self.s_node))
        s_row = np.full(len(self.s_node), -1, np.int64)
        s_row[use] = inv.ravel()
        bound = np.full(len(nodes), -_INF)
        np.maximum.at(bound, inv.ravel(), self.s_bound[use])
        rows = np.empty((len(nodes), n))
        order = np.empty((len(nodes), n), np.int64)
        count = np.zeros(len(nodes), np.int64)
        cuts = np.linspace(0, len(nodes), n_threads + 1).astype(np.int64)
        args = (self.rg_ptr, self.rg_ind, self.rg_w, nodes, bound)
        with ThreadPoolExecutor(n_threads) as ex:
            list(ex.map(lambda i: _fill_rows(*args, cuts[i], cuts[i + 1], rows, order, count), range(n_threads)))
        return s_row, rows, order, count


def _no_rows(n_sides: int):
    return np.full(n_sides, -1, np.int64), np.empty((0, 0)), np.empty((0, 0), np.int64), np.zeros(0, np.int64)


@dataclass(frozen=True)
class FirstStep:
    """The first 2SFCA step of a :class:`CatchmentSums`, with what its walks kept.

    Build with :meth:`CatchmentSums.first_step`. Per kept chunk of search
    units: each unit's points (whole groups and cells of cut groups, with
    how many facilities reach them on each side) and its end nodes' times.
    """

    sums: CatchmentSums
    facility_sums: np.ndarray  # per facility, as CatchmentSums.facility_sums
    kept: dict  # (first unit, end unit) -> (u_off, x, y, point id, run length, end-node times)

    @property
    def kept_units(self) -> int:
        """Search units whose catchments the second step does not search again."""
        return sum(b - a for a, b in self.kept)

    def cell_sums(self, facility_values, progress: Callable[[int], None] | None = None) -> np.ndarray:
        """:meth:`CatchmentSums.cell_sums` (same result bit for bit), searching only the units not kept."""
        return self.sums._cell_sums(facility_values, progress, self.kept)


class _Scratch:
    """One thread's working arrays; each search restores ``dist`` to inf."""

    def __init__(self, n_nodes: int, n_groups: int, n_cells: int, n_facilities: int, accumulate: bool):
        self.dist = np.full((2, n_nodes), _INF)
        self.touched = np.empty((2, n_nodes), np.int64)
        self.settled = np.empty((2, n_nodes), np.int64)
        self.gstamp = np.full(n_groups, -1, np.int64)
        self.glist = np.empty(n_groups, np.int64)
        self.acc_g = np.zeros(n_groups if accumulate else 0)
        self.acc_c = np.zeros(n_cells if accumulate else 0)
        self.stamp = 0
        # a unit's points (whole groups and cells of cut groups), unsorted and by x
        self.px, self.py, self.pid, self.pn, self.sx, self.sy, self.sid, self.sn = (
            np.empty(n_groups + n_cells, np.int32) for _ in range(8))
        # per facility rank of the largest unit
        self.cnt = np.empty(n_facilities + 2, np.int64)
        self.bit = np.empty(n_facilities + 1)
        self.fsum = np.empty(n_facilities + 1)


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


@njit(cache=True, nogil=True, inline="always")
def _reach(x, la, lb, dp, dq, budget, pen, limit):
    """A cell of legs ``la``, ``lb`` reaches a facility of leg ``x`` through end node p or q,
    whose times to the search side's seeds are ``dp``, ``dq``: ``leg + (node time + x)``."""
    return _ok(la + (dp + x), budget, pen, limit) | _ok(lb + (dq + x), budget, pen, limit)


@njit(cache=True, nogil=True)
def _count(val, lo, hi, la, lb, dp, dq, budget, pen, limit):
    """First position in ``lo..hi`` whose leg ``val[k]`` does not reach (``hi`` when all do),
    knowing that the legs reach up to ``lo`` and not from ``hi`` (``val`` ascending)."""
    if lo >= hi:
        return lo
    if not _reach(val[lo], la, lb, dp, dq, budget, pen, limit):
        return lo
    if hi - lo == 1 or _reach(val[hi - 1], la, lb, dp, dq, budget, pen, limit):
        return hi
    lo += 1
    hi -= 1
    while lo < hi:
        mid = (lo + hi) >> 1
        if _reach(val[mid], la, lb, dp, dq, budget, pen, limit):
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, nogil=True)
def _count_near(val, lo, hi, guess, la, lb, dp, dq, budget, pen, limit):
    """:func:`_count` for a cell next to one that gave ``guess``: often the same, then two tests."""
    if guess > lo and not _reach(val[guess - 1], la, lb, dp, dq, budget, pen, limit):
        return _count(val, lo, guess - 1, la, lb, dp, dq, budget, pen, limit)
    if guess < hi and _reach(val[guess], la, lb, dp, dq, budget, pen, limit):
        return _count(val, guess + 1, hi, la, lb, dp, dq, budget, pen, limit)
    return guess


@njit(cache=True, nogil=True, inline="always")
def _bit_add(bit, n, i, w):
    i += 1
    while i <= n:
        bit[i] += w
        i += i & -i


@njit(cache=True, nogil=True, inline="always")
def _bit_sum(bit, i):
    """Sum of the entries at ``0..i-1``."""
    acc = 0.0
    while i > 0:
        acc += bit[i]
        i -= i & -i
    return acc


@njit(cache=True, nogil=True)
def _walk(rg_ptr, rg_ind, rg_w, u0, u1,
          u_fptr, u_fac, u_sptr, u_cells, s_qptr, q_node, q_cost, s_bound, ua_val, ub_val, u_rb,
          f_off, f_edge, f_pos, f_fa, f_fb, f_tab, f_tba,
          ng_ptr, ng_grp, g_start, g_p, g_q, g_legs, s_la, s_lb, s_pos, s_edge,
          s_row, rows, row_order, row_n, budget, pen, limit, mode, gsum, vs, fval, out_f,
          acc_g, acc_c, dist, touched, settled, gstamp, glist, stamp,
          px, py, pid, pn, cnt, bit, fsum, store, sx, sy, sid, sn, u_off, u_dd):
    """Walk the catchments of units ``u0..u1-1``; returns the next group stamp and the point buffers.

    ``mode`` 1: ``out_f[f]`` = sum over f's catchment of the cell values
    (``gsum``: per group, ``vs``: per position). ``mode`` 2: add ``fval[f]``
    to ``acc_g`` for whole groups and to ``acc_c`` for single positions.
    Each unit's points go to ``sx, sy, sid`` (grown when ``store``: kept one
    after the other, unit ``u`` from ``u_off[u - u0]``; else overwritten) and
    its end nodes' times to ``u_dd``.

    A unit's facilities are ranked by their leg to side 0 (``ua_val``, the
    order of ``u_fac``) and to side 1 (``ub_val``; ``u_rb`` the rank). A
    time is monotone in each leg, also when rounded, so the facilities a cell
    reaches through side 0 are the first ``x`` by the first rank and those
    through side 1 the first ``y`` by the second: the cell is a point
    ``(x, y)`` and reaches facility ``k`` when ``k < x`` or ``rb[k] < y``.
    A group whose longest and shortest legs give the same point is one point.
    """
    hp = np.empty(2048, dtype=np.float64)
    nset = np.zeros(2, np.int64)
    ntch = np.zeros(2, np.int64)
    # int64 from the start: a literal 0 would have numba compile the callees it reaches a second time
    off = np.int64(0)
    for u in range(u0, u1):
        u_off[u - u0] = off
        f0 = u_fptr[u]
        f1 = u_fptr[u + 1]
        n = f1 - f0
        if mode == 2:
            rsum = 0.0
            for i in range(f0, f1):
                rsum += fval[u_fac[i]]
            if rsum == 0.0:
                continue
        ns = u_sptr[u + 1] - u_sptr[u]
        for si in range(ns):
            s = u_sptr[u] + si
            if s_row[s] >= 0:  # a shared row: the nodes within this side's bound
                nset[si] = _within(rows[s_row[s]], row_order[s_row[s]], row_n[s_row[s]], s_bound[s])
                ntch[si] = 0
            else:
                a, b, hp = _k._search(rg_ptr, rg_ind, rg_w, q_node, q_cost, s_qptr[s], s_qptr[s + 1],
                                      s_bound[s], dist[si], touched[si], hp, settled[si])
                nset[si] = a
                ntch[si] = b
        r0 = s_row[u_sptr[u]]
        r1 = s_row[u_sptr[u] + 1] if ns == 2 else -1
        d0 = rows[r0] if r0 >= 0 else dist[0]
        d1 = rows[r1] if r1 >= 0 else dist[1]
        u_dd[u - u0, 0] = d0[u_cells[u, 2]]
        u_dd[u - u0, 1] = d1[u_cells[u, 2]]
        u_dd[u - u0, 2] = d0[u_cells[u, 3]]
        u_dd[u - u0, 3] = d1[u_cells[u, 3]]
        # the groups on the nodes reached; every group, in order, when they are most
        reach = 0
        for si in range(ns):
            rs = r0 if si == 0 else r1
            order_s = row_order[rs] if rs >= 0 else settled[si]
            for i in range(nset[si]):
                reach += ng_ptr[order_s[i] + 1] - ng_ptr[order_s[i]]
        every = reach >= len(g_p)
        ng = len(g_p)
        if not every:
            stamp += 1
            ng = 0
            for si in range(ns):
                rs = r0 if si == 0 else r1
                order_s = row_order[rs] if rs >= 0 else settled[si]
                for i in range(nset[si]):
                    v = order_s[i]
                    for j in range(ng_ptr[v], ng_ptr[v + 1]):
                        g = ng_grp[j]
                        if gstamp[g] != stamp:
                            gstamp[g] = stamp
                            glist[ng] = g
                            ng += 1
        npt = np.int64(0)
        for gi in range(ng):
            g = gi if every else glist[gi]
            p = g_p[g]
            q = g_q[g]
            d0p = d0[p]
            d1p = d1[p]
            d0q = d0[q]
            d1q = d1[q]
            # longest legs: every cell of the group reaches as many; shortest: none reaches more.
            # One facility (n == 1) is searched from its own seeds: no side 1, y stays 0.
            xl = _count(ua_val, f0, f1, g_legs[g, 0], g_legs[g, 1], d0p, d0q, budget, pen, limit)
            xs = f1 if xl == f1 else _count(ua_val, xl, f1, g_legs[g, 2], g_legs[g, 3], d0p, d0q,
                                             budget, pen, limit)
            yl = f0 if xl == f1 or n == 1 else _count(ub_val, f0, f1, g_legs[g, 0], g_legs[g, 1], d1p, d1q,
                                                      budget, pen, limit)
            ys = yl if xl == f1 or yl == f1 or n == 1 else _count(ub_val, yl, f1, g_legs[g, 2], g_legs[g, 3],
                                                                  d1p, d1q, budget, pen, limit)
            if xs == f0 and ys == f0:
                continue
            if xs == xl and ys == yl:
                px[npt] = xl - f0
                py[npt] = yl - f0
                pid[npt] = g
                pn[npt] = 1
                npt += 1
                continue
            x = xl
            y = yl
            for j in range(g_start[g], g_start[g + 1]):  # cells by leg to p: neighbours reach alike
                x2 = _count_near(ua_val, xl, xs, x, s_la[j], s_lb[j], d0p, d0q, budget, pen, limit)
                y2 = _count_near(ub_val, yl, ys, y, s_la[j], s_lb[j], d1p, d1q, budget, pen, limit)
                if x2 == f0 and y2 == f0:
                    x = x2
                    y = y2
                    continue
                if x2 == x and y2 == y and j > g_start[g] and pid[npt - 1] < 0 and pn[npt - 1] - 1 - pid[npt - 1] == j:
                    pn[npt - 1] += 1  # a run of cells j0..j reaching the same facilities
                    continue
                x = x2
                y = y2
                px[npt] = x - f0
                py[npt] = y - f0
                pid[npt] = -1 - j
                pn[npt] = 1
                npt += 1
        if n == 1 and not store:
            # one facility (its own seeds, no side 1): every point is (1, 0), inside;
            # the same sums, in the same order, as the sweeps below give
            f = u_fac[f0]
            if mode == 1:
                acc = 0.0
                for i in range(npt):
                    acc += _weight(i, pid, pn, gsum, vs)
                out_f[f] = acc
            else:
                _spread(fval[f], pid, pn, 0, npt, acc_g, acc_c)
        else:
            if store and off + npt > len(sx):
                sx = _grown(sx, off, off + npt)
                sy = _grown(sy, off, off + npt)
                sid = _grown(sid, off, off + npt)
                sn = _grown(sn, off, off + npt)
            _sort_points(n, npt, px, py, pid, pn, cnt, sx, sy, sid, sn, off)
            if mode == 1:
                _demand_sweep(f0, n, u_fac, u_rb, sx, sy, sid, sn, off, off + npt, gsum, vs, bit, fsum, out_f)
            else:
                _ratio_sweep(f0, n, u_fac, u_rb, fval, sx, sy, sid, sn, off, off + npt, bit, fsum, acc_g, acc_c)
        _direct(mode, u, f0, f1, u_fac, u_cells, u_dd[u - u0], fval, f_off, f_edge, f_pos, f_fa, f_fb, f_tab, f_tba,
                s_la, s_lb, s_pos, s_edge, budget, pen, limit, vs, out_f, acc_c)
        if store:
            off += npt
        for si in range(ns):
            for i in range(ntch[si]):
                dist[si, touched[si, i]] = _INF
    u_off[u1 - u0] = off
    return stamp, sx, sy, sid, sn


@njit(cache=True, nogil=True)
def _fill_rows(rg_ptr, rg_ind, rg_w, nodes, bound, r0, r1, rows, order, count):
    """Rows ``r0..r1-1`` of :meth:`CatchmentSums._node_rows`: one bounded search each."""
    n = len(rg_ptr) - 1
    dist = np.full(n, _INF)
    touched = np.empty(n, np.int64)
    seed = np.empty(1, np.int64)
    cost = np.zeros(1)
    hp = np.empty(2048)
    for r in range(r0, r1):
        seed[0] = nodes[r]
        ns, nt, hp = _k._search(rg_ptr, rg_ind, rg_w, seed, cost, 0, 1, bound[r], dist, touched, hp, order[r])
        for v in range(n):  # a loop, not a slice assignment (seconds of compilation)
            rows[r, v] = dist[v]
        count[r] = ns
        for i in range(nt):
            dist[touched[i]] = _INF


@njit(cache=True, nogil=True)
def _within(row, order, count, bound):
    """How many of a row's settled nodes (by time) are within ``bound`` seconds."""
    lo = 0
    hi = count
    while lo < hi:
        mid = (lo + hi) >> 1
        if row[order[mid]] <= bound:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, nogil=True)
def _replay(u0, u1, u_fptr, u_fac, u_rb, u_cells, fval, sx, sy, sid, sn, u_off, u_dd,
            f_off, f_edge, f_pos, f_fa, f_fb, f_tab, f_tba, s_la, s_lb, s_pos, s_edge, budget, pen, limit,
            acc_g, acc_c, bit, fsum):
    """The second step (``mode`` 2 of :func:`_walk`) for units ``u0..u1-1`` from their kept points."""
    for u in range(u0, u1):
        f0 = u_fptr[u]
        f1 = u_fptr[u + 1]
        rsum = 0.0
        for i in range(f0, f1):
            rsum += fval[u_fac[i]]
        if rsum == 0.0:
            continue
        _ratio_sweep(f0, f1 - f0, u_fac, u_rb, fval, sx, sy, sid, sn, u_off[u - u0], u_off[u - u0 + 1], bit,
                     fsum, acc_g, acc_c)
        # mode as int64, as _walk passes it: the same compiled _direct serves both
        _direct(np.int64(2), u, f0, f1, u_fac, u_cells, u_dd[u - u0], fval, f_off, f_edge, f_pos, f_fa, f_fb, f_tab,
                f_tba, s_la, s_lb, s_pos, s_edge, budget, pen, limit, np.zeros(0), np.zeros(0), acc_c)


@njit(cache=True, nogil=True)
def _grown(a, n, need):
    out = np.empty(max(need, 2 * len(a)), a.dtype)
    for i in range(n):  # a loop: a slice assignment compiles seconds of error formatting
        out[i] = a[i]
    return out


@njit(cache=True, nogil=True)
def _sort_points(n, npt, px, py, pid, pn, cnt, sx, sy, sid, sn, off):
    """Points ``0..npt-1`` by x (counting sort, stable) into ``sx, sy, sid`` from ``off``."""
    for k in range(n + 2):
        cnt[k] = 0
    for i in range(npt):
        cnt[px[i] + 1] += 1
    for k in range(n + 1):
        cnt[k + 1] += cnt[k]
    for i in range(npt):
        t = off + cnt[px[i]]
        cnt[px[i]] += 1
        sx[t] = px[i]
        sy[t] = py[i]
        sid[t] = pid[i]
        sn[t] = pn[i]


@njit(cache=True, nogil=True, inline="always")
def _weight(i, sid, sn, gsum, vs):
    """Value of point ``i``: its group's, or its run of cells'."""
    if sid[i] >= 0:
        return gsum[sid[i]]
    acc = 0.0
    for j in range(-1 - sid[i], sn[i] - 1 - sid[i]):
        acc += vs[j]
    return acc


@njit(cache=True, nogil=True)
def _demand_sweep(f0, n, u_fac, u_rb, sx, sy, sid, sn, a, b, gsum, vs, bit, fsum, out_f):
    """Facility ``k`` of a unit (by side-0 rank) gets the points ``a..b-1`` (by x) with
    ``x > k``, then those with ``x <= k`` and ``y > rb[k]`` (a Fenwick tree over ``n - y``)."""
    for k in range(n + 1):
        fsum[k] = 0.0
        bit[k] = 0.0
    for i in range(a, b):
        fsum[sx[i]] += _weight(i, sid, sn, gsum, vs)
    run = 0.0
    above = fsum[n]
    for k in range(n - 1, -1, -1):  # in place: fsum[k] becomes the sum over x > k
        run += above
        above = fsum[k]
        fsum[k] = run
    i = a
    for k in range(n):
        while i < b and sx[i] == k:
            if sy[i] > 0:
                _bit_add(bit, n, n - sy[i], _weight(i, sid, sn, gsum, vs))
            i += 1
        out_f[u_fac[f0 + k]] = fsum[k] + _bit_sum(bit, n - u_rb[f0 + k])


@njit(cache=True, nogil=True)
def _ratio_sweep(f0, n, u_fac, u_rb, fval, sx, sy, sid, sn, a, b, bit, pre, acc_g, acc_c):
    """A point ``(x, y)`` of ``a..b-1`` (by x) gets the values of the unit's first ``x`` facilities
    by side-0 rank, then of those from ``x`` on with ``rb < y`` (a Fenwick tree over rb)."""
    pre[0] = 0.0
    for k in range(n):
        pre[k + 1] = pre[k] + fval[u_fac[f0 + k]]
        bit[k + 1] = 0.0
    i = b - 1
    for k in range(n, -1, -1):
        if k < n:
            r = fval[u_fac[f0 + k]]
            if r != 0.0:
                _bit_add(bit, n, u_rb[f0 + k], r)
        while i >= a and sx[i] == k:
            val = pre[k]
            if sy[i] > 0:
                val += _bit_sum(bit, sy[i])
            _spread(val, sid, sn, i, i + 1, acc_g, acc_c)
            i -= 1


@njit(cache=True, nogil=True, inline="always")
def _spread(val, sid, sn, a, b, acc_g, acc_c):
    """Add ``val`` to the groups or runs of cells of points ``a..b-1``."""
    for i in range(a, b):
        if sid[i] >= 0:
            acc_g[sid[i]] += val
        else:
            for j in range(-1 - sid[i], sn[i] - 1 - sid[i]):
                acc_c[j] += val


@njit(cache=True, nogil=True)
def _direct(mode, u, f0, f1, u_fac, u_cells, dd, fval, f_off, f_edge, f_pos, f_fa, f_fb, f_tab, f_tba,
            s_la, s_lb, s_pos, s_edge, budget, pen, limit, vs, out_f, acc_c):
    """Along each facility's own edge, the cells the end nodes (times ``dd``) do not bring in."""
    c_lo = u_cells[u, 0]
    c_hi = u_cells[u, 1]
    if c_hi <= c_lo:
        return
    for i in range(f0, f1):
        f = u_fac[i]
        if f_edge[f] < 0:
            continue
        r = 0.0
        if mode == 2:
            r = fval[f]
            if r == 0.0:
                continue
        c0 = f_off[f, 0]
        c1 = f_off[f, 1]
        al = min(dd[0] + c0, dd[1] + c1)
        be = min(dd[2] + c0, dd[3] + c1)
        for j in range(c_lo, c_hi):
            if s_edge[j] != f_edge[f]:
                continue
            t = _q._direct_time(s_pos[j], s_la[j], s_lb[j], f_pos[f], f_fa[f], f_fb[f], f_tab[f], f_tba[f])
            if (not _ok(t, budget, pen, limit) or _ok(s_la[j] + al, budget, pen, limit)
                    or _ok(s_lb[j] + be, budget, pen, limit)):
                continue
            if mode == 1:
                out_f[f] += vs[j]
            else:
                acc_c[j] += r


# --------------------------------------------------------------------------
# Preparation
# --------------------------------------------------------------------------
def catchment_sums(graph: Graph, facilities: Snap, cells: Snap, limit_s: float, penalty_s: float = 0.0,
                   n_threads: int | None = None, memory_mb: float = 512.0) -> CatchmentSums:
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
    memory_mb : float
        Most megabytes spent on saving work: first the times from every end
        node that several facilities share (16 bytes per node of the graph
        each), searched once instead of once per edge; then what
        :meth:`~CatchmentSums.first_step` keeps for the second step (16
        bytes per whole group or run of cells of a cut group in a unit's
        catchments: about 400 MB for 200,000 facilities over a county's
        84,431 cells). Beyond it the walks search again: what the first step
        kept and what the second searches again give the same result bit for
        bit, and the node rows change only the order of the sums (about
        1e-15 relative).

    Returns
    -------
    CatchmentSums
        Call :meth:`~CatchmentSums.first_step` (or
        :meth:`~CatchmentSums.facility_sums`) and
        :meth:`~CatchmentSums.cell_sums` on it. Memory: the graph and a few
        arrays per cell and facility, per thread a few arrays per node and
        cell, and ``memory_mb``; never per (facility, cell) pair.

    Examples
    --------
    Two-step floating catchment, supply per 1,000 persons::

        cs = catchment_sums(graph, facilities, cells, 1800.0)
        first = cs.first_step(persons)
        demand = first.facility_sums
        ratio = np.divide(beds, demand, out=np.zeros_like(beds), where=demand > 0)
        per_1000 = 1000.0 * first.cell_sums(ratio)
    """
    budget, pen = _q._budget(graph, limit_s, penalty_s, facilities=facilities, cells=cells)
    n = graph.n_nodes
    rg = _q.reverse_graph(graph)
    n_threads = max(1, int(n_threads if n_threads is not None else (os.cpu_count() or 1)))
    groups, keys, key_start = _cell_groups(cells, n)
    return CatchmentSums(
        n_facilities=len(facilities), n_cells=len(cells), budget=budget, penalty=pen, limit=float(limit_s),
        n_threads=n_threads, memory_mb=float(memory_mb), rg_ptr=rg.indptr, rg_ind=rg.indices, rg_w=rg.weights,
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
    u_fptr = np.r_[np.arange(n1 + 1), n1 + np.r_[starts[1:], len(m_rows)][:n2]].astype(np.int64)
    u_fac = np.r_[s_rows, m_rows].astype(np.int64)
    # ranks by the leg to side 1 within each unit (u_fac is by leg to side 0)
    uid = np.repeat(np.arange(len(u_fptr) - 1), np.diff(u_fptr))
    vb = f_off[u_fac, 1]
    ob = np.lexsort((vb, uid))
    u_rb = np.empty(len(u_fac), np.int64)
    u_rb[ob] = np.arange(len(u_fac)) - u_fptr[uid[ob]]
    return dict(
        u_fptr=u_fptr, u_fac=u_fac, ua_val=f_off[u_fac, 0].copy(), ub_val=vb[ob], u_rb=u_rb,
        u_sptr=np.r_[np.arange(n1 + 1), n1 + 2 * np.arange(1, n2 + 1)].astype(np.int64),
        u_cells=u_cells,
        s_qptr=np.r_[sptr, sptr[-1] + np.arange(1, 2 * n2 + 1)].astype(np.int64),
        q_node=np.r_[s_nodes, np.stack([node_a[sh], node_b[sh]], 1).ravel()].astype(np.int64),
        q_cost=np.r_[s_costs, np.zeros(2 * n2)],
        s_bound=s_bound, f_off=f_off, f_edge=np.where(ok, e, -1),
        s_node=np.where(np.isfinite(s_bound), np.r_[np.full(n1, -1), np.stack([node_a[sh], node_b[sh]], 1).ravel()],
                        -1).astype(np.int64),
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
