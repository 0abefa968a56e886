"""Whole runs on big inputs: a million population points, thousands to hundreds of thousands of facilities.

Cases (each run in a fresh process so its peak memory is its own; numba
kernels are compiled by a warm-up demo run first, so no figure includes
compilation):

1. ``million``: the demo county's roads and boundaries with 1,000,000
   population points (the demo raster's persons spread over random points
   inside each 3" cell, CSV) and 2,000 facilities (the demo's, repeated with
   jitter): the whole ``access run`` including every output.
   Target: under 60 s and under 4 GB peak.
2. ``facilities``: the demo population with 200,000 facilities (the demo's
   plus copies of the supply target's hospitals and health centres): travel times, circles, coverage and supply (no
   outputs; the targets' capacity allocation is left out: it serves persons facility by facility, a step of its
   own measured by ``bench_capacity.py``). Target: supply and coverage under 20 s, under 3 GB; the supply step's
   CPU seconds are printed beside its wall seconds, and the load average (other processes share the cores).

Each case prints its seconds, peak RSS and the share of each step (the run's
own timings).

Run::

    .venv/bin/python benchmarks/bench_big.py [--case million|facilities|all] [--points 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"


def _facilities(n: int, rng: np.random.Generator, categories: list[str] | None = None) -> pd.DataFrame:
    base = pd.read_csv(DEMO / "facilities.csv", encoding="utf-8-sig")
    if categories is not None:
        base = base[base["category"].isin(categories)]
    pick = base.iloc[rng.integers(0, len(base), n)].reset_index(drop=True)
    # up to ~1 km of jitter keeps them on the demo's roads' side of the 500 m snap limit mostly
    pick["lon"] = pick["lon"] + rng.normal(0, 0.004, n)
    pick["lat"] = pick["lat"] + rng.normal(0, 0.004, n)
    pick["id"] = [f"B{i:07d}" for i in range(n)]
    pick["name"] = pick["name"] + pick.index.astype(str)
    return pick


GROUPS = {"elderly": ["age/pop_60_69.tif", "age/pop_70_plus.tif"], "age_3_5": ["age/pop_3_5.tif"],
          "age_6_11": ["age/pop_6_11.tif"], "age_12_14": ["age/pop_12_14.tif"]}


def _points(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` points carrying the demo raster's persons (and its age bands as columns)."""
    import rasterio

    def band(name):
        with rasterio.open(DEMO / name) as src:
            return src.read(1, masked=True).filled(0).astype(float), src.transform

    a, tr = band("population.tif")
    rows, cols = np.nonzero(a > 0)
    pop = a[rows, cols]
    # every populated cell gets at least one point; the rest by persons
    extra = rng.choice(len(pop), n - len(pop), p=pop / pop.sum())
    which = np.r_[np.arange(len(pop)), extra]
    k = np.bincount(which, minlength=len(pop))
    u, v = rng.random(n), rng.random(n)
    lon = tr.c + (cols[which] + u) * tr.a
    lat = tr.f + (rows[which] + v) * tr.e
    out = pd.DataFrame({"lon": lon, "lat": lat, "population": pop[which] / k[which]})
    for group, files in GROUPS.items():
        g = sum(band(f)[0] for f in files)
        out[group] = g[rows, cols][which] / k[which]
    return out


def _scenario(folder: Path, population: str, facilities: str, targets: bool, allocate: bool = True) -> Path:
    text = (DEMO / "scenario.toml").read_text(encoding="utf-8")
    text = text.replace('population = "population.tif"', f'population = "{population}"')
    text = text.replace('facilities = "facilities.csv"', f'facilities = "{facilities}"')
    for name in ("roads.osm.pbf", "counties.geojson", "townships.geojson", "population.tif",
                 *(f for files in GROUPS.values() for f in files)):
        text = text.replace(f'"{name}"', f'"{(DEMO / name).as_posix()}"')
    if not population.endswith(".tif"):  # point population: the age bands are its columns
        head, rest = text.split("[inputs.groups]")
        rest = rest.split("\n[", 1)[1]
        groups = "\n".join(f'{g} = {{ column = "{g}" }}' for g in GROUPS)
        text = f"{head}[inputs.groups]\n{groups}\n\n[{rest}"
    if not targets:
        text = text.split("[[targets]]")[0]
    if not allocate:
        text = text.replace("allocate = true", "allocate = false")
    path = folder / "scenario.toml"
    path.write_text(text, encoding="utf-8")
    return path


