"""WorldPop-like population raster of the synthetic county."""

from __future__ import annotations

import numpy as np
import shapely
from scipy import ndimage
from scipy.spatial import cKDTree

from access.demo.synth.frame import CORE, CORE_H, CORE_ROT, CORE_W, EAST, ISLAND, NODATA, NORTH, RES, SOUTH, TOWNSHIPS, WEST, rot, sigmoid

# Persons (before quantisation) per component.
POP_URBAN = 215_000.0
POP_VILLAGES = 112_000.0
POP_DISPERSED = 24_000.0
POP_SEATS = {
    "龙潭镇": 14000, "青山镇": 9000, "白沙镇": 10000, "梅林镇": 9000, "洋头镇": 8000,
    "桃源镇": 7000, "溪口镇": 6000, "莲塘乡": 5000, "云岭乡": 3500, "石门乡": 5000,
    "海屿乡": 11000,
}
POP_ISLAND_VILLAGES = 10000.0




def population(rng, fr, net, town_ll, mountain, seats, core, villages):
    """WorldPop-like persons per 3 arc-second cell; nodata outside the county."""
    W = int(round((EAST - WEST) / RES))
    H = int(round((NORTH - SOUTH) / RES))
    col = np.arange(W)
    row = np.arange(H)
    lon = WEST + (col + 0.5) * RES
    lat = NORTH - (row + 0.5) * RES
    LON, LAT = np.meshgrid(lon, lat)
    X, Y = fr.to_xy(LON.ravel(), LAT.ravel())
    X, Y = X.reshape(H, W), Y.reshape(H, W)

    names = [n for n, _, _, _ in TOWNSHIPS]
    labels = np.full((H, W), -1, dtype=np.int32)
    for i, n in enumerate(names):
        inside = shapely.contains_xy(town_ll[n], LON, LAT) & (labels < 0)
        labels[inside] = i
    mask = labels >= 0

    def cell(x, y):
        lo, la = fr.to_lonlat(x, y)
        c = int((float(lo) - WEST) / RES)
        r = int((NORTH - float(la)) / RES)
        return r, c

    def norm(f, total):
        s = float((f * mask).sum())
        return f * mask * (total / s) if s > 0 else f * 0

    # urban core: dense, peaking at the centre, inside the street grid
    u, v = rot(X - CORE[0], Y - CORE[1], -CORE_ROT)
    edge = np.minimum(CORE_W / 2 - np.abs(u), CORE_H / 2 - np.abs(v))
    urban = sigmoid(edge / 120.0) * (np.exp(-(u ** 2 + v ** 2) / (2 * 1800.0 ** 2)) + 0.25)
    pop = norm(urban, POP_URBAN)

    # seats: gaussian towns
    for n, total in POP_SEATS.items():
        g = np.zeros((H, W))
        r, c = cell(*seats[n])
        g[r, c] = 1.0
        g = ndimage.gaussian_filter(g, sigma=4.0, mode="constant")
        pop += norm(g, total)

    # villages: small clusters at the village node and along its lanes
    nodes_xy = np.asarray(net.xy)
    gv = np.zeros((H, W))
    gi = np.zeros((H, W))
    for p, vn, mids in villages:
        m = float(mountain(*nodes_xy[vn]))
        w = 300.0 + 1200.0 * (1 - m) * rng.uniform(0.3, 1.0)
        pts = [vn] + list(mids)
        for k, q in enumerate(pts):
            r, c = cell(*nodes_xy[q])
            if 0 <= r < H and 0 <= c < W:
                tgt = gi if labels[r, c] == names.index(ISLAND) else gv
                tgt[r, c] += w * (0.6 if k == 0 else 0.4 / max(1, len(pts) - 1))
    gv = ndimage.gaussian_filter(gv, sigma=1.6, mode="constant")
    gi = ndimage.gaussian_filter(gi, sigma=1.6, mode="constant")
    pop += norm(gv, POP_VILLAGES) + norm(gi, POP_ISLAND_VILLAGES)

    # dispersed farmhouses near roads on the plains
    tree = cKDTree(nodes_xy)
    d, _ = tree.query(np.column_stack([X[mask], Y[mask]]), k=1)
    disp = np.zeros((H, W))
    m_cells = mountain(X[mask], Y[mask])
    disp[mask] = (1 - m_cells) ** 3 * np.exp(-d / 200.0)
    disp[labels == names.index(ISLAND)] *= 0.2
    pop += norm(disp, POP_DISPERSED)

    noise = rng.lognormal(0.0, 0.35, (H, W))
    pop = pop * noise
    pop[pop < 0.05] = 0.0
    # quantise to 1/16 person: exact in float32 and in any float64 sum order
    pop = np.round(pop * 16.0) / 16.0
    out = np.where(mask, pop, NODATA).astype(np.float32)
    return out, labels


#: Age bands shipped beside the population raster (file stem -> share of persons,
#: national-average-like shares of a Fujian county; invented).
AGE_BANDS = {"pop_3_5": 0.033, "pop_6_11": 0.068, "pop_12_14": 0.034, "pop_60_69": 0.115, "pop_70_plus": 0.085}
YOUNG_TOWNSHIP = "龙潭镇"  # industrial town of young families
AGEING_TOWNSHIPS = ("石门乡", "云岭乡")  # mountain townships the young have left
OLD_QUARTER = "东湖街道"  # the old town quarter, ageing in place
_CHILD_FACTOR = {YOUNG_TOWNSHIP: 1.4, OLD_QUARTER: 0.8, **{n: 0.5 for n in AGEING_TOWNSHIPS}}
_ELDER_FACTOR = {YOUNG_TOWNSHIP: 0.6, OLD_QUARTER: 1.6, **{n: 1.9 for n in AGEING_TOWNSHIPS}}


def age_bands(rng, pop, labels) -> dict[str, np.ndarray]:
    """Persons per cell of each age band (float32, multiples of 1/16, nodata as ``pop``).

    Each band is the cell's persons times the band's share, scaled per
    township (a younger and two ageing townships) and varied a little per
    cell; the bands together never exceed the cell's persons.
    """
    names = [n for n, _, _, _ in TOWNSHIPS]
    mask = pop != NODATA
    child = np.ones(pop.shape)
    elder = np.ones(pop.shape)
    for i, n in enumerate(names):
        child[labels == i] = _CHILD_FACTOR.get(n, 1.0)
        elder[labels == i] = _ELDER_FACTOR.get(n, 1.0)
    base = np.where(mask, pop, 0.0).astype(np.float64)
    out = {}
    for stem, share in AGE_BANDS.items():
        f = elder if stem.startswith("pop_60") or stem.startswith("pop_70") else child
        v = base * share * f * rng.lognormal(0.0, 0.15, pop.shape)
        v = np.floor(v * 16.0) / 16.0
        out[stem] = np.where(mask, v, NODATA).astype(np.float32)
    total = sum(np.where(mask, b, 0.0).astype(np.float64) for b in out.values())
    assert (total <= base + 1e-9).all()
    return out
