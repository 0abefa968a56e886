"""Inputs checked against each other before any heavy work.

Each reader checks its own file; the functions here check the files
*together*: that population, roads, facilities and boundaries cover the same
place, that the persons and facilities dropped on the way stay few, that
every circle has facilities to measure, and that the output folder can be
written. Each returns a :class:`CheckReport` of problems (errors), warnings
(one line each) and console lines (the figures with their causes). They are
small pure functions of the inputs already read; :meth:`access.study.Study.read`
and :meth:`access.study.Study.check_networks` call them, so ``access validate``
and ``access run`` report exactly the same problems, all at once, before any
routing.

Thresholds are the ``[checks]`` table of the scenario (:class:`CheckSettings`).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "CheckSettings",
    "CheckReport",
    "lonlat_bounds",
    "extent_problems",
    "dropped_persons",
    "empty_units",
    "facility_problems",
    "network_problems",
    "output_problems",
]

UNREACHABLE_FIX = "or accept it with [checks] allow_unreachable = true"
NO_FACILITY_FIX = "or accept it with [checks] allow_no_facility = true"


@dataclass(frozen=True)
class CheckSettings:
    """The scenario's ``[checks]`` table: what a run may tolerate.

    Attributes
    ----------
    allow_unreachable : bool
        When true, a travel mode on which no population cell reaches a road
        is a warning, not an error (default false: a 0 % map is never right).
    allow_no_facility : bool
        When true, a circle service or supply target without any facility
        (or without any on the roads) is a warning, not an error.
    max_dropped_persons_share : float
        Largest share of the persons read (0-1) that may be dropped (outside
        the study area, no-data) before it is an error. Default 0.05: the
        cells along a county border clipped from a WorldPop raster are 1-3 %
        of its persons; more means files of different areas.
    max_facilities_off_network_share : float
        Largest share of facilities (0-1) farther than ``[snap]
        max_distance_m`` from every road of a mode. Default 0.20: real POI
        dumps hold some facilities in unmapped villages; a fifth or more
        means a datum shift (GCJ-02) or a network of another area.
    """

    allow_unreachable: bool = False
    allow_no_facility: bool = False
    max_dropped_persons_share: float = 0.05
    max_facilities_off_network_share: float = 0.20


@dataclass
class CheckReport:
    """What the checks found.

    Attributes
    ----------
    problems : list of str
        Errors, one paragraph each, naming files, rows and the fix.
    warnings : list of str
        One line each.
    lines : list of str
        Figures printed on the console and kept in ``run.json`` (persons
        dropped, facilities off the roads, units without population).
    """

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def extend(self, other: "CheckReport") -> "CheckReport":
        self.problems += other.problems
        self.warnings += other.warnings
        self.lines += other.lines
        return self

    def error_or_warning(self, message: str, lowered: bool) -> None:
        (self.warnings if lowered else self.problems).append(message)


# ------------------------------------------------------------------ extents
Bounds = tuple[float, float, float, float]


def lonlat_bounds(gdf) -> Bounds | None:
    """(west, south, east, north) in WGS84 degrees of a GeoDataFrame, or None when empty."""
    if gdf is None or len(gdf) == 0:
        return None
    if gdf.crs is None:
        b = gdf.to_crs(4326).total_bounds  # raises geopandas' own message for naive geometries
    else:
        # the vertices' coordinates only: a million points need no new geometries for a bounding box
        import shapely
        from pyproj import Transformer

        xy = shapely.get_coordinates(gdf.geometry.values)
        x, y = Transformer.from_crs(gdf.crs, 4326, always_xy=True).transform(xy[:, 0], xy[:, 1])
        with np.errstate(invalid="ignore"):
            b = np.array([np.min(x), np.min(y), np.max(x), np.max(y)]) if len(xy) else np.full(4, np.nan)
    return tuple(float(v) for v in b) if np.isfinite(b).all() else None


def raster_lonlat_bounds(path) -> Bounds | None:
    """Extent of a raster from its header alone (no pixel is read), WGS84 degrees."""
    import rasterio
    from rasterio.warp import transform_bounds

    try:
        with rasterio.open(path) as src:
            if src.crs is None:
                return None
            return tuple(float(v) for v in transform_bounds(src.crs, "EPSG:4326", *src.bounds))
    except Exception:  # unreadable rasters are reported by the reader
        return None


def _fmt(b: Bounds) -> str:
    return f"lon {b[0]:.3f}..{b[2]:.3f}, lat {b[1]:.3f}..{b[3]:.3f}"


def _gap_km(a: Bounds, b: Bounds) -> float:
    """Distance between two lon/lat boxes, km (0 when they overlap)."""
    lat = math.radians((max(a[1], b[1]) + min(a[3], b[3])) / 2)
    dx = max(0.0, b[0] - a[2], a[0] - b[2]) * 111.32 * math.cos(lat)
    dy = max(0.0, b[1] - a[3], a[1] - b[3]) * 110.57
    return math.hypot(dx, dy)


def extent_problems(layers: dict[str, tuple[str, Bounds | None]]) -> CheckReport:
    """Layers that do not overlap, each pair named with both extents.

    Parameters
    ----------
    layers : dict
        ``"population" | "network" | "facilities" | "boundaries"`` -> (file
        name, (west, south, east, north) in degrees or None when unknown).
        Population must meet the network and the boundaries; facilities and
        boundaries must meet the network.
    """
    rep = CheckReport()
    pairs = [("population", "network"), ("population", "boundaries"), ("facilities", "network"),
             ("boundaries", "network")]
    for a, b in pairs:
        if a not in layers or b not in layers:
            continue
        (fa, ba), (fb, bb) = layers[a], layers[b]
        if ba is None or bb is None:
            continue
        gap = _gap_km(ba, bb)
        if gap > 0:
            rep.problems.append(
                f"{fa} ({a}: {_fmt(ba)}) does not overlap {fb} ({b}: {_fmt(bb)}); they are {gap:,.0f} km apart. "
                f"Fix: give files of the same area (look for swapped lon/lat, a coordinate system set wrongly, "
                f"or a file of another county).")
    return rep


# --------------------------------------------------------------- population
def dropped_persons(account, settings: CheckSettings, source: str) -> CheckReport:
    """Share of persons read that were dropped, with causes; an error above the threshold.

    Parameters
    ----------
    account : Account
        The population reader's account (persons read, dropped by reason).
    settings : CheckSettings
    source : str
        Population file name, for the messages.
    """
    rep = CheckReport()
    read = float(account.population_read or 0.0)
    lost = {k: v for k, v in account.population_dropped.items() if v > 0}
    cells_nodata = int(account.dropped.get("NaN value", 0))
    dropped = float(sum(lost.values()))
    share = dropped / read if read > 0 else 0.0
    causes = "; ".join(f"{v:,.0f} persons {k}" for k, v in lost.items()) or "none"
    extra = f"; {cells_nodata:,} cells NaN (no data)" if cells_nodata else ""
    rep.lines.append(f"population: {read:,.0f} persons read from {source}, {dropped:,.0f} dropped "
                     f"({share:.1%}): {causes}{extra}")
    if share > settings.max_dropped_persons_share:
        rep.problems.append(
            f"{source}: {share:.1%} of its persons ({dropped:,.0f} of {read:,.0f}) are dropped ({causes}), more "
            f"than [checks] max_dropped_persons_share = {settings.max_dropped_persons_share:g}. Fix: give a "
            f"population file and boundaries of the same area (clip a larger raster to the study area with "
            f"`access fetch worldpop --clip`), or accept it with [checks] max_dropped_persons_share = "
            f"{math.ceil(share * 100) / 100:g}.")
    return rep


def empty_units(cells, units, level: str, source: str, shown: int = 20) -> CheckReport:
    """Counties or townships that end with no population, listed by name and code."""
    rep = CheckReport()
    if units is None or not len(units) or cells is None or level not in cells:
        return rep
    from access.coverage.units import OUTSIDE

    # codes per distinct value: a million cells hold a few hundred units
    codes, values = pd.factorize(cells[level], use_na_sentinel=False)
    values = pd.Index(values).astype(str)
    pop = cells["population"].to_numpy(float)
    out = np.isin(codes, np.flatnonzero(values == OUTSIDE))
    if out.any():
        rep.lines.append(f"{float(pop[out].sum()):,.0f} persons ({int(out.sum()):,} cells) "
                         f"of the study area lie in no {level} polygon; they count in the totals only")
    have = set(values[np.unique(codes[pop > 0])])
    empty = units[~units["code"].astype(str).isin(have)]
    if len(empty):
        names = ", ".join(f"{n} ({c})" for c, n in zip(empty["code"].head(shown), empty["name"].head(shown)))
        more = f" and {len(empty) - shown} more" if len(empty) > shown else ""
        msg = (f"{len(empty)} of {len(units)} {level}s have no population in {source}: {names}{more}; their "
               "coverage will be empty. Check that the population file covers them.")
        rep.warnings.append(msg)
        rep.lines.append(msg)
    return rep


# --------------------------------------------------------------- facilities
def _service_categories(circles) -> list[tuple[str, str, tuple[str, ...], str]]:
    """(circle name, service, categories, mode) of every circle requirement."""
    return [(c.name, svc, tuple(cats), c.mode) for c in circles for svc, cats in c.requirements.items()]


def facility_problems(fac, circles, targets, settings: CheckSettings, source: str) -> CheckReport:
    """Facilities left to measure: none at all, none for a circle service, target capacities.

    Parameters
    ----------
    fac : GeoDataFrame
        Facilities read (``category``, ``capacity``).
    circles : list of Circle
    targets : list of Target
    settings : CheckSettings
    source : str
        Facilities file name.
    """
    rep = CheckReport()
    if len(fac) == 0:
        rep.error_or_warning(f"{source}: no facility remains after reading, so every circle would show 0 %. Fix: "
                             f"check the file and its categories, {NO_FACILITY_FIX}.", settings.allow_no_facility)
        return rep
    have = set(fac["category"].astype(str))
    for circle, svc, cats, _ in _service_categories(circles):
        if not have.intersection(cats):
            rep.error_or_warning(
                f"{source}: circle {circle!r} needs service {svc!r} but the file has no facility of its "
                f"categories ({', '.join(cats)}), so nobody can be inside the circle (a 0 % map). Fix: add those "
                f"facilities or map your category names to them in [categories], drop the circle, "
                f"{NO_FACILITY_FIX}.", settings.allow_no_facility)
    for i, t in enumerate(targets, start=1):
        if t.capacity_column not in fac.columns:
            cols = [c for c in fac.columns if c != "geometry"]
            rep.problems.append(
                f"targets[{i}] ({t.name}): capacity_column = {t.capacity_column!r} is not a column of the "
                f"facilities read from {source} (columns {cols}; the file's capacity column, found by the names "
                f"capacity, beds, 床位, 学位, ..., is read as 'capacity'). Fix: set capacity_column = \"capacity\" "
                f"and name your column in [inputs.columns] capacity = \"{t.capacity_column}\".")
            continue
        mask = fac["category"].isin(t.categories).to_numpy()
        cap = pd.to_numeric(fac.loc[mask, t.capacity_column], errors="coerce")
        if not mask.any() or not (cap > 0).any():
            rep.error_or_warning(
                f"{source}: target {t.name!r} has no facility of categories {', '.join(t.categories)} with a "
                f"capacity > 0 in column {t.capacity_column!r}, so its supply would be 0 everywhere. Fix: fill the "
                f"capacities, {NO_FACILITY_FIX}.", settings.allow_no_facility)
    return rep


# ------------------------------------------------------------------ network
def network_problems(cells_ok: dict[str, np.ndarray], population: np.ndarray, fac, fac_ok: dict[str, np.ndarray],
                     circles, settings: CheckSettings, snap_max_m: float, files: dict[str, str]) -> CheckReport:
    """Persons and facilities that reach the roads of each mode, with causes.

    Parameters
    ----------
    cells_ok : dict
        Mode -> bool per population cell: snapped to a usable road.
    population : ndarray
        Persons per cell.
    fac : GeoDataFrame
        Facilities (``facility_id``, ``category``).
    fac_ok : dict
        Mode -> bool per facility: snapped to a usable road.
    circles : list of Circle
    settings : CheckSettings
    snap_max_m : float
        ``[snap] max_distance_m``, metres, named as the cause.
    files : dict
        ``population``, ``network``, ``facilities`` -> file names.
    """
    rep = CheckReport()
    total = float(population.sum())
    for mode, ok in cells_ok.items():
        ok = np.asarray(ok, bool)
        reach = float(population[ok].sum())
        rep.lines.append(f"{mode}: {reach:,.0f} of {total:,.0f} persons ({reach / total if total else 0:.1%}) are on "
                         f"the {mode} roads; {total - reach:,.0f} unreachable (farther than {snap_max_m:g} m from a "
                         f"usable road, or near a cut-off road fragment only)")
        if total > 0 and reach == 0:
            rep.error_or_warning(
                f"{files['population']}: no populated cell is within {snap_max_m:g} m of a road of "
                f"{files['network']} usable by {mode}, so every {mode} circle would show 0 %. Fix: give a network "
                f"of the population's area (or one holding roads for {mode}), raise [snap] max_distance_m, "
                f"{UNREACHABLE_FIX}.", settings.allow_unreachable)
    too_many_off: set[str] = set()
    for mode, ok in fac_ok.items():
        ok = np.asarray(ok, bool)
        off = int((~ok).sum())
        share = off / len(ok) if len(ok) else 0.0
        ids = ", ".join(fac.loc[~ok, "facility_id"].astype(str).head(10)) + ("..." if off > 10 else "")
        rep.lines.append(f"{mode}: {off} of {len(ok)} facilities ({share:.1%}) are off the {mode} roads (farther "
                         f"than {snap_max_m:g} m, or near a cut-off fragment only) and serve nobody by {mode}"
                         + (f" (ids {ids})" if off else ""))
        if share > settings.max_facilities_off_network_share:
            too_many_off.add(mode)
            rep.problems.append(
                f"{files['facilities']}: {share:.0%} of facilities ({off} of {len(ok)}; ids {ids}) are farther than "
                f"{snap_max_m:g} m from any road of {files['network']} usable by {mode}, more than [checks] "
                f"max_facilities_off_network_share = {settings.max_facilities_off_network_share:g}. Fix: check the "
                f"coordinates (facility_coords: a GCJ-02 or BD-09 shift, swapped lon/lat) and that the network "
                f"covers them, or accept it with [checks] max_facilities_off_network_share = "
                f"{math.ceil(share * 100) / 100:g}.")
    cats = fac["category"].astype(str).to_numpy()
    for circle, svc, svc_cats, mode in _service_categories(circles):
        if mode not in fac_ok or mode in too_many_off:  # named once, by the share above
            continue
        of_svc = np.isin(cats, svc_cats)
        if of_svc.any() and not (of_svc & np.asarray(fac_ok[mode], bool)).any():
            rep.error_or_warning(
                f"{files['facilities']}: circle {circle!r} needs service {svc!r}, but none of its "
                f"{int(of_svc.sum())} facilities is within {snap_max_m:g} m of a {mode} road, so nobody can be "
                f"inside the circle. Fix: check their coordinates and the network, {NO_FACILITY_FIX}.",
                settings.allow_no_facility)
    return rep


# ------------------------------------------------------------------- output
def output_problems(out: Path, inputs: list[Path]) -> CheckReport:
    """An output folder that cannot be written: a file, under a file, read-only, or an input's own file.

    Parameters
    ----------
    out : Path
        Output folder.
    inputs : list of Path
        Input files; none may be the output folder.
    """
    rep = CheckReport()
    out = Path(out)
    fix = "Fix: give another folder with --out or [study] output."
    if out.exists() and not out.is_dir():
        rep.problems.append(f"{out}: the output path is a file, not a folder. {fix}")
        return rep
    probe = out
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        rep.problems.append(f"{out}: the output folder cannot be created because {probe} is a file. {fix}")
    elif not os.access(probe, os.W_OK | os.X_OK):
        rep.problems.append(f"{out}: the output folder is not writable ({probe} does not allow writing). {fix}")
    resolved = out.resolve()
    for p in inputs:
        if p is not None and Path(p).resolve() == resolved:
            rep.problems.append(f"{out}: the output folder is an input file. {fix}")
    return rep


# ------------------------------------------------------------ the whole set
def check_inputs(sc, edges, cells, fac, counties, townships, pop_account) -> CheckReport:
    """Every cross-input check that needs no graph: extents, dropped persons, empty units, facilities.

    Parameters
    ----------
    sc : Scenario
    edges : access.network.osm.Edges or None
        None when the network could not be read (its problem is reported
        by its reader).
    cells, fac, counties, townships : GeoDataFrame or None
        As read (None when their reader failed).
    pop_account : Account or None
        The population reader's account.
    """
    rep = CheckReport()
    layers: dict[str, tuple[str, Bounds | None]] = {}
    if edges is not None and len(edges.nodes):
        lon, lat = edges.nodes["lon"].to_numpy(), edges.nodes["lat"].to_numpy()
        layers["network"] = (sc.network.name, (float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())))
    if str(sc.population).lower().endswith((".tif", ".tiff")):
        layers["population"] = (sc.population.name, raster_lonlat_bounds(sc.population))
    elif cells is not None:
        layers["population"] = (sc.population.name, lonlat_bounds(cells))
    if fac is not None:
        layers["facilities"] = (sc.facilities.name, lonlat_bounds(fac))
    units = counties if counties is not None else townships
    if units is not None:
        src = sc.counties if counties is not None and sc.counties else sc.townships
        layers["boundaries"] = (src.name if src else "counties_cnmaps", lonlat_bounds(units))
    rep.extend(extent_problems(layers))
    if pop_account is not None and pop_account.population_read is not None:
        rep.extend(dropped_persons(pop_account, sc.checks, sc.population.name))
    if cells is not None:
        rep.extend(empty_units(cells, counties, "county", sc.population.name))
        rep.extend(empty_units(cells, townships, "township", sc.population.name))
    if fac is not None:
        rep.extend(facility_problems(fac, sc.circles, sc.targets, sc.checks, sc.facilities.name))
    return rep


def persons_in(sc, crs):
    """A counter of the persons of the scenario's population inside polygons.

    Returns a function ``GeoSeries (study CRS) -> ndarray`` of persons per
    polygon, or ``None`` per call when the population cannot be read (its
    reader reports why).
    """
    def count(polygons):
        import geopandas as gpd

        from access.errors import InputError
        from access.sources import population as population_mod

        try:
            cells, _ = population_mod.read_population(sc.population, crs, column=sc.population_column,
                                                      area=gpd.GeoDataFrame(geometry=polygons, crs=crs))
        except InputError:
            return None
        poly = gpd.GeoDataFrame({"k": np.arange(len(polygons))}, geometry=polygons.values, crs=crs)
        hit = gpd.sjoin(cells[["population", "geometry"]], poly, predicate="within")
        return hit.groupby("k")["population"].sum().reindex(range(len(polygons)), fill_value=0.0).to_numpy()
    return count


def fallback_crs(sc):
    """A projected CRS to read the other inputs with when the network cannot be read.

    The UTM zone of the population raster's centre, else Web Mercator; the
    run stops with the network's problem anyway, so only the other inputs'
    own problems are gathered with it.
    """
    from pyproj import CRS

    from access.sources.crs import utm_crs_for

    if sc.crs:
        return CRS.from_user_input(sc.crs)
    b = raster_lonlat_bounds(sc.population) if str(sc.population).lower().endswith((".tif", ".tiff")) else None
    if b is not None and -180 <= b[0] <= b[2] <= 180 and -80 <= b[1] <= b[3] <= 84:
        return utm_crs_for((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)
    return CRS.from_epsg(3857)
