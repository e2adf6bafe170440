"""Socket.IO: followers follow the presenter (docs/classroom.md).

`presenter` {session, token, state}: the presenter's page says what it shows (the moment,
the view, the selected frame, or `moved`: the session it went on in); the state is checked,
kept as the room's latest (so a late joiner starts where the class is) and pushed to the
room as `presenter` {session, state}.
`follow` {session}: ack {"state": latest or null, "audience": n}; the caller must have joined.
`audience` {session}: ack {"audience": n}, the other pages in the room (the presenter polls).
Counts and the latest state are the whole class's: this process's rooms, or behind a Redis
message queue every worker's (webapp/audience.py).
"""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask_socketio import rooms

from engine.errors import InvalidInput

from . import parsing
from .audience import ROOM_PREFIX, LocalAudience
from .events import Ack, acked, only, room_for
from .extensions import socketio
from .roles import Roles, parse_token

VIEWS = ("guest", "source", "destination", "both", "compare")
HOSTS = ("source", "destination")
MAX_NARRATION_CHARS = 2000
MAX_SEQ = 1 << 40


def _int(value: Any, field: str, top: int = MAX_SEQ) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
        raise InvalidInput(field, f"must be an integer from 0 to {top}")
    return value


def parse_state(value: Any) -> dict[str, Any]:
    """The small state a presenter shares; anything else is refused, naming the field."""
    if not isinstance(value, dict):
        raise InvalidInput("state", "must be an object")
    only_keys(value, "state", "seq", "head", "view", "selected", "narration", "moved")
    state: dict[str, Any] = {"seq": _int(value.get("seq"), "state.seq")}
    if value.get("moved") is not None:  # the presenter went on in another session
        state["moved"] = parsing.session_id(value["moved"], "state.moved")
    if "head" in value:
        state["head"] = _int(value["head"], "state.head")
    view = value.get("view", "guest")
    if view not in VIEWS:
        raise InvalidInput("state.view", f"must be one of {', '.join(VIEWS)}")
    state["view"] = view
    selected = value.get("selected")
    if selected is not None:
        if not isinstance(selected, dict):
            raise InvalidInput("state.selected", "must be an object or null")
        only_keys(selected, "state.selected", "host", "mfn", "guestPfn")
        if selected.get("host") not in HOSTS:
            raise InvalidInput("state.selected.host", f"must be one of {', '.join(HOSTS)}")
        pfn = selected.get("guestPfn")
        selected = {"host": selected["host"],
                    "mfn": _int(selected.get("mfn"), "state.selected.mfn"),
                    "guestPfn": None if pfn is None else _int(pfn, "state.selected.guestPfn")}
    state["selected"] = selected
    narration = value.get("narration")
    if narration is not None and (not isinstance(narration, str)
                                  or len(narration) > MAX_NARRATION_CHARS):
        raise InvalidInput("state.narration",
                           f"must be a string of at most {MAX_NARRATION_CHARS} characters")
    state["narration"] = narration
    return state


def only_keys(value: dict[str, Any], field: str, *allowed: str) -> None:
    for key in value:
        if key not in allowed:
            raise InvalidInput(f"{field}.{key}", f"unknown field; expected {', '.join(allowed)}")


def audience_store() -> LocalAudience:
    store: LocalAudience = current_app.extensions["pvframes.audience"]
    return store


def audience(session_id: str) -> int:
    """Pages in the session's room other than the caller: every worker's behind Redis."""
    return audience_store().count(session_id, request.sid)


def _joined(session_id: str) -> None:
    if room_for(session_id) not in rooms():
        raise InvalidInput("session", "join the session first")


@socketio.on("presenter")
@acked
def on_presenter(payload: dict[str, Any]) -> Ack:
    only(payload, "session", "token", "state")
    session_id = parsing.session_id(payload.get("session"))
    state = parse_state(payload.get("state"))
    roles: Roles = current_app.extensions["pvframes.roles"]
    roles.require(session_id, parse_token(payload.get("token")))
    audience_store().keep(session_id, state)
    socketio.emit("presenter", {"session": session_id, "state": state},
                  to=room_for(session_id), skip_sid=request.sid)
    return {"audience": audience(session_id)}


@socketio.on("follow")
@acked
def on_follow(payload: dict[str, Any]) -> Ack:
    only(payload, "session")
    session_id = parsing.session_id(payload.get("session"))
    _joined(session_id)
    return {"state": audience_store().latest(session_id), "audience": audience(session_id)}


@socketio.on("audience")
@acked
def on_audience(payload: dict[str, Any]) -> Ack:
    only(payload, "session")
    session_id = parsing.session_id(payload.get("session"))
    _joined(session_id)
    return {"audience": audience(session_id)}


@socketio.on("disconnect")
def on_disconnect(*_reason: Any) -> None:
    """A page went away: it no longer counts (its rooms are left after this returns)."""
    store = audience_store()
    for room in rooms():
        if isinstance(room, str) and room.startswith(ROOM_PREFIX):
            store.left(room[len(ROOM_PREFIX):], request.sid)
