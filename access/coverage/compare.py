"""Compare two runs of a study: what a scenario changes, township by township."""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from access.errors import InputError


@dataclass
class Comparison:
    """Difference between a base run and a scenario run.

    Attributes
    ----------
    townships : DataFrame
        One row per (township, circle): ``code``, ``name``, ``circle``,
        ``population`` (persons of the circle's scope and demand group), ``covered_before``, ``covered_after``, ``change``
        (persons), ``share_before``, ``share_after``; sorted by circle then
        largest gain. The study total is the row with code ``"total"``.
    cells : GeoDataFrame
        Cells whose status changed: ``cell_id``, ``circle``, ``change``
        (``"newly_covered"`` or ``"newly_uncovered"``), ``population``,
        ``township``, ``t_before``, ``t_after`` (seconds), point geometry.
    """

    townships: pd.DataFrame
    cells: gpd.GeoDataFrame

    def summary(self) -> pd.DataFrame:
        """Persons newly covered and newly uncovered per circle."""
        c = self.cells
        out = pd.DataFrame(0.0, index=pd.Index(self.townships["circle"].unique(), name="circle"),
                           columns=["newly_covered", "newly_uncovered"])
        if len(c):
            got = c.groupby(["circle", "change"])["population"].sum()
            for (circle, change), v in got.items():
                out.loc[circle, change] = v
        out["net"] = out["newly_covered"] - out["newly_uncovered"]
        return out.reset_index()


def compare(before, after, circles=None) -> Comparison:
    """What changed between two :class:`~access.study.Results` of the same cells.

    Parameters
    ----------
    before, after : Results
        Runs of one study and its variant (same cells, same order).
    circles : list of str, optional
        Circle names (default: every ``in_<circle>`` column present in both).
    """
    a, b = before.cells, after.cells
    if len(a) != len(b) or not np.array_equal(a["cell_id"].to_numpy(), b["cell_id"].to_numpy()):
        raise InputError("compare: the two runs have different cells; compare a study with its own variant.")
    if circles is None:
        circles = [c.removeprefix("in_") for c in a.columns
                   if c.startswith("in_") and "__" not in c and c in b.columns]
    tw_rows, cell_parts = [], []
    pop = a["population"].to_numpy(float)
    for circle in circles:
        col = f"in_{circle}"
        if col not in a or col not in b:
            raise InputError(f"compare: circle {circle!r} is not in both runs; known: {sorted(circles)}")
        x = a[col].fillna(False).to_numpy(bool)
        y = b[col].fillna(False).to_numpy(bool)
        ta, tb = before.coverage_township, after.coverage_township
        # persons of the circle's scope and demand group when the table has them
        base = ta[f"population_{circle}"] if f"population_{circle}" in ta else ta["population"]
        t = pd.DataFrame({"code": ta["code"], "name": ta["name"], "circle": circle, "population": base,
                          "covered_before": ta[f"covered_{circle}"].to_numpy(),
                          "covered_after": tb.set_index("code").loc[ta["code"], f"covered_{circle}"].to_numpy()})
        t["change"] = t["covered_after"] - t["covered_before"]
        t["share_before"] = t["covered_before"] / t["population"].where(t["population"] > 0)
        t["share_after"] = t["covered_after"] / t["population"].where(t["population"] > 0)
        tw_rows.append(t.sort_values(["change", "code"], ascending=[False, True]))
        changed = np.flatnonzero(x != y)
        if len(changed):
            tcol = f"t_{circle}"
            part = a.iloc[changed][["cell_id", "township", "geometry"]].copy()
            part.insert(1, "circle", circle)
            part.insert(2, "change", np.where(y[changed], "newly_covered", "newly_uncovered"))
            part.insert(3, "population", pop[changed])
            part["t_before"] = a[tcol].to_numpy(float)[changed] if tcol in a else np.nan
            part["t_after"] = b[tcol].to_numpy(float)[changed] if tcol in b else np.nan
            cell_parts.append(part)
    cells = (gpd.GeoDataFrame(pd.concat(cell_parts, ignore_index=True), geometry="geometry", crs=a.crs)
             if cell_parts else gpd.GeoDataFrame({"cell_id": [], "circle": [], "change": [], "population": []},
                                                 geometry=[], crs=a.crs))
    return Comparison(townships=pd.concat(tw_rows, ignore_index=True), cells=cells)
