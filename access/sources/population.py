"""Population inputs -> population cells (points with a person count).

Three kinds of input give the same output, a GeoDataFrame with
``cell_id`` (int64), ``population`` (float64, persons) and a Point geometry
in the study CRS:

* a raster of counts per cell (WorldPop style), read block by block; cell
  centres are reprojected, values are never resampled, so persons are
  conserved exactly;
* points (CSV with lon/lat or x/y columns, GeoPackage, GeoJSON);
* polygons with census counts (e.g. townships), spread onto a regular grid
  by area share.

Every reader returns an :class:`~access.accounting.Account` in which
``population_read == population_kept + sum(population_dropped)``.
Zero-population cells are dropped and counted; cells outside the optional
study ``area`` are dropped with the reason "outside the study area".
"""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from access.accounting import Account
from access.errors import InputError, warn
from access.sources.crs import as_study_crs, check_lonlat, format_rows

__all__ = [
    "add_groups",
    "read_population",
    "read_population_raster",
    "read_population_points",
    "spread_polygon_population",
]

OUTSIDE = "outside the study area"
ZERO = "zero population"
RASTER_EXT = {".tif", ".tiff", ".vrt", ".img"}
VECTOR_EXT = {".gpkg", ".geojson", ".json", ".shp", ".fgb"}

#: Raster rows read per block when the file's own blocks are too small.
_BLOCK_CELLS = 4_000_000


def _empty_cells(crs) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"cell_id": np.array([], dtype="int64"), "population": np.array([], dtype="float64")},
        geometry=gpd.GeoSeries([], crs=crs),
        crs=crs,
    )


def _cells(ids, x, y, pop, crs) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"cell_id": np.asarray(ids, dtype="int64"), "population": np.asarray(pop, dtype="float64")},
        geometry=gpd.points_from_xy(x, y, crs=crs),
        crs=crs,
    )


def _area_geometry(area, crs):
    """One prepared (multi)polygon in ``crs`` from a GeoDataFrame/GeoSeries/geometry."""
    if area is None:
        return None
    if isinstance(area, (gpd.GeoDataFrame, gpd.GeoSeries)):
        if len(area) == 0:
            return None
        if area.crs is not None and CRS.from_user_input(area.crs) != crs:
            area = area.to_crs(crs)
        geom = shapely.union_all(shapely.make_valid(np.asarray(area.geometry.values)))
    else:
        geom = area
    shapely.prepare(geom)
    return geom


def _apply_area(x, y, pop, ids, area_geom, acc: Account, records: bool = True):
    """Keep points inside ``area_geom``; count the others in ``acc``.

    ``records=False`` counts persons only (when records are not these points).
    """
    if area_geom is None or len(x) == 0:
        return x, y, pop, ids
    inside = shapely.intersects_xy(area_geom, x, y)
    out = ~inside
    if out.any():
        acc.drop(OUTSIDE, int(out.sum()) if records else 0, float(pop[out].sum()))
    return x[inside], y[inside], pop[inside], ids[inside]


