"""13.5, the message queue in-process: with Redis unreachable a step is refused with a 503
naming the queue and changes nothing; a step whose publish fails after the check passed
(Redis went away in between) stays committed and acknowledged. No redis-server is needed:
the queue's URL points at a port nobody listens on. The recovery with a real redis-server
is in test_redis_servers.py."""

from __future__ import annotations

import socket
from contextlib import closing
from typing import Any

import pytest
from flask import Flask
from reliability_helpers import create, database_digest

from webapp.extensions import socketio
from webapp.messagequeue import CheckedRedisManager

WRITE_9 = {"write": {"pfn": 9}}


def dead_url() -> str:
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return f"redis://:secret@127.0.0.1:{s.getsockname()[1]}/0"  # closed again at once


@pytest.fixture
def queued_app(make_app: Any) -> Flask:
    app = make_app(MESSAGE_QUEUE=dead_url())
    manager = socketio.server.manager
    assert isinstance(manager, CheckedRedisManager)
    # No subscriber thread: it would retry the dead port every second for the whole run.
    socketio.server.manager_initialized = True
    return app


def test_steps_are_refused_while_the_queue_is_away(queued_app: Flask) -> None:
    client = queued_app.test_client()
    session_id = create(client)
    before = database_digest(queued_app)
    for path, body in [("steps", WRITE_9), ("run", {"count": 1})]:
        r = client.post(f"/api/sessions/{session_id}/{path}", json=body)
        assert r.status_code == 503, r.get_json()
        message = r.get_json()["error"]["message"]
        assert "message queue redis://:***@127.0.0.1:" in message  # the password hidden
        assert "secret" not in message
    assert database_digest(queued_app) == before  # nothing applied
    assert client.get(f"/api/sessions/{session_id}").status_code == 200  # reads go on


def test_a_publish_failing_after_the_check_keeps_the_committed_step(
        queued_app: Flask, monkeypatch: Any) -> None:
    client = queued_app.test_client()
    session_id = create(client)
    monkeypatch.setattr(socketio.server.manager, "check", lambda: None)  # Redis was there
    r = client.post(f"/api/sessions/{session_id}/steps", json=WRITE_9)
    assert r.status_code == 200, r.get_json()  # committed: acknowledged, not a 503
    assert client.get(f"/api/sessions/{session_id}").get_json()["seq"] == r.get_json()["seq"]
