"""The score store on PostgreSQL (a real, throw-away server) beside DuckDB: batch runs staged and
committed, schema versions, several processes writing at once with nothing lost, passwords kept
out of messages, and ``leadscore serve`` workers sharing one PostgreSQL store over real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import duckdb
import httpx
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from leadscore.errors import ConfigError, SourceError
from leadscore.serving.auth import add_user, users
from leadscore.serving.export import export_scores
from leadscore.serving.feedback_report import feedback_report
from leadscore.serving.leads import InboxFilter, inbox_leads, inbox_query
from leadscore.serving.runs import RUN_ID_KEY, new_run_id
from leadscore.serving.store import HISTORY_COLUMNS, ScoreStore
from leadscore.serving.store_backend import describe_location, is_postgres_url, store_path
from tests.postgres_support import PostgresServer, free_port, new_database, worker_role
from tests.test_serving_api import lead
from tests.test_serving_support import API_KEY, ServingModel, serving_model

AT = datetime(2026, 11, 23, 9)
PASSWORD = "Secret-Pw-42"


def scores(ids: list[str], grade: str = "B") -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "contact_id": c,
                "scored_at": AT,
                "model_version": "7",
                "p_sql": 0.3,
                "p_meeting": 0.1,
                "grade": grade,
                "fit_score": 0.5,
                "engagement_score": 0.2,
                "reasons_positive": ["Visited the pricing page", "VP title"],
                "reasons_negative": [],
            }
            for c in ids
        ],
        columns=list(HISTORY_COLUMNS),
    )


def _run_output(path: Path, run_id: str, rows: pd.DataFrame) -> None:
    table = pa.Table.from_pandas(rows, preserve_index=False)
    pq.write_table(table.replace_schema_metadata({RUN_ID_KEY: run_id.encode()}), path)


def test_locations() -> None:
    assert is_postgres_url("postgresql+psycopg://u@h/db") and is_postgres_url("postgresql://h/db")
    assert not is_postgres_url(Path("postgresql:/x")) and not is_postgres_url("scores.duckdb")
    assert store_path("duckdb:data/s.duckdb") == Path("data/s.duckdb")
    shown = describe_location(f"postgresql://leads:{PASSWORD}@db.internal:5432/scores")
    assert PASSWORD not in shown and shown == "postgresql://leads:***@db.internal:5432/scores"
    query = describe_location(f"postgresql://db/scores?user=x&password={PASSWORD}")
    assert PASSWORD not in query


@pytest.mark.parametrize(
    "location",
    [
        f"host=db.internal user=leads password={PASSWORD} dbname=scores",
        f"postgresql+asyncpg://leads:{PASSWORD}@db.internal/scores",
        f"mysql://leads:{PASSWORD}@db.internal/scores",
    ],
)
def test_a_location_neither_a_file_nor_a_postgresql_url_is_refused(
    location: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """It became a DuckDB file named after it (password included), silently."""
    from leadscore.cli import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as refused:
        ScoreStore(location)
    assert PASSWORD not in str(refused.value) and list(tmp_path.iterdir()) == []
    with pytest.raises(SystemExit) as ended:
        main(["users", "add", "ann", "--store", location])
    captured = capsys.readouterr()
    assert ended.value.code == 2 and "postgresql://" in captured.err
    assert PASSWORD not in captured.out + captured.err and list(tmp_path.iterdir()) == []
    ScoreStore("duckdb://scores.duckdb").count()  # duckdb: URLs and plain files still open


def test_batch_runs_stay_invisible_until_committed(
    store_location: Path | str, tmp_path: Path
) -> None:
    store = ScoreStore(store_location)
    staged = scores(["c1", "c2", "c3"]).assign(owner=["ann", None, "bob"])
    parquet, output = tmp_path / "run.parquet", tmp_path / "scores.parquet"
    run = new_run_id()
    _run_output(parquet, run, staged)
    assert store.stage_run(run, parquet, output, as_of=AT) == 3
    assert store.count() == 0 and not store.runs()["visible"].any()
    store.commit_run(run)
    assert store.count() == 3
    latest = store.latest("c1")
    assert latest is not None and list(latest["reasons_positive"]) == [
        "Visited the pricing page",
        "VP title",
    ]
    assert list(store.scores_as_of("7", AT)["contact_id"]) == ["c1", "c2", "c3"]
    dropped = new_run_id()
    _run_output(parquet, dropped, scores(["c9"]))
    store.stage_run(dropped, parquet, output)
    store.discard_run(dropped)
    assert store.count() == 3 and list(store.runs()["run_id"]) == [run]
    # a pending run whose output was put in place (a crash before commit) is visible
    third = new_run_id()
    _run_output(parquet, third, scores(["c4"]))
    store.stage_run(third, parquet, output)
    _run_output(output, third, scores(["c4"]))
    assert store.count() == 4


def _a_lead_gone_since_the_last_run(location: Path | str, tmp_path: Path) -> ScoreStore:
    """Two batch runs ("gone" and "kept", then "kept" only) and an API-recorded "api" lead."""
    store = ScoreStore(location)
    parquet, output = tmp_path / "run.parquet", tmp_path / "scores.parquet"
    for ids, at in ((["gone", "kept"], AT), (["kept"], AT + timedelta(days=7))):
        run = new_run_id()
        _run_output(parquet, run, scores(ids).assign(scored_at=at))
        store.stage_run(run, parquet, output)
        store.commit_run(run)
    store.record_scores(scores(["api"]).assign(scored_at=AT + timedelta(days=1)))
    return store


def test_the_inbox_lists_the_leads_the_last_batch_run_scored(
    store_location: Path | str, tmp_path: Path
) -> None:
    """A lead the latest batch run did not rescore left the scored population (converted,
    disqualified, stale): out of the inbox list, its page still there; API-recorded scores
    (no run) stay listed."""
    from leadscore.serving.leads import InboxFilter, inbox_leads, lead_detail

    store = _a_lead_gone_since_the_last_run(store_location, tmp_path)
    listed, total = inbox_leads(store, InboxFilter())
    assert sorted(lead.contact_id for lead in listed) == ["api", "kept"] and total == 2
    page = lead_detail(store, "gone")
    assert page is not None and page[0].contact_id == "gone"


def test_export_leaves_out_the_leads_the_last_batch_run_did_not_score(
    store_location: Path | str, tmp_path: Path
) -> None:
    """As the inbox: a lead whose latest score is from an older batch run left the population
    (converted, disqualified, stale); even --full does not send its frozen score as current,
    and the result counts it; API-recorded scores are exported."""
    from leadscore.serving.export import export_scores

    store = _a_lead_gone_since_the_last_run(store_location, tmp_path)
    out = tmp_path / "generic.csv"
    for full in (False, True):
        result = export_scores(store, "generic", out, full=full)
        sent = pd.read_csv(out)["contact_id"].tolist()
        assert (result.leads, result.departed) == (2, 1)
        assert sorted(sent) == ["api", "kept"]  # first a delta of new leads, then --full


def test_a_dead_process_pending_run_is_discarded_by_the_next_writer(
    store_location: Path | str, tmp_path: Path
) -> None:
    store = ScoreStore(store_location)
    parquet, output = tmp_path / "run.parquet", tmp_path / "scores.parquet"
    run = new_run_id()
    _run_output(parquet, run, scores(["c1", "c2"]))
    store.stage_run(run, parquet, output)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    with store.connection() as con:  # the run's process died before replacing its output
        con.execute("UPDATE score_runs SET pid = ? WHERE run_id = ?", [int(dead), run])
    store.open_check()
    assert store.runs().empty and store.count() == 0


def test_pooled_connections_the_server_dropped_are_replaced(pg_store_url: str) -> None:
    import psycopg

    store = ScoreStore(pg_store_url)
    store.add_feedback("c1", "accepted")
    with psycopg.connect(pg_store_url, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert killed is not None and killed[0] >= 1  # the store's idle connection
    store.add_feedback("c2", "rejected")
    assert len(store.feedback()) == 2


def test_connections_in_use_are_capped_per_process(
    pg_store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At most LEADSCORE_STORE_CONNECTIONS in use at once: one more waits, then says so (the
    API's 40 threads would otherwise open 40 connections per worker)."""
    from leadscore.serving import store_pg

    ScoreStore(pg_store_url).add_feedback("c1", "accepted")  # the schema exists
    monkeypatch.setenv(store_pg.OPEN_ENV, "2")
    monkeypatch.setattr(store_pg, "_slots", None)
    monkeypatch.setattr(store_pg, "OPEN_WAIT_SECONDS", 0.2)
    first, second = store_pg.connect(pg_store_url), store_pg.connect(pg_store_url)
    with pytest.raises(SourceError, match=r"All 2 connections .* stayed busy") as busy:
        store_pg.connect(pg_store_url)
    assert store_pg.OPEN_ENV in str(busy.value)
    first.close()
    third = store_pg.connect(pg_store_url)  # a slot freed: no wait
    assert third.execute("SELECT 1").fetchone() == (1,)
    for con in (second, third):
        con.close()
    with ThreadPoolExecutor(8) as pool:  # 8 threads share 2 slots: all get through
        list(
            pool.map(lambda i: ScoreStore(pg_store_url).add_feedback(f"t{i}", "accepted"), range(8))
        )
    assert len(ScoreStore(pg_store_url).feedback()) == 9
    monkeypatch.setenv(store_pg.OPEN_ENV, "many")
    monkeypatch.setattr(store_pg, "_slots", None)
    with pytest.raises(ConfigError, match="LEADSCORE_STORE_CONNECTIONS='many'"):
        store_pg.connect(pg_store_url)


