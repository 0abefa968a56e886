"""Facility tables -> canonical facility points.

Reads CSV (UTF-8, UTF-8 with BOM, GBK/GB18030), GeoJSON, GeoPackage and
Shapefile (:mod:`access.sources.point_table`), with columns recognised from
common Chinese and English headers or named in ``[inputs.columns]``
(:mod:`access.sources.columns`), categories decided by explicit rules
(:mod:`access.sources.categories`) and lon/lat converted from GCJ-02/BD-09
(:mod:`access.sources.chinacoords`).

Policy on problems
------------------
* Structural problems stop the read at once with an :class:`InputError`:
  missing file, empty file, a file that is not CSV, undecodable text or
  mojibake, missing columns (the message lists what was found), a layer
  without CRS.
* Row problems that would give a silently wrong answer are collected and
  raised together in **one** InputError naming the rows: swapped or
  out-of-range lon/lat, duplicate ids, unknown categories (every distinct
  value at once), non-numeric or negative capacity.
* Rows with missing (blank/NaN/non-numeric) coordinates cannot be placed:
  they are dropped, counted in the Account under "missing coordinates" and
  named in an :class:`InputWarning`. Excluded categories (dental, pharmacy,
  …) are dropped and counted under their reason.

Row numbers in messages: for CSV they are spreadsheet row numbers (the
header is row 1, the first facility row 2); for GIS layers they are 1-based
feature numbers.
"""

from __future__ import annotations

import csv
import hashlib
import tempfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import Transformer

from access.accounting import Account
from access.errors import InputError, warn
from access.sources import chinacoords
from access.sources.categories import DROPPED, UNKNOWN, categorise, closest_category, unknown_category_problem
from access.sources.columns import COLUMN_ALIASES, osm_category, osm_tag_columns
from access.sources.crs import as_study_crs, check_lonlat, coords_crs, format_rows
from access.sources.datum import gcj02_offset_warning
from access.sources.point_table import CSV_EXT, read_point_table
from access.sources.tables import mojibake_rows, read_csv_text

__all__ = ["read_facilities", "read_csv_text", "gcj02_offset_warning", "COLUMN_ALIASES", "UNKNOWN_LISTING_AT"]

