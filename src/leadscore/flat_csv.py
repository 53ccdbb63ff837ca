"""Read a one-row-per-lead export as a careful analyst would.

The separator (``,`` ``;`` tab ``|``) and the encoding are sniffed (UTF-8, with or without a
byte-order mark, UTF-16 with one, else Windows-1252 / Latin-1 as Excel writes on Windows; the
reader says which it used), decimal commas and thousands dots (``1.234,5``; ``1.153`` beside
decimal commas) are numbers, and web-form placeholders ("Select" and its French, German,
Spanish, Portuguese and Italian forms, "N/A", "-", "") are missing values. Training and serving
read a flat export with the same function, and raw rows given to the scorer are cleaned with
:func:`clean_placeholders`, so a value means the same thing at both ends. Messages name the
file and the line, never a data row.
"""

from __future__ import annotations

import csv
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from leadscore.errors import SourceError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DEFAULT_NA_VALUES",
    "ENCODING_NAMES",
    "SEPARATORS",
    "clean_placeholders",
    "how_read",
    "read_flat_csv",
    "sniff",
    "sniff_encoding",
]

DEFAULT_NA_VALUES: tuple[str, ...] = (
    "",
    "-",
    "--",
    "?",
    "N/A",
    "n/a",
    "NA",
    "na",
    "NaN",
    "nan",
    "null",
    "NULL",
    "None",
    "none",
    "Select",
    "select",
    "Sélectionner",
    "sélectionner",
    "Auswählen",
    "auswählen",
    "Bitte wählen",
    "bitte wählen",
    "Seleccionar",
    "seleccionar",
    "Selecionar",
    "selecionar",
    "Seleziona",
    "seleziona",
    "(not set)",
    "not set",
    "Unknown",
    "unknown",
)
"""What a web form or a CRM writes for "nothing": read as missing values."""

SEPARATORS = ",;\t|"
_SAMPLE_BYTES = 64 * 1024


_CHUNK = 1 << 20
_CP1252_UNDEFINED = frozenset(b"\x81\x8d\x8f\x90\x9d")
ENCODING_NAMES = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 with a byte-order mark",
    "utf-16": "UTF-16",
    "cp1252": "Windows-1252 (Latin-1, Excel's 'CSV')",
    "latin-1": "ISO-8859-1 (Latin-1)",
}
"""Encoding -> how the terminal names it."""


def sniff_encoding(path: Path) -> str:
    """The text encoding of ``path``: a byte-order mark (UTF-8, UTF-16) wins; else UTF-8 when
    the whole file decodes as UTF-8 (read in chunks, never all at once); else Windows-1252
    (what Excel and most CRMs write on Windows), or ISO-8859-1 when the file holds a byte
    Windows-1252 leaves undefined. Pure ASCII is UTF-8."""
    import codecs

    with path.open("rb") as handle:
        head = handle.read(4)
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        handle.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        undefined = False
        utf8 = True
        while chunk := handle.read(_CHUNK):
            if utf8:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    utf8 = False
            undefined = undefined or not _CP1252_UNDEFINED.isdisjoint(chunk)
            if not utf8 and undefined:
                break
        if utf8:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                utf8 = False
    if utf8:
        return "utf-8"
    return "latin-1" if undefined else "cp1252"


def sniff(path: Path) -> tuple[str, str]:
    """``(separator, encoding)`` of a delimited text file (:func:`sniff_encoding`)."""
    encoding = sniff_encoding(path)
    with path.open("rb") as handle:
        raw = handle.read(_SAMPLE_BYTES)
    text = raw.decode(encoding, errors="ignore")  # a character cut by the sample's end
    lines = [line for line in text.splitlines()[:50] if line.strip()]
    if not lines:
        return ",", encoding
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=SEPARATORS).delimiter, encoding
    except csv.Error:
        header = lines[0]
        counts = {sep: header.count(sep) for sep in SEPARATORS}
        best = max(counts, key=lambda s: counts[s])
        return (best if counts[best] else ","), encoding


def read_flat_csv(
    path: Path, na_values: Sequence[str] = DEFAULT_NA_VALUES, text_columns: Sequence[str] = ()
) -> pd.DataFrame:
    """The export as a frame (separator and encoding sniffed, placeholders missing; both kept in
    ``frame.attrs``, see :func:`how_read`); unreadable files give a :class:`SourceError` naming
    the file, never its rows. ``text_columns`` (a row id) are kept as written: ``00123`` stays
    ``00123``, never the number 123. Rows with no value at all (a line of separators, as Excel
    leaves at the end of a sheet) are skipped, with a note."""
    import pandas as pd  # lazy: the CLI imports this module for its defaults

    separator, encoding = sniff(path)
    try:
        with warnings.catch_warnings():  # mixed-type columns: pandas' DtypeWarning has a path
            warnings.simplefilter("ignore")
            frame = pd.read_csv(
                path,
                sep=separator,
                encoding=encoding,
                na_values=list(na_values),
                keep_default_na=False,
                skipinitialspace=True,
                low_memory=False,
                dtype=dict.fromkeys(text_columns, str),  # absent names are ignored
            )
    except UnicodeError:
        why = (
            f"it could not be decoded as {ENCODING_NAMES.get(encoding, encoding)}: re-export it "
            "as UTF-8 (in Excel: 'CSV UTF-8')"
        )
    except pd.errors.EmptyDataError:
        why = "it is empty: export the table with a header line and one row per lead"
    except (pd.errors.ParserError, ValueError) as exc:
        line = re.search(r"line (\d+)", str(exc))
        where = f" (line {line.group(1)})" if line else ""
        why = (
            f"it cannot be parsed as {_name(separator)}-separated values{where}: every row must "
            "have as many values as the header; quote values that contain the separator or "
            "line breaks"
        )
    else:
        frame.columns = [str(c).strip() for c in frame.columns]
        notes: list[str] = []
        if separator != ",":
            frame, decimal_commas = _decimal_commas(frame, text_columns)
            frame, notes = _thousands_dots(
                frame, path, (separator, encoding), na_values, decimal_commas, text_columns
            )
        empty = frame.isna().all(axis=1)
        if len(frame.columns) > 1 and empty.any():
            frame = frame[~empty.to_numpy()].reset_index(drop=True)
            notes.append(
                f"{int(empty.sum()):,} row(s) with no value at all (only separators) skipped"
            )
        frame.attrs["encoding"], frame.attrs["separator"] = encoding, separator
        frame.attrs["number_notes"] = notes
        return frame
    raise SourceError(f"Cannot read the flat table {path}: {why}.")


