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

from engine.compare import state_diff
from engine.divergence import divergence_items
from engine.errors import InvalidInput
from engine.session import Session

from . import parsing, sizing
from .catalogue import Catalogue
from .limits import LimitExceeded, Limits
from .store import Count, SessionStore, run_next

Event = dict[str, Any]
Broadcast = Callable[[str, Event], None]  # (session id, event) -> push to its watchers


class SessionService:
    def __init__(self, store: SessionStore, catalogue: Catalogue, broadcast: Broadcast,
                 limits: Limits | None = None, ready: Callable[[], None] = lambda: None
                 ) -> None:
        self.store = store
        self.catalogue = catalogue
        self._broadcast = broadcast
        # Raises (e.g. QueueUnavailable) when a change could not reach every watcher:
        # checked before a step or run is applied, so a refusal changes nothing.
        self._ready = ready
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
            created = {"id": session_id, "seq": session.seq,
                       "snapshot": self._snapshot_of(session, None)}
            if session.scenario.position is not None:  # where the file asks to be opened
                created["position"] = session.scenario.position.model_dump(exclude_none=True)
            return created

    def create_from_catalogue(self, name: str, xen: str | None = None) -> dict[str, Any]:
        return self.create(scenario=self.catalogue.text(name), xen=xen)

    def snapshot(self, session_id: str, seq: int | None = None,
                 packed: bool | None = None) -> dict[str, Any]:
        """The snapshot now, or as of `seq` (the same shape), with the fork links; with
        `packed`, its arrays packed (docs/protocol.md); None: plain unless too large."""
        with self.store.checkout(session_id) as session:
            snap = self._snapshot_of(session if seq is None else session.at(seq), packed)
        return {**snap, **self.store.origin(session_id)}

    def _snapshot_of(self, session: Session, packed: bool | None) -> dict[str, Any]:
        """`session.snapshot` in the form asked for. Not asked (None): plain, or packed when
        the plain form would pass max_snapshot_bytes (estimated, so the large form is never
        built); the packed one says `"packed": true`. Plain asked for above the limit is
        refused (413): a message that size would stall the server and the client alike."""
        if packed is not True:
            limit = self.limits.max_snapshot_bytes
            size = sizing.plain_snapshot_bytes(session)
            if size > limit:
                if packed is False:
                    raise LimitExceeded("packed", "max_snapshot_bytes", limit,
                                        f"the plain snapshot would be up to {size} bytes; "
                                        "ask for the packed one (packed=1)")
                packed = True
        return session.snapshot(bool(packed))

    def shapes(self, session_id: str, seq: int | None = None) -> dict[str, Any]:
        with self.store.checkout(session_id) as session:
            past = session if seq is None else session.at(seq)
            return {"seq": past.seq, "pt_shaped": past.pt_shaped()}

    def scenario_of(self, session_id: str) -> dict[str, Any]:
        """The session's scenario as it was given (its script included)."""
        with self.store.checkout(session_id) as session:
            return {k: v for k, v in session.raw.items() if k != "xen"}

    def fork(self, session_id: str, seq: int, xen: str | None = None) -> dict[str, Any]:
        """A new session from `session_id` as of `seq` (under `xen` if given):
        {"id", "seq", "snapshot"}."""
        if self.store.count_sessions() >= self.limits.max_sessions:
            raise LimitExceeded(None, "max_sessions", self.limits.max_sessions,
                                "this server holds as many sessions as it may", status=503)
        with blame("seq"):
            fork_id, _ = self.store.fork(session_id, seq, xen)
        return {"id": fork_id, "seq": seq, "snapshot": self.snapshot(fork_id)}

    def compare(self, a: str, b: str) -> dict[str, Any]:
        """Where two sessions part ways, step by step, as `pvframes run --xen both` says
        it (the first is read as the unpatched side): {"a", "b", "divergences"}."""
        with self.store.checkout(a) as sa:
            ea, xa = _numbered(sa.events()), sa.xen
        with self.store.checkout(b) as sb:
            eb, xb = _numbered(sb.events()), sb.xen
        return {"a": {"id": a, "xen": xa}, "b": {"id": b, "xen": xb},
                "divergences": divergence_items(ea, eb)}

    def compare_state(self, a: str, b: str, seq: int) -> dict[str, Any]:
        """What differs between the two sessions as of `seq` (each at most its own seq).
        Both locks are held, taken in id order so two compares cannot deadlock."""
        first, second = sorted({a, b}) if a != b else (a, None)
        with self.store.checkout(first) as s1:
            if second is None:
                past = s1.at(min(seq, s1.seq))
                return {"seq": seq, **state_diff(past, past)}
            with self.store.checkout(second) as s2:
                sa, sb = (s1, s2) if first == a else (s2, s1)
                return {"seq": seq, **state_diff(sa.at(min(seq, sa.seq)),
                                                 sb.at(min(seq, sb.seq)))}

    def create_pair(self, scenario: Any, xens: tuple[str | None, str | None],
                    scenarios: tuple[Any, Any] | None = None) -> dict[str, Any]:
        """Two sessions that run their whole scripts, for the compare view: one scenario
        under two variants, or two scenarios. {"a": id, "b": id}."""
        texts = scenarios or (scenario, scenario)
        ids = []
        for text, xen in zip(texts, xens, strict=True):
            created = self.create(scenario=text, xen=xen)
            self.run(created["id"], "all")
            ids.append(created["id"])
        return {"a": ids[0], "b": ids[1]}

    def events(self, session_id: str, since: int = 0, limit: int | None = None
               ) -> dict[str, Any]:
        """Events after `since`, at most one page: {"seq", "events", "more"}; when "more"
        is true, ask again with since = the last event's seq."""
        with self.store.checkout(session_id) as session:
            _check_since(session, since)
            page = self._page(session.events(since=since), limit)
            return {"seq": session.seq, "events": page, "more": since + len(page) < session.seq}

    def export(self, session_id: str, moment: dict[str, Any] | None = None) -> str:
        """The session as a scenario; `moment` ({seq?, view?, frame?}) becomes its position,
        seq defaulting to the session's. Errors name the query's fields (seq, view, frame)."""
        with self.store.checkout(session_id) as session:
            if moment is None:
                return session.export_yaml()
            try:
                return session.export_yaml({"seq": session.seq, **moment})
            except InvalidInput as exc:
                field = exc.field.removeprefix("position.").split(".")[0]
                raise InvalidInput(field, exc.message) from None

    def frame(self, session_id: str, host: str, mfn: int,
              seq: int | None = None) -> dict[str, Any]:
        with self.store.checkout(session_id) as session:
            past = session if seq is None else session.at(seq)
            return past.frame_detail(host, mfn)

    def apply(self, session_id: str, step: dict[str, Any]) -> Event:
        """Apply one step: the event as it goes on the wire (a stub if it is large)."""
        step_json = json.dumps(step)  # as given, before the engine can touch it
        with self.store.checkout(session_id) as session:
            self._check_room(session, 1)
            self._ready()
            with blame("step"):
                event = session.apply(step)
            self.store.record(session_id, "step", step_json, session.seq)
            sent = self.wire(event)
            self._broadcast(session_id, sent)
            return sent

    def wire(self, event: Event, size: int | None = None) -> Event:
        """The event, or past `max_pushed_event_bytes` its stub: every field but the deltas,
        and `lazy` {"bytes", "deltas"}; the body is fetched with `event()`."""
        size = encoded_size(event) if size is None else size
        if size <= self.limits.max_pushed_event_bytes:
            return event
        stub = {k: v for k, v in event.items() if k != "deltas"}
        stub["lazy"] = {"bytes": size, "deltas": len(event.get("deltas") or [])}
        return stub

    def delta_page(self, event: Event, start: int) -> dict[str, Any]:
        """Deltas of `event` from index `start`, up to `max_pushed_event_bytes` of them (at
        least one): {"seq", "from", "deltas", "next"} (`next`: the index to ask for next,
        or null after the last). A client parses a page at a time, never 24 MB at once."""
        deltas = event.get("deltas") or []
        if start > len(deltas) or (start == len(deltas) and deltas):
            raise InvalidInput("from", f"is {start} but the event has {len(deltas)} deltas")
        budget = self.limits.max_pushed_event_bytes
        end = start
        while end < len(deltas):
            size = encoded_size(deltas[end])
            if end > start and size > budget:
                break
            budget -= size
            end += 1
        return {"seq": event["seq"], "from": start, "deltas": deltas[start:end],
                "next": end if end < len(deltas) else None}

    def event(self, session_id: str, seq: Any) -> Event:
        """One whole event by its seq (1..seq): the body of a stub."""
        with self.store.checkout(session_id) as session:
            if isinstance(seq, bool) or not isinstance(seq, int) or not 1 <= seq <= session.seq:
                raise InvalidInput("seq", f"{seq!r} is not the seq of an event of this session "
                                          f"(1..{session.seq})")
            return session.events(since=seq - 1)[0]

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
            self._ready()
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
                self.store.record(session_id, "run", json.dumps(len(events)), session.seq)
            events = [self.wire(event) for event in events]
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
            if size > self.limits.max_pushed_event_bytes:
                event = self.wire(event, size)
                size = encoded_size(event)
            if page and size > budget:
                break
            budget -= size
            page.append(event)
        return page

    def join(
        self, session_id: str, since: int, enter_room: Callable[[], None],
        packed: bool | None = None,
    ) -> dict[str, Any]:
        """Enter the session's room and return the state to start from. Under the session
        lock, so the room's next event is exactly the one after what is returned here."""
        with self.store.checkout(session_id) as session:
            _check_since(session, since)
            if since > 0:
                enter_room()
                page = self._page(session.events(since=since), None)
                return {"seq": session.seq, "events": page,
                        "more": since + len(page) < session.seq}
            snap = self._snapshot_of(session, packed)  # may refuse: before entering the room
            enter_room()
        return {"seq": snap["seq"], "snapshot": {**snap, **self.store.origin(session_id)}}


def _numbered(events: list[Event]) -> list[Event]:
    """Events as `pvframes run` numbers them: a script step by its number, others by seq."""
    return [{**e, "n": e.get("script_step", e["seq"])} for e in events]


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
