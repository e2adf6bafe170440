"""The session database's schema, checked when the server opens it.

A database is created only when it has no tables at all. One with some of the tables, or
tables of another shape, or that SQLite finds damaged, is refused with a message saying
what is wrong: recreating a missing `steps` table would silently bring every session back
at seq 0. `pvframes db check` reports the same, `pvframes db recover` copies what can be
read into a fresh file (webapp/dbtool.py).
"""

from __future__ import annotations

import sqlite3
import time

SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 5000  # how long a server waits for another's lock

TABLES = {
    "sessions": """CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    created       TEXT NOT NULL,
    scenario_json TEXT NOT NULL,  -- JSON of what Session.create got: null, an object or YAML text
    xen           TEXT            -- the xen override given at creation, or NULL
)""",
    "steps": """CREATE TABLE steps (
    session_id TEXT NOT NULL REFERENCES sessions(id),
    n          INTEGER NOT NULL,   -- 1, 2, ... per session: replay order
    kind       TEXT NOT NULL CHECK (kind IN ('step', 'run')),
    step_json  TEXT NOT NULL,      -- 'step': the step object; 'run': the count given to run_next
    seq        INTEGER NOT NULL,   -- the session's seq after the action, checked on replay
    PRIMARY KEY (session_id, n)
)""",
}
COLUMNS = {
    "sessions": ["id", "created", "scenario_json", "xen"],
    "steps": ["session_id", "n", "kind", "step_json", "seq"],
}


class DatabaseProblem(RuntimeError):
    """The database cannot be used as it is; the message says why and what to do."""


# What a commit (an acknowledged step) survives; `pvframes serve --durability`.
#   process: the server process dying (kill -9, a crash, OOM): WAL with synchronous=NORMAL,
#     the commit is in the WAL file the moment it returns, with no fsync. A power loss or
#     OS crash can lose the last commits (the database stays consistent, sessions reopen at
#     an earlier seq).
#   full: power loss and OS crashes too: synchronous=FULL, one fsync per commit.
DURABILITY = ("process", "full")
DEFAULT_DURABILITY = "process"


def connect(database: str, durability: str = DEFAULT_DURABILITY) -> sqlite3.Connection:
    if durability not in DURABILITY:
        raise ValueError(f"durability must be one of {', '.join(DURABILITY)}, "
                         f"not {durability!r}")
    db = sqlite3.connect(database, check_same_thread=False)
    db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    wal = database != ":memory:" and _wal(db)
    # NORMAL is durable against a process crash only in WAL mode: without WAL (a file
    # system that cannot share memory for it) every commit is synced.
    synchronous = "NORMAL" if durability == "process" and wal else "FULL"
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute("PRAGMA foreign_keys=ON")
    return db


def _wal(db: sqlite3.Connection) -> bool:
    """Switch to WAL; whether it is on. On a new file this needs the exclusive lock, which
    another server starting at the same moment may hold, and SQLite then answers "database
    is locked" at once, without its busy handler: wait for it here as the busy timeout
    would."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            (mode,) = db.execute("PRAGMA journal_mode=WAL").fetchone()
            return str(mode).lower() == "wal"
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def problems(db: sqlite3.Connection) -> list[str]:
    """What is wrong with an opened database (empty list: nothing). Never changes it."""
    try:
        (result,) = db.execute("PRAGMA quick_check").fetchone()
        if result != "ok":
            return [f"SQLite's integrity check failed: {result}"]
        version = db.execute("PRAGMA user_version").fetchone()[0]
        present = {row[0] for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        found: list[str] = []
        if version > SCHEMA_VERSION:
            found.append(f"schema version {version} was written by a newer pvframes "
                         f"(this one knows {SCHEMA_VERSION})")
        if present and not present.issuperset(TABLES):
            missing = ", ".join(sorted(set(TABLES) - present))
            found.append(f"table(s) {missing} missing while others exist: the database is "
                         "damaged or not pvframes'")
        for table in sorted(present & set(TABLES)):
            columns = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
            if columns != COLUMNS[table]:
                found.append(f"table {table} has columns {columns}, expected {COLUMNS[table]}")
        return found
    except sqlite3.DatabaseError as exc:
        return [f"SQLite cannot read it: {exc}"]


def _refusal(database: str, found: list[str]) -> DatabaseProblem:
    return DatabaseProblem(
        f"{database}: refusing to use this session database: " + "; ".join(found)
        + ". Run `pvframes db check --db PATH` for details and `pvframes db recover "
        "--db PATH` to copy what can be read into a fresh file.")


def open_database(database: str, durability: str = DEFAULT_DURABILITY) -> sqlite3.Connection:
    """Open, check, and create the schema only in an empty database."""
    try:
        db = connect(database, durability)
    except sqlite3.DatabaseError as exc:
        raise _refusal(database, [f"SQLite cannot read it: {exc}"]) from None
    found = problems(db)
    if found:
        db.close()
        raise _refusal(database, found)
    if not _tables(db):
        try:
            _create(db)
        except sqlite3.DatabaseError as exc:
            db.close()
            raise DatabaseProblem(f"{database}: cannot create the schema: {exc}") from None
    return db


def _tables(db: sqlite3.Connection) -> set[str]:
    return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _create(db: sqlite3.Connection) -> None:
    """Create the schema in one write transaction, if nobody did meanwhile: several
    servers started at once on a new file all find it empty, and all but the first
    would otherwise fail with "table sessions already exists"."""
    db.execute("BEGIN IMMEDIATE")  # the write lock first, then look again
    try:
        if not _tables(db):
            for statement in TABLES.values():
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
