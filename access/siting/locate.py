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
constraint matrices built from COO triplets). Maximal covering and p-median also have a fast
heuristic (greedy, then best-improvement 1-swap interchange, Teitz & Bart
1968) for instances too large for the MILP, with a proven bound from
Lagrangian relaxation (subgradient optimisation) so that the gap is known.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numba import njit
from scipy import sparse

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
    integ = np.asarray(integrality)
    lp.integrality_ = [highspy.HighsVarType.kInteger if v else highspy.HighsVarType.kContinuous
                       for v in integ]
    h.passModel(lp)
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
                     lagrange_iters: int = 300) -> Solution:
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
        ``exact``: MILP (HiGHS). ``heuristic``: greedy + 1-swap with a
        Lagrangian upper bound. ``auto``: exact up to 200,000 coverage pairs.
    time_limit : float, optional
        MILP time limit, seconds.
    max_swaps, lagrange_iters : int
        Heuristic limits: interchange moves and subgradient iterations.

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
        grp, gw, g_r, g_c = _merge_rows(rinv, cj, w[rows])
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
        order = np.lexsort((cj, rinv))
        r_s, c_s = rinv[order], cj[order]
        d_ptr = np.searchsorted(r_s, np.arange(len(rows) + 1)).astype(np.int64)
        corder = np.argsort(c_s, kind="stable")
        c_ptr = np.searchsorted(c_s[corder], np.arange(P.n_cand + 1)).astype(np.int64)
        c_rows = r_s[corder].astype(np.int64)
        wr = w[rows].astype(np.float64)
        chosen = _mclp_greedy(d_ptr, c_s.astype(np.int64), c_ptr, c_rows, wr, p)
        chosen, swaps = _mclp_swap(d_ptr, c_s.astype(np.int64), c_ptr, c_rows, wr, chosen, max_swaps)
        new = float(wr[_covered_rows(r_s, c_s, chosen, len(rows))].sum())
        ub = _mclp_lagrange(d_ptr, c_s.astype(np.int64), c_ptr, c_rows, wr, p, new, lagrange_iters)
        sites, obj, bound, solver = chosen, base + new, base + max(ub, new), "greedy+swap"
        notes.append(f"{swaps} interchange moves; Lagrangian bound after {lagrange_iters} iterations")
    return _finish("maximal_covering", sites, obj, bound, solver, t0, P, cov0,
                   lambda cost, bc: cov0 | (cost <= limit_s), notes, None, float(limit_s))


def _merge_rows(rinv, cj, wr):
    """Group demand rows with identical candidate sets: (group per row, group
    weights, group-level pairs)."""
    order = np.lexsort((cj, rinv))
    r, c = rinv[order], cj[order]
    ptr = np.searchsorted(r, np.arange(len(wr) + 1))
    keys = {}
    grp = np.empty(len(wr), dtype=np.int64)
    cb = c.astype(np.int64).tobytes()
    for i in range(len(wr)):
        grp[i] = keys.setdefault(cb[8 * ptr[i]: 8 * ptr[i + 1]], len(keys))
    gw = np.bincount(grp, weights=wr, minlength=len(keys))
    first = np.zeros(len(keys), dtype=np.int64)
    first[grp[::-1]] = np.arange(len(wr))[::-1]
    sel = np.isin(r, first)
    return grp, gw, grp[r[sel]], c[sel]


def _covered_rows(rinv, cj, sites, nr):
    open_ = np.zeros(int(max(cj.max(initial=0), sites.max(initial=0))) + 1, dtype=bool)
    open_[sites] = True
    hit = np.zeros(nr, dtype=bool)
    hit[rinv[open_[cj]]] = True
    return hit


