"""Facility reader: encodings, column detection, categories, datums."""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer

from access.errors import InputWarning
from access.sources.categories import CATEGORIES, normalise_category
from access.sources.chinacoords import wgs84_to_gcj02
from access.sources.facilities import gcj02_offset_warning, read_facilities
from conftest import shared_path

UTM50 = "EPSG:32650"
TO_UTM = Transformer.from_crs(4326, 32650, always_xy=True)

ROWS = [
    ("F1", "鼓楼区东街社区卫生服务中心", "社区卫生服务中心", "30", 119.300, 26.080),
    ("F2", "洪山镇中心幼儿园", "幼儿园", "", 119.310, 26.090),
    ("F3", "某村卫生室", "村卫生室", "2", 119.320, 26.070),
    ("F4", "福州市第一医院", "综合医院", "800", 119.330, 26.060),
]


def chinese_csv(path, encoding):
    df = pd.DataFrame(ROWS, columns=["编号", "名称", "类别", "床位", "经度", "纬度"])
    df.to_csv(path, index=False, encoding=encoding)
    return path


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_chinese_headers_and_encodings(tmp_path, encoding):
    p = chinese_csv(tmp_path / "fac.csv", encoding)
    fac, acc = read_facilities(p, UTM50)
    assert list(fac["facility_id"]) == ["F1", "F2", "F3", "F4"]
    assert list(fac["category"]) == [
        "community_health_centre", "central_kindergarten", "village_clinic", "hospital"]
    assert fac["name"].iloc[0] == ROWS[0][1]
    assert np.isnan(fac["capacity"].iloc[1]) and fac["capacity"].iloc[3] == 800.0
    x, y = TO_UTM.transform(119.300, 26.080)
    assert fac.geometry.x.iloc[0] == pytest.approx(x) and fac.geometry.y.iloc[0] == pytest.approx(y)
    assert acc.read == acc.kept == 4


def test_gcj02_conversion_and_columns_override(tmp_path):
    glon, glat = wgs84_to_gcj02(np.array([119.30, 119.31]), np.array([26.08, 26.09]))
    df = pd.DataFrame({"uid": ["a", "b"], "title": ["x小学", "y初级中学"], "kind": ["小学", "初中"],
                       "E": glon, "N": glat})
    p = tmp_path / "f.csv"
    df.to_csv(p, index=False)
    fac, acc = read_facilities(p, UTM50, columns={"id": "uid", "name": "title", "category": "kind",
                                                  "lon": "E", "lat": "N"}, coords="gcj02")
    x, y = TO_UTM.transform(119.30, 26.08)
    assert np.hypot(fac.geometry.x.iloc[0] - x, fac.geometry.y.iloc[0] - y) < 0.5
    assert any("GCJ-02" in n for n in acc.notes)
    assert list(fac["category"]) == ["primary_school", "junior_middle_school"]


def test_geojson_and_extra_categories(tmp_path):
    g = gpd.GeoDataFrame(
        {"id": [1, 2], "name": ["甲", "乙"], "type": ["卫生服务站", "老年活动室"], "beds": [3, 0]},
        geometry=gpd.points_from_xy([119.3, 119.31], [26.08, 26.09]), crs=4326)
    p = tmp_path / "f.geojson"
    g.to_file(p)
    fac, acc = read_facilities(p, UTM50, extra_categories={"老年活动室": "elderly_day_care"})
    assert list(fac["category"]) == ["community_health_station", "elderly_day_care"]
    assert list(fac["facility_id"]) == ["1", "2"]
    assert list(fac["capacity"]) == [3.0, 0.0]


def test_ignore_and_drop_unknown(tmp_path):
    df = pd.DataFrame({"name": ["a", "b", "c", "d"], "type": ["药店", "小学", "Veterinary clinic", "游泳馆"],
                       "lon": [119.3] * 4, "lat": [26.08] * 4})
    p = tmp_path / "f.csv"
    df.to_csv(p, index=False)
    fac, acc = read_facilities(p, UTM50, extra_categories={"药店": "ignore"}, unknown="drop")
    assert list(fac["category"]) == ["primary_school"]
    assert acc.dropped == {"category ignored by the scenario": 1, "unknown category": 1,
                           "excluded: pet or veterinary (宠物/动物医院/兽医)": 1}
    table = fac.attrs["categories"]
    assert table["count"].sum() == 4 and set(table["key"]) == {"dropped", "primary_school"}


