"""``index.html``: the front door of an output folder.

It links every file the folder holds (maps of the whole study and of each
county, their offline copies, the report, the tables and the data files),
each with one line saying what it is. The page has no script at all and
forbids them by its Content-Security-Policy; all text goes through
:func:`access.maps.text.inert`.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import quote

from access.errors import InputError
from access.maps import labels as L
from access.maps.text import inert

# File name pattern -> (section, zh, en). First match wins; files matching
# nothing are listed under "other files" with no description.
FILES: tuple[tuple[str, str, str, str], ...] = (
    ("map.html", "maps", "研究区总图：各生活圈覆盖率（单选）、服务缺口、服务范围、设施",
     "Study-area map: coverage per circle (one at a time), gaps, service areas, facilities"),
    ("map_*_offline.html", "maps", "县级地图离线版（单个文件，无底图，无需网络）",
     "County map, offline copy (one file, no basemap, no network needed)"),
    ("map_offline.html", "maps", "研究区总图离线版（单个文件，无底图，无需网络）",
     "Study-area map, offline copy (one file, no basemap, no network needed)"),
    ("map_*.html", "maps", "县级地图", "County map"),
    ("report.html", "report", "报告：主要指标、各乡镇覆盖率、服务缺口、标准与假设（可打印）",
     "Report: headline figures, coverage by township, gaps, standards and assumptions (printable)"),
    ("coverage.xlsx", "tables", "Excel 工作簿：县、乡镇两级的覆盖率、缺口、规则、供给与公平性，每个主题一张表",
     "Excel workbook: coverage, gaps, rules, supply and equity by county and township, one sheet per topic"),
    ("coverage_county.csv", "tables", "各县覆盖人口与覆盖率（按生活圈与设施类别），末行为合计",
     "Coverage by county (persons and shares per circle and category), last row the total"),
    ("coverage_township.csv", "tables", "各乡镇/街道覆盖人口与覆盖率（按生活圈与设施类别）",
     "Coverage by township (persons and shares per circle and category)"),
    ("equity.csv", "tables", "公平性指标：基尼系数、泰尔指数（县间/县内）、帕尔玛比值、城乡差距",
     "Equity: Gini, Theil T (between/within counties), Palma ratio, urban-rural gap"),
    ("gaps.csv", "tables", "服务缺口排序：所在乡镇、人口、缺少的服务、现状可达时间、最近设施",
     "Ranked gaps: township, persons, missing services, current time, nearest facility"),
    ("categories.csv", "tables", "设施类别识别：原始类别、标准类别（或舍弃）、判定规则、数量",
     "Facility classification: raw value, canonical category (or dropped), rule, count"),
    ("capacity_township.csv", "tables", "各乡镇在时间限值与设施容量（床位、学位等）内获得服务的人口",
     "Persons per township served within the time limit and facility capacity (beds, places)"),
    ("capacity_facilities.csv", "tables", "各设施的容量与负荷（就近分配）",
     "Each facility's capacity and load (nearest demand served first)"),
    ("capacity*.csv", "tables", "按设施容量（床位、学位等）分配的覆盖与负荷",
     "Coverage allocated within facility capacity (beds, places) and facility load"),
    ("headline.csv", "tables", "主要指标：各生活圈未覆盖人口（不重复计人）与任一生活圈未覆盖人口",
     "Headline figures: persons outside each circle and outside any circle, each person counted once"),
    ("completeness_township.csv", "tables", "各乡镇设施完备度（生活圈服务项可达比例）",
     "Service completeness per township (share of a circle's services within reach)"),
    ("supply_township.csv", "tables", "各乡镇每千人供给（两步移动搜索法）与目标差距",
     "Supply per 1,000 persons per township (2SFCA) against targets"),
    ("township_rules.csv", "tables", "未满足乡镇配置规则的乡镇（如中心幼儿园、卫生院）",
     "Townships failing a per-township rule (central kindergarten, health centre)"),
    ("data_dictionary*", "tables", "数据字典：各表列名、单位与含义", "Data dictionary: columns, units and meaning"),
    ("*.csv", "tables", "表格（CSV，UTF-8）", "Table (CSV, UTF-8)"),
    ("cells.parquet", "data", "逐个人口格网的出行时间、覆盖与所属乡镇（Parquet）",
     "Every population cell: travel times, circles, township (Parquet)"),
    ("gaps.gpkg", "data", "全部服务缺口多边形（GeoPackage，可在 QGIS 中打开）",
     "Every gap polygon (GeoPackage, opens in QGIS)"),
    ("service_areas.gpkg", "data", "各生活圈、各设施类别的服务范围多边形（GeoPackage）",
     "Service-area polygons per circle and category (GeoPackage)"),
    ("proposed_sites.gpkg", "data", "建议新增设施点位（GeoPackage）", "Proposed new sites (GeoPackage)"),
    ("*.gpkg", "data", "空间数据（GeoPackage）", "Spatial data (GeoPackage)"),
    ("run.json", "data", "运行记录：情景、软件版本、输入核算、各文件校验值、耗时",
     "Run record: scenario, software versions, input accounting, file checksums, timings"),
)
SECTIONS = ("maps", "report", "tables", "data", "other")

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")

_CSS = """
body{font-family:'Noto Sans CJK SC','Microsoft YaHei','PingFang SC','Source Han Sans SC',sans-serif;
 margin:24px auto;max-width:900px;color:#222;line-height:1.5;padding:0 16px}
h1{font-size:24px;margin-bottom:4px} h2{font-size:18px;border-bottom:2px solid #1a9641;padding-bottom:2px;margin-top:24px}
.banner{background:#b71c1c;color:#fff;font-weight:bold;padding:8px 12px;border-radius:4px;margin:8px 0}
ul.files{list-style:none;padding:0} ul.files li{border:1px solid #ddd;border-radius:6px;padding:8px 12px;margin:8px 0;background:#fafafa}
ul.files a{font-size:16px;font-weight:bold;color:#0b5394} .meta{color:#666;font-size:12px}
"""


def map_stem(county_code) -> str:
    """File stem of a county's map: ``map_<code>``, anything but ASCII letters and digits as ``_``."""
    return "map_" + "".join(ch if (ch.isascii() and ch.isalnum()) else "_" for ch in str(county_code))


def describe(name: str, lang: str = "zh") -> tuple[str, str]:
    """(section, one-line description) of an output file name."""
    for pattern, section, zh, en in FILES:
        if fnmatch.fnmatchcase(name, pattern):
            return section, zh if lang == "zh" else en
    return "other", ""


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return ""


def _page(title: str, sections: Sequence[tuple[str, str, Sequence[tuple[str, str, str]]]],
          lang: str, synthetic: bool) -> str:
    problems = []
    body = [f"<h1>{inert(title)}</h1>"]
    if synthetic:
        body.append(f"<div class='banner' id='synthetic'>{inert(L.ui('synthetic_banner', lang))}</div>")
    for key, heading, entries in sections:
        items = []
        for i, entry in enumerate(entries):
            try:
                name, rel, summary = entry
            except (TypeError, ValueError):
                problems.append(f"{key}[{i}]: expected (title, relative_path, summary), got {entry!r}")
                continue
            rel = str(rel).replace("\\", "/")
            if _SCHEME.match(rel) or rel.startswith("/"):
                problems.append(f"{key}[{i}]: path {rel!r} must be relative to the index page, e.g. 'county/map.html'")
                continue
            href = quote(rel, safe="/._-~")
            items.append(
                f"<li><a href='{inert(href)}'>{inert(name)}</a>"
                f"<div>{inert(summary)}</div><div class='meta'>{inert(rel)}</div></li>"
            )
        if items:
            body.append(f"<h2>{inert(heading)}</h2><ul class='files' id='{key}'>{''.join(items)}</ul>")
    if problems:
        raise InputError(problems)
    html_lang = "zh-CN" if lang == "zh" else "en"
    return (
        f"<!DOCTYPE html>\n<html lang='{html_lang}'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        f"<title>{inert(title)}</title><style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def index_page(
    maps: Sequence[tuple[str, str, str]],
    path,
    title: str,
    lang: str = "zh",
    *,
    synthetic: bool = False,
) -> Path:
    """Write an index page linking the given maps.

    Parameters
    ----------
    maps : sequence of (title, relative_path, summary)
        ``relative_path`` is relative to the index file (e.g. ``"350181/map.html"``);
        absolute paths and URLs with a scheme (``javascript:``, ``http:``) are refused.
    path : str or Path
        Output HTML file.
    title : str
    lang : {"zh", "en"}
    synthetic : bool
        Adds the synthetic-data banner.

    Returns
    -------
    Path
    """
    L.check_lang(lang)
    page = _page(title, [("maps", L.ui("maps", lang), list(maps))], lang, synthetic)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def write_index(
    folder,
    *,
    title: str,
    lang: str = "zh",
    synthetic: bool = False,
    county_names: Mapping[str, str] | None = None,
    pending: Sequence[str] = (),
) -> Path:
    """Write ``folder/index.html`` listing every file in ``folder``.

    Parameters
    ----------
    folder : str or Path
        The output folder; files directly in it are listed (folders such as
        ``lib/`` that maps load from are not).
    title : str
        The study's name.
    lang : {"zh", "en"}
    synthetic : bool
        Adds the synthetic-data banner.
    county_names : mapping, optional
        Map file stem (``map_350181``) -> county name, shown as the link text.
    pending : sequence of str
        File names written after the index (e.g. ``run.json``), listed too.

    Returns
    -------
    Path
    """
    L.check_lang(lang)
    folder = Path(folder)
    county_names = dict(county_names or {})
    names = {p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")}
    names |= set(pending)
    names.discard("index.html")
    order = {pattern: i for i, (pattern, *_rest) in enumerate(FILES)}
    grouped: dict[str, list[tuple[object, str, tuple[str, str, str]]]] = {s: [] for s in SECTIONS}
    for name in names:
        section, line = describe(name, lang)
        stem = name.removesuffix(".html").removesuffix("_offline")
        label = name
        if stem in county_names:
            label = f"{county_names[stem]} · {name}"
        elif name in ("map.html", "map_offline.html"):
            label = f"{title} · {name}"
        p = folder / name
        size = _size(p.stat().st_size) if p.is_file() else ""
        rank = next((order[pat] for pat in order if fnmatch.fnmatchcase(name, pat)), len(order))
        if section == "maps":  # study map, its offline copy, then county by county
            rank = (stem != "map", stem, name.endswith("_offline.html"))
        grouped[section].append((rank, name, (label, name, f"{line} {('· ' + size) if size else ''}".strip())))
    headings = {"maps": "index_maps", "report": "index_report", "tables": "index_tables",
                "data": "index_data", "other": "index_other"}
    sections = [
        (s, L.ui(headings[s], lang), [e for _r, _n, e in sorted(grouped[s], key=lambda t: (t[0], t[1]))])
        for s in SECTIONS
    ]
    path = folder / "index.html"
    path.write_text(_page(title, sections, lang, synthetic), encoding="utf-8")
    return path


def write_study_index(study, folder, *, lang: str | None = None, pending: Sequence[str] = ()) -> Path:
    """:func:`write_index` for a study run: title, banner and county names from ``study``."""
    sc = study.scenario
    names = {}
    counties = getattr(study, "counties", None)
    if counties is not None and "code" in counties.columns:
        for code, name in zip(counties["code"], counties["name"] if "name" in counties.columns else counties["code"]):
            names[map_stem(code)] = str(name)
    return write_index(folder, title=sc.name, lang=lang or getattr(sc, "lang", "zh") or "zh",
                       synthetic=bool(getattr(sc, "synthetic", False)), county_names=names, pending=pending)


__all__ = ["index_page", "write_index", "write_study_index", "describe", "map_stem", "FILES"]
