"""Errors raised by the web layer itself; input errors reuse engine.errors.InvalidInput."""

from __future__ import annotations


class SessionNotFound(LookupError):
    """No session with this id exists, in memory or in the database."""

    def __init__(self, session_id: str) -> None:
        super().__init__(f"no session {session_id!r}")
        self.session_id = session_id


class ScenarioNotFound(LookupError):
    """No scenario with this name in the catalogue."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no scenario {name!r} in the catalogue")
        self.name = name


class ReplayError(RuntimeError):
    """A stored session could not be rebuilt from its log (the engine rejected a step it
    once accepted, or ended at a different seq): the log and the engine disagree."""


class StorageUnavailable(RuntimeError):
    """The database cannot take or give what was asked (disk full, read-only, corrupt,
    locked by another server); the message says which, for a 503 / an error ack. Nothing
    was acknowledged or changed."""


class QueueUnavailable(StorageUnavailable):
    """The message queue cannot carry an event to the other workers (webapp/messagequeue.py).
    Handled as the database's faults are: 503 / an error ack with this message, nothing
    applied."""

    def __init__(self, url: str, reason: object) -> None:
        super().__init__(f"the message queue {url} is unavailable ({reason}); steps are "
                         "refused until it is back, so that no follower misses one")


class SessionConflict(RuntimeError):
    """Another server on the same database changed the session while this one applied a
    step: nothing was committed or acknowledged here; the client may simply retry."""

    def __init__(self, session_id: str) -> None:
        super().__init__(f"session {session_id!r} was changed by another server at the same "
                         "time; nothing was applied, try again")
        self.session_id = session_id
