"""Constants and helpers shared by the server tests (a unique module name, so it cannot clash
with other test directories' modules on sys.path)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from flask import Flask
from flask_socketio import SocketIOTestClient

REPO = Path(__file__).resolve().parents[2]
SHARED_SCENARIOS = REPO.parent / "shared" / "scenarios"

# Steps that are valid on the default scenario (64-page linear guest): PFN 3 is the L1,
# PFNs 4..63 are data pages mapped read-write.
WRITE_9 = {"write": {"pfn": 9}}
WRITE_10 = {"write": {"pfn": 10}}
REMAP_20_RO = {"mmu_update": {"pfn": 3, "index": 20, "entry": {"pfn": 20, "flags": ["present"]}}}

SCRIPTED = {
    "name": "web-scripted",
    "title": "Three scripted steps",
    "guest": {"pages": 64, "layout": "linear"},
    "steps": [
        {"write": {"pfn": 9}, "expect": "ok"},
        {"mmu_update": {"pfn": 3, "index": 20, "entry": {"pfn": 20, "flags": ["present"]}}},
        {"write": {"pfn": 11}, "expect": "ok"},
    ],
}


def stored_rows(app: Flask, table: str) -> int:
    """Rows in a table, read through a separate connection as another process would."""
    with closing(sqlite3.connect(app.config["DATABASE"])) as db:
        return db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def received_events(sio: SocketIOTestClient) -> list[dict[str, Any]]:
    return [m["args"][0] for m in sio.get_received() if m["name"] == "event"]
