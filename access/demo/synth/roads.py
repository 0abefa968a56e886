"""The road network container and the country roads between seats and villages."""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import shapely
from scipy.spatial import Delaunay
from shapely.geometry import LineString, Point

from access.demo.synth.frame import CORE, CORE_H, CORE_ROT, CORE_W, MOUNTAIN_NO_HEALTH, rot

@dataclass
class Way:
    nodes: list[int]
    tags: dict[str, str]
    exempt: bool = False  # grade-separated (motorway, ramps, bridge): not noded


@dataclass
class Net:
    xy: list[tuple[float, float]] = field(default_factory=list)
    ways: list[Way] = field(default_factory=list)

    def node(self, x: float, y: float) -> int:
        self.xy.append((float(x), float(y)))
        return len(self.xy) - 1

    def way(self, nodes: list[int], tags: dict[str, str], exempt: bool = False) -> None:
        # OSM ways hold at most 2000 nodes; keep ways of realistic length.
        step = 300
        for s in range(0, len(nodes) - 1, step):
            part = nodes[s: s + step + 1]
            if len(part) >= 2:
                self.ways.append(Way(list(part), dict(tags), exempt))


def polyline(a, b, rng, spacing, wiggle, harmonics):
    """Intermediate points of a road from ``a`` to ``b`` (endpoints excluded).

    The lateral offset is a sum of ``sin(k*pi*t)`` terms: zero at both ends
    and a function of the chord position only, so a road never crosses itself.
    """
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    d = b - a
    L = float(np.hypot(*d))
    n = max(1, int(L / spacing))
    if n < 2:
        return np.zeros((0, 2))
    t = np.linspace(0.0, 1.0, n + 1)[1:-1]
    ks = np.arange(1, harmonics + 1)
    amp = rng.normal(0.0, wiggle * L, harmonics) / np.sqrt(ks)
    lat = (amp[None, :] * np.sin(np.pi * t[:, None] * ks[None, :])).sum(1)
    lat = np.clip(lat, -0.22 * L, 0.22 * L)
    nrm = np.array([-d[1], d[0]]) / L
    return a[None, :] + t[:, None] * d[None, :] + lat[:, None] * nrm[None, :]





