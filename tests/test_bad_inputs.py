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
