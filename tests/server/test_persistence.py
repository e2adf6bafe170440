"""Sessions survive the process: a new app on the same database replays them identically."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from server_helpers import REMAP_20_RO, REPO, SCRIPTED, SHARED_SCENARIOS, WRITE_9, WRITE_10


def state(client: Any, session_id: str) -> tuple[Any, Any, str]:
    snapshot = client.get(f"/api/sessions/{session_id}").get_json()
    events = client.get(f"/api/sessions/{session_id}/events").get_json()
    export = client.get(f"/api/sessions/{session_id}/export").get_data(as_text=True)
    return snapshot, events, export


def test_new_app_replays_steps_and_runs(make_app: Any, tmp_path: Path) -> None:
    database = tmp_path / "sessions.sqlite3"
    first = make_app(database).test_client()
    session_id = first.post("/api/sessions", json={"scenario": SCRIPTED}).get_json()["id"]
    first.post(f"/api/sessions/{session_id}/run", json={"count": 1})
    first.post(f"/api/sessions/{session_id}/steps", json=WRITE_10)
    first.post(f"/api/sessions/{session_id}/steps", json={"write": {"pfn": 64}})  # rejected
    first.post(f"/api/sessions/{session_id}/run", json={"count": "all"})
    default_id = first.post("/api/sessions", json={"xen": "unpatched"}).get_json()["id"]
    first.post(f"/api/sessions/{default_id}/steps", json=REMAP_20_RO)
    before = {sid: state(first, sid) for sid in (session_id, default_id)}
    assert before[session_id][0]["seq"] == 4

    second = make_app(database).test_client()
    for sid, expected in before.items():
        assert state(second, sid) == expected
    # and the replayed session carries on where it stopped
    body = second.post(f"/api/sessions/{session_id}/steps", json=WRITE_9).get_json()
    assert body["seq"] == 5


@pytest.mark.skipif(not SHARED_SCENARIOS.is_dir(), reason="no ../shared/scenarios checkout")
def test_shared_scenarios_replay_identically(make_app: Any, tmp_path: Path) -> None:
    database = tmp_path / "shared.sqlite3"
    first = make_app(database).test_client()
    ids = {}
    for path in sorted(SHARED_SCENARIOS.glob("*.yaml")):
        for xen in ("patched", "unpatched"):
            body = {"scenario_file": path.stem, "xen": xen}
            sid = first.post("/api/sessions", json=body).get_json()["id"]
            first.post(f"/api/sessions/{sid}/run", json={"count": "all"})
            ids[sid] = state(first, sid)
    second = make_app(database).test_client()
    for sid, expected in ids.items():
        assert state(second, sid) == expected


def test_evicted_sessions_are_rebuilt(make_app: Any) -> None:
    client = make_app(SESSION_CACHE_SIZE=1).test_client()
    a = client.post("/api/sessions", json={}).get_json()["id"]
    client.post(f"/api/sessions/{a}/steps", json=WRITE_9)
    before = state(client, a)
    b = client.post("/api/sessions", json={}).get_json()["id"]  # pushes `a` out of the cache
    client.post(f"/api/sessions/{b}/steps", json=WRITE_10)
    assert state(client, a) == before
    assert client.post(f"/api/sessions/{a}/steps", json=WRITE_10).get_json()["seq"] == 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(method: str, url: str, body: Any = None, token: str | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_sigterm_finishes_the_snapshots_being_written(make_app: Any, tmp_path: Path) -> None:
    """A stopped server (SIGTERM) exits cleanly once the snapshots it was writing are
    stored, so a restart reopens the session from its snapshot (webapp/snapshots.py)."""
    database, port = tmp_path / "stopped.sqlite3", free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "webapp", "serve", "--port", str(port), "--db", str(database)],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO), "PVFRAMES_SNAPSHOT_AFTER_S": "0"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/api"
    try:
        wait_for(server, base)
        created = http("POST", f"{base}/sessions", {"scenario": SCRIPTED})
        session_id = created["id"]
        acked = http("POST", f"{base}/sessions/{session_id}/steps", WRITE_10, created["token"])
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=30)
    assert code == 0
    with closing(sqlite3.connect(database)) as db:
        rows = db.execute("SELECT session_id, seq FROM snapshots").fetchall()
    assert rows == [(session_id, acked["seq"])]


def wait_for(server: subprocess.Popen[Any], base: str) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            http("GET", f"{base}/scenarios")
            return
        except OSError:
            assert server.poll() is None, "server exited"
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)


def test_kill_9_loses_nothing_acknowledged(make_app: Any, tmp_path: Path) -> None:
    database, port = tmp_path / "killed.sqlite3", free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "webapp", "serve", "--port", str(port), "--db", str(database)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # kill -9 reaches gunicorn's worker too, not only its arbiter
    )
    base = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                http("GET", f"{base}/scenarios")
                break
            except OSError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
        created = http("POST", f"{base}/sessions", {"scenario": SCRIPTED})
        session_id, token = created["id"], created["token"]
        http("POST", f"{base}/sessions/{session_id}/run", {"count": 2}, token)
        acked = http("POST", f"{base}/sessions/{session_id}/steps", WRITE_10, token)
        snapshot = http("GET", f"{base}/sessions/{session_id}")
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)
        if server.stdout:
            server.stdout.close()
    assert acked["seq"] == 3
    client = make_app(database).test_client()
    assert client.get(f"/api/sessions/{session_id}").get_json() == snapshot


@pytest.mark.parametrize(("durability", "synchronous"), [(None, 1), ("process", 1),
                                                          ("full", 2)])
def test_durability_chooses_how_commits_are_synced(make_app: Any, durability: str | None,
                                                   synchronous: int) -> None:
    """process (the default): WAL with synchronous=NORMAL (1), no fsync per commit, which
    still survives kill -9; full: synchronous=FULL (2), an fsync per commit."""
    app = make_app(DURABILITY=durability)
    with app.extensions["pvframes"].store.transaction() as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("PRAGMA synchronous").fetchone() == (synchronous,)


def test_unknown_durability_is_refused(make_app: Any) -> None:
    with pytest.raises(ValueError, match="durability must be one of process, full"):
        make_app(DURABILITY="fsync")
