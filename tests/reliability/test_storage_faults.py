"""13.5: storage faults answer 503 with the reason, acknowledge nothing that was not
stored, and recover when the fault goes; a damaged or foreign database is refused at start
(never papered over) and `pvframes db check|recover` deal with it."""

from __future__ import annotations

import multiprocessing
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from reliability_helpers import SCRIPTED, create, database_digest

from webapp import cli, create_app, schema
from webapp.extensions import socketio
from webapp.schema import DatabaseProblem

WRITE_9 = {"write": {"pfn": 9}}


def raw_db(app: Any) -> sqlite3.Connection:
    return app.extensions["pvframes"].store._db


@pytest.mark.parametrize(("fault", "undo", "reason"), [
    # SQLITE_FULL, as a full disk or a file-size limit gives it
    ("PRAGMA max_page_count = {pages}", "PRAGMA max_page_count = 1073741823", "full"),
    ("PRAGMA query_only = ON", "PRAGMA query_only = OFF", "readonly"),
])
def test_write_faults_are_503_and_recover(app: Any, client: Any, fault: str, undo: str,
                                          reason: str) -> None:
    session_id = create(client, SCRIPTED)
    assert client.post(f"/api/sessions/{session_id}/steps", json=WRITE_9).status_code == 200
    before = database_digest(app)
    snapshot = client.get(f"/api/sessions/{session_id}").get_json()
    db = raw_db(app)
    db.execute(fault.format(pages=db.execute("PRAGMA page_count").fetchone()[0]))

    sio = socketio.test_client(app, flask_test_client=app.test_client())
    for _ in range(2):  # enough rows to need a new page
        r = client.post(f"/api/sessions/{session_id}/steps",
                        json={**WRITE_9, "note": "n" * 4000})
        assert r.status_code == 503, r.get_json()
        assert reason in r.get_json()["error"]["message"]
    ack = sio.emit("step", {"session": session_id, "step": {**WRITE_9, "note": "n" * 4000}},
                   callback=True)
    assert ack["ok"] is False and reason in ack["error"]["message"]
    big = {**SCRIPTED, "description": "d" * 4000}
    assert client.post("/api/sessions", json={"scenario": big}).status_code == 503
    # Reads still work, and show nothing that was not stored.
    assert client.get(f"/api/sessions/{session_id}").get_json() == snapshot
    assert sio.get_received() == []  # nothing unstored was broadcast

    db.execute(undo)
    assert database_digest(app) == before
    r = client.post(f"/api/sessions/{session_id}/steps", json=WRITE_9)
    assert r.status_code == 200 and r.get_json()["seq"] == snapshot["seq"] + 1
    sio.disconnect()


def make_database(path: Path) -> str:
    app = create_app({"TESTING": True, "DATABASE": str(path)})
    client = app.test_client()
    session_id = create(client, SCRIPTED)
    client.post(f"/api/sessions/{session_id}/run", json={"count": "all"})
    app.extensions["pvframes"].store.close()
    return session_id


def tables(path: Path) -> set[str]:
    with closing(sqlite3.connect(path)) as db:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}


