"""p-center (Hakimi 1965): ``p`` new sites minimising the largest travel time."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from scipy import sparse

from access.errors import InputError
from access.siting.milp import _milp
from access.siting.solution import Solution, _finish, _p, _pairs, _vec


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
