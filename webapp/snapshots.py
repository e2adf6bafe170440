"""Snapshots of live sessions stored beside their action log, so that reopening a session
after a restart costs a load plus the actions since, not a replay of its whole history.

A snapshot is the pickled engine Session (numpy arrays and plain data), compressed. It is
a cache: the action log stays the truth, a snapshot is used only if it was written by the
same engine code (ENGINE_VERSION, a digest of engine/*.py) and ends at the seq the log
recorded for its action, and any that cannot be read is ignored. The database is the
server's own file: pickles from it are trusted as the code itself is.
"""

from __future__ import annotations

import hashlib
import pickle
import zlib
from pathlib import Path
from typing import Any

import engine

TABLE = """CREATE TABLE IF NOT EXISTS snapshots (
    session_id TEXT PRIMARY KEY REFERENCES sessions(id),
    n          INTEGER NOT NULL,  -- the last action (steps.n) the snapshot includes
    seq        INTEGER NOT NULL,  -- the session's seq there
    engine     TEXT NOT NULL,     -- ENGINE_VERSION that wrote it
    blob       BLOB NOT NULL      -- zlib(pickle(Session))
)"""


def _engine_version() -> str:
    digest = hashlib.sha256()
    for path in sorted(Path(engine.__file__).parent.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


ENGINE_VERSION = _engine_version()


def freeze(session: Any) -> bytes:
    """The session's state as bytes; call while holding its lock (a consistent copy)."""
    return pickle.dumps(session, protocol=pickle.HIGHEST_PROTOCOL)


def pack(frozen: bytes) -> bytes:
    return zlib.compress(frozen, 1)  # level 1: page tables and flags compress well anyway


def thaw(blob: bytes) -> Any:
    return pickle.loads(zlib.decompress(blob))
