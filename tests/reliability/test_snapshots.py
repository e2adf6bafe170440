"""11.4: sessions are snapshotted beside their log; a reopened session is the same whether
it comes from a snapshot plus the actions since, or from the whole log; a snapshot that
does not fit (other engine code, unreadable, another seq) is ignored, never trusted."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from typing import Any

import pytest
from reliability_helpers import SCRIPTED, create

from engine.session import Session
from webapp import snapshots

STEPS = [{"write": {"pfn": 9}}, {"migrate": "all"}, {"write": {"pfn": 12}}]


def snapshot_rows(app: Any) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(app.config["DATABASE"])) as db:
        return db.execute("SELECT session_id, n, seq FROM snapshots").fetchall()


def build(make_app: Any) -> tuple[Any, str, Any]:
    app = make_app(SNAPSHOT_AFTER_S=0.0)  # snapshot after every action
    client = app.test_client()
    session_id = create(client, SCRIPTED)
    for step in STEPS:
        assert client.post(f"/api/sessions/{session_id}/steps", json=step).status_code == 200
    client.post(f"/api/sessions/{session_id}/run", json={"count": 1})
    app.extensions["pvframes"].store.flush_snapshots()
    expected = client.get(f"/api/sessions/{session_id}").get_json()
    events = client.get(f"/api/sessions/{session_id}/events").get_json()
    return app, session_id, (expected, events)


def reopen(make_app: Any, app: Any, session_id: str) -> Any:
    again = make_app(app.config["DATABASE"], SNAPSHOT_AFTER_S=None).test_client()
    return (again.get(f"/api/sessions/{session_id}").get_json(),
            again.get(f"/api/sessions/{session_id}/events").get_json())


def test_snapshot_is_stored_and_reopens_the_same(make_app: Any) -> None:
    app, session_id, expected = build(make_app)
    assert snapshot_rows(app) == [(session_id, 4, expected[0]["seq"])]
    assert reopen(make_app, app, session_id) == expected


@pytest.mark.parametrize("damage", [
    "UPDATE snapshots SET engine = 'other-code'",
    "UPDATE snapshots SET blob = x'00112233'",
    "UPDATE snapshots SET blob = substr(blob, 1, length(blob) - 64)",  # arrays cut short
    "UPDATE snapshots SET blob = blob || 'x'",  # damaged into TEXT
    "UPDATE snapshots SET n = 2",  # claims an action whose seq is another
])
def test_unfit_snapshots_are_ignored(make_app: Any, damage: str) -> None:
    app, session_id, expected = build(make_app)
    with closing(sqlite3.connect(app.config["DATABASE"])) as db:
        db.execute(damage)
        db.commit()
    assert reopen(make_app, app, session_id) == expected


def test_actions_after_the_snapshot_are_replayed(make_app: Any) -> None:
    app, session_id, _ = build(make_app)
    later = make_app(app.config["DATABASE"], SNAPSHOT_AFTER_S=None)  # no new snapshots
    client = later.test_client()
    client.post(f"/api/sessions/{session_id}/steps", json={"write": {"pfn": 13}})
    expected = (client.get(f"/api/sessions/{session_id}").get_json(),
                client.get(f"/api/sessions/{session_id}/events").get_json())
    assert snapshot_rows(later)[0][1] == 4  # the old snapshot, one action behind
    assert reopen(make_app, later, session_id) == expected


def test_reopen_starts_from_the_snapshot(make_app: Any) -> None:
    app, session_id, expected = build(make_app)
    with closing(sqlite3.connect(app.config["DATABASE"])) as db:
        # Break an action the snapshot covers: only a reopen that skips it can succeed.
        db.execute("UPDATE steps SET step_json = '{\"write\": {\"pfn\": 99999}}' WHERE n = 1")
        db.commit()
    assert reopen(make_app, app, session_id) == expected


def test_a_snapshot_thaws_to_the_same_session_and_refuses_damage() -> None:
    session = Session.create(SCRIPTED)
    session.run_next(None)
    blob = snapshots.pack(snapshots.freeze(session))
    again = snapshots.thaw(blob)
    assert again.snapshot() == session.snapshot() and list(again.events()) == list(
        session.events())
    again.apply({"write": {"pfn": 12}})  # its arrays are writable
    for damaged in (blob[:-64], blob + b"\0", b"PVFSNAP1" + blob[8:]):
        with pytest.raises(Exception):  # noqa: B017 - any error: the store then replays
            snapshots.thaw(damaged)


def test_an_older_snapshot_written_late_does_not_replace_a_newer_one(make_app: Any) -> None:
    # Snapshots are packed and written by concurrent threads: the one for action 3 may
    # reach the database after the one for action 4.
    app, session_id, expected = build(make_app)
    store = app.extensions["pvframes"].store
    stale = Session.create(SCRIPTED)
    store._write_snapshot(session_id, 3, stale.seq, snapshots.freeze(stale))
    assert snapshot_rows(app) == [(session_id, 4, expected[0]["seq"])]
    assert reopen(make_app, app, session_id) == expected
