"""Cut a population raster to a study boundary, counting the persons in and out."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from access.accounting import Account
from access.errors import InputError
from access.progress import Progress
from access.sources.download.transfer import _as_progress, _part_path


def _boundary_shapes(boundary, crs_wkt: str, where: str) -> list:
    import geopandas as gpd
    import shapely

    if isinstance(boundary, (str, Path)):
        if not Path(boundary).exists():
            raise InputError(f"{boundary}: boundary file not found.")
        boundary = gpd.read_file(boundary)
    if isinstance(boundary, gpd.GeoDataFrame):
        boundary = boundary.geometry
    if not isinstance(boundary, gpd.GeoSeries):
        raise InputError(f"{where}: the boundary must be a GeoDataFrame, GeoSeries or polygon file, "
                         f"not {type(boundary).__name__}.")
    if boundary.crs is None:
        raise InputError(f"{where}: the boundary has no CRS; set it (e.g. gdf.set_crs(4326) for lon/lat).")
    geoms = np.asarray(boundary.to_crs(crs_wkt).values)
    geoms = shapely.make_valid(geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))])
    geoms = [g for g in geoms if g.geom_type in ("Polygon", "MultiPolygon", "GeometryCollection") and g.area > 0]
    if not geoms:
        raise InputError(f"{where}: the boundary has no polygon with an area.")
    return geoms


def _valid(a: np.ndarray, nodata) -> np.ndarray:
    ok = np.isfinite(a) if a.dtype.kind == "f" else np.ones(a.shape, dtype=bool)
    if nodata is not None and not (isinstance(nodata, float) and np.isnan(nodata)):
        ok &= a != nodata
    return ok


def clip_raster(src, boundary, dest, *, whole_raster: bool = False,
                progress: bool | Progress = True) -> tuple[Path, Account]:
    """Cut a population raster to a boundary, counting persons in and out.

    Cells whose centre lies inside the boundary keep their value; the others
    become no-data (``rasterio.mask``, ``crop=True``, so the output covers
    only the boundary's bounding box). Values are never resampled. The
    nodata value of ``src`` is kept (NaN for a float raster without one,
    0 for an integer raster without one). Band 1 only.

    Parameters
    ----------
    src : str or Path
        Population-count GeoTIFF (e.g. from :func:`worldpop_raster`).
    boundary : GeoDataFrame, GeoSeries, str or Path
        Study polygons in any CRS (reprojected to the raster's).
    dest : str or Path
        GeoTIFF to write (written to ``<dest>.part`` then renamed).
    whole_raster : bool
        Count persons outside the boundary over the whole raster (reads
        every block: slow for a country at 100 m) instead of only over the
        cropped window.
    progress : bool or Progress
        Announce the step and the persons inside and outside on stderr.

    Returns
    -------
    dest : Path
    account : Account
        ``read`` = cells with data in the window (or the whole raster),
        ``kept`` = those inside the boundary, ``dropped["outside the study
        area"]``; ``population_read == population_kept +
        population_dropped["outside the study area"]`` (persons).

    Raises
    ------
    InputError
        Raster missing or without CRS, boundary without CRS, or a boundary
        that does not overlap the raster.
    """
    import rasterio
    from rasterio.mask import raster_geometry_mask
    from rasterio.windows import Window

    from access.sources.population import OUTSIDE

    src, dest = Path(src), Path(dest)
    prog = _as_progress(progress)
    if not src.exists():
        raise InputError(f"{src}: population raster not found.")
    with prog.step(f"clipping {src.name} to the boundary"), rasterio.open(src) as ds:
        if ds.crs is None:
            raise InputError(f"{src}: raster has no CRS; assign one (WorldPop grids are EPSG:4326).")
        shapes = _boundary_shapes(boundary, ds.crs.to_wkt(), str(src))
        try:
            inside_mask, transform, window = raster_geometry_mask(ds, shapes, crop=True)
        except ValueError:
            import shapely

            b = shapely.bounds(shapely.union_all(shapes))
            raise InputError(f"{src}: the boundary (bounds {np.round(b, 4).tolist()} in the raster's CRS) does not "
                             f"overlap the raster (bounds {np.round(list(ds.bounds), 4).tolist()}). Fix: check the "
                             "boundary's CRS and that the raster covers the study area (WorldPop rasters are per "
                             "country).") from None
        a = ds.read(1, window=window)
        nodata = ds.nodata
        if nodata is not None:
            fill = nodata
        elif a.dtype.kind == "f":
            fill = float("nan")
        else:
            fill = 0
        inside = ~inside_mask
        valid = _valid(a, nodata)
        pop_in = float(a[inside & valid].sum(dtype=np.float64))
        n_in = int((inside & valid).sum())
        if whole_raster:
            n_all, pop_all = 0, 0.0
            rows = max(1, 4_000_000 // max(ds.width, 1))
            for r0 in range(0, ds.height, rows):
                b = ds.read(1, window=Window(0, r0, ds.width, min(rows, ds.height - r0)))
                v = _valid(b, nodata)
                n_all += int(v.sum())
                pop_all += float(b[v].sum(dtype=np.float64))
            scope = "whole raster"
        else:
            n_all, pop_all = int(valid.sum()), float(a[valid].sum(dtype=np.float64))
            scope = "cropped window (the boundary's bounding box)"
        out = np.where(inside, a, np.asarray(fill, dtype=a.dtype)).astype(a.dtype)
        profile = ds.profile.copy()
        for k in ("blockxsize", "blockysize", "tiled", "interleave", "photometric"):
            profile.pop(k, None)
        profile.update(driver="GTiff", count=1, height=out.shape[0], width=out.shape[1], transform=transform,
                       compress="deflate", BIGTIFF="IF_SAFER")
        if nodata is not None or a.dtype.kind == "f":
            profile["nodata"] = fill
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = _part_path(dest)
        with rasterio.open(part, "w", **profile) as dst:
            dst.write(out, 1)
    os.replace(part, dest)
    acc = Account(source=src.name, read=n_all, kept=n_in)
    acc.drop(OUTSIDE, n_all - n_in, pop_all - pop_in)
    acc.population_read = pop_all
    acc.population_kept = pop_in
    acc.notes.append(f"clipped to {dest.name}: {out.shape[1]}x{out.shape[0]} cells; persons outside counted over "
                     f"the {scope}; cells kept when their centre is inside the boundary")
    acc.check()
    if not prog.quiet:
        print(f"  persons: {pop_in:,.0f} inside the boundary, {pop_all - pop_in:,.0f} outside "
              f"(in the {scope}; {pop_all:,.0f} in all)", file=sys.stderr, flush=True)
    return dest, acc