_DECIMAL_COMMA = re.compile(r"^[+-]?(\d+|\d{1,3}(\.\d{3})+)(,\d+)?$")


def _decimal_commas(
    frame: pd.DataFrame, text_columns: Sequence[str] = ()
) -> tuple[pd.DataFrame, bool]:
    """Text columns written with decimal commas (``12,5``; ``1.234,5``), as a European Excel
    writes them beside a ``;`` separator, read as numbers: every filled value must match and
    at least one must hold a comma. Also says whether any column was read so."""
    import pandas as pd

    converted = False
    for name in frame.columns:
        column = frame[name]
        if name in text_columns or not (
            column.dtype == object or isinstance(column.dtype, pd.StringDtype)
        ):
            continue
        text = column.dropna().astype(str).str.strip()
        if text.empty or not text.str.contains(",", regex=False).any():
            continue
        if not text.str.match(_DECIMAL_COMMA).all():
            continue
        cleaned = column.astype("string").str.strip().str.replace(".", "", regex=False)
        frame[name] = pd.to_numeric(cleaned.str.replace(",", ".", regex=False)).astype("float64")
        converted = True
    return frame, converted


_THOUSANDS = re.compile(r"^[+-]?(\d+|[1-9]\d{0,2}(\.\d{3})+)$")


def _thousands_dots(
    frame: pd.DataFrame,
    path: Path,
    dialect: tuple[str, str],
    na_values: Sequence[str],
    decimal_commas: bool,
    text_columns: Sequence[str] = (),
) -> tuple[pd.DataFrame, list[str]]:
    """Whole numbers written with thousands dots (``1.153``, ``12.000.000``), as a European
    Excel writes them: pandas reads ``1.153`` as 1.153 and ``12.000.000`` as text. A column
    whose every filled value is such a number, one at least with a dot, is read as whole
    numbers when the file writes decimal commas elsewhere or a value has two dots or more
    (no decimal has two points); otherwise the dots are ambiguous and stay decimal points,
    with a note naming the column (never a value of a row)."""
    import pandas as pd

    positions = [
        i
        for i, name in enumerate(frame.columns)
        if name not in text_columns
        and (
            pd.api.types.is_float_dtype(frame[name].dtype)
            or (frame[name].dtype == object or isinstance(frame[name].dtype, pd.StringDtype))
        )
    ]
    if not positions:
        return frame, []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = pd.read_csv(
            path,
            sep=dialect[0],
            encoding=dialect[1],
            usecols=positions,
            dtype=str,
            na_values=list(na_values),
            keep_default_na=False,
            skipinitialspace=True,
            low_memory=False,
        )
    notes: list[str] = []
    for position, raw_name in zip(positions, raw.columns, strict=True):
        name = frame.columns[position]
        text = raw[raw_name].dropna().str.strip()
        if text.empty or not text.str.contains(".", regex=False).any():
            continue
        if not text.str.match(_THOUSANDS).all():
            continue
        if decimal_commas or (text.str.count(r"\.") >= 2).any():
            cleaned = raw[raw_name].str.strip().str.replace(".", "", regex=False)
            frame[name] = pd.to_numeric(cleaned).astype("float64")
        elif pd.api.types.is_float_dtype(frame[name].dtype):
            notes.append(
                f"'{name}' holds numbers such as 1.234 (three digits after the dot): read as "
                "decimals; if the dots are thousands separators, re-export without them"
            )
    return frame, notes


def how_read(frame: pd.DataFrame) -> str:
    """How :func:`read_flat_csv` read ``frame``: ``"Windows-1252 (...), semicolon-separated"``,
    with a note per column whose dots may be thousands separators."""
    encoding, separator = frame.attrs.get("encoding"), frame.attrs.get("separator")
    if encoding is None or separator is None:
        return "read from a frame"
    said = f"{ENCODING_NAMES.get(encoding, encoding)}, {_name(separator)}-separated"
    return "; ".join([said, *frame.attrs.get("number_notes", [])])


def _name(separator: str) -> str:
    return {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}.get(separator, separator)


def clean_placeholders(
    frame: pd.DataFrame, na_values: Sequence[str] = DEFAULT_NA_VALUES
) -> pd.DataFrame:
    """A copy of raw rows with placeholder texts (and blank strings) as missing values: what
    :func:`read_flat_csv` does to a file, for rows that come as a frame (pyfunc, API)."""
    import pandas as pd

    placeholders = set(na_values)
    out = frame.copy()
    for name in out.columns:
        column = out[name]
        if column.dtype == object or isinstance(column.dtype, pd.StringDtype):
            text = column.astype("string").str.strip()
            out[name] = column.where(~text.isin(placeholders).fillna(False).astype(bool))
    return out
