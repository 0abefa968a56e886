"""Supply per 1,000 persons against a target (``[[targets]]``), by township.

The ratio is the two-step floating catchment (:func:`access.siting.fca.two_step`)
of a target's capacity (beds, doctors, places) within its travel time. Both
steps are summed catchment by catchment without listing the (facility, cell)
pairs (:mod:`access.routing.sums`; the second step reuses what the first
reached instead of searching again), so time and memory follow the roads
reached, not the pairs; partitioned runs add the per-facility demand of their
parts instead (:mod:`access.scale`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from access.coverage import demand as demand_mod
from access.network.graph import Graph
from access.network.snap import Snap
from access.progress import Progress
from access.routing.sums import catchment_sums
from access.siting import fca

COLUMNS = ["target", "demand", "township", "population", "per_1000", "target_per_1000", "shortfall_per_1000",
           "supply_needed"]


def target_group(target, scenario) -> str:
    """Demand group a target's ratio is per 1,000 of: its categories' common group, else everyone.

    Kindergarten places count per 1,000 children aged 3-5 when those persons
    are given (``[inputs.groups]``), beds and doctors per 1,000 residents.
    """
    demand = demand_mod.demand_map(scenario.groups, scenario.demand)
    groups = {demand_mod.category_group(c, demand) for c in target.categories}
    return groups.pop() if len(groups) == 1 else demand_mod.ALL


def target_persons(cells: pd.DataFrame, target, scenario) -> np.ndarray:
    """Persons per cell of the target's demand group (see :func:`target_group`)."""
    return demand_mod.group_persons(cells, target_group(target, scenario))


def per_1000(graph: Graph, facilities: Snap, cells: Snap, capacity: np.ndarray, population: np.ndarray,
             limit_s: float, penalty_s: float = 0.0, progress: Progress | None = None,
             desc: str = "supply") -> np.ndarray:
    """2SFCA supply per 1,000 persons for every cell, summed catchment by catchment.

    Parameters
    ----------
    graph : Graph
        The target mode's graph (seconds).
    facilities, cells : Snap
        The target's facilities and the population cells, snapped to ``graph``.
    capacity : ndarray, shape (n_facilities,)
        Supply per facility (beds, doctors, places).
    population : ndarray, shape (n_cells,)
        Persons per cell.
    limit_s, penalty_s : float
        Catchment size and trip penalty, seconds.
    progress : Progress, optional
        Shows facilities done in each of the two steps.

    Returns
    -------
    ndarray of float64, shape (n_cells,)
        Supply per 1,000 persons; 0 where no facility is within reach.
    """
    progress = progress or Progress(True)
    sums = catchment_sums(graph, facilities, cells, limit_s, penalty_s)
    bar = progress.bar(len(facilities), f"{desc}: persons per facility", unit="facility")
    try:
        first = sums.first_step(population, bar.update)  # keeps what each catchment reached (512 MB at most)
    finally:
        bar.close()
    bar = progress.bar(len(facilities), f"{desc}: ratios per cell", unit="facility")
    try:
        return 1000.0 * first.cell_sums(fca.ratios(capacity, first.facility_sums), bar.update)
    finally:
        bar.close()


def township_table(target, values: np.ndarray, population: np.ndarray, township: np.ndarray,
                   group: str = demand_mod.ALL) -> pd.DataFrame:
    """Per-township supply per 1,000 persons of ``group`` against ``target.per_1000``.

    Returns
    -------
    DataFrame with :data:`COLUMNS`: ``demand`` the group, ``population``
    its persons, ``per_1000`` weighted by them,
    ``shortfall_per_1000`` below the target (0 when met), ``supply_needed``
    in units of capacity (beds, doctors) to meet it.
    """
    tw = fca.by_township(values, population, township).rename(columns={"value": "per_1000"})
    tw.insert(0, "target", target.name)
    tw.insert(1, "demand", group)
    tw["target_per_1000"] = target.per_1000
    tw["shortfall_per_1000"] = fca.compare_target(tw["per_1000"], target.per_1000)
    tw["supply_needed"] = tw["shortfall_per_1000"] * tw["population"] / 1000.0
    return tw[COLUMNS]


def empty_table() -> pd.DataFrame:
    return pd.DataFrame(columns=COLUMNS)
