"""The feature query's two plans give the same table: with several cutoffs per query (running
latest-event maximum, per-day burst summaries) and with one (per-cutoff joins), over cutoffs at
midnight and at odd times of day (several grids, days and hours cut by the cutoffs)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd

from leadscore.crm import open_crm
from leadscore.features import build_features, load_definition
from leadscore.synthetic import GeneratorConfig, generate_crm

CUTOFFS = [
    datetime(2025, 3, 1),
    datetime(2025, 3, 9, 13, 45, 10),
    datetime(2025, 4, 2, 23, 59, 59),
    datetime(2025, 5, 17, 0, 0, 1),
    datetime(2025, 6, 1),
    datetime(2025, 6, 8, 13, 45, 10),
]


def test_many_cutoffs_plan_equals_one_cutoff_per_query(tmp_path: Path) -> None:
    path = tmp_path / "crm.duckdb"
    generate_crm(GeneratorConfig(n_contacts=400, seed=5), path)
    crm = open_crm(path, as_of=datetime(2100, 1, 1))
    try:
        definition = load_definition()
        together = build_features(crm, definition, CUTOFFS)
        apart = build_features(crm, definition, CUTOFFS, cutoffs_per_query=1)
    finally:
        crm.close()
    assert len(together) > 500
    pd.testing.assert_frame_equal(together, apart, check_exact=True)
