"""Socket.IO entry point. Every handler acknowledges with {"ok": true, ...} or
{"ok": false, "error": {"field", "message"}}; session changes are pushed to the session's
room as `event` messages by the service's broadcast (see docs/protocol.md)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import current_app, request
from flask_socketio import join_room, leave_room
from socketio import PubSubManager

from engine.errors import InvalidInput

from . import parsing
from .errors import (
    QueueUnavailable,
    ReplayError,
    SessionConflict,
    SessionNotFound,
    StorageUnavailable,
)
from .extensions import socketio
from .limits import LimitExceeded
from .roles import NotPresenter, Roles, parse_token
from .service import Event, SessionService
from .wire import INVALID_EVENT, EncodedCache, Refused

Ack = dict[str, Any]


def room_for(session_id: str) -> str:
    return f"session:{session_id}"


ENCODED = EncodedCache()


def broadcast(session_id: str, event: Event) -> None:
    """Push one event to every client that joined the session: encoded once for all of
    them, and not at all when nobody in this process is watching (unless rooms span
    processes through a message queue, where only the queue knows)."""
    room = room_for(session_id)
    if not room_may_have_members(room):
        return
    shed_laggards(room)
    encoded = ENCODED.get(event)
    manager = socketio.server.manager
    try:
        if isinstance(manager, PubSubManager) and hasattr(manager, "_publish"):
            if not _publish_in_queue_order(manager, room, encoded):
                raise QueueUnavailable(getattr(manager, "shown_url", "in use"),
                                       "publish gave up")
        else:
            socketio.emit("event", encoded, to=room)
    except QueueUnavailable as exc:
        # Redis went away after the service's check passed: the event is committed, so it stays
        # acknowledged; this process's followers get it now, the others' see the gap at the
        # next event (or reconnect when the queue is back) and catch up by seq.
        socketio.emit("event", encoded, to=room, ignore_queue=True)
        current_app.logger.error("seq %s of session %s reached this server's followers "
                                 "only: %s", event.get("seq"), session_id, exc)


# A host id no process has (python-socketio's are uuid4 hex), so every process's queue
# listener delivers the message, this one's included.
QUEUE_ORDER_HOST = "pvframes-queue-order"


def _publish_in_queue_order(manager: PubSubManager, room: str, encoded: Any) -> bool:
    """Send an event to its room through the message queue only, followers of this process
    included. python-socketio's emit delivers to its own process at once and to the others
    when the queue does, so an event stepped here could reach this process's followers
    before an earlier one stepped on another server and still on its way from the queue;
    when every process delivers what the queue gives, in the queue's order, every follower
    sees seq order. False (or QueueUnavailable, webapp/messagequeue.py) if the queue could
    not be reached."""
    message = {"method": "emit", "event": "event", "data": [encoded], "binary": False,
               "namespace": "/", "room": room, "skip_sid": None, "callback": None,
               "host_id": QUEUE_ORDER_HOST}
    return manager._publish(message) is not None


def shed_laggards(room: str) -> None:
    """Backpressure: a follower whose outgoing queue is past the limit is disconnected
    rather than queued for without bound. Its client reconnects and joins with `since`,
    catching up from the log in pages; writers and other followers never wait for it."""
    server = socketio.server
    limit = service().limits.max_follower_backlog
    for sid, eio_sid in list(server.manager.get_participants("/", room)):
        eio_socket = server.eio.sockets.get(eio_sid)
        queue = getattr(eio_socket, "queue", None)
        if queue is not None and queue.qsize() > limit:
            current_app.logger.warning("dropping follower %s: %d messages behind", sid,
                                       queue.qsize())
            server.disconnect(sid)


def room_may_have_members(room: str) -> bool:
    manager = socketio.server.manager
    if isinstance(manager, PubSubManager):
        return True
    return bool(manager.rooms.get("/", {}).get(room))


def service() -> SessionService:
    return current_app.extensions["pvframes"]


def require_presenter(session_id: str, payload: dict[str, Any]) -> None:
    """Changes need the presenter's token, given as `token` in the payload (webapp/roles.py);
    checked after the payload, so a malformed one is told what is wrong with it first."""
    roles: Roles = current_app.extensions["pvframes.roles"]
    roles.require(session_id, parse_token(payload.get("token")))


def acked(handler: Callable[[dict[str, Any]], Ack]) -> Callable[..., Ack]:
    """Validate that the payload is an object and turn the outcome into an ack."""

    @functools.wraps(handler)
    def wrapper(*args: Any) -> Ack:
        try:
            payload = args[0] if args else None
            if isinstance(payload, Refused):  # could not be decoded or checked: webapp.wire
                return failure(payload.field, payload.message, payload.limit)
            if not isinstance(payload, dict):
                raise InvalidInput("payload", "must be an object")
            if len(args) > 1:
                raise InvalidInput("payload", "one object per event")
            return {"ok": True, **handler(payload)}
        except NotPresenter as exc:
            return failure(exc.field, exc.message)
        except LimitExceeded as exc:
            return failure(exc.field or None, exc.message, exc.limit)
        except InvalidInput as exc:
            return failure(exc.field or None, exc.message)
        except SessionNotFound as exc:
            return failure("session", str(exc))
        except SessionConflict as exc:
            return failure(None, str(exc))
        except StorageUnavailable as exc:
            current_app.logger.error("%s", exc)
            return failure(None, str(exc))
        except ReplayError as exc:
            current_app.logger.error("%s", exc)
            return failure(None, "the session's stored history could not be rebuilt")
        except Exception:  # an ack the client can show beats a silent timeout
            current_app.logger.exception("socket.io handler %s failed", handler.__name__)
            return failure(None, "internal error; see the server log")

    return wrapper


def failure(field: str | None, message: str, limit: str | None = None) -> Ack:
    error: dict[str, Any] = {"field": field, "message": message}
    if limit is not None:
        error["limit"] = limit
    return {"ok": False, "error": error}


@socketio.on("*")
def on_unknown(event: str, *args: Any) -> Ack:
    """Events no handler knows (or whose name could not be read) still get an ack."""
    if args and isinstance(args[0], Refused) and event != INVALID_EVENT:
        refused = args[0]
        return failure(refused.field, refused.message, refused.limit)
    return failure("event", "unknown event; expected join, leave, step or run")


def only(payload: dict[str, Any], *allowed: str) -> None:
    for key in payload:
        if key not in allowed:
            raise InvalidInput(key, f"unknown field; expected one of {', '.join(allowed)}")


@socketio.on("join")
@acked
def on_join(payload: dict[str, Any]) -> Ack:
    only(payload, "session", "since", "packed")
    session_id = parsing.session_id(payload.get("session"))
    since = parsing.since(payload.get("since"))
    packed = parsing.flag_or_none(payload.get("packed"), "packed")
    joined = service().join(session_id, since, lambda: join_room(room_for(session_id)), packed)
    current_app.extensions["pvframes.audience"].joined(session_id, request.sid)
    return joined


@socketio.on("leave")
@acked
def on_leave(payload: dict[str, Any]) -> Ack:
    only(payload, "session")
    session_id = parsing.session_id(payload.get("session"))
    leave_room(room_for(session_id))
    current_app.extensions["pvframes.audience"].left(session_id, request.sid)
    return {}


@socketio.on("step")
@acked
def on_step(payload: dict[str, Any]) -> Ack:
    only(payload, "session", "step", "token")
    session_id = parsing.session_id(payload.get("session"))
    step = parsing.step(payload.get("step"))
    require_presenter(session_id, payload)
    event = service().apply(session_id, step)
    return {"event": ENCODED.get(event)}


@socketio.on("run")
@acked
def on_run(payload: dict[str, Any]) -> Ack:
    only(payload, "session", "count", "token")
    session_id = parsing.session_id(payload.get("session"))
    count = parsing.count(payload.get("count"))
    require_presenter(session_id, payload)
    return service().run(session_id, count)


@socketio.on("fork")
@acked
def on_fork(payload: dict[str, Any]) -> Ack:
    """{"session", "seq", "xen"?}: a new session from that point (under that variant);
    ack {"id", "seq", "snapshot", "token"}. Anyone may fork (a follower detaching from the
    class): the shared session is not changed, and the fork's token is the forker's."""
    only(payload, "session", "seq", "xen")
    session_id = parsing.session_id(payload.get("session"))
    seq = parsing.seq(payload.get("seq"))
    if seq is None:
        raise InvalidInput("seq", "must be a non-negative integer")
    forked = service().fork(session_id, seq, parsing.xen(payload.get("xen")))
    roles: Roles = current_app.extensions["pvframes.roles"]
    return {**forked, "token": roles.issue(forked["id"])}
