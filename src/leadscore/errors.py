"""The one exception tree of leadscore.

Every error a user can cause derives from :class:`LeadscoreError`; the CLI prints its message
(never a traceback unless ``--debug``) and exits non-zero. Messages never contain personal data.
"""

from __future__ import annotations

import re

__all__ = [
    "ArtifactError",
    "ConfigError",
    "DataContractError",
    "FeatureDefinitionError",
    "LeadscoreError",
    "OutputError",
    "SourceError",
    "redact",
]

MAX_MESSAGE_CHARS = 8_000
"""No error message is longer than this: a huge field must never end up on a terminal."""

_MAX_PROBLEM_CHARS = 600
_EMAIL = re.compile(r"[^\s@,;:'\"<>()\[\]]+@[^\s@,;:'\"<>()\[\]]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"\+\d[\d .()/-]{6,}\d")
_DATABASE_SCHEMES = (
    "postgresql|postgres|mysql|mariadb|mssql|oracle|snowflake|redshift|trino|presto|databricks"
    "|duckdb|sqlite|bigquery|clickhouse|sc"
)
_URL_USER = re.compile(
    rf"\b(?:{_DATABASE_SCHEMES})(?:\+\w+)?://[^\s/@:]*(?P<password>:[^\s/@:]*)?$", re.IGNORECASE
)
"""A database URL's authority up to its ``@``: ``scheme://user`` or ``scheme://user:password``."""
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][\w+.-]*://[^\s/@:]*):[^\s/@]*@")
"""Any URL's ``user:password@``, whatever its host (``localhost``, an IP address)."""


def _mask_email(match: re.Match[str]) -> str:
    """``<email address>``, except in a database URL's authority: ``user@host`` names a
    database user and server and is kept (in ``mailto://`` or ``http://`` it is masked)."""
    local, _, host = match.group(0).rpartition("@")
    if local == "***":  # a URL password masked already
        return match.group(0)
    url = _URL_USER.search(match.string[max(0, match.start() - 200) : match.start()] + local)
    if url is None:
        return "<email address>"
    if url.group("password") is None:
        return match.group(0)
    return f"***@{host}"  # the match starts after the user's colon: it is the password


def redact(text: str, *, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` with email addresses and international phone numbers masked, cut to ``limit``
    (a URL's ``user@host`` is kept, and its password masked: the server a message names).

    A safety net only: messages are built from names, counts and row ids, never from values.
    """
    text = _URL_PASSWORD.sub(r"\g<head>:***@", text)
    text = _PHONE.sub("<phone number>", _EMAIL.sub(_mask_email, text))
    if len(text) > limit:
        text = text[: max(limit - 40, 0)].rstrip() + " ... (message truncated)"
    return text


class LeadscoreError(Exception):
    """Base class of every error leadscore raises on purpose."""

    exit_code: int = 1

    def __init__(self, *args: object) -> None:
        if len(args) == 1 and isinstance(args[0], str):
            args = (redact(args[0]),)
        super().__init__(*args)


class ConfigError(LeadscoreError):
    """A configuration file or option is invalid (unknown key, wrong type, bad value)."""

    exit_code = 2


class SourceError(LeadscoreError):
    """A CRM source cannot be opened or read (missing file, unreachable database...)."""

    exit_code = 3


class DataContractError(LeadscoreError):
    """CRM tables break the data contract; carries every problem found, not only the first."""

    exit_code = 4

    def __init__(self, problems: list[object], *, header: str | None = None) -> None:
        self.problems = problems
        lines = [header or f"The CRM data breaks the data contract ({len(problems)} problem(s)):"]
        lines += [f"  - {redact(str(problem), limit=_MAX_PROBLEM_CHARS)}" for problem in problems]
        lines.append("See docs/data-contract.md for every table, column and rule.")
        # every problem is listed: the cap applies per problem, not to the whole list
        Exception.__init__(self, "\n".join(lines))


class FeatureDefinitionError(LeadscoreError):
    """A feature definition names an unknown feature, window, event type or concept."""

    exit_code = 2


class ArtifactError(LeadscoreError):
    """A saved artifact is missing, corrupt or incompatible with this version of leadscore."""

    exit_code = 5


class OutputError(LeadscoreError):
    """An output cannot be written: its parent is a file, no permission, the disk is full."""

    exit_code = 1
