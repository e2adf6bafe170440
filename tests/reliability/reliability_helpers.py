"""Shared by the reliability tests (a unique module name on sys.path)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from contextlib import closing
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

SCRIPTED = {
    "name": "reliability",
    "guest": {"pages": 64, "layout": "linear"},
    "steps": [{"write": {"pfn": 9}}, {"write": {"pfn": 10}}, {"write": {"pfn": 11}}],
}
VALID_STEPS: list[dict[str, Any]] = [
    {"write": {"pfn": 9}},
    {"mmu_update": {"pfn": 3, "index": 20, "entry": {"pfn": 20, "flags": ["present"]}}},
    {"mmuext": {"cmd": "pin_l1", "pfn": 3}},
    {"check": {"entry": {"pfn": 3, "index": 20}}},
    {"migrate": "all"},
    {"note": "hello"},
]


def create(client: FlaskClient, scenario: Any = None) -> str:
    response = client.post("/api/sessions", json={} if scenario is None else
                           {"scenario": scenario})
    assert response.status_code == 201, response.get_data()
    return response.get_json()["id"]


def database_digest(app: Flask, session_id: str | None = None) -> str:
    """What is stored, as one digest: a refused request must leave it as it was. With a
    session id: the number of sessions and that session's rows (cheaper, for corpora)."""
    with closing(sqlite3.connect(app.config["DATABASE"])) as db:
        if session_id is None:
            rows = [db.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall()
                    for t in ("sessions", "steps")]
        else:
            rows = [db.execute("SELECT COUNT(*) FROM sessions").fetchall(),
                    db.execute("SELECT COUNT(*) FROM steps").fetchall(),
                    db.execute("SELECT * FROM steps WHERE session_id = ? ORDER BY n",
                               (session_id,)).fetchall()]
    return hashlib.sha256(json.dumps(rows, default=str).encode()).hexdigest()


def live_state(app: Flask, session_id: str) -> Any:
    """The live session's snapshot, taken in-process (no HTTP, no JSON)."""
    with app.extensions["pvframes"].store.checkout(session_id) as session:
        return session.snapshot()


def assert_clean_error(status: int, body: Any) -> None:
    """A refusal in the documented shape: a 4xx (or a 503 for capacity) with
    {"error": {"field", "message"}}, never a 500."""
    assert 400 <= status < 500 or status == 503, (status, body)
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert {"field", "message"} <= set(error), error
    assert error["field"] is None or isinstance(error["field"], str)
    assert isinstance(error["message"], str) and error["message"]
    assert "Traceback" not in error["message"]
