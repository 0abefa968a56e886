"""Heuristic for maximal covering and p-median on instances too large for the MILP.

Local search (:mod:`access.siting.local_search`) finds the sites, several
searches merged by partition crossover (:mod:`access.siting.crossover`) for
p-median; a Lagrangian relaxation (:mod:`access.siting.lagrange`) proves how far from
the optimum they can be.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import reverse_cuthill_mckee

from access.siting.crossover import _crossover
from access.siting.lagrange import _lagrange
from access.siting.local_search import _search


def _heuristic(d, c, t, w, fb, nc: int, p: int, rounds: int, iters: int, max_swaps: int,
               pool: int = 1, legs: int = 1):
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
        Iterated local search rounds in all, subgradient iterations and the
        cap on swaps per descent.
    pool, legs : int
        With ``pool`` > 1, ``pool`` solutions share the rounds, searched side
        by side in threads with their own seeds, in ``legs`` legs. After each
        leg the best solution takes, part by part, whatever another one does
        better (partition crossover, :mod:`access.siting.crossover`); the
        others go on from where they are, so the pool stays diverse. Good
        solutions of large instances differ in many separate places (one
        chain's result varies by up to 0.2 % with its seed), and each
        solution finds its improvements in different ones.

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
    # and the closer that target, the higher the bound climbs in as many steps.
    # A tenth of the rounds (of one chain; with a pool, its first leg) gives a
    # target close enough (the bound ends within 0.003 % of the one aimed at the
    # final cost); the bound then runs in another thread while the search goes
    # on, both releasing the GIL.
    t1 = time.perf_counter()
    is_open = np.zeros(nc, dtype=np.bool_)
    first = rounds // 10 if pool == 1 else 0
    cost, moves, done = _search(d_ptr, c2, t2, k_ptr, k_rows, k_t, w2, fb2, is_open, p, first, max_swaps, 0)

    # the bound works on costs rounded down to float32 (a relaxation, so still a
    # valid bound) to halve the memory traffic of its passes
    wt64 = w2[d2] * t2
    wt = wt64.astype(np.float32)
    wt = np.where(wt > wt64, np.nextafter(wt, np.float32(-np.inf)), wt)
    del wt64
    args = [d_ptr, c2.astype(np.int32), wt, k_ptr, k_rows, wt[co], w2 * fb2, p, cost, iters, np.empty(nr)]
    eng = (d_ptr, c2, t2, k_ptr, k_rows, k_t, w2, fb2)
    members = [is_open.copy() for _ in range(pool)]
    taken = 0
    with ThreadPoolExecutor(1 + pool, thread_name_prefix="siting") as ex:
        bound = ex.submit(_timed, _lagrange, *args) if pool == 1 else None
        for leg in range(legs):
            n = (rounds - first) * (leg + 1) // legs - (rounds - first) * leg // legs
            runs = [ex.submit(_search, *eng, o, p, n // pool, max_swaps, 1 + leg * pool + k)
                    for k, o in enumerate(members)]
            results = [f.result() for f in runs]
            moves += sum(x[1] for x in results)
            done += sum(x[2] for x in results)
            b = min(range(pool), key=lambda k: results[k][0])
            cost = results[b][0]
            if bound is None:  # aim at the best cost of the first leg
                args[8] = cost
                bound = ex.submit(_timed, _lagrange, *args)
            # the best solution takes, part by part, whatever another does
            # better; the others go on from where they are (a diverse pool)
            for k in range(pool):
                if k != b:
                    members[b], _, _, parts = _crossover(*eng, members[b], members[k])
                    taken += parts
        best = members[b]
        if pool > 1:
            cost, more, _ = _search(*eng, best, p, 0, max_swaps, 0)
            moves += more
        is_open[:] = best
        (lb, its), t_lag = bound.result()
    t_ils = time.perf_counter() - t1
    lb -= 1e-9 * abs(lb)  # allowance for rounding in the sums
    mix = f", {pool} solutions in {legs} legs, {taken} parts crossed into the best" if pool > 1 else ""
    notes = [f"greedy, swaps and {done} local search rounds ({moves} swaps{mix}) {t_ils:.1f} s, alongside the "
             f"Lagrangian bound ({its} iterations {t_lag:.1f} s); ordering {prep:.1f} s"]
    return np.sort(cperm[np.flatnonzero(is_open)]), min(lb, cost), notes


def _timed(fn, *args):
    # (fn's result, wall seconds it took)
    t = time.perf_counter()
    return fn(*args), time.perf_counter() - t
