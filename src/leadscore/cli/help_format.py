"""The command behind the typer app, with help that reads well in a terminal."""

from __future__ import annotations

import inspect
from typing import Any

import typer
import typer.main


def build_command(app: typer.Typer) -> Any:
    """The app's command, with on/off flags shown without a ``<bool>`` type label.

    Recent typer versions print ``<bool>`` beside every flag (``--debug``, ``--help``); a flag
    takes no value, so the label only confuses. An empty metavar hides it. Typer may vendor its
    own click, so parameters are recognised by their attributes, not by class.
    """
    command = typer.main.get_command(app)
    _hide_flag_types(command, command.make_context("leadscore", [], resilient_parsing=True))
    _one_line_summaries(command)
    return command


def _one_line_summaries(command: Any) -> None:
    """Each subcommand's line in its group's list: the docstring's first paragraph as one line.

    Typer's rich list keeps the docstring's line breaks (``evaluate`` printed "beside the" and
    then "rules, ..." on a new line) and its reST quotes; a ``short_help`` is printed as given.
    """
    for sub in getattr(command, "commands", {}).values():
        if sub.short_help is None and sub.help:
            first = inspect.cleandoc(sub.help).split("\n\n")[0]
            sub.short_help = " ".join(first.split()).replace("``", "`")
        _one_line_summaries(sub)


def _hide_flag_types(command: Any, context: Any) -> None:
    for param in command.get_params(context):
        if getattr(param, "is_flag", False) and getattr(param, "metavar", "") is None:
            param.metavar = ""
    for name, sub in getattr(command, "commands", {}).items():
        _hide_flag_types(sub, sub.make_context(name, [], parent=context, resilient_parsing=True))
