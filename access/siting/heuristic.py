"""Heuristic for maximal covering and p-median on instances too large for the MILP.

Local search (:mod:`access.siting.local_search`) finds the sites; a
Lagrangian relaxation (:mod:`access.siting.lagrange`) proves how far from
the optimum they can be.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import reverse_cuthill_mckee

from access.siting.lagrange import _lagrange
from access.siting.local_search import _search


def _heuristic(d, c, t, w, fb, nc: int, p: int, rounds: int, iters: int, max_swaps: int,
               chains: int = 1):
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
        Iterated local search rounds (of each chain), subgradient iterations
        and the cap on swaps per descent.
    chains : int
        Local search chains run side by side in threads. With more than one,
        the rounds after the first tenth are cut into 8 legs; each chain runs
        a leg from the best solution so far with its own seed and the best
        chain's solution starts the next leg. Runs of one chain end up to
        0.2 % apart from seed to seed, so picking the best of several at each
        leg keeps the search on the luckier path.

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
    # A tenth of the rounds gives a target close enough (the bound ends within
    # 0.003 % of the one aimed at the final cost); the bound then runs in a
    # second thread while the search goes on, both releasing the GIL.
    t1 = time.perf_counter()
    is_open = np.zeros(nc, dtype=np.bool_)
    first = rounds // 10
    cost, moves, done = _search(d_ptr, c2, t2, k_ptr, k_rows, k_t, w2, fb2, is_open, p, first, max_swaps, 0)

    # the bound works on costs rounded down to float32 (a relaxation, so still a
    # valid bound) to halve the memory traffic of its passes
    wt64 = w2[d2] * t2
    wt = wt64.astype(np.float32)
    wt = np.where(wt > wt64, np.nextafter(wt, np.float32(-np.inf)), wt)
    del wt64
    args = (d_ptr, c2.astype(np.int32), wt, k_ptr, k_rows, wt[co], w2 * fb2, p, cost, iters, np.empty(nr))
    with ThreadPoolExecutor(1 + chains, thread_name_prefix="siting") as pool:
        bound = pool.submit(_timed, _lagrange, *args)
        legs = 8 if chains > 1 else 1
        more_moves = more_rounds = 0
        for leg in range(legs):
            n = (rounds - first) * (leg + 1) // legs - (rounds - first) * leg // legs
            starts = [is_open.copy() for _ in range(chains)]
            runs = [pool.submit(_search, d_ptr, c2, t2, k_ptr, k_rows, k_t, w2, fb2, o, p, n, max_swaps,
                                1 + leg * chains + k) for k, o in enumerate(starts)]
            results = [f.result() for f in runs]
            k = min(range(chains), key=lambda k: results[k][0])
            cost = results[k][0]
            is_open[:] = starts[k]
            more_moves += sum(x[1] for x in results)
            more_rounds += sum(x[2] for x in results)
        (lb, its), t_lag = bound.result()
    moves, done = moves + more_moves, done + more_rounds
    t_ils = time.perf_counter() - t1
    lb -= 1e-9 * abs(lb)  # allowance for rounding in the sums
    notes = [f"greedy, swaps and {done} local search rounds ({moves} swaps"
             f"{f', {chains} chains' if chains > 1 else ''}) {t_ils:.1f} s, alongside the "
             f"Lagrangian bound ({its} iterations {t_lag:.1f} s); ordering {prep:.1f} s"]
    return np.sort(cperm[np.flatnonzero(is_open)]), min(lb, cost), notes


def _timed(fn, *args):
    # (fn's result, wall seconds it took)
    t = time.perf_counter()
    return fn(*args), time.perf_counter() - t
