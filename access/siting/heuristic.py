"""Heuristic for maximal covering and p-median on instances too large for the MILP.

Local search (:mod:`access.siting.local_search`) finds the sites; a
Lagrangian relaxation (:mod:`access.siting.lagrange`) proves how far from
the optimum they can be.
"""

from __future__ import annotations

import time

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import reverse_cuthill_mckee

from access.siting.lagrange import _lagrange
from access.siting.local_search import _search


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

    Returns
    -------
    sites : ndarray of int64
        The p candidates chosen.
    bound : float
        Proven lower bound on the optimum: the best Lagrangian value found
        (a lower bound for any multipliers, see
        :func:`access.siting.lagrange._lagrange`) on the weighted costs
        rounded down to float32 (a relaxation of the problem), less 1e-9 of
        itself for rounding in its sums; never above the cost found.
    notes : list of str
        Steps and their seconds.
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

    # sites first: the bound's subgradient steps aim at the best cost found,
    # and the closer that target, the higher the bound climbs in as many steps
    t1 = time.perf_counter()
    is_open = np.zeros(nc, dtype=np.bool_)
    cost, moves, done = _search(d_ptr, c2, t2, k_ptr, k_rows, k_t, w2, fb2, is_open, p, rounds, max_swaps)
    t_ils = time.perf_counter() - t1

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
    notes = [f"greedy, swaps and {done} local search rounds ({moves} swaps) {t_ils:.1f} s; "
             f"Lagrangian bound {its} iterations {t_lag:.1f} s; ordering {prep:.1f} s"]
    return np.sort(cperm[np.flatnonzero(is_open)]), min(lb, cost), notes
