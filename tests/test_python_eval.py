"""The Python feature path equals the SQL path, value by value and dtype by dtype, for every
feature of the catalog and every custom kind: on a synthetic CRM at many cutoffs, on hand-made
edge cases (window boundaries to the microsecond, midnight, before 1970, blank and unicode
text, NULLs, colleagues) and on random rows (hypothesis)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadscore.contract import EventType, Stage, table_spec
from leadscore.crm import open_crm
from leadscore.features.definition import FeatureDefinition
from leadscore.features.python_eval import PythonFeatures
from leadscore.features.python_text import Unmirrored, duck_lower, duck_trim, duck_upper
from leadscore.serving.features import PostedFeatures
from leadscore.synthetic import GeneratorConfig, generate_crm
from tests.python_eval_support import assert_same_features, full_definition, tables_of


@pytest.fixture(scope="module")
def definition() -> FeatureDefinition:
    return full_definition()


@pytest.fixture(scope="module")
def paths(definition: FeatureDefinition) -> Iterator[tuple[PostedFeatures, PythonFeatures]]:
    sql = PostedFeatures(definition, connections=1)
    try:
        yield sql, PythonFeatures(definition)
    finally:
        sql.close()


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, pa.Table], datetime]:
    path = tmp_path_factory.mktemp("python-eval") / "crm.duckdb"
    generate_crm(GeneratorConfig(n_contacts=400, seed=11), path)
    crm = open_crm(path)
    try:
        con = crm.con.cursor()
        tables = {}
        for name in ("accounts", "contacts", "events", "stage_changes"):
            columns = ", ".join(f'"{c}"' for c in table_spec(name).column_names)
            tables[name] = con.sql(f"SELECT {columns} FROM {name}").to_arrow_table()
        end = con.execute("SELECT max(occurred_at) FROM events").fetchall()[0][0]
    finally:
        crm.close()
    return tables, end


def test_every_kind_has_an_evaluator(definition: FeatureDefinition) -> None:
    kinds = {f.kind for f in definition.features}
    assert kinds >= {"attribute", "event_count", "days_since", "active_days", "trend"}
    assert kinds >= {"any_event", "account", "burst", "event_property", "column"}
    assert PythonFeatures(definition).missing == []


def test_synthetic_crm_at_many_cutoffs(
    paths: tuple[PostedFeatures, PythonFeatures], synthetic: tuple[dict[str, pa.Table], datetime]
) -> None:
    """Every contact of a 400-contact CRM at 14 cutoffs (a day's midnight, odd microseconds,
    times of day, hundreds of days apart): thousands of (contact, cutoff) pairs."""
    tables, end = synthetic
    draw = random.Random(5)
    cutoffs = [end, end.replace(hour=0, minute=0, second=0, microsecond=0)]
    cutoffs += [
        end - timedelta(days=draw.randrange(0, 600), microseconds=draw.randrange(0, 86_400_000_000))
        for _ in range(12)
    ]
    rows = sum(assert_same_features(*paths, tables, cutoff) for cutoff in cutoffs)
    assert rows > 2_000


def test_posted_shaped_requests_from_the_crm(
    paths: tuple[PostedFeatures, PythonFeatures], synthetic: tuple[dict[str, pa.Table], datetime]
) -> None:
    """(contact, cutoff) pairs drawn at random, each alone with its account's colleagues, as a
    request is (every colleague's rows, the lead's own included)."""
    tables, end = synthetic
    contacts = tables["contacts"].to_pylist()
    draw = random.Random(9)
    for _ in range(25):
        lead = draw.choice(contacts)
        cutoff = end - timedelta(days=draw.randrange(0, 400), seconds=draw.randrange(86_400))
        members = [c for c in contacts if c["account_id"] == lead["account_id"]]
        ids = pa.array([c["contact_id"] for c in members])
        part = {
            "accounts": tables["accounts"].filter(
                pa.compute.equal(tables["accounts"].column("account_id"), lead["account_id"])
            ),
            "contacts": tables["contacts"].filter(
                pa.compute.is_in(tables["contacts"].column("contact_id"), ids)
            ),
        }
        for name in ("events", "stage_changes"):
            part[name] = tables[name].filter(
                pa.compute.is_in(tables[name].column("contact_id"), ids)
            )
        assert_same_features(*paths, part, cutoff)


CUT = datetime(2025, 3, 10, 14, 30, 0, 1)
_TITLES = [
    None, "", "   ", "\t", " CEO\n", "CEO\n", "Directeur Général", "DIRECTEUR GÉNÉRAL",
    "vice-président ventes", "Head of Sales", "İstanbul CEO", "ΣΑΣ manager", "co-founder & CTO",
    "Chef de projet", "stagiaire", "x" * 500, "SVP.sales", "ingénieur", "it", "IT manager",
    "data-analyst", "Sales (EMEA)", "ÉTUDIANT", "PhD student", "owner/founder",
]  # fmt: skip


def _edge_rows() -> dict[str, list[dict[str, Any]]]:
    accounts = [
        {"account_id": "A1", "industry": " SaaS ", "employee_count": 50, "annual_revenue": 1e6,
         "country": " fr ", "created_at": datetime(2020, 1, 1)},
        {"account_id": "A2", "created_at": datetime(2020, 1, 1)},
        {"account_id": "A3", "industry": "ÉNERGIE", "employee_count": 0, "annual_revenue": 0.0,
         "country": "", "created_at": datetime(1950, 1, 1)},
        {"account_id": "A4", "industry": "\tsoftware", "employee_count": 5000,
         "annual_revenue": 99_999_999.5, "country": "ß", "created_at": datetime(2020, 1, 1)},
        {"account_id": "A5", "industry": "Conseil", "employee_count": 1,
         "annual_revenue": 1e12, "country": "de", "created_at": datetime(2020, 1, 1)},
    ]  # fmt: skip
    contacts, events, stages = [], [], []
    domains = [None, "", " Gmail.com ", "mailinator.com", "acme.fr", "YOPMAIL.COM", "\tgmail.com"]
    sources = [None, "", " Webinar", "paid-search", "SEO", "true", "Oui", " 1", "x", "linkedin"]
    boundaries = [0, 1, 7, 14, 30, 37, 60, 90, 180, 365, 366]
    for i, title in enumerate(_TITLES):
        cid = f"C{i:02d}"
        contacts.append(
            {
                "contact_id": cid,
                "account_id": f"A{1 + i % 5}",
                "created_at": CUT - timedelta(days=400 - 13 * i, microseconds=i),
                "job_title": title,
                "email_domain": domains[i % len(domains)],
                "country": [None, " us", "FR ", "ß"][i % 4],
                "lead_source": sources[i % len(sources)],
            }
        )
        if i % 6 == 5:
            continue  # a contact without events
        for k, days in enumerate(boundaries):
            for shift in (-1, 0, 1):
                when = CUT - timedelta(days=days, microseconds=shift + i % 3)
                events.append(_event(cid, len(events), when, k + i, shift))
        midnight = CUT.replace(hour=0, minute=0, second=0, microsecond=0)
        for days in (0, 1, 2):
            events.append(_event(cid, len(events), midnight - timedelta(days=days), i, 0))
        burst = CUT - timedelta(hours=2 + i % 4)
        for n in range(4 + i % 4):
            events.append(_event(cid, len(events), burst + timedelta(minutes=n), i, 2))
    stage_plan = [
        [("lead", 300), ("mql", 200)], [("mql", 10)], [("sql", 50)], [("lead", 90), ("disqualified", 30)],
        [("disqualified", 100), ("lead", 20)], [("mql", 0)], [("customer", 5)], [],
    ]  # fmt: skip
    for i, contact in enumerate(contacts):
        for stage, days in stage_plan[i % len(stage_plan)]:
            when = CUT - timedelta(days=days, microseconds=i % 2)
            stages.append({"contact_id": contact["contact_id"], "changed_at": when, "stage": stage})
    return {"accounts": accounts, "contacts": contacts, "events": events, "stage_changes": stages}


_PAGES = ["/pricing", " /Pricing ", "/", "/fr", "/é", "/É", None, "", "  ", "/blog"]
_CATEGORIES = ["pricing", "PRICING ", "product", "blog", "ÉtÉ", "été", None, "", "\tblog"]
_TYPES = list(EventType)


def _event(cid: str, n: int, when: datetime, k: int, shift: int) -> dict[str, Any]:
    return {
        "event_id": f"E{n}",
        "contact_id": cid,
        "occurred_at": when,
        "event_type": _TYPES[(k + shift) % len(_TYPES)].value,
        "page_url": _PAGES[(k + 2 * shift) % len(_PAGES)],
        "page_category": _CATEGORIES[(k * 3 + shift) % len(_CATEGORIES)],
        "campaign": ["spring", None, " Spring "][k % 3],
    }


@pytest.mark.parametrize(
    "as_of",
    [
        CUT,
        CUT - timedelta(microseconds=1),
        CUT + timedelta(microseconds=1),
        CUT + timedelta(days=7),
        CUT.replace(hour=0, minute=0, second=0, microsecond=0),
        CUT.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1),
        CUT - timedelta(days=30, microseconds=1),
        CUT + timedelta(days=366),
    ],
)
def test_edge_cases(paths: tuple[PostedFeatures, PythonFeatures], as_of: datetime) -> None:
    assert assert_same_features(*paths, tables_of(_edge_rows()), as_of) > 0


def test_before_1970_and_from_stage_mql(definition: FeatureDefinition) -> None:
    """Negative microseconds floor to the previous day and hour as in DuckDB; the MQL-only
    population keeps the same contacts."""
    rows = _edge_rows()
    back = timedelta(days=365 * 60)
    for table, column in (("contacts", "created_at"), ("events", "occurred_at")):
        for row in rows[table]:
            row[column] -= back
    for row in rows["stage_changes"]:
        row["changed_at"] -= back
    for row in rows["accounts"]:
        row["created_at"] = datetime(1901, 1, 1)
    sql = PostedFeatures(definition, connections=1, from_stage="mql")
    try:
        python = PythonFeatures(definition, from_stage="mql")
        for as_of in (CUT - back, CUT - back - timedelta(days=3, microseconds=7)):
            assert assert_same_features(sql, python, tables_of(rows), as_of) > 0
    finally:
        sql.close()


def test_aware_as_of_is_read_as_utc(paths: tuple[PostedFeatures, PythonFeatures]) -> None:
    from datetime import timezone

    aware = (CUT + timedelta(hours=2)).replace(tzinfo=timezone(timedelta(hours=2)))
    sql, python = paths
    tables = tables_of(_edge_rows())
    assert python.table(tables, as_of=aware).equals(sql.table(tables, as_of=aware))


def test_empty_request_and_no_eligible_contact(
    paths: tuple[PostedFeatures, PythonFeatures],
) -> None:
    assert assert_same_features(*paths, tables_of({}), CUT) == 0
    rows = _edge_rows()
    assert assert_same_features(*paths, tables_of(rows), datetime(2000, 1, 1)) == 0


_MOMENTS = st.integers(-40 * 86_400, 3 * 86_400).map(lambda s: CUT + timedelta(seconds=s))
_EDGES = st.sampled_from([0, 1, 7, 30, 90, 365]).flatmap(
    lambda d: st.integers(-2, 2).map(lambda us: CUT - timedelta(days=d, microseconds=us))
)
_EVENTS = st.lists(
    st.tuples(
        st.sampled_from([0, 1, 2]),
        st.one_of(_MOMENTS, _EDGES),
        st.sampled_from(_TYPES),
        st.sampled_from(_PAGES),
        st.sampled_from(_CATEGORIES),
    ),
    max_size=40,
)
_STAGES = st.lists(
    st.tuples(
        st.sampled_from([0, 1, 2]), st.one_of(_MOMENTS, _EDGES), st.sampled_from(list(Stage))
    ),
    max_size=6,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    events=_EVENTS,
    stages=_STAGES,
    titles=st.lists(st.sampled_from(_TITLES), min_size=3, max_size=3),
)
def test_random_rows(
    paths: tuple[PostedFeatures, PythonFeatures],
    events: list[tuple[int, datetime, EventType, str | None, str | None]],
    stages: list[tuple[int, datetime, Stage]],
    titles: list[str | None],
) -> None:
    """A lead and two colleagues with random events and stages around window boundaries."""
    start = CUT - timedelta(days=800)
    rows: dict[str, list[dict[str, Any]]] = {
        "accounts": [{"account_id": "A", "created_at": start, "country": "FR"}],
        "contacts": [
            {
                "contact_id": f"C{i}",
                "account_id": "A",
                "job_title": t,
                "created_at": start + timedelta(days=1) if i < 2 else CUT - timedelta(days=1),
            }
            for i, t in enumerate(titles)
        ],
        "events": [
            {
                "event_id": f"E{n}",
                "contact_id": f"C{who}",
                "occurred_at": when,
                "event_type": kind.value,
                "page_url": page,
                "page_category": category,
            }
            for n, (who, when, kind, page, category) in enumerate(events)
        ],
        "stage_changes": [
            {"contact_id": f"C{who}", "changed_at": when, "stage": stage.value}
            for who, when, stage in stages
        ],
    }
    assert_same_features(*paths, tables_of(rows), CUT)


def test_text_functions_equal_duckdb() -> None:
    """trim, lower and upper equal DuckDB's on every code point and on mixed strings."""
    import duckdb

    samples = [
        "".join(
            chr(c) for c in range(start, min(start + 4000, 0x110000)) if not 0xD800 <= c <= 0xDFFF
        )
        for start in range(0, 0x110000, 4000)
    ]
    samples += ["  \tMiXeD Çà ß İ Σ  ", " ", "", "ǅ ǈ ǋ ﬀ ŉ", "\n x \n"]
    con = duckdb.connect()
    try:
        for text in samples:
            row = con.execute("SELECT lower($1), upper($1), trim($1)", [text]).fetchone()
            assert row == (duck_lower(text), duck_upper(text), duck_trim(text))
    finally:
        con.close()


