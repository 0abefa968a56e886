"""A study: scenario -> inputs -> graphs -> results, and its variants.

``Study.load`` reads every input and builds one graph per travel mode once;
``Study.run`` computes travel times, circles, coverage, gaps, service areas,
equity and supply ratios; ``Study.variant`` adds, moves or closes facilities
(or changes a mode) while reusing the inputs, graphs and cell snapping, so a
what-if costs a fraction of the first run.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from access import checks as checks_mod
from access.accounting import Account
from access.coverage import capacity as capacity_mod
from access.coverage import circles as circles_mod
from access.coverage import demand as demand_mod
from access.coverage import indicators as indicators_mod
from access.coverage import equity as equity_mod
from access.coverage import gaps as gaps_mod
from access.coverage.service_areas import area_table, joined_areas, reach_mask
from access.coverage import units as units_mod
from access.coverage.standards import Circle
from access.errors import InputError, warn
from access.network import build as build_mod
from access.network import osm as osm_mod
from access.network import snap as snap_mod
from access.network.graph import Graph
from access.network.modes import TravelMode
from access.network.snap import Snap
from access.progress import Progress, timer
from access.routing import queries
from access.routing.dijkstra import multi_source_nearest
from access.scenario import Scenario, load_scenario
from access.siting import supply as supply_mod
from access.sources import boundaries as boundaries_mod
from access.sources import categories as categories_mod
from access.sources import datum as datum_mod
from access.sources import facilities as facilities_mod
from access.sources import population as population_mod
from access.sources.crs import utm_crs_for

@dataclass
class Network:
    """One travel mode's graph, its reverse, and the cells snapped onto it."""

    mode: TravelMode
    graph: Graph
    cells: Snap
    #: why each cell is unreachable by this mode ("" where it is reachable)
    cause: np.ndarray | None = None


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
    headline : DataFrame or None
        Distinct persons inside/outside each circle and outside any
        (:func:`access.coverage.indicators.headline`).
    completeness : DataFrame or None
        设施完备度 distribution per township and circle
        (:func:`access.coverage.indicators.completeness_table`).
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
    headline: pd.DataFrame | None = None
    completeness: pd.DataFrame | None = None
    #: capacity-aware coverage of ``allocate = true`` targets: ``township`` and
    #: ``facilities`` tables (:func:`access.coverage.capacity.target_tables`)
    capacity: dict[str, pd.DataFrame] | None = None
    #: partitioned runs (:mod:`access.scale`): the Parquet parts of ``cells.parquet``,
    #: one per unit; ``cells`` then holds only the columns the tables and report read
    cell_files: list[str] | None = None


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
    #: categories table of the facility file: raw value, key (or "dropped"), rule, count
    categories: pd.DataFrame | None = None
    #: road components per mode: nodes, persons, facilities, kept and why
    #: (:mod:`access.network.components`), set by :meth:`build_networks`
    components: pd.DataFrame | None = None

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
        return cls.read(scenario, quiet=quiet).build_networks().check_networks()

    @classmethod
    def read(cls, scenario: Scenario | str | Path, quiet: bool = False) -> "Study":
        """Read every input of ``scenario``; graphs are not built yet (``networks`` empty)."""
        sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        timings: dict[str, float] = {}
        progress = Progress(quiet)
        accounts: list[Account] = []
        # every reader's problems and the cross-input checks are gathered and
        # raised together, before any graph is built
        problems: list[str] = []
        edges = crs = counties = townships = cells = facilities = pop_acc = None
        parsed: dict = {}  # a point population's table, parsed once for the persons and the groups

        with timer(timings, "read_network"), progress.step("reading road network", sc.network.name), \
                _collect(problems):
            edges = osm_mod.read_network(sc.network)
            accounts.append(edges.account)
            crs = CRS.from_user_input(sc.crs) if sc.crs else _auto_crs(edges)
        crs = crs or checks_mod.fallback_crs(sc)

        with timer(timings, "read_boundaries"), progress.step("reading boundaries"), _collect(problems):
            counties, townships = _read_units(sc, crs, accounts)
        area = _study_area(counties, townships)

        with timer(timings, "read_population"), progress.step("reading population", sc.population.name), \
                _collect(problems):
            cells, pop_acc = population_mod.read_population(
                sc.population, crs, column=sc.population_column, area=area, tables=parsed
            )
            accounts.append(pop_acc)
        if sc.groups and cells is not None:
            with timer(timings, "read_groups"), progress.step("reading demand groups"), _collect(problems):
                cells, accs = population_mod.add_groups(cells, sc.groups, sc.population, crs, tables=parsed)
                accounts.extend(accs)
        parsed.clear()
        with timer(timings, "assign_units"), progress.step("assigning cells to townships and counties"), \
                _collect(problems):
            if cells is not None:
                cells, acc = units_mod.assign_units(cells, townships, counties)
                accounts.append(acc)
                if sc.urban_areas is not None:
                    cells = units_mod.mark_urban(cells, _read_urban_areas(sc.urban_areas))

        with timer(timings, "read_facilities"), progress.step("reading facilities", sc.facilities.name), \
                _collect(problems):
            facilities, acc = facilities_mod.read_facilities(
                sc.facilities,
                crs,
                columns=sc.columns or None,
                coords=sc.facility_coords,
                extra_categories=sc.categories or None,
                encoding=sc.encoding,
                unknown=sc.unknown_categories,
            )
            accounts.append(acc)
        with timer(timings, "check_inputs"), progress.step("checking that the inputs fit together"):
            report = checks_mod.check_inputs(sc, edges, cells, facilities, counties, townships, pop_acc)
        if problems or report.problems:
            raise InputError(problems + report.problems)
        for w in report.warnings:
            warn(w)
        _print_lines([ln for ln in report.lines if ln not in report.warnings], quiet)
        accounts.append(Account(source="input checks", notes=report.lines))
        categories = facilities.attrs.get("categories")
        _print_lines(categories_mod.summary_lines(categories), quiet)
        roads = datum_mod.road_lines(edges.projected(crs)[1], edges.offsets)
        fits = datum_mod.check_datums(sc, facilities, counties, townships, roads)
        accounts.append(Account(source="datum check", notes=[f.text() for f in fits]))
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
            categories=categories,
        )

    def build_networks(self) -> "Study":
        """Build each mode's graph, keep the road components points may snap to
        (:mod:`access.network.components`) and snap the cells onto them.

        Sets ``networks``, ``components`` and one account per mode of the
        cells left unreachable and why (in place; returns self).
        """
        progress = Progress(self.quiet)
        tables = []
        for name in _modes_used(self.scenario):
            mode = self.scenario.modes[name]
            with timer(self.timings, f"graph_{name}"), progress.step(f"building {name} graph"):
                graph = build_mod.build_graph(self.edges, mode, self.crs)
            with timer(self.timings, f"snap_cells_{name}"), progress.step(
                f"snapping {len(self.cells):,} cells to the {name} network"
            ):
                self.networks[name], table = _mode_network(self, name, mode, graph)
            tables.append(table)
            self.accounts.append(_reach_account(name, self.networks[name], self.cells))
        self.components = pd.concat(tables, ignore_index=True) if tables else None
        return self

    def check_networks(self) -> "Study":
        """Persons and facilities on each mode's roads, before any routing (returns self).

        Raises
        ------
        InputError
            No cell reaches a mode's roads, too many facilities off the
            roads, or a circle service with no facility on them (see
            :class:`access.checks.CheckSettings` for what ``[checks]`` lowers).
        """
        sc = self.scenario
        _, snaps = self.snap_facilities(self.facilities)
        report = checks_mod.network_problems(
            {m: n.cells.ok for m, n in self.networks.items()}, self.cells["population"].to_numpy(float),
            self.facilities, {m: s.ok for m, s in snaps.items()}, sc.circles, sc.checks, sc.snap_max_m,
            {"population": sc.population.name, "network": sc.network.name, "facilities": sc.facilities.name})
        if report.problems:
            raise InputError(report.problems)
        for w in report.warnings:
            warn(w)
        _print_lines([ln for ln in report.lines if ln not in report.warnings], self.quiet)
        checked = next((a for a in self.accounts if a.source == "input checks"), None)
        if checked is not None:
            checked.notes.extend(report.lines)
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

        The road components points may snap to stay those chosen for the
        study's own facilities: a facility added beside a left-out fragment
        snaps to the nearest kept road (or is reported off the network).
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
        components = self.components
        if modes:
            scenario = replace(scenario, modes={**scenario.modes, **modes})
            tables = [] if self.components is None else [self.components[~self.components["mode"].isin(modes)]]
            for name, mode in modes.items():
                graph = build_mod.build_graph(self.edges, mode, self.crs)
                networks[name], table = _mode_network(replace(self, scenario=scenario), name, mode, graph)
                tables.append(table)
            components = pd.concat(tables, ignore_index=True)
        memo = self.memo
        if modes:  # cached times of a changed mode are stale
            memo = {k: v for k, v in memo.items() if k[1] not in modes and k[0] != "snap"}
        return replace(self, scenario=scenario, facilities=fac.reset_index(drop=True), networks=networks,
                       timings={}, memo=memo, components=components)

    # ------------------------------------------------------------------- run
    def run(self, service_areas: bool = True) -> Results:
        """Compute travel times, circles, coverage, gaps, equity and supply."""
        timings: dict[str, float] = {}
        progress = Progress(self.quiet)
        cells, fac, fac_snaps = self.travel_times(timings)
        tables = summarise(self.scenario, self.crs, cells, fac, self.townships, timings, progress, self.memo)
        areas = joined_areas([], self.crs)
        if service_areas:
            with timer(timings, "service_areas"):
                areas = self.service_areas(fac, fac_snaps)
        with timer(timings, "supply"):
            supply = self._supply(cells, fac, fac_snaps)
        allocate = any(t.allocate for t in self.scenario.targets)
        with timer(timings, "capacity"), progress.step("allocating capacity, nearest persons first") if allocate \
                else nullcontext():
            capacity = self._capacity(cells, fac, fac_snaps)
        return Results(cells=cells, facilities=fac, service_areas=areas, supply=supply, timings=timings,
                       capacity=capacity, **tables)

    def snap_facilities(self, fac: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, dict[str, Snap]]:
        """Snap facilities to each mode's roads; far ones are flagged and warned about, never moved."""
        sc = self.scenario
        # the input checks snap before routing does: once is enough, and warns once
        key = ("snap", _fingerprint(fac), tuple(self.networks))
        if key in self.memo:
            snapped, fac_snaps = self.memo[key]
            return snapped.copy(), dict(fac_snaps)
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
                # those beside a left-out road fragment would snap without the pruning
                frag = (int(snap_mod.snap_points(xy[~s.ok], replace(net.graph, kept=None), self.edges, net.mode,
                                                 max_dist_m=sc.snap_max_m).ok.sum())
                        if net.graph.kept is not None else 0)
                where = (f" ({frag} of them only near disconnected road fragments, see the components table)"
                         if frag else "")
                warn(
                    f"{sc.facilities.name}: {n_bad} facilities are farther than "
                    f"{sc.snap_max_m:g} m from any connected road usable by {name}{where} (ids {ids}"
                    f"{'...' if n_bad > 10 else ''}): they serve nobody by that mode; check their "
                    "coordinates or the network. They are listed in run.json."
                )
        self.memo[key] = (fac, fac_snaps)
        return fac.copy(), dict(fac_snaps)

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
        cells = self.cells
        with timer(timings, "snap_facilities"):
            fac, fac_snaps = self.snap_facilities(self.facilities)
        limit = sc.search_minutes * 60.0
        new: dict[str, object] = {}  # added at once, sharing the memo's arrays (no copy per column)
        for name, cats in _categories_by_mode(sc.circles).items():
            net = self.networks[name]
            penalty = net.mode.penalty_min * 60.0
            new[f"reachable_{name}"] = net.cells.ok
            if net.cause is not None:
                new[f"why_unreachable_{name}"] = pd.Categorical(net.cause)
            for cat in progress.iter(sorted(cats), f"routing {name}", unit="category"):
                with timer(timings, f"nearest_{name}"):
                    mask = (fac["category"] == cat).to_numpy()
                    key = ("nearest", name, cat, limit, _fingerprint(fac[mask]))
                    if key not in self.memo:
                        t = np.full(len(cells), np.nan)
                        row = np.full(len(cells), -1)
                        ids = np.unique(fac.loc[mask, "facility_id"].astype(str).to_numpy(object))
                        if mask.any():
                            sec, row = queries.nearest(net.graph, net.cells, fac_snaps[name].subset(mask), limit,
                                                       penalty)
                            t = np.where(np.isfinite(sec), sec, np.nan)
                            pos = np.searchsorted(ids, fac.loc[mask, "facility_id"].astype(str).to_numpy(object))
                            row = np.where(row >= 0, pos[np.maximum(row, 0)], -1)
                        # the nearest facility's id: a code per cell, not a string
                        self.memo[key] = (t, pd.Categorical.from_codes(row, categories=ids))
                    new[f"t_{name}_{cat}"], new[f"nearest_{name}_{cat}"] = self.memo[key]
        cells = gpd.GeoDataFrame(
            pd.concat([cells.drop(columns=[c for c in new if c in cells]), pd.DataFrame(new, index=cells.index,
                                                                                        copy=False)], axis=1),
            geometry=cells.geometry.name, crs=cells.crs)
        with timer(timings, "circles"), progress.step("checking each cell against the circles"):
            cells = cells.join(circles_mod.evaluate_circles(cells, sc.circles, sc.modes))
        return cells, fac, fac_snaps

    def area_masks(self, fac: gpd.GeoDataFrame, fac_snaps: dict[str, Snap]) -> list[dict]:
        """Per (circle, category): the pixels of road reachable in time, buffered 50 m.

        Returns
        -------
        list of dict with ``circle``, ``category``, ``facilities`` (snapped
        ones of the category), ``minutes`` and ``mask``
        (:class:`~access.coverage.service_areas.ReachMask`, 25 m pixels).
        """
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
                if key not in self.memo:
                    # one search from all facilities of the category: its area is the
                    # union of theirs, at the cost of a single Dijkstra
                    node_times = _nearest_node_times(net.graph, fac_snaps[circle.mode].subset(mask), limit - penalty)
                    # 25 m pixels: the outline is within ~25 m of the exact 50 m road buffer,
                    # plenty for a county map, and 4x cheaper than 12.5 m
                    self.memo[key] = reach_mask(net.graph, self.edges.lines(self.crs), node_times, limit - penalty,
                                                buffer_m=50.0, resolution_m=25.0)
                if self.memo[key] is not None:
                    out.append({"circle": circle.name, "category": cat, "facilities": int(mask.sum()),
                                "minutes": limit / 60.0, "mask": self.memo[key]})
        return out

    def service_areas(self, fac: gpd.GeoDataFrame, fac_snaps: dict[str, Snap]) -> gpd.GeoDataFrame:
        """One polygon per (county, circle, category): road reachable in time, buffered 50 m, within the county."""
        return area_table([(a, [a["mask"]]) for a in self.area_masks(fac, fac_snaps)], self.counties, self.crs)

    def _supply(self, cells, fac, fac_snaps) -> pd.DataFrame:
        """2SFCA supply per 1,000 persons by township for each scenario target."""
        progress = Progress(self.quiet)
        parts = []
        for target in self.scenario.targets:
            group = supply_mod.target_group(target, self.scenario)
            population = supply_mod.target_persons(cells, target, self.scenario)
            net = self.networks[target.mode]
            mask = fac["category"].isin(target.categories).to_numpy() & fac_snaps[target.mode].ok
            limit = target.minutes * 60.0
            key = ("supply", target.name, group, target.mode, limit, target.capacity_column,
                   _fingerprint(fac[mask]))
            if key not in self.memo:
                capacity = pd.to_numeric(fac.loc[mask, target.capacity_column], errors="coerce").fillna(0.0)
                self.memo[key] = supply_mod.per_1000(
                    net.graph, fac_snaps[target.mode].subset(mask), net.cells, capacity.to_numpy(float),
                    population, limit, net.mode.penalty_min * 60.0, progress, desc=f"supply {target.name}")
            cells[f"supply_{target.name}_per_1000"] = self.memo[key]
            parts.append(supply_mod.township_table(target, self.memo[key], population, cells["township"].to_numpy(),
                                                   group))
        return pd.concat(parts, ignore_index=True) if parts else supply_mod.empty_table()

    def _capacity(self, cells, fac, fac_snaps) -> dict[str, pd.DataFrame] | None:
        """Persons served up to capacity, nearest first, for targets with ``allocate = true``."""
        towns, facs = [], []
        for target in (t for t in self.scenario.targets if t.allocate):
            net = self.networks[target.mode]
            mask = fac["category"].isin(target.categories).to_numpy() & fac_snaps[target.mode].ok
            units = pd.to_numeric(fac.loc[mask, target.capacity_column], errors="coerce")
            if units.isna().any():
                warn(f"target {target.name}: {int(units.isna().sum())} facilities have no "
                     f"{target.capacity_column}; they serve nobody in the capacity allocation.")
            snaps = fac_snaps[target.mode].subset(mask)

            def allocator(cap, dem, limit, net=net, snaps=snaps, **kw):
                return capacity_mod.allocate_network(net.graph, snaps, net.cells, cap, dem, limit,
                                                     net.mode.penalty_min * 60.0, **kw)

            served, tw, ft = capacity_mod.target_tables(target, allocator, fac.loc[mask], units.to_numpy(float),
                                                        cells, self.townships,
                                                        supply_mod.target_persons(cells, target, self.scenario),
                                                        Progress(self.quiet))
            cells[f"served_{target.name}"] = served
            towns.append(tw)
            facs.append(ft)
        if not towns:
            return None
        return {"township": pd.concat(towns, ignore_index=True), "facilities": pd.concat(facs, ignore_index=True)}


