"""Broken inputs: each gives one clear message naming the problem, file and rows."""

from __future__ import annotations

import json
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from pyproj import Transformer
from rasterio.transform import from_origin

from access.errors import InputError, InputWarning
from access.scenario import load_scenario
from access.sources.boundaries import read_boundaries
from access.sources.chinacoords import wgs84_to_gcj02
from access.sources.facilities import gcj02_offset_warning, read_facilities
from access.sources.population import read_population, read_population_points, read_population_raster

UTM = "EPSG:32650"
HEADER = "id,name,category,lon,lat\n"
GOOD = ["A1,甲社区卫生服务中心,社区卫生服务中心,119.30,26.08", "A2,乙小学,小学,119.31,26.09"]


def csv(tmp_path, lines, name="fac.csv", header=HEADER, encoding="utf-8"):
    p = tmp_path / name
    p.write_bytes((header + "\n".join(lines) + "\n").encode(encoding))
    return p


def raster(tmp_path, data, crs="EPSG:4326", nodata=-1.0):
    p = tmp_path / "pop.tif"
    with rasterio.open(p, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1,
                       dtype="float32", crs=crs, transform=from_origin(119.2, 26.2, 0.001, 0.001),
                       nodata=nodata) as dst:
        dst.write(data.astype("float32"), 1)
    return p


def test_missing_columns_lists_found(tmp_path):
    p = csv(tmp_path, ["1,甲,小学,119.3"], header="id,name,category,lon\n")
    with pytest.raises(InputError) as ei:
        read_facilities(p, UTM)
    msg = str(ei.value)
    assert "fac.csv" in msg and "missing required columns ['lat']" in msg and "['id', 'name', 'category', 'lon']" in msg


def test_swapped_lonlat_whole_file(tmp_path):
    p = csv(tmp_path, ["A1,甲,小学,26.08,119.30", "A2,乙,小学,26.09,119.31"])
    with pytest.raises(InputError, match=r"swapped in all rows.*swap the two columns"):
        read_facilities(p, UTM)


def test_swapped_lonlat_some_rows(tmp_path):
    p = csv(tmp_path, GOOD + ["A3,丙,小学,26.10,119.32"])
    with pytest.raises(InputError, match=r"fac.csv: .*swapped in rows 4 .*spreadsheet rows: the header is row 1"):
        read_facilities(p, UTM)


def test_empty_csv(tmp_path):
    p = tmp_path / "fac.csv"
    p.write_bytes(b"")
    with pytest.raises(InputError, match="fac.csv: the file is empty"):
        read_facilities(p, UTM)


def test_header_only_csv(tmp_path):
    p = csv(tmp_path, [])
    with pytest.raises(InputError, match="header but no facility rows"):
        read_facilities(p, UTM)


def test_empty_geojson(tmp_path):
    p = tmp_path / "fac.geojson"
    p.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    with pytest.raises(InputError, match="fac.geojson: the layer has no features"):
        read_facilities(p, UTM)


def test_nan_population_in_points(tmp_path):
    p = tmp_path / "pop.csv"
    p.write_text("lon,lat,population\n119.3,26.08,10\n119.31,26.09,\n119.32,26.1,NaN\n")
    with pytest.raises(InputError, match=r"pop.csv: column 'population' is empty/NaN in rows 3, 4"):
        read_population_points(p, UTM)


def test_negative_population(tmp_path):
    p = tmp_path / "pop.csv"
    p.write_text("lon,lat,population\n119.3,26.08,10\n119.31,26.09,-5\n")
    with pytest.raises(InputError, match=r"negative population in rows 3"):
        read_population(p, UTM)


def test_negative_raster_values(tmp_path):
    data = np.ones((4, 4))
    data[2, 3] = -7
    with pytest.raises(InputError, match=r"1 cells have negative population.*row 3, column 4.*nodata"):
        read_population_raster(raster(tmp_path, data), UTM)


def test_nan_coordinates_dropped_counted_and_warned(tmp_path):
    p = csv(tmp_path, GOOD + ["A3,丙,小学,,26.1", "A4,丁,小学,abc,26.1"])
    with pytest.warns(InputWarning, match=r"2 facilities have missing or non-numeric coordinates.*rows 4, 5"):
        fac, acc = read_facilities(p, UTM)
    assert len(fac) == 2 and acc.dropped == {"missing coordinates": 2} and acc.read == 4


