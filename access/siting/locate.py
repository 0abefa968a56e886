"""Location-allocation: where to open new sites, existing facilities kept open.

All four models work on a sparse long table with one row per (demand point,
candidate site) pair that is worth considering -- columns ``demand`` (row in
the demand vectors), ``candidate`` (candidate number) and ``seconds``. Pairs
absent from the table are unreachable. (A table from
:func:`access.routing.catchments` with ``cell``/``facility`` columns is
accepted as is: ``cell`` -> demand, ``facility`` -> candidate.)

Existing facilities stay open and are not in the table: they enter as a
per-demand vector, ``covered`` (already within the standard) for the covering
models and ``existing_s`` (seconds to the nearest existing facility, ``inf``
for none) for p-median and p-center.

* :func:`set_covering` (Toregas et al. 1971): fewest new sites so that every
  demand point that *can* be covered is covered.
* :func:`maximal_covering` (Church & ReVelle 1974): ``p`` new sites maximising
  the covered weight (persons).
* :func:`p_median` (Hakimi 1964; ReVelle & Swain 1970): ``p`` new sites
  minimising total weighted travel time, everyone using the nearest open site.
* :func:`p_center` (Hakimi 1965): ``p`` new sites minimising the largest travel
  time.

Exact solutions are MILPs solved by HiGHS (``highspy``, sparse column-wise
constraint matrices built from COO triplets); the LP relaxation is solved
first and, when it comes out integral (common for location models), is the
proven optimum without branch and bound. Maximal covering and p-median also
have a fast heuristic for instances too large for the MILP, one engine for
both: greedy, best-improvement swaps (Teitz & Bart 1968, with the
gain/loss/extra bookkeeping of Resende & Werneck 2007), then iterated local
search; and a proven bound from Lagrangian relaxation (subgradient
optimisation) so that the gap is known.
"""

from __future__ import annotations

import time
from collections import namedtuple
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numba import njit
from scipy import sparse
from scipy.sparse.csgraph import reverse_cuthill_mckee

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


@dataclass
class _Res:
    x: np.ndarray | None
    fun: float
    mip_dual_bound: float
    message: str


def _milp(c, integrality, lb, ub, A, lo, hi, time_limit, rel_gap, presolve=True):
    """Solve min c.x s.t. lo <= A x <= hi, lb <= x <= ub with HiGHS (highspy).

    Calls highspy directly rather than scipy.optimize.milp to save the
    per-call overhead on small models and to switch presolve off for them.
    ``time_limit`` (seconds) applies to the LP relaxation and to branch and
    bound separately.
    """
    import highspy

    A = sparse.csc_array(A)
    n, m = A.shape[1], A.shape[0]
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", float(rel_gap))
    h.setOptionValue("presolve", "on" if presolve else "off")
    h.setOptionValue("threads", 1)
    if time_limit is not None:
        h.setOptionValue("time_limit", float(time_limit))
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, m
    lp.col_cost_ = np.asarray(c, dtype=np.float64)
    lp.col_lower_ = np.broadcast_to(np.asarray(lb, dtype=np.float64), n).copy()
    lp.col_upper_ = np.broadcast_to(np.asarray(ub, dtype=np.float64), n).copy()
    lp.row_lower_ = np.broadcast_to(np.asarray(lo, dtype=np.float64), m).copy()
    lp.row_upper_ = np.broadcast_to(np.asarray(hi, dtype=np.float64), m).copy()
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = A.indptr.astype(np.int32)
    lp.a_matrix_.index_ = A.indices.astype(np.int32)
    lp.a_matrix_.value_ = A.data.astype(np.float64)
    integ = np.asarray(integrality, dtype=bool)
    h.passModel(lp)
    h.run()
    # location LPs are often integral (ReVelle 1993): then the relaxation's
    # optimum is the MILP's, proven, and branch and bound is skipped
    x = np.asarray(h.getSolution().col_value, dtype=np.float64)[integ]
    lp_integral = (integ.any() and h.getModelStatus() == highspy.HighsModelStatus.kOptimal
                   and np.all(np.abs(x - np.round(x)) <= 1e-9))
    if integ.any() and not lp_integral:
        h.changeColsIntegrality(int(integ.sum()), np.flatnonzero(integ).astype(np.int32),
                                np.full(int(integ.sum()), highspy.HighsVarType.kInteger, dtype=np.uint8))
        h.run()
    status = h.getModelStatus()
    msg = h.modelStatusToString(status)
    info = h.getInfo()
    sol = np.asarray(h.getSolution().col_value, dtype=np.float64)
    ok = status in (highspy.HighsModelStatus.kOptimal, highspy.HighsModelStatus.kTimeLimit,
                    highspy.HighsModelStatus.kInterrupt) and info.primal_solution_status == 2
    if not ok:
        raise InputError(f"location model has no feasible solution (HiGHS: {msg}); "
                         "check p, the candidates and the cost table.")
    if lp_integral:
        sol = np.where(integ, np.round(sol), sol)
        return _Res(sol, float(info.objective_function_value), float(info.objective_function_value),
                    f"{msg} (LP relaxation integral)")
    bound = info.mip_dual_bound if integ.any() else info.objective_function_value
    return _Res(sol, float(info.objective_function_value), float(bound), msg)


