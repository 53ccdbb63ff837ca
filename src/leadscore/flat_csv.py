"""Read a one-row-per-lead export as a careful analyst would.

The separator is sniffed (``,`` ``;`` tab ``|``), a UTF-8 byte-order mark is accepted, and
web-form placeholders ("Select", "N/A", "-", "") are missing values. Training and serving read
a flat export with the same function, and raw rows given to the scorer are cleaned with
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

__all__ = ["DEFAULT_NA_VALUES", "SEPARATORS", "clean_placeholders", "read_flat_csv", "sniff"]

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
    "(not set)",
    "not set",
    "Unknown",
    "unknown",
)
"""What a web form or a CRM writes for "nothing": read as missing values."""

SEPARATORS = ",;\t|"
_SAMPLE_BYTES = 64 * 1024


def sniff(path: Path) -> tuple[str, str]:
    """``(separator, encoding)`` of a delimited text file (``SourceError`` when not UTF-8)."""
    raw = path.read_bytes()[:_SAMPLE_BYTES]
    encoding = "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "utf-8"
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        if exc.start < len(raw) - 4:  # not just a character cut by the sample's end
            raise SourceError(
                f"Cannot read the flat table {path}: it is not UTF-8 encoded: re-export it as "
                "UTF-8 (in Excel: 'CSV UTF-8')."
            ) from None
        text = raw[: exc.start].decode(encoding)
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


def read_flat_csv(path: Path, na_values: Sequence[str] = DEFAULT_NA_VALUES) -> pd.DataFrame:
    """The export as a frame (separator sniffed, placeholders missing); unreadable files give a
    :class:`SourceError` naming the file, never its rows."""
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
            )
    except UnicodeDecodeError:
        why = "it is not UTF-8 encoded: re-export it as UTF-8 (in Excel: 'CSV UTF-8')"
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
        return frame
    raise SourceError(f"Cannot read the flat table {path}: {why}.")


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
