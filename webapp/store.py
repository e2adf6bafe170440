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
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Literal

from engine.errors import InvalidInput
from engine.session import Session

from . import schema, sizing
from .errors import ReplayError, SessionNotFound, StorageUnavailable
from .limits import LimitExceeded

ActionKind = Literal["step", "run"]
Count = int | str  # a positive int, or "all"
SessionFactory = Callable[..., Session]



class _SessionLock:
    """A lock that can be weakly referenced: the lock table forgets a session's lock as soon
    as nobody holds or waits for it, so unknown ids cannot grow it."""

    __slots__ = ("lock", "__weakref__")

    def __init__(self) -> None:
        self.lock = threading.Lock()


@contextmanager
def storage_errors() -> Iterator[None]:
    """SQLite's operational errors (disk full, read-only, corrupt, locked) as a
    StorageUnavailable that says which; the transaction was rolled back."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        raise StorageUnavailable(f"the session database is unavailable: {exc}") from exc


class SessionStore:
    """Creates, persists and caches sessions. Use `checkout` to act on a session: it holds
    that session's lock, so callers can apply, `record` and broadcast as one unit."""

    def __init__(
        self,
        database: str,
        factory: SessionFactory = Session.create,
        cache_size: int = 64,
        cache_bytes: int | None = None,
    ) -> None:
        self._factory = factory
        self._cache_size = cache_size
        self._cache_bytes = cache_bytes
        self._cache: OrderedDict[str, Session] = OrderedDict()
        self._sizes: dict[str, int] = {}  # estimated bytes of each cached session
        self._locks: weakref.WeakValueDictionary[str, _SessionLock] = (
            weakref.WeakValueDictionary())
        self._guard = threading.Lock()  # protects _cache, _sizes and _locks
        self._db_lock = threading.Lock()  # one connection, used from many threads
        # Writes go through `with self._db:`, one transaction committed on exit.
        self._db = schema.open_database(database)

    def close(self) -> None:
        with self._db_lock:
            self._db.close()

    def count_sessions(self) -> int:
        with self._db_lock, storage_errors():
            return int(self._db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0])

    def create(self, scenario: Any = None, xen: str | None = None,
               max_bytes: int | None = None) -> tuple[str, Session]:
        """Build a session (InvalidInput propagates and nothing is stored) and persist it."""
        scenario_json = json.dumps(scenario)  # before the engine sees it, in case it mutates
        session = self._factory(scenario=scenario, xen=xen)
        size = sizing.session_bytes(session)
        if max_bytes is not None and size > max_bytes:
            raise LimitExceeded("scenario", "max_session_bytes", max_bytes,
                                f"this session would take about {size} bytes of memory")
        session_id = secrets.token_urlsafe(8)
        created = datetime.now(UTC).isoformat(timespec="seconds")
        with self._db_lock, storage_errors(), self._db:
            self._db.execute(
                "INSERT INTO sessions (id, created, scenario_json, xen) VALUES (?, ?, ?, ?)",
                (session_id, created, scenario_json, xen),
            )
        self._remember(session_id, session, size)
        return session_id, session

    @contextmanager
    def checkout(self, session_id: str) -> Iterator[Session]:
        """Hold the session's lock and yield its live object (replayed if not cached).
        If the body raises anything but a clean engine rejection, the cached object may be
        half-changed, so it is dropped and the next checkout replays the committed log."""
        if not _plausible_id(session_id):
            raise SessionNotFound(session_id)
        holder = self._lock_for(session_id)
        with holder.lock:
            session = self._cached(session_id)
            if session is None:
                session = self._replay(session_id)
            try:
                yield session
            except BaseException as exc:
                if not _is_clean_rejection(exc):
                    self.forget(session_id)
                raise

    def record(self, session_id: str, kind: ActionKind, body_json: str, seq: int,
               events: list[dict[str, Any]] | None = None) -> None:
        """Commit one applied action (`body_json`: the step or count as JSON text; `events`:
        what it produced, for the cache's accounting). Call inside `checkout` of the same
        session; if the commit fails the caller's checkout drops the changed object."""
        with self._guard:
            if session_id in self._sizes:
                self._sizes[session_id] += sum(sizing.event_bytes(e) for e in events or ())
        with self._db_lock, storage_errors(), self._db:
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
            self._sizes.pop(session_id, None)

    def cache_usage(self) -> dict[str, int]:
        """Sessions and estimated bytes held in memory, and the size of the lock table."""
        with self._guard:
            return {"sessions": len(self._cache), "bytes": sum(self._sizes.values()),
                    "locks": len(self._locks)}

    def _lock_for(self, session_id: str) -> _SessionLock:
        with self._guard:
            holder = self._locks.get(session_id)
            if holder is None:
                holder = _SessionLock()
                self._locks[session_id] = holder
            return holder

    def _cached(self, session_id: str) -> Session | None:
        with self._guard:
            session = self._cache.get(session_id)
            if session is not None:
                self._cache.move_to_end(session_id)
            return session

    def _remember(self, session_id: str, session: Session, size: int | None = None) -> None:
        """Cache the session; evict the least recently used beyond the count or the byte
        budget (the newest always stays: it is about to be used)."""
        if size is None:
            size = sizing.session_bytes(session)
        with self._guard:
            self._cache[session_id] = session
            self._sizes[session_id] = size
            self._cache.move_to_end(session_id)
            while len(self._cache) > 1 and (
                len(self._cache) > self._cache_size
                or (self._cache_bytes is not None
                    and sum(self._sizes.values()) > self._cache_bytes)
            ):
                old, _ = self._cache.popitem(last=False)
                self._sizes.pop(old, None)

    def _load_header(self, session_id: str) -> tuple[str, str | None] | None:
        with self._db_lock, storage_errors():
            return self._db.execute(
                "SELECT scenario_json, xen FROM sessions WHERE id = ?", (session_id,)
            ).fetchone()

    def _replay(self, session_id: str) -> Session:
        header = self._load_header(session_id)
        if header is None:
            raise SessionNotFound(session_id)
        scenario_json, xen = header
        with self._db_lock, storage_errors():
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


def _plausible_id(session_id: str) -> bool:
    """Ids are token_urlsafe(8) (11 characters); anything far from that shape is unknown
    without asking the database."""
    return 0 < len(session_id) <= 64 and all(c.isascii() and (c.isalnum() or c in "-_")
                                             for c in session_id)


def _is_clean_rejection(exc: BaseException) -> bool:
    # InvalidInput is documented to change nothing; the web layer's own lookups change
    # nothing either. Anything else may have left the engine object half-updated.
    return isinstance(exc, InvalidInput | SessionNotFound)


def run_next(session: Session, count: Count) -> list[dict[str, Any]]:
    """Session.run_next with the protocol's count: the engine spells "all" as None."""
    return session.run_next(None if count == "all" else int(count))