def _dual_bound(res, fallback):
    b = getattr(res, "mip_dual_bound", None)
    return fallback if b is None or not np.isfinite(b) else float(b)


# ------------------------------------------------------------------ set covering
def set_covering(table: pd.DataFrame, limit_s: float, covered=None, n_demand: int | None = None,
                 n_candidates: int | None = None, time_limit: float | None = None) -> Solution:
    """Fewest new sites covering every coverable demand point within ``limit_s``.

    Parameters
    ----------
    table : DataFrame
        Columns demand, candidate, seconds.
    limit_s : float
        Coverage standard, seconds (inclusive), e.g. 900 for 15 minutes.
    covered : array_like of bool, shape (n_demand,), optional
        Demand points already covered by existing facilities.
    n_demand, n_candidates : int, optional
        Sizes, when the table does not mention the last rows.
    time_limit : float, optional
        Solver time limit, seconds (the result then reports its gap).

    Returns
    -------
    Solution
        ``objective`` is the number of new sites; demand points that no
        candidate reaches are listed in ``uncoverable`` and left out.
    """
    t0 = time.perf_counter()
    P = _pairs(table, n_demand, n_candidates)
    cov0 = _covered_vec(covered, P.n_demand)
    m = (P.t <= float(limit_s)) & ~cov0[P.d]
    rows, rinv = np.unique(P.d[m], return_inverse=True)
    cols, cinv = np.unique(P.c[m], return_inverse=True)
    notes = []
    if len(rows) == 0:
        sites, obj, bound = np.empty(0, np.int64), 0.0, 0.0
    else:
        A = sparse.csr_array((np.ones(len(rinv)), (rinv, cinv)), shape=(len(rows), len(cols)))
        A.sum_duplicates()
        A.data[:] = 1.0
        res = _milp(np.ones(len(cols)), np.ones(len(cols)), 0, 1, A, 1, np.inf, time_limit, 0.0)
        sites = cols[res.x > 0.5]
        obj = float(len(sites))
        bound = float(np.ceil(_dual_bound(res, obj) - 1e-9))
        notes.append(f"highs: {res.message}")
    return _finish("set_covering", sites, obj, bound, "highs", t0, P, cov0,
                   lambda cost, bc: cov0 | (cost <= limit_s), notes, None, float(limit_s))


# ------------------------------------------------------------------ maximal covering
def maximal_covering(table: pd.DataFrame, weights, p: int, limit_s: float, covered=None,
                     n_candidates: int | None = None, method: str = "auto",
                     time_limit: float | None = None, max_swaps: int = 10_000,
                     lagrange_iters: int = 3000, rounds: int = 3000) -> Solution:
    """Best ``p`` new sites for the largest covered weight within ``limit_s``.

    Parameters
    ----------
    table : DataFrame
        Columns demand, candidate, seconds.
    weights : array_like, shape (n_demand,)
        Persons per demand point.
    p : int
        Number of new sites.
    limit_s : float
        Coverage standard, seconds (inclusive).
    covered : array_like of bool, optional
        Demand points already covered by existing facilities (counted in the
        objective, never in a new site's gain).
    method : {"auto", "exact", "heuristic"}
        ``exact``: MILP (HiGHS). ``heuristic``: greedy, swaps and iterated
        local search with a Lagrangian upper bound. ``auto``: exact up to
        200,000 coverage pairs.
    time_limit : float, optional
        MILP time limit, seconds.
    max_swaps, lagrange_iters, rounds : int
        Heuristic limits: swaps per descent, subgradient iterations and
        local search rounds.

    Returns
    -------
    Solution
        ``objective`` is covered persons (existing coverage included).
    """
    t0 = time.perf_counter()
    P = _pairs(table, None, n_candidates)
    w = _vec(weights, "weights", max(P.n_demand, len(np.atleast_1d(weights))), 0.0)
    P.n_demand = len(w)
    p = _p(p, P.n_cand)
    cov0 = _covered_vec(covered, P.n_demand)
    base = float(w[cov0].sum())
    m = (P.t <= float(limit_s)) & ~cov0[P.d] & (w[P.d] > 0)
    rows, rinv = np.unique(P.d[m], return_inverse=True)
    cj = P.c[m]
    notes: list[str] = []
    if method not in ("auto", "exact", "heuristic"):
        raise InputError(f"method: {method!r}; use 'auto', 'exact' or 'heuristic'.")
    use_exact = method == "exact" or (method == "auto" and m.sum() <= 200_000)
    if len(rows) == 0 or p == 0:
        sites, obj, bound, solver = np.arange(p, dtype=np.int64), base, base, "trivial"
    elif use_exact:
        # demand points reached by exactly the same candidates act as one (weights summed)
        gw, g_r, g_c = _merge_rows(rinv, cj, w[rows])
        nr, nc = len(gw), P.n_cand
        # vars: y (nc, binary), z (nr, continuous 0..1); z_i <= sum_j a_ij y_j; sum y = p
        A1 = sparse.coo_array((np.r_[-np.ones(len(g_c)), np.ones(nr)],
                               (np.r_[g_r, np.arange(nr)], np.r_[g_c, nc + np.arange(nr)])),
                              shape=(nr, nc + nr)).tocsr()
        A2 = sparse.csr_array((np.ones(nc), (np.zeros(nc, np.int64), np.arange(nc))), shape=(1, nc + nr))
        A = sparse.vstack([A1, A2]).tocsr()
        lo = np.r_[np.full(nr, -np.inf), p]
        hi = np.r_[np.zeros(nr), p]
        c = np.r_[np.zeros(nc), -gw]
        res = _milp(c, np.r_[np.ones(nc), np.zeros(nr)], 0, 1, A, lo, hi, time_limit, 1e-9,
                    presolve=nr + nc > 2000)
        sites = np.flatnonzero(res.x[:nc] > 0.5)
        obj = base + float(w[rows][_covered_rows(rinv, cj, sites, len(rows))].sum())
        bound = base - _dual_bound(res, -(obj - base))
        bound = max(bound, obj)
        solver = "highs"
        notes.append(f"highs: {res.message}")
    else:
        # as a p-median: cost 0 for a covering pair, 1 (the weight) for none
        gw, g_r, g_c = _merge_rows(rinv, cj, w[rows])
        chosen, lb, hnotes = _heuristic(g_r, g_c, np.zeros(len(g_c)), gw, np.ones(len(gw)),
                                           P.n_cand, p, rounds, lagrange_iters, max_swaps)
        obj = base + float(w[rows][_covered_rows(rinv, cj, chosen, len(rows))].sum())
        sites, bound, solver = chosen, max(base + float(gw.sum()) - lb, obj), "greedy+swap"
        notes += [f"{len(gw)} groups of demand points with the same candidates"] + hnotes
    return _finish("maximal_covering", sites, obj, bound, solver, t0, P, cov0,
                   lambda cost, bc: cov0 | (cost <= limit_s), notes, None, float(limit_s))


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


