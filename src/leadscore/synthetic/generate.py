"""``generate_crm``: the synthetic CRM and its oracle, chunk by chunk, written atomically."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from leadscore.atomic import is_write_error, output_error
from leadscore.contract import SCHEMA_VERSION
from leadscore.errors import ConfigError
from leadscore.synthetic.block import BlockTables, simulate_block
from leadscore.synthetic.config import GenerationSummary, GeneratorConfig, OutputFormat
from leadscore.synthetic.drift import Drift
from leadscore.synthetic.params import BLOCK_CONTACTS, GENERATOR_VERSION
from leadscore.synthetic.profiles import count_block_accounts
from leadscore.synthetic.writer import CRM_TABLES, ORACLE_SCHEMA, CrmWriter

__all__ = ["generate_crm", "resolve_format"]

_FORMATS: tuple[OutputFormat, ...] = ("duckdb", "parquet", "csv")
_ORACLE_PARTS = {
    "contacts": "oracle_contacts",
    "bursts": "oracle_bursts",
    "hand_raises": "oracle_hand_raises",
}


def resolve_format(out: Path, fmt: OutputFormat | None) -> OutputFormat:
    """The output format: ``fmt`` if given, else DuckDB for ``*.duckdb`` paths, else Parquet."""
    is_duckdb_path = out.suffix == ".duckdb"
    if fmt is None:
        return "duckdb" if is_duckdb_path else "parquet"
    if fmt not in _FORMATS:
        raise ConfigError(f"Unknown output format {fmt!r}; use one of {', '.join(_FORMATS)}.")
    if is_duckdb_path and fmt != "duckdb":
        raise ConfigError(
            f"Output {out} ends in .duckdb but the format is {fmt!r}: use a folder path for "
            f"{fmt} output, or format 'duckdb'."
        )
    return fmt


def _block_sizes(n_contacts: int) -> list[int]:
    n_blocks = math.ceil(n_contacts / BLOCK_CONTACTS)
    return [min(BLOCK_CONTACTS, n_contacts - b * BLOCK_CONTACTS) for b in range(n_blocks)]


def _concat(blocks: list[BlockTables], name: str) -> pa.Table:
    return pa.concat_tables([getattr(b, name) for b in blocks])


def _is_generated(out: Path) -> bool:
    """Whether ``out`` holds an earlier synthetic CRM (it carries the oracle)."""
    if out.is_dir():
        return (out / "_oracle").is_dir()
    try:
        with duckdb.connect(str(out), read_only=True) as con:
            row = con.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'oracle'"
            ).fetchone()
    except duckdb.Error:
        return False
    return bool(row and row[0])


def _refuse_foreign_output(out: Path) -> None:
    """Never replace data the generator did not write (a real export, another database)."""
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return
    if not _is_generated(out):
        raise ConfigError(
            f"{out} already exists and is not a synthetic CRM written by leadscore: refusing to "
            "replace it. Choose another --out path, or remove it first."
        )


def generate_crm(
    config: GeneratorConfig,
    out: Path,
    *,
    fmt: OutputFormat | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> GenerationSummary:
    """Generate a synthetic CRM (accounts, contacts, events, stage_changes, the reps' feedback)
    and its oracle, and write them to ``out``.

    ``out`` ending in ``.duckdb`` gives one DuckDB file (oracle in schema ``oracle``); any other
    path gives a folder with one entry per table (``<table>.csv`` or ``<table>/part-NNNNN.parquet``,
    oracle under ``_oracle/``). The previous content of ``out`` is replaced only when the run
    succeeds. ``progress(done_contacts, total_contacts)`` is called after each chunk.
    """
    started = time.perf_counter()
    config.validate()
    out = Path(out)
    fmt = resolve_format(out, fmt)
    _refuse_foreign_output(out)
    sizes = _block_sizes(config.n_contacts)
    account_counts = [count_block_accounts(config.seed, b, n) for b, n in enumerate(sizes)]
    account_offsets = np.concatenate([[0], np.cumsum(account_counts)]).astype(int)
    blocks_per_chunk = max(1, config.chunk_contacts // BLOCK_CONTACTS)
    counts = dict.fromkeys((*CRM_TABLES, "feedback"), 0)
    oracle_counts = dict.fromkeys(_ORACLE_PARTS, 0)
    writer = CrmWriter(out, fmt)
    try:
        meta = {
            "generator_version": GENERATOR_VERSION,
            "schema_version": SCHEMA_VERSION,
            "seed": str(config.seed),
            "n_contacts": str(config.n_contacts),
            "start": config.start.isoformat(),
            "end": config.end.isoformat(),
            "bot_share": str(config.bot_share),
        }
        drift = Drift.of(config.drift_at, config.drift_strength, config.start)
        if drift is not None and config.drift_at is not None:
            meta["drift_at"] = config.drift_at.isoformat()
            meta["drift_strength"] = str(config.drift_strength)
        writer.append(
            f"{ORACLE_SCHEMA}.meta", pa.table({"key": list(meta), "value": list(meta.values())})
        )
        done = 0
        for first in range(0, len(sizes), blocks_per_chunk):
            blocks = [
                simulate_block(
                    config.seed,
                    b,
                    sizes[b],
                    int(account_offsets[b]) + 1,
                    b * BLOCK_CONTACTS + 1,
                    config.start,
                    config.end,
                    drift,
                    bot_share=config.bot_share,
                    feedback=config.feedback,
                )
                for b in range(first, min(first + blocks_per_chunk, len(sizes)))
            ]
            for name in CRM_TABLES:
                table = _concat(blocks, name)
                if name == "events":
                    ids = np.arange(counts["events"] + 1, counts["events"] + table.num_rows + 1)
                    table = table.append_column("event_num", pa.array(ids, type=pa.int64()))
                writer.append(name, table)
                counts[name] += table.num_rows
            feedback = _concat(blocks, "feedback")
            writer.append("feedback", feedback)
            counts["feedback"] += feedback.num_rows
            for name, attr in _ORACLE_PARTS.items():
                table = _concat(blocks, attr)
                writer.append(f"{ORACLE_SCHEMA}.{name}", table)
                oracle_counts[name] += table.num_rows
            del blocks
            done += sum(sizes[first : first + blocks_per_chunk])
            if progress is not None:
                progress(done, config.n_contacts)
        writer.commit()
    except BaseException as exc:
        writer.discard()
        if isinstance(exc, OSError | duckdb.Error) and is_write_error(exc):
            raise output_error(out, exc) from None  # a full disk is not a bug: say what to do
        raise
    return GenerationSummary(
        path=out,
        fmt=fmt,
        counts=counts,
        oracle_counts=oracle_counts,
        elapsed_seconds=time.perf_counter() - started,
    )
