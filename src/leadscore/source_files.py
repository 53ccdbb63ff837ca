"""Checks and error messages for CRM tables held as files (CSV or Parquet) in a folder.

DuckDB's own read errors quote the offending line (personal data), its internal query and advice
such as ``ignore_errors=true``. :func:`read_error` turns them into a message naming the file, the
line when known, what is wrong and what to do, and never any content of the file.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import duckdb

from leadscore.contract import TABLE_NAMES
from leadscore.errors import SourceError
from leadscore.sql import quote_literal
from leadscore.validation import Problem, Severity

__all__ = [
    "CSV_OPTIONS",
    "check_readable",
    "duplicate_header_problems",
    "read_error",
    "unknown_entry_problems",
]

MAX_LINE_BYTES = 64 * 1024 * 1024
"""Longest CSV line accepted: a legal multi-megabyte field (notes, HTML) must not fail."""

CSV_OPTIONS = f", header = true, all_varchar = true, skip = 0, max_line_size = {MAX_LINE_BYTES}"
"""``read_csv`` options: the first line is the header (never sniffed away), values as text."""

_MAX_CHECKED_PARTS = 50
_UTF8_HINT = (
    "re-export it as UTF-8 (in Excel: 'CSV UTF-8'; or `iconv -f latin1 -t utf-8 in.csv > "
    "out.csv`), or export the table as Parquet"
)
_LINE = re.compile(r"CSV Error on Line: (\d+)")
_FILE = re.compile(r"^\s*file = (.+)$", re.MULTILINE)
_COLUMNS = re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)")


def _quote_path(path: str) -> str:
    return quote_literal(path)


def _where(exc_text: str, default: str) -> tuple[str, str]:
    """(file, ' at line N' or '') from a DuckDB CSV error; the file is the default when absent."""
    found = _FILE.search(exc_text)
    file = found.group(1).strip() if found else default
    line = _LINE.search(exc_text)
    return file, f" at line {int(line.group(1)):,}" if line else ""


def _is_utf16(file: str) -> bool:
    """Whether ``file`` starts with a UTF-16 byte-order mark (False when it cannot be read)."""
    try:
        with open(file, "rb") as handle:
            return handle.read(2) in (b"\xff\xfe", b"\xfe\xff")
    except OSError:
        return False


def read_error(exc: duckdb.Error, table: str, location: str, kind: str) -> SourceError:
    """A :class:`SourceError` for a failed read of ``table`` (``kind``: csv or parquet).

    The message names the file and line (when DuckDB tells them) and the fix; DuckDB's text is
    only used to classify the error and is never repeated.
    """
    text = str(exc)
    lowered = text.lower()
    file, at = _where(text, location)
    what = f"Cannot read table '{table}' from {file}{at}"
    if kind == "parquet":
        if "magic bytes" in lowered or "not a parquet" in lowered:
            why = "the file is not a Parquet file (or it is truncated)"
        else:
            why = "the Parquet file is corrupt or uses an unsupported encoding"
        return SourceError(
            f"{what}: {why}. Export the table again as Parquet, or as UTF-8 CSV with a header line."
        )
    if _is_utf16(file):
        why = (
            "the file is UTF-16 encoded (Excel's 'Unicode Text'); re-export it as UTF-8 (in "
            "Excel: 'CSV UTF-8'; or `iconv -f utf-16 -t utf-8 in.csv > out.csv`), or export the "
            "table as Parquet"
        )
    elif "invalid unicode" in lowered or "not utf-8 encoded" in lowered:
        why = f"the file is not UTF-8 encoded (Latin-1, Windows-1252 or binary bytes); {_UTF8_HINT}"
    elif "sniffing" in lowered or "dialect" in lowered:
        why = (
            "the file is not a readable CSV file (binary data, another format, or an unknown "
            "encoding); export the table as UTF-8 CSV with a header line, or as Parquet"
        )
    elif "maximum line size" in lowered:
        why = (
            f"a line is longer than {MAX_LINE_BYTES // (1024 * 1024)} MB; check that quotes "
            "are closed, or export the table as Parquet"
        )
    elif columns := _COLUMNS.search(text):
        expected, found = columns.groups()
        why = (
            f"the line has {found} values where the header has {expected}; quote values that "
            "contain the delimiter or a line break, or export the table as Parquet"
        )
    elif "quote" in lowered:
        why = "a quoted value is never closed; fix the quoting of the export, or export as Parquet"
    else:
        why = (
            f"the file cannot be parsed as CSV ({type(exc).__name__}); export the table as UTF-8 "
            "CSV with a header line and one row per line, or as Parquet"
        )
    return SourceError(f"{what}: {why}.")


def _csv_header(con: duckdb.DuckDBPyConnection, file: Path) -> list[str]:
    row = con.execute(
        f"SELECT * FROM read_csv({_quote_path(str(file))}, header = false, all_varchar = true, "
        f"skip = 0, max_line_size = {MAX_LINE_BYTES}) LIMIT 1"
    ).fetchone()
    return [str(value) for value in row or ()]


def _parquet_header(file: Path) -> list[str]:
    import pyarrow.parquet as pq

    return list(pq.read_schema(file).names)


def duplicate_header_problems(
    con: duckdb.DuckDBPyConnection, table: str, files: list[Path], kind: str
) -> list[Problem]:
    """One problem per file whose header names a column more than once (DuckDB would rename
    the second ``x`` to ``x_1`` silently and use the first)."""
    problems = []
    for file in sorted(files)[:_MAX_CHECKED_PARTS]:
        try:
            names = _csv_header(con, file) if kind == "csv" else _parquet_header(file)
        except (duckdb.Error, OSError, ValueError):
            continue  # unreadable files are reported by the read itself
        repeated = sorted(name for name, count in Counter(names).items() if count > 1)
        known = [n for n in repeated if n in _contract_columns()]
        if repeated:
            shown = ", ".join(known) if known else f"{len(repeated)} column name(s)"
            problems.append(
                Problem(
                    table,
                    None,
                    0,
                    f"the header of {file.name} names the same column more than once ({shown}); "
                    "expected each column once: remove or rename the duplicate in the export",
                )
            )
    return problems


def _contract_columns() -> set[str]:
    from leadscore.contract import CONTRACT

    return {column.name for spec in CONTRACT for column in spec.columns}


def unknown_entry_problems(folder: Path, used: set[str]) -> list[Problem]:
    """A warning for every file or folder of ``folder`` that is not read as a contract table.

    Hidden entries and names starting with ``_`` (``_oracle``, ``_SUCCESS``) are skipped.
    """
    problems = []
    for entry in sorted(folder.iterdir()):
        name = entry.name
        if name in used or name.startswith((".", "_")):
            continue
        stem = name.split(".", 1)[0]
        if stem.lower() in TABLE_NAMES:
            hint = (
                f"name it {stem.lower()}.csv, {stem.lower()}.parquet or a {stem.lower()}/ "
                "folder of such parts (names are case-sensitive; CSV or Parquet only)"
            )
        else:
            hint = (
                "expected only the tables " + ", ".join(TABLE_NAMES) + "; rename it if it holds "
                "one of them, or move it out of the folder"
            )
        problems.append(
            Problem(
                name,
                None,
                0,
                f"ignored: not a table of the data contract; {hint}",
                severity=Severity.WARNING,
            )
        )
    return problems


def check_readable(con: duckdb.DuckDBPyConnection, view: str) -> None:
    """Read every value of ``view`` once, so encoding and parse errors surface now (DuckDB reads
    lazily: a bad byte on line 100,000 would otherwise fail a later, unrelated query)."""
    con.execute(f"SELECT count(*), max(length(COLUMNS(*)::VARCHAR)) FROM {view}").fetchall()
