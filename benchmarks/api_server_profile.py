"""Where the server's CPU goes per ``POST /score`` end to end: HTTP, framework, features, model.

Run (after ``benchmarks/serving.py api`` prepared the model and CRM in ``--out``; the profiled
pass needs ``pip install yappi``, a profiler of every thread by CPU clock; ``--no-profile``
runs without it)::

    .venv/bin/python benchmarks/api_server_profile.py [--requests 400] [--concurrency 1]

The real app (``create_app``) runs on uvicorn in this process under the profiler; a client
process posts one-lead bodies (those of ``benchmarks/serving.py``) over 127.0.0.1. Printed:
the process's CPU per request without the profiler (first pass; split into the event-loop
thread and the others, with the client process's CPU and how the Python-path requests were
merged into scoring calls) and, from the profiled pass,
the CPU per request of each layer (own time of the functions of its modules: uvicorn's HTTP
parsing, asyncio, Starlette/FastAPI, pydantic, JSON, the guard and its log line, the features,
model and reasons...) and of a few whole steps (inclusive). The profiler slows Python code more
than C code: read the shares, and the first pass for the true total.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

API_KEY = "bench-key-0123456789abcdef"

LAYERS = [  # (layer, path fragments of its modules), first match wins
    ("HTTP server (uvicorn, h11/httptools)", ("uvicorn/", "h11/", "httptools", "uvloop")),
    ("event loop (asyncio, selectors, socket)", ("asyncio/", "selectors.py", "socket.py")),
    ("thread hop (anyio, threading, queue)", ("anyio/", "threading.py", "queue.py", "concurrent/")),
    ("FastAPI routing, dependencies, params", ("fastapi/routing", "fastapi/dependencies")),
    ("FastAPI response encoding", ("fastapi/encoders", "fastapi/_compat")),
    ("FastAPI/Starlette other", ("fastapi/", "starlette/")),
    ("pydantic validation and dumps", ("pydantic",)),
    ("JSON (json module)", ("json/",)),
    ("logging", ("logging/",)),
    ("guard, request id, access log line", ("serving/http.py", "uuid.py")),
    ("auth (API key)", ("serving/api_key.py", "hmac.py")),
    ("score endpoint body (api.py)", ("serving/api.py",)),
    ("micro-batching", ("serving/online_batch.py",)),
    ("contract checks (Python pass)", ("serving/posted_quick.py",)),
    ("posted rows, tables", ("serving/posted.py",)),
    ("colleagues", ("serving/colleagues.py",)),
    ("feature path (Python)", ("features/python_",)),
    ("online features glue", ("serving/online.py",)),
    ("model, SHAP, reasons (leadscore)", ("serving/", "/model/", "leadscore/")),
    ("lightgbm", ("lightgbm/",)),
    ("pyarrow", ("pyarrow/",)),
    ("pandas", ("pandas/",)),
    ("numpy", ("numpy/",)),
]

STEPS = [  # (step, function name, path fragment): inclusive CPU per request
    ("RequestGuard.__call__ (whole app)", "__call__", "serving/http.py"),
    ("request body -> ScoreRequest", "request_body_to_args", "fastapi/dependencies"),
    ("dependencies solved (incl. body, auth)", "solve_dependencies", "fastapi/dependencies"),
    ("run_in_threadpool (endpoint in a thread)", "run_in_threadpool", "starlette/concurrency"),
    ("score endpoint (event loop side after 'apispeed')", "score", "serving/api.py"),
    ("scored: the blocking part (after 'apispeed')", "scored", "serving/api.py"),
    ("BatchedFeatures.features", "features", "serving/online_batch.py"),
    ("Scorer.explain", "explain", "serving/scorer.py"),
    ("serialize_response", "serialize_response", "fastapi/routing"),
    ("JSONResponse.render", "render", "starlette/responses.py"),
    ("access log line", "info", "logging/__init__.py"),
]

CLIENT = r"""
import json, sys, time, httpx
from concurrent.futures import ThreadPoolExecutor
url, key, n, conc, path = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
bodies = json.load(open(path))
def work(k):
    with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=60) as c:
        for i in range(k, n, conc):
            c.post("/score", json=bodies[i % len(bodies)]).raise_for_status()
with ThreadPoolExecutor(conc) as pool:
    list(pool.map(work, range(conc)))
