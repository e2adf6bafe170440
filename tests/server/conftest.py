"""Fixtures for the web layer: Socket.IO test clients and a session on the shared `app`
(tests/conftest.py builds it on a temporary SQLite file)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_socketio import SocketIOTestClient

from webapp.extensions import socketio


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