# ------------------------------------------------------------------ p-median
def p_median(table: pd.DataFrame, weights, p: int, existing_s=None, n_candidates: int | None = None,
             unserved_s: float | None = None, method: str = "auto", time_limit: float | None = None,
             max_swaps: int = 10_000, lagrange_iters: int = 3000, rounds: int = 3000) -> Solution:
    """``p`` new sites minimising total weighted travel time (persons x seconds).

    Every demand point uses the nearest open site: a chosen candidate or an
    existing facility (``existing_s``).

    Parameters
    ----------
    table : DataFrame
        Columns demand, candidate, seconds.
    weights : array_like, shape (n_demand,)
        Persons per demand point.
    p : int
        Number of new sites.
    existing_s : array_like, shape (n_demand,), optional
        Seconds to the nearest existing facility (``inf`` for none).
    unserved_s : float, optional
        Seconds charged to a demand point no open site reaches. By default
        every demand point must be served, and a point that no candidate and
        no existing facility reaches is left out (listed in ``uncoverable``).
    method : {"auto", "exact", "heuristic"}
        ``auto``: exact MILP up to 200,000 useful pairs.
    time_limit : float, optional
        MILP time limit, seconds.
    max_swaps, lagrange_iters, rounds : int
        Heuristic limits, as in :func:`maximal_covering`.

    Returns
    -------
    Solution
        ``objective`` is the sum of persons x seconds.
    """
    t0 = time.perf_counter()
    P = _pairs(table, None, n_candidates)
    w = _vec(weights, "weights", max(P.n_demand, len(np.atleast_1d(weights))), 0.0)
    P.n_demand = len(w)
    p = _p(p, P.n_cand)
    ex = _vec(existing_s, "existing_s", P.n_demand, np.inf, allow_inf=True)
    fb = ex.copy()
    if unserved_s is not None:
        fb = np.minimum(fb, float(unserved_s))
    reach = np.zeros(P.n_demand, dtype=bool)
    reach[P.d] = True
    active = (w > 0) & (reach | np.isfinite(fb))
    # a pair no better than the fallback never matters
    m = active[P.d] & (P.t < fb[P.d])
    d, c, t = P.d[m], P.c[m], P.t[m]
    rows = np.flatnonzero(active)
    rid = np.full(P.n_demand, -1, dtype=np.int64)
    rid[rows] = np.arange(len(rows))
    ri = rid[d]
    wr, fr = w[rows], fb[rows]
    notes: list[str] = []
    if method not in ("auto", "exact", "heuristic"):
        raise InputError(f"method: {method!r}; use 'auto', 'exact' or 'heuristic'.")
    use_exact = method == "exact" or (method == "auto" and len(d) <= 200_000)
    if use_exact:
        sites, obj, bound = _pmedian_milp(ri, c, t, wr, fr, P.n_cand, p, time_limit, notes)
        solver = "highs"
    elif p == 0 or len(d) == 0:
        sites, bound, solver = np.arange(p), np.inf, "trivial"  # nothing to choose
    else:
        fr_h = np.where(np.isfinite(fr), fr, _big(t, fr))
        sites, bound, hnotes = _heuristic(ri, c, t, wr, fr_h, P.n_cand, p, rounds, lagrange_iters, max_swaps)
        solver = "greedy+swap"
        notes += hnotes
    sol = _finish("p_median", sites, 0.0, 0.0, solver, t0, P, reach | np.isfinite(fb),
                  lambda cost, bc: np.isfinite(cost), notes, ex)
    served = np.minimum(sol.cost, fb)
    keep = active & np.isfinite(served)
    if (active & ~keep).any():
        notes.append(f"{int((active & ~keep).sum())} demand points are not served by the chosen sites "
                     "and left out of the objective; raise p or give unserved_s")
    sol.objective = float((w[keep] * served[keep]).sum())
    sol.bound = float(min(bound, sol.objective))
    sol.gap = 0.0 if sol.bound == sol.objective else (sol.objective - sol.bound) / max(abs(sol.bound), 1e-300)
    return sol