"""


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location(
        "bench_serving", Path(__file__).with_name("serving.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _layer(path: str) -> str:
    for name, parts in LAYERS:
        if any(p in path for p in parts):
            return name
    return "other (Python)" if path.endswith(".py") else "other (C builtins)"


def _thread_cpu() -> dict[int, float]:
    """CPU seconds so far of each thread of this process (Linux ``/proc``; empty elsewhere)."""
    out: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path("/proc/self/task").glob("*"):
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(task.name)] = (int(fields[11]) + int(fields[12])) / tick
    return out


def _calls(app: Any) -> str:
    """How the Python-path requests were scored (calls, requests, the most in one call)."""
    stats = getattr(app.state, "python_calls", None)
    if stats is None or not stats.calls:
        return ""
    return (
        f"; Python path: {stats.requests} requests in {stats.calls} calls "
        f"({stats.requests / stats.calls:.1f} per call, at most {stats.largest})"
    )


def _split(before: dict[int, float], after: dict[int, float], loop: int | None, n: int) -> str:
    """The CPU per request of the event-loop thread (uvicorn's) and of all other threads."""
    if not after:
        return "no per-thread CPU on this system"
    used = {tid: cpu - before.get(tid, 0.0) for tid, cpu in after.items()}
    on_loop = used.get(loop or -1, 0.0)
    rest = sum(used.values()) - on_loop
    return f"event-loop thread {on_loop * 1000 / n:.2f} ms, other threads {rest * 1000 / n:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("data/bench-serving"))
    parser.add_argument("--top", type=int, default=25, help="also print the top N functions")
    parser.add_argument(
        "--loop", default="auto", help="uvicorn's event loop (auto, asyncio, uvloop)"
    )
    parser.add_argument(
        "--http", default="auto", help="uvicorn's HTTP parser (auto, h11, httptools)"
    )
    parser.add_argument("--no-profile", action="store_true", help="the unprofiled pass only")
    parser.add_argument(
        "--python-threads", type=int, default=None, help="create_app's python_threads"
    )
    args = parser.parse_args()

    import uvicorn

    from leadscore.serving.api import create_app

    bench = _bench()
    crm_path, uri, as_of = bench._prepare(args.out, args.contacts, args.seed)
    accounts = bench._accounts(crm_path, as_of)
    bodies = [
        {"leads": [bench._lead(as_of, i, accounts[i % len(accounts)])], "as_of": as_of.isoformat()}
        for i in range(max(args.requests, 40))
    ]
    bodies_path = args.out / "profile-bodies.json"
    bodies_path.write_text(json.dumps(bodies))
    app = create_app(
        "champion",
        tracking_uri=uri,
        store=args.out / "scores.duckdb",
        api_key=API_KEY,
        crm=crm_path,
        **({} if args.python_threads is None else {"python_threads": args.python_threads}),
    )
    port = bench._free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            access_log=False,
            log_level="warning",
            loop=args.loop,
            http=args.http,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"

    children = [0.0]

    def client(n: int) -> float:
        import resource

        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-c",
                CLIENT,
                url,
                API_KEY,
                str(n),
                str(args.concurrency),
                str(bodies_path),
            ],
            check=True,
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        children[0] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        return time.perf_counter() - t0

    try:
        client(40)  # warm-up
        cpu0, threads0 = time.process_time(), _thread_cpu()
        wall = client(args.requests)
        plain = (time.process_time() - cpu0) * 1000 / args.requests
        split = _split(threads0, _thread_cpu(), thread.native_id, args.requests)
        split += f"; client process {children[0] * 1000 / args.requests:.2f} ms"
        if not args.no_profile:
            import yappi  # only for the profiled pass: --no-profile runs without it

            yappi.set_clock_type("cpu")
            yappi.start(builtins=True)
            client(args.requests)
            yappi.stop()
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    if args.no_profile:
        print(
            f"load average {os.getloadavg()[0]:.1f}; {args.requests} requests, concurrency "
            f"{args.concurrency}, loop {args.loop}, http {args.http}: server CPU {plain:.2f} "
            f"ms/request ({args.requests / wall:.0f} requests/s); {split}{_calls(app)}"
        )
        return
    import yappi

    stats = yappi.get_func_stats()
    own: dict[str, float] = defaultdict(float)
    steps: dict[str, float] = defaultdict(float)
    total = 0.0
    rows = []
    for s in stats:
        own[_layer(s.module)] += s.tsub
        total += s.tsub
        rows.append(
            (s.tsub, s.ttot, s.ncall, f"{s.module.rsplit('site-packages/', 1)[-1]}:{s.name}")
        )
        for step, name, part in STEPS:
            if s.name.endswith(name) and part in s.module:
                steps[step] = max(steps[step], s.ttot)  # recursion: the outermost total
    n = args.requests
    print(
        f"load average {os.getloadavg()[0]:.1f}; {n} requests of 1 lead, concurrency "
        f"{args.concurrency}: server CPU {plain:.2f} ms/request unprofiled "
        f"({n / wall:.0f} requests/s; {split}); profiled {total * 1000 / n:.2f} ms/request"
    )
    print("own CPU per request by layer (profiled):")
    for name, seconds in sorted(own.items(), key=lambda kv: -kv[1]):
        print(f"  {name:45s} {seconds * 1000 / n:6.2f} ms  {100 * seconds / total:5.1f} %")
    print("whole steps, inclusive CPU per request (profiled):")
    for step, _, _ in STEPS:
        print(f"  {step:45s} {steps.get(step, 0.0) * 1000 / n:6.2f} ms")
    if args.top:
        print(f"top {args.top} functions by own CPU (ms/request own, inclusive, calls/request):")
        for tsub, ttot, ncall, name in sorted(rows, reverse=True)[: args.top]:
            print(f"  {tsub * 1000 / n:6.3f} {ttot * 1000 / n:7.3f} {ncall / n:6.1f}  {name}")


if __name__ == "__main__":
    main()
