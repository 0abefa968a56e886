"""Service areas: our vectorised builder vs the osmnx documentation recipe.

Both run on the same generated ~90,000-node road-like network (walking at
4.5 km/h, 1000 m = 800 s, 50 m off-road buffer). The recipe (osmnx examples,
"isochrones"): per facility ``nx.ego_graph(G, node, radius=limit,
distance="time")``, buffer every node point and edge line, union. Ours:
node times for all facilities (access.routing.node_catchments, or scipy's
Dijkstra with a limit when routing is unavailable), then
access.coverage.service_areas (raster method by default; the exact GEOS
method is timed too). Times include routing for both.

Run: /work/venv/bin/python benchmarks/bench_service_areas.py [n_facilities]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString, Point

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_network import road_like_network  # noqa: E402

from access.coverage.service_areas import service_areas  # noqa: E402
from access.network.graph import Graph  # noqa: E402

SPEED = 4.5 / 3.6
LIMIT = 1000.0 / SPEED
BUFFER = 50.0


def build(n_nodes=90_000, seed=1):
    tails, heads, lengths, xy = road_like_network(n_nodes, seed=seed)
    lo, hi = np.minimum(tails, heads), np.maximum(tails, heads)
    pair, inv = np.unique(np.column_stack([lo, hi]), axis=0, return_inverse=True)
    edges = gpd.GeoSeries(shapely.linestrings(np.stack([xy[pair[:, 0]], xy[pair[:, 1]]], axis=1)))
    w = lengths / SPEED
    n = len(xy)
    o = np.lexsort((heads, tails))
    g = Graph(mode="walk", indptr=np.concatenate([[0], np.cumsum(np.bincount(tails, minlength=n))]),
              indices=heads[o].astype(np.int32), weights=w[o], arc_edge=np.asarray(inv).ravel()[o],
              node_xy=xy, node_id=np.arange(n), component=np.zeros(n, np.int32))
    return g, edges, (tails, heads, w, xy)


def node_times(g: Graph, sources):
    try:
        from access.routing import node_catchments
        return node_catchments(g, np.asarray(sources), LIMIT), "access.routing.node_catchments"
    except ImportError:  # pragma: no cover - fallback while routing is being written
        from scipy.sparse import csr_matrix
        from scipy.sparse.csgraph import dijkstra
        m = csr_matrix((g.weights, g.indices, g.indptr), shape=(g.n_nodes, g.n_nodes))
        d = dijkstra(m.T.tocsr(), indices=sources, limit=LIMIT)
        s, v = np.nonzero(np.isfinite(d))
        return pd.DataFrame({"source": s, "node": v, "seconds": d[s, v]}), "scipy dijkstra"


def recipe(G, node, radius, edge_buff=BUFFER, node_buff=BUFFER):
    """The osmnx documentation isochrone recipe (make_iso_polys)."""
    sub = nx.ego_graph(G, node, radius=radius, distance="time")
    node_points = [Point((d["x"], d["y"])) for _, d in sub.nodes(data=True)]
    nodes_gdf = gpd.GeoDataFrame({"id": list(sub.nodes)}, geometry=node_points).set_index("id")
    edge_lines = []
    for n_fr, n_to in sub.edges():
        f = nodes_gdf.loc[n_fr].geometry
        t = nodes_gdf.loc[n_to].geometry
        edge_lines.append(LineString([f, t]))
    n = nodes_gdf.buffer(node_buff).geometry
    e = gpd.GeoSeries(edge_lines).buffer(edge_buff).geometry
    return gpd.GeoSeries(list(n) + list(e)).union_all()


def main(n_fac: int = 400, n_recipe: int = 15):
    g, edges, (tails, heads, w, xy) = build()
    print(f"network: {g.n_nodes} nodes, {g.n_arcs} arcs, {len(edges)} edges; "
          f"limit {LIMIT:.0f} s, buffer {BUFFER:g} m")
    rng = np.random.default_rng(0)
    src = rng.choice(g.n_nodes, n_fac, replace=False)

    # Warm-up (numba compilation) outside the timing.
    nt, how = node_times(g, src[:2])
    service_areas(g, edges, nt, LIMIT, buffer_m=BUFFER)

    t0 = time.perf_counter()
    nt, how = node_times(g, src)
    t1 = time.perf_counter()
    ours = service_areas(g, edges, nt, LIMIT, buffer_m=BUFFER)
    t2 = time.perf_counter()
    per_ours = (t2 - t0) / n_fac
    print(f"ours (raster, {how}): {per_ours * 1e3:.2f} ms per facility "
          f"(routing {(t1 - t0) / n_fac * 1e3:.2f} ms + polygons {(t2 - t1) / n_fac * 1e3:.2f} ms),"
          f" {n_fac} facilities")
    k = min(n_fac, 100)
    t3 = time.perf_counter()
    exact = service_areas(g, edges, nt[nt["source"] < k], LIMIT, buffer_m=BUFFER, method="exact")
    per_exact = (time.perf_counter() - t3) / k + (t1 - t0) / n_fac
    sym = shapely.area(shapely.symmetric_difference(ours.geometry.values[:k], exact.geometry.values))
    print(f"ours (exact GEOS buffer): {per_exact * 1e3:.2f} ms per facility; raster vs exact: "
          f"{np.mean(sym / shapely.area(exact.geometry.values)) * 100:.1f} % of the area differs")

    G = nx.MultiDiGraph()
    for i, (x, y) in enumerate(xy):
        G.add_node(i, x=x, y=y)
    for a, b, t in zip(tails, heads, w):
        G.add_edge(int(a), int(b), time=float(t))
    t4 = time.perf_counter()
    for s in src[:n_recipe]:
        recipe(G, int(s), LIMIT)
    per_recipe = (time.perf_counter() - t4) / n_recipe
    print(f"osmnx recipe (ego_graph + buffer + union): {per_recipe * 1e3:.1f} ms per facility "
          f"({n_recipe} facilities)")
    print(f"speed-up: {per_recipe / per_ours:.0f}x (raster), {per_recipe / per_exact:.1f}x (exact)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 400)
