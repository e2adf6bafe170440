"""Socket.IO rooms across processes through Redis, with a lost connection made visible.
Imported only when a Redis message queue is configured (redis is an optional dependency).

python-socketio's RedisManager logs a failed publish and goes on, and retries its
subscription with a back-off of up to 60 s, so while Redis is away a step would be
committed and acknowledged and the followers on other workers would silently miss it,
and for up to a minute after it comes back too. Here:

- `check()` (before a step or run is applied) refuses with `QueueUnavailable` (503 /
  an error ack naming the queue and the reason) unless this process is subscribed and
  Redis answers a PING: nothing is applied that could not be delivered.
- A publish that still fails (Redis went away between the check and the commit) raises
  `QueueUnavailable` to the broadcaster; the step is already committed, so it stays
  acknowledged and followers elsewhere catch up by seq (webapp/events.py).
- The subscription is retried every second, and once it is back every client of this
  process is disconnected: each reconnects, rejoins with `since` and catches up on
  whatever other workers published while this one was not listening.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
import socketio
from redis.backoff import NoBackoff
from redis.retry import Retry

from .errors import QueueUnavailable

CHANNEL = "flask-socketio"  # Flask-SocketIO's default: servers of other versions interoperate
RETRY_S = 1.0  # between attempts to subscribe again: recovery within about a second
PROBE_TIMEOUT_S = 1.0  # a PING that takes longer counts as a lost connection
# Not python-socketio's logger, which shows errors only: "is back" must reach the log too.
log = logging.getLogger(__name__)


def redacted(url: str) -> str:
    """The URL without a password, for messages that reach clients and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class CheckedRedisManager(socketio.RedisManager):  # type: ignore[misc]
    def __init__(self, url: str) -> None:
        # No retries inside redis-py: its PubSub would otherwise reconnect and resubscribe
        # by itself, and a gap in the subscription would go unnoticed (no resync below).
        super().__init__(url, channel=CHANNEL,
                         redis_options={"retry": Retry(NoBackoff(), 0)})
        self.shown_url = redacted(url)
        self.listening = threading.Event()
        self._starting = threading.Lock()
        self.last_error: object = "not subscribed yet"
        self._lost = False
        self._probe = redis.Redis.from_url(
            url, socket_timeout=PROBE_TIMEOUT_S, socket_connect_timeout=PROBE_TIMEOUT_S,
            retry=Retry(NoBackoff(), 0))  # a dead queue is reported at once, not retried

    def check(self) -> None:
        """Raise QueueUnavailable unless an event published now would reach the others."""
        server = self.server
        if not server.manager_initialized:
            # python-socketio subscribes on the first Socket.IO connection; a server that
            # so far had REST calls only must subscribe before its first step too.
            with self._starting:
                if not server.manager_initialized:
                    server.manager_initialized = True
                    self.initialize()
            self.listening.wait(PROBE_TIMEOUT_S)
        if not self.listening.is_set():
            raise QueueUnavailable(self.shown_url, self.last_error)
        try:
            self._probe.ping()
        except redis.RedisError as exc:
            raise QueueUnavailable(self.shown_url, exc) from None

    def _publish(self, data: Any) -> Any:
        error: Exception | None = None
        for _attempt in range(2):  # a pooled connection may be stale after a restart
            try:
                if not self.connected:
                    self._redis_connect()
                return self.redis.publish(self.channel, self.json.dumps(data))
            except redis.RedisError as exc:
                error = exc
                self.connected = False
        log.error("cannot publish to %s: %s", self.shown_url, error)
        raise QueueUnavailable(self.shown_url, error)

    def _redis_listen_with_retries(self) -> Iterator[Any]:
        while True:
            try:
                self._redis_connect()
                self.pubsub.subscribe(self.channel)
                if self._lost:
                    self._lost = False
                    self._resync_clients()
                self.listening.set()
                yield from self.pubsub.listen()
            except Exception as exc:  # any failure: say so, and subscribe again
                if self.listening.is_set() or not self._lost:
                    log.error("lost the message queue %s: %s; retrying "
                                             "every %.0f s", self.shown_url, exc, RETRY_S)
                self.listening.clear()
                self.last_error = exc
                self._lost = True
                time.sleep(RETRY_S)

    def _resync_clients(self) -> None:
        """While this process was not subscribed, events other workers published did not
        reach its clients. Disconnected, each reconnects and rejoins with `since`
        (static/js/socket.js), the documented way to catch up by seq."""
        sids = list(self.rooms.get("/", {}).get(None, {}))
        log.warning("message queue %s is back: %d client(s) asked to "
                                   "reconnect and catch up", self.shown_url, len(sids))
        for sid in sids:
            try:
                self.server.disconnect(sid, namespace="/", ignore_queue=True)
            except Exception:  # already gone
                pass