# ---------------------------------------------------------------- helpers
def summarise(sc: Scenario, crs, cells: gpd.GeoDataFrame, fac: gpd.GeoDataFrame,
              townships: gpd.GeoDataFrame | None, timings: dict[str, float] | None = None,
              progress: Progress | None = None, memo: dict | None = None,
              gaps: gpd.GeoDataFrame | None = None) -> dict:
    """Coverage tables, gaps, township rules and equity from per-cell results.

    Works on the cells of a whole study, whether computed in one process or
    merged from partitions (:mod:`access.scale`, which traces ``gaps`` per
    part: the cells need no points then).

    Returns
    -------
    dict with ``coverage_township``, ``coverage_county``, ``gaps``,
    ``rule_failures``, ``equity``, ``headline`` and ``completeness``.
    """
    timings = {} if timings is None else timings
    progress = progress or Progress(True)
    demand = demand_mod.demand_map(sc.groups, sc.demand)
    lost = demand_mod.missing_groups(sc.circles, sc.groups, sc.demand) if sc.groups else []
    if lost:
        warn(f"no persons given for demand groups {', '.join(lost)}: their services count everyone; add "
             "them under [inputs.groups] or map their categories under [demand].")
    if any(c.scope != "all" for c in sc.circles) and "urban" not in cells.columns:
        warn("no township polygons or urban areas: urban and rural cells cannot be told apart, so every "
             "circle applies to every cell; give [inputs] townships or urban_areas.")
    with timer(timings, "coverage"), progress.step("coverage by county and township"):
        cov_t = units_mod.coverage_table(cells, sc.circles, level="township", modes=sc.modes, demand=demand)
        cov_c = units_mod.coverage_table(cells, sc.circles, level="county", modes=sc.modes, demand=demand)
        head = indicators_mod.headline(cells, sc.circles, demand=demand, modes=sc.modes)
        compl = indicators_mod.completeness_table(cells, sc.circles, level="township", demand=demand,
                                                  modes=sc.modes)
    with timer(timings, "gaps"), progress.step("finding gaps"):
        if gaps is None:
            gaps = _trace_gaps(sc, crs, cells, fac, demand, memo)
        rules = gaps_mod.township_rule_failures(townships, fac, sc.township_rules)
    with timer(timings, "equity"), progress.step("equity"):
        equity = equity_mod.equity_table(cells, sc.circles, groups="county", modes=sc.modes, demand=demand)
    return {"coverage_township": cov_t, "coverage_county": cov_c, "gaps": gaps, "rule_failures": rules,
            "equity": equity, "headline": head, "completeness": compl}


