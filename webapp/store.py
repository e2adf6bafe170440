"""Sessions persisted in SQLite as an action log, with live Session objects cached in memory.

The engine is deterministic, so a session is fully described by how it was created plus the
ordered actions applied to it. Each action is committed before it is acknowledged; a session
missing from the cache (restart, eviction, crash) is rebuilt by replaying its log.
One process per database file: the cache is not shared between processes.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Literal

from engine.errors import InvalidInput
from engine.session import Session

from .errors import ReplayError, SessionNotFound

ActionKind = Literal["step", "run"]
Count = int | str  # a positive int, or "all"
SessionFactory = Callable[..., Session]

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id            TEXT PRIMARY KEY,
    created       TEXT NOT NULL,
    scenario_json TEXT NOT NULL,  -- JSON of what Session.create got: null, an object or YAML text
    xen           TEXT            -- the xen override given at creation, or NULL
);
CREATE TABLE IF NOT EXISTS steps (
    session_id TEXT NOT NULL REFERENCES sessions(id),
    n          INTEGER NOT NULL,   -- 1, 2, ... per session: replay order
    kind       TEXT NOT NULL CHECK (kind IN ('step', 'run')),
    step_json  TEXT NOT NULL,      -- 'step': the step object; 'run': the count given to run_next
    seq        INTEGER NOT NULL,   -- the session's seq after the action, checked on replay
    PRIMARY KEY (session_id, n)
);
"""


class SessionStore:
    """Creates, persists and caches sessions. Use `checkout` to act on a session: it holds
    that session's lock, so callers can apply, `record` and broadcast as one unit."""

    def __init__(
        self,
        database: str,
        factory: SessionFactory = Session.create,
        cache_size: int = 64,
    ) -> None:
        self._factory = factory
        self._cache_size = cache_size
        self._cache: OrderedDict[str, Session] = OrderedDict()
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()  # protects _cache and _locks
        self._db_lock = threading.Lock()  # one connection, used from many threads
        # Writes go through `with self._db:`, one transaction committed on exit.
        self._db = sqlite3.connect(database, check_same_thread=False)
        if database != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit survives power loss too, not only kill -9; steps are interactive.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._db_lock:
            self._db.close()

    def create(self, scenario: Any = None, xen: str | None = None) -> tuple[str, Session]:
        """Build a session (InvalidInput propagates and nothing is stored) and persist it."""
        scenario_json = json.dumps(scenario)  # before the engine sees it, in case it mutates
        session = self._factory(scenario=scenario, xen=xen)
        session_id = secrets.token_urlsafe(8)
        created = datetime.now(UTC).isoformat(timespec="seconds")
        with self._db_lock, self._db:
            self._db.execute(
                "INSERT INTO sessions (id, created, scenario_json, xen) VALUES (?, ?, ?, ?)",
                (session_id, created, scenario_json, xen),
            )
        self._remember(session_id, session)
        return session_id, session

    @contextmanager
    def checkout(self, session_id: str) -> Iterator[Session]:
        """Hold the session's lock and yield its live object (replayed if not cached).
        If the body raises anything but a clean engine rejection, the cached object may be
        half-changed, so it is dropped and the next checkout replays the committed log."""
        with self._lock_for(session_id):
            session = self._cached(session_id)
            if session is None:
                session = self._replay(session_id)
            try:
                yield session
            except BaseException as exc:
                if not _is_clean_rejection(exc):
                    self.forget(session_id)
                raise

    def record(self, session_id: str, kind: ActionKind, body_json: str, seq: int) -> None:
        """Commit one applied action (`body_json`: the step or count as JSON text). Call
        inside `checkout` of the same session."""
        with self._db_lock, self._db:
            (n,) = self._db.execute(
                "SELECT COALESCE(MAX(n), 0) + 1 FROM steps WHERE session_id = ?", (session_id,)
            ).fetchone()
            self._db.execute(
                "INSERT INTO steps (session_id, n, kind, step_json, seq) VALUES (?, ?, ?, ?, ?)",
                (session_id, n, kind, body_json, seq),
            )

    def forget(self, session_id: str) -> None:
        """Drop the cached object; the next checkout rebuilds it from the database."""
        with self._guard:
            self._cache.pop(session_id, None)

    def _lock_for(self, session_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(session_id, threading.Lock())

    def _cached(self, session_id: str) -> Session | None:
        with self._guard:
            session = self._cache.get(session_id)
            if session is not None:
                self._cache.move_to_end(session_id)
            return session

    def _remember(self, session_id: str, session: Session) -> None:
        with self._guard:
            self._cache[session_id] = session
            self._cache.move_to_end(session_id)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def _load_header(self, session_id: str) -> tuple[str, str | None] | None:
        with self._db_lock:
            return self._db.execute(
                "SELECT scenario_json, xen FROM sessions WHERE id = ?", (session_id,)
            ).fetchone()

    def _replay(self, session_id: str) -> Session:
        header = self._load_header(session_id)
        if header is None:
            raise SessionNotFound(session_id)
        scenario_json, xen = header
        with self._db_lock:
            rows = self._db.execute(
                "SELECT n, kind, step_json, seq FROM steps WHERE session_id = ? ORDER BY n",
                (session_id,),
            ).fetchall()
        session = self._factory(scenario=json.loads(scenario_json), xen=xen)
        for n, kind, body_json, seq in rows:
            body = json.loads(body_json)
            try:
                if kind == "step":
                    session.apply(body)
                else:
                    run_next(session, body)
            except Exception as exc:
                raise ReplayError(
                    f"session {session_id}: action {n} ({kind}) failed on replay: {exc}"
                ) from exc
            if session.seq != seq:
                raise ReplayError(
                    f"session {session_id}: action {n} ({kind}) ended at seq {session.seq}"
                    f" on replay, {seq} when recorded"
                )
        self._remember(session_id, session)
        return session


def _is_clean_rejection(exc: BaseException) -> bool:
    # InvalidInput is documented to change nothing; the web layer's own lookups change
    # nothing either. Anything else may have left the engine object half-updated.
    return isinstance(exc, InvalidInput | SessionNotFound)


def run_next(session: Session, count: Count) -> list[dict[str, Any]]:
    """Session.run_next with the protocol's count: the engine spells "all" as None."""
    return session.run_next(None if count == "all" else int(count))
