"""A reproducible road-like network for benchmarks (no real data needed).

A perturbed square grid: node positions jittered (so no two edges have the
same length), about 30 % of grid edges deleted at random (leaving roughly
2.8 arcs per node per direction, like a real street graph), every 25th row and
column kept whole as an arterial, and about 5 % of the remaining edges one-way.
"""

from __future__ import annotations

import numpy as np


def road_like_network(n_nodes: int = 1_000_000, seed: int = 0, spacing_m: float = 90.0,
                      p_delete: float = 0.3, p_oneway: float = 0.05,
                      arterial_every: int = 25, return_speed: bool = False):
    """Generate a directed road-like network.

    Parameters
    ----------
    n_nodes : int
        Approximate number of nodes (rounded to a square grid).
    seed : int
        Random seed; the same seed always gives the same network.
    spacing_m : float
        Mean distance between neighbouring junctions, metres.
    p_delete : float
        Share of non-arterial grid edges removed.
    p_oneway : float
        Share of remaining edges that are one-way (random direction).
    arterial_every : int
        Every k-th grid row and column is an arterial (never deleted, faster).
    return_speed : bool
        Also return a driving speed per arc (km/h: 60 on arterials, 30 else).

    Returns
    -------
    tails, heads : ndarray of int64, shape (m,)
        Directed arcs (a two-way street gives two arcs).
    lengths_m : ndarray of float64, shape (m,)
        Arc lengths, metres (straight-line distance times a random winding
        factor 1.0-1.3, same for both directions of a street).
    xy : ndarray of float64, shape (n, 2)
        Node coordinates, metres.
    speed_kmh : ndarray of float64, shape (m,)
        Only when ``return_speed``.
    """
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n_nodes)))
    n = side * side
    ij = np.arange(n, dtype=np.int64)
    row, col = ij // side, ij % side
    xy = np.column_stack([col, row]).astype(np.float64) * spacing_m
    xy += rng.uniform(-0.3, 0.3, size=(n, 2)) * spacing_m

    right = ij[col < side - 1]
    down = ij[row < side - 1]
    a = np.concatenate([right, down])
    b = np.concatenate([right + 1, down + side])
    # An edge is arterial when it runs along an arterial row (horizontal) or
    # column (vertical).
    arterial = np.concatenate([row[right] % arterial_every == 0,
                               col[down] % arterial_every == 0])
    keep = arterial | (rng.random(len(a)) >= p_delete)
    a, b, arterial = a[keep], b[keep], arterial[keep]

    length = np.hypot(*(xy[a] - xy[b]).T) * rng.uniform(1.0, 1.3, len(a))
    oneway = (~arterial) & (rng.random(len(a)) < p_oneway)
    flip = rng.random(len(a)) < 0.5
    fa = np.where(oneway & flip, b, a)  # forward arc of each edge
    fb = np.where(oneway & flip, a, b)
    two = ~oneway
    tails = np.concatenate([fa, fb[two]])
    heads = np.concatenate([fb, fa[two]])
    lengths = np.concatenate([length, length[two]])
    if return_speed:
        speed = np.where(np.concatenate([arterial, arterial[two]]), 60.0, 30.0)
        return tails, heads, lengths, xy, speed
    return tails, heads, lengths, xy


if __name__ == "__main__":
    t, h, l, xy = road_like_network()
    print(f"{len(xy):,} nodes, {len(t):,} arcs ({len(t) / len(xy):.2f} per node per "
          f"direction), mean arc {l.mean():.0f} m, unique lengths {len(np.unique(l)):,}")
