"""The feedback report: how reps received the scores (``leadscore feedback report``, the
inbox's report page).

Acceptance (accepted / verdicts) per grade shown, per top reason shown, per model version and
per rep, and the reasons reps reject leads for most. A rep's verdicts on one lead on one day
under one model version count once, by the latest
(:data:`~leadscore.serving.store.COUNTED_FEEDBACK`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from leadscore.serving.store import COUNTED_FEEDBACK, ScoreStore
from leadscore.serving.store_backend import StoreConnection

__all__ = ["FeedbackReport", "feedback_report"]

_BY = {
    "grade": "coalesce(grade, '(not recorded)')",
    "top_reason": "coalesce(reasons_shown[1], '(not recorded)')",
    "model_version": "coalesce(model_version, '(not recorded)')",
    "rep": "coalesce(rep, '(API)')",
}


@dataclass(frozen=True)
class FeedbackReport:
    """Verdict counts and acceptance rates, each table sorted by its key or its count."""

    verdicts: int
    accepted: int
    given: int
    by_grade: pd.DataFrame
    by_top_reason: pd.DataFrame
    by_model_version: pd.DataFrame
    by_rep: pd.DataFrame
    rejected_for: pd.DataFrame

    @property
    def repeats(self) -> int:
        """Verdicts given again on a lead already judged (same rep, day and model version)."""
        return self.given - self.verdicts

    @property
    def acceptance(self) -> float | None:
        return self.accepted / self.verdicts if self.verdicts else None

    def tables(self) -> dict[str, pd.DataFrame]:
        """The report's tables by title, in reading order."""
        return {
            "Acceptance per grade": self.by_grade,
            "Acceptance per top reason shown (counts as N)": self.by_top_reason,
            "Acceptance per model version": self.by_model_version,
            "Acceptance per rep": self.by_rep,
            "Reasons reps reject leads for": self.rejected_for,
        }


def _acceptance(con: StoreConnection, key: str, name: str, order: str) -> pd.DataFrame:
    sql = (
        f"SELECT {key} AS {name}, count(*) AS verdicts, "
        "count(*) FILTER (WHERE verdict = 'accepted') AS accepted, "
        "count(*) FILTER (WHERE verdict = 'rejected') AS rejected "
        f"FROM {COUNTED_FEEDBACK} GROUP BY 1 ORDER BY {order.format(key=key + con.sql.by_code)}"
    )
    frame = _counts(con.execute(sql).df(), ["verdicts", "accepted", "rejected"])
    frame["acceptance"] = (frame["accepted"] / frame["verdicts"]).astype(float).round(3)
    return frame


def _counts(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Count columns as int64 whichever database counted them."""
    for column in columns:
        frame[column] = frame[column].astype("int64")
    return frame


_COUNT = re.compile(r"(?<!last )(?<![\w.,])\d+(?:[.,]\d+)*(?!\w)")
"""A count in a reason ("16 interactions", "in the CRM for 4 days", "lower than 85 % of
leads"), not a window ("in the last 7 days") nor part of a label ("50M-100M")."""


def reason_kind(reason: str) -> str:
    """A reason with its counts as N: "16 interactions in the last 7 days" and "33 ..." are
    one kind of reason, so acceptance per top reason groups leads, not one row per lead."""
    return _COUNT.sub("N", reason)


def _by_reason_kind(frame: pd.DataFrame) -> pd.DataFrame:
    kinds = frame.assign(top_reason=frame["top_reason"].map(reason_kind))
    grouped = kinds.groupby("top_reason", as_index=False, sort=False)[
        ["verdicts", "accepted", "rejected"]
    ].sum()
    grouped["acceptance"] = (grouped["accepted"] / grouped["verdicts"]).astype(float).round(3)
    ordered = grouped.sort_values(["verdicts", "top_reason"], ascending=[False, True])
    return ordered.reset_index(drop=True)


def feedback_report(store: ScoreStore) -> FeedbackReport:
    """The report of every verdict in ``store``."""
    with store.connection(read_only=True) as con:
        tables = {
            name: _acceptance(
                con, key, name, "{key}" if name in ("grade", "model_version") else "2 DESC, {key}"
            )
            for name, key in _BY.items()
        }
        rejected = _counts(
            con.execute(
                "SELECT coalesce(reason, '(no reason)') AS reason, count(*) AS rejections "
                f"FROM {COUNTED_FEEDBACK} WHERE verdict = 'rejected' GROUP BY 1 "
                f"ORDER BY 2 DESC, coalesce(reason, '(no reason)'){con.sql.by_code}"
            ).df(),
            ["rejections"],
        )
        total = max(int(rejected["rejections"].sum()), 1)
        rejected["share"] = (rejected["rejections"] / total).astype(float).round(3)
        row = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE verdict = 'accepted'), "
            f"(SELECT count(*) FROM feedback) FROM {COUNTED_FEEDBACK}"
        ).fetchone()
    verdicts, accepted, given = (int(row[0]), int(row[1]), int(row[2])) if row else (0, 0, 0)
    return FeedbackReport(
        verdicts=verdicts,
        accepted=accepted,
        given=given,
        by_grade=tables["grade"],
        by_top_reason=_by_reason_kind(tables["top_reason"]),
        by_model_version=tables["model_version"],
        by_rep=tables["rep"],
        rejected_for=rejected,
    )
