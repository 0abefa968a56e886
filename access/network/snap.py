"""Snapping points (cells, facilities) to the nearest point of the nearest edge.

CONTRACT (routing relies on these fields; do not rename):
A point ``i`` snapped onto the edge between nodes ``node_a[i]`` and
``node_b[i]`` can *leave* towards either end (``to_a``, ``to_b``: seconds from
the point to that node, off-road leg walked plus the along-edge part, ``inf``
when the mode may not travel that way) and can be *reached* from either end
(``from_a``, ``from_b``: seconds from that node to the point). Points that are
not snapped (too far from any road, NaN coordinates) have ``ok == False``,
``node_a == node_b == -1`` and infinite times. ``edge`` identifies the edge so
that two points on the same edge can be joined directly; ``pos`` is the
position along the edge from ``node_a`` (0..1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Snap:
    """Where each point joins the network of one travel mode.

    Attributes
    ----------
    node_a, node_b : ndarray of int64, shape (n,)
        Graph node indices at the two ends of the snapped edge (-1 if not ok).
    to_a, to_b : ndarray of float64, shape (n,)
        Seconds from the point to node a / node b (inf where not allowed).
    from_a, from_b : ndarray of float64, shape (n,)
        Seconds from node a / node b to the point (inf where not allowed).
    edge : ndarray of int64, shape (n,)
        Edge row the point was snapped to (-1 if not ok).
    pos : ndarray of float64, shape (n,)
        Fraction along the edge from node a (0..1).
    dist : ndarray of float64, shape (n,)
        Off-road distance from the point to the edge, metres (inf if no edge).
    ok : ndarray of bool, shape (n,)
        True where the point was snapped within the maximum snap distance.
    """

    node_a: np.ndarray
    node_b: np.ndarray
    to_a: np.ndarray
    to_b: np.ndarray
    from_a: np.ndarray
    from_b: np.ndarray
    edge: np.ndarray
    pos: np.ndarray
    dist: np.ndarray
    ok: np.ndarray

    def __len__(self) -> int:
        return len(self.node_a)

    def subset(self, idx: np.ndarray) -> "Snap":
        """Rows ``idx`` (an index array or boolean mask) as a new Snap."""
        return Snap(**{k: getattr(self, k)[idx] for k in self.__dataclass_fields__})

    @staticmethod
    def concat(snaps: list["Snap"]) -> "Snap":
        """Stack several Snaps of the same graph."""
        return Snap(
            **{k: np.concatenate([getattr(s, k) for s in snaps]) for k in Snap.__dataclass_fields__}
        )
