"""A study: scenario -> inputs -> graphs -> results, and its variants.

``Study.load`` reads every input and builds one graph per travel mode once;
``Study.run`` computes travel times, circles, coverage, gaps, service areas,
equity and supply ratios; ``Study.variant`` adds, moves or closes facilities
(or changes a mode) while reusing the inputs, graphs and cell snapping, so a
what-if costs a fraction of the first run.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from access.accounting import Account
from access.coverage import circles as circles_mod
from access.coverage import equity as equity_mod
from access.coverage import gaps as gaps_mod
from access.coverage import service_areas as sa_mod
from access.coverage import units as units_mod
from access.coverage.standards import Circle
from access.errors import InputError, warn
from access.network import build as build_mod
from access.network import osm as osm_mod
from access.network import snap as snap_mod
from access.network.graph import Graph
from access.network.modes import TravelMode
from access.network.snap import Snap
from access.progress import Progress
from access.routing import queries
from access.scenario import Scenario, load_scenario
from access.siting import fca as fca_mod
from access.sources import boundaries as boundaries_mod
from access.sources import facilities as facilities_mod
from access.sources import population as population_mod
from access.sources.crs import utm_crs_for

#: Nearest-facility searches stop here, seconds. Times beyond it are reported
#: as empty; two hours covers every circle in the standards library.
SEARCH_LIMIT_S = 7200.0


@dataclass
class Network:
    """One travel mode's graph, its reverse, and the cells snapped onto it."""

    mode: TravelMode
    graph: Graph
    cells: Snap