@njit(cache=True)
def _mclp_greedy(d_ptr, d_cand, c_ptr, c_rows, w, p):
    nc = len(c_ptr) - 1
    gain = np.zeros(nc)
    for j in range(nc):
        for k in range(c_ptr[j], c_ptr[j + 1]):
            gain[j] += w[c_rows[k]]
    cov = np.zeros(len(w), dtype=np.bool_)
    chosen = np.empty(p, dtype=np.int64)
    used = np.zeros(nc, dtype=np.bool_)
    for it in range(p):
        best, bj = -1.0, -1
        for j in range(nc):
            if not used[j] and gain[j] > best:
                best, bj = gain[j], j
        chosen[it] = bj
        used[bj] = True
        for k in range(c_ptr[bj], c_ptr[bj + 1]):
            i = c_rows[k]
            if not cov[i]:
                cov[i] = True
                for q in range(d_ptr[i], d_ptr[i + 1]):
                    gain[d_cand[q]] -= w[i]
    return chosen


@njit(cache=True)
def _mclp_swap(d_ptr, d_cand, c_ptr, c_rows, w, chosen, max_swaps):
    """Best-improvement 1-swap: drop s, add j, while covered weight grows."""
    nc = len(c_ptr) - 1
    nr = len(w)
    p = len(chosen)
    slot = np.full(nc, -1, dtype=np.int64)
    for k in range(p):
        slot[chosen[k]] = k
    cnt = np.zeros(nr, dtype=np.int64)
    for k in range(p):
        j = chosen[k]
        for q in range(c_ptr[j], c_ptr[j + 1]):
            cnt[c_rows[q]] += 1
    extra = np.zeros((p, nc))
    swaps = 0
    total = 0.0
    for i in range(nr):
        if cnt[i] > 0:
            total += w[i]
    while swaps < max_swaps:
        gain = np.zeros(nc)
        loss = np.zeros(p)
        extra[:, :] = 0.0
        for i in range(nr):
            if cnt[i] == 0:
                for q in range(d_ptr[i], d_ptr[i + 1]):
                    gain[d_cand[q]] += w[i]
            elif cnt[i] == 1:
                s = -1
                for q in range(d_ptr[i], d_ptr[i + 1]):
                    if slot[d_cand[q]] >= 0:
                        s = slot[d_cand[q]]
                        break
                loss[s] += w[i]
                for q in range(d_ptr[i], d_ptr[i + 1]):
                    extra[s, d_cand[q]] += w[i]
        best, bs, bj = 1e-9 * (total + 1.0), -1, -1
        for s in range(p):
            for j in range(nc):
                if slot[j] < 0:
                    delta = gain[j] + extra[s, j] - loss[s]
                    if delta > best:
                        best, bs, bj = delta, s, j
        if bs < 0:
            break
        out = chosen[bs]
        for q in range(c_ptr[out], c_ptr[out + 1]):
            cnt[c_rows[q]] -= 1
        for q in range(c_ptr[bj], c_ptr[bj + 1]):
            cnt[c_rows[q]] += 1
        slot[out] = -1
        slot[bj] = bs
        chosen[bs] = bj
        total += best
        swaps += 1
    return np.sort(chosen), swaps


@njit(cache=True)
def _mclp_lagrange(d_ptr, d_cand, c_ptr, c_rows, w, p, lower, iters):
    """Upper bound on new covered weight: relax z_i <= sum_j a_ij y_j with lambda_i >= 0.

    L(lambda) = sum_i max(0, w_i - lambda_i) + (sum of the p largest
    c_j = sum_{i covered by j} lambda_i); every L(lambda) is a valid bound.
    """
    nr = len(w)
    nc = len(c_ptr) - 1
    lam = w * 0.5
    best = np.inf
    theta = 2.0
    stall = 0
    cj = np.zeros(nc)
    for it in range(iters):
        for j in range(nc):
            s = 0.0
            for q in range(c_ptr[j], c_ptr[j + 1]):
                s += lam[c_rows[q]]
            cj[j] = s
        top = np.argsort(-cj)[:p]
        val = 0.0
        for i in range(nr):
            if w[i] > lam[i]:
                val += w[i] - lam[i]
        ycov = np.zeros(nr)
        for k in range(p):
            j = top[k]
            val += cj[j]
            for q in range(c_ptr[j], c_ptr[j + 1]):
                ycov[c_rows[q]] += 1.0
        if it == 0 or val < best - 1e-12 * abs(best):
            best = val
            stall = 0
        else:
            stall += 1
            if stall >= 10:
                theta *= 0.5
                stall = 0
        # subgradient of L w.r.t. lambda: -z_i + ycov_i
        g2 = 0.0
        g = np.empty(nr)
        for i in range(nr):
            gi = ycov[i] - (1.0 if w[i] > lam[i] else 0.0)
            g[i] = gi
            g2 += gi * gi
        if g2 == 0.0 or best - lower <= 1e-9 * max(1.0, abs(best)):
            break
        step = theta * (val - lower) / g2
        for i in range(nr):
            v = lam[i] - step * g[i]
            lam[i] = v if v > 0.0 else 0.0
    return best


