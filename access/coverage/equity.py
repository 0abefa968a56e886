"""Population-weighted inequality of accessibility.

Every index takes values ``x >= 0`` (an accessibility per cell, larger is
better) and weights ``w >= 0`` (persons). A weight of 2 is the same as
listing the value twice, so cells stand for their residents.

Formulas (``W = sum w``, ``mu = sum w x / W``):

* Gini (Cowell, *Measuring Inequality*, 3rd ed. 2011, ch. 2 and tech. app.;
  the population-weighted form used by the IPEA ``accessibility`` R package,
  Pereira et al. 2023)::

      G = sum_i sum_j w_i w_j |x_i - x_j| / (2 W^2 mu)

  computed in O(n log n) on values sorted ascending as
  ``sum_i w_i x_i (W_below_i - W_above_i) / (W^2 mu)``. One person of ``n``
  holding everything gives ``(n - 1) / n``.
* Theil T (Cowell 2011, sec. 3 and 6; generalised entropy GE(1))::

      T = (1 / W) sum_i w_i (x_i / mu) ln(x_i / mu),   with 0 ln 0 = 0

  and for groups ``g`` (shares ``s_g = W_g mu_g / (W mu)``)::

      between = sum_g s_g ln(mu_g / mu),   within = sum_g s_g T_g,
      T = between + within.
* Palma ratio (Palma 2011, *Development and Change* 42(1); Cobham & Sumner
  2013): share of total ``x`` held by the top 10 % of persons divided by the
  share held by the bottom 40 %, read off the population-weighted Lorenz
  curve with linear interpolation — a cell straddling a cut point is split
  fractionally (its persons all have the same value). ``inf`` when the
  bottom 40 % hold nothing.

Accessibility measure used by :func:`equity_table` (decision): for each
circle, 设施完备度 — the share of the circle's required services a cell
reaches within the limit (0..1, unreachable cells 0) — weighted by the
persons of the circle's demand group living in its scope (see
:mod:`access.coverage.demand`). It is an opportunity share, so ``x >= 0``
with zeros allowed (0 ln 0 = 0 in Theil). Binding travel times are not used
directly: they are infinite for anyone missing a service and "larger is
worse", which would invert every index. The urban-rural gap is the urban
mean minus the rural mean of the same quantity (NaN for a circle whose
scope holds only one side).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from access.coverage.circles import _circles, evaluate_circles
from access.coverage.standards import Circle
from access.errors import InputError
from access.network.modes import TravelMode


def _prep(x, w, scale: bool = True) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=float).ravel()
    w = np.ones_like(x) if w is None else np.asarray(w, dtype=float).ravel()
    problems = []
    if len(w) != len(x):
        problems.append(f"weights: {len(w)} values for {len(x)} accessibility values; "
                        "give one weight (persons) per value.")
    else:
        if np.any(~np.isfinite(x)) or np.any(x < 0):
            bad = np.flatnonzero(~np.isfinite(x) | (x < 0))[0]
            problems.append(f"accessibility: value {x[bad]} at position {bad} is not a finite "
                            "number >= 0; inequality indices need x >= 0 (drop or cap it).")
        if np.any(~np.isfinite(w)) or np.any(w < 0):
            bad = np.flatnonzero(~np.isfinite(w) | (w < 0))[0]
            problems.append(f"weights: value {w[bad]} at position {bad} is not a finite "
                            "number of persons >= 0.")
    if problems:
        raise InputError(problems)
    keep = w > 0
    x, w = x[keep], w[keep]
    # Every index here is scale-invariant: dividing by the largest value
    # keeps tiny values from underflowing in x / mu.
    top = x.max() if len(x) else 0.0
    return (x / top if scale and top > 0 else x), w


def weighted_mean(x, w=None) -> float:
    """Population-weighted mean ``sum w x / sum w`` (NaN with no persons)."""
    x, w = _prep(x, w, scale=False)
    return float(np.dot(w, x) / w.sum()) if w.sum() > 0 else np.nan


def gini(x, w=None) -> float:
    """Population-weighted Gini coefficient (0 = equal, -> 1 = one holds all).

    NaN when there are no persons or ``sum w x == 0`` (nothing to share).
    """
    x, w = _prep(x, w)
    W = w.sum()
    if W <= 0:
        return np.nan
    mu = np.dot(w, x) / W
    if mu <= 0:
        return np.nan
    o = np.argsort(x, kind="stable")
    x, w = x[o], w[o]
    cw = np.cumsum(w)
    below = cw - w
    above = W - cw
    g = np.dot(w * x, below - above) / (W * W * mu)
    return float(max(g, 0.0))  # ties can leave -1e-18 of round-off


def _theil(x, w) -> float:
    W = w.sum()
    mu = np.dot(w, x) / W
    r = x / mu
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(r > 0, r * np.log(np.where(r > 0, r, 1.0)), 0.0)  # 0 ln 0 = 0
    return float(np.dot(w, term) / W)


def theil_t(x, w=None, groups=None) -> tuple[float, float, float]:
    """Population-weighted Theil T index and its group decomposition.

    Parameters
    ----------
    x : array-like, accessibility >= 0
    w : array-like, persons (default 1 each)
    groups : array-like, optional
        Group label per value (e.g. township code, urban/rural).

    Returns
    -------
    (total, between, within) : tuple of float
        ``total == between + within``; without groups, ``between == 0`` and
        ``within == total``. NaN when ``sum w x == 0``.
    """
    xa = np.asarray(x, dtype=float).ravel()
    wa = np.ones_like(xa) if w is None else np.asarray(w, dtype=float).ravel()
    ga = None if groups is None else np.asarray(groups).ravel()
    if ga is not None and len(ga) != len(xa):
        raise InputError(f"groups: {len(ga)} labels for {len(xa)} values; give one per value.")
    x_, w_ = _prep(xa, wa)
    if w_.sum() <= 0 or np.dot(w_, x_) <= 0:
        return (np.nan, np.nan, np.nan)
    total = _theil(x_, w_)
    if ga is None:
        return (total, 0.0, total)
    gi, _ = pd.factorize(ga[wa > 0])  # one pass over the labels, not one per group
    W, mu = w_.sum(), np.dot(w_, x_) / w_.sum()
    Wg = np.bincount(gi, weights=w_)
    mug = np.bincount(gi, weights=w_ * x_) / Wg
    s = Wg * mug / (W * mu)
    r = x_ / np.where(mug > 0, mug, 1.0)[gi]
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(r > 0, r * np.log(np.where(r > 0, r, 1.0)), 0.0)  # 0 ln 0 = 0
        theil_g = np.bincount(gi, weights=w_ * term) / Wg
        pos = s > 0
        between = float(np.sum(s[pos] * np.log(mug[pos] / mu)))
        within = float(np.sum(s[pos] * theil_g[pos]))
    # the between part is the Theil index of the group means (>= 0): a
    # -1e-15 left by round-off when every group has the same mean is 0
    if abs(between) <= 1e-12:
        between = 0.0
    return (total, float(between), float(within))


def lorenz(x, w=None) -> tuple[np.ndarray, np.ndarray]:
    """Population-weighted Lorenz curve: (cumulative person share, cumulative
    share of ``x``), both starting at 0, values sorted ascending."""
    x, w = _prep(x, w)
    o = np.argsort(x, kind="stable")
    x, w = x[o], w[o]
    p = np.concatenate([[0.0], np.cumsum(w) / w.sum()])
    tot = np.dot(w, x)
    s = np.concatenate([[0.0], np.cumsum(w * x) / tot]) if tot > 0 else np.zeros_like(p)
    return p, s


def palma(x, w=None) -> float:
    """Palma ratio: share of ``x`` held by the top 10 % of persons over the
    share held by the bottom 40 % (fractional split at the cut points).

    0.25 (= 10 % / 40 %) under perfect equality. ``inf`` when the bottom 40 % hold nothing; NaN with no persons
    or ``sum w x == 0``.
    """
    x, w = _prep(x, w)
    if w.sum() <= 0 or np.dot(w, x) <= 0:
        return np.nan
    p, s = lorenz(x, w)
    bottom40 = float(np.interp(0.4, p, s))
    top10 = 1.0 - float(np.interp(0.9, p, s))
    return top10 / bottom40 if bottom40 > 0 else np.inf


def urban_rural_gap(x, w, urban_mask) -> dict[str, float]:
    """Population-weighted means for urban and rural persons and their gap.

    Returns
    -------
    dict with ``urban_mean``, ``rural_mean``, ``gap`` (urban - rural, in the
    units of ``x``) and ``ratio`` (rural / urban; NaN if urban mean is 0).
    """
    x = np.asarray(x, dtype=float).ravel()
    w = np.asarray(w, dtype=float).ravel()
    u = np.asarray(urban_mask, dtype=bool).ravel()
    if len(u) != len(x):
        raise InputError(f"urban_mask: {len(u)} flags for {len(x)} values; give one per value.")
    um = weighted_mean(x[u], w[u]) if u.any() and w[u].sum() > 0 else np.nan
    rm = weighted_mean(x[~u], w[~u]) if (~u).any() and w[~u].sum() > 0 else np.nan
    ratio = rm / um if np.isfinite(um) and um != 0 else np.nan
    return {"urban_mean": um, "rural_mean": rm, "gap": um - rm, "ratio": ratio}


def services_within(results: pd.DataFrame, circle: Circle) -> np.ndarray:
    """Per cell, how many of ``circle``'s services are within its limit."""
    cols = [f"in_{circle.name}__{s}" for s in circle.requirements]
    return results[cols].fillna(False).to_numpy(dtype=bool).sum(axis=1).astype(float)


