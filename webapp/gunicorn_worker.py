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

On SIGTERM (graceful) or SIGINT/SIGQUIT (quick) the worker closes its open WebSockets
first: gthread waits for every connection to end, and a tab's never does, so the worker
would sit out `graceful_timeout` and be killed before its atexit hook (webapp/serving.py)
finishes pending snapshots. The tabs reconnect once the server is back.
"""

from __future__ import annotations

import logging
import socket
import time
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

    closed = False

    def close(self, graceful: bool = False) -> None:
        if not self.closed:
            self.closed = True
            super().close(graceful=graceful)


class _QuietTimeouts(logging.Filter):
    """gthread logs any socket error it does not know with a traceback; a client that
    stalled past the timeout is routine (port scanners, lost networks), not an error."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, TimeoutError)


class Worker(gthread.ThreadWorker):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._websockets: set[socket.socket] = set()  # sockets of open tabs

    def init_process(self) -> None:
        self.log.error_log.addFilter(_QuietTimeouts())
        super().init_process()

    def enqueue_req(self, conn: Any) -> None:
        # gthread builds a plain TConn in accept(); every connection (new, kept alive, or
        # parked while silent) passes here before a thread parses it.
        if type(conn) is gthread.TConn:
            conn.__class__ = Conn
        super().enqueue_req(conn)

    def handle(self, conn: Any) -> Any:
        result = super().handle(conn)
        if result is False:
            # gthread would close it on its main loop, where a graceful close lingers up to
            # 2 s for the peer's FIN: a few clients that stall and never close would stop
            # the worker accepting anyone. Linger here, in this connection's thread.
            conn.close(graceful=True)
        return result

    def handle_request(self, req: Any, conn: Any) -> Any:
        if not any(name == "UPGRADE" and value.lower() == "websocket"
                   for name, value in req.headers):
            return super().handle_request(req, conn)
        conn.sock.settimeout(None)  # an open tab: idle between pings is normal
        self._websockets.add(conn.sock)
        try:
            return super().handle_request(req, conn)
        finally:
            self._websockets.discard(conn.sock)

    def close_websockets(self) -> None:
        # shutdown() wakes the thread blocked reading the tab; it then ends the request.
        for sock in list(self._websockets):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already gone

    def handle_exit(self, sig: int, frame: Any) -> None:
        self.close_websockets()
        super().handle_exit(sig, frame)

    def handle_quit(self, sig: int, frame: Any) -> None:
        self.close_websockets()
        time.sleep(0.2)  # the threads end their requests; then gthread exits at once
        super().handle_quit(sig, frame)
