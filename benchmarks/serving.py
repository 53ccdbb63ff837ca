"""Serving benchmarks: batch scoring with exact reasons (rows/s), and single-lead HTTP latency.

Run::

    .venv/bin/python benchmarks/serving.py batch [--contacts 20000] [--out data/bench-serving]
    .venv/bin/python benchmarks/serving.py api [--requests 500] [--out data/bench-serving]

Both train a model with the real pipeline on a synthetic CRM the first time (reused after).
``batch`` prints rows/s of ``score_contact_base`` (features, both heads, exact SHAP reasons,
Parquet, score history) next to plain ``pred_contrib`` and prediction-only throughput. ``api``
starts ``leadscore.serving.api.serve`` in a subprocess on 127.0.0.1 and measures p50/p99
latency of ``POST /score`` with one lead and its reasons (target p99 <= 50 ms);
``--baseline DIR`` serves a second copy of the package (e.g. the code before a change) and
interleaves the requests, for a before/after comparison under the same load, printing the
ratios (throughput = requests over the time spent on them); ``--baseline-out`` gives the
baseline its own model (trained by its own code) when the artifact format changed since.
``--concurrency N`` runs N clients in alternating timed phases (one server at a time).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

API_KEY = "bench-key-0123456789abcdef"  # the API refuses keys under 16 characters


def _prepare(out: Path, contacts: int, seed: int) -> tuple[Path, str, Any]:
    from leadscore.crm import open_crm
    from leadscore.features import (
        CutoffSchedule,
        build_training_table,
        data_end_of,
        load_definition,
    )
    from leadscore.synthetic import GeneratorConfig, generate_crm
    from leadscore.training import TrainingConfig, promote, train
    from leadscore.training.evaluate import EvaluationConfig

    out.mkdir(parents=True, exist_ok=True)
    crm_path = out / f"crm-{contacts}-{seed}.duckdb"
    uri = f"sqlite:///{out.resolve()}/mlruns/mlflow.db"
    if not crm_path.exists():
        generate_crm(GeneratorConfig(n_contacts=contacts, seed=seed), crm_path)
    crm = open_crm(crm_path)
    try:
        as_of = data_end_of(crm)
        table = out / f"training-{contacts}-{seed}.parquet"
        if not table.exists():
            schedule = CutoffSchedule(date(2024, 3, 1), date(2025, 11, 1), every="month")
            build_training_table(crm, load_definition(), schedule, 30, table)
    finally:
        crm.close()
    if not (out / "mlruns" / "mlflow.db").exists():
        config = TrainingConfig(
            report_dir=out / "reports", evaluation=EvaluationConfig(n_bootstrap=0), shap_rows=0
        )
        train(table, tracking_uri=uri, config=config)
        promote(tracking_uri=uri, force=True)
    return crm_path, uri, as_of


def batch(args: argparse.Namespace) -> None:
    from leadscore.crm import open_crm
    from leadscore.serving import load_scorer, score_contact_base
    from leadscore.serving.features import iter_features

    crm_path, uri, as_of = _prepare(args.out, args.contacts, args.seed)
    loaded = load_scorer("champion", tracking_uri=uri)
    head = loaded.scorer.heads["sql"]
    print(
        f"model {loaded.model_version}: {head.best_iteration} trees, "
        f"{len(loaded.scorer.features)} features"
    )
    result = score_contact_base(
        crm_path,
        loaded,
        args.out / "scores.parquet",
        store=args.out / "scores.duckdb",
        chunk_size=args.chunk_size,
        as_of=as_of,
    )
    print(
        f"score_contact_base: {result.rows:,} contacts in {result.seconds:.2f} s = "
        f"{result.rows_per_second:,.0f} rows/s (features + both heads + exact reasons + "
        "Parquet + history)"
    )
    crm = open_crm(crm_path)
    try:
        t0 = time.perf_counter()
        features = pd.concat(
            list(iter_features(crm, loaded.scorer.require_definition(), as_of=as_of))
        )
        t_features = time.perf_counter() - t0
    finally:
        crm.close()
    matrix = head.matrix(features)
    n = len(features)
    timings: dict[str, float] = {"features (DuckDB query)": t_features}
    t0 = time.perf_counter()
    head.booster.predict(matrix, num_iteration=head.best_iteration)
    timings["predict only (sql head)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    head.booster.predict(matrix, num_iteration=head.best_iteration, pred_contrib=True)
    timings["pred_contrib (plain TreeSHAP)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    loaded.scorer._contributions(matrix)
    timings["exact_contributions (binned)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    loaded.scorer.explain(features)
    timings["scorer.explain (all outputs)"] = time.perf_counter() - t0
    for name, seconds in timings.items():
        print(f"  {name:32s} {seconds:7.3f} s  {n / seconds:12,.0f} rows/s")
    ratio = timings["pred_contrib (plain TreeSHAP)"] / timings["exact_contributions (binned)"]
    print(f"exact_contributions vs pred_contrib: {ratio:.1f}x faster, identical values")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _lead(as_of: Any, i: int, account: tuple[str, Any] | None = None) -> dict[str, Any]:
    def stamp(days: float) -> str:
        return str((as_of - timedelta(days=days)).isoformat())

    rng = np.random.default_rng(i)
    return {
        "contact": {
            "contact_id": f"B{i}",
            "created_at": stamp(200),
            "job_title": "VP Marketing",
            "email_domain": "example-corp.com",
            "lead_source": "webinar",
        },
        "account": {
            "account_id": account[0] if account else f"A{i}",
            "industry": "Software",
            "employee_count": 300,
            "country": "FR",
            "created_at": account[1].isoformat() if account else stamp(400),
        },
        "events": [
            {"occurred_at": stamp(float(d)), "event_type": t}
            for d, t in zip(
                rng.uniform(0.1, 90, 12),
                rng.choice(["web_visit", "pricing_page_visit", "email_open"], 12),
                strict=True,
            )
        ],
        "stage_changes": [{"changed_at": stamp(200), "stage": "lead"}],
    }


def _accounts(crm_path: Path, as_of: Any) -> list[tuple[str, Any]]:
    """Accounts of the CRM with several contacts, created over 400 days before ``as_of``."""
    from leadscore.crm import open_crm

    crm = open_crm(crm_path)
    try:
        rows = crm.con.execute(
            "SELECT a.account_id, a.created_at FROM accounts a JOIN contacts c USING (account_id) "
            "WHERE a.created_at < ? GROUP BY ALL HAVING count(*) >= 2 ORDER BY 1",
            [as_of - timedelta(days=400)],
        ).fetchall()
    finally:
        crm.close()
    return [(str(r[0]), r[1]) for r in rows]


def _start_server(out: Path, uri: str, pythonpath: Path | None, crm: Path | None = None) -> Any:
    port = _free_port()
    code = (
        "from leadscore.serving.api import serve; "
        f"serve('champion', port={port}, tracking_uri={uri!r}, "
        f"store={str(out / 'scores.duckdb')!r}, log_level='warning'"
        + (f", crm={str(crm)!r})" if crm is not None else ")")
    )
    env = {**os.environ, "LEADSCORE_API_KEY": API_KEY}
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), env.get("PYTHONPATH", "")])
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    return proc, f"http://127.0.0.1:{port}"


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system, every thread) a process has used so far (Linux ``/proc``; NaN
    elsewhere): a server's CPU per request barely depends on the machine's load, unlike its
    latency."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_healthy(client: Any, proc: Any) -> None:
    import httpx

    deadline = time.monotonic() + 120
    while True:
        try:
            if client.get("/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit("the server did not start")
        time.sleep(0.2)


def api(args: argparse.Namespace) -> None:
    """p50/p99 of POST /score (one lead with reasons) on a real uvicorn server.

    With ``--baseline DIR`` a second server runs the ``leadscore`` package found in ``DIR``
    (e.g. a copy of the previous code) and requests alternate between the two servers, so both
    see the same machine load."""
    import httpx

    crm_path, uri, as_of = _prepare(args.out, args.contacts, args.seed)
    # the current server reads the leads' colleagues from the CRM (account-level features);
    # the leads belong to real multi-contact accounts, so that work is measured too
    servers = {"current": _start_server(args.out, uri, None, crm_path)}
    if args.baseline is not None:
        # the baseline serves a model of its own (trained by its own code in --baseline-out,
        # e.g. when the artifact format changed since), or this one
        base_out = args.baseline_out or args.out
        base_uri = f"sqlite:///{base_out.resolve()}/mlruns/mlflow.db"
        base_crm = crm_path if args.baseline_crm else None
        servers["baseline"] = _start_server(base_out, base_uri, args.baseline, base_crm)
    clients: dict[str, httpx.Client] = {}
    latencies: dict[str, list[float]] = {name: [] for name in servers}
    client_cpu: dict[str, float] = {}
    try:
        for name, (proc, url) in servers.items():
            clients[name] = httpx.Client(base_url=url, headers={"X-API-Key": API_KEY}, timeout=30)
            _wait_healthy(clients[name], proc)
        accounts: list[Any] = [None]
        if args.accounts == "crm":
            accounts = _accounts(crm_path, as_of)
        bodies = [
            {"leads": [_lead(as_of, i, accounts[i % len(accounts)])], "as_of": as_of.isoformat()}
            for i in range(args.requests)
        ]
        for body in bodies[:20]:  # warm-up
            for client in clients.values():
                client.post("/score", json=body).raise_for_status()
        load = os.getloadavg()
        cpu = {name: _cpu_seconds(proc.pid) for name, (proc, _) in servers.items()}
        if args.concurrency > 1:
            busy = _concurrent(
                clients, bodies, latencies, args.concurrency, args.phase_seconds, client_cpu
            )
        else:
            busy = {name: 0.0 for name in clients}
            for i, body in enumerate(bodies):
                names = list(clients) if i % 2 == 0 else list(reversed(clients))  # fair order
                for name in names:
                    t0 = time.perf_counter()
                    response = clients[name].post("/score", json=body)
                    seconds = time.perf_counter() - t0
                    busy[name] += seconds
                    latencies[name].append(seconds * 1000)
                    response.raise_for_status()
        cpu = {name: _cpu_seconds(servers[name][0].pid) - cpu[name] for name in servers}
    finally:
        for client in clients.values():
            client.close()
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(timeout=30)
    print(
        f"load average at start {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
        f"on {os.cpu_count()} CPUs; {args.accounts} accounts, concurrency {args.concurrency}"
    )
    summary: dict[str, tuple[float, float, float, float]] = {}
    for name, values in latencies.items():
        q = statistics.quantiles(values, n=100)
        rate = len(values) / busy[name]
        per_request = cpu[name] * 1000 / len(values)
        summary[name] = (q[49], q[98], rate, per_request)
        print(
            f"{name}: POST /score, 1 lead with reasons, {len(values)} requests: "
            f"p50 {q[49]:.1f} ms, p99 {q[98]:.1f} ms, max {max(values):.1f} ms, "
            f"throughput {rate:.1f} requests/s, server CPU {per_request:.1f} ms/request "
            f"(target p99 <= 50 ms: {'met' if q[98] <= 50 else 'NOT met'})"
            + (
                f"; the clients (this process, same CPUs) used "
                f"{client_cpu[name] * 1000 / len(values):.1f} ms of CPU per request"
                if name in client_cpu
                else ""
            )
        )
    if "baseline" in summary:
        cur, base = summary["current"], summary["baseline"]
        print(
            f"current vs baseline, same run: throughput {cur[2] / base[2]:.2f}x, "
            f"p50 {cur[0] / base[0]:.2f}x, p99 {cur[1] / base[1]:.2f}x, server CPU per request "
            f"{cur[3] / base[3]:.2f}x (throughput above 1, latencies and CPU below 1: current "
            "is faster)"
        )


def _concurrent(
    clients: dict[str, Any],
    bodies: list[dict[str, Any]],
    latencies: dict[str, list[float]],
    concurrency: int,
    phase: float,
    client_cpu: dict[str, float],
) -> dict[str, float]:
    """Alternating phases of ``phase`` seconds, one server at a time, ``concurrency`` client
    threads each posting bodies back to back; returns each server's total phase time (its
    throughput is its requests over that; ``client_cpu`` gets the CPU the client threads of this
    process used in its phases). Every server gets the same number of phases."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    busy = {name: 0.0 for name in clients}
    urls = {name: str(client.base_url) for name, client in clients.items()}
    rounds = max(1, len(bodies) // (concurrency * 10))
    for r in range(rounds):
        names = list(clients) if r % 2 == 0 else list(reversed(clients))
        for name in names:
            end = time.perf_counter() + phase

            def worker(k: int, name: str = name, end: float = end) -> list[float]:
                done: list[float] = []
                with httpx.Client(
                    base_url=urls[name], headers={"X-API-Key": API_KEY}, timeout=60
                ) as client:
                    i = k
                    while time.perf_counter() < end:
                        t0 = time.perf_counter()
                        client.post("/score", json=bodies[i % len(bodies)]).raise_for_status()
                        done.append((time.perf_counter() - t0) * 1000)
                        i += concurrency
                return done

            t0, c0 = time.perf_counter(), time.process_time()
            with ThreadPoolExecutor(concurrency) as pool:
                for done in pool.map(worker, range(concurrency)):
                    latencies[name].extend(done)
            busy[name] += time.perf_counter() - t0
            client_cpu[name] = client_cpu.get(name, 0.0) + time.process_time() - c0
    return busy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=["batch", "api"])
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--chunk-size", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--out", type=Path, default=Path("data/bench-serving"))
    parser.add_argument(
        "--accounts",
        choices=["crm", "new"],
        default="crm",
        help="api: leads of the CRM's multi-contact accounts (colleagues read) or of new ones",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="api: also serve the leadscore package found in this folder, requests interleaved",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="api: concurrent clients (above 1: alternating timed phases per server)",
    )
    parser.add_argument("--phase-seconds", type=float, default=5.0)
    parser.add_argument(
        "--baseline-crm",
        action="store_true",
        help="api: the baseline also reads the colleagues from the CRM (a baseline whose "
        "serve() takes crm=, e.g. a version since micro-batching)",
    )
    parser.add_argument(
        "--baseline-out",
        type=Path,
        default=None,
        help="api: the baseline serves the champion of this folder's mlruns (default: --out)",
    )
    args = parser.parse_args()
    batch(args) if args.what == "batch" else api(args)


if __name__ == "__main__":
    main()
