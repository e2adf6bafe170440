"""Rough memory estimates of live sessions, for the cache's byte budget and the
per-session limit. numpy arrays dominate a session's state; events are counted by their
deltas. Estimates, not measurements: they only need to be within a small factor."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.session import host_snapshot
from engine.world import HOSTS

if TYPE_CHECKING:
    from engine.session import Session

OBJECT_BYTES = 64  # a small Python object or dict entry, roughly
DELTA_BYTES = 400  # one delta dict with its keys and values
EVENT_BYTES = 1_000  # an event dict without its deltas


def state_bytes(root: Any, max_objects: int = 200_000) -> int:
    """numpy arrays (and small objects) reachable from `root`'s attributes, each once.
    Bounded in the objects it visits, so it stays cheap on any session."""
    seen: set[int] = set()
    total = 0
    stack = [root]
    while stack and len(seen) < max_objects:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, np.ndarray):
            total += obj.nbytes
        elif isinstance(obj, dict):
            total += OBJECT_BYTES * len(obj)
            stack.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset):
            total += 8 * len(obj)
            stack.extend(obj)
        elif isinstance(obj, str | bytes):
            total += len(obj)
        elif hasattr(obj, "__dict__") and not isinstance(obj, type):
            total += OBJECT_BYTES
            stack.extend(vars(obj).values())
        else:
            total += 32
    return total


def event_bytes(event: dict[str, Any]) -> int:
    deltas = event.get("deltas")
    return EVENT_BYTES + DELTA_BYTES * (len(deltas) if isinstance(deltas, list) else 0)


def world_bytes(session: Any) -> int:
    """The world's state and the copies of it kept to look at the past (a walk: call it
    when those change, not on every step)."""
    worlds = [getattr(session, "world", session)]
    kept = getattr(session, "kept_worlds", None)
    return sum(state_bytes(w) for w in worlds + (kept() if kept else []))


def log_bytes(session: Any) -> int:
    """The event log: what the compact log says it holds (engine/eventlog.py), else
    estimated event by event."""
    log = getattr(session, "log", [])
    nbytes = getattr(log, "nbytes", None)
    return int(nbytes()) if nbytes else sum(event_bytes(e) for e in log)


def session_bytes(session: Any) -> int:
    """The world's state, its kept copies and the event log."""
    return world_bytes(session) + log_bytes(session)


SNAPSHOT_FIXED_BYTES = 16 << 10  # a snapshot's keys, names, rounds and lost_detail, roughly


def plain_snapshot_bytes(session: Session) -> int:
    """An upper bound on the bytes of `session.snapshot()` as JSON, from each array's length
    and widest value (every item taken as wide as the widest, plus ", "), without building
    the lists: the engine's own column functions are run with a counter in place of
    `tolist`, so the estimate names exactly the arrays the snapshot holds. The script is
    counted as encoded (it is small next to a large guest's arrays)."""
    total = SNAPSHOT_FIXED_BYTES + len(json.dumps(session.script, default=str))
    sizes: list[int] = []

    def count(a: np.ndarray) -> None:
        sizes.append(_listed_bytes(a))

    w = session.world
    count(w.guest.p2m)
    for name in HOSTS:
        host_snapshot(w, name, count)
    m = w.migration
    if m is not None:  # migration_snapshot's arrays, without its lost_detail (a bounded guess)
        for flags in (m.ever_deferred, m.last_normalised, m.lost):
            count(np.flatnonzero(flags))
        total += 64 * int(np.count_nonzero(m.lost))
    return total + sum(sizes)


def _listed_bytes(a: np.ndarray) -> int:
    if a.size == 0:
        return 2
    widest = max(len(str(int(a.max()))), len(str(int(a.min()))))
    return 2 + a.size * (widest + 2)
