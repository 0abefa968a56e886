"""Chinese map datums: GCJ-02 ("Mars coordinates") and BD-09 to WGS84.

Maps and POI services in mainland China (Amap/高德, Tencent, Google China)
publish GCJ-02 coordinates, which are WGS84 plus a deterministic, nonlinear
offset of roughly 100-700 m; Baidu publishes BD-09, a further rotation and
shift of GCJ-02. OSM and WorldPop are WGS84, so facility and boundary files
from Chinese map services must be converted before they are overlaid.

The forward GCJ-02 formula is the published one (Krasovsky 1940 ellipsoid,
``a = 6378245 m``, ``ee = 0.00669342162296594323``), applied only inside a
bounding box of China as every reference implementation does. There is no
closed-form inverse, so :func:`gcj02_to_wgs84` iterates the forward formula
until the residual is below ``tol_m`` metres (fixed-point iteration converges
because the offset varies slowly: its gradient is about 1e-5).

All functions take and return longitude/latitude in degrees and accept
scalars or numpy arrays (vectorised).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "out_of_china",
    "wgs84_to_gcj02",
    "gcj02_to_wgs84",
    "gcj02_to_bd09",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "wgs84_to_bd09",
    "to_wgs84",
    "SYSTEMS",
]

#: Krasovsky 1940 semi-major axis (m) and first eccentricity squared.
A = 6378245.0
EE = 0.00669342162296594323
#: BD-09 uses pi * 3000 / 180 in its rotation.
X_PI = np.pi * 3000.0 / 180.0
#: Metres per degree of latitude, for convergence tests only.
_M_PER_DEG = 111_320.0

SYSTEMS = ("wgs84", "gcj02", "bd09")


def _arr(lon, lat):
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    lon, lat = np.broadcast_arrays(lon, lat)
    return lon.astype(float, copy=True), lat.astype(float, copy=True)


def _out(lon, lat, scalar: bool):
    if scalar:
        return float(lon), float(lat)
    return lon, lat


def out_of_china(lon, lat):
    """True where a point lies outside the box in which GCJ-02 is applied.

    The published algorithm leaves points outside this rectangle unshifted
    (longitude 72.004-137.8347 E, latitude 0.8293-55.8271 N).

    Parameters
    ----------
    lon, lat : float or array, degrees
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _delta(lon, lat):
    """GCJ-02 minus WGS84, degrees, at WGS84 point (lon, lat); 0 outside China."""
    x = lon - 105.0
    y = lat - 35.0
    sqx = np.sqrt(np.abs(x))
    pi = np.pi
    common = (20.0 * np.sin(6.0 * pi * x) + 20.0 * np.sin(2.0 * pi * x)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqx
    dlat += common
    dlat += (20.0 * np.sin(pi * y) + 40.0 * np.sin(pi * y / 3.0)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(pi * y / 12.0) + 320.0 * np.sin(pi * y / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqx
    dlon += common
    dlon += (20.0 * np.sin(pi * x) + 40.0 * np.sin(pi * x / 3.0)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(pi * x / 12.0) + 300.0 * np.sin(pi * x / 30.0)) * 2.0 / 3.0
    rad = lat / 180.0 * pi
    magic = 1.0 - EE * np.sin(rad) ** 2
    sqm = np.sqrt(magic)
    dlat = dlat * 180.0 / ((A * (1.0 - EE)) / (magic * sqm) * pi)
    dlon = dlon * 180.0 / (A / sqm * np.cos(rad) * pi)
    outside = out_of_china(lon, lat)
    return np.where(outside, 0.0, dlon), np.where(outside, 0.0, dlat)


def wgs84_to_gcj02(lon, lat):
    """WGS84 -> GCJ-02 (the published forward formula), degrees."""
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    lon, lat = _arr(lon, lat)
    dlon, dlat = _delta(lon, lat)
    return _out(lon + dlon, lat + dlat, scalar)


def gcj02_to_wgs84(lon, lat, tol_m: float = 0.01, max_iter: int = 50):
    """GCJ-02 -> WGS84 by iterating the forward formula, degrees.

    Parameters
    ----------
    lon, lat : float or array, degrees (GCJ-02)
    tol_m : float
        Stop when every point's forward image is within this many metres of
        the input (default 1 cm; accuracy is far below 1 m).
    max_iter : int
        Safety cap; convergence normally takes 3-5 iterations.

    Returns
    -------
    lon, lat : WGS84 degrees, same shape as the input.
    """
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    glon, glat = _arr(lon, lat)
    finite = np.isfinite(glon) & np.isfinite(glat)
    wlon = glon.copy()
    wlat = glat.copy()
    for _ in range(max_iter):
        flon, flat = wgs84_to_gcj02(wlon, wlat)
        elon = flon - glon
        elat = flat - glat
        wlon = wlon - elon
        wlat = wlat - elat
        err = np.hypot(elon * np.cos(np.radians(np.clip(glat, -89, 89))), elat) * _M_PER_DEG
        if not np.any(err[finite] > tol_m):
            break
    return _out(wlon, wlat, scalar)


def gcj02_to_bd09(lon, lat):
    """GCJ-02 -> BD-09 (Baidu), degrees."""
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    x, y = _arr(lon, lat)
    z = np.hypot(x, y) + 0.00002 * np.sin(y * X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * X_PI)
    return _out(z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006, scalar)


def bd09_to_gcj02(lon, lat, tol_m: float = 0.01, max_iter: int = 50):
    """BD-09 -> GCJ-02, degrees.

    Starts from the published closed-form approximation and refines it by
    iterating :func:`gcj02_to_bd09` (the closed form alone is off by up to a
    metre or so).
    """
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    blon, blat = _arr(lon, lat)
    x = blon - 0.0065
    y = blat - 0.006
    z = np.hypot(x, y) - 0.00002 * np.sin(y * X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * X_PI)
    glon, glat = z * np.cos(theta), z * np.sin(theta)
    finite = np.isfinite(glon) & np.isfinite(glat)
    for _ in range(max_iter):
        flon, flat = gcj02_to_bd09(glon, glat)
        elon, elat = flon - blon, flat - blat
        err = np.hypot(elon, elat) * _M_PER_DEG
        if not np.any(err[finite] > tol_m):
            break
        glon, glat = glon - elon, glat - elat
    return _out(glon, glat, scalar)


def bd09_to_wgs84(lon, lat, tol_m: float = 0.01):
    """BD-09 -> WGS84, degrees (via GCJ-02)."""
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    glon, glat = bd09_to_gcj02(lon, lat, tol_m=tol_m)
    return _out(*gcj02_to_wgs84(glon, glat, tol_m=tol_m), scalar)


def wgs84_to_bd09(lon, lat):
    """WGS84 -> BD-09, degrees (via GCJ-02)."""
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    return _out(*gcj02_to_bd09(*wgs84_to_gcj02(lon, lat)), scalar)


def to_wgs84(lon, lat, system: str = "wgs84"):
    """Convert lon/lat from ``system`` ("wgs84", "gcj02" or "bd09") to WGS84.

    Raises
    ------
    ValueError
        For an unknown system name.
    """
    s = str(system).lower().replace("-", "").replace("_", "")
    if s == "wgs84":
        scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
        return _out(*_arr(lon, lat), scalar)
    if s == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    if s == "bd09":
        return bd09_to_wgs84(lon, lat)
    raise ValueError(f"unknown coordinate system {system!r}: use one of {', '.join(SYSTEMS)}")