def _loops(plan: dict[str, Any]) -> list[tuple[str, int]]:
    """Every node of a JSON query plan with the times it ran."""
    found = [(str(plan["Node Type"]), int(plan["Actual Loops"]))]
    for child in plan.get("Plans", []):
        found += _loops(child)
    return found


def test_the_inbox_query_reads_the_history_once_on_postgresql(pg_store_url: str) -> None:
    """With a grade filter and open leads only, PostgreSQL cannot estimate the latest rows
    (``rn = 1``) and once re-aggregated the whole history for every lead (19 s for 857 leads of
    the demo): the plan must run each node once."""
    store = ScoreStore(pg_store_url)
    ids = [f"c{i:04d}" for i in range(2000)]
    best, rest = ids[::20], [c for c in ids if c not in set(ids[::20])]  # 5 % grade A
    once = pd.concat([scores(best, "A"), scores(rest, "C")])
    store.record_scores(pd.concat([once, once.assign(scored_at=AT + timedelta(days=1))]))
    for contact in best[:40]:
        store.add_feedback(contact, "accepted", rep="ann")
    with store.connection(read_only=True) as con:
        sql, args = inbox_query(store, con, InboxFilter(grade="A", status="open"))
        con.execute("ANALYZE")
        explained = con.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, args).fetchone()
        page = con.execute(sql, args).df()
    assert explained is not None
    document = explained[0]
    plan = (json.loads(document) if isinstance(document, str) else document)[0]["Plan"]
    rerun = [(node, loops) for node, loops in _loops(plan) if loops > 1]
    assert rerun == [], rerun
    assert len(page) == 50 and int(page["total"].iloc[0]) == 60


