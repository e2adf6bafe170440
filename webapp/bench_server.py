"""Socket.IO figures for `pvframes bench --json` (webapp/bench.py adds them):

- `socketio_step_p99_s`: p99 of one `step` round trip from a client that joined the
  session, over a real WebSocket on 127.0.0.1; `socketio_echo_p99_s`: the same client
  against a bare Flask-SocketIO echo handler served the same way, measured in the same run.

Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from typing import Any

from flask import Flask
from flask_socketio import SocketIO

from .serving import background_server
from .sioclient import MiniClient


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


def main(argv: list[str] | None = None) -> int:
    """`python -m webapp.bench_server [--rounds N]`: these figures alone, as JSON."""
    parser = argparse.ArgumentParser(prog="python -m webapp.bench_server")
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args(argv)
    print(json.dumps(socketio_p99(args.rounds), indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
