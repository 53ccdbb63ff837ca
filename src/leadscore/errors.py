"""The one exception tree of leadscore.

Every error a user can cause derives from :class:`LeadscoreError`; the CLI prints its message
(never a traceback unless ``--debug``) and exits non-zero. Messages never contain personal data.
"""

from __future__ import annotations

__all__ = [
    "ArtifactError",
    "ConfigError",
    "DataContractError",
    "FeatureDefinitionError",
    "LeadscoreError",
    "OutputError",
    "SourceError",
]


class LeadscoreError(Exception):
    """Base class of every error leadscore raises on purpose."""

    exit_code: int = 1


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
        lines += [f"  - {problem}" for problem in problems]
        lines.append("See docs/data-contract.md for every table, column and rule.")
        super().__init__("\n".join(lines))


class FeatureDefinitionError(LeadscoreError):
    """A feature definition names an unknown feature, window, event type or concept."""

    exit_code = 2


class ArtifactError(LeadscoreError):
    """A saved artifact is missing, corrupt or incompatible with this version of leadscore."""

    exit_code = 5


class OutputError(LeadscoreError):
    """An output cannot be written: its parent is a file, no permission, the disk is full."""

    exit_code = 1
