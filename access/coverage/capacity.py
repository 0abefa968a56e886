"""Capacity-aware coverage: who is served when facilities can take only so many.

Floating-catchment ratios (:mod:`access.siting.fca`) say how much supply
there is per person; a health bureau also asks *who* is served. Here each
facility serves the nearest residual demand first, up to its capacity, as
AccessMod's geographic coverage analysis does (WHO AccessMod 5 manual,
section 5.5.4 and Appendix 4 "Calculation details - Geographic coverage
analysis"):

1. facilities are processed one after the other in a processing order
   (by default the largest capacity first, the manual's worked example);
2. each facility's catchment grows ring by ring of travel time (one-minute
   rings, as AccessMod's cumulative travel-time zones) over the *residual*
   population, up to the time limit;
3. when a ring holds more persons than the facility has room left, every
   cell of that ring gives the same share of its residual persons, so the
   facility ends exactly at its capacity;
4. served persons are removed from the residual population before the next
   facility is processed, so nobody is counted twice.

Each facility's catchment is routed when its turn comes and served at once
(:func:`allocate_network`), so a million cells and thousands of facilities
need the graph and a few numbers per node and per cell, never a table of
(facility, cell) pairs.

Capacity is given in persons: beds, doctors or places times the persons one
unit serves (e.g. 1,000 / 5 = 200 persons per bed for a target of 5 beds per
1,000 persons).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numba import njit

from access.errors import InputError
from access.network.graph import Graph
from access.network.snap import Snap
from access.progress import Progress
from access.routing import sums

__all__ = ["Allocation", "allocate", "allocate_network", "by_township", "persons_per_unit", "processing_order"]


@dataclass(frozen=True)
class Allocation:
    """Result of :func:`allocate` and :func:`allocate_network`.

    Attributes
    ----------
    served : ndarray, shape (n_cells,)
        Persons of each cell served by some facility within the limit.
    in_reach : ndarray of bool, shape (n_cells,)
        The cell has at least one facility within the limit (capacity-free
        coverage).
    unserved : ndarray, shape (n_cells,)
        ``demand - served``: persons not served (out of reach or crowded out).
    load : ndarray, shape (n_facilities,)
        Persons served by each facility (never more than its capacity).
    demand_in_reach : ndarray, shape (n_facilities,)
        Persons within the limit of each facility, counted for every facility
        they can reach.
    demand_nearest : ndarray, shape (n_facilities,)
        Persons for whom the facility is the nearest within the limit (ties
        go to the lower facility row), i.e. the load it would carry if every
        person went to the nearest facility regardless of capacity.
    order : ndarray of int, shape (n_facilities,)
        Facility rows in processing order.
    """

    served: np.ndarray
    in_reach: np.ndarray
    unserved: np.ndarray
    load: np.ndarray
    demand_in_reach: np.ndarray
    demand_nearest: np.ndarray
    order: np.ndarray


def persons_per_unit(per_1000: float) -> float:
    """Persons one unit of capacity serves under a per-1,000 target.

    >>> persons_per_unit(5.0)  # 5 beds per 1,000 persons -> 200 persons a bed
    200.0
    """
    if not per_1000 > 0:
        raise InputError(f"capacity target: per_1000 must be > 0, got {per_1000!r}; "
                         "it converts beds or places into persons served.")
    return 1000.0 / float(per_1000)


def _pairs(table: pd.DataFrame, n_fac: int, n_cells: int):
    """The table's columns as arrays, grouped by facility with each cell once (at its shortest time)."""
    need = {"facility", "cell", "seconds"}
    if not need <= set(table.columns):
        raise InputError(f"cost table: needs columns facility, cell, seconds (got {list(table.columns)}); "
                         "use access.routing.catchments().")
    f = table["facility"].to_numpy(np.int64)
    c = table["cell"].to_numpy(np.int64)
    t = table["seconds"].to_numpy(np.float64)
    if len(f) and (f.min() < 0 or f.max() >= n_fac or c.min() < 0 or c.max() >= n_cells):
        raise InputError(f"cost table: facility rows must lie in 0..{n_fac - 1} and cell rows in "
                         f"0..{n_cells - 1}; the table does not belong to these facilities and cells.")
    if not _sorted_unique(f, c):  # catchments come sorted; other tables are sorted here
        k = np.lexsort((t, c, f))
        f, c, t = f[k], c[k], t[k]
        first = np.r_[True, (f[1:] != f[:-1]) | (c[1:] != c[:-1])]
        f, c, t = f[first], c[first], t[first]
    return f, c, t


