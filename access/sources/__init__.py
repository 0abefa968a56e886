"""Input readers: population, facilities, boundaries, Chinese datums.

Each reader returns ``(GeoDataFrame in the study CRS, Account)``.
"""

from access.sources.boundaries import cnmaps_counties, read_boundaries
from access.sources.categories import CATEGORIES, categorise, normalise_category
from access.sources.chinacoords import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_wgs84,
    out_of_china,
    to_wgs84,
    wgs84_to_gcj02,
)
from access.sources.crs import check_lonlat, utm_crs_for
from access.sources.facilities import gcj02_offset_warning, read_facilities
from access.sources.population import (
    read_population,
    read_population_points,
    read_population_raster,
    spread_polygon_population,
)

__all__ = [
    "CATEGORIES",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "categorise",
    "check_lonlat",
    "cnmaps_counties",
    "gcj02_offset_warning",
    "gcj02_to_wgs84",
    "normalise_category",
    "out_of_china",
    "read_boundaries",
    "read_facilities",
    "read_population",
    "read_population_points",
    "read_population_raster",
    "spread_polygon_population",
    "to_wgs84",
    "utm_crs_for",
    "wgs84_to_gcj02",
]
