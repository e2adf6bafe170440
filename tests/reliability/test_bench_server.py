"""The web app's benchmark figures, run small so they cannot rot (no timing asserted)."""

from __future__ import annotations

import argparse

from engine import bench
from webapp import bench_server


def test_reopen_is_measured_from_a_snapshot_in_a_fresh_process() -> None:
    figures = bench_server.reopen_seconds(512, bench.scenario(512))
    assert figures["reopen_seq"] == 1  # the migration was reopened, not a fresh session
    assert figures["snapshot_bytes"] > 0 and figures["reopen_s"] > 0


def test_socketio_figures_over_a_real_websocket() -> None:
    figures = bench_server.socketio_p99(rounds=10)
    for key in ("socketio_step_p99_s", "socketio_echo_p99_s"):
        assert isinstance(figures[key], float) and figures[key] > 0


def test_extra_fills_the_engine_report(monkeypatch: object) -> None:
    report = {"pages": 256, "missing": {"reopen_s": "x", "socketio_step_p99_s": "x",
                                        "socketio_echo_p99_s": "x"}}
    bench_server.extra(report, argparse.Namespace(pages=256))
    assert "missing" not in report
    assert {"reopen_s", "socketio_step_p99_s", "socketio_echo_p99_s"} <= set(report)
