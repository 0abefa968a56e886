"""Facility tables -> canonical facility points.

Reads CSV (UTF-8, UTF-8 with BOM, GBK/GB18030), GeoJSON, GeoPackage and
Shapefile. Columns are recognised from common Chinese and English headers
and can be named explicitly with ``columns`` (the scenario's
``[inputs.columns]``):

============  =====================================================
canonical     recognised headers (case-insensitive)
============  =====================================================
id            id, fid, 编号, 序号, 编码, code, 机构编码
name          name, 名称, 机构名称, 单位名称, 设施名称, 学校名称
category      category, type, kind, 类别, 类型, 分类, 机构类别
capacity      capacity, beds, places, 床位, 床位数, 学位, 学位数, 容量, 规模
lon           lon, lng, long, longitude, 经度, x
lat           lat, latitude, 纬度, y
============  =====================================================

Policy on problems
------------------
* Structural problems stop the read at once with an :class:`InputError`:
  missing file, empty file, a file that is not CSV, undecodable text or
  mojibake, missing columns (the message lists what was found), a layer
  without CRS.
* Row problems that would give a silently wrong answer are collected and
  raised together in **one** InputError naming the rows: swapped or
  out-of-range lon/lat, duplicate ids, unknown categories, non-numeric or
  negative capacity.
* Rows with missing (blank/NaN/non-numeric) coordinates cannot be placed:
  they are dropped, counted in the Account under "missing coordinates" and
  named in an :class:`InputWarning`.

Row numbers in messages: for CSV they are spreadsheet row numbers (the
header is row 1, the first facility row 2); for GIS layers they are 1-based
feature numbers.
"""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS, Transformer
from scipy.spatial import cKDTree

from access.accounting import Account
from access.errors import InputError, warn
from access.sources import chinacoords
from access.sources.categories import (
    IGNORE,
    categorise,
    refine_by_name,
    unknown_category_problem,
)
from access.sources.crs import as_study_crs, check_lonlat, format_rows

__all__ = ["read_facilities", "read_csv_text", "gcj02_offset_warning", "COLUMN_ALIASES"]

COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "fid", "facility_id", "编号", "序号", "编码", "code", "机构编码", "poi_id", "uid"),
    "name": ("name", "名称", "机构名称", "单位名称", "设施名称", "学校名称", "facility_name"),
    "category": ("category", "type", "kind", "类别", "类型", "分类", "机构类别", "设施类型"),
    "capacity": ("capacity", "beds", "places", "床位", "床位数", "学位", "学位数", "容量", "规模", "核定床位"),
    "lon": ("lon", "lng", "long", "longitude", "经度", "x"),
    "lat": ("lat", "latitude", "纬度", "y"),
}
ENCODINGS = ("auto", "utf-8", "utf-8-sig", "gbk", "gb18030", "gb2312")
MISSING_XY = "missing coordinates"

# Byte signatures of common non-CSV files people pick by mistake.
_MAGIC = {
    b"PK\x03\x04": "a ZIP/Excel (.xlsx) file",
    b"\xd0\xcf\x11\xe0": "an old Excel (.xls) or Word file",
    b"SQLite format 3": "a SQLite/GeoPackage file",
    b"%PDF": "a PDF",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"II*\x00": "a TIFF image",
    b"MM\x00*": "a TIFF image",
}
# UTF-8 text decoded as Latin-1/CP1252 and saved again: 社区 -> 'ç¤¾åŒº'.
_MOJIBAKE = re.compile(r"[\u00c0-\u00ef][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013-\u203a\u20ac\u2122]")


def _mojibake_rows(values: pd.Series) -> np.ndarray:
    """True where a string looks like UTF-8 bytes shown as Latin-1 (ç¤¾åŒº)."""
    s = values.fillna("").astype(str)
    return s.str.contains(_MOJIBAKE).to_numpy()


