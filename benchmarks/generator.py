"""Benchmark of the synthetic CRM generator (DuckDB output).

Usage::

    python benchmarks/generator.py --contacts 100000 [--seed 42] [--out /tmp/crm.duckdb]
    python benchmarks/generator.py --smoke

Prints contacts/s, events/s, elapsed time and peak memory (max RSS of this process).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
from pathlib import Path

from leadscore.synthetic import GeneratorConfig, generate_crm


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--chunk", type=int, default=50_000, help="contacts per chunk")
    parser.add_argument("--out", type=Path, default=None, help="a .duckdb path (default: temp)")
    parser.add_argument("--smoke", action="store_true", help="2,000 contacts, for CI")
    args = parser.parse_args(argv)
    n_contacts = 2_000 if args.smoke else args.contacts

    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp) / "crm.duckdb"
        config = GeneratorConfig(n_contacts=n_contacts, seed=args.seed, chunk_contacts=args.chunk)

        def progress(done: int, total: int) -> None:
            print(f"  {done:>10,} / {total:,} contacts", file=sys.stderr, flush=True)

        summary = generate_crm(config, out, progress=progress)
        size_mb = out.stat().st_size / 1e6
    elapsed = summary.elapsed_seconds
    events = summary.counts["events"]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"contacts        {n_contacts:>14,}")
    print(f"events          {events:>14,}  ({events / n_contacts:.1f} per contact)")
    print(f"stage_changes   {summary.counts['stage_changes']:>14,}")
    print(f"elapsed         {elapsed:>14.1f} s")
    print(f"contacts/s      {n_contacts / elapsed:>14,.0f}")
    print(f"events/s        {events / elapsed:>14,.0f}")
    print(f"peak memory     {peak_mb:>14,.0f} MB (max RSS)")
    print(f"output size     {size_mb:>14,.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
