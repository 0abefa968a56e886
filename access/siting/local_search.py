"""Swap-based local search shared by maximal covering and p-median.

Maximal covering and p-median share one engine: minimise
    sum_i w_i * min(fb_i, min over open j of t_ij)
over p open sites, where fb_i is the cost of the row's fallback (an existing
facility, the unserved charge; 1 for maximal covering, where t_ij = 0 marks
a covering pair and the cost is the uncovered weight). Greedy, then
best-improvement swaps (Teitz & Bart 1968) with the gain/loss/extra
bookkeeping of Resende & Werneck (2007), then iterated local search.
Rows are sorted by cost within (``d_ptr``, ``c_s``, ``t_s``) and pairs are
also indexed by candidate (``k_ptr``, ``k_rows``, ``k_t``).
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

_RRT = 0.05  # record-to-record threshold, share of the mean cost of closing a site


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
_Engine = namedtuple("_Engine", "d_ptr c_s t_s k_ptr k_rows k_t w fb is_open c1 s1 c2 gain loss tot "
                               "dirty xs xv xn")


@njit(cache=True)
def _state(d_ptr, c_s, t_s, k_ptr, k_rows, k_t, w, fb, is_open):
    """Engine state for the open sites ``is_open``, as one _Engine G.

    Per row: c1, s1, c2 (see _row_eval). Per candidate: gain (cost saved by
    opening it) and loss (cost added by closing it, Whitaker 1983). tot[0]:
    total cost. Per candidate j, the sites extra_sj > 0 of _best_swap and
    their extra are cached in xs, xv (xn of them, from k_ptr[j]) until one of
    j's rows changes (``dirty``): most candidates a descent scans again have
    the same rows as at the last scan.
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
    return _Engine(d_ptr, c_s, t_s, k_ptr, k_rows, k_t, w, fb, is_open, c1, s1, c2, gain, loss, tot,
                   np.ones(nc, np.bool_), np.empty(len(k_rows), np.int32), np.empty(len(k_rows)),
                   np.zeros(nc, np.int64))


@njit(cache=True)
def _toggle(j, opening, G):
    """Open or close site j, updating the rows it is one of the two nearest of."""
    d_ptr, c_s, t_s, k_ptr, k_rows, k_t, w, fb, is_open, c1, s1, c2, gain, loss, tot, dirty = G[:16]
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
        if ns != os or n2 != o2 or n1 != o1:
            # one pass over the row: gains change below max(o1, n1); the cached
            # extra of every candidate below max(o2, n2) goes stale
            wi, m1, m2 = w[i], max(o1, n1) if n1 != o1 else -np.inf, max(o2, n2)
            for r in range(d_ptr[i], d_ptr[i + 1]):
                tr = t_s[r]
                if tr >= m2:
                    break
                dirty[c_s[r]] = True
                if tr < m1:
                    gain[c_s[r]] += wi * (max(n1 - tr, 0.0) - max(o1 - tr, 0.0))
            tot[0] += wi * (n1 - o1)
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
    gathered from j's rows, one pass over the pairs of each site in ``order``
    whose rows changed since its last scan (the others' are cached). As extra_sj <= loss_s, a site saves at most its gain:
    the scan stops there.
    """
    k_ptr, k_rows, k_t, w, is_open, c1, s1, c2, gain, loss = (G.k_ptr, G.k_rows, G.k_t, G.w, G.is_open, G.c1,
                                                              G.s1, G.c2, G.gain, G.loss)
    dirty, xs, xv, xn = G.dirty, G.xs, G.xv, G.xn
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
        b = k_ptr[j]
        if dirty[j]:
            nt = 0
            for q in range(b, k_ptr[j + 1]):
                i = k_rows[q]
                o = s1[i]
                if o >= 0 and k_t[q] < c2[i]:
                    if ex[o] == 0.0:
                        touched[nt] = o
                        nt += 1
                    ex[o] += w[i] * (c2[i] - max(k_t[q], c1[i]))
            for u in range(nt):
                xs[b + u] = touched[u]
                xv[b + u] = ex[touched[u]]
                ex[touched[u]] = 0.0
            xn[j] = nt
            dirty[j] = False
        v, vs = -ml, ms
        for u in range(b, b + xn[j]):
            s = xs[u]
            if xv[u] - loss[s] > v:
                v, vs = xv[u] - loss[s], s
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
def _largest(v, k):
    # indices of the k largest values, in one pass (no copy of v, unlike argpartition)
    ti = np.empty(k, np.int64)
    lo = 0
    for j in range(len(v)):
        if j < k:
            ti[j] = j
            if v[j] < v[ti[lo]]:
                lo = j
        elif v[j] > v[ti[lo]]:
            ti[lo] = j
            lo = 0
            for u in range(1, k):
                if v[ti[u]] < v[ti[lo]]:
                    lo = u
    return ti


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
            top = _largest(gain, min(10, nc - 1)) if nc > 1 else np.arange(nc)
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


@njit(cache=True, nogil=True)
def _search(d_ptr, c_s, t_s, k_ptr, k_rows, k_t, w, fb, is_open, p, rounds, max_moves, seed):
    """Greedy (when fewer than p sites are open), swap descent, then rounds of
    iterated local search; ``is_open`` ends as the best p sites found, after
    a last descent over all swaps (so no single swap improves it).

    A round closes a random open site and, at random, up to 3 open sites
    sharing rows with it, reopens as many greedily (gains perturbed by up to
    30 %), and descends over the swaps near the change. The new solution is
    kept while within a small threshold of the best so far (record-to-record
    travel, Dueck 1993), else undone. A site whose round did not lower the
    cost is not drawn again until a round near it does (don't-look bits,
    Bentley 1992), or until every open site is settled. Seeded by ``seed``;
    releases the GIL so the bound can run alongside. Returns (best cost,
    swaps, rounds done).
    """
    np.random.seed(seed)
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
    unsettled = np.ones(nc, np.bool_)
    for r in range(rounds if 0 < p < nc else 0):
        done += 1
        saved[:] = is_open
        before = tot[0]
        opens = np.flatnonzero(is_open & unsettled)
        if len(opens) == 0:
            unsettled[:] = True
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
        if tot[0] < before - tol:
            for u in range(nJ):
                unsettled[J[u]] = True
        else:
            unsettled[s] = False
        if tot[0] < best - tol:
            best = tot[0]
            best_open[:] = is_open
        elif tot[0] > best + thr:
            for j in range(nc):
                if is_open[j] != saved[j]:
                    _toggle(j, saved[j], G)
    is_open[:] = best_open
    # fresh state for the best solution (tot drifts by rounding), then a
    # descent over all swaps: the round descents only look near the change
    G = _state(d_ptr, c_s, t_s, k_ptr, k_rows, k_t, w, fb, is_open)
    moves += _descend(G, J, -1, mark, 0, ex, touched, max_moves, tol)
    return _state(d_ptr, c_s, t_s, k_ptr, k_rows, k_t, w, fb, is_open).tot[0], moves, done