def test_arg_max_means_the_same_on_both_databases(store_location: Path | str) -> None:
    """The value at the largest key, skipping null values and null keys (PostgreSQL sorts a
    null key first in a descending order; DuckDB's arg_max skips it)."""
    with ScoreStore(store_location).connection(read_only=True) as con:
        row = con.execute(
            f"SELECT {con.sql.arg_max('v', 'k')}, {con.sql.arg_max('w', 'k')} FROM (VALUES "
            "(1, 'a', CAST(NULL AS VARCHAR)), (2, NULL, NULL), (NULL, 'z', 'q')) AS t(k, v, w)"
        ).fetchone()
    assert row is not None and tuple(row) == ("a", None)


def test_text_sorts_by_code_point_as_on_duckdb(postgres: PostgresServer, tmp_path: Path) -> None:
    """A PostgreSQL database in a language locale (ICU en-US here) sorts ``_z`` first and
    ``(API)`` after ``A1``; the inbox, the CRM export, the feedback report and the users sort
    as the DuckDB store does."""
    import psycopg

    name = f"icu_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres.database_url("postgres"), autocommit=True) as admin:
        admin.execute(
            f"CREATE DATABASE {name} TEMPLATE template0 LOCALE_PROVIDER icu "
            "ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
        )
    ids = ["b", "A1", "a2", "_z", "c-1", "c1"]
    seen = []
    for location in (tmp_path / "scores.duckdb", postgres.database_url(name)):
        store = ScoreStore(location)
        store.record_scores(scores(ids))
        for contact, rep in zip(ids, ["b", None, "A1", "_z", "a2", "c1"], strict=True):
            store.add_feedback(contact, "accepted", rep=rep)
        for person in ["ann", "Bob", "_bot", "zed", "Carl"]:
            add_user(store, person)
        leads, _ = inbox_leads(store, InboxFilter())
        out = tmp_path / f"export-{len(seen)}.csv"
        export_scores(store, "generic", out, full=True)
        seen.append(
            (
                [lead.contact_id for lead in leads],
                pd.read_csv(out).iloc[:, 0].tolist(),
                feedback_report(store).by_rep["rep"].tolist(),
                users(store),
            )
        )
    assert seen[0] == seen[1]
    assert seen[0][0] == sorted(ids) and seen[0][1] == sorted(ids)
    assert seen[0][2][0] == "(API)" and seen[0][3] == ["Bob", "Carl", "_bot", "ann", "zed"]


