"""`pvframes bench` with the web app's figures at a small size (two real servers on the
loopback, one after the other on one database). No time is asserted."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

from webapp import bench


def test_bench_reopens_a_migrated_session_in_a_fresh_server():
    out = io.StringIO()
    with redirect_stdout(out):
        code = bench.main(["--json", "--pages", "2048", "--repeat", "1"])
    report = json.loads(out.getvalue())
    assert code == 0 and report["ok"]
    assert isinstance(report["reopen_s"], float) and report["reopen_s"] > 0
    assert "reopen_s" not in report["missing"]
    # Socket.IO round trips over a real WebSocket, beside a bare echo (bench_server.py).
    for key in ("socketio_step_p99_s", "socketio_echo_p99_s"):
        assert isinstance(report[key], float) and report[key] > 0
        assert key not in report["missing"]
