"""Column resolution for facility tables: recognised headers and explicit mappings.

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

An OSM export has no category column but tag columns (``amenity``,
``healthcare``, ``social_facility``, ``social_facility:for``, ...): their
values are joined into one ``key=value;...`` category (:func:`osm_category`),
which the OSM rules of :mod:`access.sources.categories` read.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from access.errors import InputError

__all__ = ["COLUMN_ALIASES", "OSM_TAG_COLUMNS", "match_columns", "osm_tag_columns", "osm_category"]

COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "fid", "facility_id", "编号", "序号", "编码", "code", "机构编码", "poi_id", "uid"),
    "name": ("name", "名称", "机构名称", "单位名称", "设施名称", "学校名称", "facility_name"),
    "category": ("category", "type", "kind", "类别", "类型", "分类", "机构类别", "设施类型"),
    "capacity": ("capacity", "beds", "places", "床位", "床位数", "学位", "学位数", "容量", "规模", "核定床位"),
    "lon": ("lon", "lng", "long", "longitude", "经度", "x"),
    "lat": ("lat", "latitude", "纬度", "y"),
}

#: OSM tags that say what a facility is, in the order they are joined.
OSM_TAG_COLUMNS = ("amenity", "healthcare", "social_facility", "social_facility:for", "leisure", "isced:level")


def osm_tag_columns(found: list[str]) -> list[str]:
    """The OSM tag columns present (``amenity`` or ``healthcare`` must be among them)."""
    low = {c.strip().lower(): c for c in found}
    cols = [low[t] for t in OSM_TAG_COLUMNS if t in low]
    return cols if any(t in low for t in ("amenity", "healthcare")) else []


def osm_category(df: pd.DataFrame, cols: list[str]) -> pd.Series:
    """One ``key=value;key=value`` string per row from OSM tag columns (blank tags left out)."""
    parts = [df[c].astype(str).str.strip().where(lambda s: ~s.str.lower().isin(["", "nan", "none"]), "")
             for c in cols]
    out = pd.Series([""] * len(df), index=df.index)
    for c, p in zip(cols, parts):
        tagged = (c.strip().lower() + "=" + p).where(p != "", "")
        out = out.where(tagged == "", out.where(out == "", out + ";") + tagged)
    return out


def match_columns(found: list[str], columns: dict | None, path: Path, lonlat_needed: bool) -> dict[str, str | None]:
    """Canonical name -> the file's column (None when absent and optional).

    Parameters
    ----------
    found : list of str
        The file's column names.
    columns : dict, optional
        The scenario's ``[inputs.columns]`` (canonical -> header), x/y
        accepted for lon/lat.
    path : Path
        File, for messages.
    lonlat_needed : bool
        Whether lon/lat columns are required (CSV) or come from geometry.

    Returns
    -------
    dict
        Canonical name -> column; ``category`` may be absent when OSM tag
        columns (:data:`OSM_TAG_COLUMNS`) are there instead.

    Raises
    ------
    InputError
        Unknown keys, given columns not found, required columns missing
        (listing the file's columns and the recognised headers).
    """
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
    if out.get("category") is None and osm_tag_columns(found):
        required.remove("category")
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
