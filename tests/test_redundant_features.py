"""Features carrying the same information are named at build time, and only those."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from leadscore.features.redundant import RedundantPair, redundant_pairs, redundant_warning
from tests.test_cli import run_cli


@pytest.fixture()
def con() -> duckdb.DuckDBPyConnection:
    rng = np.random.default_rng(3)
    n = 5_000
    source = rng.choice(["web", "event", "partner", None], n)
    flag = rng.random(n) < 0.3
    count = rng.poisson(2, n)
    frame = pd.DataFrame(
        {
            "lead_source": source,
            "source": source,  # a copy
            "source_code": pd.Series(source).map(
                {"web": "W", "event": "E", "partner": "P", None: "?"}
            ),  # the same categories under other names, NULL included
            "is_mql": flag,
            "not_mql": ~flag,  # a flag's negation
            "visits": count,
            "visits_copy": count.copy(),
            "visits_doubled": count * 2,  # same ties, another number: not the same feature
            "other_count": rng.poisson(2, n),
            "constant": np.zeros(n, dtype=int),
            "constant_too": np.zeros(n, dtype=int),
            "industry": rng.choice(["saas", "retail", "bank"], n),
            "almost_copy": source.copy(),
        }
    )
    frame.loc[17, "almost_copy"] = "web" if frame.loc[17, "lead_source"] != "web" else "event"
    connection = duckdb.connect()
    connection.register("frame", frame)
    connection.execute("CREATE TABLE t AS SELECT * FROM frame")
    return connection


def test_copies_renamed_categories_and_negated_flags_are_found(
    con: duckdb.DuckDBPyConnection,
) -> None:
    columns = [str(r[0]) for r in con.execute("DESCRIBE t").fetchall()]
    pairs = redundant_pairs(con, "t", columns)
    assert set(pairs) == {
        RedundantPair("lead_source", "source", equal=True),
        RedundantPair("lead_source", "source_code", equal=False),
        RedundantPair("source", "source_code", equal=False),
        RedundantPair("is_mql", "not_mql", equal=False),
        RedundantPair("visits", "visits_copy", equal=True),
    }
    warning = redundant_warning(pairs, 5_000, where="drop one")
    assert warning is not None
    assert "5 pair(s) of features carry the same information on all 5,000 rows" in warning
    assert "lead_source and source (the same value)" in warning
    assert "is_mql and not_mql (the same categories under other names)" in warning
    assert warning.endswith(": drop one.")


def test_only_the_given_columns_are_compared(con: duckdb.DuckDBPyConnection) -> None:
    assert redundant_pairs(con, "t", ["lead_source", "industry", "visits_doubled"]) == []
    assert redundant_pairs(con, "t", ["lead_source"]) == []
    assert redundant_warning([], 10, where="x") is None


def test_features_build_warns_about_a_custom_copy_of_a_catalog_feature(tmp_path: Path) -> None:
    crm = tmp_path / "crm.duckdb"
    assert (
        run_cli("generate", "--contacts", "600", "--seed", "2", "--out", str(crm)).returncode == 0
    )
    definition = tmp_path / "features.yaml"
    definition.write_text(
        "include: [lead_source, industry, events_30d, source]\n"
        "add:\n"
        "  - name: source\n"
        "    kind: attribute\n"
        "    attribute: lead_source\n"
        "    concept: profile_fit\n"
        "    type: categorical\n"
        '    explanation: "from {label}"\n'
    )
    table = tmp_path / "t.parquet"

    built = run_cli(
        "features", "build", str(crm), "--out", str(table), "--definition", str(definition)
    )

    assert built.returncode == 0, built.stderr
    assert "1 pair(s) of features carry the same information" in built.stderr
    assert "lead_source and source (the same value)" in built.stderr
    assert "exclude:" in built.stderr
    plain = run_cli("features", "build", str(crm), "--out", str(tmp_path / "plain.parquet"))
    assert plain.returncode == 0, plain.stderr
    assert "same information" not in plain.stderr  # the catalog alone has no such pair


def test_no_progress_bar_turns_it_off_where_it_is_on() -> None:
    from leadscore.features.redundant import no_progress_bar

    con = duckdb.connect()
    con.execute("SET enable_progress_bar = true")
    no_progress_bar(con)
    assert con.execute("SELECT current_setting('enable_progress_bar')").fetchone() == (False,)
    no_progress_bar(con)  # already off: left alone


def test_redundancy_check_runs_in_a_jupyter_kernel() -> None:
    """In a kernel without ipywidgets DuckDB refuses any progress-bar setting, even ``false``:
    the redundancy check (run by `features build` and flat mode) broke every notebook."""
    import nbformat
    from nbclient import NotebookClient

    source = (
        "import pandas as pd\n"
        "from leadscore.features.redundant import redundant_frame_pairs\n"
        "frame = pd.DataFrame({'a': [1, 2, 3], 'b': [1, 2, 3]})\n"
        "print(len(redundant_frame_pairs(frame, ['a', 'b'])))"
    )
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    assert notebook.cells[0].outputs[0]["text"].strip() == "1"
