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
from access.coverage.service_areas import dissolve, service_areas
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
from access.routing.dijkstra import multi_source_nearest
from access.scenario import Scenario, load_scenario
from access.siting import fca as fca_mod
from access.sources import boundaries as boundaries_mod
from access.sources import facilities as facilities_mod
from access.sources import population as population_mod
from access.sources.crs import utm_crs_for

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
    proposed : GeoDataFrame or None
        New sites from :func:`access.siting.propose.propose_sites`.
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
    proposed: gpd.GeoDataFrame | None = None


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
    #: results per (mode, category, facility fingerprint), shared with variants
    #: so a what-if recomputes only the categories whose facilities changed
    memo: dict = field(default_factory=dict, repr=False, compare=False)

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
        return cls.read(scenario, quiet=quiet).build_networks()

    @classmethod
    def read(cls, scenario: Scenario | str | Path, quiet: bool = False) -> "Study":
        """Read every input of ``scenario``; graphs are not built yet (``networks`` empty)."""
        sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        timings: dict[str, float] = {}
        progress = Progress(quiet)
        accounts: list[Account] = []

        with _timer(timings, "read_network"), progress.step("reading road network", sc.network.name):
            edges = osm_mod.read_network(sc.network)
        accounts.append(edges.account)
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
        node_xy, _ = edges.projected(crs)
        facilities_mod.gcj02_offset_warning(facilities, node_xy, str(sc.facilities))
        return cls(
            scenario=sc,
            crs=crs,
            cells=cells,
            facilities=facilities,
            townships=townships,
            counties=counties,
            edges=edges,
            networks={},
            accounts=accounts,
            timings=timings,
            quiet=quiet,
        )

    def build_networks(self) -> "Study":
        """Build each mode's graph and snap the cells onto it (in place; returns self)."""
        progress = Progress(self.quiet)
        xy = np.column_stack([self.cells.geometry.x.to_numpy(), self.cells.geometry.y.to_numpy()])
        for name in _modes_used(self.scenario):
            mode = self.scenario.modes[name]
            with _timer(self.timings, f"graph_{name}"), progress.step(f"building {name} graph"):
                graph = build_mod.build_graph(self.edges, mode, self.crs)
            with _timer(self.timings, f"snap_cells_{name}"), progress.step(
                f"snapping {len(xy):,} cells to the {name} network"
            ):
                snap = snap_mod.snap_points(xy, graph, self.edges, mode, max_dist_m=self.scenario.snap_max_m)
            self.networks[name] = Network(mode=mode, graph=graph, cells=snap)
        return self

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
        memo = self.memo
        if modes:  # cached times of a changed mode are stale
            memo = {k: v for k, v in memo.items() if k[1] not in modes}
        return replace(self, scenario=scenario, facilities=fac.reset_index(drop=True), networks=networks,
                       timings={}, memo=memo)

    # ------------------------------------------------------------------- run
    def run(self, service_areas: bool = True) -> Results:
        """Compute travel times, circles, coverage, gaps, equity and supply."""
        timings: dict[str, float] = {}
        progress = Progress(self.quiet)
        cells, fac, fac_snaps = self.travel_times(timings)
        tables = summarise(self.scenario, self.crs, cells, fac, self.townships, timings, progress, self.memo)
        areas = _empty_areas(self.crs)
        if service_areas:
            with _timer(timings, "service_areas"):
                areas = self.service_areas(fac, fac_snaps)
        with _timer(timings, "supply"):
            supply = self._supply(cells, fac, fac_snaps)
        return Results(cells=cells, facilities=fac, service_areas=areas, supply=supply, timings=timings, **tables)

    def snap_facilities(self, fac: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, dict[str, Snap]]:
        """Snap facilities to each mode's roads; far ones are flagged and warned about, never moved."""
        sc = self.scenario
        fac = fac.copy()
        fac_snaps: dict[str, Snap] = {}
        xy = np.column_stack([fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy()])
        for name, net in self.networks.items():
            s = snap_mod.snap_points(xy, net.graph, self.edges, net.mode, max_dist_m=sc.snap_max_m)
            fac_snaps[name] = s
            fac[f"snapped_{name}"] = s.ok
            fac[f"snap_dist_{name}_m"] = np.where(np.isfinite(s.dist), s.dist, np.nan)
            n_bad = int((~s.ok).sum())
            if n_bad:
                ids = ", ".join(fac.loc[~s.ok, "facility_id"].astype(str).head(10))
                warn(
                    f"{sc.facilities.name}: {n_bad} facilities are farther than "
                    f"{sc.snap_max_m:g} m from any road usable by {name} (ids {ids}"
                    f"{'...' if n_bad > 10 else ''}): they serve nobody by that mode; check their "
                    "coordinates or the network. They are listed in run.json."
                )
        return fac, fac_snaps

    def travel_times(self, timings: dict[str, float] | None = None):
        """Per-cell seconds to the nearest facility of each category and circle flags.

        Returns
        -------
        cells : GeoDataFrame
            The study's cells plus ``reachable_<mode>``, ``t_<mode>_<category>``
            (seconds, NaN beyond ``search_minutes``) and the
            :func:`~access.coverage.circles.evaluate_circles` columns.
        facilities : GeoDataFrame
            With ``snapped_<mode>`` and ``snap_dist_<mode>_m``.
        snaps : dict[str, Snap]
            Facility snaps per mode.
        """
        if not self.networks:
            self.build_networks()
        timings = {} if timings is None else timings
        sc = self.scenario
        progress = Progress(self.quiet)
        cells = self.cells.copy()
        with _timer(timings, "snap_facilities"):
            fac, fac_snaps = self.snap_facilities(self.facilities)
        limit = sc.search_minutes * 60.0
        for name, cats in _categories_by_mode(sc.circles).items():
            net = self.networks[name]
            penalty = net.mode.penalty_min * 60.0
            cells[f"reachable_{name}"] = net.cells.ok
            for cat in progress.iter(sorted(cats), f"routing {name}", unit="category"):
                with _timer(timings, f"nearest_{name}"):
                    mask = (fac["category"] == cat).to_numpy()
                    key = ("nearest", name, cat, limit, _fingerprint(fac[mask]))
                    if key not in self.memo:
                        t = np.full(len(cells), np.nan)
                        if mask.any():
                            sec, _ = queries.nearest(net.graph, net.cells, fac_snaps[name].subset(mask), limit,
                                                     penalty)
                            t = np.where(np.isfinite(sec), sec, np.nan)
                        self.memo[key] = t
                    cells[f"t_{name}_{cat}"] = self.memo[key]
        with _timer(timings, "circles"):
            cells = cells.join(circles_mod.evaluate_circles(cells, sc.circles, sc.modes))
        return cells, fac, fac_snaps

    def service_areas(self, fac: gpd.GeoDataFrame, fac_snaps: dict[str, Snap]) -> gpd.GeoDataFrame:
        """One polygon per (circle, category): roads reachable in time, buffered 50 m."""
        progress = Progress(self.quiet)
        out = []
        for circle in progress.iter(self.scenario.circles, "service areas", unit="circle"):
            net = self.networks[circle.mode]
            limit = circles_mod.circle_limit_s(circle, self.scenario.modes)
            penalty = net.mode.penalty_min * 60.0
            for cat in circle.categories:
                mask = (fac["category"] == cat).to_numpy() & fac_snaps[circle.mode].ok
                if not mask.any():
                    continue
                key = ("area", circle.mode, cat, limit, _fingerprint(fac[mask]))
                if key in self.memo:
                    out.append(self.memo[key].assign(circle=circle.name))
                    continue
                # one search from all facilities of the category: its area is the
                # union of theirs, at the cost of a single Dijkstra
                node_times = _nearest_node_times(net.graph, fac_snaps[circle.mode].subset(mask), limit - penalty)
                # 25 m pixels: the outline is within ~25 m of the exact 50 m road buffer,
                # plenty for a county map, and 4x cheaper than the 12.5 m default
                areas = service_areas(net.graph, self.edges.lines(self.crs), node_times, limit - penalty,
                                      buffer_m=50.0, resolution_m=25.0, crs=self.crs)
                if len(areas):
                    self.memo[key] = gpd.GeoDataFrame(
                        {"circle": [circle.name], "category": [cat], "facilities": [int(mask.sum())],
                         "minutes": [limit / 60.0]}, geometry=[dissolve(areas)], crs=self.crs)
                    out.append(self.memo[key])
        if not out:
            return _empty_areas(self.crs)
        return gpd.GeoDataFrame(pd.concat(out, ignore_index=True), crs=self.crs)

    def _supply(self, cells, fac, fac_snaps) -> pd.DataFrame:
        """2SFCA supply per 1,000 persons by township for each scenario target."""
        parts = []
        for target in self.scenario.targets:
            net = self.networks[target.mode]
            mask = fac["category"].isin(target.categories).to_numpy() & fac_snaps[target.mode].ok
            limit = target.minutes * 60.0
            key = ("supply", target.name, target.mode, limit, target.capacity_column, _fingerprint(fac[mask]))
            per_1000 = self.memo.get(key)
            if per_1000 is None and not mask.any():
                per_1000 = np.zeros(len(cells))
            if per_1000 is None:
                table = queries.catchments(net.graph, fac_snaps[target.mode].subset(mask), net.cells, limit,
                                           net.mode.penalty_min * 60.0)
                capacity = pd.to_numeric(fac.loc[mask, target.capacity_column], errors="coerce").fillna(0.0)
                per_1000 = fca_mod.two_step(table, capacity.to_numpy(float), cells["population"].to_numpy(float),
                                            limit, per=1000.0)
                self.memo[key] = per_1000
            cells[f"supply_{target.name}_per_1000"] = per_1000
            tw = fca_mod.by_township(per_1000, cells["population"].to_numpy(float), cells["township"].to_numpy())
            tw = tw.rename(columns={"value": "per_1000"})
            tw.insert(0, "target", target.name)
            tw["target_per_1000"] = target.per_1000
            tw["shortfall_per_1000"] = fca_mod.compare_target(tw["per_1000"], target.per_1000)
            tw["supply_needed"] = tw["shortfall_per_1000"] * tw["population"] / 1000.0
            parts.append(tw)
        if not parts:
            return pd.DataFrame(columns=["target", "township", "population", "per_1000", "target_per_1000",
                                         "shortfall_per_1000", "supply_needed"])
        return pd.concat(parts, ignore_index=True)


