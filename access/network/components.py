"""Road components points may snap to, and the persons left off them.

Real extracts hold many strongly connected pieces besides the main network:
courtyard paths, platforms, one-way stubs, roads cut off at the extract's
edge, and real islands. A point snapped onto a piece that cannot reach the
rest gets no time to anything. The rule, per travel mode:

- the largest strongly connected component is kept;
- another component is kept when it holds a facility of the mode's
  categories that lies beyond the snap limit from every road of the largest
  component: a real island, whose facility could not serve the main network
  anyway (OpenTripPlanner's adaptive island pruning draws the same line:
  pieces far from the main graph are islands, near ones mapping fragments);
  a fragment whose facilities all lie within the limit is left out and they
  snap to the largest component;
- every other component is left out. Points whose nearest road lies on it
  snap to the nearest road of a kept component within the snap limit; those
  with none are unreachable, "on a disconnected road fragment of N nodes".
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from access.network.graph import Graph
from access.network.modes import TravelMode
from access.network.snap import Snap, snap_points

TABLE_COLUMNS = ["mode", "component", "nodes", "persons", "facilities", "kept", "reason", "persons_unreachable"]


@dataclass
class Kept:
    """One mode's network restricted to its kept components.

    Attributes
    ----------
    graph : Graph
        The mode's graph with ``kept`` set (routing and snapping use it).
    cells : Snap
        Cells snapped onto kept components only.
    cause : ndarray of object, shape (n_cells,)
        Why a cell is unreachable (``""`` where it is reachable).
    table : DataFrame
        :data:`TABLE_COLUMNS`: the largest component, every component holding
        persons or facilities, and one row (``component`` -1) summing the
        others; ``persons`` are persons whose nearest road of the mode lies on
        the component, ``persons_unreachable`` those left without a kept road
        within the snap limit.
    """

    graph: Graph
    cells: Snap
    cause: np.ndarray
    table: pd.DataFrame


def point_components(graph: Graph, snap: Snap) -> np.ndarray:
    """Strongly connected component of each snapped point (-1 where not snapped).

    A point on an edge joining two components (a one-way link) counts in the
    smaller one (labels are ranked largest first, so the larger label).
    """
    ok = np.asarray(snap.ok, bool)
    out = np.full(len(ok), -1, np.int64)
    comp = np.asarray(graph.component)
    out[ok] = np.maximum(comp[snap.node_a[ok]], comp[snap.node_b[ok]])
    return out


def keep_components(graph: Graph, edges, mode: TravelMode, cells_xy: np.ndarray, population: np.ndarray,
                    facilities_xy: np.ndarray, max_dist_m: float) -> Kept:
    """Choose the components of ``graph`` points may snap to and snap the cells.

    Parameters
    ----------
    graph : Graph
        One mode's graph (:func:`~access.network.build.build_graph`).
    edges : Edges
        The road network it was built from.
    mode : TravelMode
    cells_xy : ndarray (n, 2)
        Population cells in the study CRS, metres.
    population : ndarray (n,)
        Persons per cell.
    facilities_xy : ndarray (m, 2)
        Facilities of the categories this mode serves, study CRS, metres.
    max_dist_m : float
        Snap limit, metres.

    Returns
    -------
    Kept
    """
    full = replace(graph, kept=None)
    n_comp = int(graph.component.max()) + 1 if graph.n_nodes else 0
    sizes = np.bincount(graph.component, minlength=n_comp)
    fac_comp = point_components(full, snap_points(facilities_xy, full, edges, mode, max_dist_m=max_dist_m))
    n_fac = np.bincount(fac_comp[fac_comp >= 0], minlength=n_comp)
    kept = np.zeros(n_comp, bool)
    reason = {}
    if n_comp:
        kept[0] = True
        reason[0] = "largest strongly connected component"
    # a facility that could join the largest component leaves its fragment
    # for it; one that could not makes its component an island worth keeping
    off = np.flatnonzero(fac_comp > 0)
    joins = snap_points(facilities_xy[off], replace(graph, kept=graph.component == 0), edges, mode,
                        max_dist_m=max_dist_m).ok if len(off) else np.zeros(0, bool)
    for c in np.flatnonzero(n_fac[1:]) + 1:
        alone = int((~joins[fac_comp[off] == c]).sum())
        if alone:
            kept[c] = True
            reason[c] = (f"an island: {alone} of its facilities lie over {max_dist_m:g} m from every road "
                         "of the largest component")
        else:
            reason[c] = (f"a fragment: its facilities lie within {max_dist_m:g} m of the largest "
                         "component and snap to it instead")
    pruned = replace(graph, kept=kept[graph.component] if n_comp else np.zeros(0, bool))
    first = snap_points(cells_xy, full, edges, mode, max_dist_m=max_dist_m)
    cell_comp = point_components(full, first)
    # cells on an edge inside a kept component keep their snap; the others
    # (on a left-out piece or a one-way link between pieces) look again
    inside = np.zeros(len(first), bool)
    ok = np.flatnonzero(first.ok)
    ca, cb = graph.component[first.node_a[ok]], graph.component[first.node_b[ok]]
    inside[ok] = (ca == cb) & kept[ca]
    again = np.flatnonzero(first.ok & ~inside)
    cells = first.subset(np.arange(len(first)))
    if len(again):
        second = snap_points(cells_xy[again], pruned, edges, mode, max_dist_m=max_dist_m)
        for k in Snap.__dataclass_fields__:
            getattr(cells, k)[again] = getattr(second, k)
    cause = np.full(len(cells), "", dtype=object)
    lost = ~np.asarray(cells.ok, bool)
    frag = lost & (cell_comp >= 0)
    cause[lost & ~frag] = f"no road usable by {mode.name} within {max_dist_m:g} m"
    for c in np.unique(cell_comp[frag]):
        n = int(sizes[c])
        cause[frag & (cell_comp == c)] = f"on a disconnected road fragment of {n} node{'s' * (n != 1)}"
    table = _table(mode.name, sizes, cell_comp, np.asarray(population, float), lost, n_fac, kept, reason)
    return Kept(graph=pruned, cells=cells, cause=cause, table=table)


def _table(mode: str, sizes, cell_comp, population, lost, n_fac, kept, reason) -> pd.DataFrame:
    n_comp = len(sizes)
    on = cell_comp >= 0
    persons = np.bincount(cell_comp[on], weights=population[on], minlength=n_comp)
    stranded = np.bincount(cell_comp[on & lost], weights=population[on & lost], minlength=n_comp)
    listed = np.flatnonzero((persons > 0) | (n_fac > 0) | (np.arange(n_comp) == 0))
    for c in listed:
        if c not in reason:
            reason[c] = "no facility of this mode's categories: its persons could reach none"
    rows = pd.DataFrame({
        "mode": mode, "component": listed.astype(np.int64), "nodes": sizes[listed].astype(np.int64),
        "persons": persons[listed], "facilities": n_fac[listed].astype(np.int64), "kept": kept[listed],
        "reason": [reason[c] for c in listed], "persons_unreachable": stranded[listed]})
    rest = np.setdiff1d(np.arange(n_comp), listed)
    if len(rest):
        rows.loc[len(rows)] = [mode, -1, int(sizes[rest].sum()), 0.0, 0, False,
                               f"{len(rest)} other components without persons or facilities", 0.0]
    return rows[TABLE_COLUMNS]


def summary(table: pd.DataFrame, total_persons: float) -> str:
    """One line: persons left on excluded components and islands kept, for one mode."""
    mode = table["mode"].iat[0] if len(table) else "?"
    lost = float(table["persons_unreachable"].sum())
    frags = table[~table["kept"] & (table["persons_unreachable"] > 0)]
    islands = int((table["kept"] & (table["component"] > 0)).sum())
    share = 100.0 * lost / total_persons if total_persons > 0 else 0.0
    line = (f"{mode}: {lost:,.0f} persons ({share:.2f} %) are on {len(frags)} disconnected road "
            f"fragment{'s' * (len(frags) != 1)} without a kept road within the snap limit; they are "
            "unreachable by this mode")
    if islands:
        line += f"; {islands} island{'s' * (islands != 1)} with own facilities kept"
    return line + " (components table in run.json)."
