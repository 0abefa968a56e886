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
search (for p-median, a pool of searches merged by partition crossover); and
a proven bound from Lagrangian relaxation (subgradient
optimisation) so that the gap is known.

The parts live in their own modules: inputs and :class:`Solution` in
:mod:`access.siting.solution`, the MILPs in :mod:`access.siting.milp`, the
heuristic in :mod:`access.siting.heuristic` (search engine
:mod:`access.siting.local_search`, crossover :mod:`access.siting.crossover`,
bound :mod:`access.siting.lagrange`) and
p-center in :mod:`access.siting.center`.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from scipy import sparse

from access.errors import InputError
from access.siting.center import p_center
from access.siting.heuristic import _heuristic
from access.siting.milp import _dual_bound, _milp, _pmedian_milp
from access.siting.solution import (
    Solution,
    _covered_rows,
    _covered_vec,
    _finish,
    _merge_rows,
    _p,
    _pairs,
    _vec,
)

__all__ = ["Solution", "maximal_covering", "p_center", "p_median", "set_covering"]


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


# ------------------------------------------------------------------ p-median
def p_median(table: pd.DataFrame, weights, p: int, existing_s=None, n_candidates: int | None = None,
             unserved_s: float | None = None, method: str = "auto", time_limit: float | None = None,
             max_swaps: int = 10_000, lagrange_iters: int = 3000, rounds: int = 18_000) -> Solution:
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
        Heuristic limits, as in :func:`maximal_covering`. p-median shares
        the rounds among 4 solutions searched side by side from the greedy
        one, in 12 legs; after each leg the best solution takes, part by
        part, whatever another does better (partition crossover, see
        :mod:`access.siting.crossover`). On 100,000 demand points x 5,000
        candidates (p = 250) the default ends within 1 % of the bound
        (benchmarks/README.md).

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
        sites, bound, hnotes = _heuristic(ri, c, t, wr, fr_h, P.n_cand, p, rounds, lagrange_iters, max_swaps,
                                          pool=4, legs=12)
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
