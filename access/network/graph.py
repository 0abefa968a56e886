"""Compact directed graph per travel mode, in CSR form.

CONTRACT (other modules rely on these fields; do not rename):
``Graph`` holds the *forward* arcs of one mode. Arc ``k`` of node ``u`` is
``indices[indptr[u] + j]`` with travel time ``weights[...]`` in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Graph:
    """A directed road graph for one travel mode.

    Attributes
    ----------
    mode : str
        Travel-mode name (``"walk"``, ``"bike"``, ``"drive"`` ...).
    indptr : ndarray of int64, shape (n_nodes + 1,)
    indices : ndarray of int32 or int64, shape (n_arcs,)
        Head node of each arc, grouped by tail node.
    weights : ndarray of float64, shape (n_arcs,)
        Travel time of each arc, seconds (> 0).
    arc_edge : ndarray of int64, shape (n_arcs,)
        Row of the undirected edge table (``edges``) each arc comes from, or -1.
    node_xy : ndarray of float64, shape (n_nodes, 2)
        Node coordinates in the study CRS, metres.
    node_id : ndarray of int64, shape (n_nodes,)
        Original (OSM) node ids.
    component : ndarray of int32, shape (n_nodes,)
        Strongly connected component label; 0 is the largest.
    kept : ndarray of bool, shape (n_nodes,), optional
        Nodes of the components points may snap to
        (:func:`access.network.components.keep_components`); None: all.
    """

    mode: str
    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray
    arc_edge: np.ndarray
    node_xy: np.ndarray
    node_id: np.ndarray
    component: np.ndarray = field(default=None)  # type: ignore[assignment]
    kept: np.ndarray | None = None

    @property
    def n_nodes(self) -> int:
        return len(self.indptr) - 1

    @property
    def n_arcs(self) -> int:
        return len(self.indices)