@njit(cache=True, nogil=True)
def _sorted_unique(f, c):
    """Whether pairs are sorted by facility, then strictly by cell (as catchments come)."""
    for i in range(1, len(f)):
        if f[i] < f[i - 1] or (f[i] == f[i - 1] and c[i] <= c[i - 1]):
            return False
    return True


def processing_order(capacity, order=None) -> np.ndarray:
    """Facility rows in the order they are served: largest capacity first (ties by row) or ``order``.

    Parameters
    ----------
    capacity : array-like, shape (n_facilities,)
        Persons each facility can serve.
    order : "capacity", sequence of int or None
        ``None`` or ``"capacity"`` for largest first, else a permutation of
        the facility rows, returned as given.
    """
    capacity = np.asarray(capacity, dtype=np.float64)
    n = len(capacity)
    if order is None or (isinstance(order, str) and order == "capacity"):
        return np.lexsort((np.arange(n), -capacity))  # largest first, then row
    o = np.asarray(order, dtype=np.int64)
    if o.shape != (n,) or not np.array_equal(np.sort(o), np.arange(n)):
        raise InputError(f"capacity allocation: order must be a permutation of the {n} facility rows "
                         "or 'capacity'.")
    return o


def _checked(capacity, demand, ring_s: float) -> tuple[np.ndarray, np.ndarray]:
    cap = np.asarray(capacity, dtype=np.float64)
    dem = np.asarray(demand, dtype=np.float64)
    if np.isnan(cap).any() or (cap < 0).any():
        bad = int(np.flatnonzero(np.isnan(cap) | (cap < 0))[0])
        raise InputError(f"capacity allocation: capacity of facility row {bad} is {cap[bad]!r}; "
                         "give a number >= 0 (0 serves nobody).")
    if np.isnan(dem).any() or (dem < 0).any():
        raise InputError("capacity allocation: demand holds NaN or negative persons; clean the population input.")
    if ring_s < 0:
        raise InputError(f"capacity allocation: ring_s must be >= 0, got {ring_s!r}.")
    return cap, dem


def allocate(table: pd.DataFrame, capacity, demand, limit_s: float, ring_s: float = 60.0,
             order=None) -> Allocation:
    """Serve the nearest residual demand first, facility by facility, up to capacity.

    Parameters
    ----------
    table : DataFrame
        ``facility``, ``cell``, ``seconds`` (travel time from the cell to the
        facility), e.g. from :func:`access.routing.queries.catchments`.
        Pairs slower than ``limit_s`` are ignored; a pair given twice counts
        once, at its shorter time.
    capacity : array-like, shape (n_facilities,)
        Persons each facility can serve (NaN or negative is an error; 0 serves
        nobody).
    demand : array-like, shape (n_cells,)
        Persons per cell (of the demand group), >= 0.
    limit_s : float
        Time limit, seconds.
    ring_s : float
        Width of the travel-time rings, seconds (60: AccessMod's one-minute
        zones). Cells of one ring are served in proportion when the facility
        fills up inside it. 0 serves strictly by time (ties still shared).
    order : "capacity", sequence of int or None
        Processing order: largest capacity first (default) or an explicit
        permutation of facility rows.

    Returns
    -------
    Allocation

    See Also
    --------
    allocate_network : the same, routing each catchment as its turn comes.
    """
    cap, dem = _checked(capacity, demand, ring_s)
    proc = processing_order(cap, order)
    return _allocate(*_pairs(table, len(cap), len(dem)), cap, dem, float(limit_s), float(ring_s), proc)