def _big(t, fr):
    fin = fr[np.isfinite(fr)]
    m = max(float(t.max(initial=0.0)), float(fin.max(initial=0.0)))
    return 10.0 * (m + 1.0) * 1000.0


def _pmedian_milp(ri, c, t, wr, fr, nc, p, time_limit, notes):
    nr = len(wr)
    fin = np.isfinite(fr)
    nx = len(ri)
    fb_rows = np.flatnonzero(fin)
    nf = len(fb_rows)
    # vars: y (nc binary) | x pairs (nx) | x fallback (nf); all in [0, 1]
    n = nc + nx + nf
    cost = np.r_[np.zeros(nc), wr[ri] * t, wr[fb_rows] * fr[fb_rows]]
    # assignment: sum_j x_ij + x_i0 = 1 (rows that have at least one option)
    has = np.zeros(nr, dtype=bool)
    has[ri] = True
    has[fb_rows] = True
    ids = np.full(nr, -1, dtype=np.int64)
    ids[has] = np.arange(int(has.sum()))
    na = int(has.sum())
    A_as = sparse.coo_array((np.ones(nx + nf), (np.r_[ids[ri], ids[fb_rows]], np.arange(nc, n))),
                            shape=(na, n))
    # linking: x_ij - y_j <= 0
    A_ln = sparse.coo_array((np.r_[np.ones(nx), -np.ones(nx)],
                             (np.r_[np.arange(nx), np.arange(nx)], np.r_[nc + np.arange(nx), c])),
                            shape=(nx, n))
    A_p = sparse.coo_array((np.ones(nc), (np.zeros(nc, np.int64), np.arange(nc))), shape=(1, n))
    A = sparse.vstack([A_as, A_ln, A_p]).tocsr()
    lo = np.r_[np.ones(na), np.full(nx, -np.inf), p]
    hi = np.r_[np.ones(na), np.zeros(nx), p]
    res = _milp(cost, np.r_[np.ones(nc), np.zeros(nx + nf)], 0, 1, A, lo, hi, time_limit, 1e-9)
    notes.append(f"highs: {res.message}")
    sites = np.flatnonzero(res.x[:nc] > 0.5)
    return sites, float(res.fun), _dual_bound(res, float(res.fun))


# ------------------------------------------------------------------ heuristic
_RRT = 0.05  # record-to-record threshold, share of the mean cost of closing a site

# Maximal covering and p-median share one engine: minimise
#     sum_i w_i * min(fb_i, min over open j of t_ij)
# over p open sites, where fb_i is the cost of the row's fallback (an existing
# facility, the unserved charge; 1 for maximal covering, where t_ij = 0 marks
# a covering pair and the cost is the uncovered weight).

