"""A Python pass over posted rows that says when the contract checks would find nothing.

:class:`~leadscore.serving.posted.PostedValidator` runs the data contract's bad-row counts
(recorded from :func:`leadscore.validation.validate`) as one DuckDB query, about 7 ms per
request whatever its size. :class:`QuickCheck` reads the very list of those counts and knows
each by its shape (a null, a NUL byte, a time after ``as_of``, a duplicated key, a value out of
its vocabulary, a negative number, a time before the account or contact existed, an ``@`` in a
domain); on the rows of a request it decides whether every count would be zero. When it says
yes, the DuckDB check can be skipped: its answer would be "no problem". When it says no (or is
not sure), the caller runs the DuckDB check, whose error lists the problems in the validation's
own words, exactly as before. Should the validation gain a check of a shape this module does not
know, :attr:`QuickCheck.enabled` is false and every request runs the DuckDB check.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from leadscore.contract import CONTRACT

__all__ = ["QuickCheck"]

Rows = dict[str, list[dict[str, Any]]]
Rule = Callable[[Rows, datetime], bool]
"""True when the rows meet the rule (the count would be zero)."""

_HEAD = r"SELECT count\(\*\) FROM "
_COUNT = "SELECT count(*) FROM "
_DTYPES = {(t.name, c.name): c.dtype for t in CONTRACT for c in t.columns}


def _all(rows: Rows, table: str, test: Callable[[Any], bool], column: str) -> bool:
    return all(test(row.get(column)) for row in rows.get(table, []))


def _not_null(table: str, column: str) -> Rule:
    return lambda rows, moment: _all(rows, table, lambda v: v is not None, column)


def _castable(table: str, column: str, dtype: str) -> Rule | None:
    # posted tables hold the contract's types: a value of the column's own type casts
    return (lambda rows, moment: True) if _DTYPES.get((table, column)) == dtype else None


def _no_nul(table: str, column: str) -> Rule:
    return lambda rows, moment: _all(rows, table, lambda v: v is None or "\x00" not in v, column)


def _not_after(table: str, column: str) -> Rule:
    return lambda rows, moment: _all(rows, table, lambda v: v is None or v <= moment, column)


def _unique(table: str, column: str) -> Rule:
    def rule(rows: Rows, moment: datetime) -> bool:
        values = [r.get(column) for r in rows.get(table, []) if r.get(column) is not None]
        return len(set(values)) == len(values)

    return rule


def _in_vocabulary(table: str, column: str, allowed: Sequence[str]) -> Rule:
    # the canonical view reads lower(trim(value)) (no labels in the posted mapping): a value
    # already so written reads as itself
    known = frozenset(allowed)

    def ok(value: Any) -> bool:
        return value is None or (value in known and value == value.strip(" ").lower())

    return lambda rows, moment: _all(rows, table, ok, column)


def _not_negative(table: str, column: str) -> Rule:
    return lambda rows, moment: _all(rows, table, lambda v: v is None or v >= 0, column)


def _times_after(
    rows: Rows, table: str, column: str, owner: Callable[[dict[str, Any]], Any]
) -> bool:
    for row in rows.get(table, []):
        when, start = row.get(column), owner(row)
        if when is not None and start is not None and when < start:
            return False
    return True


def _accounts(rows: Rows) -> dict[Any, Any]:
    return {a["account_id"]: a.get("created_at") for a in rows.get("accounts", [])}


def _contacts(rows: Rows) -> dict[Any, dict[str, Any]]:
    return {c["contact_id"]: c for c in rows.get("contacts", [])}


def _contact_after_account(rows: Rows, moment: datetime) -> bool:
    accounts = _accounts(rows)
    return _times_after(rows, "contacts", "created_at", lambda c: accounts.get(c.get("account_id")))


def _after_account(table: str, column: str) -> Rule:
    def rule(rows: Rows, moment: datetime) -> bool:
        accounts, contacts = _accounts(rows), _contacts(rows)

        def start(row: dict[str, Any]) -> Any:
            contact = contacts.get(row.get("contact_id"))
            return None if contact is None else accounts.get(contact.get("account_id"))

        return _times_after(rows, table, column, start)

    return rule


def _change_after_contact(rows: Rows, moment: datetime) -> bool:
    contacts = _contacts(rows)

    def start(row: dict[str, Any]) -> Any:
        contact = contacts.get(row.get("contact_id"))
        return None if contact is None else contact.get("created_at")

    return _times_after(rows, "stage_changes", "changed_at", start)


_SHAPES: list[tuple[re.Pattern[str], Callable[..., Rule | None]]] = [
    (re.compile(_HEAD + r'raw_(\w+) WHERE "(\w+)" IS NULL'), _not_null),
    (
        re.compile(
            _HEAD + r'raw_(\w+) WHERE "(\w+)" IS NOT NULL AND TRY_CAST\("\2" AS (\w+)\) IS NULL'
        ),
        _castable,
    ),
    (re.compile(_HEAD + r'raw_(\w+) WHERE strpos\("(\w+)", chr\(0\)\) > 0'), _no_nul),
    (re.compile(_HEAD + r'"(\w+)" WHERE "(\w+)" > CAST\(\$1 AS TIMESTAMP\)'), _not_after),
    (
        re.compile(
            _HEAD + r'"(\w+)" WHERE \("(\w+)"\) IN \(SELECT \("\2"\) FROM "\1" GROUP BY "\2" '
            r"HAVING count\(\*\) > 1\)"
        ),
        _unique,
    ),
    (re.compile(_HEAD + r'"(\w+)" WHERE "(\w+)" < 0'), _not_negative),
]
_VOCABULARY = re.compile(_HEAD + r'"(\w+)" WHERE "(\w+)" NOT IN \(((?:\'[a-z_]+\'(?:, )?)+)\)')
_EXACT: dict[str, Rule] = {
    _COUNT + "contacts WHERE EXISTS (SELECT 1 FROM accounts a WHERE a.account_id = "
    "contacts.account_id AND contacts.created_at < a.created_at)": _contact_after_account,
    _COUNT + "(SELECT t.*, a.created_at AS _account_created_at FROM events t JOIN contacts c "
    "USING (contact_id) JOIN accounts a ON a.account_id = c.account_id) WHERE "
    '"occurred_at" < _account_created_at': _after_account("events", "occurred_at"),
    _COUNT + "(SELECT t.*, a.created_at AS _account_created_at FROM stage_changes t JOIN "
    "contacts c USING (contact_id) JOIN accounts a ON a.account_id = c.account_id) WHERE "
    '"changed_at" < _account_created_at': _after_account("stage_changes", "changed_at"),
    _COUNT + "stage_changes WHERE EXISTS (SELECT 1 FROM contacts c WHERE c.contact_id = "
    "stage_changes.contact_id AND stage_changes.changed_at < c.created_at)": _change_after_contact,
    _COUNT + "contacts WHERE strpos(email_domain, '@') > 0": (
        lambda rows, moment: _all(
            rows, "contacts", lambda v: v is None or "@" not in v, "email_domain"
        )
    ),
}


def _rule(sql: str) -> Rule | None:
    """The Python rule of one recorded check (``None``: a shape not known here)."""
    if sql in _EXACT:
        return _EXACT[sql]
    for pattern, make in _SHAPES:
        match = pattern.fullmatch(sql)
        if match:
            return make(*match.groups())
    match = _VOCABULARY.fullmatch(sql)
    if match:
        return _in_vocabulary(match[1], match[2], re.findall(r"'([a-z_]+)'", match[3]))
    return None


class QuickCheck:
    """The contract checks ``checks`` (SQL recorded by the validator) as Python rules."""

    def __init__(self, checks: Sequence[str]) -> None:
        rules = [_rule(sql) for sql in checks]
        self.unknown = [sql for sql, rule in zip(checks, rules, strict=True) if rule is None]
        """Checks of a shape not known here (any: :attr:`enabled` is false)."""
        self.enabled = bool(checks) and not self.unknown
        self._rules = [rule for rule in rules if rule is not None]

    def passes(self, rows: Rows, *, as_of: datetime) -> bool:
        """Whether every check would count no bad row (false: run the DuckDB check)."""
        if not self.enabled:
            return False
        moment = as_of.replace(microsecond=0)  # as the validator: compared to the second
        return all(rule(rows, moment) for rule in self._rules)
