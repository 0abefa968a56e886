"""A planner's facility list for the synthetic county: Chinese names, raw categories, capacities."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import Point

from access.demo.synth.frame import (CORE, CORE_H, CORE_ROT, CORE_W, ISLAND, MOUNTAIN_NO_HEALTH, NO_CENTRAL_KG,
                                     NO_ELDERLY_POINTS, THC_BEDS, TOWNSHIPS, rot)
from access.demo.synth.urban import urban_services

# Raw (planner's list) category -> canonical key, every synonym used below.
RAW_CATEGORIES = {
    "社区卫生服务中心": "community_health_centre",
    "社区卫生服务站": "community_health_station",
    "乡镇卫生院": "township_health_centre",
    "中心卫生院": "township_health_centre",
    "村卫生室": "village_clinic",
    "医院": "hospital",
    "人民医院": "hospital",
    "中医院": "hospital",
    "综合医院": "hospital",
    "诊所": "clinic",
    "门诊部": "clinic",
    "幼儿园": "kindergarten",
    "中心幼儿园": "central_kindergarten",
    "小学": "primary_school",
    "初中": "junior_middle_school",
    "初级中学": "junior_middle_school",
    "养老服务中心": "elderly_care_centre",
    "敬老院": "elderly_care_centre",
    "养老院": "elderly_care_centre",
    "日间照料中心": "elderly_day_care",
    "托老所": "elderly_day_care",
    "文化站": "cultural_station",
    "综合文化站": "cultural_station",
    "文化活动中心": "cultural_station",
    "体育场地": "sports_ground",
    "体育场": "sports_ground",
    "运动场": "sports_ground",
    "菜市场": "food_market",
    "农贸市场": "food_market",
}
PRIMARY_CARE = ("township_health_centre", "community_health_centre", "hospital")

# Highway classes facilities may sit beside.
PLACEABLE = {"trunk", "primary", "secondary", "tertiary", "unclassified", "residential", "service"}



V1 = list("上下前后东西南北新旧大小高低长")
V2 = ["洋", "坑", "坂", "厝", "埔", "墩", "岭", "头", "尾", "口", "溪", "山", "林", "塘", "田", "湾", "厝", "岐",
       "垄", "园"]
V0 = list("林陈黄张吴郑王李刘杨蔡许何")


def village_names(rng, n):
    pool = [a + b + "村" for a in V1 for b in V2] + [a + b + "村" for a in V0 for b in ("厝", "坑", "洋", "坂")]
    pool = sorted(set(pool))
    idx = rng.permutation(len(pool))[:n]
    return [pool[i] for i in idx]


COMMUNITIES = ["南街", "北门", "西门", "东街", "府前", "解放", "建设", "新华", "文昌", "凤凰", "龙津", "水南",
                "沙堤", "塔山", "锦江", "桥南", "青年", "学府", "鼓楼", "梅溪", "金山", "翠屏", "湖滨", "玉泉"]


def facilities(rng, net, fr, town_ll, seats, core, seat_grid, isl, villages, vnames, mountain):
    """A planner's facility list: Chinese names, raw categories, capacities, near roads."""
    xy = np.asarray(net.xy)
    segs = []
    for w in net.ways:
        if w.tags["highway"] in PLACEABLE and not w.exempt:
            segs += list(zip(w.nodes[:-1], w.nodes[1:]))
    S = np.asarray(segs)
    lines = shapely.linestrings(np.stack([xy[S[:, 0]], xy[S[:, 1]]], axis=1))
    tree = shapely.STRtree(lines)
    names_t = [n for n, _, _, _ in TOWNSHIPS]
    polys = [town_ll[n] for n in names_t]
    for p in polys:
        shapely.prepare(p)

    rows: list[dict] = []
    used_names: set[str] = set()

    def township_of(x, y):
        lo, la = fr.to_lonlat(x, y)
        for n, p in zip(names_t, polys):
            if shapely.contains_xy(p, float(lo), float(la)):
                return n
        return None

    def place(p, name, cat, cap=None, avoid=None):
        """Put a facility 10-35 m beside the road nearest to ``p``."""
        p = np.asarray(p, float)
        k = int(tree.nearest(Point(p)))
        a, b = xy[S[k, 0]], xy[S[k, 1]]
        d = b - a
        t = float(np.clip(((p - a) @ d) / (d @ d), 0.15, 0.85))
        q = a + t * d
        nrm = np.array([-d[1], d[0]]) / np.hypot(*d)
        side = 1.0 if (p - q) @ nrm >= 0 else -1.0
        q = q + side * rng.uniform(10.0, 35.0) * nrm
        town = township_of(*q)
        if town is None or (avoid and town in avoid):
            return None
        nm = name(town) if callable(name) else name
        base, k2 = nm, 2
        while nm in used_names:
            nm = f"{base}{k2}分部"
            k2 += 1
        used_names.add(nm)
        lo, la = fr.to_lonlat(*q)
        rows.append({"name": nm, "category": cat, "capacity": "" if cap is None else str(int(cap)),
                     "lon": f"{float(lo):.6f}", "lat": f"{float(la):.6f}", "township": town})
        return nm

    # --- urban core
    def core_pt():
        u = rng.uniform(-CORE_W / 2 + 100, CORE_W / 2 - 100)
        v = rng.uniform(-CORE_H / 2 + 100, CORE_H / 2 - 100)
        x, y = rot(u, v, CORE_ROT)
        return np.array([x + CORE[0], y + CORE[1]])

    comm = list(COMMUNITIES)
    rng.shuffle(comm)
    place(np.array(CORE) + [150, 120], "示范县人民医院", "人民医院", 600)
    place(core_pt(), "示范县中医院", "中医院", 300)
    place(core_pt(), "示范县妇幼保健院", "医院", 120)
    place(core_pt(), "示范县仁爱医院", "综合医院", 150)
    for n in (n for n, _, _, k in TOWNSHIPS if k == "urban"):
        place(seats[n] + rng.uniform(-300, 300, 2), f"{n}文化站", "文化站")
    for k in range(16):
        place(core_pt(), f"{rng.choice(V0)}{['氏', '济', '仁', '康'][k % 4]}诊所" if k % 3 else f"{comm[k]}口腔门诊部",
              "诊所" if k % 3 else "门诊部")
    urban_services(place, rng, comm)

    # --- township seats
    rural = [n for n, _, _, k in TOWNSHIPS if k != "urban"]
    for n in rural:
        c = seats[n]
        short = n[:-1]

        def near():
            return c + rng.uniform(-320, 320, 2)

        if n not in (MOUNTAIN_NO_HEALTH, ISLAND):
            if n == "龙潭镇":
                place(near(), "龙潭中心卫生院", "中心卫生院", THC_BEDS[n])
            else:
                place(near(), f"{n}卫生院", "乡镇卫生院", THC_BEDS[n])
        if n != NO_CENTRAL_KG:
            place(near(), f"{n}中心幼儿园", "中心幼儿园", 90 * rng.integers(2, 5))
        else:
            place(near(), f"{short}育苗幼儿园", "幼儿园", 90)
        place(near(), f"{short}中心小学", "小学", 45 * rng.integers(6, 20))
        if n != ISLAND:
            place(near(), f"{short}中学", "初中", 50 * rng.integers(8, 20))
            place(near(), f"{n}敬老院" if n not in ("龙潭镇", "青山镇") else f"{n}养老服务中心",
                  "敬老院" if n not in ("龙潭镇", "青山镇") else "养老服务中心", 10 * rng.integers(3, 9))
            place(near(), f"{short}农贸市场", "农贸市场")
            if n != MOUNTAIN_NO_HEALTH:
                place(near(), f"{short}{rng.choice(V0)}氏诊所", "诊所")
        place(near(), f"{n}综合文化站", "综合文化站")
        if n in ("龙潭镇", "青山镇", "白沙镇", "梅林镇", "洋头镇", "桃源镇"):
            place(near(), f"{short}体育场地", "体育场地")
            place(near(), f"{short}日间照料中心", "日间照料中心", 30)

    # --- villages
    for (p, vn, mids), vname in zip(villages, vnames):
        c = np.asarray(net.xy[vn])
        m = float(mountain(*c))
        r = rng.uniform()
        if r < 0.68:
            place(c + rng.uniform(-80, 80, 2), f"{vname}卫生室", "村卫生室")
        r = rng.uniform()
        if r < 0.13 * (1 - m) + 0.02:
            place(c + rng.uniform(-100, 100, 2), f"{vname[:-1]}小学", "小学", 30 * rng.integers(2, 7))
        r = rng.uniform()
        if r < 0.07:
            place(c + rng.uniform(-100, 100, 2), f"{vname[:-1]}幼儿园", "幼儿园", 60)
        r = rng.uniform()
        if r < 0.45 * (1 - m) + 0.05 and township_of(*c) not in NO_ELDERLY_POINTS:
            place(c + rng.uniform(-100, 100, 2), f"{vname}居家养老服务站", "日间照料中心", 20)
    # ids in file order
    for k, r in enumerate(rows):
        r["id"] = f"F{k + 1:04d}"
    return rows
