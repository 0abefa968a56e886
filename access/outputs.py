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

from access.coverage.gaps import gaps_table
from access.progress import Progress, timer
from access.publish import check_output_folder, manifest, paths_record, staged


def cells_table(study, results) -> pd.DataFrame:
    """``cells.parquet`` columns: ids, x/y (study CRS), lon/lat, units, times, flags.

    Infinite times (no route within the search limit) are empty. The
    columns share the cells' arrays where they can (10^6 rows x 100
    columns); :func:`write_cells` narrows what it writes.
    """
    return cell_columns(results.cells, study.scenario.circles)


def cell_columns(cells: gpd.GeoDataFrame, circles) -> pd.DataFrame:
    """:func:`cells_table` of any cells with points (a whole study's, or one part's)."""
    from pyproj import Transformer

    x, y = cells.geometry.x.to_numpy(), cells.geometry.y.to_numpy()
    lon, lat = Transformer.from_crs(cells.crs, 4326, always_xy=True).transform(x, y)
    cols = {
        "cell_id": cells["cell_id"].to_numpy(),
        "x": x,
        "y": y,
        "lon": np.asarray(lon, dtype=float),
        "lat": np.asarray(lat, dtype=float),
        "population": cells["population"].to_numpy(float),
    }
    for col in ("county", "county_name", "township", "township_name"):
        if col in cells:
            cols[col] = cells[col].array
    for col in cells.columns:
        if col == "urban" or col.startswith(("pop_", "t_", "in_", "reachable_", "why_unreachable_", "missing_")):
            v = cells[col]
            cols[col] = v.to_numpy() if isinstance(v.dtype, np.dtype) else v.array  # keeps nullable dtypes
    for c in circles:  # 设施完备度: share of the circle's services within reach
        flags = [f"in_{c.name}__{s}" for s in c.requirements]
        if all(f in cells for f in flags):
            cols[f"completeness_{c.name}"] = cells[flags].fillna(False).to_numpy(bool).mean(axis=1)
    # one frame built at once, not a column at a time (a copy per column at 10^6 rows)
    return _no_inf(pd.DataFrame(cols, copy=False))


#: rows per Parquet row group of ``cells.parquet``: what is converted to Arrow at a time
CELL_ROWS = 1 << 18


def write_cells(table: pd.DataFrame, path: Path, rows: int = CELL_ROWS) -> Path:
    """Write :func:`cells_table` as ``cells.parquet``, ``rows`` rows at a time.

    Times (``t_`` columns) are written as 32-bit floats: seconds to within
    a millisecond up to 4.6 hours; the coverage decisions were taken on the
    full-precision times before. Text (codes, names, missing services,
    reasons) is written as plain strings (dictionary-encoded pages in the
    file), which GIS and spreadsheet tools read as text; empty times as
    nulls.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {c: _arrow_type(c, table[c]) for c in table.columns}
    schema = pa.schema([(c, t) for c, t in types.items()])
    text = [c for c, t in types.items() if t == pa.large_string()]
    with pq.ParquetWriter(path, schema, use_dictionary=text or False) as writer:
        for start in range(0, max(len(table), 1), rows):
            part = table.iloc[start:start + rows]
            arrays = [_arrow_array(part[c], t) for c, t in types.items()]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
    return path


def write_cell_parts(paths: list[str | Path], path: Path) -> Path:
    """Join the parts' :func:`write_cells` files into one ``cells.parquet``, a row group at a time.

    Parts are written in the order given. A column whose type differs
    between parts (a part where it is empty everywhere) takes the type of
    the parts that hold values.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    schemas = [pq.read_schema(p) for p in paths]
    names = list(dict.fromkeys(n for sch in schemas for n in sch.names))
    fields = []
    for n in names:
        kinds = list(dict.fromkeys(sch.field(n).type for sch in schemas if n in sch.names))
        # large strings stand for a column with no value in that part (see _arrow_type)
        fields.append(pa.field(n, next((k for k in kinds if k != pa.large_string()), kinds[0])))
    schema = pa.schema(fields)
    text = [f.name for f in fields if f.type == pa.large_string()]
    with pq.ParquetWriter(path, schema, use_dictionary=text or False) as writer:
        for p in paths:
            part = pq.ParquetFile(p)
            for i in range(part.num_row_groups):
                t = part.read_row_group(i)
                arrays = [t.column(f.name).cast(f.type) if f.name in t.column_names
                          else pa.nulls(len(t), f.type) for f in fields]
                writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
    return path


