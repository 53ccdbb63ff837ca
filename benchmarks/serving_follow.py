"""A served alias follows a promotion: single-lead latency before, during and after the switch.

Run::

    .venv/bin/python benchmarks/serving_follow.py [--out data/bench-serving] [--seconds 30]

Two ``leadscore serve`` processes of the same champion on 127.0.0.1 (the model and CRM of
``benchmarks/serving.py``, trained there the first time): one follows the alias (``--follow``
seconds between checks), the other never looks (``follow_seconds=0``, the behaviour before).
One client posts one lead with reasons to each in turn, back to back. A new version (the
champion's artifact registered again) is registered first; at ``--switch-at`` seconds a
separate process moves the alias to it, as ``leadscore promote`` does. Printed, same run:
p50/p99 of each server before the promotion and from it to 3 s after the follower's first
answer by the new version (the switch: the check, MLflow's load of the new version, its
feature path), their ratios, how long the follower took to answer with the new version, and
that no answer went back to the old one.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

API_KEY = "bench-key-0123456789abcdef"


def _serving_bench() -> Any:
    """``benchmarks/serving.py`` (its model preparation and lead bodies)."""
    spec = importlib.util.spec_from_file_location(
        "serving_bench", Path(__file__).with_name("serving.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _start(bench: Any, out: Path, uri: str, crm: Path, follow: float, name: str) -> Any:
    port = bench._free_port()
    code = (
        "from leadscore.serving.api import serve; "
        f"serve('champion', port={port}, tracking_uri={uri!r}, crm={str(crm)!r}, "
        f"store={str(out / f'scores-{name}.duckdb')!r}, log_level='warning', "
        f"follow_seconds={follow})"
    )
    env = {**os.environ, "LEADSCORE_API_KEY": API_KEY}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    return proc, f"http://127.0.0.1:{port}"


def _register_again(uri: str) -> str:
    """A new version of the champion's artifact (as ``train`` registers one); its number."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    champion = client.get_model_version_by_alias("leadscore", "champion")
    new = client.create_model_version("leadscore", source=champion.source, run_id=champion.run_id)
    return str(new.version)


def _check_costs(uri: str) -> None:
    """What following costs outside a switch: per request (take and give back the version)
    and per check (the registry fingerprint; the alias read only after a registry write)."""
    from leadscore.serving.follow import Follower, alias_version
    from leadscore.serving.resolution_cache import snapshot

    class _Version:
        model_version = "leadscore/1"

        def close(self) -> None:
            pass

    follower = Follower(
        _Version(), lambda _: _Version(), uri=uri, name="leadscore", alias="champion", every=5
    )
    costs = {}
    for what, call, n in (
        ("per request: acquire + release", lambda: follower.release(follower.acquire()), 100_000),
        ("per check: registry fingerprint (stat)", lambda: snapshot(uri), 10_000),
        (
            "per check after a write: alias read",
            lambda: alias_version(uri, "leadscore", "champion"),
            500,
        ),
    ):
        t0 = time.perf_counter()
        for _ in range(n):
            call()
        costs[what] = (time.perf_counter() - t0) / n * 1e6
    print("; ".join(f"{what} {us:.1f} us" for what, us in costs.items()))


def _quantiles(values: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(values, n=100)
    return q[49], q[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("data/bench-serving"))
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--switch-at", type=float, default=10.0)
    parser.add_argument("--follow", type=float, default=1.0)
    args = parser.parse_args()

    import httpx

    bench = _serving_bench()
    crm_path, uri, as_of = bench._prepare(args.out, args.contacts, args.seed)
    new_version = _register_again(uri)
    servers = {
        "follows": _start(bench, args.out, uri, crm_path, args.follow, "follows"),
        "fixed": _start(bench, args.out, uri, crm_path, 0, "fixed"),
    }
    clients: dict[str, httpx.Client] = {}
    spans: dict[str, list[tuple[float, float, str]]] = {name: [] for name in servers}
    accounts = bench._accounts(crm_path, as_of)
    bodies = [
        {"leads": [bench._lead(as_of, i, accounts[i % len(accounts)])], "as_of": as_of.isoformat()}
        for i in range(2_000)
    ]
    promoter: Any = None
    try:
        for name, (proc, url) in servers.items():
            clients[name] = httpx.Client(base_url=url, headers={"X-API-Key": API_KEY}, timeout=30)
            bench._wait_healthy(clients[name], proc)
        for body in bodies[:20]:  # warm-up
            for client in clients.values():
                client.post("/score", json=body).raise_for_status()
        start = time.perf_counter()
        promoted_at = None
        i = 0
        while (now := time.perf_counter() - start) < args.seconds:
            if promoted_at is None and now >= args.switch_at:
                promoted_at = now
                code = (
                    "from mlflow import MlflowClient; "
                    f"c = MlflowClient(tracking_uri={uri!r}, registry_uri={uri!r}); "
                    f"c.set_registered_model_alias('leadscore', 'champion', {new_version!r})"
                )
                promoter = subprocess.Popen([sys.executable, "-c", code])
            names = list(clients) if i % 2 == 0 else list(reversed(clients))
            for name in names:
                t0 = time.perf_counter()
                response = clients[name].post("/score", json=bodies[i % len(bodies)])
                t1 = time.perf_counter()
                response.raise_for_status()
                version = response.json()["model_version"]
                spans[name].append((t0 - start, (t1 - t0) * 1000, version))
            i += 1
    finally:
        if promoter is not None:
            promoter.wait(timeout=60)
        for client in clients.values():
            client.close()
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(timeout=30)
    assert promoted_at is not None, "--switch-at after --seconds"
    _check_costs(uri)
    wanted = f"leadscore/{new_version}"
    follows = spans["follows"]
    first_new = next((t for t, _, v in follows if v == wanted), None)
    if first_new is None:
        raise SystemExit(f"the follower never answered with {wanted}: raise --seconds")
    back = [t for t, _, v in follows if t > first_new and v != wanted]
    assert all(v != wanted for _, _, v in spans["fixed"]), "the fixed server switched"
    window = (promoted_at, first_new + 3.0)
    print(
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; one lead with reasons "
        f"per request, one client alternating between the servers; follower checks every "
        f"{args.follow:g} s"
    )
    print(
        f"promotion to {wanted} at {promoted_at:.1f} s; the follower's first answer by it "
        f"{first_new - promoted_at:.2f} s later; answers by the old version after that: "
        f"{len(back)}"
    )
    rows: dict[str, dict[str, tuple[float, float, int]]] = {}
    for name, values in spans.items():
        steady = [ms for t, ms, _ in values if 1.0 <= t < promoted_at]
        switching = [ms for t, ms, _ in values if window[0] <= t < window[1]]
        rows[name] = {
            "before": (*_quantiles(steady), len(steady)),
            "switch": (*_quantiles(switching), len(switching)),
        }
        for phase, (p50, p99, n) in rows[name].items():
            print(f"{name:8s} {phase:7s} ({n:4d} requests): p50 {p50:6.1f} ms, p99 {p99:6.1f} ms")
    for phase in ("before", "switch"):
        f, x = rows["follows"][phase], rows["fixed"][phase]
        print(
            f"follows vs fixed, {phase}: p50 {f[0] / x[0]:.2f}x, p99 {f[1] / x[1]:.2f}x "
            "(1.00: the same latency)"
        )


if __name__ == "__main__":
    main()
