"""Sessions persisted in SQLite as an action log, with live Session objects cached in memory.

The engine is deterministic, so a session is fully described by how it was created plus the
ordered actions applied to it. Each action is committed before it is acknowledged; a session
missing from the cache (restart, eviction, crash) is rebuilt by replaying its log.
One process per database file: the cache is not shared between processes.
"""

from __future__ import annotations

import json
import logging
import secrets
import sqlite3
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Literal

from engine.errors import InvalidInput
from engine.session import Session

from . import schema, sizing, snapshots
from .errors import ReplayError, SessionConflict, SessionNotFound, StorageUnavailable
from .limits import LimitExceeded

log = logging.getLogger(__name__)

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


# Which session was forked from which, at what seq (the timeline links them both ways).
FORKS_TABLE = """CREATE TABLE IF NOT EXISTS forks (
    id     TEXT PRIMARY KEY REFERENCES sessions(id),  -- the new session
    parent TEXT NOT NULL REFERENCES sessions(id),     -- the session it was forked from
    seq    INTEGER NOT NULL                           -- the parent's seq it starts from
)"""


class SessionStore:
    """Creates, persists and caches sessions. Use `checkout` to act on a session: it holds
    that session's lock, so callers can apply, `record` and broadcast as one unit."""

    def __init__(
        self,
        database: str,
        factory: SessionFactory = Session.create,
        cache_size: int = 64,
        cache_bytes: int | None = None,
        snapshot_after_s: float | None = 0.5,
        durability: str = schema.DEFAULT_DURABILITY,
    ) -> None:
        self._factory = factory
        self._cache_size = cache_size
        self._cache_bytes = cache_bytes
        self._cache: OrderedDict[str, Session] = OrderedDict()
        self._sizes: dict[str, int] = {}  # estimated bytes of each cached session
        # (copies of the world kept, their bytes and the world's): walked again only when
        # the number of copies changes; the log's bytes are asked for after every checkout
        self._worlds: dict[str, tuple[int, int]] = {}
        self._locks: weakref.WeakValueDictionary[str, _SessionLock] = (
            weakref.WeakValueDictionary())
        self._guard = threading.Lock()  # protects _cache, _sizes and _locks
        self._db_lock = threading.Lock()  # one connection, used from many threads
        # Writes go through `with self._db:`, one transaction committed on exit.
        self._db = schema.open_database(database, durability)
        with self._db_lock, storage_errors(), self._db:
            self._db.execute(snapshots.TABLE)  # a cache: safe to create where missing
            self._db.execute(FORKS_TABLE)  # links only: sessions replay without them
        # A snapshot is written once the CPU time spent applying actions since the last
        # one passes this (None: never), so cheap sessions are never snapshotted.
        self._snapshot_after_s = snapshot_after_s
        self._cost: dict[str, float] = {}  # CPU seconds of actions since the last snapshot
        self._last_n: dict[str, int] = {}  # the action number of the latest record
        self._writers: list[threading.Thread] = []

    def close(self) -> None:
        self.flush_snapshots()
        with self._db_lock:
            self._db.close()

    def flush_snapshots(self) -> None:
        """Wait for snapshots being written in the background."""
        while self._writers:
            self._writers.pop().join()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """The database for a small read or write by a module with its own table (one
        transaction, under the connection's lock; SQLite errors as StorageUnavailable)."""
        with self._db_lock, storage_errors(), self._db:
            yield self._db

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
        with self._db_lock, storage_errors(), self._db:
            session_id = self._insert_session(scenario_json, xen)
        self._remember(session_id, session, size)
        self._last_n[session_id] = 0
        return session_id, session

    def fork(self, parent_id: str, seq: int, xen: str | None = None) -> tuple[str, Session]:
        """A new session whose history is the parent's first `seq` events (the parent is
        left as it is), under the parent's Xen variant or `xen`. Its actions are recorded
        as the parent's were: a script step as a `run` of 1 (so the cursor moves), any
        other as the step itself."""
        with self.checkout(parent_id) as parent:
            session = parent.fork(seq, xen)  # InvalidInput (field seq) changes nothing
            events = list(parent.events()[:seq])  # read under the parent's lock
            with self._db_lock, storage_errors():
                scenario_json, parent_xen = self._db.execute(
                    "SELECT scenario_json, xen FROM sessions WHERE id = ?", (parent_id,)
                ).fetchone()
            xen = xen or parent_xen
        with self._db_lock, storage_errors(), self._db:
            session_id = self._insert_session(scenario_json, xen)
            self._db.executemany(
                "INSERT INTO steps (session_id, n, kind, step_json, seq) VALUES (?, ?, ?, ?, ?)",
                [(session_id, n, "run" if "script_step" in e else "step",
                  "1" if "script_step" in e else json.dumps(e["step"]), e["seq"])
                 for n, e in enumerate(events, start=1)],
            )
            self._db.execute("INSERT INTO forks (id, parent, seq) VALUES (?, ?, ?)",
                             (session_id, parent_id, seq))
        self._remember(session_id, session)
        self._last_n[session_id] = len(events)
        return session_id, session

    def _insert_session(self, scenario_json: str, xen: str) -> str:
        """A new session row with a fresh id; the caller holds the lock and the transaction
        (a fork adds its steps in the same one)."""
        session_id = secrets.token_urlsafe(8)
        created = datetime.now(UTC).isoformat(timespec="seconds")
        self._db.execute(
            "INSERT INTO sessions (id, created, scenario_json, xen) VALUES (?, ?, ?, ?)",
            (session_id, created, scenario_json, xen),
        )
        return session_id

    def origin(self, session_id: str) -> dict[str, Any]:
        """{"forked_from": {"session", "seq"} or None, "forks": [{"session", "seq"}]}."""
        with self._db_lock, storage_errors():
            parent = self._db.execute(
                "SELECT parent, seq FROM forks WHERE id = ?", (session_id,)).fetchone()
            children = self._db.execute(
                "SELECT id, seq FROM forks WHERE parent = ? ORDER BY rowid", (session_id,)
            ).fetchall()
        return {"forked_from": {"session": parent[0], "seq": parent[1]} if parent else None,
                "forks": [{"session": c, "seq": n} for c, n in children]}

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
            if session is not None and not self._current(session_id):
                self.forget(session_id)  # another server wrote to it: rebuild
                session = None
            if session is None:
                session = self._replay(session_id)
            seq, start = session.seq, time.thread_time()
            try:
                yield session
            except BaseException as exc:
                if not _is_clean_rejection(exc):
                    self.forget(session_id)
                raise
            if session.seq != seq:
                self._after_change(session_id, session, time.thread_time() - start)
            self._account(session_id, session)

    def _account(self, session_id: str, session: Session) -> None:
        """Bring the session's estimated size up to date (its log grew, at() kept a copy of
        the world) and evict others past the byte budget. Under the session's lock."""
        kept = len(session.kept_worlds())
        with self._guard:
            if session_id not in self._cache:
                return
            known = self._worlds.get(session_id)
        if known is None or known[0] != kept:
            known = (kept, sizing.world_bytes(session))
        size = known[1] + sizing.log_bytes(session)
        with self._guard:
            if session_id in self._cache:
                self._worlds[session_id] = known
                self._sizes[session_id] = size
                self._evict(keep=session_id)

    def _current(self, session_id: str) -> bool:
        """Whether the log still ends where the cached object does."""
        with self._db_lock, storage_errors():
            (top,) = self._db.execute(
                "SELECT COALESCE(MAX(n), 0) FROM steps WHERE session_id = ?", (session_id,)
            ).fetchone()
        return top == self._last_n.get(session_id, 0)

    def _after_change(self, session_id: str, session: Session, cost: float) -> None:
        """Count the work since the last snapshot; past the threshold, freeze the state
        now (under the session's lock) and write it in the background."""
        if self._snapshot_after_s is None:
            return
        total = self._cost.get(session_id, 0.0) + cost
        n = self._last_n.get(session_id)
        if total < self._snapshot_after_s or not n:
            self._cost[session_id] = total
            return
        self._cost.pop(session_id, None)
        try:
            frozen = snapshots.freeze(session)
        except Exception:  # a cache: never fail the action for it
            log.exception("session %s: snapshot not taken", session_id)
            return
        writer = threading.Thread(target=self._write_snapshot, daemon=True,
                                  args=(session_id, n, session.seq, frozen))
        self._writers = [w for w in self._writers if w.is_alive()] + [writer]
        writer.start()

    def _write_snapshot(self, session_id: str, n: int, seq: int,
                        frozen: snapshots.Frozen) -> None:
        try:
            blob = snapshots.pack(frozen)
            # Writers run concurrently: one that packed an older action's state more
            # slowly must not replace a newer snapshot.
            with self._db_lock, self._db:
                self._db.execute(
                    "INSERT INTO snapshots (session_id, n, seq, engine, blob) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT(session_id) DO UPDATE SET "
                    "n = excluded.n, seq = excluded.seq, engine = excluded.engine, "
                    "blob = excluded.blob WHERE excluded.n > snapshots.n "
                    "OR excluded.engine != snapshots.engine",
                    (session_id, n, seq, snapshots.ENGINE_VERSION, blob))
        except Exception:  # full disk and the like: the log still has everything
            log.exception("session %s: snapshot not written", session_id)

    def record(self, session_id: str, kind: ActionKind, body_json: str, seq: int) -> None:
        """Commit one applied action (`body_json`: the step or count as JSON text). Call
        inside `checkout` of the same session; if the commit fails the caller's checkout
        drops the changed object (the cache counts its grown log when the checkout ends).

        Fenced: the row is written only if the log still ends at the action this process's
        object was built from, so a server whose copy is stale (another server on the same
        database wrote meanwhile) can never commit; it gets SessionConflict instead."""
        expected = self._last_n.get(session_id, 0)
        with self._db_lock, storage_errors(), self._db:
            try:
                written = self._db.execute(
                    "INSERT INTO steps (session_id, n, kind, step_json, seq) "
                    "SELECT ?, ?, ?, ?, ? WHERE (SELECT COALESCE(MAX(n), 0) FROM steps "
                    "WHERE session_id = ?) = ?",
                    (session_id, expected + 1, kind, body_json, seq, session_id, expected),
                ).rowcount
            except sqlite3.IntegrityError:
                written = 0
        if written != 1:
            raise SessionConflict(session_id)
        self._last_n[session_id] = expected + 1

    def forget(self, session_id: str) -> None:
        """Drop the cached object; the next checkout rebuilds it from the database."""
        with self._guard:
            self._cache.pop(session_id, None)
            self._sizes.pop(session_id, None)
            self._worlds.pop(session_id, None)
            self._cost.pop(session_id, None)
            self._last_n.pop(session_id, None)

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
        log_size = sizing.log_bytes(session)
        if size is None:
            size = sizing.world_bytes(session) + log_size
        worlds = (len(session.kept_worlds()), size - log_size)
        with self._guard:
            self._cache[session_id] = session
            self._sizes[session_id] = size
            self._worlds[session_id] = worlds
            self._cache.move_to_end(session_id)
            self._evict(keep=session_id)

    def _evict(self, keep: str) -> None:
        """Drop least recently used sessions while the cache is past its count or byte
        budget; never `keep` (the one just used), nor one in use elsewhere (its holder
        would lose its place in the log). Call holding _guard."""
        over = sum(self._sizes.values())
        for old in list(self._cache):
            if not (len(self._cache) > self._cache_size
                    or (self._cache_bytes is not None and over > self._cache_bytes)):
                return
            holder = self._locks.get(old)
            if old == keep or holder is not None and holder.lock.locked():
                continue
            del self._cache[old]
            over -= self._sizes.pop(old, 0)
            self._worlds.pop(old, None)
            self._cost.pop(old, None)
            self._last_n.pop(old, None)

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
        session, after = self._from_snapshot(session_id)
        with self._db_lock, storage_errors():
            rows = self._db.execute(
                "SELECT n, kind, step_json, seq FROM steps WHERE session_id = ? AND n > ? "
                "ORDER BY n", (session_id, after),
            ).fetchall()
        if session is None:
            session = self._factory(scenario=json.loads(scenario_json), xen=xen)
        last_n = after
        for n, kind, body_json, seq in rows:
            last_n = n
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
        self._last_n[session_id] = last_n
        return session

    def _from_snapshot(self, session_id: str) -> tuple[Session | None, int]:
        """The latest usable snapshot and the action number it includes, or (None, 0)."""
        with self._db_lock, storage_errors():
            row = self._db.execute(
                # CAST: a blob damaged into TEXT comes back as bytes to be refused by thaw,
                # not as a decoding error that would make the session unavailable.
                "SELECT s.n, s.seq, CAST(s.blob AS BLOB), t.seq FROM snapshots s JOIN steps t "
                "ON t.session_id = s.session_id AND t.n = s.n "
                "WHERE s.session_id = ? AND s.engine = ?",
                (session_id, snapshots.ENGINE_VERSION)).fetchone()
        if row is None:
            return None, 0
        n, seq, blob, logged_seq = row
        try:
            session = snapshots.thaw(blob)
        except Exception:
            log.exception("session %s: snapshot unreadable, replaying the log", session_id)
            return None, 0
        if seq != logged_seq or getattr(session, "seq", None) != seq:
            log.warning("session %s: snapshot does not match the log, replaying", session_id)
            return None, 0
        return session, n


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