def _trace_gaps(sc: Scenario, crs, cells: gpd.GeoDataFrame, fac: gpd.GeoDataFrame, demand: dict,
                memo: dict | None) -> gpd.GeoDataFrame:
    """Every circle's gaps (:func:`access.coverage.gaps.gap_areas`), each kept in ``memo`` by what it reads."""
    cell_size = _cell_size(cells)
    parts = []
    for c in sc.circles:
        # a variant that leaves a circle's times alone leaves its gaps alone
        # (gaps name each missing service's time and nearest facility)
        near = [f"nearest_{c.mode}_{k}" for k in c.categories if f"nearest_{c.mode}_{k}" in cells]
        key = ("gaps", repr(c), cell_size, repr(demand),
               _columns_hash(cells, [f"t_{c.name}", f"in_{c.name}", *[f"t_{c.mode}_{k}" for k in c.categories],
                                     *near]))
        if memo is None or key not in memo:
            gaps_c = gaps_mod.gap_areas(cells, c, cell_size, modes=sc.modes, demand=demand, facilities=fac)
            if memo is None:
                parts.append(gaps_c)
                continue
            memo[key] = gaps_c
        parts.append(memo[key])
    return gaps_mod.joined(parts, crs)


def _columns_hash(df: pd.DataFrame, columns: list[str]) -> int:
    return hash(tuple(_column_bytes(df[c]) for c in columns if c in df))


