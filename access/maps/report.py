"""``report.html``: the document a planning bureau can publish as it is.

A single file to attach to a memo or print on A4: headline figures (each
person counted once), coverage by township for every circle with its scope
and demand group, the ranked gaps, township rules not met, supply against
per-1,000 targets, equity with a Lorenz curve per circle, the standards and
assumptions with their sources, input accounting and the methods. The
Lorenz panels are one SVG data URI (:mod:`access.maps.lorenz`, text drawn by
the browser with the page's fonts); the optional bar chart is a PNG data URI
drawn with Matplotlib's Agg backend. Every table is
numbered and its caption sits in its header, which the print stylesheet
repeats on every page the table spans; rows never split across pages.
Every piece of text goes through :func:`access.maps.text.inert`; the page contains no
JavaScript at all.

Chinese labels of the bar chart need a CJK font (Debian: ``fonts-noto-cjk``).
Without one, it falls back to English labels (and township numbers instead of
Chinese names) rather than drawing empty boxes; the HTML text is unaffected.
"""

from __future__ import annotations

import base64
import io
import math
import numbers
import re
import warnings
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from access.coverage.indicators import outside_any
from access.errors import InputError
from access.maps import labels as L
from access.maps.text import inert

_CJK_PATTERNS = (
    "noto sans cjk", "noto serif cjk", "source han sans", "source han serif",
    "wenquanyi", "wqy", "droid sans fallback", "simhei", "microsoft yahei", "pingfang",
    "ar pl", "hiragino sans gb",
)

_CSS = """
body{font-family:'Noto Sans CJK SC','Microsoft YaHei','PingFang SC','Source Han Sans SC',sans-serif;
 margin:24px auto;max-width:1100px;color:#222;line-height:1.5;padding:0 16px}
h1{font-size:24px;margin-bottom:4px} h2{font-size:18px;border-bottom:2px solid #1a9641;padding-bottom:2px;margin-top:28px}
h3{font-size:15px;margin:18px 0 4px}
table{border-collapse:collapse;margin:8px 0;font-size:13px} th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f0f4f0} td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table:not(#standards) td:first-child{white-space:nowrap}
thead tr.cap th{background:#fff;border:none;border-bottom:1px solid #ccc;font-size:13px;padding:8px 0 4px}
table.wide{font-size:12px}
p.note{color:#444;font-size:13px;margin:4px 0}
.banner{background:#b71c1c;color:#fff;font-weight:bold;padding:8px 12px;border-radius:4px;margin:8px 0}
.meta{color:#666;font-size:12px} img.chart{max-width:100%;border:1px solid #ddd;margin:6px 0}
@page{size:A4;margin:14mm 11mm 14mm 11mm}
@media print{
 body{max-width:none;margin:0;padding:0;font-size:9.5pt;line-height:1.35}
 h1{font-size:17pt}
 /* keep a heading with what follows: the heading claims 35 mm it gives back with a negative margin,
    and a heading cannot break, so one that would sit at the foot of a page moves to the next */
 h2,h3{break-inside:avoid;page-break-inside:avoid;break-after:avoid;page-break-after:avoid}
 h2{font-size:12.5pt;margin:12pt 0 -35mm;padding-bottom:35mm;border-bottom:none;border-top:2px solid #1a9641;padding-top:3pt}
 h3{font-size:10.5pt;margin:9pt 0 -35mm;padding-bottom:35mm}
 p.note{font-size:8.5pt;break-after:avoid;page-break-after:avoid}
 table{font-size:7.8pt;width:100%;page-break-inside:auto} table.wide{font-size:6.6pt}
 th,td{padding:1.5pt 3pt} thead tr.cap th{font-size:8.5pt;padding:2pt 0}
 thead{display:table-header-group}
 tr,img,li{break-inside:avoid;page-break-inside:avoid}
 img.chart{max-height:235mm;border:none}
 #standards tbody td:nth-child(1){width:12%} #standards tbody td:nth-child(2){width:9%}
 #standards tbody td:nth-child(3){width:6%} #standards tbody td:nth-child(4){width:22%} img#chart-coverage_bars{max-height:120mm}
 th,.banner{-webkit-print-color-adjust:exact;print-color-adjust:exact}
}
"""


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def esc(value) -> str:
    """Text -> inert HTML (``None``/NaN -> empty string); see :func:`access.maps.text.inert`."""
    return inert(value)


