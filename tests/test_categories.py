"""Facility classification: explicit rules, exclusions with reasons, names refining types, the categories table."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pandas as pd
import pytest

from access.errors import InputError, InputWarning
from access.scenario import load_scenario
from access.sources.categories import DROPPED, classify, classify_type, closest_category, summary_lines
from access.sources.facilities import UNKNOWN_LISTING_AT, read_facilities
from conftest import shared_path

UTM50 = "EPSG:32650"
SAMPLE = Path(__file__).parent / "data" / "categories" / "sample.csv"


def fac_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    """A facility CSV of (name, category) rows placed near Fuzhou."""
    df = pd.DataFrame({"name": [n for n, _ in rows], "category": [c for _, c in rows],
                       "lon": [119.3 + 0.001 * i for i in range(len(rows))], "lat": [26.08] * len(rows)})
    df.to_csv(path, index=False)
    return path


# ------------------------------------------------------------------ rules
@pytest.mark.parametrize("raw,name,key,reason", [
    # exclusions by Amap type, each with its reason
    ("医疗保健服务;专科医院;口腔医院", "某某口腔", DROPPED, "dental"),
    ("医疗保健服务;专科医院;整形美容", "某某医疗美容门诊部", DROPPED, "cosmetic"),
    ("医疗保健服务;动物医疗场所;宠物诊所", "某某宠物医院", DROPPED, "veterinary"),
    ("医疗保健服务;医药保健销售店;药房", "某某大药房", DROPPED, "pharmacy"),
    ("医疗保健服务;疾病预防机构;疾病预防", "某区疾病预防控制中心", DROPPED, "disease-control"),
    ("医疗保健服务;急救中心;急救中心", "某区医疗急救中心某某分站", DROPPED, "emergency"),
    ("科教文化服务;学校;中学", "上海市某某高级中学", DROPPED, "senior high"),
    ("科教文化服务;学校;高等院校", "某某大学", DROPPED, "higher education"),
    # exclusions by name inside a kept type
    ("医疗保健服务;诊所;诊所", "某某齿科", DROPPED, "dental"),
    ("医疗保健服务;综合医院;综合医院", "某某兽医院", DROPPED, "veterinary"),
    ("科教文化服务;学校;幼儿园", "某某托育园", DROPPED, "childcare"),
    ("科教文化服务;学校;小学", "某区辅读学校", DROPPED, "special education"),
    # names refine types within their family
    ("医疗保健服务;综合医院;卫生院", "某某镇卫生院", "township_health_centre", ""),
    ("医疗保健服务;综合医院;卫生院", "某某街道社区卫生服务中心", "community_health_centre", ""),
    ("医疗保健服务;综合医院;卫生院", "上海市北站医院", "hospital", ""),
    ("医疗保健服务;综合医院;卫生院", "某某社区卫生服务分中心", "community_health_station", ""),
    ("医疗保健服务;综合医院;卫生院", "杨思医院海阳社区卫生服务站", "community_health_station", ""),
    ("医疗保健服务;综合医院;卫生院", "某某村卫生室", "village_clinic", ""),
    ("医疗保健服务;诊所;诊所", "某某居委红十字卫生站", "community_health_station", ""),
    ("医疗保健服务;综合医院;卫生院", "某某镇卫生院-门诊楼", "township_health_centre", ""),
    ("医疗保健服务;综合医院;综合医院", "某某社区卫生服务中心门诊部", "community_health_centre", ""),
    ("医疗保健服务;综合医院;三级甲等医院", "复旦大学附属儿科医院", "specialty_hospital", ""),
    ("医疗保健服务;综合医院;三级甲等医院", "某某医院儿科急诊", "hospital", ""),
    ("医疗保健服务;综合医院;三级甲等医院", "9床病房(上海市儿童医院)", "specialty_hospital", ""),
    ("医疗保健服务;专科医院;专科医院", "某某医院", "specialty_hospital", ""),
    ("医疗保健服务;急救中心;急救中心", "某某区中心医院急诊", "hospital", ""),
    ("科教文化服务;学校;幼儿园", "某某镇中心幼儿园", "central_kindergarten", ""),
    ("科教文化服务;学校;幼儿园", "某区第三中心幼儿园", "kindergarten", ""),
    ("科教文化服务;学校;幼儿园", "上海市零陵中学-东一幼儿园", "kindergarten", ""),
    ("科教文化服务;学校;中学", "某某完全中学", "junior_middle_school", ""),
    ("科教文化服务;学校;中学", "某某初级中学", "junior_middle_school", ""),
    ("科教文化服务;学校;中学", "上海师范大学附属中学", "junior_middle_school", ""),
    ("科教文化服务;学校;中学", "同济大学实验学校", "junior_middle_school", ""),
    ("科教文化服务;学校;中学", "某某中学(高中部)", DROPPED, "senior high"),
    # Amap typecodes, Baidu tags, OSM tags, English, planners' words
    ("090102", "", "township_health_centre", ""),
    ("090202", "", DROPPED, "dental"),
    ("141203", "", "primary_school", ""),
    ("医疗;综合医院", "", "hospital", ""),
    ("教育培训;幼儿园", "", "kindergarten", ""),
    ("医疗;药店", "", DROPPED, "pharmacy"),
    ("amenity=hospital", "", "hospital", ""),
    ("healthcare=dentist", "", DROPPED, "dental"),
    ("amenity=school;isced:level=2", "", "junior_middle_school", ""),
    ("amenity=social_facility;social_facility=nursing_home;social_facility:for=senior", "", "elderly_care_centre", ""),
    ("amenity=social_facility;social_facility=day_care;social_facility:for=elderly", "", "elderly_day_care", ""),
    ("amenity=social_facility;social_facility=shelter;social_facility:for=homeless", "", DROPPED, "not for the elderly"),
    ("amenity=social_facility;social_facility=nursing_home", "", DROPPED, "not for the elderly"),
    ("Community Health Center", "", "community_health_centre", ""),
    ("veterinary clinic", "", DROPPED, "veterinary"),
    ("XX镇卫生院", "", "township_health_centre", ""),
    ("专科医院", "", "specialty_hospital", ""),
    ("高中", "", DROPPED, "senior high"),
])
def test_rule(raw, name, key, reason):
    d = classify(raw, name)
    assert d.key == key, d.rule
    assert reason in d.reason
    assert d.rule  # every decision names its rule


def test_not_substrings_that_happen_to_match():
    # 医院 inside the name of a station, 中学 inside a kindergarten's, 卫生院 under 诊所: the head decides
    assert classify("医疗保健服务;综合医院;卫生院", "上海市第六人民医院斜土街道社区卫生服务中心").key == "community_health_centre"
    assert classify("科教文化服务;学校;幼儿园", "上海市徐汇区师范大学幼儿园").key == "kindergarten"
    assert classify_type("游泳馆").key == "unknown"
    assert classify_type("医疗保健服务;医疗保健服务场所;医疗保健服务场所").key == "unknown"


def test_two_categories_in_one_value_warn_with_both(tmp_path):
    p = fac_csv(tmp_path / "fac.csv", [("甲", "社区卫生服务中心(站)"),
                                       ("乙", "医疗保健服务;综合医院;综合医院|医疗保健服务;诊所;诊所")])
    with pytest.warns(InputWarning) as rec:
        fac, _ = read_facilities(p, UTM50)
    msgs = [str(w.message) for w in rec]
    first = next(m for m in msgs if "社区卫生服务中心(站)" in m)
    assert "community_health_centre and community_health_station" in first
    assert "counted as community_health_centre (1)" in first and "\n" not in first
    second = next(m for m in msgs if "|" in m)
    assert "hospital and clinic" in second and "first listed type decides" in second
    assert list(fac["category"]) == ["community_health_centre", "hospital"]


# ------------------------------------------------------------------ categories table
def test_categories_table_covers_every_row(tmp_path):
    p = fac_csv(tmp_path / "fac.csv", [("甲小学", "小学"), ("乙小学", "小学"), ("丙口腔门诊部", "门诊部"),
                                       ("丁", "药店"), ("戊幼儿园", "幼儿园")])
    fac, acc = read_facilities(p, UTM50, extra_categories={"药店": "ignore"})
    t = fac.attrs["categories"]
    assert list(t.columns) == ["raw", "key", "rule", "count"]
    assert t["count"].sum() == 5
    assert t.loc[t["raw"] == "小学", "count"].item() == 2
    dental = t[t["raw"] == "门诊部"].iloc[0]
    assert dental["key"] == DROPPED and "口腔" in dental["rule"] and "dental" in dental["rule"]
    assert t.loc[t["raw"] == "药店", "rule"].item() == "scenario [categories]: ignore"
    assert acc.dropped == {"excluded: dental (口腔/牙科)": 1, "category ignored by the scenario": 1}
    assert list(fac["category_rule"])[0].endswith("-> primary_school")
    lines = summary_lines(t)
    assert lines[0].startswith("categories: 3 of 5 facilities kept (primary_school 2, kindergarten 1)")
    assert "dental 1" in lines[1] and "ignored by the scenario 1" in lines[1]


def test_osm_tag_columns_make_the_category(tmp_path):
    df = pd.DataFrame({"name": ["甲", "乙", "丙"], "amenity": ["social_facility", "social_facility", "clinic"],
                       "social_facility": ["nursing_home", "group_home", ""],
                       "social_facility:for": ["senior", "disabled", ""],
                       "lon": [119.30, 119.31, 119.32], "lat": [26.08] * 3})
    p = tmp_path / "osm.csv"
    df.to_csv(p, index=False)
    fac, acc = read_facilities(p, UTM50)
    assert list(fac["category"]) == ["elderly_care_centre", "clinic"]
    assert acc.dropped == {"excluded: social facility not for the elderly (social_facility:for)": 1}


# ------------------------------------------------------------------ unknown categories
def test_unknown_lists_every_value_with_the_closest_fix(tmp_path):
    rows = [("a", "游泳馆"), ("b", "小学"), ("c", "幼儿圆"), ("d", "游泳馆"), ("e", "社区卫生服务部")]
    p = fac_csv(tmp_path / "fac.csv", rows)
    with pytest.raises(InputError) as ei:
        read_facilities(p, UTM50)
    msg = str(ei.value)
    assert ("unknown facility categories '游泳馆', '幼儿圆', '社区卫生服务部' in rows 2, 4, 5, 6 "
            "(spreadsheet rows: the header is row 1)") in msg
    # the suggestion is the closest category of each value, not a fixed example
    assert '"幼儿圆" = "kindergarten"' in msg
    assert '"社区卫生服务部" = "community_health' in msg
    assert 'unknown_categories = "drop"' in msg and "\n" not in msg


def test_closest_category():
    assert closest_category("幼儿圆") == "kindergarten"
    assert closest_category("primary schol") == "primary_school"
    assert closest_category("xyz") == "ignore"


def test_many_unknown_values_listed_in_a_temp_file(tmp_path):
    rows = [(f"n{i}", f"设施类型{i:02d}") for i in range(UNKNOWN_LISTING_AT + 5)] + [("甲", "小学")]
    p = fac_csv(tmp_path / "many.csv", rows)
    with pytest.raises(InputError) as ei:
        read_facilities(p, UTM50)
    msg = str(ei.value)
    assert all(f"'设施类型{i:02d}'" in msg for i in range(UNKNOWN_LISTING_AT + 5))  # every value, at once
    listing = Path(re.search(r"listed in (\S+\.csv)\)", msg).group(1))
    got = pd.read_csv(listing, encoding="utf-8-sig", dtype=str)
    assert list(got.columns) == ["raw_value", "rows", "count", "closest_category"]
    assert len(got) == UNKNOWN_LISTING_AT + 5 and got["rows"].iloc[0] == "2"


def test_unknown_drop_counts_them(tmp_path):
    p = fac_csv(tmp_path / "fac.csv", [("a", "游泳馆"), ("b", "小学"), ("c", "游泳馆")])
    fac, acc = read_facilities(p, UTM50, unknown="drop")
    assert list(fac["category"]) == ["primary_school"]
    assert acc.dropped == {"unknown category": 2}
    t = fac.attrs["categories"]
    row = t[t["raw"] == "游泳馆"].iloc[0]
    assert row["key"] == DROPPED and row["count"] == 2 and "unknown_categories" in row["rule"]


def test_scenario_key_unknown_categories(tmp_path):
    for f in ("roads.osm.pbf", "pop.tif", "fac.csv"):
        (tmp_path / f).write_text("x")
    base = '[study]\nname = "x"\n[inputs]\nnetwork = "roads.osm.pbf"\npopulation = "pop.tif"\nfacilities = "fac.csv"\n'
    p = tmp_path / "s.toml"
    p.write_text(base, encoding="utf-8")
    assert load_scenario(p).unknown_categories == "error"
    p.write_text(base + 'unknown_categories = "drop"\n', encoding="utf-8")
    assert load_scenario(p).unknown_categories == "drop"
    p.write_text(base + 'unknown_categories = "dorp"\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"inputs.unknown_categories: 'dorp' is not one of error, drop. Did you mean 'drop'\?"):
        load_scenario(p)


# ------------------------------------------------------------------ real Amap dumps, hand-checked sample
def test_shanghai_hand_checked_sample():
    """Accuracy on a hand-checked sample of the Shanghai Amap dumps (see data/categories/README.md)."""
    sample = pd.read_csv(SAMPLE, dtype={"row": int})
    assert len(sample) >= 300
    assert {"shanghai_hospital.csv", "shanghai_school.csv", "shanghai_kindergarten_幼儿园.csv"} <= set(sample["file"])
    got = []
    for file, rows in sample.groupby("file", sort=False):
        p = shared_path(f"shanghai/amap_poi/{file}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InputWarning)
            fac, acc = read_facilities(p, "EPSG:32651")
        acc.check()
        by_id = fac.set_index("facility_id")["category"]
        for r, expected in zip(rows["row"], rows["expected"]):
            got.append((file, r, expected, by_id.get(f"{p.stem}-{r}", DROPPED)))
    wrong = [g for g in got if g[2] != g[3]]
    accuracy = 1 - len(wrong) / len(got)
    print(f"\nhand-checked sample: {len(got) - len(wrong)} of {len(got)} right ({100 * accuracy:.1f} %)")
    for file, r, expected, key in wrong:
        print(f"  {file} row {r}: expected {expected}, got {key}")
    assert accuracy >= 0.95
