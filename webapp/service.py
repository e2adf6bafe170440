"""The use cases behind both entry points (REST and Socket.IO).

Every change to a session happens inside `store.checkout`, which holds that session's lock
across apply, commit and broadcast: all watchers see the same events in seq order, and
nothing is broadcast or acknowledged before it is committed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from engine.errors import InvalidInput
from engine.session import Session

from . import parsing
from .catalogue import Catalogue
from .limits import LimitExceeded, Limits
from .store import Count, SessionStore, run_next

Event = dict[str, Any]
Broadcast = Callable[[str, Event], None]  # (session id, event) -> push to its watchers


class SessionService:
    def __init__(self, store: SessionStore, catalogue: Catalogue, broadcast: Broadcast,
                 limits: Limits | None = None) -> None:
        self.store = store
        self.catalogue = catalogue
        self._broadcast = broadcast
        self.limits = limits or Limits()

    def create(self, scenario: Any = None, xen: str | None = None) -> dict[str, Any]:
        limits = self.limits
        scenario = parsing.scenario_value(scenario, limits)
        if self.store.count_sessions() >= limits.max_sessions:
            raise LimitExceeded(None, "max_sessions", limits.max_sessions,
                                "this server holds as many sessions as it may", status=503)
        with blame("scenario"):
            session_id, _ = self.store.create(scenario=scenario, xen=xen,
                                              max_bytes=limits.max_session_bytes)
        with self.store.checkout(session_id) as session:
            return {"id": session_id, "seq": session.seq, "snapshot": session.snapshot()}

    def create_from_catalogue(self, name: str, xen: str | None = None) -> dict[str, Any]:
        return self.create(scenario=self.catalogue.text(name), xen=xen)

    def snapshot(self, session_id: str) -> dict[str, Any]:
        with self.store.checkout(session_id) as session:
            return session.snapshot()

    def events(self, session_id: str, since: int = 0, limit: int | None = None
               ) -> dict[str, Any]:
        """Events after `since`, at most one page: {"seq", "events", "more"}; when "more"
        is true, ask again with since = the last event's seq."""
        with self.store.checkout(session_id) as session:
            _check_since(session, since)
            page = self._page(session.events(since=since), limit)
            return {"seq": session.seq, "events": page, "more": since + len(page) < session.seq}

    def export(self, session_id: str) -> str:
        with self.store.checkout(session_id) as session:
            return session.export_yaml()

    def frame(self, session_id: str, host: str, mfn: int) -> dict[str, Any]:
        with self.store.checkout(session_id) as session:
            return session.frame_detail(host, mfn)

    def apply(self, session_id: str, step: dict[str, Any]) -> Event:
        step_json = json.dumps(step)  # as given, before the engine can touch it
        with self.store.checkout(session_id) as session:
            self._check_room(session, 1)
            with blame("step"):
                event = session.apply(step)
            self.store.record(session_id, "step", step_json, session.seq, [event])
            self._broadcast(session_id, event)
            return event

    def run(self, session_id: str, count: Count) -> dict[str, Any]:
        """Apply the next `count` steps of the session's script: {"seq", "events", "more"}.
        Stops early, between steps, after `max_request_seconds` of CPU time; the events
        come back one page at a time ("more": fetch the rest from `events`)."""
        with self.store.checkout(session_id) as session:
            start = session.seq
            wanted = None if count == "all" else int(count)
            events: list[Event] = []
            stopped: str | None = None
            deadline = time.thread_time() + self.limits.max_request_seconds
            while wanted is None or len(events) < wanted:
                self._check_room(session, 1, quiet=bool(events))
                if session.seq >= self.limits.max_session_actions:
                    stopped = "max_session_actions"
                    break
                try:
                    with blame("steps"):
                        ran = run_next(session, 1)
                except InvalidInput:
                    if not events:
                        raise
                    break  # as Session.run_next: stop before a step this state rejects
                if not ran:
                    break
                events.extend(ran)
                if time.thread_time() > deadline and (wanted is None or len(events) < wanted):
                    stopped = "max_request_seconds"
                    break
            if events:  # a run past the end of the script changes nothing worth replaying
                # Recorded as the number of steps that ran, so a replay repeats exactly them.
                self.store.record(session_id, "run", json.dumps(len(events)), session.seq,
                                  events)
            for event in events:
                self._broadcast(session_id, event)
            page = self._page(events, None)
            result = {"seq": session.seq, "events": page, "more": start + len(page) < session.seq}
            if stopped and session.cursor < len(session.script):
                result["stopped"] = stopped  # the limit that ended this run early
            return result

    def _check_room(self, session: Session, steps: int, quiet: bool = False) -> None:
        cap = self.limits.max_session_actions
        if session.seq + steps > cap and not quiet:
            raise LimitExceeded(None, "max_session_actions", cap,
                                "this session has taken as many steps as it may; "
                                "start a new one")

    def _page(self, events: list[Event], limit: int | None) -> list[Event]:
        """The longest prefix within the per-response limits (at least one event, so a
        client always makes progress)."""
        cap = self.limits.max_events_per_response
        if limit is not None:
            cap = min(cap, limit)
        budget = self.limits.max_response_event_bytes
        page: list[Event] = []
        for event in events[:cap]:
            size = encoded_size(event)
            if page and size > budget:
                break
            budget -= size
            page.append(event)
        return page

    def join(
        self, session_id: str, since: int, enter_room: Callable[[], None]
    ) -> dict[str, Any]:
        """Enter the session's room and return the state to start from. Under the session
        lock, so the room's next event is exactly the one after what is returned here."""
        with self.store.checkout(session_id) as session:
            _check_since(session, since)
            enter_room()
            if since > 0:
                page = self._page(session.events(since=since), None)
                return {"seq": session.seq, "events": page,
                        "more": since + len(page) < session.seq}
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


def encoded_size(event: Event) -> int:
    """Bytes the event takes as JSON on the wire."""
    return len(json.dumps(event, separators=(",", ":")))
