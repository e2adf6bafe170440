"""13.4 with real processes: two `pvframes serve` processes (gunicorn, as deployed) on one
database and one redis-server message queue. Followers split across them see the same
events in the same order, steps from both are serialised by the fenced log, and a kill -9
of one server loses nothing that was acknowledged. Loopback only."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from webapp.sioclient import MiniClient

REPO = Path(__file__).resolve().parents[2]
REDIS = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(REDIS is None, reason="redis-server is not installed "
                                "(.ci/run installs it)")


def free_port() -> int:
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Any, what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{what} did not come up in {seconds} s")


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: socket.create_connection(("127.0.0.1", port), 0.2).close() or True,
               "redis-server")
    yield f"redis://127.0.0.1:{port}/0"
    proc.kill()
    proc.wait()


class Server:
    def __init__(self, database: Path, queue: str, log: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(log, "w")  # noqa: SIM115 - closed in stop()
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "webapp", "serve", "--port", str(self.port), "--db",
             str(database), "--message-queue", queue, "--threads", "20"],
            stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        wait_until(lambda: urllib.request.urlopen(f"{self.base}/api/scenarios", timeout=1)
                   .status == 200, f"server on {self.port}")

    def kill9(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)  # the gunicorn master and its worker
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        self.log.close()


def post(base: str, path: str, body: Any) -> Any:
    request = urllib.request.Request(base + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(request, timeout=30))


def test_two_servers_one_database_one_queue(tmp_path: Path, redis_url: str) -> None:
    database = tmp_path / "shared.sqlite3"
    a = Server(database, redis_url, tmp_path / "a.log")
    b = Server(database, redis_url, tmp_path / "b.log")
    clients: list[MiniClient] = []
    try:
        created = post(a.base, "/api/sessions", {})
        session_id, token = created["id"], created["token"]  # the presenter's (roles.py)
        followers = {name: MiniClient(server.base) for name, server in
                     [("a1", a), ("a2", a), ("b1", b), ("b2", b)]}
        presenters = [MiniClient(a.base), MiniClient(b.base)]
        clients += [*followers.values(), *presenters]
        for client in followers.values():
            assert client.call("join", {"session": session_id})["ok"]
        acked = []
        for i in range(20):  # both servers write, in turn
            ack = presenters[i % 2].call(
                "step", {"session": session_id, "token": token,
                         "step": {"write": {"pfn": 9 + i % 5}}})
            assert ack["ok"], ack
            acked.append(ack["event"]["seq"])
        assert acked == list(range(1, 21))
        for client in followers.values():
            client.wait_events(20)
        seen = {name: [e["seq"] for _, e in c.events] for name, c in followers.items()}
        assert all(s == acked for s in seen.values()), seen
        steps = {name: [e["step"] for _, e in c.events] for name, c in followers.items()}
        assert steps["a1"] == steps["b1"] == steps["a2"] == steps["b2"]

        a.kill9()  # mid-session: everything acknowledged is already committed
        for i in range(5):
            ack = presenters[1].call("step", {"session": session_id, "token": token,
                                              "step": {"write": {"pfn": 20 + i}}})
            assert ack["ok"], ack
            acked.append(ack["event"]["seq"])
        for name in ("b1", "b2"):
            followers[name].wait_events(25)
            assert [e["seq"] for _, e in followers[name].events] == list(range(1, 26))
        with closing(sqlite3.connect(database)) as db:
            assert db.execute("SELECT MAX(seq), COUNT(*) FROM steps").fetchone() == (25, 25)

        restarted = Server(database, redis_url, tmp_path / "a2.log")
        try:
            late = MiniClient(restarted.base)
            clients.append(late)
            caught = late.call("join", {"session": session_id, "since": 20})
            assert [e["seq"] for e in caught["events"]] == [21, 22, 23, 24, 25]
        finally:
            restarted.stop()
    finally:
        for client in clients:
            client.close()
        for server in (a, b):
            try:
                server.stop()
            except (ProcessLookupError, OSError):
                pass
