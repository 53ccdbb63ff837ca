"""Values fit for a message: row ids and CRM labels, masked when they look personal.

Error messages name tables, columns, counts and a few row ids; they never quote a data row.
"""

from __future__ import annotations

import re

__all__ = ["MAX_VALUE_CHARS", "printable", "safe_example", "shown_value"]

_PHONE_LIKE = re.compile(r"^\+?[\d\s().-]+$")
"""Digits with phone separators (``555-867-5309``, ``+33 6 12 34 56 78``); plain numeric ids
such as ``5558675309`` stay visible: CRMs use them as record ids."""

MAX_VALUE_CHARS = 40
"""Longest value (row id, label) quoted in a message."""


def safe_example(value: object) -> str:
    """A row id fit for a message: ids that look like email addresses are masked, control
    characters escaped and long ids cut."""
    if value is None:
        return "NULL"
    text = str(value)
    if "@" in text:
        return "<id that looks like an email address>"
    if _PHONE_LIKE.match(text) and sum(c.isdigit() for c in text) >= 7:
        return "<id that looks like a phone number>"
    return printable(text)


def printable(text: str, limit: int = MAX_VALUE_CHARS) -> str:
    """``text`` with control characters (NUL...) escaped, cut to ``limit`` characters."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[: limit + 1])
    return text if len(text) <= limit else text[:limit] + "..."


def shown_value(value: object) -> str:
    """A vocabulary value fit for a message (a CRM label, never personal data): values that look
    like an email address or a phone number are masked."""
    text = str(value)
    if "@" in text:
        return "<a value that looks like an email address>"
    if sum(c.isdigit() for c in text) >= 7:
        return "<a value that looks like a phone number>"
    return repr(printable(text))
