"""Facility categories: raw types and names -> canonical keys, by explicit rules.

Facility tables name their kind in many vocabularies. Each is read by its
own rules, never by a substring that happens to match:

* the scenario's ``[categories]`` table (exact raw value; ``"ignore"`` drops);
* canonical keys, their Chinese/English labels and English synonyms;
* Amap 6-digit typecodes (``090102``, ``|``-joined for several types);
* OSM tags written ``key=value;key=value`` (``amenity``, ``healthcare``,
  ``social_facility`` with ``social_facility:for``, ``isced:level``);
* Amap (``大类;中类;小类``) and Baidu (``大类;中类``) type strings, the most
  specific known segment deciding; in ``|``-joined multi-types the first
  listed type that is a known facility type decides;
* planners' own words (``XX镇卫生院``, ``社区卫生服务中心``) by their head
  noun: the category term that ends last in the text (Chinese names put the
  head last: 杨思医院海阳社区卫生服务站 is a station, not a hospital).

Facility **names** then refine the type within its family (health, school,
elderly, ...): Amap files every 社区卫生服务中心 and 站 under 综合医院;卫生院, so
a POI typed 卫生院 but named …医院 is a hospital and one named …社区卫生服务
分中心/站, …卫生室 or …红十字卫生站 is no 乡镇卫生院. Exclusions carry their
reason (:data:`EXCLUSIONS`): dental, cosmetic, pet/veterinary, pharmacies,
disease control, emergency centres, senior high schools, childcare for ages
0-3, training, vocational and higher education. Specialty hospitals (专科) are
their own category, not primary care. A raw value naming two categories (社区
卫生服务中心(站), ``|``-joined types of two categories) is reported with both
and the one chosen.

:func:`classify` decides one (type, name) pair and says which rule decided;
:func:`categorise` does a whole column and builds the categories table.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "CATEGORIES",
    "IGNORE",
    "DROPPED",
    "UNKNOWN",
    "EXCLUSIONS",
    "Decision",
    "classify",
    "classify_type",
    "refine",
    "normalise_category",
    "categorise",
    "closest_category",
    "unknown_category_problem",
    "known_categories_text",
    "summary_lines",
]

#: Canonical key -> labels. Keys are stable: scenarios and circles use them.
CATEGORIES: dict[str, dict[str, str]] = {
    "community_health_centre": {"zh": "社区卫生服务中心", "en": "Community health centre"},
    "community_health_station": {"zh": "社区卫生服务站", "en": "Community health station"},
    "township_health_centre": {"zh": "乡镇卫生院", "en": "Township health centre"},
    "village_clinic": {"zh": "村卫生室", "en": "Village clinic"},
    "hospital": {"zh": "医院", "en": "Hospital"},
    "specialty_hospital": {"zh": "专科医院", "en": "Specialty hospital"},
    "clinic": {"zh": "诊所/门诊部", "en": "Clinic"},
    "kindergarten": {"zh": "幼儿园", "en": "Kindergarten"},
    "central_kindergarten": {"zh": "乡镇中心幼儿园", "en": "Central kindergarten"},
    "primary_school": {"zh": "小学", "en": "Primary school"},
    "junior_middle_school": {"zh": "初中", "en": "Junior middle school"},
    "elderly_care_centre": {"zh": "养老服务中心/养老院", "en": "Elderly care centre"},
    "elderly_day_care": {"zh": "日间照料中心", "en": "Elderly day care"},
    "cultural_station": {"zh": "综合文化站", "en": "Cultural station"},
    "sports_ground": {"zh": "体育场地", "en": "Sports ground"},
    "food_market": {"zh": "菜市场/农贸市场", "en": "Food market"},
}

#: Value of a scenario ``[categories]`` entry that drops such facilities.
IGNORE = "ignore"
#: Key of a facility left out on purpose (an exclusion or ``ignore``).
DROPPED = "dropped"
#: Key of a raw value no rule knows.
UNKNOWN = "unknown"

#: Family of each key: names refine a type only within its family.
FAMILY: dict[str, str] = {
    **dict.fromkeys(["community_health_centre", "community_health_station", "township_health_centre",
                     "village_clinic", "hospital", "specialty_hospital", "clinic"], "health"),
    **dict.fromkeys(["kindergarten", "central_kindergarten", "primary_school", "junior_middle_school"], "school"),
    **dict.fromkeys(["elderly_care_centre", "elderly_day_care"], "elderly"),
    "cultural_station": "culture",
    "sports_ground": "sports",
    "food_market": "market",
}

#: Exclusion code -> (family, reason). Excluded facilities are dropped, counted
#: under their reason; a planner who wants them maps them in [categories].
EXCLUSIONS: dict[str, tuple[str, str]] = {
    "dental": ("health", "dental (口腔/牙科)"),
    "cosmetic": ("health", "cosmetic (整形/美容)"),
    "veterinary": ("health", "pet or veterinary (宠物/动物医院/兽医)"),
    "pharmacy": ("health", "pharmacy (药房/药店)"),
    "disease_control": ("health", "disease-control centre (疾控)"),
    "emergency": ("health", "emergency centre (急救)"),
    "health_check": ("health", "health check centre (体检)"),
    "senior_high": ("school", "senior high school (高级中学/高中)"),
    "vocational": ("school", "vocational school (职业/中专/技校)"),
    "higher_education": ("school", "higher education (高等院校)"),
    "adult_education": ("school", "adult education (成人教育)"),
    "training": ("school", "training or tutoring (培训机构)"),
    "special_education": ("school", "special education school (特殊教育/辅读)"),
    "childcare": ("school", "childcare for ages 0-3 or early education (托育/早教/亲子)"),
    "school_part": ("school", "a building inside a school (学校内部设施)"),
    "not_elderly": ("elderly", "social facility not for the elderly (social_facility:for)"),
}

# Outcomes are canonical keys or "-<exclusion code>".


def _x(code: str) -> str:
    return "-" + code


# Amap / Baidu type segments, compared exactly. Amap POI classification
# (amap_poicode table, 医疗保健服务 09xxxx and 科教文化服务;学校 1412xx);
# Baidu place tags (医疗;…, 教育培训;…).
_SEGMENTS: dict[str, str] = {
    "综合医院": "hospital", "三级甲等医院": "hospital", "卫生院": "township_health_centre",
    "专科医院": "specialty_hospital", "眼科医院": "specialty_hospital", "耳鼻喉医院": "specialty_hospital",
    "胸科医院": "specialty_hospital", "骨科医院": "specialty_hospital", "肿瘤医院": "specialty_hospital",
    "脑科医院": "specialty_hospital", "妇科医院": "specialty_hospital", "精神病医院": "specialty_hospital",
    "传染病医院": "specialty_hospital",
    "口腔医院": _x("dental"), "整形美容": _x("cosmetic"),
    "诊所": "clinic",
    "急救中心": _x("emergency"),
    "疾病预防机构": _x("disease_control"), "疾病预防": _x("disease_control"), "疾控中心": _x("disease_control"),
    "医药保健销售店": _x("pharmacy"), "药房": _x("pharmacy"), "药店": _x("pharmacy"),
    "医疗保健用品": _x("pharmacy"),
    "动物医疗场所": _x("veterinary"), "宠物诊所": _x("veterinary"), "兽医站": _x("veterinary"),
    "体检机构": _x("health_check"),
    "幼儿园": "kindergarten", "小学": "primary_school", "中学": "junior_middle_school",
    "高等院校": _x("higher_education"), "成人教育": _x("adult_education"),
    "职业技术学校": _x("vocational"), "培训机构": _x("training"), "学校内部设施": _x("school_part"),
    "特殊教育学校": _x("special_education"), "亲子教育": _x("childcare"),
}

#: Amap typecodes -> type segment (same table as above).
AMAP_TYPECODES: dict[str, str] = {
    "090100": "综合医院", "090101": "三级甲等医院", "090102": "卫生院",
    "090200": "专科医院", "090201": "整形美容", "090202": "口腔医院", "090203": "眼科医院",
    "090204": "耳鼻喉医院", "090205": "胸科医院", "090206": "骨科医院", "090207": "肿瘤医院",
    "090208": "脑科医院", "090209": "妇科医院", "090210": "精神病医院", "090211": "传染病医院",
    "090300": "诊所", "090400": "急救中心", "090500": "疾病预防机构",
    "090600": "医药保健销售店", "090601": "药房", "090602": "医疗保健用品",
    "090700": "动物医疗场所", "090701": "宠物诊所", "090702": "兽医站",
    "141201": "高等院校", "141202": "中学", "141203": "小学", "141204": "幼儿园",
    "141205": "成人教育", "141206": "职业技术学校", "141207": "学校内部设施",
}

# Head nouns per family: (regex, outcome). The match ending last wins, the
# longer one on a tie (中心幼儿园 over 幼儿园, 高级中学 over 中学).
_HEADS: dict[str, list[tuple[str, str]]] = {
    "health": [
        (r"卫生(服务)?中心", "community_health_centre"),
        (r"精神卫生中心", "specialty_hospital"),
        (r"卫生服务\w{0,4}?站|卫生站|红十字服务站|卫生服务点|卫生服务所|卫生(服务)?\w{0,3}分中心|分中心"
         r"|家庭医生工作站", "community_health_station"),
        (r"卫生室|卫生保健室|卫生所", "village_clinic"),
        (r"卫生院", "township_health_centre"),
        (r"医院|分院|院区|总院|医学中心", "hospital"),
        (r"妇幼保健[院所]|保健院|护理院", "specialty_hospital"),
        (r"门诊部|门诊|诊所|医务室|诊室", "clinic"),
    ],
    "school": [
        (r"幼儿园|幼稚园|幼儿院|托幼|幼教", "kindergarten"),
        (r"(?<![一二三四五六七八九十])中心幼儿园", "central_kindergarten"),
        (r"托儿所|托育|早教|亲子|育儿|看护点", _x("childcare")),
        (r"小学|附小|中心校|[一二三四五六七八九十]小", "primary_school"),
        (r"中学|初中|附中|完全中学|[一二三四五六七八九十]中", "junior_middle_school"),
        (r"(高级中学|高中)(?!.*(附|学校))", _x("senior_high")),  # 晋元高级中学附属学校 is not a senior high
        (r"职业技术学校|职业学校|职校|中专|技校|职业技术学院", _x("vocational")),
        (r"(大学|学院)(?!.*(附|学校|基础教育))", _x("higher_education")),
        (r"培训|辅导|补习|教育服务|教育咨询|有限公司|工作室|俱乐部", _x("training")),
    ],
    "elderly": [
        (r"养老院|敬老院|福利院|养老服务中心|养护院|老年公寓|养老机构|长者照护之家", "elderly_care_centre"),
        (r"日间照料(中心)?|托老所|日托", "elderly_day_care"),
    ],
    "culture": [(r"综合文化站|文化站|文化活动中心|文化中心|文化服务中心", "cultural_station")],
    "sports": [(r"体育场地|运动场|体育场|健身广场", "sports_ground")],
    "market": [(r"农贸市场|菜市场|菜场|农副产品市场", "food_market")],
}
_HEADS_RE = {f: [(re.compile(p), o) for p, o in rules] for f, rules in _HEADS.items()}
# Where any head of a family starts (a zero-width lookahead finds overlapping starts in one pass).
_HEADS_AT = {f: re.compile("(?=(?:" + "|".join(f"(?:{p})" for p, _ in rules) + "))") for f, rules in _HEADS.items()}

# Exclusion words anywhere in a facility name, per family.
_NAME_EXCLUDE: dict[str, list[tuple[str, str]]] = {
    "health": [
        (r"口腔|牙|齿", "dental"),
        (r"整形|美容|医美|植发", "cosmetic"),
        (r"宠物|宠医|动物|兽医|宠仕", "veterinary"),
        (r"药房|药店", "pharmacy"),
        (r"疾病预防控制|疾控", "disease_control"),
        (r"急救|救护站", "emergency"),
        (r"体检", "health_check"),
    ],
    "school": [(r"特殊教育|辅读|启智|培智|聋|盲童", "special_education")],
}
_NAME_EXCLUDE_RE = {f: [(re.compile(p), c) for p, c in rules] for f, rules in _NAME_EXCLUDE.items()}

# Words before a hospital head that make it a specialty hospital (专科).
_SPECIALTY = re.compile(
    r"眼科|眼耳鼻喉|五官科|耳鼻喉|妇产|妇婴|妇幼|妇科|儿童|儿科|肿瘤|精神|胸科|肺科|骨科|骨伤|皮肤|传染|"
    r"公共卫生临床|肛肠|男科|男子|男人|不孕|康复|护理|肝胆|心血管|心胸|心脏|脑科|神经|性病|静脉曲张|胎记|"
    r"风湿|专科|癫痫|结核|乳房|乳腺|泌尿|痔|老年"
)
_REFINABLE = ("emergency", "disease_control")
_DIGITS = re.compile(r"[0-9]+")
_LABELS = {**{lab["zh"]: k for k, lab in CATEGORIES.items()},
           **{re.sub(r"[\s\-]+", "_", lab["en"].strip().lower()): k for k, lab in CATEGORIES.items()}}
_BRACKETS = re.compile(r"[(（【\[][^)）】\]]*[)）】\]]")
_DASH = re.compile(r"\s*[-—－–]+\s*")

# English synonyms, compared after lower-casing and turning spaces/hyphens
# into underscores.
_EN: dict[str, str] = {
    "community_health_center": "community_health_centre",
    "community_health_service_centre": "community_health_centre",
    "community_health_service_center": "community_health_centre",
    "chc": "community_health_centre",
    "community_health_service_station": "community_health_station",
    "health_station": "community_health_station",
    "township_health_center": "township_health_centre",
    "township_hospital": "township_health_centre",
    "township_health_clinic": "township_health_centre",
    "village_health_room": "village_clinic",
    "village_health_station": "village_clinic",
    "general_hospital": "hospital",
    "county_hospital": "hospital",
    "specialist_hospital": "specialty_hospital",
    "specialty_hospital": "specialty_hospital",
    "outpatient_department": "clinic",
    "doctors": "clinic",
    "kindergarden": "kindergarten",
    "preschool": "kindergarten",
    "nursery_school": "kindergarten",
    "township_central_kindergarten": "central_kindergarten",
    "central_kindergarden": "central_kindergarten",
    "primary": "primary_school",
    "elementary_school": "primary_school",
    "junior_high_school": "junior_middle_school",
    "junior_school": "junior_middle_school",
    "middle_school": "junior_middle_school",
    "elderly_care_center": "elderly_care_centre",
    "elderly_care": "elderly_care_centre",
    "nursing_home": "elderly_care_centre",
    "retirement_home": "elderly_care_centre",
    "day_care_centre": "elderly_day_care",
    "day_care_center": "elderly_day_care",
    "elderly_day_care_centre": "elderly_day_care",
    "elderly_day_care_center": "elderly_day_care",
    "cultural_center": "cultural_station",
    "cultural_centre": "cultural_station",
    "community_centre": "cultural_station",
    "sports_centre": "sports_ground",
    "sports_center": "sports_ground",
    "pitch": "sports_ground",
    "stadium": "sports_ground",
    "playground": "sports_ground",
    "marketplace": "food_market",
    "wet_market": "food_market",
    "farmers_market": "food_market",
    "market": "food_market",
    "dentist": _x("dental"), "dental_clinic": _x("dental"), "pharmacy": _x("pharmacy"),
    "chemist": _x("pharmacy"), "veterinary": _x("veterinary"), "veterinary_clinic": _x("veterinary"),
    "animal_hospital": _x("veterinary"), "pet_clinic": _x("veterinary"), "childcare": _x("childcare"),
    "senior_high_school": _x("senior_high"), "high_school": _x("senior_high"),
}

# OSM tags (https://wiki.openstreetmap.org/wiki/Key:amenity, Key:healthcare,
# Key:social_facility). social_facility counts only for the elderly.
_OSM: dict[tuple[str, str], str] = {
    ("amenity", "hospital"): "hospital", ("healthcare", "hospital"): "hospital",
    ("amenity", "clinic"): "clinic", ("healthcare", "clinic"): "clinic",
    ("amenity", "doctors"): "clinic", ("healthcare", "doctor"): "clinic", ("healthcare", "centre"): "clinic",
    ("amenity", "dentist"): _x("dental"), ("healthcare", "dentist"): _x("dental"),
    ("amenity", "pharmacy"): _x("pharmacy"), ("healthcare", "pharmacy"): _x("pharmacy"),
    ("amenity", "veterinary"): _x("veterinary"),
    ("amenity", "kindergarten"): "kindergarten", ("amenity", "childcare"): _x("childcare"),
    ("amenity", "nursing_home"): "elderly_care_centre",
    ("amenity", "community_centre"): "cultural_station",
    ("leisure", "pitch"): "sports_ground", ("leisure", "sports_centre"): "sports_ground",
    ("leisure", "stadium"): "sports_ground", ("amenity", "marketplace"): "food_market",
    ("amenity", "college"): _x("vocational"), ("amenity", "university"): _x("higher_education"),
}
_OSM_ELDERLY_FOR = {"senior", "elderly", "aged", "senior_citizen"}
_OSM_ELDERLY_DAY = {"day_care", "outreach"}
_ISCED = {"0": "kindergarten", "1": "primary_school", "2": "junior_middle_school", "3": _x("senior_high")}


@dataclass(frozen=True)
class Decision:
    """What a rule decided for one raw value (and name).

    Attributes
    ----------
    key : str
        A key of :data:`CATEGORIES`, :data:`DROPPED` or :data:`UNKNOWN`.
    rule : str
        The rule that decided, in words (written to ``categories.csv``).
    reason : str
        For dropped facilities, why (the Account reason); else "".
    also : str
        A second category the raw value names (reported), else "".
    """

    key: str
    rule: str
    reason: str = ""
    also: str = ""


def _norm(text: str) -> str:
    return re.sub(r"[\s\-]+", "_", text.strip().lower())


def _outcome(out: str, rule: str, also: str = "") -> Decision:
    if out.startswith("-"):
        reason = EXCLUSIONS[out[1:]][1]
        return Decision(DROPPED, f"{rule} -> excluded: {reason}", f"excluded: {reason}", also)
    return Decision(out, f"{rule} -> {out}", "", also)


def _head(text: str, families=None) -> tuple[str, str, int, int] | None:
    """(outcome, matched term, start, end) of the head noun of ``text``."""
    best = None
    for fam, rules in _HEADS_RE.items():
        if families is not None and fam not in families:
            continue
        for at in _HEADS_AT[fam].finditer(text):
            for rx, out in rules:
                m = rx.match(text, at.start())
                if m is None or m.end() == m.start():
                    continue
                cand = (m.end(), m.end() - m.start())
                if best is None or cand > best[0]:
                    best = (cand, out, m.group(0), m.start(), m.end())
    return None if best is None else best[1:]


def _core(name: str) -> str:
    """A name without bracketed parts, cut before a dash followed by no category term."""
    core = _BRACKETS.sub("", name).strip()
    parts = _DASH.split(core)
    # 上海长征医院-牛皮癣科室 is the hospital; 零陵中学-东一幼儿园 is the kindergarten.
    if len(parts) > 1 and _head(parts[0]) and not _head("".join(parts[1:])):
        return parts[0]
    return core


def _segment(seg: str) -> tuple[str, str] | None:
    """(outcome, rule) for one type segment: exact table, else its head noun."""
    if seg in _SEGMENTS:
        return _SEGMENTS[seg], f"type segment {seg}"
    h = _head(seg)
    if h and h[3] == len(seg):
        return h[0], f"type segment {seg} (head {h[1]})"
    return None


def _typed(raw: str) -> Decision | None:
    """Amap/Baidu ``大类;中类;小类`` types, ``|`` between several types."""
    found = []
    for alt in raw.split("|"):
        parts = [p.strip() for p in alt.split(";") if p.strip()]
        for seg in reversed(parts):
            hit = _segment(seg)
            if hit:
                found.append(hit)
                break
    if not found:
        return None
    out, rule = found[0]
    keys = [o for o, _ in found if not o.startswith("-")]
    other = next((k for k in keys if k != out and not out.startswith("-")), "")
    if len(found) > 1:
        rule = f"first listed type: {rule}"
    return _outcome(out, rule, other)


def _osm(raw: str) -> Decision | None:
    tags = {}
    for part in re.split(r"[;,|]\s*(?=[\w:]+=)", raw):
        if "=" in part:
            k, v = part.split("=", 1)
            tags[k.strip().lower()] = v.strip().lower()
    if not tags:
        return None
    sf = tags.get("social_facility")
    if tags.get("amenity") == "social_facility" or sf:
        who = set(re.split(r"[;,]", tags.get("social_facility:for", "")))
        if who & _OSM_ELDERLY_FOR:
            key = "elderly_day_care" if sf in _OSM_ELDERLY_DAY else "elderly_care_centre"
            return _outcome(key, f"OSM social_facility={sf} for {tags['social_facility:for']}")
        return _outcome(_x("not_elderly"), f"OSM social_facility={sf} for {tags.get('social_facility:for') or '(not given)'}")
    if tags.get("amenity") == "school":
        levels = [lv for lv in re.split(r"[;,-]", tags.get("isced:level", "")) if lv.strip() in _ISCED]
        if levels:
            outs = [_ISCED[lv.strip()] for lv in levels]
            keys = [o for o in outs if not o.startswith("-")]
            out = keys[-1] if keys else outs[0]
            also = next((k for k in keys if k != out), "")
            return _outcome(out, f"OSM amenity=school, isced:level={tags['isced:level']}", also)
        return None
    for k in ("healthcare", "amenity", "leisure"):
        if (k, tags.get(k)) in _OSM:
            return _outcome(_OSM[(k, tags[k])], f"OSM {k}={tags[k]}")
    return None


def _plain(text: str) -> Decision | None:
    """Planners' words: the head noun of each named part ('A/B', 'A(B)')."""
    core = _BRACKETS.sub("", text).strip()
    parts = [p for p in re.split(r"[/、,，;；]|和|及", core) if p.strip()] or [core]
    found = []
    for p in parts:
        h = _head(p)
        if h:
            found.append((h[0], h[1]))
    # 社区卫生服务中心(站): the bracket replaces the end of the head.
    for inner in re.findall(r"[(（]([^)）]{1,4})[)）]", text):
        h = _head(core)
        if h:
            for cut in range(1, 4):
                alt = _head(core[: h[3] - cut] + inner)
                if alt and alt[0] != h[0] and alt[3] == len(core[: h[3] - cut] + inner):
                    found.append((alt[0], alt[1]))
                    break
    if not found:
        return None
    out, term = found[0]
    other = next((o for o, _ in found if o != out and not o.startswith("-")), "")
    rule = f"term {term}" + (" (first named)" if other else "")
    return _outcome(out, rule, other)