EQUITY_COLUMNS = ["circle", "scope", "demand", "measure", "services", "population", "mean", "share_complete",
                  "gini", "theil", "theil_between", "theil_within", "palma", "urban_mean", "rural_mean",
                  "urban_rural_gap"]


def equity_table(cells: pd.DataFrame, circles: Circle | Iterable[Circle],
                 results: pd.DataFrame | None = None, groups: str = "county",
                 urban: str = "urban",
                 modes: Mapping[str, TravelMode] | None = None,
                 demand: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Inequality of each circle's 设施完备度 over its scope's persons (``equity.csv``).

    Parameters
    ----------
    cells : DataFrame
        ``population`` (and ``pop_<group>`` for the groups ``demand``
        names) and, unless ``results`` is given, the
        ``in_<circle>__<service>`` columns (computed from ``t_`` columns
        when absent).
    circles : Circle or iterable of Circle
    results : DataFrame, optional
        ``evaluate_circles`` output indexed like ``cells``.
    groups : str
        Column for the Theil decomposition (default county code: the
        between part is the inequality between counties).
    urban : str
        Boolean column (urban cell); it also decides the circles' scopes.
        Its absence leaves the urban/rural columns NaN.
    modes : dict, optional
    demand : dict, optional
        Category -> demand group; absent: everyone.

    Returns
    -------
    DataFrame, one row per circle: ``circle``, ``scope``, ``demand``,
    ``measure`` (``"completeness"``: share of the circle's services within
    reach, 0..1), ``services`` (n), ``population`` (weights: persons of the
    demand group in the scope), ``mean``, ``share_complete`` (persons with
    all n), ``gini``, ``theil``, ``theil_between``, ``theil_within`` (by
    ``groups``), ``palma``, ``urban_mean``, ``rural_mean``,
    ``urban_rural_gap`` (urban - rural mean).
    """
    from access.coverage import demand as dm

    circles = _circles(circles)
    if "population" not in cells.columns:
        raise InputError("cells: column 'population' is missing; give persons per cell.")
    df = cells  # read column by column: no copy of a province's cells
    if results is not None:
        df = df.drop(columns=[c for c in results.columns if c in df.columns]).join(results)
    need = [c for c in circles
            if any(f"in_{c.name}__{s}" not in df.columns for s in c.requirements)]
    if need:
        flags = evaluate_circles(df, need, modes)
        df = df.drop(columns=[c for c in flags.columns if c in df.columns]).join(flags)
    # integer labels: factorised once, not once per circle
    g = pd.factorize(df[groups].astype(str))[0] if groups in df.columns else None
    um = df[urban].fillna(False).to_numpy(dtype=bool) if urban in df.columns else None
    rows = []
    for c in circles:
        group = dm.circle_group(c, demand)
        w = dm.group_persons(df, group) * dm.in_scope(df, c.scope)
        k = len(c.requirements)
        n = services_within(df, c).astype(np.int64)
        if not (np.isfinite(w) & (w >= 0)).all():
            _prep(n / k, w)  # raises, naming the first bad weight
        # 设施完备度 takes k + 1 values: each index depends on the cells only through
        # the persons per (Theil group, urban or not, services within reach), so a
        # million cells shrink to a few hundred weighted values before any sort
        key = ((g if g is not None else 0) * 2 + (um if um is not None else False)) * (k + 1) + n
        persons = np.bincount(key, weights=w)
        at = np.flatnonzero(persons > 0)
        x, wx = (at % (k + 1)) / k, persons[at]
        tot, betw, within = theil_t(x, wx, at // (2 * (k + 1)) if g is not None else None)
        row = {
            "circle": c.name, "scope": c.scope, "demand": group, "measure": "completeness", "services": k,
            "population": w.sum(), "mean": weighted_mean(x, wx),
            "share_complete": float(w[n >= k].sum() / w.sum()) if w.sum() > 0 else np.nan,
            "gini": gini(x, wx), "theil": tot, "theil_between": betw, "theil_within": within,
            "palma": palma(x, wx),
        }
        if um is not None:
            ur = urban_rural_gap(x, wx, (at // (k + 1)) % 2 == 1)
            row.update(urban_mean=ur["urban_mean"], rural_mean=ur["rural_mean"],
                       urban_rural_gap=ur["gap"])
        else:
            row.update(urban_mean=np.nan, rural_mean=np.nan, urban_rural_gap=np.nan)
        rows.append(row)
    return pd.DataFrame(rows, columns=EQUITY_COLUMNS)
