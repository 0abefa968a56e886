"""Chinese province extracts of OpenStreetMap from Geofabrik (or a mirror).

Licence: OpenStreetMap data is (c) OpenStreetMap contributors, ODbL 1.0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from access.errors import InputError, warn
from access.progress import Progress
from access.sources.download.transfer import (
    DownloadError,
    OfflineError,
    _offline_message,
    base_url_for,
    default_cache_dir,
    download,
    fetch_text,
)
from access.sources.download.verify import check_osm_pbf

#: Geofabrik's folder of Chinese province extracts (Taiwan is one level up, in asia/).
GEOFABRIK_CHINA = "https://download.geofabrik.de/asia/china"


@dataclass(frozen=True)
class Province:
    """A Chinese province-level unit with a Geofabrik extract.

    Attributes
    ----------
    slug : str
        Geofabrik's name, e.g. ``"fujian"`` (``fujian-latest.osm.pbf``).
    zh : str
        Short Chinese name without 省/市/自治区, e.g. ``"福建"``.
    adcode : str
        First two digits of the unit's administrative codes, e.g. ``"35"``.
    aliases : tuple of str
        Other spellings accepted by :func:`find_province`.
    """

    slug: str
    zh: str
    adcode: str
    aliases: tuple[str, ...] = ()


#: All 34 province-level units; every one but Taiwan is under asia/china on Geofabrik.
PROVINCES: tuple[Province, ...] = (
    Province("anhui", "安徽", "34"),
    Province("beijing", "北京", "11", ("peking",)),
    Province("chongqing", "重庆", "50", ("重慶",)),
    Province("fujian", "福建", "35"),
    Province("gansu", "甘肃", "62"),
    Province("guangdong", "广东", "44", ("廣東",)),
    Province("guangxi", "广西", "45", ("guangxizhuang", "廣西")),
    Province("guizhou", "贵州", "52"),
    Province("hainan", "海南", "46"),
    Province("hebei", "河北", "13"),
    Province("heilongjiang", "黑龙江", "23"),
    Province("henan", "河南", "41"),
    Province("hong-kong", "香港", "81", ("hongkong", "xianggang", "hk")),
    Province("hubei", "湖北", "42"),
    Province("hunan", "湖南", "43"),
    Province("inner-mongolia", "内蒙古", "15", ("innermongolia", "neimenggu", "neimongol", "nei-mongol")),
    Province("jiangsu", "江苏", "32"),
    Province("jiangxi", "江西", "36"),
    Province("jilin", "吉林", "22"),
    Province("liaoning", "辽宁", "21"),
    Province("macau", "澳门", "82", ("macao", "aomen", "澳門")),
    Province("ningxia", "宁夏", "64", ("ningxiahui",)),
    Province("qinghai", "青海", "63"),
    Province("shaanxi", "陕西", "61"),
    Province("shandong", "山东", "37"),
    Province("shanghai", "上海", "31"),
    Province("shanxi", "山西", "14"),
    Province("sichuan", "四川", "51"),
    Province("tianjin", "天津", "12"),
    Province("tibet", "西藏", "54", ("xizang",)),
    Province("xinjiang", "新疆", "65", ("xinjianguyghur", "xinjianguygur")),
    Province("yunnan", "云南", "53"),
    Province("zhejiang", "浙江", "33"),
    Province("taiwan", "台湾", "71", ("臺灣", "台灣")),
)

_ZH_SUFFIXES = ("特别行政区", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "省", "市")
_PINYIN_SUFFIXES = ("specialadministrativeregion", "autonomousregion", "municipality", "province", "zizhiqu",
                    "sheng", "shi", "sar")


def _name_key(name: str) -> str:
    s = re.sub(r"[\s\-_'’.]", "", str(name).strip().lower())
    for suf in _ZH_SUFFIXES:
        if s.endswith(suf) and len(s) > len(suf):
            s = s[: -len(suf)]
            break
    if s.isascii():
        for suf in _PINYIN_SUFFIXES:
            if s.endswith(suf) and len(s) > len(suf) + 2:
                s = s[: -len(suf)]
                break
    return s


_BY_KEY: dict[str, Province] = {}
for _p in PROVINCES:
    for _k in (_p.slug, _p.zh, *_p.aliases):
        _BY_KEY[_name_key(_k)] = _p


def find_province(name) -> Province:
    """The province for a Chinese name, pinyin name, Geofabrik slug or adcode.

    Parameters
    ----------
    name : str or int
        E.g. ``"福建"``, ``"福建省"``, ``"Fujian"``, ``"Fujian Province"``,
        ``"inner-mongolia"``, ``"内蒙古自治区"``, ``"35"`` or ``"350102"``
        (an administrative code: its first two digits).

    Raises
    ------
    InputError
        Unknown name; the message lists every known province.
    """
    s = str(name).strip()
    if s.isdigit() and len(s) in (2, 4, 6, 9, 12):
        for p in PROVINCES:
            if p.adcode == s[:2]:
                return p
    p = _BY_KEY.get(_name_key(s))
    if p is None:
        known = ", ".join(f"{q.zh} {q.slug}" for q in PROVINCES)
        raise InputError(f"unknown province {name!r}; give a Chinese or pinyin name or an adcode. Known: {known}.")
    return p


def geofabrik_url(province, base_url: str | None = None) -> str:
    """Address of a province's ``-latest.osm.pbf`` extract.

    Taiwan is not under ``asia/china`` on Geofabrik but beside it
    (``asia/taiwan-latest.osm.pbf``): its address is built from the parent
    of ``base_url``. ``base_url`` defaults to ``$ACCESS_GEOFABRIK_URL``,
    else :data:`GEOFABRIK_CHINA`.
    """
    p = province if isinstance(province, Province) else find_province(province)
    base = base_url_for("geofabrik", base_url, GEOFABRIK_CHINA)
    if p.slug == "taiwan":
        return f"{base.rsplit('/', 1)[0]}/taiwan-latest.osm.pbf"
    return f"{base}/{p.slug}-latest.osm.pbf"


def _parse_md5_file(text: str, url: str) -> str:
    token = text.strip().split()[0].lower() if text.strip() else ""
    if not re.fullmatch(r"[0-9a-f]{32}", token):
        raise DownloadError(f"{url}: expected '<md5>  <file name>' but got {text[:80]!r}; the checksum file is "
                            "damaged or the address is wrong.")
    return token


def geofabrik_extract(province, cache_dir=None, base_url: str | None = None, *, timeout_s: float = 30,
                      retries: int = 3, progress: bool | Progress = True) -> Path:
    """Download a Chinese province's OpenStreetMap extract from Geofabrik.

    The ``.md5`` file published beside the extract is read first; the
    extract is then downloaded (or taken from the cache when its MD5
    matches) and verified. Geofabrik updates extracts daily, so a cached
    file older than today's is downloaded again. Offline with a cached
    extract, the cached file is used with a warning.

    Parameters
    ----------
    province : str or Province
        Chinese or pinyin name, Geofabrik slug or adcode (see
        :func:`find_province`): ``"福建"``, ``"Fujian"``, ``"hong-kong"``.
    cache_dir : str or Path, optional
        Folder for the file (default :func:`default_cache_dir`).
    base_url : str, optional
        Folder of the Chinese provinces on Geofabrik or a mirror; default
        ``$ACCESS_GEOFABRIK_URL``, else :data:`GEOFABRIK_CHINA`. The file
        must also pass :func:`access.sources.download.verify.check_osm_pbf`.
    timeout_s, retries, progress
        As for :func:`download`.

    Returns
    -------
    Path
        ``<cache_dir>/<slug>-latest.osm.pbf``. It covers the whole province;
        the study's roads are read from it (``[inputs] network``).

    Raises
    ------
    InputError
        Unknown province (known ones listed); see :func:`download` for
        download errors.
    """
    p = province if isinstance(province, Province) else find_province(province)
    url = geofabrik_url(p, base_url)
    dest = Path(cache_dir if cache_dir is not None else default_cache_dir()) / url.rsplit("/", 1)[1]
    hint = f"check {url.rsplit('/', 1)[0]} lists {url.rsplit('/', 1)[1]}"
    try:
        md5 = _parse_md5_file(fetch_text(url + ".md5", timeout_s=timeout_s, hint=hint), url + ".md5")
    except OfflineError as exc:
        if dest.exists():
            if check_osm_pbf(dest) is None:
                warn(f"{exc} Using the cached {dest} (whole, but not checked against today's extract).")
                return dest
            dest.unlink()  # a damaged cache is no fallback
        err = OfflineError(_offline_message(url, exc.reason, dest))
        err.reason = exc.reason
        raise err from None
    return download(url, dest, md5=md5, timeout_s=timeout_s, retries=retries, progress=progress, hint=hint,
                    verify=check_osm_pbf)

