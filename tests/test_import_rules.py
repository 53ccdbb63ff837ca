"""The dependency rule between leadscore's layers, checked on every import the source holds.

Layers, lowest first::

    root (leadscore.* in src/leadscore: contract, errors, sources, ...)
      < leadscore.features
      < leadscore.model (the model artifact)
      < leadscore.training, leadscore.serving (siblings: neither imports the other)
      < leadscore.pipeline (the steps)
      < leadscore.cli (imported by leadscore.__main__ only)

A module may import its own layer and lower ones. The check parses every ``.py`` file of the
package with :mod:`ast` and sees every import: at module level, inside functions, under
``if TYPE_CHECKING:``, in ``try`` blocks, and ``importlib.import_module("...")`` /
``__import__("...")`` calls with a literal name.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

_RANKS = {"root": 0, "features": 1, "model": 2, "training": 3, "serving": 3, "pipeline": 4}
_CLI_RANK, _MAIN_RANK = 5, 6


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    importer: str
    imported: str
    why: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.importer} imports {self.imported} ({self.why})"


def layer(module: str) -> str | None:
    """The layer of a ``leadscore`` module name, ``None`` for third-party modules."""
    parts = module.split(".")
    if parts[0] != "leadscore":
        return None
    if len(parts) == 1:
        return "root"
    head = parts[1]
    if head in ("features", "model", "training", "serving", "pipeline", "cli", "__main__"):
        return head
    return "root"


def rank(name: str) -> int:
    return {"cli": _CLI_RANK, "__main__": _MAIN_RANK}.get(name, _RANKS.get(name, 0))


def rule_breach(importer: str, imported: str) -> str | None:
    """Why ``importer`` may not import ``imported`` (``None``: allowed)."""
    source, target = layer(importer), layer(imported)
    if source is None or target is None or source == target:
        return None
    if target == "cli":
        return None if source == "__main__" else "nothing imports the CLI but leadscore.__main__"
    if {source, target} == {"training", "serving"}:
        return "training and serving never import each other"
    if rank(target) >= rank(source):
        return f"{source} sits below {target}"
    return None


def module_name(path: Path, package_dirs: dict[str, Path]) -> str:
    """The dotted module name of ``path`` under the package-dir mapping."""
    best = max(
        (item for item in package_dirs.items() if path.is_relative_to(item[1])),
        key=lambda item: len(item[1].parts),
    )
    package, folder = best
    parts = list(path.relative_to(folder).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([package, *parts])


def _resolve_relative(module: str, is_package: bool, level: int, name: str | None) -> str:
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, *([name] if name else [])])


def imported_names(
    tree: ast.AST, module: str, *, is_package: bool, known: frozenset[str]
) -> Iterator[tuple[int, str]]:
    """``(line, module)`` of every import anywhere in ``tree``. ``from a import b`` names
    ``a.b`` when that is a module of the package (``from leadscore import serving``)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = _resolve_relative(module, is_package, node.level, node.module)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                yield node.lineno, candidate if candidate in known else base
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            first = node.args[0]
            if (
                called in ("import_module", "__import__")
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
            ):
                yield node.lineno, first.value


def check_source(
    source: str,
    module: str,
    path: str,
    *,
    is_package: bool = False,
    known: frozenset[str] = frozenset(),
) -> list[Violation]:
    """Every rule breach of one module's source."""
    tree = ast.parse(source, filename=path)
    found = []
    seen = set(imported_names(tree, module, is_package=is_package, known=known))
    for line, imported in seen:
        why = rule_breach(module, imported)
        if why is not None:
            found.append(Violation(path, line, module, imported, why))
    return sorted(found, key=lambda v: (v.line, v.imported))


def package_dirs() -> dict[str, Path]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    mapping = config["tool"]["setuptools"]["package-dir"]
    return {name: (ROOT / folder).resolve() for name, folder in mapping.items()}


def package_files() -> list[tuple[Path, str]]:
    dirs = package_dirs()
    files = sorted({p.resolve() for folder in dirs.values() for p in folder.rglob("*.py")})
    return [(p, module_name(p, dirs)) for p in files if "__pycache__" not in p.parts]