def _heuristic(d, c, t, w, fb, nc: int, p: int, rounds: int, iters: int, max_swaps: int):
    """Sites, proven lower bound on the cost and notes for the engine's problem.

    Parameters
    ----------
    d, c : ndarray of int64
        Row and candidate of each pair.
    t : ndarray of float64
        Cost per person of each pair, seconds (0 for covering).
    w, fb : ndarray of float64, shape (n_rows,)
        Row weights (persons) and fallback cost per person (finite).
    nc, p : int
        Candidates and sites to open (0 < p <= nc).
    rounds, iters, max_swaps : int
        Iterated local search rounds, subgradient iterations and the cap on
        swaps per descent.
    """
    nr = len(w)
    t_all = time.perf_counter()
    # reverse Cuthill-McKee order on the row-candidate graph: a candidate's rows
    # (and a row's candidates) sit close in memory, which the engine's gathers need
    B = sparse.coo_array((np.ones(len(d)), (d, c + nr)), shape=(nr + nc, nr + nc)).tocsr()
    perm = reverse_cuthill_mckee((B + B.T).tocsr(), symmetric_mode=True)
    rperm, cperm = perm[perm < nr], perm[perm >= nr] - nr
    rnew = np.empty(nr, np.int64)
    rnew[rperm] = np.arange(nr)
    cnew = np.empty(nc, np.int64)
    cnew[cperm] = np.arange(nc)
    d2, c2 = rnew[d], cnew[c]
    o = np.lexsort((c2, t, d2))
    d2, c2, t2 = d2[o], c2[o], t[o]
    w2, fb2 = w[rperm], fb[rperm]
    d_ptr = np.searchsorted(d2, np.arange(nr + 1)).astype(np.int64)
    co = np.argsort(c2, kind="stable")
    k_ptr = np.searchsorted(c2[co], np.arange(nc + 1)).astype(np.int64)
    k_rows, k_t = d2[co], t2[co]
    prep = time.perf_counter() - t_all

    t1 = time.perf_counter()
    is_open = np.zeros(nc, dtype=np.bool_)
    cost, moves, _ = _search(d_ptr, c2, t2, k_ptr, k_rows, k_t, w2, fb2, is_open, p, 0, max_swaps, -np.inf)
    t_greedy = time.perf_counter() - t1

    # the bound works on costs rounded down to float32 (a relaxation, so still a
    # valid bound) to halve the memory traffic of its passes
    t1 = time.perf_counter()
    wt64 = w2[d2] * t2
    wt = wt64.astype(np.float32)
    wt = np.where(wt > wt64, np.nextafter(wt, np.float32(-np.inf)), wt)
    wf = w2 * fb2
    lam = np.empty(nr)
    lb, its = _lagrange(d_ptr, c2.astype(np.int32), wt, k_ptr, k_rows, wt[co], wf, p, cost, iters, lam)
    lb -= 1e-9 * abs(lb)  # allowance for rounding in the sums
    t_lag = time.perf_counter() - t1

    t1 = time.perf_counter()
    cost, m2, done = _search(d_ptr, c2, t2, k_ptr, k_rows, k_t, w2, fb2, is_open, p, rounds, max_swaps,
                             lb * (1 + 1e-9))
    t_ils = time.perf_counter() - t1
    notes = [f"greedy + {moves} swaps {t_greedy:.1f} s; Lagrangian bound {its} iterations {t_lag:.1f} s; "
             f"{done} local search rounds ({m2} swaps) {t_ils:.1f} s; ordering {prep:.1f} s"]
    return np.sort(cperm[np.flatnonzero(is_open)]), min(lb, cost), notes


@njit(cache=True)
def _row_eval(i, d_ptr, c_s, t_s, fb, is_open):
    # nearest open option of row i (cost c1, site s1; -1 = fallback) and the second-nearest cost c2
    c1, s1, c2 = fb[i], -1, fb[i]
    for q in range(d_ptr[i], d_ptr[i + 1]):
        if t_s[q] >= c2:
            break
        if is_open[c_s[q]]:
            if s1 < 0:
                c2, c1, s1 = c1, t_s[q], c_s[q]
            else:
                c2 = t_s[q]
                break
    return c1, s1, c2


# the engine's arrays (pairs by row and by candidate) and its state for the open sites
_Engine = namedtuple("_Engine", "d_ptr c_s t_s k_ptr k_rows k_t w fb is_open c1 s1 c2 gain loss tot")


@njit(cache=True)
def _state(d_ptr, c_s, t_s, k_ptr, k_rows, k_t, w, fb, is_open):
    """Engine state for the open sites ``is_open``, as one _Engine G.

    Per row: c1, s1, c2 (see _row_eval). Per candidate: gain (cost saved by
    opening it) and loss (cost added by closing it, Whitaker 1983). tot[0]:
    total cost.
    """
    nr, nc = len(w), len(k_ptr) - 1
    c1, c2 = np.empty(nr), np.empty(nr)
    s1 = np.empty(nr, np.int64)
    gain, loss = np.zeros(nc), np.zeros(nc)
    tot = np.zeros(1)
    for i in range(nr):
        c1[i], s1[i], c2[i] = _row_eval(i, d_ptr, c_s, t_s, fb, is_open)
        for q in range(d_ptr[i], d_ptr[i + 1]):
            if t_s[q] >= c1[i]:
                break
            gain[c_s[q]] += w[i] * (c1[i] - t_s[q])
        if s1[i] >= 0:
            loss[s1[i]] += w[i] * (c2[i] - c1[i])
        tot[0] += w[i] * c1[i]
    return _Engine(d_ptr, c_s, t_s, k_ptr, k_rows, k_t, w, fb, is_open, c1, s1, c2, gain, loss, tot)


