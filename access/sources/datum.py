"""Datum check both ways: does a layer fit the roads better as given or as converted?

Amap/Tencent publish GCJ-02 and Baidu BD-09, about 300-700 m off WGS84; but
Amap data often reaches a planner already converted, and converting it again
shifts every point as much the other way. Neither mistake shows on a map at
county scale, yet both move facilities off their roads and across township
lines. So each located layer is placed under every datum hypothesis
(:data:`~access.sources.crs.DATUMS`) and compared with a reference layer:

* the distance (m) from the layer's points (facilities, boundary vertices)
  to the nearest road (OSM, WGS84 by definition), its 75th percentile;
* for points against polygons from another file, the share of points outside
  them (e.g. Amap POIs against a district layer).

When the datum the scenario chose fits clearly worse than another, a warning
gives both figures and the setting that fits.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
from pyproj import CRS, Transformer
from scipy.spatial import cKDTree

from access.errors import warn
from access.sources import chinacoords
from access.sources.crs import DATUMS

__all__ = ["DatumFit", "under_datum", "fit_to_points", "fit_inside", "datum_warning", "gcj02_offset_warning",
           "vertices", "check_datums", "datum_of", "road_lines"]

_LABEL = {"wgs84": "WGS84", "gcj02": "GCJ-02", "bd09": "BD-09"}
_FROM_WGS84 = {"wgs84": lambda x, y: (x, y), "gcj02": chinacoords.wgs84_to_gcj02,
               "bd09": chinacoords.wgs84_to_bd09}


@dataclass(frozen=True)
class DatumFit:
    """How well a layer fits a reference under each datum hypothesis.

    Attributes
    ----------
    layer, reference : str
        What was compared ("facilities.csv", "roads").
    setting : str
        Scenario key that chooses the layer's datum (``facility_coords``).
    chosen : str
        The datum the scenario chose.
    measure : str
        A distance (m) or "share outside".
    values : dict
        Datum -> figure (lower is better).
    n : int
        Points compared (facilities, or boundary vertices).
    """

    layer: str
    reference: str
    setting: str
    chosen: str
    measure: str
    values: dict
    n: int = 0

    @property
    def best(self) -> str:
        return min(self.values, key=self.values.get)

    def text(self) -> str:
        unit = (lambda v: f"{v:.0f} m") if self.measure.startswith("distance") else (
            lambda v: f"{100 * v:.1f} % ({round(v * self.n)} of {self.n})")
        figs = ", ".join(f"{unit(v)} read as {d}" for d, v in self.values.items())
        return f"{self.layer} vs {self.reference}, {self.measure}: {figs} ({self.setting} = \"{self.chosen}\")"


def under_datum(lon, lat, chosen: str, other: str) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 lon/lat the file would give if it were in ``other`` rather than ``chosen``.

    ``lon``/``lat`` are WGS84 positions as read with ``chosen`` (converted from
    it); the file's own numbers are recovered, then converted from ``other``.
    """
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    if other == chosen:
        return lon, lat
    fx, fy = _FROM_WGS84[chosen](lon, lat)
    return chinacoords.to_wgs84(np.asarray(fx), np.asarray(fy), other)


def vertices(gdf: gpd.GeoDataFrame, limit: int = 20000) -> np.ndarray:
    """Up to ``limit`` evenly taken boundary vertices (n, 2) of polygons, or the points themselves."""
    import shapely

    geom = gdf.geometry[~(gdf.geometry.isna() | gdf.geometry.is_empty)]
    if len(geom) == 0:
        return np.empty((0, 2))
    if set(geom.geom_type) <= {"Point"}:
        xy = np.column_stack([geom.x.to_numpy(float), geom.y.to_numpy(float)])
    else:
        xy = shapely.get_coordinates(geom.boundary.to_numpy())
    if len(xy) > limit:
        xy = xy[np.linspace(0, len(xy) - 1, limit).astype(int)]
    return xy


def _hypotheses(xy: np.ndarray, crs, chosen: str) -> dict[str, np.ndarray]:
    """Datum -> the points (n, 2) in ``crs`` under that hypothesis."""
    crs = CRS.from_user_input(crs)
    to_ll = Transformer.from_crs(crs, 4326, always_xy=True)
    from_ll = Transformer.from_crs(4326, crs, always_xy=True)
    lon, lat = to_ll.transform(xy[:, 0], xy[:, 1])
    out = {}
    for d in DATUMS:
        wl, wt = under_datum(lon, lat, chosen, d)
        out[d] = np.column_stack(from_ll.transform(np.asarray(wl), np.asarray(wt)))
    return out


