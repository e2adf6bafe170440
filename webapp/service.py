"""The use cases behind both entry points (REST and Socket.IO).

Every change to a session happens inside `store.checkout`, which holds that session's lock
across apply, commit and broadcast: all watchers see the same events in seq order, and
nothing is broadcast or acknowledged before it is committed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from engine.errors import InvalidInput
from engine.session import Session

from .catalogue import Catalogue
from .store import Count, SessionStore, run_next

Event = dict[str, Any]
Broadcast = Callable[[str, Event], None]  # (session id, event) -> push to its watchers


class SessionService:
    def __init__(self, store: SessionStore, catalogue: Catalogue, broadcast: Broadcast) -> None:
        self.store = store
        self.catalogue = catalogue
        self._broadcast = broadcast

    def create(self, scenario: Any = None, xen: str | None = None) -> dict[str, Any]:
        with blame("scenario"):
            session_id, _ = self.store.create(scenario=scenario, xen=xen)
        with self.store.checkout(session_id) as session:
            return {"id": session_id, "seq": session.seq, "snapshot": session.snapshot()}

    def create_from_catalogue(self, name: str, xen: str | None = None) -> dict[str, Any]:
        return self.create(scenario=self.catalogue.text(name), xen=xen)

    def snapshot(self, session_id: str) -> dict[str, Any]:
        with self.store.checkout(session_id) as session:
            return session.snapshot()

    def events(self, session_id: str, since: int = 0) -> dict[str, Any]:
        with self.store.checkout(session_id) as session:
            _check_since(session, since)
            return {"seq": session.seq, "events": session.events(since=since)}

    def export(self, session_id: str) -> str:
        with self.store.checkout(session_id) as session:
            return session.export_yaml()

    def frame(self, session_id: str, host: str, mfn: int) -> dict[str, Any]:
        with self.store.checkout(session_id) as session:
            return session.frame_detail(host, mfn)

    def apply(self, session_id: str, step: dict[str, Any]) -> Event:
        step_json = json.dumps(step)  # as given, before the engine can touch it
        with self.store.checkout(session_id) as session:
            with blame("step"):
                event = session.apply(step)
            self.store.record(session_id, "step", step_json, session.seq)
            self._broadcast(session_id, event)
            return event

    def run(self, session_id: str, count: Count) -> dict[str, Any]:
        """Apply the next `count` steps of the session's script: {"seq", "events"}."""
        with self.store.checkout(session_id) as session:
            with blame("steps"):
                events = run_next(session, count)
            if events:  # a run past the end of the script changes nothing worth replaying
                self.store.record(session_id, "run", json.dumps(count), session.seq)
            for event in events:
                self._broadcast(session_id, event)
            return {"seq": session.seq, "events": events}

    def join(
        self, session_id: str, since: int, enter_room: Callable[[], None]
    ) -> dict[str, Any]:
        """Enter the session's room and return the state to start from. Under the session
        lock, so the room's next event is exactly the one after what is returned here."""
        with self.store.checkout(session_id) as session:
            _check_since(session, since)
            enter_room()
            if since > 0:
                return {"seq": session.seq, "events": session.events(since=since)}
            return {"seq": session.seq, "snapshot": session.snapshot()}


@contextmanager
def blame(field: str) -> Iterator[None]:
    """The engine names fields relative to what it was given and leaves the field empty when
    the whole thing is wrong; clients get the name of that thing instead."""
    try:
        yield
    except InvalidInput as exc:
        if exc.field:
            raise
        raise InvalidInput(field, exc.message) from exc


def _check_since(session: Session, since: int) -> None:
    # A client claiming events the session never produced is out of step with this server
    # (e.g. the database was replaced); say so rather than silently sending nothing.
    if since > session.seq:
        raise InvalidInput("since", f"is {since} but the session is at seq {session.seq}")
