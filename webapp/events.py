"""Socket.IO entry point. Every handler acknowledges with {"ok": true, ...} or
{"ok": false, "error": {"field", "message"}}; session changes are pushed to the session's
room as `event` messages by the service's broadcast (see docs/protocol.md)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import current_app
from flask_socketio import join_room, leave_room

from engine.errors import InvalidInput

from . import parsing
from .errors import SessionNotFound
from .extensions import socketio
from .service import Event, SessionService

Ack = dict[str, Any]


def room_for(session_id: str) -> str:
    return f"session:{session_id}"


def broadcast(session_id: str, event: Event) -> None:
    """Push one event to every client that joined the session."""
    socketio.emit("event", event, to=room_for(session_id))


def service() -> SessionService:
    return current_app.extensions["pvframes"]


def acked(handler: Callable[[dict[str, Any]], Ack]) -> Callable[..., Ack]:
    """Validate that the payload is an object and turn the outcome into an ack."""

    @functools.wraps(handler)
    def wrapper(*args: Any) -> Ack:
        try:
            payload = args[0] if args else None
            if not isinstance(payload, dict):
                raise InvalidInput("payload", "must be an object")
            return {"ok": True, **handler(payload)}
        except InvalidInput as exc:
            return failure(exc.field, exc.message)
        except SessionNotFound as exc:
            return failure("session", str(exc))
        except Exception as exc:  # an ack the client can show beats a silent timeout
            current_app.logger.exception("socket.io handler %s failed", handler.__name__)
            return failure(None, f"internal error: {exc}")

    return wrapper


def failure(field: str | None, message: str) -> Ack:
    return {"ok": False, "error": {"field": field, "message": message}}


def only(payload: dict[str, Any], *allowed: str) -> None:
    for key in payload:
        if key not in allowed:
            raise InvalidInput(key, f"unknown field; expected one of {', '.join(allowed)}")


@socketio.on("join")
@acked
def on_join(payload: dict[str, Any]) -> Ack:
    only(payload, "session", "since")
    session_id = parsing.session_id(payload.get("session"))
    since = parsing.since(payload.get("since"))
    return service().join(session_id, since, lambda: join_room(room_for(session_id)))


@socketio.on("leave")
@acked
def on_leave(payload: dict[str, Any]) -> Ack:
    only(payload, "session")
    leave_room(room_for(parsing.session_id(payload.get("session"))))
    return {}


@socketio.on("step")
@acked
def on_step(payload: dict[str, Any]) -> Ack:
    only(payload, "session", "step")
    session_id = parsing.session_id(payload.get("session"))
    event = service().apply(session_id, parsing.step(payload.get("step")))
    return {"event": event}


@socketio.on("run")
@acked
def on_run(payload: dict[str, Any]) -> Ack:
    only(payload, "session", "count")
    session_id = parsing.session_id(payload.get("session"))
    return service().run(session_id, parsing.count(payload.get("count")))
