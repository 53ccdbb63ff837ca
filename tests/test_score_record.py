"""Scoring with another alias than the champion leaves the reps' score history alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadscore.pipeline.score import ScoreSpec, is_other_alias


@pytest.mark.parametrize(
    ("model", "other"),
    [
        ("champion", False),
        ("challenger", True),
        ("staging", True),
        ("3", False),
        ("models:/leadscore@challenger", True),
        ("models:/leadscore@champion", False),
        ("models:/leadscore/3", False),
        ("data/model-folder", False),
    ],
)
def test_which_models_are_other_aliases(model: str, other: bool) -> None:
    assert is_other_alias(model) is other


def test_a_challenger_run_is_recorded_only_when_asked(tmp_path: Path) -> None:
    assert ScoreSpec(model="champion").records
    assert not ScoreSpec(model="challenger").records
    assert ScoreSpec(model="challenger", record=True).records
    assert not ScoreSpec(model="champion", record=False).records
    folder = tmp_path / "challenger"  # a folder of that name is a folder, not an alias
    folder.mkdir()
    assert ScoreSpec(model=str(folder)).records