def _column_bytes(v: pd.Series) -> bytes:
    """A column's content as bytes; a categorical's by its codes and categories."""
    if isinstance(v.dtype, pd.CategoricalDtype):
        return v.cat.codes.to_numpy().tobytes() + "\x1f".join(map(str, v.cat.categories)).encode()
    if not isinstance(v.dtype, np.dtype) or v.dtype == object:  # text: its values, not its pointers
        return pd.util.hash_array(v.to_numpy(object)).tobytes()
    return np.ascontiguousarray(v.to_numpy()).tobytes()


def _fingerprint(fac: pd.DataFrame) -> int:
    """Hash of facility ids and positions: equal sets give equal cached results."""
    xy = np.column_stack([fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy()]).round(3)
    cap = pd.to_numeric(fac["capacity"], errors="coerce").to_numpy(float) if "capacity" in fac else np.empty(0)
    return hash((tuple(fac["facility_id"].astype(str)), xy.tobytes(), cap.tobytes()))


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


def _print_lines(lines: list[str], quiet: bool) -> None:
    """The checks' figures (persons dropped, facilities off the roads) on the console."""
    if not quiet:
        for line in lines:
            print(f"  {line}", file=sys.stderr, flush=True)


@contextmanager
def _collect(problems: list[str]):
    """Gather an :class:`InputError`'s problems instead of stopping at the first file."""
    try:
        yield
    except InputError as exc:
        problems.extend(exc.problems)


