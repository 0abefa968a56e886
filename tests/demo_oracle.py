"""An independent reading of the demo county: networkx shortest paths from the raw files.

Nothing here imports the project's network, routing or coverage code. The PBF
is read with osmium, the rasters with rasterio, the facility list with the
csv module; travel is a plain networkx Dijkstra over the ways (walking 4.5
km/h on every class but motorways, driving by class speed and ``maxspeed``
with one-way streets). A cell or facility joins the network at the nearest
point of the nearest road segment, walking the straight line there at 4.5
km/h, and reaches both ends of that segment (one-way rules and trip penalties
are ignored on that first and last piece). The project's snapping differs in
such details, so shares here agree with the pipeline's to within a few
percentage points, not exactly; tests compare with margins.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx
import numpy as np
import osmium
import rasterio
import shapely
from pyproj import Transformer

UTM = "EPSG:32650"
WALK_MS = 4.5 / 3.6
NOT_WALKABLE = {"motorway", "motorway_link"}
DRIVE_KMH = {"motorway": 100, "motorway_link": 50, "trunk": 70, "primary": 60, "secondary": 40,
             "tertiary": 30, "unclassified": 20, "residential": 20, "service": 15, "track": 15}
RAW = {
    "社区卫生服务中心": "community_health_centre", "社区卫生服务站": "community_health_station",
    "乡镇卫生院": "township_health_centre", "中心卫生院": "township_health_centre",
    "村卫生室": "village_clinic", "医院": "hospital", "人民医院": "hospital", "中医院": "hospital",
    "综合医院": "hospital", "诊所": "clinic", "门诊部": "clinic", "幼儿园": "kindergarten",
    "中心幼儿园": "central_kindergarten", "小学": "primary_school", "初中": "junior_middle_school",
    "初级中学": "junior_middle_school", "养老服务中心": "elderly_care_centre", "敬老院": "elderly_care_centre",
    "养老院": "elderly_care_centre", "日间照料中心": "elderly_day_care", "托老所": "elderly_day_care",
    "文化站": "cultural_station", "综合文化站": "cultural_station", "文化活动中心": "cultural_station",
    "体育场地": "sports_ground", "体育场": "sports_ground", "运动场": "sports_ground",
    "菜市场": "food_market", "农贸市场": "food_market",
}
# The circles as the standards' texts give them (hand-written here, not imported):
# (mode, limit in seconds, {service: categories}, scope)
_KG = ("kindergarten", "central_kindergarten")
CIRCLES = {
    "gb50180_15min": ("walk", 1000 / WALK_MS, {
        "jms": ("junior_middle_school",), "chc": ("community_health_centre",),
        "elderly": ("elderly_care_centre",), "culture": ("cultural_station",), "sports": ("sports_ground",)},
        "urban"),
    "gb50180_10min": ("walk", 500 / WALK_MS, {
        "primary": ("primary_school",), "sports": ("sports_ground",), "market": ("food_market",)}, "urban"),
    "gb50180_5min": ("walk", 300 / WALK_MS, {
        "kg": _KG, "station": ("community_health_station", "community_health_centre"),
        "day_care": ("elderly_day_care",), "sports": ("sports_ground",)}, "urban"),
    "elderly_15min": ("walk", 900.0, {"elderly": ("elderly_care_centre", "elderly_day_care")}, "urban"),
    "fujian_30min_medical": ("drive", 1800.0, {
        "primary_care": ("township_health_centre", "community_health_centre", "hospital")}, "all"),
    "tdt1062_township": ("drive", 1800.0, {
        "jms": ("junior_middle_school",), "primary": ("primary_school",), "ckg": ("central_kindergarten",),
        "thc": ("township_health_centre",), "elderly": ("elderly_care_centre",),
        "culture": ("cultural_station",)}, "rural"),
    "tdt1062_village": ("walk", 900.0, {
        "clinic": ("village_clinic", "township_health_centre"),
        "elderly": ("elderly_day_care", "elderly_care_centre")}, "rural"),
}


@dataclass
class County:
    """Cells, facilities and graphs of one demo folder, in UTM metres."""

    cell_xy: np.ndarray
    cell_pop: np.ndarray
    cell_town: np.ndarray
    urban_towns: set
    fac: list[dict]
    fac_xy: np.ndarray
    graphs: dict
    node_xy: dict
    bands: dict
    cache: dict = field(default_factory=dict)


def _utm(lonlat):
    t = Transformer.from_crs("EPSG:4326", UTM, always_xy=True)
    a = np.asarray(lonlat, float)
    x, y = t.transform(a[:, 0], a[:, 1])
    return np.column_stack([x, y])


def load(folder: Path) -> County:
    import geopandas as gpd

    folder = Path(folder)
    nodes, ways = {}, []
    for o in osmium.FileProcessor(str(folder / "roads.osm.pbf")):
        if o.is_node():
            nodes[o.id] = (o.location.lon, o.location.lat)
        elif o.is_way():
            ways.append(([n.ref for n in o.nodes], dict(o.tags)))
    ids = np.fromiter(nodes, np.int64)
    xy = _utm([nodes[i] for i in ids])
    pos = dict(zip(ids.tolist(), map(tuple, xy)))
    walk, drive = nx.Graph(), nx.DiGraph()
    for ns, t in ways:
        h = t["highway"]
        for a, b in zip(ns[:-1], ns[1:]):
            d = float(np.hypot(pos[a][0] - pos[b][0], pos[a][1] - pos[b][1]))
            if h not in NOT_WALKABLE:
                walk.add_edge(a, b, t=d / WALK_MS)
            if h in DRIVE_KMH:
                s = d / (float(t.get("maxspeed", DRIVE_KMH[h])) / 3.6)
                drive.add_edge(a, b, t=s)
                if t.get("oneway") != "yes":
                    drive.add_edge(b, a, t=s)
    with rasterio.open(folder / "population.tif") as r:
        a = r.read(1).astype(np.float64)
        rows, cols = np.nonzero((a != r.nodata) & (a > 0))
        lon, lat = rasterio.transform.xy(r.transform, rows, cols)
        pop = a[rows, cols]
    bands = {}
    for p in sorted((folder / "age").glob("*.tif")):
        with rasterio.open(p) as r:
            bands[p.stem] = r.read(1).astype(np.float64)[rows, cols]
    towns = gpd.read_file(folder / "townships.geojson")
    town = np.full(len(pop), "", dtype=object)
    for name, g in zip(towns["name"], towns.geometry):
        town[shapely.contains_xy(g, np.asarray(lon), np.asarray(lat))] = name
    with open(folder / "facilities.csv", encoding="utf-8-sig", newline="") as f:
        fac = list(csv.DictReader(f))
    fxy = _utm([(float(f["lon"]), float(f["lat"])) for f in fac])
    return County(_utm(np.column_stack([lon, lat])), pop, town, set(towns.loc[towns["urban"], "name"]),
                  fac, fxy, {"walk": walk, "drive": drive}, pos, bands)


def _prepared(c: County, mode: str):
    """Graph searched from the facilities (reversed for driving), its segments and the cells' links, cached."""
    key = ("_prep", mode)
    if key not in c.cache:
        g = c.graphs[mode]
        g = g.reverse(copy=True) if g.is_directed() else g.copy()
        seg = np.array([(a, b) for a, b in g.edges if a != b], dtype=np.int64)
        xy = np.array([[c.node_xy[a], c.node_xy[b]] for a, b in seg])
        secs = np.array([g[a][b]["t"] for a, b in seg])
        tree = shapely.STRtree(shapely.linestrings(xy))
        c.cache[key] = (g, seg, xy, secs, tree)
        c.cache[key] += (_links(c.cache[key], c.cell_xy),)
    return c.cache[key]