def classify_type(raw, extra: dict[str, str] | None = None) -> Decision:
    """Decide a raw category value alone (no name).

    Parameters
    ----------
    raw : str
        Category as written in the input file.
    extra : dict, optional
        Scenario ``[categories]``: raw value -> canonical key or ``"ignore"``.

    Returns
    -------
    Decision
    """
    if raw is None or (isinstance(raw, float) and np.isnan(raw)) or not str(raw).strip():
        return Decision(UNKNOWN, "blank category")
    text = str(raw).strip()
    if extra:
        hit = extra.get(text, {k.strip(): v for k, v in extra.items()}.get(text))
        if hit == IGNORE:
            return Decision(DROPPED, "scenario [categories]: ignore", "category ignored by the scenario")
        if hit is not None:
            return Decision(hit, f"scenario [categories] -> {hit}")
    k = _norm(text)
    if k in CATEGORIES:
        return Decision(k, "canonical key")
    if k in _EN:
        return _outcome(_EN[k], f"English term {text!r}")
    key = _LABELS.get(text) or _LABELS.get(k)
    if key:
        return Decision(key, f"label {text} -> {key}")
    if re.fullmatch(r"\d{6}(\s*\|\s*\d{6})*", text):
        segs = [AMAP_TYPECODES.get(c.strip(), "") for c in text.split("|")]
        d = _typed("|".join(segs)) if any(segs) else None
        return Decision(d.key, f"Amap typecode {text}: " + d.rule, d.reason, d.also) if d else Decision(
            UNKNOWN, f"Amap typecode {text} is not a facility type")
    if "=" in text:
        d = _osm(text)
        return d or Decision(UNKNOWN, "OSM tags of no facility category")
    if ";" in text or "|" in text:
        d = _typed(text)
        return d or Decision(UNKNOWN, "type of no facility category")
    return _plain(text) or Decision(UNKNOWN, "no rule")