def _auto_crs(edges) -> CRS:
    lon, lat = osm_mod.centre_lonlat(edges)
    return utm_crs_for(lon, lat)


def _read_units(sc: Scenario, crs: CRS, accounts: list[Account]):
    counties = townships = None
    if sc.counties:
        # parent and urban describe townships; a county layer need not carry them
        county_fields = {k: v for k, v in (sc.boundary_fields or {}).items() if k in ("code", "name", "level")}
        counties, acc = boundaries_mod.read_boundaries(
            sc.counties, crs, level="county", fields=county_fields or None, coords=sc.boundary_coords,
            keep_level=sc.county_level, persons=checks_mod.persons_in(sc, crs),
        )
        accounts.append(acc)
    elif sc.counties_cnmaps:
        counties = boundaries_mod.cnmaps_counties(sc.counties_cnmaps, crs)
    if sc.townships:
        townships, acc = boundaries_mod.read_boundaries(
            sc.townships, crs, level="township", fields=sc.boundary_fields or None, coords=sc.boundary_coords,
            keep_level=sc.township_level, persons=checks_mod.persons_in(sc, crs),
        )
        accounts.append(acc)
    return counties, townships


def _read_urban_areas(path: Path) -> gpd.GeoDataFrame:
    """Urban/built-up polygons (城区/建成区) named by ``[inputs] urban_areas``."""
    try:
        areas = gpd.read_file(path)
    except Exception as exc:
        raise InputError(f"{path}: cannot read the urban areas ({type(exc).__name__}: {exc}); give polygons "
                         "(GeoJSON, GeoPackage or Shapefile).") from None
    if areas.crs is None:
        raise InputError(f"{path}: urban areas have no CRS; add a .prj or save them as GeoJSON (WGS84).")
    kinds = set(areas.geometry.geom_type.dropna())
    if not kinds <= {"Polygon", "MultiPolygon"}:
        raise InputError(f"{path}: urban areas must be polygons, found {sorted(kinds)}.")
    return areas


