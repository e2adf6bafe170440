"""Presenter and followers: who may change a shared session.

Creating a session issues a capability token: whoever holds it is the presenter and may apply
steps, run the script and (later) fork or switch variant; everyone else who knows the id is a
follower and may only watch. Only a hash of the token is stored (table `session_tokens`,
beside the session), so the database alone cannot be used to drive a session. Sessions
stored before tokens existed have no row and stay open to all, as they were.

The token travels as `Authorization: Bearer <token>` (REST) or as `token` in a Socket.IO
event's payload or the connection's `auth` object; the page keeps it in the URL fragment
(`#token=...`), which browsers never send to the server, so it appears in no request line,
Referer or access log.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from engine.errors import InvalidInput

from .store import SessionStore

TABLE = """CREATE TABLE IF NOT EXISTS session_tokens (
    session_id TEXT PRIMARY KEY REFERENCES sessions(id),
    token_hash TEXT NOT NULL  -- sha256 hex of the presenter token (the token is not kept)
)"""

TOKEN_BYTES = 32   # 256 bits: no guessing, even at many attempts a second
MAX_TOKEN_CHARS = 128


class NotPresenter(Exception):
    """The request would change a session but does not carry its presenter token."""

    field = "token"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def token_hash(token: str) -> str:
    # A plain digest suffices: the token is 256 random bits, not a password.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_token(value: Any) -> str | None:
    """A token as given by a client: None when absent; bad shapes name the field."""
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_TOKEN_CHARS:
        raise InvalidInput("token", f"must be a string of 1-{MAX_TOKEN_CHARS} characters")
    return value


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None without one."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise InvalidInput("token", "the Authorization header must be 'Bearer <token>'")
    return parse_token(value.strip() or None)


class Roles:
    """Issues and checks presenter tokens, stored in the session database."""

    def __init__(self, store: SessionStore) -> None:
        self.store = store
        with store.transaction() as db:
            db.execute(TABLE)  # additive: older databases simply gain the table

    def issue(self, session_id: str) -> str:
        """A new presenter token for a session just created; returned once, never stored."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        with self.store.transaction() as db:
            db.execute("INSERT INTO session_tokens (session_id, token_hash) VALUES (?, ?)",
                       (session_id, token_hash(token)))
        return token

    def _stored_hash(self, session_id: str) -> str | None:
        with self.store.transaction() as db:
            row = db.execute("SELECT token_hash FROM session_tokens WHERE session_id = ?",
                             (session_id,)).fetchone()
        return None if row is None else str(row[0])

    def is_presenter(self, session_id: str, token: str | None) -> bool:
        stored = self._stored_hash(session_id)
        if stored is None:
            return True  # a session from before tokens: open, as it always was
        if token is None:
            return False
        return hmac.compare_digest(stored, token_hash(token))

    def require(self, session_id: str, token: str | None) -> None:
        """Refuse (NotPresenter) unless `token` is this session's presenter token."""
        if self.is_presenter(session_id, token):
            return
        if token is None:
            raise NotPresenter("this is a follower's (read-only) link: only the presenter, "
                               "whose link carries the session's token, may change it")
        raise NotPresenter("this token is not the session's presenter token; nothing changed")


def links(base_url: str, session_id: str, token: str) -> dict[str, str]:
    """The presenter link keeps its token in the fragment, which is never sent to a server."""
    follower = f"{base_url.rstrip('/')}/?session={session_id}"
    return {"presenter": f"{follower}#token={token}", "follower": follower}
