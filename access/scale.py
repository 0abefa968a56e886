"""Partitioned runs: one task per county and travel mode on dask.distributed.

A study is split by county (or township). Each part holds the cells of its
unit and the roads and facilities within a buffer around the unit's bounding
box. The buffer is the search limit (``[study] search_minutes``) times the
mode's top speed, so every route of at most that time from a cell of the unit
stays inside the part: the per-cell times and circle flags are identical to
the single-process run. Parts run as tasks on a ``dask.distributed`` cluster
(a ``LocalCluster`` by default, or an existing scheduler) and stream their
cells to Parquet. Once every mode of a unit is done, a reduce task puts the
unit's columns together on a worker, writes the unit's rows of
``cells.parquet`` and traces the unit's gaps (gaps are split by township, and
the tracing raster is aligned to the whole study, so they equal the whole
study's). The coordinator never holds every cell's columns: it reads back
only the columns the coverage tables, equity and report need (no points, no
per-category times) and computes them with the same code as
:meth:`access.study.Study.run`; ``cells.parquet`` is joined from the unit
files one row group at a time (:func:`access.outputs.write_cell_parts`).

Service areas: each part draws its own facilities' reach as pixels on the
study's 25 m lattice and writes them to disk; one task per county then ORs
the masks that meet the county and keeps the pixels whose centre lies in it,
so the rows equal a single-process run's without a union of polygons
(:func:`access.coverage.service_areas.area_table`).

Supply ratios (``[[targets]]``) need demand across partition borders. Each
part streams its cells' catchment pairs to Parquet and returns its share of
every facility's demand; the coordinator adds the shares, divides each
facility's capacity by its whole demand and sums the ratios per cell from the
pairs, one part file at a time. The result equals the single-process 2SFCA.
"""

from __future__ import annotations

import gc
import hashlib
import os
import re
import resource
import time
from dataclasses import dataclass, replace
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from access.coverage.service_areas import ReachMask, area_table, joined_areas
from access.errors import InputError, install_warning_format, warn
from access.network.modes import TravelMode
from access.progress import Progress
from access.routing import queries
from access.scenario import Scenario, load_scenario
from access.siting import fca
from access.siting import supply as supply_mod
from access.study import Results, Study, _cell_size, summarise

__all__ = ["Part", "top_speed_kmh", "buffer_m", "partitions", "run_part", "reduce_unit", "run_partitioned"]

#: cell columns every unit's reduced file keeps for the coordinator's tables
#: (besides ``pop_*``, ``reachable_*`` and each circle's time and flags)
_LIGHT = ("cell_id", "population", "urban", "county", "county_name", "township", "township_name")


@dataclass
class Part:
    """One unit of work: a unit's cells for one travel mode, with roads around them."""

    key: str
    unit: str
    mode: str
    study: Study
    owned_facilities: np.ndarray  # bool per facility of ``study``: located inside the unit
    rows: np.ndarray  # positions of the unit's cells in the whole study's cells


def top_speed_kmh(edges, mode: TravelMode) -> float:
    """Fastest speed any edge or off-road leg allows for ``mode``, km/h."""
    usable = edges.edges["highway"].isin(list(mode.speed_kmh)).to_numpy()
    top = max([v for v in mode.speed_kmh.values() if v > 0] + [mode.access_speed_kmh])
    if mode.use_maxspeed and usable.any():
        ms = edges.edges["maxspeed"].to_numpy(dtype=float)[usable]
        if np.isfinite(ms).any():
            top = max(top, float(np.nanmax(ms)))
    return float(top)


def buffer_m(sc: Scenario, edges, mode_name: str) -> float:
    """Distance, metres, no route within the search limit (or a target's catchment) can leave a unit's box by."""
    mode = sc.modes[mode_name]
    minutes = max([sc.search_minutes] + [t.minutes for t in sc.targets if t.mode == mode_name])
    seconds = minutes * 60.0 - mode.penalty_min * 60.0
    # +1 m: the bound is reached exactly only on a straight road at top speed
    return max(seconds, 0.0) * top_speed_kmh(edges, mode) / 3.6 + 1.0


