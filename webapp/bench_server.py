"""The web app's figures for `pvframes bench --json` (engine/bench.py takes them through
its `extra` hook):

- `reopen_s`: a session that migrated a guest of `--pages` pages is reopened from the
  database by a fresh process (open the store, rebuild the session), as after a restart.
- `socketio_step_p99_s`: p99 of one `step` round trip from a client that joined the
  session, over a real WebSocket on 127.0.0.1; `socketio_echo_p99_s`: the same client
  against a bare Flask-SocketIO echo handler served the same way, measured in the same run.

Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from typing import Any

from flask import Flask
from flask_socketio import SocketIO

from .serving import background_server
from .sioclient import MiniClient

REOPEN = """
import sys, time
from webapp.store import SessionStore
t = time.perf_counter()
store = SessionStore(sys.argv[1])
with store.checkout(sys.argv[2]) as session:
    seq = session.seq
print(time.perf_counter() - t, seq)
"""
BIG = {"max_guest_pages": 1 << 23, "max_host_frames": 1 << 24, "max_session_bytes": 1 << 40,
       "cache_bytes": 1 << 40}


def reopen_seconds(pages: int, scenario: dict[str, Any]) -> dict[str, Any]:
    from . import create_app

    with tempfile.TemporaryDirectory() as directory:
        database = os.path.join(directory, "bench.sqlite3")
        app = create_app({"DATABASE": database, "LIMITS": BIG, "SNAPSHOT_AFTER_S": 0.0})
        service = app.extensions["pvframes"]
        session_id, _ = service.store.create(scenario=scenario)
        service.apply(session_id, {"migrate": "all"})
        service.store.close()  # waits for the snapshot
        size = os.path.getsize(database)
        with closing(sqlite3.connect(database)) as db:
            snapshot = db.execute("SELECT COALESCE(SUM(LENGTH(blob)), 0) FROM snapshots"
                                  ).fetchone()[0]
        out = subprocess.run([sys.executable, "-c", REOPEN, database, session_id],
                             capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
        seconds, seq = out.stdout.split()
        return {"reopen_s": round(float(seconds), 4), "reopen_seq": int(seq),
                "database_bytes": size, "snapshot_bytes": snapshot}


def _p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def socketio_p99(rounds: int = 300) -> dict[str, float]:
    from . import create_app

    with tempfile.TemporaryDirectory() as directory:
        app = create_app({"DATABASE": os.path.join(directory, "sio.sqlite3")})
        base, stop = background_server(app)
        try:
            client = MiniClient(base)
            session_id = app.extensions["pvframes"].create()["id"]
            client.call("join", {"session": session_id})
            step = {"session": session_id, "step": {"write": {"pfn": 9}}}
            steps = []
            for _ in range(rounds):
                start = time.perf_counter()
                ack = client.call("step", step)
                steps.append(time.perf_counter() - start)
                if not ack.get("ok"):
                    raise RuntimeError(f"step refused: {ack}")
            client.close()
            app.extensions["pvframes"].store.close()
        finally:
            stop()

    echo_app = Flask("pvframes-echo")
    echo = SocketIO(echo_app, async_mode="threading")

    @echo.on("step")
    def on_step(payload: Any) -> Any:  # the floor: decode, dispatch, ack the payload
        return {"ok": True, "event": payload}

    base, stop = background_server(echo_app)
    try:
        client = MiniClient(base)
        echoes = []
        for _ in range(rounds):
            start = time.perf_counter()
            client.call("step", step)
            echoes.append(time.perf_counter() - start)
        client.close()
    finally:
        stop()
    return {"socketio_step_p99_s": round(_p99(steps), 5),
            "socketio_step_p50_s": round(sorted(steps)[len(steps) // 2], 5),
            "socketio_echo_p99_s": round(_p99(echoes), 5),
            "socketio_echo_p50_s": round(sorted(echoes)[len(echoes) // 2], 5)}


def extra(report: dict[str, Any], args: argparse.Namespace) -> None:
    """engine.bench's hook: add the web app's figures to its report."""
    from engine import bench

    pages = int(getattr(args, "pages", report.get("pages", 1 << 20)))
    missing = report.setdefault("missing", {})
    try:
        report.update(reopen_seconds(pages, bench.scenario(pages)))
        missing.pop("reopen_s", None)
    except Exception as exc:  # a figure that could not be measured says why
        missing["reopen_s"] = f"failed: {exc}"
    try:
        report.update(socketio_p99())
        missing.pop("socketio_step_p99_s", None)
        missing.pop("socketio_echo_p99_s", None)
    except Exception as exc:
        missing["socketio_step_p99_s"] = missing["socketio_echo_p99_s"] = f"failed: {exc}"
    if not missing:
        report.pop("missing", None)


def main(argv: list[str] | None = None) -> int:
    """`python -m webapp.bench_server [--pages N]`: these figures alone, as JSON."""
    parser = argparse.ArgumentParser(prog="python -m webapp.bench_server")
    parser.add_argument("--pages", type=int, default=1 << 16)
    args = parser.parse_args(argv)
    report: dict[str, Any] = {"pages": args.pages}
    extra(report, args)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
