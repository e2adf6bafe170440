"""An engine fault mid-step must not leave a half-applied session behind: the live object is
dropped and rebuilt from the committed log; the client gets an error, not a hang."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from server_helpers import WRITE_9, WRITE_10, stored_rows

from engine.session import Session
from webapp.extensions import socketio


def apply_then_fail(original: Callable[..., Any]) -> Callable[..., Any]:
    """Session.apply that changes the state and then fails, as a buggy engine might."""

    def apply(self: Session, *args: Any, **kwargs: Any) -> Any:
        original(self, *args, **kwargs)
        raise RuntimeError("engine bug")

    return apply


def test_rest_fault_is_500_and_rolled_back(
    make_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(PROPAGATE_EXCEPTIONS=False)
    client = app.test_client()
    session_id = client.post("/api/sessions", json={}).get_json()["id"]
    client.post(f"/api/sessions/{session_id}/steps", json=WRITE_9)
    before = client.get(f"/api/sessions/{session_id}").get_json()

    monkeypatch.setattr(Session, "apply", apply_then_fail(Session.apply))
    response = client.post(f"/api/sessions/{session_id}/steps", json=WRITE_10)
    assert response.status_code == 500 and response.get_json()["error"]["field"] is None
    monkeypatch.undo()

    assert client.get(f"/api/sessions/{session_id}").get_json() == before
    assert stored_rows(app, "steps") == 1
    assert client.post(f"/api/sessions/{session_id}/steps", json=WRITE_10).get_json()["seq"] == 2


def test_socket_fault_acks_an_error_and_is_rolled_back(
    make_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app()
    client = app.test_client()
    session_id = client.post("/api/sessions", json={}).get_json()["id"]
    before = client.get(f"/api/sessions/{session_id}").get_json()
    sio = socketio.test_client(app, flask_test_client=app.test_client())
    sio.emit("join", {"session": session_id}, callback=True)
    sio.get_received()

    monkeypatch.setattr(Session, "apply", apply_then_fail(Session.apply))
    result = sio.emit("step", {"session": session_id, "step": WRITE_9}, callback=True)
    monkeypatch.undo()

    assert result["ok"] is False and result["error"]["field"] is None
    assert sio.get_received() == []  # nothing uncommitted was broadcast
    assert client.get(f"/api/sessions/{session_id}").get_json() == before
    sio.disconnect()