def road_lines(coords_xy: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Road polylines (shapely LineStrings) from vertices and per-edge offsets (see ``Edges``)."""
    import shapely

    idx = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    return shapely.linestrings(np.asarray(coords_xy, float), indices=idx)


def _nearest(reference):
    """A function giving each point's distance (m) to the nearest reference point or line."""
    import shapely

    if isinstance(reference, (cKDTree, shapely.STRtree)):
        tree = reference
    else:
        ref = np.asarray(reference)
        if ref.dtype == object:
            tree = shapely.STRtree(ref)
        elif ref.ndim == 2 and len(ref) >= 2:
            tree = cKDTree(ref[:, :2].astype(float))
        else:
            return None
    if isinstance(tree, cKDTree):
        return lambda p: tree.query(p)[0]
    return lambda p: tree.query_nearest(shapely.points(p), return_distance=True, all_matches=False)[1]


def fit_to_points(layer: gpd.GeoDataFrame, reference, chosen: str, layer_name: str,
                  reference_name: str = "roads", setting: str = "facility_coords",
                  min_points: int = 5) -> DatumFit | None:
    """Distance (m) from the layer's points or vertices to the nearest road, per datum hypothesis.

    The figure is the 75th percentile: in the right datum nearly every facility
    lies beside a road, in a wrong one a large share is pushed into blocks and
    fields. The median alone hides this in dense networks, where a point
    moved 500 m still lands near some road.

    Parameters
    ----------
    layer : GeoDataFrame
        Facilities (points) or boundaries (polygons) in a projected CRS, as read
        with the datum ``chosen``.
    reference : array
        Road polylines (shapely, see :func:`road_lines`) or points (n, 2) in the
        same CRS, metres; or an STRtree/cKDTree of them.
    chosen : str
        Datum the layer was read with: wgs84, gcj02 or bd09.

    Returns
    -------
    DatumFit or None
        None when there is too little data, no CRS, or ``chosen`` is not a datum.
    """
    nearest = _nearest(reference)
    if nearest is None or layer is None or layer.crs is None or chosen not in DATUMS:
        return None
    xy = vertices(layer)
    xy = xy[np.isfinite(xy).all(axis=1)]
    if len(xy) < min_points:
        return None
    values = {d: float(np.percentile(nearest(p), 75)) for d, p in _hypotheses(xy, layer.crs, chosen).items()}
    return DatumFit(layer_name, reference_name, setting, chosen, "distance (m) to the nearest road, 75th percentile",
                    values, len(xy))


def fit_inside(points: gpd.GeoDataFrame, polygons: gpd.GeoDataFrame, chosen: str, layer_name: str,
               reference: str, setting: str = "facility_coords", min_points: int = 5) -> DatumFit | None:
    """Share of points outside the union of ``polygons`` under each datum hypothesis of the points.

    ``polygons`` are taken as they are (their own datum is checked separately).
    """
    if points is None or polygons is None or len(polygons) == 0 or chosen not in DATUMS or points.crs is None:
        return None
    xy = vertices(points)
    xy = xy[np.isfinite(xy).all(axis=1)]
    if len(xy) < min_points:
        return None
    import shapely

    area = polygons.to_crs(points.crs).geometry.union_all()
    shapely.prepare(area)
    values = {d: float(1.0 - shapely.contains_xy(area, p[:, 0], p[:, 1]).mean())
              for d, p in _hypotheses(xy, points.crs, chosen).items()}
    return DatumFit(layer_name, reference, setting, chosen, "share outside", values, len(xy))


def datum_warning(fit: DatumFit | None, min_gain: float = 2.0, min_offset_m: float = 30.0,
                  min_points: int = 5) -> bool:
    """Warn, with both figures, when the chosen datum fits clearly worse than another.

    Distances: the chosen figure exceeds ``min_offset_m`` and is over ``min_gain``
    times the best. Shares outside: the chosen datum puts at least ``min_points``
    more points outside and over ``min_gain`` times as many. Returns whether it warned.
    """
    if fit is None:
        return False
    got, best = fit.values[fit.chosen], fit.best
    alt = fit.values[best]
    if best == fit.chosen:
        return False
    if fit.measure.startswith("distance"):
        worse = got > min_offset_m and got > min_gain * alt
        figs = (f"lie within {got:.0f} m of the {fit.reference} for three quarters of their "
                f"{'points' if fit.setting == 'facility_coords' else 'vertices'} as read, but within {alt:.0f} m")
    else:
        worse = round((got - alt) * fit.n) >= min_points and got > min_gain * alt
        figs = (f"fall outside the {fit.reference} for {round(got * fit.n)} of {fit.n} as read "
                f"({100 * got:.1f} %), but for {round(alt * fit.n)}")
    if not worse:
        return False
    if fit.chosen == "wgs84":
        what = f"the coordinates look like {_LABEL[best]} (Amap/Tencent{'' if best == 'gcj02' else ', Baidu'}) that were never converted"
    elif best == "wgs84":
        what = (f"the coordinates look like WGS84 already, and converting them from {_LABEL[fit.chosen]} "
                "shifted them")
    else:
        what = f"the coordinates look like {_LABEL[best]}, not {_LABEL[fit.chosen]}"
    warn(f"{fit.layer}: {'points' if fit.setting == 'facility_coords' else 'boundaries'} {figs} read as "
         f"{_LABEL[best]} ({fit.setting} = \"{fit.chosen}\" now): {what}. Fix: set {fit.setting} = \"{best}\" "
         "in [inputs] of the scenario.")
    return True


def gcj02_offset_warning(facilities, road_xy, file: str = "facilities", min_gain: float = 2.0,
                         min_offset_m: float = 30.0) -> tuple[float, float] | None:
    """Warn when WGS84-read facilities look like unconverted GCJ-02.

    Returns
    -------
    (metres as read, metres as GCJ-02) at the 75th percentile (see :func:`fit_to_points`),
    or None with too little data.
    """
    fit = fit_to_points(facilities, road_xy, "wgs84", file)
    if fit is None:
        return None
    fit = DatumFit(fit.layer, fit.reference, fit.setting, fit.chosen, fit.measure,
                   {d: fit.values[d] for d in ("wgs84", "gcj02")}, fit.n)
    datum_warning(fit, min_gain, min_offset_m)
    return fit.values["wgs84"], fit.values["gcj02"]


def datum_of(setting: str | None) -> str | None:
    """"wgs84"/"gcj02"/"bd09" for a facility_coords/boundary_coords value; None for an EPSG code."""
    s = str(setting or "wgs84").lower().replace("-", "").replace("_", "")
    return s if s in DATUMS else None


def check_datums(sc, facilities, counties, townships, roads) -> list[DatumFit]:
    """Every datum fit of a study's inputs, warning where the chosen datum fits worse.

    Facilities against the roads and against the boundaries; county and
    township boundaries read from files against the roads.

    Parameters
    ----------
    sc : Scenario
    facilities, counties, townships : GeoDataFrame or None
        As read, in the study CRS.
    roads : array of LineString
        Road polylines in the study CRS (metres), see :func:`road_lines`.

    Returns
    -------
    list of DatumFit
        The figures measured (for the run record).
    """
    import shapely

    tree = shapely.STRtree(roads) if roads is not None and len(roads) else None
    fits: list[DatumFit] = []
    fac_datum, bnd_datum = datum_of(sc.facility_coords), datum_of(sc.boundary_coords)
    fac_name = str(sc.facilities)
    if tree is not None and fac_datum:
        fits.append(fit_to_points(facilities, tree, fac_datum, fac_name, "roads", "facility_coords"))
    units = townships if townships is not None and len(townships) else counties
    if units is not None and fac_datum:
        fits.append(fit_inside(facilities, units, fac_datum, fac_name, "boundaries", "facility_coords"))
    for gdf, path in ((counties, sc.counties), (townships, sc.townships)):
        if tree is not None and bnd_datum and path is not None and gdf is not None:
            fits.append(fit_to_points(gdf, tree, bnd_datum, str(path), "roads", "boundary_coords"))
    fits = [f for f in fits if f is not None]
    for f in fits:
        datum_warning(f)
    return fits
