"""Benchmark Gaussian 2SFCA end to end: catchments + FCA.

Instance: benchmarks/synthetic_network.py ``road_like_network`` (1,000,000
nodes, driving speeds 30/60 km/h), 2,000 facilities at random nodes (supply
1-40 doctors, seed 0), every node a demand cell (population 0-200). Gaussian
2SFCA (Dai 2010) with d0 = 300 s: about 3.4 million (facility, node) pairs.

* ours: access.routing.node_catchments (bounded numba Dijkstra on the reverse
  graph, the reversal included in the time) -> access.siting.fca.gaussian_two_step
  on the same DataFrame (columns renamed, not copied). Timed ``--repeat``
  times in one process after compiling the kernels on a 2-facility case;
  the first timed run is cold (the big buffers are touched for the first
  time), so best and median are both printed. Target: < 1 s.
* baseline: scipy.sparse.csgraph.dijkstra with ``limit`` in chunks of 50
  facilities -> long table -> PySAL ``access`` two_stage_fca with the same
  Dai weight (``weight_fn``, ``max_cost=d0``), run once in the PySAL venv
  (``--pysal-python``) in a subprocess on the table written to a temporary
  parquet file; PySAL's own time is measured inside the subprocess (reading
  the parquet files excluded). The two results are compared (max relative
  difference printed).
* binary 2SFCA (catchment ``t <= d0``) two ways in this process, wall and CPU
  seconds: access.routing.sums (catchment sums without a pair table, used by
  ``access run``) against the streamed pair table (catchment_blocks ->
  fca.two_step_blocks); speed ratio and max relative difference printed.

Peak memory: the rise of the process's peak resident set (VmHWM, reset
before each measured step through /proc/self/clear_refs) over the resident
set before the step; for PySAL the subprocess's peak RSS (its whole process).

PySAL's package is published as ``access`` on PyPI, the same import name as
this project, so it lives in its own venv::

    python3 -m venv .venv-pysal
    .venv-pysal/bin/pip install access==1.1.10.post3 pyarrow

Run (from the repository root)::

    .venv/bin/python benchmarks/bench_fca.py [--nodes 1000000] [--facilities 2000] [--d0 300]
        [--repeat 3] [--no-pysal] [--pysal-python .venv-pysal/bin/python]

Without the PySAL venv the PySAL comparison is skipped with a message.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import dijkstra

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from synthetic_network import road_like_network  # noqa: E402

from access.network.snap import Snap  # noqa: E402
from access.routing import graph_from_arcs, node_catchments  # noqa: E402
from access.routing.queries import catchment_blocks  # noqa: E402
from access.routing.sums import catchment_sums  # noqa: E402
from access.siting import fca  # noqa: E402

PYSAL_PY = HERE.parent / ".venv-pysal" / "bin" / "python"
PYSAL_SCRIPT = r"""
import sys, time, json, math, resource
sys.path = [p for p in sys.path if p not in ('', '.')]
import pandas as pd
from access import Access
d0 = float(sys.argv[2])
e = math.exp(-0.5)
dai = lambda t: (math.exp(-0.5 * (t / d0) ** 2) - e) / (1 - e) if t <= d0 else 0.0
cost = pd.read_parquet(sys.argv[1] + '/pairs.parquet')
dem = pd.read_parquet(sys.argv[1] + '/demand.parquet')
sup = pd.read_parquet(sys.argv[1] + '/supply.parquet')
t = time.perf_counter()
a = Access(demand_df=dem, demand_index='geoid', demand_value='pop', supply_df=sup, supply_index='geoid',
           supply_value='doc', cost_df=cost, cost_origin='origin', cost_dest='dest', cost_name='cost')
