"""SQL quoting, written once: identifiers in double quotes, string literals in single quotes.

Both double the quote character inside the value, the escaping DuckDB, PostgreSQL and Spark SQL
(ANSI mode) share. Use bound parameters where the statement allows them; these are for the places
that cannot take one (table and column names, ``read_parquet('path')``, ``SET x = 'value'``).
"""

from __future__ import annotations

from os import PathLike

__all__ = ["quote_identifier", "quote_literal"]


def quote_identifier(name: str) -> str:
    """``name`` in double quotes, each double quote inside doubled: a safe SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str | PathLike[str]) -> str:
    """``value`` (a string or a path) in single quotes, each single quote inside doubled."""
    return "'" + str(value).replace("'", "''") + "'"