@pytest.mark.parametrize(("damage", "words"), [
    ("DROP TABLE steps", "steps missing"),
    ("ALTER TABLE steps ADD COLUMN extra TEXT", "has columns"),
    ("PRAGMA user_version = 99", "newer pvframes"),
])
def test_mismatched_schema_is_refused_and_not_recreated(
    tmp_path: Path, damage: str, words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.sqlite3"
    make_database(path)
    with closing(sqlite3.connect(path)) as db:
        db.execute(damage)
        db.commit()
    present = tables(path)
    with pytest.raises(DatabaseProblem, match=words):
        create_app({"TESTING": True, "DATABASE": str(path)})
    assert tables(path) == present  # nothing recreated over the missing data
    assert cli.main(["serve", "--db", str(path)]) == 1
    err = capsys.readouterr().err
    assert words in err and "pvframes db recover" in err and "Traceback" not in err
    assert cli.main(["db", "check", "--db", str(path)]) == 1


def test_corrupt_file_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    make_database(path)
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\x5a" * (4096 - 100)  # the schema page
    path.write_bytes(bytes(data))
    with pytest.raises(DatabaseProblem, match="refusing to use"):
        create_app({"TESTING": True, "DATABASE": str(path)})
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(DatabaseProblem, match="not a database"):
        create_app({"TESTING": True, "DATABASE": str(garbage)})


def test_db_check_reports_and_replays(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                      ) -> None:
    path = tmp_path / "s.sqlite3"
    make_database(path)
    assert cli.main(["db", "check", "--db", str(path), "--replay"]) == 0
    out = capsys.readouterr().out
    assert "ok, 1 sessions, 1 recorded actions" in out and "0 with problems" in out
    with closing(sqlite3.connect(path)) as db:  # a recorded seq that the log cannot reach
        db.execute("UPDATE steps SET seq = 7")
        db.commit()
    assert cli.main(["db", "check", "--db", str(path), "--replay"]) == 1
    assert "does not replay" in capsys.readouterr().out


def test_db_recover_keeps_what_replays(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    good = make_database(path)
    app = create_app({"TESTING": True, "DATABASE": str(path)})
    client = app.test_client()
    broken = create(client, SCRIPTED)
    for _ in range(3):
        client.post(f"/api/sessions/{broken}/steps", json=WRITE_9)
    expected = client.get(f"/api/sessions/{good}").get_json()
    app.extensions["pvframes"].store.close()
    with closing(sqlite3.connect(path)) as db:  # lose the middle action of one session
        db.execute("DELETE FROM steps WHERE session_id = ? AND n = 2", (broken,))
        db.execute("ALTER TABLE steps ADD COLUMN junk TEXT")  # and make the schema foreign
        db.commit()
    with pytest.raises(DatabaseProblem):
        create_app({"TESTING": True, "DATABASE": str(path)})

    assert cli.main(["db", "recover", "--db", str(path)]) == 0
    assert list(tmp_path.glob("s.sqlite3.damaged-*"))  # the damaged file is kept
    app = create_app({"TESTING": True, "DATABASE": str(path)})
    client = app.test_client()
    assert client.get(f"/api/sessions/{good}").get_json() == expected
    assert client.get(f"/api/sessions/{broken}").get_json()["seq"] == 1  # up to the gap
    app.extensions["pvframes"].store.close()


def _open_at_once(path: str, barrier: Any, errors: Any) -> None:
    barrier.wait()  # all at the same moment, as the load script starts its servers
    try:
        schema.open_database(path).close()
    except DatabaseProblem as exc:
        errors.put(str(exc))


def test_servers_started_at_once_on_a_new_file_all_start(tmp_path: Path) -> None:
    """Several servers on one new database (the load script, a restart of all workers):
    each finds it empty, and all but one used to refuse with "table sessions already
    exists"."""
    context = multiprocessing.get_context("spawn")
    for round_ in range(3):
        path = str(tmp_path / f"new{round_}.sqlite3")
        barrier, errors = context.Barrier(4), context.Queue()
        workers = [context.Process(target=_open_at_once, args=(path, barrier, errors))
                   for _ in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
        assert [worker.exitcode for worker in workers] == [0] * 4
        assert errors.empty(), errors.get()
        assert set(schema.TABLES) <= tables(Path(path))


def test_schema_made_meanwhile_by_another_server_is_kept(tmp_path: Path) -> None:
    """The creating transaction looks again once it holds the write lock."""
    path = str(tmp_path / "late.sqlite3")
    late = schema.connect(path)  # opened while the file was still empty ...
    session_id = make_database(Path(path))  # ... when another server created and wrote
    schema._create(late)  # what open_database would now do on `late`: nothing
    late.close()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT COUNT(*) FROM steps WHERE session_id = ?",
                          (session_id,)).fetchone()[0] > 0
