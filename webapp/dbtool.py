"""`pvframes db check|recover`: look at a session database the server refuses to use, and
copy what can still be read (and replayed) into a fresh one.

`check` changes nothing. `recover` never edits the damaged file: it writes a new database
beside it, keeps each session's actions up to the first one that is missing or no longer
replays, then moves the damaged file aside (`PATH.damaged-<time>`) and puts the new one in
its place, so the server starts again with everything that was recoverable.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.session import Session

from . import schema
from .store import run_next


def _read_only(path: str) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def check(path: str, replay: bool = False) -> tuple[bool, list[str]]:
    """(usable, report lines). With `replay`, every session is rebuilt from its log too."""
    if not Path(path).is_file():
        return False, [f"{path}: no such file"]
    try:
        db = _read_only(path)
    except sqlite3.DatabaseError as exc:
        return False, [f"{path}: SQLite cannot open it: {exc}"]
    with closing(db):
        found = schema.problems(db)
        if found:
            return False, [f"{path}: {p}" for p in found]
        try:
            sessions = db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
            actions = db.execute("SELECT COUNT(*) FROM steps").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            return False, [f"{path}: {exc}"]
        lines = [f"{path}: ok, {sessions} sessions, {actions} recorded actions"]
        if replay:
            bad = 0
            for session_id, header, rows in _sessions(db):
                kept, error = _replayable(header, rows)
                if error:
                    bad += 1
                    lines.append(f"session {session_id}: action {kept + 1} of {len(rows)} "
                                 f"does not replay: {error}")
            lines.append(f"replayed every session: {bad} with problems")
            return bad == 0, lines
        return True, lines


def _rows(db: sqlite3.Connection, sql: str) -> list[tuple[Any, ...]]:
    """All rows a query can read; on damage, those readable one rowid at a time."""
    try:
        return db.execute(sql).fetchall()
    except sqlite3.DatabaseError:
        pass
    table = sql.split(" FROM ")[1].split()[0]
    try:
        (top,) = db.execute(f"SELECT MAX(rowid) FROM {table}").fetchone()
    except sqlite3.DatabaseError:
        return []
    rows = []
    for rowid in range(1, (top or 0) + 1):
        try:
            rows += db.execute(sql.replace(" ORDER BY", f" WHERE rowid = {rowid} ORDER BY")
                               if " ORDER BY" in sql else f"{sql} WHERE rowid = {rowid}"
                               ).fetchall()
        except sqlite3.DatabaseError:
            continue
    return rows


def _sessions(db: sqlite3.Connection
              ) -> Iterator[tuple[str, tuple[Any, ...], list[tuple[Any, ...]]]]:
    """(id, (created, scenario_json, xen), [(n, kind, step_json, seq), ...] in order)."""
    headers = _rows(db, "SELECT id, created, scenario_json, xen FROM sessions")
    steps: dict[str, list[tuple[Any, ...]]] = {}
    for session_id, n, kind, body, seq in _rows(
            db, "SELECT session_id, n, kind, step_json, seq FROM steps"):
        steps.setdefault(session_id, []).append((n, kind, body, seq))
    for session_id, created, scenario_json, xen in headers:
        rows = sorted(steps.get(session_id, []))
        contiguous = []
        for expected, row in enumerate(rows, start=1):
            if row[0] != expected:
                break
            contiguous.append(row)
        yield session_id, (created, scenario_json, xen), contiguous


def _replayable(header: tuple[Any, ...], rows: list[tuple[Any, ...]]) -> tuple[int, str | None]:
    """How many leading actions replay to their recorded seq, and why the next does not."""
    _created, scenario_json, xen = header
    try:
        session = Session.create(scenario=json.loads(scenario_json), xen=xen)
    except Exception as exc:  # a damaged header: nothing of this session can be rebuilt
        return -1, f"its scenario does not load: {exc}"
    for i, (_n, kind, body, seq) in enumerate(rows):
        try:
            value = json.loads(body)
            session.apply(value) if kind == "step" else run_next(session, value)
        except Exception as exc:
            return i, str(exc)
        if session.seq != seq:
            return i, f"ends at seq {session.seq}, recorded {seq}"
    return len(rows), None


def recover(path: str) -> list[str]:
    """Copy what replays into a fresh database at `path`; the old file is kept aside."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such file")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    fresh = f"{path}.recovered-{stamp}"
    lines = []
    try:
        src = _read_only(path)
    except sqlite3.DatabaseError as exc:
        src = None
        lines.append(f"{path}: SQLite cannot open it ({exc}); nothing could be copied")
    out = schema.open_database(fresh, "full")  # written once: sync it
    kept_sessions = kept_actions = lost_actions = 0
    with closing(out):
        if src is not None:
            with closing(src):
                for session_id, header, rows in _sessions(src):
                    kept, error = _replayable(header, rows)
                    if kept < 0:
                        lines.append(f"session {session_id}: dropped, {error}")
                        continue
                    with out:
                        out.execute("INSERT INTO sessions VALUES (?, ?, ?, ?)",
                                    (session_id, *header))
                        out.executemany("INSERT INTO steps VALUES (?, ?, ?, ?, ?)",
                                        [(session_id, *r) for r in rows[:kept]])
                    kept_sessions += 1
                    kept_actions += kept
                    if error:
                        lost_actions += len(rows) - kept
                        lines.append(f"session {session_id}: kept {kept} actions; action "
                                     f"{kept + 1} does not replay ({error})")
    damaged = f"{path}.damaged-{stamp}"
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.replace(path + suffix, damaged + suffix)
    os.replace(fresh, path)
    lines.append(f"recovered {kept_sessions} sessions with {kept_actions} actions into {path}"
                 f" ({lost_actions} actions after a damaged one were not kept); the damaged"
                 f" file is {damaged}")
    return lines


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="pvframes db",
                                     description="Check or recover the session database.")
    parser.add_argument("action", choices=["check", "recover"])
    parser.add_argument("--db", metavar="PATH", default=None,
                        help="the SQLite file (default: the one `pvframes serve` uses)")
    parser.add_argument("--replay", action="store_true",
                        help="check: also rebuild every session from its log")
    options = parser.parse_args(list(argv))
    if options.db is None:
        from flask import Flask

        options.db = os.path.join(Flask("webapp").instance_path, "pvframes.sqlite3")
    if options.action == "check":
        ok, lines = check(options.db, replay=options.replay)
        print("\n".join(lines))
        return 0 if ok else 1
    try:
        print("\n".join(recover(options.db)))
    except (OSError, schema.DatabaseProblem) as exc:
        print(f"pvframes db recover: {exc}")
        return 1
    return 0
