"""Socket.IO: join/leave/step/run, error acks, identical ordered events for every watcher."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_socketio import SocketIOTestClient
from server_helpers import REMAP_20_RO, SCRIPTED, WRITE_9, WRITE_10, received_events, stored_rows

Connect = Callable[[], SocketIOTestClient]
BAD_INDEX = {"mmu_update": {"pfn": 3, "index": 600, "entry": 0}}


def ack(sio: SocketIOTestClient, name: str, payload: Any) -> dict[str, Any]:
    result = sio.emit(name, payload, callback=True)
    assert isinstance(result, dict), result
    return result


def joined(connect: Connect, session_id: str, since: int | None = None) -> SocketIOTestClient:
    sio = connect()
    payload: dict[str, Any] = {"session": session_id}
    if since is not None:
        payload["since"] = since
    assert ack(sio, "join", payload)["ok"] is True
    sio.get_received()  # start each test from an empty inbox
    return sio


def test_join_returns_snapshot(connect: Connect, session_id: str) -> None:
    result = ack(connect(), "join", {"session": session_id})
    assert result["ok"] is True and result["seq"] == 0
    assert result["snapshot"]["seq"] == 0 and "events" not in result


def test_join_since_returns_missed_events(
    connect: Connect, client: FlaskClient, session_id: str
) -> None:
    for step in (WRITE_9, WRITE_10, REMAP_20_RO):
        client.post(f"/api/sessions/{session_id}/steps", json=step)
    result = ack(connect(), "join", {"session": session_id, "since": 1})
    assert result["ok"] is True and "snapshot" not in result
    assert [e["seq"] for e in result["events"]] == [2, 3]


def test_step_acks_and_broadcasts(connect: Connect, client: FlaskClient, session_id: str) -> None:
    sio = joined(connect, session_id)
    result = ack(sio, "step", {"session": session_id, "step": WRITE_9})
    assert result["ok"] is True and result["event"]["seq"] == 1
    assert received_events(sio) == [result["event"]]
    assert client.get(f"/api/sessions/{session_id}").get_json()["seq"] == 1


def test_run_acks_and_broadcasts(connect: Connect, client: FlaskClient) -> None:
    session_id = client.post("/api/sessions", json={"scenario": SCRIPTED}).get_json()["id"]
    sio = joined(connect, session_id)
    one = ack(sio, "run", {"session": session_id})
    assert one["ok"] is True and one["seq"] == 1 and len(one["events"]) == 1
    rest = ack(sio, "run", {"session": session_id, "count": "all"})
    assert rest["seq"] == 3 and [e["seq"] for e in rest["events"]] == [2, 3]
    assert received_events(sio) == one["events"] + rest["events"]


def test_leave_stops_events(connect: Connect, client: FlaskClient, session_id: str) -> None:
    sio = joined(connect, session_id)
    assert ack(sio, "leave", {"session": session_id}) == {"ok": True}
    client.post(f"/api/sessions/{session_id}/steps", json=WRITE_9)
    assert received_events(sio) == []


def test_rest_steps_reach_the_room(
    connect: Connect, client: FlaskClient, session_id: str
) -> None:
    sio = joined(connect, session_id)
    body = client.post(f"/api/sessions/{session_id}/steps", json=WRITE_9).get_json()
    assert received_events(sio) == [body["event"]]


def test_other_sessions_are_not_heard(
    connect: Connect, client: FlaskClient, session_id: str
) -> None:
    other = client.post("/api/sessions", json={}).get_json()["id"]
    sio = joined(connect, session_id)
    ack(sio, "step", {"session": other, "step": WRITE_9})
    assert received_events(sio) == []


@pytest.mark.parametrize(
    ("name", "payload", "field_part"),
    [
        ("join", None, "payload"),
        ("join", ["x"], "payload"),
        ("join", {}, "session"),
        ("join", {"session": 7}, "session"),
        ("join", {"session": "nope"}, "session"),
        ("join", {"session": "{sid}", "since": -1}, "since"),
        ("join", {"session": "{sid}", "since": 9}, "since"),
        ("join", {"session": "{sid}", "colour": 1}, "colour"),
        ("step", {"session": "{sid}"}, "step"),
        ("step", {"session": "{sid}", "step": [1]}, "step"),
        ("step", {"session": "{sid}", "step": {"write": {"pfn": 64}}}, "pfn"),
        ("step", {"session": "{sid}", "step": BAD_INDEX}, "index"),
        ("step", {"session": "nope", "step": WRITE_9}, "session"),
        ("run", {"session": "{sid}", "count": 0}, "count"),
        ("run", {"session": "nope"}, "session"),
        ("leave", {}, "session"),
    ],
)
def test_bad_payloads_get_error_acks_and_change_nothing(
    app: Flask,
    connect: Connect,
    client: FlaskClient,
    session_id: str,
    name: str,
    payload: Any,
    field_part: str,
) -> None:
    if isinstance(payload, dict) and payload.get("session") == "{sid}":
        payload = {**payload, "session": session_id}
    watcher = joined(connect, session_id)
    before = client.get(f"/api/sessions/{session_id}").get_json()
    result = ack(connect(), name, payload)
    assert result["ok"] is False and set(result["error"]) == {"field", "message"}
    assert field_part in (result["error"]["field"] or "")
    assert client.get(f"/api/sessions/{session_id}").get_json() == before
    assert stored_rows(app, "steps") == 0
    assert received_events(watcher) == []


def test_two_clients_see_identical_sequences(
    connect: Connect, client: FlaskClient, session_id: str
) -> None:
    alice, bob = joined(connect, session_id), joined(connect, session_id)
    ack(alice, "step", {"session": session_id, "step": WRITE_9})
    ack(bob, "step", {"session": session_id, "step": WRITE_10})
    client.post(f"/api/sessions/{session_id}/steps", json=REMAP_20_RO)
    ack(alice, "step", {"session": session_id, "step": {"write": {"pfn": 64}}})  # rejected
    seen_by_alice, seen_by_bob = received_events(alice), received_events(bob)
    assert [e["seq"] for e in seen_by_alice] == [1, 2, 3]
    assert seen_by_alice == seen_by_bob


def test_concurrent_steps_are_serialised(
    app: Flask, connect: Connect, session_id: str
) -> None:
    watchers = [joined(connect, session_id) for _ in range(2)]
    errors: list[BaseException] = []

    def writer(pfns: range) -> None:
        web = app.test_client()
        try:
            for pfn in pfns:
                step = {"write": {"pfn": pfn}}
                response = web.post(f"/api/sessions/{session_id}/steps", json=step)
                assert response.status_code == 200
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(range(a, a + 10),)) for a in (10, 30, 50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    first, second = (received_events(w) for w in watchers)
    assert [e["seq"] for e in first] == list(range(1, 31))
    assert first == second
    logged = app.test_client().get(f"/api/sessions/{session_id}/events").get_json()["events"]
    assert logged == first


def test_late_joiner_catches_up(connect: Connect, session_id: str) -> None:
    early = joined(connect, session_id)
    for step in (WRITE_9, WRITE_10):
        ack(early, "step", {"session": session_id, "step": step})
    late = connect()
    caught = ack(late, "join", {"session": session_id, "since": 1})
    ack(early, "step", {"session": session_id, "step": REMAP_20_RO})
    early_events = received_events(early)
    assert caught["events"] + received_events(late) == early_events[1:]
    assert [e["seq"] for e in early_events] == [1, 2, 3]


def test_rejoin_after_disconnect(connect: Connect, client: FlaskClient, session_id: str) -> None:
    tab = joined(connect, session_id)
    ack(tab, "step", {"session": session_id, "step": WRITE_9})
    seen = received_events(tab)
    tab.disconnect()
    client.post(f"/api/sessions/{session_id}/steps", json=WRITE_10)
    again = connect()
    caught = ack(again, "join", {"session": session_id, "since": seen[-1]["seq"]})
    assert [e["seq"] for e in caught["events"]] == [2]
