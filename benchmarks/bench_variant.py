"""What a what-if costs: first run of the demo county against a variant re-run.

The first run reads every input, builds the walk and drive graphs, snaps
84,231 cells and computes everything; the variant adds one township health
centre (or closes a clinic) and re-runs on the same graphs, recomputing only
the categories whose facilities changed. Numba kernels are compiled (cached
on disk) by a warm-up run in a throw-away study first, so neither figure
includes compilation.

Run::

    .venv/bin/python benchmarks/bench_variant.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import pandas as pd

from access.study import Study

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo" / "scenario.toml"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    Study.load(DEMO, quiet=True).run()  # warm-up: numba cache, imports

    first, add_one, close_one = [], [], []
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        study = Study.load(DEMO, quiet=True)
        base = study.run()
        first.append(time.perf_counter() - t0)

        gap = base.gaps[base.gaps["circle"] == "fujian_30min_medical"].geometry.iloc[0].representative_point()
        new = pd.DataFrame({"facility_id": ["new-thc"], "name": ["新建卫生院"], "category": ["township_health_centre"],
                            "capacity": [40], "x": [gap.x], "y": [gap.y]})
        t0 = time.perf_counter()
        study.variant(add=new).run()
        add_one.append(time.perf_counter() - t0)

        clinic = study.facilities.loc[study.facilities["category"] == "community_health_station", "facility_id"].iloc[0]
        t0 = time.perf_counter()
        study.variant(close=[clinic]).run()
        close_one.append(time.perf_counter() - t0)

    f, v, c = (statistics.median(x) for x in (first, add_one, close_one))
    print(f"demo county: {len(study.cells):,} cells, {len(study.facilities)} facilities, repeat {a.repeat} (median)")
    print(f"first run (read + graphs + snap + run): {f:6.2f} s")
    print(f"variant, one facility added, re-run:    {v:6.2f} s  ({f / v:4.1f}x less)")
    print(f"variant, one facility closed, re-run:   {c:6.2f} s  ({f / c:4.1f}x less)")


if __name__ == "__main__":
    main()
