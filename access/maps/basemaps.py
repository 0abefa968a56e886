"""Basemap tile layers and the display coordinates of overlays.

Amap (高德) tiles are drawn in GCJ-02, which is offset from WGS84 by roughly
300-600 m in China. When ``amap`` is the *only* basemap, every overlay is
converted WGS84 -> GCJ-02 so it lines up with the tiles. When Amap is mixed
with WGS84 basemaps (OSM, CartoDB, Tianditu), overlays stay in WGS84 and an
:class:`~access.errors.InputWarning` says that the Amap layer will look
shifted: a Leaflet overlay cannot follow the basemap switch honestly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import folium
import geopandas as gpd
import numpy as np
import shapely

from access.errors import InputError, warn

BASEMAPS = ("osm", "cartodb", "amap", "tianditu")


def _gcj02_fallback(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 -> GCJ-02 with the published forward formula (degrees).

    Points outside mainland China's rough bounding box are returned unchanged,
    as the official transform does.
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    a, ee = 6378245.0, 0.00669342162296594323
    x, y = lon - 105.0, lat - 35.0
    pi = math.pi
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    dlat += (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlat += (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    dlon += (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlon += (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    radlat = lat / 180.0 * pi
    magic = 1.0 - ee * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((a * (1.0 - ee)) / (magic * sqrtmagic) * pi)
    dlon = (dlon * 180.0) / (a / sqrtmagic * np.cos(radlat) * pi)
    inside = (lon > 72.004) & (lon < 137.8347) & (lat > 0.8293) & (lat < 55.8271)
    return np.where(inside, lon + dlon, lon), np.where(inside, lat + dlat, lat)


def _wgs84_to_gcj02():
    """The project's converter if present, else the private fallback."""
    try:  # written by the sources engineer; same (lon, lat) -> (lon, lat) arrays contract
        from access.sources.chinacoords import wgs84_to_gcj02  # type: ignore

        return wgs84_to_gcj02
    except ImportError:
        return _gcj02_fallback


def to_display(gdf: gpd.GeoDataFrame | None, gcj: bool) -> gpd.GeoDataFrame | None:
    """Reproject to EPSG:4326, optionally shifting to GCJ-02 for Amap tiles."""
    if gdf is None or len(gdf) == 0:
        return gdf
    out = gdf.to_crs(4326) if gdf.crs is not None and not gdf.crs.equals("EPSG:4326") else gdf
    out = out[~(out.geometry.isna() | out.geometry.is_empty)].copy()
    if gcj:
        conv = _wgs84_to_gcj02()

        def shift(coords: np.ndarray) -> np.ndarray:
            lon, lat = conv(coords[:, 0], coords[:, 1])
            return np.column_stack([np.asarray(lon, float), np.asarray(lat, float)])

        out = out.set_geometry(shapely.transform(out.geometry.values, shift))
    return out


def basemap_layers(basemaps: Sequence[str], tianditu_key: str | None, lang: str):
    """TileLayers for the requested basemap names (first one shown)."""
    layers = []
    for name in basemaps:
        key = str(name).lower()
        if key in ("osm", "openstreetmap"):
            layers.append(folium.TileLayer("OpenStreetMap", name="OpenStreetMap"))
        elif key in ("cartodb", "cartodbpositron", "positron"):
            # Explicit URL: the xyzservices entry now warns about an API key.
            layers.append(
                folium.TileLayer(
                    tiles="https://{s}.basemaps.cartocdn.com/light_all/{z}/{x}/{y}{r}.png",
                    attr='&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> '
                    'contributors &copy; <a href="https://carto.com/attributions">CARTO</a>',
                    name="CartoDB Positron",
                    subdomains="abcd",
                    max_zoom=20,
                )
            )
        elif key in ("amap", "gaode"):
            layers.append(
                folium.TileLayer(
                    tiles="https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
                    attr="&copy; 高德地图 AutoNavi (GCJ-02)",
                    name="高德地图 Amap (GCJ-02)" if lang == "zh" else "Amap (GCJ-02)",
                    subdomains="1234",
                    max_zoom=18,
                )
            )
        elif key == "tianditu":
            if not tianditu_key:
                warn(
                    "basemap 'tianditu' needs a key: pass tianditu_key=... (free from "
                    "console.tianditu.gov.cn); the Tianditu basemap was not added"
                )
                continue
            tk = str(tianditu_key).strip()
            if not tk.isalnum():
                raise InputError(
                    f"tianditu_key {tianditu_key!r} is not a Tianditu key (letters and digits only); "
                    "copy it again from console.tianditu.gov.cn"
                )
            base = "https://t{s}.tianditu.gov.cn/%s_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=%s&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=" + tk
            layers.append(
                folium.TileLayer(
                    tiles=base % ("vec", "vec"),
                    attr="&copy; 天地图 Tianditu",
                    name="天地图 Tianditu" if lang == "zh" else "Tianditu",
                    subdomains="01234567",
                    max_zoom=18,
                )
            )
            # Place-name annotations are a separate transparent layer.
            layers.append(
                folium.TileLayer(
                    tiles=base % ("cva", "cva"),
                    attr="&copy; 天地图 Tianditu",
                    name="天地图注记 Tianditu labels" if lang == "zh" else "Tianditu labels",
                    subdomains="01234567",
                    max_zoom=18,
                    overlay=True,
                    control=True,
                )
            )
        else:
            raise InputError(
                f"basemap {name!r} is unknown: use any of {BASEMAPS} (or none for synthetic data)"
            )
    return layers


__all__ = ["BASEMAPS", "basemap_layers", "to_display"]
