"""Village lanes and the island's own road network."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import shapely
from shapely.geometry import Point

from access.demo.synth.frame import ISLAND
from access.demo.synth.roads import polyline
from access.demo.synth.streets import seat_grid


def village_spurs(net, rng, vnodes, mainland, mountain):
    """A few residential/track/service ways radiating from each village node."""
    # directions of roads already leaving each node
    adj: dict[int, list[int]] = {}
    for w in net.ways:
        for a, b in zip(w.nodes[:-1], w.nodes[1:]):
            adj.setdefault(a, []).append(b)
            adj.setdefault(b, []).append(a)
    prep = mainland.buffer(-100.0)
    shapely.prepare(prep)
    mids = []
    for vn in vnodes:
        c = np.asarray(net.xy[vn])
        angs = sorted(math.atan2(net.xy[o][1] - c[1], net.xy[o][0] - c[0]) for o in adj.get(vn, []))
        m = float(mountain(*c))
        n_sp = int(rng.integers(2, 5)) if m < 0.5 else int(rng.integers(1, 3))
        gaps = []
        if angs:
            for k in range(len(angs)):
                a0, a1 = angs[k], angs[(k + 1) % len(angs)] + (2 * np.pi if k == len(angs) - 1 else 0)
                gaps.append((a1 - a0, a0))
        else:
            gaps = [(2 * np.pi, 0.0)]
        gaps.sort(reverse=True)
        vm = []
        for s in range(n_sp):
            g, a0 = gaps[s % len(gaps)]
            frac = (s // len(gaps) + 1) / (n_sp // len(gaps) + 2)
            th = a0 + g * (0.5 if s < len(gaps) else frac) + rng.uniform(-0.15, 0.15)
            kind = ["residential", "track", "residential", "service"][s % 4]
            length = {"residential": rng.uniform(150, 400), "track": rng.uniform(400, 1000),
                      "service": rng.uniform(60, 120)}[kind]
            n = max(2, int(length / 40.0))
            curv = rng.uniform(-0.6, 0.6) / length
            nodes = [vn]
            p, ang = c.copy(), th
            for _ in range(n):
                ang += curv * (length / n)
                p = p + (length / n) * np.array([math.cos(ang), math.sin(ang)])
                if not prep.contains(Point(p)):
                    break
                nodes.append(net.node(*p))
            if len(nodes) >= 2:
                tags = {"highway": kind}
                if kind == "track":
                    tags["tracktype"] = "grade4"
                net.way(nodes, tags)
                if kind == "residential":
                    vm.append(nodes[len(nodes) // 2])
        mids.append(vm)
    return mids


def island_network(net, rng, island, seat):
    """The island township: its own seat grid and villages, no link to the mainland."""
    sg = seat_grid(net, rng, seat, 3, ISLAND)
    inner = island.buffer(-350.0)
    minx, miny, maxx, maxy = inner.bounds
    pts: list[np.ndarray] = []
    while len(pts) < 5:
        p = np.array([rng.uniform(minx, maxx), rng.uniform(miny, maxy)])
        if not inner.contains(Point(p)) or np.hypot(*(p - seat)) < 900:
            continue
        if all(np.hypot(*(p - q)) > 900 for q in pts):
            pts.append(p)
    vn = [net.node(*p) for p in pts]
    P = np.vstack([seat[None], np.asarray(pts)])
    G = nx.Graph()
    for a in range(len(P)):
        for b in range(a + 1, len(P)):
            G.add_edge(a, b, length=float(np.hypot(*(P[a] - P[b]))))
    T = nx.minimum_spanning_tree(G, weight="length")
    edges = sorted((min(a, b), max(a, b)) for a, b in T.edges)
    for a, b in edges:
        na = sg["centre_node"] if a == 0 else vn[a - 1]
        if a == 0:
            d = P[b] - seat
            na = max(sg["perim"], key=lambda n: (np.asarray(net.xy[n]) - seat) @ d)
        nb = vn[b - 1]
        line = polyline(net.xy[na], net.xy[nb], rng, 60.0, 0.02, 3)
        tags = {"highway": "tertiary", "ref": "Y099"} if a == 0 else {"highway": "unclassified"}
        net.way([na] + [net.node(*p) for p in line] + [nb], tags)
    mids = village_spurs(net, rng, vn, island, lambda x, y: 0.0)
    first = sg["ids"].min()
    n_nodes = len(net.xy) - int(first)
    return {"seat_grid": sg, "villages": [(p, n, m) for p, n, m in zip(pts, vn, mids)], "n_nodes": n_nodes}
