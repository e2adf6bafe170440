"""The `pvframes` command: `serve` runs the web app; `run` is the engine's, `bench` both."""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
from collections.abc import Sequence

# Subcommands whose arguments the engine parses itself; imported only when used, so that
# `serve` works even while they are unavailable.
DELEGATED = {
    "run": ("engine.runner", "run scenario files and check their assertions"),
    "bench": ("webapp.bench", "time the engine and the web app on large guests"),
    "explore": ("engine.explore_cli", "search for short sequences that reach a goal"),
    "db": ("webapp.dbtool", "check or recover the session database (check|recover --db PATH)"),
}


def build_parser() -> argparse.ArgumentParser:
    from .serving import ServeOptions

    parser = argparse.ArgumentParser(
        prog="pvframes", description="Visualise Xen x86 PV guest memory and migration."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="serve the web UI and its API")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    serve.add_argument("--port", type=int, default=5000, help="port (default %(default)s)")
    serve.add_argument("--db", metavar="PATH", help="SQLite file for sessions")
    serve.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                       help="a host name clients use to reach the server (repeatable); "
                       "localhost and IP addresses are always allowed")
    serve.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                       help="another origin allowed to call the API and Socket.IO "
                       "(repeatable), e.g. https://course.example.edu")
    serve.add_argument("--server", choices=["gunicorn", "werkzeug"], default="gunicorn",
                       help="gunicorn's threaded worker (default), or Werkzeug's development "
                       "server, for development only (see docs/operations.md)")
    serve.add_argument("--workers", type=int, default=1, metavar="N",
                       help="worker processes (gunicorn; N > 1 needs --message-queue)")
    serve.add_argument("--threads", type=int, default=ServeOptions.threads, metavar="N",
                       help="gunicorn's threads per worker: each open WebSocket holds one, "
                       "and a tab past them waits (default %(default)s)")
    serve.add_argument("--keep-alive", type=int, default=10, metavar="S",
                       help="close connections that send nothing for S seconds, including "
                       "new ones that never send a request or stall in its headers "
                       "(default %(default)s)")
    serve.add_argument("--timeout", type=int, default=120, metavar="S",
                       help="restart a worker stuck for S seconds (default %(default)s)")
    serve.add_argument("--durability", choices=["process", "full"],
                       help="what an acknowledged step survives: 'process', a crash or kill "
                       "-9 of the server (SQLite WAL, synchronous=NORMAL; the default), or "
                       "'full', power loss and OS crashes too (synchronous=FULL: an fsync "
                       "per step); see docs/operations.md")
    serve.add_argument("--message-queue", metavar="URL",
                       help="e.g. redis://127.0.0.1:6379/0: Socket.IO rooms shared by every "
                       "worker and server on the same database")
    for name, (_module, help_text) in DELEGATED.items():
        # Listed for --help only; main() hands these over before argparse sees them.
        commands.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in DELEGATED:
        module = importlib.import_module(DELEGATED[args[0]][0])
        return int(module.main(args[1:]) or 0)
    options = build_parser().parse_args(args)
    overrides: dict[str, object] = {}
    if options.db:
        overrides["DATABASE"] = options.db
    if options.allowed_host:
        overrides["ALLOWED_HOSTS"] = options.allowed_host
    if options.cors_origin:
        overrides["CORS_ALLOWED_ORIGINS"] = options.cors_origin
    if options.message_queue:
        overrides["MESSAGE_QUEUE"] = options.message_queue
    if options.durability:
        overrides["DURABILITY"] = options.durability
    if options.workers < 1:
        print("pvframes: --workers must be at least 1", file=sys.stderr)
        return 2
    if options.workers > 1:
        if options.server != "gunicorn" or not options.message_queue:
            print("pvframes: --workers N > 1 needs gunicorn and --message-queue redis://...: "
                  "each worker must see the others' Socket.IO rooms", file=sys.stderr)
            return 2
        overrides["WEBSOCKET_ONLY"] = True  # no sticky sessions between workers
    from .serving import ServeOptions

    serve_options = ServeOptions(host=options.host, port=options.port,
                                 workers=options.workers, threads=options.threads,
                                 keep_alive_s=options.keep_alive, timeout_s=options.timeout)
    return serve(options.host, options.port, overrides, server=options.server,
                 options=serve_options)


def serve(host: str, port: int, overrides: dict[str, object] | None = None,
          server: str = "gunicorn", options: object = None) -> int:
    """Run the server until it is stopped; 1 if the database is refused."""
    from . import create_app
    from .extensions import socketio
    from .schema import DatabaseProblem
    from .serving import ServeOptions, handler_with_timeout, run_gunicorn

    try:
        app = create_app(overrides=overrides or None)  # checks the database before forking
    except DatabaseProblem as exc:
        print(f"pvframes: {exc}", file=sys.stderr)
        return 1
    shown = f"[{host}]" if ":" in host else host
    print(f"pvframes: serving on http://{shown}:{port}/ (sessions in {app.config['DATABASE']};"
          f" {server})", flush=True)
    if server == "gunicorn":
        app.extensions["pvframes"].store.close()  # each worker opens its own after fork
        run_gunicorn(lambda: create_app(overrides=overrides or None),
                     options if isinstance(options, ServeOptions) else
                     ServeOptions(host=host, port=port))
        return 0
    # The Werkzeug server is what the threading mode uses; without this flag Flask-SocketIO
    # refuses to start whenever stdin is not a terminal (CI, systemd; #1814).
    # debug and the reloader stay off whatever the environment says: Werkzeug's debugger
    # runs code for whoever reaches it.
    # SIGTERM stops the server as Ctrl-C does (Werkzeug returns from serve_forever), so
    # that snapshots still being written are finished: a restart then reopens large
    # sessions from them instead of replaying their logs.
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if main_thread else None
    try:
        socketio.run(app, host=host, port=port, allow_unsafe_werkzeug=True, debug=False,
                     use_reloader=False, request_handler=handler_with_timeout(
                         options.keep_alive_s if isinstance(options, ServeOptions) else 10))
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
        app.extensions["pvframes"].store.close()  # finishes its snapshots first
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
