"""Real data for real studies: OSM extracts, WorldPop rasters, Overpass roads.

Everything a study needs besides the planner's own facility list can be
fetched from open sources:

* :func:`geofabrik_extract` - a province's roads and everything else from
  OpenStreetMap, as Geofabrik's daily ``.osm.pbf`` extract (checked against
  the ``.md5`` file published beside it);
* :func:`worldpop_raster` - WorldPop's persons-per-cell raster of a country
  (100 m or 1 km, unconstrained or constrained), then :func:`clip_raster`
  cuts it to the study boundary and reports the persons inside and outside;
* :func:`overpass_network` - the roads of a small area straight from the
  Overpass API (through osmnx), saved as GraphML;
* :func:`write_scenario` writes a scenario TOML that
  :func:`access.scenario.load_scenario` accepts, and :func:`fetch_study`
  does all of it in one call.

Downloads (:func:`download`, :mod:`.transfer`) stream to ``<dest>.part``,
resume an interrupted transfer with an HTTP ``Range`` request, verify the
MD5/SHA-256 checksum when one is known and what the file must be
(:mod:`.verify`: a whole OSM PBF, a whole GeoTIFF that rasterio reads), and
only then rename the file into place, so a file at ``dest`` is always
complete and right; a file that fails is deleted. Mirrors: every function
takes a base address, and ``$ACCESS_GEOFABRIK_URL``, ``$ACCESS_WORLDPOP_URL``
and ``$ACCESS_OVERPASS_URL`` set one for every call (``access fetch ...
--base-url`` on the command line).

Modules: :mod:`.transfer` (HTTP), :mod:`.verify` (file checks),
:mod:`.geofabrik`, :mod:`.worldpop`, :mod:`.clip` (cut a raster to a
boundary), :mod:`.overpass`, :mod:`.study` (scenario writing, one-call fetch).

Licences: OpenStreetMap data is (c) OpenStreetMap contributors, ODbL 1.0;
WorldPop data is CC BY 4.0 (cite WorldPop, www.worldpop.org). Both
attributions are written into the scenario by :func:`fetch_study`.
"""

from access.sources.download.clip import clip_raster
from access.sources.download.geofabrik import (
    GEOFABRIK_CHINA,
    PROVINCES,
    Province,
    find_province,
    geofabrik_extract,
    geofabrik_url,
)
from access.sources.download.overpass import overpass_network
from access.sources.download.study import fetch_study, write_scenario
from access.sources.download.transfer import (
    MIRROR_ENV,
    DownloadError,
    OfflineError,
    default_cache_dir,
    download,
    fetch_text,
    file_checksum,
)
from access.sources.download.verify import check_geotiff, check_osm_pbf
from access.sources.download.worldpop import WORLDPOP_BASE, WORLDPOP_VARIANTS, worldpop_raster, worldpop_url

__all__ = [
    "MIRROR_ENV",
    "check_geotiff",
    "check_osm_pbf",
    "DownloadError",
    "OfflineError",
    "PROVINCES",
    "Province",
    "GEOFABRIK_CHINA",
    "WORLDPOP_BASE",
    "WORLDPOP_VARIANTS",
    "default_cache_dir",
    "download",
    "fetch_text",
    "file_checksum",
    "find_province",
    "geofabrik_url",
    "geofabrik_extract",
    "worldpop_url",
    "worldpop_raster",
    "clip_raster",
    "overpass_network",
    "write_scenario",
    "fetch_study",
]