# ---------------------------------------------------------------- helpers
def summarise(sc: Scenario, crs, cells: gpd.GeoDataFrame, fac: gpd.GeoDataFrame,
              townships: gpd.GeoDataFrame | None, timings: dict[str, float] | None = None,
              progress: Progress | None = None, memo: dict | None = None) -> dict:
    """Coverage tables, gaps, township rules and equity from per-cell results.

    Works on the cells of a whole study, whether computed in one process or
    merged from partitions (:mod:`access.scale`).

    Returns
    -------
    dict with ``coverage_township``, ``coverage_county``, ``gaps``,
    ``rule_failures`` and ``equity``.
    """
    timings = {} if timings is None else timings
    progress = progress or Progress(True)
    with _timer(timings, "coverage"):
        cov_t = units_mod.coverage_table(cells, sc.circles, level="township", modes=sc.modes)
        cov_c = units_mod.coverage_table(cells, sc.circles, level="county", modes=sc.modes)
    with _timer(timings, "gaps"), progress.step("finding gaps"):
        cell_size = _cell_size(cells)
        parts = []
        for c in sc.circles:
            # a variant that leaves a circle's times alone leaves its gaps alone
            key = ("gaps", repr(c), cell_size, _columns_hash(cells, [f"t_{c.name}", f"in_{c.name}"]))
            if memo is None or key not in memo:
                gaps_c = gaps_mod.gap_areas(cells, c, cell_size, modes=sc.modes)
                if memo is None:
                    parts.append(gaps_c)
                    continue
                memo[key] = gaps_c
            parts.append(memo[key])
        parts = [p for p in parts if len(p)]
        gaps = (gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=crs)
                if parts else gpd.GeoDataFrame({"circle": [], "population": []}, geometry=[], crs=crs))
        rules = gaps_mod.township_rule_failures(townships, fac, sc.township_rules)
    with _timer(timings, "equity"):
        equity = equity_mod.equity_table(cells, sc.circles, groups="county", modes=sc.modes)
    return {"coverage_township": cov_t, "coverage_county": cov_c, "gaps": gaps, "rule_failures": rules,
            "equity": equity}


