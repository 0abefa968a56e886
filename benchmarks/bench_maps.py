"""What writing maps costs in a whole run: the demo county and 1,000,000 population points.

Maps are drawn from township and gap aggregates and simplified outlines, never
per cell, so their cost should not grow with the number of population cells.
The second case resamples the demo's raster cells into ``--points`` points
(each cell's persons spread over points jittered inside it, so the county
total is kept) and runs the same scenario on them.

Prints, per case: seconds to load and run the study, to write every output,
of which writing maps (``write_maps``, every map and its offline copy), the
maps' share of the whole run, and peak RSS.

    .venv/bin/python benchmarks/bench_maps.py [--points 1000000] [--offline]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio

from access.maps import folium_map
from access.outputs import write_outputs
from access.scenario import load_scenario
from access.study import Study

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"


def _raster(path: Path) -> tuple[np.ndarray, object]:
    with rasterio.open(path) as src:
        a = src.read(1).astype(float)
        if src.nodata is not None:
            a[a == src.nodata] = 0.0
        transform = src.transform
    a[~np.isfinite(a) | (a < 0)] = 0.0
    return a, transform


def resampled_population(n: int, path: Path, groups: dict[str, list[str]], seed: int = 0) -> float:
    """``n`` points drawn from the demo raster's cells in proportion to persons; returns the total.

    Each point carries ``total / n`` persons and, per demand group, its
    cell's share of that group (the group rasters share the population grid).
    """
    pop, transform = _raster(DEMO / "population.tif")
    rows, cols = np.nonzero(pop > 0)
    weights = pop[rows, cols]
    total = float(weights.sum())
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(rows), size=n, p=weights / total)
    r, c = rows[pick], cols[pick]
    lon, lat = rasterio.transform.xy(transform, r + rng.random(n), c + rng.random(n), offset="ul")
    table = {"lon": np.round(lon, 7), "lat": np.round(lat, 7), "population": np.full(n, total / n)}
    for group, files in groups.items():
        band = sum(_raster(DEMO / f)[0] for f in files)
        table[group] = band[r, c] / pop[r, c] * (total / n)
    pd.DataFrame(table).to_csv(path, index=False)
    return total


def scenario_with_points(folder: Path, points: Path) -> Path:
    """The demo scenario with its rasters replaced by ``points`` (every other input from data/demo)."""
    text = (DEMO / "scenario.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    lines, section = [], ""
    for line in text.splitlines():
        if line.startswith("["):
            section = line.strip()
        key = line.split("=")[0].strip()
        if section == "[inputs.groups]" and key in data["inputs"].get("groups", {}):
            line = f'{key} = {{ column = "{key}" }}'
        elif key == "population":
            line = f'population = "{points.as_posix()}"'
        elif key in ("network", "facilities", "counties", "townships"):
            line = f'{key} = "{(DEMO / data["inputs"][key]).as_posix()}"'
        elif key == "output":
            line = f'output = "{(folder / "out").as_posix()}"'
        lines.append(line)
    path = folder / "scenario.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def one(name: str, scenario: Path, out: Path, offline: bool) -> None:
    timing = {"maps": 0.0}
    original = folium_map.write_maps

    def timed(*args, **kwargs):
        t = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            timing["maps"] += time.perf_counter() - t

    t0 = time.perf_counter()
    study = Study.load(load_scenario(scenario), quiet=True)
    results = study.run()
    t_run = time.perf_counter() - t0
    folium_map.write_maps = timed
    try:
        t1 = time.perf_counter()
        write_outputs(study, results, out, lang="zh", offline=offline, quiet=True)
        t_out = time.perf_counter() - t1
    finally:
        folium_map.write_maps = original
    total = t_run + t_out
    maps_mb = sum(p.stat().st_size for p in out.glob("map*.html")) / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(
        f"{name}: {len(results.cells):,} cells; load+run {t_run:.1f} s, outputs {t_out:.1f} s, "
        f"of which maps {timing['maps']:.2f} s = {100 * timing['maps'] / total:.1f} % of the run "
        f"({total:.1f} s); map files {maps_mb:.1f} MB; peak RSS {peak:.2f} GB"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--offline", action="store_true", help="also write the offline maps")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-maps-"))
    try:
        one("demo raster", DEMO / "scenario.toml", tmp / "demo", args.offline)
        points = tmp / "points.csv"
        t = time.perf_counter()
        groups = tomllib.loads((DEMO / "scenario.toml").read_text(encoding="utf-8"))["inputs"].get("groups", {})
        total = resampled_population(args.points, points, groups)
        print(f"resampled {args.points:,} points ({total:,.0f} persons) in {time.perf_counter() - t:.1f} s")
        one(f"{args.points:,} points", scenario_with_points(tmp, points), tmp / "points", args.offline)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
