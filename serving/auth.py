"""Logins for people (the inbox): per-user tokens stored hashed, signed session cookies, CSRF.

Machines keep the ``X-API-Key`` header; people log in once with their own token (made by
``leadscore users add NAME``, shown once, stored as its SHA-256 only) and get a session cookie:
HttpOnly, SameSite=Strict, Secure when the request came over TLS. The cookie is signed (HMAC
SHA-256) with a secret derived from the API key, so every API worker sharing the key accepts
it, and it expires after :data:`SESSION_SECONDS`. Each form carries a CSRF token bound to the
session (an HMAC of the cookie): a forged form from another site has neither.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time

from leadscore.clock import utc_now
from leadscore.errors import ConfigError
from leadscore.serving.store import ScoreStore

__all__ = [
    "LOGIN_COOKIE",
    "LOGIN_SECONDS",
    "SESSION_COOKIE",
    "SESSION_SECONDS",
    "Sessions",
    "add_user",
    "user_for_token",
    "users",
]

SESSION_COOKIE = "leadscore_session"
SESSION_SECONDS = 12 * 3600
LOGIN_COOKIE = "leadscore_login"
"""The pre-login nonce cookie the login form's token is bound to (login CSRF)."""
LOGIN_SECONDS = 3600
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_user(store: ScoreStore, name: str) -> str:
    """Create user ``name`` (or give them a new token) and return the token, which only its
    SHA-256 is stored of: show it once."""
    if not _NAME.fullmatch(name):
        raise ConfigError(
            f"User name {name!r} is not valid: use 1 to 64 letters, digits or . _ @ - (e.g. "
            "jane.doe)."
        )
    token = secrets.token_urlsafe(24)
    with store.connection() as con:
        con.execute(
            "INSERT INTO users (name, token_sha256, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET token_sha256 = excluded.token_sha256, "
            "created_at = excluded.created_at",
            [name, _digest(token), utc_now().replace(tzinfo=None)],
        )
    return token


def users(store: ScoreStore) -> list[str]:
    """The user names, sorted."""
    with store.connection(read_only=True) as con:
        return [
            str(r[0])
            for r in con.execute(
                f"SELECT name FROM users ORDER BY name{con.sql.by_code}"
            ).fetchall()
        ]


def user_for_token(store: ScoreStore, token: str) -> str | None:
    """The user whose token this is, ``None`` for an unknown token."""
    if not token or len(token) > 200:
        return None
    digest = _digest(token)
    with store.connection(read_only=True) as con:
        rows = con.execute("SELECT name, token_sha256 FROM users").fetchall()
    for name, stored in rows:
        if hmac.compare_digest(str(stored), digest):
            return str(name)
    return None


class Sessions:
    """Signed, expiring session cookies and the CSRF tokens bound to them."""

    def __init__(self, secret: bytes, *, max_age: int = SESSION_SECONDS) -> None:
        self._key = hmac.new(secret, b"leadscore inbox sessions", hashlib.sha256).digest()
        self.max_age = max_age

    def _sign(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()

    def issue(self, user: str) -> str:
        """A new session cookie value for ``user``."""
        name = base64.urlsafe_b64encode(user.encode()).decode()
        payload = f"{name}.{int(time.time()) + self.max_age}.{secrets.token_urlsafe(8)}"
        return f"{payload}.{self._sign(payload)}"

    def user(self, cookie: str | None) -> str | None:
        """The user of a valid, unexpired session cookie, else ``None``."""
        if not cookie or cookie.count(".") != 3:
            return None
        payload, _, signature = cookie.rpartition(".")
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        name, expiry, _nonce = payload.split(".")
        if not expiry.isdigit() or int(expiry) < time.time():
            return None
        try:
            return base64.urlsafe_b64decode(name.encode()).decode()
        except ValueError:
            return None

    def csrf(self, cookie: str) -> str:
        """The CSRF token of the session ``cookie`` (put in every form)."""
        return self._sign(f"csrf|{cookie}")

    def login_token(self, nonce: str) -> str:
        """The token the login form carries for the pre-login ``nonce`` cookie (login CSRF: a
        form posted from another site has neither the cookie nor a matching token)."""
        return self._sign(f"login|{nonce}")

    def login_ok(self, nonce: str | None, token: str | None) -> bool:
        """Whether the login form's ``token`` matches the browser's pre-login ``nonce``."""
        if not nonce or not token:
            return False
        return hmac.compare_digest(token, self.login_token(nonce))

    def csrf_ok(self, cookie: str | None, token: str | None) -> bool:
        """Whether ``token`` is the CSRF token of the valid session ``cookie``."""
        if cookie is None or token is None or self.user(cookie) is None:
            return False
        return hmac.compare_digest(token, self.csrf(cookie))