def test_numbers_read_as_duckdb_or_refused() -> None:
    """A text read as a number: DuckDB's value, or :class:`Unmirrored` (the SQL path runs)."""
    import duckdb

    from leadscore.features.python_custom import _as_double

    texts = ["1", "1.", ".5", "+1", "-0", "1e3", "1E-3", "007", "1e400", "abc", "", " 1", "1_0"]
    texts += [" ", "e", ".", "-", "N/A", "null", "true", "€", "INF", "-nan", "info", "\u0131nf"]
    refused = 0
    con = duckdb.connect()
    try:
        for text in texts:
            want = con.execute("SELECT TRY_CAST($1 AS DOUBLE)", [text]).fetchone()
            try:
                got = _as_double(text)
            except Unmirrored:
                refused += 1
                continue
            assert want == (got,), text
    finally:
        con.close()
    assert refused <= 8  # most texts are read here, the odd ones go to DuckDB


def test_definition_file_is_untouched(tmp_path: Path) -> None:
    """The evaluator reads the definition only (no learned values are written)."""
    definition = full_definition()
    before = definition.model_dump_json()
    PythonFeatures(definition)
    assert definition.model_dump_json() == before


def test_numeric_column_over_text() -> None:
    """A numeric column feature reading a text column: numbers and non-numbers as DuckDB."""
    from leadscore.features import load_definition

    spec = {
        "name": "title_number", "kind": "column", "table": "contacts", "column": "job_title",
        "concept": "profile_fit", "type": "numeric", "explanation": "{value}",
    }  # fmt: skip
    definition = load_definition({"include": ["is_mql", "title_number"], "add": [spec]})
    rows = _edge_rows()
    texts = ["1", "2.5", "abc", None, "", "-3e2", ".5", "007", "x y", "N/A", "+4", "1e-3"]
    for i, contact in enumerate(rows["contacts"]):
        contact["job_title"] = texts[i % len(texts)]
    sql = PostedFeatures(definition, connections=1)
    try:
        assert assert_same_features(sql, PythonFeatures(definition), tables_of(rows), CUT) > 0
    finally:
        sql.close()
