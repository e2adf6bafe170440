"""Socket.IO explore_start / explore_cancel: the search runs off the request thread and
pushes progress, findings and its end to the client that started it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import yaml
from flask.testing import FlaskClient
from flask_socketio import SocketIOTestClient

from engine.session import Session

Connect = Callable[[], SocketIOTestClient]
BARE = {"name": "bare", "guest": {"pages": 16, "layout": "bare"}}


def wait_for(sio: SocketIOTestClient, name: str, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Every message received until one called `name` arrives (inclusive)."""
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got += sio.get_received()
        if any(m["name"] == name for m in got):
            return got
        time.sleep(0.05)
    raise AssertionError(f"no {name} within {timeout} s: {[m['name'] for m in got]}")


def test_explore_pushes_findings_that_open_as_sessions(connect: Connect,
                                                       client: FlaskClient) -> None:
    session_id = client.post("/api/sessions", json={"scenario": BARE}).get_json()["id"]
    sio = connect()
    ack = sio.emit("explore_start", {"session": session_id, "goal": "divergence",
                                     "budget": 3, "seed": 1}, callback=True)
    assert ack["ok"] is True and ack["goal"] == "divergence"
    got = wait_for(sio, "explore_done")
    findings = [m["args"][0] for m in got if m["name"] == "explore_finding"]
    done = [m["args"][0] for m in got if m["name"] == "explore_done"][0]
    assert findings and all(f["id"] == ack["id"] for f in findings)
    assert done["findings"] == len(findings) and done["stopped"] == "budget"
    assert done["error"] is None and done["explored"] > 0
    first = findings[0]
    assert first["signature"]["op"] and first["note"]
    # A finding is a scenario: it opens as a session and its script runs with every
    # assertion holding, under either variant.
    for xen in ("unpatched", "patched"):
        made = client.post("/api/sessions", json={"scenario": first["yaml"], "xen": xen})
        assert made.status_code == 201, made.get_json()
    session = Session.create(yaml.safe_load(first["yaml"]), "patched")
    events = session.run_next(None)
    assert all(a["ok"] for e in events for a in e["assertions"])


def test_explore_cancel_stops_the_search(connect: Connect, client: FlaskClient) -> None:
    session_id = client.post("/api/sessions", json={"scenario": BARE}).get_json()["id"]
    sio = connect()
    ack = sio.emit("explore_start", {"session": session_id, "goal": "audit", "budget": 60},
                   callback=True)
    assert ack["ok"] is True
    assert sio.emit("explore_cancel", {"id": ack["id"]}, callback=True)["ok"] is True
    done = [m for m in wait_for(sio, "explore_done") if m["name"] == "explore_done"]
    assert done[0]["args"][0]["stopped"] == "cancelled"
    late = sio.emit("explore_cancel", {"id": ack["id"]}, callback=True)
    assert late["ok"] is False and late["error"]["field"] == "id"


def test_explore_refuses_bad_input(connect: Connect, session_id: str) -> None:
    sio = connect()
    for payload, field in (({"session": session_id, "goal": "everything"}, "goal"),
                           ({"session": session_id, "goal": "lost", "budget": 0}, "budget"),
                           ({"session": session_id, "goal": "lost", "budget": 1e6}, "budget"),
                           ({"session": session_id, "goal": "lost", "seed": "x"}, "seed"),
                           ({"session": "nope", "goal": "lost"}, "session"),
                           ({"session": session_id, "goal": "lost", "depth": 3}, "depth")):
        ack = sio.emit("explore_start", payload, callback=True)
        assert ack["ok"] is False and ack["error"]["field"] == field, (payload, ack)
    assert sio.get_received() == []
