"""Travel times on road graphs: exact, sparse, numba-compiled.

Node-level kernels live in :mod:`access.routing.dijkstra`; point-level
queries on snapped cells and facilities in :mod:`access.routing.queries`;
sums over catchments without listing their pairs (floating catchments) in
:mod:`access.routing.sums`.
"""

from access.routing.dijkstra import bounded_catchments, multi_source_nearest, one_to_many
from access.routing.queries import (
    catchments,
    graph_from_arcs,
    nearest,
    node_catchments,
    od_table,
    reverse_graph,
)
from access.routing.sums import catchment_sums

__all__ = [
    "bounded_catchments",
    "catchment_sums",
    "catchments",
    "graph_from_arcs",
    "multi_source_nearest",
    "nearest",
    "node_catchments",
    "od_table",
    "one_to_many",
    "reverse_graph",
]