def _study_area(counties, townships):
    for units in (counties, townships):
        if units is not None and len(units):
            return units
    return None


def _mode_network(study: "Study", name: str, mode: TravelMode, graph: Graph) -> tuple[Network, pd.DataFrame]:
    """The mode's network on its kept components, and its components table."""
    from access.network import components as components_mod

    sc = study.scenario
    cats = set(_categories_by_mode(sc.circles).get(name, set()))
    for t in sc.targets:
        if t.mode == name:
            cats.update(t.categories)
    fac = study.facilities[study.facilities["category"].isin(cats).to_numpy()]
    kept = components_mod.keep_components(
        graph, study.edges, mode, _xy(study.cells), study.cells["population"].to_numpy(float), _xy(fac),
        sc.snap_max_m)
    if (kept.table["persons_unreachable"] > 0).any():
        warn(components_mod.summary(kept.table, float(study.cells["population"].sum())))
    return Network(mode=mode, graph=kept.graph, cells=kept.cells, cause=kept.cause), kept.table


def _reach_account(name: str, net: Network, cells: gpd.GeoDataFrame) -> Account:
    """Cells and persons that reach the mode's kept roads, and why the others do not."""
    pop = cells["population"].to_numpy(float)
    ok = np.asarray(net.cells.ok, bool)
    acc = Account(f"cells on the {name} network", read=len(ok), kept=int(ok.sum()),
                  population_read=float(pop.sum()), population_kept=float(pop[ok].sum()))
    causes = pd.Series(pop[~ok]).groupby(np.asarray(net.cause, object)[~ok]).agg(["size", "sum"])
    for cause, (n, persons) in causes.iterrows():
        acc.drop(str(cause), int(n), float(persons))
    return acc


