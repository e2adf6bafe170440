"""Fixtures for the web layer: an app on a temporary SQLite file, HTTP and Socket.IO clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_socketio import SocketIOTestClient

from webapp import create_app
from webapp.extensions import socketio

AppFactory = Callable[..., Flask]


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[AppFactory]:
    """Build apps on a database file (default: one per test); closes them afterwards."""
    apps: list[Flask] = []

    def make(database: Path | str | None = None, **config: Any) -> Flask:
        app = create_app(
            {"TESTING": True, "DATABASE": str(database or tmp_path / "pvframes.sqlite3"), **config}
        )
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
def connect(app: Flask) -> Iterator[Callable[[], SocketIOTestClient]]:
    """Open Socket.IO test clients on `app`; all are disconnected at teardown."""
    clients: list[SocketIOTestClient] = []

    def open_client() -> SocketIOTestClient:
        sio = socketio.test_client(app, flask_test_client=app.test_client())
        assert sio.is_connected()
        clients.append(sio)
        return sio

    yield open_client
    for sio in clients:
        if sio.is_connected():
            sio.disconnect()


@pytest.fixture
def session_id(client: FlaskClient) -> str:
    response = client.post("/api/sessions", json={})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]