def _units(study: Study, by: str) -> tuple[np.ndarray, gpd.GeoDataFrame | None]:
    if by not in ("county", "township"):
        raise InputError(f"by = {by!r}: partition by 'county' or 'township'.")
    return study.cells[by].astype(str).to_numpy(), study.counties if by == "county" else study.townships


def partitions(study: Study, by: str = "county", xy: np.ndarray | None = None) -> Iterator[Part]:
    """Split a study (read, graphs not built) into parts per unit and mode, lazily.

    Parameters
    ----------
    study : Study
        From :meth:`Study.read`; cells carry ``county``/``township`` codes.
    by : {"county", "township"}
    xy : ndarray, shape (n_cells, 2), optional
        The cells' points as x, y (metres) when ``study.cells`` holds none
        (:func:`run_partitioned` lets a province's point objects go); each
        part gets its cells' points back from them.

    Yields
    ------
    Part, largest unit first (so the longest tasks start early). Parts are
    made one at a time: a province's parts together would not fit in memory.
    """
    sc = study.scenario
    codes, polygons = _units(study, by)
    if xy is None:
        xy = np.column_stack([study.cells.geometry.x.to_numpy(), study.cells.geometry.y.to_numpy()])
    fxy = np.column_stack([study.facilities.geometry.x.to_numpy(), study.facilities.geometry.y.to_numpy()])
    ebox = study.edges.bounds(study.crs)
    owner = _facility_units(study, polygons)
    modes = _modes(sc)
    buffers = {m: buffer_m(sc, study.edges, m) for m in modes}
    pop = pd.Series(study.cells["population"].to_numpy(float))
    order = pop.groupby(codes).sum().sort_values(ascending=False)
    rows_of = pop.groupby(codes).indices  # one pass, not one scan per unit
    for unit in order.index:
        rows = rows_of[unit]
        lo, hi = xy[rows].min(0), xy[rows].max(0)
        cells = study.cells.iloc[rows]
        if not isinstance(cells, gpd.GeoDataFrame):
            cells = gpd.GeoDataFrame(cells, geometry=gpd.points_from_xy(xy[rows, 0], xy[rows, 1]), crs=study.crs)
        for m in modes:
            b = buffers[m]
            x0, y0, x1, y1 = lo[0] - b, lo[1] - b, hi[0] + b, hi[1] + b
            keep_e = (ebox[:, 2] >= x0) & (ebox[:, 0] <= x1) & (ebox[:, 3] >= y0) & (ebox[:, 1] <= y1)
            keep_f = (fxy[:, 0] >= x0) & (fxy[:, 0] <= x1) & (fxy[:, 1] >= y0) & (fxy[:, 1] <= y1)
            part_sc = replace(sc, circles=[c for c in sc.circles if c.mode == m],
                              targets=[t for t in sc.targets if t.mode == m])
            part = replace(
                study,
                scenario=part_sc,
                cells=cells,
                facilities=study.facilities[keep_f],
                edges=study.edges.subset(keep_e),
                networks={},
                accounts=[],
                timings={},
                quiet=True,
                memo={},
            )
            yield Part(key=f"{unit}-{m}", unit=str(unit), mode=m, study=part,
                       owned_facilities=(owner[keep_f] == unit), rows=rows)


def _modes(sc: Scenario) -> list[str]:
    return sorted({c.mode for c in sc.circles} | {t.mode for t in sc.targets})


def _stem(key: str) -> str:
    """A file-name stem for a part key: unit codes come from input files."""
    safe = re.sub(r"[^0-9A-Za-z_-]", "_", key)[:40]
    return f"{safe}-{hashlib.sha1(key.encode()).hexdigest()[:8]}"


