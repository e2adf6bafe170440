"""Shared by every test directory.

Apps: `make_app(database=None, **config)` builds the web app on a database file (default:
one per test in `app_dir`) and closes it at teardown; `app` and `client` are one such app
and its Flask test client; `serve(**config)` runs one on a real Werkzeug server on
127.0.0.1. A directory's conftest.py adjusts them by overriding `app_dir` (where the
default database goes) and `app_settings` (config every app of that directory gets).

Presenter tokens: in-process test clients act as the presenter of the sessions they create
(webapp/roles.py), so tests that step a session need not handle tokens.

A POST /api/sessions (a fork, a compare pair) through Flask's test client remembers the
returned token; later requests under /api/sessions/<id>/ carry it as `Authorization: Bearer`
unless the test set an Authorization header itself, and Socket.IO test clients add it as
`token` to event payloads that name a known session and have no `token` key. To act as a
follower, send `headers={"Authorization": ""}` or a payload with `"token": None`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_socketio import SocketIOTestClient

AppFactory = Callable[..., Flask]

TOKENS: dict[str, str] = {}  # session id -> presenter token, for every app of the run


def presenter_token(session_id: str) -> str | None:
    return TOKENS.get(session_id)


def _remember(response: Any) -> None:
    if response.status_code == 201 and response.is_json:
        body = response.get_json(silent=True)
        if isinstance(body, dict) and isinstance(body.get("token"), str):
            TOKENS[str(body["id"])] = body["token"]
        if isinstance(body, dict) and isinstance(body.get("tokens"), dict):  # a compare pair
            for key, token in body["tokens"].items():
                TOKENS[str(body[key])] = token


def _session_of(path: str) -> str | None:
    parts = path.split("?", 1)[0].split("/")
    if len(parts) > 4 and parts[1:3] == ["api", "sessions"]:
        return parts[3]
    return None


@pytest.fixture(autouse=True)
def act_as_presenter() -> Iterator[None]:
    # Patched by hand, not with the `monkeypatch` fixture: tests call its undo() for their
    # own patches, which must not drop this one.
    plain_open = FlaskClient.open
    plain_emit = SocketIOTestClient.emit

    def open_(self: FlaskClient, *args: Any, **kwargs: Any) -> Any:
        path = args[0] if args and isinstance(args[0], str) else kwargs.get("path", "")
        session_id = _session_of(path) if isinstance(path, str) else None
        headers = dict(kwargs.get("headers") or {})
        if session_id in TOKENS and "Authorization" not in headers:
            headers["Authorization"] = f"Bearer {TOKENS[session_id]}"
            kwargs["headers"] = headers
        response = plain_open(self, *args, **kwargs)
        if isinstance(path, str) and path.startswith("/api/"):
            _remember(response)  # a create's or a fork's token
        return response

    def emit(self: SocketIOTestClient, event: str, *args: Any, **kwargs: Any) -> Any:
        if args and isinstance(args[0], dict) and "token" not in args[0]:
            session_id = args[0].get("session")
            if event in ("step", "run") and isinstance(session_id, str) and session_id in TOKENS:
                # first, so the depth-first payload checks reach the test's own fields first
                args = ({"token": TOKENS[session_id], **args[0]}, *args[1:])
        ack = plain_emit(self, event, *args, **kwargs)
        if event == "fork" and isinstance(ack, dict) and isinstance(ack.get("token"), str):
            TOKENS[str(ack["id"])] = ack["token"]
        return ack

    FlaskClient.open = open_  # type: ignore[method-assign]
    SocketIOTestClient.emit = emit  # type: ignore[method-assign]
    try:
        yield
    finally:
        FlaskClient.open = plain_open  # type: ignore[method-assign]
        SocketIOTestClient.emit = plain_emit  # type: ignore[method-assign]


@pytest.fixture
def fast_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory in memory when the machine has one: the corpus tests commit thousands
    of times, and fsync on a shared disk would dominate their run time."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    with tempfile.TemporaryDirectory(dir=shm) as name:
        yield Path(name)


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    """Where `make_app` puts its default database."""
    return tmp_path


@pytest.fixture
def app_settings() -> dict[str, Any]:
    """Config every app of the directory gets (before the test's own)."""
    return {}


@pytest.fixture
def make_app(app_dir: Path, app_settings: dict[str, Any]) -> Iterator[AppFactory]:
    """Build apps on a database file (default: one per test); closes them afterwards."""
    from webapp import create_app

    apps: list[Flask] = []

    def make(database: Path | str | None = None, **config: Any) -> Flask:
        app = create_app({"TESTING": True, **app_settings,
                          "DATABASE": str(database or app_dir / "pvframes.sqlite3"),
                          **config})
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["pvframes"].store.close()


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def serve(make_app: AppFactory) -> Iterator[Callable[..., tuple[Flask, str]]]:
    """`serve(handler=..., **config)`: a new app on a real Werkzeug server on 127.0.0.1
    (TCP_NODELAY, socket timeout; webapp/serving.py): (app, base URL). Stopped at teardown."""
    from webapp.serving import NoDelayHandler, background_server

    stops: list[Callable[[], None]] = []

    def start(handler: type[NoDelayHandler] = NoDelayHandler, **config: Any
              ) -> tuple[Flask, str]:
        app = make_app(**config)
        base, stop = background_server(app, handler=handler)
        stops.append(stop)
        return app, base

    yield start
    for stop in stops:
        stop()
