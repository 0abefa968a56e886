"""Standalone HTML outputs: the map index page and report.html.

``report.html`` is a single file a planning office can attach to a memo:
headline figures, the township table sorted by gap, Lorenz curves and
coverage bars (PNG embedded as data URIs, drawn with Matplotlib's Agg
backend), the standards applied with their sources, and the assumptions.
Every piece of text is escaped with ``html.escape``; the pages contain no
JavaScript at all.

Chinese chart labels need a CJK font (Debian: ``fonts-noto-cjk``). Without
one, charts fall back to English labels (and township numbers instead of
Chinese names) rather than drawing empty boxes; the HTML text is unaffected.
"""

from __future__ import annotations

import base64
import html
import io
import math
import numbers
import re
import warnings
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd

from access.errors import InputError
from access.maps import labels as L

_CJK_PATTERNS = (
    "noto sans cjk", "noto serif cjk", "source han sans", "source han serif",
    "wenquanyi", "wqy", "droid sans fallback", "simhei", "microsoft yahei", "pingfang",
    "ar pl", "hiragino sans gb",
)

_CSS = """
body{font-family:'Noto Sans CJK SC','Microsoft YaHei','PingFang SC','Source Han Sans SC',sans-serif;
 margin:24px auto;max-width:1050px;color:#222;line-height:1.5;padding:0 16px}
h1{font-size:24px;margin-bottom:4px} h2{font-size:18px;border-bottom:2px solid #1a9641;padding-bottom:2px;margin-top:28px}
table{border-collapse:collapse;margin:8px 0;font-size:13px} th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f0f4f0} td.num{text-align:right;font-variant-numeric:tabular-nums}
.banner{background:#b71c1c;color:#fff;font-weight:bold;padding:8px 12px;border-radius:4px;margin:8px 0}
.meta{color:#666;font-size:12px} img.chart{max-width:100%;border:1px solid #ddd;margin:6px 0}
ul.maps{list-style:none;padding:0} ul.maps li{border:1px solid #ddd;border-radius:6px;padding:10px 14px;margin:10px 0;background:#fafafa}
ul.maps a{font-size:17px;font-weight:bold;color:#0b5394}
"""


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def esc(value) -> str:
    """Text -> HTML-safe text (``None``/NaN -> empty string)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return html.escape(str(value), quote=True)


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
        if column is not None and (column.startswith("share") or column.endswith("_share")):
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


def _lorenz_chart(lorenz: Mapping, circles: dict, lang: str, font: str | None) -> str | None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    chart_lang = lang if (lang == "en" or font) else "en"
    fig = Figure(figsize=(6.0, 5.0))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([0, 1], [0, 1], color="#888", linestyle="--", label=L.ui("equality", chart_lang))
    drawn = 0
    for key, val in lorenz.items():
        if isinstance(val, pd.DataFrame):
            p, v = val["population_share"].to_numpy(float), val["value_share"].to_numpy(float)
            gini = float(val.attrs.get("gini", float("nan")))
        elif isinstance(val, Mapping) and "population_share" in val:
            p, v = np.asarray(val["population_share"], float), np.asarray(val["value_share"], float)
            gini = float(val.get("gini", float("nan")))
        else:
            x, w = val if isinstance(val, tuple | list) and len(val) == 2 else (val, None)
            p, v, gini = lorenz_curve(x, w)
        label = _series_label(str(key), circles, chart_lang)
        if not font:
            label = _ascii_or(label, str(key))
        if np.isfinite(gini):
            label = f"{label} ({L.ui('gini', chart_lang)} {gini:.3f})"
        ax.plot(p, v, marker=".", label=_mpl(label))
        drawn += 1
    if not drawn:
        return None
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel(L.ui("lorenz_x", chart_lang))
    ax.set_ylabel(L.ui("lorenz_y", chart_lang))
    ax.set_title(L.ui("lorenz", chart_lang))
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    return _png_data_uri(fig)


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


def _table(df: pd.DataFrame, header_labels: Mapping[str, str] | None = None) -> str:
    header_labels = header_labels or {}
    cols = list(df.columns)
    head = "".join(f"<th>{esc(header_labels.get(c, c))}</th>" for c in cols)
    rows = []
    for rec in df.itertuples(index=False, name=None):
        cells = []
        for c, v in zip(cols, rec):
            is_num = isinstance(v, numbers.Number) and not isinstance(v, bool)
            cls = " class='num'" if is_num else ""
            cells.append(f"<td{cls}>{esc(fmt_value(v, str(c)))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _circles_table(circles, lang: str) -> str:
    rows = []
    for c in circles:
        reqs = "; ".join(
            f"{k}: " + " / ".join(L.category_label(x, lang) for x in cats) for k, cats in c.requirements.items()
        )
        rows.append(
            "<tr>"
            f"<td>{esc(L.circle_label(c, lang))}</td><td>{esc(L.circle_limit(c, lang))}</td>"
            f"<td>{esc(reqs)}</td><td>{esc(c.source)}</td><td>{esc(c.assumption)}</td>"
            "</tr>"
        )
    head = "".join(
        f"<th>{esc(h)}</th>"
        for h in ("", L.ui("limit", lang), L.ui("category", lang), L.ui("source", lang), L.ui("assumption", lang))
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


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
) -> Path:
    """Write ``report.html``: one standalone page, charts embedded.

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
        Standards applied; label, limit, required services, source, assumption.
    assumptions : sequence of str
        Project assumptions, with their sources in the text.
    lorenz : mapping, optional
        Circle name (or any label) -> ``(x, w)`` arrays (value per township,
        persons) from which the curve is computed, or precomputed as a
        DataFrame/mapping with ``population_share`` and ``value_share``
        (optional ``gini``).
    coverage_bars : DataFrame, optional
        Townships as rows (index or a ``name`` column), one numeric column per
        circle (``share_<circle>`` or ``<circle>``, 0..1).
    lang : {"zh", "en"}
    synthetic : bool
        Adds the "synthetic demo data" banner.
    sort_by : str, optional
        Column of ``township_table`` to sort by (descending unless ``ascending``).

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
    font = find_cjk_font()

    import matplotlib

    rc = {"font.family": ["sans-serif"], "font.sans-serif": ([font] if font else []) + ["DejaVu Sans"],
          "axes.unicode_minus": False}
    with matplotlib.rc_context(rc), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing", category=UserWarning)
        lorenz_uri = _lorenz_chart(lorenz, cmap, lang, font) if lorenz else None
        bars_uri = (
            _bars_chart(coverage_bars, cmap, lang, font)
            if coverage_bars is not None and len(coverage_bars)
            else None
        )

    parts = [f"<h1>{esc(title)}</h1>"]
    if synthetic:
        parts.append(f"<div class='banner' id='synthetic'>{esc(L.ui('synthetic_banner', lang))}</div>")
    parts.append(f"<p class='meta'>{esc(L.ui('generated', lang))}: access · {date.today().isoformat()}</p>")

    parts.append(f"<h2>{esc(L.ui('headline', lang))}</h2><table id='headline'>")
    for k, v in headline.items():
        is_share = isinstance(v, float) and 0.0 <= v <= 1.0 and re.search(r"share|率|比例|%", str(k), re.I)
        shown = fmt_value(v, "share" if is_share else str(k))
        parts.append(f"<tr><th>{esc(k)}</th><td class='num'>{esc(shown)}</td></tr>")
    parts.append("</table>")

    parts.append(f"<h2>{esc(L.ui('township_table', lang))}</h2>")
    headers = {k: L.ui(k, lang) for k in ("name", "code", "population", "uncovered", "urban", "gap_rank")}
    headers |= {f"share_{n}": f"{L.circle_label(c, lang)} {L.ui('share', lang)}" for n, c in cmap.items()}
    headers |= {f"covered_{n}": f"{L.circle_label(c, lang)} {L.ui('covered', lang)}" for n, c in cmap.items()}
    parts.append(f"<div id='townships'>{_table(township_table, headers)}</div>")

    if lorenz_uri or bars_uri:
        parts.append(f"<h2>{esc(L.ui('charts', lang))}</h2>")
        for uri, key in ((lorenz_uri, "lorenz"), (bars_uri, "coverage_bars")):
            if uri:
                parts.append(f"<img class='chart' id='chart-{key}' alt='{esc(L.ui(key, lang))}' src='{uri}'>")

    if circles:
        parts.append(f"<h2>{esc(L.ui('standards', lang))}</h2>{_circles_table(circles, lang)}")
    if assumptions:
        items = "".join(f"<li>{esc(a)}</li>" for a in assumptions)
        parts.append(f"<h2>{esc(L.ui('assumptions', lang))}</h2><ul id='assumptions'>{items}</ul>")

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_page(title, "\n".join(parts), lang), encoding="utf-8")
    return path


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def index_page(
    maps: Sequence[tuple[str, str, str]],
    path,
    title: str,
    lang: str = "zh",
    *,
    synthetic: bool = False,
) -> Path:
    """Write ``index.html`` linking the study map and one map per county.

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
    problems = []
    items = []
    for i, entry in enumerate(maps):
        try:
            name, rel, summary = entry
        except (TypeError, ValueError):
            problems.append(f"maps[{i}]: expected (title, relative_path, summary), got {entry!r}")
            continue
        rel = str(rel).replace("\\", "/")
        if _SCHEME.match(rel) or rel.startswith("/"):
            problems.append(f"maps[{i}]: path {rel!r} must be relative to the index page, e.g. 'county/map.html'")
            continue
        href = quote(rel, safe="/._-~")
        items.append(
            f"<li><a href='{esc(href)}'>{esc(name)}</a>"
            f"<div>{esc(summary)}</div><div class='meta'>{esc(rel)}</div></li>"
        )
    if problems:
        raise InputError(problems)
    body = [f"<h1>{esc(title)}</h1>"]
    if synthetic:
        body.append(f"<div class='banner' id='synthetic'>{esc(L.ui('synthetic_banner', lang))}</div>")
    body.append(f"<h2>{esc(L.ui('maps', lang))}</h2><ul class='maps' id='maps'>{''.join(items)}</ul>")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_page(title, "\n".join(body), lang), encoding="utf-8")
    return path


def write_study_report(study, results, path, *, lang: str | None = None) -> Path:
    """``report.html`` for a study run (called by :mod:`access.outputs`).

    Headline: population (persons, from the cells), share covered per circle
    (covered persons / population over all townships), gap areas and the
    persons in them. Table: townships sorted by persons outside the first
    circle. Lorenz curves: township share covered weighted by population.
    """
    from access.maps.folium_map import township_layer

    sc = study.scenario
    lang = lang or getattr(sc, "lang", "zh") or "zh"
    circles = list(sc.circles)
    pop_total = float(results.cells["population"].sum())
    headline: dict[str, object] = {L.ui("population", lang): round(pop_total)}
    twp = township_layer(study, results)
    table = pd.DataFrame()
    lorenz: dict = {}
    bars = None
    if twp is not None and len(twp):
        pop = pd.to_numeric(twp["population"], errors="coerce")
        cols = {"name": twp["name"].astype(str), "population": pop}
        for c in circles:
            cov = pd.to_numeric(twp[f"covered_{c.name}"], errors="coerce")
            share = pd.to_numeric(twp[f"share_{c.name}"], errors="coerce")
            cols[f"share_{c.name}"] = share
            if cov.notna().any() and pop.sum() > 0:
                headline[f"{L.circle_label(c, lang)} {L.ui('share', lang)}"] = float(cov.sum() / pop[cov.notna()].sum())
                ok = share.notna() & pop.notna()
                lorenz[c.name] = (share[ok].to_numpy(float), pop[ok].to_numpy(float))
        if circles:
            first = circles[0].name
            cols["uncovered"] = pop - pd.to_numeric(twp[f"covered_{first}"], errors="coerce")
        table = pd.DataFrame(cols)
        if "uncovered" in table:
            table = table.sort_values("uncovered", ascending=False, kind="stable", na_position="last")
        share_cols = [f"share_{c.name}" for c in circles]
        bars = table.head(40).set_index("name")[share_cols].dropna(how="all")
    gaps = results.gaps
    if gaps is not None and len(gaps):
        headline[L.ui("gaps", lang)] = int(len(gaps))
        if "population" in gaps.columns:
            headline[f"{L.ui('gaps', lang)} · {L.ui('population', lang)}"] = round(float(gaps["population"].sum()))
    assumptions = [f"{L.circle_label(c, lang)}: {c.assumption}" for c in circles if c.assumption]
    assumptions.append(
        f"snap_max_m = {sc.snap_max_m:g} m" + ("（设施距道路超过此距离不计入服务）" if lang == "zh"
                                              else " (facilities farther from a road serve nobody)")
    )
    return write_report(
        path,
        title=sc.name,
        headline=headline,
        township_table=table,
        circles=circles,
        assumptions=assumptions,
        lorenz=lorenz or None,
        coverage_bars=bars,
        lang=lang,
        synthetic=bool(getattr(sc, "synthetic", False)),
    )