# ------------------------------------------------------------------ p-median
def p_median(table: pd.DataFrame, weights, p: int, existing_s=None, n_candidates: int | None = None,
             unserved_s: float | None = None, method: str = "auto", time_limit: float | None = None,
             max_swaps: int = 10_000, lagrange_iters: int = 300) -> Solution:
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
    else:
        order = np.lexsort((t, ri))
        r_s, c_s, t_s = ri[order], c[order], t[order]
        d_ptr = np.searchsorted(r_s, np.arange(len(rows) + 1)).astype(np.int64)
        fr_h = np.where(np.isfinite(fr), fr, _big(t, fr))
        chosen = _pmed_greedy(d_ptr, c_s, t_s, wr, fr_h, P.n_cand, p)
        chosen, swaps = _pmed_swap(d_ptr, c_s, t_s, wr, fr_h, P.n_cand, chosen, max_swaps)
        obj = float(_pmed_cost(d_ptr, c_s, t_s, wr, fr_h, _mask(chosen, P.n_cand)).sum())
        lb = _pmed_lagrange(d_ptr, c_s, t_s, wr, fr_h, P.n_cand, p, obj, lagrange_iters)
        sites, bound, solver = chosen, min(lb, obj), "greedy+swap"
        notes.append(f"{swaps} interchange moves; Lagrangian bound after {lagrange_iters} iterations")
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


def _mask(sites, n):
    m = np.zeros(n, dtype=np.bool_)
    m[sites] = True
    return m


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


@njit(cache=True)
def _pmed_cost(d_ptr, c_s, t_s, w, fb, open_):
    nr = len(w)
    out = np.empty(nr)
    for i in range(nr):
        best = fb[i]
        for q in range(d_ptr[i], d_ptr[i + 1]):
            if open_[c_s[q]] and t_s[q] < best:
                best = t_s[q]
                break  # rows are sorted by time
        out[i] = w[i] * best
    return out


@njit(cache=True)
def _pmed_greedy(d_ptr, c_s, t_s, w, fb, nc, p):
    nr = len(w)
    cur = fb.copy()
    used = np.zeros(nc, dtype=np.bool_)
    chosen = np.empty(p, dtype=np.int64)
    gain = np.zeros(nc)
    for it in range(p):
        gain[:] = 0.0
        for i in range(nr):
            for q in range(d_ptr[i], d_ptr[i + 1]):
                if t_s[q] >= cur[i]:
                    break
                gain[c_s[q]] += w[i] * (cur[i] - t_s[q])
        best, bj = -1.0, -1
        for j in range(nc):
            if not used[j] and gain[j] > best:
                best, bj = gain[j], j
        chosen[it] = bj
        used[bj] = True
        for i in range(nr):
            for q in range(d_ptr[i], d_ptr[i + 1]):
                if c_s[q] == bj and t_s[q] < cur[i]:
                    cur[i] = t_s[q]
    return chosen