def test_empty_results_are_typed_alike(pg_store_url: str, tmp_path: Path) -> None:
    """An empty store's frames have the same dtypes on both databases (PostgreSQL's were all
    object: no value to infer a type from)."""

    def dtypes(store: ScoreStore) -> list[dict[str, str]]:
        frames = [
            store.feedback(detail=True),
            store.history("nobody"),
            store.scoring_runs(),
            store.scores_as_of("7", AT),
            store.runs(),
        ]
        return [{str(k): str(v) for k, v in frame.dtypes.items()} for frame in frames]

    duck, pg = dtypes(ScoreStore(tmp_path / "scores.duckdb")), dtypes(ScoreStore(pg_store_url))
    assert pg == duck
    assert duck[1]["scored_at"] == "datetime64[us]" and duck[1]["p_sql"] == "float64"


def test_a_store_of_a_newer_schema_is_refused(store_location: Path | str) -> None:
    if is_postgres_url(store_location):
        import psycopg

        with psycopg.connect(str(store_location), autocommit=True) as con:
            con.execute("CREATE TABLE store_schema (version INTEGER NOT NULL)")
            con.execute("INSERT INTO store_schema VALUES (99)")
    else:
        with duckdb.connect(str(store_location)) as con:
            con.execute("CREATE TABLE store_schema (version INTEGER NOT NULL)")
            con.execute("INSERT INTO store_schema VALUES (99)")
    with pytest.raises(SourceError, match="schema version 99"):
        ScoreStore(store_location).count()


_WORKER = """
import sys, time
from pathlib import Path
from leadscore.serving.auth import add_user, users
from leadscore.serving.export import export_scores
from leadscore.serving.feedback_report import feedback_report
from leadscore.serving.store import ScoreStore
url, name, n, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
while not start.exists():
    time.sleep(0.005)
store = ScoreStore(url)
for i in range(n):
    store.add_feedback(f"{name}-{i}", "rejected" if i % 2 else "accepted", reason="timing",
                       rep=name)
    if i % 10 == 0:
        add_user(store, "shared.rep")
"""


def test_two_processes_write_feedback_at_once_and_nothing_is_lost(
    pg_store_url: str, tmp_path: Path
) -> None:
    start, n = tmp_path / "start", 60
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(_WORKER), pg_store_url, name, str(n), start],
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("w1", "w2")
    ]
    time.sleep(0.5)  # both import, then start together on a store without tables yet
    start.touch()
    for worker in workers:
        _, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
    stored = ScoreStore(pg_store_url).feedback(detail=True)
    assert len(stored) == 2 * n
    assert set(stored["contact_id"]) == {f"{w}-{i}" for w in ("w1", "w2") for i in range(n)}
    from leadscore.serving.auth import users

    assert users(ScoreStore(pg_store_url)) == ["shared.rep"]


def test_no_password_in_errors(postgres: PostgresServer) -> None:
    unreachable = f"postgresql://leads:{PASSWORD}@127.0.0.1:{free_port()}/scores"
    with pytest.raises(SourceError) as closed:
        ScoreStore(unreachable).count()
    missing = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{postgres.port}/no_such_db"
    with pytest.raises(SourceError) as absent:
        ScoreStore(missing).add_feedback("c1", "accepted")
    for error in (closed.value, absent.value):
        assert PASSWORD not in str(error) and "127.0.0.1" in str(error)
    assert "no_such_db" in str(absent.value)
    assert PASSWORD not in str(ScoreStore(missing))


def test_a_user_without_create_uses_a_store_whose_tables_exist(pg_store_url: str) -> None:
    """deploying.md: ``CREATE`` on the schema the first time, then ``SELECT``, ``INSERT``,
    ``UPDATE``, ``DELETE`` are enough (the DDL ran in every process and needed ``CREATE``);
    without them a write is refused with a message, not reported as a bug."""
    import psycopg

    ScoreStore(pg_store_url).count()  # the owner creates the tables
    role, url = worker_role(pg_store_url)
    worker = ScoreStore(url)
    worker.add_feedback("c1", "accepted", rep="ann")
    worker.record_scores(scores(["c1"]))
    assert len(worker.feedback()) == 1 and worker.count() == 1
    with psycopg.connect(pg_store_url, autocommit=True) as admin:
        admin.execute(f"REVOKE INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public FROM {role}")
    with pytest.raises(SourceError, match="refused: permission denied for table users"):
        add_user(worker, "ann")  # a user error (exit 3), not a bug (70)


