"""DuckDB's text functions in Python, exactly, for the single-lead feature path.

The feature SQL normalises text with DuckDB's ``trim`` (spaces only, not tabs or newlines),
``lower`` and ``upper`` (one code point to one code point, e.g. ``upper('ß')`` is ``'ẞ'``,
where Python's ``str.upper`` gives ``'SS'``) and RE2's ``regexp_matches``. Python's own
functions differ on such text, so :func:`duck_lower` and :func:`duck_upper` use the case maps
of DuckDB itself, read once from DuckDB (:func:`case_maps`, on first use, never at import):
every non-ASCII code point that DuckDB maps to another. Should DuckDB's mapping ever not be one
code point to one, :class:`Unmirrored` is raised and the caller keeps the SQL path.
"""

from __future__ import annotations

import re
import threading

__all__ = [
    "Unmirrored",
    "case_maps",
    "duck_lower",
    "duck_trim",
    "duck_upper",
    "title_pattern",
]

_MAPS: tuple[dict[int, int], dict[int, int]] | None = None
_LOCK = threading.Lock()
_REGEX_SPECIAL = set(".^$*+?()[]{}|\\")
_NOT_WORD = "[^a-z0-9à-ÿ]"


class Unmirrored(Exception):
    """A value or feature the Python path cannot compute exactly as the SQL does (the caller
    runs the SQL instead)."""


_CASED_END = 0x20000
"""Unicode has no cased letter from plane 2 on: DuckDB maps those code points to themselves
(``tests/test_python_eval.py`` checks every code point against DuckDB)."""


def _code_points() -> str:
    return "".join(chr(c) for c in range(0x80, _CASED_END) if not 0xD800 <= c <= 0xDFFF)


def case_maps() -> tuple[dict[int, int], dict[int, int]]:
    """DuckDB's ``lower`` and ``upper`` of every non-ASCII code point that they change, as
    :meth:`str.translate` tables (read from DuckDB once per process, ~0.1 s)."""
    global _MAPS
    if _MAPS is not None:
        return _MAPS
    with _LOCK:
        if _MAPS is None:
            import duckdb

            text = _code_points()
            con = duckdb.connect()
            try:
                row = con.execute("SELECT lower($1), upper($1)", [text]).fetchone()
            finally:
                con.close()
            assert row is not None
            maps: list[dict[int, int]] = []
            for mapped in row:
                if len(mapped) != len(text):
                    raise Unmirrored("DuckDB's case mapping is not one code point to one")
                maps.append({ord(a): ord(b) for a, b in zip(text, mapped, strict=True) if a != b})
            _MAPS = (maps[0], maps[1])
    return _MAPS


def duck_trim(value: str) -> str:
    """DuckDB's ``trim``: spaces removed at both ends (nothing else)."""
    return value.strip(" ")


def duck_lower(value: str) -> str:
    """DuckDB's ``lower``."""
    if value.isascii():
        return value.lower()
    return value.translate(_ascii_lower(case_maps()[0]))


def duck_upper(value: str) -> str:
    """DuckDB's ``upper``."""
    if value.isascii():
        return value.upper()
    return value.translate(_ascii_upper(case_maps()[1]))


_LOWER: dict[int, int] | None = None
_UPPER: dict[int, int] | None = None


def _ascii_lower(table: dict[int, int]) -> dict[int, int]:
    global _LOWER
    if _LOWER is None:
        _LOWER = {**table, **{c: c + 32 for c in range(ord("A"), ord("Z") + 1)}}
    return _LOWER


def _ascii_upper(table: dict[int, int]) -> dict[int, int]:
    global _UPPER
    if _UPPER is None:
        _UPPER = {**table, **{c: c - 32 for c in range(ord("a"), ord("z") + 1)}}
    return _UPPER


def title_pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    """The compiled whole-word test of a title rule, as RE2 reads the SQL's pattern
    ``(^|[^a-z0-9à-ÿ])(w1|w2)($|[^a-z0-9à-ÿ])`` (``$``: the end of the text only, so
    ``\\Z`` in Python, whose ``$`` also matches before a final newline)."""
    alternatives = "|".join(
        "".join("\\" + ch if ch in _REGEX_SPECIAL else ch for ch in w) for w in words
    )
    return re.compile(f"(?:^|{_NOT_WORD})(?:{alternatives})(?:\\Z|{_NOT_WORD})")
