"""Facility categories: raw Chinese/English names -> canonical keys.

Facility tables name their categories in many ways: 社区卫生服务中心,
"community health center", an Amap POI type such as
``医疗保健服务;综合医院;卫生院``. :func:`normalise_category` maps one raw
value to a canonical key of :data:`CATEGORIES` by, in order:

1. the scenario's ``[categories]`` table (exact raw value, after trimming);
   a value of ``"ignore"`` drops such facilities on purpose;
2. the canonical keys themselves and English synonyms (case, spaces and
   hyphens ignored: "Community Health Center" -> community_health_centre);
3. Chinese exact names and substring rules, most specific first (so
   中心幼儿园 is tested before 幼儿园, 社区卫生服务中心 before 卫生服务站,
   中心卫生院/卫生院 before 医院);
4. for Amap-style types "大类;中类;小类" (alternatives separated by "|"),
   the segments of the first alternative from the most specific one back.

:func:`refine_by_name` then uses facility *names* to split categories the
raw type cannot: Amap files every 社区卫生服务中心 under 综合医院;卫生院,
and every 中心幼儿园 under 幼儿园.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

__all__ = [
    "CATEGORIES",
    "IGNORE",
    "normalise_category",
    "categorise",
    "refine_by_name",
    "unknown_category_problem",
    "known_categories_text",
]

#: Canonical key -> labels. Keys are stable: scenarios and circles use them.
CATEGORIES: dict[str, dict[str, str]] = {
    "community_health_centre": {"zh": "社区卫生服务中心", "en": "Community health centre"},
    "community_health_station": {"zh": "社区卫生服务站", "en": "Community health station"},
    "township_health_centre": {"zh": "乡镇卫生院", "en": "Township health centre"},
    "village_clinic": {"zh": "村卫生室", "en": "Village clinic"},
    "hospital": {"zh": "医院", "en": "Hospital"},
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
    "social_facility": "elderly_care_centre",
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
}

# Chinese substring rules, most specific first: the first match wins.
_ZH_RULES: list[tuple[str, str]] = [
    ("社区卫生服务中心", "community_health_centre"),
    ("社区卫生中心", "community_health_centre"),
    ("卫生服务中心", "community_health_centre"),
    ("社区卫生服务站", "community_health_station"),
    ("卫生服务站", "community_health_station"),
    ("中心卫生院", "township_health_centre"),
    ("卫生院", "township_health_centre"),
    ("村卫生室", "village_clinic"),
    ("卫生室", "village_clinic"),
    ("卫生所", "village_clinic"),
    ("门诊部", "clinic"),
    ("诊所", "clinic"),
    ("医务室", "clinic"),
    ("医院", "hospital"),
    ("中心幼儿园", "central_kindergarten"),
    ("幼儿园", "kindergarten"),
    ("幼稚园", "kindergarten"),
    ("小学", "primary_school"),
    ("初级中学", "junior_middle_school"),
    ("初中", "junior_middle_school"),
    ("日间照料", "elderly_day_care"),
    ("托老所", "elderly_day_care"),
    ("养老服务中心", "elderly_care_centre"),
    ("养老院", "elderly_care_centre"),
    ("敬老院", "elderly_care_centre"),
    ("养老机构", "elderly_care_centre"),
    ("老年公寓", "elderly_care_centre"),
    ("综合文化站", "cultural_station"),
    ("文化站", "cultural_station"),
    ("文化活动中心", "cultural_station"),
    ("文化中心", "cultural_station"),
    ("体育场地", "sports_ground"),
    ("运动场", "sports_ground"),
    ("体育场", "sports_ground"),
    ("健身广场", "sports_ground"),
    ("农贸市场", "food_market"),
    ("菜市场", "food_market"),
    ("菜场", "food_market"),
]

# 中学 alone means a junior (or combined junior+senior) middle school, but a
# senior-only school (高中/高级中学) is not in the vocabulary.
_SENIOR = ("高中", "高级中学")

# Never a public service for people, whatever else the text says.
_EXCLUDE = ("宠物", "动物", "兽医", "veterinary", "pet ")

# Names that split a coarse category further (see module docstring).
_REFINE: dict[str, list[tuple[str, str]]] = {
    "township_health_centre": [("社区卫生服务中心", "community_health_centre"),
                               ("社区卫生服务站", "community_health_station")],
    "hospital": [("社区卫生服务中心", "community_health_centre"),
                 ("社区卫生服务站", "community_health_station"),
                 ("卫生院", "township_health_centre")],
    "clinic": [("社区卫生服务中心", "community_health_centre"),
               ("社区卫生服务站", "community_health_station"),
               ("卫生服务站", "community_health_station"),
               ("卫生室", "village_clinic")],
    "kindergarten": [("中心幼儿园", "central_kindergarten")],
}


def _key(text: str) -> str:
    return re.sub(r"[\s\-]+", "_", text.strip().lower())


def _zh(text: str) -> str | None:
    for sub, key in _ZH_RULES:
        if sub in text:
            return key
    if "中学" in text and not any(s in text for s in _SENIOR):
        return "junior_middle_school"
    return None


def normalise_category(raw, extra: dict[str, str] | None = None) -> str | None:
    """Canonical key for one raw category value, or None when unknown.

    Parameters
    ----------
    raw : str
        Category as written in the input file.
    extra : dict, optional
        Scenario ``[categories]`` table: raw value -> canonical key (or
        ``"ignore"``); consulted first, on the trimmed raw value.

    Returns
    -------
    str or None
        A key of :data:`CATEGORIES`, ``"ignore"`` or None.
    """
    if raw is None or (isinstance(raw, float) and np.isnan(raw)):
        return None
    text = str(raw).strip()
    if not text:
        return None
    if extra:
        hit = extra.get(text)
        if hit is None:
            hit = {k.strip(): v for k, v in extra.items()}.get(text)
        if hit is not None:
            return hit
    if any(x in text.lower() for x in _EXCLUDE):
        return None
    k = _key(text)
    if k in CATEGORIES:
        return k
    if k in _EN:
        return _EN[k]
    for key, labels in CATEGORIES.items():
        if text == labels["zh"] or k == _key(labels["en"]):
            return key
    # Amap-style "大类;中类;小类|...": most specific segment first.
    first = text.split("|")[0]
    parts = [p.strip() for p in first.split(";") if p.strip()]
    for part in reversed(parts):
        hit = _zh(part)
        if hit:
            return hit
        pk = _key(part)
        if pk in CATEGORIES:
            return pk
        if pk in _EN:
            return _EN[pk]
    return None


def categorise(
    series: pd.Series, extra: dict[str, str] | None = None, file: str = ""
) -> tuple[pd.Series, np.ndarray]:
    """Map a column of raw categories to canonical keys.

    Parameters
    ----------
    series : Series of str
    extra : dict, optional
        Scenario ``[categories]`` table (see :func:`normalise_category`).
    file : str
        File name, for messages raised by callers.

    Returns
    -------
    canonical : Series of object
        Canonical key, ``"ignore"`` or None (unknown), same index.
    unknown : ndarray of bool
        True where the raw value is not recognised.
    """
    cache: dict = {}
    out = []
    for v in series.tolist():
        key = v if isinstance(v, str) else repr(v)
        if key not in cache:
            cache[key] = normalise_category(v, extra)
        out.append(cache[key])
    canon = pd.Series(out, index=series.index, dtype=object)
    return canon, canon.isna().to_numpy()


def refine_by_name(categories: pd.Series, names: pd.Series) -> pd.Series:
    """Split coarse categories using facility names (see module docstring).

    Only the pairs in ``_REFINE`` apply: a 社区卫生服务中心 filed as a
    township health centre or hospital becomes a community health centre;
    a 中心幼儿园 filed as a kindergarten becomes a central kindergarten.
    """
    out = categories.copy()
    names = names.fillna("").astype(str)
    for base, rules in _REFINE.items():
        mask = (categories == base).to_numpy()
        if not mask.any():
            continue
        sub = names[mask]
        new = sub.map(lambda n: next((k for s, k in rules if s in n), base))
        out.loc[mask] = new.to_numpy()
    return out


def known_categories_text() -> str:
    """'community_health_centre (社区卫生服务中心), ...' for messages."""
    return ", ".join(f"{k} ({v['zh']})" for k, v in CATEGORIES.items())


def unknown_category_problem(file: str, raws: list, rows: list, row_word: str = "rows") -> str:
    """One message for unknown categories: values, rows, known keys, how to extend."""
    from access.sources.crs import format_rows

    values = list(dict.fromkeys(str(r) for r in raws))
    shown = ", ".join(repr(v) for v in values[:8]) + (f", ... ({len(values)} distinct)" if len(values) > 8 else "")
    example = values[0] if values else "卫生服务站"
    return (
        f"{file}: unknown facility categories {shown} in {row_word} {format_rows(rows)}. "
        f"Known categories: {known_categories_text()}. Fix: rename them, or map them in the "
        f"scenario's [categories] table, e.g. \"{example}\" = \"community_health_station\" "
        f"(or = \"ignore\" to leave them out)."
    )