def _links(prep, pts: np.ndarray):
    """Each point's nearest segment: both end nodes and the seconds to reach each.

    The straight access leg is walked at 4.5 km/h; the part along the
    segment takes its share of the segment's time.
    """
    g, seg, xy, secs, tree = prep[:5]
    k = tree.query_nearest(shapely.points(pts), all_matches=False)[1]
    a, b = xy[k, 0], xy[k, 1]
    d = b - a
    L2 = np.maximum((d ** 2).sum(1), 1e-12)
    f = np.clip(((pts - a) * d).sum(1) / L2, 0.0, 1.0)
    q = a + f[:, None] * d
    access = np.hypot(*(pts - q).T) / WALK_MS
    return seg[k, 0], access + f * secs[k], seg[k, 1], access + (1 - f) * secs[k]


def times(c: County, mode: str, categories, limit_s: float, only=None) -> np.ndarray:
    """Seconds from every cell to the nearest facility of ``categories`` (inf beyond ``limit_s``).

    ``only`` instead names facility rows (indices into ``c.fac``).
    """
    sel = list(only) if only is not None else [i for i, f in enumerate(c.fac) if RAW[f["category"]] in categories]
    out = np.full(len(c.cell_pop), np.inf)
    if not sel:
        return out
    prep = _prepared(c, mode)
    g = prep[0]
    na, sa, nb, sb = _links(prep, c.fac_xy[sel])
    src = "src"  # a virtual source joined to both ends of each facility's segment
    for n, s in zip(np.r_[na, nb].tolist(), np.r_[sa, sb].tolist()):
        if not g.has_edge(src, n) or g[src][n]["t"] > s:
            g.add_edge(src, n, t=s)
    try:
        dist = nx.single_source_dijkstra_path_length(g, src, cutoff=limit_s, weight="t")
    finally:
        g.remove_node(src)
    ca, cas, cb, cbs = prep[5]
    ta = np.array([dist.get(n, np.inf) for n in ca.tolist()]) + cas
    tb = np.array([dist.get(n, np.inf) for n in cb.tolist()]) + cbs
    t = np.minimum(ta, tb)
    out[t <= limit_s] = t[t <= limit_s]
    return out


def circle(c: County, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(inside, in_scope) boolean per cell for one circle of :data:`CIRCLES`."""
    mode, limit, req, scope = CIRCLES[name]
    inside = np.ones(len(c.cell_pop), bool)
    for cats in req.values():
        inside &= np.isfinite(times(c, mode, cats, limit))
    urban = np.isin(c.cell_town, list(c.urban_towns))
    in_scope = urban if scope == "urban" else (~urban if scope == "rural" else np.ones_like(urban))
    return inside, in_scope


def shares(c: County, name: str) -> dict[str, float]:
    """Share of the scope's persons inside the circle: per township and ``"county"``."""
    inside, scope = circle(c, name)
    out = {}
    for t in sorted(set(c.cell_town[scope])):
        m = scope & (c.cell_town == t)
        out[t] = float(c.cell_pop[m & inside].sum() / c.cell_pop[m].sum())
    out["county"] = float(c.cell_pop[scope & inside].sum() / c.cell_pop[scope].sum())
    return out
