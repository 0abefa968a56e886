"""Benchmark: build a ~1,000,000-node road-like network and snap 1,000,000 points.

Prints seconds and peak memory for each step, and the same snapping done with
shapely's ``STRtree.query_nearest`` (distance only) as the peer, with the
ratio. Run::

    /work/venv/bin/python benchmarks/bench_snap.py            # 1000 x 1000 grid
    /work/venv/bin/python benchmarks/bench_snap.py --side 300 --points 100000
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np
import pandas as pd
from pyproj import Transformer

from access.network import build, osm
from access.network.modes import DRIVE, WALK
from access.network.snap import snap_points

CRS = "EPSG:32651"  # UTM 51N (Zhejiang / Fujian coast)


def synthetic_edges(side: int = 1000, spacing_m: float = 100.0, seed: int = 0) -> osm.Edges:
    """A perturbed ``side x side`` street grid with deletions, diagonals and bends.

    About 10 % of grid streets are deleted, 5 % of blocks get a diagonal
    street, a third of the streets get a bent shape vertex, and classes are
    mixed (primary every 10th line, footways scattered, one-way residential
    streets) so walk and drive graphs differ.
    """
    rng = np.random.default_rng(seed)
    n = side * side
    i, j = np.divmod(np.arange(n), side)
    x = 400_000.0 + i * spacing_m + rng.normal(0, spacing_m * 0.15, n)
    y = 3_300_000.0 + j * spacing_m + rng.normal(0, spacing_m * 0.15, n)
    node = np.arange(n).reshape(side, side)
    a = np.concatenate([node[:-1, :].ravel(), node[:, :-1].ravel(), node[:-1, :-1].ravel()])
    b = np.concatenate([node[1:, :].ravel(), node[:, 1:].ravel(), node[1:, 1:].ravel()])
    kind = np.concatenate([np.zeros((side - 1) * side, int), np.ones((side - 1) * side, int),
                           np.full((side - 1) ** 2, 2)])
    keep = np.where(kind == 2, rng.random(len(a)) < 0.05, rng.random(len(a)) > 0.10)
    a, b, kind = a[keep], b[keep], kind[keep]
    m = len(a)
    line = np.where(kind == 0, j[a], i[a])
    hw = np.where(line % 10 == 0, "primary", "residential").astype(object)
    hw[rng.random(m) < 0.08] = "footway"
    oneway = np.where((hw == "residential") & (rng.random(m) < 0.1), "yes", "no")
    bent = rng.random(m) < 0.33
    # ways: [a, b] or [a, shape, b]; shape vertices get ids above the grid
    nv = np.where(bent, 3, 2)
    ptr = np.concatenate([[0], np.cumsum(nv)])
    ids = np.empty(ptr[-1], np.int64)
    xs = np.empty(ptr[-1])
    ys = np.empty(ptr[-1])
    ids[ptr[:-1]], xs[ptr[:-1]], ys[ptr[:-1]] = a, x[a], y[a]
    ids[ptr[1:] - 1], xs[ptr[1:] - 1], ys[ptr[1:] - 1] = b, x[b], y[b]
    mid = ptr[:-1][bent] + 1
    ab = np.flatnonzero(bent)
    ids[mid] = n + np.arange(len(ab))
    xs[mid] = (x[a[ab]] + x[b[ab]]) / 2 + rng.normal(0, spacing_m * 0.2, len(ab))
    ys[mid] = (y[a[ab]] + y[b[ab]]) / 2 + rng.normal(0, spacing_m * 0.2, len(ab))
    lon, lat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(xs, ys)
    attrs = pd.DataFrame({"highway": hw, "oneway": oneway, "junction": "", "maxspeed": np.nan,
                          "way_id": np.arange(m, dtype=np.int64), "name": ""})
    return osm.edges_from_ways(ids, np.asarray(lon), np.asarray(lat), ptr, attrs)


def measure(label, fn, trace=False):
    """Time ``fn`` (untraced); with ``trace``, run it again under tracemalloc for its peak memory."""
    t = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t
    peak = ""
    if trace:
        tracemalloc.start()
        fn()
        peak = f"peak traced {tracemalloc.get_traced_memory()[1] / 2**20:6.0f} MiB"
        tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{label:<46s} {dt:7.2f} s   maxrss {rss:6.0f} MiB   {peak}", flush=True)
    return out, dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--side", type=int, default=1000, help="grid side (nodes = side^2)")
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--skip-peer", action="store_true")
    args = ap.parse_args()

    edges, _ = measure("generate network", lambda: synthetic_edges(args.side))
    print(f"  {len(edges.nodes):,} nodes, {len(edges.edges):,} edges, {len(edges.coords):,} vertices")
    measure("project to study CRS (once per CRS)", lambda: edges.projected(CRS))
    g, _ = measure("build_graph walk", lambda: build.build_graph(edges, WALK, CRS), trace=True)
    print(f"  {g.n_nodes:,} nodes, {g.n_arcs:,} arcs, largest component {np.mean(g.component == 0):.1%}")
    gd, _ = measure("build_graph drive", lambda: build.build_graph(edges, DRIVE, CRS))

    # CSR from plain arrays (the part that must take about a second)
    n = g.n_nodes
    tails = np.repeat(np.arange(n), np.diff(g.indptr))
    rng = np.random.default_rng(1)
    perm = rng.permutation(len(tails))
    arrays = (tails[perm], np.asarray(g.indices)[perm], g.weights[perm], g.arc_edge[perm])
    measure("csr_from_arcs (shuffled arcs, walk)", lambda: build.csr_from_arcs(n, *arrays), trace=True)
    measure("strong_components (walk)", lambda: build.strong_components(g.indptr, g.indices))
    measure("reverse (walk)", lambda: build.reverse(g))

    lo, hi = g.node_xy.min(0), g.node_xy.max(0)
    xy = rng.uniform(lo - 300, hi + 300, size=(args.points, 2))
    for k in [k for k in edges._cache if k[0] in ("segidx", "times")]:
        del edges._cache[k]  # the first snap builds the segment index
    s, t_first = measure(f"snap_points {args.points:,} (builds segment index)",
                         lambda: snap_points(xy, g, edges, WALK, max_dist_m=500.0))
    s2, t_snap = measure(f"snap_points {args.points:,} (index cached)",
                         lambda: snap_points(xy, g, edges, WALK, max_dist_m=500.0), trace=True)
    print(f"  snapped {s.ok.mean():.1%}; mean off-road {np.mean(s.dist[s.ok]):.1f} m")

    if args.skip_peer:
        return
    import shapely

    _, coords_xy = edges.projected(CRS)
    usable, _, _ = build.edge_times(edges, WALK)
    rows = np.flatnonzero(usable)

    def peer():
        nv = np.diff(edges.offsets)[rows]
        take = np.repeat(edges.offsets[rows], nv) + np.arange(nv.sum()) - np.repeat(np.cumsum(nv) - nv, nv)
        lines = shapely.linestrings(coords_xy[take], indices=np.repeat(np.arange(len(rows)), nv))
        tree = shapely.STRtree(lines)
        _, d = tree.query_nearest(shapely.points(xy), max_distance=500.0, return_distance=True,
                                  all_matches=False)
        return d

    (d_peer), t_peer = measure("peer: shapely STRtree.query_nearest", peer, trace=False)
    print(f"  peer found {len(d_peer):,} points within 500 m (ours {int(s.ok.sum()):,}); "
          f"max |distance difference| {np.max(np.abs(np.sort(d_peer) - np.sort(s.dist[s.ok]))):.2e} m")
    print(f"ratio peer / ours: {t_peer / t_first:.1f}x (ours incl. index), {t_peer / t_snap:.1f}x (cached)")


if __name__ == "__main__":
    main()
