"""Every command given bad input: the README's exit code, no traceback, and a message naming
what is wrong, where, and how to fix it. Runs ``leadscore.cli.main`` in process (fast); the
fixtures are built once for the module."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from leadscore import errors
from leadscore.cli import main
from tests.crm_tables import tiny_crm_tables, write_csv_folder

HAS_OUTPUT_ERROR = hasattr(errors, "OutputError")  # lands with the crash-safety branch


@dataclass(frozen=True)
class Env:
    root: Path
    crm: Path  # a valid CSV folder
    table: Path  # a valid training table
    registry: str  # a tracking URI whose sqlite file does not exist

    def __getitem__(self, name: str) -> str:
        return str(self.root / name)


def _broken_crm(root: Path, name: str, change: str) -> None:
    tables = tiny_crm_tables()
    if change == "negative":
        tables["accounts"].loc[0, "employee_count"] = -3
    elif change == "before_contact":
        tables["stage_changes"].loc[0, "changed_at"] = "2024-01-31 09:00:00"
    elif change == "nul":
        tables["contacts"].loc[1, "job_title"] = "Head\x00of"
    elif change == "missing":
        del tables["events"]
    folder = write_csv_folder(tables, root / name)
    if change == "latin1":
        path = folder / "contacts.csv"
        path.write_bytes(path.read_bytes().replace(b"Head", b"H\xe9ad"))
    elif change == "binary":
        (folder / "events.csv").write_bytes(bytes(range(256)) * 20)
    elif change == "dup_header":
        path = folder / "events.csv"
        lines = path.read_text().splitlines()
        lines = [lines[0] + ",event_type"] + [line + ",x" for line in lines[1:]]
        path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    from leadscore.crm import open_crm
    from leadscore.features import CutoffSchedule, build_training_table, load_definition
    from leadscore.synthetic import GeneratorConfig, generate_crm

    root = tmp_path_factory.mktemp("bad-input")
    crm = write_csv_folder(tiny_crm_tables(), root / "crm")
    for change in ("negative", "before_contact", "nul", "missing", "latin1", "binary"):
        _broken_crm(root, change, change)
    _broken_crm(root, "dup_header", "dup_header")
    (root / "a_file").write_text("not a folder\n")
    (root / "garbage.duckdb").write_bytes(b"SQLite format 3\x00 not duckdb" * 10)
    (root / "garbage.parquet").write_bytes(b"not parquet\n" * 10)
    (root / "bad.yaml").write_text("mapping:\n  stage_label: {New: lead}\n")
    (root / "not-yaml.yaml").write_text("mapping: [unclosed\n")
    (root / "bad-training.yaml").write_text("evaluation:\n  n_bootstraps: 10\n")
    (root / "bad-definition.yaml").write_text("include: [no_such_feature]\n")
    (root / "bad-rules.yaml").write_text(
        "mql_threshold: 50\nrules:\n  - name: x\n    feature: no_such_feature\n    points: 5\n    per_unit: true\n"
    )
    # flat tables
    flat = pd.DataFrame(
        {
            "industry": ["software", "retail"] * 20,
            "employees": range(40),
            "created_at": pd.date_range("2024-01-01", periods=40, freq="D").astype(str),
            "converted": [0, 1] * 20,
        }
    )
    flat.head(2).to_csv(root / "two-rows.csv", index=False)
    flat.assign(converted=["maybe", "jane.doe@example.com"] * 20).to_csv(
        root / "not-binary.csv", index=False
    )
    flat.assign(created_at="someday").to_csv(root / "bad-dates.csv", index=False)
    (root / "latin1.csv").write_bytes(b"industry,converted\n" + b"caf\xe9,1\n" * 30)
    (root / "empty.csv").write_bytes(b"")
    flat.to_csv(root / "flat.csv", index=False)
    # a real training table from a small synthetic CRM
    duck = root / "synthetic.duckdb"
    generate_crm(GeneratorConfig(n_contacts=300, seed=3), duck, fmt="duckdb")
    source = open_crm(duck)
    try:
        end = source.con.execute("SELECT max(occurred_at) FROM events").fetchone()
        assert end is not None
        schedule = CutoffSchedule(
            (end[0] - pd.Timedelta(days=150)).date(), (end[0] - pd.Timedelta(days=35)).date()
        )
        build_training_table(source, load_definition(None), schedule, 30, root / "table.parquet")
    finally:
        source.close()
    yield Env(root, crm, root / "table.parquet", f"sqlite:///{root}/no-registry/mlflow.db")


# (id, argv template, exit code, substrings the message must hold: what, where, how to fix)
# {name} is a path under the fixture root; {crm}, {table}, {registry} the fixture's.
CASES: list[tuple[str, list[str], int, tuple[str, ...]]] = [
    # generate
    ("generate-too-few", ["generate", "--contacts", "5"], 2, ("--contacts", "10")),
    ("generate-not-int", ["generate", "--contacts", "many"], 2, ("--contacts", "integer")),
    ("generate-format", ["generate", "--format", "xml"], 2, ("--format", "xml")),
    # validate
    ("validate-missing", ["validate", "{nowhere}"], 3, ("nowhere", "leadscore generate")),
    ("validate-one-file", ["validate", "{flat.csv}"], 3, ("flat.csv", "single file", "folder")),
    ("validate-no-table", ["validate", "{missing}"], 4, ("events: table is missing", "expected a table named 'events'")),
    ("validate-negative", ["validate", "{negative}"], 4, ("accounts.employee_count", "below 0", "(e.g. A1)")),
    ("validate-before-contact", ["validate", "{before_contact}"], 4, ("stage_changes.changed_at", "before the contact was created")),
    ("validate-nul", ["validate", "{nul}"], 4, ("contacts.job_title", "NUL bytes", "export the table again")),
    ("validate-dup-header", ["validate", "{dup_header}"], 4, ("events.csv", "more than once (event_type)", "remove or rename")),
    ("validate-latin1", ["validate", "{latin1}"], 3, ("contacts.csv", "at line 3", "not UTF-8", "re-export it as UTF-8")),
    ("validate-binary", ["validate", "{binary}"], 3, ("events.csv", "not a readable CSV", "export the table as UTF-8 CSV")),
    ("validate-corrupt-duckdb", ["validate", "{garbage.duckdb}"], 3, ("garbage.duckdb", "Cannot open", "DuckDB")),
    ("validate-bad-url", ["validate", "nosuchdb://user@host/crm"], 3, ("Cannot use database", "driver")),
    ("validate-bad-config", ["validate", "{crm}", "--config", "{bad.yaml}"], 2, ("mapping.stage_label", "bad.yaml")),
    ("validate-config-not-yaml", ["validate", "{crm}", "--config", "{not-yaml.yaml}"], 2, ("not-yaml.yaml",)),
    ("validate-config-missing", ["validate", "{crm}", "--config", "{nope.yaml}"], 2, ("nope.yaml",)),
    ("validate-as-of", ["validate", "{crm}", "--as-of", "yesterday"], 2, ("--as-of", "datetime")),
    # features build
    ("features-missing-crm", ["features", "build", "{nowhere}", "--out", "{t.parquet}"], 3, ("nowhere",)),
    ("features-broken-crm", ["features", "build", "{negative}", "--out", "{t.parquet}"], 4, ("accounts.employee_count", "below 0")),
    ("features-horizon", ["features", "build", "{crm}", "--horizon", "0"], 2, ("--horizon", "greater than or equal to 1")),
    ("features-every", ["features", "build", "{crm}", "--every", "year"], 2, ("--every", "year")),
    ("features-definition-missing", ["features", "build", "{crm}", "--definition", "{nope.yaml}", "--out", "{t.parquet}"], 2, ("nope.yaml",)),
    ("features-definition-unknown", ["features", "build", "{crm}", "--definition", "{bad-definition.yaml}", "--out", "{t.parquet}"], 2, ("no_such_feature",)),
    # rules score
    ("rules-missing-table", ["rules", "score", "{nope.parquet}"], 5, ("nope.parquet", "missing")),
    ("rules-garbage-table", ["rules", "score", "{garbage.parquet}"], 5, ("garbage.parquet",)),
    ("rules-missing-rules", ["rules", "score", "{table}", "--rules", "{nope.yaml}"], 2, ("nope.yaml",)),
    ("rules-unknown-feature", ["rules", "score", "{table}", "--rules", "{bad-rules.yaml}"], 2, ("no_such_feature",)),
    # train, both modes
    ("train-nothing", ["train"], 2, ("training table", "--table")),
    ("train-missing-table", ["train", "{nope.parquet}", "--tracking-uri", "{registry}"], 5, ("nope.parquet", "missing")),
    ("train-bad-config", ["train", "{table}", "--training-config", "{bad-training.yaml}", "--tracking-uri", "{registry}"], 2, ("n_bootstraps", "bad-training.yaml")),
    ("train-flat-missing", ["train", "--table", "{nope.csv}", "--target", "x"], 2, ("nope.csv", "does not exist")),
    ("train-flat-no-target", ["train", "--table", "{flat.csv}"], 2, ("--target",)),
    ("train-table-as-flat", ["train", "--table", "{table}"], 2, ("training table from `leadscore features build`", "without --table")),
    ("train-flat-unknown-target", ["train", "--table", "{flat.csv}", "--target", "won"], 2, ("'won'", "flat.csv", "columns:")),
    ("train-flat-two-rows", ["train", "--table", "{two-rows.csv}", "--target", "converted"], 4, ("two-rows.csv", "2 row(s)", "at least 10")),
    ("train-flat-not-binary", ["train", "--table", "{not-binary.csv}", "--target", "converted"], 4, ("'converted'", "not 0/1", "expected 0/1")),
    ("train-flat-bad-dates", ["train", "--table", "{bad-dates.csv}", "--target", "converted", "--time-column", "created_at"], 4, ("'created_at'", "not dates")),
    # a latin-1 export is read (its encoding sniffed), then judged on its content like any other
    ("train-flat-latin1", ["train", "--table", "{latin1.csv}", "--target", "converted"], 4, ("latin1.csv", "30 row(s)", "0 with converted = 0")),
    ("train-flat-empty", ["train", "--table", "{empty.csv}", "--target", "converted"], 3, ("empty.csv", "empty")),
    # evaluate
    ("evaluate-missing-table", ["evaluate", "{nope.parquet}", "--tracking-uri", "{registry}"], 5, ("nope.parquet",)),
    ("evaluate-no-registry", ["evaluate", "{table}", "--tracking-uri", "{registry}"], 5, ("No model registry", "leadscore train")),
    ("evaluate-bad-uri", ["evaluate", "{table}", "--tracking-uri", "foo://bar"], 2, ("'foo'", "--tracking-uri", "sqlite:///")),
    # promote
    ("promote-no-registry", ["promote", "--tracking-uri", "{registry}"], 5, ("No model registry", "leadscore train")),
    ("promote-bad-uri", ["promote", "--tracking-uri", "foo://bar"], 2, ("'foo'", "--tracking-uri")),
    ("promote-margin", ["promote", "--margin", "lots"], 2, ("--margin", "unable to parse")),
    # models
    ("models-bad-uri", ["models", "--tracking-uri", "foo://bar"], 2, ("'foo'", "--tracking-uri")),
    ("models-no-registry", ["models", "--tracking-uri", "{registry}"], 0, ("No version", "leadscore train")),
    # score
    ("score-missing-crm", ["score", "{nowhere}", "--tracking-uri", "{registry}"], 3, ("nowhere",)),
    ("score-broken-crm", ["score", "{nul}", "--tracking-uri", "{registry}"], 4, ("contacts.job_title", "NUL bytes")),
    ("score-chunk-size", ["score", "{crm}", "--chunk-size", "0"], 2, ("--chunk-size", "greater than or equal to 1")),
    ("score-as-of", ["score", "{crm}", "--as-of", "soon"], 2, ("--as-of", "datetime")),
    ("score-no-registry", ["score", "{crm}", "--tracking-uri", "{registry}", "--out", "{s.parquet}", "--store", "{h.duckdb}"], 5, ("No model registry", "leadscore train")),
    ("score-out-not-parquet", ["score", "{crm}", "--out", "{s.csv}", "--store", "{h.duckdb}"], 2, ("written as Parquet", "s.csv", ".parquet")),
    ("score-bad-uri", ["score", "{crm}", "--tracking-uri", "foo://bar", "--out", "{s.parquet}", "--store", "{h.duckdb}"], 2, ("'foo'", "--tracking-uri")),
    # explain
    ("explain-no-contact", ["explain"], 2, ("Missing argument", "contact_id")),
    ("explain-missing-crm", ["explain", "C1", "--crm", "{nowhere}"], 3, ("nowhere",)),
    ("explain-no-registry", ["explain", "C1", "--crm", "{crm}", "--tracking-uri", "{registry}"], 5, ("No model registry",)),
    # serve
    ("serve-port-zero", ["serve", "--port", "0"], 2, ("--port", "greater than or equal to 1")),
    ("serve-port-high", ["serve", "--port", "70000"], 2, ("--port", "less than or equal to 65535")),
    ("serve-bad-uri", ["serve", "--tracking-uri", "foo://bar"], 2, ("'foo'",)),
    # demo and the root
    ("demo-too-few", ["demo", "--contacts", "3"], 2, ("--contacts", "10")),
    ("unknown-command", ["frobnicate"], 2, ("frobnicate",)),
    ("unknown-option", ["validate", "--frobnicate"], 2, ("--frobnicate",)),
]  # fmt: skip

OUTPUT_CASES: list[tuple[str, list[str], tuple[str, ...]]] = [
    ("generate-parent-is-a-file", ["generate", "--contacts", "10", "--out", "{a_file}/crm.duckdb"], ("a_file",)),
    ("features-parent-is-a-file", ["features", "build", "{crm}", "--out", "{a_file}/t.parquet"], ("a_file",)),
    ("rules-out-parent-is-a-file", ["rules", "score", "{table}", "--out", "{a_file}/points.csv"], ("a_file",)),
]  # fmt: skip


def _argv(template: list[str], env: Env) -> list[str]:
    fixed = {"{crm}": str(env.crm), "{table}": str(env.table), "{registry}": env.registry}
    out = []
    for arg in template:
        for key, value in fixed.items():
            arg = arg.replace(key, value)
        if arg.startswith("{") and "}" in arg:
            name, rest = arg[1:].split("}", 1)
            arg = env[name] + rest
        out.append(arg)
    return out


def _run(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str]:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("LEADSCORE_API_KEY", "k" * 32)
    with pytest.raises(SystemExit) as caught:
        main(argv)
    captured = capsys.readouterr()
    code = caught.value.code
    return (code if isinstance(code, int) else 1), captured.out + captured.err


def _check(code: int, output: str, expected_code: int, needles: tuple[str, ...]) -> None:
    flat = " ".join(output.replace("│", " ").split())
    assert "Traceback" not in output, output
    assert "internal error" not in output and "bug in leadscore" not in output, output
    assert code == expected_code, output
    for needle in needles:
        assert " ".join(needle.split()) in flat, (needle, output)


@pytest.mark.parametrize(
    ("argv", "exit_code", "needles"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input(
    env: Env,
    argv: list[str],
    exit_code: int,
    needles: tuple[str, ...],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)  # default outputs (reports/, data/) never land in the repository
    code, output = _run(_argv(argv, env), capsys, monkeypatch)
    _check(code, output, exit_code, tuple(_argv(list(needles), env)))


@pytest.mark.skipif(not HAS_OUTPUT_ERROR, reason="needs OutputError from the crash-safety branch")
@pytest.mark.parametrize(
    ("argv", "needles"), [c[1:] for c in OUTPUT_CASES], ids=[c[0] for c in OUTPUT_CASES]
)
def test_unwritable_output(
    env: Env,
    argv: list[str],
    needles: tuple[str, ...],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)
    code, output = _run(_argv(argv, env), capsys, monkeypatch)
    _check(code, output, 1, needles)  # README: 1, other leadscore error (OutputError)


def test_serve_without_api_key_is_a_usage_error(
    env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LEADSCORE_API_KEY", raising=False)
    with pytest.raises(SystemExit) as caught:
        main(["serve", "--tracking-uri", env.registry])
    output = capsys.readouterr().err
    assert caught.value.code in (2, 5), output  # either check may come first
    assert "Traceback" not in output


def test_the_suite_covers_every_command() -> None:
    commands = {c[1][0] for c in CASES} | {" ".join(c[1][:2]) for c in CASES}
    for command in (
        "generate", "validate", "features build", "rules score", "train", "evaluate", "promote",
        "models", "score", "explain", "serve", "demo",
    ):  # fmt: skip
        assert command in commands
    assert len(CASES) >= 40
