"""Every ``leadscore ...`` command line the docs show names a command and options that exist.

The lines come from the pages' code blocks and from inline code spans that start with
``leadscore ``; each is resolved against the typer app (no command runs): the subcommand path
must exist, every ``--option`` must be one of that command's, and a value given to an option
with a fixed set of choices must be one of them. Placeholders (``CRM``, ``TABLE``) and comments
are left alone. The generated ``cli-reference.md`` is the CLI's own help and is skipped.
"""

from __future__ import annotations

import re
import shlex
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parents[1]
PAGES = [
    *sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "cli-reference.md"),
    ROOT / "README.md",
    ROOT / "notebooks" / "README.md",
]
FENCE = re.compile(r"^\s*```[^\n]*\n(.*?)^\s*```", re.M | re.S)
INLINE = re.compile(r"`(leadscore [^`]+)`")
# ``leadscore`` as the command word: at the start, after a space or an env assignment, or
# after ``bin/`` (``.venv/bin/leadscore``); not ``/srv/leadscore`` or ``leadscore.yaml``.
COMMAND = re.compile(r"(?:^|\s|bin/)leadscore\s+(.*)$")
SHELL_STOP = {"&&", "||", "|", ";", ">", ">>", "2>&1", "&"}


def command_lines(text: str) -> list[str]:
    """The ``leadscore`` command lines of one page: code blocks (continuations joined, comments
    cut) and inline code spans."""
    found: list[str] = []
    for block in FENCE.findall(text):
        pending = ""
        for raw in block.splitlines():
            line = raw.rstrip()
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            found.append(pending + line)
            pending = ""
    found += INLINE.findall(FENCE.sub("", text))
    lines = []
    for line in found:
        code = re.split(r"\s#", line, maxsplit=1)[0].lstrip("$ ").strip()
        if COMMAND.search(code):
            lines.append(code)
    return lines


def _cases() -> list[tuple[str, str]]:
    return [
        (page.name, line)
        for page in PAGES
        for line in command_lines(page.read_text(encoding="utf-8"))
    ]


@cache
def _root() -> Any:
    import typer.main

    from leadscore.cli import app

    return typer.main.get_command(app)


def _tokens(line: str) -> list[str]:
    match = COMMAND.search(line)
    assert match is not None
    tokens = []
    for token in shlex.split(match.group(1)):
        if token in SHELL_STOP or token.endswith(";"):
            break
        tokens.append(token)
    return tokens


def problem(line: str) -> str | None:
    """What in this command line the CLI does not have, else None."""
    tokens = _tokens(line)
    command, path = _root(), ["leadscore"]
    while hasattr(command, "list_commands") and tokens and not tokens[0].startswith("-"):
        context = command.make_context(" ".join(path), ["--help"], resilient_parsing=True)
        sub = command.get_command(context, tokens[0])
        if sub is None:
            return f"`{' '.join(path)}` has no command {tokens[0]!r}"
        command = sub
        path.append(tokens.pop(0))
    options = {"--help": None}
    for param in command.params:
        for name in (*param.opts, *param.secondary_opts):
            options[name] = param
    for i, token in enumerate(tokens):
        if not token.startswith("--"):
            continue
        name, _, inline = token.partition("=")
        if name not in options:
            return f"`{' '.join(path)}` has no option {name}"
        param = options[name]
        choices = getattr(getattr(param, "type", None), "choices", None)
        value = inline or (tokens[i + 1] if i + 1 < len(tokens) else "")
        placeholder = value.isupper() or "|" in value or "..." in value or not value
        if choices and not placeholder and value not in [str(c) for c in choices]:
            return f"`{' '.join(path)} {name}` takes {'|'.join(map(str, choices))}, not {value!r}"
    return None


@pytest.mark.parametrize(("page", "line"), _cases())
def test_documented_command_lines_exist(page: str, line: str) -> None:
    found = problem(line)
    assert found is None, f"docs/{page}: `{line}`: {found}"


def test_the_extraction_finds_the_documented_commands() -> None:
    """Guards the test itself: the README's command list and a continued line are read."""
    readme = command_lines((ROOT / "README.md").read_text(encoding="utf-8"))
    assert any(line.startswith("leadscore score data/crm.duckdb") for line in readme)
    assert any("--rules-column hubspot_score" in line for line in readme)
    assert problem("leadscore score CRM --no-such-option") is not None
    assert problem("leadscore no-such-command") is not None
    assert problem(".venv/bin/leadscore features build CRM --every week") is None
