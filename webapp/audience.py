"""Who follows a session: the room's audience count and the presenter's latest state.

Without a message queue both live in this process: a room's members are this process's
Socket.IO connections. Behind a Redis message queue (several workers or servers on one
database, docs/operations.md "Several workers") each worker sees only its own connections,
so both go to Redis, where every worker reads the whole class:

- `pvframes:audience:<session>`: a sorted set of "<worker>:<sid>", scored by the time the
  worker last vouched for that connection. Joins add, leaves and disconnects remove at once;
  every REFRESH of the TTL each worker re-scores its members, so the entries of a worker
  that was killed (no disconnect ran) fall out of the count after at most `ttl_s`.
- `pvframes:presenter:<session>`: the latest presenter state (JSON), kept for a day.

If Redis cannot be reached the count and state fall back to this process's (logged once
per outage); nothing else depends on them.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import secrets
import threading
import time
from collections import OrderedDict
from typing import Any

from .extensions import socketio

log = logging.getLogger(__name__)

ROOM_PREFIX = "session:"   # events.room_for
MAX_ROOMS = 4096           # latest states kept in a process; the oldest room's is forgotten
STATE_TTL_S = 86400        # a presenter state outlives a lecture, not a term
REFRESH = 3                # members are re-scored ttl_s / REFRESH apart


def _local_members(session_id: str) -> set[str]:
    rooms = socketio.server.manager.rooms.get("/", {})
    return set(rooms.get(ROOM_PREFIX + session_id) or {})


class LocalAudience:
    """This process's rooms: exact for one server process."""

    def __init__(self) -> None:
        self._latest: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._guard = threading.Lock()

    def joined(self, session_id: str, sid: str) -> None:
        pass  # the Socket.IO room is the record

    def left(self, session_id: str, sid: str) -> None:
        pass

    def count(self, session_id: str, caller: str) -> int:
        """Connections in the session's room other than the caller's."""
        return len(_local_members(session_id) - {caller})

    def keep(self, session_id: str, state: dict[str, Any]) -> None:
        with self._guard:
            self._latest[session_id] = state
            self._latest.move_to_end(session_id)
            while len(self._latest) > MAX_ROOMS:
                self._latest.popitem(last=False)

    def latest(self, session_id: str) -> dict[str, Any] | None:
        with self._guard:
            return self._latest.get(session_id)


class RedisAudience(LocalAudience):
    """Every worker's rooms, through the Redis server the message queue uses."""

    def __init__(self, url: str, ttl_s: float = 30.0) -> None:
        super().__init__()
        import redis

        self._errors = (redis.RedisError, OSError)
        self.redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.ttl_s = ttl_s
        self._pid = 0          # the worker the id and heartbeat belong to (gunicorn forks)
        self._worker = ""
        self._down = False

    def close(self) -> None:
        """Stop this process's heartbeat (its members then age out of the count)."""
        self._pid = -1

    # -- the worker's own members --------------------------------------------------------
    def _me(self, sid: str) -> str:
        if self._pid != os.getpid():  # first use in this process: an id, and a heartbeat
            self._pid, self._worker = os.getpid(), f"{os.getpid()}-{secrets.token_hex(4)}"
            threading.Thread(target=self._heartbeat, name="pvframes-audience",
                             daemon=True).start()
        return f"{self._worker}:{sid}"

    def _heartbeat(self) -> None:
        pid = os.getpid()
        while self._pid == pid:
            time.sleep(self.ttl_s / REFRESH)
            try:
                self._vouch()
            except Exception:  # the thread must outlive any one failure
                log.debug("audience heartbeat failed", exc_info=True)

    def _vouch(self) -> None:
        rooms = socketio.server.manager.rooms.get("/", {})
        now = time.time()
        with self.redis.pipeline(transaction=False) as pipe:
            for room, members in list(rooms.items()):
                if not (isinstance(room, str) and room.startswith(ROOM_PREFIX)) or not members:
                    continue
                key = _members_key(room[len(ROOM_PREFIX):])
                pipe.zadd(key, {f"{self._worker}:{sid}": now for sid in list(members)})
                pipe.expire(key, int(self.ttl_s * 2) + 1)
            self._call(pipe.execute)

    def _call(self, fn: Any, *args: Any) -> Any:
        """`fn(*args)` on Redis; None when Redis fails (logged once per outage)."""
        try:
            result = fn(*args)
        except self._errors as exc:
            if not self._down:
                log.warning("audience: Redis unavailable (%s); counting this worker only", exc)
            self._down = True
            return None
        if self._down:
            log.warning("audience: Redis is back")
        self._down = False
        return result

    # -- the interface ---------------------------------------------------------------------
    def joined(self, session_id: str, sid: str) -> None:
        key = _members_key(session_id)
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(key, {self._me(sid): time.time()})
            pipe.expire(key, int(self.ttl_s * 2) + 1)
            self._call(pipe.execute)

    def left(self, session_id: str, sid: str) -> None:
        self._call(self.redis.zrem, _members_key(session_id), self._me(sid))

    def count(self, session_id: str, caller: str) -> int:
        key = _members_key(session_id)
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.zremrangebyscore(key, "-inf", time.time() - self.ttl_s)
            pipe.zcard(key)
            pipe.zscore(key, self._me(caller))
            answer = self._call(pipe.execute)
        if answer is None:
            return super().count(session_id, caller)
        _, members, mine = answer
        return int(members) - (0 if mine is None else 1)

    def keep(self, session_id: str, state: dict[str, Any]) -> None:
        super().keep(session_id, state)
        self._call(functools.partial(self.redis.set, _state_key(session_id), json.dumps(state),
                                     ex=STATE_TTL_S))

    def latest(self, session_id: str) -> dict[str, Any] | None:
        text = self._call(self.redis.get, _state_key(session_id))
        if text is None:
            return super().latest(session_id)
        state: dict[str, Any] = json.loads(text)
        return state


def _members_key(session_id: str) -> str:
    return f"pvframes:audience:{session_id}"


def _state_key(session_id: str) -> str:
    return f"pvframes:presenter:{session_id}"


def make_audience(message_queue: str | None, ttl_s: float) -> LocalAudience:
    """Redis-backed when the message queue is Redis; this process's rooms otherwise."""
    if message_queue and message_queue.split(":", 1)[0] in ("redis", "rediss", "unix"):
        return RedisAudience(message_queue, ttl_s)
    return LocalAudience()