def classify(raw, name: str = "", extra: dict[str, str] | None = None) -> Decision:
    """Decide one facility from its raw category and its name.

    The raw value decides (:func:`classify_type`); the name then refines it
    within its family: exclusion words (口腔, 宠物, 急救, …), the head noun
    (…社区卫生服务站, …医院, …门诊部) and, for hospitals, specialty words
    before the head (…儿童医院, …肿瘤医院). Values set by the scenario's
    ``[categories]`` or written as canonical keys are not refined.
    """
    return refine(classify_type(raw, extra), name)


def refine(d: Decision, name: str) -> Decision:
    """Refine a type's :class:`Decision` by the facility's name (see :func:`classify`)."""
    if d.key == UNKNOWN or d.rule.startswith(("scenario", "canonical")) or not name:
        return d
    if d.key == DROPPED:
        # Amap files hospitals' emergency rooms under 急救中心 and health centres' vaccination
        # clinics under 疾病预防: there the name decides; other excluded types stay excluded.
        code = next((c for c in _REFINABLE if d.reason.endswith(EXCLUSIONS[c][1])), None)
        if code is None:
            return d
        fam = EXCLUSIONS[code][0]
        h = _head(_core(str(name)), [fam])
        if h is None or h[0].startswith("-") or any(rx.search(_BRACKETS.sub("", str(name))) for rx, _ in
                                                      _NAME_EXCLUDE_RE.get(fam, [])):
            return d
        d = Decision(h[0], d.rule, "", d.also)
    fam = FAMILY.get(d.key)
    core = _core(str(name))
    for rx, code in _NAME_EXCLUDE_RE.get(fam, []):
        m = rx.search(_BRACKETS.sub("", str(name)))
        if m:
            return Decision(DROPPED, f"{d.rule}; name has {m.group(0)} -> excluded: {EXCLUSIONS[code][1]}",
                            f"excluded: {EXCLUSIONS[code][1]}", d.also)
    if fam == "school" and re.search(r"[(（]高中部?[)）]", str(name)) and "初中" not in str(name):
        return _outcome(_x("senior_high"), f"{d.rule}; name has (高中部)", d.also)
    h = _head(core, [fam])
    if h is None:  # Amap names a part of a facility "part(facility)": 9床病房(上海市儿童医院)
        core = "".join(re.findall(r"[(（]([^)）]*)[)）]", str(name)))
        h = _head(core, [fam])
        if h is None:
            return d
    out, term, start, _ = h
    rule = f"{d.rule}; name head {term}"
    if out == "clinic":  # an outpatient department (门诊/门诊部) of the facility named before it
        prior = _head(core[:start], [fam])
        if prior and prior[0] != "clinic" and not prior[0].startswith("-"):
            out, start, rule = prior[0], prior[2], rule + f" of a {prior[1]}"
    if out == "hospital":
        if d.key == "specialty_hospital":
            out = "specialty_hospital"
        else:
            m = _SPECIALTY.search(core[:start])
            if m:
                out, rule = "specialty_hospital", rule + f" with {m.group(0)}"
    if out == d.key:
        return Decision(d.key, rule + f" -> {out}", d.reason, d.also)
    return _outcome(out, rule, d.also)