def child(case: str, scenario: str, out: str) -> None:
    """Run one case in this process and print a JSON line of figures."""
    from access.study import Study

    t0 = time.perf_counter()
    if case == "million":
        from access.cli import main

        code = main(["run", scenario, "--out", out, "--quiet"])
        assert code == 0, code
        timings = json.loads((Path(out) / "run.json").read_text(encoding="utf-8"))["timings_s"]
        supply_cpu = None
    else:
        from access.siting import supply as supply_mod

        # the supply step's CPU seconds (all its threads) beside its wall seconds
        supply_cpu = [0.0]
        per_1000 = supply_mod.per_1000

        def timed(*args, **kw):
            c = time.process_time()
            try:
                return per_1000(*args, **kw)
            finally:
                supply_cpu[0] += time.process_time() - c

        supply_mod.per_1000 = timed
        study = Study.load(scenario, quiet=True)
        res = study.run(service_areas=False)
        timings = {**study.timings, **res.timings}
        assert len(res.supply)
    seconds = time.perf_counter() - t0
    use = resource.getrusage(resource.RUSAGE_SELF)
    # CPU seconds beside wall: on a shared machine the wall clock counts other processes' turns
    print(json.dumps({"seconds": seconds, "cpu_s": use.ru_utime + use.ru_stime, "peak_mb": use.ru_maxrss / 1024.0,
                      "timings": timings, "load": os.getloadavg()[0],
                      **({"supply_cpu_s": supply_cpu[0]} if supply_cpu else {})}))


def measure(case: str, scenario: Path, out: Path, script: str = __file__) -> dict:
    """Run ``script --child case scenario out`` in a fresh process; its last stdout line is JSON figures."""
    r = subprocess.run([sys.executable, script, "--child", case, str(scenario), str(out)],
                       capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"{case} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def report(label: str, fig: dict, target_s: float, target_mb: float) -> None:
    ok = fig["seconds"] <= target_s and fig["peak_mb"] <= target_mb
    cpu = f" ({fig['cpu_s']:.1f} s CPU)" if "cpu_s" in fig else ""
    print(f"{label}: {fig['seconds']:.1f} s{cpu}, peak RSS {fig['peak_mb'] / 1024:.2f} GB "
          f"-> {'OK' if ok else 'MISSED'} (target {target_s:.0f} s, {target_mb / 1024:.0f} GB)")
    if "supply_cpu_s" in fig:
        t = fig["timings"]
        both = t["supply"] + t["coverage"]
        verdict = "OK" if both <= target_s else "MISSED"
        print(f"    supply + coverage: {both:.1f} s -> {verdict} (target {target_s:.0f} s); supply "
              f"{t['supply']:.1f} s wall, {fig['supply_cpu_s']:.1f} s CPU (load average {fig['load']:.1f} at the end)")
    total = sum(fig["timings"].values())
    for k, v in sorted(fig["timings"].items(), key=lambda kv: -kv[1]):
        if v >= 0.01 * total:
            print(f"    {k:<28} {v:7.1f} s  {100 * v / max(fig['seconds'], 1e-9):5.1f} %")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", choices=["million", "facilities", "all"], default="all")
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--facilities", type=int, default=200_000)
    ap.add_argument("--child", nargs=3, metavar=("CASE", "SCENARIO", "OUT"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(*a.child)
        return
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "access.cli", "demo", "--out", str(tmp / "warm"), "--quiet"],
                       check=True)
        print(f"warm-up demo run (compiles numba kernels once): {time.perf_counter() - t:.1f} s")
        if a.case in ("million", "all"):
            d = tmp / "million"
            d.mkdir()
            _points(a.points, rng).to_csv(d / "points.csv", index=False)
            _facilities(2000, rng).to_csv(d / "fac.csv", index=False, encoding="utf-8-sig")
            sc = _scenario(d, "points.csv", "fac.csv", targets=True)
            report(f"{a.points:,} population points, 2,000 facilities, whole run with outputs",
                   measure("million", sc, d / "out"), 60, 4096)
        if a.case in ("facilities", "all"):
            d = tmp / "facilities"
            d.mkdir()
            cats = ["乡镇卫生院", "中心卫生院", "社区卫生服务中心", "人民医院", "中医院", "综合医院", "医院"]
            demo = pd.read_csv(DEMO / "facilities.csv", encoding="utf-8-sig")  # every circle keeps its services
            many = _facilities(a.facilities - len(demo), rng, cats)
            pd.concat([demo, many], ignore_index=True).to_csv(d / "fac.csv", index=False, encoding="utf-8-sig")
            sc = _scenario(d, "population.tif", "fac.csv", targets=True, allocate=False)
            report(f"{a.facilities:,} facilities, demo population: travel times, coverage, supply",
                   measure("facilities", sc, d / "out"), 20, 3072)


if __name__ == "__main__":
    main()