def test_duplicate_ids(tmp_path):
    p = csv(tmp_path, GOOD + ["A1,丙,小学,119.32,26.1", "A2,丁,小学,119.33,26.1"])
    with pytest.raises(InputError, match=r"duplicate facility ids \(2 ids\): 'A1' in rows 2, 4; 'A2' in rows 3, 5"):
        read_facilities(p, UTM)


def test_unknown_category_lists_known_and_fix(tmp_path):
    p = csv(tmp_path, GOOD + ["A3,丙,游泳馆,119.32,26.1"])
    with pytest.raises(InputError) as ei:
        read_facilities(p, UTM)
    msg = str(ei.value)
    assert "unknown facility categories '游泳馆' in rows 4" in msg
    assert "community_health_centre (社区卫生服务中心)" in msg and "[categories]" in msg


def test_row_problems_reported_together(tmp_path):
    p = tmp_path / "fac.csv"
    p.write_text("id,name,category,beds,lon,lat\nA1,甲,小学,-3,119.3,26.08\nA1,乙,游泳馆,5,119.31,26.09\n")
    with pytest.raises(InputError) as ei:
        read_facilities(p, UTM)
    assert len(ei.value.problems) == 3
    assert "negative capacity" in str(ei.value) and "duplicate" in str(ei.value) and "游泳馆" in str(ei.value)


def test_shapefile_without_prj(tmp_path):
    g = gpd.GeoDataFrame({"name": ["甲"], "category": ["小学"]}, geometry=[shapely.Point(119.3, 26.08)], crs=4326)
    p = tmp_path / "fac.shp"
    g.to_file(p, encoding="utf-8")
    p.with_suffix(".prj").unlink()
    with pytest.raises(InputError, match=r"fac.shp: the shapefile has no .prj.*EPSG:4326"):
        read_facilities(p, UTM)


def test_raster_without_crs(tmp_path):
    p = tmp_path / "pop.tif"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(p, "w", driver="GTiff", width=3, height=3, count=1, dtype="float32",
                           transform=from_origin(119.2, 26.2, 0.001, 0.001)) as dst:
            dst.write(np.ones((1, 3, 3), dtype="float32"))
    with pytest.raises(InputError, match=r"pop.tif: raster has no CRS.*gdal_edit.py -a_srs"):
        read_population_raster(p, UTM)


def test_gbk_file_read_as_utf8(tmp_path):
    p = csv(tmp_path, GOOD, encoding="gbk")
    with pytest.raises(InputError, match=r"fac.csv: cannot decode as utf-8.*decodes as GBK.*encoding = \"gbk\""):
        read_facilities(p, UTM, encoding="utf-8")
    fac, _ = read_facilities(p, UTM)  # auto-detection reads it
    assert fac["name"].iloc[0] == "甲社区卫生服务中心"


def test_utf8_file_read_as_gbk(tmp_path):
    p = csv(tmp_path, GOOD)
    with pytest.raises(InputError, match=r"the file is UTF-8 but encoding = \"gbk\""):
        read_facilities(p, UTM, encoding="gbk")


def test_mojibake_names(tmp_path):
    garbled = "ç¤¾åŒºå\u008d«ç\u0094\u009f"  # 社区卫生 seen through Latin-1
    p = csv(tmp_path, [f"A1,{garbled},社区卫生服务中心,119.30,26.08"])
    with pytest.raises(InputError, match=r"fac.csv: names look garbled \(mojibake.*rows 2.*CSV UTF-8"):
        read_facilities(p, UTM)


def test_not_a_csv(tmp_path):
    p = tmp_path / "fac.csv"
    p.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)
    with pytest.raises(InputError, match=r"fac.csv: this is a ZIP/Excel \(.xlsx\) file, not a CSV"):
        read_facilities(p, UTM)
    p.write_bytes(b"\x00\x01\x02binary\x00junk" * 50)
    with pytest.raises(InputError, match="binary data"):
        read_facilities(p, UTM)


def test_raster_all_nodata(tmp_path):
    p = raster(tmp_path, np.full((5, 5), -1.0))
    with pytest.raises(InputError, match=r"pop.tif: every cell is no-data"):
        read_population_raster(p, UTM)


