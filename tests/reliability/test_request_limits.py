"""13.2: every limit refuses with a message naming it and its value, changes nothing,
and is configurable in one place (webapp.limits.Limits)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from typing import Any

import pytest
from reliability_helpers import SCRIPTED, create, database_digest

from webapp.extensions import socketio
from webapp.limits import Limits


def session_rows(app: Any) -> int:
    with closing(sqlite3.connect(app.config["DATABASE"])) as db:
        return db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]


def refused(response: Any, limit: str, status: int = 413) -> dict[str, Any]:
    body = response.get_json()
    assert response.status_code == status, (response.status_code, body)
    assert body["error"]["limit"] == limit
    assert limit in body["error"]["message"]
    return body["error"]


def test_body_size(make_app: Any) -> None:
    app = make_app(LIMITS={"max_body_bytes": 10_000})
    client = app.test_client()
    error = refused(client.post("/api/sessions", data=b"{" + b" " * 20_000 + b"}",
                                content_type="application/json"), "max_body_bytes")
    assert "10000" in error["message"] and error["field"] == "body"


def test_string_length(make_app: Any) -> None:
    app = make_app(LIMITS={"max_string_chars": 100})
    client = app.test_client()
    session_id = create(client)
    before = database_digest(app)
    error = refused(client.post(f"/api/sessions/{session_id}/steps",
                                json={"write": {"pfn": 9}, "note": "n" * 101}),
                    "max_string_chars")
    assert error["field"] == "note"
    assert database_digest(app) == before


@pytest.mark.parametrize(("limits", "scenario", "limit", "field"), [
    ({"max_scenario_steps": 2}, SCRIPTED, "max_scenario_steps", "scenario.steps"),
    ({"max_guest_pages": 128}, {"guest": {"pages": 256}}, "max_guest_pages",
     "scenario.guest.pages"),
    ({"max_host_frames": 2048}, {"hosts": {"source": {"frames": "0x1000"}}},
     "max_host_frames", "scenario.hosts.source.frames"),
    ({"max_session_bytes": 10_000}, None, "max_session_bytes", "scenario"),
    ({"max_depth": 4}, {"title": {"a": {"b": {"c": {"d": 1}}}}}, "max_depth", None),
    ({"max_nodes": 50}, {"steps": [{"note": "x"}] * 30}, "max_nodes", None),
])
def test_scenario_limits(make_app: Any, limits: dict[str, Any], scenario: Any, limit: str,
                         field: str | None) -> None:
    app = make_app(LIMITS=limits)
    client = app.test_client()
    body = {} if scenario is None else {"scenario": scenario}
    error = refused(client.post("/api/sessions", json=body), limit)
    if field is not None:
        assert error["field"] == field
    assert session_rows(app) == 0  # nothing stored


def test_a_16_gib_guest_is_served_once_two_limits_are_raised() -> None:
    """docs/operations.md: a 2^22-page guest (the engine's MAX_PAGES) with hosts of
    pages + pages/8 + 4096 frames (what `pvframes bench` builds) is refused by default and
    admitted with max_guest_pages and max_host_frames raised; nothing else stands in its
    way before the session is built."""
    from engine.errors import InvalidInput
    from engine.scenario import MAX_PAGES
    from webapp import parsing

    pages = 1 << 22
    assert pages == MAX_PAGES
    frames = pages + pages // 8 + 4096
    scenario = {"guest": {"pages": pages, "layout": "linear"},
                "hosts": {"source": {"frames": frames}, "destination": {"frames": frames}}}
    with pytest.raises(InvalidInput) as refused_by_default:
        parsing.scenario_value(scenario, Limits())
    assert refused_by_default.value.limit == "max_guest_pages"
    raised = Limits(max_guest_pages=pages, max_host_frames=(1 << 22) + (1 << 20))
    assert parsing.scenario_value(scenario, raised) == scenario


def test_sessions_per_server(make_app: Any) -> None:
    app = make_app(LIMITS={"max_sessions": 2})
    client = app.test_client()
    create(client)
    create(client)
    refused(client.post("/api/sessions", json={}), "max_sessions", status=503)


def test_actions_per_session(make_app: Any) -> None:
    app = make_app(LIMITS={"max_session_actions": 2})
    client = app.test_client()
    session_id = create(client, SCRIPTED)
    ran = client.post(f"/api/sessions/{session_id}/run", json={"count": "all"}).get_json()
    assert ran["seq"] == 2 and ran["stopped"] == "max_session_actions"  # stops at the cap
    refused(client.post(f"/api/sessions/{session_id}/steps", json={"write": {"pfn": 9}}),
            "max_session_actions")


def test_run_and_events_are_paged(make_app: Any) -> None:
    app = make_app(LIMITS={"max_events_per_response": 2})
    client = app.test_client()
    session_id = create(client, SCRIPTED)
    ran = client.post(f"/api/sessions/{session_id}/run", json={"count": "all"}).get_json()
    assert ran["seq"] == 3 and [e["seq"] for e in ran["events"]] == [1, 2]
    assert ran["more"] is True
    rest = client.get(f"/api/sessions/{session_id}/events?since=2").get_json()
    assert [e["seq"] for e in rest["events"]] == [3] and rest["more"] is False
    first = client.get(f"/api/sessions/{session_id}/events?since=0").get_json()
    assert [e["seq"] for e in first["events"]] == [1, 2] and first["more"] is True
    one = client.get(f"/api/sessions/{session_id}/events?since=0&limit=1").get_json()
    assert [e["seq"] for e in one["events"]] == [1] and one["more"] is True


def test_event_pages_are_bounded_by_bytes(make_app: Any) -> None:
    app = make_app(LIMITS={"max_response_event_bytes": 10})
    client = app.test_client()
    session_id = create(client, SCRIPTED)
    client.post(f"/api/sessions/{session_id}/run", json={"count": "all"})
    page = client.get(f"/api/sessions/{session_id}/events").get_json()
    assert len(page["events"]) == 1 and page["more"] is True  # one event always fits


def test_cpu_time_per_run_stops_between_steps_and_replays(make_app: Any) -> None:
    app = make_app(LIMITS={"max_request_seconds": 0.0})
    client = app.test_client()
    session_id = create(client, SCRIPTED)
    ran = client.post(f"/api/sessions/{session_id}/run", json={"count": "all"}).get_json()
    assert ran["seq"] == 1 and ran["more"] is False  # stopped after one step, all sent
    assert ran["stopped"] == "max_request_seconds"
    snapshot = client.get(f"/api/sessions/{session_id}").get_json()
    assert snapshot["cursor"] == 1
    again = make_app(app.config["DATABASE"]).test_client()  # a restart replays the log
    assert again.get(f"/api/sessions/{session_id}").get_json() == snapshot


def test_socketio_refusals_name_the_limit(make_app: Any) -> None:
    app = make_app(LIMITS={"max_string_chars": 10})
    session_id = create(app.test_client())
    sio = socketio.test_client(app, flask_test_client=app.test_client())
    ack = sio.emit("step", {"session": session_id, "step": {"note": "x" * 11}}, callback=True)
    assert ack["ok"] is False and ack["error"]["limit"] == "max_string_chars"
    assert ack["error"]["field"] == "step.note"
    sio.disconnect()


def test_cache_is_bounded_by_bytes(make_app: Any) -> None:
    app = make_app(LIMITS={"cache_bytes": 1})
    client = app.test_client()
    ids = [create(client, SCRIPTED) for _ in range(3)]
    for session_id in ids:
        assert client.post(f"/api/sessions/{session_id}/steps",
                           json={"write": {"pfn": 9}}).status_code == 200
    store = app.extensions["pvframes"].store
    assert store.cache_usage()["sessions"] == 1  # only the one in use
    for session_id in ids:  # the others come back from the database
        assert client.get(f"/api/sessions/{session_id}").get_json()["seq"] == 1


def test_the_budget_counts_copies_kept_for_the_past_and_a_growing_log(make_app: Any) -> None:
    app = make_app()
    client = app.test_client()
    store = app.extensions["pvframes"].store
    session_id = create(client, SCRIPTED)
    for pfn in (9, 10, 11):
        client.post(f"/api/sessions/{session_id}/steps", json={"write": {"pfn": pfn}})
    before = store.cache_usage()["bytes"]
    # Looking at the past keeps a replayed copy of the world (Session.at): counted.
    assert client.get(f"/api/sessions/{session_id}?seq=1").get_json()["seq"] == 1
    with_copy = store.cache_usage()["bytes"]
    assert with_copy > before * 1.5
    client.post(f"/api/sessions/{session_id}/steps", json={"write": {"pfn": 12}})
    assert store.cache_usage()["bytes"] > with_copy  # the log grew by one event


def test_a_step_evicts_others_past_the_budget_but_never_one_in_use(make_app: Any) -> None:
    app = make_app()
    client = app.test_client()
    store = app.extensions["pvframes"].store
    ids = [create(client, SCRIPTED) for _ in range(3)]
    store._cache_bytes = 1  # from now on only the session being used fits
    with store.checkout(ids[0]):  # held, as by a request on another thread
        assert client.post(f"/api/sessions/{ids[2]}/steps",
                           json={"write": {"pfn": 9}}).status_code == 200
        assert list(store._cache) == [ids[0], ids[2]]  # ids[1] evicted, ids[0] kept
    assert list(store._cache) == [ids[0]]  # no longer held: the step's session went


def test_unknown_ids_do_not_grow_the_lock_table_or_cache(app: Any, client: Any) -> None:
    for i in range(2000):
        assert client.get(f"/api/sessions/unknown{i}").status_code == 404
    usage = app.extensions["pvframes"].store.cache_usage()
    assert usage["locks"] == 0 and usage["sessions"] == 0


def test_limits_come_from_one_place(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PVFRAMES_LIMIT_MAX_BODY_BYTES", "0x1000")
    monkeypatch.setenv("PVFRAMES_LIMIT_MAX_REQUEST_SECONDS", "2.5")
    limits = Limits.from_config({"max_sessions": 7})
    assert (limits.max_body_bytes, limits.max_request_seconds, limits.max_sessions) == (
        4096, 2.5, 7)
    with pytest.raises(ValueError, match="unknown limit"):
        Limits.from_config({"max_nonsense": 1})