def _columns_hash(df: pd.DataFrame, columns: list[str]) -> int:
    return hash(tuple(np.ascontiguousarray(df[c].to_numpy()).tobytes() for c in columns if c in df))


def _fingerprint(fac: pd.DataFrame) -> int:
    """Hash of facility ids and positions: equal sets give equal cached results."""
    xy = np.column_stack([fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy()]).round(3)
    cap = pd.to_numeric(fac["capacity"], errors="coerce").to_numpy(float) if "capacity" in fac else np.empty(0)
    return hash((tuple(fac["facility_id"].astype(str)), xy.tobytes(), cap.tobytes()))


def _empty_areas(crs) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"circle": [], "category": [], "facilities": [], "minutes": []}, geometry=[], crs=crs)


def _nearest_node_times(graph: Graph, facilities: Snap, budget_s: float) -> pd.DataFrame:
    """Seconds from every node to the nearest facility within ``budget_s``.

    Returned as a single-source ``node_catchments`` table (source 0) so that
    :func:`access.coverage.service_areas.service_areas` draws the union of
    the facilities' areas in one polygon.
    """
    ok = np.asarray(facilities.ok, bool)
    nodes = np.concatenate([facilities.node_a[ok], facilities.node_b[ok]]).astype(np.int64)
    costs = np.concatenate([facilities.from_a[ok], facilities.from_b[ok]]).astype(np.float64)
    keep = np.isfinite(costs)
    rev = queries.reverse_graph(graph)
    t, _ = multi_source_nearest(rev.indptr, rev.indices, rev.weights, nodes[keep], costs[keep],
                                np.zeros(int(keep.sum()), np.int64), float(budget_s))
    reached = np.flatnonzero(np.isfinite(t))
    return pd.DataFrame({"source": np.zeros(len(reached), np.int64), "node": reached.astype(np.int64),
                         "seconds": t[reached]})


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
        # parent and urban describe townships; a county layer need not carry them
        county_fields = {k: v for k, v in (sc.boundary_fields or {}).items() if k in ("code", "name")}
        counties, acc = boundaries_mod.read_boundaries(
            sc.counties, crs, level="county", fields=county_fields or None, coords=sc.boundary_coords
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


def _cell_size(cells: gpd.GeoDataFrame) -> tuple[float, float]:
    """Grid spacing of the population cells along x and y, metres.

    A lon/lat raster (WorldPop's 3 arc-seconds) is about 83 m by 93 m in a
    projected CRS, so the two axes are measured apart: the median horizontal
    and vertical steps between nearest neighbours.
    """
    from scipy.spatial import cKDTree

    xy = np.column_stack([cells.geometry.x, cells.geometry.y])
    if len(xy) < 2:
        return 100.0, 100.0
    sample = xy[:: max(1, len(xy) // 20000)]
    _, idx = cKDTree(xy, balanced_tree=False, compact_nodes=False).query(sample, k=min(5, len(xy)))
    d = xy[idx[:, 1:]] - sample[:, None, :]
    ax, ay = np.abs(d[..., 0]).ravel(), np.abs(d[..., 1]).ravel()
    horiz, vert = ax > 2 * ay, ay > 2 * ax
    step = float(np.median(np.hypot(ax, ay)))
    dx = float(np.median(ax[horiz])) if horiz.any() else step
    dy = float(np.median(ay[vert])) if vert.any() else step
    return dx, dy


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
