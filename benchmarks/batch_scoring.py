"""Batch scoring with reasons (``score_contact_base``), this package vs a baseline package, rows/s.

The same champion model and CRM as ``benchmarks/serving.py batch`` (trained there the first
time), scored by this code and by the code of ``--baseline-ref`` (a git ref, or a folder holding
a ``leadscore`` package), each run in its own fresh process, rounds interleaved; prints rows/s of
each run, the median ratio and checks that both wrote the same scores and reasons::

    .venv/bin/python benchmarks/batch_scoring.py --baseline-ref 97b3b87 [--contacts 20000]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _module(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _worker(args: argparse.Namespace) -> None:
    from datetime import datetime

    from leadscore.serving import load_scorer, score_contact_base

    loaded = load_scorer("champion", tracking_uri=args.uri)
    start, cpu = time.perf_counter(), time.process_time()
    result = score_contact_base(
        args.crm,
        loaded,
        args.result,
        store=args.store,
        chunk_size=args.chunk_size,
        as_of=datetime.fromisoformat(args.as_of),
    )
    wall, used = time.perf_counter() - start, time.process_time() - cpu
    print(json.dumps({"rows": result.rows, "wall": wall, "cpu": used}))


def _run(args: argparse.Namespace, work: Path, name: str, tree: Path | None) -> dict[str, Any]:
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(tree), env.get("PYTHONPATH")) if p)
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        "--crm",
        str(args.crm),
        "--uri",
        args.uri,
        "--as-of",
        args.as_of,
        "--chunk-size",
        str(args.chunk_size),
        "--result",
        str(work / f"{name}.parquet"),
        "--store",
        str(work / f"{name}-store.duckdb"),
    ]
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def _same_scores(left: Path, right: Path) -> int:
    import pandas as pd

    a, b = pd.read_parquet(left), pd.read_parquet(right)
    drop = [c for c in ("run_id", "scored_at") if c in a.columns]
    a = a.drop(columns=drop).sort_values("contact_id").reset_index(drop=True)
    b = b.drop(columns=drop).sort_values("contact_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    return len(a)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--baseline-ref", required=False, help="git ref or package folder")
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chunk-size", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=Path("data/bench-serving"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    for hidden in ("--crm", "--uri", "--as-of", "--result", "--store"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args)
        return
    if not args.baseline_ref:
        parser.error("--baseline-ref is required")
    crm_path, args.uri, as_of = _module("serving")._prepare(args.out, args.contacts, args.seed)
    args.crm, args.as_of = str(crm_path), as_of.isoformat()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tree = _module("features")._baseline_tree(args.baseline_ref, work)
        rates: dict[str, list[float]] = {"this": [], "baseline": []}
        cpus: dict[str, list[float]] = {"this": [], "baseline": []}
        for round_ in range(args.rounds):
            order = [("this", None), ("baseline", tree)]
            for name, where in order if round_ % 2 == 0 else order[::-1]:
                run = _run(args, work, f"{name}{round_}", where)
                rates[name].append(run["rows"] / run["wall"])
                cpus[name].append(run["cpu"] / run["rows"] * 1e6)
                print(
                    f"round {round_ + 1} {name:<8} {run['rows']:,} contacts in "
                    f"{run['wall']:6.2f} s = {run['rows'] / run['wall']:9,.0f} rows/s "
                    f"({run['cpu']:.2f} CPU-s)",
                    flush=True,
                )
        rows = _same_scores(work / "this0.parquet", work / "baseline0.parquet")
        print(f"scores and reasons identical on {rows:,} contacts")
        this, base = statistics.median(rates["this"]), statistics.median(rates["baseline"])
        cpu_this, cpu_base = statistics.median(cpus["this"]), statistics.median(cpus["baseline"])
        print(
            f"median rows/s: this {this:,.0f}, baseline {args.baseline_ref} {base:,.0f}: "
            f"{this / base:.2f}x; CPU per row {cpu_base / cpu_this:.2f}x less"
        )


if __name__ == "__main__":
    main()
