"""The lead inbox for reps: server-rendered pages on the API app (``/``, ``/leads/{id}``,
``/feedback/report``, ``/login``).

Leads by grade with score, fit and engagement, trend and top reasons; filters by grade, owner,
segment (:mod:`leadscore.serving.facets`), dates scored and verdict (a plain GET form); a lead's page with its reasons, history and an Accept / Reject form (reason from a
configurable list plus free text). Verdicts are recorded with the rep, the model version and
the exact grade and reasons of the score the page showed. Plain HTML forms: no JavaScript
needed. Pages need a session (see :mod:`leadscore.serving.auth`); every form needs its CSRF
token.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

import pandas as pd
from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from leadscore.contract import Verdict
from leadscore.serving.auth import (
    LOGIN_COOKIE,
    LOGIN_SECONDS,
    SESSION_COOKIE,
    Sessions,
    user_for_token,
)
from leadscore.serving.feedback_report import feedback_report
from leadscore.serving.leads import (
    STATUSES,
    InboxFilter,
    facet_values,
    inbox_leads,
    lead_detail,
)
from leadscore.serving.store import ScoreStore

__all__ = ["DEFAULT_REJECT_REASONS", "inbox_router"]

DEFAULT_REJECT_REASONS: Mapping[str, str] = {
    "bad_fit": "Bad fit",
    "no_budget": "No budget",
    "student": "Student",
    "competitor": "Competitor",
    "spam_bot": "Spam or bot",
    "customer": "Already a customer",
    "timing": "Wrong timing",
    "other": "Other (say why below)",
}
"""Reasons a rep rejects a lead for (code: label); ``create_app(reject_reasons=...)`` sets
others. The code is stored as the verdict's ``reason``."""

_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
_MAX_FORM_BYTES = 10_000
_PAGE = 50


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("leadscore.serving", "templates"),
        autoescape=select_autoescape(["html"]),
    )
    env.filters["pct"] = lambda v: "" if v is None or v != v else f"{100 * float(v):.1f}%"
    env.filters["num"] = lambda v: "" if v is None or v != v else f"{float(v):.0f}"
    return env


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > _MAX_FORM_BYTES:
        raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "Form too large.")
    fields = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {k: v[0] for k, v in fields.items()}


