"""A real, throw-away PostgreSQL server for the tests (the SQL source and the score store).

:func:`start_server` runs ``initdb`` and ``pg_ctl`` (as the ``postgres`` user when root) in a
temporary folder on a free port of 127.0.0.1; tests/conftest.py starts one per test session.
:func:`new_database` gives each test its own empty database. (Holds no test.)
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SKIP_REASON = "PostgreSQL server binaries (initdb, pg_ctl) are not installed"


def postgres_bindir() -> Path | None:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).parent)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class PostgresServer:
    url: str
    """SQLAlchemy's spelling (``postgresql+psycopg://``) of the ``postgres`` database."""
    port: int

    def database_url(self, database: str) -> str:
        """The plain libpq URL of ``database`` on this server."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"


@contextmanager
def start_server(bindir: Path) -> Iterator[PostgresServer]:
    """A running server (trust authentication, user ``postgres``), stopped and deleted after."""
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    home = Path(tempfile.mkdtemp(prefix="leadscore-pg-"))
    if as_root:
        shutil.chown(home, user="postgres")
    data, log = home / "data", home / "server.log"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=60)

    started = False
    try:
        init = run(str(bindir / "initdb"), "-A", "trust", "-U", "postgres", "-D", str(data))
        assert init.returncode == 0, f"initdb failed: {init.stderr}"
        for _ in range(3):  # another process may grab the free port between probe and start
            port = free_port()
            options = f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c fsync=off"
            start = run(
                str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w",
                "start",
            )  # fmt: skip
            if start.returncode == 0:
                started = True
                break
            time.sleep(0.2)
        server_log = log.read_text() if log.exists() else ""
        assert started, f"pg_ctl start failed: {start.stderr}\n{server_log}"
        yield PostgresServer(f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", port)
    finally:
        if started:
            run(str(bindir / "pg_ctl"), "-D", str(data), "stop", "-m", "immediate")
        shutil.rmtree(home, ignore_errors=True)


def new_database(server: PostgresServer, prefix: str = "store") -> str:
    """Create an empty database on ``server``; returns its ``postgresql://`` URL."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.database_url("postgres"), autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    return server.database_url(name)


def worker_role(store_url: str) -> tuple[str, str]:
    """A new login role with ``SELECT``, ``INSERT``, ``UPDATE`` and ``DELETE`` on the tables of
    ``store_url``'s database and no ``CREATE`` (a serving worker, as docs/deploying.md sets it
    up): ``(role, its URL of the database)``."""
    import psycopg

    role = f"worker_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(store_url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
        admin.execute(f"REVOKE CREATE ON SCHEMA public FROM PUBLIC, {role}")
        admin.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"
        )
    return role, store_url.replace("//postgres@", f"//{role}@")
