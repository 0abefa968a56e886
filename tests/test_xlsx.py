"""coverage.xlsx and the CSV tables: planner's headers, whole persons, minutes, no ``inf``.

Oracles: a hand-computed four-cell county, and sums over the demo's
``cells.parquet`` done here with pandas.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from access import tables as T
from access.coverage.standards import Circle
from access.maps import labels as L

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"
CJK = re.compile(r"[\u3400-\u9fff]")


def _hand_case():
    """Two townships, four cells; one urban circle with two services.

    ========  ====  =====  ======  =====  ======  ======
    cell      twp   urban  pop     in     t (s)   svc a
    ========  ====  =====  ======  =====  ======  ======
    0         A     yes    100     yes    120     yes
    1         A     yes    300     no     900     yes
    2         B     yes    200     no     inf     no
    3         B     no     400     no     inf     no
    ========  ====  =====  ======  =====  ======  ======

    Service b is reached by cells 0 and 2 only. In scope (urban): A has 400
    persons, 100 covered; B has 200, none covered, all 200 unreachable.
    """
    circle = Circle(name="c", mode="walk", minutes=10.0, requirements={"a": ("primary_school",), "b": ("clinic",)},
                    label_zh="测试圈", label_en="Test circle", scope="urban")
    cells = pd.DataFrame({
        "population": [100.0, 300.0, 200.0, 400.0],
        "county": ["X"] * 4, "county_name": ["甲县"] * 4,
        "township": ["A", "A", "B", "B"], "township_name": ["甲镇", "甲镇", "乙乡", "乙乡"],
        "urban": [True, True, True, False],
        "in_c": [True, False, False, False],
        "t_c": [120.0, 900.0, np.inf, np.inf],
        "in_c__a": [True, True, False, False],
        "in_c__b": [True, False, True, False],
    })
    study = SimpleNamespace(scenario=SimpleNamespace(circles=[circle], demand={}, township_rules=[], targets=[]))
    return study, cells, circle


def test_unit_coverage_hand_computed():
    study, cells, _ = _hand_case()
    cov = T.unit_coverage(study, cells, "township", "zh").set_index("code")
    a, b, total = cov.loc["A"], cov.loc["B"], cov.loc["total"]
    assert (a["scope_population"], a["covered"], a["outside"]) == (400, 100, 300)
    assert a["share"] == pytest.approx(0.25)
    # completeness: cell 0 has 2/2, cell 1 has 1/2 -> (100 * 1 + 300 * 0.5) / 400
    assert a["completeness"] == pytest.approx(250 / 400)
    # weighted median of (120 s x100, 900 s x300): cumulative 100 < 200 <= 400 -> 900 s = 15 min
    assert a["t50_min"] == pytest.approx(15.0) and a["unreachable"] == 0
    assert (b["scope_population"], b["covered"], b["unreachable"]) == (200, 0, 200)  # the rural cell is out of scope
    assert math.isinf(b["t50_min"])
    assert (total["scope_population"], total["covered"], total["unreachable"]) == (600, 100, 200)
    # per service, in the service's group (everyone here): a reached by 400 of 600, b by 300 of 600
    assert total["svc:a"] == pytest.approx(400 / 600) and total["svc:b"] == pytest.approx(300 / 600)
    assert total["name"] == L.ui("study_total", "zh") and a["scope"] == L.scope_label("urban", "zh")


def test_headline_counts_each_person_once_hand_case():
    study, cells, _ = _hand_case()
    results = SimpleNamespace(cells=cells)
    head = T.headline(study, results).set_index("circle")
    assert head.loc["c", "outside"] == 500  # urban persons outside: 300 + 200
    assert head.loc["any", "outside"] == 500 and head.loc["any", "population"] == 1000  # rural 400 not in scope


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_workbook_headers_numbers_and_layout(tmp_path, lang):
    study, cells, _ = _hand_case()
    sheets = {"cov": T.unit_coverage(study, cells, "township", lang).drop(columns="circle_key")}
    path = T.write_xlsx(sheets, tmp_path / "c.xlsx", lang=lang)
    ws = load_workbook(path)["cov"]
    head = [c.value for c in ws[1]]
    assert head[:2] == [L.ui("code", lang), L.ui("name", lang)]
    assert L.ui("unreachable", lang) in head and L.ui("t50_min", lang) in head
    assert all(bool(CJK.search(h)) == (lang == "zh") for h in head if h not in ("", None))
    rows = {r[0]: dict(zip(head, r)) for r in ws.iter_rows(min_row=2, values_only=True)}
    b = rows["B"]
    assert b[L.ui("t50_min", lang)] is None and b[L.ui("unreachable", lang)] == 200  # blank, not inf
    assert rows["A"][L.ui("t50_min", lang)] == 15.0 and isinstance(rows["A"][L.ui("covered", lang)], int)
    assert ws.freeze_panes == "C2"
    assert all(ws.column_dimensions[ch].width >= 8 for ch in "ABCDEFGH")
    fmt = {h: ws.cell(row=2, column=j + 1).number_format for j, h in enumerate(head)}
    assert fmt[L.ui("share", lang)] == "0.0%" and fmt[L.ui("covered", lang)] == "#,##0"


# ---------------------------------------------------------------------------
# the demo run
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory) -> Path:
    from access.outputs import write_outputs
    from access.study import Study

    study = Study.load(DEMO / "scenario.toml", quiet=True)
    out = tmp_path_factory.mktemp("xlsx_demo") / "out"
    write_outputs(study, study.run(), out, lang="zh", quiet=True)
    return out


def test_demo_workbook_sheets_and_values(demo_out):
    wb = load_workbook(demo_out / "coverage.xlsx")
    names = wb.sheetnames
    for level in ("county", "township"):
        assert f"{L.ui(f'sheet_{level}', 'zh')} {L.ui('sheet_coverage', 'zh')}" in names
    for topic in ("gaps", "rules", "supply"):
        assert f"{L.ui('sheet_township', 'zh')} {L.ui(f'sheet_{topic}', 'zh')}" in names
    assert any(L.ui("sheet_equity", "zh") in n for n in names)
    persons = {L.ui(k, "zh") for k, v in T.KINDS.items() if v == "persons"}
    minutes = {L.ui(k, "zh") for k, v in T.KINDS.items() if v == "minutes"}
    for ws in wb.worksheets:
        head = [c.value for c in ws[1]]
        assert all(CJK.search(h) for h in head), (ws.title, head)  # every header in Chinese
        assert ws.freeze_panes in ("A2", "C2")
        for row in ws.iter_rows(min_row=2, values_only=True):
            for h, v in zip(head, row):
                assert not (isinstance(v, float) and not math.isfinite(v)), (ws.title, h)
                assert not (isinstance(v, str) and v.strip().lower() in ("inf", "-inf", "nan")), (ws.title, h)
                if h in persons and v is not None:
                    assert isinstance(v, int), (ws.title, h, v)
                if h in minutes and v is not None:
                    assert v == round(v, 1), (ws.title, h, v)


def test_demo_workbook_numbers_match_cells(demo_out):
    """Covered and unreachable persons of one township, summed here from cells.parquet."""
    cells = pd.read_parquet(demo_out / "cells.parquet")
    wb = load_workbook(demo_out / "coverage.xlsx")
    ws = wb[f"{L.ui('sheet_township', 'zh')} {L.ui('sheet_coverage', 'zh')}"]
    head = [c.value for c in ws[1]]
    rows = [dict(zip(head, r)) for r in ws.iter_rows(min_row=2, values_only=True)]
    circle = "fujian_30min_medical"  # scope: everyone; demand: everyone
    label = L.circle_label(next(c for c in _demo_circles() if c.name == circle), "zh")
    twp = cells.groupby("township")["population"].sum().idxmax()
    mine = cells[cells["township"] == twp]
    row = next(r for r in rows if r[L.ui("code", "zh")] == twp and r[L.ui("circle", "zh")] == label)
    assert row[L.ui("covered", "zh")] == round(mine.loc[mine[f"in_{circle}"], "population"].sum())
    # unreachable: no route to some required service within the search limit (empty binding time)
    assert row[L.ui("unreachable", "zh")] == round(mine.loc[mine[f"t_{circle}"].isna(), "population"].sum())
    assert row[L.ui("scope_population", "zh")] == round(mine["population"].sum())


def _demo_circles():
    from access.scenario import load_scenario

    return load_scenario(DEMO / "scenario.toml").circles


def test_csv_time_columns_never_hold_inf(demo_out):
    for p in demo_out.glob("*.csv"):
        text = p.read_text(encoding="utf-8-sig")
        assert not re.search(r"(^|,)-?inf(,|$)", text, re.M | re.I), p.name
    cells = pd.read_parquet(demo_out / "cells.parquet")
    times = cells[[c for c in cells if c.startswith("t_")]].to_numpy(float)
    assert not np.isinf(times).any() and np.isnan(times).any()  # unreachable is empty, and it occurs


def test_data_dictionary_describes_the_files_written(demo_out):
    dd = pd.read_csv(demo_out / "data_dictionary.csv", encoding="utf-8-sig")
    assert list(dd.columns) == ["file", "column", "unit", "description", "说明"]
    described = {f.strip() for row in dd["file"] for f in row.split(",")}
    for name in ("cells.parquet", "coverage_township.csv", "coverage.xlsx", "gaps.gpkg", "run.json"):
        assert name in described and (demo_out / name).exists(), name
    assert dd["description"].str.len().gt(10).all() and dd["说明"].str.contains(CJK).all()
    # every column of cells.parquet and of the CSV tables belongs to a family the dictionary names
    tables = {"cells.parquet": pd.read_parquet(demo_out / "cells.parquet").columns}
    tables |= {p.name: pd.read_csv(p, encoding="utf-8-sig", nrows=1).columns
               for p in demo_out.glob("*.csv") if p.name != "data_dictionary.csv"}
    for name, columns in tables.items():
        rows = dd.loc[[name in {f.strip() for f in row.split(",")} for row in dd["file"]], "column"]
        families = [re.sub(r"<[^>]+>", ".+", c.strip()) for row in rows for c in row.split(",")]
        undocumented = [c for c in columns if not any(re.fullmatch(f, c) for f in families)]
        assert undocumented == [], name
