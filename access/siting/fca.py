"""Floating catchment area (FCA) supply-to-demand ratios on a sparse cost table.

Every function takes the long table produced by
:func:`access.routing.catchments` -- one row per reachable (facility, cell)
pair with columns ``facility`` (row in ``supply``), ``cell`` (row in
``demand``) and ``seconds`` (travel time) -- plus one supply value per
facility (beds, licensed doctors, places) and one demand value per cell
(persons). Pairs are taken as unique; a pair listed twice counts twice.

Measures (``t`` travel seconds, ``S_j`` supply, ``P_k`` persons,
``w(t)`` a distance-decay weight, 0 beyond the threshold ``d0``):

* cumulative opportunities: ``A_k = sum_j S_j w(t_kj)``, ``t_kj <= d0``;
* 2SFCA (Luo & Wang 2003): ``R_j = S_j / sum_k P_k w(t_kj)``,
  ``A_k = sum_j R_j w(t_kj)`` with ``w = 1`` inside the catchment;
* enhanced 2SFCA (Luo & Qi 2009): the same with stepped weights per travel
  time zone (default 0-10, 10-20, 20-30 min -> 1, 0.68, 0.22; upper bounds
  inclusive);
* Gaussian 2SFCA (Dai 2010): ``w(t) = (exp(-t^2/(2 d0^2)) - exp(-1/2)) /
  (1 - exp(-1/2))`` for ``t <= d0``;
* 3SFCA (Wan, Zou & Sternberg 2012): each cell splits itself between the
  facilities it reaches in proportion to the selection weights
  ``G_kj = s(t_kj) / sum_{l: t_kl <= d0} s(t_kl)``; then
  ``R_j = S_j / sum_k G_kj w(t_kj) P_k`` and ``A_k = sum_j G_kj w(t_kj) R_j``.

``A_k`` is supply per person (e.g. doctors per person); pass ``per=1000`` for
supply per 1,000 persons. Cells reaching no facility get 0, never NaN. A
facility whose catchment holds no demand serves nobody: its ratio is 0.
The threshold is inclusive (``t <= d0``), as in PySAL ``access``.

All work is O(pairs) time. With no weight or with the weights built by
:func:`gaussian_weight` / :func:`step_weight`, :func:`cumulative` and
:func:`two_step` (hence :func:`enhanced_two_step` and
:func:`gaussian_two_step`) run as one compiled pass per step over the
table's own arrays: no temporary per-pair arrays, sums in float64 in table
order (the same order as ``np.bincount``). Any other weight function, and
:func:`three_step`, use ``np.bincount`` over the pair arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
from numba import njit

from access.errors import InputError

Weight = Callable[[np.ndarray], np.ndarray]

# compiled weight kinds (see _weights_k); a weight function built here
# carries ``kernel = (kind, d0, breaks, values)`` so the compiled passes can
# evaluate it per pair instead of materialising a weight array
_ONE, _GAUSS, _STEP = 0, 1, 2
_NO_BREAKS = np.empty(0, dtype=np.float64)
_E_HALF = float(np.exp(-0.5))

#: Luo & Qi (2009) zones, seconds (upper bounds, inclusive) and weights.
LUO_QI_BREAKS_S = (600.0, 1200.0, 1800.0)
LUO_QI_WEIGHTS = (1.0, 0.68, 0.22)


# ------------------------------------------------------------------ weights
def step_weight(breaks_s: Sequence[float], weights: Sequence[float]) -> Weight:
    """Stepped distance decay: ``weights[i]`` for ``breaks_s[i-1] < t <= breaks_s[i]``.

    Parameters
    ----------
    breaks_s : sequence of float
        Increasing upper bounds of the zones, seconds.
    weights : sequence of float
        One non-negative weight per zone; 0 beyond the last break.

    Returns
    -------
    callable
        ``f(seconds: ndarray) -> ndarray`` of weights.
    """
    b = np.asarray(breaks_s, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    problems = []
    if b.ndim != 1 or len(b) == 0 or len(b) != len(w):
        problems.append(f"step weights: got {len(b)} breaks and {len(w)} weights; give one weight per zone.")
    elif np.any(np.diff(b) <= 0) or not np.all(np.isfinite(b)):
        problems.append(f"step weights: breaks {b.tolist()} must be finite and strictly increasing (seconds).")
    if len(w) and (np.any(w < 0) or not np.all(np.isfinite(w))):
        problems.append(f"step weights: weights {w.tolist()} must be finite and >= 0.")
    if problems:
        raise InputError(problems)
    table = np.append(w, 0.0)

    def weight(seconds: np.ndarray) -> np.ndarray:
        # searchsorted 'left' puts t == break into that break's zone (inclusive)
        return table[np.searchsorted(b, np.asarray(seconds, dtype=np.float64), side="left")]

    weight.max_s = float(b[-1])  # type: ignore[attr-defined]
    weight.kernel = (_STEP, 0.0, b.copy(), table.copy())  # type: ignore[attr-defined]
    return weight


def gaussian_weight(d0_s: float) -> Weight:
    """Dai (2010) Gaussian decay, 1 at ``t = 0`` falling to 0 at ``t = d0_s``.

    ``G(t) = (exp(-0.5 (t/d0)^2) - exp(-0.5)) / (1 - exp(-0.5))`` for
    ``t <= d0``, else 0.

    Parameters
    ----------
    d0_s : float
        Catchment size, seconds (> 0).
    """
    d0 = _positive(d0_s, "d0_s")
    e = np.exp(-0.5)

    def weight(seconds: np.ndarray) -> np.ndarray:
        t = np.asarray(seconds, dtype=np.float64)
        g = t * (1.0 / d0)
        g *= g
        g *= -0.5
        np.exp(g, out=g)
        g -= e
        g *= 1.0 / (1.0 - e)
        g[t > d0] = 0.0
        return g

    weight.max_s = d0  # type: ignore[attr-defined]
    weight.kernel = (_GAUSS, d0, _NO_BREAKS, _NO_BREAKS)  # type: ignore[attr-defined]
    return weight


def _positive(x: float, name: str) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise InputError(f"{name}: {x!r} is not a number; give a time in seconds.") from None
    if not (v > 0) or np.isnan(v):
        raise InputError(f"{name}: {v} must be > 0 seconds.")
    return v


# ------------------------------------------------------------------ inputs
def _vector(x, name: str, n: int | None = None) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64).ravel()
    problems = []
    if n is not None and len(a) != n:
        problems.append(f"{name}: {len(a)} values but {n} expected; give one value per row.")
    bad = np.flatnonzero(~np.isfinite(a) | (a < 0))
    if len(bad):
        problems.append(
            f"{name}: {len(bad)} values are negative, NaN or infinite (first at row {bad[0]}: "
            f"{a[bad[0]]}); fill missing values with 0 or drop those rows."
        )
    if problems:
        raise InputError(problems)
    return a


def _pairs(table: pd.DataFrame, n_fac: int, n_cells: int, threshold_s: float | None):
    """Validated (facility, cell, seconds) arrays, restricted to ``seconds <= threshold``."""
    need = {"facility", "cell", "seconds"}
    if not isinstance(table, pd.DataFrame) or not need <= set(table.columns):
        have = list(table.columns) if isinstance(table, pd.DataFrame) else type(table).__name__
        raise InputError(
            f"cost table: needs columns facility, cell, seconds (got {have}); "
            "use access.routing.catchments() or rename the columns."
        )
    f = table["facility"].to_numpy()
    c = table["cell"].to_numpy()
    t = table["seconds"].to_numpy(dtype=np.float64)
    problems = []
    for name, a, n in (("facility", f, n_fac), ("cell", c, n_cells)):
        if len(a) and not np.issubdtype(a.dtype, np.integer):
            problems.append(f"cost table column {name!r}: must hold integer row numbers, got {a.dtype}.")
            continue
        if not len(a) or (a.min() >= 0 and a.max() < n):  # cheap check first
            continue
        bad = np.flatnonzero((a < 0) | (a >= n))
        if len(bad):
            problems.append(
                f"cost table column {name!r}: {len(bad)} values outside 0..{n - 1} (first at row "
                f"{bad[0]}: {a[bad[0]]}); the {'supply' if name == 'facility' else 'demand'} "
                f"vector has {n} entries, one per {name}."
            )
    bad = np.flatnonzero(np.isnan(t) | (t < 0)) if len(t) and not t.min() >= 0 else ()
    if len(bad):
        problems.append(
            f"cost table column 'seconds': {len(bad)} values are NaN or negative (first at row "
            f"{bad[0]}: {t[bad[0]]}); drop unreachable pairs or use inf."
        )
    if problems:
        raise InputError(problems)
    thr = np.inf if threshold_s is None else float(threshold_s)
    keep = None if (thr == np.inf or (len(t) and t.max() <= thr)) else t <= thr
    if keep is not None:
        f, c, t = f[keep], c[keep], t[keep]
    return f.astype(np.intp, copy=False), c.astype(np.intp, copy=False), t


def _weights(weight: Weight | None, t: np.ndarray) -> np.ndarray | None:
    if weight is None:
        return None
    w = np.asarray(weight(t), dtype=np.float64)
    if w.shape != t.shape:
        w = np.broadcast_to(w, t.shape).astype(np.float64)
    if len(w) and not (w.min() >= 0 and np.isfinite(w.max())):
        raise InputError("weight function: returned negative, NaN or infinite weights; "
                         "it must map seconds to finite weights >= 0.")
    return w


def _threshold(threshold_s: float | None, weight: Weight | None) -> float | None:
    if threshold_s is None:
        return getattr(weight, "max_s", None)
    t = float(threshold_s)
    if np.isnan(t):
        raise InputError("threshold_s: NaN; give the catchment size in seconds (e.g. 1800).")
    return t


# ------------------------------------------------------------------ measures
def cumulative(table: pd.DataFrame, supply, n_cells: int, threshold_s: float | None = None,
               weight: Weight | None = None) -> np.ndarray:
    """Cumulative opportunities: supply reachable from each cell.

    Parameters
    ----------
    table : DataFrame
        Columns facility, cell, seconds (see module docstring).
    supply : array_like, shape (n_facilities,)
        Supply per facility (beds, doctors; 1 to count facilities).
    n_cells : int
        Number of cells (length of the result).
    threshold_s : float, optional
        Largest travel time counted, seconds (inclusive). Default: the
        weight's own cut-off, else every row of ``table``.
    weight : callable, optional
        Decay ``f(seconds) -> weights``; default 1.

    Returns
    -------
    ndarray of float64, shape (n_cells,)
        Sum of (weighted) supply within the threshold.
    """
    s = _vector(supply, "supply")
    thr = _threshold(threshold_s, weight)
    fast = _fast_pairs(table, len(s), int(n_cells), weight)
    if fast is not None:
        f, c, t = fast
        return _cumulative_k(f, c, s, int(n_cells),
                             *_pair_weights(t, np.inf if thr is None else float(thr), weight))
    f, c, t = _pairs(table, len(s), int(n_cells), thr)
    w = _weights(weight, t)
    v = s[f] if w is None else s[f] * w
    return np.bincount(c, weights=v, minlength=int(n_cells)).astype(np.float64)


def two_step(table: pd.DataFrame, supply, demand, threshold_s: float | None = None,
             weight: Weight | None = None, per: float = 1.0) -> np.ndarray:
    """Two-step floating catchment ratio (Luo & Wang 2003), optionally weighted.

    Parameters
    ----------
    table : DataFrame
        Columns facility, cell, seconds.
    supply : array_like, shape (n_facilities,)
        Supply per facility (e.g. licensed doctors).
    demand : array_like, shape (n_cells,)
        Persons per cell.
    threshold_s : float, optional
        Catchment size, seconds (inclusive). Default: the weight's cut-off,
        else every row of ``table``.
    weight : callable, optional
        Decay applied in both steps (enhanced / Gaussian 2SFCA); default 1.
    per : float
        Persons the ratio is expressed per (1 = per person, 1000 = per 1,000).

    Returns
    -------
    ndarray of float64, shape (n_cells,)
        Supply per ``per`` persons; 0 for cells reaching no facility.
    """
    s = _vector(supply, "supply")
    p = _vector(demand, "demand")
    thr = _threshold(threshold_s, weight)
    fast = _fast_pairs(table, len(s), len(p), weight)
    if fast is not None:
        f, c, t = fast
        out = _two_step_k(f, c, s, p, *_pair_weights(t, np.inf if thr is None else float(thr), weight))
        out *= float(per)
        return out
    f, c, t = _pairs(table, len(s), len(p), thr)
    w = _weights(weight, t)
    wp = p[c] if w is None else p[c] * w
    r = _ratio(s, np.bincount(f, weights=wp, minlength=len(s)))
    v = r[f] if w is None else r[f] * w
    return np.bincount(c, weights=v, minlength=len(p)) * float(per)


def two_step_blocks(blocks: Iterable[tuple[np.ndarray, pd.DataFrame]], supply, demand,
                    threshold_s: float | None = None, weight: Weight | None = None,
                    per: float = 1.0) -> np.ndarray:
    """:func:`two_step` over a cost table given in blocks of whole catchments.

    Each block is ``(rows, table)`` as yielded by
    :func:`access.routing.queries.catchment_blocks`: ``rows`` are the
    facilities of the block and ``table.facility`` numbers them within it.
    A facility's ratio needs only its own catchment, so the result equals
    :func:`two_step` on the concatenated table while memory holds one block.

    Parameters
    ----------
    blocks : iterable of (ndarray, DataFrame)
    supply, demand, threshold_s, weight, per
        As :func:`two_step`.

    Returns
    -------
    ndarray of float64, shape (n_cells,)
    """
    s = _vector(supply, "supply")
    p = _vector(demand, "demand")
    out = np.zeros(len(p))
    for rows, table in blocks:
        out += two_step(table, s[np.asarray(rows, np.int64)], p, threshold_s, weight, per)
    return out


def facility_demand(table: pd.DataFrame, n_facilities: int, demand, threshold_s: float | None = None,
                    weight: Weight | None = None) -> np.ndarray:
    """First step of 2SFCA: weighted persons in each facility's catchment.

    With the table of a part of the cells only, this is the part's share of
    each facility's demand; the shares of disjoint parts add up to the whole
    (partitioned runs, :mod:`access.scale`).

    Returns
    -------
    ndarray of float64, shape (n_facilities,)
        ``sum_k P_k w(t_kj)`` over the table's cells, persons.
    """
    p = _vector(demand, "demand")
    f, c, t = _pairs(table, int(n_facilities), len(p), _threshold(threshold_s, weight))
    w = _weights(weight, t)
    return np.bincount(f, weights=p[c] if w is None else p[c] * w, minlength=int(n_facilities)).astype(np.float64)


def cell_supply(table: pd.DataFrame, ratio, n_cells: int, threshold_s: float | None = None,
                weight: Weight | None = None, per: float = 1.0) -> np.ndarray:
    """Second step of 2SFCA: each cell's sum of the ratios of the facilities it reaches.

    ``ratio`` is supply over :func:`facility_demand` per facility (0 where the
    catchment holds nobody; see :func:`ratios`).

    Returns
    -------
    ndarray of float64, shape (n_cells,)
        Supply per ``per`` persons.
    """
    r = _vector(ratio, "ratio")
    f, c, t = _pairs(table, len(r), int(n_cells), _threshold(threshold_s, weight))
    w = _weights(weight, t)
    return np.bincount(c, weights=r[f] if w is None else r[f] * w, minlength=int(n_cells)) * float(per)


def ratios(supply, demand) -> np.ndarray:
    """Supply over catchment demand per facility; 0 where the catchment holds nobody."""
    return _ratio(_vector(supply, "supply"), _vector(demand, "facility demand"))


def enhanced_two_step(table: pd.DataFrame, supply, demand,
                      breaks_s: Sequence[float] = LUO_QI_BREAKS_S,
                      weights: Sequence[float] = LUO_QI_WEIGHTS, per: float = 1.0) -> np.ndarray:
    """Enhanced 2SFCA (Luo & Qi 2009): stepped weights per travel-time zone.

    Parameters
    ----------
    breaks_s, weights : sequence of float
        Zone upper bounds (seconds, inclusive) and their weights; the last
        break is the catchment size. Default 10/20/30 min -> 1/0.68/0.22.

    See :func:`two_step` for the other parameters and the result.
    """
    wfn = step_weight(breaks_s, weights)
    return two_step(table, supply, demand, wfn.max_s, wfn, per)  # type: ignore[attr-defined]


def gaussian_two_step(table: pd.DataFrame, supply, demand, d0_s: float,
                      per: float = 1.0) -> np.ndarray:
    """Gaussian 2SFCA (Dai 2010) with catchment size ``d0_s`` seconds.

    See :func:`gaussian_weight` and :func:`two_step`.
    """
    return two_step(table, supply, demand, float(d0_s), gaussian_weight(d0_s), per)


def three_step(table: pd.DataFrame, supply, demand, threshold_s: float | None = None,
               weight: Weight | None = None, selection_weight: Weight | None = None,
               per: float = 1.0) -> np.ndarray:
    """Three-step floating catchment ratio (Wan, Zou & Sternberg 2012).

    Parameters
    ----------
    weight : callable, optional
        Decay ``w(t)`` used in steps 2 and 3 (Wan et al. use a Gaussian;
        default: :func:`gaussian_weight` of ``threshold_s``).
    selection_weight : callable, optional
        ``s(t)`` from which the selection weights ``G_kj`` are normalised over
        the facilities each cell reaches within the threshold; default ``weight``.

    See :func:`two_step` for the other parameters and the result. A cell
    whose reachable facilities all have zero selection weight selects none.
    """
    thr = _threshold(threshold_s, weight)
    if weight is None:
        if thr is None or not np.isfinite(thr):
            raise InputError("three_step: give threshold_s (seconds) or a weight function.")
        weight = gaussian_weight(thr)
    s = _vector(supply, "supply")
    p = _vector(demand, "demand")
    f, c, t = _pairs(table, len(s), len(p), thr)
    w = _weights(weight, t)
    sel = w if selection_weight is None else _weights(selection_weight, t)
    tot = np.bincount(c, weights=sel, minlength=len(p))
    g = np.divide(sel, tot[c], out=np.zeros_like(sel), where=tot[c] > 0)
    gw = g * w
    r = _ratio(s, np.bincount(f, weights=gw * p[c], minlength=len(s)))
    return np.bincount(c, weights=gw * r[f], minlength=len(p)) * float(per)


# ------------------------------------------------------------------ compiled passes
def _kernel_spec(weight: Weight | None):
    if weight is None:
        return (_ONE, 0.0, _NO_BREAKS, _NO_BREAKS)
    return weight.kernel  # type: ignore[attr-defined]


def _fast_pairs(table, n_fac: int, n_cells: int, weight: Weight | None):
    """The table's (facility, cell, seconds) arrays, uncopied, when the compiled
    passes apply (known weight, integer ids, every row valid); else None and
    the caller takes the general path, which also words any error."""
    if weight is not None and getattr(weight, "kernel", None) is None:
        return None
    if not isinstance(table, pd.DataFrame) or not {"facility", "cell", "seconds"} <= set(table.columns):
        return None
    f = table["facility"].to_numpy()
    c = table["cell"].to_numpy()
    t = table["seconds"].to_numpy(dtype=np.float64)
    if not (np.issubdtype(f.dtype, np.integer) and np.issubdtype(c.dtype, np.integer)):
        return None
    if not _valid_k(f, c, t, n_fac, n_cells):
        return None
    return f, c, t


@njit(cache=True, nogil=True)
def _valid_k(f, c, t, n_fac, n_cells):
    for k in range(len(f)):
        if f[k] < 0 or f[k] >= n_fac or c[k] < 0 or c[k] >= n_cells or not t[k] >= 0.0:
            return False
    return True


@njit(cache=True, nogil=True)
def _weights_k(t, thr, kind, d0, breaks, values):
    """Weight per pair, 0 beyond ``thr``; the same arithmetic as the numpy
    weight functions. A tight loop of its own so that it vectorises."""
    w = np.empty(len(t))
    if kind == _GAUSS:
        a = 1.0 / d0
        b = 1.0 / (1.0 - _E_HALF)
        lim = min(thr, d0)
        for k in range(len(t)):
            tk = t[k]
            g = tk * a
            g *= g
            g *= -0.5
            g = (np.exp(g) - _E_HALF) * b
            w[k] = g if tk <= lim else 0.0
    elif kind == _STEP:
        for k in range(len(t)):
            tk = t[k]
            i = 0  # first zone whose upper bound is >= t (searchsorted 'left')
            while i < len(breaks) and breaks[i] < tk:
                i += 1
            w[k] = values[i] if tk <= thr else 0.0
    else:
        for k in range(len(t)):
            w[k] = 1.0 if t[k] <= thr else 0.0
    return w


def _pair_weights(t, thr, weight):
    """(use_w, w): per-pair weights for the compiled passes; no array at all
    when every pair counts with weight 1."""
    kind, d0, breaks, values = _kernel_spec(weight)
    if kind == _ONE and (len(t) == 0 or _max_k(t) <= thr):
        return False, _NO_BREAKS
    return True, _weights_k(t, thr, kind, d0, breaks, values)


@njit(cache=True, nogil=True)
def _max_k(t):
    m = -np.inf
    for k in range(len(t)):
        if t[k] > m:
            m = t[k]
    return m


@njit(cache=True, nogil=True)
def _cumulative_k(f, c, s, n_cells, use_w, w):
    out = np.zeros(n_cells)
    if use_w:
        for k in range(len(f)):
            out[c[k]] += s[f[k]] * w[k]
    else:
        for k in range(len(f)):
            out[c[k]] += s[f[k]]
    return out


@njit(cache=True, nogil=True)
def _two_step_k(f, c, s, p, use_w, w):
    dem = np.zeros(len(s))
    if use_w:
        for k in range(len(f)):
            dem[f[k]] += p[c[k]] * w[k]
    else:
        for k in range(len(f)):
            dem[f[k]] += p[c[k]]
    r = np.zeros(len(s))
    for j in range(len(s)):
        if dem[j] > 0.0:  # a facility with nobody in its catchment serves nobody
            r[j] = s[j] / dem[j]
    out = np.zeros(len(p))
    if use_w:
        for k in range(len(f)):
            out[c[k]] += r[f[k]] * w[k]
    else:
        for k in range(len(f)):
            out[c[k]] += r[f[k]]
    return out


def _ratio(supply: np.ndarray, demand: np.ndarray) -> np.ndarray:
    # A facility with nobody in its catchment serves nobody: ratio 0, not inf.
    return np.divide(supply, demand, out=np.zeros_like(supply), where=demand > 0)


# ------------------------------------------------------------------ summaries
def by_township(values, population, township) -> pd.DataFrame:
    """Population-weighted mean of a per-cell ratio per township.

    Parameters
    ----------
    values : array_like, shape (n_cells,)
        Per-cell ratio (e.g. doctors per 1,000 persons).
    population : array_like, shape (n_cells,)
        Persons per cell.
    township : array_like, shape (n_cells,)
        Township code or name per cell (missing -> its own group "NA").

    Returns
    -------
    DataFrame
        Columns ``township``, ``population`` (persons), ``value``
        (population-weighted mean; NaN for townships without residents).
    """
    v = _vector(values, "values")
    p = _vector(population, "population", len(v))
    tw = pd.Series(np.asarray(township, dtype=object)).fillna("NA")
    if len(tw) != len(v):
        raise InputError(f"township: {len(tw)} values but {len(v)} cells; give one per cell.")
    df = pd.DataFrame({"township": tw.to_numpy(), "population": p, "vp": v * p})
    g = df.groupby("township", sort=True)[["population", "vp"]].sum()
    value = np.divide(g["vp"].to_numpy(), g["population"].to_numpy(),
                      out=np.full(len(g), np.nan), where=g["population"].to_numpy() > 0)
    return pd.DataFrame({"township": g.index.to_numpy(), "population": g["population"].to_numpy(),
                         "value": value})


def compare_target(per_1000, target: float):
    """Shortfall against a target ratio, e.g. 3.05 licensed doctors per 1,000.

    Parameters
    ----------
    per_1000 : float, ndarray or Series
        Achieved supply per 1,000 persons.
    target : float
        Target supply per 1,000 persons (Fujian 2025 plan: 3.05 licensed
        (assistant) doctors per 1,000).

    Returns
    -------
    same type as ``per_1000``
        ``max(target - per_1000, 0)`` per 1,000 persons; NaN stays NaN.
    """
    t = float(target)
    if not np.isfinite(t) or t < 0:
        raise InputError(f"target: {target!r} must be a finite ratio >= 0 per 1,000 persons.")
    if isinstance(per_1000, pd.Series):
        return (t - per_1000).clip(lower=0.0)
    out = np.clip(t - np.asarray(per_1000, dtype=np.float64), 0.0, None)
    return float(out) if out.ndim == 0 else out


def supply_needed(per_1000, population, target: float):
    """Extra supply (e.g. doctors) that would close the shortfall, units of supply.

    ``compare_target(per_1000, target) * population / 1000``.
    """
    return compare_target(per_1000, target) * np.asarray(population, dtype=np.float64) / 1000.0
