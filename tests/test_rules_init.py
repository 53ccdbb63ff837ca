"""`leadscore rules init`: the README's `my-rules.yaml` exists once the user asks for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadscore.errors import ConfigError
from leadscore.training.rules import default_rules, default_rules_text, load_rules
from tests.test_cli import run_cli


def test_rules_init_writes_the_bundled_rules_and_keeps_an_edited_copy(tmp_path: Path) -> None:
    target = tmp_path / "my-rules.yaml"
    first = run_cli("rules", "init", str(target))
    assert first.returncode == 0, first.stderr
    assert target.read_text(encoding="utf-8") == default_rules_text()
    assert load_rules(target) == default_rules()  # the copy parses to the same rules

    target.write_text(default_rules_text().replace("mql_threshold: 50", "mql_threshold: 60"))
    again = run_cli("rules", "init", str(target))
    assert again.returncode == 1
    assert "already exists" in again.stderr and "--force" in again.stderr
    assert load_rules(target).mql_threshold == 60  # the user's edit is not lost

    forced = run_cli("rules", "init", str(target), "--force")
    assert forced.returncode == 0
    assert load_rules(target).mql_threshold == 50


def test_missing_rules_file_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"leadscore rules init .*nope\.yaml"):
        load_rules(tmp_path / "nope.yaml")
