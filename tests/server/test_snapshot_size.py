"""A snapshot whose plain JSON would pass max_snapshot_bytes is answered packed, with
`"packed": true`, by every route and event that returns one; plain asked for above the limit
is refused (413) naming the limit; small guests' snapshots stay plain (docs/protocol.md,
issues 11.3 and 13.2)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from engine.session import Session, unpacked_snapshot
from webapp.extensions import socketio
from webapp.sizing import plain_snapshot_bytes

PAGES = 1 << 17
FRAMES = PAGES + PAGES // 8 + 4096
LARGE = {"name": "large", "guest": {"pages": PAGES, "layout": "linear"},
         "hosts": {"source": {"frames": FRAMES}, "destination": {"frames": FRAMES}}}
LIMIT = 1 << 20  # a 2^17-page guest's plain snapshot is about 9 MB, the default one 40 KB


@pytest.fixture(scope="module")
def large_plain() -> dict[str, Any]:
    """What the plain snapshot of LARGE is (the engine's, with a new session's fork links)."""
    return {**Session.create(LARGE).snapshot(), "forked_from": None, "forks": []}


@pytest.fixture
def small_limit(make_app: Any) -> Flask:
    return make_app(LIMITS={"max_snapshot_bytes": LIMIT})


def create(client: FlaskClient, scenario: dict[str, Any] | None = None) -> dict[str, Any]:
    response = client.post("/api/sessions", json={} if scenario is None else
                           {"scenario": scenario})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def assert_refused(error: dict[str, Any]) -> None:
    assert error["field"] == "packed" and error["limit"] == "max_snapshot_bytes"
    assert f"max_snapshot_bytes = {LIMIT}" in error["message"]


def test_the_estimate_bounds_the_plain_size_closely() -> None:
    """An upper bound (so nothing larger than the limit goes out plain), and a close one
    (so snapshots just under the limit are not packed for nothing)."""
    for scenario in ({"name": "small"}, LARGE):
        session = Session.create(scenario)
        real = len(json.dumps(session.snapshot()))
        estimate = plain_snapshot_bytes(session)
        assert real <= estimate < real * 1.5 + (32 << 10), (real, estimate)


def test_rest_routes_answer_a_large_guest_packed(small_limit: Flask,
                                                 large_plain: dict[str, Any]) -> None:
    client = small_limit.test_client()
    created = create(client, LARGE)
    assert created["snapshot"]["packed"] is True
    assert len(json.dumps(created["snapshot"])) < LIMIT
    sid = created["id"]
    for query in ("", "?seq=0", "?packed=1", "?packed=true&seq=0"):
        response = client.get(f"/api/sessions/{sid}{query}")
        assert response.status_code == 200, query
        snap = response.get_json()
        assert snap["packed"] is True, query
        assert unpacked_snapshot(snap) == large_plain, query
    forked = client.post(f"/api/sessions/{sid}/fork", json={"seq": 0})
    assert forked.status_code == 201
    assert forked.get_json()["snapshot"]["packed"] is True


def test_plain_asked_for_above_the_limit_is_refused(small_limit: Flask) -> None:
    client = small_limit.test_client()
    sid = create(client, LARGE)["id"]
    for query in ("?packed=0", "?packed=false", "?packed=0&seq=0"):
        response = client.get(f"/api/sessions/{sid}{query}")
        assert response.status_code == 413, query
        assert_refused(response.get_json()["error"])
    assert client.get(f"/api/sessions/{sid}").get_json()["seq"] == 0  # still there, unchanged


def test_socketio_join_and_fork_answer_a_large_guest_packed(small_limit: Flask) -> None:
    client = small_limit.test_client()
    sid = create(client, LARGE)["id"]
    sio = socketio.test_client(small_limit, flask_test_client=client)
    try:
        joined = sio.emit("join", {"session": sid}, callback=True)
        assert joined["ok"] and joined["snapshot"]["packed"] is True
        asked = sio.emit("join", {"session": sid, "packed": True}, callback=True)
        assert asked["ok"] and asked["snapshot"]["packed"] is True
        refused = sio.emit("join", {"session": sid, "packed": False}, callback=True)
        assert refused["ok"] is False
        assert_refused(refused["error"])
        forked = sio.emit("fork", {"session": sid, "seq": 0}, callback=True)
        assert forked["ok"] and forked["snapshot"]["packed"] is True
    finally:
        sio.disconnect()


def test_a_small_guest_stays_plain(small_limit: Flask) -> None:
    """Under the limit nothing changes: lists, and no `packed` key, unless asked for."""
    client = small_limit.test_client()
    created = create(client)
    assert "packed" not in created["snapshot"]
    assert isinstance(created["snapshot"]["guest"]["p2m"], list)
    sid = created["id"]
    for query in ("", "?packed=0", "?seq=0"):
        snap = client.get(f"/api/sessions/{sid}{query}").get_json()
        assert "packed" not in snap and isinstance(snap["hosts"]["source"]["m2p"], list)
        assert snap == {**created["snapshot"], "forked_from": None, "forks": []}
    assert client.get(f"/api/sessions/{sid}?packed=1").get_json()["packed"] is True
    sio = socketio.test_client(small_limit, flask_test_client=client)
    try:
        joined = sio.emit("join", {"session": sid}, callback=True)
        assert joined["ok"] and "packed" not in joined["snapshot"]
    finally:
        sio.disconnect()


def test_the_default_limit_packs_a_large_guest(app: Flask) -> None:
    """With the default (4 MiB), the 2^17-page guest's 9 MB plain form is not sent."""
    client = app.test_client()
    created = create(client, LARGE)
    assert created["snapshot"]["packed"] is True
    response = client.get(f"/api/sessions/{created['id']}?packed=0")
    assert response.status_code == 413
    assert response.get_json()["error"]["limit"] == "max_snapshot_bytes"
