"""The output contract: the files a run writes (see README, "Outputs").

Tables open in Excel (CSV in UTF-8 with BOM), layers in QGIS (GeoPackage),
maps and the report in any browser.
"""

from __future__ import annotations

import json
import platform
import sys
from dataclasses import asdict, is_dataclass
from importlib import metadata
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from access.progress import Progress


def cells_table(study, results) -> pd.DataFrame:
    """``cells.parquet`` columns: ids, x/y (study CRS), lon/lat, units, times, flags."""
    cells = results.cells
    lonlat = cells.geometry.to_crs(4326)
    out = pd.DataFrame(
        {
            "cell_id": cells["cell_id"].to_numpy(),
            "x": cells.geometry.x.to_numpy(),
            "y": cells.geometry.y.to_numpy(),
            "lon": lonlat.x.to_numpy(),
            "lat": lonlat.y.to_numpy(),
            "population": cells["population"].to_numpy(float),
        }
    )
    for col in ("county", "county_name", "township", "township_name"):
        if col in cells:
            out[col] = cells[col].astype("string").to_numpy()
    for col in cells.columns:
        if col.startswith(("t_", "in_", "reachable_", "missing_")):
            out[col] = cells[col].to_numpy()
    return out


def write_outputs(study, results, out: Path, lang: str = "zh", offline: bool = False, quiet: bool = False,
                  extra: dict | None = None) -> list[Path]:
    """Write every file of the output contract into ``out``; returns their paths.

    ``extra`` (e.g. the partitioned run's summary) is added to ``run.json``.
    """
    from access.maps import folium_map, report

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    progress = Progress(quiet)
    files: list[Path] = []

    p = out / "cells.parquet"
    cells_table(study, results).to_parquet(p, index=False)
    files.append(p)
    for name, table in (("coverage_county.csv", results.coverage_county), ("coverage_township.csv", results.coverage_township)):
        p = out / name
        table.to_csv(p, index=False, encoding="utf-8-sig")
        files.append(p)
    if len(results.rule_failures):
        p = out / "township_rules.csv"
        results.rule_failures.to_csv(p, index=False, encoding="utf-8-sig")
        files.append(p)
    if len(results.supply):
        p = out / "supply_township.csv"
        results.supply.to_csv(p, index=False, encoding="utf-8-sig")
        files.append(p)
    if getattr(results, "proposed", None) is not None and len(results.proposed):
        p = out / "proposed_sites.gpkg"
        _gpkg(results.proposed, p, "proposed_sites")
        files.append(p)
    p = out / "gaps.gpkg"
    _gpkg(results.gaps, p, "gaps")
    files.append(p)
    p = out / "service_areas.gpkg"
    _gpkg(results.service_areas, p, "service_areas")
    files.append(p)

    with progress.step("writing maps and report"):
        files += folium_map.write_maps(study, results, out, lang=lang, offline=offline)
        files.append(report.write_study_report(study, results, out / "report.html", lang=lang))

    p = out / "run.json"
    p.write_text(json.dumps({**run_record(study, results), **(extra or {})}, ensure_ascii=False, indent=2, default=_json_default), encoding="utf-8")
    files.append(p)
    return files


def run_record(study, results) -> dict:
    """``run.json``: scenario, software versions, input accounting, timings."""
    versions = {"python": sys.version.split()[0], "platform": platform.platform()}
    for pkg in ("access-planner", "numpy", "scipy", "pandas", "geopandas", "shapely", "pyproj", "osmium", "rasterio", "numba", "folium", "osmnx"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    cells = results.cells
    fac = results.facilities
    total = float(cells["population"].sum())
    accounting = [a.to_dict() for a in study.accounts]
    unsnapped = {
        # <NA> (partitioned runs): beyond every part's reach, not off the network
        c.removeprefix("snapped_"): fac.loc[fac[c].astype("boolean").eq(False).fillna(False).to_numpy(bool),
                                            "facility_id"].astype(str).tolist()
        for c in fac.columns
        if c.startswith("snapped_")
    }
    return {
        "scenario": _scenario_dict(study.scenario),
        "crs": study.crs.to_string(),
        "versions": versions,
        "population_total": total,
        "cells": int(len(cells)),
        "facilities": int(len(fac)),
        "facilities_not_on_network": unsnapped,
        "accounting": accounting,
        "timings_s": {**study.timings, **results.timings},
    }


def _scenario_dict(sc) -> dict:
    d = {}
    for k, v in vars(sc).items():
        if is_dataclass(v):
            v = asdict(v)
        elif isinstance(v, dict):
            v = {kk: asdict(vv) if is_dataclass(vv) else vv for kk, vv in v.items()}
        elif isinstance(v, list):
            v = [asdict(x) if is_dataclass(x) else x for x in v]
        d[k] = v
    return d


def _gpkg(gdf: gpd.GeoDataFrame, path: Path, layer: str) -> None:
    if path.exists():
        path.unlink()
    gdf = gdf.copy()
    for c in gdf.columns:
        if c != gdf.geometry.name and gdf[c].dtype == object:
            gdf[c] = gdf[c].astype(str)
    gdf.to_file(path, layer=layer, driver="GPKG")


def _json_default(o):
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (set, tuple)):
        return list(o)
    return str(o)
