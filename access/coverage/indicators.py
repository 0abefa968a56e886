"""Indicators as planning reports quote them: 设施完备度 and the headline.

* 设施完备度 (facility completeness) of a cell for a circle: the share of
  the circle's services within its limit, ``k / n`` (0..1; unreachable
  cells 0).
* The headline: per circle, the *distinct* persons of its scope and demand
  group inside and outside it, and one last row ``any``: persons outside at
  least one circle that applies to them — never a sum over circles.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from access.coverage import demand as dm
from access.coverage.circles import _circles, evaluate_circles
from access.coverage.standards import Circle
from access.errors import InputError
from access.network.modes import TravelMode

HEADLINE_COLUMNS = ["circle", "scope", "demand", "population", "covered", "outside", "share"]


def _with_flags(cells: pd.DataFrame, circles: list[Circle], results, modes) -> pd.DataFrame:
    df = cells
    if results is not None:
        df = df.drop(columns=[c for c in results.columns if c in df.columns]).join(results)
    need = [c for c in circles if f"in_{c.name}" not in df.columns
            or any(f"in_{c.name}__{s}" not in df.columns for s in c.requirements)]
    if need:
        flags = evaluate_circles(df, need, modes)
        df = df.drop(columns=[c for c in flags.columns if c in df.columns]).join(flags)
    if "population" not in df.columns:
        raise InputError("cells: column 'population' is missing; give persons per cell.")
    return df


def completeness(cells: pd.DataFrame, circle: Circle) -> np.ndarray:
    """设施完备度 per cell: share of ``circle``'s services within its limit (0..1).

    ``cells`` holds the ``in_<circle>__<service>`` flags of
    :func:`~access.coverage.circles.evaluate_circles`.
    """
    cols = [f"in_{circle.name}__{s}" for s in circle.requirements]
    return cells[cols].fillna(False).to_numpy(dtype=bool).mean(axis=1)


def outside_any(cells: pd.DataFrame, circles: Iterable[Circle]) -> np.ndarray:
    """Cells outside at least one circle whose scope includes them (bool per cell).

    ``cells`` holds the ``in_<circle>`` flags; the persons of these cells are
    each counted once, whatever the number of circles they miss.
    """
    out = np.zeros(len(cells), dtype=bool)
    for c in circles:
        out |= dm.in_scope(cells, c.scope) & ~cells[f"in_{c.name}"].fillna(False).to_numpy(dtype=bool)
    return out


def headline(cells: pd.DataFrame, circles: Circle | Iterable[Circle], results: pd.DataFrame | None = None,
             demand: Mapping[str, str] | None = None,
             modes: Mapping[str, TravelMode] | None = None) -> pd.DataFrame:
    """Distinct persons inside and outside each circle, and outside any.

    Returns
    -------
    DataFrame with ``circle``, ``scope``, ``demand``, ``population``
    (persons of the circle's demand group in its scope), ``covered``,
    ``outside`` (= population - covered), ``share`` (covered / population);
    one row per circle, then ``circle = "any"`` (scope and demand ``all``):
    ``population`` is everyone, ``outside`` the persons living in a cell
    outside at least one circle whose scope includes it (each person
    counted once, so ``outside <= population``).
    """
    circles = _circles(circles)
    df = _with_flags(cells, circles, results, modes)
    pop = np.nan_to_num(df["population"].to_numpy(dtype=float))
    rows = []
    for c in circles:
        scope = dm.in_scope(df, c.scope)
        group = dm.circle_group(c, demand)
        w = dm.group_persons(df, group) * scope
        inside = df[f"in_{c.name}"].fillna(False).to_numpy(dtype=bool)
        total, cov = float(w.sum()), float(w[inside].sum())
        rows.append({"circle": c.name, "scope": c.scope, "demand": group, "population": total,
                     "covered": cov, "outside": total - cov,
                     "share": cov / total if total > 0 else np.nan})
    total = float(pop.sum())
    out_p = float(pop[outside_any(df, circles)].sum())
    rows.append({"circle": "any", "scope": "all", "demand": "all", "population": total,
                 "covered": total - out_p, "outside": out_p,
                 "share": (total - out_p) / total if total > 0 else np.nan})
    return pd.DataFrame(rows, columns=HEADLINE_COLUMNS)


def unit_rows(df: pd.DataFrame, level: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each cell's unit as an integer, and the units' codes and names with a last ``total`` row.

    Returns
    -------
    unit : ndarray of int, shape (n_cells,)
        Position of each cell's ``level`` code among the sorted codes.
    codes, names : ndarray of object, shape (n_units + 1,)
        Sorted codes then ``"total"``; the first ``<level>_name`` of each
        unit (its code when the column is absent) then ``"study total"``.
    """
    # integer codes first, strings only per unit: far faster on a province
    g, ucode = pd.factorize(df[level].astype(str), sort=True)
    name_col = f"{level}_name"
    first = np.unique(g, return_index=True)[1]
    names = (df[name_col].iloc[first].astype(str).to_numpy(object) if name_col in df.columns
             else np.asarray(ucode, dtype=object))
    return (g, np.append(np.asarray(ucode, dtype=object), "total"),
            np.append(names.astype(object), "study total"))


def completeness_table(cells: pd.DataFrame, circles: Circle | Iterable[Circle], level: str = "township",
                       results: pd.DataFrame | None = None, demand: Mapping[str, str] | None = None,
                       modes: Mapping[str, TravelMode] | None = None) -> pd.DataFrame:
    """Distribution of 设施完备度 per unit: persons reaching k of n services.

    Returns
    -------
    Long DataFrame: ``level``, ``code``, ``name``, ``circle``, ``scope``,
    ``demand``, ``services`` (n), ``within`` (k = 0..n), ``completeness``
    (k / n), ``persons`` (of the circle's group in its scope) and ``share``
    (of the unit's such persons); units sorted by code, then a ``total``
    unit. The population-weighted mean is ``completeness_<c>`` of
    :func:`~access.coverage.units.coverage_table`.
    """
    if level not in ("township", "county"):
        raise InputError(f"level = {level!r}: use 'township' or 'county'.")
    circles = _circles(circles)
    df = _with_flags(cells, circles, results, modes)
    if level not in df.columns:
        raise InputError(f"cells: column {level!r} is missing; run assign_units first.")
    g, codes, names = unit_rows(df, level)
    nu = len(codes) - 1
    parts = []
    for c in circles:
        n = len(c.requirements)
        k = np.rint(completeness(df, c) * n).astype(np.int64)
        group = dm.circle_group(c, demand)
        w = dm.group_persons(df, group) * dm.in_scope(df, c.scope)
        by = np.bincount(g * (n + 1) + k, weights=w, minlength=nu * (n + 1)).reshape(nu, n + 1)
        by = np.vstack([by, by.sum(axis=0)])
        tot = by.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            sh = np.where(tot > 0, by / tot, np.nan)
        parts.append(pd.DataFrame({
            "level": level, "code": np.repeat(codes, n + 1), "name": np.repeat(names, n + 1),
            "circle": c.name, "scope": c.scope, "demand": group, "services": n,
            "within": np.tile(np.arange(n + 1), nu + 1), "completeness": np.tile(np.arange(n + 1) / n, nu + 1),
            "persons": by.ravel(), "share": sh.ravel()}))
    cols = ["level", "code", "name", "circle", "scope", "demand", "services", "within", "completeness",
            "persons", "share"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)
