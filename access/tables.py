"""Planner tables: a run's results in the planner's words, and ``coverage.xlsx``.

The CSV and Parquet files keep machine keys and seconds (see
:mod:`access.dictionary`). The tables here are what planners paste into
their documents: names and headers in the chosen language, minutes, whole
persons, a blank instead of an infinite time with an explicit count of the
persons who cannot reach the service at all. ``report.html`` and
``coverage.xlsx`` are both built from them, so they show the same numbers.

Each table is a DataFrame whose columns are keys of :data:`KINDS`; the kind
decides rounding, the spreadsheet number format and the header label
(:func:`header`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from access.coverage import demand as demand_mod
from access.coverage import indicators as indicators_mod
from access.coverage import units as units_mod
from access.maps import labels as L

#: Column key -> kind. Kinds: text, persons (whole persons), minutes (one
#: decimal), share (0..1, shown as %), ratio (3 decimals), number (1 decimal),
#: count (integer).
KINDS: dict[str, str] = {
    "code": "text", "name": "text", "county": "text", "township_code": "text", "township": "text",
    "circle": "text", "scope": "text", "demand": "text", "service": "text", "missing": "text",
    "rule": "text", "target": "text", "input": "text", "dropped": "text", "population_dropped": "text",
    "notes": "text", "reason": "text", "decision": "text", "raw": "text", "key": "text", "mode": "text",
    "kept": "count",
    "scope_population": "persons", "population": "persons", "uncovered": "persons", "covered": "persons",
    "outside": "persons",
    "unreachable": "persons", "population_read": "persons", "population_kept": "persons",
    "share": "share", "completeness": "share", "share_complete": "share",
    "t50_min": "minutes", "t90_min": "minutes", "t_median_min": "minutes",
    "per_1000": "number", "target_per_1000": "number", "shortfall_per_1000": "number",
    "supply_needed": "number",
    "mean": "ratio", "gini": "ratio", "theil": "ratio", "theil_between": "ratio", "theil_within": "ratio",
    "palma": "ratio", "urban_mean": "ratio", "rural_mean": "ratio", "urban_rural_gap": "ratio",
    "rank": "count", "cells": "count", "found": "count", "required": "count", "services": "count",
    "read": "count", "nodes": "count", "facilities": "count", "count": "count",
}

_XLSX_FORMATS = {"persons": "#,##0", "minutes": "0.0", "share": "0.0%", "ratio": "0.000",
                 "number": "0.0", "count": "0", "text": "@"}


def header(key: str, lang: str) -> str:
    """Display header of a column key (service columns ``svc:<service>`` get the service's name)."""
    if key.startswith("svc:"):
        return f"{L.service_label(key[4:], lang)} {L.ui('share', lang)}"
    return L.ui(key, lang) if key in L.UI else key


def kind(key: str) -> str:
    """Kind of a column key (see :data:`KINDS`); service columns are shares."""
    return "share" if key.startswith("svc:") else KINDS.get(key, "text")


def rounded(table: pd.DataFrame) -> pd.DataFrame:
    """Persons as whole numbers (nullable Int64), minutes to 0.1, infinite -> blank."""
    out = table.copy()
    for col in out.columns:
        k = kind(col)
        if k == "text" or pd.api.types.is_bool_dtype(out[col]):
            continue
        v = pd.to_numeric(out[col], errors="coerce").astype(float)
        v = v.where(np.isfinite(v))
        if k in ("persons", "count"):
            out[col] = v.round().astype("Int64")
        elif k in ("minutes", "number"):
            out[col] = v.round(1)
        else:
            out[col] = v
    return out


# --------------------------------------------------------------------------
# who a circle counts
# --------------------------------------------------------------------------


def _demand_map(study, cells: pd.DataFrame) -> dict[str, str]:
    """Category -> demand group, for the groups with persons in ``cells``."""
    available = [c.removeprefix("pop_") for c in cells.columns if c.startswith("pop_")]
    return demand_mod.demand_map(available, getattr(study.scenario, "demand", None))


def circle_groups(study, cells: pd.DataFrame) -> dict[str, tuple[str, dict[str, str]]]:
    """Circle name -> (circle demand group, service -> group), for groups with persons in ``cells``."""
    dmap = _demand_map(study, cells)
    return {c.name: (demand_mod.circle_group(c, dmap), demand_mod.service_groups(c, dmap))
            for c in study.scenario.circles}


def circle_weights(cells: pd.DataFrame, circle, group: str) -> np.ndarray:
    """Persons of ``group`` per cell, 0 outside the circle's scope."""
    w = demand_mod.group_persons(cells, group)
    return np.where(demand_mod.in_scope(cells, getattr(circle, "scope", "all")), w, 0.0)


def unit_coverage(study, cells: pd.DataFrame, level: str, lang: str) -> pd.DataFrame:
    """One row per unit (and a study total) and circle, in the circle's scope and demand group.

    Parameters
    ----------
    study : Study
    cells : DataFrame
        ``population``, unit codes/names, ``in_<circle>``,
        ``in_<circle>__<service>``, ``t_<circle>`` (seconds, inf when a
        service is out of reach) and ``pop_<group>`` / ``urban`` when given.
    level : {"county", "township"}
    lang : {"zh", "en"}

    Returns
    -------
    DataFrame with ``circle_key`` (name), ``code`` (``"total"`` for the
    study), ``name``, ``circle`` (label), ``scope``,
    ``demand``, ``scope_population``, ``covered``, ``outside``, ``share``,
    ``completeness`` (mean share of the circle's services within reach),
    ``t50_min``, ``t90_min`` (weighted median / 90th percentile of the
    binding time; blank when that share of persons cannot reach every
    service), ``unreachable`` (persons with no route to some service within
    the search limit) and ``svc:<service>`` shares (persons of the service's
    own group).
    """
    codes = cells[level].astype("string").fillna("?")
    g, ucode = pd.factorize(codes, sort=True)
    k = len(ucode)
    name_col = f"{level}_name"
    names = (cells[name_col].astype(str).groupby(g).first().reindex(range(k)).to_numpy(object)
             if name_col in cells else np.asarray(ucode, dtype=object))
    groups = circle_groups(study, cells)
    rows = []
    for c in study.scenario.circles:
        if f"in_{c.name}" not in cells:
            continue
        group, svc_groups = groups[c.name]
        w = circle_weights(cells, c, group)
        inside = cells[f"in_{c.name}"].fillna(False).to_numpy(bool)
        t = cells[f"t_{c.name}"].to_numpy(float) if f"t_{c.name}" in cells else np.full(len(cells), np.inf)
        t = np.where(np.isnan(t), np.inf, t)
        svc_flags = [cells[f"in_{c.name}__{s}"].fillna(False).to_numpy(bool)
                     for s in c.requirements if f"in_{c.name}__{s}" in cells]
        done = np.mean(svc_flags, axis=0) if svc_flags else inside.astype(float)

        def sums(v):
            s = np.bincount(g, weights=v, minlength=k)
            return np.append(s, v.sum())

        pop = sums(w)
        cov = sums(w * inside)
        with np.errstate(invalid="ignore", divide="ignore"):
            table = {
                "circle_key": c.name,
                "code": np.append(np.asarray(ucode, dtype=object), "total"),
                "name": np.append(names, L.ui("study_total", lang)),
                "circle": L.circle_label(c, lang),
                "scope": L.scope_label(getattr(c, "scope", "all"), lang),
                "demand": L.group_label(group, lang),
                "scope_population": pop, "covered": cov, "outside": pop - cov,
                "share": np.where(pop > 0, cov / pop, np.nan),
                "completeness": np.where(pop > 0, sums(w * done) / pop, np.nan),
            }
            # the definition of coverage_<level>.csv's t50/t90 (lower inverse of the weighted CDF)
            t50, t90 = units_mod._grouped_quantile(g, t, w, [0.5, 0.9], k, total=True)
            table["t50_min"], table["t90_min"] = t50 / 60.0, t90 / 60.0
            table["unreachable"] = sums(w * ~np.isfinite(t))
            for s in c.requirements:
                col = f"in_{c.name}__{s}"
                if col in cells:
                    ws = circle_weights(cells, c, svc_groups.get(s, "all"))
                    ps = sums(ws)
                    table[f"svc:{s}"] = np.where(ps > 0, sums(ws * cells[col].fillna(False).to_numpy(bool)) / ps,
                                                 np.nan)
        rows.append(pd.DataFrame(table))
    if not rows:
        return pd.DataFrame(columns=["code", "name", "circle", "scope", "demand", "scope_population",
                                     "covered", "outside", "share"])
    return pd.concat(rows, ignore_index=True)


def headline(study, results) -> pd.DataFrame:
    """Distinct persons per circle and outside at least one circle.

    ``results.headline`` when the run computed it, else
    :func:`access.coverage.indicators.headline` of the cells, with the demand
    groups the cells carry.

    Returns
    -------
    DataFrame with ``circle`` (key), ``scope``, ``demand``, ``population``,
    ``covered``, ``outside``, ``share``.
    """
    given = getattr(results, "headline", None)
    if isinstance(given, pd.DataFrame) and len(given):
        return given
    cells = results.cells
    circles = [c for c in study.scenario.circles if f"in_{c.name}" in cells]
    return indicators_mod.headline(cells, circles, demand=_demand_map(study, cells))


# --------------------------------------------------------------------------
# topic tables
# --------------------------------------------------------------------------


def gaps_table(study, gaps: pd.DataFrame, lang: str, top: int | None = None) -> pd.DataFrame:
    """Gap areas ranked within each circle: township, persons, missing services, current time."""
    cols = ["circle", "rank", "township_code", "township", "population", "cells", "missing", "t_median_min",
            "unreachable"]
    if gaps is None or not len(gaps):
        return pd.DataFrame(columns=cols)
    circles = {c.name: c for c in study.scenario.circles}
    df = pd.DataFrame(gaps.drop(columns=gaps.geometry.name) if hasattr(gaps, "geometry") else gaps)
    order = {name: i for i, name in enumerate(circles)}
    df = df.assign(_order=df["circle"].map(order).fillna(len(order))).sort_values(["_order", "rank"], kind="stable")
    if top is not None:
        df = df.groupby("circle", sort=False).head(top)
    sep = "、" if lang == "zh" else ", "
    out = pd.DataFrame({
        "circle": [L.circle_label(circles[c], lang) if c in circles else str(c) for c in df["circle"]],
        "rank": df["rank"].to_numpy(),
        "township_code": df.get("township", pd.Series("", index=df.index)).astype(str).to_numpy(),
        "township": df.get("township_name", pd.Series("", index=df.index)).astype(str).to_numpy(),
        "population": df["population"].to_numpy(float),
        "cells": df.get("cells", pd.Series(np.nan, index=df.index)).to_numpy(float),
        "missing": [sep.join(L.service_label(s, lang) for s in str(m).split(",") if s) for m in df["missing"]],
        "t_median_min": df.get("t_median_s", pd.Series(np.nan, index=df.index)).to_numpy(float) / 60.0,
        "unreachable": df.get("unreachable_population", pd.Series(np.nan, index=df.index)).to_numpy(float),
    })
    return out[cols]


def rules_table(study, failures: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Townships failing a per-township rule, with the rule in words."""
    cols = ["code", "name", "rule", "found", "required"]
    if failures is None or not len(failures):
        return pd.DataFrame(columns=cols)
    rules = {r.name: r for r in getattr(study.scenario, "township_rules", [])}

    def label(key):
        r = rules.get(key)
        return (r.label_zh if lang == "zh" else r.label_en) or key if r else key

    return pd.DataFrame({"code": failures["code"].astype(str), "name": failures["name"].astype(str),
                         "rule": [label(k) for k in failures["rule"]], "found": failures["found"],
                         "required": failures["required"]})[cols]


def target_label(target, lang: str) -> str:
    """``beds（医院、乡镇卫生院，驾车 30 分钟）`` / ``beds (Hospital, ..., 30 min driving)``."""
    cats = ("、" if lang == "zh" else ", ").join(L.category_label(c, lang) for c in target.categories)
    mode = L.mode_label(target.mode, lang)
    if lang == "zh":
        return f"{target.name}（{cats}，{mode} {target.minutes:g} 分钟）"
    return f"{target.name} ({cats}; {target.minutes:g} min {mode})"


def supply_table(study, results, level: str, lang: str) -> pd.DataFrame:
    """Supply per 1,000 persons of the target's demand group (2SFCA, weighted by them per unit) against each target."""
    from access.siting import supply as supply_mod

    cols = ["target", "demand", "code", "name", "population", "per_1000", "target_per_1000", "shortfall_per_1000",
            "supply_needed"]
    cells = results.cells
    targets = list(getattr(study.scenario, "targets", []))
    if not targets or level not in cells:
        return pd.DataFrame(columns=cols)
    codes = cells[level].astype("string").fillna("?")
    name_col = f"{level}_name"
    names = cells[name_col].astype(str).groupby(codes).first() if name_col in cells else None
    parts = []
    for t in targets:
        col = f"supply_{t.name}_per_1000"
        if col not in cells:
            continue
        group = supply_mod.target_group(t, study.scenario)
        pop = demand_mod.group_persons(cells, group)
        v = np.nan_to_num(cells[col].to_numpy(float))
        frame = pd.DataFrame({"code": codes, "pw": pop * v, "p": pop}).groupby("code", sort=True).sum()
        per = (frame["pw"] / frame["p"]).where(frame["p"] > 0)
        short = (t.per_1000 - per).clip(lower=0.0)
        parts.append(pd.DataFrame({
            "target": target_label(t, lang), "demand": L.group_label(group, lang), "code": frame.index.astype(str),
            "name": names.reindex(frame.index).to_numpy() if names is not None else frame.index.astype(str),
            "population": frame["p"].to_numpy(), "per_1000": per.to_numpy(), "target_per_1000": t.per_1000,
            "shortfall_per_1000": short.to_numpy(), "supply_needed": (short * frame["p"] / 1000.0).to_numpy(),
        }))
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)


def equity_table(study, equity: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Inequality per circle (study level, Theil split by county), circle names in words."""
    keep = ["circle", "services", "population", "mean", "share_complete", "gini", "theil", "theil_between",
            "theil_within", "palma", "urban_mean", "rural_mean", "urban_rural_gap"]
    if equity is None or not len(equity):
        return pd.DataFrame(columns=keep)
    circles = {c.name: c for c in study.scenario.circles}
    out = equity[[c for c in keep if c in equity.columns]].copy()
    out["circle"] = [L.circle_label(circles[c], lang) if c in circles else str(c) for c in equity["circle"]]
    if "measure" in equity and (equity["measure"] == "completeness").all():
        out = out.rename(columns={"mean": "completeness"})  # the mean of a share of services
    return out.dropna(axis=1, how="all")


def accounting_table(accounts: Sequence, lang: str) -> pd.DataFrame:
    """What each input read, kept and dropped (rows, persons), with the reasons."""
    sep = "；" if lang == "zh" else "; "
    rows = []
    for a in accounts:
        d = a.to_dict() if hasattr(a, "to_dict") else dict(a)
        rows.append({
            "input": L.reason_label(Path(str(d.get("source", ""))).name, lang), "read": d.get("read"),
            "kept": d.get("kept"),
            "dropped": sep.join(f"{L.reason_label(k, lang)}: {v:,}" for k, v in (d.get("dropped") or {}).items()),
            "population_read": d.get("population_read"), "population_kept": d.get("population_kept"),
            "population_dropped": sep.join(f"{L.reason_label(k, lang)}: {v:,.0f}"
                                           for k, v in (d.get("population_dropped") or {}).items()),
            "notes": sep.join(str(n) for n in d.get("notes") or []),
        })
    return pd.DataFrame(rows, columns=["input", "read", "kept", "dropped", "population_read", "population_kept",
                                       "population_dropped", "notes"]).astype({"read": float, "kept": float})


#: gaps per circle in the workbook's gaps sheet (largest first; gaps.csv holds all)
XLSX_GAPS_PER_CIRCLE = 1000


def sheets(study, results, lang: str) -> dict[str, pd.DataFrame]:
    """Every sheet of ``coverage.xlsx``: (level, topic) -> table, keyed by the sheet title."""
    cells = results.cells
    levels = [lv for lv in ("county", "township") if lv in cells]
    out: dict[str, pd.DataFrame] = {}

    def title(level: str, topic: str) -> str:
        return _title(f"{L.ui(f'sheet_{level}', lang)} {L.ui(f'sheet_{topic}', lang)}")

    for lv in levels:
        out[title(lv, "coverage")] = unit_coverage(study, cells, lv, lang).drop(columns="circle_key")
    # a province has ~10^5 gaps: the sheet holds each circle's largest, gaps.csv every one
    out[title("township", "gaps")] = gaps_table(study, results.gaps, lang, top=XLSX_GAPS_PER_CIRCLE)
    out[title("township", "rules")] = rules_table(study, results.rule_failures, lang)
    for lv in levels:
        sup = supply_table(study, results, lv, lang)
        if len(sup):
            out[title(lv, "supply")] = sup
    out[title("study", "equity")] = equity_table(study, results.equity, lang)
    return out


def _title(text: str) -> str:
    # Excel sheet names: at most 31 characters, no brackets, colon, star, question mark or slashes
    return "".join(ch for ch in text if ch not in "[]:*?/\\")[:31]


# --------------------------------------------------------------------------
# spreadsheet
# --------------------------------------------------------------------------


def write_xlsx(tables: Mapping[str, pd.DataFrame], path, lang: str = "zh") -> Path:
    """Write ``tables`` (sheet title -> table with :data:`KINDS` columns) as one workbook.

    Headers in ``lang``; persons as whole numbers, minutes to 0.1, shares as
    percentages; infinite or missing values are blank cells. The header row
    is frozen (with the name column when present), column widths follow the
    content and every sheet has an autofilter.

    Returns
    -------
    Path
    """
    from access.xlsx import Sheet, write_workbook

    sheets = []
    for title, table in tables.items():
        table = rounded(table)
        cols = list(table.columns)
        sheets.append(Sheet(
            title=title,
            header=[header(c, lang) for c in cols],
            rows=([_cell_value(v) for v in rec] for rec in table.itertuples(index=False, name=None)),
            formats=[_XLSX_FORMATS[kind(c)] for c in cols],
            widths=[_width(header(c, lang), table[c]) for c in cols],
            frozen=(1, 2 if cols[:2] == ["code", "name"] else 0),
        ))
    return write_workbook(sheets, path)


def _cell_value(v):
    if v is None or v is pd.NA or (isinstance(v, float) and not np.isfinite(v)):
        return None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def _text_width(s: str) -> float:
    # CJK characters are about two Latin characters wide
    return sum(2.0 if ord(ch) > 0x2E80 else 1.0 for ch in s)


def _width(head: str, values: pd.Series) -> float:
    sample = values.dropna().astype(str).head(500)
    longest = max([_text_width(s) for s in sample] or [0.0])
    return float(min(60.0, max(8.0, min(_text_width(head), 24.0), longest + 2.0)))
