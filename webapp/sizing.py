"""Rough memory estimates of live sessions, for the cache's byte budget and the
per-session limit. numpy arrays dominate a session's state; events are counted by their
deltas. Estimates, not measurements: they only need to be within a small factor."""

from __future__ import annotations

from typing import Any

import numpy as np

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
