"""Exact location MILPs solved by HiGHS (``highspy``), silently.

Sparse column-wise constraint matrices are built from COO triplets; the LP
relaxation is solved first and, when it comes out integral (common for
location models, ReVelle 1993), is the proven optimum without branch and bound.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from access.errors import InputError


def _highs():
    """A HiGHS instance that prints nothing.

    The C++ constructor writes a banner to the process's standard output
    (file descriptor 1) before any option can be set, so descriptor 1 points
    at the null device while it runs.
    """
    import highspy

    sys.stdout.flush()
    try:
        saved, null = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    except OSError:  # no standard output to protect
        h = highspy.Highs()
    else:
        try:
            os.dup2(null, 1)
            h = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            os.close(null)
    h.setOptionValue("output_flag", False)
    h.setOptionValue("log_to_console", False)
    return h


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
    h = _highs()
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
