"""Checks CRM tables against the data contract with DuckDB SQL and builds the canonical views.

Sources register their raw tables as DuckDB views named ``raw_<table>``. :func:`validate` runs every
check, collects *all* problems (never stopping at the first), and, when none is an error, creates
the canonical views ``accounts``, ``contacts``, ... with contract types and mapped vocabularies.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

import duckdb

from leadscore.config import CrmMapping
from leadscore.contract import CONTRACT, Column, Table, table_spec
from leadscore.errors import DataContractError, redact
from leadscore.safe_text import printable as _printable
from leadscore.safe_text import safe_example as _safe_example
from leadscore.safe_text import shown_value as _shown_value
from leadscore.sql import quote_identifier as _quote
from leadscore.sql import quote_literal as _literal
from leadscore.validation_counts import FusedCounts

__all__ = ["Problem", "Severity", "SqlConnection", "canonical_views", "raw_view", "validate"]

_MAX_EXAMPLES = 5
_SCIENTIFIC = re.compile(r"[+-]?\d(\.\d+)?[eE][+-]?\d+")
"""A value as Excel shows a long number (``1.23E+05``): the digits past the third are lost."""


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    """One broken rule: where (table, column), how many rows, a few row ids, what was expected."""

    table: str
    column: str | None
    n_rows: int
    expected: str
    examples: tuple[str, ...] = ()
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        if not self.n_rows:
            return redact(f"{where}: {self.expected}")
        examples = f" (e.g. {', '.join(self.examples)})" if self.examples else ""
        return redact(f"{where}: {self.n_rows:,} row(s){examples}: {self.expected}")


def _found_columns(columns: list[str], table: Table) -> str:
    """What the table holds instead, without echoing a data row taken for a header."""
    if not set(columns) & set(table.column_names):
        return (
            f"none of the contract's columns was found ({len(columns)} column(s)): the first line "
            "must be a header naming the columns, separated by commas (or ; tab |)"
        )
    return "found columns: " + ", ".join(_printable(c) for c in columns)


class SqlRows(Protocol):
    """A query result: what the checks read of it."""

    def fetchone(self) -> tuple[Any, ...] | None: ...

    def fetchall(self) -> list[tuple[Any, ...]]: ...


class SqlConnection(Protocol):
    """Where the checks run: a DuckDB connection, or any object taking the same DuckDB-dialect
    SQL (the Spark engine's :class:`~leadscore.features.spark_crm.SparkSqlConnection`)."""

    def execute(self, query: str) -> SqlRows: ...


def raw_view(table: str) -> str:
    """Name of the view a source registers for a raw table."""
    return f"raw_{table}"


# what a readable value looks like, per contract type (the export setting to change)
_READABLE = {
    "TIMESTAMP": "expected ISO dates such as 2024-03-01 or 2024-03-01 09:30:00 (a UTC offset "
    "is allowed); export ISO dates: a day/month form like 01/03/2024 is ambiguous",
    "BIGINT": "expected whole numbers without thousands separators (1500, not 1,500); "
    "fix the values or the export format",
    "DOUBLE": "expected numbers with a dot for decimals and no thousands separators "
    "(1234.5); fix the values or the export format",
}


def _nul_condition(column: str) -> str:
    """Where a text column holds a NUL byte (one spelling: counts are matched by their text)."""
    return f"strpos({_quote(column)}, chr(0)) > 0"


class _Checker:
    def __init__(
        self,
        con: SqlConnection,
        mapping: CrmMapping,
        as_of: datetime,
        *,
        allow_empty_tables: bool = False,
        local: bool = False,
    ) -> None:
        self.allow_empty_tables = allow_empty_tables
        self.local = local  # a local DuckDB connection: cheap tests decide first
        self.con = con
        self.mapping = mapping
        self.as_of = as_of
        self.problems: list[Problem] = []
        self.present: dict[str, list[str]] = {}  # table -> raw columns
        self.bad_columns: set[tuple[str, str]] = set()  # missing required columns

    # -- helpers -------------------------------------------------------------------------------
    def _count_and_examples(
        self, table: Table, where_sql: str, source: str
    ) -> tuple[int, tuple[str, ...]]:
        row_id = _quote(table.row_id)
        count = self._count(source, where_sql)
        if count == 0:
            return 0, ()
        rows = self.con.execute(
            f"SELECT DISTINCT CAST({row_id} AS VARCHAR) AS rid FROM {source} "
            f"WHERE {where_sql} ORDER BY rid NULLS LAST LIMIT {_MAX_EXAMPLES}"
        ).fetchall()
        return count, tuple(_safe_example(r[0]) for r in rows)

    def _count(self, source: str, where_sql: str) -> int:
        """Rows of ``source`` where ``where_sql`` holds (one form, so that counts can be batched)."""
        row = self.con.execute(f"SELECT count(*) FROM {source} WHERE {where_sql}").fetchone()
        return int(row[0]) if row else 0

    def _count_outside(self, table: Table, column: Column, outside: str) -> int:
        """Rows whose mapped value is ``outside`` the vocabulary. Locally, from the count of each
        distinct raw value: the mapping then runs once per value, not once per row."""
        if not self.local:
            return self._count(_quote(table.name), outside)
        col = _quote(column.name)
        grouped = (
            f"SELECT {self._vocabulary_expr(column, table)} AS {col}, _n FROM (SELECT {col}, "
            f"count(*) AS _n FROM {raw_view(table.name)} GROUP BY {col})"
        )
        row = self.con.execute(
            f"SELECT coalesce(sum(_n), 0) FROM ({grouped}) WHERE {outside}"
        ).fetchone()
        return int(row[0]) if row else 0

    def _strictly_increasing(self, table: Table, view: str, key: tuple[str, ...]) -> bool:
        """Whether each non-empty value of a one-column key is greater than the one before it
        in the table's order: then no value repeats, without grouping every key (an export
        ordered by its ids; a few tenths of the grouping's time). Only on a local connection:
        on Spark the window would gather the table in one task.

        The same pass counts the key's values holding NUL bytes when the key is raw text (its
        canonical values are the raw ones): the NUL-byte check of the raw column then reads
        that count (:meth:`FusedCounts.note`) instead of reading a unique text column once
        more (the largest of the NUL-byte checks: every value distinct)."""
        if not self.local or len(key) != 1:
            return False
        col = _quote(key[0])
        raw = raw_view(table.name)
        nul = _nul_condition(key[0])
        shared = isinstance(self.con, FusedCounts) and self._raw_text(table, key[0])
        # the NUL test beside the scan (which runs on every thread), not after the window
        inner, outer = (
            (f", {nul} AS _nul", ", count(CASE WHEN _nul THEN 1 END)") if shared else ("", "")
        )
        row = self.con.execute(
            f"SELECT coalesce(bool_and(_up), true){outer} FROM (SELECT *, {col} > lag({col}) "
            f"OVER () AS _up FROM (SELECT {col}{inner} FROM {view} WHERE {col} IS NOT NULL))"
        ).fetchone()
        if shared and row is not None and isinstance(self.con, FusedCounts):
            self.con.note(raw, nul, int(row[1] or 0))
        return bool(row and row[0])

    def _raw_text(self, table: Table, name: str) -> bool:
        """Whether the canonical column ``name`` holds the raw values unchanged: raw text read
        as contract text (``CAST(x AS VARCHAR)`` of a VARCHAR), no vocabulary mapping."""
        column = next((c for c in table.columns if c.name == name), None)
        if column is None or column.dtype != "VARCHAR" or column.vocabulary:
            return False
        return self._raw_types(raw_view(table.name)).get(name) == "VARCHAR"

    def _raw_types(self, raw: str) -> dict[str, str]:
        return {r[0]: r[1] for r in self.con.execute(f"DESCRIBE {raw}").fetchall()}

    def _zeros_hint(self, view: str, orphan: str, col: str, ref_table: str, ref: str) -> str:
        """A hint when the orphans match once leading zeros are ignored (``123`` vs ``00123``):
        one export wrote the ids as numbers (Excel does)."""
        stripped = "ltrim(CAST({} AS VARCHAR), '0')"
        row = self.con.execute(
            f"SELECT count(*) FROM {view} WHERE {orphan} AND {stripped.format(col)} IN "
            f"(SELECT {stripped.format(_quote(ref))} FROM {_quote(ref_table)} "
            f"WHERE {_quote(ref)} IS NOT NULL)"
        ).fetchone()
        matched = int(row[0]) if row else 0
        if not matched:
            return ""
        return (
            f" ({matched:,} of them match once leading zeros are ignored, such as 123 and "
            "00123: one export wrote the ids as numbers; export them formatted as text)"
        )

    def _report(
        self, table: Table, column: str | None, where_sql: str, expected: str, source: str
    ) -> None:
        count, examples = self._count_and_examples(table, where_sql, source)
        if count and any(_SCIENTIFIC.fullmatch(str(e)) for e in examples):
            expected += (
                " (values such as 1.23E+05 are Excel's scientific notation, which drops a long "
                "number's digits: export the column formatted as text)"
            )
        if count:
            self.problems.append(Problem(table.name, column, count, expected, examples))

    def _usable(self, table: Table, *columns: str) -> bool:
        return table.name in self.present and all(
            (table.name, c) not in self.bad_columns for c in columns
        )

    # -- structure -----------------------------------------------------------------------------
    def check_structure(self) -> None:
        existing = {
            row[0]
            for row in self.con.execute(
                "SELECT view_name FROM duckdb_views() WHERE NOT internal "
                "UNION SELECT table_name FROM duckdb_tables()"
            ).fetchall()
        }
        for table in CONTRACT:
            if raw_view(table.name) not in existing:
                if not table.optional:
                    self.problems.append(
                        Problem(
                            table.name,
                            None,
                            0,
                            "table is missing; expected a table named "
                            f"'{table.name}' (see docs/data-contract.md)",
                        )
                    )
                continue
            columns = [
                r[0] for r in self.con.execute(f"DESCRIBE {raw_view(table.name)}").fetchall()
            ]
            self.present[table.name] = columns
            found = _found_columns(columns, table)
            for column in table.columns:
                if column.name not in columns and column.required:
                    self.bad_columns.add((table.name, column.name))
                    self.problems.append(
                        Problem(
                            table.name,
                            column.name,
                            0,
                            f"required column is missing; expected a {column.dtype} column "
                            f"'{column.name}' ({column.description.rstrip('.')}); {found}",
                        )
                    )
            if table.row_id not in columns:
                # examples cannot be quoted without the row id column; fall back to the first one
                self.bad_columns.add((table.name, table.row_id))

    def check_rows_and_types(self) -> None:
        for table in CONTRACT:
            if table.name not in self.present:
                continue
            raw = raw_view(table.name)
            (n_rows,) = self.con.execute(f"SELECT count(*) FROM {raw}").fetchone() or (0,)
            if n_rows == 0 and not table.optional and not self.allow_empty_tables:
                self.problems.append(
                    Problem(table.name, None, 0, "table is empty; expected at least one row")
                )
                continue
            for column in table.columns:
                if column.name not in self.present[table.name]:
                    continue
                if not self._usable(table, table.row_id):
                    continue
                col = _quote(column.name)
                if column.dtype != "VARCHAR":
                    self._report(
                        table,
                        column.name,
                        f"{col} IS NOT NULL AND TRY_CAST({col} AS {column.dtype}) IS NULL",
                        f"values cannot be read as {column.dtype}; "
                        f"{_READABLE.get(column.dtype, 'fix the values or the export format')}",
                        raw,
                    )
                if not column.nullable:
                    self._report(
                        table,
                        column.name,
                        f"{col} IS NULL",
                        "values are missing; this column may not be empty",
                        raw,
                    )
            self._check_nul_bytes(table, raw)

    def _check_nul_bytes(self, table: Table, raw: str) -> None:
        """Text holding NUL bytes (a binary or badly converted export) is never valid."""
        if not self._usable(table, table.row_id):
            return
        for name, dtype in self._raw_types(raw).items():
            if dtype != "VARCHAR":
                continue
            self._report(
                table,
                name,
                _nul_condition(name),
                "values hold NUL bytes (\\0); expected text: export the table again as UTF-8 "
                "text (the file may be UTF-16 or binary)",
                raw,
            )

    # -- canonical views -----------------------------------------------------------------------
    def _vocabulary_expr(self, column: Column, table: Table) -> str:
        labels: dict[str, str] = {}
        if table.name == "stage_changes" and column.name == "stage":
            labels = {k: v.value for k, v in self.mapping.stage_labels.items()}
        elif table.name == "events" and column.name == "event_type":
            labels = {k: v.value for k, v in self.mapping.event_types.items()}
        col = _quote(column.name)
        if not labels:
            return f"lower(trim({col}))"
        exact = " ".join(
            f"WHEN {col} = {_literal(k)} THEN {_literal(v)}" for k, v in labels.items()
        )
        loose = " ".join(
            f"WHEN lower(trim({col})) = {_literal(k.strip().lower())} THEN {_literal(v)}"
            for k, v in labels.items()
        )
        return f"CASE {exact} {loose} ELSE lower(trim({col})) END"

    def create_canonical_views(self) -> None:
        for table in CONTRACT:
            present = self.present.get(table.name)
            selects = []
            for column in table.columns:
                if present is None or column.name not in present:
                    selects.append(f"CAST(NULL AS {column.dtype}) AS {_quote(column.name)}")
                    continue
                col = _quote(column.name)
                expr = (
                    f"TRY_CAST({col} AS {column.dtype})"
                    if column.dtype != "VARCHAR"
                    else f"CAST({col} AS VARCHAR)"
                )
                if column.vocabulary:
                    expr = self._vocabulary_expr(column, table)
                selects.append(f"{expr} AS {col}")
            if present is not None and table.allows_extra_columns:
                selects += [_quote(c) for c in present if c not in table.column_names]
            source = (
                raw_view(table.name) if present is not None else "(SELECT 1) AS _empty WHERE false"
            )
            self.con.execute(
                f"CREATE OR REPLACE VIEW {_quote(table.name)} AS SELECT {', '.join(selects)} FROM {source}"
            )

    # -- semantic checks on canonical views ------------------------------------------------------
    def check_semantics(self) -> None:
        for table in CONTRACT:
            if table.name not in self.present or not self._usable(table, table.row_id):
                continue
            view = _quote(table.name)
            if (
                table.key
                and self._usable(table, *table.key)
                and not self._strictly_increasing(table, view, table.key)
            ):
                key = ", ".join(_quote(k) for k in table.key)
                self._report(
                    table,
                    ", ".join(table.key),
                    f"({key}) IN (SELECT ({key}) FROM {view} GROUP BY {key} HAVING count(*) > 1)",
                    "key values are duplicated; expected one row per key",
                    view,
                )
            for column in table.columns:
                if (
                    column.vocabulary
                    and self._usable(table, column.name)
                    and column.name in self.present[table.name]
                ):
                    allowed = ", ".join(_literal(v) for v in column.vocabulary)
                    hint = ""
                    if (table.name, column.name) == ("stage_changes", "stage"):
                        hint = " or map the CRM label under mapping.stage_labels in the config file"
                    elif (table.name, column.name) == ("events", "event_type"):
                        hint = " or map the CRM name under mapping.event_types in the config file"
                    outside = f"{_quote(column.name)} NOT IN ({allowed})"
                    if not self._count_outside(table, column, outside):
                        continue  # the values are looked up only when a count finds some
                    unknown = self.con.execute(
                        f"SELECT DISTINCT {_quote(column.name)} FROM {view} WHERE {outside} "
                        f"ORDER BY 1 LIMIT {_MAX_EXAMPLES}"
                    ).fetchall()
                    values = ", ".join(_shown_value(r[0]) for r in unknown)
                    self._report(
                        table,
                        column.name,
                        outside,
                        f"unknown values ({values}); expected one of {', '.join(column.vocabulary)}{hint}",
                        view,
                    )
            for fk in table.foreign_keys:
                if not self._usable(table, fk.column) or fk.ref_table not in self.present:
                    continue
                col = _quote(fk.column)
                orphan = (
                    f"{col} IS NOT NULL AND {col} NOT IN (SELECT {_quote(fk.ref_column)} FROM "
                    f"{_quote(fk.ref_table)} WHERE {_quote(fk.ref_column)} IS NOT NULL)"
                )
                found = len(self.problems)
                self._report(
                    table,
                    fk.column,
                    orphan,
                    f"refer to unknown {fk.ref_table}; expected every {fk.column} to exist in "
                    f"{fk.ref_table}.{fk.ref_column}",
                    view,
                )
                if len(self.problems) > found:  # only then: one more scan
                    hint = self._zeros_hint(view, orphan, col, fk.ref_table, fk.ref_column)
                    last = self.problems[-1]
                    self.problems[-1] = replace(last, expected=last.expected + hint)
            if table.time_column and self._usable(table, table.time_column):
                as_of = self.as_of.strftime("%Y-%m-%d %H:%M:%S")
                self._report(
                    table,
                    table.time_column,
                    f"{_quote(table.time_column)} > TIMESTAMP '{as_of}'",
                    f"timestamps are in the future (after {as_of}); check the time zone or the export",
                    view,
                )
        self._check_minimums()
        self._check_after_account()
        self._check_after_contact()
        self._check_email_domains()

    def _check_minimums(self) -> None:
        for table in CONTRACT:
            if table.name not in self.present or not self._usable(table, table.row_id):
                continue
            for column in table.columns:
                if column.minimum is None or column.name not in self.present[table.name]:
                    continue
                self._report(
                    table,
                    column.name,
                    f"{_quote(column.name)} < {column.minimum!r}",
                    f"values are below {column.minimum:g}; expected {column.minimum:g} or more "
                    "(leave the value empty when it is unknown)",
                    _quote(table.name),
                )

    def _check_after_contact(self) -> None:
        """A contact cannot change stage before it exists in the CRM."""
        contacts, changes = table_spec("contacts"), table_spec("stage_changes")
        if not self._usable(contacts, "contact_id", "created_at"):
            return
        if not self._usable(changes, "contact_id", "changed_at"):
            return
        self._report(
            changes,
            "changed_at",
            "EXISTS (SELECT 1 FROM contacts c WHERE c.contact_id = stage_changes.contact_id "
            "AND stage_changes.changed_at < c.created_at)",
            "stage changes before the contact was created; expected changed_at >= the "
            "contact's created_at (check the time zone of both exports)",
            "stage_changes",
        )

    def _check_email_domains(self) -> None:
        contacts = table_spec("contacts")
        if not self._usable(contacts, "email_domain", "contact_id"):
            return
        self._report(
            contacts,
            "email_domain",
            "strpos(email_domain, '@') > 0",
            "values hold full email addresses; expected the domain only (e.g. acme.com): "
            "export the part after the at sign; leadscore never needs the address",
            "contacts",
        )

    def _check_after_account(self) -> None:
        if not self._usable(table_spec("accounts"), "account_id", "created_at"):
            return
        contacts = table_spec("contacts")
        if not self._usable(contacts, "account_id", "created_at", "contact_id"):
            return
        self._report(
            contacts,
            "created_at",
            "EXISTS (SELECT 1 FROM accounts a WHERE a.account_id = contacts.account_id "
            "AND contacts.created_at < a.created_at)",
            "contact created before its account existed; expected created_at >= the account's created_at",
            "contacts",
        )
        for name in ("events", "stage_changes"):
            table = table_spec(name)
            assert table.time_column is not None
            if not self._usable(table, "contact_id", table.time_column, table.row_id):
                continue
            time_col = _quote(table.time_column)
            source = (
                f"(SELECT t.*, a.created_at AS _account_created_at FROM {name} t "
                "JOIN contacts c USING (contact_id) JOIN accounts a ON a.account_id = c.account_id)"
            )
            self._report(
                table,
                table.time_column,
                f"{time_col} < _account_created_at",
                "timestamps before the contact's account existed; expected times after the "
                "account's created_at",
                source,
            )


def _run_checks(checker: _Checker) -> list[Problem]:
    checker.check_structure()
    checker.check_rows_and_types()
    checker.create_canonical_views()
    checker.check_semantics()
    return checker.problems


def validate(
    con: SqlConnection,
    mapping: CrmMapping,
    *,
    as_of: datetime,
    raise_on_error: bool = True,
    allow_empty_tables: bool = False,
    findings: Sequence[Problem] = (),
) -> list[Problem]:
    """Check the ``raw_*`` views of ``con``; create canonical views; return every problem found.

    Raises :class:`DataContractError` listing all problems when any is an error and
    ``raise_on_error`` is true. ``allow_empty_tables`` accepts tables without rows (a few leads
    posted for scoring may have no events yet; a whole CRM export without events is an error).
    ``findings`` are problems the source found while reading (ignored files, duplicate headers).
    On a DuckDB connection the plain counts of the checks run as one query per table
    (:class:`FusedCounts`); any other connection gets one ``SELECT count(*) FROM t WHERE c``
    per check (Spark's batches them itself).
    """
    # a DuckDB connection itself (not Spark's, which batches its own counts, nor a wrapper that
    # reads the shape of each check: serving's posted-rows recorder)
    local = isinstance(con, duckdb.DuckDBPyConnection)
    if local:
        fused = FusedCounts(con)
        fused.record()  # a dry pass gathers the counts, run as one query per table
        _run_checks(
            _Checker(fused, mapping, as_of, allow_empty_tables=allow_empty_tables, local=True)
        )
        fused.prefetch()
        con = fused
    checker = _Checker(con, mapping, as_of, allow_empty_tables=allow_empty_tables, local=local)
    checker.problems += findings
    problems = _run_checks(checker)
    if raise_on_error and any(p.severity is Severity.ERROR for p in problems):
        raise DataContractError(list(problems))
    return problems


def canonical_views(
    con: SqlConnection,
    mapping: CrmMapping,
    *,
    checks: Sequence[Problem],
    findings: Sequence[Problem] = (),
) -> list[Problem]:
    """Create the canonical views of ``raw_*`` views whose rows passed :func:`validate` before
    (unchanged since: :mod:`leadscore.validation_cache`), without checking them again; return
    the problems that validation returned: ``findings`` then ``checks`` (its own problems)."""
    checker = _Checker(con, mapping, datetime.min)
    checker.check_structure()
    checker.create_canonical_views()
    return [*findings, *checks]
