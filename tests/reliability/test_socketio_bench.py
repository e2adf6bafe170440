"""The web app's Socket.IO benchmark figures, run small so they cannot rot (no timing
asserted)."""

from __future__ import annotations

from webapp import bench_server


def test_socketio_figures_over_a_real_websocket() -> None:
    figures = bench_server.socketio_p99(rounds=10)
    for key in ("socketio_step_p99_s", "socketio_echo_p99_s"):
        assert isinstance(figures[key], float) and figures[key] > 0
