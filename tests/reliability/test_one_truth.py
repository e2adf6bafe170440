"""13.4: two servers on one database never both acknowledge the same seq: each checks
that its copy of a session is current before applying, and the commit itself is fenced by
the action number, so a stale writer fails cleanly (409) and commits nothing."""

from __future__ import annotations

from typing import Any

import pytest
from reliability_helpers import SCRIPTED, create, database_digest

from webapp.extensions import socketio

WRITE = [{"write": {"pfn": p}} for p in (9, 10, 11, 12)]


def step(client: Any, session_id: str, body: dict[str, Any]) -> Any:
    return client.post(f"/api/sessions/{session_id}/steps", json=body)


def test_two_servers_take_turns_on_one_session(make_app: Any) -> None:
    first = make_app()
    second = make_app(first.config["DATABASE"])
    a, b = first.test_client(), second.test_client()
    session_id = create(a, SCRIPTED)
    seqs = []
    for i, body in enumerate(WRITE):
        r = step(a if i % 2 == 0 else b, session_id, body)
        assert r.status_code == 200
        seqs.append(r.get_json()["seq"])
    assert seqs == [1, 2, 3, 4]
    assert a.get(f"/api/sessions/{session_id}").get_json() == \
        b.get(f"/api/sessions/{session_id}").get_json()
    third = make_app(first.config["DATABASE"]).test_client()  # and the log replays
    assert third.get(f"/api/sessions/{session_id}").get_json()["seq"] == 4


def test_a_stale_writer_commits_nothing(make_app: Any, monkeypatch: pytest.MonkeyPatch
                                        ) -> None:
    first = make_app()
    second = make_app(first.config["DATABASE"])
    a, b = first.test_client(), second.test_client()
    session_id = create(a, SCRIPTED)
    b.get(f"/api/sessions/{session_id}")  # the second server caches the session at seq 0
    assert step(a, session_id, WRITE[0]).get_json()["seq"] == 1
    before = database_digest(first)
    # The race the freshness check cannot close: the other write lands after the check.
    store = second.extensions["pvframes"].store
    monkeypatch.setattr(store, "_current", lambda session_id: True)
    watcher = socketio.test_client(second, flask_test_client=second.test_client())
    watcher.emit("join", {"session": session_id}, callback=True)
    watcher.get_received()
    r = step(b, session_id, WRITE[1])
    assert r.status_code == 409 and "another server" in r.get_json()["error"]["message"]
    assert database_digest(first) == before
    b.get(f"/api/sessions/{session_id}")  # cached again, at seq 1 ...
    assert step(a, session_id, WRITE[2]).get_json()["seq"] == 2  # ... and stale again
    before = database_digest(first)
    # (Both apps share this process's Socket.IO server, so a's event reached the watcher.)
    watcher.get_received()
    ack = watcher.emit("step", {"session": session_id, "step": WRITE[1]}, callback=True)
    assert ack["ok"] is False and "another server" in ack["error"]["message"]
    assert watcher.get_received() == []  # nothing unacknowledged was broadcast
    assert database_digest(first) == before
    monkeypatch.undo()
    r = step(b, session_id, WRITE[1])  # a retry rebuilds from the log and applies
    assert r.status_code == 200 and r.get_json()["seq"] == 3
    watcher.disconnect()
