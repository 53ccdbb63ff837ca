"""A real inbox: the serving model's CRM (plus lead owners and segments) batch-scored into a store, a rep with a token, the
app on uvicorn at 127.0.0.1 (shared by the inbox's HTTP and browser tests)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from leadscore.serving import ScoreStore, score_contact_base
from leadscore.serving.auth import add_user
from tests.test_serving_api import running
from tests.test_serving_support import API_KEY, ServingModel


@dataclass(frozen=True)
class Inbox:
    url: str
    store: ScoreStore
    token: str
    crm: Path
    user: str = "ann.rep"


OWNERS = ("ann.rep", "bob.rep")
SEGMENTS = ("enterprise", "smb")


def crm_with_owners(source: Path, folder: Path) -> Path:
    """A copy of the CRM ``source`` whose contacts have an ``owner`` (the CRM's lead owner)
    and whose accounts have a ``segment``: extra columns, as a CRM export carries them."""
    crm = folder / "crm.duckdb"
    shutil.copyfile(source, crm)
    with duckdb.connect(str(crm)) as con:
        con.execute("ALTER TABLE contacts ADD COLUMN owner VARCHAR")
        con.execute(
            f"UPDATE contacts SET owner = CASE WHEN hash(contact_id) % 3 = 0 "
            f"THEN '{OWNERS[0]}' ELSE '{OWNERS[1]}' END"
        )
        con.execute("ALTER TABLE accounts ADD COLUMN segment VARCHAR")
        con.execute(
            f"UPDATE accounts SET segment = CASE WHEN employee_count >= 200 "
            f"THEN '{SEGMENTS[0]}' ELSE '{SEGMENTS[1]}' END"
        )
    return crm


@contextmanager
def inbox(
    model: ServingModel, folder: Path, store_location: Path | str | None = None
) -> Iterator[Inbox]:
    """The app serving ``model`` with a batch-scored store (``store_location``, default a
    DuckDB file in ``folder``) and rep ``ann.rep``."""
    from leadscore.serving.api import create_app

    crm = crm_with_owners(model.crm_path, folder)
    store = ScoreStore(store_location or folder / "scores.duckdb")
    score_contact_base(
        crm,
        "champion",
        folder / "scores.parquet",
        tracking_uri=model.tracking_uri,
        store=store,
        as_of=model.as_of,
    )
    token = add_user(store, "ann.rep")
    app = create_app(
        "champion",
        tracking_uri=model.tracking_uri,
        store=store,
        api_key=API_KEY,
        crm=crm,
    )
    with running(app) as url:
        yield Inbox(url=url, store=store, token=token, crm=crm)
