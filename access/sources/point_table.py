"""Point tables: a CSV with lon/lat (or x/y) columns, or a GIS point layer, read as text and coordinates.

This is the file-level half of reading facilities: which file type, which
columns, which coordinates and in which CRS; what the rows *mean* (categories,
ids, capacity) is decided by :mod:`access.sources.facilities`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from access.errors import InputError
from access.sources.columns import match_columns
from access.sources.tables import read_csv_text

__all__ = ["PointTable", "read_point_table", "CSV_EXT", "GIS_EXT"]

CSV_EXT = (".csv", ".txt", ".tsv")
GIS_EXT = (".geojson", ".json", ".gpkg", ".shp", ".fgb")


@dataclass
class PointTable:
    """A point file read as text columns and coordinates.

    Attributes
    ----------
    df : DataFrame
        Attribute columns as text (blank cells are "").
    x, y : ndarray
        Coordinates in ``crs`` (NaN where missing or non-numeric).
    crs : pyproj.CRS
        CRS of ``x``/``y`` (EPSG:4326 for lon/lat in any datum).
    rows : ndarray of int
        Row labels as the user sees them (spreadsheet rows, or 1-based features).
    row_word, convention : str
        How rows are named in messages ("rows", " (spreadsheet rows: ...)").
    columns : dict
        Canonical column name -> the file's column (see :func:`match_columns`).
    """

    df: pd.DataFrame
    x: np.ndarray
    y: np.ndarray
    crs: CRS
    rows: np.ndarray
    row_word: str
    convention: str
    columns: dict


def read_point_table(path: Path, kind: str, src_crs: CRS, coords: str, columns: dict | None,
                     encoding: str = "auto", what: str = "facility") -> PointTable:
    """Read ``path`` (CSV or GIS point layer) into a :class:`PointTable`.

    Parameters
    ----------
    path : Path
    kind, src_crs : str, CRS
        From :func:`access.sources.crs.coords_crs` of ``coords``.
    coords : str
        The scenario value, for messages.
    columns : dict, optional
        ``[inputs.columns]``.
    encoding : str
        CSV encoding (see :func:`access.sources.tables.read_csv_text`).
    what : str
        What one row is, for messages.

    Raises
    ------
    InputError
        Empty file or layer, unsupported type, shapefile without .prj, layer
        without CRS, non-point geometry, datum given for a projected layer.
    """
    ext = path.suffix.lower()
    if ext in CSV_EXT:
        df = read_csv_text(path, encoding)
        if len(df) == 0:
            raise InputError(f"{path}: the file has a header but no {what} rows.")
        cols = match_columns(list(df.columns), columns, path, lonlat_needed=True)
        x = pd.to_numeric(df[cols["lon"]].astype(str).str.strip(), errors="coerce").to_numpy(float)
        y = pd.to_numeric(df[cols["lat"]].astype(str).str.strip(), errors="coerce").to_numpy(float)
        return PointTable(df, x, y, src_crs, np.arange(len(df)) + 2, "rows",
                          " (spreadsheet rows: the header is row 1)", cols)
    if ext not in GIS_EXT:
        raise InputError(f"{path}: unsupported {what} file type {ext!r}; use .csv, .geojson, .gpkg or .shp.")
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
        raise InputError(f"{path}: the layer has no features; it should hold one point per {what}.")
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
            geom = geom.apply(lambda g: g.geoms[0] if g is not None and g.geom_type == "MultiPoint"
                              and len(g.geoms) == 1 else g)
            types = set(geom.dropna().geom_type)
        if not types <= {"Point"}:
            raise InputError(f"{path}: {what} locations must be points; found {sorted(types)}. Fix: convert "
                             "them to points (e.g. polygon centroids) before loading.")
    df = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).astype(object).where(gdf.notna(), "")
    df.columns = [str(c) for c in df.columns]
    empty = (geom.isna() | geom.is_empty).to_numpy()
    x = np.full(len(df), np.nan)
    y = np.full(len(df), np.nan)
    x[~empty] = geom[~empty].x.to_numpy(float)
    y[~empty] = geom[~empty].y.to_numpy(float)
    cols = match_columns(list(df.columns), columns, path, lonlat_needed=False)
    return PointTable(df, x, y, layer_crs, np.arange(len(df)) + 1, "features", " (1-based)", cols)
