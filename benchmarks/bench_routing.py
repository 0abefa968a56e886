"""Travel-time engine benchmark against scipy, networkx and pandana.

Usage::

    python benchmarks/bench_routing.py [--nodes 1000000] [--facilities 2000]
        [--limit 900] [--nx-nodes 100000] [--no-scipy-catchments] [--no-pandana]
        [--repeat 5]

Network: :func:`synthetic_network.road_like_network`, walked at 4.5 km/h.
Every figure is wall-clock seconds measured in this run, given as the best and
the median of ``--repeat`` runs; ratios compare tools on the same arrays and
use the best times (medians in brackets). For the nearest-facility race the
tools are run in turn within each repeat, so load from other processes hits
both alike.

"Ours" for nearest is the full public path from arc arrays:
``graph_from_arcs`` (validation + CSR build) + ``multi_source_nearest``;
scipy's is ``csr_matrix((w, (tails, heads)))`` + ``dijkstra(min_only=True)``.

Numba compile time is NOT included in any figure: scipy ships compiled, so
every numba kernel is first compiled (or loaded from its on-disk cache, as
all kernels use ``cache=True`` and users pay compilation once per install)
on a tiny graph; that warm-up time is printed once at the top.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_network import road_like_network  # noqa: E402

WALK_MS = 4.5 / 3.6


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Times(list):
    """Wall times of repeated runs of one step."""

    @property
    def best(self):
        return min(self)

    @property
    def median(self):
        return float(np.median(self))


def timed(fn, repeat=1):
    """Wall times of ``repeat`` runs (a :class:`Times`) and the last result."""
    ts, out = Times(), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t0)
    return ts, out


def row(name, ts, extra=""):
    """One result line: best and median seconds."""
    if not isinstance(ts, Times):
        ts = Times([ts])
    med = f"(med {ts.median:7.3f})" if len(ts) > 1 else " " * 13
    print(f"  {name:<58s} {ts.best:8.3f} s {med}  {extra}")


def ratio(a, b):
    """``a/b`` on best times, with the ratio of medians in brackets."""
    return f"{a.best / b.best:.2f} (med {a.median / b.median:.2f})"


def warm_up():
    """Compile (or load from cache) every kernel the timings use, on a tiny graph."""
    t0 = time.perf_counter()
    from access.network.snap import Snap
    from access.routing import dijkstra as k
    from access.routing import queries as q
    g = q.graph_from_arcs(3, np.array([0, 1]), np.array([1, 2]), np.array([1.0, 1.0]))
    k.multi_source_nearest(g.indptr, g.indices, g.weights, np.array([0]), np.array([0.0]),
                           np.array([0]), np.inf)
    k.bounded_catchments(g.indptr, g.indices, g.weights, np.array([0, 1]), np.array([0]),
                         np.array([0.0]), 5.0)
    q.node_catchments(g, [0], 5.0)
    q.node_catchments(g, np.array([0]), 5.0, direction="from")
    nodes, leg = np.array([0, 2]), np.zeros(2)
    pts = Snap(node_a=nodes, node_b=nodes, to_a=leg, to_b=leg, from_a=leg, from_b=leg,
               edge=np.full(2, -1), pos=np.zeros(2), dist=leg, ok=np.ones(2, bool))
    q.catchments(g, pts, pts, 5.0)
    q.nearest(g, pts, pts)
    return time.perf_counter() - t0


def nearest_ours(n, tails, heads, w, fac):
    from access.routing import dijkstra as k
    from access.routing import queries as q
    g = q.graph_from_arcs(n, tails, heads, w)
    return k.multi_source_nearest(g.indptr, g.indices, g.weights, fac, np.zeros(len(fac)),
                                  np.arange(len(fac), dtype=np.int64), np.inf)


def nearest_scipy(n, tails, heads, w, fac, labels=True):
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import dijkstra
    A = csr_matrix((w, (tails, heads)), shape=(n, n))
    if labels:
        d, _, src = dijkstra(A, directed=True, indices=fac, min_only=True,
                             return_predecessors=True)
        return d, src
    return dijkstra(A, directed=True, indices=fac, min_only=True), None


def catchments_scipy(n, tails, heads, w, fac, limit, chunk=50):
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import dijkstra
    A = csr_matrix((w, (tails, heads)), shape=(n, n))
    total = 0
    parts = []
    for s in range(0, len(fac), chunk):
        D = dijkstra(A, directed=True, indices=fac[s:s + chunk], limit=limit)
        i, j = np.nonzero(np.isfinite(D))
        parts.append((i + s, j, D[i, j]))
        total += len(i)
    return total, parts


def sub_network(tails, heads, w, xy, n_keep):
    """The nodes in the lower-left square holding about ``n_keep`` nodes."""
    side = np.sqrt(n_keep) * np.sqrt(np.ptp(xy[:, 0]) * np.ptp(xy[:, 1]) / len(xy))
    inside = (xy[:, 0] < xy[:, 0].min() + side) & (xy[:, 1] < xy[:, 1].min() + side)
    new = np.full(len(xy), -1, np.int64)
    new[inside] = np.arange(inside.sum())
    keep = inside[tails] & inside[heads]
    return int(inside.sum()), new[tails[keep]], new[heads[keep]], w[keep], xy[inside]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--nodes", type=int, default=1_000_000)
    ap.add_argument("--facilities", type=int, default=2000)
    ap.add_argument("--limit", type=float, default=900.0, help="catchment limit, s")
    ap.add_argument("--nx-nodes", type=int, default=100_000,
                    help="sub-network size for networkx/pandana comparisons")
    ap.add_argument("--no-scipy-catchments", action="store_true")
    ap.add_argument("--no-pandana", action="store_true")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)

    print(f"load average {load()}; {os.cpu_count()} cores; --repeat {args.repeat}")
    print(f"numba warm-up (compile, or load from cache; excluded from every figure "
          f"below): {warm_up():.2f} s")
    from access.routing import node_catchments
    from access.routing import dijkstra as k
    from access.routing import queries as q

    t0 = time.perf_counter()
    tails, heads, length, xy = road_like_network(args.nodes, seed=0)
    n = len(xy)
    w = length / WALK_MS
    rng = np.random.default_rng(1)
    fac = np.sort(rng.choice(n, args.facilities, replace=False)).astype(np.int64)
    print(f"network: {n:,} nodes, {len(tails):,} arcs, built in "
          f"{time.perf_counter() - t0:.2f} s; {len(fac):,} facilities; walk 4.5 km/h")
    print(f"peak RSS so far {peak_mb():.0f} MB")

    # ---------------- nearest facility for every node ----------------
    print("\nnearest facility, all nodes (CSR build from arc arrays included)")
    # Interleave the tools so that load from other processes hits both alike.
    t_ours, t_sp, t_sp2 = Times(), Times(), Times()
    for _ in range(args.repeat):
        t, (d_ours, lab) = timed(lambda: nearest_ours(n, tails, heads, w, fac))
        t_ours += t
        t, (d_sp, src) = timed(lambda: nearest_scipy(n, tails, heads, w, fac))
        t_sp += t
        t, (d_sp2, _) = timed(lambda: nearest_scipy(n, tails, heads, w, fac, False))
        t_sp2 += t
    row("ours: graph_from_arcs + multi_source_nearest", t_ours)
    row("scipy csr_matrix + dijkstra(min_only, with sources)", t_sp,
        f"ours/scipy = {ratio(t_ours, t_sp)}")
    row("scipy csr_matrix + dijkstra(min_only, distances only)", t_sp2,
        f"ours/scipy = {ratio(t_ours, t_sp2)}")
    fin = np.isfinite(d_sp)
    assert np.array_equal(fin, np.isfinite(d_ours))
    err = np.max(np.abs(d_ours[fin] - d_sp[fin]))
    same = np.mean(fac[lab[fin]] == src[fin])
    print(f"  check: max |ours - scipy| = {err:.2e} s; same nearest facility for "
          f"{same:.4%} of reached nodes; {fin.mean():.2%} of nodes reached")
    del d_sp, src, d_sp2
    g = q.graph_from_arcs(n, tails, heads, w)
    t_kern, _ = timed(lambda: k.multi_source_nearest(
        g.indptr, g.indices, g.weights, fac, np.zeros(len(fac)),
        np.arange(len(fac), dtype=np.int64), np.inf), args.repeat)
    t_csr, _ = timed(lambda: q.graph_from_arcs(n, tails, heads, w), args.repeat)
    row("  of which graph_from_arcs (CSR)", t_csr)
    row("  of which multi_source_nearest kernel", t_kern)
    verdicts = [f"nearest ours/scipy {t_ours.best / t_sp.best:.2f} (<= 1.2: "
                f"{'yes' if t_ours.best <= 1.2 * t_sp.best else 'NO'})"]
    print(f"peak RSS so far {peak_mb():.0f} MB")

    # ---------------- catchments within the limit ----------------
    print(f"\ncatchments: every (facility, node) pair within {args.limit:.0f} s")
    ptr = np.arange(len(fac) + 1, dtype=np.int64)
    zeros = np.zeros(len(fac))
    t1, res1 = timed(lambda: k.bounded_catchments(g.indptr, g.indices, g.weights, ptr, fac,
                                                  zeros, args.limit, n_threads=1),
                     args.repeat)
    npairs = len(res1[0])
    row("ours: bounded_catchments kernel, 1 thread", t1, f"{npairs:,} pairs")
    t2, res2 = timed(lambda: k.bounded_catchments(g.indptr, g.indices, g.weights, ptr, fac,
                                                  zeros, args.limit, n_threads=2),
                     args.repeat)
    row("ours: bounded_catchments kernel, 2 threads", t2)
    t3, df = timed(lambda: node_catchments(g, fac, args.limit, direction="from"), args.repeat)
    row("ours: node_catchments() -> DataFrame (checks, 2 threads)", t3)
    assert len(df) == npairs and len(res2[0]) == npairs
    if not args.no_scipy_catchments:
        t_sc, (tot, parts) = timed(lambda: catchments_scipy(n, tails, heads, w, fac,
                                                            args.limit))
        row("scipy: csr + chunked dijkstra(indices=50, limit) + nonzero", t_sc,
            f"{tot:,} pairs; scipy/ours = {t_sc.best / t3.best:.0f}x (DataFrame), "
            f"{t_sc.best / t2.best:.0f}x (kernel)")
        verdicts.append(f"catchments scipy/ours {t_sc.best / t3.best:.0f}x (>= 50: "
                        f"{'yes' if t_sc.best >= 50 * t3.best else 'NO'})")
        si = np.concatenate([p[0] for p in parts])
        sj = np.concatenate([p[1] for p in parts])
        sd = np.concatenate([p[2] for p in parts])
        o1 = np.lexsort((sj, si))
        o2 = np.lexsort((res2[1], res2[0]))
        assert tot == npairs and np.array_equal(si[o1], res2[0][o2])
        assert np.array_equal(sj[o1], res2[1][o2])
        print(f"  check: same {tot:,} pairs, max |ours - scipy| = "
              f"{np.max(np.abs(sd[o1] - res2[2][o2])):.2e} s")
        del parts, si, sj, sd
    # Point level: cells and facilities as Snaps (cells sit at nodes with an
    # off-road leg, so the node -> cell join does real work).
    from access.network.snap import Snap
    n_cells = n // 4
    cn = np.random.default_rng(3).choice(n, n_cells, replace=False).astype(np.int64)
    off = np.random.default_rng(4).uniform(0, 60, n_cells)

    def at_nodes(nodes, leg):
        k_ = len(nodes)
        return Snap(node_a=nodes, node_b=nodes, to_a=leg, to_b=leg, from_a=leg, from_b=leg,
                    edge=np.full(k_, -1), pos=np.zeros(k_), dist=leg * WALK_MS,
                    ok=np.ones(k_, bool))

    cells, facs = at_nodes(cn, off), at_nodes(fac, np.zeros(len(fac)))
    t4, cdf = timed(lambda: q.catchments(g, facs, cells, args.limit), args.repeat)
    row(f"ours: catchments() {len(fac):,} facilities x {n_cells:,} cells", t4,
        f"{len(cdf):,} pairs (reverse graph + join included)")
    verdicts.append(f"catchments() {t4.best:.3f} s, node_catchments() {t3.best:.3f} s "
                    f"(< 0.4 s: {'yes' if max(t3.best, t4.best) < 0.4 else 'NO'})")
    print(f"peak RSS so far {peak_mb():.0f} MB")

    # ---------------- networkx and pandana on a sub-network ----------------
    ns, st, sh, sw, sxy = sub_network(tails, heads, w, xy, args.nx_nodes)
    nf = max(1, int(round(len(fac) * ns / n)))
    sfac = np.sort(np.random.default_rng(2).choice(ns, nf, replace=False)).astype(np.int64)
    print(f"\nsub-network for networkx/pandana: {ns:,} nodes, {len(st):,} arcs, "
          f"{nf} facilities (same density)")
    t_o, (d_o, _) = timed(lambda: nearest_ours(ns, st, sh, sw, sfac), args.repeat)
    row("ours nearest (CSR included)", t_o)
    t_s, _ = timed(lambda: nearest_scipy(ns, st, sh, sw, sfac), args.repeat)
    row("scipy nearest (CSR included)", t_s, f"ours/scipy = {ratio(t_o, t_s)}")
    import networkx as nx
    t_b0 = time.perf_counter()
    G = nx.DiGraph()
    G.add_nodes_from(range(ns))
    G.add_weighted_edges_from(zip(st.tolist(), sh.tolist(), sw.tolist()))
    t_build = time.perf_counter() - t_b0
    t_nx, d_nx = timed(lambda: nx.multi_source_dijkstra_path_length(G, set(sfac.tolist())))
    row("networkx multi_source_dijkstra_path_length", t_nx,
        f"(+{t_build:.2f} s graph build) nx/ours = {t_nx.best / t_o.best:.0f}x")
    keys = np.fromiter(d_nx.keys(), np.int64)
    vals = np.fromiter(d_nx.values(), float)
    assert np.max(np.abs(d_o[keys] - vals)) < 1e-6 and np.isfinite(d_o).sum() == len(keys)
    G = d_nx = None  # free memory
    if not args.no_pandana:
        sg = q.graph_from_arcs(ns, st, sh, sw)
        # pandana measures node -> POI, so search the reverse graph.
        sr = q.reverse_graph(sg)
        t_l, (d_lim, _) = timed(lambda: k.multi_source_nearest(
            sr.indptr, sr.indices, sr.weights, sfac, np.zeros(nf), np.arange(nf), args.limit),
            args.repeat)
        row(f"ours nearest within {args.limit:.0f} s (reverse graph, kernel only)", t_l)
        bench_pandana(ns, st, sh, sw, sxy, sfac, d_lim, args.limit)
    print(f"\npeak RSS (whole run) {peak_mb():.0f} MB; load average {load()}")
    print("targets: " + "; ".join(verdicts))


def bench_pandana(ns, st, sh, sw, sxy, sfac, d_ours_limited, limit):
    """pandana nearest_pois within ``limit`` on the same sub-network."""
    try:
        import pandana
        import pandas as pd
    except ImportError:
        print("  pandana: not installed, skipped")
        return
    t0 = time.perf_counter()
    net = pandana.Network(pd.Series(sxy[:, 0]), pd.Series(sxy[:, 1]), pd.Series(st),
                          pd.Series(sh), pd.DataFrame({"w": sw}), twoway=False)
    t_ch = time.perf_counter() - t0
    row("pandana Network() (contraction hierarchy build)", t_ch)
    t1 = time.perf_counter()
    # POIs at the facility nodes' own coordinates map onto those nodes.
    net.set_pois("fac", limit, 1, pd.Series(sxy[sfac, 0]), pd.Series(sxy[sfac, 1]))
    res = net.nearest_pois(limit, "fac", num_pois=1)
    t_q = time.perf_counter() - t1
    d_pd = res[1].to_numpy()
    reached = d_pd < limit
    if np.any(np.isfinite(d_ours_limited) != reached):
        print(f"  pandana reaches {reached.sum():,} nodes, ours "
              f"{np.isfinite(d_ours_limited).sum():,}")
    reached &= np.isfinite(d_ours_limited)
    err = np.max(np.abs(d_pd[reached] - d_ours_limited[reached])) if reached.any() else 0.0
    row(f"pandana set_pois + nearest_pois(limit {limit:.0f} s)", t_q,
        f"max |pandana - ours| = {err:.2e} s over {reached.sum():,} nodes")
    return t_ch, t_q


if __name__ == "__main__":
    main()
