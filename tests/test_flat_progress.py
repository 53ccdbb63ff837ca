"""Flat training reports progress as it goes: a bar that moves on a terminal, plain lines in
a log or a pipe (a task's start, each quarter, its end)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from leadscore.cli.output import Bars
from leadscore.synthetic.flat_export import generate_flat_export
from leadscore.training.evaluate import EvaluationConfig
from leadscore.training.flat import train_flat_table


def test_training_reports_every_step_up_to_its_total(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    export = generate_flat_export(1200, seed=2)
    export.frame.to_csv(path, index=False)
    calls: list[tuple[str, int, int]] = []
    train_flat_table(
        path,
        export.target,
        export.time_column,
        report_path=tmp_path / "r.html",
        evaluation=EvaluationConfig(n_bootstrap=100),
        progress=lambda task, done, total: calls.append((task, done, total)),
    )
    assert calls[:2] == [("Reading leads.csv", 0, 1), ("Reading leads.csv", 1, 1)]
    main = [(d, t) for task, d, t in calls if task == "Training on the flat table"]
    done = [d for d, _ in main]
    assert done == sorted(done) and done[0] == 0 and len(set(done)) >= 6
    assert {t for _, t in main} == {main[-1][1]} and main[-1][0] == main[-1][1]
    assert ("bootstrap", 100, 100) in calls


def test_plain_lines_when_not_a_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Flat training reports through the CLI's one progress display (``output.Bars``): plain
    lines on stderr in a log, one per tenth of a task at most every few seconds, and its end."""
    from leadscore.cli import output

    clock = [100.0]
    monkeypatch.setattr(output.time, "monotonic", lambda: clock[0])
    with Bars(plain=True) as progress:
        progress("Reading leads.csv", 0, 1)
        progress("Reading leads.csv", 1, 1)
        for done in range(9):  # a slow loop: 3 s a step
            progress("Training on the flat table", done, 8)
            clock[0] += 3
        for done in range(11):  # a quick one: ten steps in the same second
            progress("bootstrap", done, 10)
    err = capsys.readouterr().err
    lines = [line.split("] ", 1)[1] for line in err.splitlines()]
    assert lines[:3] == [
        "Reading leads.csv: 0/1",
        "Reading leads.csv: 1/1",
        "Training on the flat table: 0/8",
    ]
    training = [line for line in lines if line.startswith("Training")]
    assert training[-1] == "Training on the flat table: 8/8" and len(training) == 9
    assert [line for line in lines if line.startswith("bootstrap")] == [
        "bootstrap: 0/10",
        "bootstrap: 10/10",
    ]
    assert "\x1b" not in err


def test_a_bar_that_moves_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from leadscore.cli import output

    out = io.StringIO()
    monkeypatch.setattr(output, "err_console", Console(file=out, force_terminal=True, width=100))
    with Bars(plain=False) as progress:
        for done in range(5):
            progress("Training on the flat table", done, 4)
            assert progress._progress is not None
            (task,) = progress._progress.tasks
            assert task.completed == done and task.total == 4
    text = out.getvalue()
    assert "Training on the flat table" in text and "4/4" in text and "\x1b[" in text
