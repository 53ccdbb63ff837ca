"""Settings and result of a generation run."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from leadscore.errors import ConfigError
from leadscore.synthetic.bots import BOT_SHARE
from leadscore.synthetic.params import SECONDS_PER_DAY

__all__ = ["GenerationSummary", "GeneratorConfig", "OutputFormat"]

OutputFormat = Literal["duckdb", "parquet", "csv"]


@dataclass(frozen=True)
class GeneratorConfig:
    """What to generate. ``end`` is the data's "now": nothing happens after it.

    Output is deterministic for a given ``(n_contacts, seed, start, end)`` and does not depend on
    ``chunk_contacts`` (chunks are whole blocks of 1,000 contacts; it only bounds memory and sets
    the number of Parquet parts).
    """

    n_contacts: int = 20_000
    seed: int = 42
    start: datetime = datetime(2024, 1, 1)
    end: datetime = datetime(2025, 12, 31)
    chunk_contacts: int = 50_000
    drift_at: datetime | None = None
    """A planted drift from this moment on (:mod:`leadscore.synthetic.drift`); off by default."""
    drift_strength: float = 1.0
    bot_share: float = BOT_SHARE
    """Share of contacts turned into crawlers on top of the base simulation's few bots
    (:mod:`leadscore.synthetic.bots`); 0 gives the data of generator releases before it."""
    feedback: bool = True
    """Reps' verdicts on the MQLs in the ``feedback`` table (:mod:`leadscore.synthetic.feedback`);
    drawn from a stream of their own, so the other tables are the same either way."""

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first invalid setting."""
        if self.n_contacts < 1:
            raise ConfigError(f"n_contacts must be >= 1, got {self.n_contacts}.")
        if self.chunk_contacts < 1:
            raise ConfigError(f"chunk_contacts must be >= 1, got {self.chunk_contacts}.")
        if not 0.0 <= self.bot_share < 1.0:
            raise ConfigError(f"bot_share must be in [0, 1), got {self.bot_share}.")
        if self.seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {self.seed}.")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ConfigError("start and end must be naive datetimes (UTC, without tzinfo).")
        if self.drift_at is not None and not self.start < self.drift_at < self.end:
            raise ConfigError(
                f"drift_at must fall between start and end, got {self.drift_at:%Y-%m-%d}; pick "
                f"a date between {self.start:%Y-%m-%d} and {self.end:%Y-%m-%d}."
            )
        if not 0.0 <= self.drift_strength <= 1.0:
            raise ConfigError(f"drift_strength must be in [0, 1], got {self.drift_strength}.")
        if (self.end - self.start).total_seconds() < 7 * SECONDS_PER_DAY:
            raise ConfigError(
                f"end must be at least 7 days after start, got start={self.start:%Y-%m-%d %H:%M}"
                f" and end={self.end:%Y-%m-%d %H:%M}."
            )


@dataclass(frozen=True)
class GenerationSummary:
    """What a run wrote: row counts per CRM table and per oracle table, time taken, where."""

    path: Path
    fmt: OutputFormat
    counts: dict[str, int]
    oracle_counts: dict[str, int] = field(default_factory=dict)
    elapsed_seconds: float = 0.0
