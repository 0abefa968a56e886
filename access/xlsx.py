"""Write the study's tables as an .xlsx workbook, through XlsxWriter.

The sheets are plain tables: a bold header row on a light fill, one number
format per column, frozen header (and name) panes, column widths and an
autofilter. XlsxWriter writes rows as they come (``constant_memory``), which
costs a fraction of building a cell object per value, and its files are the
ones Excel itself is tested against. Every value is written with its own
type: text from input files stays text (never a formula or a link), and
control characters XML cannot hold are dropped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
HEADER_FILL = "#E8F0E8"


@dataclass
class Sheet:
    """One worksheet.

    Attributes
    ----------
    title : str
        At most 31 characters, none of ``[]:*?/\\``.
    header : sequence of str
    rows : iterable of sequences
        Values: int, float (non-finite -> blank), bool, str or None (blank).
    formats : sequence of str
        Number format of each column's data cells (``"#,##0"``, ``"0.0%"``, ``"@"``, ...).
    widths : sequence of float
        Column widths, characters.
    frozen : tuple of int
        ``(rows, columns)`` kept in view when scrolling.
    autofilter : bool
        A filter on the header over all rows.
    """

    title: str
    header: Sequence[str]
    rows: Iterable[Sequence]
    formats: Sequence[str]
    widths: Sequence[float]
    frozen: tuple[int, int] = (1, 0)
    autofilter: bool = True


def write_workbook(sheets: Sequence[Sheet], path) -> Path:
    """Write ``sheets`` as one .xlsx file (replaced if present); returns its path."""
    import xlsxwriter

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_formulas": False,
                                           "strings_to_urls": False, "strings_to_numbers": False})
    head = book.add_format({"bold": True, "bg_color": HEADER_FILL, "text_wrap": True, "valign": "top"})
    number = {f: book.add_format({"num_format": f}) for s in sheets for f in s.formats}
    for s in sheets:
        ws = book.add_worksheet(s.title)
        for j, w in enumerate(s.widths):
            ws.set_column(j, j, float(w))
        if s.frozen[0] > 0 or s.frozen[1] > 0:
            ws.freeze_panes(*s.frozen)
        for j, h in enumerate(s.header):
            ws.write_string(0, j, _ILLEGAL.sub("", str(h)), head)
        fmts = [number[f] for f in s.formats]
        r = 0
        for r, rec in enumerate(s.rows, start=1):
            for j, (v, fmt) in enumerate(zip(rec, fmts)):
                _write(ws, r, j, v, fmt)
        if s.autofilter and len(s.header):
            ws.autofilter(0, 0, r, len(s.header) - 1)
    book.close()
    return path


def _write(ws, r: int, j: int, value, fmt) -> None:
    if value is None:
        return
    if isinstance(value, bool):
        ws.write_boolean(r, j, value, fmt)
    elif isinstance(value, (int, float)):
        if math.isfinite(value):
            ws.write_number(r, j, value, fmt)
    else:
        ws.write_string(r, j, _ILLEGAL.sub("", str(value)), fmt)
