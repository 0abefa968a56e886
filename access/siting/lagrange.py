"""Proven lower bounds for the location engine's problem (see :mod:`access.siting.local_search`)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
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