def _facility_units(study: Study, polygons: gpd.GeoDataFrame | None) -> np.ndarray:
    """Unit code holding each facility ("" when none)."""
    out = np.full(len(study.facilities), "", dtype=object)
    if polygons is None or not len(polygons):
        return out
    pts = study.facilities.geometry.values
    tree = shapely.STRtree(polygons.geometry.values)
    f, u = tree.query(pts, predicate="intersects")
    out[f] = polygons["code"].astype(str).to_numpy()[u]
    return out


def run_part(part: Part, out_dir: str | Path, service_areas: bool = True) -> dict:
    """Run one part in a worker: write its cells to Parquet, return a summary.

    Returns
    -------
    dict with ``key``, ``unit``, ``mode``, ``cells`` (count), ``nodes``
    (graph nodes), ``seconds``, ``peak_rss_mb`` (this worker process so far),
    ``path`` (Parquet of the part's cells), ``snapped`` (facility_id ->
    bool), ``areas`` (the unit's own facilities' service areas per circle
    and category, as pixels on disk: :func:`save_masks`), ``supply``
    (target name -> the part's share of each facility's demand and the
    Parquet of its catchment pairs, see :func:`part_supply`).
    """
    t0 = time.perf_counter()
    st = part.study
    st.build_networks()
    cells, fac, snaps = st.travel_times()
    keep = [c for c in cells.columns
            if c.startswith(("t_", "in_", "missing_", "reachable_", "nearest_", "why_unreachable_"))]
    stem = _stem(part.key)
    path = Path(out_dir) / f"cells_{stem}.parquet"
    pd.DataFrame(cells[keep]).assign(cell_id=cells["cell_id"].to_numpy()).to_parquet(path, index=False)
    areas: list[dict] = []
    if service_areas and part.owned_facilities.any():
        own = part.owned_facilities
        areas = save_masks(st.area_masks(fac[own], {k: s.subset(own) for k, s in snaps.items()}),
                           Path(out_dir) / f"areas_{stem}.npz")
    col = f"snapped_{part.mode}"
    net = st.networks[part.mode]
    supply = {t.name: part_supply(st, t, fac, snaps, Path(out_dir) / f"supply_{stem}_{i}.parquet")
              for i, t in enumerate(st.scenario.targets)}
    n_cells, n_nodes = int(len(cells)), int(net.graph.n_nodes)
    snapped = dict(zip(fac["facility_id"].astype(str), fac[col].astype(bool)))
    st.networks, st.memo = {}, {}
    del cells, net, fac, snaps
    _release_memory()  # a worker runs dozens of parts: their freed blocks go back, not to the heap
    return {
        "key": part.key,
        "unit": part.unit,
        "mode": part.mode,
        "cells": n_cells,
        "nodes": n_nodes,
        "seconds": time.perf_counter() - t0,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "path": str(path),
        "snapped": snapped,
        "areas": areas,
        "supply": supply,
    }


