"""Road network sources: OSM PBF/XML, osmnx GraphML/graphs, vector line layers.

Every reader returns one :class:`Edges` table in WGS84 lon/lat: one row per
road piece between two intersections (degree-2 nodes collapsed), with its
full polyline kept so that snapping onto a curved road stays accurate.
Travel modes are applied later (:func:`access.network.build.build_graph`), so
one file read serves walk, bike and drive graphs.

Two guarantees make downstream code simpler: no edge is a self-loop and no
two edges join the same pair of nodes (such edges are split at a middle vertex,
which changes no length), so an edge is identified by its end nodes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from access.accounting import Account
from access.errors import InputError

# Mean earth radius used by osmnx's great-circle lengths (metres), so that our
# lengths and osmnx's agree to the millimetre.
EARTH_RADIUS_M = 6_371_009.0

# highway values that are not roads (yet, any more, or at all).
NOT_ROADS = frozenset({
    "proposed", "construction", "platform", "abandoned", "disused", "razed",
    "planned", "no", "bus_stop", "elevator", "rest_area", "services",
    "emergency_bay", "bus_guideway", "raceway", "corridor", "escape", "turning_circle",
})

# Importance order used when a source gives several highway values for an edge.
HIGHWAY_RANK = [
    "motorway", "trunk", "primary", "secondary", "tertiary", "motorway_link",
    "trunk_link", "primary_link", "secondary_link", "tertiary_link",
    "unclassified", "residential", "living_street", "road", "service", "track",
    "cycleway", "pedestrian", "footway", "path", "bridleway", "steps",
]

EDGE_COLUMNS = ["u", "v", "highway", "oneway", "junction", "maxspeed", "length_m", "way_id", "name"]


@dataclass
class Edges:
    """A road network as an undirected edge table with polylines.

    Attributes
    ----------
    nodes : DataFrame
        ``node_id`` (int64, sorted; OSM id, or negative for nodes this package
        added), ``lon``, ``lat`` (degrees, WGS84).
    edges : DataFrame
        One row per edge: ``u``, ``v`` (node ids; the polyline runs u -> v),
        ``highway`` (str), ``oneway`` (``"yes"``, ``"-1"`` or ``"no"``),
        ``junction`` (str, ``""`` if none), ``maxspeed`` (km/h, NaN if
        unknown), ``length_m`` (metres along the polyline), ``way_id`` (int64,
        -1 if unknown), ``name`` (str).
    coords : ndarray of float64, shape (k, 2)
        Polyline vertices (lon, lat) of all edges, edge after edge.
    offsets : ndarray of int64, shape (n_edges + 1,)
        Edge ``i`` has vertices ``coords[offsets[i]:offsets[i + 1]]`` (>= 2).
    account : Account
        Ways read, kept and dropped with reasons.
    """

    nodes: pd.DataFrame
    edges: pd.DataFrame
    coords: np.ndarray
    offsets: np.ndarray
    account: Account = field(default_factory=lambda: Account("network"))
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.edges)

    @property
    def u_idx(self) -> np.ndarray:
        """Row in ``nodes`` of each edge's ``u`` (int64)."""
        if "u_idx" not in self._cache:
            self._cache["u_idx"] = np.searchsorted(self.nodes["node_id"].to_numpy(), self.edges["u"].to_numpy())
        return self._cache["u_idx"]

    @property
    def v_idx(self) -> np.ndarray:
        """Row in ``nodes`` of each edge's ``v`` (int64)."""
        if "v_idx" not in self._cache:
            self._cache["v_idx"] = np.searchsorted(self.nodes["node_id"].to_numpy(), self.edges["v"].to_numpy())
        return self._cache["v_idx"]

    def projected(self, crs) -> tuple[np.ndarray, np.ndarray]:
        """Node and vertex coordinates in ``crs`` (metres), computed once per CRS.

        Returns
        -------
        node_xy : ndarray (n_nodes, 2)
        coords_xy : ndarray (k, 2)
        """
        from pyproj import CRS, Transformer

        crs = CRS.from_user_input(crs)
        key = ("proj", crs.to_wkt())
        if key not in self._cache:
            tr = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
            nx_, ny_ = tr.transform(self.nodes["lon"].to_numpy(), self.nodes["lat"].to_numpy())
            cx, cy = tr.transform(self.coords[:, 0], self.coords[:, 1])
            self._cache[key] = (np.column_stack([nx_, ny_]), np.column_stack([cx, cy]))
        return self._cache[key]

    def subset(self, keep: np.ndarray) -> "Edges":
        """The edges where ``keep`` is true, with only the nodes they use.

        Parameters
        ----------
        keep : ndarray of bool, shape (n_edges,)
        """
        keep = np.asarray(keep, bool)
        rows = np.flatnonzero(keep)
        n_vert = np.diff(self.offsets)[rows]
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(n_vert, out=offsets[1:])
        starts = self.offsets[rows]
        vert = np.repeat(starts - offsets[:-1], n_vert) + np.arange(offsets[-1])
        edges = self.edges.iloc[rows].reset_index(drop=True)
        used = np.union1d(edges["u"].to_numpy(), edges["v"].to_numpy())
        nodes = self.nodes[self.nodes["node_id"].isin(used)].reset_index(drop=True)
        return Edges(nodes=nodes, edges=edges, coords=self.coords[vert], offsets=offsets,
                     account=self.account)

    def bounds(self, crs) -> np.ndarray:
        """Per-edge bounding boxes (xmin, ymin, xmax, ymax) in ``crs``, metres, shape (n_edges, 4)."""
        _, xy = self.projected(crs)
        if not len(self.edges):
            return np.empty((0, 4))
        start = self.offsets[:-1]  # every edge has >= 2 vertices: no empty runs
        return np.column_stack([np.minimum.reduceat(xy, start, axis=0), np.maximum.reduceat(xy, start, axis=0)])

    def lines(self, crs) -> np.ndarray:
        """Edge polylines in ``crs`` (metres) as an array of LineStrings, by edge row."""
        import shapely

        key = ("lines", str(crs))
        if key not in self._cache:
            _, xy = self.projected(crs)
            idx = np.repeat(np.arange(len(self.edges)), np.diff(self.offsets))
            self._cache[key] = shapely.linestrings(xy, indices=idx) if len(idx) else np.empty(0, object)
        return self._cache[key]

    def geometry(self):
        """Edge polylines as a GeoSeries of LineStrings (EPSG:4326)."""
        import geopandas as gpd
        import shapely

        idx = np.repeat(np.arange(len(self.edges)), np.diff(self.offsets))
        lines = shapely.linestrings(self.coords, indices=idx) if len(idx) else []
        return gpd.GeoSeries(lines, index=self.edges.index, crs="EPSG:4326")

    def to_geodataframe(self):
        """The edge table with a LineString ``geometry`` column (EPSG:4326)."""
        import geopandas as gpd

        return gpd.GeoDataFrame(self.edges.copy(), geometry=self.geometry(), crs="EPSG:4326")


