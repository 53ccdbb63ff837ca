"""The notebooks only call the package, are stored without outputs, and run top to bottom
(executed with nbclient on a small synthetic CRM: slow; the static checks are fast)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))
ALLOWED_IMPORTS = {"os", "pathlib", "leadscore", "mlflow"}
FAST_TRAINING = """evaluation:
  n_bootstrap: 0
tuning:
  enabled: false
shap_rows: 100
fit_logistic: false
report_dir: {reports}
"""


def _code(path: Path) -> list[str]:
    notebook = nbformat.read(path, as_version=4)
    return [cell.source for cell in notebook.cells if cell.cell_type == "code"]


def test_there_are_notebooks() -> None:
    names = {p.name for p in NOTEBOOKS}
    assert {
        "01-quickstart.ipynb",
        "02-models-vs-rules-and-mlflow.ipynb",
        "03-bring-your-own-crm.ipynb",
        "04-flat-export.ipynb",
    } <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_are_stored_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_hold_no_logic_and_call_existing_steps(path: Path) -> None:
    """Imports only from the package (and MLflow, os, pathlib), no function or class defined,
    no loop, and every imported name exists."""
    for source in _code(path):
        tree = ast.parse(source)
        for node in ast.walk(tree):
            assert not isinstance(
                node, ast.FunctionDef | ast.ClassDef | ast.For | ast.While | ast.Lambda
            ), f"{path.name}: logic belongs in the package, not in a notebook"
            if isinstance(node, ast.ImportFrom):
                module = str(node.module)
                assert module.split(".")[0] in ALLOWED_IMPORTS, module
                imported = importlib.import_module(module)
                for alias in node.names:
                    assert hasattr(imported, alias.name), f"{module}.{alias.name}"
            elif isinstance(node, ast.Import):
                assert {a.name.split(".")[0] for a in node.names} <= ALLOWED_IMPORTS


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_run_top_to_bottom_in_under_two_minutes(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nbclient import NotebookClient

    config = tmp_path / "training.yaml"
    config.write_text(FAST_TRAINING.format(reports=tmp_path / "reports"), encoding="utf-8")
    monkeypatch.setenv("LEADSCORE_NB_DIR", str(tmp_path / "work"))
    monkeypatch.setenv("LEADSCORE_NB_CONTACTS", "1000")
    monkeypatch.setenv("LEADSCORE_NB_TRAINING_CONFIG", str(config))
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    )
    client.execute()  # raises CellExecutionError naming the failing cell (timeout: 300 s a cell)
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = str(outputs)
    assert "lead-example-1" in text or "grade" in text