def _arrow_type(name: str, values: pd.Series):
    """The column's type in ``cells.parquet``: 32-bit seconds for times, text as strings."""
    import pyarrow as pa

    dtype = values.dtype
    if dtype == object:  # e.g. flags with gaps
        dtype = {"boolean": "boolean", "floating": float, "integer": float,
                 "mixed-integer-float": float}.get(pd.api.types.infer_dtype(values, skipna=True), dtype)
    if pd.api.types.is_bool_dtype(dtype):
        return pa.bool_()
    if pd.api.types.is_float_dtype(dtype):
        return pa.float32() if name.startswith("t_") else pa.float64()
    if pd.api.types.is_integer_dtype(dtype):
        return pa.int64()
    return pa.large_string()


def _arrow_array(values: pd.Series, kind):
    import pyarrow as pa

    if isinstance(values.dtype, pd.CategoricalDtype):  # the categories looked up by code, in Arrow
        codes = values.cat.codes.to_numpy()
        return pa.array([str(c) for c in values.cat.categories], type=kind).take(pa.array(codes, mask=codes < 0))
    if values.dtype == object:
        values = values.where(values.notna(), None)
    return pa.array(values, from_pandas=True).cast(kind)


def _no_inf(table: pd.DataFrame) -> pd.DataFrame:
    """Infinite times (no route within the search limit) as empty cells, never ``inf``."""
    infinite = [c for c in table.columns if pd.api.types.is_float_dtype(table[c])
                and np.isinf(table[c].to_numpy(float, na_value=np.nan)).any()]
    if not infinite:
        return table
    return table.assign(**{c: table[c].where(np.isfinite(table[c].to_numpy(float, na_value=np.nan)))
                           for c in infinite})


def _csv(table: pd.DataFrame, path: Path) -> Path:
    """CSV for Excel (UTF-8 with BOM), infinite values empty."""
    _no_inf(table).to_csv(path, index=False, encoding="utf-8-sig")
    return path


def write_outputs(study, results, out: Path, lang: str = "zh", offline: bool = False, quiet: bool = False,
                  extra: dict | None = None) -> list[Path]:
    """Write every file of the output contract into ``out``, all at once; returns their paths.

    The files are written into a staging folder beside ``out`` that replaces
    it in one step at the end (see :mod:`access.publish`): ``out`` holds the
    previous run's complete outputs until then, and the earlier outputs this
    run did not write are gone after it. ``extra`` (e.g. the partitioned
    run's summary) is added to ``run.json``.
    """
    final = check_output_folder(out, study.scenario)
    extra = {"paths": paths_record(study.scenario, final), **(extra or {})}
    with staged(final) as stage:
        files = _write_files(study, results, stage, lang, offline, quiet, extra)
    return [final / Path(f).relative_to(stage) if Path(f).is_relative_to(stage) else Path(f) for f in files]


