"""The G15 expressway: two one-way carriageways with diamond interchanges."""

from __future__ import annotations

import numpy as np
import shapely

from access.demo.synth.roads import polyline


def motorway(net, rng, mainland, core, longtan):
    """Dual-carriageway expressway (two one-way ways) with two diamond interchanges."""
    ys = np.arange(-26000.0, 26001.0, 100.0)
    xs = 2300.0 + 900.0 * np.sin(ys / 9000.0 + 0.5)
    inside = shapely.contains_xy(mainland.buffer(600.0), xs, ys)
    idx = np.flatnonzero(inside)
    ys, xs = ys[idx[0]: idx[-1] + 1], xs[idx[0]: idx[-1] + 1]
    dx, dy = np.gradient(xs), np.gradient(ys)
    L = np.hypot(dx, dy)
    nx_, ny_ = dy / L, -dx / L  # unit normal pointing east
    east = [net.node(x + 15 * a, y + 15 * b) for x, y, a, b in zip(xs, ys, nx_, ny_)]   # northbound
    west = [net.node(x - 15 * a, y - 15 * b) for x, y, a, b in zip(xs, ys, nx_, ny_)]   # southbound
    mtags = {"highway": "motorway", "oneway": "yes", "ref": "G15", "name": "沈海高速",
             "maxspeed": "120", "lanes": "2"}
    net.way(east, mtags, exempt=True)
    net.way(west[::-1], mtags, exempt=True)
    ltags = {"highway": "motorway_link", "oneway": "yes", "maxspeed": "40"}

    def interchange(yc, local_node):
        k = int(np.argmin(np.abs(ys - yc)))
        c = np.array([xs[k], ys[k]])
        e_pt = c + 320.0 * np.array([nx_[k], ny_[k]])
        w_pt = c - 320.0 * np.array([nx_[k], ny_[k]])
        E = net.node(*e_pt)
        W = net.node(*w_pt)
        net.way([W, E], {"highway": "primary", "bridge": "yes", "layer": "1", "name": "互通连接线"}, exempt=True)

        def ramp(a, b, side):
            pa, pb = np.asarray(net.xy[a]), np.asarray(net.xy[b])
            t = np.linspace(0, 1, 9)[1:-1]
            bulge = side * 120.0 * np.sin(np.pi * t)
            pts = pa[None] + t[:, None] * (pb - pa)[None] + bulge[:, None] * np.array([nx_[k], ny_[k]])[None]
            return [a] + [net.node(*p) for p in pts] + [b]

        k_s, k_n = k - 7, k + 7
        net.way(ramp(east[k_s], E, 1), ltags, exempt=True)   # northbound off
        net.way(ramp(E, east[k_n], 1), ltags, exempt=True)   # northbound on
        net.way(ramp(west[k_n], W, -1), ltags, exempt=True)  # southbound off
        net.way(ramp(W, west[k_s], -1), ltags, exempt=True)  # southbound on
        # connector from the interchange to the local network
        p_loc = np.asarray(net.xy[local_node])
        near = E if np.hypot(*(p_loc - e_pt)) < np.hypot(*(p_loc - w_pt)) else W
        pts = polyline(net.xy[near], p_loc, rng, 70.0, 0.01, 2)
        net.way([near] + [net.node(*p) for p in pts] + [local_node],
                {"highway": "primary", "name": "互通连接线", "maxspeed": "60"})

    interchange(float(net.xy[core["west_mid"]][1]), core["west_mid"])
    sg = longtan
    east_node = max(sg["perim"], key=lambda n: net.xy[n][0])
    interchange(float(sg["centre"][1]), east_node)