def test_gcj02_shifted_facilities_warning():
    t = Transformer.from_crs(4326, 32650, always_xy=True)
    x0, y0 = t.transform(119.3, 26.08)
    # One straight east-west road with a vertex every 10 m; facilities on it.
    road = np.column_stack([x0 + np.arange(0, 5000, 10.0), np.full(500, y0)])
    fx = x0 + np.linspace(500, 4500, 12)
    lon, lat = Transformer.from_crs(32650, 4326, always_xy=True).transform(fx, np.full(12, y0))
    gx, gy = t.transform(*wgs84_to_gcj02(np.asarray(lon), np.asarray(lat)))
    fac = gpd.GeoDataFrame(geometry=gpd.points_from_xy(gx, gy), crs=UTM)
    with pytest.warns(InputWarning, match=r"fac.csv: .*look like GCJ-02.*facility_coords = \"gcj02\""):
        gcj02_offset_warning(fac, road, "fac.csv")


def test_boundary_without_name_field(tmp_path):
    p = tmp_path / "towns.geojson"
    gpd.GeoDataFrame({"code": ["1"], "pop": [3]}, geometry=[shapely.box(0, 0, 1, 1)], crs=4326).to_file(p)
    with pytest.raises(InputError, match=r"towns.geojson: no name field; the layer has fields \['code', 'pop'\]"):
        read_boundaries(p, "EPSG:32631", level="township")


def test_scenario_problems_together(tmp_path):
    (tmp_path / "pop.tif").write_text("x")
    (tmp_path / "roads.osm.pbf").write_text("x")
    p = tmp_path / "scenario.toml"
    p.write_text(
        '[study]\nname = "x"\nlang = 3\n[inputs]\nnetwork = "roads.osm.pbf"\npopulation = "pop.tif"\n'
        'facilities = "missing.csv"\nfacility_cords = "gcj02"\n', encoding="utf-8")
    with pytest.raises(InputError) as ei:
        load_scenario(p)
    msg = str(ei.value)
    assert msg.startswith("3 problems found")
    assert "scenario.toml: study.lang: must be text" in msg
    assert "scenario.toml: inputs.facility_cords: unknown key. Did you mean 'facility_coords'?" in msg
    assert "scenario.toml: inputs.facilities: file 'missing.csv' not found" in msg


# ---------------------------------------------------------------------------
# Whole commands on broken copies of the demo: `access run` stops before any
# heavy work with the problem named, writes nothing, and `access validate`
# reports exactly the same problems.
# ---------------------------------------------------------------------------
import re  # noqa: E402
import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

from access.cli import main  # noqa: E402
from conftest import ROOT, shared_path  # noqa: E402

DEMO = ROOT / "data" / "demo"


def demo_copy(tmp_path) -> Path:
    """The demo inputs copied into ``tmp_path/in``; returns the scenario path."""
    d = tmp_path / "in"
    shutil.copytree(DEMO, d, ignore=shutil.ignore_patterns("*.md", "expected.json"))
    return d / "scenario.toml"


def edit_toml(scenario: Path, old: str, new: str) -> None:
    text = scenario.read_text(encoding="utf-8")
    assert old in text, old
    scenario.write_text(text.replace(old, new, 1), encoding="utf-8")


def append_toml(scenario: Path, text: str) -> None:
    scenario.write_text(scenario.read_text(encoding="utf-8") + "\n" + text, encoding="utf-8")


def fac_table(scenario: Path) -> pd.DataFrame:
    return pd.read_csv(scenario.parent / "facilities.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")


def write_fac(scenario: Path, df: pd.DataFrame, encoding="utf-8-sig") -> None:
    df.to_csv(scenario.parent / "facilities.csv", index=False, encoding=encoding)


def edit_fac(scenario: Path, fn) -> None:
    df = fac_table(scenario)
    write_fac(scenario, fn(df) if fn(df) is not None else df)


def edit_raster(scenario: Path, fn, **profile) -> None:
    p = scenario.parent / "population.tif"
    with rasterio.open(p) as src:
        data, prof = src.read(1), src.profile
    data = fn(data)
    prof.update(profile)
    with rasterio.open(p, "w", **prof) as dst:
        dst.write(data, 1)


def edit_layer(path: Path, fn) -> None:
    g = gpd.read_file(path)
    g = fn(g)
    path.unlink()
    g.to_file(path, driver="GeoJSON")


