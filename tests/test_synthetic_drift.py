"""The generator's planted drift: off by default, behaviour and conversion shift after the date."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from leadscore.errors import ConfigError
from leadscore.synthetic import GeneratorConfig, generate_crm

DRIFT = datetime(2025, 3, 1)


def _frames(path: Path) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {
            "events": con.execute(
                "SELECT contact_id, occurred_at, event_type, campaign FROM events ORDER BY ALL"
            ).df(),
            "stages": con.execute(
                "SELECT contact_id, changed_at, stage FROM stage_changes ORDER BY ALL"
            ).df(),
            "fit": con.execute("SELECT contact_id, fit FROM oracle.contacts").df(),
            "meta": con.execute("SELECT * FROM oracle.meta").df(),
        }


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, pd.DataFrame], ...]:
    root = tmp_path_factory.mktemp("drift")
    plain, drifted = root / "plain.duckdb", root / "drifted.duckdb"
    generate_crm(GeneratorConfig(n_contacts=3_000, seed=3), plain)
    generate_crm(GeneratorConfig(n_contacts=3_000, seed=3, drift_at=DRIFT), drifted)
    return _frames(plain), _frames(drifted)


def test_nothing_changes_before_the_drift(pair: tuple[dict[str, pd.DataFrame], ...]) -> None:
    plain, drifted = pair
    for name, column in (("events", "occurred_at"), ("stages", "changed_at")):
        a = plain[name][plain[name][column] < DRIFT].reset_index(drop=True)
        b = drifted[name][drifted[name][column] < DRIFT].reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b)
    assert "drift_at" not in set(plain["meta"]["key"])
    assert "drift_at" in set(drifted["meta"]["key"])


def test_email_behaviour_shifts_after_the_drift(pair: tuple[dict[str, pd.DataFrame], ...]) -> None:
    plain, drifted = pair

    def opens_after(frames: dict[str, pd.DataFrame]) -> int:
        e = frames["events"]
        return int(((e["occurred_at"] >= DRIFT) & (e["event_type"] == "email_open")).sum())

    assert opens_after(drifted) > 2 * opens_after(plain)
    new = drifted["events"][drifted["events"]["occurred_at"] >= DRIFT]
    assert new.loc[new["event_type"] == "email_open", "campaign"].notna().all()


def _fit_effect(frames: dict[str, pd.DataFrame], after: bool) -> float:
    """Correlation between the latent fit and becoming SQL on the chosen side of the drift."""
    s = frames["stages"]
    sql = s[s["stage"] == "sql"]
    side = sql[(sql["changed_at"] >= DRIFT) == after]
    fit = frames["fit"].set_index("contact_id")["fit"]
    became = fit.index.isin(side["contact_id"]).astype(float)
    return float(np.corrcoef(fit.to_numpy(), became)[0, 1])


def test_the_ideal_profile_flips_after_the_drift(
    pair: tuple[dict[str, pd.DataFrame], ...],
) -> None:
    plain, drifted = pair
    assert _fit_effect(plain, after=False) > 0.05 and _fit_effect(plain, after=True) > 0.1
    assert _fit_effect(drifted, after=False) == _fit_effect(plain, after=False)
    assert _fit_effect(drifted, after=True) < -0.04


def test_invalid_drift_settings(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="drift_at must fall between"):
        generate_crm(
            GeneratorConfig(n_contacts=10, drift_at=datetime(2030, 1, 1)), tmp_path / "x.duckdb"
        )
    with pytest.raises(ConfigError, match="drift_strength"):
        generate_crm(
            GeneratorConfig(n_contacts=10, drift_at=DRIFT, drift_strength=2.0),
            tmp_path / "x.duckdb",
        )
