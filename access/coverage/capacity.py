"""Capacity-aware coverage: who is served when facilities can take only so many.

Floating-catchment ratios (:mod:`access.siting.fca`) say how much supply
there is per person; a health bureau also asks *who* is served. Here each
facility serves the nearest residual demand first, up to its capacity, as
AccessMod's geographic coverage analysis does (WHO AccessMod 5 manual,
section 5.5.4 and Appendix 4 "Calculation details - Geographic coverage
analysis"):

1. facilities are processed one after the other in a processing order
   (by default the largest capacity first, the manual's worked example);
2. each facility's catchment grows ring by ring of travel time (one-minute
   rings, as AccessMod's cumulative travel-time zones) over the *residual*
   population, up to the time limit;
3. when a ring holds more persons than the facility has room left, every
   cell of that ring gives the same share of its residual persons, so the
   facility ends exactly at its capacity;
4. served persons are removed from the residual population before the next
   facility is processed, so nobody is counted twice.

Capacity is given in persons: beds, doctors or places times the persons one
unit serves (e.g. 1,000 / 5 = 200 persons per bed for a target of 5 beds per
1,000 persons).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from access.errors import InputError

__all__ = ["Allocation", "allocate", "by_township", "persons_per_unit"]


@dataclass(frozen=True)
class Allocation:
    """Result of :func:`allocate`.

    Attributes
    ----------
    served : ndarray, shape (n_cells,)
        Persons of each cell served by some facility within the limit.
    in_reach : ndarray of bool, shape (n_cells,)
        The cell has at least one facility within the limit (capacity-free
        coverage).
    unserved : ndarray, shape (n_cells,)
        ``demand - served``: persons not served (out of reach or crowded out).
    load : ndarray, shape (n_facilities,)
        Persons served by each facility (never more than its capacity).
    demand_in_reach : ndarray, shape (n_facilities,)
        Persons within the limit of each facility, counted for every facility
        they can reach.
    demand_nearest : ndarray, shape (n_facilities,)
        Persons for whom the facility is the nearest within the limit (ties
        go to the lower facility row), i.e. the load it would carry if every
        person went to the nearest facility regardless of capacity.
    order : ndarray of int, shape (n_facilities,)
        Facility rows in processing order.
    """

    served: np.ndarray
    in_reach: np.ndarray
    unserved: np.ndarray
    load: np.ndarray
    demand_in_reach: np.ndarray
    demand_nearest: np.ndarray
    order: np.ndarray


def persons_per_unit(per_1000: float) -> float:
    """Persons one unit of capacity serves under a per-1,000 target.

    >>> persons_per_unit(5.0)  # 5 beds per 1,000 persons -> 200 persons a bed
    200.0
    """
    if not per_1000 > 0:
        raise InputError(f"capacity target: per_1000 must be > 0, got {per_1000!r}; "
                         "it converts beds or places into persons served.")
    return 1000.0 / float(per_1000)


def _pairs(table: pd.DataFrame, n_fac: int, n_cells: int, limit_s: float):
    need = {"facility", "cell", "seconds"}
    if not need <= set(table.columns):
        raise InputError(f"cost table: needs columns facility, cell, seconds (got {list(table.columns)}); "
                         "use access.routing.catchments().")
    f = table["facility"].to_numpy(np.int64)
    c = table["cell"].to_numpy(np.int64)
    t = table["seconds"].to_numpy(np.float64)
    if len(f) and (f.min() < 0 or f.max() >= n_fac or c.min() < 0 or c.max() >= n_cells):
        raise InputError(f"cost table: facility rows must lie in 0..{n_fac - 1} and cell rows in "
                         f"0..{n_cells - 1}; the table does not belong to these facilities and cells.")
    keep = np.isfinite(t) & (t <= limit_s)
    return f[keep], c[keep], t[keep]


def _processing_order(capacity: np.ndarray, order) -> np.ndarray:
    n = len(capacity)
    if order is None or (isinstance(order, str) and order == "capacity"):
        return np.lexsort((np.arange(n), -capacity))  # largest first, then row
    o = np.asarray(order, dtype=np.int64)
    if sorted(o.tolist()) != list(range(n)):
        raise InputError(f"capacity allocation: order must be a permutation of the {n} facility rows "
                         "or 'capacity'.")
    return o


def allocate(table: pd.DataFrame, capacity, demand, limit_s: float, ring_s: float = 60.0,
             order=None) -> Allocation:
    """Serve the nearest residual demand first, facility by facility, up to capacity.

    Parameters
    ----------
    table : DataFrame
        ``facility``, ``cell``, ``seconds`` (travel time from the cell to the
        facility), e.g. from :func:`access.routing.queries.catchments`.
        Pairs slower than ``limit_s`` are ignored.
    capacity : array-like, shape (n_facilities,)
        Persons each facility can serve (NaN or negative is an error; 0 serves
        nobody).
    demand : array-like, shape (n_cells,)
        Persons per cell (of the demand group), >= 0.
    limit_s : float
        Time limit, seconds.
    ring_s : float
        Width of the travel-time rings, seconds (60: AccessMod's one-minute
        zones). Cells of one ring are served in proportion when the facility
        fills up inside it. 0 serves strictly by time (ties still shared).
    order : "capacity", sequence of int or None
        Processing order: largest capacity first (default) or an explicit
        permutation of facility rows.

    Returns
    -------
    Allocation
    """
    cap = np.asarray(capacity, dtype=np.float64)
    dem = np.asarray(demand, dtype=np.float64)
    if np.isnan(cap).any() or (cap < 0).any():
        bad = int(np.flatnonzero(np.isnan(cap) | (cap < 0))[0])
        raise InputError(f"capacity allocation: capacity of facility row {bad} is {cap[bad]!r}; "
                         "give a number >= 0 (0 serves nobody).")
    if np.isnan(dem).any() or (dem < 0).any():
        raise InputError("capacity allocation: demand holds NaN or negative persons; clean the population input.")
    if ring_s < 0:
        raise InputError(f"capacity allocation: ring_s must be >= 0, got {ring_s!r}.")
    n_fac, n_cells = len(cap), len(dem)
    f, c, t = _pairs(table, n_fac, n_cells, float(limit_s))
    ring = np.floor(t / ring_s) if ring_s > 0 else t

    in_reach = np.zeros(n_cells, bool)
    in_reach[c] = True
    demand_in_reach = np.bincount(f, weights=dem[c], minlength=n_fac)
    # nearest facility per cell: sort by (cell, seconds, facility), take the first
    k = np.lexsort((f, t, c))
    first = k[np.r_[True, c[k][1:] != c[k][:-1]]] if len(k) else k
    demand_nearest = np.bincount(f[first], weights=dem[c[first]], minlength=n_fac)

    residual = dem.copy()
    load = np.zeros(n_fac)
    fo = np.lexsort((c, ring, f))  # grouped by facility, then by ring
    starts = np.searchsorted(f[fo], np.arange(n_fac + 1))
    proc = _processing_order(cap, order)
    for j in proc:
        room = cap[j]
        rows = fo[starts[j]:starts[j + 1]]
        if room <= 0 or not len(rows):
            continue
        cells, rings = c[rows], ring[rows]
        bounds = np.flatnonzero(np.r_[True, rings[1:] != rings[:-1], True])
        for a, b in zip(bounds[:-1], bounds[1:]):
            cc = cells[a:b]
            want = residual[cc].sum()
            if want <= 0:
                continue
            if want <= room:
                take = residual[cc].copy()
            else:
                take = residual[cc] * (room / want)
            residual[cc] -= take
            np.maximum(residual, 0.0, out=residual)
            got = float(take.sum())
            load[j] += got
            room -= got
            if room <= 1e-9 * max(cap[j], 1.0):
                break
    served = dem - residual
    return Allocation(served=served, in_reach=in_reach, unserved=residual, load=load,
                      demand_in_reach=demand_in_reach, demand_nearest=demand_nearest, order=proc)


def by_township(alloc: Allocation, demand, township) -> pd.DataFrame:
    """Persons in reach (capacity-free) and served (capacity-aware) per township.

    Returns
    -------
    DataFrame with ``township``, ``population``, ``in_reach`` (persons with a
    facility within the limit), ``served`` (persons served within the limit
    and capacity), ``crowded_out`` (``in_reach - served``), ``share_in_reach``
    and ``share_served`` (of ``population``).
    """
    dem = np.asarray(demand, dtype=np.float64)
    df = pd.DataFrame({"township": np.asarray(township), "population": dem,
                       "in_reach": np.where(alloc.in_reach, dem, 0.0), "served": alloc.served})
    g = df.groupby("township", sort=True, dropna=False)[["population", "in_reach", "served"]].sum().reset_index()
    g["crowded_out"] = (g["in_reach"] - g["served"]).clip(lower=0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        g["share_in_reach"] = np.where(g["population"] > 0, g["in_reach"] / g["population"], np.nan)
        g["share_served"] = np.where(g["population"] > 0, g["served"] / g["population"], np.nan)
    return g


TOWNSHIP_COLUMNS = ["target", "township", "township_name", "population", "in_reach", "served", "crowded_out",
                    "share_in_reach", "share_served"]
FACILITY_COLUMNS = ["target", "id", "name", "category", "township_name", "capacity", "persons_per_unit",
                    "capacity_persons", "demand_in_reach", "demand_nearest", "load", "utilisation",
                    "shortfall_persons", "oversubscribed"]


def target_tables(target, table: pd.DataFrame, fac: pd.DataFrame, capacity_units, cells: pd.DataFrame,
                  townships=None, demand=None) -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame]:
    """Allocate one ``[[targets]]`` entry and tabulate it per township and per facility.

    Parameters
    ----------
    target : access.scenario.Target
        Gives the name, ``per_1000`` (persons per unit) and ``minutes``.
    table : DataFrame
        Catchment pairs of ``fac``'s rows and ``cells``' rows within the limit.
    fac : DataFrame
        The target's facilities (rows of ``table``'s ``facility``): ``id``,
        ``name``, ``category`` and point geometry in the study CRS.
    capacity_units : array-like
        Beds, doctors or places per facility (NaN counts as 0).
    cells : DataFrame
        ``population``, ``township`` and ``township_name`` per cell.
    townships : GeoDataFrame, optional
        Township polygons (``name``) to name each facility's township.
    demand : array-like, optional
        Persons per cell the target serves (its demand group, e.g. children
        aged 3-5 for kindergarten places); ``cells["population"]`` by
        default. The tables' ``population`` is then persons of that group.

    Returns
    -------
    served : ndarray
        Persons served per cell.
    township, facilities : DataFrame
        :data:`TOWNSHIP_COLUMNS` and :data:`FACILITY_COLUMNS`; the
        facilities are sorted by ``shortfall_persons``, largest first.
    """
    ppu = persons_per_unit(target.per_1000)
    units = np.nan_to_num(np.asarray(capacity_units, dtype=np.float64), nan=0.0)
    pop = cells["population"].to_numpy(np.float64) if demand is None else np.asarray(demand, np.float64)
    alloc = allocate(table, units * ppu, pop, target.minutes * 60.0)
    tw = by_township(alloc, pop, cells["township"].to_numpy())
    names = cells.groupby("township", sort=False)["township_name"].first() if "township_name" in cells else None
    tw.insert(0, "target", target.name)
    tw.insert(2, "township_name", tw["township"].map(names) if names is not None else "")
    cap_p = units * ppu
    ft = pd.DataFrame({
        "target": target.name,
        "id": fac["id"].to_numpy() if "id" in fac else np.arange(len(fac)),
        "name": fac["name"].to_numpy() if "name" in fac else "",
        "category": fac["category"].to_numpy(),
        "township_name": _facility_townships(fac, townships),
        "capacity": units, "persons_per_unit": ppu, "capacity_persons": cap_p,
        "demand_in_reach": alloc.demand_in_reach, "demand_nearest": alloc.demand_nearest, "load": alloc.load,
    })
    with np.errstate(invalid="ignore", divide="ignore"):
        ft["utilisation"] = np.where(cap_p > 0, alloc.load / cap_p, np.nan)
    ft["shortfall_persons"] = np.maximum(alloc.demand_nearest - cap_p, 0.0)
    ft["oversubscribed"] = alloc.demand_nearest > cap_p
    ft = ft.sort_values(["shortfall_persons", "id"], ascending=[False, True], kind="stable").reset_index(drop=True)
    return alloc.served, tw[TOWNSHIP_COLUMNS], ft[FACILITY_COLUMNS]


def _facility_townships(fac, townships) -> np.ndarray:
    """Name of the township polygon holding each facility ("" outside every one)."""
    if townships is None or not len(fac) or "geometry" not in getattr(fac, "columns", ()):
        return np.full(len(fac), "", dtype=object)
    import shapely

    out = np.full(len(fac), "", dtype=object)
    pts = fac.geometry.to_numpy()
    for name, g in zip(townships["name"], townships.geometry):
        out[(out == "") & shapely.contains(g, pts)] = name
    return out
