"""pvframes web app: REST + Socket.IO over engine sessions, and the page that shows them."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask

from .extensions import socketio
from .limits import Limits
from .paths import asset_dir, default_scenario_dirs


def create_app(
    test_config: dict[str, Any] | None = None, *, overrides: dict[str, Any] | None = None
) -> Flask:
    """Build the app. Settings: `test_config` if given, else the instance folder's config.py
    and PVFRAMES_* environment variables (e.g. PVFRAMES_DATABASE); then `overrides` (the
    command line's choices) on top.

    DATABASE              SQLite file for sessions (default: <instance>/pvframes.sqlite3)
    SCENARIO_DIRS         [(source, directory), ...] for the catalogue (default: shared + examples)
    CORS_ALLOWED_ORIGINS  extra origins allowed to call (REST and Socket.IO); None = same
                          origin only
    ALLOWED_HOSTS         host names the server answers to besides localhost and IP
                          literals (DNS rebinding); ["*"] = any
    SESSION_CACHE_SIZE    live sessions kept in memory; others are replayed on access
    MESSAGE_QUEUE         e.g. redis://127.0.0.1:6379/0: Socket.IO rooms shared between
                          processes (several workers or servers on one database)
    WEBSOCKET_ONLY        refuse long-polling (several workers: no sticky sessions)
    AUDIENCE_TTL_S        behind a Redis queue, how long a killed worker's followers still
                          count (webapp/audience.py)
    SNAPSHOT_AFTER_S      CPU seconds of steps after which a session's state is stored
                          beside its log (fast reopen); None = never
    DURABILITY            what an acknowledged step survives: "process" (kill -9 and
                          crashes of the server; default) or "full" (power loss and OS
                          crashes too, at an fsync per step); see webapp/schema.py
    LIMITS                overrides of webapp.limits.Limits, e.g. {"max_body_bytes": 4194304}
    TEMPLATE_FOLDER       override where index.html is looked up
    The interactive debugger is never enabled, whatever DEBUG or FLASK_DEBUG say.
    """
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder=str(asset_dir("templates")),
        static_folder=str(asset_dir("static")),
        static_url_path="/static",
    )
    app.config.from_mapping(
        DATABASE=os.path.join(app.instance_path, "pvframes.sqlite3"),
        SCENARIO_DIRS=None,
        CORS_ALLOWED_ORIGINS=None,
        ALLOWED_HOSTS=None,
        SESSION_CACHE_SIZE=64,
        LIMITS=None,
        SNAPSHOT_AFTER_S=0.5,
        DURABILITY=None,  # None: webapp.schema.DEFAULT_DURABILITY
        MESSAGE_QUEUE=None,
        WEBSOCKET_ONLY=False,
        AUDIENCE_TTL_S=30,
        TEMPLATE_FOLDER=None,
    )
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env("PVFRAMES")
    else:
        app.config.from_mapping(test_config)
    app.config.from_mapping(overrides or {})
    # Werkzeug's debugger evaluates code sent by whoever reaches it: never on.
    app.config["DEBUG"] = False
    app.debug = False
    limits = Limits.from_config(app.config["LIMITS"])
    app.config["MAX_CONTENT_LENGTH"] = limits.max_body_bytes
    if app.config["TEMPLATE_FOLDER"]:
        app.template_folder = str(app.config["TEMPLATE_FOLDER"])

    database = str(app.config["DATABASE"])
    if database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)

    # Imported here, not at module top, so importing the package stays cheap; the import
    # registers the Socket.IO handlers before any client can connect (#510).
    from . import (  # noqa: F401
        api,
        events,
        explore_events,
        follow_events,
        pages,
        schema,
        security,
        slides_api,
        wire,
    )
    from .audience import make_audience
    from .catalogue import Catalogue
    from .roles import Roles
    from .service import SessionService
    from .store import SessionStore

    # The extension keeps its options between apps (tests make many): a manager left by an
    # earlier app with a message queue must not serve this one.
    socketio.server_options.pop("client_manager", None)
    queue_options, queue_ready = message_queue(app.config["MESSAGE_QUEUE"])
    socketio.init_app(
        app,
        async_mode="threading",
        cors_allowed_origins=app.config["CORS_ALLOWED_ORIGINS"],
        # Packets that do not decode still reach a handler, which acks an error
        # (webapp/wire.py); past max_transport_bytes Engine.IO itself closes the connection.
        serializer=wire.safe_packet_class(limits),
        max_http_buffer_size=limits.max_transport_bytes,
        **queue_options,
        transports=["websocket"] if app.config["WEBSOCKET_ONLY"] else None,
        # Handle each client's messages in arrival order, so a tab's steps apply in the
        # order it sent them; other clients have their own connection threads.
        async_handlers=False,
    )
    scenario_dirs = app.config["SCENARIO_DIRS"]
    if scenario_dirs is None:
        scenario_dirs = default_scenario_dirs()
    app.extensions["pvframes"] = SessionService(
        store=SessionStore(database, cache_size=int(app.config["SESSION_CACHE_SIZE"]),
                           cache_bytes=limits.cache_bytes,
                           snapshot_after_s=app.config["SNAPSHOT_AFTER_S"],
                           durability=app.config["DURABILITY"] or schema.DEFAULT_DURABILITY),
        catalogue=Catalogue([(source, Path(path)) for source, path in scenario_dirs]),
        broadcast=events.broadcast,
        limits=limits,
        ready=queue_ready,
    )
    app.extensions["pvframes.roles"] = Roles(app.extensions["pvframes"].store)
    app.extensions["pvframes.audience"] = make_audience(app.config["MESSAGE_QUEUE"],
                                                        float(app.config["AUDIENCE_TTL_S"]))
    app.register_blueprint(api.bp)
    app.register_blueprint(pages.bp)
    security.install(app)
    return app


def message_queue(url: str | None) -> tuple[dict[str, Any], Callable[[], None]]:
    """Flask-SocketIO's message queue options, and the check a step must pass first. For
    Redis, a manager that refuses steps while the queue is away and resynchronises its
    clients when it is back (webapp/messagequeue.py); other queues as Flask-SocketIO makes
    them, unchecked."""
    if not url:
        return {"message_queue": None}, lambda: None
    if str(url).startswith(("redis://", "rediss://", "unix://")):
        from .messagequeue import CheckedRedisManager

        manager = CheckedRedisManager(str(url))
        return {"client_manager": manager}, lambda: manager.check()
    return {"message_queue": url}, lambda: None