def shift(g: gpd.GeoDataFrame, dx: float = 0.0, dy: float = 0.0) -> gpd.GeoDataFrame:
    return g.set_geometry(g.geometry.translate(dx, dy))


# each case: (name, break the copy, substrings the message must hold, extra command args)
def _unknown_category(s):
    edit_fac(s, lambda d: d.assign(category=np.where(d.index == 3, "游泳馆", d["category"])))


def _swapped_lonlat(s):
    edit_fac(s, lambda d: d.assign(lon=d["lat"], lat=d["lon"]))


def _mojibake(s):
    garbled = "ç¤¾åŒºå\u008d«ç\u0094\u009f"
    edit_fac(s, lambda d: d.assign(name=np.where(d.index == 0, garbled, d["name"])))


def _duplicate_ids(s):
    edit_fac(s, lambda d: d.assign(id=np.where(d.index == 5, d["id"].iloc[4], d["id"])))


def _nonnumeric_capacity(s):
    edit_fac(s, lambda d: d.assign(capacity=np.where(d.index == 2, "约120张", d["capacity"])))


def _missing_capacity_column(s):
    edit_toml(s, 'capacity_column = "capacity"', 'capacity_column = "doctors"')


def _infinite_population(s):
    def f(a):
        a = a.copy()
        r, c = np.argwhere(a > 0)[0]
        a[r, c] = np.inf
        return a
    edit_raster(s, f)


def _nan_population_points(s):
    # the demo raster as a points CSV, with one persons value missing
    (s.parent / "pop.csv").write_text("lon,lat,population\n118.62,26.12,10\n118.63,26.13,\n", encoding="utf-8")
    edit_toml(s, 'population = "population.tif"', 'population = "pop.csv"')
    # age-band rasters belong to a raster population: drop them with it
    s.write_text(re.sub(r"\[inputs\.groups\]\n(?:(?!\[).*\n)*", "", s.read_text(encoding="utf-8")), encoding="utf-8")


def _negative_population(s):
    def f(a):
        a = a.copy()
        a[100, 200] = -3
        return a
    edit_raster(s, f)


def _raster_without_crs(s):
    p = s.parent / "population.tif"
    with rasterio.open(p) as src:
        data, prof = src.read(1), src.profile
    prof["crs"] = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(p, "w", **prof) as dst:
            dst.write(data, 1)


def _facilities_folder(s):
    (s.parent / "facilities.csv").unlink()
    (s.parent / "facilities.csv").mkdir()


def _network_folder(s):
    (s.parent / "roads.osm.pbf").unlink()
    (s.parent / "roads.osm.pbf").mkdir()


def _output_is_file(s):
    (s.parent.parent / "out").write_text("not a folder")


def _output_under_file(s):
    (s.parent.parent / "blocker").write_text("a file")


def _gbk_declared_utf8(s):
    write_fac(s, fac_table(s), encoding="gbk")
    edit_toml(s, 'facility_coords = "wgs84"', 'facility_coords = "wgs84"\nencoding = "utf-8"')


def _empty_facilities(s):
    (s.parent / "facilities.csv").write_bytes(b"")


def _facilities_far_away(s):
    edit_fac(s, lambda d: d.assign(lon=(d["lon"].astype(float) + 3.0).map("{:.6f}".format)))


def _population_far_away(s):
    p = s.parent / "population.tif"
    with rasterio.open(p) as src:
        t = src.transform
    edit_raster(s, lambda a: a, transform=rasterio.Affine(t.a, t.b, t.c + 6.0, t.d, t.e, t.f))


def _townships_far_away(s):
    for f in ("townships.geojson", "counties.geojson"):
        edit_layer(s.parent / f, lambda g: shift(g, dy=4.0))


def _no_facility_of_a_service(s):
    edit_fac(s, lambda d: d[~d["category"].str.contains("养老|照料|敬老|老年", regex=True)])


def _no_facility_left(s):
    edit_fac(s, lambda d: d.assign(lon="", lat=""))


def _nobody_reaches_roads(s):
    edit_toml(s, "max_distance_m = 500", "max_distance_m = 0.001")


def _facilities_off_roads(s):
    # a third of the facilities 30 km east of every road (the file still overlaps the network)
    edit_fac(s, lambda d: d.assign(lon=np.where(d.index % 3 == 0, (d["lon"].astype(float) + 0.3).map(
        "{:.6f}".format), d["lon"])))


