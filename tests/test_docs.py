"""The docs: generated references are current, and every relative link points to a file."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"
PAGES = [*sorted(DOCS.glob("*.md")), ROOT / "README.md", ROOT / "notebooks" / "README.md"]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _generator() -> object:
    spec = importlib.util.spec_from_file_location("docs_generate", DOCS / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["config-reference.md", "cli-reference.md"])
def test_generated_references_are_current(name: str) -> None:
    make = _generator().GENERATED[name]  # type: ignore[attr-defined]
    assert (DOCS / name).read_text(encoding="utf-8") == make(), (
        f"docs/{name} is stale: run `.venv/bin/python docs/generate.py`"
    )


def test_the_references_cover_every_command_and_config_key() -> None:
    cli = (DOCS / "cli-reference.md").read_text(encoding="utf-8")
    for command in ("train", "evaluate", "promote", "score", "explain", "serve", "features build"):
        assert f"## `leadscore {command}`" in cli
    config = (DOCS / "config-reference.md").read_text(encoding="utf-8")
    assert "`evaluation.n_bootstrap`" in config and "`mapping.stage_labels`" in config


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_resolve(page: Path) -> None:
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if "://" in target or target.startswith("mailto:"):
            continue
        assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


def test_every_config_key_says_what_it_means() -> None:
    """A reference row without a meaning is a key nobody can use; a meaning without a key is
    stale. Add new keys to ``docs/config-meanings.yaml`` (or give the field a description)."""
    config = (DOCS / "config-reference.md").read_text(encoding="utf-8")
    rows = [line for line in config.splitlines() if line.startswith("| `")]
    assert rows
    assert not [row.split("|")[1].strip() for row in rows if row.rstrip().endswith("|  |")]
    keys = {row.split("|")[1].strip().strip("`") for row in rows}
    stale = set(_generator().meanings()) - keys  # type: ignore[attr-defined]
    assert not stale, f"docs/config-meanings.yaml describes keys that no longer exist: {stale}"
