"""Serving scores the population the model was trained on (all leads, or MQLs only)."""

from __future__ import annotations

from pathlib import Path

from leadscore.crm import open_crm
from leadscore.features import data_end_of, load_definition
from leadscore.serving.features import count_eligible, iter_features
from leadscore.synthetic import GeneratorConfig, generate_crm


def test_mql_only_models_score_mqls_only(tmp_path: Path) -> None:
    generate_crm(GeneratorConfig(n_contacts=1000, seed=4), tmp_path / "crm.duckdb")
    crm = open_crm(tmp_path / "crm.duckdb")
    definition = load_definition()
    as_of = data_end_of(crm)
    every = {
        stage: set(
            frame_ids
            for frame in iter_features(crm, definition, as_of=as_of, from_stage=stage)
            for frame_ids in frame["contact_id"]
        )
        for stage in ("any", "mql")
    }
    mqls = {
        row[0]
        for row in crm.con.execute(
            "SELECT DISTINCT contact_id FROM stage_changes WHERE stage = 'mql' AND changed_at < ?",
            [as_of],
        ).fetchall()
    }
    assert every["mql"] and every["mql"] < every["any"]
    assert every["mql"] <= mqls
    assert count_eligible(crm, as_of=as_of, from_stage="mql") == len(every["mql"])
    crm.close()
