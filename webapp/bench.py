"""`pvframes bench`: the engine's figures (engine/bench.py) and the web app's, measured
against real `pvframes serve` processes on the loopback through the public REST API, so
that they hold whatever the server does inside.

reopen_s: a session is created and migrated on one server, the server stops (SIGTERM: it
finishes writing its snapshots), a fresh one starts on the same database, and the first
request that needs the session (its events since its last seq: a few bytes) is timed.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Any

from engine import bench as engine_bench

from . import bench_server

START_TIMEOUT = 60.0
REQUEST_TIMEOUT = 900.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _call(base: str, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if token:  # the presenter's token: only it may change the session (webapp/roles.py)
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=REQUEST_TIMEOUT) as resp:
        return json.loads(resp.read())


@contextmanager
def server(db: str) -> Iterator[tuple[str, int]]:
    """`pvframes serve` on a free loopback port, stopped on exit: (base URL, its pid)."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "webapp", "serve", "--port", str(port),
                             "--db", db], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=dict(os.environ))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                _call(base, "GET", "/api/scenarios")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("pvframes serve did not start") from None
                time.sleep(0.1)
        yield base, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def measure_reopen(pages: int, xen: str) -> dict[str, Any]:
    """`reopen_s`; `reopen_cpu_s`, the CPU time the fresh server spent on it; and
    `reopen_snapshot`: whether the stopped server had left a snapshot of the session (else
    the reopen replayed its log)."""
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "bench.sqlite3")
        with server(db) as (base, _pid):
            created = _call(base, "POST", "/api/sessions",
                            {"scenario": engine_bench.scenario(pages), "xen": xen})
            sid = created["id"]
            seq = _call(base, "POST", f"/api/sessions/{sid}/steps",
                        {"migrate": {"phase": "all", "rounds": 2}},
                        token=created["token"])["seq"]
        with closing(sqlite3.connect(db)) as conn:
            snapshot = conn.execute("SELECT COUNT(*) FROM snapshots WHERE session_id = ?",
                                    (sid,)).fetchone()[0] > 0
        with server(db) as (base, pid):
            cpu_before, start = _cpu_s(pid), time.perf_counter()
            reply = _call(base, "GET", f"/api/sessions/{sid}/events?since={seq}")
            took = time.perf_counter() - start
            cpu_after = _cpu_s(pid)
        cpu = (None if cpu_before is None or cpu_after is None
               else round(cpu_after - cpu_before, 3))
        if reply["seq"] != seq:
            raise RuntimeError(f"reopened at seq {reply['seq']}, expected {seq}")
        return {"reopen_s": took, "reopen_cpu_s": cpu, "reopen_snapshot": snapshot}


def _cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) a process has used, from /proc (None elsewhere): the
    part of a wall time that the machine's other load does not inflate."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def add_server_figures(report: dict[str, Any], args: argparse.Namespace) -> None:
    missing = report.setdefault("missing", {})
    try:
        report.update(measure_reopen(args.pages, args.xen))
        missing.pop("reopen_s", None)
    except (OSError, RuntimeError, KeyError, ValueError) as err:
        missing["reopen_s"] = f"not measured: {err}"
    socketio_keys = ("socketio_step_p99_s", "socketio_echo_p99_s")
    try:  # over a real WebSocket, against a bare Flask-SocketIO echo (webapp/bench_server.py)
        report.update(bench_server.socketio_p99())
        for key in socketio_keys:
            missing.pop(key, None)
    except (OSError, RuntimeError, KeyError, ValueError) as err:
        for key in socketio_keys:
            missing[key] = f"not measured: {err}"
    report["ok"] = report["ok"] and "reopen_s" not in missing


def main(argv: list[str] | None = None) -> int:
    return engine_bench.main(argv, extra=add_server_figures)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
