"""Urban services of the synthetic county, laid out by living-circle level.

GB 50180-2018 groups neighbourhood services by the walk that reaches them:
15-minute centres (community health centre, junior middle school, elderly
care centre, culture station, large sports ground) about every 1.5 km,
10-minute centres (primary school, food market, sports ground) about every
800 m and 5-minute stations (kindergarten, health station, day care, small
sports ground) about every 500 m. The urban core places them on lattices of
those spacings in the core's own (rotated) frame, leaves a share of the
5- and 10-minute points empty (uneven provision), and leaves out the named
gaps below so that every level has one a planner can find.
"""

from __future__ import annotations

import numpy as np

from access.demo.synth.frame import CORE, CORE_H, CORE_ROT, CORE_W, URBAN_NO_ELDERLY, rot

#: Named urban gaps, each tested in core-frame (u, v) metres.
NEW_DISTRICT = "凤山新区"  # new residential district in the south-west of 凤山街道
OLD_TOWN_NORTH = "城关北片老城"  # old town in the north-west of 城关街道
NANMEN_EAST = "南门街道东片"  # east of 南门街道


def in_new_district(u, v) -> bool:
    """凤山新区: built without a community health station or elderly day care."""
    return u < -1000.0 and v < -600.0


def in_old_town_north(u, v) -> bool:
    """城关北片老城: no food market."""
    return u < -1200.0 and v > 1300.0


URBAN_GAPS = {
    "gb50180_5min": (NEW_DISTRICT, "凤山街道", "new residential district 凤山新区 built without a 社区卫生服务站 "
                     "(community health station) or 日间照料中心 (elderly day care)"),
    "gb50180_10min": (OLD_TOWN_NORTH, "城关街道", "no 菜市场 (food market) in the old town north of 城关街道"),
    "gb50180_15min": (NANMEN_EAST, "南门街道", "no 初中 (junior middle school) in the east of the core: "
                      "the east of 南门街道 is more than 1 km from any junior middle school"),
    "elderly_15min": (NEW_DISTRICT, "凤山街道", "no elderly care of any kind in the new district 凤山新区: "
                      "its far side is more than 15 minutes' walk from one"),
}


def core_xy(u: float, v: float) -> np.ndarray:
    """Local-frame metres of core-frame (u, v)."""
    x, y = rot(u, v, CORE_ROT)
    return np.array([x + CORE[0], y + CORE[1]])


def lattice(step_u: float, step_v: float, margin: float = 150.0):
    """Core-frame lattice points ``(i, j, u, v)`` centred on the core."""
    nu = int((CORE_W - 2 * margin) // step_u) + 1
    nv = int((CORE_H - 2 * margin) // step_v) + 1
    for i in range(nu):
        for j in range(nv):
            yield i, j, (i - (nu - 1) / 2) * step_u, (j - (nv - 1) / 2) * step_v


def urban_services(place, rng, comm: list[str]) -> None:
    """Place the core's services with ``place(point, name, raw_category, capacity, avoid)``."""
    def at(u, v, spread=20.0):
        return core_xy(u, v) + rng.uniform(-spread, spread, 2)

    # 15-minute centres: six, about 1.5 km apart; none has a junior middle
    # school in the south-east, the north-east one (东湖) no elderly care centre
    centres = [(-700, -300), (400, -900), (1700, -900), (-1500, 900), (0, 900), (1700, 900)]
    for k, (u, v) in enumerate(centres):
        c, p = comm[k], at(u, v)
        place(p, f"{c}社区卫生服务中心", "社区卫生服务中心", int(rng.integers(45, 51)))
        place(p, f"{c}文化活动中心", "文化活动中心")
        place(p, f"{c}全民健身中心", "体育场")
        if k != 5:
            placed = place(p, f"{c}养老服务中心", "养老服务中心", 20 * int(rng.integers(3, 10)),
                           avoid={URBAN_NO_ELDERLY})
            assert placed, (c, u, v)
        if k == 4:  # a second one next to 东湖街道, which has none
            assert place(at(1100, 1300), f"{c}第二养老服务中心", "养老服务中心", 120, avoid={URBAN_NO_ELDERLY})
        if k != 2:
            place(p, f"{c}初级中学" if k % 2 else f"示范县第{k + 2}中学",
                  "初级中学" if k % 2 else "初中", 50 * int(rng.integers(24, 40)))

    # 10-minute centres, about 650 m apart; a sixth of the points are empty
    for i, j, u, v in lattice(680.0, 640.0):
        if rng.uniform() < 0.15:
            continue
        c, p = comm[(i * 7 + j) % len(comm)], at(u, v)
        place(p, f"{c}第{i + 1}{j + 1}小学", "小学", 45 * int(rng.integers(24, 48)))
        place(p, f"{c}{i + 1}{j + 1}号运动场", "运动场")
        if not in_old_town_north(u, v):
            place(p, f"{c}{i + 1}{j + 1}号菜市场", "菜市场")

    # 5-minute stations (one 社区综合服务站 building each), about 380 m apart;
    # a tenth of the points are empty
    for i, j, u, v in lattice(380.0, 360.0):
        if rng.uniform() < 0.1:
            continue
        c, p = comm[(i * 5 + j) % len(comm)], at(u, v)
        tag = f"{c}{i + 1:02d}{j + 1:02d}"
        place(p, f"{tag}幼儿园", "幼儿园", 30 * int(rng.integers(3, 10)))
        place(p, f"{tag}体育场地", "体育场地")
        if not in_new_district(u, v):
            place(p, f"{tag}社区卫生服务站", "社区卫生服务站")
            place(p, f"{tag}{'日间照料中心' if (i + j) % 3 else '托老所'}",
                  "日间照料中心" if (i + j) % 3 else "托老所", 10 * int(rng.integers(2, 5)))


_AREAS = {  # core-frame (u0, v0, u1, v1) of each named gap area
    NEW_DISTRICT: (-CORE_W / 2, -CORE_H / 2, -1000.0, -600.0),
    OLD_TOWN_NORTH: (-CORE_W / 2, 1300.0, -1200.0, CORE_H / 2),
    NANMEN_EAST: (1400.0, -CORE_H / 2, CORE_W / 2, -300.0),
}
_MISSING = {"gb50180_5min": ["community_health_station", "elderly_day_care"], "gb50180_10min": ["food_market"],
            "gb50180_15min": ["junior_middle_school"], "elderly_15min": ["elderly_care_centre", "elderly_day_care"]}


def designed_gaps(fr) -> dict:
    """The named urban gaps for ``expected.json``: area outline (lon/lat), township, what is missing."""
    out = {}
    for circle, (area, town, what) in URBAN_GAPS.items():
        u0, v0, u1, v1 = _AREAS[area]
        ring = np.array([core_xy(u, v) for u, v in ((u0, v0), (u1, v0), (u1, v1), (u0, v1))])
        lon, lat = fr.to_lonlat(ring[:, 0], ring[:, 1])
        out[circle] = {"area": area, "township": town, "missing": _MISSING[circle], "what": what,
                       "area_lonlat": [[round(float(a), 7), round(float(b), 7)] for a, b in zip(lon, lat)]}
    return out