# ------------------------------------------------------------------ raster
def read_population_raster(path, study_crs, area=None) -> tuple[gpd.GeoDataFrame, Account]:
    """Read a population-count raster into cell-centre points.

    Parameters
    ----------
    path : str or Path
        GeoTIFF (any CRS) whose values are persons per cell (WorldPop counts).
    study_crs : CRS-like
        Projected study CRS (metres).
    area : GeoDataFrame or GeoSeries, optional
        Study area polygons; cells whose centres fall outside are dropped
        with reason "outside the study area" and their persons counted.

    Returns
    -------
    cells : GeoDataFrame
        ``cell_id`` (row * width + col in the raster, int64), ``population``
        (persons, float64), Point geometry at the cell centre in ``study_crs``.
    account : Account
        ``read`` = cells with data; dropped for "zero population",
        "NaN value" and "outside the study area".

    Raises
    ------
    InputError
        Missing/unreadable file, raster without CRS, negative counts, or
        no cell with data at all.
    """
    import rasterio
    from rasterio.windows import Window

    path = Path(path)
    crs = as_study_crs(study_crs)
    if not path.exists():
        raise InputError(f"{path}: population raster not found; check [inputs] population in the scenario.")
    try:
        src = rasterio.open(path)
    except Exception as exc:
        raise InputError(
            f"{path}: cannot read as a raster ({type(exc).__name__}: {exc}); "
            "give a GeoTIFF of persons per cell (e.g. WorldPop counts)."
        ) from None
    acc = Account(source=path.name)
    with src:
        if src.crs is None:
            raise InputError(
                f"{path}: raster has no CRS, so its cells cannot be placed. Fix: assign one, e.g. "
                f"`gdal_edit.py -a_srs EPSG:4326 {path.name}` for a WorldPop lon/lat grid."
            )
        if src.count < 1:
            raise InputError(f"{path}: raster has no bands.")
        src_crs = CRS.from_user_input(src.crs.to_wkt())
        transformer = Transformer.from_crs(src_crs, crs, always_xy=True)
        area_geom = _area_geometry(area, crs)
        area_bounds = shapely.bounds(area_geom) if area_geom is not None else None
        nodata = src.nodata
        width, height = src.width, src.height
        rows_per_block = max(1, min(height, _BLOCK_CELLS // max(width, 1)))
        T = src.transform
        parts_x, parts_y, parts_p, parts_id = [], [], [], []
        pop_read = 0.0
        n_negative, neg_min, neg_first = 0, 0.0, None
        for r0 in range(0, height, rows_per_block):
            nrows = min(rows_per_block, height - r0)
            win = Window(0, r0, width, nrows)
            a = src.read(1, window=win, out_dtype="float64")
            valid = np.ones(a.shape, dtype=bool)
            if nodata is not None:
                valid &= ~(a == nodata) if not math.isnan(nodata) else ~np.isnan(a)
            nan = valid & np.isnan(a)
            if nan.any():
                acc.read += int(nan.sum())
                acc.drop("NaN value", int(nan.sum()))
                valid &= ~nan
            inf = valid & np.isposinf(a)
            if inf.any():
                rr, cc = np.nonzero(inf)
                raise InputError(f"{path}: {int(inf.sum())} cells hold infinite population (first at raster row "
                                 f"{int(rr[0]) + r0 + 1}, column {int(cc[0]) + 1}, 1-based). Fix: set them to the "
                                 f"nodata value or correct them.")
            neg = valid & (a < 0)
            if neg.any():
                n_negative += int(neg.sum())
                neg_min = min(neg_min, float(a[neg].min()))
                if neg_first is None:
                    rr, cc = np.nonzero(neg)
                    neg_first = (int(rr[0]) + r0, int(cc[0]))
                valid &= ~neg
            rr, cc = np.nonzero(valid)
            vals = a[rr, cc]
            acc.read += len(vals)
            pop_read += float(vals.sum())
            zero = vals == 0
            if zero.any():
                acc.drop(ZERO, int(zero.sum()))
            rr, cc, vals = rr[~zero] + r0, cc[~zero], vals[~zero]
            if len(vals) == 0:
                continue
            ids = rr.astype("int64") * width + cc
            if area_bounds is not None:
                # Skip reprojecting a block that lies wholly outside the area.
                corners_x = [T.c + cc_ * T.a + rr_ * T.b for cc_ in (0, width) for rr_ in (r0, r0 + nrows)]
                corners_y = [T.f + cc_ * T.d + rr_ * T.e for cc_ in (0, width) for rr_ in (r0, r0 + nrows)]
                tb = transformer.transform_bounds(min(corners_x), min(corners_y), max(corners_x), max(corners_y))
                if tb[0] > area_bounds[2] or tb[2] < area_bounds[0] or tb[1] > area_bounds[3] or tb[3] < area_bounds[1]:
                    acc.drop(OUTSIDE, len(vals), float(vals.sum()))
                    continue
            xs = T.c + (cc + 0.5) * T.a + (rr + 0.5) * T.b
            ys = T.f + (cc + 0.5) * T.d + (rr + 0.5) * T.e
            x, y = transformer.transform(xs, ys)
            x, y = np.asarray(x), np.asarray(y)
            x, y, vals, ids = _apply_area(x, y, vals, ids, area_geom, acc)
            parts_x.append(x)
            parts_y.append(y)
            parts_p.append(vals)
            parts_id.append(ids)
    if n_negative:
        r, c = neg_first
        raise InputError(
            f"{path}: {n_negative} cells have negative population (minimum {neg_min:g}; first at "
            f"raster row {r + 1}, column {c + 1}, 1-based). Persons cannot be negative: if these are "
            f"no-data markers set the raster's nodata value (`gdal_edit.py -a_nodata {neg_min:g} "
            f"{path.name}`), otherwise correct the cells."
        )
    if acc.read == 0:
        raise InputError(
            f"{path}: every cell is no-data (nodata = {nodata}); the raster holds no population. "
            "Check that it covers the study area and that its nodata value is right."
        )
    if acc.dropped.get("NaN value"):
        warn(f"{path}: {acc.dropped['NaN value']} cells hold NaN and were treated as having no data.")
    if parts_x:
        cells = _cells(np.concatenate(parts_id), np.concatenate(parts_x), np.concatenate(parts_y),
                       np.concatenate(parts_p), crs)
    else:
        cells = _empty_cells(crs)
    acc.kept = len(cells)
    acc.population_read = pop_read
    acc.population_kept = float(cells["population"].sum())
    acc.notes.append(f"raster {width}x{height} cells in {src_crs.to_string()}; cell centres reprojected, values not resampled")
    acc.check()
    return cells, acc


# ------------------------------------------------------------------ points
_LON = ("lon", "lng", "long", "longitude", "经度")
_LAT = ("lat", "latitude", "纬度")


def _find(cols, names):
    low = {str(c).strip().lower(): c for c in cols}
    for n in names:
        if n in low:
            return low[n]
    return None


def _numbers(values: pd.Series) -> np.ndarray:
    """A column as float64, NaN where a cell is not a number.

    Arrow's parser first (ten times faster on a million text cells); where
    it refuses some cell (blank, padded, text), pandas' coercion decides.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        return np.asarray(pc.cast(pa.array(values.array), pa.float64()).to_numpy(zero_copy_only=False), dtype=float)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return pd.to_numeric(values, errors="coerce").to_numpy(float)


def _read_csv_table(path: Path, tables: dict | None = None) -> pd.DataFrame:
    """The CSV's text table, parsed once: ``tables`` (path -> table) keeps it for the next reader."""
    from access.sources.facilities import read_csv_text

    return _once(path, tables, lambda: read_csv_text(path, "auto"))


def _read_layer(path: Path, tables: dict | None = None) -> gpd.GeoDataFrame:
    """A GIS layer read once (see :func:`_read_csv_table`)."""
    return _once(path, tables, lambda: gpd.read_file(path))


def _once(path: Path, tables: dict | None, read):
    key = str(Path(path).resolve())
    if tables is not None and key in tables:
        return tables[key]
    table = read()
    if tables is not None:
        tables[key] = table
    return table


def read_population_points(
    path, study_crs, column: str = "population", crs_hint="EPSG:4326", area=None, tables: dict | None = None
) -> tuple[gpd.GeoDataFrame, Account]:
    """Read population points (CSV or a point layer) into cells.

    Parameters
    ----------
    path : str or Path
        CSV with ``lon``/``lat`` (also lng, longitude, 经度, 纬度) or ``x``/``y``
        columns, or a GeoPackage/GeoJSON/Shapefile of points.
    study_crs : CRS-like
        Projected study CRS.
    column : str
        Column holding persons per point.
    crs_hint : CRS-like
        CRS of CSV coordinates (default WGS84 lon/lat); required for x/y.
    area : GeoDataFrame, optional
        Study area; points outside are dropped and counted.
    tables : dict, optional
        Parsed tables (CSV text or GIS layer) by path, shared with
        :func:`add_groups` so the file is parsed once.

    Returns
    -------
    cells, account
        ``cell_id`` is the 1-based row/feature number.

    Raises
    ------
    InputError
        Missing column, non-numeric/NaN/negative counts (rows named),
        swapped lon/lat, empty file, layer without CRS.
    """
    path = Path(path)
    crs = as_study_crs(study_crs)
    if not path.exists():
        raise InputError(f"{path}: population file not found; check [inputs] population in the scenario.")
    acc = Account(source=path.name)
    if path.suffix.lower() in (".csv", ".txt"):
        df = _read_csv_table(path, tables)
        rows = np.arange(len(df)) + 2  # spreadsheet numbering: header is row 1
        row_word = "rows"
        convention = " (spreadsheet rows: the header is row 1)"
        xcol, ycol = _find(df.columns, _LON), _find(df.columns, _LAT)
        src_crs = CRS.from_user_input(crs_hint)
        if xcol is None or ycol is None:
            xcol, ycol = _find(df.columns, ("x",)), _find(df.columns, ("y",))
        if xcol is None or ycol is None:
            raise InputError(
                f"{path}: no coordinate columns; found columns {list(df.columns)}. Fix: name them "
                "lon/lat (WGS84 degrees) or x/y (with the CRS given as population_crs)."
            )
        x = _numbers(df[xcol])
        y = _numbers(df[ycol])
        if src_crs.is_geographic:
            check_lonlat(x, y, str(path), rows, "rows", " (spreadsheet rows: the header is row 1)")
    else:
        try:
            gdf = _read_layer(path, tables)
        except Exception as exc:
            raise InputError(f"{path}: cannot read as a GIS layer ({type(exc).__name__}: {exc}).") from None
        if gdf.crs is None:
            raise InputError(f"{path}: layer has no CRS; add a .prj (or save it as GeoPackage with a CRS).")
        df = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
        geom = gdf.geometry
        if len(gdf) and not (geom.geom_type.dropna() == "Point").all():
            raise InputError(f"{path}: expected points, found {sorted(set(geom.geom_type.dropna()))}.")
        empty = geom.isna().to_numpy() | geom.is_empty.to_numpy()
        x = np.where(empty, np.nan, geom.x.where(~empty).to_numpy(float) if len(gdf) else [])
        y = np.where(empty, np.nan, geom.y.where(~empty).to_numpy(float) if len(gdf) else [])
        src_crs = CRS.from_user_input(gdf.crs)
        rows = np.arange(len(df)) + 1
        row_word = "features"
        convention = " (1-based)"
    if len(df) == 0:
        raise InputError(f"{path}: file has no rows; it holds no population.")
    if column not in df.columns:
        raise InputError(
            f"{path}: population column {column!r} not found; found columns {list(df.columns)}. "
            "Fix: set population_column in [inputs] of the scenario."
        )
    raw = df[column]
    pop = _numbers(raw)
    problems = []
    blank = np.zeros(len(pop), bool)
    unread = np.flatnonzero(np.isnan(pop))  # the text of the cells that are not numbers only
    if len(unread):
        txt = raw.iloc[unread].astype(str).str.strip().str.lower()
        blank[unread] = raw.iloc[unread].isna().to_numpy() | txt.isin(["", "nan", "na", "n/a", "null", "none"]).to_numpy()
    bad_text = np.isnan(pop) & ~blank
    nan = np.isnan(pop) & ~bad_text
    if bad_text.any():
        problems.append(f"{path}: column {column!r} is not a number in {row_word} {format_rows(rows[bad_text])}{convention}; fix those cells.")
    if nan.any():
        problems.append(
            f"{path}: column {column!r} is empty/NaN in {row_word} {format_rows(rows[nan])}{convention}; "
            "fill in the count (0 if nobody lives there) or delete the rows."
        )
    neg = pop < 0
    if neg.any():
        problems.append(f"{path}: negative population in {row_word} {format_rows(rows[neg])}{convention}; persons cannot be negative.")
    if problems:
        raise InputError(problems)
    ids = rows.astype("int64")
    acc.read = len(pop)
    acc.population_read = float(pop.sum())
    badxy = ~(np.isfinite(x) & np.isfinite(y))
    if badxy.any():
        acc.drop("missing coordinates", int(badxy.sum()), float(pop[badxy].sum()))
        warn(f"{path}: {int(badxy.sum())} points without coordinates dropped ({row_word} {format_rows(rows[badxy])}{convention}); "
             f"{pop[badxy].sum():,.1f} persons lost.")
    keep = ~badxy
    zero = keep & (pop == 0)
    if zero.any():
        acc.drop(ZERO, int(zero.sum()))
    keep &= ~zero
    x, y, pop, ids = x[keep], y[keep], pop[keep], ids[keep]
    if len(x):
        tx, ty = Transformer.from_crs(src_crs, crs, always_xy=True).transform(x, y)
        x, y = np.asarray(tx, dtype=float), np.asarray(ty, dtype=float)
    x, y, pop, ids = _apply_area(x, y, pop, ids, _area_geometry(area, crs), acc)
    cells = _cells(ids, x, y, pop, crs)
    acc.kept = len(cells)
    acc.population_kept = float(pop.sum())
    acc.check()
    return cells, acc


# ---------------------------------------------------------------- polygons
def spread_polygon_population(
    polygons: gpd.GeoDataFrame, column: str, cell_size_m: float, study_crs, source: str = "polygons"
) -> tuple[gpd.GeoDataFrame, Account]:
    """Spread counts by polygon (e.g. township census) onto a regular grid.

    Each polygon's count is shared among the grid cells it overlaps in
    proportion to the overlap area, then renormalised so each polygon's
    persons are conserved to rounding (1e-6 persons). Cells that several
    polygons overlap sum their shares.

    Parameters
    ----------
    polygons : GeoDataFrame
        Polygons with a CRS and a count column.
    column : str
        Persons per polygon.
    cell_size_m : float
        Grid spacing in metres (grid aligned to multiples of it in the study CRS).
    study_crs : CRS-like
    source : str
        Name for the Account and messages.

    Returns
    -------
    cells : GeoDataFrame
        ``cell_id`` = row * ncols + col of the grid over the polygons' bounds,
        ``population`` (persons), Point at the cell centre.
    account : Account
        Records are polygons; dropped for "zero population" and "empty geometry".
    """
    crs = as_study_crs(study_crs)
    if not (cell_size_m and cell_size_m > 0):
        raise InputError(f"{source}: cell size must be a positive number of metres, got {cell_size_m!r}.")
    if polygons.crs is None:
        raise InputError(f"{source}: polygons have no CRS; add a .prj or save with a CRS.")
    if column not in polygons.columns:
        raise InputError(
            f"{source}: population column {column!r} not found; found columns "
            f"{[c for c in polygons.columns if c != polygons.geometry.name]}. Fix: set population_column in [inputs]."
        )
    pop = pd.to_numeric(polygons[column], errors="coerce").to_numpy(float)
    rows = np.arange(len(polygons)) + 1
    problems = []
    if np.isnan(pop).any():
        problems.append(f"{source}: column {column!r} is empty or not a number in features {format_rows(rows[np.isnan(pop)])} (1-based).")
    if (pop < 0).any():
        problems.append(f"{source}: negative population in features {format_rows(rows[pop < 0])} (1-based).")
    if problems:
        raise InputError(problems)
    polys = polygons.to_crs(crs)
    geoms = shapely.make_valid(np.asarray(polys.geometry.values))
    acc = Account(source=source, read=len(polys), population_read=float(pop.sum()))
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms) | (shapely.area(geoms) <= 0)
    if (empty & (pop > 0)).any():
        acc.drop("empty geometry", int((empty & (pop > 0)).sum()), float(pop[empty & (pop > 0)].sum()))
        warn(f"{source}: features {format_rows(rows[empty & (pop > 0)])} have no area; their persons are dropped.")
    zero = (pop == 0) & ~(empty & (pop > 0))
    acc.drop(ZERO, int(zero.sum()))
    use = ~empty & (pop > 0)
    if not use.any():
        acc.population_kept = 0.0
        acc.check()
        return _empty_cells(crs), acc
    s = float(cell_size_m)
    # the grid spans every polygon with an area, not only populated ones, so
    # that other count columns of the same layer (demand groups) land on the
    # same cell ids
    tb = shapely.total_bounds(geoms[~empty])
    x0, y0 = math.floor(tb[0] / s) * s, math.floor(tb[1] / s) * s
    ncols = int(math.ceil((tb[2] - x0) / s)) + 1
    acc_ids, acc_pop = [], []
    for g, p in zip(geoms[use], pop[use]):
        b = shapely.bounds(g)
        c0, c1 = int((b[0] - x0) // s), int((b[2] - x0) // s)
        r0, r1 = int((b[1] - y0) // s), int((b[3] - y0) // s)
        cc, rr = np.meshgrid(np.arange(c0, c1 + 1), np.arange(r0, r1 + 1))
        cc, rr = cc.ravel(), rr.ravel()
        boxes = shapely.box(x0 + cc * s, y0 + rr * s, x0 + (cc + 1) * s, y0 + (rr + 1) * s)
        shapely.prepare(g)
        share = shapely.area(shapely.intersection(boxes, g))
        total = share.sum()
        if total <= 0:
            continue
        k = share > 0
        acc_ids.append(rr[k].astype("int64") * ncols + cc[k])
        acc_pop.append(p * share[k] / total)
    ids = np.concatenate(acc_ids)
    vals = np.concatenate(acc_pop)
    uid, inv = np.unique(ids, return_inverse=True)
    summed = np.bincount(inv, weights=vals)
    rr, cc = uid // ncols, uid % ncols
    cells = _cells(uid, x0 + (cc + 0.5) * s, y0 + (rr + 0.5) * s, summed, crs)
    acc.kept = int(use.sum())
    acc.population_kept = float(pop[use].sum())
    acc.notes.append(f"{int(use.sum())} polygons spread onto {len(cells)} cells of {s:g} m by area share")
    acc.check()
    return cells, acc


def read_population(
    path, study_crs, column: str = "population", area=None, cell_size_m: float = 100.0, crs_hint="EPSG:4326",
    tables: dict | None = None,
) -> tuple[gpd.GeoDataFrame, Account]:
    """Read any population input, dispatching on extension and geometry type.

    Parameters
    ----------
    path : str or Path
        ``.tif``/``.tiff`` raster, ``.csv`` points, or ``.gpkg``/``.geojson``/
        ``.shp`` points or polygons.
    study_crs : CRS-like
        Projected study CRS.
    column : str
        Persons column for vector inputs.
    area : GeoDataFrame, optional
        Study area; cells outside are dropped and counted.
    cell_size_m : float
        Grid spacing for polygon inputs, metres.
    tables : dict, optional
        Filled with the parsed table of a point file (path -> CSV text
        table or GIS layer); pass the same dict to :func:`add_groups` to
        read group columns without parsing the file again.

    Returns
    -------
    cells, account
        See :func:`read_population_raster`.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if not path.exists():
        raise InputError(f"{path}: population file not found; check [inputs] population in the scenario.")
    if ext in RASTER_EXT:
        return read_population_raster(path, study_crs, area=area)
    if ext in (".csv", ".txt"):
        return read_population_points(path, study_crs, column=column, crs_hint=crs_hint, area=area,
                                      tables=tables)
    if ext in VECTOR_EXT:
        tables = {} if tables is None else tables  # the point reader below takes the layer read here
        try:
            gdf = _read_layer(path, tables)
        except Exception as exc:
            raise InputError(f"{path}: cannot read as a GIS layer ({type(exc).__name__}: {exc}).") from None
        if len(gdf) == 0:
            raise InputError(f"{path}: file has no features; it holds no population.")
        types = set(gdf.geometry.geom_type.dropna())
        if types <= {"Point"}:
            return read_population_points(path, study_crs, column=column, area=area, tables=tables)
        if types <= {"Polygon", "MultiPolygon"}:
            if gdf.crs is None:
                raise InputError(f"{path}: layer has no CRS; add a .prj (or save it as GeoPackage with a CRS).")
            cells, acc = spread_polygon_population(gdf, column, cell_size_m, study_crs, source=path.name)
            if area is not None:
                crs = as_study_crs(study_crs)
                x, y = cells.geometry.x.to_numpy(), cells.geometry.y.to_numpy()
                p, ids = cells["population"].to_numpy(), cells["cell_id"].to_numpy()
                x, y, p, ids = _apply_area(x, y, p, ids, _area_geometry(area, crs), acc, records=False)
                acc.population_kept = float(p.sum())
                cells = _cells(ids, x, y, p, crs)
                acc.notes.append("cells outside the study area are counted in persons only: records are polygons")
                acc.check()
            return cells, acc
        raise InputError(f"{path}: population layer must be points or polygons, found {sorted(types)}.")
    raise InputError(
        f"{path}: unsupported population file type {ext!r}; use a GeoTIFF raster (.tif), "
        "a CSV of points, or a GeoPackage/GeoJSON of points or polygons."
    )


# ------------------------------------------------------------ demand groups
def _group_raster(files, population: Path, cells: gpd.GeoDataFrame, group: str) -> tuple[np.ndarray, float, float]:
    """Persons of a group per cell from rasters on the population raster's grid.

    Returns (persons per cell, persons read in the cells' window, persons of
    the group where the population raster has nobody).
    """
    import rasterio
    from rasterio.windows import Window

    with rasterio.open(population) as ref:
        shape, transform, ref_crs, width = (ref.height, ref.width), ref.transform, ref.crs, ref.width
    for f in files:  # every grid is checked before any cell is read
        try:
            src = rasterio.open(f)
        except Exception as exc:
            raise InputError(f"{f}: cannot read as a raster ({type(exc).__name__}: {exc}); give a GeoTIFF of "
                             f"persons of group {group!r} per cell.") from None
        with src:
            if (src.height, src.width) != shape or not src.transform.almost_equals(transform) or src.crs != ref_crs:
                raise InputError(
                    f"{f}: grid {src.width}x{src.height} ({src.crs}) differs from the population raster "
                    f"{population.name} ({shape[1]}x{shape[0]}, {ref_crs}); group rasters must share the "
                    "population grid cell for cell. Fix: resample them onto it (gdalwarp -te/-tr) or "
                    "give the population as the sum of the bands.")
    ids = cells["cell_id"].to_numpy(np.int64)
    if not len(ids):
        return np.zeros(0), 0.0, 0.0
    with rasterio.open(population) as ref:
        rows, cols = ids // width, ids % width
        r0, r1, c0, c1 = int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1
        win = Window(c0, r0, c1 - c0, r1 - r0)
        base = ref.read(1, window=win, out_dtype="float64")
        nod = ref.nodata
        empty = np.isnan(base) | (base <= 0) | ((base == nod) if nod is not None and not math.isnan(nod) else False)
    total = np.zeros((r1 - r0, c1 - c0))
    for f in files:
        with rasterio.open(f) as src:
            a = src.read(1, window=win, out_dtype="float64")
            valid = ~np.isnan(a)
            if src.nodata is not None and not math.isnan(src.nodata):
                valid &= a != src.nodata
            if (valid & (a < 0)).any():
                rr, cc = np.nonzero(valid & (a < 0))
                raise InputError(f"{f}: negative persons at raster row {rr[0] + r0 + 1}, column {cc[0] + c0 + 1} "
                                 "(1-based); set the raster's nodata value or correct the cells.")
            total += np.where(valid, a, 0.0)
    vals = total[rows - r0, cols - c0]
    return vals, float(total.sum()), float(total[empty].sum())


def _group_vector(path: Path, column: str, cells: gpd.GeoDataFrame, crs, cell_size_m: float,
                  group: str, tables: dict | None = None) -> tuple[np.ndarray, float, float]:
    """Persons of a group per cell from a column of the population points/polygons."""
    if path.suffix.lower() in (".csv", ".txt"):
        df = _read_csv_table(path, tables)
        polygons = False
    else:
        df = _read_layer(path, tables)
        polygons = len(df) and not (df.geometry.geom_type.dropna() == "Point").all()
    if column not in df.columns:
        raise InputError(f"{path}: column {column!r} for demand group {group!r} not found; found columns "
                         f"{[c for c in df.columns if c != 'geometry']}. Fix: [inputs.groups] {group} = "
                         '{ column = "..." }.')
    v = _numbers(df[column])
    bad = np.isnan(v) | (v < 0)
    if bad.any():
        rows = np.arange(len(df)) + (2 if not polygons and path.suffix.lower() in (".csv", ".txt") else 1)
        raise InputError(f"{path}: column {column!r} (group {group!r}) is empty, not a number or negative in "
                         f"rows {format_rows(rows[bad])}; give persons (0 if none).")
    if polygons:
        spread, _ = spread_polygon_population(df, column, cell_size_m, crs, source=f"{path.name} ({column})")
        by_id = pd.Series(spread["population"].to_numpy(float), index=spread["cell_id"].to_numpy())
    else:
        by_id = pd.Series(v, index=np.arange(len(v), dtype=np.int64) + (
            2 if path.suffix.lower() in (".csv", ".txt") else 1))
    vals = by_id.reindex(cells["cell_id"].to_numpy()).fillna(0.0).to_numpy(float)
    return vals, float(by_id.sum()), float(by_id.sum() - vals.sum())


def add_groups(cells: gpd.GeoDataFrame, groups: dict, population, study_crs, cell_size_m: float = 100.0,
               tables: dict | None = None) -> tuple[gpd.GeoDataFrame, list[Account]]:
    """Add persons by demand group to population cells: one ``pop_<group>`` column each.

    Parameters
    ----------
    cells : GeoDataFrame
        Output of :func:`read_population` (``cell_id`` ties a cell to its
        raster pixel, point row or grid cell).
    groups : dict
        Group -> list of raster files (summed; each on the population
        raster's grid) or, for vector population, the name of a column.
    population : path
        The population input ``cells`` came from.
    study_crs : CRS-like
    cell_size_m : float
        Grid spacing used for polygon population, metres.
    tables : dict, optional
        The dict given to :func:`read_population`: a point population is
        not parsed again (one table for every group's column).

    Returns
    -------
    cells : GeoDataFrame
        A copy with ``pop_<group>`` (persons, float64) per group.
    accounts : list of Account
        One per group: persons read (the group rasters over the cells'
        window, or the column's total) = kept + dropped, where dropped are the
        persons lying where the population input has nobody (zero cells,
        outside the study area). Warns when such persons exist and when a
        group exceeds the population in some cells.
    """
    population = Path(population)
    crs = as_study_crs(study_crs)
    out = cells.copy()
    accounts = []
    pop = out["population"].to_numpy(float)
    for g, spec in groups.items():
        if isinstance(spec, str):
            vals, read, lost = _group_vector(population, spec, out, crs, cell_size_m, g, tables)
            src = f"{population.name} column {spec}"
        else:
            vals, read, lost = _group_raster([Path(f) for f in spec], population, out, g)
            src = f"{len(spec)} rasters"
        out[f"pop_{g}"] = vals
        acc = Account(source=f"group {g} ({src})", read=len(out), kept=len(out),
                      population_read=read, population_kept=float(vals.sum()))
        dropped = read - float(vals.sum())
        if dropped > 1e-6 * max(read, 1.0):
            acc.drop("where the population input has nobody or outside the study area", 0, dropped)
            if lost > 1e-6 * max(read, 1.0):
                warn(f"{population.name}: {lost:,.0f} persons of group {g!r} lie in cells where the population "
                     "has nobody; they are not counted. Check that the group and population inputs match.")
        else:
            acc.population_kept = read
        over = vals > pop * (1 + 1e-9) + 1e-9
        if over.any():
            warn(f"{population.name}: group {g!r} exceeds the population in {int(over.sum())} cells (by "
                 f"{float((vals - pop)[over].sum()):,.1f} persons in all); shares of that group use its own "
                 "persons, but check that the inputs describe the same people.")
        acc.notes.append(f"{float(vals.sum()):,.1f} persons of group {g!r} on {int((vals > 0).sum())} cells")
        acc.check()
        accounts.append(acc)
    return out, accounts