def rural_roads(net, rng, mainland, mountain, seats, rural_main, core, seat_grid, villages, vnodes, gates):
    """Country roads on a planar (Gabriel/RNG) graph of core, seats, villages and gates."""
    names = ["@core"] + list(rural_main) + [f"v{i}" for i in range(len(villages))] + list(gates)
    P = np.vstack([core["centre"][None, :], np.array([seats[n] for n in rural_main]),
                   villages, np.array(list(gates.values()))])
    n_seat = len(rural_main)
    gate_idx = {g: 1 + n_seat + len(villages) + k for k, g in enumerate(gates)}
    kind = np.array(["core"] + ["seat"] * n_seat + ["village"] * len(villages) + ["gate"] * len(gates))

    tri = Delaunay(P)
    E = set()
    for s in tri.simplices:
        for a, b in ((s[0], s[1]), (s[1], s[2]), (s[0], s[2])):
            E.add((min(a, b), max(a, b)))
    E = sorted(E)
    mid_m = {}
    keep = []
    for a, b in E:
        pa, pb = P[a], P[b]
        c, r = (pa + pb) / 2, np.hypot(*(pa - pb)) / 2
        others = np.ones(len(P), bool)
        others[[a, b]] = False
        d_c = np.hypot(P[:, 0] - c[0], P[:, 1] - c[1])
        gabriel = not np.any(d_c[others] < r)
        da = np.hypot(P[:, 0] - pa[0], P[:, 1] - pa[1])
        db = np.hypot(P[:, 0] - pb[0], P[:, 1] - pb[1])
        rng_edge = not np.any(np.maximum(da, db)[others] < 2 * r)
        m = float(mountain(c[0], c[1]))
        mid_m[(a, b)] = m
        if not gabriel:
            continue
        if kind[a] == "gate" and kind[b] == "gate":
            continue
        if m > 0.45 and not rng_edge:
            continue
        keep.append((a, b))
    G = nx.Graph()
    G.add_nodes_from(range(len(P)))
    for a, b in keep:
        G.add_edge(a, b, length=float(np.hypot(*(P[a] - P[b]))))
    mst = set((min(a, b), max(a, b)) for a, b in nx.minimum_spanning_edges(G, weight="length", data=False))
    core_poly = shapely.Polygon(
        [(rot(u, v, CORE_ROT)[0] + CORE[0], rot(u, v, CORE_ROT)[1] + CORE[1])
         for u, v in ((-1, -1), (1, -1), (1, 1), (-1, 1)) for u, v in [(u * (CORE_W / 2 + 150), v * (CORE_H / 2 + 150))]])
    for a, b in list(G.edges):
        e = (min(a, b), max(a, b))
        if e in mst:
            continue
        seg = LineString([P[a], P[b]])
        bad = G.edges[a, b]["length"] > 5500.0
        if kind[a] != "core" and kind[b] != "core" and seg.intersects(core_poly):
            bad = True
        for k, n in enumerate(rural_main):
            if a != 1 + k and b != 1 + k and seg.distance(Point(seats[n])) < 500.0:
                bad = True
        # the mountain township keeps only a thin net of tracks
        if mid_m[e] > 0.8 and rng.uniform() < 0.35:
            bad = True
        if bad:
            G.remove_edge(a, b)
    assert nx.is_connected(G)

    # Route hierarchy on weights that make mountains expensive.
    for a, b in G.edges:
        G.edges[a, b]["w"] = G.edges[a, b]["length"] * (1 + 3 * mid_m[(min(a, b), max(a, b))])
    rank = {"trunk": 5, "primary": 4, "secondary": 3, "tertiary": 2}
    ecls: dict[tuple[int, int], tuple[str, str]] = {}
    seat_i = {n: 1 + k for k, n in enumerate(rural_main)}
    nearest_seat = {}
    for v in range(1 + n_seat, 1 + n_seat + len(villages)):
        nearest_seat[v] = min(rural_main, key=lambda n: np.hypot(*(P[v] - seats[n])))
    shimen = seat_i[MOUNTAIN_NO_HEALTH]
    shimen_zone = {v for v, n in nearest_seat.items() if n == MOUNTAIN_NO_HEALTH} | {shimen}

    def route(a, b, c, ref):
        path = nx.shortest_path(G, a, b, weight="w")
        for u, v in zip(path[:-1], path[1:]):
            e = (min(u, v), max(u, v))
            if u in shimen_zone and v in shimen_zone:
                continue  # the mountain township is served by tracks only
            old = ecls.get(e)
            if old is None or rank[old[0]] < rank[c]:
                ecls[e] = (c, ref)

    route(gate_idx["trunk_s"], 0, "trunk", "G316")
    route(0, gate_idx["trunk_ne"], "trunk", "G316")
    route(0, gate_idx["primary_n"], "primary", "S201")
    route(0, seat_i["龙潭镇"], "primary", "S203")
    route(0, seat_i["梅林镇"], "primary", "S205")
    route(seat_i["梅林镇"], gate_idx["primary_se"], "primary", "S205")
    xk = 101
    for n in rural_main:
        if n == MOUNTAIN_NO_HEALTH:
            continue
        route(seat_i[n], 0, "secondary", f"X{xk}")
        xk += 1
    for a, b in (("莲塘乡", "龙潭镇"), ("桃源镇", "梅林镇"), ("青山镇", "白沙镇"), ("溪口镇", "云岭乡"),
                 ("桃源镇", "龙潭镇")):
        route(seat_i[a], seat_i[b], "secondary", f"X{xk}")
        xk += 1
    yk = 1
    for n in rural_main:
        mine = [v for v, s in nearest_seat.items() if s == n]
        mine.sort(key=lambda v: -np.hypot(*(P[v] - seats[n])))
        for v in mine[:2]:
            route(seat_i[n], v, "tertiary", f"Y{yk:03d}")
            yk += 1

    # Attachment nodes: villages and gates are single nodes, seats and the
    # core attach at the grid node that faces the other end.
    vnode_of = {1 + n_seat + k: vnodes[k] for k in range(len(villages))}
    gate_node = {gate_idx[g]: net.node(*gates[g]) for g in gates}

    def attach(i, toward):
        if kind[i] == "village":
            return vnode_of[i]
        if kind[i] == "gate":
            return gate_node[i]
        if kind[i] == "core":
            cands, centre = core["ends"], core["centre"]
        else:
            sg = seat_grid[names[i]]
            cands, centre = sg["perim"], sg["centre"]
        d = toward - centre
        d = d / (np.hypot(*d) + 1e-9)
        xy = np.asarray([net.xy[c] for c in cands])
        score = (xy - centre) @ d
        return int(cands[int(np.argmax(score))])

    # Build each edge's polyline once, then chain same-class edges into ways.
    geom: dict[tuple[int, int], list[int]] = {}
    for a, b in sorted((min(a, b), max(a, b)) for a, b in G.edges):
        na, nb = attach(a, P[b]), attach(b, P[a])
        m = mid_m[(a, b)]
        c = ecls.get((a, b), (None, None))[0]
        if c is None:
            c = ("track" if rng.uniform() < 0.5 else "unclassified") if m > 0.5 else \
                ("track" if rng.uniform() < 0.1 else "unclassified")
            ecls[(a, b)] = (c, "")
        mountain_road = m > 0.5 and c not in ("trunk", "primary")
        pts = polyline(net.xy[na], net.xy[nb], rng,
                        spacing=35.0 if mountain_road else 70.0,
                        wiggle=0.06 if mountain_road else 0.02,
                        harmonics=9 if mountain_road else 3)
        geom[(a, b)] = [na] + [net.node(*p) for p in pts] + [nb]

    groups: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for e, key in ecls.items():
        groups.setdefault(key, []).append(e)
    for key in sorted(groups):
        c, ref = key
        H = nx.Graph()
        H.add_edges_from(groups[key])
        used = set()
        starts = sorted(H.nodes, key=lambda v: (H.degree(v) == 2 and kind[v] not in ("core", "seat"), v))
        for s in starts:
            for nb0 in sorted(H.neighbors(s)):
                e0 = (min(s, nb0), max(s, nb0))
                if e0 in used:
                    continue
                chain_nodes, cur, nxt = [], s, nb0
                while True:
                    e = (min(cur, nxt), max(cur, nxt))
                    used.add(e)
                    g = geom[e] if cur == e[0] else geom[e][::-1]
                    assert not chain_nodes or chain_nodes[-1] == g[0]
                    chain_nodes += g if not chain_nodes else g[1:]
                    # seats and the core attach each road to a different
                    # street node, so a way must end there
                    if H.degree(nxt) != 2 or kind[nxt] in ("core", "seat"):
                        break
                    cand = [w for w in H.neighbors(nxt) if (min(nxt, w), max(nxt, w)) not in used]
                    if not cand:
                        break
                    cur, nxt = nxt, cand[0]
                tags = {"highway": c}
                if ref:
                    tags["ref"] = ref
                if c == "trunk":
                    tags.update(name="316国道", maxspeed="80", lanes="2")
                elif c == "primary":
                    tags["name"] = f"{ref[1:]}省道"
                    if ref != "S205":
                        tags["maxspeed"] = "60"
                elif c == "track":
                    tags.update(tracktype="grade3", surface="unpaved")
                net.way(chain_nodes, tags)