def reduce_unit(unit: str, base: gpd.GeoDataFrame, done: list[dict], scenario: Scenario, out_dir: str | Path,
                cell_size: tuple[float, float], origin: tuple[float, float], neighbours: np.ndarray) -> dict:
    """Put a unit's mode parts together in a worker: its rows of ``cells.parquet``, its gaps.

    Parameters
    ----------
    unit : str
    base : GeoDataFrame
        The unit's cells as read (points, persons, units), with ``_row``:
        their positions in the whole study.
    done : list of dict
        :func:`run_part` of every mode of the unit.
    scenario : Scenario
    out_dir : path
    cell_size : (float, float)
        The whole study's grid spacing, metres (:func:`access.study._cell_size`).
    origin : (float, float)
        The whole study's lowest x and highest y, metres: gaps are traced on
        the whole study's raster.
    neighbours : ndarray, shape (k, 2)
        x, y (metres) of the other units' cells around this one: they keep
        the raster pixels nearest to them, as in the whole study.

    Returns
    -------
    dict with ``unit``, ``cells`` (count), ``cells_path`` (the unit's rows of
    ``cells.parquet``), ``light_path`` (the columns the coordinator's tables
    read, with ``_row``), ``gaps`` (GeoDataFrame, gaps of every circle
    ranked within the unit, facility names left empty), ``seconds`` and
    ``peak_rss_mb``.
    """
    from access.coverage import demand as demand_mod
    from access.coverage import gaps as gaps_mod
    from access.outputs import cell_columns, write_cells

    t0 = time.perf_counter()
    sc = scenario
    ids = base["cell_id"].to_numpy()
    cols: dict[str, object] = {}
    for d in sorted(done, key=lambda d: d["mode"]):
        df = pd.read_parquet(d["path"])
        if len(df) != len(ids) or not np.array_equal(df["cell_id"].to_numpy(), ids):
            raise RuntimeError(f"part {d['key']}: its {len(df):,} rows are not the unit's {len(ids):,} cells "
                               "in order")
        cols.update({c: df[c].array for c in df.columns.drop("cell_id")})
    cells = gpd.GeoDataFrame(pd.concat([base.drop(columns=[c for c in cols if c in base.columns]),
                                        pd.DataFrame(cols, index=base.index, copy=False)], axis=1),
                             geometry=base.geometry.name, crs=base.crs)
    stem = _stem(f"unit-{unit}")
    cells_path = Path(out_dir) / f"unit_{stem}.parquet"
    write_cells(cell_columns(cells, sc.circles), cells_path)
    flags = {f"t_{c.name}" for c in sc.circles} | {f"in_{c.name}" for c in sc.circles} | {
        f"in_{c.name}__{s}" for c in sc.circles for s in c.requirements}
    light = [c for c in cells.columns
             if c in _LIGHT or c in flags or c.startswith(("pop_", "reachable_")) or c == "_row"]
    light_path = Path(out_dir) / f"light_{stem}.parquet"
    pd.DataFrame(cells[light]).to_parquet(light_path, index=False)
    demand = demand_mod.demand_map(sc.groups, sc.demand)
    gaps = [gaps_mod.gap_areas(cells, c, cell_size, modes=sc.modes, demand=demand, origin=origin,
                               neighbours=neighbours) for c in sc.circles]
    n_cells = int(len(cells))
    del cells, cols
    _release_memory()
    return {
        "unit": unit,
        "cells": n_cells,
        "cells_path": str(cells_path),
        "light_path": str(light_path),
        "gaps": [g for g in gaps if len(g)],
        "seconds": time.perf_counter() - t0,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }


def save_masks(areas: list[dict], path: Path) -> list[dict]:
    """Write :meth:`Study.area_masks` to one ``.npz`` (bits packed); their descriptions.

    Returns
    -------
    list of dict: ``circle``, ``category``, ``facilities``, ``minutes``,
    ``path``, ``name`` (the array in the file), ``x0``, ``y0``, ``h``,
    ``w``, ``res`` (see :class:`~access.coverage.service_areas.ReachMask`).
    """
    arrays, out = {}, []
    for i, a in enumerate(areas):
        m = a["mask"]
        arrays[f"m{i}"] = np.packbits(m.mask, axis=None)
        out.append({k: a[k] for k in ("circle", "category", "facilities", "minutes")} | {
            "path": str(path), "name": f"m{i}", "x0": m.x0, "y0": m.y0, "h": int(m.mask.shape[0]),
            "w": int(m.mask.shape[1]), "res": m.res})
    if arrays:
        np.savez(path, **arrays)
    return out


