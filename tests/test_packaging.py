"""Packaging guards: the wheel holds exactly the source tree, imports have no side effects, and the
data-contract documentation lists every table and column of the contract."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from leadscore.contract import CONTRACT, Table

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "data-contract.md"

# files that ship as package data (anything else that is not Python stays out of the wheel)
DATA_SUFFIXES = frozenset({".yaml", ".yml", ".json", ".typed", ".sql", ".html", ".jinja", ".txt"})
IGNORED_DIRS = frozenset({"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"})


def _package_dirs(root: Path) -> dict[str, Path]:
    """Top-level package folders as mapped in pyproject: ``leadscore`` and the three code folders."""
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    package_dir: dict[str, str] = config["tool"]["setuptools"]["package-dir"]
    return {name: root / folder for name, folder in package_dir.items()}


def _source_files(root: Path) -> set[str]:
    """Every file the wheel built from ``root`` should hold, as wheel paths (``leadscore/x.py``)."""
    dirs = _package_dirs(root)
    files: set[str] = set()
    for package, folder in dirs.items():
        nested = [d for d in dirs.values() if d != folder and d.is_relative_to(folder)]
        for path in folder.rglob("*"):
            relative = path.relative_to(folder)
            if (
                not path.is_file()
                or IGNORED_DIRS.intersection(relative.parts)
                or any(path.is_relative_to(d) for d in nested)
            ):
                continue
            if path.suffix == ".py" or path.suffix in DATA_SUFFIXES:
                files.add("/".join((*package.split("."), *relative.parts)))
    return files


@dataclass(frozen=True)
class Built:
    wheel: Path
    tree: Path  # the snapshot of the source tree the wheel was built from


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """Build the wheel from a snapshot of the tree: the build never touches the working copy, and
    files appearing meanwhile cannot make the comparison flaky."""
    tree = tmp_path_factory.mktemp("tree")
    ignore = shutil.ignore_patterns(*IGNORED_DIRS, "*.pyc", "*.egg-info")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, tree / name)
    for folder in {p.relative_to(ROOT).parts[0] for p in _package_dirs(ROOT).values()}:
        shutil.copytree(ROOT / folder, tree / folder, ignore=ignore)
    out = tmp_path_factory.mktemp("dist")
    # an isolated build: the venv's own setuptools may be older than pyproject requires
    build = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(tree)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, f"wheel build failed:\n{build.stdout[-3000:]}{build.stderr}"
    (wheel,) = out.glob("leadscore-*.whl")
    return Built(wheel, tree)


def _wheel_files(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return {name for name in archive.namelist() if name.startswith("leadscore/")}


def test_wheel_modules_match_the_source_tree(built: Built) -> None:
    in_wheel = {name for name in _wheel_files(built.wheel) if name.endswith(".py")}
    in_tree = {name for name in _source_files(built.tree) if name.endswith(".py")}
    missing, extra = sorted(in_tree - in_wheel), sorted(in_wheel - in_tree)
    assert not missing, (
        f"modules missing from the wheel: {missing}; list their package under "
        "[tool.setuptools] packages in pyproject.toml"
    )
    assert not extra, f"unexpected modules in the wheel: {extra}"
    for package in ("leadscore/features", "leadscore/training", "leadscore/serving"):
        assert f"{package}/__init__.py" in in_wheel


def test_wheel_holds_the_package_data(built: Built) -> None:
    in_wheel = _wheel_files(built.wheel)
    data = {name for name in _source_files(built.tree) if not name.endswith(".py")}
    assert "leadscore/py.typed" in data
    missing = sorted(data - in_wheel)
    assert not missing, (
        f"package data missing from the wheel: {missing}; add the pattern under "
        "[tool.setuptools.package-data] in pyproject.toml"
    )


@pytest.mark.parametrize(
    "command",
    [
        ["-c", "import leadscore.cli"],
        ["-c", "import leadscore.crm, leadscore.sources, leadscore.validation, leadscore.config"],
        ["-m", "leadscore", "--help"],
    ],
    ids=["import-cli", "import-core", "help"],
)
def test_import_has_no_side_effects(tmp_path: Path, command: list[str]) -> None:
    """Importing (or asking for help) creates nothing: no mlruns/, no data/, no log files."""
    run = subprocess.run(
        [sys.executable, *command], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    if command[0] == "-c":
        assert run.stdout == "" and run.stderr == ""


# -- the data-contract documentation cannot drift from the contract --------------------------------


def _doc_section(text: str, table: str) -> str:
    match = re.search(rf"^### `{table}`\n(.*?)(?=^#{{1,3}} )", text, flags=re.M | re.S)
    assert match, f"docs/data-contract.md has no '### `{table}`' section"
    return match.group(1)


@pytest.mark.parametrize("table", CONTRACT, ids=lambda t: t.name)
def test_doc_lists_every_column_of_every_table(table: Table) -> None:
    section = _doc_section(DOC.read_text(encoding="utf-8"), table.name)
    rows = {
        match.group(1): match.group(0)
        for match in re.finditer(r"^\| `([^`]+)` \|.*$", section, flags=re.M)
    }
    assert list(rows) == list(table.column_names), "columns listed differ from the contract"
    for column in table.columns:
        cells = [cell.strip() for cell in rows[column.name].strip("|").split("|")]
        _, dtype, required, nullable, key, _meaning = cells
        where = f"{table.name}.{column.name}"
        assert dtype == column.dtype, where
        assert required == ("required" if column.required else "optional"), where
        assert nullable == ("yes" if column.nullable else "no"), where
        assert ("key" in key.split()) == (column.name in table.key and len(table.key) == 1), where
        for fk in table.foreign_keys:
            if fk.column == column.name:
                assert f"FK → {fk.ref_table}.{fk.ref_column}" in key, where
    assert ("Optional table" in section) == table.optional


def test_doc_lists_every_vocabulary_value() -> None:
    text = DOC.read_text(encoding="utf-8")
    for table in CONTRACT:
        for column in table.columns:
            for value in column.vocabulary:
                assert re.search(rf"^\| `{value}` \|", text, flags=re.M), (
                    f"{table.name}.{column.name} value {value!r} is not documented"
                )