@njit(cache=True)
def _pmed_swap(d_ptr, c_s, t_s, w, fb, nc, chosen, max_swaps):
    """Best-improvement swap with the gain/loss/extra decomposition
    (Resende & Werneck 2007): profit(s, j) = gain_j - loss_s + extra_sj."""
    nr = len(w)
    p = len(chosen)
    slot = np.full(nc, -1, dtype=np.int64)
    for k in range(p):
        slot[chosen[k]] = k
    extra = np.zeros((p, nc))
    swaps = 0
    while swaps < max_swaps:
        gain = np.zeros(nc)
        loss = np.zeros(p)
        extra[:, :] = 0.0
        total = 0.0
        for i in range(nr):
            # nearest (c1, owner s1) and second nearest open (c2), fallback included
            c1, s1, c2 = fb[i], -1, fb[i]
            for q in range(d_ptr[i], d_ptr[i + 1]):
                k = slot[c_s[q]]
                if k >= 0:
                    if s1 < 0 and t_s[q] < c1:
                        c1, s1 = t_s[q], k
                        c2 = fb[i]
                    elif s1 >= 0:
                        if t_s[q] < c2:
                            c2 = t_s[q]
                        break
            total += w[i] * c1
            for q in range(d_ptr[i], d_ptr[i + 1]):
                if t_s[q] >= c1:
                    break
                gain[c_s[q]] += w[i] * (c1 - t_s[q])
            if s1 >= 0:
                loss[s1] += w[i] * (c2 - c1)
                for q in range(d_ptr[i], d_ptr[i + 1]):
                    if t_s[q] >= c2:
                        break
                    tt = t_s[q] if t_s[q] > c1 else c1
                    extra[s1, c_s[q]] += w[i] * (c2 - tt)
        best, bs, bj = 1e-9 * (total + 1.0), -1, -1
        for s in range(p):
            for j in range(nc):
                if slot[j] < 0:
                    delta = gain[j] - loss[s] + extra[s, j]
                    if delta > best:
                        best, bs, bj = delta, s, j
        if bs < 0:
            break
        slot[chosen[bs]] = -1
        slot[bj] = bs
        chosen[bs] = bj
        swaps += 1
    return np.sort(chosen), swaps


@njit(cache=True)
def _pmed_lagrange(d_ptr, c_s, t_s, w, fb, nc, p, upper, iters):
    """Lower bound: relax the assignment constraints with multipliers lambda_i.

    L = sum_i lambda_i + sum_i min(0, w_i f_i - lambda_i)
        + sum of the p most negative rho_j, rho_j = sum_i min(0, w_i t_ij - lambda_i).
    """
    nr = len(w)
    lam = np.empty(nr)
    for i in range(nr):
        # start at the cost of the nearest option
        lam[i] = w[i] * (t_s[d_ptr[i]] if d_ptr[i + 1] > d_ptr[i] and t_s[d_ptr[i]] < fb[i] else fb[i])
    best = -np.inf
    theta = 2.0
    stall = 0
    rho = np.zeros(nc)
    g = np.empty(nr)
    for it in range(iters):
        rho[:] = 0.0
        for i in range(nr):
            for q in range(d_ptr[i], d_ptr[i + 1]):
                v = w[i] * t_s[q] - lam[i]
                if v >= 0.0:
                    break
                rho[c_s[q]] += v
        top = np.argsort(rho)[:p]
        openy = np.zeros(nc, dtype=np.bool_)
        val = 0.0
        for k in range(p):
            if rho[top[k]] < 0.0:
                openy[top[k]] = True
                val += rho[top[k]]
        for i in range(nr):
            val += lam[i]
            x = 0.0
            vf = w[i] * fb[i] - lam[i]
            if vf < 0.0:
                val += vf
                x += 1.0
            for q in range(d_ptr[i], d_ptr[i + 1]):
                if w[i] * t_s[q] - lam[i] >= 0.0:
                    break
                if openy[c_s[q]]:
                    x += 1.0
            g[i] = 1.0 - x
        if it == 0 or val > best + 1e-12 * abs(best):
            best = val
            stall = 0
        else:
            stall += 1
            if stall >= 10:
                theta *= 0.5
                stall = 0
        g2 = 0.0
        for i in range(nr):
            g2 += g[i] * g[i]
        if g2 == 0.0 or upper - best <= 1e-9 * max(1.0, abs(upper)):
            break
        step = theta * (upper - val) / g2
        for i in range(nr):
            lam[i] += step * g[i]
    return best


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