def county_areas(counties: gpd.GeoDataFrame | None, refs: list[dict], crs) -> gpd.GeoDataFrame:
    """Service areas of ``counties`` (or of the whole study when None) from the parts' masks.

    ``refs``: the :func:`save_masks` descriptions of every part mask that
    may reach these counties; the rows equal those a single-process run
    gives them, the union of the masks being the study's mask.
    """
    files: dict[str, object] = {}
    groups: dict[tuple[str, str], tuple[dict, list]] = {}
    for r in refs:
        if r["path"] not in files:  # one part file holds the masks of all its circles
            files[r["path"]] = np.load(r["path"])
        bits = np.unpackbits(files[r["path"]][r["name"]], count=r["h"] * r["w"]).reshape(r["h"], r["w"]).view(bool)
        groups.setdefault((r["circle"], r["category"]), (r, []))[1].append(ReachMask(bits, r["x0"], r["y0"], r["res"]))
    for f in files.values():
        f.close()
    return area_table(list(groups.values()), counties, crs)


def merge_gaps(frames: list[gpd.GeoDataFrame], circles, facilities: pd.DataFrame, crs) -> gpd.GeoDataFrame:
    """Every unit's gaps ranked together per circle, nearest facilities named.

    Gaps never cross a township, so a unit's gaps are the whole study's gaps
    in that unit; ranks and ``gap_id`` are given again over all units, in
    the order of :func:`access.coverage.gaps.ranked`.
    """
    from access.coverage import gaps as gaps_mod

    frames = [f for f in frames if len(f)]
    if not frames:
        return gaps_mod.joined([], crs)
    allg = pd.concat(frames, ignore_index=True)
    parts = []
    for c in circles:
        g = allg[allg["circle"] == c.name]
        if not len(g):
            continue
        first = next(f for f in frames if (f["circle"] == c.name).any())
        g = gaps_mod.ranked(g[list(first.columns)], c.name)
        gaps_mod.name_nearest(g, list(c.requirements), facilities)
        parts.append(g)
    return gaps_mod.joined(parts, crs)


