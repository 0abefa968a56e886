"""Partition crossover of two solutions of the location engine's problem.

Two good solutions of a large p-median differ in many sites, but mostly in
separate places: where the sites in which they differ share no demand row,
the choices are independent and their costs add up. Grouping the differing
sites into such independent parts (connected through shared rows) and taking
each part from whichever parent does better there gives the best of the
2^k mixes of the two parents in one pass (partition crossover, after Whitley,
Hains & Howe 2009 for the travelling salesman; Tinos, Whitley & Ochoa 2014).
As the parts may hold unequal numbers of sites, the parts taken are chosen
by a small knapsack over their balance so that the child keeps p sites.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from access.siting.local_search import _state, _toggle


@njit(cache=True)
def _find(parent, u):
    while parent[u] != u:
        parent[u] = parent[parent[u]]
        u = parent[u]
    return u


@njit(cache=True)
def _parts(diff, k_ptr, k_rows, n_rows):
    """Part number (0..n-1) of each site in ``diff``: sites sharing a row are in one part."""
    m = len(diff)
    parent = np.arange(m)
    owner = np.full(n_rows, -1, np.int64)
    for u in range(m):
        j = diff[u]
        for q in range(k_ptr[j], k_ptr[j + 1]):
            i = k_rows[q]
            if owner[i] < 0:
                owner[i] = u
            else:
                a, b = _find(parent, u), _find(parent, owner[i])
                if a != b:
                    parent[max(a, b)] = min(a, b)
    label = np.full(m, -1, np.int64)
    n = 0
    for u in range(m):
        r = _find(parent, u)
        if label[r] < 0:
            label[r] = n
            n += 1
        label[u] = label[r]
    return label, n


@njit(cache=True)
def _toggle_part(diff, label, k, parent, opening, G):
    # open (or close) the sites of part k that are open in parent
    for u in range(len(diff)):
        if label[u] == k and parent[diff[u]]:
            _toggle(diff[u], opening, G)


@njit(cache=True, nogil=True)
def _crossover(d_ptr, c_s, t_s, k_ptr, k_rows, k_t, w, fb, a, b):
    """Best child of ``a`` and ``b`` taking each independent part from one parent.

    Parameters are the engine's arrays (see
    :func:`access.siting.local_search._search`) and two boolean vectors of
    open sites with the same count. Returns (child, its cost, number of
    parts, parts taken from ``b``); the child costs no more than ``a``
    (taking nothing from ``b`` is one of the choices).
    """
    diff = np.flatnonzero(a != b)
    child = a.copy()
    G = _state(d_ptr, c_s, t_s, k_ptr, k_rows, k_t, w, fb, child)
    if len(diff) == 0:
        return child, G.tot[0], 0, 0
    label, n = _parts(diff, k_ptr, k_rows, len(w))
    # each part's change of cost when taken from b (parts are independent: their deltas add up)
    delta, imb = np.zeros(n), np.zeros(n, np.int64)
    for u in range(len(diff)):
        imb[label[u]] += 1 if b[diff[u]] else -1
    for k in range(n):
        base = G.tot[0]
        _toggle_part(diff, label, k, a, False, G)
        _toggle_part(diff, label, k, b, True, G)
        delta[k] = G.tot[0] - base
        _toggle_part(diff, label, k, b, False, G)
        _toggle_part(diff, label, k, a, True, G)
    # knapsack over the balance: the parts taken must add as many sites as they remove
    r = 0
    for k in range(n):
        r += abs(imb[k])
    val = np.full(2 * r + 1, np.inf)
    val[r] = 0.0
    took = np.zeros((n, 2 * r + 1), np.bool_)
    for k in range(n):
        new = val.copy()
        for s in range(2 * r + 1):
            s2 = s + imb[k]
            if val[s] < np.inf and 0 <= s2 <= 2 * r and val[s] + delta[k] < new[s2]:
                new[s2] = val[s] + delta[k]
                took[k, s2] = True
        val = new
    s, taken = r, 0
    for k in range(n - 1, -1, -1):
        if took[k, s]:
            taken += 1
            for u in range(len(diff)):
                if label[u] == k:
                    child[diff[u]] = b[diff[u]]
            s -= imb[k]
    cost = _state(d_ptr, c_s, t_s, k_ptr, k_rows, k_t, w, fb, child).tot[0]
    return child, cost, n, taken
