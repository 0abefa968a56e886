"""Benchmark Gaussian 2SFCA end to end: catchments + FCA.

Network: benchmarks/synthetic_network.py ``road_like_network`` (1,000,000
nodes, driving speeds 30/60 km/h). 2,000 facilities at random nodes (supply 1-40
doctors), every node is a demand cell (population 0-200). Gaussian 2SFCA
(Dai 2010) with d0 = 300 s.

* ours: access.routing.node_catchments (bounded numba Dijkstra on the reverse
  graph) -> access.siting.fca.gaussian_two_step;
* baseline: scipy.sparse.csgraph.dijkstra with ``limit`` in chunks of
  facilities -> long table -> PySAL ``access`` two_stage_fca with the same Dai
  weight, run in /work/pysal-venv in a subprocess on the table written to a
  temporary parquet file (its own timing is measured inside the subprocess).
  The two results are compared (max relative difference printed).

Run::

    /work/venv/bin/python benchmarks/bench_fca.py [--nodes 1000000] [--facilities 2000] [--d0 300] [--no-pysal]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import dijkstra

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_network import road_like_network  # noqa: E402

from access.routing import graph_from_arcs, node_catchments  # noqa: E402
from access.siting import fca  # noqa: E402

PYSAL_PY = "/work/pysal-venv/bin/python"
PYSAL_SCRIPT = r"""
import sys, time, json, math
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
print(json.dumps({'seconds': secs}))
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=1_000_000)
    ap.add_argument("--facilities", type=int, default=2000)
    ap.add_argument("--d0", type=float, default=300.0)
    ap.add_argument("--no-pysal", action="store_true")
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    tails, heads, lengths, xy, speed = road_like_network(a.nodes, seed=0, return_speed=True)
    secs = lengths / (speed / 3.6)
    n = len(xy)
    g = graph_from_arcs(n, tails, heads, secs, node_xy=xy, mode="drive")
    fac = rng.choice(n, a.facilities, replace=False)
    supply = rng.integers(1, 41, a.facilities).astype(float)
    pop = rng.integers(0, 201, n).astype(float)
    node_catchments(g, fac[:2], a.d0)  # compile / warm up
    print(f"network {n:,} nodes, {len(tails):,} arcs; {a.facilities} facilities; d0 = {a.d0:.0f} s")

    tracemalloc.start()
    t0 = time.perf_counter()
    tab = node_catchments(g, fac, a.d0)
    t1 = time.perf_counter()
    table = pd.DataFrame({"facility": tab["source"].to_numpy(), "cell": tab["node"].to_numpy(),
                          "seconds": tab["seconds"].to_numpy()})
    ours = fca.gaussian_two_step(table, supply, pop, a.d0, per=1.0)
    t2 = time.perf_counter()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    ours_s = t2 - t0
    print(f"ours: catchments {t1 - t0:.2f} s ({len(table):,} pairs) + Gaussian 2SFCA {t2 - t1:.2f} s "
          f"= {ours_s:.2f} s, peak traced {peak / 2**20:.0f} MiB "
          f"-> {'OK' if ours_s < 1 else 'MISSED'} (target < 1 s)")

    # baseline catchments: scipy Dijkstra with a limit, chunks of facilities, reverse graph
    t0 = time.perf_counter()
    R = sparse.csr_array((secs, (heads, tails)), shape=(n, n))  # reverse: node -> facility times
    parts = []
    for k in range(0, a.facilities, 50):
        chunk = fac[k:k + 50]
        D = dijkstra(R, indices=chunk, limit=a.d0)
        i, j = np.nonzero(np.isfinite(D))
        parts.append(pd.DataFrame({"facility": k + i, "cell": j, "seconds": D[i, j]}))
    base = pd.concat(parts, ignore_index=True)
    t_scipy = time.perf_counter() - t0
    print(f"baseline catchments (scipy dijkstra, chunks of 50): {t_scipy:.2f} s, {len(base):,} pairs")
    if a.no_pysal or not Path(PYSAL_PY).exists():
        print("PySAL run skipped (no /work/pysal-venv)")
    else:
        with tempfile.TemporaryDirectory() as d:
            base.rename(columns={"cell": "origin", "facility": "dest", "seconds": "cost"}).to_parquet(
                f"{d}/pairs.parquet")
            pd.DataFrame({"geoid": np.arange(n), "pop": pop}).to_parquet(f"{d}/demand.parquet")
            pd.DataFrame({"geoid": np.arange(a.facilities), "doc": supply}).to_parquet(f"{d}/supply.parquet")
            (Path(d) / "run.py").write_text(PYSAL_SCRIPT)
            r = subprocess.run([PYSAL_PY, f"{d}/run.py", d, str(a.d0)], capture_output=True, text=True,
                               cwd=d)
            if r.returncode:
                print("PySAL failed:", r.stderr[-2000:])
                return
            t_pysal = json.loads(r.stdout.strip().splitlines()[-1])["seconds"]
            res = pd.read_parquet(f"{d}/out.parquet")
            theirs = np.zeros(n)
            theirs[res["geoid"].to_numpy()] = res["value"].to_numpy()
        diff = np.max(np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-300))
        print(f"baseline PySAL two_stage_fca (Dai weight): {t_pysal:.2f} s; "
              f"baseline total {t_scipy + t_pysal:.2f} s")
        print(f"speed-up {(t_scipy + t_pysal) / ours_s:.1f}x; max relative difference ours vs PySAL {diff:.2e}")
    print(f"process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
