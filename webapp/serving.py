"""How `pvframes serve` runs the app.

Default: gunicorn's threaded worker (`gthread`), the route Flask-SocketIO documents for
`async_mode="threading"` with simple-websocket, extended in webapp/gunicorn_worker.py: a
header timeout (`--keep-alive` seconds on each read and write of an HTTP request, cleared
on a WebSocket upgrade), so that clients which send half a request and stall cannot hold
its threads; TCP_NODELAY on each connection; open WebSockets closed on a stop signal, so
the worker exits in time for its atexit hook (below) to finish pending snapshots. gunicorn
also parks connections that send nothing and closes them, and kept-alive ones, after
`--keep-alive` seconds, and restarts a worker stuck past `--timeout`.

Each open WebSocket holds one of a worker's `threads` (plus the threads Engine.IO and
simple-websocket start for it: about 180 kB of memory per open tab, measured in
docs/operations.md); the default, 400, covers a class, and idle threads cost nothing
(the pool starts them as needed). Several workers need a message queue
(`--message-queue redis://...`) so that Socket.IO rooms span them, and WebSocket-only
transport: a long-polling client's requests could land on different workers (gunicorn has
no sticky sessions).

Werkzeug (`--server werkzeug`, for development, and the in-process server of the tests and
benchmarks below): its threaded server, one thread per connection, with TCP_NODELAY set on
each connection and the same kind of socket timeout (NoDelayHandler).
"""

from __future__ import annotations

import atexit
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask
from werkzeug.serving import WSGIRequestHandler, make_server


class NoDelayHandler(WSGIRequestHandler):
    """Werkzeug's handler with Nagle's algorithm off (a small ack right after an event
    would otherwise wait up to 40 ms for the peer's delayed ACK) and a socket timeout: a
    connection that sends no request, or stalls an HTTP read or write for this long, is
    closed instead of holding its thread. A WebSocket upgrade clears it: idle tabs stay."""

    timeout = 10

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def parse_request(self) -> bool:
        ok = super().parse_request()
        if ok and self.headers.get("Upgrade", "").lower() == "websocket":
            # From here on the connection is a WebSocket: idle between Engine.IO pings is
            # normal, and simple-websocket reads it with blocking calls.
            self.connection.settimeout(None)
        return ok


def handler_with_timeout(seconds: int) -> type[NoDelayHandler]:
    return type("NoDelayHandler", (NoDelayHandler,), {"timeout": seconds})


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 5000
    workers: int = 1
    threads: int = 400  # one per connected tab while it holds a WebSocket
    keep_alive_s: int = 10  # idle or half-open connections are closed after this
    timeout_s: int = 120  # a worker silent this long is restarted
    graceful_timeout_s: int = 10


def background_server(app: Any, host: str = "127.0.0.1", port: int = 0,
                      handler: type[NoDelayHandler] = NoDelayHandler
                      ) -> tuple[str, Callable[[], None]]:
    """Serve `app` (Werkzeug, threaded, TCP_NODELAY) from a thread: (base URL, stop)."""
    server = make_server(host, port, app, threaded=True, request_handler=handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return f"http://{host}:{server.server_port}", stop


def run_gunicorn(app_factory: Callable[[], Flask], options: ServeOptions) -> None:
    """Run under gunicorn's gthread worker; each worker builds its own app after fork."""
    from gunicorn.app.base import BaseApplication

    class Application(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            bind = f"[{options.host}]" if ":" in options.host else options.host
            for key, value in {
                "bind": f"{bind}:{options.port}",
                "workers": options.workers,
                "worker_class": "webapp.gunicorn_worker.Worker",
                "threads": options.threads,
                # Open WebSockets count as connections: leave room for kept-alive ones.
                "worker_connections": max(1000, options.threads + 200),
                "keepalive": options.keep_alive_s,
                "timeout": options.timeout_s,
                "graceful_timeout": options.graceful_timeout_s,
                # Request line and header limits: a slow or huge header cannot hold a thread
                # for long or take memory (gunicorn's defaults, stated here on purpose).
                "limit_request_line": 4094,
                "limit_request_fields": 100,
                "limit_request_field_size": 8190,
                "accesslog": None,
                "errorlog": "-",
                "loglevel": "warning",
            }.items():
                self.cfg.set(key, value)

        def load(self) -> Flask:
            app = app_factory()
            # A worker stopped gracefully (SIGTERM, --graceful-timeout) exits through
            # sys.exit: finish the snapshots it is writing, then close the database.
            atexit.register(app.extensions["pvframes"].store.close)
            return app

    Application().run()