def _persons_outside_area(s):
    edit_layer(s.parent / "counties.geojson", lambda g: g.set_geometry(g.geometry.scale(0.6, 0.6, origin="centroid")))


def _overlapping_townships(s):
    def f(g):
        extra = g.iloc[[0]].copy()
        extra["code"] = "350999999000"
        extra["name"] = "重复街道"
        return pd.concat([g, extra], ignore_index=True)
    edit_layer(s.parent / "townships.geojson", f)


def _nested_levels(s):
    def f(g):
        c = gpd.read_file(s.parent / "counties.geojson")
        row = g.iloc[[0]].copy()
        row["code"], row["name"], row["level"] = c["code"].iloc[0], c["name"].iloc[0], "县"
        return pd.concat([g, row.set_geometry([c.geometry.iloc[0]])], ignore_index=True)
    edit_layer(s.parent / "townships.geojson", f)


def _bowtie_over_neighbour(s):
    def f(g):
        b = g.geometry.iloc[1].bounds  # a bow-tie over township 2's box, made valid into two triangles
        w, so, e, n = b
        bow = shapely.Polygon([(w, so), (e, n), (e, so), (w, n)])
        g.loc[0, "geometry"] = bow
        return g
    edit_layer(s.parent / "townships.geojson", f)


def _name_as_code(s):
    edit_toml(s, 'code = "code"', 'code = "name"')


def _no_code_field(s):
    edit_toml(s, 'code = "code"\n', "")
    edit_layer(s.parent / "townships.geojson", lambda g: g.drop(columns=["code"]))


def _bad_level(s):
    edit_toml(s, 'townships = "townships.geojson"', 'townships = "townships.geojson"\ntownship_level = "区"')


def _checks_unknown_key(s):
    append_toml(s, "[checks]\nmax_dropped_person_share = 0.1\n")


def _west_oakland_network(s):
    src = shared_path("osm/West-Oakland.osm.bz2")
    shutil.copy(src, s.parent / "West-Oakland.osm.bz2")
    edit_toml(s, 'network = "roads.osm.pbf"', 'network = "West-Oakland.osm.bz2"')


def _fujian_all_levels(s):
    src = shared_path("fujian/fujian_admin_province_city_county_amap_gcj02.geojson")
    shutil.copy(src, s.parent / "fujian.geojson")
    edit_toml(s, 'counties = "counties.geojson"', 'counties = "fujian.geojson"\nboundary_coords = "gcj02"')
    edit_toml(s, 'code = "code"\nname = "name"\n', "")  # the Fujian file's fields are found by their names


def _shanghai_pois(s):
    src = shared_path("shanghai/amap_poi/shanghai_hospital.csv")
    shutil.copy(src, s.parent / "sh.csv")
    edit_toml(s, 'facilities = "facilities.csv"', 'facilities = "sh.csv"')
    edit_toml(s, 'facility_coords = "wgs84"', 'facility_coords = "gcj02"')
    append_toml(s, "[categories]\n" + "\n".join(f'"{k}" = "hospital"' for k in _shanghai_types(src)))


def _shanghai_types(src) -> list[str]:
    from access.sources.facilities import read_csv_text

    df = read_csv_text(src)
    col = next(c for c in df.columns if str(c).lower() in ("type", "category", "类别", "category_raw"))
    return sorted(set(df[col].dropna().astype(str)))