def fmt_value(value, column: str | None = None) -> str:
    """Numbers for tables: persons with thousands separators, shares as %."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "—"
    if isinstance(value, (bool, np.bool_)):
        return "✓" if value else "✗"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, numbers.Real):
        v = float(value)
        if column is not None and (column.startswith(("share", "svc:")) or column.endswith("_share")
                                   or column == "completeness"):
            return f"{100.0 * v:.1f}%"
        if v.is_integer() and abs(v) >= 1:
            return f"{v:,.0f}"
        return f"{v:,.3g}" if abs(v) < 1 else f"{v:,.1f}"
    return str(value)


def find_cjk_font() -> str | None:
    """Family name of an installed CJK-capable font, registering it with Matplotlib.

    Matplotlib's font cache predates fonts installed later, so system font
    files are scanned when the cache knows none.
    """
    from matplotlib import font_manager as fm

    def candidates() -> list[str]:
        return sorted(
            {f.name for f in fm.fontManager.ttflist if any(p in f.name.lower() for p in _CJK_PATTERNS)},
            # Sans before serif, Simplified Chinese before other CJK variants.
            key=lambda n: ("sans" not in n.lower(), not n.endswith(" SC"), n),
        )

    found = candidates()
    if not found:
        for path in fm.findSystemFonts():
            low = Path(path).name.lower()
            if any(k in low for k in ("cjk", "wqy", "sourcehan", "droidsansfallback", "simhei", "msyh")):
                try:
                    fm.fontManager.addfont(path)
                except Exception:  # unreadable font file: try the next one
                    continue
        found = candidates()
    return found[0] if found else None


def lorenz_curve(x, w=None) -> tuple[np.ndarray, np.ndarray, float]:
    """Lorenz curve and Gini coefficient of ``x`` weighted by ``w``.

    Parameters
    ----------
    x : array-like
        Per-unit value (e.g. share covered, facilities per 1,000 persons), >= 0.
    w : array-like, optional
        Weights (persons); equal weights when omitted.

    Returns
    -------
    population_share, value_share : ndarray
        Cumulative shares from (0, 0) to (1, 1), units sorted by ``x``.
    gini : float
        ``1 - sum((p_i - p_{i-1}) (v_i + v_{i-1}))``; NaN when all values are 0.
    """
    x = np.asarray(x, dtype=float)
    w = np.ones_like(x) if w is None else np.asarray(w, dtype=float)
    keep = np.isfinite(x) & np.isfinite(w) & (w > 0)
    x, w = x[keep], w[keep]
    order = np.argsort(x, kind="stable")
    x, w = x[order], w[order]
    p = np.concatenate([[0.0], np.cumsum(w)])
    v = np.concatenate([[0.0], np.cumsum(x * w)])
    if p[-1] <= 0:
        return np.array([0.0, 1.0]), np.array([0.0, 1.0]), float("nan")
    p /= p[-1]
    if v[-1] <= 0:
        return p, np.zeros_like(p), float("nan")
    v /= v[-1]
    gini = float(1.0 - np.sum(np.diff(p) * (v[1:] + v[:-1])))
    return p, v, gini


def _png_data_uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _circle_lookup(circles) -> dict[str, object]:
    return {c.name: c for c in circles or []}


def _series_label(key: str, circles: dict, lang: str) -> str:
    name = key[len("share_"):] if key.startswith("share_") else key
    return L.circle_label(circles[name], lang) if name in circles else key


def _ascii_or(text: str, fallback: str) -> str:
    return text if str(text).isascii() else fallback


def _mpl(text) -> str:
    """Plain text for Matplotlib: a ``$`` would start mathtext (and may not parse)."""
    return str(text).replace("$", r"\$")


# --------------------------------------------------------------------------
# charts
# --------------------------------------------------------------------------


def _lorenz_series(val) -> tuple[np.ndarray, np.ndarray, float]:
    if isinstance(val, pd.DataFrame):
        return (val["population_share"].to_numpy(float), val["value_share"].to_numpy(float),
                float(val.attrs.get("gini", float("nan"))))
    if isinstance(val, Mapping) and "population_share" in val:
        return (np.asarray(val["population_share"], float), np.asarray(val["value_share"], float),
                float(val.get("gini", float("nan"))))
    x, w = val if isinstance(val, tuple | list) and len(val) == 2 else (val, None)
    return lorenz_curve(x, w)


def _lorenz_chart(lorenz: Mapping, circles: dict, lang: str) -> str | None:
    """One small Lorenz panel per circle (or series), Gini in each title: an SVG data URI."""
    from access.maps.lorenz import Panel, lorenz_svg, svg_data_uri

    panels = []
    for key, val in lorenz.items():
        p, v, gini = _lorenz_series(val)
        title = [_series_label(str(key), circles, lang)]
        if np.isfinite(gini):
            title.append(f"{L.ui('gini', lang)} {gini:.3g}")
        panels.append(Panel(p, v, title))
    if not panels:
        return None
    return svg_data_uri(lorenz_svg(panels, L.ui("lorenz_title", lang), L.ui("lorenz_x", lang),
                                   L.ui("lorenz_y", lang)))


def _bars_chart(bars: pd.DataFrame, circles: dict, lang: str, font: str | None) -> str | None:
    from matplotlib.figure import Figure

    df = bars.copy()
    if "name" in df.columns:
        df = df.set_index("name")
    num = df.select_dtypes(include="number")
    if num.empty:
        return None
    chart_lang = lang if (lang == "en" or font) else "en"
    names = [str(i) for i in num.index]
    if not font:
        names = [_ascii_or(n, f"#{k + 1}") for k, n in enumerate(names)]
    n, k = len(num), len(num.columns)
    fig = Figure(figsize=(7.5, max(2.5, 0.32 * n * max(1, k) ** 0.5 + 1.2)))
    ax = fig.add_subplot(1, 1, 1)
    height = 0.8 / k
    y = np.arange(n)
    scale = 100.0 if float(np.nanmax(num.to_numpy(float), initial=0)) <= 1.0 else 1.0
    for j, col in enumerate(num.columns):
        label = _series_label(str(col), circles, chart_lang)
        if not font:
            label = _ascii_or(label, str(col))
        ax.barh(y + j * height - 0.4 + height / 2, num[col].to_numpy(float) * scale, height, label=_mpl(label))
    ax.set_yticks(y, [_mpl(n) for n in names])
    ax.invert_yaxis()
    if scale == 100.0:
        ax.set_xlim(0, 100)
        ax.set_xlabel(f"{L.ui('share', chart_lang)} (%)")
    ax.set_title(L.ui("coverage_bars", chart_lang))
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    return _png_data_uri(fig)


# --------------------------------------------------------------------------
# HTML pieces
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """A numbered table of the report: its caption repeats with the header on every printed page.

    Attributes
    ----------
    caption : str
    frame : DataFrame
        Columns ``share*``/``*_share`` and shares listed in ``shares`` are shown as %.
    headers : mapping
        Column -> header text.
    key : str
        HTML id.
    wide : bool
        Many columns: printed in a smaller font.
    """

    caption: str
    frame: pd.DataFrame
    headers: Mapping[str, str] = field(default_factory=dict)
    key: str = ""
    wide: bool = False


@dataclass(frozen=True)
class Section:
    """A report section: a heading and blocks in order.

    ``blocks`` hold :class:`Table` objects, ``("p", text)`` paragraphs,
    ``("h3", text)`` sub-headings and ``("img", data_uri, alt)`` charts.
    """

    key: str
    title: str
    blocks: Sequence[object] = ()


def _page(title: str, body: str, lang: str) -> str:
    html_lang = "zh-CN" if lang == "zh" else "en"
    return (
        f"<!DOCTYPE html>\n<html lang='{html_lang}'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        # No scripts in these pages: forbid them outright as defence in depth.
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
        "img-src data: 'self'; style-src 'unsafe-inline'\">"
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>\n{body}\n</body></html>\n"
    )


class _Numbering:
    """Numbers the tables of one page in order: 表 1, 表 2 ... / Table 1, Table 2 ..."""

    def __init__(self, lang: str):
        self.lang, self.n = lang, 0

    def caption(self, text: str) -> str:
        self.n += 1
        return f"表 {self.n}　{text}" if self.lang == "zh" else f"Table {self.n}. {text}"


def _table(df: pd.DataFrame, header_labels: Mapping[str, str] | None = None, caption: str = "",
           key: str = "", wide: bool = False) -> str:
    header_labels = header_labels or {}
    cols = list(df.columns)
    cap = f"<tr class='cap'><th colspan='{max(1, len(cols))}'>{esc(caption)}</th></tr>" if caption else ""
    head = "".join(f"<th>{esc(header_labels.get(c, c))}</th>" for c in cols)
    rows = []
    for rec in df.itertuples(index=False, name=None):
        cells = []
        for c, v in zip(cols, rec):
            is_num = isinstance(v, numbers.Number) and not isinstance(v, bool)
            cls = " class='num'" if is_num else ""
            cells.append(f"<td{cls}>{esc(fmt_value(v, str(c)))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    attrs = (f" id='{esc(key)}'" if key else "") + (" class='wide'" if wide else "")
    return f"<table{attrs}><thead>{cap}<tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _standards_frame(circles, rules, lang: str) -> pd.DataFrame:
    """Circles and township rules: limit, scope, services, source and assumption in ``lang``."""
    sep = "、" if lang == "zh" else "; "
    rows = []
    for c in circles:
        reqs = sep.join(
            f"{L.service_label(k, lang)}（{' / '.join(L.category_label(x, lang) for x in cats)}）"
            if lang == "zh" else
            f"{L.service_label(k, lang)} ({' / '.join(L.category_label(x, lang) for x in cats)})"
            for k, cats in c.requirements.items()
        )
        rows.append({"name": L.circle_label(c, lang), "limit": L.circle_limit(c, lang),
                     "scope": L.scope_label(getattr(c, "scope", "all"), lang), "category": reqs,
                     "source": L.standard_text(c, "source", lang),
                     "assumption": L.standard_text(c, "assumption", lang)})
    for r in rules:
        cats = " / ".join(L.category_label(x, lang) for x in r.categories)
        rows.append({"name": (r.label_zh if lang == "zh" else r.label_en) or r.name,
                     "limit": f"≥ {r.min_count}", "scope": L.ui("rural" if r.rural_only else "scope_all", lang),
                     "category": cats, "source": L.standard_text(r, "source", lang),
                     "assumption": L.standard_text(r, "assumption", lang)})
    return pd.DataFrame(rows, columns=["name", "limit", "scope", "category", "source", "assumption"])


def _render_block(block, numbering: _Numbering) -> str:
    if isinstance(block, Table):
        return _table(block.frame, block.headers, numbering.caption(block.caption), block.key, block.wide)
    kind = block[0]
    if kind == "p":
        return f"<p class='note'>{esc(block[1])}</p>"
    if kind == "h3":
        return f"<h3>{esc(block[1])}</h3>"
    if kind == "img":
        return f"<img class='chart' alt='{esc(block[2])}' src='{esc(block[1])}'>"
    raise ValueError(f"unknown report block {kind!r}")


def _render_section(section: Section, numbering: _Numbering) -> str:
    body = "".join(_render_block(b, numbering) for b in section.blocks)
    return f"<section id='{esc(section.key)}'><h2>{esc(section.title)}</h2>{body}</section>"


# --------------------------------------------------------------------------
# public
# --------------------------------------------------------------------------


def write_report(
    path,
    *,
    title: str,
    headline: Mapping[str, object],
    township_table: pd.DataFrame,
    circles: Sequence = (),
    assumptions: Sequence[str] = (),
    lorenz: Mapping | None = None,
    coverage_bars: pd.DataFrame | None = None,
    lang: str = "zh",
    synthetic: bool = False,
    sort_by: str | None = None,
    ascending: bool = False,
    township_headers: Mapping[str, str] | None = None,
    rules: Sequence = (),
    sections: Sequence[Section] = (),
    appendix: Sequence[Section] = (),
    methods: str = "",
) -> Path:
    """Write ``report.html``: one standalone page, charts embedded, printable on A4.

    Every table is numbered and its caption sits in the table header, so a
    table that runs over a printed page repeats caption and header on the
    next one; rows are never split across pages.

    Parameters
    ----------
    path : str or Path
        Output HTML file.
    title : str
    headline : mapping
        Label -> value, in order (e.g. ``{"人口": 123456, "15分钟生活圈覆盖率": 0.62}``);
        numbers get thousands separators; a float in 0..1 whose label contains
        "share", "率", "比例" or "%" is shown as a percentage; pass text for
        full control.
    township_table : DataFrame
        One row per township, shown in the given order unless ``sort_by`` is set.
        Columns named ``share*`` are shown as percentages.
    circles : sequence of Circle
        Standards applied; label, limit, scope, required services, source, assumption.
    assumptions : sequence of str
        Project assumptions, with their sources in the text.
    lorenz : mapping, optional
        Circle name (or any label) -> ``(x, w)`` arrays (value per unit,
        persons) from which the curve is computed, or precomputed as a
        DataFrame/mapping with ``population_share`` and ``value_share``
        (optional ``gini``). One panel per entry.
    coverage_bars : DataFrame, optional
        Townships as rows (index or a ``name`` column), one numeric column per
        circle (``share_<circle>`` or ``<circle>``, 0..1).
    lang : {"zh", "en"}
    synthetic : bool
        Adds the "synthetic demo data" banner.
    sort_by : str, optional
        Column of ``township_table`` to sort by (descending unless ``ascending``).
    township_headers : mapping, optional
        Extra column -> header text for ``township_table``.
    rules : sequence of TownshipRule
        Listed with the standards.
    sections : sequence of Section
        Shown after the township table and charts, before the standards.
    appendix : sequence of Section
        Shown after the assumptions.
    methods : str
        The methods paragraph, last.

    Returns
    -------
    Path
        The file written.
    """
    L.check_lang(lang)
    path = Path(path)
    if not isinstance(township_table, pd.DataFrame):
        raise InputError(f"township_table: expected a DataFrame, got {type(township_table).__name__}")
    if sort_by is not None:
        if sort_by not in township_table.columns:
            raise InputError(
                f"township_table: sort_by column {sort_by!r} is missing; use one of {list(township_table.columns)}"
            )
        township_table = township_table.sort_values(sort_by, ascending=ascending, kind="stable")
    cmap = _circle_lookup(circles)
    lorenz_uri = _lorenz_chart(lorenz, cmap, lang) if lorenz else None
    bars_uri = None
    if coverage_bars is not None and len(coverage_bars):
        with _chart_fonts() as font:
            bars_uri = _bars_chart(coverage_bars, cmap, lang, font)

    numbering = _Numbering(lang)
    parts = [f"<h1>{esc(title)}</h1>"]
    if synthetic:
        parts.append(f"<div class='banner' id='synthetic'>{esc(L.ui('synthetic_banner', lang))}</div>")
    parts.append(f"<p class='meta'>{esc(L.ui('generated', lang))}: access · {date.today().isoformat()}</p>")

    rows = []
    for k, v in headline.items():
        is_share = isinstance(v, float) and 0.0 <= v <= 1.0 and re.search(r"share|率|比例|%", str(k), re.I)
        shown = fmt_value(v, "share" if is_share else str(k))
        rows.append(f"<tr><th>{esc(k)}</th><td class='num'>{esc(shown)}</td></tr>")
    cap = numbering.caption(L.ui("headline", lang))
    parts.append(f"<h2>{esc(L.ui('headline', lang))}</h2><table id='headline'><thead><tr class='cap'>"
                 f"<th colspan='2'>{esc(cap)}</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")

    parts.append(f"<h2>{esc(L.ui('township_table', lang))}</h2>")
    headers = {k: L.ui(k, lang) for k in ("name", "code", "population", "uncovered", "urban", "gap_rank")}
    headers |= {f"share_{n}": f"{L.circle_label(c, lang)} {L.ui('share', lang)}" for n, c in cmap.items()}
    headers |= {f"covered_{n}": f"{L.circle_label(c, lang)} {L.ui('covered', lang)}" for n, c in cmap.items()}
    headers |= dict(township_headers or {})
    wide = len(township_table.columns) > 8
    parts.append(f"<div id='townships'>"
                 f"{_table(township_table, headers, numbering.caption(L.ui('township_table', lang)), wide=wide)}"
                 "</div>")

    if lorenz_uri or bars_uri:
        parts.append(f"<h2>{esc(L.ui('charts', lang))}</h2>")
        for uri, key in ((lorenz_uri, "lorenz"), (bars_uri, "coverage_bars")):
            if uri:
                parts.append(f"<img class='chart' id='chart-{key}' alt='{esc(L.ui(key, lang))}' src='{uri}'>")

    parts += [_render_section(s, numbering) for s in sections]
    if circles or rules:
        frame = _standards_frame(circles, rules, lang)
        std_headers = {"name": "", "limit": L.ui("limit", lang), "scope": L.ui("scope", lang),
                       "category": L.ui("category", lang), "source": L.ui("source", lang),
                       "assumption": L.ui("assumption", lang)}
        parts.append(f"<h2>{esc(L.ui('standards', lang))}</h2>"
                     f"{_table(frame, std_headers, numbering.caption(L.ui('standards', lang)), 'standards')}")
    if assumptions:
        items = "".join(f"<li>{esc(a)}</li>" for a in assumptions)
        parts.append(f"<h2>{esc(L.ui('assumptions', lang))}</h2><ul id='assumptions'>{items}</ul>")
    parts += [_render_section(s, numbering) for s in appendix]
    if methods:
        parts.append(f"<section id='methods'><h2>{esc(L.ui('methods', lang))}</h2><p>{esc(methods)}</p></section>")

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_page(title, "\n".join(parts), lang), encoding="utf-8")
    return path


@contextmanager
def _chart_fonts():
    """Matplotlib settings for the charts; yields the CJK font family or None."""
    import matplotlib

    font = find_cjk_font()
    rc = {"font.family": ["sans-serif"], "font.sans-serif": ([font] if font else []) + ["DejaVu Sans"],
          "axes.unicode_minus": False}
    with matplotlib.rc_context(rc), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing", category=UserWarning)
        yield font


def write_study_report(study, results, path, *, lang: str | None = None) -> Path:
    """``report.html`` for a study run (called by :mod:`access.outputs`).

    Headline: persons, townships, facilities, each circle's share of the
    persons it applies to, and the persons outside at least one circle,
    each counted once. Then, per circle, coverage by township (scope and
    demand group named), the largest gaps, township rules not met, supply
    against per-1,000 targets, equity with a Lorenz curve per circle, the
    standards and assumptions with their sources, the road components and
    facility categories when the study recorded them, the input accounting
    and the methods. The numbers are those of ``coverage.xlsx``
    (:mod:`access.tables`).
    """
    from access import tables as T

    sc = study.scenario
    lang = L.check_lang(lang or getattr(sc, "lang", "zh") or "zh")
    circles = list(sc.circles)
    cmap = {c.name: c for c in circles}
    cells = results.cells
    total = float(np.nan_to_num(cells["population"].to_numpy(float)).sum())
    head = T.headline(study, results)
    per_circle = head[head["circle"].isin(cmap)]
    overall = head[~head["circle"].isin(cmap)]

    headline: dict[str, object] = {L.ui("population", lang): round(total)}
    if "township" in cells:
        headline[L.ui("township_count", lang)] = int(cells["township"].nunique())
    headline[L.ui("facility_count", lang)] = int(len(results.facilities))
    for row in per_circle.itertuples(index=False):
        headline[f"{L.circle_label(cmap[row.circle], lang)} {L.ui('share', lang)}"] = float(row.share)
    if len(overall):
        headline[L.ui("outside_any", lang)] = round(float(overall["outside"].iloc[0]))
        headline[L.ui("outside_none", lang)] = round(float(overall["covered"].iloc[0]))
    gaps = results.gaps
    if gaps is not None and len(gaps):
        headline[L.ui("gap_count", lang)] = int(len(gaps))

    sections: list[Section] = []
    summary = pd.DataFrame({
        "circle": [L.circle_label(cmap[c], lang) for c in per_circle["circle"]],
        "scope": [L.scope_label(s, lang) for s in per_circle["scope"]],
        "demand": [L.group_label(g, lang) for g in per_circle["demand"]],
        "scope_population": per_circle["population"].to_numpy(float),
        "covered": per_circle["covered"].to_numpy(float),
        "outside": per_circle["outside"].to_numpy(float),
        "share": per_circle["share"].to_numpy(float),
    })
    sections.append(Section("circles", L.ui("circle_summary", lang),
                            [Table(L.ui("circle_summary", lang), T.rounded(summary), _headers(summary, lang),
                                   key="circle-summary")]))

    table = pd.DataFrame()
    if "township" in cells:
        cov = T.unit_coverage(study, cells, "township", lang)
        table = _township_overview(study, cells, cov, lang)
        blocks: list[object] = []
        for c in circles:
            part = cov[cov["circle_key"] == c.name]
            if not len(part):
                continue
            # townships outside the circle's scope have no persons it applies to
            units = part[(part["code"] != "total") & (part["scope_population"] > 0)]
            units = units.sort_values("outside", ascending=False, kind="stable")
            part = pd.concat([units, part[part["code"] == "total"]])
            show = part.drop(columns=["circle_key", "code", "circle", "scope", "demand"]).dropna(axis=1, how="all")
            if len(c.requirements) == 1:  # completeness and the one service's share equal the share
                show = show.drop(columns=[k for k in show.columns if k == "completeness" or k.startswith("svc:")])
            blocks.append(("h3", L.circle_label(c, lang)))
            blocks.append(("p", L.ui("circle_heading", lang).format(
                scope=part["scope"].iloc[0], demand=part["demand"].iloc[0], limit=L.circle_limit(c, lang))))
            blocks.append(Table(f"{L.circle_label(c, lang)}：{L.ui('coverage_by_township', lang)}" if lang == "zh"
                                else f"{L.circle_label(c, lang)}: {L.ui('coverage_by_township', lang)}",
                                T.rounded(show), _headers(show, lang), key=f"coverage-{c.name}",
                                wide=len(show.columns) > 9))
        blocks.append(("p", L.ui("unreachable_note", lang)))
        sections.append(Section("coverage", L.ui("coverage_by_township", lang), blocks))

    top = 10
    gap_rows = T.gaps_table(study, gaps, lang, top=top).drop(columns=["township_code"])
    if len(gap_rows):
        sections.append(Section("gaps", L.ui("gap_list", lang), [
            ("p", L.ui("gap_list_note", lang).format(k=top)),
            Table(L.ui("gap_list", lang), T.rounded(gap_rows), _headers(gap_rows, lang), key="gap-list", wide=True)]))

    rules = T.rules_table(study, results.rule_failures, lang)
    sections.append(Section("rules", L.ui("rules", lang),
                            [Table(L.ui("rules", lang), T.rounded(rules), _headers(rules, lang), key="rule-failures")]
                            if len(rules) else [("p", L.ui("rules_none", lang))]))

    supply = T.supply_table(study, results, "township", lang)
    if len(supply):
        blocks = []
        for i, (target, part) in enumerate(supply.groupby("target", sort=False)):
            demand = part["demand"].iloc[0]
            part = part.drop(columns=["target", "demand", "code"]).sort_values("shortfall_per_1000",
                                                                               ascending=False, kind="stable")
            blocks += [("h3", target), ("p", f"{L.ui('demand', lang)}{'：' if lang == 'zh' else ': '}{demand}"),
                       Table(target, T.rounded(part), _headers(part, lang), key=f"supply-{i}")]
        sections.append(Section("supply", L.ui("supply", lang), blocks))

    equity_blocks: list[object] = [("p", L.ui("equity_note", lang))]
    eq = T.equity_table(study, results.equity, lang)
    if len(eq):
        equity_blocks.append(Table(L.ui("equity", lang), T.rounded(eq), _headers(eq, lang), key="equity",
                                   wide=len(eq.columns) > 9))
    lorenz = _lorenz_inputs(study, cells)
    if lorenz:
        uri = _lorenz_chart(lorenz, cmap, lang)
        if uri:
            equity_blocks.append(("img", uri, L.ui("lorenz_each", lang)))
    sections.append(Section("equity", L.ui("equity", lang), equity_blocks))

    appendix: list[Section] = []
    comps = getattr(study, "components", None)
    if isinstance(comps, pd.DataFrame) and len(comps):
        show = comps.rename(columns={"persons": "population", "persons_unreachable": "unreachable"}).copy()
        if "mode" in show:
            show["mode"] = [L.mode_label(m, lang) for m in show["mode"]]
        if "reason" in show:
            show["reason"] = [L.reason_label(r, lang) for r in show["reason"]]
        if "component" in show:  # -1 stands for the remaining small components
            show["component"] = [str(c) if c >= 0 else "—" for c in show["component"]]
        appendix.append(Section("components", L.ui("components", lang), [
            Table(L.ui("components", lang), T.rounded(show), _headers(show, lang), key="components")]))
    cats = getattr(study, "categories", None)
    if isinstance(cats, pd.DataFrame) and len(cats):
        show = cats.copy()
        if "key" in show:
            show["key"] = [L.ui("dropped_key", lang) if k == "dropped" else L.category_label(k, lang)
                           if isinstance(k, str) and k else "—" for k in show["key"]]
        if "rule" in show:
            show = show.rename(columns={"rule": "decision"})
            show["decision"] = [L.rule_text(r, lang) for r in show["decision"]]
        appendix.append(Section("categories", L.ui("fac_categories", lang), [
            Table(L.ui("fac_categories", lang), T.rounded(show), _headers(show, lang), key="categories")]))
    acc = T.accounting_table(getattr(study, "accounts", []), lang)
    if len(acc):
        blocks = []
        if lang == "zh":  # readers' notes are English prose: kept in run.json
            acc = acc.drop(columns=["notes"])
            acc = acc[(acc["read"] > 0) | (acc["dropped"] != "")]  # steps that only left notes
            blocks.append(("p", L.ui("notes_in_run", lang)))
        acc = acc.dropna(axis=1, how="all")
        appendix.append(Section("accounting", L.ui("accounting", lang), [
            Table(L.ui("accounting", lang), T.rounded(acc), _headers(acc, lang), key="accounting", wide=True),
            *blocks]))

    assumptions = [L.ui("snap_assumption", lang).format(m=sc.snap_max_m)]
    if getattr(sc, "search_minutes", None):
        assumptions.append(L.ui("search_assumption", lang).format(m=sc.search_minutes))
    return write_report(
        path,
        title=sc.name,
        headline=headline,
        township_table=table,
        township_headers=_headers(table, lang) | {"uncovered": L.ui("outside_any_short", lang)} | {
            f"share_{n}": f"{L.circle_label(c, lang)} {L.ui('share', lang)}" for n, c in cmap.items()},
        circles=circles,
        rules=list(getattr(sc, "township_rules", [])),
        assumptions=assumptions,
        lang=lang,
        synthetic=bool(getattr(sc, "synthetic", False)),
        sections=sections,
        appendix=appendix,
        methods=L.ui("methods_text", lang),
    )


def _headers(frame: pd.DataFrame, lang: str) -> dict[str, str]:
    from access.tables import header

    return {c: header(c, lang) for c in frame.columns}


def _township_overview(study, cells: pd.DataFrame, cov: pd.DataFrame, lang: str):
    """Townships by persons outside at least one circle, with each circle's share."""
    from access import tables as T

    out = outside_any(cells, [c for c in study.scenario.circles if f"in_{c.name}" in cells])
    pop = np.nan_to_num(cells["population"].to_numpy(float))
    codes = cells["township"].astype("string").fillna("?")
    per = pd.DataFrame({"code": codes, "population": pop, "uncovered": pop * out}).groupby("code", sort=True).sum()
    units = cov[cov["code"] != "total"]
    names = units.drop_duplicates("code").set_index("code")["name"]
    table = pd.DataFrame({"name": names.reindex(per.index).to_numpy(), "population": per["population"].to_numpy(),
                          "uncovered": per["uncovered"].to_numpy()}, index=per.index)
    for key, part in units.groupby("circle_key", sort=False):
        table[f"share_{key}"] = part.set_index("code")["share"].reindex(per.index).to_numpy()
    table = table.sort_values("uncovered", ascending=False, kind="stable").reset_index(drop=True)
    return T.rounded(table)


def _lorenz_inputs(study, cells: pd.DataFrame) -> dict:
    """Circle -> (service completeness per cell, persons of the circle's group in scope)."""
    from access import tables as T

    groups = T.circle_groups(study, cells)
    out = {}
    for c in study.scenario.circles:
        flags = [f"in_{c.name}__{s}" for s in c.requirements if f"in_{c.name}__{s}" in cells]
        if not flags:
            continue
        x = cells[flags].fillna(False).to_numpy(bool).mean(axis=1)
        out[c.name] = (x, T.circle_weights(cells, c, groups[c.name][0]))
    return out
