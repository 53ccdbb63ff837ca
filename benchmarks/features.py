"""Benchmark: point-in-time behaviour features, leadscore (DuckDB) vs a polars lazy reference and
a vectorised pandas/NumPy reference (and, with ``--baseline-ref``, leadscore at an older commit).

Every contender computes the same subset features (event counts per type in 7/30/90-day windows
and days since the last event of each type, capped at the lookback) for the same (contact,
cutoff) rows of a synthetic CRM; values are compared exactly with leadscore's, then wall time,
CPU time (all threads) and peak memory are printed side by side with ratios. Each contender runs
in its own fresh process (so peak memory is its own), with the same thread count; the references
get their inputs (events and rows) already in memory, untimed. The machine may be shared:
compare the ratios, measured in the same run, rather than absolute times.

    .venv/bin/python benchmarks/features.py --smoke
    .venv/bin/python benchmarks/features.py --contacts 100000 --cutoffs 12
    .venv/bin/python benchmarks/features.py --contacts 20000 --every week --baseline-ref HEAD~3
    .venv/bin/python benchmarks/features.py --contacts 1000000 --skip-pandas --skip-polars \\
        --crm /tmp/crm1m.duckdb --memory-limit 5GB --temp-dir /tmp/duckdb-spill
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

WINDOWS = (7, 30, 90)
LOOKBACK = 365
US_PER_DAY = 86_400_000_000
MiB = 2**20
ROOT = Path(__file__).resolve().parents[1]


def subset_definition() -> Any:
    """One count per event type and window, one recency per event type."""
    from leadscore.contract import EventType
    from leadscore.features import load_definition

    add: list[dict[str, Any]] = []
    for kind in EventType:
        add.append(
            {
                "name": f"n_{kind.value}_{{window}}d",
                "kind": "event_count",
                "event_types": [kind.value],
                "windows": list(WINDOWS),
                "concept": "engagement",
                "type": "numeric",
                "explanation": "{value}",
            }
        )
        add.append(
            {
                "name": f"recency_{kind.value}",
                "kind": "days_since",
                "event_types": [kind.value],
                "concept": "recency",
                "type": "numeric",
                "explanation": "{value}",
            }
        )
    return load_definition({"add": add, "include": ["n_*", "recency_*"], "lookback_days": LOOKBACK})


def _types() -> list[str]:
    from leadscore.contract import EventType

    return [kind.value for kind in EventType]


# --- the references ---------------------------------------------------------------------------


def polars_features(events: Any, rows: Any) -> Any:
    """polars lazy: each row joined to its contact's events of the lookback (``join_where``),
    then conditional aggregations per (contact, cutoff)."""
    import polars as pl

    ev = pl.from_arrow(events).lazy().rename({"contact_id": "event_contact"})
    keys = pl.from_arrow(rows).lazy()
    lookback = pl.duration(days=LOOKBACK)
    joined = keys.with_columns(start=pl.col("cutoff") - lookback).join_where(
        ev,
        pl.col("contact_id") == pl.col("event_contact"),
        pl.col("occurred_at") < pl.col("cutoff"),
        pl.col("occurred_at") >= pl.col("start"),
    )
    aggregations = []
    for kind in _types():
        typed = pl.col("event_type") == kind
        for window in WINDOWS:
            recent = pl.col("occurred_at") >= pl.col("cutoff") - pl.duration(days=window)
            aggregations.append((typed & recent).sum().alias(f"n_{kind}_{window}d"))
        aggregations.append(pl.col("occurred_at").filter(typed).max().alias(f"last_{kind}"))
    grouped = joined.group_by("contact_id", "cutoff").agg(aggregations)
    columns = []
    for kind in _types():
        columns += [pl.col(f"n_{kind}_{window}d").fill_null(0).cast(pl.Int64) for window in WINDOWS]
        days = (pl.col("cutoff") - pl.col(f"last_{kind}")).dt.total_microseconds() // US_PER_DAY
        columns.append(
            pl.min_horizontal(days, LOOKBACK)
            .fill_null(LOOKBACK)
            .cast(pl.Int64)
            .alias(f"recency_{kind}")
        )
    out = keys.join(grouped, on=["contact_id", "cutoff"], how="left").select(
        "contact_id", "cutoff", *columns
    )
    return out.collect().to_arrow()


def pandas_features(events: Any, rows: Any) -> Any:
    """pandas/NumPy, vectorised: events sorted once by (contact, type, time) on one int64 key;
    each (row, type) pair finds its window bounds with ``searchsorted`` (as ``merge_asof``
    does), no per-group Python loop."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    ev = events.to_pandas()
    keys = rows.to_pandas()
    types = _types()
    contacts = pd.Index(pd.unique(np.concatenate([keys["contact_id"], ev["contact_id"]])))
    n_types = len(types)
    kind = pd.Categorical(ev["event_type"], categories=types).codes.astype(np.int64)
    ev_time = ev["occurred_at"].to_numpy("datetime64[us]").astype(np.int64)[kind >= 0]
    group = contacts.get_indexer(ev["contact_id"])[kind >= 0] * n_types + kind[kind >= 0]
    times = np.unique(ev_time)  # event times ranked: t < b iff rank(t) < searchsorted(times, b)
    span = len(times) + 1
    sorted_keys = np.sort(group * span + np.searchsorted(times, ev_time))

    cutoff = keys["cutoff"].to_numpy("datetime64[us]").astype(np.int64)
    row_base = contacts.get_indexer(keys["contact_id"]).astype(np.int64) * n_types
    base = (row_base[:, None] + np.arange(n_types)[None, :]) * span  # rows x types

    def before(moment: Any) -> Any:  # events of the (row, type) group strictly before moment
        return np.searchsorted(sorted_keys, base + np.searchsorted(times, moment)[:, None])

    end = before(cutoff)
    out: dict[str, Any] = {"contact_id": keys["contact_id"], "cutoff": keys["cutoff"]}
    counts = {w: end - before(cutoff - w * US_PER_DAY) for w in WINDOWS}
    last = np.maximum(end - 1, 0)
    found = (end > 0) & (sorted_keys[last] >= base)
    latest = times[np.where(found, sorted_keys[last] - base, 0)]
    days = np.where(found, np.minimum((cutoff[:, None] - latest) // US_PER_DAY, LOOKBACK), LOOKBACK)
    for j, name in enumerate(types):
        for window in WINDOWS:
            out[f"n_{name}_{window}d"] = counts[window][:, j]
        out[f"recency_{name}"] = days[:, j]
    return pa.Table.from_pandas(pd.DataFrame(out), preserve_index=False)


# --- measuring, one fresh process per contender -----------------------------------------------


def _rss_bytes() -> int:
    """Current resident set size of this process (Linux), 0 when unknown."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return 0


class _Sampler(threading.Thread):
    """Samples the process RSS every ``interval`` seconds."""

    def __init__(self, interval: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.stop = threading.Event()
        self.rss = _rss_bytes()

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            self.rss = max(self.rss, _rss_bytes())

    def finish(self) -> int:
        self.stop.set()
        self.join()
        self.rss = max(self.rss, _rss_bytes())
        return self.rss


@dataclass(frozen=True)
class Measure:
    label: str
    wall: float
    cpu: float
    peak_rss: int
    start_rss: int
    rows: int


def _timed(label: str, func: Callable[[], Any]) -> tuple[Any, Measure]:
    sampler = _Sampler()
    start_rss = sampler.rss
    sampler.start()
    start, cpu = time.perf_counter(), time.process_time()
    result = func()
    elapsed, used = time.perf_counter() - start, time.process_time() - cpu
    peak = sampler.finish()
    return result, Measure(label, elapsed, used, peak, start_rss, len(result))


def _worker(args: argparse.Namespace) -> None:
    """One contender in this process: compute, write the result table and the measure."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from leadscore.crm import open_crm

    cutoffs = [datetime.fromisoformat(c) for c in args.cutoff_list.split(",")]
    crm = open_crm(args.crm, as_of=datetime(2100, 1, 1))
    if args.worker in ("leadscore", "full"):
        from leadscore.features import DuckDBEngine, build_features, load_definition

        definition = subset_definition() if args.worker == "leadscore" else load_definition()
        engine = DuckDBEngine(
            crm, threads=args.threads, memory_limit=args.memory_limit, temp_directory=args.temp_dir
        )
        kwargs = {"cutoffs_per_query": args.cutoffs_per_query} if args.cutoffs_per_query else {}

        def ours() -> Any:
            return build_features(crm, definition, cutoffs, engine=engine, **kwargs)

        frame, measure = _timed(args.label, ours)
        result = pa.Table.from_pandas(frame, preserve_index=False)
    else:
        con = crm.con.cursor()
        events = con.sql("SELECT contact_id, occurred_at, event_type FROM events").to_arrow_table()
        con.close()
        crm.close()  # the references hold their inputs in memory, not in DuckDB
        rows = pq.read_table(args.rows)
        func = polars_features if args.worker == "polars" else pandas_features
        result, measure = _timed(args.label, lambda: func(events, rows))
    pq.write_table(result, args.result)
    Path(args.measure).write_text(json.dumps(asdict(measure)), encoding="utf-8")


def _baseline_tree(ref: str, into: Path) -> Path:
    """The leadscore package as of git ``ref`` (or a directory holding a ``leadscore`` package),
    laid out for ``PYTHONPATH``."""
    given = Path(ref)
    if (given / "leadscore" / "__init__.py").is_file():
        return given
    archive = into / "src.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "-C", str(ROOT), "archive", ref], stdout=out, check=True)
    unpacked = into / "src"
    unpacked.mkdir()
    subprocess.run(["tar", "-xf", str(archive), "-C", str(unpacked)], check=True)
    package = into / "pkg" / "leadscore"
    shutil.copytree(unpacked / "src" / "leadscore", package)
    for name in ("features", "training", "serving"):
        if (unpacked / name).is_dir():
            shutil.copytree(unpacked / name, package / name)
    return package.parent


def _run_worker(
    kind: str, label: str, args: argparse.Namespace, work: Path, tree: Path | None = None
) -> tuple[Any, Measure]:
    import pyarrow.parquet as pq

    slug = "".join(ch if ch.isalnum() else "_" for ch in label)
    result, measure = work / f"{slug}.parquet", work / f"{slug}.json"
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        kind,
        "--label",
        label,
        "--crm",
        str(args.crm),
        "--cutoff-list",
        args.cutoff_list,
        "--rows",
        str(work / "rows.parquet"),
        "--result",
        str(result),
        "--measure",
        str(measure),
    ]
    for option in ("threads", "memory_limit", "temp_dir", "cutoffs_per_query"):
        value = getattr(args, option)
        if value is not None:
            command += [f"--{option.replace('_', '-')}", str(value)]
    env = dict(os.environ)
    if args.threads is not None:
        env["POLARS_MAX_THREADS"] = str(args.threads)
    if tree is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(tree), env.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        )
    subprocess.run(command, env=env, check=True, cwd=work)
    data = json.loads(measure.read_text(encoding="utf-8"))
    return pq.read_table(result), Measure(**data)


