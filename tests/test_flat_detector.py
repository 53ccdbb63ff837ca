"""Flat mode's data side: the careful CSV reader, column types, the leakage detector on the
generator's export with planted leaks, splits a user controls, and the minimum-data guards."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadscore.errors import ConfigError, DataContractError
from leadscore.flat_csv import clean_placeholders, read_flat_csv
from leadscore.synthetic.flat_export import FlatExport, generate_flat_export
from leadscore.training.flat_columns import find_id_column, infer_columns
from leadscore.training.flat_guards import check_periods
from leadscore.training.flat_leakage import detect_leakage
from leadscore.training.flat_split import FlatSplitConfig, flat_split, parse_time_column


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> tuple[FlatExport, pd.DataFrame]:
    generated = generate_flat_export(5000, seed=3)
    path = tmp_path_factory.mktemp("flat") / "leads.csv"
    generated.frame.to_csv(path, index=False)
    return generated, read_flat_csv(path)


def test_every_planted_leak_is_flagged_and_no_legitimate_column(
    export: tuple[FlatExport, pd.DataFrame],
) -> None:
    generated, frame = export
    y = frame[generated.target].to_numpy()
    specs, dropped = infer_columns(frame, exclude=[generated.target, generated.time_column])
    assert dropped == {"lead_id": "ID-like (5,000 distinct values, one per row)"}
    train = frame.iloc[: len(frame) * 3 // 5]
    table = detect_leakage(train, y[: len(train)], specs).set_index("column")
    flagged = set(table.index[table["flag"] != ""])
    assert flagged == set(generated.leaks), table["flag"].to_dict()
    assert set(generated.legitimate) <= set(table.index)
    # the evidence is printed in words: each kind of leak is caught for its own reason
    assert "positives but 0% of negatives" in table.loc["deal_amount", "flag"]
    assert "non-zero for" in table.loc["transaction_revenue", "flag"]
    assert "97%+ positive" in table.loc["rep_notes", "flag"]
    assert "'quality'" in table.loc["lead_quality", "flag"]
    assert "one column nearly gives it" in table.loc["final_score", "flag"]


def test_ids_are_found_by_uniqueness_not_by_name(export: tuple[FlatExport, pd.DataFrame]) -> None:
    generated, frame = export
    specs, dropped = infer_columns(frame, exclude=[generated.target])
    kinds = {s.name: s.kind for s in specs}
    # a real 300-level category coded as integers: labels, not amounts
    assert kinds["segment_id"] == "categorical" and "segment_id" not in dropped
    assert kinds["do_not_email"] == "boolean"  # not personal data, despite "email"
    assert find_id_column(frame, exclude=[generated.target]) == "lead_id"
    personal = frame.assign(email=[f"p{i}@example.com" for i in range(len(frame))])
    _, dropped = infer_columns(personal, exclude=[generated.target])
    assert "personal data" in dropped["email"]


def test_csv_reader_sniffs_separator_and_reads_placeholders_as_missing(tmp_path: Path) -> None:
    path = tmp_path / "semicolon.csv"
    path.write_text(
        "\ufefflead;source;title;visits\n1;Google;Select;3\n2;Direct;Manager;-\n3;N/A;Owner;5\n",
        encoding="utf-8",
    )
    frame = read_flat_csv(path)
    assert list(frame.columns) == ["lead", "source", "title", "visits"]
    assert frame["title"].isna().tolist() == [True, False, False]
    assert frame["source"].isna().tolist() == [False, False, True]
    assert frame["visits"].dtype.kind == "f" and np.isnan(frame["visits"][1])
    raw = pd.DataFrame({"title": ["Select", " Manager ", ""], "n": [1, 2, 3]})
    assert clean_placeholders(raw)["title"].isna().tolist() == [True, False, True]
    forms = ["Sélectionner", "Bitte wählen", "Seleccionar", "Selecionar", "Seleziona", "Sales"]
    localised = clean_placeholders(pd.DataFrame({"department": forms}))  # a European export
    assert localised["department"].isna().tolist() == [True] * 5 + [False]
    # encodings other than UTF-8: tests/test_flat_encoding.py


def test_time_columns_text_months_and_bad_dates_are_clear_errors() -> None:
    with pytest.raises(DataContractError, match="month names without a year"):
        parse_time_column(pd.Series(["Jan", "Feb", "Mar"] * 10), "month")
    with pytest.raises(DataContractError, match="2 row\\(s\\) are not dates"):
        parse_time_column(pd.Series(["2024-01-02", "soon", "2024-01-05", "later"]), "created")
    with pytest.raises(DataContractError, match="no value"):
        parse_time_column(pd.Series(["2024-01-02", None]), "created")
    order, is_date = parse_time_column(pd.Series([3, 1, 2]), "row")
    assert not is_date and order.tolist() == [3.0, 1.0, 2.0]


def test_day_first_and_month_first_dates_are_read_by_their_own_convention() -> None:
    """A European export writes 15/03/2025, an American one 03/15/2025: each column is read in
    one convention decided from its values (pandas alone read 12/06/2025 as 6 December and
    15/03/2025 as 15 March in the same column: a shuffled time split)."""
    days = pd.Series(pd.date_range("2024-01-01", "2025-06-23", freq="5D"))
    iso, _ = parse_time_column(days.dt.strftime("%Y-%m-%d"), "created_at")
    for layout in ("%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d/%m/%Y %H:%M"):
        read, is_date = parse_time_column(days.dt.strftime(layout), "created_at")
        assert is_date and read.tolist() == iso.tolist(), layout
    undecidable = pd.Series(["03/04/2025", "05/06/2025", "11/12/2025"])
    with pytest.raises(DataContractError, match="no field above 12"):
        parse_time_column(undecidable, "created_at")
    contradictory = pd.Series(["13/04/2025", "04/13/2025", "01/01/2025"])
    with pytest.raises(DataContractError, match="both a first and a second field above 12"):
        parse_time_column(contradictory, "created_at")


def test_time_split_is_by_time_and_random_split_says_so() -> None:
    n = 1000
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"created": pd.date_range("2024-01-01", periods=n, freq="D").strftime("%Y-%m-%d")}
    )
    y = (rng.random(n) < 0.2).astype(int)
    split = flat_split(frame, y, "created", FlatSplitConfig(test_fraction=0.25))
    times = pd.to_datetime(frame["created"])
    assert times[split.mask("train")].max() < times[split.mask("valid")].min()
    assert times[split.mask("valid")].max() < times[split.mask("test")].min()
    assert split.mask("test").sum() == 250 and split.by_time
    dated = flat_split(frame, y, "created", FlatSplitConfig(test_from=date(2026, 1, 1)))
    assert times[dated.mask("test")].min() == pd.Timestamp("2026-01-01")
    random = flat_split(frame, y, None, FlatSplitConfig(seed=7))
    assert not random.by_time and "NOT an out-of-time" in random.description
    again = flat_split(frame, y, None, FlatSplitConfig(seed=7))
    assert (again.period == random.period).all()
    with pytest.raises(ConfigError, match="--test-from needs --time-column"):
        flat_split(frame, y, None, FlatSplitConfig(test_from=date(2025, 1, 1)))


def test_base_rate_shift_is_measured_and_warned() -> None:
    n = 2000
    frame = pd.DataFrame({"t": np.arange(n)})
    rng = np.random.default_rng(1)
    rate = np.where(np.arange(n) < 1600, 0.05, 0.30)  # 5 % converts, then 30 %
    y = (rng.random(n) < rate).astype(int)
    split = flat_split(frame, y, "t")
    warning = split.shift_warning()
    assert warning is not None and "positive rate shifts" in warning
    steady = flat_split(frame, (rng.random(n) < 0.1).astype(int), "t")
    assert steady.shift_warning() is None


def test_too_few_positives_per_period_gives_the_counts_and_what_to_do() -> None:
    n = 600
    frame = pd.DataFrame({"t": np.arange(n)})
    y = np.zeros(n, dtype=int)
    y[:40] = 1  # every positive in the first weeks: none to test on
    split = flat_split(frame, y, "t")
    with pytest.raises(DataContractError) as caught:
        check_periods(y, split, "converted", "leads.csv")
    message = str(caught.value)
    assert "test: 0 positive" in message and "--test-from" in message


def test_integer_codes_are_categories_and_counts_stay_numbers() -> None:
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame(
        {
            "region_code": rng.integers(1, 12, n),
            "CampaignId": rng.integers(100, 140, n),
            "page_views": rng.integers(0, 60, n),
            "valid": rng.integers(0, 2, n) == 1,
        }
    )
    specs, _ = infer_columns(frame)
    kinds = {s.name: s.kind for s in specs}
    assert kinds["region_code"] == kinds["CampaignId"] == "categorical"
    assert kinds["page_views"] == "numeric"  # a count: its order means something


def test_a_code_read_as_floats_is_the_same_category() -> None:
    """One blank turns an integer code column into floats: 69.0 must stay code 69, when
    learning (the column is a category) and when scoring (the same level)."""
    from leadscore.model.encoding import as_text

    assert list(as_text(pd.Series([69, 3]))) == ["69", "3"]
    assert list(as_text(pd.Series([69.0, np.nan]))[:1]) == ["69"]
    assert as_text(pd.Series([69.0, np.nan])).isna().tolist() == [False, True]
    assert list(as_text(pd.Series([0.5, 2.0]))) == ["0.5", "2.0"]  # real decimals keep theirs
    rng = np.random.default_rng(1)
    codes = rng.integers(1, 30, 300).astype(float)
    codes[7] = np.nan
    specs, _ = infer_columns(pd.DataFrame({"segment_id": codes, "x": rng.random(300)}))
    assert {s.name: s.kind for s in specs}["segment_id"] == "categorical"


@pytest.mark.parametrize(
    ("name", "suggests_outcome"),
    [
        ("revenue_band", False),  # the catalog's firmographic band (was flagged in `retrain`)
        ("Annual Revenue", False),  # HubSpot's company field
        ("Revenue Range", False),
        ("Total Revenue", True),  # HubSpot: the sum of closed-won deals
        ("transaction_revenue", True),
        ("Recent Deal Amount", True),
        ("Lead Status", True),
    ],
)
def test_the_name_rule_tells_company_size_from_won_revenue(
    name: str, suggests_outcome: bool
) -> None:
    from leadscore.training.flat_leakage import OUTCOME_NAME

    assert bool(OUTCOME_NAME.search(name)) is suggests_outcome
