"""Province-scale benchmark: partitioned runs on a synthetic Fujian-sized province.

Usage::

    python benchmarks/bench_province.py [--counties 4 21 84] [--workers 2]
        [--worker-sweep 21] [--single 4] [--seed 1] [--no-service-areas]
        [--no-write] [--out benchmarks/out/province_bench] [--quiet]

For every ``N`` in ``--counties`` the province of ``N`` counties is generated
(or reused: :mod:`province` caches by ``manifest.json``) and run with
:func:`access.scale.run_partitioned` on ``--workers`` local worker processes.
Then the ``--worker-sweep`` province is also run with 1 worker (and with 2
if 2 is not ``--workers``), and the ``--single`` province with the
single-process path ``Study.load(path).run()``, whose per-cell times and
circle flags are compared with the partitioned run of the same province.
``--worker-sweep 0`` or ``--single 0`` skips that step.

Every run is a fresh Python process (``--_child``), so import caches and
memory do not carry over; a run is stopped (its own process group only)
when the machine's available memory falls below ``--min-free-mb``. Memory
is sampled every 0.2 s with psutil (or /proc when psutil is missing): the peak of the summed RSS of the run's
process and all its descendants (coordinator + dask nanny + workers), the
coordinator's own peak, and the largest ``ru_maxrss`` of any process.

Printed: total time, peak memory, time per county (min/median/max), the
per-county scaling curve (least-squares exponent ``b`` of t = a n^b on
log-log against graph nodes, and the spread of t / (n ln n)), total time
against province size, worker scaling, and the targets (province < 10 min
and < 8 GB summed peak, writing every output included unless ``--no-write``;
per-county work no worse than n log n). Results go to
``<out>/results.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import province  # noqa: E402

# the whole province including writing every output (maps, tables, report)
TARGET_S = 10 * 60
TARGET_MB = 8 * 1024


# --------------------------------------------------------------------------
# memory sampling
# --------------------------------------------------------------------------


def _proc_tree_rss(root: int) -> tuple[float, float, dict[int, float]]:
    """RSS MB of ``root`` and of all its descendants, from /proc (no psutil)."""
    kids: dict[int, list[int]] = {}
    rss: dict[int, float] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{d}/statm") as fh:
                rss[int(d)] = int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    tree, todo = {}, [root]
    while todo:
        p = todo.pop()
        if p in rss:
            tree[p] = rss[p]
        todo.extend(kids.get(p, []))
    return tree.get(root, 0.0), sum(tree.values()), tree


class MemorySampler:
    """Peak summed RSS of this process and its descendants, sampled in a thread."""

    def __init__(self, every_s: float = 0.2):
        self.every = every_s
        self.peak_total = 0.0
        self.peak_self = 0.0
        self.peak_procs = 0
        self._stop = threading.Event()
        try:
            import psutil

            self._ps = psutil.Process()
            self.method = f"psutil {psutil.__version__} (RSS of the process tree, sampled every {every_s:g} s)"
        except ImportError:
            self._ps = None
            self.method = f"/proc statm (RSS of the process tree, sampled every {every_s:g} s)"
        self._t = threading.Thread(target=self._run, daemon=True)

    def _sample(self):
        if self._ps is not None:
            import psutil

            own = self._ps.memory_info().rss / 2**20
            total, n = own, 1
            for c in self._ps.children(recursive=True):
                try:
                    total += c.memory_info().rss / 2**20
                    n += 1
                except psutil.Error:
                    pass
        else:
            own, total, tree = _proc_tree_rss(os.getpid())
            n = len(tree)
        self.peak_self = max(self.peak_self, own)
        self.peak_total = max(self.peak_total, total)
        self.peak_procs = max(self.peak_procs, n)

    def _run(self):
        while not self._stop.is_set():
            try:
                self._sample()
            except Exception:  # noqa: BLE001 - a vanished process; sample again
                pass
            self._stop.wait(self.every)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self._sample()


# --------------------------------------------------------------------------
# one run (child process)
# --------------------------------------------------------------------------


def _normalise_parts(parts: list[dict]) -> list[dict]:
    """Per-county rows from the summary's parts (one per county, or per county and mode)."""
    by: dict[str, dict] = {}
    for p in parts:
        unit = str(p.get("county", p.get("unit")))
        row = by.setdefault(unit, {"county": unit, "cells": 0, "nodes": {}, "seconds": 0.0,
                                   "mode_seconds": {}, "peak_rss_mb": 0.0})
        nodes = p.get("nodes", {})
        if not isinstance(nodes, dict):
            nodes = {p.get("mode", "all"): nodes}
        row["nodes"].update({k: int(v) for k, v in nodes.items()})
        row["cells"] = max(row["cells"], int(p.get("cells", 0)))
        row["seconds"] += float(p.get("seconds", 0.0))
        if "mode" in p:
            row["mode_seconds"][p["mode"]] = float(p.get("seconds", 0.0))
        row["peak_rss_mb"] = max(row["peak_rss_mb"], float(p.get("peak_rss_mb", 0.0)))
    return list(by.values())


