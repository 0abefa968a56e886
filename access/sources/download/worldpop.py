"""WorldPop persons-per-cell rasters of a whole country (or from a mirror).

Licence: WorldPop data is CC BY 4.0 (cite WorldPop, www.worldpop.org).
"""

from __future__ import annotations

import re
from pathlib import Path

from access.errors import InputError
from access.progress import Progress
from access.sources.download.transfer import base_url_for, default_cache_dir, download
from access.sources.download.verify import check_geotiff

#: Root of WorldPop's population rasters.
WORLDPOP_BASE = "https://data.worldpop.org/GIS/Population"

#: variant -> (folder under WORLDPOP_BASE, file name pattern). Persons per cell, WGS84 lon/lat grids.
WORLDPOP_VARIANTS: dict[str, tuple[str, str]] = {
    # 3 arc-second (~100 m) unconstrained counts, 2000-2020
    "100m": ("Global_2000_2020/{year}/{ISO}", "{iso}_ppp_{year}.tif"),
    # the same, adjusted to match UN national totals
    "100m_unadj": ("Global_2000_2020/{year}/{ISO}", "{iso}_ppp_{year}_UNadj.tif"),
    # 30 arc-second (~1 km) unconstrained counts, 2000-2020
    "1km": ("Global_2000_2020_1km/{year}/{ISO}", "{iso}_ppp_{year}_1km_Aggregated.tif"),
    "1km_unadj": ("Global_2000_2020_1km_UNadj/{year}/{ISO}", "{iso}_ppp_{year}_1km_Aggregated_UNadj.tif"),
    # ~100 m counts constrained to mapped settlements, 2020 only (BSGM release, which covers China)
    "constrained": ("Global_2000_2020_Constrained/{year}/BSGM/{ISO}", "{iso}_ppp_{year}_constrained.tif"),
}


def worldpop_url(iso3: str = "CHN", year: int = 2020, variant: str = "100m", base_url: str | None = None) -> str:
    """Address of a WorldPop country raster.

    Parameters
    ----------
    iso3 : str
        ISO 3166 alpha-3 country code, e.g. ``"CHN"``.
    year : int
        2000-2020 (``"constrained"``: 2020 only).
    variant : str
        A key of :data:`WORLDPOP_VARIANTS`: ``"100m"`` (default),
        ``"100m_unadj"``, ``"1km"``, ``"1km_unadj"``, ``"constrained"``.
    base_url : str, optional
        A mirror of WorldPop's ``GIS/Population`` folder; default
        ``$ACCESS_WORLDPOP_URL``, else :data:`WORLDPOP_BASE`.

    Examples
    --------
    >>> worldpop_url("CHN", 2020)
    'https://data.worldpop.org/GIS/Population/Global_2000_2020/2020/CHN/chn_ppp_2020.tif'
    """
    iso = str(iso3).strip()
    if not re.fullmatch(r"[A-Za-z]{3}", iso):
        raise InputError(f"WorldPop: {iso3!r} is not a 3-letter ISO country code such as \"CHN\".")
    if variant not in WORLDPOP_VARIANTS:
        raise InputError(f"WorldPop: unknown variant {variant!r}; use one of {', '.join(WORLDPOP_VARIANTS)}.")
    year = int(year)
    if variant == "constrained" and year != 2020:
        raise InputError(f"WorldPop: constrained rasters exist for 2020 only, not {year}; use year 2020 or "
                         "variant \"100m\".")
    if not 2000 <= year <= 2020:
        raise InputError(f"WorldPop: year {year} is outside 2000-2020, the years of the global rasters.")
    folder, name = WORLDPOP_VARIANTS[variant]
    fmt = {"ISO": iso.upper(), "iso": iso.lower(), "year": year}
    base = base_url_for("worldpop", base_url, WORLDPOP_BASE)
    return f"{base}/{folder.format(**fmt)}/{name.format(**fmt)}"


def worldpop_raster(iso3: str = "CHN", year: int = 2020, *, cache_dir=None, variant: str = "100m",
                    base_url: str | None = None, md5: str | None = None, sha256: str | None = None,
                    timeout_s: float = 30, retries: int = 3, progress: bool | Progress = True) -> Path:
    """Download a WorldPop persons-per-cell raster of a whole country.

    WorldPop publishes no checksum files; give ``md5``/``sha256`` when you
    have them. Every download (and every cached file before it is used)
    must be a whole GeoTIFF that rasterio reads
    (:func:`access.sources.download.verify.check_geotiff`): an HTML error
    page or a cut-off transfer is deleted, never cached. The China 100 m raster is large (several hundred MB);
    ``variant="1km"`` is about a hundredth of that. Cut it to the study area
    with :func:`clip_raster`.

    Parameters
    ----------
    iso3, year, variant, base_url
        See :func:`worldpop_url`.
    cache_dir : str or Path, optional
        Folder for the file (default :func:`default_cache_dir`).
    md5, sha256, timeout_s, retries, progress
        As for :func:`download`.

    Returns
    -------
    Path
        ``<cache_dir>/<file name>``, e.g. ``chn_ppp_2020.tif``.
    """
    url = worldpop_url(iso3, year, variant, base_url)
    dest = Path(cache_dir if cache_dir is not None else default_cache_dir()) / url.rsplit("/", 1)[1]
    hint = (f"WorldPop has no {variant} raster for {str(iso3).upper()} {year}; check the country code and year "
            "at https://hub.worldpop.org")
    return download(url, dest, md5=md5, sha256=sha256, timeout_s=timeout_s, retries=retries, progress=progress,
                    hint=hint, verify=check_geotiff)