MISSING_XY = "missing coordinates"
#: More distinct unknown categories than this are also written to a CSV file.
UNKNOWN_LISTING_AT = 20


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
        Unknown categories raise (default, every distinct value listed) or
        are dropped and counted (``[inputs] unknown_categories``).

    Returns
    -------
    facilities : GeoDataFrame
        ``facility_id`` (str), ``name`` (str), ``category`` (canonical key),
        ``category_raw`` (str), ``category_rule`` (the rule that decided),
        ``capacity`` (float, NaN when absent), Point geometry in
        ``study_crs``. Without an id column, ids are ``<file stem>-<row>``.
        ``facilities.attrs["categories"]`` is the categories table: ``raw``,
        ``key`` (canonical key or ``dropped``), ``rule``, ``count``, covering
        every row read.
    account : Account
        Rows read/kept/dropped with reasons; conversions in ``notes``.

    Raises
    ------
    InputError
        See the module docstring for the policy.
    """
    path = Path(path)
    crs = as_study_crs(study_crs)
    kind, src_crs = coords_crs(coords)
    if unknown not in ("error", "drop"):
        raise InputError(f"unknown_categories = {unknown!r} in [inputs]: use \"error\" or \"drop\".")
    if not path.exists():
        raise InputError(f"{path}: facilities file not found; check [inputs] facilities in the scenario "
                         "(relative paths are resolved against the scenario file's folder).")
    t = read_point_table(path, kind, src_crs, coords, columns, encoding)
    df, rows, row_word, convention, cols = t.df, t.rows, t.row_word, t.convention, t.columns
    n = len(df)
    acc = Account(source=path.name, read=n)
    problems: list[str] = []
    text = lambda c: df[c].astype(str).str.strip() if c else pd.Series([""] * n, index=df.index)  # noqa: E731
    names = text(cols["name"])
    if cols.get("category"):
        raw_cat = text(cols["category"])
    else:
        tags = osm_tag_columns(list(df.columns))
        raw_cat = osm_category(df, tags)
        acc.notes.append(f"categories from OSM tags {tags}")

    moj = mojibake_rows(names) | mojibake_rows(raw_cat)
    if moj.any():
        example = names[moj].iloc[0] if mojibake_rows(names).any() else raw_cat[moj].iloc[0]
        raise InputError(
            f"{path}: names look garbled (mojibake such as {example[:20]!r}) in {row_word} "
            f"{format_rows(rows[moj])}{convention}: UTF-8 text was once opened as Latin-1/ANSI and saved. "
            "Fix: re-export the table from its source as 'CSV UTF-8' (or GBK with encoding = \"gbk\")."
        )

    x, y = t.x, t.y
    finite = np.isfinite(x) & np.isfinite(y)
    if t.crs.is_geographic:
        try:
            check_lonlat(x, y, str(path), rows, row_word, convention)
        except InputError as exc:
            problems.extend(exc.problems)
    elif path.suffix.lower() in CSV_EXT and kind == "crs" and finite.any() and np.nanmax(np.abs(x[finite])) <= 180:
        problems.append(f"{path}: coordinates look like degrees but facility_coords = {coords!r} is projected; "
                        "set facility_coords = \"wgs84\" (or gcj02/bd09).")

    ids = _ids(text(cols["id"]) if cols["id"] else None, rows, path, row_word, convention, problems)
    if not cols["id"]:
        acc.notes.append(f"no id column: ids are '{path.stem}-<row>'")

    decided, table = categorise(raw_cat, names, extra_categories)
    unk = (decided["key"] == UNKNOWN).to_numpy()
    if unk.any() and unknown == "error":
        problems.append(_unknown_problem(path, raw_cat[unk], rows[unk], row_word, convention))
    _report_ambiguous(path, raw_cat, decided)

    cap = _capacity(text(cols["capacity"]) if cols["capacity"] else None, cols["capacity"], n, path, rows,
                    row_word, convention, problems)
    if problems:
        raise InputError(problems)

    # Drops: counted under their reason, warned where the planner must act.
    keep = np.ones(n, dtype=bool)
    if (~finite).any():
        acc.drop(MISSING_XY, int((~finite).sum()))
        warn(f"{path}: {int((~finite).sum())} facilities have missing or non-numeric coordinates and were "
             f"dropped ({row_word} {format_rows(rows[~finite])}{convention}); fill them in to include them.")
        keep &= finite
    dropped = (decided["key"] == DROPPED).to_numpy() & keep
    for reason, k in decided.loc[dropped, "reason"].value_counts().items():
        acc.drop(reason, int(k))
    keep &= ~dropped
    if unk.any():
        u = unk & keep
        if u.any():
            acc.drop("unknown category", int(u.sum()))
            acc.notes.append(f"dropped unknown categories: {sorted(set(raw_cat[u]))[:10]}")
        keep &= ~unk
        table.loc[table["key"] == UNKNOWN, "rule"] = "unknown, dropped (unknown_categories = \"drop\")"
        table.loc[table["key"] == UNKNOWN, "key"] = DROPPED

    x, y = x[keep], y[keep]
    if kind in ("gcj02", "bd09"):
        x, y = chinacoords.to_wgs84(x, y, kind)
        acc.notes.append(f"coordinates converted from {kind.upper().replace('GCJ02', 'GCJ-02').replace('BD09', 'BD-09')} to WGS84")
    tx, ty = Transformer.from_crs(t.crs, crs, always_xy=True).transform(x, y) if len(x) else ([], [])
    out = gpd.GeoDataFrame(
        {
            "facility_id": ids[keep].astype(str).to_numpy(),
            "name": names[keep].to_numpy(dtype=object),
            "category": decided.loc[keep, "key"].astype(str).to_numpy(),
            "category_raw": raw_cat[keep].to_numpy(dtype=object),
            "category_rule": decided.loc[keep, "rule"].to_numpy(dtype=object),
            "capacity": cap[keep].astype(float),
        },
        geometry=gpd.points_from_xy(np.asarray(tx, float), np.asarray(ty, float)),
        crs=crs,
    )
    out.attrs["categories"] = table
    acc.kept = len(out)
    acc.check()
    return out, acc


def _ids(ids: pd.Series | None, rows, path: Path, row_word: str, convention: str, problems: list) -> pd.Series:
    """The id column checked (blank, duplicate), or ``<stem>-<row>`` ids."""
    if ids is None:
        return pd.Series([f"{path.stem}-{r}" for r in rows])
    blank = (ids == "").to_numpy()
    if blank.any():
        problems.append(f"{path}: blank id in {row_word} {format_rows(rows[blank])}{convention}; give every facility an id.")
    dup = ids.duplicated(keep=False).to_numpy() & ~blank
    if dup.any():
        groups: dict = {}
        for v, r in zip(ids[dup], rows[dup]):
            groups.setdefault(v, []).append(int(r))
        listing = "; ".join(f"{v!r} in {row_word} {', '.join(map(str, rs))}" for v, rs in list(groups.items())[:10])
        problems.append(f"{path}: duplicate facility ids ({len(groups)} ids): {listing}{convention}. "
                        "Fix: make every id unique.")
    return ids


def _capacity(cap_txt: pd.Series | None, column, n: int, path: Path, rows, row_word: str, convention: str,
              problems: list) -> np.ndarray:
    """Capacity as float (NaN when blank or absent); non-numeric and negative values are problems."""
    if cap_txt is None:
        return np.full(n, np.nan)
    cap = pd.to_numeric(cap_txt, errors="coerce").to_numpy(float)
    blank = (cap_txt == "").to_numpy() | cap_txt.str.lower().isin(["nan", "na", "null", "none"]).to_numpy()
    notnum = np.isnan(cap) & ~blank
    if notnum.any():
        problems.append(f"{path}: capacity column {column!r} is not a number in {row_word} "
                        f"{format_rows(rows[notnum])}{convention}; use plain numbers (beds, places).")
    neg = cap < 0
    if neg.any():
        problems.append(f"{path}: negative capacity in column {column!r}, {row_word} "
                        f"{format_rows(rows[neg])}{convention}; capacity must be >= 0 (leave blank if unknown).")
    return cap


def _unknown_problem(path: Path, raws: pd.Series, rows, row_word: str, convention: str) -> str:
    """The unknown-categories message; with many values they are also listed in a CSV in the temp folder."""
    values = list(dict.fromkeys(raws.tolist()))
    listing = None
    if len(values) > UNKNOWN_LISTING_AT:
        digest = hashlib.sha1(str(path.resolve()).encode("utf-8")).hexdigest()[:8]
        listing = Path(tempfile.gettempdir()) / f"access-unknown-categories-{path.stem}-{digest}.csv"
        first = {}
        for v, r in zip(raws.tolist(), rows.tolist()):
            first.setdefault(v, []).append(int(r))
        with open(listing, "w", encoding="utf-8-sig", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["raw_value", "rows", "count", "closest_category"])
            for v in values:
                w.writerow([v, " ".join(map(str, first[v][:20])), len(first[v]), closest_category(v)])
    return unknown_category_problem(str(path), raws.tolist(), rows.tolist(), row_word,
                                    listing=str(listing) if listing else None, row_note=convention)


def _report_ambiguous(path: Path, raw_cat: pd.Series, decided: pd.DataFrame, limit: int = 10) -> None:
    """One warning per raw value that names two categories: both, and the one chosen."""
    amb = decided[(decided["also"] != "") & (decided["key"] != UNKNOWN)]
    if amb.empty:
        return
    groups = amb.assign(raw=raw_cat[amb.index]).groupby(["raw", "also"], sort=False)
    for i, ((raw, also), g) in enumerate(groups):
        if i == limit:
            warn(f"{path}: {groups.ngroups - limit} more category values name two categories; see categories.csv.")
            break
        chosen = g["key"].value_counts()
        chosen_txt = ", ".join(f"{k} ({c})" for k, c in chosen.items())
        first = g["rule"].iloc[0].split(" -> ")[1].split(";")[0]
        how = "the first listed type decides, then facility names" if "|" in raw else "the first named decides"
        warn(f"{path}: category {raw!r} names two categories, {first} and {also}; {how}: {len(g)} "
             f"facilities counted as {chosen_txt}. To choose, map it in [categories].")