@dataclass
class Results:
    """Everything one run computed. Tables are plain pandas/GeoPandas objects.

    Attributes
    ----------
    cells : GeoDataFrame
        One row per population cell: ids, population (persons), units,
        ``t_<mode>_<category>`` seconds, ``in_<circle>`` flags.
    facilities : GeoDataFrame
        Facilities used, with ``snapped`` (bool) and ``snap_dist_m`` per mode.
    coverage_township, coverage_county : DataFrame
    gaps : GeoDataFrame
    rule_failures : DataFrame
    service_areas : GeoDataFrame
    equity : DataFrame
    supply : DataFrame
        Floating-catchment supply per 1,000 people per township and target.
    timings : dict[str, float]
        Seconds per step.
    """

    cells: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    coverage_township: pd.DataFrame
    coverage_county: pd.DataFrame
    gaps: gpd.GeoDataFrame
    rule_failures: pd.DataFrame
    service_areas: gpd.GeoDataFrame
    equity: pd.DataFrame
    supply: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class Study:
    """A loaded study: inputs read and graphs built once.

    Use :meth:`load` to build one from a scenario file, :meth:`run` to compute
    and :meth:`variant` for what-if scenarios.
    """

    scenario: Scenario
    crs: CRS
    cells: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    townships: gpd.GeoDataFrame | None
    counties: gpd.GeoDataFrame | None
    edges: object
    networks: dict[str, Network]
    accounts: list[Account]
    timings: dict[str, float] = field(default_factory=dict)
    quiet: bool = False

    # ------------------------------------------------------------------ load
    @classmethod
    def load(cls, scenario: Scenario | str | Path, quiet: bool = False) -> "Study":
        """Read every input of ``scenario`` and build one graph per mode.

        Parameters
        ----------
        scenario : Scenario or path to a TOML file
        quiet : bool
            Hide progress bars.
        """
        sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        timings: dict[str, float] = {}
        progress = Progress(quiet)
        accounts: list[Account] = []

        with _timer(timings, "read_network"), progress.step("reading road network", sc.network.name):
            edges = osm_mod.read_network(sc.network)
        crs = CRS.from_user_input(sc.crs) if sc.crs else _auto_crs(edges)

        with _timer(timings, "read_boundaries"), progress.step("reading boundaries"):
            counties, townships = _read_units(sc, crs, accounts)
        area = _study_area(counties, townships)

        with _timer(timings, "read_population"), progress.step("reading population", sc.population.name):
            cells, acc = population_mod.read_population(
                sc.population, crs, column=sc.population_column, area=area
            )
        accounts.append(acc)
        with _timer(timings, "assign_units"):
            cells, acc = units_mod.assign_units(cells, townships, counties)
        accounts.append(acc)

        with _timer(timings, "read_facilities"), progress.step("reading facilities", sc.facilities.name):
            facilities, acc = facilities_mod.read_facilities(
                sc.facilities,
                crs,
                columns=sc.columns or None,
                coords=sc.facility_coords,
                extra_categories=sc.categories or None,
                encoding=sc.encoding,
            )
        accounts.append(acc)

        networks: dict[str, Network] = {}
        xy = np.column_stack([cells.geometry.x.to_numpy(), cells.geometry.y.to_numpy()])
        for name in _modes_used(sc):
            mode = sc.modes[name]
            with _timer(timings, f"graph_{name}"), progress.step(f"building {name} graph"):
                graph = build_mod.build_graph(edges, mode, crs)
            with _timer(timings, f"snap_cells_{name}"), progress.step(
                f"snapping {len(cells):,} cells to the {name} network"
            ):
                snap = snap_mod.snap_points(xy, graph, edges, mode, max_dist_m=sc.snap_max_m)
            networks[name] = Network(mode=mode, graph=graph, cells=snap)

        study = cls(
            scenario=sc,
            crs=crs,
            cells=cells,
            facilities=facilities,
            townships=townships,
            counties=counties,
            edges=edges,
            networks=networks,
            accounts=accounts,
            timings=timings,
            quiet=quiet,
        )
        if "walk" in networks or networks:
            road_xy = next(iter(networks.values())).graph.node_xy
            facilities_mod.gcj02_offset_warning(facilities, road_xy, str(sc.facilities))
        return study

    # --------------------------------------------------------------- variant
    def variant(
        self,
        add: gpd.GeoDataFrame | pd.DataFrame | None = None,
        close: list[str] | None = None,
        move: dict[str, tuple[float, float]] | None = None,
        modes: dict[str, TravelMode] | None = None,
    ) -> "Study":
        """A what-if copy sharing this study's inputs and graphs.

        Parameters
        ----------
        add : GeoDataFrame or DataFrame, optional
            New facilities: ``facility_id``, ``name``, ``category``,
            ``capacity`` and a Point geometry in the study CRS (or ``x``/``y``
            columns in metres).
        close : list of str, optional
            ``facility_id`` values to remove.
        move : dict, optional
            ``facility_id`` -> (x, y) new position in the study CRS, metres.
        modes : dict, optional
            Replacement travel modes by name; only those graphs are rebuilt.
        """
        fac = self.facilities.copy()
        if close:
            unknown = sorted(set(close) - set(fac["facility_id"]))
            if unknown:
                raise InputError(f"variant: cannot close unknown facility ids {unknown}")
            fac = fac[~fac["facility_id"].isin(close)]
        if move:
            unknown = sorted(set(move) - set(fac["facility_id"]))
            if unknown:
                raise InputError(f"variant: cannot move unknown facility ids {unknown}")
            geoms = fac.geometry.copy()
            for fid, (x, y) in move.items():
                geoms[fac["facility_id"] == fid] = gpd.points_from_xy([x], [y])[0]
            fac = fac.set_geometry(geoms)
        if add is not None and len(add):
            fac = pd.concat([fac, _as_facilities(add, self.crs, set(fac["facility_id"]))], ignore_index=True)
            fac = gpd.GeoDataFrame(fac, geometry="geometry", crs=self.crs)
        networks = dict(self.networks)
        scenario = self.scenario
        if modes:
            scenario = replace(scenario, modes={**scenario.modes, **modes})
            xy = np.column_stack([self.cells.geometry.x.to_numpy(), self.cells.geometry.y.to_numpy()])
            for name, mode in modes.items():
                graph = build_mod.build_graph(self.edges, mode, self.crs)
                snap = snap_mod.snap_points(xy, graph, self.edges, mode, max_dist_m=scenario.snap_max_m)
                networks[name] = Network(mode=mode, graph=graph, cells=snap)
        return replace(self, scenario=scenario, facilities=fac.reset_index(drop=True), networks=networks, timings={})

    # ------------------------------------------------------------------- run
    def run(self, service_areas: bool = True) -> Results:
        """Compute travel times, circles, coverage, gaps, equity and supply."""
        sc = self.scenario
        timings: dict[str, float] = {}
        progress = Progress(self.quiet)
        cells = self.cells.copy()
        fac = self.facilities.copy()

        # Snap facilities per mode; unsnapped ones are listed, never moved.
        fac_snaps: dict[str, Snap] = {}
        for name, net in self.networks.items():
            xy = np.column_stack([fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy()])
            s = snap_mod.snap_points(xy, net.graph, self.edges, net.mode, max_dist_m=sc.snap_max_m)
            fac_snaps[name] = s
            fac[f"snapped_{name}"] = s.ok
            fac[f"snap_dist_{name}_m"] = np.where(np.isfinite(s.dist), s.dist, np.nan)
            n_bad = int((~s.ok).sum())
            if n_bad:
                ids = ", ".join(fac.loc[~s.ok, "facility_id"].astype(str).head(10))
                warn(
                    f"{sc.facilities.name}: {n_bad} facilities are farther than "
                    f"{sc.snap_max_m:g} m from any road usable by {name} (ids {ids}...): "
                    "they serve nobody by that mode; check their coordinates or the network."
                )

        # Nearest facility of each category, per mode.
        need = _categories_by_mode(sc.circles)
        for name, cats in need.items():
            net = self.networks[name]
            penalty = net.mode.penalty_min * 60.0
            cells[f"reachable_{name}"] = net.cells.ok
            for cat in progress.iter(sorted(cats), f"routing {name}", unit="category"):
                with _timer(timings, f"nearest_{name}"):
                    mask = (fac["category"] == cat).to_numpy()
                    t = np.full(len(cells), np.nan)
                    if mask.any():
                        sec, _ = queries.nearest(
                            net.graph, net.cells, fac_snaps[name].subset(mask), SEARCH_LIMIT_S, penalty
                        )
                        t = np.where(np.isfinite(sec), sec, np.nan)
                    cells[f"t_{name}_{cat}"] = t

        with _timer(timings, "circles"):
            flags = circles_mod.evaluate_circles(cells, sc.circles, sc.modes)
            cells = cells.join(flags)

        with _timer(timings, "coverage"):
            cov_t = units_mod.coverage_table(cells, sc.circles, level="township")
            cov_c = units_mod.coverage_table(cells, sc.circles, level="county")
        with _timer(timings, "gaps"), progress.step("finding gaps"):
            cell_size = _cell_size(cells)
            gaps = pd.concat(
                [gaps_mod.gap_areas(cells, c, cell_size) for c in sc.circles], ignore_index=True
            )
            gaps = gpd.GeoDataFrame(gaps, geometry="geometry", crs=self.crs)
            rules = gaps_mod.township_rule_failures(self.townships, fac, sc.township_rules)
        with _timer(timings, "equity"):
            equity = equity_mod.equity_table(cells, sc.circles)

        areas = gpd.GeoDataFrame({"circle": [], "category": []}, geometry=[], crs=self.crs)
        if service_areas:
            with _timer(timings, "service_areas"):
                areas = self._service_areas(fac, fac_snaps, progress)

        with _timer(timings, "supply"):
            supply = self._supply(cells, fac, fac_snaps)

        return Results(
            cells=cells,
            facilities=fac,
            coverage_township=cov_t,
            coverage_county=cov_c,
            gaps=gaps,
            rule_failures=rules,
            service_areas=areas,
            equity=equity,
            supply=supply,
            timings=timings,
        )

    def _service_areas(self, fac, fac_snaps, progress) -> gpd.GeoDataFrame:
        out = []
        for circle in progress.iter(self.scenario.circles, "service areas", unit="circle"):
            net = self.networks[circle.mode]
            limit = circle.limit_seconds(_mode_speed(net.mode)) - net.mode.penalty_min * 60.0
            for cat in circle.categories:
                mask = (fac["category"] == cat).to_numpy() & fac_snaps[circle.mode].ok
                if not mask.any():
                    continue
                node_times = queries.node_catchments_from_snap(net.graph, fac_snaps[circle.mode].subset(mask), limit)
                areas = sa_mod.service_areas(net.graph, self.edges, node_times, limit)
                if len(areas):
                    merged = sa_mod.dissolve(areas)
                    out.append(gpd.GeoDataFrame({"circle": [circle.name], "category": [cat]}, geometry=[merged], crs=self.crs))
        if not out:
            return gpd.GeoDataFrame({"circle": [], "category": []}, geometry=[], crs=self.crs)
        return gpd.GeoDataFrame(pd.concat(out, ignore_index=True), crs=self.crs)

    def _supply(self, cells, fac, fac_snaps) -> pd.DataFrame:
        rows = []
        for target in self.scenario.targets:
            net = self.networks.get(target.mode)
            if net is None:
                continue
            mask = fac["category"].isin(target.categories).to_numpy() & fac_snaps[target.mode].ok
            if not mask.any():
                continue
            sub = fac[mask]
            limit = target.minutes * 60.0 - net.mode.penalty_min * 60.0
            table = queries.catchments(net.graph, fac_snaps[target.mode].subset(mask), net.cells, limit)
            capacity = sub[target.capacity_column].fillna(0.0).to_numpy(float) if target.capacity_column in sub else np.zeros(len(sub))
            per_1000 = fca_mod.two_step(table, capacity, cells["population"].to_numpy(float), limit) * 1000.0
            cells_t = cells[["township", "population"]].assign(per_1000=per_1000)
            g = cells_t.groupby("township", dropna=False)
            agg = g.apply(lambda d: np.average(d["per_1000"], weights=d["population"]) if d["population"].sum() > 0 else np.nan)
            for tw, v in agg.items():
                rows.append({"target": target.name, "township": tw, "per_1000": v, "target_per_1000": target.per_1000, "shortfall_per_1000": max(0.0, target.per_1000 - v) if np.isfinite(v) else np.nan})
        return pd.DataFrame(rows)