def _since(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _local(target: str) -> str:
    """``target`` if it is a path on this site, else ``/`` (no open redirect: ``//host`` and
    ``/\\host`` are other sites to a browser)."""
    if not target.startswith("/") or target.startswith(("//", "/\\")) or not target.isprintable():
        return "/"
    return target


def inbox_router(
    store: ScoreStore,
    sessions: Sessions,
    *,
    reject_reasons: Mapping[str, str] = DEFAULT_REJECT_REASONS,
) -> APIRouter:
    """The inbox pages reading and writing ``store``."""
    env = _environment()
    router = APIRouter(include_in_schema=False)
    reasons = dict(reject_reasons)

    def page(request: Request, template: str, code: int = 200, **context: Any) -> HTMLResponse:
        cookie = request.cookies.get(SESSION_COOKIE)
        user = sessions.user(cookie)
        html = env.get_template(template).render(
            user=user,
            csrf=sessions.csrf(cookie) if cookie and user else "",
            reasons=reasons,
            **context,
        )
        return HTMLResponse(html, status_code=code, headers=_HEADERS)

    def user_of(request: Request) -> str | None:
        return sessions.user(request.cookies.get(SESSION_COOKIE))

    def to_login(request: Request) -> RedirectResponse:
        target = quote(request.url.path, safe="/")
        return RedirectResponse(f"/login?next={target}", status_code=303)

    def login_form(request: Request, code: int = 200, **context: Any) -> HTMLResponse:
        """The login page with a fresh pre-login nonce cookie and its matching form token."""
        nonce = secrets.token_urlsafe(16)
        response = page(
            request, "login.html", code, login_csrf=sessions.login_token(nonce), **context
        )
        response.set_cookie(
            LOGIN_COOKIE,
            nonce,
            max_age=LOGIN_SECONDS,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/login",
        )
        return response

    @router.get("/login", response_class=HTMLResponse)
    def login_page(request: Request, next: str = "/") -> Response:
        return login_form(request, next=_local(next))

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = await _form(request)
        target = _local(form.get("next", "/"))
        if not sessions.login_ok(request.cookies.get(LOGIN_COOKIE), form.get("login_csrf")):
            error = "This login form expired or was not sent from this site: log in again here."
            return login_form(request, 403, error=error, next=target)
        user = user_for_token(store, form.get("token", "").strip())
        if user is None:
            return login_form(request, 401, error="Unknown token.", next=target)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            sessions.issue(user),
            max_age=sessions.max_age,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        response.delete_cookie(LOGIN_COOKIE, path="/login")
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        form = await _form(request)
        if not sessions.csrf_ok(request.cookies.get(SESSION_COOKIE), form.get("csrf")):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "Missing or wrong CSRF token.")
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @router.get("/", response_class=HTMLResponse)
    def inbox(
        request: Request,
        grade: str | None = None,
        owner: str | None = None,
        segment: str | None = None,
        since: str | None = None,
        until: str | None = None,
        status_name: str = Query("all", alias="status"),
        page_number: int = Query(1, alias="page"),
    ) -> Response:
        user = user_of(request)
        if user is None:
            return to_login(request)
        number = max(1, page_number)
        last_day = _since(until)
        where = InboxFilter(
            grade=grade or None,
            owner=owner or None,
            segment=segment or None,
            since=_since(since),
            until=last_day + timedelta(days=1) if last_day is not None else None,
            status=status_name if status_name in STATUSES else "all",
            limit=_PAGE,
            offset=(number - 1) * _PAGE,
        )
        leads, total = inbox_leads(store, where)
        chosen = {
            "grade": where.grade,
            "owner": where.owner,
            "segment": where.segment,
            "since": since,
            "until": until,
            "status": where.status,
        }
        return page(
            request,
            "inbox.html",
            leads=leads,
            total=total,
            where=where,
            since=since or "",
            until=until or "",
            facets=facet_values(store),
            filter_query=urlencode({k: v for k, v in chosen.items() if v}),
            page_number=number,
            pages=max(1, -(-total // _PAGE)),
            statuses=STATUSES,
        )

    @router.get("/leads/{contact_id}", response_class=HTMLResponse)
    def lead(request: Request, contact_id: str, saved: str | None = None) -> Response:
        if user_of(request) is None:
            return to_login(request)
        found, verdicts = lead_detail(store, contact_id)
        if found is None:
            return page(request, "missing.html", 404, contact_id=contact_id)
        rows: list[dict[str, Any]] = verdicts.to_dict("records")  # type: ignore[assignment]
        for row in rows:
            row["reason"] = reasons.get(str(row["reason"]), row["reason"])
            row["note"] = None if pd.isna(row["note"]) else row["note"]
        return page(request, "lead.html", lead=found, verdicts=rows, saved=saved)

    @router.post("/leads/{contact_id}/feedback")
    async def give_feedback(request: Request, contact_id: str) -> Response:
        cookie = request.cookies.get(SESSION_COOKIE)
        user = sessions.user(cookie)
        if user is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Log in to record feedback.")
        form = await _form(request)
        if not sessions.csrf_ok(cookie, form.get("csrf")):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "Missing or wrong CSRF token.")
        found, _ = lead_detail(store, contact_id)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "This contact has no stored score.")
        verdict = form.get("verdict", "")
        reason = form.get("reason") or None
        note = (form.get("note") or "").strip()[:1000] or None
        problem = None
        if verdict not in (Verdict.ACCEPTED.value, Verdict.REJECTED.value):
            problem = "Choose Accept or Reject."
        elif verdict == Verdict.REJECTED.value and reason not in reasons:
            problem = "Choose the reason for rejecting this lead."
        elif reason == "other" and note is None:
            problem = "Say why in the note when the reason is Other."
        elif form.get("shown") != found.scored_at.isoformat():
            problem = "The lead was scored again since you opened it: check the new score."
        if problem is not None:
            return page(request, "lead.html", 422, lead=found, verdicts=[], error=problem)
        store.add_feedback(
            contact_id,
            verdict,
            reason=reason if verdict == Verdict.REJECTED.value else None,
            note=note,
            rep=user,
            model_version=found.model_version,
            grade=found.grade,
            reasons_shown=found.reasons_positive,
        )
        return RedirectResponse(
            f"/leads/{quote(contact_id, safe='')}?saved={verdict}", status_code=303
        )

    @router.get("/feedback/report", response_class=HTMLResponse)
    def report(request: Request) -> Response:
        if user_of(request) is None:
            return to_login(request)
        return page(request, "report.html", report=feedback_report(store))

    return router