def _sorted_frame(table: Any, columns: list[str]) -> Any:
    frame = table.select(columns).to_pandas()
    frame["cutoff"] = frame["cutoff"].astype("datetime64[us]")
    return frame.sort_values(["cutoff", "contact_id"]).reset_index(drop=True)


def _check_equal(name: str, ours: Any, theirs: Any, columns: list[str], what: str) -> None:
    import pandas as pd

    left, right = _sorted_frame(ours, columns), _sorted_frame(theirs, columns)
    pd.testing.assert_frame_equal(left, right, check_dtype=False, check_exact=True)
    print(f"values identical: {name} = leadscore on {len(left):,} rows x {what}", flush=True)


def _print_table(measures: list[Measure], reference: Measure) -> None:
    print(
        f"{'':<28}{'wall s':>9}{'CPU s':>9}{'peak RSS MiB':>14}{'(+ during)':>12}"
        f"{'wall/ours':>11}{'CPU/ours':>10}{'RSS/ours':>10}"
    )
    for m in measures:
        print(
            f"{m.label:<28}{m.wall:9.2f}{m.cpu:9.2f}{m.peak_rss / MiB:14.0f}"
            f"{(m.peak_rss - m.start_rss) / MiB:12.0f}{m.wall / reference.wall:10.2f}x"
            f"{m.cpu / reference.cpu:9.2f}x{m.peak_rss / reference.peak_rss:9.2f}x",
            flush=True,
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--cutoffs", type=int, default=12)
    parser.add_argument("--every", choices=("month", "week"), default="month")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--smoke", action="store_true", help="small and quick (2,000 contacts)")
    parser.add_argument("--crm", type=Path, help="reuse this CRM file (generated when missing)")
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--skip-polars", action="store_true")
    parser.add_argument("--skip-full", action="store_true", help="skip the full-catalog run")
    parser.add_argument(
        "--baseline-ref",
        help="also run leadscore as of this git ref (or a directory holding a leadscore package)",
    )
    parser.add_argument("--cutoffs-per-query", type=int, help="default: sized by contacts")
    parser.add_argument("--threads", type=int, help="threads of every contender (default: all)")
    parser.add_argument("--memory-limit", help="DuckDB memory limit, e.g. 5GB")
    parser.add_argument("--temp-dir", type=Path, help="where DuckDB spills")
    for hidden in ("--worker", "--label", "--cutoff-list", "--rows", "--result", "--measure"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args)
        return

    import pandas as pd

    contacts = 2_000 if args.smoke else args.contacts
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        args.crm = (args.crm or work / "crm.duckdb").resolve()
        if not args.crm.exists():
            from leadscore.synthetic import GeneratorConfig, generate_crm

            start = time.perf_counter()
            generate_crm(GeneratorConfig(n_contacts=contacts, seed=args.seed), args.crm)
            print(f"generated {contacts:,} contacts in {time.perf_counter() - start:.1f} s")
        from leadscore.crm import open_crm

        crm = open_crm(args.crm, as_of=datetime(2100, 1, 1))
        print("CRM:", ", ".join(f"{n:,} {t}" for t, n in crm.row_counts().items()))
        crm.close()
        step = "MS" if args.every == "month" else "7D"
        if args.every == "month":
            moments = pd.date_range(end=datetime(2025, 12, 1), periods=args.cutoffs, freq=step)
        else:
            moments = pd.date_range(
                start=datetime(2024, 3, 1), end=datetime(2025, 11, 28), freq=step
            )
        args.cutoff_list = ",".join(m.isoformat() for m in moments)
        print(
            f"{len(subset_definition().features)} subset features x {len(moments)} "
            f"{args.every}ly cutoffs; threads {args.threads or 'all'} (every contender), "
            "each contender in its own process"
        )
        tree = _baseline_tree(args.baseline_ref, work) if args.baseline_ref else None

        ours, t_ours = _run_worker("leadscore", "leadscore (DuckDB)", args, work)
        ours.select(["contact_id", "cutoff"]).to_pandas().to_parquet(work / "rows.parquet")
        print(f"{ours.num_rows:,} (contact, cutoff) rows", flush=True)
        columns = ["contact_id", "cutoff", *subset_definition().names]
        measures = [t_ours]
        runs: list[tuple[str, str, Path | None]] = []
        if tree is not None:
            runs.append(("leadscore", f"leadscore {args.baseline_ref}", tree))
        if not args.skip_polars:
            runs.append(("polars", "polars lazy (join_where)", None))
        if not args.skip_pandas:
            runs.append(("pandas", "pandas/NumPy searchsorted", None))
        for kind, label, where in runs:
            theirs, measure = _run_worker(kind, label, args, work, where)
            _check_equal(label, ours, theirs, columns, f"{len(columns) - 2} features")
            measures.append(measure)
        _print_table(measures, t_ours)
        for m in measures[1:]:
            print(
                f"speed-up leadscore vs {m.label}: {m.wall / t_ours.wall:.2f}x wall, "
                f"{m.cpu / t_ours.cpu:.2f}x CPU; peak memory {t_ours.peak_rss / m.peak_rss:.2f}x"
            )
        if not args.skip_full:
            full, t_full = _run_worker("full", "leadscore full catalog", args, work)
            full_measures = [t_full]
            if tree is not None:
                base, t_base = _run_worker(
                    "full", f"full catalog {args.baseline_ref}", args, work, tree
                )
                names = [n for n in full.column_names]
                _check_equal(t_base.label, full, base, names, f"{len(names) - 2} features")
                full_measures.append(t_base)
            _print_table(full_measures, t_full)


if __name__ == "__main__":
    main()