def normalise_category(raw, extra: dict[str, str] | None = None) -> str | None:
    """Canonical key for one raw value; ``"ignore"`` if the scenario drops it; None otherwise."""
    d = classify_type(raw, extra)
    if d.rule.startswith("scenario") and d.key == DROPPED:
        return IGNORE
    return d.key if d.key in CATEGORIES else None


def categorise(
    raw: pd.Series, names: pd.Series | None = None, extra: dict[str, str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Classify a column of raw categories (with names) and tabulate the rules used.

    Parameters
    ----------
    raw : Series of str
        Raw category values.
    names : Series of str, optional
        Facility names, same index.
    extra : dict, optional
        Scenario ``[categories]``.

    Returns
    -------
    per_row : DataFrame
        ``key`` (canonical key, ``dropped`` or ``unknown``), ``rule``,
        ``reason`` (why dropped), ``also`` (a second category named), same index.
    table : DataFrame
        ``raw``, ``key``, ``rule``, ``count``: one row per distinct decision,
        most frequent first.
    """
    if names is None:
        names = pd.Series([""] * len(raw), index=raw.index)
    typed: dict = {}
    cache: dict = {}
    rows = []
    for r, n in zip(raw.tolist(), names.fillna("").astype(str).tolist()):
        t = r if isinstance(r, str) else repr(r)
        if t not in typed:
            typed[t] = classify_type(r, extra)
        k = (t, _DIGITS.sub("", n))  # no rule reads ASCII digits: 5号楼 and 6号楼 decide alike
        if k not in cache:
            cache[k] = refine(typed[t], k[1])
        rows.append(cache[k])
    per_row = pd.DataFrame(
        {"key": [d.key for d in rows], "rule": [d.rule for d in rows], "reason": [d.reason for d in rows],
         "also": [d.also for d in rows]},
        index=raw.index,
    )
    table = (
        pd.DataFrame({"raw": raw.astype(str).to_numpy(), "key": per_row["key"].to_numpy(),
                      "rule": per_row["rule"].to_numpy()})
        .groupby(["raw", "key", "rule"], sort=False).size().rename("count").reset_index()
        .sort_values(["count", "raw"], ascending=[False, True], kind="stable").reset_index(drop=True)
    )
    return per_row, table


def known_categories_text() -> str:
    """'community_health_centre (社区卫生服务中心), ...' for messages."""
    return ", ".join(f"{k} ({v['zh']})" for k, v in CATEGORIES.items())


def closest_category(raw: str) -> str:
    """The canonical key whose key, labels or terms are closest to ``raw`` (difflib), else ``"ignore"``."""
    text = str(raw).strip()
    cands: dict[str, str] = {}
    for key, lab in CATEGORIES.items():
        for c in (key, lab["zh"], lab["en"].lower(), *lab["zh"].split("/")):
            cands[c] = key
    for rules in _HEADS.values():
        for pat, out in rules:
            if not out.startswith("-"):
                for term in re.findall(r"[\u4e00-\u9fff]{2,}", pat):
                    cands.setdefault(term, out)
    for en, out in _EN.items():
        if not out.startswith("-"):
            cands.setdefault(en, out)
    probe = text.lower() if text.isascii() else text
    segs = [s for s in re.split(r"[;|]", probe) if s.strip()] or [probe]
    best, score = IGNORE, 0.0
    for s in segs:
        for c, key in cands.items():
            r = difflib.SequenceMatcher(None, s, c).ratio()
            if r > score:
                best, score = key, r
    return best if score >= 0.4 else IGNORE


def unknown_category_problem(file: str, raws: list, rows: list, row_word: str = "rows",
                             listing: str | None = None, row_note: str = "") -> str:
    """One message for unknown categories: every distinct value, rows, known keys, closest fix."""
    from access.sources.crs import format_rows

    values = list(dict.fromkeys(str(r) for r in raws))
    shown = ", ".join(repr(v) for v in values)
    fixes = ", ".join(f'"{v}" = "{closest_category(v)}"' for v in values[:3])
    where = f" (all {len(values)} listed in {listing})" if listing else ""
    return (
        f"{file}: unknown facility categories {shown} in {row_word} {format_rows(rows)}{row_note}{where}. "
        f"Known categories: {known_categories_text()}. Fix: rename them, or map them in the "
        f"scenario's [categories] table, e.g. {fixes} (or = \"ignore\" to leave them out), or set "
        f"[inputs] unknown_categories = \"drop\" to drop every unknown value with a count."
    )


def summary_lines(table: pd.DataFrame | None, top: int = 6) -> list[str]:
    """Console summary of a categories table: kept per category, dropped per reason."""
    if table is None or len(table) == 0:
        return []
    total = int(table["count"].sum())
    kept = table[table["key"] != DROPPED].groupby("key")["count"].sum().sort_values(ascending=False)
    drop = table[table["key"] == DROPPED]
    reasons = drop["rule"].str.extract(r"excluded: (.*)$")[0].fillna(
        drop["rule"].where(~drop["rule"].str.startswith("scenario"), "ignored by the scenario"))
    by_reason = drop.groupby(reasons.str.split(" \\(").str[0])["count"].sum().sort_values(ascending=False)
    fmt = lambda s: ", ".join(f"{k} {int(v)}" for k, v in s.head(top).items()) + (", ..." if len(s) > top else "")  # noqa: E731
    lines = [f"categories: {int(kept.sum())} of {total} facilities kept ({fmt(kept)})"]
    if len(by_reason):
        lines.append(f"categories: {int(by_reason.sum())} dropped ({fmt(by_reason)}); rules per value in categories.csv")
    return lines
