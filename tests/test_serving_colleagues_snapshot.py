"""The colleagues read from the start-up snapshot are exactly those the SQL path reads.

:class:`CrmColleagues` reads the canonical tables into memory once (a request then slices
them) unless the CRM is over ``max_cached_events``; both paths must add the same rows, at
every ``as_of`` (colleagues created later, events outside the lookback, stage changes after it).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pyarrow as pa
import pytest

from leadscore.crm import CrmData, open_crm
from leadscore.features import data_end_of, load_definition
from leadscore.serving.colleagues import CrmColleagues
from leadscore.serving.posted import ScoreRequest, posted_tables
from tests.posted_leads import lead_from_crm


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CrmData]:
    from leadscore.synthetic import GeneratorConfig, generate_crm

    path = tmp_path_factory.mktemp("colleagues-crm") / "crm.duckdb"
    generate_crm(GeneratorConfig(n_contacts=800, seed=11), path)
    data = open_crm(path)
    yield data
    data.close()


def _sorted(table: pa.Table) -> list[dict[str, object]]:
    return sorted(table.to_pylist(), key=repr)


@pytest.mark.parametrize("days_before_end", [0, 40, 200])
def test_snapshot_reads_the_same_rows_as_sql(crm: CrmData, days_before_end: int) -> None:
    lookback = load_definition().lookback_days
    cached = CrmColleagues(crm, lookback_days=lookback)
    sql = CrmColleagues(crm, lookback_days=lookback, max_cached_events=0)
    assert cached.cached and not sql.cached
    as_of = data_end_of(crm) - timedelta(days=days_before_end, hours=3)
    rows = crm.con.execute(
        "SELECT c.contact_id FROM contacts c JOIN (SELECT account_id FROM contacts "
        "GROUP BY 1 HAVING count(*) >= 3) USING (account_id) WHERE c.created_at < ? "
        "ORDER BY c.account_id, c.contact_id LIMIT 30",
        [as_of],
    ).fetchall()
    assert len(rows) == 30
    compared = 0
    for group in ([rows[0][0]], [r[0] for r in rows[1:4]], [r[0] for r in rows[4:30]]):
        leads = [lead_from_crm(crm.con, c, before=as_of) for c in group]
        request = ScoreRequest.model_validate({"leads": leads, "as_of": as_of.isoformat()})
        tables = posted_tables(request)
        want = sql.read(tables, as_of=as_of)
        got = cached.read(tables, as_of=as_of)
        assert set(got) == set(want)
        for name in want:
            assert got[name].schema == tables[name].schema
            assert _sorted(got[name]) == _sorted(want[name]), name
            compared += want[name].num_rows
        merged = cached.merge(tables, as_of=as_of)
        for name, table in tables.items():
            assert merged[name].slice(0, table.num_rows).equals(table)  # posted rows first
    assert compared > 0  # colleagues, their events and stage changes were really read


def test_a_lead_of_a_new_account_has_no_colleagues(crm: CrmData) -> None:
    as_of = data_end_of(crm)
    contact = crm.con.execute("SELECT contact_id FROM contacts LIMIT 1").fetchone()
    assert contact is not None
    lead = lead_from_crm(crm.con, contact[0], before=as_of)
    lead["account"]["account_id"] = "a-new-company"
    request = ScoreRequest.model_validate({"leads": [lead], "as_of": as_of.isoformat()})
    colleagues = CrmColleagues(crm, lookback_days=90)
    assert colleagues.read(posted_tables(request), as_of=as_of) == {}
