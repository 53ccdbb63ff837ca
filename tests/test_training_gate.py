"""The paired gate's statistics and preconditions (pure functions, no registry)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from leadscore.training.gate import gate_checks, paired_bootstrap


def _rows(n_contacts: int, per_contact: int, seed: int) -> tuple[pd.Series, pd.Series, np.ndarray]:
    rng = np.random.default_rng(seed)
    contacts = pd.Series(np.repeat([f"c{i}" for i in range(n_contacts)], per_contact))
    cutoffs = pd.Series(
        np.tile(pd.date_range("2025-01-06", periods=per_contact, freq="W"), n_contacts)
    )
    signal = rng.normal(size=len(contacts))
    y = (rng.random(len(contacts)) < 1 / (1 + np.exp(-(signal * 2 - 3)))).astype(int)
    return contacts, cutoffs, np.column_stack([signal, y])


def test_identical_models_never_promote() -> None:
    contacts, cutoffs, data = _rows(800, 3, seed=1)
    signal, y = data[:, 0], data[:, 1].astype(int)
    c = paired_bootstrap(y, signal, signal.copy(), contacts, cutoffs, n_bootstrap=200)
    assert c.difference == 0 and c.low == 0 and c.high == 0
    assert not c.excludes_zero_for_challenger


def test_a_clearly_better_challenger_excludes_zero() -> None:
    contacts, cutoffs, data = _rows(800, 3, seed=2)
    signal, y = data[:, 0], data[:, 1].astype(int)
    noisy = signal + np.random.default_rng(3).normal(scale=2.0, size=len(signal))
    c = paired_bootstrap(y, signal, noisy, contacts, cutoffs, n_bootstrap=300)
    assert c.difference > 0.05 and c.low > 0 and c.excludes_zero_for_challenger
    worse = paired_bootstrap(y, noisy, signal, contacts, cutoffs, n_bootstrap=300)
    assert worse.high < 0 and not worse.excludes_zero_for_challenger
    found = paired_bootstrap(
        y, signal, noisy, contacts, cutoffs, metric="found_at_capacity", n_bootstrap=300
    )
    assert found.difference > 0 and found.excludes_zero_for_challenger


def test_a_point_gain_within_noise_is_not_enough() -> None:
    """Two equally good models (the same signal, independent noise): on this sample the
    challenger's AUC is 0.026 higher, far above the old margin (0.005), yet the paired interval
    contains zero: the paired gate keeps the champion where the point gate would promote."""
    contacts, cutoffs, data = _rows(300, 2, seed=4)
    signal, y = data[:, 0], data[:, 1].astype(int)
    rng = np.random.default_rng(1)
    a = signal + rng.normal(scale=0.5, size=len(signal))
    b = signal + rng.normal(scale=0.5, size=len(signal))
    c = paired_bootstrap(y, a, b, contacts, cutoffs, n_bootstrap=300)
    assert c.difference > 0.02
    assert c.low < 0 < c.high, c.describe()
    assert not c.excludes_zero_for_challenger


def test_paired_interval_is_narrower_than_unpaired_reasoning() -> None:
    """Two highly correlated models: the CI of the difference is far narrower than either
    model's own AUC interval (the point of pairing)."""
    contacts, cutoffs, data = _rows(600, 2, seed=6)
    signal, y = data[:, 0], data[:, 1].astype(int)
    b = signal + np.random.default_rng(7).normal(scale=0.05, size=len(signal))
    c = paired_bootstrap(y, signal, b, contacts, cutoffs, n_bootstrap=300)
    assert c.high - c.low < 0.01


def test_gate_checks_windows_and_hashes() -> None:
    chal = {"valid_last_cutoff": "2025-06-01", "definition_hash": "h1"}
    champ = {"valid_last_cutoff": "2025-03-01", "definition_hash": "h1"}
    ok = gate_checks(chal, champ, test_first=date(2025, 7, 1), table_definition_hash="h1")
    assert ok.ok
    early = gate_checks(chal, champ, test_first=date(2025, 6, 1), table_definition_hash="h1")
    assert not early.ok and "validation window" in early.problems[0]
    seen = gate_checks(
        chal,
        {**champ, "valid_last_cutoff": "2025-08-01"},
        test_first=date(2025, 7, 1),
        table_definition_hash="h1",
    )
    assert not seen.ok and "not out of time" in seen.problems[0]
    hashes = gate_checks(
        chal,
        {**champ, "definition_hash": "h2"},
        test_first=date(2025, 7, 1),
        table_definition_hash="h1",
    )
    assert not hashes.ok and "hashes differ" in hashes.problems[0]
    missing = gate_checks({}, champ, test_first=date(2025, 7, 1), table_definition_hash="h1")
    assert not missing.ok
