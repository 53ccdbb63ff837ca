"""Reasons in words for a whole contact base: the row loop (``explain_rows``) vs the column-wise
``explain_table``, side by side in one run, outputs checked equal byte for byte.

Run::

    .venv/bin/python benchmarks/reasons.py [--contacts 20000] [--out data/bench-serving]
    .venv/bin/python benchmarks/reasons.py --repeat 4        # ~80k rows (the base, 4 times)
    .venv/bin/python benchmarks/reasons.py --profile         # cProfile of Scorer.explain

Uses the model and CRM of ``benchmarks/serving.py`` (trained there the first time). The rows
are the current features of every contact at the data's end, the contributions those of the
champion's reason head, as ``Scorer.explain`` computes them. Prints seconds and rows/s of each
path, the ratio, and ``Scorer.explain`` as a whole (features excluded) with each path.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import io
import pstats
import time
from pathlib import Path
from typing import Any

import pandas as pd


def _prepare(out: Path, contacts: int, seed: int) -> tuple[Path, str, Any]:
    """``benchmarks/serving.py``'s CRM and champion (trained there the first time)."""
    path = Path(__file__).resolve().parent / "serving.py"
    spec = importlib.util.spec_from_file_location("bench_serving", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._prepare(out, contacts, seed)  # type: ignore[no-any-return]


def _best(fn: Any, runs: int) -> tuple[float, Any]:
    """Fastest of ``runs`` timings (a shared machine: the minimum is the least disturbed)."""
    best, out = float("inf"), None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv: list[str] | None = None) -> None:
    from leadscore.crm import open_crm
    from leadscore.serving import load_scorer
    from leadscore.serving import scorer as scorer_module
    from leadscore.serving.features import iter_features
    from leadscore.serving.reasons import explain_rows, reasons_as_text
    from leadscore.serving.reasons_table import explain_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=Path("data/bench-serving"))
    parser.add_argument("--repeat", type=int, default=1, help="stack the base N times")
    parser.add_argument("--runs", type=int, default=2, help="timings per path (best kept)")
    parser.add_argument("--profile", action="store_true", help="cProfile Scorer.explain")
    parser.add_argument(
        "--batch", action="store_true", help="also time score_contact_base with each path"
    )
    args = parser.parse_args(argv)

    crm_path, uri, as_of = _prepare(args.out, args.contacts, args.seed)
    scorer = load_scorer("champion", tracking_uri=uri).scorer
    definition = scorer.require_definition()
    crm = open_crm(crm_path)
    try:
        frame = pd.concat(list(iter_features(crm, definition, as_of=as_of)))
    finally:
        crm.close()
    frame = pd.concat([frame] * args.repeat, ignore_index=True)
    n = len(frame)
    contributions = scorer._contributions(scorer._matrices(frame)[scorer.spec.reason_target])
    call = (contributions, frame, scorer.features, scorer._groups, definition)
    top = scorer.spec.top_reasons
    print(f"{n:,} rows, {len(scorer.features)} features, {len(scorer._groups)} reason groups")

    t_old, old = _best(lambda: reasons_as_text(explain_rows(*call, top=top)), args.runs)
    t_new, new = _best(lambda: reasons_as_text(explain_table(*call, top=top)), args.runs)
    objects_equal = list(explain_table(*call, top=top)) == explain_rows(*call, top=top)
    if new != old or not objects_equal:
        raise SystemExit("explain_table differs from explain_rows: not a valid comparison")
    print("outputs identical (sentences, groups and effects of every row)")
    print(f"  {'explain_rows (row loop)':34s} {t_old:7.3f} s {n / t_old:12,.0f} rows/s")
    print(f"  {'explain_table (column-wise)':34s} {t_new:7.3f} s {n / t_new:12,.0f} rows/s")
    print(f"reasons: {t_old / t_new:.1f}x faster")

    t_explain_new, _ = _best(lambda: scorer.explain(frame), args.runs)
    original = scorer_module.explain_table
    scorer_module.explain_table = explain_rows  # type: ignore[assignment]
    try:
        t_explain_old, _ = _best(lambda: scorer.explain(frame), args.runs)
    finally:
        scorer_module.explain_table = original
    print(
        f"  {'Scorer.explain, row loop':34s} {t_explain_old:7.3f} s {n / t_explain_old:12,.0f} rows/s"
    )
    print(
        f"  {'Scorer.explain, column-wise':34s} {t_explain_new:7.3f} s {n / t_explain_new:12,.0f} rows/s"
    )
    print(
        f"Scorer.explain (both heads, SHAP, reasons; no features): {t_explain_old / t_explain_new:.1f}x faster"
    )

    if args.batch:
        _batch_scoring(crm_path, uri, as_of, args, scorer_module, explain_rows)

    if args.profile:
        for label, swap in (("row loop", explain_rows), ("column-wise", original)):
            scorer_module.explain_table = swap  # type: ignore[assignment]
            profile = cProfile.Profile()
            profile.runcall(scorer.explain, frame)
            scorer_module.explain_table = original
            text = io.StringIO()
            pstats.Stats(profile, stream=text).sort_stats("cumulative").print_stats(18)
            print(f"--- cProfile of Scorer.explain, {label} ---\n{text.getvalue()}")


def _batch_scoring(
    crm_path: Path, uri: str, as_of: Any, args: Any, scorer_module: Any, explain_rows: Any
) -> None:
    """``score_contact_base`` (features, both heads, SHAP, reasons, Parquet, history) with the
    row loop and with the column-wise reasons, alternately, best of ``--runs``."""
    import tempfile

    from leadscore.serving import load_scorer, score_contact_base

    loaded = load_scorer("champion", tracking_uri=uri)
    original = scorer_module.explain_table
    best = {"row loop": float("inf"), "column-wise": float("inf")}
    rows = 0
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            for label, swap in (("row loop", explain_rows), ("column-wise", original)):
                scorer_module.explain_table = swap
                try:
                    out = Path(tmp) / f"{run}-{label}"
                    result = score_contact_base(
                        crm_path,
                        loaded,
                        out / "scores.parquet",
                        store=out / "s.duckdb",
                        as_of=as_of,
                    )
                finally:
                    scorer_module.explain_table = original
                best[label] = min(best[label], result.seconds)
                rows = result.rows
    for label, seconds in best.items():
        print(
            f"  {'score_contact_base, ' + label:34s} {seconds:7.3f} s {rows / seconds:12,.0f} rows/s"
        )
    print(
        f"batch scoring (features included): {best['row loop'] / best['column-wise']:.1f}x faster"
    )


if __name__ == "__main__":
    main()