@njit(cache=True)
def _toggle(j, opening, G):
    """Open or close site j, updating the rows it is one of the two nearest of."""
    d_ptr, c_s, t_s, k_ptr, k_rows, k_t, w, fb, is_open, c1, s1, c2, gain, loss, tot = G
    is_open[j] = opening
    for q in range(k_ptr[j], k_ptr[j + 1]):
        i, t = k_rows[q], k_t[q]
        o1, os, o2 = c1[i], s1[i], c2[i]
        if t > o2 or (opening and t == o2):
            continue
        if not opening:
            n1, ns, n2 = _row_eval(i, d_ptr, c_s, t_s, fb, is_open)
        elif t < o1:
            n1, ns, n2 = t, j, o1
        else:
            n1, ns, n2 = o1, os, t
        if n1 != o1:
            m = max(o1, n1)
            for r in range(d_ptr[i], d_ptr[i + 1]):
                if t_s[r] >= m:
                    break
                gain[c_s[r]] += w[i] * (max(n1 - t_s[r], 0.0) - max(o1 - t_s[r], 0.0))
            tot[0] += w[i] * (n1 - o1)
        if os >= 0:
            loss[os] -= w[i] * (o2 - o1)
        if ns >= 0:
            loss[ns] += w[i] * (n2 - n1)
        c1[i], s1[i], c2[i] = n1, ns, n2


@njit(cache=True)
def _best_swap(G, order, ex, touched, prune):
    """Best swap bringing in a site of ``order`` (sorted by falling gain).

    Returns (site out, site in, saving). The saving of opening j and closing
    s is gain_j - loss_s + extra_sj (Resende & Werneck 2007); extra_sj is
    gathered from j's rows, so the scan costs one pass over the pairs of the
    sites in ``order``. As extra_sj <= loss_s, a site saves at most its gain:
    the scan stops there.
    """
    k_ptr, k_rows, k_t, w, is_open, c1, s1, c2, gain, loss = (G.k_ptr, G.k_rows, G.k_t, G.w, G.is_open, G.c1,
                                                              G.s1, G.c2, G.gain, G.loss)
    ml, ms = np.inf, -1
    for s in range(len(is_open)):
        if is_open[s] and loss[s] < ml:
            ml, ms = loss[s], s
    bd, bo, bi = prune, -1, -1
    for k in range(len(order)):
        j = order[k]
        if gain[j] <= bd:
            break
        if is_open[j]:
            continue
        nt = 0
        for q in range(k_ptr[j], k_ptr[j + 1]):
            i = k_rows[q]
            o = s1[i]
            if o >= 0 and k_t[q] < c2[i]:
                if ex[o] == 0.0:
                    touched[nt] = o
                    nt += 1
                ex[o] += w[i] * (c2[i] - max(k_t[q], c1[i]))
        v, vs = -ml, ms
        for u in range(nt):
            s = touched[u]
            if ex[s] - loss[s] > v:
                v, vs = ex[s] - loss[s], s
            ex[s] = 0.0
        if gain[j] + v > bd:
            bd, bo, bi = gain[j] + v, vs, j
    return bo, bi, bd


@njit(cache=True)
def _near(s, G, mark, stamp, J, nJ):
    # append to J[:nJ] the candidates sharing a row with site s
    d_ptr, c_s, k_ptr, k_rows = G.d_ptr, G.c_s, G.k_ptr, G.k_rows
    for q in range(k_ptr[s], k_ptr[s + 1]):
        i = k_rows[q]
        for r in range(d_ptr[i], d_ptr[i + 1]):
            j = c_s[r]
            if mark[j] != stamp:
                mark[j] = stamp
                J[nJ] = j
                nJ += 1
    return nJ


@njit(cache=True)
def _descend(G, J, nJ, mark, stamp, ex, touched, max_moves, tol):
    """Best-improvement swaps until none saves more than ``tol``.

    nJ < 0: over all candidates. Otherwise over J[:nJ], the candidates near
    the sites changed so far (grown with each move), plus the 10 with the
    largest gain, which may pair with any site.
    """
    gain = G.gain
    nc = len(gain)
    moves = 0
    while moves < max_moves:
        if nJ < 0:
            order = np.argsort(-gain)
        else:
            m = nJ
            n_top = min(10, nc - 1)
            top = np.argpartition(-gain, n_top)[:n_top] if n_top > 0 else np.arange(nc)
            for u in range(len(top)):
                if mark[top[u]] != stamp:
                    J[m] = top[u]
                    m += 1
            order = J[:m][np.argsort(-gain[J[:m]])]
        bo, bi, bd = _best_swap(G, order, ex, touched, tol)
        if bo < 0:
            break
        _toggle(bo, False, G)
        _toggle(bi, True, G)
        moves += 1
        if nJ >= 0:
            nJ = _near(bo, G, mark, stamp, J, nJ)
            nJ = _near(bi, G, mark, stamp, J, nJ)
    return moves


@njit(cache=True)
def _open_best(G, noisy):
    # open the closed site of largest gain (each gain scaled by 0.7-1.0 at random when noisy)
    bj, bg = -1, -np.inf
    for j in range(len(G.gain)):
        if not G.is_open[j]:
            g = G.gain[j] * (0.7 + 0.3 * np.random.random()) if noisy else G.gain[j]
            if g > bg:
                bg, bj = g, j
    _toggle(bj, True, G)
    return bj


