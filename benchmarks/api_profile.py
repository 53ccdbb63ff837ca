"""Where one ``POST /score`` spends its time, in process (no HTTP), stage by stage.

Run (after ``benchmarks/serving.py`` prepared the model and CRM in ``--out``)::

    .venv/bin/python benchmarks/api_profile.py [--requests 200] [--accounts crm|new]

Prints the median and p90 per request of each stage the API runs for ``--leads`` leads
(default one): building the posted tables, the contract checks (DuckDB, and the Python pass
that skips them on clean rows), reading the colleagues from the CRM, the feature query (DuckDB)
and the Python feature path, and model plus reasons; then the whole
:meth:`OnlineFeatures.features` call by each path (the crossover of the two paths: run with
``--leads 1, 4, 8, 16, ...``).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _bench() -> Any:
    """``benchmarks/serving.py`` (its model, CRM and lead builders)."""
    spec = importlib.util.spec_from_file_location(
        "bench_serving", Path(__file__).with_name("serving.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _time(fn: Callable[[], Any], times: list[float]) -> Any:
    t0 = time.perf_counter()
    result = fn()
    times.append((time.perf_counter() - t0) * 1000)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("data/bench-serving"))
    parser.add_argument("--accounts", choices=["crm", "new"], default="crm")
    parser.add_argument("--leads", type=int, default=1, help="leads per request")
    args = parser.parse_args()

    from leadscore.crm import open_crm
    from leadscore.serving import load_scorer
    from leadscore.serving.online import OnlineFeatures
    from leadscore.serving.posted import ScoreRequest, posted_rows, posted_tables

    bench = _bench()
    crm_path, uri, as_of = bench._prepare(args.out, args.contacts, args.seed)
    loaded = load_scorer("champion", tracking_uri=uri)
    crm = open_crm(crm_path)
    paths = {
        name: OnlineFeatures(
            loaded.scorer.require_definition(),
            loaded.scorer.features,
            crm=crm,
            from_stage=loaded.scorer.spec.from_stage,
            python_leads=leads,
        )
        for name, leads in (("SQL", 0), ("Python", args.leads))
    }
    online = paths["SQL"]
    python = paths["Python"]._python
    quick = paths["Python"]._quick
    accounts: list[Any] = [None]
    if args.accounts == "crm":
        accounts = bench._accounts(crm_path, as_of)
    requests = [
        ScoreRequest.model_validate(
            {
                "leads": [
                    bench._lead(
                        as_of, i * args.leads + k, accounts[(i * args.leads + k) % len(accounts)]
                    )
                    for k in range(args.leads)
                ],
                "as_of": as_of.isoformat(),
            }
        )
        for i in range(args.requests)
    ]
    stages: dict[str, list[float]] = {
        k: []
        for k in (
            "posted_tables",
            "contract checks (DuckDB)",
            "contract checks (Python pass)",
            "colleagues",
            "feature query (DuckDB)",
            "feature path (Python)",
        )
    }
    stages["model + reasons"] = []
    stages["OnlineFeatures.features, SQL path"] = []
    stages["OnlineFeatures.features, Python path"] = []
    validator = online._validator
    try:
        for request in requests[:20]:
            for path in paths.values():
                path.features(request, as_of=as_of)
        for request in requests:
            tables = _time(lambda r=request: posted_tables(r), stages["posted_tables"])
            _time(
                lambda t=tables: validator.check(t, as_of=as_of), stages["contract checks (DuckDB)"]
            )
            rows = posted_rows(request)
            assert _time(
                lambda r=rows: quick.passes(r, as_of=as_of),
                stages["contract checks (Python pass)"],
            )
            merged = tables
            if online.colleagues is not None:
                merged = _time(
                    lambda t=tables: online.colleagues.merge(t, as_of=as_of),  # type: ignore[union-attr]
                    stages["colleagues"],
                )
            frame = _time(
                lambda m=merged: online._features.features(m, as_of=as_of),
                stages["feature query (DuckDB)"],
            )
            if python is not None:
                _time(
                    lambda m=merged: python.table(m, as_of=as_of).to_pandas(),
                    stages["feature path (Python)"],
                )
            _time(lambda f=frame: loaded.scorer.explain(f), stages["model + reasons"])
            for name, path in paths.items():
                _time(
                    lambda r=request, p=path: p.features(r, as_of=as_of),
                    stages[f"OnlineFeatures.features, {name} path"],
                )
    finally:
        for path in paths.values():
            path.close()
        crm.close()
    print(
        f"{args.requests} requests of {args.leads} lead(s) ({args.accounts} accounts), "
        "ms per request:"
    )
    for name, values in stages.items():
        if values:
            q = statistics.quantiles(values, n=10)
            print(f"  {name:32s} p50 {statistics.median(values):7.2f}  p90 {q[8]:7.2f}")


if __name__ == "__main__":
    main()
