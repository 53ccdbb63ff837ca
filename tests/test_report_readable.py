"""The evaluation report as a sales manager reads it: a plain summary first, a grade table,
human headers, whole counts, no ``nan`` or Python dicts, nothing wider than the window.

The layout is checked in a real headless chromium at 1,400 px; a screenshot is kept in
``$LEADSCORE_TEST_ARTIFACTS`` (default ``test-artifacts/``)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadscore.model.grades import fit_grades
from leadscore.training.evaluate import Evaluation, EvaluationConfig, MethodScores, evaluate_methods
from leadscore.training.report import ReportContext, render_report, write_report
from leadscore.training.rules import default_rules
from tests.browser_support import artifacts, chromium, needs_browser


def _evaluation(meeting_winner: str = "lightgbm") -> Evaluation:
    """Six weekly cutoffs of 600 leads with a 3 % SQL rate; LightGBM ranks best on SQL and
    ``meeting_winner`` ranks best on meetings."""
    rng = np.random.default_rng(7)
    n_cutoffs, per_cutoff = 6, 600
    n = n_cutoffs * per_cutoff
    rows = pd.DataFrame(
        {
            "contact_id": [f"C{i % 2500:05d}" for i in range(n)],
            "cutoff": np.repeat(
                pd.date_range("2025-08-01", periods=n_cutoffs, freq="7D"), per_cutoff
            ),
        }
    )
    latent = rng.normal(size=n)
    labels = {
        "sql": (rng.random(n) < 1 / (1 + np.exp(-(latent * 1.5 - 4.0)))).astype(np.int64),
        "meeting": (rng.random(n) < 1 / (1 + np.exp(-(latent * 1.5 - 5.0)))).astype(np.int64),
    }

    def noisy(scale: float) -> np.ndarray:
        return latent + rng.normal(scale=scale, size=n)

    def method(name: str, sql_noise: float, meeting_noise: float) -> MethodScores:
        score = {"sql": noisy(sql_noise), "meeting": noisy(meeting_noise)}
        proba = {t: 1 / (1 + np.exp(-(s * 1.5 - 4.5))) for t, s in score.items()}
        return MethodScores(name, score, proba)

    points = np.round(np.clip(noisy(1.5) * 20 + 30, 0, 100))
    logistic_noise, lightgbm_noise = (0.2, 1.2) if meeting_winner == "logistic" else (1.2, 0.2)
    methods = [
        MethodScores(
            "rules", {"sql": points, "meeting": points}, {t: points / 100 for t in labels}
        ),
        method("logistic", 1.2, logistic_noise),
        method("lightgbm", 0.2, lightgbm_noise),
    ]
    return evaluate_methods(
        rows,
        labels,
        methods,
        mql=points >= 50,
        config=EvaluationConfig(n_bootstrap=40),
    )


def _context(evaluation: Evaluation) -> ReportContext:
    lightgbm = next(m for m in evaluation.methods if m.name == "lightgbm")
    rules = default_rules()
    return ReportContext(
        title="leadscore: rules vs models, out-of-time evaluation",
        data_fingerprint="0123456789abcdef",
        definition_hash="fedcba9876543210",
        split_description={
            "train_first_cutoff": "2024-01-05",
            "train_last_cutoff": "2025-05-30",
            "train_rows": "41200",
            "valid_first_cutoff": "2025-06-06",
            "valid_last_cutoff": "2025-07-25",
            "valid_rows": "4800",
            "test_first_cutoff": "2025-08-01",
            "test_last_cutoff": "2025-09-05",
            "test_rows": "3600",
        },
        split_mode="by cutoff time (train < validation < test; never random)",
        rules=[r.model_dump(exclude_none=True, by_alias=True) for r in rules.rules],
        grades=fit_grades(np.asarray(lightgbm.proba["sql"]), 0.05),
    )


def _cells(page: str, tag: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", c) for c in re.findall(rf"<{tag}[^>]*>(.*?)</{tag}>", page)]


def _table_after(page: str, heading: str) -> pd.DataFrame:
    """The first table after ``heading``, as strings."""
    table = page[page.index(heading) :]
    table = table[table.index("<table") : table.index("</table>")]
    rows = [_cells(row, "t[hd]") for row in re.findall(r"<tr>(.*?)</tr>", table)]
    return pd.DataFrame(rows[1:], columns=rows[0])


def test_report_reads_like_a_summary_for_a_sales_manager() -> None:
    evaluation = _evaluation()
    page = render_report(evaluation, _context(evaluation))

    assert page.index("In short") < page.index("<table")  # the plain summary comes first
    assert "Grades on the test period" in page
    headers = _cells(page, "th")
    assert headers and not [h for h in headers if "_" in h]  # no snake_case headers
    cells = _cells(page, "td")
    assert not [c for c in cells if c.lower() in {"nan", "none"} or "{'" in c]
    assert not [c for c in cells if re.fullmatch(r"\d+\.0+", c)]  # no 155.0000 for a count
    assert "≥ 1" in cells  # rule conditions in words ("demo requested" when >= 1)
    assert "Oracle" not in page  # no oracle row here, so no oracle explanation either

    grades = _table_after(page, "Grades on the test period")
    assert list(grades["Grade"]) == ["A", "B", "C", "D"]
    assert grades["Leads"].str.replace(",", "").astype(int).sum() == evaluation.n_rows
    realised = grades["Realised rate (sql)"].str.rstrip("%").astype(float)
    assert realised.iloc[0] > realised.iloc[-1]  # A converts better than D on this signal


def test_report_warns_when_another_model_finds_more() -> None:
    evaluation = _evaluation(meeting_winner="logistic")
    at_mql = evaluation.capacity[evaluation.capacity["capacity"] == "rules' MQL volume"]
    found = at_mql.set_index("method")["meeting_found"]
    assert found["logistic"] > found["lightgbm"]  # the planted situation holds
    page = render_report(evaluation, _context(evaluation))
    notes = re.findall(r"<p class='note'>(.*?)</p>", page)
    assert any("Logistic regression finds more" in n and "booked a meeting" in n for n in notes)
    assert not any("finds more" in n and "became an SQL" in n and "Logistic" in n for n in notes)


@needs_browser
def test_report_fits_a_1400_px_window_in_a_real_browser(tmp_path: Path) -> None:
    evaluation = _evaluation()
    report = write_report(evaluation, _context(evaluation), tmp_path / "report.html")
    with chromium(tmp_path / "profile", width=1400, height=1000) as browser:
        browser.get(report.resolve().as_uri())
        page_width = browser.execute_script("return document.documentElement.scrollWidth")
        window_width = browser.execute_script("return window.innerWidth")
        overflowing = browser.execute_script(
            "return [...document.querySelectorAll('table')]"
            ".filter(t => t.getBoundingClientRect().right"
            " > document.body.getBoundingClientRect().right + 1).length"
        )
        images = browser.execute_script(
            "return [...document.images].map(i => [i.naturalWidth, i.getBoundingClientRect().right])"
        )
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(1400, min(int(height) + 200, 12000))
        shot = artifacts() / "report-1400px.png"
        assert browser.save_screenshot(str(shot))
    assert page_width <= window_width
    assert overflowing == 0
    assert images and all(w > 0 and right <= window_width for w, right in images)
    assert shot.stat().st_size > 50_000  # a rendered page, not a blank one


@pytest.mark.parametrize("value, shown", [(155.0, "155"), (4.2, "4.2"), (float("nan"), "\u2013")])
def test_counts_are_whole_numbers_and_unknowns_a_dash(value: float, shown: str) -> None:
    from leadscore.training.report_format import count

    assert count(value) == shown