# ---------------------------------------------------------------- helpers
@contextmanager
def _timer(timings: dict[str, float], key: str):
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings[key] = timings.get(key, 0.0) + time.perf_counter() - t0


def _auto_crs(edges) -> CRS:
    lon, lat = osm_mod.centre_lonlat(edges)
    return utm_crs_for(lon, lat)


def _read_units(sc: Scenario, crs: CRS, accounts: list[Account]):
    counties = townships = None
    if sc.counties:
        counties, acc = boundaries_mod.read_boundaries(
            sc.counties, crs, level="county", fields=sc.boundary_fields or None, coords=sc.boundary_coords
        )
        accounts.append(acc)
    elif sc.counties_cnmaps:
        counties = boundaries_mod.cnmaps_counties(sc.counties_cnmaps, crs)
    if sc.townships:
        townships, acc = boundaries_mod.read_boundaries(
            sc.townships, crs, level="township", fields=sc.boundary_fields or None, coords=sc.boundary_coords
        )
        accounts.append(acc)
    return counties, townships


def _study_area(counties, townships):
    for units in (counties, townships):
        if units is not None and len(units):
            return units
    return None


def _modes_used(sc: Scenario) -> list[str]:
    names = [c.mode for c in sc.circles] + [t.mode for t in sc.targets]
    return list(dict.fromkeys(names))