@njit(cache=True)
def _search(d_ptr, c_s, t_s, k_ptr, k_rows, k_t, w, fb, is_open, p, rounds, max_moves, stop_at):
    """Greedy (when fewer than p sites are open), swap descent, then rounds of
    iterated local search; ``is_open`` ends as the best p sites found.

    A round closes a random open site and, at random, up to 3 open sites
    sharing rows with it, reopens as many greedily (gains perturbed by up to
    30 %), and descends over the swaps near the change. The new solution is
    kept while within a small threshold of the best so far (record-to-record
    travel, Dueck 1993), else undone. Stops early once the cost reaches
    ``stop_at``. Returns (best cost, swaps, rounds done).
    """
    np.random.seed(0)
    nc = len(k_ptr) - 1
    G = _state(d_ptr, c_s, t_s, k_ptr, k_rows, k_t, w, fb, is_open)
    loss, tot = G.loss, G.tot
    for _ in range(p - int(is_open.sum())):
        _open_best(G, False)
    ex = np.zeros(nc)
    touched = np.empty(nc, np.int64)
    J = np.empty(nc + 16, np.int64)
    mark = np.zeros(nc, np.int64)
    tol = 1e-9 * tot[0]
    moves = _descend(G, J, -1, mark, 0, ex, touched, max_moves, tol)
    best = tot[0]
    best_open = is_open.copy()
    saved = is_open.copy()
    # threshold: a share of the average cost of closing a site
    thr = 0.0
    for j in range(nc):
        if is_open[j]:
            thr += loss[j]
    thr *= _RRT / max(p, 1)
    done = 0
    for r in range(rounds if 0 < p < nc else 0):
        if best <= stop_at:
            break
        done += 1
        saved[:] = is_open
        opens = np.flatnonzero(is_open)
        s = opens[np.random.randint(len(opens))]
        _toggle(s, False, G)
        n_out = 1
        nJ = _near(s, G, mark, r + 1, J, 0)
        for q in range(k_ptr[s], k_ptr[s + 1]):
            i = k_rows[q]
            for rr in range(d_ptr[i], d_ptr[i + 1]):
                j = c_s[rr]
                if n_out < 4 and is_open[j] and np.random.random() < 0.5:
                    _toggle(j, False, G)
                    n_out += 1
                    nJ = _near(j, G, mark, r + 1, J, nJ)
        for _ in range(n_out):
            nJ = _near(_open_best(G, True), G, mark, r + 1, J, nJ)
        moves += _descend(G, J, nJ, mark, r + 1, ex, touched, max_moves, tol)
        if tot[0] < best - tol:
            best = tot[0]
            best_open[:] = is_open
        elif tot[0] > best + thr:
            for j in range(nc):
                if is_open[j] != saved[j]:
                    _toggle(j, saved[j], G)
    is_open[:] = best_open
    # exact cost of the best solution (tot drifts by rounding)
    return _state(d_ptr, c_s, t_s, k_ptr, k_rows, k_t, w, fb, is_open).tot[0], moves, done


@njit(cache=True)
def _lagrange(d_ptr, c_s, wt, k_ptr, k_rows, k_wt, wf, p, target, iters, lam):
    """Lower bound on the engine's problem by Lagrangian relaxation.

    Relaxing "each row takes exactly one option" with multipliers lambda_i
    (Cornuejols, Fisher & Nemhauser 1977) gives, for any lambda,
        L = sum_i min(lambda_i, wf_i) + (sum of the p most negative rho_j),
        rho_j = sum_i min(0, wt_ij - lambda_i),
    a valid lower bound equal at best to the LP relaxation's. lambda moves by
    a deflected subgradient (Camerini, Fratta & Maffioli 1975; direction
    0.1 g + 0.9 previous) with Polyak steps towards ``target`` (the best
    known cost), scaled per row by the range of lambda_i; the step factor
    starts at 0.5 and halves after 100 iterations without 1e-6 progress.
    Returns (best L, iterations).
    """
    nr, nc = len(wf), len(k_ptr) - 1
    lo = np.empty(nr)
    for i in range(nr):
        # lambda_i outside [cheapest option, fallback] never helps
        lo[i] = min(wt[d_ptr[i]], wf[i]) if d_ptr[i + 1] > d_ptr[i] else wf[i]
        lam[i] = lo[i]
    scale = wf - lo
    scale /= max(np.mean(scale), 1e-300)
    rho = np.zeros(nc)
    x = np.zeros(nr)
    dirn = np.zeros(nr)
    best, theta, stall, it = -np.inf, 0.5, 0, 0
    while it < iters:
        it += 1
        rho[:] = 0.0
        val = 0.0
        for i in range(nr):
            li = lam[i]
            val += min(li, wf[i])
            x[i] = 1.0 if wf[i] < li else 0.0
            for q in range(d_ptr[i], d_ptr[i + 1]):
                if wt[q] >= li:
                    break
                rho[c_s[q]] += wt[q] - li
        top = np.argpartition(rho, p - 1)[:p] if p < nc else np.arange(nc)
        for k in range(len(top)):
            j = top[k]
            if rho[j] < 0.0:
                val += rho[j]
                for q in range(k_ptr[j], k_ptr[j + 1]):
                    if k_wt[q] < lam[k_rows[q]]:
                        x[k_rows[q]] += 1.0
        if val > best:
            stall = 0 if val > best + 1e-6 * abs(best) else stall + 1
            best = val
        else:
            stall += 1
        if stall >= 100:
            theta *= 0.5
            stall = 0
        g2 = 0.0
        for i in range(nr):
            gi = 0.1 * (1.0 - x[i]) + 0.9 * dirn[i]
            if (gi < 0.0 and lam[i] <= lo[i]) or (gi > 0.0 and lam[i] >= wf[i]):
                gi = 0.0  # projected onto the box
            dirn[i] = gi
            g2 += gi * gi * scale[i]
        if g2 == 0.0 or target - best <= 1e-9 * abs(target) or theta < 1e-6:
            break
        step = theta * (target - val) / g2
        for i in range(nr):
            lam[i] = min(max(lam[i] + step * scale[i] * dirn[i], lo[i]), wf[i])
    return best, it


