"""Street grids: the urban core and the township seats."""

from __future__ import annotations

import math

import numpy as np

from access.demo.synth.frame import CORE, CORE_H, CORE_ROT, CORE_W, rot

ROW_NAMES = ["北环路", "学府路", "凤山路", "文昌路", "建设路", "解放路", "人民路", "中山路", "新华路",
              "和平路", "府前路", "青年路", "南环路"]
COL_NAMES = ["西环路", "工业路", "西门街", "龙津街", "鼓楼街", "胜利街", "五一路", "东街", "滨河路",
              "东湖路", "花园街", "东环路"]


def core_grid(net, rng):
    """Perturbed urban street grid with arterials, one-way streets, alleys, footpaths."""
    def positions(total):
        gaps = rng.uniform(100.0, 150.0, 200)
        pos = np.concatenate([[0.0], np.cumsum(gaps)])
        pos = pos[pos <= total]
        return pos - pos[-1] / 2.0

    U, V = positions(CORE_W), positions(CORE_H)
    nx_, ny_ = len(U), len(V)
    bend_r = rng.uniform(-50, 50, 3)
    ids = np.zeros((nx_, ny_), dtype=np.int64)
    pos = np.zeros((nx_, ny_, 2))
    for i in range(nx_):
        for j in range(ny_):
            u = U[i] + rng.uniform(-12, 12) + 40.0 * math.sin(math.pi * (V[j] / CORE_H + 0.5)) * bend_r[0] / 50
            v = V[j] + rng.uniform(-12, 12) + 60.0 * math.sin(math.pi * (U[i] / CORE_W + 0.5)) * math.sin(math.pi * j / ny_) * bend_r[1] / 50
            x, y = rot(u, v, CORE_ROT)
            pos[i, j] = (x + CORE[0], y + CORE[1])
            ids[i, j] = net.node(*pos[i, j])

    ci, cj = nx_ // 2, ny_ // 2
    art_i = {ci: "primary", 8: "secondary", nx_ - 9: "secondary", 0: "secondary", nx_ - 1: "secondary"}
    art_j = {cj: "primary", 7: "secondary", ny_ - 8: "secondary", 0: "secondary", ny_ - 1: "secondary"}

    def cls(line_i, is_col):
        art = art_i if is_col else art_j
        if line_i in art:
            return art[line_i]
        return "tertiary" if line_i % 4 == 0 else "residential"

    # One-way lines: two tertiary couplets and about a quarter of residential rows/columns.
    oneway: dict[tuple[bool, int], bool] = {}
    flip = False
    for is_col, n in ((False, ny_), (True, nx_)):
        for k in range(1, n - 1):
            c = cls(k, is_col)
            if (c == "tertiary" and k in (4, 12)) or (c == "residential" and rng.uniform() < 0.25):
                oneway[(is_col, k)] = flip
                flip = not flip

    # Segments; drop ~7 % of two-way residential segments (superblocks, dead ends).
    seg_mid: dict[tuple, int] = {}
    removed = set()
    for is_col, n_lines, n_steps in ((False, ny_, nx_ - 1), (True, nx_, ny_ - 1)):
        for k in range(n_lines):
            if cls(k, is_col) != "residential" or (is_col, k) in oneway:
                continue
            for s in range(n_steps):
                if rng.uniform() < 0.07:
                    removed.add((is_col, k, s))

    # Alleys (service) off the middle of a block side, footpaths across other blocks.
    for bi in range(nx_ - 1):
        for bj in range(ny_ - 1):
            r = rng.uniform()
            if r < 0.10 and (False, bj, bi) not in removed:
                a, b = pos[bi, bj], pos[bi + 1, bj]
                mid = net.node(*((a + b) / 2))
                seg_mid[(False, bj, bi)] = mid
                inward = (pos[bi, bj + 1] - pos[bi, bj])
                depth = rng.uniform(0.3, 0.6)
                p1 = (a + b) / 2 + inward * depth * 0.5
                p2 = (a + b) / 2 + inward * depth + (b - a) * rng.uniform(-0.2, 0.2)
                net.way([mid, net.node(*p1), net.node(*p2)], {"highway": "service", "service": "alley"})
            elif r < 0.15:
                q = (pos[bi, bj] + pos[bi + 1, bj + 1]) / 2 + rng.uniform(-10, 10, 2)
                net.way([int(ids[bi, bj]), net.node(*q), int(ids[bi + 1, bj + 1])], {"highway": "footway"})

    def emit(is_col, k, n_steps):
        c = cls(k, is_col)
        names = COL_NAMES if is_col else ROW_NAMES
        name = names[(k * len(names)) // (nx_ if is_col else ny_)]
        if c == "residential":
            name = name[:-1] + ("巷" if k % 2 else "里")
            name = f"{name}{k}"
        tags = {"highway": c, "name": name}
        if c in ("primary", "secondary"):
            tags["maxspeed"] = "50" if c == "primary" else "40"
            tags["lanes"] = "4" if c == "primary" else "2"
        elif c == "residential" and k % 3 == 0:
            tags["maxspeed"] = "30"
        ow = oneway.get((is_col, k))
        if ow is not None:
            tags["oneway"] = "yes"
        run: list[int] = []
        runs = []
        for s in range(n_steps + 1):
            if s > 0 and (is_col, k, s - 1) in removed:
                runs.append(run)
                run = []
            if s > 0 and (is_col, k, s - 1) in seg_mid:
                run.append(seg_mid[(is_col, k, s - 1)])
            run.append(int(ids[k, s] if is_col else ids[s, k]))
            # break long lines at arterial crossings, as OSM streets often are
            if len(run) > 12 and s < n_steps and (s in (art_j if is_col else art_i)):
                runs.append(run)
                run = [run[-1]]
        runs.append(run)
        for r in runs:
            if len(r) >= 2:
                net.way(r[::-1] if ow else r, tags)

    for j in range(ny_):
        emit(False, j, nx_ - 1)
    for i in range(nx_):
        emit(True, i, ny_ - 1)

    # Ends of arterial lines on the grid edge: where country roads come in.
    ends = []
    for i in art_i:
        if 0 < i < nx_ - 1:
            ends += [int(ids[i, 0]), int(ids[i, ny_ - 1])]
    for j in art_j:
        if 0 < j < ny_ - 1:
            ends += [int(ids[0, j]), int(ids[nx_ - 1, j])]
    ends += [int(ids[0, 0]), int(ids[0, ny_ - 1]), int(ids[nx_ - 1, 0]), int(ids[nx_ - 1, ny_ - 1])]
    west_mid = int(ids[0, cj])
    return {"ends": ends, "ids": ids, "pos": pos, "west_mid": west_mid, "centre": np.array(CORE)}


def seat_grid(net, rng, centre, size, name):
    """A township seat: a few local streets on a small jittered grid."""
    sp = 150.0
    ang = rng.uniform(0, np.pi / 2)
    ids = np.zeros((size, size), dtype=np.int64)
    pos = np.zeros((size, size, 2))
    off = (size - 1) / 2.0
    for i in range(size):
        for j in range(size):
            u, v = (i - off) * sp + rng.uniform(-15, 15), (j - off) * sp + rng.uniform(-15, 15)
            x, y = rot(u, v, ang)
            pos[i, j] = (x + centre[0], y + centre[1])
            ids[i, j] = net.node(*pos[i, j])
    main = size // 2
    street = name[:-1]
    for j in range(size):
        tags = {"highway": "tertiary" if j == main else "residential",
                "name": f"{street}{'大道' if j == main else '街'}{'' if j == main else j + 1}"}
        net.way([int(ids[i, j]) for i in range(size)], tags)
    for i in range(size):
        tags = {"highway": "tertiary" if i == main else "residential", "name": f"{street}{'中路' if i == main else '巷'}{'' if i == main else i + 1}"}
        net.way([int(ids[i, j]) for j in range(size)], tags)
    # a service lane and a footpath
    a, b = pos[0, 0], pos[1, 0]
    mid = net.node(*((a + b) / 2 + (pos[0, 0] - pos[0, 1]) * 0.4))
    net.way([int(ids[0, 0]), mid], {"highway": "service"})
    net.way([int(ids[1, 1]), net.node(*((pos[1, 1] + pos[2, 2]) / 2 + rng.uniform(-8, 8, 2))), int(ids[2, 2])],
            {"highway": "footway"})
    perim = [int(ids[i, j]) for i in range(size) for j in range(size) if i in (0, size - 1) or j in (0, size - 1)]
    return {"ids": ids, "pos": pos, "perim": perim, "centre_node": int(ids[main, main]), "centre": np.asarray(centre)}