def test_the_checker_sees_every_source_file_of_every_layer() -> None:
    modules = {name for _, name in package_files()}
    for expected in (
        "leadscore",
        "leadscore.cli",
        "leadscore.contract",
        "leadscore.features.definition",
        "leadscore.model.heads",
        "leadscore.training.api",
        "leadscore.serving.scorer",
    ):
        assert expected in modules
    assert {layer(m) for m in modules} >= {"root", "features", "model", "training", "serving"}


def test_no_module_breaks_the_dependency_rule() -> None:
    files = package_files()
    known = frozenset(name for _, name in files)
    problems: list[Violation] = []
    for path, module in files:
        problems += check_source(
            path.read_text(encoding="utf-8"),
            module,
            str(path.relative_to(ROOT)),
            is_package=path.name == "__init__.py",
            known=known,
        )
    assert not problems, "Imports across the dependency rule:\n" + "\n".join(map(str, problems))


LAZY = """
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from leadscore.model.heads import read_heads

if TYPE_CHECKING:
    from leadscore.serving.scorer import Scorer


def save(folder):
    from leadscore.serving.artifact import save_scorer_spec  # lazy: hidden from a naive check

    def inner():
        import leadscore.cli

    return save_scorer_spec(folder)


def dynamic():
    import importlib

    return importlib.import_module("leadscore.serving.batch")
"""


def test_the_checker_catches_lazy_type_checking_and_dynamic_imports() -> None:
    found = check_source(LAZY, "leadscore.training.api", "training/api.py")
    assert [(v.line, v.imported) for v in found] == [
        (11, "leadscore.serving.scorer"),
        (15, "leadscore.serving.artifact"),
        (18, "leadscore.cli"),
        (26, "leadscore.serving.batch"),
    ]
    assert "training/api.py:15: leadscore.training.api imports leadscore.serving.artifact" in str(
        found[1]
    )


@pytest.mark.parametrize(
    ("importer", "source", "is_package", "breach"),
    [
        ("leadscore.serving.loading", "from leadscore.training import tracking", False, True),
        ("leadscore.serving.loading", "import leadscore.training.tracking as t", False, True),
        ("leadscore.features.build", "from leadscore.model import heads", False, True),
        ("leadscore.model.head", "from leadscore.training.models import X", False, True),
        ("leadscore.contract", "from leadscore.features.definition import X", False, True),
        ("leadscore.model", "from . import heads", True, False),
        ("leadscore.model.heads", "from ..training import api", False, True),
        ("leadscore.pipeline.train", "from leadscore.cli import app", False, True),
        ("leadscore.cli", "from leadscore.pipeline import steps", False, False),
        ("leadscore.__main__", "from leadscore.cli import main", False, False),
        ("leadscore.serving.scorer", "from leadscore.model.heads import read_heads", False, False),
        ("leadscore.training.api", "from leadscore.features import build", False, False),
        ("leadscore.features.build", "from leadscore.errors import ArtifactError", False, False),
        ("leadscore.model.spec", "import mlflow", False, False),
    ],
)
def test_each_rule(importer: str, source: str, is_package: bool, breach: bool) -> None:
    known = frozenset({"leadscore.model.heads", "leadscore.training.tracking"})
    found = check_source(source, importer, "x.py", is_package=is_package, known=known)
    assert bool(found) is breach, found


def test_registry_commands_start_without_the_heavy_libraries() -> None:
    """`leadscore models` and `--help` read the registry or print help: they import neither
    scikit-learn nor LightGBM nor pandas (the packages' names are lazy, leadscore.lazy)."""
    import subprocess
    import sys

    code = (
        "import sys, leadscore.cli, leadscore.training.tracking, leadscore.pipeline.train; "
        "heavy = sorted(m for m in ('sklearn', 'lightgbm', 'pandas', 'scipy') if m in sys.modules); "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"imported at start: {out.stdout.strip()}"
