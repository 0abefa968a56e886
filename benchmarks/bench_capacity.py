"""Capacity allocation (nearest persons first, up to capacity) on 1,000,000 population points.

The demo county's roads with ``--points`` population points and 2,000
facilities, made as ``bench_big.py`` makes them; both ``[[targets]]`` with
``allocate = true`` (30 minutes' drive). Each way runs in a fresh process
so its peak memory is its own, all timed on the same inputs:

- ``table``: the whole catchment table (``queries.catchments``, every
  (facility, cell) pair, sorted) served by :func:`access.coverage.capacity.allocate`;
- ``network``: :func:`access.coverage.capacity.allocate_network`, routing
  each facility's catchment when its turn comes and serving it at once, with
  no table of pairs, as ``access run`` does;
- ``numpy`` (only when asked for): the whole table and the plain NumPy
  allocation (lexsorts over all pairs and a Python loop over facilities and
  one-minute rings), the peer as written before the compiled kernels.

Each prints seconds (routing and allocation apart where they are apart), CPU
seconds (user + system, all threads), peak RSS and the RSS the inputs alone
took; the parent prints the largest difference in persons served per cell and
per facility against the first way. Inputs (loading, graphs, snapping
1,000,000 points) and compilation are not timed.

Run::

    .venv/bin/python benchmarks/bench_capacity.py [--points 1000000] [--ways table,network,numpy]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_big import _facilities, _points, _scenario, measure  # noqa: E402

WAYS = ("table", "network", "numpy")
DEFAULT_WAYS = "table,network"


def _numpy_allocate(table: pd.DataFrame, cap: np.ndarray, dem: np.ndarray, limit_s: float, ring_s: float = 60.0):
    """The plain NumPy allocation (peer): lexsorts over all pairs, a Python loop over facilities and rings."""
    f = table["facility"].to_numpy(np.int64)
    c = table["cell"].to_numpy(np.int64)
    t = table["seconds"].to_numpy(np.float64)
    keep = np.isfinite(t) & (t <= limit_s)
    f, c, t = f[keep], c[keep], t[keep]
    n_fac = len(cap)
    ring = np.floor(t / ring_s)
    k = np.lexsort((f, t, c))
    first = k[np.r_[True, c[k][1:] != c[k][:-1]]] if len(k) else k
    demand_nearest = np.bincount(f[first], weights=dem[c[first]], minlength=n_fac)
    residual = dem.copy()
    load = np.zeros(n_fac)
    fo = np.lexsort((c, ring, f))
    starts = np.searchsorted(f[fo], np.arange(n_fac + 1))
    for j in np.lexsort((np.arange(n_fac), -cap)):
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
            take = residual[cc].copy() if want <= room else residual[cc] * (room / want)
            residual[cc] -= take
            np.maximum(residual, 0.0, out=residual)
            got = float(take.sum())
            load[j] += got
            room -= got
            if room <= 1e-9 * max(cap[j], 1.0):
                break
    return dem - residual, load, demand_nearest


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _allocate_target(way: str, study, fac, snaps, target, fig: dict, first: int | None = None):
    """Persons served per cell, load and nearest demand per facility of one target, one way."""
    from access.coverage import capacity
    from access.routing import queries
    from access.siting import supply

    net = study.networks[target.mode]
    mask = fac["category"].isin(target.categories).to_numpy() & snaps[target.mode].ok
    if first is not None:  # a few facilities only (warm-up)
        mask &= np.cumsum(mask) <= first
    units = pd.to_numeric(fac.loc[mask, target.capacity_column], errors="coerce").to_numpy(float)
    cap = np.nan_to_num(units, nan=0.0) * capacity.persons_per_unit(target.per_1000)
    dem = supply.target_persons(study.cells, target, study.scenario)
    limit, penalty = target.minutes * 60.0, net.mode.penalty_min * 60.0
    sub = snaps[target.mode].subset(mask)
    if way == "network":  # routing and serving interleaved: one figure for both
        t = time.perf_counter()
        a = capacity.allocate_network(net.graph, sub, net.cells, cap, dem, limit, penalty)
        fig["allocation_s"] += time.perf_counter() - t
        return a.served, a.load, a.demand_nearest
    t = time.perf_counter()
    table = queries.catchments(net.graph, sub, net.cells, limit, penalty)
    fig["routing_s"] += time.perf_counter() - t
    fig["pairs"] += len(table)
    t = time.perf_counter()
    if way == "table":
        a = capacity.allocate(table, cap, dem, limit)
        out = a.served, a.load, a.demand_nearest
    else:
        out = _numpy_allocate(table, cap, dem, limit)
    fig["allocation_s"] += time.perf_counter() - t
    return out


def child(way: str, scenario: str, out: str) -> None:
    """Allocate every ``allocate = true`` target one way; print a JSON line, save persons served."""
    from access.study import Study

    study = Study.load(scenario, quiet=True)
    fac, snaps = study.snap_facilities(study.facilities)
    targets = [t for t in study.scenario.targets if t.allocate]
    # the same code on two facilities first, so no figure includes loading or compiling kernels
    _allocate_target(way, study, fac, snaps, targets[0], {"routing_s": 0.0, "allocation_s": 0.0, "pairs": 0},
                     first=2)
    inputs_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    fig = {"way": way, "inputs_peak_mb": inputs_mb, "routing_s": 0.0, "allocation_s": 0.0, "pairs": 0}
    saved = {}
    t0, c0 = time.perf_counter(), _cpu()
    for target in targets:
        served, load, nearest = _allocate_target(way, study, fac, snaps, target, fig)
        saved.update({f"served_{target.name}": served, f"load_{target.name}": load,
                      f"nearest_{target.name}": nearest})
    fig["seconds"] = time.perf_counter() - t0
    fig["cpu_s"] = _cpu() - c0
    fig["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    fig["facilities"] = [int((fac["category"].isin(t.categories).to_numpy() & snaps[t.mode].ok).sum())
                         for t in targets]
    np.savez(out, **saved)
    print(json.dumps(fig))


def _available_gb() -> float:
    with open("/proc/meminfo") as fh:
        info = {line.split(":")[0]: int(line.split()[1]) for line in fh}
    return info["MemAvailable"] / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--ways", default=DEFAULT_WAYS, help="comma-separated: table, network, numpy")
    ap.add_argument("--child", nargs=3, metavar=("WAY", "SCENARIO", "OUT"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(*a.child)
        return
    ways = [w for w in a.ways.split(",") if w]
    if set(ways) - set(WAYS):
        sys.exit(f"--ways: choose among {', '.join(WAYS)}")
    if a.points >= 500_000 and _available_gb() < 10:
        sys.exit(f"only {_available_gb():.1f} GB available; the table ways need 2 to 6 GB at 1,000,000 "
                 "points. Try again later or with --points 250000.")
    from access.coverage.capacity import allocate

    # compile the kernel once (cached on disk) so no figure includes compilation
    allocate(pd.DataFrame({"facility": [0], "cell": [0], "seconds": [1.0]}), [1.0], [1.0], 60.0)
    rng = np.random.default_rng(0)
    print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores, {_available_gb():.1f} GB available")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        _points(a.points, rng).to_csv(tmp / "points.csv", index=False)
        _facilities(2000, rng).to_csv(tmp / "fac.csv", index=False, encoding="utf-8-sig")
        sc = _scenario(tmp, "points.csv", "fac.csv", targets=True)
        figs = {w: measure(w, sc, tmp / f"{w}.npz", script=__file__) for w in ways}
        n_fac = " and ".join(f"{n:,}" for n in next(iter(figs.values()))["facilities"])
        print(f"{a.points:,} population points, 2,000 facilities ({n_fac} in the allocate = true targets), "
              "capacity allocation (inputs not timed)")
        for w, f in figs.items():
            steps = (f"routing {f['routing_s']:5.1f} s, allocation {f['allocation_s']:5.1f} s" if f["pairs"]
                     else "routing and allocation together, no pair table")
            print(f"  {w:<9} {f['seconds']:6.1f} s ({steps}), CPU {f['cpu_s']:6.1f} s, peak RSS "
                  f"{f['peak_mb'] / 1024:.2f} GB (inputs alone {f['inputs_peak_mb'] / 1024:.2f} GB)"
                  + (f", {f['pairs']:,} pairs" if f["pairs"] else ""))
        if len(ways) > 1:
            res = {w: np.load(tmp / f"{w}.npz") for w in ways}
            base = ways[0]
            for w in ways[1:]:
                diff = {k: float(np.abs(res[w][k] - res[base][k]).max(initial=0.0)) for k in res[base].files}
                kinds = {kind: max(v for k, v in diff.items() if k.startswith(kind)) for kind in
                         ("served", "load", "nearest")}
                print(f"  max |{w} - {base}|: served per cell {kinds['served']:.3g} persons, load per facility "
                      f"{kinds['load']:.3g} persons, nearest demand per facility {kinds['nearest']:.3g} persons")
        for peer in ("table", "numpy"):
            if peer in figs and "network" in figs:
                n, s = figs[peer], figs["network"]
                print(f"  network vs {peer}: {n['seconds'] / s['seconds']:.1f}x faster (CPU "
                      f"{n['cpu_s'] / s['cpu_s']:.1f}x less), peak {(n['peak_mb'] - n['inputs_peak_mb']) / 1024:.2f}"
                      f" -> {max(s['peak_mb'] - s['inputs_peak_mb'], 0) / 1024:.2f} GB above the inputs")


if __name__ == "__main__":
    main()
