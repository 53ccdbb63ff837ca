"""Writes the generated references: ``docs/config-reference.md`` from the pydantic models and
``docs/cli-reference.md`` from the typer app. Run ``.venv/bin/python docs/generate.py`` after
changing a config model or a command; ``tests/test_docs.py`` fails while they are stale."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent


def meanings() -> dict[str, str]:
    """What each key means, from ``docs/config-meanings.yaml`` (for keys without a description)."""
    import yaml

    loaded = yaml.safe_load((DOCS / "config-meanings.yaml").read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in (loaded or {}).items()}


def _fields(model: Any, prefix: str, rows: list[str]) -> None:
    from pydantic import BaseModel

    known = meanings()

    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            _fields(annotation, f"{key}.", rows)
            continue
        default = field.get_default(call_default_factory=True)
        plain = isinstance(annotation, type)
        kind = annotation.__name__ if plain else str(annotation).replace("typing.", "")
        text = (field.description or known.get(key, "")).replace("\n", " ").replace("|", "\\|")
        shown = str(default).replace("|", "\\|")
        rows.append(f"| `{key}` | `{kind}` | `{shown[:60]}` | {text} |")


def config_reference() -> str:
    """The reference of every configuration file, from its pydantic model."""
    from leadscore.config import LeadscoreConfig
    from leadscore.features.definition import FeatureDefinition
    from leadscore.training import TrainingConfig

    parts = [
        "# Configuration reference",
        "",
        "Generated from the pydantic models by `docs/generate.py`; do not edit by hand. Every",
        "file is strict: an unknown key is an error naming it.",
    ]
    for title, model, doc in (
        ("CRM mapping (`--config leadscore.yaml`)", LeadscoreConfig, "leadscore.config"),
        ("Training (`leadscore train --training-config`)", TrainingConfig, "leadscore.training"),
        ("Feature definition (`--definition`)", FeatureDefinition, "leadscore.features"),
    ):
        rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
        _fields(model, "", rows)
        summary = (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        parts += ["", f"## {title}", "", f"`{model.__name__}` in `{doc}`. {summary}", "", *rows]
    return "\n".join(parts) + "\n"


def cli_reference() -> str:
    """The help of every command, as ``leadscore COMMAND --help`` prints it."""
    import typer.core
    import typer.main

    from leadscore.cli import app

    typer.core.HAS_RICH = False  # plain click help: stable text, no terminal boxes
    root = typer.main.get_command(app)
    parts = [
        "# Command-line reference",
        "",
        "Generated from the typer app by `docs/generate.py`; do not edit by hand.",
    ]

    def walk(command: Any, path: list[str]) -> None:
        context = command.make_context(" ".join(path), ["--help"], resilient_parsing=True)
        context.terminal_width = 100
        parts.extend(["", f"## `{' '.join(path)}`", "", "```text"])
        parts.append(command.get_help(context).rstrip())
        parts.append("```")
        if hasattr(command, "list_commands"):
            for name in sorted(command.list_commands(context)):
                sub = command.get_command(context, name)
                if sub is not None and not sub.hidden:
                    walk(sub, [*path, name])

    walk(root, ["leadscore"])
    return "\n".join(parts) + "\n"


GENERATED = {"config-reference.md": config_reference, "cli-reference.md": cli_reference}


def main() -> int:
    for name, make in GENERATED.items():
        (DOCS / name).write_text(make(), encoding="utf-8")
        print(f"wrote docs/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