out = a.two_stage_fca(name='g', weight_fn=dai, max_cost=d0)
secs = time.perf_counter() - t
out['g_doc'].fillna(0.0).rename('value').reset_index().to_parquet(sys.argv[1] + '/out.parquet')
print(json.dumps({'seconds': secs, 'peak_rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


class PeakRSS:
    """Rise of the peak resident set during a block, MiB (Linux; None elsewhere)."""

    def __enter__(self):
        self.mib = None
        try:
            Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
            self._before = _status_kib("VmRSS")
        except OSError:
            self._before = None
        return self

    def __exit__(self, *exc):
        if self._before is not None:
            self.mib = (_status_kib("VmHWM") - self._before) / 1024


def _status_kib(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise OSError(key)


def _mib(x):
    return "n/a" if x is None else f"{x:.0f} MiB"


def ours_once(g, fac, supply, pop, d0):
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        tab = node_catchments(g, fac, d0)
        t1 = time.perf_counter()
        table = tab.rename(columns={"source": "facility", "node": "cell"})
        out = fca.gaussian_two_step(table, supply, pop, d0, per=1.0)
        t2 = time.perf_counter()
    return out, t1 - t0, t2 - t1, t2 - t0, len(table), mem.mib


def at_nodes(nodes) -> Snap:
    """Points sitting on nodes (no leg, no edge)."""
    k = len(nodes)
    z = np.zeros(k)
    nodes = np.asarray(nodes, np.int64)
    return Snap(node_a=nodes, node_b=nodes, to_a=z, to_b=z, from_a=z, from_b=z, edge=np.full(k, -1),
                pos=z, dist=z, ok=np.ones(k, bool))


def fused_vs_blocks(g, fac, supply, pop, d0):
    """Binary 2SFCA (catchment t <= d0) two ways in this process: catchment sums without
    pairs (access.routing.sums, what ``access run`` uses) and the streamed pair table
    (catchment_blocks -> fca.two_step_blocks)."""
    cells, facs = at_nodes(np.arange(len(pop))), at_nodes(fac)
    out = {}
    for name in ("fused", "blocks"):
        with PeakRSS() as mem:
            t0, c0 = time.perf_counter(), time.process_time()
            if name == "fused":
                cs = catchment_sums(g, facs, cells, d0)
                r = cs.cell_sums(fca.ratios(supply, cs.facility_sums(pop)))
            else:
                r = fca.two_step_blocks(catchment_blocks(g, facs, cells, d0), supply, pop, d0)
            out[name] = (r, time.perf_counter() - t0, time.process_time() - c0)
        print(f"binary 2SFCA, {name}: {out[name][1]:.2f} s wall, {out[name][2]:.2f} s CPU, "
              f"peak RSS rise {_mib(mem.mib)}")
    a, b = out["fused"][0], out["blocks"][0]
    diff = np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300))
    print(f"fused vs blocks: {out['blocks'][1] / out['fused'][1]:.1f}x faster (wall), "
          f"{out['blocks'][2] / out['fused'][2]:.1f}x (CPU); max relative difference {diff:.2e}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=1_000_000)
    ap.add_argument("--facilities", type=int, default=2000)
    ap.add_argument("--d0", type=float, default=300.0)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of ours (default 3)")
    ap.add_argument("--no-pysal", action="store_true", help="skip the scipy + PySAL baseline")
    ap.add_argument("--pysal-python", default=str(PYSAL_PY),
                    help="python of the venv with PySAL access==1.1.10.post3 (default: %(default)s)")
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    tails, heads, lengths, xy, speed = road_like_network(a.nodes, seed=0, return_speed=True)
    secs = lengths / (speed / 3.6)
    n = len(xy)
    g = graph_from_arcs(n, tails, heads, secs, node_xy=xy, mode="drive")
    fac = rng.choice(n, a.facilities, replace=False)
    supply = rng.integers(1, 41, a.facilities).astype(float)
    pop = rng.integers(0, 201, n).astype(float)
    # compile / warm up the kernels on a tiny case
    warm = node_catchments(g, fac[:2], a.d0).rename(columns={"source": "facility", "node": "cell"})
    fca.gaussian_two_step(warm, supply[:2], pop, a.d0)
    few = at_nodes(np.arange(100))
    catchment_sums(g, at_nodes(fac[:2]), few, a.d0).cell_sums(supply[:2])
    fca.two_step_blocks(catchment_blocks(g, at_nodes(fac[:2]), few, a.d0), supply[:2], pop[:100], a.d0)
    print(f"network {n:,} nodes, {len(tails):,} arcs; {a.facilities} facilities; d0 = {a.d0:.0f} s")

    totals = []
    for r in range(a.repeat):
        ours, t_c, t_f, t_all, n_pairs, mib = ours_once(g, fac, supply, pop, a.d0)
        totals.append(t_all)
        print(f"ours run {r + 1}{' (cold)' if r == 0 else ''}: catchments {t_c:.3f} s ({n_pairs:,} pairs) "
              f"+ Gaussian 2SFCA {t_f:.3f} s = {t_all:.3f} s, peak RSS rise {_mib(mib)}")
    best, med = min(totals), float(np.median(totals))
    print(f"ours: best {best:.3f} s, median {med:.3f} s of {a.repeat} "
          f"-> {'OK' if med < 1 else 'MISSED'} (target < 1 s, judged on the median)")
    fused_vs_blocks(g, fac, supply, pop, a.d0)

    if a.no_pysal:
        print("baseline skipped (--no-pysal)")
        return
    # baseline catchments: scipy Dijkstra with a limit, chunks of facilities, reverse graph
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        R = sparse.csr_array((secs, (heads, tails)), shape=(n, n))  # reverse: node -> facility times
        parts = []
        for k in range(0, a.facilities, 50):
            chunk = fac[k:k + 50]
            D = dijkstra(R, indices=chunk, limit=a.d0)
            i, j = np.nonzero(np.isfinite(D))
            parts.append(pd.DataFrame({"facility": k + i, "cell": j, "seconds": D[i, j]}))
            del D
        base = pd.concat(parts, ignore_index=True)
        t_scipy = time.perf_counter() - t0
    print(f"baseline catchments (scipy dijkstra, chunks of 50): {t_scipy:.2f} s, {len(base):,} pairs, "
          f"peak RSS rise {_mib(mem.mib)} ({t_scipy / med:.1f}x ours end to end)")
    py = Path(a.pysal_python)
    if not py.exists():
        print(f"PySAL run skipped: no interpreter at {py}. Create the venv with\n"
              f"  python3 -m venv {py.parent.parent} && {py.parent}/pip install access==1.1.10.post3 pyarrow\n"
              "or pass --pysal-python.")
        return
    with tempfile.TemporaryDirectory() as d:
        base.rename(columns={"cell": "origin", "facility": "dest", "seconds": "cost"}).to_parquet(
            f"{d}/pairs.parquet")
        pd.DataFrame({"geoid": np.arange(n), "pop": pop}).to_parquet(f"{d}/demand.parquet")
        pd.DataFrame({"geoid": np.arange(a.facilities), "doc": supply}).to_parquet(f"{d}/supply.parquet")
        (Path(d) / "run.py").write_text(PYSAL_SCRIPT)
        r = subprocess.run([str(py), f"{d}/run.py", d, str(a.d0)], capture_output=True, text=True, cwd=d)
        if r.returncode:
            print(f"PySAL run failed ({py}):", r.stderr[-2000:])
            return
        info = json.loads(r.stdout.strip().splitlines()[-1])
        t_pysal = info["seconds"]
        res = pd.read_parquet(f"{d}/out.parquet")
        theirs = np.zeros(n)
        theirs[res["geoid"].to_numpy()] = res["value"].to_numpy()
    diff = np.max(np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-300))
    print(f"baseline PySAL two_stage_fca (Dai weight): {t_pysal:.2f} s, subprocess peak RSS "
          f"{info['peak_rss_mib']:.0f} MiB ({t_pysal / med:.1f}x ours end to end)")
    print(f"baseline total {t_scipy + t_pysal:.2f} s; speed-up {(t_scipy + t_pysal) / med:.1f}x "
          f"(vs ours median); max relative difference ours vs PySAL {diff:.2e}")
    print(f"process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
