"""``leadscore explain`` of one lead and ``leadscore models``, end to end, as a user runs them.

Run (after ``.venv/bin/leadscore demo``, from the repository root)::

    .venv/bin/python benchmarks/cli_start.py [--runs 5] [--contact C0001430]

Each command runs as its own process (the console script next to this interpreter). ``explain``
runs two ways, alternating: *cold*, with the registry's resolution cache removed first (the
scorer resolved and loaded through MLflow, as before the cache; the run records it again), and
*cached* (loaded directly from the remembered heads folder, no MLflow import); both import
LightGBM without scikit-learn. ``--before PATH`` also times another install's console script
(e.g. ``/work/main/.venv/bin/leadscore``, the code before both changes). Prints the median
and min of wall time and CPU time (user + system, from the children's rusage) per command, the
cold/cached ratio, whether both ways printed the very same explanation, and the load average
before and after (the numbers mean little on a busy machine).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _command() -> list[str]:
    script = Path(sys.executable).with_name("leadscore")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "leadscore"]


def _run(args: list[str], command: list[str] | None = None) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds and stdout of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(
        [*(command or _command()), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "120", "NO_COLOR": "1"},
        check=False,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"leadscore {' '.join(args)} failed:\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _line(name: str, walls: list[float], cpus: list[float]) -> str:
    return (
        f"{name:<22} wall {statistics.median(walls):5.2f} s (min {min(walls):5.2f})   "
        f"CPU {statistics.median(cpus):5.2f} s (min {min(cpus):5.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--contact", default="C0001430")
    parser.add_argument("--crm", default="data/demo/crm.duckdb")
    parser.add_argument("--tracking-uri", default="sqlite:///mlruns/mlflow.db")
    parser.add_argument("--before", type=Path, help="a leadscore console script to compare")
    args = parser.parse_args()

    from leadscore.serving.resolution_cache import cache_path, sqlite_file

    db = sqlite_file(args.tracking_uri)
    if db is None or not db.is_file():
        raise SystemExit(f"No local sqlite registry at {args.tracking_uri}: run the demo first.")
    cache = cache_path(db)
    explain = ["explain", args.contact, "--crm", args.crm, "--tracking-uri", args.tracking_uri]
    models = ["models", "--tracking-uri", args.tracking_uri]
    print(f"load average before: {_load()}")
    _run(explain)  # warm the file cache; records the resolution
    names = ["explain (cold, MLflow)", "explain (cached)", "models"]
    if args.before is not None:
        names += ["explain (--before)", "models (--before)"]
    times: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in names}
    outputs: dict[str, set[str]] = {"cold": set(), "cached": set()}
    for _ in range(args.runs):
        cache.unlink(missing_ok=True)
        wall, cpu, out = _run(explain)
        times["explain (cold, MLflow)"][0].append(wall)
        times["explain (cold, MLflow)"][1].append(cpu)
        outputs["cold"].add(out)
        if not cache.is_file():
            raise SystemExit("The cold run recorded no resolution (registry written just now?).")
        wall, cpu, out = _run(explain)
        times["explain (cached)"][0].append(wall)
        times["explain (cached)"][1].append(cpu)
        outputs["cached"].add(out)
        wall, cpu, _ = _run(models)
        times["models"][0].append(wall)
        times["models"][1].append(cpu)
        if args.before is not None:
            wall, cpu, out = _run(explain, [str(args.before)])
            times["explain (--before)"][0].append(wall)
            times["explain (--before)"][1].append(cpu)
            outputs["cold"].add(out)
            wall, cpu, _ = _run(models, [str(args.before)])
            times["models (--before)"][0].append(wall)
            times["models (--before)"][1].append(cpu)
    for name, (walls, cpus) in times.items():
        print(_line(name, walls, cpus))
    cold, cached = times["explain (cold, MLflow)"], times["explain (cached)"]
    print(
        "cold / cached:         "
        f"wall {statistics.median(cold[0]) / statistics.median(cached[0]):.2f}x   "
        f"CPU {statistics.median(cold[1]) / statistics.median(cached[1]):.2f}x"
    )
    if args.before is not None:
        old = times["explain (--before)"]
        print(
            "before / cached:       "
            f"wall {statistics.median(old[0]) / statistics.median(cached[0]):.2f}x   "
            f"CPU {statistics.median(old[1]) / statistics.median(cached[1]):.2f}x"
        )
    same = len(outputs["cold"] | outputs["cached"]) == 1
    which = "--before, cold and cached" if args.before is not None else "cold and cached"
    print(f"identical explanation, {which}: {'yes' if same else 'NO'}")
    print(f"load average after: {_load()}")


if __name__ == "__main__":
    main()
