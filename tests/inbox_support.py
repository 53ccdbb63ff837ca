"""A real inbox: the serving model's CRM batch-scored into a store, a rep with a token, the
app on uvicorn at 127.0.0.1 (shared by the inbox's HTTP and browser tests)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from leadscore.serving import ScoreStore, score_contact_base
from leadscore.serving.auth import add_user
from tests.test_serving_api import running
from tests.test_serving_support import API_KEY, ServingModel


@dataclass(frozen=True)
class Inbox:
    url: str
    store: ScoreStore
    token: str
    user: str = "ann.rep"


@contextmanager
def inbox(model: ServingModel, folder: Path) -> Iterator[Inbox]:
    """The app serving ``model`` with a batch-scored store in ``folder`` and rep ``ann.rep``."""
    from leadscore.serving.api import create_app

    store = ScoreStore(folder / "scores.duckdb")
    score_contact_base(
        model.crm_path,
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
        crm=model.crm_path,
    )
    with running(app) as url:
        yield Inbox(url=url, store=store, token=token)