def node_crossings(net):
    """Insert a shared node wherever two at-grade ways cross (a topological network)."""
    xy = np.asarray(net.xy)
    segs, owners = [], []
    for wi, w in enumerate(net.ways):
        if w.exempt:
            continue
        for k in range(len(w.nodes) - 1):
            segs.append((w.nodes[k], w.nodes[k + 1]))
            owners.append((wi, k))
    S = np.asarray(segs)
    lines = shapely.linestrings(np.stack([xy[S[:, 0]], xy[S[:, 1]]], axis=1))
    tree = shapely.STRtree(lines)
    qa, qb = tree.query(lines, predicate="intersects")
    sel = qa < qb
    qa, qb = qa[sel], qb[sel]
    share = (S[qa, 0] == S[qb, 0]) | (S[qa, 0] == S[qb, 1]) | (S[qa, 1] == S[qb, 0]) | (S[qa, 1] == S[qb, 1])
    qa, qb = qa[~share], qb[~share]
    inserts: dict[tuple[int, int], list[tuple[float, int]]] = {}
    for a, b in zip(qa.tolist(), qb.tolist()):
        p1, p2 = xy[S[a, 0]], xy[S[a, 1]]
        p3, p4 = xy[S[b, 0]], xy[S[b, 1]]
        d1, d2 = p2 - p1, p4 - p3
        den = d1[0] * d2[1] - d1[1] * d2[0]
        if abs(den) < 1e-9:
            continue  # collinear overlap: does not happen by construction
        t = ((p3[0] - p1[0]) * d2[1] - (p3[1] - p1[1]) * d2[0]) / den
        u = ((p3[0] - p1[0]) * d1[1] - (p3[1] - p1[1]) * d1[0]) / den
        eps = 1e-9
        ina, inb = eps < t < 1 - eps, eps < u < 1 - eps
        if ina and inb:
            n = net.node(*(p1 + t * d1))
            inserts.setdefault(owners[a], []).append((t, n))
            inserts.setdefault(owners[b], []).append((u, n))
        elif ina:  # b's end touches a's interior
            inserts.setdefault(owners[a], []).append((t, int(S[b, 0] if u <= eps else S[b, 1])))
        elif inb:
            inserts.setdefault(owners[b], []).append((u, int(S[a, 0] if t <= eps else S[a, 1])))
    by_way: dict[int, dict[int, list]] = {}
    for (wi, k), lst in inserts.items():
        by_way.setdefault(wi, {})[k] = sorted(lst)
    for wi, ks in by_way.items():
        w = net.ways[wi]
        new = [w.nodes[0]]
        for k in range(len(w.nodes) - 1):
            for _, n in ks.get(k, []):
                if n != new[-1]:
                    new.append(n)
            new.append(w.nodes[k + 1])
        w.nodes = new
