"""Coordinate reference systems: the study CRS and lon/lat sanity checks.

The study runs in one projected CRS in metres (by default the WGS84 UTM zone
of the study area). Input lon/lat columns are checked before use, because a
file with longitude and latitude swapped is the most common silent error in
facility tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pyproj import CRS

from access.errors import InputError

__all__ = ["utm_crs_for", "as_study_crs", "check_lonlat", "format_rows", "coords_crs", "DATUMS"]

#: Lon/lat datums a file may be in: WGS84, GCJ-02 (Amap, Tencent), BD-09 (Baidu).
DATUMS = ("wgs84", "gcj02", "bd09")

#: China's extent (degrees), generous: used to recognise swapped columns.
CHINA_LON = (73.0, 136.0)
CHINA_LAT = (3.0, 54.0)


def utm_crs_for(lon: float, lat: float) -> CRS:
    """The WGS84 UTM zone containing (lon, lat).

    Parameters
    ----------
    lon, lat : float
        Degrees (WGS84).

    Returns
    -------
    pyproj.CRS
        EPSG:326zz north of the equator, EPSG:327zz south of it.
    """
    if not (np.isfinite(lon) and np.isfinite(lat)) or abs(lat) > 90 or abs(lon) > 180:
        raise InputError(
            f"cannot choose a UTM zone for lon={lon}, lat={lat}: not a WGS84 position; "
            "set [study] crs in the scenario (e.g. crs = \"EPSG:32650\")."
        )
    zone = int(np.floor((lon + 180.0) / 6.0)) % 60 + 1
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def as_study_crs(study_crs, where: str = "study CRS") -> CRS:
    """Parse ``study_crs`` and require a projected CRS in metres.

    Raises
    ------
    InputError
        When the CRS cannot be parsed, or is geographic (degrees).
    """
    try:
        crs = CRS.from_user_input(study_crs)
    except Exception as exc:  # pyproj raises CRSError with a terse message
        raise InputError(
            f"{where}: cannot understand CRS {study_crs!r} ({exc}); "
            "give an EPSG code such as \"EPSG:32650\"."
        ) from None
    if not crs.is_projected:
        raise InputError(
            f"{where}: CRS {crs.to_string()} is not projected (units are degrees); "
            "use a projected CRS in metres such as a UTM zone (\"EPSG:32650\"), or leave it out "
            "to use the UTM zone of the study area."
        )
    return crs


def format_rows(rows: Sequence, limit: int = 10) -> str:
    """'3, 5, 9' or '3, 5, ... (12 in all)' for messages."""
    rows = list(rows)
    shown = ", ".join(str(r) for r in rows[:limit])
    if len(rows) > limit:
        shown += f", ... ({len(rows)} in all)"
    return shown


def check_lonlat(
    lon, lat, file: str, rows: Sequence | None = None, row_word: str = "rows", row_note: str = ""
) -> None:
    """Raise :class:`InputError` for swapped or impossible lon/lat values.

    NaN values are ignored here (readers drop and count them).

    Parameters
    ----------
    lon, lat : array-like, degrees
    file : str
        File name for the message.
    rows : sequence, optional
        Row labels as the user sees them (e.g. spreadsheet row numbers),
        aligned with ``lon``; defaults to 1-based positions.
    row_word : str
        How rows are named in the message ("rows", "features").
    row_note : str
        Appended after the row list, e.g. " (spreadsheet rows: the header is row 1)".

    Raises
    ------
    InputError
        One problem per kind: rows whose values look swapped (latitude
        beyond +-90 while longitude fits, or longitude in China's latitude
        range and latitude in China's longitude range), and rows outside
        the valid range that swapping would not fix.
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    if rows is None:
        rows = np.arange(1, len(lon) + 1)
    rows = np.asarray(list(rows), dtype=object)
    ok = np.isfinite(lon) & np.isfinite(lat)
    with np.errstate(invalid="ignore"):
        in_range = (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
        china_swapped = (
            (lon >= CHINA_LAT[0]) & (lon <= CHINA_LAT[1]) & (lat >= CHINA_LON[0]) & (lat <= CHINA_LON[1])
        )
        swappable = (np.abs(lon) <= 90) & (np.abs(lat) <= 180)
    swapped = ok & (china_swapped | (~in_range & swappable))
    bad = ok & ~in_range & ~swapped
    problems = []
    if swapped.any():
        n, total = int(swapped.sum()), int(ok.sum())
        scope = "all rows" if n == total else f"{row_word} {format_rows(rows[swapped])}{row_note}"
        problems.append(
            f"{file}: longitude and latitude look swapped in {scope} "
            f"(e.g. lon={lon[swapped][0]:.6g}, lat={lat[swapped][0]:.6g}; in China longitude is "
            f"{CHINA_LON[0]:g}-{CHINA_LON[1]:g} and latitude {CHINA_LAT[0]:g}-{CHINA_LAT[1]:g}). "
            "Fix: swap the two columns (or map them with [inputs.columns] lon/lat in the scenario)."
        )
    if bad.any():
        problems.append(
            f"{file}: coordinates out of range in {row_word} {format_rows(rows[bad])}{row_note} "
            f"(e.g. lon={lon[bad][0]:.6g}, lat={lat[bad][0]:.6g}): longitude must be within +-180 "
            "and latitude within +-90 degrees. Fix: correct those rows, or if the columns are "
            "projected x/y metres set facility_coords to their EPSG code."
        )
    if problems:
        raise InputError(problems)


def coords_crs(coords: str) -> tuple[str, CRS]:
    """Parse a ``facility_coords``/``boundary_coords`` value.

    Returns
    -------
    (kind, crs)
        ``kind`` is one of :data:`DATUMS` (then ``crs`` is EPSG:4326, lon/lat
        to be converted to WGS84) or ``"crs"`` for any other CRS (x/y columns).
    """
    c = str(coords or "wgs84").strip()
    s = c.lower().replace("-", "").replace("_", "")
    if s in DATUMS:
        return s, CRS.from_epsg(4326)
    try:
        return "crs", CRS.from_user_input(c)
    except Exception:
        raise InputError(f"unknown coordinate system {coords!r}: use wgs84, gcj02, bd09 or an EPSG code "
                         "such as \"EPSG:4549\" (facility_coords / boundary_coords in [inputs]).") from None