def child(kind: str, scenario: str, out: str, workers: int, service_areas: bool, save_cells: bool,
          quiet: bool, write: bool = False) -> dict:
    import resource

    Path(out).mkdir(parents=True, exist_ok=True)
    rec: dict = {"kind": kind, "scenario": scenario, "workers": workers, "loadavg_start": os.getloadavg()}
    with MemorySampler() as mem:
        t0 = time.perf_counter()
        if kind == "partitioned":
            from access.scale import run_partitioned

            kw = {} if service_areas else {"service_areas": False}
            ret = run_partitioned(scenario, out, workers=workers, scheduler=None, quiet=quiet, **kw)
            rets = ret if isinstance(ret, tuple) else (ret,)
            summary = next(x for x in rets if isinstance(x, dict))
            results = next((x for x in rets if hasattr(x, "cells") and hasattr(x, "coverage_county")), None)
            rec["seconds"] = time.perf_counter() - t0
            rec["summary_seconds"] = float(summary.get("seconds", math.nan))
            rec["summary_peak_rss_mb"] = float(summary.get("peak_rss_mb", math.nan))
            rec["coordinator_rss_mb"] = summary.get("coordinator_rss_mb")
            rec["worker_rss_mb"] = summary.get("worker_rss_mb")
            rec["coordinator_rss_steps_mb"] = summary.get("coordinator_rss_steps_mb")
            rec["parts_raw"] = [{k: v for k, v in p.items() if isinstance(v, (int, float, str, dict))}
                                for p in summary.get("parts", [])]
            # per unit: its modes put together, its rows of cells.parquet written, its gaps traced
            rec["units_raw"] = [{k: v for k, v in u.items() if isinstance(v, (int, float, str))}
                                for u in summary.get("units", [])]
            rec["counties"] = _normalise_parts(summary.get("parts", []))
            if write:
                from access.outputs import write_outputs

                study = next(x for x in rets if hasattr(x, "scenario"))
                t1 = time.perf_counter()
                files = write_outputs(study, results, Path(out) / "outputs", quiet=quiet, extra={"partitioned": True})
                rec["write_seconds"] = time.perf_counter() - t1
                rec["compute_seconds"] = rec["seconds"]
                rec["seconds"] = time.perf_counter() - t0
                rec["outputs_mb"] = sum(f.stat().st_size for f in files if f.is_file()) / 2**20
        else:
            from access.study import Study

            study = Study.load(scenario, quiet=quiet)
            rec["load_seconds"] = time.perf_counter() - t0
            rec["load_timings"] = dict(study.timings)
            results = study.run(service_areas=service_areas)
            rec["seconds"] = time.perf_counter() - t0
        if results is not None:
            rec["timings"] = {k: float(v) for k, v in getattr(results, "timings", {}).items()}
            rec["cells"] = int(len(results.cells))
            if save_cells:
                import pandas as pd

                if kind == "partitioned":
                    # the parts' own files: every time column at full precision
                    by_mode: dict = {}
                    for p in summary.get("parts", []):
                        by_mode.setdefault(p["mode"], []).append(pd.read_parquet(p["path"]))
                    cells = pd.concat([pd.concat(f).set_index("cell_id") for f in by_mode.values()],
                                      axis=1).reset_index()
                else:
                    cells = results.cells
                keep = ["cell_id"] + [c for c in cells.columns if c.startswith(("t_", "in_"))]
                pd.DataFrame(cells[keep]).to_parquet(Path(out) / "cells.parquet", index=False)
    rec["peak_total_mb"] = mem.peak_total
    rec["peak_self_mb"] = mem.peak_self
    rec["peak_processes"] = mem.peak_procs
    rec["memory_method"] = mem.method
    rec["maxrss_self_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    rec["maxrss_children_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    rec["loadavg_end"] = os.getloadavg()
    return rec


def _available_mb() -> float | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def run_child(kind: str, scenario: Path, out: Path, workers: int, a, save_cells: bool = False) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    res = out / "child.json"
    if res.exists():
        res.unlink()
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_child", kind, str(scenario), str(out), str(workers)]
    if a.no_service_areas:
        cmd.append("--no-service-areas")
    if a.no_write:
        cmd.append("--no-write")
    if save_cells:
        cmd.append("--_save-cells")
    if a.quiet:
        cmd.append("--quiet")
    print(f"\n$ {' '.join(cmd)}", flush=True)
    t0 = time.perf_counter()
    # own session: on low memory only this run's process group is stopped
    proc = subprocess.Popen(cmd, start_new_session=True)
    killed = None
    while proc.poll() is None:
        try:
            proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            pass
        avail = _available_mb()
        if proc.poll() is None and avail is not None and avail < a.min_free_mb:
            killed = f"stopped: machine memory available {avail:,.0f} MB < --min-free-mb {a.min_free_mb:,.0f}"
            print(f"!! {killed}", flush=True)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    wall = time.perf_counter() - t0
    if proc.returncode != 0 or not res.exists():
        print(f"!! {kind} run of {scenario} failed (exit {proc.returncode}) after {wall:.0f} s", flush=True)
        return {"kind": kind, "scenario": str(scenario), "workers": workers, "failed": True,
                "exit": proc.returncode, "wall_seconds": wall, "reason": killed}
    rec = json.loads(res.read_text())
    rec["wall_seconds"] = wall
    return rec


# --------------------------------------------------------------------------
# analysis
# --------------------------------------------------------------------------


def fit_power(n, t) -> dict:
    """Least-squares t = a n^b on log-log; also the spread of t / (n ln n)."""
    n = np.asarray(n, float)
    t = np.asarray(t, float)
    ok = (n > 1) & (t > 0)
    n, t = n[ok], t[ok]
    out = {"points": int(len(n))}
    if len(n) < 2 or np.ptp(np.log(n)) == 0:
        return out
    x, y = np.log(n), np.log(t)
    b, loga = np.polyfit(x, y, 1)
    resid = y - (b * x + loga)
    r2 = 1.0 - float((resid ** 2).sum() / max(((y - y.mean()) ** 2).sum(), 1e-300))
    if len(n) > 2:
        se = math.sqrt(float((resid ** 2).sum()) / (len(n) - 2) / float(((x - x.mean()) ** 2).sum()))
    else:
        se = math.nan
    r = t / (n * np.log(n))
    rm = float(np.median(r))
    out.update(b=float(b), b_se=se, a=float(math.exp(loga)), r2=r2, n_min=float(n.min()), n_max=float(n.max()),
               nlogn_rel_min=float(r.min() / rm), nlogn_rel_max=float(r.max() / rm),
               nlogn_ratio_max_min=float(r.max() / r.min()),
               # does t/(n ln n) grow with n? exponent of (t / n ln n) against n
               nlogn_trend=float(np.polyfit(x, np.log(r), 1)[0]))
    return out


def fmt_fit(f: dict) -> str:
    if "b" not in f:
        return f"({f['points']} points: not enough spread in n to fit)"
    return (f"b = {f['b']:.2f} +/- {f['b_se']:.2f} (R2 {f['r2']:.2f}, {f['points']} points, "
            f"n {f['n_min']:,.0f}-{f['n_max']:,.0f}); t/(n ln n) from {f['nlogn_rel_min']:.2f}x to "
            f"{f['nlogn_rel_max']:.2f}x its median (max/min {f['nlogn_ratio_max_min']:.2f}), "
            f"trend n^{f['nlogn_trend']:+.2f}")


def report_run(rec: dict, gen: dict) -> None:
    s = gen["summary"]
    print(f"\n== {rec['kind']} run, {s['counties']} counties ({s['nodes']:,} OSM nodes, "
          f"{s['raster']['cells_populated']:,} populated cells), {rec['workers']} worker(s)")
    if rec.get("failed"):
        print(f"   FAILED (exit {rec['exit']}) after {rec['wall_seconds']:.0f} s"
              + (f"; {rec['reason']}" if rec.get("reason") else ""))
        return
    print(f"   total {rec['seconds']:.1f} s ({rec['seconds'] / 60:.1f} min); process wall {rec['wall_seconds']:.1f} s"
          + (f"; summary['seconds'] {rec['summary_seconds']:.1f}" if "summary_seconds" in rec else ""))
    if "write_seconds" in rec:
        print(f"   of which computing {rec['compute_seconds']:.1f} s, writing every output {rec['write_seconds']:.1f} s "
              f"({rec['outputs_mb']:,.0f} MB)")
    print(f"   peak memory: process tree {rec['peak_total_mb']:,.0f} MB (summed RSS, up to {rec['peak_processes']} "
          f"processes), coordinator {rec['peak_self_mb']:,.0f} MB; ru_maxrss self {rec['maxrss_self_mb']:,.0f} MB, "
          f"largest child {rec['maxrss_children_mb']:,.0f} MB"
          + (f"; summary['peak_rss_mb'] {rec['summary_peak_rss_mb']:,.0f} MB" if "summary_peak_rss_mb" in rec else ""))
    print(f"   [{rec['memory_method']}; load average {rec['loadavg_start'][0]:.1f} at start, "
          f"{rec['loadavg_end'][0]:.1f} at end]")
    if rec.get("coordinator_rss_steps_mb"):
        print("   coordinator peak RSS after each step (MB): "
              + ", ".join(f"{k} {v:,.0f}" for k, v in rec["coordinator_rss_steps_mb"].items()))
    if rec.get("load_timings"):
        print("   load steps: " + ", ".join(f"{k} {v:.1f}" for k, v in rec["load_timings"].items()))
    if rec.get("timings"):
        print("   steps: " + ", ".join(f"{k} {v:.1f}" for k, v in rec["timings"].items()))
    parts = rec.get("counties") or []
    if parts:
        t = np.array([p["seconds"] for p in parts])
        print(f"   {len(parts)} counties: seconds per county (all modes) min {t.min():.1f} / median "
              f"{np.median(t):.1f} / max {t.max():.1f}; sum {t.sum():.0f} s over {rec['workers']} worker(s)")
        modes = sorted({m for p in parts for m in p["nodes"]})
        for m in modes:
            nn = np.array([p["nodes"].get(m, 0) for p in parts])
            ms = np.array([p["mode_seconds"].get(m, np.nan) for p in parts])
            line = f"   {m}: graph nodes per part min {nn.min():,} / median {np.median(nn):,.0f} / max {nn.max():,}"
            if np.isfinite(ms).any():
                line += f"; seconds min {np.nanmin(ms):.1f} / median {np.nanmedian(ms):.1f} / max {np.nanmax(ms):.1f}"
            print(line)
        rss = np.array([p["peak_rss_mb"] for p in parts])
        print(f"   worker peak RSS reported by parts: max {rss.max():,.0f} MB")
    units = rec.get("units_raw") or []
    if units:
        t = np.array([u["seconds"] for u in units])
        print(f"   {len(units)} unit merges on the workers (columns joined, cells.parquet rows written, gaps "
              f"traced): seconds min {t.min():.1f} / median {np.median(t):.1f} / max {t.max():.1f}; "
              f"sum {t.sum():.0f} s")


def scaling(rec: dict) -> dict:
    parts = rec.get("counties") or []
    if not parts:
        return {}
    out = {"county_total": fit_power([sum(p["nodes"].values()) for p in parts], [p["seconds"] for p in parts])}
    for m in sorted({m for p in parts for m in p["mode_seconds"]}):
        rows = [(p["nodes"].get(m, 0), p["mode_seconds"][m]) for p in parts if m in p["mode_seconds"]]
        out[m] = fit_power([r[0] for r in rows], [r[1] for r in rows])
    out["cells"] = fit_power([p["cells"] for p in parts], [p["seconds"] for p in parts])
    return out


def compare_cells(a: Path, b: Path) -> dict:
    import pandas as pd

    x = pd.read_parquet(a).set_index("cell_id")
    y = pd.read_parquet(b).set_index("cell_id").reindex(x.index)
    out = {"cells": int(len(x)), "columns": 0, "t_max_abs_diff_s": 0.0, "t_nan_mismatch": 0, "in_mismatch": 0,
           "missing_columns": sorted(set(x.columns) ^ set(y.columns))}
    for c in x.columns:
        if c not in y.columns:
            continue
        out["columns"] += 1
        if c.startswith("t_"):
            u, v = x[c].to_numpy(float), y[c].to_numpy(float)
            both = np.isfinite(u) & np.isfinite(v)
            out["t_nan_mismatch"] += int((np.isfinite(u) != np.isfinite(v)).sum())
            if both.any():
                out["t_max_abs_diff_s"] = max(out["t_max_abs_diff_s"], float(np.abs(u[both] - v[both]).max()))
        else:
            out["in_mismatch"] += int((x[c].astype("boolean").fillna(False).to_numpy()
                                       != y[c].astype("boolean").fillna(False).to_numpy()).sum())
    return out


# --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counties", type=int, nargs="+", default=[4, 21, 84])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--worker-sweep", type=int, default=21,
                    help="province (counties) also run with 1 and 2 workers; 0 skips")
    ap.add_argument("--single", type=int, default=4,
                    help="province (counties) also run single-process with Study.load().run(); 0 skips")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=HERE / "out" / "province_bench")
    ap.add_argument("--no-service-areas", action="store_true")
    ap.add_argument("--no-write", action="store_true", help="partitioned runs: skip writing the outputs")
    ap.add_argument("--quiet", action="store_true", help="hide the runs' progress bars")
    ap.add_argument("--min-free-mb", type=float, default=1536,
                    help="stop a run when the machine's available memory falls below this (default 1536)")
    ap.add_argument("--_child", nargs=4, metavar=("KIND", "SCENARIO", "OUT", "WORKERS"), help=argparse.SUPPRESS)
    ap.add_argument("--_save-cells", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)

    if a._child:
        kind, scen, out, w = a._child
        rec = child(kind, scen, out, int(w), not a.no_service_areas, a._save_cells, a.quiet,
                    write=kind == "partitioned" and not a.no_write)
        Path(out, "child.json").write_text(json.dumps(rec, ensure_ascii=False, indent=1, default=float))
        return 0

    a.out.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} (other jobs share these cores)")
    sizes = sorted(set(a.counties) | ({a.worker_sweep} if a.worker_sweep else set()) | ({a.single} if a.single else set()))
    gens = {}
    for n in sizes:
        t0 = time.perf_counter()
        man = province.generate(n, province.default_out(n), seed=a.seed)
        gens[n] = man
        s = man["summary"]
        print(f"province {n}: {s['nodes']:,} nodes, {s['ways']:,} ways, {s['persons']:,.0f} persons, "
              f"{s['facilities']:,} facilities (generated in {s['seconds']['total']} s; ready in "
              f"{time.perf_counter() - t0:.1f} s)")

    runs: list[dict] = []

    def scen(n):
        return province.default_out(n) / "scenario.toml"

    def do(kind, n, w, save=False):
        rec = run_child(kind, scen(n), a.out / f"{kind}_{n}c_{w}w", w, a, save_cells=save)
        rec["counties_n"] = n
        report_run(rec, gens[n])
        runs.append(rec)
        (a.out / "results.json").write_text(json.dumps(runs, ensure_ascii=False, indent=1, default=float))
        return rec

    single = None
    if a.single:
        single = do("single", a.single, 1, save=True)
    main_runs = {}
    for n in sorted(a.counties):
        main_runs[n] = do("partitioned", n, a.workers, save=(n == a.single))
    sweep = {}
    if a.worker_sweep:
        for w in sorted({1, 2} | {a.workers}):
            if a.worker_sweep in main_runs and w == a.workers:
                sweep[w] = main_runs[a.worker_sweep]
            else:
                sweep[w] = do("partitioned", a.worker_sweep, w)

    # ---------------- summary
    print("\n================ province benchmark summary ================")
    ok = {n: r for n, r in main_runs.items() if not r.get("failed")}
    print("total time against province size (partitioned, "
          f"{a.workers} workers):")
    print(f"  {'counties':>8} {'OSM nodes':>11} {'cells':>10} {'seconds':>9} {'peak MB':>9} {'s/county':>9}")
    for n, r in sorted(main_runs.items()):
        s = gens[n]["summary"]
        if r.get("failed"):
            print(f"  {n:>8} {s['nodes']:>11,} {s['raster']['cells_populated']:>10,}    FAILED")
            continue
        print(f"  {n:>8} {s['nodes']:>11,} {s['raster']['cells_populated']:>10,} {r['seconds']:>9.1f} "
              f"{r['peak_total_mb']:>9,.0f} {r['seconds'] / n:>9.1f}")
    if len(ok) >= 2:
        f = fit_power([gens[n]["summary"]["nodes"] for n in ok], [r["seconds"] for r in ok.values()])
        print(f"  total time vs province nodes: {fmt_fit(f)}")
    big = max(ok) if ok else None
    if big is not None:
        sc = scaling(ok[big])
        print(f"per-county scaling on the {big}-county province (parts' own seconds against their graph nodes):")
        for k, f in sc.items():
            label = {"county_total": "all modes (nodes summed)", "cells": "all modes vs cells"}.get(k, f"mode {k}")
            print(f"  {label}: {fmt_fit(f)}")
        print("  (n ln n looks like n^(1 + 1/ln n), about n^1.08-1.10 over 10^4-10^6 nodes; per-part time also "
              "includes work that grows with cells and facilities, not nodes)")
    if len(sweep) >= 2 and all(not r.get("failed") for r in sweep.values()):
        t1 = sweep[min(sweep)]["seconds"]
        print(f"worker scaling on the {a.worker_sweep}-county province (this machine has {os.cpu_count()} cores, "
              "shared with other jobs):")
        for w, r in sorted(sweep.items()):
            print(f"  {w} worker(s): {r['seconds']:.1f} s, speed-up {t1 / r['seconds']:.2f}, "
                  f"peak {r['peak_total_mb']:,.0f} MB, load average {r['loadavg_start'][0]:.1f}")
    if single is not None and not single.get("failed") and a.single in main_runs \
            and not main_runs[a.single].get("failed"):
        p = main_runs[a.single]
        print(f"single process vs partitioned on the {a.single}-county province: "
              f"{single['seconds']:.1f} s / {single['peak_total_mb']:,.0f} MB vs {p['seconds']:.1f} s / "
              f"{p['peak_total_mb']:,.0f} MB ({a.workers} workers)")
        c1, c2 = a.out / f"single_{a.single}c_1w" / "cells.parquet", a.out / f"partitioned_{a.single}c_{a.workers}w" / "cells.parquet"
        if c1.exists() and c2.exists():
            cmp_ = compare_cells(c1, c2)
            single["compare"] = cmp_
            print(f"  cells: {cmp_['cells']:,}, {cmp_['columns']} t_/in_ columns compared: max |dt| "
                  f"{cmp_['t_max_abs_diff_s']:.3g} s, {cmp_['t_nan_mismatch']} reachability mismatches, "
                  f"{cmp_['in_mismatch']} circle-flag mismatches; columns in one only: {cmp_['missing_columns']}")
    if big is not None:
        r = ok[big]
        print(f"targets on the {big}-county province: time {r['seconds'] / 60:.1f} min "
              f"({'meets' if r['seconds'] < TARGET_S else 'MISSES'} < 10 min"
              f"{'' if 'write_seconds' not in r else ', of which writing outputs %.0f s' % r['write_seconds']}); "
              f"peak {r['peak_total_mb'] / 1024:.1f} GB summed "
              f"({'meets' if r['peak_total_mb'] < TARGET_MB else 'MISSES'} < 8 GB)")
    (a.out / "results.json").write_text(json.dumps(runs, ensure_ascii=False, indent=1, default=float))
    print(f"results: {a.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
