"""Large events on the wire (issue 11 item 3): past `max_pushed_event_bytes` an event is
pushed and answered as a stub, and its body is fetched from GET .../events/<seq>."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask

LIMIT = 2000  # bytes: a migration of the 64-page default guest is far larger, a write is not
WRITE_9 = {"write": {"pfn": 9}}


def encoded_size(event: Any) -> int:
    return len(json.dumps(event, separators=(",", ":")))


def lazy_app(make_app: Any) -> Flask:
    return make_app(LIMITS={"max_pushed_event_bytes": LIMIT})


def create(client: Any) -> tuple[str, dict[str, str]]:
    created = client.post("/api/sessions", json={}).get_json()
    return created["id"], {"Authorization": f"Bearer {created['token']}"}


def test_large_event_is_a_stub_everywhere_and_its_body_is_fetched(make_app: Any) -> None:
    app = lazy_app(make_app)
    client = app.test_client()
    sid, auth = create(client)
    from flask_socketio import SocketIOTestClient

    from webapp.extensions import socketio

    watcher: SocketIOTestClient = socketio.test_client(app, flask_test_client=app.test_client())
    try:
        assert watcher.emit("join", {"session": sid}, callback=True)["ok"]
        small = client.post(f"/api/sessions/{sid}/steps", json=WRITE_9, headers=auth).get_json()
        big = client.post(f"/api/sessions/{sid}/steps", json={"migrate": "all"},
                          headers=auth).get_json()
        pushed = [m["args"][0] for m in watcher.get_received() if m["name"] == "event"]
    finally:
        watcher.disconnect()

    # A small event goes whole; the migration goes as a stub naming its size.
    assert "deltas" in small["event"] and "lazy" not in small["event"]
    stub = big["event"]
    assert "deltas" not in stub
    assert stub["seq"] == big["seq"] == 2 and stub["op"] == "migrate" and stub["rc"] == 0
    assert [e["seq"] for e in pushed] == [1, 2]
    assert pushed[1] == stub and "deltas" in pushed[0]
    assert len(json.dumps(stub)) < LIMIT

    # The body: the whole event, as large and with as many deltas as the stub says.
    body = client.get(f"/api/sessions/{sid}/events/2")
    assert body.status_code == 200 and body.mimetype == "application/json"
    whole = json.loads(body.get_data(as_text=True))
    assert {k: v for k, v in whole.items() if k != "deltas"} == {
        k: v for k, v in stub.items() if k != "lazy"}
    assert len(whole["deltas"]) == stub["lazy"]["deltas"] > 0
    assert encoded_size(whole) == stub["lazy"]["bytes"] > LIMIT
    assert any(d["kind"] == "migration" and d["event"] == "batch" for d in whole["deltas"])

    # The same deltas a page at a time, each page within the limit unless a single delta.
    paged: list[Any] = []
    start: int | None = 0
    while start is not None:
        page = client.get(f"/api/sessions/{sid}/events/2?from={start}").get_json()
        assert page["seq"] == 2 and page["from"] == start and page["deltas"]
        assert len(page["deltas"]) == 1 or encoded_size(page["deltas"]) <= LIMIT
        paged += page["deltas"]
        start = page["next"]
    assert paged == whole["deltas"]
    n = len(whole["deltas"])
    for bad in (str(n), str(n + 1), "x"):
        r = client.get(f"/api/sessions/{sid}/events/2?from={bad}")
        assert r.status_code == 400 and r.get_json()["error"]["field"] == "from"

    # The log and a rejoin with `since` give the stub too; the small event stays whole.
    listed = client.get(f"/api/sessions/{sid}/events?since=0").get_json()["events"]
    assert listed[0] == small["event"] and listed[1] == stub


def test_event_body_refuses_a_seq_it_does_not_have(make_app: Any) -> None:
    client = lazy_app(make_app).test_client()
    sid, auth = create(client)
    client.post(f"/api/sessions/{sid}/steps", json=WRITE_9, headers=auth)
    for bad in ("0", "2", "x", "-1", "1" * 30):
        r = client.get(f"/api/sessions/{sid}/events/{bad}")
        assert r.status_code == 400, bad
        assert r.get_json()["error"]["field"] == "seq"
    assert client.get("/api/sessions/nosuchsession/events/1").status_code == 404
    assert client.get(f"/api/sessions/{sid}/events/1").get_json()["seq"] == 1


def test_the_default_limit_pushes_events_whole(app: Flask) -> None:
    client = app.test_client()
    sid, auth = create(client)
    event = client.post(f"/api/sessions/{sid}/steps", json={"migrate": "all"},
                        headers=auth).get_json()["event"]
    assert "lazy" not in event and event["deltas"]


def test_packed_snapshot_decodes_to_the_plain_one(app: Flask) -> None:
    """?packed=1 (and join's `packed`): the same state, arrays packed (docs/deltas.md)."""
    from engine.packing import unpack

    client = app.test_client()
    sid, auth = create(client)
    client.post(f"/api/sessions/{sid}/steps", json={"migrate": "all"}, headers=auth)
    plain = client.get(f"/api/sessions/{sid}").get_json()
    packed = client.get(f"/api/sessions/{sid}?packed=1").get_json()
    assert len(json.dumps(packed)) < len(json.dumps(plain)) / 2
    for name, host in plain["hosts"].items():
        for key in ("owner", "count", "type", "type_count", "flags", "m2p", "dirty"):
            assert unpack(packed["hosts"][name][key]) == host[key], (name, key)
        if host["p2m"] is not None:
            assert unpack(packed["hosts"][name]["p2m"]) == host["p2m"]
    assert unpack(packed["guest"]["p2m"]) == plain["guest"]["p2m"]
    for key in ("deferred", "normalised", "lost"):
        assert unpack(packed["migration"][key]) == plain["migration"][key]
    assert client.get(f"/api/sessions/{sid}?packed=maybe").status_code == 400
