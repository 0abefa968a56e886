"""Road networks: sources, per-mode CSR graphs, components and snapping.

Typical use::

    from access.network import read_network, build_graph, snap_points, WALK
    edges = read_network("roads.osm.pbf")
    graph = build_graph(edges, WALK, "EPSG:32650")
    snap = snap_points(xy, graph, edges, WALK, max_dist_m=500.0)
"""

from access.network.build import (
    build_graph,
    csr_from_arcs,
    edge_times,
    reverse,
    strong_components,
)
from access.network.graph import Graph
from access.network.modes import BIKE, DRIVE, EBIKE, PRESETS, WALK, TravelMode
from access.network.osm import (
    Edges,
    centre_lonlat,
    download_network,
    edges_from_ways,
    from_osmnx,
    parse_maxspeed,
    read_network,
)
from access.network.snap import Snap, snap_points, unsnapped

__all__ = [
    "BIKE", "DRIVE", "EBIKE", "PRESETS", "WALK", "Edges", "Graph", "Snap", "TravelMode",
    "build_graph", "centre_lonlat", "csr_from_arcs", "download_network",
    "edge_times", "edges_from_ways", "from_osmnx", "parse_maxspeed", "read_network", "reverse",
    "snap_points", "strong_components", "unsnapped",
]
