"""Socket.IO figures for `pvframes bench --json` (webapp/bench.py adds them):

- `socketio_step_p99_s` (and p50): one `step` round trip from a client that joined the
  session, over a real WebSocket on 127.0.0.1, with the server's default durability
  (`socketio_durability`); `socketio_step_full_p99_s` (and p50): the same with
  `--durability full` (an fsync per step);
- `socketio_echo_p99_s` (and p50): the same kind of client against a bare Flask-SocketIO
  echo handler served the same way, timed beside the default durability's steps.

Each step is timed right beside an echo (they alternate, both servers running), so that
the load of the machine weighs on both alike. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask_socketio import SocketIO

from .schema import DEFAULT_DURABILITY
from .serving import background_server
from .sioclient import MiniClient

STEP = {"write": {"pfn": 9}}


def _p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _timed(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def _echo_server() -> tuple[str, Callable[[], None]]:
    echo_app = Flask("pvframes-echo")
    echo = SocketIO(echo_app, async_mode="threading")

    @echo.on("step")
    def on_step(payload: Any) -> Any:  # the floor: decode, dispatch, ack the payload
        return {"ok": True, "event": payload}

    return background_server(echo_app)


def _steps_beside_echoes(durability: str, echo: MiniClient, rounds: int
                         ) -> tuple[list[float], list[float]]:
    """`rounds` steps on a fresh pvframes app (one at a time: its Socket.IO object is the
    module's), each followed by one echo."""
    from . import create_app

    with tempfile.TemporaryDirectory() as directory:
        app = create_app({"DATABASE": os.path.join(directory, "sio.sqlite3"),
                          "DURABILITY": durability})
        base, stop = background_server(app)
        try:
            client = MiniClient(base)
            session_id = app.extensions["pvframes"].create()["id"]
            client.call("join", {"session": session_id})
            step = {"session": session_id, "step": STEP}
            steps, echoes = [], []

            def one_step() -> None:
                ack = client.call("step", step)
                if not ack.get("ok"):
                    raise RuntimeError(f"step refused: {ack}")

            for _ in range(rounds):
                steps.append(_timed(one_step))
                echoes.append(_timed(lambda: echo.call("step", step)))
            client.close()
            app.extensions["pvframes"].store.close()
        finally:
            stop()
    return steps, echoes


def socketio_p99(rounds: int = 300) -> dict[str, Any]:
    base, stop = _echo_server()
    try:
        echo = MiniClient(base)
        for _ in range(10):  # warm both ends
            echo.call("step", {"step": STEP})
        steps, echoes = _steps_beside_echoes(DEFAULT_DURABILITY, echo, rounds)
        other = "full" if DEFAULT_DURABILITY != "full" else "process"
        other_steps, _ = _steps_beside_echoes(other, echo, rounds)
        echo.close()
    finally:
        stop()
    return {"socketio_durability": DEFAULT_DURABILITY,
            "socketio_step_p99_s": round(_p99(steps), 5),
            "socketio_step_p50_s": round(sorted(steps)[len(steps) // 2], 5),
            f"socketio_step_{other}_p99_s": round(_p99(other_steps), 5),
            f"socketio_step_{other}_p50_s": round(sorted(other_steps)[len(other_steps) // 2],
                                                  5),
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