def _write_files(study, results, out: Path, lang: str, offline: bool, quiet: bool, extra: dict) -> list[Path]:
    """Every file of the contract into the empty folder ``out``; ``run.json`` last, listing them all."""
    from access import dictionary, tables
    from access.maps import folium_map, report
    from access.maps.index import write_study_index

    progress = Progress(quiet)
    files: list[Path] = []
    clock = results.timings  # each writing step's seconds land in run.json beside the computing steps
    with progress.step("writing tables", f"{len(results.cells):,} cells, {len(results.gaps):,} gaps"), \
            timer(clock, "write_tables"):
        files += _write_tables(study, results, out)
    with progress.step("writing coverage.xlsx"), timer(clock, "write_xlsx"):
        files.append(tables.write_xlsx(tables.sheets(study, results, lang), out / "coverage.xlsx", lang=lang))
    with progress.step("writing maps"), timer(clock, "write_maps"):
        files += folium_map.write_maps(study, results, out, lang=lang, offline=offline, index=False)
    with progress.step("writing report"), timer(clock, "write_report"):
        files.append(report.write_study_report(study, results, out / "report.html", lang=lang))
    files.append(dictionary.write_dictionary(out / "data_dictionary.csv", [Path(f).name for f in files] + ["run.json"]))
    # the front door, last before run.json: it links every file of the run
    files.append(write_study_index(study, out, lang=lang, pending=["run.json"]))

    p = out / "run.json"
    record = {**run_record(study, results), **(extra or {}), "files": manifest(out)}
    p.write_text(json.dumps(record, ensure_ascii=False, indent=2, default=_json_default), encoding="utf-8")
    files.append(p)
    return files


def _write_tables(study, results, out: Path) -> list[Path]:
    """cells.parquet, the CSV tables and the GeoPackages of gaps and service areas."""
    parts = getattr(results, "cell_files", None)  # a partitioned run's unit files
    files = [write_cell_parts(parts, out / "cells.parquet") if parts
             else write_cells(cells_table(study, results), out / "cells.parquet")]
    for name, table in (("coverage_county.csv", results.coverage_county), ("coverage_township.csv", results.coverage_township)):
        files.append(_csv(table, out / name))
    if getattr(study, "categories", None) is not None:
        files.append(_csv(study.categories, out / "categories.csv"))
    if len(results.rule_failures):
        files.append(_csv(results.rule_failures, out / "township_rules.csv"))
    if len(results.supply):
        files.append(_csv(results.supply, out / "supply_township.csv"))
    if getattr(results, "capacity", None):
        files.append(_csv(results.capacity["township"], out / "capacity_township.csv"))
        files.append(_csv(results.capacity["facilities"], out / "capacity_facilities.csv"))
    if getattr(results, "proposed", None) is not None and len(results.proposed):
        p = out / "proposed_sites.gpkg"
        _gpkg(results.proposed, p, "proposed_sites")
        files.append(p)
    p = out / "gaps.gpkg"
    _gpkg(results.gaps, p, "gaps")
    files.append(p)
    files.append(_csv(gaps_table(results.gaps), out / "gaps.csv"))
    files.append(_csv(results.equity, out / "equity.csv"))
    if getattr(results, "headline", None) is not None:
        files.append(_csv(results.headline, out / "headline.csv"))
    if getattr(results, "completeness", None) is not None:
        files.append(_csv(results.completeness, out / "completeness_township.csv"))
    p = out / "service_areas.gpkg"
    _gpkg(results.service_areas, p, "service_areas")
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
        "categories": _categories_record(getattr(study, "categories", None)),
        "components": _components_record(getattr(study, "components", None)),
        "timings_s": {**study.timings, **results.timings},
    }


def _components_record(table: pd.DataFrame | None) -> list[dict]:
    """Road components per mode (nodes, persons, facilities, kept, reason) as run.json rows."""
    if table is None:
        return []
    return [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}
            for row in table.to_dict(orient="records")]


def _categories_record(table: pd.DataFrame | None) -> list[dict]:
    """The categories table (raw value, key or "dropped", rule, count) as run.json rows."""
    if table is None:
        return []
    return [{"raw": str(r.raw), "key": str(r.key), "rule": str(r.rule), "count": int(r.count)}
            for r in table.itertuples(index=False)]


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
    gdf = _no_inf(gdf).copy()
    for c in gdf.columns:
        if c != gdf.geometry.name and gdf[c].dtype == object:
            gdf[c] = gdf[c].astype(str)
    # through Arrow: about 3x faster than feature by feature on 10^5 gap polygons, same file
    gdf.to_file(path, layer=layer, driver="GPKG", use_arrow=True)


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
