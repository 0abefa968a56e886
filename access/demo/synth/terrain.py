"""Coast, mountains, township polygons and village sites of the synthetic county."""

from __future__ import annotations

import math

import numpy as np
import shapely
import shapely.affinity
from shapely.geometry import LineString, Point, Polygon

from access.demo.synth.frame import (CORE, CORE_H, CORE_ROT, CORE_W, EAST, ISLAND, NORTH, SOUTH, TOWNSHIPS, WEST, Frame,
                                     Noise, rot, sigmoid)

def outline(rng):
    """Mainland and island outlines in the local frame (metres)."""
    th = np.linspace(0, 2 * np.pi, 720, endpoint=False)
    ph = rng.uniform(0, 2 * np.pi, 7)
    r = 1.0 + 0.05 * np.sin(2 * th + ph[0]) + 0.035 * np.sin(3 * th + ph[1]) \
        + 0.03 * np.sin(5 * th + ph[2]) + 0.015 * np.sin(9 * th + ph[3]) + 0.008 * np.sin(17 * th + ph[4]) \
        + 0.005 * np.sin(31 * th + ph[5]) + 0.003 * np.sin(53 * th + ph[6])
    x = -2000.0 + 21000.0 * r * np.cos(th)
    y = 18500.0 * r * np.sin(th)
    main = Polygon(np.column_stack([x, y]))
    # Keep the county inside the raster window (with a 400 m margin).
    fr = Frame()
    m = 0.004
    wx, wy = fr.to_xy([WEST + m, EAST - m, EAST - m, WEST + m], [SOUTH + m, SOUTH + m, NORTH - m, NORTH - m])
    window = Polygon(np.column_stack([wx, wy]))
    while not window.contains(main):
        main = shapely.affinity.scale(main, 0.99, 0.99, origin=(-2000.0, 0.0))
    cx, cy = TOWNSHIPS[[t[0] for t in TOWNSHIPS].index(ISLAND)][2]
    r2 = 1.0 + 0.08 * np.sin(3 * th + ph[1]) + 0.04 * np.sin(5 * th + ph[0])
    u, v = 2600.0 * r2 * np.cos(th), 1400.0 * r2 * np.sin(th)
    u, v = rot(u, v, math.radians(30.0))
    island = Polygon(np.column_stack([u + cx, v + cy]))
    assert window.contains(island)
    # A strait of at least 2 km between island and mainland.
    main = main.difference(island.buffer(2000.0))
    if main.geom_type != "Polygon":
        main = max(main.geoms, key=lambda g: g.area)
    return shapely.normalize(main), shapely.normalize(island)


def mountain_field(rng):
    """Function (x, y) -> mountainousness in [0, 1]: high in the west."""
    nz = Noise(rng, 6, 6000.0, 14000.0)

    def m(x, y):
        return sigmoid((-np.asarray(x, float) - 8500.0) / 2200.0 + 0.9 * nz(x, y))

    return m


def gates(mainland):
    """Points where trunk/primary roads leave the county (on the outline)."""
    out = {}
    for name, deg in (("trunk_s", 262.0), ("trunk_ne", 42.0), ("primary_n", 100.0), ("primary_se", 318.0)):
        d = np.array([math.cos(math.radians(deg)), math.sin(math.radians(deg))])
        c = np.array([CORE[0] if "trunk" in name else -2000.0, CORE[1] if "trunk" in name else 0.0])
        ray = LineString([c, c + 80000 * d])
        hit = ray.intersection(mainland.boundary)
        pts = [hit] if hit.geom_type == "Point" else list(hit.geoms)
        p = min(pts, key=lambda q: q.distance(Point(c)))
        out[name] = np.array([p.x, p.y]) - 150.0 * d  # just inside the county
    return out


def sample_villages(rng, mainland, mountain, seats, rural_main):
    """Village centres by dart throwing: denser on plains, sparse in mountains."""
    minx, miny, maxx, maxy = mainland.bounds
    cand = np.column_stack([rng.uniform(minx, maxx, 30000), rng.uniform(miny, maxy, 30000)])
    inside = shapely.contains_xy(mainland.buffer(-600.0), cand[:, 0], cand[:, 1])
    cand = cand[inside]
    m = mountain(cand[:, 0], cand[:, 1])
    keep = rng.uniform(0, 1, len(cand)) < (1.0 - 0.75 * m)
    cand, m = cand[keep], m[keep]
    u, v = rot(cand[:, 0] - CORE[0], cand[:, 1] - CORE[1], -CORE_ROT)
    ok = ~((np.abs(u) < CORE_W / 2 + 1300) & (np.abs(v) < CORE_H / 2 + 1300))
    for n in rural_main:
        ok &= np.hypot(cand[:, 0] - seats[n][0], cand[:, 1] - seats[n][1]) > 1500.0
    cand, m = cand[ok], m[ok]
    spacing = 2000.0 + 1600.0 * m
    acc: list[np.ndarray] = []
    acc_s: list[float] = []
    for p, s in zip(cand, spacing):
        if acc:
            a = np.asarray(acc)
            d = np.hypot(a[:, 0] - p[0], a[:, 1] - p[1])
            if np.any(d < np.maximum(s, np.asarray(acc_s))):
                continue
        acc.append(p)
        acc_s.append(s)
    return np.asarray(acc)