def test_errors_name_the_server_and_never_the_password(postgres: PostgresServer) -> None:
    """A store URL's ``user@host`` is not masked as an email address (the operator needs the
    server), a raw password before a host is; a bare '@' in the password is refused before
    libpq names part of it as the host."""
    named = SourceError("Cannot open the score store postgresql://leads:***@db.example.com/s")
    assert "leads:***@db.example.com" in str(named)
    assert "leads@db.example.com" in str(SourceError("postgresql://leads@db.example.com/s"))
    raw = str(SourceError(f"postgresql://leads:{PASSWORD}@db.example.com/s"))
    assert PASSWORD not in raw and "leads:***@db.example.com" in raw
    assert "<email address>" in str(SourceError("owner jane.doe@acme.com"))
    at = f"postgresql://postgres:{PASSWORD}@x@127.0.0.1:{postgres.port}/postgres"
    with pytest.raises(ConfigError, match="%40") as refused:
        ScoreStore(at).count()
    assert PASSWORD not in str(refused.value) and "@x" not in str(refused.value)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> ServingModel:
    return serving_model(tmp_path_factory)


def _serve(
    model: ServingModel, url: str, port: int, folder: Path, log: BinaryIO
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LEADSCORE_API_KEY": API_KEY}
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "leadscore"),
            "serve",
            "--store",
            url,
            "--tracking-uri",
            model.tracking_uri,
            "--port",
            str(port),
            "--crm",
            str(model.crm_path),
        ],
        env=env,
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=log,
        start_new_session=True,
    )


def _wait_ready(port: int, server: subprocess.Popen[bytes], folder: Path) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        log = (folder / f"serve-{port}.log").read_text(errors="replace")
        assert server.poll() is None, f"leadscore serve exited: {log}"
        assert time.monotonic() < deadline, f"leadscore serve did not start: {log}"
        time.sleep(0.2)


def test_two_serve_workers_share_a_postgresql_store(
    model: ServingModel, postgres: PostgresServer, tmp_path: Path
) -> None:
    url = new_database(postgres).replace("postgresql://", "postgresql+psycopg://")
    ports = [free_port(), free_port()]
    with ExitStack() as files:
        logs = [files.enter_context((tmp_path / f"serve-{p}.log").open("wb")) for p in ports]
        servers = [_serve(model, url, p, tmp_path, log) for p, log in zip(ports, logs, strict=True)]
        _exercise(model, url, ports, servers, tmp_path)


def _exercise(
    model: ServingModel,
    url: str,
    ports: list[int],
    servers: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    try:
        for port, server in zip(ports, servers, strict=True):
            _wait_ready(port, server, tmp_path)
        headers = {"X-API-Key": API_KEY}
        ids = [f"PG-{i}" for i in range(8)]
        body = {"leads": [lead(model, c) for c in ids], "as_of": model.as_of.isoformat()}
        first = f"http://127.0.0.1:{ports[0]}"
        scored = httpx.post(f"{first}/score?record=true", json=body, headers=headers, timeout=60)
        assert scored.status_code == 200, scored.text
        # the other worker sees what the first recorded
        second = f"http://127.0.0.1:{ports[1]}"
        stored = httpx.get(f"{second}/contacts/PG-3/score", headers=headers, timeout=30)
        assert stored.status_code == 200, stored.text
        assert stored.json()["grade"] == scored.json()["scores"][3]["grade"]

        def verdict(i: int) -> int:
            base = f"http://127.0.0.1:{ports[i % 2]}"
            data = {"contact_id": ids[i % len(ids)], "verdict": "rejected", "reason": "timing"}
            return httpx.post(
                f"{base}/feedback", json=data, headers=headers, timeout=30
            ).status_code

        with ThreadPoolExecutor(8) as pool:  # the load balancer: requests to both at once
            codes = list(pool.map(verdict, range(80)))
        assert codes == [201] * 80
        store = ScoreStore(url)
        assert len(store.feedback()) == 80 and store.count() == len(ids)
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)


