"""The .xlsx writer, read back by openpyxl (an independent reader of the format)."""

from __future__ import annotations

import math
import zipfile
import xml.etree.ElementTree as ET

import pytest
from openpyxl import load_workbook

from access.xlsx import Sheet, write_workbook


def _book(tmp_path, **kw):
    rows = [
        ["A", "甲镇", 400, 0.25, 15.0, True],
        ["B<&>\"'", "  spaced  ", None, math.inf, math.nan, False],
        ["C\x01\x1f", "tab\tand\nline", -3, 1e-05, 123456789.125, None],
    ]
    sheet = Sheet(title=kw.pop("title", "覆盖 cov"), header=["code", "名称", "persons", "share", "minutes", "flag"],
                  rows=rows, formats=["@", "@", "#,##0", "0.0%", "0.0", "General"],
                  widths=[8, 12.5, 10, 9, 9, 8], **kw)
    return write_workbook([sheet, Sheet("empty", [], [], [], [], frozen=(0, 0))], tmp_path / "t.xlsx")


def test_values_types_and_blanks(tmp_path):
    ws = load_workbook(_book(tmp_path))["覆盖 cov"]
    got = [list(r) for r in ws.iter_rows(values_only=True)]
    assert got[0] == ["code", "名称", "persons", "share", "minutes", "flag"]
    assert got[1] == ["A", "甲镇", 400, 0.25, 15.0, True]
    assert isinstance(got[1][2], int)
    # markup characters kept as text, spaces kept, non-finite numbers and None blank
    assert got[2] == ["B<&>\"'", "  spaced  ", None, None, None, False]
    # characters XML cannot hold are dropped; tab and newline kept
    assert got[3] == ["C", "tab\tand\nline", -3, 1e-05, 123456789.125, None]


def test_formats_header_style_panes_widths_filter(tmp_path):
    wb = load_workbook(_book(tmp_path, frozen=(1, 2)))
    ws = wb["覆盖 cov"]
    assert [ws.cell(row=2, column=j).number_format for j in range(1, 7)] == \
        ["@", "@", "#,##0", "0.0%", "0.0", "General"]
    head = ws.cell(row=1, column=1)
    assert head.font.b and head.fill.fgColor.rgb == "FFE8F0E8" and head.alignment.wrap_text
    assert not ws.cell(row=2, column=1).font.b
    assert ws.freeze_panes == "C2"
    # Excel stores a width of w characters as whole pixels of 7 px digits plus 5 px of padding
    assert ws.column_dimensions["B"].width == pytest.approx((round(12.5 * 7) + 5) / 7, abs=0.01)
    assert ws.auto_filter.ref == "A1:F4"
    assert wb.sheetnames == ["覆盖 cov", "empty"]
    assert wb["empty"].max_row == 1 and wb["empty"].freeze_panes is None


@pytest.mark.parametrize("frozen, cell", [((1, 0), "A2"), ((0, 1), "B1"), ((0, 0), None)])
def test_frozen_panes(tmp_path, frozen, cell):
    assert load_workbook(_book(tmp_path, frozen=frozen))["覆盖 cov"].freeze_panes == cell


def test_parts_are_well_formed_xml_and_titles_quoted(tmp_path):
    path = _book(tmp_path, title="it's")
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            ET.fromstring(z.read(name))  # raises on malformed XML
        wb_xml = z.read("xl/workbook.xml").decode()
    assert "'it''s'!$A$1:$F$4" in wb_xml.replace("&apos;", "'")
    assert load_workbook(path).sheetnames[0] == "it's"