@pytest.mark.parametrize("raw,key", [
    ("中心卫生院", "township_health_centre"), ("XX镇卫生院", "township_health_centre"),
    ("社区卫生服务站", "community_health_station"), ("Community Health Center", "community_health_centre"),
    ("乡镇中心幼儿园", "central_kindergarten"), ("幼儿园", "kindergarten"), ("人民医院", "hospital"),
    ("中医院", "hospital"), ("门诊部", "clinic"), ("敬老院", "elderly_care_centre"),
    ("日间照料中心", "elderly_day_care"), ("综合文化站", "cultural_station"), ("运动场", "sports_ground"),
    ("农贸市场", "food_market"), ("科教文化服务;学校;小学", "primary_school"), ("高级中学", None),
    ("医疗保健服务;动物医疗场所;宠物诊所", None), ("nursing home", "elderly_care_centre"),
])
def test_vocabulary(raw, key):
    assert normalise_category(raw) == key


def test_every_zh_label_maps_to_its_key():
    for key, lab in CATEGORIES.items():
        assert normalise_category(lab["zh"]) == key
        assert normalise_category(lab["en"]) == key
        assert normalise_category(key) == key


def test_shanghai_amap_poi():
    p = shared_path("shanghai/amap_poi/shanghai_hospital.csv")
    raw = pd.read_csv(p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputWarning)  # multi-type values naming two categories
        fac, acc = read_facilities(p, "EPSG:32651")  # every value is known: no unknown_categories needed
    assert acc.read == len(raw)
    acc.check()
    table = fac.attrs["categories"]
    assert table["count"].sum() == len(raw)
    assert table.loc[table["key"] != "dropped", "count"].sum() == len(fac)
    # Oracle from the raw file: the first listed Amap type decides exclusions by type.
    first = raw["type"].str.split("|").str[0].str.split(";").str[-1]
    pets = first.isin(["宠物诊所", "兽医站"])
    dental = first.eq("口腔医院")
    assert acc.dropped["excluded: pet or veterinary (宠物/动物医院/兽医)"] >= pets.sum()
    assert acc.dropped["excluded: dental (口腔/牙科)"] >= dental.sum()
    kept_raw = fac["category_raw"].str.split("|").str[0].str.split(";").str[-1]
    assert not kept_raw.isin(["宠物诊所", "兽医站", "口腔医院", "整形美容"]).any()
    kg = shared_path("shanghai/amap_poi/shanghai_kindergarten_幼儿园.csv")
    fk, ak = read_facilities(kg, "EPSG:32651")
    ak.check()
    assert ak.read == len(pd.read_csv(kg))
    assert set(fk["category"]) <= {"kindergarten", "central_kindergarten", "primary_school", "junior_middle_school"}


def test_gcj02_offset_warning_fires_for_shifted_points():
    # Synthetic WGS84 street grid around Fuzhou: streets every 1000 m, vertices every 20 m.
    lon0, lat0 = 119.30, 26.08
    xs, ys = TO_UTM.transform(lon0, lat0)
    gx, gy = np.meshgrid(np.arange(-3000, 3001, 20.0), np.arange(-3000, 3001, 20.0))
    on_lines = (np.abs(gx) % 1000 == 0) | (np.abs(gy) % 1000 == 0)
    road = np.column_stack([gx[on_lines] + xs, gy[on_lines] + ys])
    # Facilities exactly on road vertices (WGS84), then shifted into GCJ-02.
    rng = np.random.default_rng(3)
    pick = road[rng.choice(len(road), 30, replace=False)]
    lon, lat = Transformer.from_crs(32650, 4326, always_xy=True).transform(pick[:, 0], pick[:, 1])
    glon, glat = wgs84_to_gcj02(np.asarray(lon), np.asarray(lat))
    gx2, gy2 = TO_UTM.transform(glon, glat)
    shifted = gpd.GeoDataFrame(geometry=gpd.points_from_xy(gx2, gy2), crs=UTM50)
    with pytest.warns(InputWarning, match="GCJ-02"):
        before, after = gcj02_offset_warning(shifted, road, "fac.csv")
    assert before > 100 and after < 1.0
    correct = gpd.GeoDataFrame(geometry=gpd.points_from_xy(pick[:, 0], pick[:, 1]), crs=UTM50)
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputWarning)
        before, after = gcj02_offset_warning(correct, road, "fac.csv")
    assert before < 1.0