# --------------------------------------------------------------------------
# Tag parsing
# --------------------------------------------------------------------------
_SPEED_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(km/h|kmh|kph|mph|knots)?\s*$", re.I)
_UNIT = {None: 1.0, "km/h": 1.0, "kmh": 1.0, "kph": 1.0, "mph": 1.609344, "knots": 1.852}


def parse_maxspeed(value) -> float:
    """OSM ``maxspeed`` -> km/h, NaN when unknown or symbolic.

    ``"60"`` -> 60, ``"60 mph"`` -> 96.56, ``"50;60"`` -> 55 (mean of the
    values, as osmnx does), ``"CN:urban"``, ``"none"``, ``"signals"`` -> NaN.
    """
    if value is None:
        return math.nan
    if isinstance(value, (list, tuple)):
        vals = [parse_maxspeed(v) for v in value]
        vals = [v for v in vals if not math.isnan(v)]
        return float(np.mean(vals)) if vals else math.nan
    if isinstance(value, (int, float, np.integer, np.floating)):
        v = float(value)
        return v if v > 0 else math.nan  # Geofabrik uses 0 for "unknown"
    text = str(value).strip()
    if text.startswith("[") and text.endswith("]"):  # a list stringified in GraphML
        parts = re.findall(r"'([^']*)'|\"([^\"]*)\"", text)
        return parse_maxspeed([a or b for a, b in parts])
    vals = []
    for part in re.split(r"[;|]", text):
        m = _SPEED_RE.match(part)
        if not m:
            continue
        unit = m.group(2).lower() if m.group(2) else None
        vals.append(float(m.group(1)) * _UNIT[unit])
    vals = [v for v in vals if v > 0]
    return float(np.mean(vals)) if vals else math.nan