def test_commands_take_a_postgresql_url_and_never_print_its_password(
    pg_store_url: str, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from leadscore.cli import app
    from leadscore.serving.auth import user_for_token

    # the test server trusts local users: the password is accepted and never checked
    url = pg_store_url.replace(
        "postgresql://postgres@", f"postgresql+psycopg://postgres:{PASSWORD}@"
    )
    runner = CliRunner()
    empty = runner.invoke(app, ["feedback", "report", "--store", url])
    assert empty.exit_code == 0 and "No verdict" in empty.stdout
    assert PASSWORD not in empty.stdout and "postgres:***@" in " ".join(empty.stdout.split())
    added = runner.invoke(app, ["users", "add", "jane.doe", "--store", url])
    assert added.exit_code == 0, added.stdout
    assert user_for_token(ScoreStore(url), added.stdout.strip().splitlines()[-1]) == "jane.doe"
    store = ScoreStore(url)
    store.record_scores(scores(["c1", "c2"]))
    store.add_feedback("c1", "rejected", reason="spam_bot", rep="jane.doe", grade="B")
    report = runner.invoke(app, ["feedback", "report", "--store", url])
    assert report.exit_code == 0 and "spam_bot" in report.stdout
    out = tmp_path / "generic.csv"
    exported = runner.invoke(
        app, ["export", "--target", "generic", "--store", url, "--out", str(out)]
    )
    assert exported.exit_code == 0, exported.stdout
    assert len(pd.read_csv(out)) == 2
    again = runner.invoke(app, ["export", "--target", "generic", "--store", url, "--out", str(out)])
    assert again.exit_code == 0 and len(pd.read_csv(out)) == 2  # not imported yet: kept
    assert "2 row(s) of the file it replaces were kept" in again.stdout
    for result in (added, report, exported, again):
        assert PASSWORD not in result.stdout


def test_serve_refuses_an_unreachable_postgresql_store_at_start() -> None:
    from typer.testing import CliRunner

    from leadscore.cli import app

    url = f"postgresql://leads:{PASSWORD}@127.0.0.1:{free_port()}/scores"
    result = CliRunner().invoke(app, ["serve", "--store", url, "--model", "no-such-model"])
    # before loading the model; leadscore's entry point turns a SourceError into exit code 3
    assert isinstance(result.exception, SourceError), result.output
    message = str(result.exception)
    assert "Cannot open the score store" in message and PASSWORD not in message


def test_score_appends_its_history_to_a_postgresql_store(
    model: ServingModel, pg_store_url: str, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from leadscore.cli import app

    url = pg_store_url.replace("postgresql://postgres@", f"postgresql://postgres:{PASSWORD}@")
    args = ["score", str(model.crm_path), "--store", url, "--out", str(tmp_path / "s.parquet")]
    args += ["--tracking-uri", model.tracking_uri, "--as-of", model.as_of.isoformat()]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    printed = " ".join(result.output.split())
    assert PASSWORD not in printed and "postgres:***@" in printed
    rows = len(pd.read_parquet(tmp_path / "s.parquet"))
    store = ScoreStore(pg_store_url)
    assert store.count() == rows and bool(store.runs()["visible"].all())


def test_statement_timeout_from_the_environment_and_the_url(
    pg_store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LEADSCORE_STORE_STATEMENT_TIMEOUT makes the server cancel a long store statement; a URL's
    own ``options`` are kept (and win), not replaced by the session's UTC setting."""
    from leadscore.serving import store_pg

    monkeypatch.setenv(store_pg.TIMEOUT_ENV, "0.3")
    store_pg._close_idle()  # fresh connections read the setting
    store = ScoreStore(pg_store_url)
    started = time.monotonic()
    with pytest.raises(SourceError, match="statement timeout"), store.connection() as con:
        con.execute("SELECT pg_sleep(5)")
    assert time.monotonic() - started < 4
    monkeypatch.setenv(store_pg.TIMEOUT_ENV, "0")
    store_pg._close_idle()
    url = f"{pg_store_url}?options=-c%20statement_timeout%3D250"
    with ScoreStore(url).connection() as con:
        assert con.execute("SHOW statement_timeout").fetchone()[0] == "250ms"
        assert con.execute("SHOW TimeZone").fetchone()[0] == "UTC"
    monkeypatch.setenv(store_pg.TIMEOUT_ENV, "soon")
    store_pg._close_idle()
    with pytest.raises(ConfigError, match="expected seconds"):
        ScoreStore(f"{pg_store_url}?application_name=x").count()
