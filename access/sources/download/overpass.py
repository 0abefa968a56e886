"""The roads of a small area straight from the Overpass API (through osmnx)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from access.errors import InputError
from access.progress import Progress
from access.sources.download.transfer import DownloadError, OfflineError, _as_progress, _host, _part_path, base_url_for


def overpass_network(polygon_or_bbox, dest, network_type: str = "all", overpass_url: str | None = None, *,
                     timeout_s: float = 180, progress: bool | Progress = True) -> Path:
    """Download the roads of a small area from the Overpass API; save GraphML.

    For a town or a county; for a whole province use
    :func:`geofabrik_extract` (Overpass servers refuse very large queries).
    Uses ``osmnx.graph_from_polygon`` / ``graph_from_bbox`` with
    ``retain_all=True`` (disconnected pieces are kept, so that no facility
    loses its road). osmnx's own settings (``use_cache``,
    ``overpass_rate_limit``) apply.

    Parameters
    ----------
    polygon_or_bbox : shapely Polygon/MultiPolygon, GeoDataFrame, GeoSeries or tuple
        The area: a polygon in lon/lat (WGS84), polygons with a CRS, or a
        bounding box ``(west, south, east, north)`` in degrees.
    dest : str or Path
        ``.graphml`` file to write; read it with
        :func:`access.network.osm.read_network`.
    network_type : str
        osmnx network type; ``"all"`` keeps every road so walk, bike and
        drive graphs can all be built from one download.
    overpass_url : str, optional
        Overpass API base (``.../api``, without ``/interpreter``); default
        ``$ACCESS_OVERPASS_URL``, else osmnx's (``https://overpass-api.de/api``).
        Set only for this call.
    timeout_s : float
        Seconds osmnx waits for the server.
    progress : bool or Progress

    Returns
    -------
    Path

    Raises
    ------
    OfflineError
        Overpass server unreachable.
    DownloadError
        The server answered with an error, or the area has no roads.
    """
    import geopandas as gpd
    import osmnx as ox
    import requests
    import shapely

    dest = Path(dest)
    prog = _as_progress(progress)
    area = polygon_or_bbox
    bbox = None
    if isinstance(area, (gpd.GeoDataFrame, gpd.GeoSeries)):
        if area.crs is None:
            raise InputError("overpass_network: the area has no CRS; set it (gdf.set_crs(4326) for lon/lat).")
        area = shapely.union_all(np.asarray(area.to_crs(4326).geometry.values))
    elif isinstance(area, (tuple, list)) and len(area) == 4:
        bbox = tuple(float(x) for x in area)
        w, s, e, n = bbox
        if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
            raise InputError(f"overpass_network: bbox {area} is not (west, south, east, north) in degrees.")
    if bbox is None and not (isinstance(area, shapely.Geometry) and area.geom_type in ("Polygon", "MultiPolygon")):
        raise InputError(f"overpass_network: give a polygon or a (west, south, east, north) box, not {area!r:.80}.")
    url = base_url_for("overpass", overpass_url, ox.settings.overpass_url)
    saved = (ox.settings.overpass_url, ox.settings.requests_timeout)
    ox.settings.overpass_url = url
    ox.settings.requests_timeout = timeout_s
    try:
        with prog.step("downloading roads from Overpass", _host(url)):
            if bbox is not None:
                G = ox.graph_from_bbox(bbox, network_type=network_type, retain_all=True)
            else:
                G = ox.graph_from_polygon(area, network_type=network_type, retain_all=True)
    except (requests.ConnectionError, requests.Timeout) as exc:
        reason = exc.args[0] if exc.args else exc
        reason = getattr(reason, "reason", reason)
        raise OfflineError(f"cannot reach {_host(url)}: {reason}; this machine may be offline (or a firewall "
                           f"blocks it). Fix: use a reachable Overpass server (overpass_url), or download a "
                           f"Geofabrik extract by hand and give it as the network.") from None
    except Exception as exc:  # osmnx: InsufficientResponseError, ResponseStatusCodeError, ValueError (no nodes)
        raise DownloadError(f"Overpass ({url}) gave no usable roads for the area: {type(exc).__name__}: {exc}. "
                            "Fix: check the area is in lon/lat and has roads on openstreetmap.org; try again later "
                            "if the server is busy.") from None
    finally:
        ox.settings.overpass_url, ox.settings.requests_timeout = saved
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = _part_path(dest)
    ox.save_graphml(G, part)
    os.replace(part, dest)
    return dest

