"""Inputs and results shared by the location models of :mod:`access.siting.locate`.

The cost table, weight and coverage vectors are checked here (bad input stops
with an :class:`access.errors.InputError` naming the column, row and fix), and
every model reports a :class:`Solution`. Demand rows reached by exactly the
same candidates can be merged into one weighted row (covering models).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numba import njit

from access.errors import InputError


@dataclass
class Solution:
    """Result of one location-allocation run.

    Attributes
    ----------
    problem : str
        ``set_covering``, ``maximal_covering``, ``p_median`` or ``p_center``.
    sites : ndarray of int64
        Chosen new candidate numbers, ascending.
    objective : float
        Sites opened (set covering), covered weight in persons including
        demand already covered by existing facilities (maximal covering),
        total weighted seconds (p-median) or the largest seconds (p-center).
    bound : float
        Proven best possible objective (upper bound when maximising, lower
        bound when minimising). Equal to ``objective`` when proven optimal.
    gap : float
        ``|bound - objective| / |bound|`` (0 when optimal).
    solver : str
        ``highs`` (exact MILP) or ``greedy+swap`` (heuristic with Lagrangian bound).
    seconds : float
        Wall-clock time spent, seconds.
    assignment : ndarray of int64, shape (n_demand,)
        Chosen new site serving each demand point (nearest within the
        standard for covering models); -1 when an existing facility serves it
        at least as well, or nothing does.
    cost : ndarray of float64, shape (n_demand,)
        Seconds from each demand point to the nearest open facility (new or
        existing); ``inf`` when none is reachable.
    covered : ndarray of bool, shape (n_demand,)
        Covering models: within the standard after opening ``sites``
        (existing included). Other models: ``cost`` finite.
    uncoverable : ndarray of int64
        Demand points no candidate and no existing facility can serve.
    notes : list of str
        Remarks (solver status, reductions applied).
    """

    problem: str
    sites: np.ndarray
    objective: float
    bound: float
    gap: float
    solver: str
    seconds: float
    assignment: np.ndarray
    cost: np.ndarray
    covered: np.ndarray
    uncoverable: np.ndarray
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------ inputs
@dataclass
class _Pairs:
    d: np.ndarray  # demand row, int64
    c: np.ndarray  # candidate, int64
    t: np.ndarray  # seconds
    n_demand: int
    n_cand: int


def _pairs(table: pd.DataFrame, n_demand: int | None, n_candidates: int | None) -> _Pairs:
    if isinstance(table, pd.DataFrame) and not {"demand", "candidate"} <= set(table.columns) \
            and {"cell", "facility"} <= set(table.columns):
        table = table.rename(columns={"cell": "demand", "facility": "candidate"})
    if not isinstance(table, pd.DataFrame) or not {"demand", "candidate", "seconds"} <= set(table.columns):
        have = list(table.columns) if isinstance(table, pd.DataFrame) else type(table).__name__
        raise InputError(f"cost table: needs columns demand, candidate, seconds (got {have}); "
                         "rename your columns or use access.routing.catchments().")
    d = table["demand"].to_numpy()
    c = table["candidate"].to_numpy()
    t = table["seconds"].to_numpy(dtype=np.float64)
    problems = []
    for name, a in (("demand", d), ("candidate", c)):
        if len(a) and not np.issubdtype(a.dtype, np.integer):
            problems.append(f"cost table column {name!r}: must hold integer row numbers, got {a.dtype}.")
        elif len(a) and a.min() < 0:
            problems.append(f"cost table column {name!r}: negative value at row {int(np.argmin(a))}.")
    bad = np.flatnonzero(np.isnan(t) | (t < 0))
    if len(bad):
        problems.append(f"cost table column 'seconds': {len(bad)} values are NaN or negative (first at "
                        f"row {bad[0]}: {t[bad[0]]}); drop unreachable pairs instead.")
    if problems:
        raise InputError(problems)
    nd = int(d.max()) + 1 if len(d) else 0
    nc = int(c.max()) + 1 if len(c) else 0
    for name, n, have in (("n_demand", n_demand, nd), ("n_candidates", n_candidates, nc)):
        if n is not None and n < have:
            problems.append(f"{name}={n} but the cost table refers to row {have - 1}; "
                            f"give {name} >= {have}.")
    if problems:
        raise InputError(problems)
    keep = np.isfinite(t)
    return _Pairs(d[keep].astype(np.int64), c[keep].astype(np.int64), t[keep],
                  nd if n_demand is None else int(n_demand), nc if n_candidates is None else int(n_candidates))


def _vec(x, name: str, n: int, default: float, allow_inf: bool = False) -> np.ndarray:
    if x is None:
        return np.full(n, default, dtype=np.float64)
    a = np.asarray(x, dtype=np.float64).ravel()
    if len(a) != n:
        raise InputError(f"{name}: {len(a)} values but {n} demand points; give one per demand point.")
    bad = np.isnan(a) | (a < 0) | (np.isinf(a) & (not allow_inf))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{name}: {int(bad.sum())} values are negative or NaN"
                         f"{'' if allow_inf else ' or infinite'} (first at row {i}: {a[i]}); "
                         f"{'use inf for no existing facility' if allow_inf else 'fill missing with 0'}.")
    return a


def _covered_vec(covered, n: int) -> np.ndarray:
    if covered is None:
        return np.zeros(n, dtype=bool)
    a = np.asarray(covered).ravel()
    if len(a) != n:
        raise InputError(f"covered: {len(a)} values but {n} demand points; give one bool per demand point.")
    return a.astype(bool)


def _p(p, n_cand: int) -> int:
    if int(p) != p or p < 0:
        raise InputError(f"p: {p!r} must be a whole number of new sites >= 0.")
    if p > n_cand:
        raise InputError(f"p={p} new sites but only {n_cand} candidates; lower p or add candidates.")
    return int(p)


def _finish(problem, sites, objective, bound, solver, t0, P, covered_any, cost_fn, notes,
            existing_s=None, limit_s=None):
    sites = np.unique(np.asarray(sites, dtype=np.int64))
    open_ = np.zeros(P.n_cand, dtype=bool)
    open_[sites] = True
    m = open_[P.c]
    if limit_s is not None:
        m &= P.t <= limit_s
    d, c, t = P.d[m], P.c[m], P.t[m]
    order = np.lexsort((c, t, d))
    d, c, t = d[order], c[order], t[order]
    first = np.r_[True, d[1:] != d[:-1]] if len(d) else np.zeros(0, bool)
    best_t = np.full(P.n_demand, np.inf)
    best_c = np.full(P.n_demand, -1, dtype=np.int64)
    best_t[d[first]] = t[first]
    best_c[d[first]] = c[first]
    ex = np.full(P.n_demand, np.inf) if existing_s is None else existing_s
    cost = np.minimum(best_t, ex)
    assignment = np.where(best_t < ex, best_c, -1)
    covered = cost_fn(cost, best_c)
    gap = 0.0 if bound == objective else abs(bound - objective) / max(abs(bound), 1e-300)
    reachable = np.zeros(P.n_demand, dtype=bool)
    reachable[P.d if limit_s is None else P.d[P.t <= limit_s]] = True
    uncoverable = np.flatnonzero(~reachable & ~covered_any)
    return Solution(problem, sites, float(objective), float(bound), float(gap), solver,
                    time.perf_counter() - t0, assignment, cost, covered, uncoverable, notes)


def _merge_rows(rinv, cj, wr):
    """Group demand rows with identical candidate sets: (group weights,
    group-level pairs as group and candidate arrays)."""
    order = np.lexsort((cj, rinv))
    r, c = rinv[order], cj[order].astype(np.int64)
    ptr = np.searchsorted(r, np.arange(len(wr) + 1))
    h = _row_hash(ptr, c)
    grp = _group_rows(ptr, c, np.lexsort((h, np.diff(ptr))))
    n = int(grp.max(initial=-1)) + 1
    gw = np.bincount(grp, weights=wr, minlength=n)
    first = np.zeros(n, dtype=np.int64)
    first[grp[::-1]] = np.arange(len(wr))[::-1]
    sel = np.isin(r, first)
    return gw, grp[r[sel]], c[sel]


@njit(cache=True)
def _row_hash(ptr, c):
    h = np.empty(len(ptr) - 1, np.uint64)
    for i in range(len(ptr) - 1):
        v = np.uint64(1469598103934665603)
        for q in range(ptr[i], ptr[i + 1]):
            v = (v ^ np.uint64(c[q])) * np.uint64(1099511628211)
        h[i] = v
    return h


@njit(cache=True)
def _group_rows(ptr, c, order):
    # walk rows sorted by (length, hash); equal lists (checked, so a hash
    # collision only costs a merge) share the group of the run's first row
    grp = np.empty(len(ptr) - 1, np.int64)
    n, lead = -1, -1
    for k in range(len(order)):
        i = order[k]
        same = lead >= 0 and ptr[i + 1] - ptr[i] == ptr[lead + 1] - ptr[lead]
        if same:
            for u in range(ptr[i + 1] - ptr[i]):
                if c[ptr[i] + u] != c[ptr[lead] + u]:
                    same = False
                    break
        if not same:
            n += 1
            lead = i
        grp[i] = n
    return grp


def _covered_rows(rinv, cj, sites, nr):
    open_ = np.zeros(int(max(cj.max(initial=0), sites.max(initial=0))) + 1, dtype=bool)
    open_[sites] = True
    hit = np.zeros(nr, dtype=bool)
    hit[rinv[open_[cj]]] = True
    return hit
