"""A model trained with other package versions is said so at load, cheaply."""

from __future__ import annotations

import logging
from importlib.metadata import version
from pathlib import Path

import pytest

from leadscore.serving.requirements_drift import requirement_drift, warn_on_requirement_drift


def test_only_pinned_packages_whose_version_differs_are_named(tmp_path: Path) -> None:
    numpy = version("numpy")
    (tmp_path / "requirements.txt").write_text(
        f"numpy=={numpy}\npandas==0.0.1\nno-such-package-xyz==1.0\n# a comment\nmlflow>=3\n",
        encoding="utf-8",
    )
    drift = requirement_drift(tmp_path)
    assert drift == [
        f"pandas 0.0.1 at training, {version('pandas')} here",
        "no-such-package-xyz 1.0 at training, not installed here",
    ]


def test_a_matching_or_missing_requirements_file_says_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert requirement_drift(tmp_path) == []  # no file: nothing pinned
    (tmp_path / "requirements.txt").write_text(f"numpy=={version('numpy')}\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        warn_on_requirement_drift(tmp_path)
    assert requirement_drift(tmp_path) == [] and not caplog.records


def test_drift_is_logged_as_one_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "requirements.txt").write_text("lightgbm==1.0.0\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        warn_on_requirement_drift(tmp_path)
    (record,) = caplog.records
    assert "lightgbm 1.0.0 at training" in record.getMessage()
    assert "retrain" in record.getMessage()


def test_another_python_minor_version_is_named(tmp_path: Path) -> None:
    import platform

    here = platform.python_version()
    (tmp_path / "MLmodel").write_text(
        "flavors:\n  python_function:\n    python_version: 3.9.18\n", encoding="utf-8"
    )
    assert requirement_drift(tmp_path) == [f"Python 3.9.18 at training, {here} here"]
    (tmp_path / "MLmodel").write_text(
        f"flavors:\n  python_function:\n    python_version: {here}\n", encoding="utf-8"
    )
    assert requirement_drift(tmp_path) == []


def test_an_unreadable_requirements_file_does_not_stop_the_load(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_bytes(b"\xff\xfe\x00bad")
    assert requirement_drift(tmp_path) == []