CASES = [
    ("unknown_category", _unknown_category, ["facilities.csv", "游泳馆", "rows 5"], []),
    ("swapped_lonlat", _swapped_lonlat, ["facilities.csv", "swapped"], []),
    ("mojibake", _mojibake, ["facilities.csv", "garbled", "rows 2"], []),
    ("duplicate_ids", _duplicate_ids, ["facilities.csv", "duplicate facility ids"], []),
    ("nonnumeric_capacity", _nonnumeric_capacity, ["facilities.csv", "not a number in rows 4"], []),
    ("missing_capacity_column", _missing_capacity_column, ["capacity_column = 'doctors' is not a column"], []),
    ("infinite_population", _infinite_population, ["population.tif", "infinite population", "row "], []),
    ("nan_population_points", _nan_population_points, ["pop.csv", "empty/NaN in rows 3"], []),
    ("negative_population", _negative_population, ["population.tif", "negative population", "row 101, column 201"],
     []),
    ("raster_without_crs", _raster_without_crs, ["population.tif", "raster has no CRS"], []),
    ("facilities_folder", _facilities_folder, ["inputs.facilities", "is a folder, not a file"], []),
    ("network_folder", _network_folder, ["inputs.network", "is a folder, not a file"], []),
    ("output_is_file", _output_is_file, ["the output path is a file"], []),
    ("output_under_file", _output_under_file, ["cannot be created", "blocker", "is a file"], ["sub"]),
    ("gbk_declared_utf8", _gbk_declared_utf8, ["facilities.csv", "cannot decode as utf-8", "gbk"], []),
    ("empty_facilities", _empty_facilities, ["facilities.csv", "the file is empty"], []),
    ("facilities_far_away", _facilities_far_away, ["facilities.csv (facilities: lon 121.", "roads.osm.pbf (network",
                                                   "km apart"], []),
    ("population_far_away", _population_far_away, ["population.tif (population: lon 124.300..124.800",
                                                   "roads.osm.pbf (network", "km apart"], []),
    ("boundaries_far_away", _townships_far_away, ["counties.geojson (boundaries: lon", "lat 29.", "km apart"], []),
    ("no_facility_of_a_service", _no_facility_of_a_service, ["needs service 'elderly_care'", "0 % map",
                                                             "allow_no_facility = true"], []),
    ("no_facility_left", _no_facility_left, ["facilities.csv: no facility remains"], []),
    ("nobody_reaches_roads", _nobody_reaches_roads, ["population.tif: no populated cell is within 0.001 m of a road",
                                                     "roads.osm.pbf", "allow_unreachable = true"], []),
    ("facilities_off_roads", _facilities_off_roads, ["facilities.csv: 3", "of facilities", "farther than 500 m",
                                                     "max_facilities_off_network_share = 0.2"], []),
    ("persons_outside_area", _persons_outside_area, ["population.tif:", "of its persons", "outside the study area",
                                                     "max_dropped_persons_share = 0.05"], []),
    ("overlapping_townships", _overlapping_townships, ["townships.geojson: 1 pairs of township polygons overlap",
                                                       "重复街道 (350999999000)", "km²", "persons"], []),
    ("nested_levels", _nested_levels, ["townships.geojson:", "polygons overlap", "示范县 (350999)", "km²",
                                       "persons counted twice"], []),
    ("bowtie_over_neighbour", _bowtie_over_neighbour, ["townships.geojson:", "pairs of township polygons overlap",
                                                       "feature 1 城关街道", "feature 2 东湖街道", "km²"], []),
    ("name_as_code", _name_as_code, ["field 'name' (given for code", "holds names", "not codes"], []),
    ("no_code_field", _no_code_field, ["townships.geojson: no code field", "Names are never used as codes"], []),
    ("bad_level", _bad_level, ["township_level = '区' matches no feature", "'镇' (7)"], []),
    ("checks_unknown_key", _checks_unknown_key, ["checks.max_dropped_person_share: unknown key",
                                                 "Did you mean 'max_dropped_persons_share'?"], []),
    ("real_west_oakland_network", _west_oakland_network, ["population.tif (population:", "West-Oakland.osm.bz2",
                                                           "km apart"], []),
    ("real_fujian_all_levels", _fujian_all_levels, ["fujian.geojson:", "pairs of county polygons overlap",
                                                    "福建省 (350000)", "county_level = \"county\"", "persons"], []),
    ("real_shanghai_pois", _shanghai_pois, ["sh.csv (facilities: lon 120.9", "roads.osm.pbf (network", "km apart"], []),
]


def _command(argv, capsys) -> tuple[int, str]:
    code = main(argv)
    err = capsys.readouterr().err
    m = re.search(r"^access: .*", err, flags=re.S | re.M)
    return code, (m.group(0) if m else "")


