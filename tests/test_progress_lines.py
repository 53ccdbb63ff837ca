"""Training progress: one bar that moves on a terminal, plain log lines into a pipe."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from leadscore.cli.output import Bars

STEPS = textwrap.dedent(
    """
    from leadscore.cli.output import Bars
    with Bars() as bars:
        for i in range(6):
            bars(f"Training models · sql: LightGBM candidate {i + 1}/6", i, 7)
        bars("Training models · sql: logistic regression", 6, 7)
        bars("Training models · done", 7, 7)
        for b in range(50, 501, 50):
            bars("bootstrap", b, 500)
    print("result")
    """
)


def test_plain_lines_when_stdout_is_a_pipe() -> None:
    run = subprocess.run([sys.executable, "-c", STEPS], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "result\n"  # progress never mixes into the results
    lines = run.stderr.splitlines()
    training = [line for line in lines if "Training models" in line]
    assert len(training) == 8  # one per step
    assert training[1].endswith("Training models: sql: LightGBM candidate 2/6 (1/7)")
    assert training[-1].endswith("Training models: done (7/7)")
    # a quick loop: its start and its end, not a line per tenth in the same second
    assert [line.split("] ", 1)[1] for line in lines if "bootstrap" in line] == [
        "bootstrap: 50/500",
        "bootstrap: 500/500",
    ]
    assert all(line.startswith("[") and " s] " in line for line in lines)


def test_one_bar_per_task_moves_with_its_steps() -> None:
    bars = Bars(plain=False)
    try:
        bars("Training models · sql: LightGBM candidate 1/6", 0, 7)
        bars("Training models · sql: LightGBM candidate 2/6", 1, 7)
        bars("Training models · sql: logistic regression", 6, 7)
        assert bars._progress is not None
        tasks = bars._progress.tasks
        assert len(tasks) == 1
        assert tasks[0].completed == 6 and tasks[0].total == 7
        assert tasks[0].description == "Training models: sql: logistic regression"
    finally:
        bars.stop()