def normalise_oneway(value) -> str:
    """OSM/osmnx/Geofabrik ``oneway`` -> ``"yes"``, ``"-1"`` or ``"no"``.

    Geofabrik shapefiles use ``F`` (forward only), ``T`` (backward only) and
    ``B`` (both). ``reversible``/``alternating`` ways count as two-way.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "no"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    text = str(value).strip().lower()
    if text in ("yes", "true", "1", "f"):
        return "yes"
    if text in ("-1", "reverse", "t"):
        return "-1"
    return "no"


def first_highway(value) -> str:
    """A single ``highway`` class from a value that may be a list (osmnx).

    The most important class of the list wins (motorway before residential).
    """
    if isinstance(value, str) and value.startswith("[") and value.endswith("]"):
        value = [a or b for a, b in re.findall(r"'([^']*)'|\"([^\"]*)\"", value)]
    if isinstance(value, (list, tuple)):
        vals = [str(v) for v in value]
        ranked = [v for v in HIGHWAY_RANK if v in vals]
        return ranked[0] if ranked else (vals[0] if vals else "")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _fclass_highway(value) -> str:
    """Geofabrik ``fclass`` -> OSM highway (``track_grade3`` -> ``track``)."""
    text = str(value) if value is not None else ""
    if text.startswith("track_grade"):
        return "track"
    return text


# --------------------------------------------------------------------------
# Geometry helpers
# --------------------------------------------------------------------------
def haversine_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Great-circle distance (metres) between lon/lat arrays (degrees)."""
    lon1, lat1, lon2, lat2 = (np.radians(np.asarray(a, dtype=np.float64)) for a in (lon1, lat1, lon2, lat2))
    h = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def _polyline_lengths(coords: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Length (metres) of each polyline ``coords[offsets[i]:offsets[i+1]]``."""
    if len(coords) < 2:
        return np.zeros(len(offsets) - 1)
    seg = haversine_m(coords[:-1, 0], coords[:-1, 1], coords[1:, 0], coords[1:, 1])
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    return cum[offsets[1:] - 1] - cum[offsets[:-1]]


def centre_lonlat(edges: Edges) -> tuple[float, float]:
    """Median node longitude and latitude (degrees), to pick a study CRS."""
    if not len(edges.nodes):
        raise InputError("road network: no usable roads were read; check the network file.")
    return float(edges.nodes["lon"].median()), float(edges.nodes["lat"].median())


# --------------------------------------------------------------------------
# Assembling an Edges table from ways (node id sequences)
# --------------------------------------------------------------------------
def edges_from_ways(
    ids: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    way_ptr: np.ndarray,
    attrs: pd.DataFrame,
    account: Account | None = None,
) -> Edges:
    """Split ways at intersections into edges and collapse degree-2 nodes.

    Parameters
    ----------
    ids, lon, lat : ndarray, shape (k,)
        Node id and position of every way vertex, way after way.
    way_ptr : ndarray of int64, shape (n_ways + 1,)
        Way ``w`` has vertices ``ids[way_ptr[w]:way_ptr[w + 1]]``.
    attrs : DataFrame, n_ways rows
        Per-way columns ``highway, oneway, junction, maxspeed, way_id, name``.
    account : Account, optional
        Updated with ways dropped for being shorter than two distinct nodes.

    Returns
    -------
    Edges
        Ways are split at every node used more than once (by any way, or twice
        by the same way) and at their ends.
    """
    account = account or Account("network")
    ids = np.asarray(ids, dtype=np.int64)
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    way_ptr = np.asarray(way_ptr, dtype=np.int64)
    n_ways = len(way_ptr) - 1
    way_of = np.repeat(np.arange(n_ways), np.diff(way_ptr))
    # Consecutive repeats of a node are zero-length segments: drop them.
    keep = np.ones(len(ids), dtype=bool)
    if len(ids) > 1:
        keep[1:] = ~((ids[1:] == ids[:-1]) & (way_of[1:] == way_of[:-1]))
    ids, lon, lat, way_of = ids[keep], lon[keep], lat[keep], way_of[keep]
    counts = np.bincount(way_of, minlength=n_ways)
    short = counts < 2
    if short.any():
        account.notes.append(f"{int(short.sum())} way pieces with fewer than two distinct nodes skipped")
        v = ~short[way_of]
        ids, lon, lat, way_of = ids[v], lon[v], lat[v], way_of[v]
    k = len(ids)
    if k == 0:
        return _empty_edges(account)
    first = np.ones(k, dtype=bool)
    first[1:] = way_of[1:] != way_of[:-1]
    last = np.ones(k, dtype=bool)
    last[:-1] = way_of[1:] != way_of[:-1]
    _, inv, cnt = np.unique(ids, return_inverse=True, return_counts=True)
    split = first | last | (cnt[inv] >= 2)
    pos = np.flatnonzero(split)
    same_way = way_of[pos[:-1]] == way_of[pos[1:]]
    start, end = pos[:-1][same_way], pos[1:][same_way]
    nv = end - start + 1
    offsets = np.concatenate([[0], np.cumsum(nv)]).astype(np.int64)
    vidx = np.arange(offsets[-1]) - np.repeat(offsets[:-1] - start, nv)
    coords = np.column_stack([lon[vidx], lat[vidx]])
    wrow = way_of[start]
    table = attrs.iloc[wrow].reset_index(drop=True)
    table.insert(0, "u", ids[start])
    table.insert(1, "v", ids[end])
    node_ids, first_at = np.unique(ids, return_index=True)
    nodes = pd.DataFrame({"node_id": node_ids, "lon": lon[first_at], "lat": lat[first_at]})
    nodes = nodes[np.isin(node_ids, np.concatenate([ids[start], ids[end]]))].reset_index(drop=True)
    table["length_m"] = _polyline_lengths(coords, offsets)
    e = Edges(nodes=nodes, edges=table[EDGE_COLUMNS], coords=coords, offsets=offsets, account=account)
    return split_loops_and_parallels(e)


def split_loops_and_parallels(e: Edges) -> Edges:
    """Split self-loops and parallel edges at a middle vertex.

    Afterwards every edge joins two distinct nodes and no two edges join the
    same pair, so routing can identify an edge by its ends. Lengths are split
    in proportion to the great-circle lengths of the two halves (their sum is
    the original ``length_m``). A straight parallel edge gets a new vertex at
    its midpoint; a zero-length self-loop is dropped. New nodes get negative
    ids.
    """
    t = e.edges
    u, v = t["u"].to_numpy(), t["v"].to_numpy()
    a, b = np.minimum(u, v), np.maximum(u, v)
    pair = pd.DataFrame({"a": a, "b": b})
    dup = pair.duplicated(keep=False).to_numpy()
    # keep one edge of each parallel group whole (the first)
    first_of_group = ~pair.duplicated(keep="first").to_numpy()
    need = (u == v) | (dup & ~first_of_group)
    if not need.any():
        return e
    nv = np.diff(e.offsets)
    loop0 = (u == v) & (nv <= 2)
    if loop0.any():
        e.account.drop("self-loop edge without interior vertices", int(loop0.sum()))
    need &= ~loop0
    rows = np.flatnonzero(need)
    coords_parts, tab_parts, new_nodes = [], [], []
    next_id = min(int(e.nodes["node_id"].min()) if len(e.nodes) else 0, 0) - 1
    keep_rows = np.flatnonzero(~need & ~loop0)
    for r in rows:  # few edges: a loop keeps the code plain
        c = e.coords[e.offsets[r]:e.offsets[r + 1]]
        if len(c) == 2:
            c = np.vstack([c[0], (c[0] + c[1]) / 2, c[1]])
        m = len(c) // 2
        h1, h2 = c[: m + 1], c[m:]
        l1 = float(haversine_m(h1[:-1, 0], h1[:-1, 1], h1[1:, 0], h1[1:, 1]).sum())
        l2 = float(haversine_m(h2[:-1, 0], h2[:-1, 1], h2[1:, 0], h2[1:, 1]).sum())
        total = float(t["length_m"].iat[r])
        f = l1 / (l1 + l2) if (l1 + l2) > 0 else 0.5
        mid_id = next_id
        next_id -= 1
        new_nodes.append((mid_id, c[m, 0], c[m, 1]))
        row = t.iloc[[r, r]].copy()
        row["v"] = [mid_id, row["v"].iat[1]]
        row["u"] = [row["u"].iat[0], mid_id]
        row["length_m"] = [total * f, total - total * f]
        tab_parts.append(row)
        coords_parts.extend([h1, h2])
    table = pd.concat([t.iloc[keep_rows]] + tab_parts, ignore_index=True)
    nv_keep = nv[keep_rows]
    kept_coords = e.coords[np.repeat(e.offsets[keep_rows], nv_keep)
                           + np.arange(nv_keep.sum()) - np.repeat(np.cumsum(nv_keep) - nv_keep, nv_keep)]
    coords = np.vstack([kept_coords] + coords_parts) if coords_parts else kept_coords
    lens = np.concatenate([nv_keep, [len(c) for c in coords_parts]]).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    nodes = pd.concat([e.nodes, pd.DataFrame(new_nodes, columns=["node_id", "lon", "lat"])], ignore_index=True)
    nodes = nodes.sort_values("node_id", kind="stable").reset_index(drop=True)
    nodes["node_id"] = nodes["node_id"].astype(np.int64)
    e.account.notes.append(f"{len(rows)} self-loop or parallel edges split at a middle vertex")
    return Edges(nodes=nodes, edges=table, coords=coords, offsets=offsets, account=e.account)


def _empty_edges(account: Account) -> Edges:
    nodes = pd.DataFrame({"node_id": np.zeros(0, np.int64), "lon": np.zeros(0), "lat": np.zeros(0)})
    edges = pd.DataFrame({c: pd.Series(dtype=d) for c, d in zip(
        EDGE_COLUMNS, [np.int64, np.int64, object, object, object, np.float64, np.float64, np.int64, object])})
    return Edges(nodes, edges, np.zeros((0, 2)), np.zeros(1, np.int64), account)


# --------------------------------------------------------------------------
# OSM PBF / XML via pyosmium
# --------------------------------------------------------------------------
def _close_run(ids, lons, lats, ptr, rows, attr, n_run) -> int:
    """End a run of located way nodes: keep it if it has two distinct nodes."""
    if n_run >= 2 and len(set(ids[-n_run:])) >= 2:
        ptr.append(len(ids))
        rows.append(attr)
        return 1
    del ids[-n_run:], lons[-n_run:], lats[-n_run:]
    return 0


def read_osm(path: str | Path) -> Edges:
    """Read the ``highway`` ways of an OSM file (.osm.pbf, .osm, .osm.bz2).

    Ways tagged ``area=yes`` or with a non-road highway value (proposed,
    construction, platform, ...) are skipped and counted. Ways leaving the
    extract (nodes without a location) are cut into their located runs.
    """
    import osmium

    path = Path(path)
    acc = Account(str(path))
    ids: list[int] = []
    lons: list[float] = []
    lats: list[float] = []
    ptr = [0]
    rows: list[tuple] = []
    missing = 0
    try:
        fp = (osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
              .with_locations()
              .with_filter(osmium.filter.KeyFilter("highway")))
        for w in fp:
            if not w.is_way():
                continue
            acc.read += 1
            tags = w.tags
            hw = tags.get("highway", "")
            if hw in NOT_ROADS:
                acc.drop(f"highway={hw} is not a road", 1)
                continue
            if tags.get("area", "no") == "yes":
                acc.drop("area=yes (a square, not a road)", 1)
                continue
            attr = (hw, normalise_oneway(tags.get("oneway")), tags.get("junction", ""),
                    parse_maxspeed(tags.get("maxspeed")), w.id, tags.get("name", ""))
            n_run = n_parts = 0
            for nd in w.nodes:
                loc = nd.location
                if not loc.valid():
                    missing += 1
                    if n_run:  # close the current located run
                        n_parts += _close_run(ids, lons, lats, ptr, rows, attr, n_run)
                        n_run = 0
                    continue
                ids.append(nd.ref)
                lons.append(loc.lon)
                lats.append(loc.lat)
                n_run += 1
            if n_run:
                n_parts += _close_run(ids, lons, lats, ptr, rows, attr, n_run)
            if n_parts:
                acc.kept += 1
            else:
                acc.drop("fewer than two located nodes (way outside the extract)", 1)
    except RuntimeError as exc:  # osmium reports unreadable files this way
        raise InputError(f"{path}: cannot read as OSM data ({exc}); give a .osm.pbf, .osm or .osm.bz2 file.") from None
    if missing:
        acc.notes.append(f"{missing} way nodes have no location (outside the extract); ways were cut there")
    attrs = pd.DataFrame(rows, columns=["highway", "oneway", "junction", "maxspeed", "way_id", "name"])
    e = edges_from_ways(np.array(ids, np.int64), np.array(lons), np.array(lats),
                        np.array(ptr, np.int64), attrs, acc)
    return e


# --------------------------------------------------------------------------
# osmnx graphs and GraphML
# --------------------------------------------------------------------------
def from_osmnx(G, source: str = "osmnx graph") -> Edges:
    """Convert an osmnx ``MultiDiGraph`` into an :class:`Edges` table.

    A two-way road appears in osmnx as a pair of opposite edges with the same
    ``osmid`` and ``length``; the pair becomes one row. One-way edges (and
    unpaired ones) become rows with ``oneway="yes"`` in their own direction.
    ``length`` is taken from the graph (metres); edges without ``geometry``
    are straight lines between their nodes. Projected graphs are converted
    back to lon/lat.
    """
    acc = Account(source)
    crs = G.graph.get("crs", "EPSG:4326")
    node_ids = np.fromiter((int(n) for n in G.nodes), dtype=np.int64, count=G.number_of_nodes())
    xs = np.array([float(d["x"]) for _, d in G.nodes(data=True)])
    ys = np.array([float(d["y"]) for _, d in G.nodes(data=True)])
    to_ll = None
    from pyproj import CRS, Transformer

    if not CRS.from_user_input(crs).is_geographic:
        to_ll = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        xs, ys = to_ll.transform(xs, ys)
    pos = {int(n): (x, y) for n, x, y in zip(node_ids, xs, ys)}
    pending: dict[tuple, list[int]] = {}
    out: list[tuple] = []
    geoms: list[np.ndarray] = []
    used = []
    edges = list(G.edges(keys=True, data=True))
    for i, (u, v, _k, d) in enumerate(edges):
        acc.read += 1
        osmid = d.get("osmid", -1)
        if isinstance(osmid, list):
            osmid = osmid[0]
        length = float(d.get("length", math.nan))
        ow = d.get("oneway", False)
        if isinstance(ow, str):
            ow = ow.strip().lower() in ("true", "yes", "1")
        key_rev = (int(v), int(u), str(osmid), round(length, 3))
        if not ow and key_rev in pending and pending[key_rev]:
            pending[key_rev].pop()  # the twin of an already kept edge
            acc.drop("reverse twin of a two-way edge (merged)", 1)
            continue
        g = d.get("geometry")
        if g is not None:
            if isinstance(g, str):
                import shapely

                g = shapely.from_wkt(g)
            c = np.asarray(g.coords, dtype=np.float64)[:, :2]
            if to_ll is not None:
                cx, cy = to_ll.transform(c[:, 0], c[:, 1])
                c = np.column_stack([cx, cy])
        else:
            c = np.array([pos[int(u)], pos[int(v)]], dtype=np.float64)
        geoms.append(c)
        out.append((int(u), int(v), first_highway(d.get("highway")), "yes" if ow else "no",
                    str(d.get("junction", "") or ""), parse_maxspeed(d.get("maxspeed")), length,
                    int(osmid) if str(osmid).lstrip("-").isdigit() else -1,
                    first_highway(d.get("name", ""))))
        used.append(i)
        if not ow:
            pending.setdefault((int(u), int(v), str(osmid), round(length, 3)), []).append(len(out) - 1)
        acc.kept += 1
    # a two-way edge whose twin never came is usable one way only, as in G
    for rows in pending.values():
        for r in rows:
            out[r] = out[r][:3] + ("yes",) + out[r][4:]
    table = pd.DataFrame(out, columns=EDGE_COLUMNS)
    bad = table["length_m"].isna() | (table["length_m"] < 0)
    if bad.any():
        table.loc[bad, "length_m"] = [
            float(haversine_m(g[:-1, 0], g[:-1, 1], g[1:, 0], g[1:, 1]).sum()) for g, b in zip(geoms, bad) if b
        ]
        acc.notes.append(f"{int(bad.sum())} edges without a length attribute: great-circle length used")
    lens = np.array([len(g) for g in geoms], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    coords = np.vstack(geoms) if geoms else np.zeros((0, 2))
    order = np.argsort(node_ids)
    nodes = pd.DataFrame({"node_id": node_ids[order], "lon": np.asarray(xs)[order], "lat": np.asarray(ys)[order]})
    used_nodes = np.unique(np.concatenate([table["u"].to_numpy(), table["v"].to_numpy()])) if len(table) else []
    nodes = nodes[nodes["node_id"].isin(used_nodes)].reset_index(drop=True)
    return split_loops_and_parallels(Edges(nodes, table, coords, offsets, acc))


def read_graphml(path: str | Path) -> Edges:
    """Read an osmnx GraphML file (``osmnx.save_graphml``)."""
    import osmnx as ox

    path = Path(path)
    try:
        G = ox.load_graphml(path)
    except Exception as exc:  # noqa: BLE001 - any parse failure is a user file problem
        raise InputError(f"{path}: cannot read as osmnx GraphML ({type(exc).__name__}: {exc}); "
                         "save the graph with osmnx.save_graphml.") from None
    return from_osmnx(G, source=str(path))


# --------------------------------------------------------------------------
# Vector line layers
# --------------------------------------------------------------------------
def read_lines(path: str | Path, layer: str | None = None) -> Edges:
    """Read a line layer (.gpkg, .geojson, .shp) with a ``highway`` or ``fclass`` column.

    Lines must already be split at intersections, as OSM-derived exports
    (Geofabrik shapefiles, osmnx ``save_graph_geopackage``) are: lines are
    connected only where their *endpoints* coincide (to 1e-7 degrees, about
    1 cm). Optional columns: ``oneway`` (yes/-1/no or Geofabrik F/T/B),
    ``maxspeed`` (km/h or an OSM value), ``junction``, ``osm_id``/``way_id``,
    ``name``.
    """
    import geopandas as gpd
    import shapely

    path = Path(path)
    try:
        gdf = gpd.read_file(path, layer=layer) if layer else gpd.read_file(path)
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"{path}: cannot read as a vector line layer ({exc}); "
                         "give a .gpkg, .geojson or .shp file.") from None
    cols = {c.lower(): c for c in gdf.columns}
    hcol = cols.get("highway") or cols.get("fclass")
    if hcol is None:
        raise InputError(f"{path}: no 'highway' or 'fclass' column (columns: {list(gdf.columns)}); "
                         "add the OSM highway class of each line.")
    if gdf.crs is None:
        b = gdf.total_bounds
        if len(gdf) and not (-180 <= b[0] <= 180 and -90 <= b[1] <= 90 and -180 <= b[2] <= 180 and -90 <= b[3] <= 90):
            raise InputError(f"{path}: the layer has no CRS and its coordinates are not lon/lat; "
                             "write the file with its CRS (e.g. a .prj for shapefiles).")
    elif not gdf.crs.is_geographic or gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs("EPSG:4326")
    acc = Account(str(path), read=len(gdf))
    gdf = gdf.explode(index_parts=False)
    types = shapely.get_type_id(gdf.geometry.values)
    notline = (types != 1) | gdf.geometry.isna().to_numpy()
    if notline.any():
        acc.notes.append(f"{int(notline.sum())} non-line geometries skipped")
    gdf = gdf[~notline]
    hw = gdf[hcol].map(_fclass_highway).fillna("")
    notroad = hw.isin(NOT_ROADS).to_numpy() | (hw == "").to_numpy()
    gdf, hw = gdf[~notroad], hw[~notroad]
    acc.kept = acc.read
    coords, idx = shapely.get_coordinates(gdf.geometry.values, return_index=True)
    nv = np.bincount(idx, minlength=len(gdf))
    ok = nv >= 2
    if (~ok).any():
        acc.notes.append(f"{int((~ok).sum())} degenerate lines skipped")
    offsets_all = np.concatenate([[0], np.cumsum(nv)])
    sel = np.flatnonzero(ok)
    nvk = nv[sel]
    take = np.repeat(offsets_all[sel], nvk) + np.arange(nvk.sum()) - np.repeat(np.cumsum(nvk) - nvk, nvk)
    coords = coords[take]
    offsets = np.concatenate([[0], np.cumsum(nvk)]).astype(np.int64)
    g = gdf.iloc[sel]
    hw = hw.iloc[sel]
    # node ids by exact endpoint position (rounded to ~1 cm)
    ends = np.vstack([coords[offsets[:-1]], coords[offsets[1:] - 1]])
    key = np.round(ends * 1e7).astype(np.int64)
    uniq, inv = np.unique(key, axis=0, return_inverse=True)
    inv = inv.ravel()
    node_ids = np.arange(1, len(uniq) + 1, dtype=np.int64)
    m = len(g)
    def col(name, default):
        c = cols.get(name)
        return g[c].to_numpy() if c is not None else np.full(m, default, dtype=object)
    way = col("osm_id", None) if "osm_id" in cols else col("way_id", -1)
    table = pd.DataFrame({
        "u": node_ids[inv[:m]], "v": node_ids[inv[m:]],
        "highway": hw.to_numpy().astype(str),
        "oneway": [normalise_oneway(x) for x in col("oneway", None)],
        "junction": [("" if x is None or (isinstance(x, float) and math.isnan(x)) else str(x)) for x in col("junction", "")],
        "maxspeed": [parse_maxspeed(x) for x in col("maxspeed", None)],
        "length_m": 0.0,
        "way_id": pd.to_numeric(pd.Series(way), errors="coerce").fillna(-1).astype(np.int64).to_numpy(),
        "name": [("" if x is None or (isinstance(x, float) and math.isnan(x)) else str(x)) for x in col("name", "")],
    })
    table["length_m"] = _polyline_lengths(coords, offsets)
    first_at = np.unique(inv, return_index=True)[1]
    nodes = pd.DataFrame({"node_id": node_ids, "lon": ends[first_at, 0], "lat": ends[first_at, 1]})
    acc.kept = len(table)
    acc.read = len(table) + int(notroad.sum()) + int((~ok).sum()) + int(notline.sum())
    acc.dropped = {}
    acc.drop("not a road (highway empty or proposed/construction/...)", int(notroad.sum()))
    acc.drop("degenerate line (fewer than two vertices)", int((~ok).sum()))
    acc.drop("not a line geometry", int(notline.sum()))
    acc.notes.append("features counted after splitting multi-part lines")
    return split_loops_and_parallels(Edges(nodes, table, coords, offsets, acc))


# --------------------------------------------------------------------------
# Dispatcher and download
# --------------------------------------------------------------------------
def read_network(path) -> Edges:
    """Read a road network from any supported source.

    Parameters
    ----------
    path : str, Path, or networkx.MultiDiGraph
        ``.osm.pbf``, ``.pbf``, ``.osm``, ``.osm.bz2``, ``.xml`` (OSM data,
        read with pyosmium); ``.graphml`` (osmnx); ``.gpkg``, ``.geojson``,
        ``.json``, ``.shp`` (line layers, see :func:`read_lines`); or an osmnx
        graph object.

    Returns
    -------
    Edges
        Undirected edge table with polylines in WGS84 lon/lat.
    """
    if not isinstance(path, (str, Path)):
        if hasattr(path, "edges") and hasattr(path, "nodes"):
            return from_osmnx(path)
        raise InputError(f"road network: cannot read an object of type {type(path).__name__}; "
                         "give a file path or an osmnx MultiDiGraph.")
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: road network file not found; check the path in the scenario.")
    name = p.name.lower()
    if name.endswith((".osm.pbf", ".pbf", ".osm", ".osm.bz2", ".osm.gz", ".xml", ".xml.bz2")):
        e = read_osm(p)
    elif name.endswith(".graphml"):
        e = read_graphml(p)
    elif name.endswith((".gpkg", ".geojson", ".json", ".shp", ".fgb")):
        e = read_lines(p)
    else:
        raise InputError(f"{p}: unknown road network format; give .osm.pbf, .osm, .osm.bz2, "
                         ".graphml, .gpkg, .geojson or .shp.")
    if len(e.edges) == 0:
        raise InputError(f"{p}: no roads found (no line with a usable highway class); "
                         "check that the file covers the study area and has highway tags.")
    return e


def download_network(place_or_bbox, path: str | Path, network_type: str = "all", **kwargs) -> Path:
    """Download roads from OpenStreetMap (Overpass, via osmnx) and save GraphML.

    Parameters
    ----------
    place_or_bbox : str or tuple
        A place name geocoded by Nominatim (``"嘉兴市, 浙江省"``), or a bounding
        box ``(west, south, east, north)`` in degrees.
    path : str or Path
        Where to write the ``.graphml`` file (read it back with
        :func:`read_network`).
    network_type : str
        osmnx network type; ``"all"`` keeps every road so walk, bike and drive
        graphs can all be built from one download.
    **kwargs
        Passed to ``osmnx.graph_from_place`` / ``osmnx.graph_from_bbox``
        (e.g. ``simplify``, ``retain_all``).

    Returns
    -------
    Path
        The written file. Overpass servers are set with
        ``osmnx.settings.overpass_url``.
    """
    import osmnx as ox

    path = Path(path)
    kwargs.setdefault("retain_all", True)
    if isinstance(place_or_bbox, (tuple, list)) and len(place_or_bbox) == 4:
        G = ox.graph_from_bbox(tuple(float(x) for x in place_or_bbox), network_type=network_type, **kwargs)
    else:
        G = ox.graph_from_place(place_or_bbox, network_type=network_type, **kwargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    ox.save_graphml(G, path)
    return path