def part_supply(study: Study, target, fac: gpd.GeoDataFrame, snaps: dict, path: Path) -> dict:
    """A part's first 2SFCA step for one target: its cells' demand on each facility.

    The (facility, cell, seconds) pairs go to ``path`` block by block, so the
    worker holds one block of pairs at a time.

    Returns
    -------
    dict with ``facility_id`` (ids of the target's facilities on this part's
    network), ``demand`` (persons of this part's cells within each one's
    catchment) and ``path``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    net = study.networks[target.mode]
    snap = snaps[target.mode]
    mask = fac["category"].isin(target.categories).to_numpy() & np.asarray(snap.ok, bool)
    ids = fac.loc[mask, "facility_id"].astype(str).to_numpy()
    cell_ids = study.cells["cell_id"].to_numpy()
    population = supply_mod.target_persons(study.cells, target, study.scenario)
    limit = target.minutes * 60.0
    demand = np.zeros(len(ids))
    schema = pa.schema([("facility_id", pa.string()), ("cell_id", pa.from_numpy_dtype(cell_ids.dtype)),
                        ("seconds", pa.float64())])
    with pq.ParquetWriter(path, schema) as writer:
        for rows, table in queries.catchment_blocks(net.graph, snap.subset(mask), net.cells, limit,
                                                    net.mode.penalty_min * 60.0):
            demand[rows] += fca.facility_demand(table, len(rows), population, limit)
            f = rows[table["facility"].to_numpy()]
            writer.write_table(pa.table({"facility_id": ids[f], "cell_id": cell_ids[table["cell"].to_numpy()],
                                         "seconds": table["seconds"].to_numpy()}, schema=schema))
    return {"facility_id": ids, "demand": demand, "path": str(path)}


def merge_supply(study: Study, cells: gpd.GeoDataFrame, done: list[dict]) -> pd.DataFrame:
    """Second 2SFCA step over the parts: whole demand per facility, ratios summed per cell.

    Adds ``supply_<target>_per_1000`` to ``cells`` (in place) and returns the
    per-township supply table of :func:`access.siting.supply.township_table`.
    """
    sc = study.scenario
    if not sc.targets:
        return supply_mod.empty_table()
    fac = study.facilities.set_index(study.facilities["facility_id"].astype(str))
    index = pd.Index(cells["cell_id"].to_numpy())
    parts = []
    for target in sc.targets:
        group = supply_mod.target_group(target, sc)
        population = supply_mod.target_persons(cells, target, sc)
        shares = [pd.Series(d["supply"][target.name]["demand"], index=d["supply"][target.name]["facility_id"])
                  for d in done if target.name in d.get("supply", {})]
        demand = pd.concat(shares).groupby(level=0).sum() if shares else pd.Series(dtype=float)
        capacity = pd.to_numeric(fac[target.capacity_column], errors="coerce").fillna(0.0)
        ratio = pd.Series(fca.ratios(capacity.reindex(demand.index).to_numpy(float), demand.to_numpy(float)),
                          index=demand.index)
        values = np.zeros(len(index))
        for d in done:
            s = d.get("supply", {}).get(target.name)
            if s is None:
                continue
            pairs = pd.read_parquet(s["path"])
            pos = index.get_indexer(pairs["cell_id"])
            values += np.bincount(pos, weights=ratio.reindex(pairs["facility_id"]).to_numpy(float),
                                  minlength=len(index))
        values *= 1000.0
        cells[f"supply_{target.name}_per_1000"] = values
        parts.append(supply_mod.township_table(target, values, population, cells["township"].to_numpy(), group))
    return pd.concat(parts, ignore_index=True)


def run_partitioned(
    scenario: Scenario | str | Path,
    out_dir: str | Path,
    workers: int = 2,
    scheduler: str | None = None,
    by: str = "county",
    service_areas: bool = True,
    quiet: bool = False,
) -> tuple[Study, Results, dict]:
    """Run a study as partitions on dask.distributed and merge the results.

    Parameters
    ----------
    scenario : Scenario or path
    out_dir : path
        Output folder; part files go to ``<out_dir>/parts``.
    workers : int
        Worker processes of the ``LocalCluster`` started when ``scheduler``
        is None (one thread each: the routing kernels are single-threaded
        per query).
    scheduler : str, optional
        Address of a running ``dask.distributed`` scheduler
        (``tcp://host:8786``); its workers must see ``out_dir``.
    by : {"county", "township"}
    service_areas : bool
    quiet : bool

    Returns
    -------
    study : Study
        The study as read by the coordinator (no graphs; its cells emptied
        once they went to the parts).
    results : Results
        Same tables as :meth:`Study.run`; ``cells`` holds only the columns
        the tables and report read (no points, no per-category times) and
        ``cell_files`` the unit files ``cells.parquet`` is joined from.
    summary : dict
        ``seconds``, ``peak_rss_mb`` (coordinator and workers), ``workers``,
        ``parts`` (one dict per part without its data) and ``units`` (one
        per unit's reduce task).
    """
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise InputError("partitioned runs need dask.distributed: pip install 'access-planner[scale]'.") from None
    t0 = time.perf_counter()
    progress = Progress(quiet)
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    out = Path(out_dir)
    (out / "parts").mkdir(parents=True, exist_ok=True)
    study = Study.read(sc, quiet=quiet)
    rss = {"read": _rss_mb()}  # the coordinator's peak so far after each step, MB
    n_units = len(set(_units(study, by)[0]))
    n_modes = len(_modes(sc))
    with progress.step("measuring the population grid"):
        cell_size = _cell_size(study.cells)
        pts = study.cells.geometry.values
        xy = np.column_stack([shapely.get_x(pts), shapely.get_y(pts)])
        origin = (float(np.nanmin(xy[:, 0])), float(np.nanmax(xy[:, 1])))
        del pts
        # the parts get their points back from x, y: a province's 10^7 point
        # objects are the largest thing this process would hold
        study.cells = pd.DataFrame(study.cells.drop(columns=study.cells.geometry.name))
        gc.collect()
        _release_memory()

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True,
                               dashboard_address=None, memory_limit=0)
    client = Client(scheduler or cluster)
    done: list[dict] = []
    units: list[dict] = []
    skipped = [t.name for t in sc.targets if t.allocate]
    if skipped:
        # allocation serves persons facility by facility across the whole study: no per-part form
        warn(f"targets {', '.join(skipped)}: capacity allocation (allocate = true) is computed in "
             "single-process runs only; this partitioned run writes their supply ratios but no "
             "capacity_*.csv. Run without --workers for the allocation.")
    try:
        client.run(install_warning_format)  # workers print warnings as one clean line too
        in_flight = 2 * max(1, len(client.scheduler_info()["workers"]))
        pending = as_completed()
        bar = progress.bar(n_units * (n_modes + 1), f"parts and their merges (by {by})", unit="task")

        def collect(fut) -> None:
            # no early release: a part's result may still wait for its unit's merge
            # task to be submitted; futures let go when no longer referenced
            r = fut.result()
            (done if "mode" in r else units).append(r)
            bar.update(1)

        unit_futs: list = []
        for part in partitions(study, by=by, xy=xy):
            while pending.count() >= in_flight:
                collect(next(pending))
            # scatter without hashing: parts carry road tables, which should not
            # travel inside the task graph, and tokenising them costs seconds
            data = client.scatter(part, hash=False)
            fut = client.submit(run_part, data, str(out / "parts"), service_areas, key=f"part-{part.key}",
                                pure=False)
            pending.add(fut)
            unit_futs.append(fut)
            if len(unit_futs) == n_modes:  # the unit's modes come one after another
                base = client.scatter(part.study.cells.assign(_row=part.rows), hash=False)
                near = client.scatter(_neighbours(xy, part.rows, max(cell_size)), hash=False)
                pending.add(client.submit(reduce_unit, part.unit, base, unit_futs, sc, str(out / "parts"),
                                          cell_size, origin, near, key=f"unit-{part.key}", pure=False))
                unit_futs = []
                del base, near
            del part, data, fut
        # every cell went to a part: the coordinator lets go of the points and columns it read
        n_cells = len(study.cells)
        study.cells = study.cells.iloc[:0].copy()  # a copy: an empty slice would keep every column alive
        del xy
        gc.collect()
        _release_memory()
        rss["parts_sent"] = _rss_mb()
        for fut in pending:
            collect(fut)
        bar.close()
        # the workers put the service areas together per county while this process summarises
        area_futs = _submit_county_areas(client, study.counties, [r for d in done for r in d.pop("areas")], study.crs)
        rss["parts_done"] = _rss_mb()
        with progress.step("merging parts"):
            cells = _light_cells(units, n_cells)
            fac = _facility_flags(study, done)
            gaps = merge_gaps([g for u in units for g in u.pop("gaps")], sc.circles, study.facilities, study.crs)
        rss["merged"] = _rss_mb()
        timings = dict(study.timings)
        tables = summarise(sc, study.crs, cells, fac, study.townships, timings, progress, gaps=gaps)
        with progress.step("supply ratios across parts"):
            supply = merge_supply(study, cells, done)
        with progress.step("service areas by county"):
            areas = joined_areas(client.gather(area_futs), study.crs)
        rss["tables"] = _rss_mb()
        worker_rss = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()

    results = Results(cells=cells, facilities=fac, service_areas=areas, supply=supply, timings=timings,
                      cell_files=[u["cells_path"] for u in sorted(units, key=lambda u: u["unit"])], **tables)
    seconds = time.perf_counter() - t0
    coordinator = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    for d in done:
        d.pop("snapped", None)
        d.pop("supply", None)
    summary = {
        "seconds": seconds,
        "workers": len(worker_rss),
        "peak_rss_mb": max([coordinator, *worker_rss.values()]),
        "coordinator_rss_mb": coordinator,
        "coordinator_rss_steps_mb": rss,
        "worker_rss_mb": list(worker_rss.values()),
        "parts": sorted(done, key=lambda d: d["key"]),
        "units": sorted(units, key=lambda u: u["unit"]),
        "capacity_allocation_skipped": skipped,
    }
    results.timings["partitioned_total"] = seconds
    return study, results, summary


def _rss_mb() -> float:
    """This process's peak resident memory so far, MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _release_memory() -> None:
    """Hand freed heap memory back to the system.

    glibc keeps the blocks of freed small objects (a province's cell points,
    a part's tables) in the heap, where the large arrays of the next step
    cannot use them; elsewhere this does nothing.
    """
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _neighbours(xy: np.ndarray, rows: np.ndarray, step: float) -> np.ndarray:
    """x, y of the cells outside ``rows`` within two grid steps of their box."""
    lo, hi = xy[rows].min(0) - 2 * step, xy[rows].max(0) + 2 * step
    near = (xy[:, 0] >= lo[0]) & (xy[:, 0] <= hi[0]) & (xy[:, 1] >= lo[1]) & (xy[:, 1] <= hi[1])
    near[rows] = False
    return xy[near]


def _light_cells(units: list[dict], n: int) -> pd.DataFrame:
    """The columns the tables read, from every unit's file, in the study's cell order."""
    frames = [pd.read_parquet(u["light_path"]) for u in units]
    cells = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({"_row": []})
    del frames
    rows = cells["_row"].to_numpy()
    # units partition the cells: every cell is in exactly one unit
    if len(rows) != n or (np.bincount(rows.astype(np.int64), minlength=n) != 1).any():
        raise RuntimeError(f"units hold {len(rows):,} rows for {n:,} cells: a cell was lost or computed twice")
    return cells.take(np.argsort(rows, kind="stable")).drop(columns="_row").reset_index(drop=True)


def _facility_flags(study: Study, done: list[dict]) -> gpd.GeoDataFrame:
    """The study's facilities with ``snapped_<mode>`` from the parts."""
    fac = study.facilities.copy()
    for mode in sorted({d["mode"] for d in done}):
        flags: dict[str, bool] = {}
        for d in done:
            if d["mode"] == mode:
                flags.update(d["snapped"])
        # <NA>: the facility lies beyond every part's reach, so it serves nobody here
        fac[f"snapped_{mode}"] = pd.array([flags.get(f) for f in fac["facility_id"].astype(str)], dtype="boolean")
    return fac


def _submit_county_areas(client, counties: gpd.GeoDataFrame | None, refs: list[dict], crs) -> list:
    """One :func:`county_areas` task per county, given the part masks whose box meets it."""
    if not refs:
        return []
    total: dict[tuple[str, str], int] = {}
    for r in refs:  # a circle's facilities are those of every part
        total[r["circle"], r["category"]] = total.get((r["circle"], r["category"]), 0) + int(r["facilities"])
    refs = [r | {"facilities": total[r["circle"], r["category"]]} for r in refs]
    if counties is None or not len(counties):
        return [client.submit(county_areas, None, refs, crs, pure=False)]
    box = np.array([[r["x0"], r["y0"], r["x0"] + r["w"] * r["res"], r["y0"] + r["h"] * r["res"]] for r in refs])
    futs = []
    for i, (x0, y0, x1, y1) in enumerate(counties.geometry.bounds.to_numpy()):
        near = np.flatnonzero((box[:, 0] < x1) & (box[:, 2] > x0) & (box[:, 1] < y1) & (box[:, 3] > y0))
        if len(near):
            futs.append(client.submit(county_areas, counties.iloc[[i]], [refs[k] for k in near], crs, pure=False))
    return futs


def default_workers() -> int:
    """Worker processes for ``--workers`` when not given: the machine's cores."""
    return max(1, os.cpu_count() or 1)