def _xy(gdf: gpd.GeoDataFrame) -> np.ndarray:
    return np.column_stack([gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy()])


def _modes_used(sc: Scenario) -> list[str]:
    names = [c.mode for c in sc.circles] + [t.mode for t in sc.targets]
    return list(dict.fromkeys(names))


def _categories_by_mode(circles: list[Circle]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for c in circles:
        out.setdefault(c.mode, set()).update(c.categories)
    return out


#: grid spacing, metres, on which gaps of scattered (not gridded) population points are
#: traced: the 100 m of WorldPop's and GHS-POP's finest population grids
POINT_GRID_M = 100.0


def _cell_size(cells: gpd.GeoDataFrame) -> tuple[float, float]:
    """Grid spacing of the population cells along x and y, metres.

    A lon/lat raster (WorldPop's 3 arc-seconds) is about 83 m by 93 m in a
    projected CRS, so the two axes are measured apart: the median horizontal
    and vertical steps between nearest neighbours.
    """
    from scipy.spatial import cKDTree

    xy = np.column_stack([cells.geometry.x, cells.geometry.y])
    if len(xy) < 2:
        return POINT_GRID_M, POINT_GRID_M
    sample = xy[:: max(1, len(xy) // 20000)]
    _, idx = cKDTree(xy, balanced_tree=False, compact_nodes=False).query(sample, k=min(5, len(xy)))
    d = xy[idx[:, 1:]] - sample[:, None, :]
    ax, ay = np.abs(d[..., 0]).ravel(), np.abs(d[..., 1]).ravel()
    horiz, vert = ax > 2 * ay, ay > 2 * ax
    step = float(np.median(np.hypot(ax, ay)))
    dx, dy = _grid_step(ax[horiz], step), _grid_step(ay[vert], step)
    # cells of a grid (even a sparse, reprojected lon/lat one) sit a whole number of
    # steps apart; scattered points (addresses, census points) do not, and a grid
    # fitted to their nearest-neighbour steps would break every gap into one island
    # per point
    fx, fy = ax / dx, ay / dy
    if np.mean((np.abs(fx - np.round(fx)) < 0.1) & (np.abs(fy - np.round(fy)) < 0.1)) < 0.5:
        return POINT_GRID_M, POINT_GRID_M
    return dx, dy


def _grid_step(steps: np.ndarray, fallback: float) -> float:
    """One grid step from neighbour offsets along an axis: the median of the shortest ones."""
    if not len(steps):
        return fallback
    short = steps[steps < 1.5 * np.quantile(steps, 0.1)]
    return float(np.median(short)) if len(short) else fallback


def _as_facilities(add, crs, existing_ids: set) -> gpd.GeoDataFrame:
    add = add.copy()
    if not isinstance(add, gpd.GeoDataFrame):
        add = gpd.GeoDataFrame(add, geometry=gpd.points_from_xy(add["x"], add["y"]), crs=crs)
    clash = sorted(set(add["facility_id"].astype(str)) & existing_ids)
    if clash:
        raise InputError(f"variant: new facility ids already exist: {clash}; choose new ids")
    for col, default in (("name", ""), ("capacity", np.nan), ("category_raw", ""), ("category_rule", "variant")):
        if col not in add:
            add[col] = default
    add["facility_id"] = add["facility_id"].astype(str)
    return add.to_crs(crs)