# ------------------------------------------------------------------ p-center
def p_center(table: pd.DataFrame, p: int, existing_s=None, n_demand: int | None = None,
             n_candidates: int | None = None, time_limit: float | None = None) -> Solution:
    """``p`` new sites minimising the largest travel time to the nearest open site.

    Exact: a bisection over the distinct travel times, each step a set
    covering MILP ("can ``p`` new sites bring everyone within ``r``?"); the
    answer is the smallest feasible ``r``. Demand points that no candidate and
    no existing facility reach are left out (``uncoverable``).

    Parameters
    ----------
    table : DataFrame
        Columns demand, candidate, seconds.
    p : int
        Number of new sites.
    existing_s : array_like, shape (n_demand,), optional
        Seconds to the nearest existing facility (``inf`` for none).

    Returns
    -------
    Solution
        ``objective`` is the largest seconds to the nearest open facility.
    """
    t0 = time.perf_counter()
    P = _pairs(table, n_demand, n_candidates)
    if existing_s is not None and n_demand is None:
        P.n_demand = max(P.n_demand, len(np.atleast_1d(existing_s)))
    p = _p(p, P.n_cand)
    ex = _vec(existing_s, "existing_s", P.n_demand, np.inf, allow_inf=True)
    reach = np.zeros(P.n_demand, dtype=bool)
    reach[P.d] = True
    active = reach | np.isfinite(ex)
    # With all candidates open, the best possible radius; with none, the worst
    best_all = np.full(P.n_demand, np.inf)
    np.minimum.at(best_all, P.d, P.t)
    lo_r = float(np.minimum(best_all, ex)[active].max(initial=0.0))
    radii = np.unique(np.r_[P.t, ex[np.isfinite(ex)]])
    radii = radii[radii >= lo_r]
    notes: list[str] = []

    def feasible(r):
        need = active & (ex > r)
        m = (P.t <= r) & need[P.d]
        rows, rinv = np.unique(P.d[m], return_inverse=True)
        if len(rows) < need.sum():
            return None
        if len(rows) == 0:
            return np.empty(0, np.int64)
        cols, cinv = np.unique(P.c[m], return_inverse=True)
        A = sparse.csr_array((np.ones(len(rinv)), (rinv, cinv)), shape=(len(rows), len(cols)))
        A.data[:] = 1.0
        try:
            res = _milp(np.ones(len(cols)), np.ones(len(cols)), 0, 1, A, 1, np.inf, time_limit, 0.0)
        except InputError:
            return None
        sites = cols[res.x > 0.5]
        return sites if len(sites) <= p else None

    lo, hi = 0, len(radii) - 1
    best_sites = feasible(radii[hi]) if len(radii) else np.empty(0, np.int64)
    if best_sites is None:
        raise InputError("p_center: no feasible solution; check the cost table.")
    while lo < hi:
        mid = (lo + hi) // 2
        s = feasible(radii[mid])
        if s is None:
            lo = mid + 1
        else:
            hi, best_sites = mid, s
    # pad with unused candidates so that exactly p are reported (they never hurt)
    if len(best_sites) < p:
        spare = np.setdiff1d(np.arange(P.n_cand), best_sites)[: p - len(best_sites)]
        best_sites = np.r_[best_sites, spare]
        notes.append(f"{len(spare)} sites are not needed for the optimum and were added in number order")
    obj = float(radii[hi]) if len(radii) else 0.0
    sol = _finish("p_center", best_sites, obj, obj, "highs", t0, P, active,
                  lambda cost, bc: np.isfinite(cost), notes, ex)
    sol.objective = float(sol.cost[active].max(initial=0.0))
    sol.bound = sol.objective
    return sol