def allocate_network(graph: Graph, facilities: Snap, cells: Snap, capacity, demand, limit_s: float,
                     penalty_s: float = 0.0, ring_s: float = 60.0, order=None,
                     progress: Callable[[int], None] | None = None) -> Allocation:
    """:func:`allocate` routing each facility's catchment as its turn comes, without a table of pairs.

    Each facility's catchment (the cells and seconds
    :func:`access.routing.queries.catchments` lists for it, bit for bit) is
    searched on the graph and served at once, so memory is the graph and a
    few numbers per node and per cell, whatever the numbers of facilities
    and pairs.

    Parameters
    ----------
    graph : Graph
        Forward graph of one travel mode (seconds).
    facilities, cells : Snap
        Snapped facilities (rows as ``capacity``) and cells (rows as ``demand``).
    capacity, demand, limit_s, ring_s, order
        As :func:`allocate`; ``limit_s`` includes the penalty.
    penalty_s : float
        Fixed seconds added once per trip.
    progress : callable, optional
        Called with the number of facilities served since the last call.

    Returns
    -------
    Allocation
        Equal to ``allocate(catchments(graph, facilities, cells, limit_s, penalty_s), ...)``.
    """
    cap, dem = _checked(capacity, demand, ring_s)
    if len(cap) != len(facilities) or len(dem) != len(cells):
        raise InputError(f"capacity allocation: {len(cap)} capacities for {len(facilities)} facilities and "
                         f"{len(dem)} demand values for {len(cells)} cells; give one per row.")
    proc = processing_order(cap, order)
    fc = sums.facility_catchments(graph, facilities, cells, limit_s, penalty_s)
    st = _State(cap, dem, float(limit_s), float(ring_s))
    scratch = fc.scratch()
    hp = np.empty(2048)
    out_c, out_t = np.empty(len(dem), np.int64), np.empty(len(dem))
    i, step = 0, 1
    while i < len(proc):  # in calls of about a tenth of a second, for the progress and the sorted rings
        t0 = time.perf_counter()
        i1 = min(len(proc), i + step)
        nxt, k, hp = _serve_stream(i, i1, proc, *fc.arrays(), *scratch, hp, out_c, out_t, *st.args())
        if k >= 0:  # rings too many to count: served from Python
            _serve_sorted(out_c[:k], out_t[:k], st, int(proc[nxt - 1]))
        if progress is not None:
            progress(nxt - i)
        i = nxt
        step = min(step * 2, 4096) if time.perf_counter() - t0 < 0.1 else max(1, step // 2)
    return st.result(proc)


# one facility's pairs are put into rings by counting when there are at most this many rings, else sorted
_MAX_COUNTED_RINGS = 4096


class _State:
    """Residual persons, reach and loads while facilities are served one after another."""

    def __init__(self, cap: np.ndarray, dem: np.ndarray, limit_s: float, ring_s: float):
        n_fac, n_cells = len(cap), len(dem)
        self.cap, self.dem, self.limit_s, self.ring_s = cap, dem, limit_s, ring_s
        self.residual = dem.copy()
        self.load = np.zeros(n_fac)
        self.demand_in_reach = np.zeros(n_fac)
        self.in_reach = np.zeros(n_cells, bool)
        self.best_t = np.full(n_cells, np.inf)
        self.best_row = np.full(n_cells, -1, np.int64)  # nearest facility row within the limit, -1 for none
        n_rings = int(np.floor(limit_s / ring_s)) + 1 if ring_s > 0 and np.isfinite(limit_s) else 0
        # empty: rings are sorted (from Python), not counted
        self.want = np.zeros(n_rings if 0 < n_rings <= _MAX_COUNTED_RINGS else 0)

    def args(self) -> tuple:
        return (self.cap, self.dem, self.limit_s, self.ring_s, self.want, self.residual, self.load,
                self.demand_in_reach, self.in_reach, self.best_t, self.best_row)

    def result(self, proc: np.ndarray) -> Allocation:
        near = self.best_row >= 0
        demand_nearest = np.bincount(self.best_row[near], weights=self.dem[near], minlength=len(self.cap))
        return Allocation(served=self.dem - self.residual, in_reach=self.in_reach, unserved=self.residual,
                          load=self.load, demand_in_reach=self.demand_in_reach, demand_nearest=demand_nearest,
                          order=proc)


def _allocate(f, c, t, cap: np.ndarray, dem: np.ndarray, limit_s: float, ring_s: float,
              proc: np.ndarray) -> Allocation:
    """Serve pairs grouped by facility row (each cell once per facility) in processing order."""
    st = _State(cap, dem, limit_s, ring_s)
    if len(t) and np.nanmin(t) < 0:  # negative times make no rings to count
        st.want = st.want[:0]
    start = np.zeros(len(cap) + 1, np.int64)
    np.cumsum(np.bincount(f, minlength=len(cap)), out=start[1:])
    if len(st.want):
        _serve_table(c, t, start, proc, *st.args())
    else:
        for j in proc:
            a, b = start[j], start[j + 1]
            if _serve_one(c[a:b], t[a:b], j, *st.args()):
                _serve_sorted(c[a:b], t[a:b], st, int(j))
    return st.result(proc)


@njit(cache=True, nogil=True)
def _serve_table(c, t, start, proc, cap, dem, limit_s, ring_s, want, residual, load, demand_in_reach, in_reach,
                 best_t, best_row):
    """Serve facility rows ``proc`` in turn, row ``j``'s pairs being ``start[j]:start[j+1]``."""
    for j in proc:
        a, b = start[j], start[j + 1]
        _serve_one(c[a:b], t[a:b], j, cap, dem, limit_s, ring_s, want, residual, load, demand_in_reach, in_reach,
                   best_t, best_row)


@njit(cache=True, nogil=True)
def _serve_stream(i0, i1, proc, rg_ptr, rg_ind, rg_w, q_ptr, q_node, q_cost, j_ptr, j_cell, j_leg, d_ptr, d_cell,
                  d_time, budget, pen, dist, touched, settled, tcell, b1, b2, hp, out_c, out_t,
                  cap, dem, limit_s, ring_s, want, residual, load, demand_in_reach, in_reach, best_t, best_row):
    """Route and serve facilities ``proc[i0:i1]`` in turn (see :func:`allocate_network`).

    Returns ``(next, k, hp)``: ``k >= 0`` when facility ``proc[next - 1]``
    still has to be served from its catchment ``out_c[:k], out_t[:k]`` by
    sorted rings; -1 otherwise.
    """
    for i in range(i0, i1):
        j = proc[i]
        k, hp = sums.catchment_into(j, rg_ptr, rg_ind, rg_w, q_ptr, q_node, q_cost, j_ptr, j_cell, j_leg, d_ptr,
                                    d_cell, d_time, budget, pen, dist, touched, settled, tcell, b1, b2, hp,
                                    out_c, out_t)
        if _serve_one(out_c[:k], out_t[:k], j, cap, dem, limit_s, ring_s, want, residual, load, demand_in_reach,
                      in_reach, best_t, best_row):
            return i + 1, k, hp
    return i1, -1, hp


@njit(cache=True, nogil=True)
def _serve_one(c, t, j, cap, dem, limit_s, ring_s, want, residual, load, demand_in_reach, in_reach, best_t,
               best_row):
    """Serve facility row ``j`` from its catchment: cells ``c`` (each once) at ``t`` seconds.

    Pairs slower than ``limit_s`` (or not finite) are skipped. Updates in
    place the per-cell ``residual`` persons, ``in_reach`` and nearest
    facility ``best_row`` at ``best_t`` seconds (ties to the lower row), and
    ``load[j]`` and ``demand_in_reach[j]``. ``want`` (one slot per ring)
    puts the pairs into rings by counting; when it is empty, returns True
    if the facility still has to be served by sorted rings
    (:func:`_serve_sorted`), else False.
    """
    # capacity-free reach and nearest facility, and persons wanting each ring
    lo, hi = 0, -1  # rings lo..hi of want are in use
    for p in range(len(c)):
        cc, tt = c[p], t[p]
        if not (tt <= limit_s and np.isfinite(tt)):
            continue
        if tt < best_t[cc] or (tt == best_t[cc] and j < best_row[cc]):
            best_t[cc] = tt
            best_row[cc] = j
        in_reach[cc] = True
        demand_in_reach[j] += dem[cc]
        if len(want):
            r = int(np.floor(tt / ring_s))
            if hi < lo:
                want[r] = 0.0
                lo = hi = r
            elif r < lo:
                want[r:lo] = 0.0
                lo = r
            elif r > hi:
                want[hi + 1:r + 1] = 0.0
                hi = r
            want[r] += residual[cc]
    room = cap[j]
    if room <= 0 or not len(c):
        return False
    if not len(want):
        return True
    stop = 1e-9 * max(cap[j], 1.0)
    # whole rings while they fit, then a share of the ring where the facility fills
    full, part, share = -1, -1, 0.0
    for r in range(lo, hi + 1):
        if want[r] <= 0:
            continue
        if want[r] <= room:
            load[j] += want[r]
            room -= want[r]
            full = r
            if room <= stop:
                break
        else:
            part, share = r, room / want[r]
            break
    if full < 0 and part < 0:
        return False
    got = 0.0
    for p in range(len(c)):
        tt = t[p]
        if not (tt <= limit_s and np.isfinite(tt)):
            continue
        r = int(np.floor(tt / ring_s))
        if r <= full:
            residual[c[p]] = 0.0
        elif r == part:
            take = residual[c[p]] * share
            residual[c[p]] = max(residual[c[p]] - take, 0.0)
            got += take
    load[j] += got
    return False


def _serve_sorted(c: np.ndarray, t: np.ndarray, st: _State, j: int) -> None:
    """Serve facility row ``j`` ring by ring in time order (times when ``ring_s`` is 0), for many,
    unbounded or negative rings; a ring that does not fit is served in proportion."""
    room = st.cap[j]
    stop = 1e-9 * max(room, 1.0)
    ok = np.flatnonzero((t <= st.limit_s) & np.isfinite(t))
    if not len(ok):
        return
    key = np.floor(t[ok] / st.ring_s) if st.ring_s > 0 else t[ok]
    by = np.argsort(key, kind="stable")
    cells, key = c[ok[by]], key[by]
    bounds = np.flatnonzero(np.r_[True, key[1:] != key[:-1], True])
    residual = st.residual
    for a, b in zip(bounds[:-1], bounds[1:]):
        cc = cells[a:b]
        want = np.cumsum(residual[cc])[-1]  # summed in the order of the ring's pairs, as counted rings are
        if want <= 0:
            continue
        if want <= room:
            got = want
            residual[cc] = 0.0
        else:
            take = residual[cc] * (room / want)
            residual[cc] = np.maximum(residual[cc] - take, 0.0)
            got = np.cumsum(take)[-1]
        st.load[j] += got
        room -= got
        if room <= stop:
            break


def by_township(alloc: Allocation, demand, township) -> pd.DataFrame:
    """Persons in reach (capacity-free) and served (capacity-aware) per township.

    Returns
    -------
    DataFrame with ``township``, ``population``, ``in_reach`` (persons with a
    facility within the limit), ``served`` (persons served within the limit
    and capacity), ``crowded_out`` (``in_reach - served``), ``share_in_reach``
    and ``share_served`` (of ``population``).
    """
    dem = np.asarray(demand, dtype=np.float64)
    df = pd.DataFrame({"township": np.asarray(township), "population": dem,
                       "in_reach": np.where(alloc.in_reach, dem, 0.0), "served": alloc.served})
    g = df.groupby("township", sort=True, dropna=False)[["population", "in_reach", "served"]].sum().reset_index()
    g["crowded_out"] = (g["in_reach"] - g["served"]).clip(lower=0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        g["share_in_reach"] = np.where(g["population"] > 0, g["in_reach"] / g["population"], np.nan)
        g["share_served"] = np.where(g["population"] > 0, g["served"] / g["population"], np.nan)
    return g


TOWNSHIP_COLUMNS = ["target", "township", "township_name", "population", "in_reach", "served", "crowded_out",
                    "share_in_reach", "share_served"]
FACILITY_COLUMNS = ["target", "id", "name", "category", "township_name", "capacity", "persons_per_unit",
                    "capacity_persons", "demand_in_reach", "demand_nearest", "load", "utilisation",
                    "shortfall_persons", "oversubscribed"]


def target_tables(target, allocator: Callable[..., Allocation],
                  fac: pd.DataFrame, capacity_units, cells: pd.DataFrame, townships=None, demand=None,
                  progress: Progress | None = None) -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame]:
    """Allocate one ``[[targets]]`` entry and tabulate it per township and per facility.

    Parameters
    ----------
    target : access.scenario.Target
        Gives the name, ``per_1000`` (persons per unit) and ``minutes``.
    allocator : callable
        ``allocator(capacity, demand, limit_s, order=..., progress=...)``
        allocates ``fac`` (persons, by row) over the cells, e.g.
        ``functools.partial(allocate_network, graph, snaps, cell_snaps, penalty_s=60.0)``.
    fac : DataFrame
        The target's facilities: ``id``, ``name``, ``category`` and point
        geometry in the study CRS.
    capacity_units : array-like
        Beds, doctors or places per facility (NaN counts as 0).
    cells : DataFrame
        ``population``, ``township`` and ``township_name`` per cell.
    townships : GeoDataFrame, optional
        Township polygons (``name``) to name each facility's township.
    demand : array-like, optional
        Persons per cell the target serves (its demand group, e.g. children
        aged 3-5 for kindergarten places); ``cells["population"]`` by
        default. The tables' ``population`` is then persons of that group.
    progress : Progress, optional
        Shows the facilities served so far.

    Returns
    -------
    served : ndarray
        Persons served per cell.
    township, facilities : DataFrame
        :data:`TOWNSHIP_COLUMNS` and :data:`FACILITY_COLUMNS`; the
        facilities are sorted by ``shortfall_persons``, largest first.
    """
    ppu = persons_per_unit(target.per_1000)
    units = np.nan_to_num(np.asarray(capacity_units, dtype=np.float64), nan=0.0)
    pop = cells["population"].to_numpy(np.float64) if demand is None else np.asarray(demand, np.float64)
    order = processing_order(units * ppu)
    bar = (progress or Progress(True)).bar(len(units), f"capacity {target.name}", unit="facility")

    alloc = allocator(units * ppu, pop, target.minutes * 60.0, order=order, progress=bar.update)
    bar.close()
    tw = by_township(alloc, pop, cells["township"].to_numpy())
    names = cells.groupby("township", sort=False)["township_name"].first() if "township_name" in cells else None
    tw.insert(0, "target", target.name)
    tw.insert(2, "township_name", tw["township"].map(names) if names is not None else "")
    cap_p = units * ppu
    ft = pd.DataFrame({
        "target": target.name,
        "id": fac["id"].to_numpy() if "id" in fac else np.arange(len(fac)),
        "name": fac["name"].to_numpy() if "name" in fac else "",
        "category": fac["category"].to_numpy(),
        "township_name": _facility_townships(fac, townships),
        "capacity": units, "persons_per_unit": ppu, "capacity_persons": cap_p,
        "demand_in_reach": alloc.demand_in_reach, "demand_nearest": alloc.demand_nearest, "load": alloc.load,
    })
    with np.errstate(invalid="ignore", divide="ignore"):
        ft["utilisation"] = np.where(cap_p > 0, alloc.load / cap_p, np.nan)
    ft["shortfall_persons"] = np.maximum(alloc.demand_nearest - cap_p, 0.0)
    ft["oversubscribed"] = alloc.demand_nearest > cap_p
    ft = ft.sort_values(["shortfall_persons", "id"], ascending=[False, True], kind="stable").reset_index(drop=True)
    return alloc.served, tw[TOWNSHIP_COLUMNS], ft[FACILITY_COLUMNS]


def _facility_townships(fac, townships) -> np.ndarray:
    """Name of the township polygon holding each facility ("" outside every one)."""
    if townships is None or not len(fac) or "geometry" not in getattr(fac, "columns", ()):
        return np.full(len(fac), "", dtype=object)
    import shapely

    out = np.full(len(fac), "", dtype=object)
    pts = fac.geometry.to_numpy()
    for name, g in zip(townships["name"], townships.geometry):
        out[(out == "") & shapely.contains(g, pts)] = name
    return out