@pytest.mark.parametrize("name, breaker, expected, extra", CASES, ids=[c[0] for c in CASES])
def test_bad_input_stops_run_and_validate_alike(tmp_path, capsys, name, breaker, expected, extra):
    scenario = demo_copy(tmp_path)
    breaker(scenario)
    out = tmp_path / ("blocker" if name == "output_under_file" else "out")
    out = out.joinpath(*extra)
    before = sorted(p.name for p in tmp_path.iterdir())
    code_v, msg_v = _command(["validate", str(scenario), "--out", str(out), "--quiet"], capsys)
    code_r, msg_r = _command(["run", str(scenario), "--out", str(out), "--quiet"], capsys)
    assert code_r == 2 and code_v == 2, (msg_r, msg_v)
    for piece in expected:
        assert piece in msg_r, (piece, msg_r)
    assert msg_v == msg_r
    assert "Traceback" not in msg_r and "unexpected" not in msg_r
    # nothing written: no output folder, nothing new beside the inputs
    assert not (out.is_dir() and any(out.iterdir()))
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_problems_of_several_files_reported_together(tmp_path, capsys):
    scenario = demo_copy(tmp_path)
    _duplicate_ids(scenario)
    _negative_population(scenario)
    _overlapping_townships(scenario)
    code, msg = _command(["run", str(scenario), "--out", str(tmp_path / "out"), "--quiet"], capsys)
    assert code == 2 and msg.startswith("access: 3 problems found")
    assert "duplicate facility ids" in msg and "negative population" in msg and "polygons overlap" in msg
    assert not (tmp_path / "out").exists()


def test_lowered_by_checks_key_validates_with_a_warning(tmp_path, capsys):
    scenario = demo_copy(tmp_path)
    _no_facility_of_a_service(scenario)
    append_toml(scenario, "[checks]\nallow_no_facility = true\n")
    assert main(["validate", str(scenario), "--out", str(tmp_path / "out"), "--debug"]) == 0
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if "needs service 'elderly_care'" in ln]
    assert lines and all(ln.startswith("warning: ") for ln in lines)  # one clean line each, no file:line
    assert len(set(lines)) == len(lines)  # each shown once
    assert ".py:" not in err and "warnings.warn" not in err
    assert not (tmp_path / "out").exists()


def test_township_level_keeps_one_level(tmp_path, capsys):
    scenario = demo_copy(tmp_path)
    _nested_levels(scenario)
    edit_toml(scenario, 'townships = "townships.geojson"',
              'townships = "townships.geojson"\ntownship_level = "镇"')
    # keeping only the 7 镇 drops the 街道, the 乡 and the county outline added among them: no overlap left
    assert main(["validate", str(scenario), "--out", str(tmp_path / "out"), "--debug"]) == 0
    err = capsys.readouterr().err
    assert "overlap" not in err and "OK" in capsys.readouterr().out + "OK"
    assert not (tmp_path / "out").exists()


def test_empty_townships_listed_on_the_console(tmp_path, capsys):
    scenario = demo_copy(tmp_path)

    def f(g):  # a township far in the sea, beyond the raster: nobody lives there
        extra = g.iloc[[0]].copy()
        extra["code"], extra["name"] = "350999299000", "远海乡"
        return pd.concat([g, extra.set_geometry(extra.geometry.translate(0.0, -0.35))], ignore_index=True)

    edit_layer(scenario.parent / "townships.geojson", f)
    assert main(["validate", str(scenario), "--out", str(tmp_path / "out"), "--debug"]) == 0
    err = capsys.readouterr().err
    assert "warning: 1 of 16 townships have no population in population.tif: 远海乡 (350999299000)" in err
    assert err.count("远海乡") == 1  # one clean line, not repeated among the figures
    assert not (tmp_path / "out").exists()


def test_facilities_off_roads_warned_once_per_mode(tmp_path):
    # two facilities 30 km east of every road: a warning (under the 20 % share), said once per mode
    # although the input checks snap the facilities before the travel times do
    from access.study import Study

    scenario = demo_copy(tmp_path)
    edit_fac(scenario, lambda d: d.assign(lon=np.where(d.index < 2, (d["lon"].astype(float) + 0.3).map(
        "{:.6f}".format), d["lon"])))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        study = Study.load(scenario, quiet=True)
        study.check_networks()
        fac, snaps = study.travel_times()[1:3]
    lines = [str(w.message) for w in caught if "farther than 500 m" in str(w.message)]
    assert sorted(ln.split("usable by ")[1].split()[0] for ln in lines) == sorted(study.networks)
    assert all("facilities.csv: 2 facilities" in ln for ln in lines)
    for mode, snap in snaps.items():
        assert not snap.ok[:2].any() and not fac[f"snapped_{mode}"].iloc[:2].any()
