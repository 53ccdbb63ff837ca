"""Validating a CRM (the part of a cold ``leadscore score`` that checks a fresh export), this
code vs the validation module of a git ref, rounds interleaved in one process::

    .venv/bin/python benchmarks/validation.py data/bench-serving/crm-200000-42.duckdb \\
        --baseline-ref a99a62f --rounds 5

Each round registers the CRM on a fresh DuckDB connection and validates it with each version
(the baseline's ``src/leadscore/validation.py`` and ``validation_counts.py`` loaded beside this
one, on today's package);
prints wall and CPU seconds, the median ratios and checks that both found the same problems.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent


def _show(ref: str, path: str) -> str | None:
    shown = subprocess.run(
        ["git", "show", f"{ref}:{path}"], cwd=HERE, check=False, capture_output=True, text=True
    )
    return shown.stdout if shown.returncode == 0 else None


def _load(name: str, text: str, folder: Path) -> ModuleType:
    path = folder / f"{name}.py"
    path.write_text(text, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _baseline(ref: str) -> ModuleType:
    """The ref's validation module, with the ref's own ``validation_counts`` when it has one
    (not today's: the fused counts are part of what is compared)."""
    text = _show(ref, "src/leadscore/validation.py")
    assert text is not None, f"{ref} has no src/leadscore/validation.py"
    folder = Path(tempfile.mkdtemp(prefix="leadscore-validation-"))
    counts = _show(ref, "src/leadscore/validation_counts.py")
    if counts is not None:
        _load("validation_counts_baseline", counts, folder)
        text = text.replace(
            "from leadscore.validation_counts import", "from validation_counts_baseline import"
        )
    return _load("validation_baseline", text, folder)


def _validate(module: Any, crm: Path, as_of: datetime) -> tuple[float, float, list[str]]:
    import duckdb

    from leadscore.config import CrmMapping
    from leadscore.sources import source_for

    with duckdb.connect() as con:
        source_for(crm).register(con)
        start, cpu = time.perf_counter(), time.process_time()
        problems = module.validate(con, CrmMapping(), as_of=as_of, raise_on_error=False)
        wall, used = time.perf_counter() - start, time.process_time() - cpu
    return wall, used, [str(p) for p in problems]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("crm", type=Path, help="a DuckDB file or folder of a CRM")
    parser.add_argument("--baseline-ref", default="a99a62f")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--as-of", default="2030-01-01")
    args = parser.parse_args()
    from leadscore import validation

    baseline = _baseline(args.baseline_ref)
    as_of = datetime.fromisoformat(args.as_of)
    runs: dict[str, list[tuple[float, float]]] = {"this": [], "baseline": []}
    found: dict[str, list[str]] = {}
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for round_ in range(1, args.rounds + 1):
        order = [("this", validation), ("baseline", baseline)]
        for name, module in order if round_ % 2 else order[::-1]:
            wall, cpu, problems = _validate(module, args.crm, as_of)
            runs[name].append((wall, cpu))
            found[name] = problems
            print(f"round {round_} {name:8} {wall:6.2f} s wall {cpu:6.2f} CPU-s", flush=True)
    assert found["this"] == found["baseline"], "the two versions found different problems"
    wall = {k: statistics.median(w for w, _ in v) for k, v in runs.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in runs.items()}
    print(
        f"median: this {wall['this']:.2f} s ({cpu['this']:.2f} CPU-s), baseline "
        f"{args.baseline_ref} {wall['baseline']:.2f} s ({cpu['baseline']:.2f} CPU-s): "
        f"{wall['baseline'] / wall['this']:.2f}x wall, {cpu['baseline'] / cpu['this']:.2f}x CPU; "
        f"same problems ({len(found['this'])})"
    )
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
