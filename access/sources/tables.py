"""Tabular text files: CSV decoding (UTF-8, UTF-8 with BOM, GBK) and mojibake detection.

Planners' tables come from Excel, WPS and web exports in several encodings;
a file that is not text at all (an .xlsx renamed .csv) or that was once
decoded wrongly (mojibake) must stop with a message saying how to re-export it.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from access.errors import InputError

__all__ = ["read_csv_text", "mojibake_rows", "ENCODINGS"]

ENCODINGS = ("auto", "utf-8", "utf-8-sig", "gbk", "gb18030", "gb2312")

# Byte signatures of common non-CSV files people pick by mistake.
_MAGIC = {
    b"PK\x03\x04": "a ZIP/Excel (.xlsx) file",
    b"\xd0\xcf\x11\xe0": "an old Excel (.xls) or Word file",
    b"SQLite format 3": "a SQLite/GeoPackage file",
    b"%PDF": "a PDF",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"II*\x00": "a TIFF image",
    b"MM\x00*": "a TIFF image",
}
# UTF-8 text decoded as Latin-1/CP1252 and saved again: 社区 -> 'ç¤¾åŒº'.
_MOJIBAKE = re.compile(r"[\u00c0-\u00ef][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013-\u203a\u20ac\u2122]")


def mojibake_rows(values: pd.Series) -> np.ndarray:
    """True where a string looks like UTF-8 bytes shown as Latin-1 (ç¤¾åŒº)."""
    s = values.fillna("").astype(str)
    return s.str.contains(_MOJIBAKE).to_numpy()


def read_csv_text(path, encoding: str = "auto") -> pd.DataFrame:
    """Read a CSV as strings, detecting UTF-8 / UTF-8-BOM / GBK.

    Parameters
    ----------
    path : str or Path
    encoding : str
        "auto" tries UTF-8 (with or without BOM), then GB18030 (a superset
        of GBK); or one of utf-8, utf-8-sig, gbk, gb18030.

    Returns
    -------
    DataFrame of str (blank cells are empty strings), headers stripped.

    Raises
    ------
    InputError
        Missing or empty file, binary (non-CSV) content, text that decodes
        in none of the encodings, a parse error (with the line).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found; check the path in the scenario (relative paths are "
                         "resolved against the scenario file's folder).")
    raw = path.read_bytes()
    if not raw.strip(b" \t\r\n\xef\xbb\xbf"):
        raise InputError(f"{path}: the file is empty; it should have a header row and one row per record.")
    for magic, what in _MAGIC.items():
        if raw.startswith(magic):
            raise InputError(f"{path}: this is {what}, not a CSV text file. Fix: save it as CSV "
                             "(Excel: File > Save As > CSV UTF-8).")
    if b"\x00" in raw[:4096]:
        if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
            raise InputError(f"{path}: the file is UTF-16 text; save it as CSV UTF-8 (or GBK) instead.")
        raise InputError(f"{path}: the file contains binary data, so it is not a CSV text file. "
                         "Fix: export the table as CSV.")
    enc = (encoding or "auto").lower().replace("_", "-")
    if enc not in ENCODINGS:
        raise InputError(f"{path}: unknown encoding {encoding!r}; use one of {', '.join(ENCODINGS)} "
                         "([inputs] encoding in the scenario).")
    text = None
    if enc == "auto":
        for e in ("utf-8-sig", "gb18030"):
            try:
                text = raw.decode(e)
                break
            except UnicodeDecodeError:
                continue
        if text is None:
            raise InputError(f"{path}: text is neither UTF-8 nor GBK/GB18030, so Chinese names cannot be "
                             "read. Fix: re-save the file as 'CSV UTF-8', or set [inputs] encoding.")
    else:
        try:
            text = raw.decode(enc)
        except UnicodeDecodeError as exc:
            hint = ""
            if enc.startswith("gb"):
                try:
                    raw.decode("utf-8-sig")
                    raise InputError(f"{path}: the file is UTF-8 but encoding = \"{enc}\" was given. Fix: set "
                                     "encoding = \"utf-8\" (or \"auto\") in [inputs].") from None
                except UnicodeDecodeError:
                    pass
            if enc.startswith("utf"):
                try:
                    raw.decode("gb18030")
                    hint = " It decodes as GBK/GB18030: set encoding = \"gbk\" (or \"auto\")."
                except UnicodeDecodeError:
                    pass
            hint = hint or ' Set encoding = "auto".'
            raise InputError(f"{path}: cannot decode as {enc} (byte {exc.start}).{hint}") from None
        if enc in ("gbk", "gb18030", "gb2312") and re.search(rb"[\x80-\xff]", raw):
            try:
                raw.decode("utf-8")
                raise InputError(f"{path}: the file is UTF-8 but encoding = \"{enc}\" was given, which would "
                                 "garble every Chinese name. Fix: set encoding = \"utf-8\" (or \"auto\") in [inputs].")
            except UnicodeDecodeError:
                pass
        text = text.lstrip("\ufeff")
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: the file is empty; it should have a header row and one row per record.") from None
    except pd.errors.ParserError as exc:
        raise InputError(f"{path}: not a well-formed CSV ({exc}). Fix: check quoting and the number of "
                         "commas on that line, or re-export the table as CSV.") from None
    df.columns = [str(c).strip() for c in df.columns]
    if len(df.columns) == 1 and len(df) and ("\t" in df.columns[0] or ";" in df.columns[0]):
        sep = "\t" if "\t" in df.columns[0] else ";"
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, sep=sep)
        df.columns = [str(c).strip() for c in df.columns]
    return df
