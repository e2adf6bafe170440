"""gunicorn's threaded worker (`gthread`) with a header timeout and TCP_NODELAY on each
connection: the worker `pvframes serve` runs by default (webapp/serving.py).

Why a subclass: gthread hands a connection to a thread that reads its request line and
headers with blocking reads and no time limit. gunicorn 27 first waits up to 5 s for the
first byte without reading (then parks a silent connection on its poller and closes it
after `keepalive`), but a client that sends a few bytes and then stalls holds the thread
for as long as it likes, and with a few hundred such clients no tab is served. Here a
socket timeout (`--keep-alive` seconds) covers each read and write of an HTTP request, as
webapp/serving.py's NoDelayHandler does for Werkzeug; a WebSocket upgrade clears it, since
an open tab is idle between Engine.IO pings (every 25 s) and simple-websocket reads it
with blocking calls.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

from gunicorn.workers import gthread

FALLBACK_TIMEOUT_S = 10  # when --keep-alive 0 turns keep-alive off


class Conn(gthread.TConn):  # type: ignore[misc]
    def init(self) -> None:
        # gunicorn calls init() on every pass, after setblocking(True) and just before the
        # parser reads the request: the one place to (re)arm the timeout for each request.
        first = not self.initialized
        super().init()
        if first:
            # gunicorn sets TCP_NODELAY on the listener; set it on the connection too, so
            # an ack is not held back behind the event sent just before it (Nagle).
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(self.cfg.keepalive or FALLBACK_TIMEOUT_S)


class _QuietTimeouts(logging.Filter):
    """gthread logs any socket error it does not know with a traceback; a client that
    stalled past the timeout is routine (port scanners, lost networks), not an error."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, TimeoutError)


class Worker(gthread.ThreadWorker):  # type: ignore[misc]
    def init_process(self) -> None:
        self.log.error_log.addFilter(_QuietTimeouts())
        super().init_process()

    def enqueue_req(self, conn: Any) -> None:
        # gthread builds a plain TConn in accept(); every connection (new, kept alive, or
        # parked while silent) passes here before a thread parses it.
        if type(conn) is gthread.TConn:
            conn.__class__ = Conn
        super().enqueue_req(conn)

    def handle_request(self, req: Any, conn: Any) -> Any:
        if any(name == "UPGRADE" and value.lower() == "websocket"
               for name, value in req.headers):
            conn.sock.settimeout(None)  # an open tab: idle between pings is normal
        return super().handle_request(req, conn)