def _categories_by_mode(circles: list[Circle]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for c in circles:
        out.setdefault(c.mode, set()).update(c.categories)
    return out


def _mode_speed(mode: TravelMode) -> float:
    """The mode's most common speed, km/h: converts metre-based circles."""
    speeds = pd.Series(list(mode.speed_kmh.values()))
    return float(speeds.mode().max())


def _cell_size(cells: gpd.GeoDataFrame) -> float:
    """Grid spacing of the population cells, metres (median neighbour distance)."""
    from scipy.spatial import cKDTree

    xy = np.column_stack([cells.geometry.x, cells.geometry.y])
    if len(xy) < 2:
        return 100.0
    d, _ = cKDTree(xy).query(xy[: min(len(xy), 5000)], k=2)
    return float(np.median(d[:, 1]))


def _as_facilities(add, crs, existing_ids: set) -> gpd.GeoDataFrame:
    add = add.copy()
    if not isinstance(add, gpd.GeoDataFrame):
        add = gpd.GeoDataFrame(add, geometry=gpd.points_from_xy(add["x"], add["y"]), crs=crs)
    clash = sorted(set(add["facility_id"].astype(str)) & existing_ids)
    if clash:
        raise InputError(f"variant: new facility ids already exist: {clash}; choose new ids")
    for col, default in (("name", ""), ("capacity", np.nan), ("category_raw", "")):
        if col not in add:
            add[col] = default
    add["facility_id"] = add["facility_id"].astype(str)
    return add.to_crs(crs)
