"""Presenter and followers (webapp/roles.py): only the creator's token changes a session."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from server_helpers import SCRIPTED, WRITE_9, stored_rows

FOLLOWER = {"Authorization": ""}  # no token: what a follower's page sends


def create(client: FlaskClient) -> dict[str, Any]:
    response = client.post("/api/sessions", json={"scenario": SCRIPTED})
    assert response.status_code == 201
    return response.get_json()


def test_create_returns_a_token_and_two_links(client: FlaskClient) -> None:
    created = create(client)
    other = create(client)
    token = created["token"]
    assert len(token) >= 40 and token != other["token"]
    links = created["links"]
    assert links["follower"].endswith(f"/?session={created['id']}")
    assert links["presenter"] == f"{links['follower']}#token={token}"
    assert token not in links["follower"]


def test_a_follower_cannot_step_or_run_and_nothing_changes(app: Flask,
                                                            client: FlaskClient) -> None:
    sid = create(client)["id"]
    before = client.get(f"/api/sessions/{sid}").get_json()
    for path, body in (("steps", WRITE_9), ("run", {"count": 1})):
        for headers in (FOLLOWER, {"Authorization": "Bearer not-the-token"}):
            r = client.post(f"/api/sessions/{sid}/{path}", json=body, headers=headers)
            assert r.status_code == 403, r.get_json()
            assert r.get_json()["error"]["field"] == "token"
    assert client.get(f"/api/sessions/{sid}").get_json() == before
    assert stored_rows(app, "steps") == 0
    # the presenter (the test client remembers the creator's token) may
    assert client.post(f"/api/sessions/{sid}/steps", json=WRITE_9).get_json()["seq"] == 1


def test_followers_still_read_everything(client: FlaskClient) -> None:
    sid = create(client)["id"]
    client.post(f"/api/sessions/{sid}/run", json={"count": 1})
    for path in ("", "/events", "/export"):
        assert client.get(f"/api/sessions/{sid}{path}", headers=FOLLOWER).status_code == 200


def test_a_malformed_authorization_header_names_the_field(client: FlaskClient) -> None:
    sid = create(client)["id"]
    r = client.post(f"/api/sessions/{sid}/steps", json=WRITE_9,
                    headers={"Authorization": "Basic abc"})
    assert r.status_code == 400 and r.get_json()["error"]["field"] == "token"


def test_bad_input_is_reported_before_the_role(client: FlaskClient) -> None:
    sid = create(client)["id"]
    r = client.post(f"/api/sessions/{sid}/steps", json=["not a step"], headers=FOLLOWER)
    assert r.status_code == 400 and r.get_json()["error"]["field"] != "token"


def test_socketio_steps_need_the_token(connect: Any, client: FlaskClient) -> None:
    sid = create(client)["id"]
    follower, presenter = connect(), connect()
    for sio in (follower, presenter):
        assert sio.emit("join", {"session": sid}, callback=True)["ok"]
        sio.get_received()
    for event, payload in (("step", {"step": WRITE_9}), ("run", {"count": 1})):
        for token in (None, "wrong"):
            ack = follower.emit(event, {"session": sid, "token": token, **payload},
                                callback=True)
            assert ack == {"ok": False, "error": {"field": "token", "message": ack["error"][
                "message"]}}
    assert follower.get_received() == []  # nothing was applied, so nothing was pushed
    ack = presenter.emit("step", {"session": sid, "step": WRITE_9}, callback=True)
    assert ack["ok"] and ack["event"]["seq"] == 1
    assert [m["args"][0]["seq"] for m in follower.get_received() if m["name"] == "event"] == [1]


def test_only_a_hash_of_the_token_is_stored(app: Flask, client: FlaskClient) -> None:
    token = create(client)["token"]
    app.extensions["pvframes"].store.close()
    data = b"".join(p.read_bytes() for p in Path(app.config["DATABASE"]).parent.glob("*"))
    assert token.encode() not in data
    with closing(sqlite3.connect(app.config["DATABASE"])) as db:
        assert db.execute("SELECT COUNT(*) FROM session_tokens").fetchone()[0] == 1


def test_a_session_from_before_tokens_stays_open(app: Flask, client: FlaskClient) -> None:
    sid = create(client)["id"]
    with app.extensions["pvframes"].store.transaction() as db:
        db.execute("DELETE FROM session_tokens WHERE session_id = ?", (sid,))
    r = client.post(f"/api/sessions/{sid}/steps", json=WRITE_9, headers=FOLLOWER)
    assert r.status_code == 200 and r.get_json()["seq"] == 1


STATE = {"seq": 1, "view": "source", "selected": {"host": "source", "mfn": 5, "guestPfn": None},
         "narration": "PFN 3 is the L1"}


def test_followers_get_the_presenters_state_in_order(connect: Any, client: FlaskClient
                                                     ) -> None:
    created = create(client)
    sid, token = created["id"], created["token"]
    presenter, follower = connect(), connect()
    for sio in (presenter, follower):
        assert sio.emit("join", {"session": sid}, callback=True)["ok"]
    assert follower.emit("follow", {"session": sid}, callback=True) == {
        "ok": True, "state": None, "audience": 1}
    presenter.get_received(), follower.get_received()
    assert presenter.emit("step", {"session": sid, "step": WRITE_9}, callback=True)["ok"]
    ack = presenter.emit("presenter", {"session": sid, "token": token, "state": STATE},
                         callback=True)
    assert ack == {"ok": True, "audience": 1}
    got = [(m["name"], m["args"][0]) for m in follower.get_received()]
    assert [name for name, _ in got] == ["event", "presenter"]   # the step, then where it is
    assert got[1][1] == {"session": sid, "state": {**STATE, "selected": STATE["selected"]}}
    # not echoed to the presenter itself (which gets only the step's broadcast)
    assert [m["name"] for m in presenter.get_received()] == ["event"]
    late = connect()  # a late joiner starts where the class is
    late.emit("join", {"session": sid}, callback=True)
    assert late.emit("follow", {"session": sid}, callback=True)["state"]["selected"]["mfn"] == 5
    assert presenter.emit("audience", {"session": sid}, callback=True)["audience"] == 2


def test_only_the_presenter_sets_the_shared_state(connect: Any, client: FlaskClient) -> None:
    sid = create(client)["id"]
    follower, other = connect(), connect()
    for sio in (follower, other):
        sio.emit("join", {"session": sid}, callback=True)
        sio.get_received()
    ack = follower.emit("presenter", {"session": sid, "token": "guess", "state": STATE},
                        callback=True)
    assert ack["ok"] is False and ack["error"]["field"] == "token"
    assert other.get_received() == []
    assert other.emit("follow", {"session": sid}, callback=True)["state"] is None


def test_a_bad_state_names_its_field(connect: Any, client: FlaskClient) -> None:
    created = create(client)
    sio = connect()
    sio.emit("join", {"session": created["id"]}, callback=True)
    for state, field in (({"seq": -1}, "state.seq"), ({"seq": 1, "view": "x"}, "state.view"),
                         ({"seq": 1, "selected": {"host": "h", "mfn": 1}},
                          "state.selected.host"),
                         ({"seq": 1, "narration": "x" * 3000}, "state.narration"),
                         ({"seq": 1, "extra": 1}, "state.extra")):
        ack = sio.emit("presenter", {"session": created["id"], "token": created["token"],
                                     "state": state}, callback=True)
        assert ack["ok"] is False and ack["error"]["field"] == field, (state, ack)


def test_a_compare_pair_is_presented_by_whoever_made_it(connect: Any,
                                                         client: FlaskClient) -> None:
    made = client.post("/api/compare", json={"session": create(client)["id"]})
    assert made.status_code == 201
    pair = made.get_json()
    a, b = pair["a"], pair["b"]
    tokens = pair["tokens"]
    assert set(tokens) == {"a", "b"} and tokens["a"] != tokens["b"]
    for key in ("a", "b"):
        assert pair["links"][key]["follower"].endswith(f"/?session={pair[key]}")
        assert pair["links"][key]["presenter"].endswith(f"#token={tokens[key]}")
    before = {sid: client.get(f"/api/sessions/{sid}").get_json() for sid in (a, b)}
    # a follower (no token, or the other session's token) is refused over REST ...
    for sid, wrong in ((a, tokens["b"]), (b, tokens["a"])):
        for headers in (FOLLOWER, {"Authorization": f"Bearer {wrong}"}):
            r = client.post(f"/api/sessions/{sid}/steps", json=WRITE_9, headers=headers)
            assert r.status_code == 403 and r.get_json()["error"]["field"] == "token"
    # ... and over Socket.IO, and nothing reaches the room
    follower, watcher = connect(), connect()
    for sid in (a, b):
        assert watcher.emit("join", {"session": sid}, callback=True)["ok"]
    watcher.get_received()
    for sid in (a, b):
        for event, extra in (("step", {"step": WRITE_9}), ("run", {"count": 1})):
            ack = follower.emit(event, {"session": sid, "token": None, **extra}, callback=True)
            assert ack["ok"] is False and ack["error"]["field"] == "token", ack
        ack = follower.emit("presenter", {"session": sid, "token": "guess",
                                          "state": {"seq": 0}}, callback=True)
        assert ack["ok"] is False and ack["error"]["field"] == "token"
    assert watcher.get_received() == []
    assert {sid: client.get(f"/api/sessions/{sid}").get_json() for sid in (a, b)} == before
    # the maker presents both
    for key in ("a", "b"):
        r = client.post(f"/api/sessions/{pair[key]}/steps", json=WRITE_9,
                        headers={"Authorization": f"Bearer {tokens[key]}"})
        assert r.status_code == 200, r.get_json()


def test_a_class_of_sixty(connect: Any, client: FlaskClient) -> None:
    """Sixty followers: each gets the step and then the presenter's state, in that order;
    the presenter counts them all, and one fewer when one goes away."""
    created = create(client)
    sid, token = created["id"], created["token"]
    presenter = connect()
    assert presenter.emit("join", {"session": sid}, callback=True)["ok"]
    followers = [connect() for _ in range(60)]
    for sio in followers:
        assert sio.emit("join", {"session": sid}, callback=True)["ok"]
        assert sio.emit("follow", {"session": sid}, callback=True)["ok"]
        sio.get_received()
    assert presenter.emit("audience", {"session": sid}, callback=True)["audience"] == 60
    assert presenter.emit("run", {"session": sid, "count": 1}, callback=True)["ok"]
    ack = presenter.emit("presenter", {"session": sid, "token": token, "state": STATE},
                         callback=True)
    assert ack == {"ok": True, "audience": 60}
    for sio in followers:
        got = [(m["name"], m["args"][0]) for m in sio.get_received()]
        assert [name for name, _ in got] == ["event", "presenter"]
        assert got[0][1]["seq"] == 1 and got[1][1]["state"]["seq"] == STATE["seq"]
    followers[7].disconnect()
    assert presenter.emit("audience", {"session": sid}, callback=True)["audience"] == 59
