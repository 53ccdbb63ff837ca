"""HTTP = batch for every feature of the catalog, account-level ones included.

Leads of multi-contact accounts are posted with their own CRM rows; the API's feature path
(:class:`OnlineFeatures` with the CRM) must give exactly the values batch scoring computes on the
whole CRM at the same ``as_of``. Without a CRM, account-level features are refused, not guessed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from leadscore.crm import CrmData, open_crm
from leadscore.features import data_end_of, load_definition
from leadscore.features.definition import FeatureDefinition
from leadscore.serving.colleagues import account_features
from leadscore.serving.features import iter_features
from leadscore.serving.online import AccountFeaturesRefused, OnlineFeatures
from leadscore.serving.posted import ScoreRequest
from tests.posted_leads import lead_from_crm


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CrmData]:
    from leadscore.synthetic import GeneratorConfig, generate_crm

    path = tmp_path_factory.mktemp("account-crm") / "crm.duckdb"
    generate_crm(GeneratorConfig(n_contacts=1500, seed=7), path)
    data = open_crm(path)
    yield data
    data.close()


@pytest.fixture(scope="module")
def definition() -> FeatureDefinition:
    return load_definition()  # the whole catalog


def _chosen(crm: CrmData, batch: pd.DataFrame, *, n: int) -> list[str]:
    """Eligible contacts of accounts with several contacts, busiest accounts first, two of them
    from one account (posted together) and some whose colleague became an SQL."""
    eligible = set(batch["contact_id"])
    rows = crm.con.execute(
        """
        SELECT c.contact_id, c.account_id, count(*) OVER (PARTITION BY c.account_id) AS size,
               bool_or(s.stage IN ('sql', 'meeting', 'customer'))
                   OVER (PARTITION BY c.account_id) AS account_has_sql
        FROM contacts c LEFT JOIN stage_changes s USING (contact_id)
        ORDER BY account_has_sql DESC, size DESC, c.account_id, c.contact_id
        """
    ).fetchall()
    chosen: list[str] = []
    per_account: dict[str, int] = {}
    for contact_id, account_id, size, _ in rows:
        if size < 2 or contact_id not in eligible or contact_id in chosen:
            continue
        if per_account.get(account_id, 0) >= 2:
            continue
        per_account[account_id] = per_account.get(account_id, 0) + 1
        chosen.append(contact_id)
        if len(chosen) == n:
            break
    return chosen


@pytest.mark.parametrize("days_before_end", [0, 75])
def test_posted_features_equal_batch_for_every_feature(
    crm: CrmData, definition: FeatureDefinition, days_before_end: int
) -> None:
    as_of = data_end_of(crm) - timedelta(days=days_before_end, hours=5)
    batch = pd.concat(list(iter_features(crm, definition, as_of=as_of)), ignore_index=True)
    chosen = _chosen(crm, batch, n=12)
    assert len(chosen) == 12
    leads = [lead_from_crm(crm.con, c, before=as_of) for c in chosen]
    request = ScoreRequest.model_validate({"leads": leads, "as_of": as_of.isoformat()})
    online = OnlineFeatures(definition, definition.names, crm=crm, connections=1)
    try:
        got = online.features(request, as_of=as_of)
    finally:
        online.close()
    want = batch[batch["contact_id"].isin(chosen)].reset_index(drop=True)
    assert list(got.columns) == ["contact_id", "cutoff", *definition.names]
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    # the account features are not trivial here: colleagues exist, engage and convert
    assert (got["account_known_contacts"] > 0).all()
    assert got["account_has_other_sql"].any()
    # ... and the posted rows alone would have given other values (the bug this prevents)
    alone = OnlineFeatures(definition, definition.names, connections=1)
    try:
        whole = ScoreRequest.model_validate({**request.model_dump(), "complete_accounts": True})
        partial = alone.features(whole, as_of=as_of)
    finally:
        alone.close()
    names = account_features(definition, definition.names)
    assert not partial[names].equals(want[names])
    others = [n for n in definition.names if n not in names]
    pd.testing.assert_frame_equal(partial[others], want[others], check_exact=True)


def test_without_a_crm_account_features_are_refused(
    crm: CrmData, definition: FeatureDefinition
) -> None:
    as_of = data_end_of(crm)
    contact = crm.con.execute("SELECT min(contact_id) FROM contacts").fetchone()
    assert contact is not None
    body: dict[str, Any] = {
        "leads": [lead_from_crm(crm.con, contact[0], before=as_of)],
        "as_of": as_of.isoformat(),
    }
    online = OnlineFeatures(definition, definition.names, connections=1)
    try:
        with pytest.raises(AccountFeaturesRefused) as refused:
            online.features(ScoreRequest.model_validate(body), as_of=as_of)
        message = str(refused.value)
        assert "account_known_contacts" in message and "--crm" in message
        assert "complete_accounts" in message
        # a new company's only lead: the client says so, and the posted rows are the account
        body["complete_accounts"] = True
        assert len(online.features(ScoreRequest.model_validate(body), as_of=as_of)) <= 1
    finally:
        online.close()
    # a model without account-level features needs no CRM
    plain = [n for n in definition.names if n not in account_features(definition, definition.names)]
    online = OnlineFeatures(definition, plain, connections=1)
    try:
        body["complete_accounts"] = False
        online.features(ScoreRequest.model_validate(body), as_of=as_of)
    finally:
        online.close()


def test_colleagues_are_read_up_to_as_of_only(crm: CrmData, definition: FeatureDefinition) -> None:
    """A colleague created after ``as_of`` does not count (point in time, as in batch)."""
    end = data_end_of(crm)
    row = crm.con.execute(
        "SELECT c.account_id, max(c.created_at), min(c.created_at) FROM contacts c "
        "GROUP BY c.account_id HAVING count(*) >= 2 AND max(c.created_at) > min(c.created_at) "
        "ORDER BY 1 LIMIT 1"
    ).fetchone()
    assert row is not None
    account_id, newest, oldest = row
    as_of = oldest + (newest - oldest) / 2 if isinstance(newest, datetime) else end
    first = crm.con.execute(
        "SELECT contact_id FROM contacts WHERE account_id = ? ORDER BY created_at, contact_id",
        [account_id],
    ).fetchone()
    assert first is not None
    batch = pd.concat(
        list(iter_features(crm, definition, as_of=as_of, contact_ids=[first[0]])),
        ignore_index=True,
    )
    lead = lead_from_crm(crm.con, first[0], before=as_of)
    request = ScoreRequest.model_validate({"leads": [lead], "as_of": as_of.isoformat()})
    online = OnlineFeatures(definition, definition.names, crm=crm, connections=1)
    try:
        got = online.features(request, as_of=as_of)
    finally:
        online.close()
    pd.testing.assert_frame_equal(got, batch, check_exact=True)


def test_the_cli_serves_with_a_crm(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from leadscore.cli import app

    result = CliRunner().invoke(app, ["serve", "--help"])
    assert result.exit_code == 0 and "--crm" in result.output
