"""Scoring commands: ``score``, ``explain``, ``serve`` (parse and print only)."""

from __future__ import annotations

from pathlib import Path

import typer

from leadscore.cli import engine_options as engine_opt
from leadscore.cli import flat_output, output
from leadscore.cli import options as opt
from leadscore.pipeline.defaults import (
    DEFAULT_DEMO_CRM,
    DEFAULT_FLAT_SCORES_OUT,
    DEFAULT_SCORES_OUT,
    DEFAULT_STORE_OPTION,
)

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``score``, ``explain`` and ``serve`` to ``app``."""
    app.command()(score)
    app.command()(explain)
    app.command()(serve)


def score(
    source: opt.ScoreSource = str(DEFAULT_DEMO_CRM),
    model: opt.Model = "champion",
    out: opt.ScoresOut = None,
    store: opt.HistoryStore = DEFAULT_STORE_OPTION,
    record: opt.Record = None,
    chunk_size: opt.ChunkSize = 50_000,
    as_of: opt.ScoreAsOf = None,
    config: opt.Config = None,
    tracking_uri: opt.Tracking = None,
    engine: engine_opt.EngineOption = "duckdb",
    master: engine_opt.MasterOption = None,
) -> None:
    """Score the whole contact base with grades and reasons; append to the score history.
    A flat export (leads.csv) is scored row by row with a flat model."""
    from leadscore.pipeline import (
        FlatScoreSpec,
        ScoreSpec,
        is_flat_file,
        score_flat_step,
        score_step,
    )

    if is_flat_file(source):
        flat_out = out if out is not None else DEFAULT_FLAT_SCORES_OUT
        spec_flat = FlatScoreSpec(
            table=Path(source), model=model, out=flat_out, tracking_uri=tracking_uri
        )
        flat_output.print_flat_score(score_flat_step(spec_flat))
        return

    spec = ScoreSpec(
        source=source,
        model=model,
        out=out if out is not None else DEFAULT_SCORES_OUT,
        store=store,
        record=record,
        chunk_size=chunk_size,
        as_of=as_of,
        config=config,
        tracking_uri=tracking_uri,
        engine=engine,
        master=master,
    )
    with output.Bars() as bars:
        scored = score_step(spec, progress=bars)
    output.print_score(scored)


def explain(
    contact_id: opt.ContactId,
    source: opt.ExplainCrm = str(DEFAULT_DEMO_CRM),
    model: opt.Model = "champion",
    as_of: opt.ExplainAsOf = None,
    config: opt.Config = None,
    tracking_uri: opt.Tracking = None,
    table: opt.ExplainTable = None,
) -> None:
    """One lead's score, grade and top reasons, in words (a CRM contact, or a row of --table)."""
    from leadscore.pipeline import ExplainSpec, FlatExplainSpec, explain_flat_step, explain_step

    if table is not None:
        flat = FlatExplainSpec(
            row_id=contact_id, table=table, model=model, tracking_uri=tracking_uri
        )
        flat_output.print_flat_explanation(explain_flat_step(flat))
        return

    spec = ExplainSpec(
        contact_id=contact_id,
        source=source,
        model=model,
        as_of=as_of,
        config=config,
        tracking_uri=tracking_uri,
    )
    output.print_explanation(explain_step(spec))


def serve(
    model: opt.Model = "champion",
    host: opt.Host = "127.0.0.1",
    port: opt.Port = 8000,
    store: opt.ServeStore = DEFAULT_STORE_OPTION,
    tracking_uri: opt.Tracking = None,
    crm: opt.ServeCrm = None,
    follow_seconds: opt.FollowSeconds = 5.0,
) -> None:
    """Run the HTTP scorer (API key from $LEADSCORE_API_KEY; OpenAPI docs at /docs). A served
    alias is followed: after `promote` the API scores with the new version within
    --follow-seconds."""
    from leadscore.serving.api import serve as run_server

    run_server(
        model,
        host=host,
        port=port,
        tracking_uri=tracking_uri,
        store=store,
        crm=crm,
        follow_seconds=follow_seconds,
    )