def read_csv_text(path, encoding: str = "auto") -> pd.DataFrame:
    """Read a CSV as strings, detecting UTF-8 / UTF-8-BOM / GBK.

    Parameters
    ----------
    path : str or Path
    encoding : str
        "auto" tries UTF-8 (with or without BOM), then GB18030 (a superset
        of GBK); or one of utf-8, utf-8-sig, gbk, gb18030.

    Returns
    -------
    DataFrame of str (blank cells are empty strings), headers stripped.

    Raises
    ------
    InputError
        Missing or empty file, binary (non-CSV) content, text that decodes
        in none of the encodings, a parse error (with the line).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found; check the path in the scenario (relative paths are "
                         "resolved against the scenario file's folder).")
    raw = path.read_bytes()
    if not raw.strip(b" \t\r\n\xef\xbb\xbf"):
        raise InputError(f"{path}: the file is empty; it should have a header row and one row per record.")
    for magic, what in _MAGIC.items():
        if raw.startswith(magic):
            raise InputError(f"{path}: this is {what}, not a CSV text file. Fix: save it as CSV "
                             "(Excel: File > Save As > CSV UTF-8).")
    if b"\x00" in raw[:4096]:
        if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
            raise InputError(f"{path}: the file is UTF-16 text; save it as CSV UTF-8 (or GBK) instead.")
        raise InputError(f"{path}: the file contains binary data, so it is not a CSV text file. "
                         "Fix: export the table as CSV.")
    enc = (encoding or "auto").lower().replace("_", "-")
    if enc not in ENCODINGS:
        raise InputError(f"{path}: unknown encoding {encoding!r}; use one of {', '.join(ENCODINGS)} "
                         "([inputs] encoding in the scenario).")
    text = None
    if enc == "auto":
        for e in ("utf-8-sig", "gb18030"):
            try:
                text = raw.decode(e)
                break
            except UnicodeDecodeError:
                continue
        if text is None:
            raise InputError(f"{path}: text is neither UTF-8 nor GBK/GB18030, so Chinese names cannot be "
                             "read. Fix: re-save the file as 'CSV UTF-8', or set [inputs] encoding.")
    else:
        try:
            text = raw.decode(enc)
        except UnicodeDecodeError as exc:
            hint = ""
            if enc.startswith("gb"):
                try:
                    raw.decode("utf-8-sig")
                    raise InputError(f"{path}: the file is UTF-8 but encoding = \"{enc}\" was given. Fix: set "
                                     "encoding = \"utf-8\" (or \"auto\") in [inputs].") from None
                except UnicodeDecodeError:
                    pass
            if enc.startswith("utf"):
                try:
                    raw.decode("gb18030")
                    hint = " It decodes as GBK/GB18030: set encoding = \"gbk\" (or \"auto\")."
                except UnicodeDecodeError:
                    pass
            hint = hint or ' Set encoding = "auto".'
            raise InputError(f"{path}: cannot decode as {enc} (byte {exc.start}).{hint}") from None
        if enc in ("gbk", "gb18030", "gb2312") and re.search(rb"[\x80-\xff]", raw):
            try:
                raw.decode("utf-8")
                raise InputError(f"{path}: the file is UTF-8 but encoding = \"{enc}\" was given, which would "
                                 "garble every Chinese name. Fix: set encoding = \"utf-8\" (or \"auto\") in [inputs].")
            except UnicodeDecodeError:
                pass
        text = text.lstrip("\ufeff")
    import io

    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: the file is empty; it should have a header row and one row per record.") from None
    except pd.errors.ParserError as exc:
        raise InputError(f"{path}: not a well-formed CSV ({exc}). Fix: check quoting and the number of "
                         "commas on that line, or re-export the table as CSV.") from None
    df.columns = [str(c).strip() for c in df.columns]
    if len(df.columns) == 1 and len(df) and ("\t" in df.columns[0] or ";" in df.columns[0]):
        sep = "\t" if "\t" in df.columns[0] else ";"
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, sep=sep)
        df.columns = [str(c).strip() for c in df.columns]
    return df


def _match_columns(found: list[str], columns: dict | None, path: Path, lonlat_needed: bool) -> dict[str, str | None]:
    """Canonical -> actual column name (None when absent and optional)."""
    low = {c.strip().lower(): c for c in found}
    out: dict[str, str | None] = {}
    problems = []
    columns = dict(columns or {})
    if "x" in columns and "lon" not in columns:
        columns["lon"] = columns.pop("x")
    if "y" in columns and "lat" not in columns:
        columns["lat"] = columns.pop("y")
    unknown = set(columns) - set(COLUMN_ALIASES)
    if unknown:
        problems.append(f"{path}: unknown keys {sorted(unknown)} in [inputs.columns]; use {sorted(COLUMN_ALIASES)} (or x/y).")
    for canon, aliases in COLUMN_ALIASES.items():
        if canon in columns:
            given = columns[canon]
            if given in found:
                out[canon] = given
            elif str(given).strip().lower() in low:
                out[canon] = low[str(given).strip().lower()]
            else:
                problems.append(f"{path}: column {given!r} (given for {canon} in [inputs.columns]) not found; "
                                f"the file has columns {found}.")
            continue
        out[canon] = next((low[a] for a in aliases if a in low), None)
    required = ["name", "category"] + (["lon", "lat"] if lonlat_needed else [])
    missing = [c for c in required if out.get(c) is None and c not in columns]
    if missing:
        hints = "; ".join(f"{c}: {', '.join(COLUMN_ALIASES[c][:6])}" for c in missing)
        problems.append(
            f"{path}: missing required columns {missing}; the file has columns {found}. "
            f"Fix: rename them (recognised headers - {hints}) or map them in the scenario's "
            f"[inputs.columns], e.g. {missing[0]} = \"your header\"."
        )
    if problems:
        raise InputError(problems)
    return out


def _coords_crs(coords: str) -> tuple[str, CRS]:
    """("wgs84"|"gcj02"|"bd09"|"crs", source CRS) for a facility_coords value."""
    c = str(coords or "wgs84").strip()
    s = c.lower().replace("-", "").replace("_", "")
    if s in ("wgs84", "gcj02", "bd09"):
        return s, CRS.from_epsg(4326)
    try:
        return "crs", CRS.from_user_input(c)
    except Exception:
        raise InputError(f"unknown coordinate system {coords!r}: use wgs84, gcj02, bd09 or an EPSG code "
                         "such as \"EPSG:4549\" (facility_coords / boundary_coords in [inputs]).") from None


def read_facilities(
    path,
    study_crs,
    columns: dict | None = None,
    coords: str = "wgs84",
    extra_categories: dict | None = None,
    encoding: str = "auto",
    unknown: str = "error",
) -> tuple[gpd.GeoDataFrame, Account]:
    """Read a facility table into canonical facility points.

    Parameters
    ----------
    path : str or Path
        ``.csv``, ``.geojson``/``.json``, ``.gpkg`` or ``.shp``.
    study_crs : CRS-like
        Projected study CRS (metres).
    columns : dict, optional
        Canonical name (id, name, category, capacity, lon, lat, or x/y) ->
        the file's column, overriding auto-detection.
    coords : str
        Datum of lon/lat: "wgs84", "gcj02" (Amap, Tencent) or "bd09"
        (Baidu), converted to WGS84; or an EPSG code for x/y columns.
        For GIS layers with a CRS, "gcj02"/"bd09" mean their lon/lat are
        in that datum.
    extra_categories : dict, optional
        Scenario ``[categories]``: raw value -> canonical key or "ignore".
    encoding : str
        CSV encoding: auto, utf-8, utf-8-sig, gbk, gb18030.
    unknown : {"error", "drop"}
        Unknown categories raise (default) or are dropped and counted
        (useful for raw POI dumps).

    Returns
    -------
    facilities : GeoDataFrame
        ``facility_id`` (str), ``name`` (str), ``category`` (canonical key),
        ``category_raw`` (str), ``capacity`` (float, NaN when absent), Point
        geometry in ``study_crs``. Without an id column, ids are
        ``<file stem>-<row>``.
    account : Account
        Rows read/kept/dropped with reasons; conversions in ``notes``.

    Raises
    ------
    InputError
        See the module docstring for the policy.
    """
    path = Path(path)
    crs = as_study_crs(study_crs)
    kind, src_crs = _coords_crs(coords)
    if unknown not in ("error", "drop"):
        raise ValueError("unknown must be 'error' or 'drop'")
    if not path.exists():
        raise InputError(f"{path}: facilities file not found; check [inputs] facilities in the scenario "
                         "(relative paths are resolved against the scenario file's folder).")
    ext = path.suffix.lower()
    acc = Account(source=path.name)
    if ext in (".csv", ".txt", ".tsv"):
        df = read_csv_text(path, encoding)
        if len(df) == 0:
            raise InputError(f"{path}: the file has a header but no facility rows.")
        rows = np.arange(len(df)) + 2
        row_word, convention = "rows", " (spreadsheet rows: the header is row 1)"
        cols = _match_columns(list(df.columns), columns, path, lonlat_needed=True)
        x = pd.to_numeric(df[cols["lon"]].astype(str).str.strip(), errors="coerce").to_numpy(float)
        y = pd.to_numeric(df[cols["lat"]].astype(str).str.strip(), errors="coerce").to_numpy(float)
        layer_crs = src_crs
    elif ext in (".geojson", ".json", ".gpkg", ".shp", ".fgb"):
        if ext == ".shp" and not path.with_suffix(".prj").exists() and kind != "crs":
            raise InputError(
                f"{path}: the shapefile has no .prj, so its coordinate system is unknown. Fix: add the .prj "
                f"(a WGS84 .prj for lon/lat, also for GCJ-02 lon/lat with facility_coords = \"gcj02\"), or "
                f"set facility_coords to its EPSG code (e.g. \"EPSG:4326\")."
            )
        try:
            gdf = gpd.read_file(path)
        except Exception as exc:
            raise InputError(f"{path}: cannot read as a GIS layer ({type(exc).__name__}: {exc}). "
                             "Check that the file is complete and of the type its extension says.") from None
        if len(gdf) == 0:
            raise InputError(f"{path}: the layer has no features; it should hold one point per facility.")
        if gdf.crs is None:
            if kind != "crs":
                raise InputError(f"{path}: the layer has no CRS. Fix: save it with a CRS, or set facility_coords "
                                 "to its EPSG code.")
            gdf = gdf.set_crs(src_crs)
        layer_crs = CRS.from_user_input(gdf.crs)
        if kind in ("gcj02", "bd09") and not layer_crs.is_geographic:
            raise InputError(f"{path}: facility_coords = {coords!r} needs lon/lat, but the layer is in "
                             f"{layer_crs.to_string()}.")
        geom = gdf.geometry
        types = set(geom.dropna().geom_type)
        if not types <= {"Point"}:
            if types <= {"Point", "MultiPoint"}:
                geom = geom.apply(lambda g: g.geoms[0] if g is not None and g.geom_type == "MultiPoint" and len(g.geoms) == 1 else g)
                types = set(geom.dropna().geom_type)
            if not types <= {"Point"}:
                raise InputError(f"{path}: facilities must be points; found {sorted(types)}. Fix: convert them "
                                 "to points (e.g. polygon centroids) before loading.")
        df = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).astype(object).where(gdf.notna(), "")
        df.columns = [str(c) for c in df.columns]
        empty = (geom.isna() | geom.is_empty).to_numpy()
        x = np.full(len(df), np.nan)
        y = np.full(len(df), np.nan)
        x[~empty] = geom[~empty].x.to_numpy(float)
        y[~empty] = geom[~empty].y.to_numpy(float)
        rows = np.arange(len(df)) + 1
        row_word, convention = "features", " (1-based)"
        cols = _match_columns(list(df.columns), columns, path, lonlat_needed=False)
    else:
        raise InputError(f"{path}: unsupported facilities file type {ext!r}; use .csv, .geojson, .gpkg or .shp.")

    n = len(df)
    acc.read = n
    problems: list[str] = []
    text = lambda c: df[c].astype(str).str.strip() if c else pd.Series([""] * n, index=df.index)  # noqa: E731
    names = text(cols["name"])
    raw_cat = text(cols["category"])

    moj = _mojibake_rows(names) | _mojibake_rows(raw_cat)
    if moj.any():
        example = names[moj].iloc[0] if _mojibake_rows(names).any() else raw_cat[moj].iloc[0]
        raise InputError(
            f"{path}: names look garbled (mojibake such as {example[:20]!r}) in {row_word} "
            f"{format_rows(rows[moj])}{convention}: UTF-8 text was once opened as Latin-1/ANSI and saved. "
            "Fix: re-export the table from its source as 'CSV UTF-8' (or GBK with encoding = \"gbk\")."
        )

    # Coordinates.
    geographic = layer_crs.is_geographic
    finite = np.isfinite(x) & np.isfinite(y)
    if geographic:
        try:
            check_lonlat(x, y, str(path), rows, row_word, convention)
        except InputError as exc:
            problems.extend(exc.problems)
    elif ext in (".csv", ".txt", ".tsv") and kind == "crs" and finite.any() and np.nanmax(np.abs(x[finite])) <= 180:
        problems.append(f"{path}: coordinates look like degrees but facility_coords = {coords!r} is projected; "
                        "set facility_coords = \"wgs84\" (or gcj02/bd09).")

    # Ids.
    if cols["id"]:
        ids = text(cols["id"])
        blank = (ids == "").to_numpy()
        if blank.any():
            problems.append(f"{path}: blank id in {row_word} {format_rows(rows[blank])}{convention}; give every facility an id.")
        dup = ids.duplicated(keep=False).to_numpy() & ~blank
        if dup.any():
            groups = {}
            for v, r in zip(ids[dup], rows[dup]):
                groups.setdefault(v, []).append(int(r))
            listing = "; ".join(f"{v!r} in {row_word} {', '.join(map(str, rs))}" for v, rs in list(groups.items())[:10])
            problems.append(f"{path}: duplicate facility ids ({len(groups)} ids): {listing}{convention}. "
                            "Fix: make every id unique.")
    else:
        ids = pd.Series([f"{path.stem}-{r}" for r in rows], index=df.index)
        acc.notes.append(f"no id column: ids are '{path.stem}-<row>'")

    # Categories.
    canon, unk = categorise(raw_cat, extra_categories, str(path))
    canon = refine_by_name(canon, names)
    if unk.any() and unknown == "error":
        problems.append(unknown_category_problem(str(path), raw_cat[unk].tolist(), rows[unk].tolist(), row_word) + convention)

    # Capacity.
    if cols["capacity"]:
        cap_txt = text(cols["capacity"])
        cap = pd.to_numeric(cap_txt, errors="coerce").to_numpy(float)
        notnum = np.isnan(cap) & (cap_txt != "").to_numpy() & ~cap_txt.str.lower().isin(["nan", "na", "null", "none"]).to_numpy()
        if notnum.any():
            problems.append(f"{path}: capacity column {cols['capacity']!r} is not a number in {row_word} "
                            f"{format_rows(rows[notnum])}{convention}; use plain numbers (beds, places).")
        neg = cap < 0
        if neg.any():
            problems.append(f"{path}: negative capacity in column {cols['capacity']!r}, {row_word} "
                            f"{format_rows(rows[neg])}{convention}; capacity must be >= 0 (leave blank if unknown).")
    else:
        cap = np.full(n, np.nan)

    if problems:
        raise InputError(problems)

    # Drops (counted, warned).
    keep = np.ones(n, dtype=bool)
    if (~finite).any():
        acc.drop(MISSING_XY, int((~finite).sum()))
        warn(f"{path}: {int((~finite).sum())} facilities have missing or non-numeric coordinates and were "
             f"dropped ({row_word} {format_rows(rows[~finite])}{convention}); fill them in to include them.")
        keep &= finite
    ign = (canon == IGNORE).to_numpy() & keep
    if ign.any():
        acc.drop("category ignored by the scenario", int(ign.sum()))
        keep &= ~ign
    if unk.any():
        u = unk & keep
        if u.any():
            acc.drop("unknown category", int(u.sum()))
            acc.notes.append(f"dropped unknown categories: {sorted(set(raw_cat[u]))[:10]}")
        keep &= ~unk

    x, y = x[keep], y[keep]
    if kind in ("gcj02", "bd09"):
        x, y = chinacoords.to_wgs84(x, y, kind)
        acc.notes.append(f"coordinates converted from {kind.upper().replace('GCJ02', 'GCJ-02').replace('BD09', 'BD-09')} to WGS84")
    if len(x):
        tx, ty = Transformer.from_crs(layer_crs, crs, always_xy=True).transform(x, y)
    else:
        tx, ty = np.array([]), np.array([])
    out = gpd.GeoDataFrame(
        {
            "facility_id": ids[keep].astype(str).to_numpy(),
            "name": names[keep].to_numpy(dtype=object),
            "category": canon[keep].astype(str).to_numpy(),
            "category_raw": raw_cat[keep].to_numpy(dtype=object),
            "capacity": cap[keep].astype(float),
        },
        geometry=gpd.points_from_xy(np.asarray(tx, float), np.asarray(ty, float)),
        crs=crs,
    )
    acc.kept = len(out)
    acc.check()
    return out, acc


def gcj02_offset_warning(
    facilities, road_xy, file: str = "facilities", min_gain: float = 2.0, min_offset_m: float = 30.0
) -> tuple[float, float] | None:
    """Warn when facilities look like uncorrected GCJ-02 coordinates.

    Compares the median distance from each facility to its nearest road
    point before and after applying the GCJ-02 -> WGS84 correction. If the
    facilities sit systematically off the roads (median > ``min_offset_m``)
    and the correction brings them ``min_gain`` times closer, the file was
    very likely exported from Amap/Tencent in GCJ-02 without conversion.

    Parameters
    ----------
    facilities : GeoDataFrame
        Facility points in a projected CRS (as returned by :func:`read_facilities`).
    road_xy : array (n, 2)
        Road vertices or graph nodes in the same CRS, metres.
    file : str
        Facilities file, for the message.

    Returns
    -------
    (median_before_m, median_after_m) or None when there is too little data
    (fewer than 5 facilities or 2 road points, or no CRS).
    """
    road_xy = np.asarray(road_xy, dtype=float)
    if facilities is None or len(facilities) < 5 or road_xy.ndim != 2 or len(road_xy) < 2 or facilities.crs is None:
        return None
    tree = cKDTree(road_xy[:, :2])
    fx = facilities.geometry.x.to_numpy(float)
    fy = facilities.geometry.y.to_numpy(float)
    ok = np.isfinite(fx) & np.isfinite(fy)
    if ok.sum() < 5:
        return None
    fx, fy = fx[ok], fy[ok]
    to_ll = Transformer.from_crs(facilities.crs, 4326, always_xy=True)
    from_ll = Transformer.from_crs(4326, facilities.crs, always_xy=True)
    lon, lat = to_ll.transform(fx, fy)
    wlon, wlat = chinacoords.gcj02_to_wgs84(np.asarray(lon), np.asarray(lat))
    sx, sy = from_ll.transform(wlon, wlat)
    before = float(np.median(tree.query(np.column_stack([fx, fy]))[0]))
    after = float(np.median(tree.query(np.column_stack([np.asarray(sx), np.asarray(sy)]))[0]))
    if before > min_offset_m and after * min_gain < before:
        warn(
            f"{file}: facilities sit a median {before:.0f} m from the nearest road, but only {after:.0f} m "
            "after the GCJ-02 -> WGS84 correction: the coordinates look like GCJ-02 (Amap/Tencent) "
            "that were never converted. Fix: set facility_coords = \"gcj02\" in [inputs] of the scenario "
            "(or \"bd09\" for Baidu)."
        )
    return before, after
