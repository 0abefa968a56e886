"""Names, codes, the local metric frame and small geometry helpers of the synthetic county."""

from __future__ import annotations

import math

import numpy as np
import shapely
from pyproj import Transformer

STUDY_NAME = "示范县 (synthetic demo county)"
COUNTY_NAME = "示范县"
COUNTY_CODE = "350999"  # fictitious: Fujian prefix 35, unused city 09, county 99

# Local metric frame: UTM 50N shifted so that (0, 0) is at this lon/lat.
LON0, LAT0 = 118.55, 26.10
UTM = "EPSG:32650"

# Raster grid: WorldPop-like 3 arc-seconds in EPSG:4326, aligned to the
# global 1/1200-degree lattice.
RES = 1.0 / 1200.0
WEST, EAST, SOUTH, NORTH = 118.3, 118.8, 25.9, 26.3
NODATA = -99999.0

# Township table: name, statistical code suffix, seat (x, y) metres in the
# local frame, kind. Codes follow the national pattern: 街道 001-099,
# 镇 100-199, 乡 200-299.
TOWNSHIPS: tuple[tuple[str, str, tuple[float, float], str], ...] = (
    ("城关街道", "001", (5700.0, 4000.0), "urban"),
    ("东湖街道", "002", (8300.0, 4400.0), "urban"),
    ("凤山街道", "003", (5800.0, 1600.0), "urban"),
    ("南门街道", "004", (8200.0, 2000.0), "urban"),
    ("龙潭镇", "100", (-500.0, -10500.0), "town"),
    ("青山镇", "101", (-5000.0, 12000.0), "town"),
    ("白沙镇", "102", (9000.0, 11000.0), "town"),
    ("梅林镇", "103", (11000.0, -7000.0), "town"),
    ("洋头镇", "104", (13500.0, 3500.0), "town"),
    ("桃源镇", "105", (3000.0, -13500.0), "town"),
    ("溪口镇", "106", (-7000.0, -2000.0), "town"),
    ("云岭乡", "200", (-14000.0, 8000.0), "xiang"),
    ("莲塘乡", "201", (-8000.0, -12500.0), "xiang"),
    ("石门乡", "202", (-16000.0, -6000.0), "xiang"),
    ("海屿乡", "203", (21500.0, -9000.0), "xiang"),
)
ISLAND = "海屿乡"
MOUNTAIN_NO_HEALTH = "石门乡"
NO_CENTRAL_KG = "溪口镇"
URBAN_NO_ELDERLY = "东湖街道"
MOUNTAIN_TOWNSHIPS = ("石门乡", "云岭乡")
#: Beds of each township health centre: one (梅林镇) is far too small for its township.
THC_BEDS = {"龙潭镇": 40, "青山镇": 30, "白沙镇": 35, "梅林镇": 12, "洋头镇": 26, "桃源镇": 23, "溪口镇": 24,
            "云岭乡": 9, "莲塘乡": 12}
OVERSUBSCRIBED_THC = "梅林镇"
#: Rural townships whose villages have no elderly service point (村级养老服务站).
NO_ELDERLY_POINTS = ("云岭乡",)


# Urban core: centre, size (metres) and rotation of the street grid.
CORE = (7000.0, 3000.0)
CORE_W, CORE_H, CORE_ROT = 5000.0, 4000.0, math.radians(12.0)




class Frame:
    """Local metric frame (UTM 50N shifted to the county centre), metres."""

    def __init__(self) -> None:
        self._fwd = Transformer.from_crs("EPSG:4326", UTM, always_xy=True)
        self._inv = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
        self.x0, self.y0 = self._fwd.transform(LON0, LAT0)

    def to_lonlat(self, x, y):
        lon, lat = self._inv.transform(np.asarray(x, float) + self.x0, np.asarray(y, float) + self.y0)
        return np.asarray(lon), np.asarray(lat)

    def to_xy(self, lon, lat):
        x, y = self._fwd.transform(np.asarray(lon, float), np.asarray(lat, float))
        return np.asarray(x) - self.x0, np.asarray(y) - self.y0

    def geom_to_lonlat(self, g):
        def f(c):
            lon, lat = self.to_lonlat(c[:, 0], c[:, 1])
            return np.round(np.column_stack([lon, lat]), 7)

        return shapely.transform(g, f)


class Noise:
    """Smooth deterministic 2-D noise: a sum of random plane waves, range about [-1, 1]."""

    def __init__(self, rng: np.random.Generator, n: int, wl_min: float, wl_max: float):
        ang = rng.uniform(0, 2 * np.pi, n)
        k = 2 * np.pi / rng.uniform(wl_min, wl_max, n)
        self.kx, self.ky = k * np.cos(ang), k * np.sin(ang)
        self.ph = rng.uniform(0, 2 * np.pi, n)
        self.scale = 1.0 / math.sqrt(n / 2.0)

    def __call__(self, x, y):
        x = np.asarray(x, float)[..., None]
        y = np.asarray(y, float)[..., None]
        return np.sin(x * self.kx + y * self.ky + self.ph).sum(-1) * self.scale


def rot(u, v, a):
    c, s = math.cos(a), math.sin(a)
    return u * c - v * s, u * s + v * c


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))
