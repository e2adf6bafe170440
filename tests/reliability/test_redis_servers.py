"""13.4 and 13.5 with real processes: two `pvframes serve` processes on one database and
one redis-server message queue. Followers split across them see the same events in the
same order, steps from both are serialised by the fenced log, a kill -9 of one server
loses nothing that was acknowledged, and while Redis is away steps are refused with a 503
naming the queue, then accepted again, every follower catching up. Loopback only."""

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
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest

from webapp.sioclient import MiniClient, SocketIOError

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


class RedisServer:
    """A redis-server of the distribution on 127.0.0.1, which a test can stop and start
    again on the same port."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.directory = directory
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        assert REDIS is not None
        self.proc = subprocess.Popen(
            [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                   or True, "redis-server")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """Just the URL of a redis-server that runs for the whole test (other modules import
    this fixture by name)."""
    server = RedisServer(tmp_path)
    yield server.url
    server.stop()


class Server:
    def __init__(self, database: Path, queue: str, log: Path) -> None:
        self.database = database
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
        os.killpg(self.proc.pid, signal.SIGKILL)  # the server and anything it started
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        self.log.close()


def post(base: str, path: str, body: Any, token: str | None = None) -> Any:
    status, answer = post_status(base, path, body, token)
    assert status in (200, 201), (status, answer)
    return answer


def post_status(base: str, path: str, body: Any, token: str | None = None
                ) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(base + path, data=json.dumps(body).encode(),
                                     headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def step_once_back(base: str, path: str, step: Any, token: str) -> int:
    """Retry a step refused for the queue until the server has its subscription back."""
    deadline = time.monotonic() + 30
    while True:
        status, body = post_status(base, path, step, token)
        if status == 200:
            return int(body["seq"])
        assert status == 503 and "message queue" in body["error"]["message"], body
        assert time.monotonic() < deadline, "steps still refused 30 s after Redis came back"
        time.sleep(0.2)


class Follower:
    """A follower as the page is one (static/js/socket.js): when the server drops it, it
    reconnects and rejoins with `since`, and keeps every event once, in seq order."""

    def __init__(self, base: str, session_id: str) -> None:
        self.base, self.session_id = base, session_id
        self.seqs: list[int] = []
        self.reconnects = 0
        self.client = MiniClient(base, timeout=10)
        assert self.client.call("join", {"session": session_id})["ok"]

    def _take(self, event: dict[str, Any]) -> None:
        if not self.seqs or event["seq"] > self.seqs[-1]:
            self.seqs.append(event["seq"])

    def wait_for(self, seq: int, seconds: float = 30.0) -> None:
        deadline = time.monotonic() + seconds
        while (not self.seqs or self.seqs[-1] < seq) and time.monotonic() < deadline:
            try:
                while self.client.events:
                    self._take(self.client.events.popleft()[1])
                if self.seqs and self.seqs[-1] >= seq:
                    break
                self.client.wait_events(1)
            except SocketIOError:  # dropped: catch up by seq, as the page does
                self.client.close()
                self.client = MiniClient(self.base, timeout=10)
                self.reconnects += 1
                since = self.seqs[-1] if self.seqs else 0
                caught = self.client.call("join", {"session": self.session_id,
                                                   "since": since})
                assert caught["ok"], caught
                for event in caught.get("events", []):
                    self._take(event)
        assert self.seqs and self.seqs[-1] >= seq, (self.seqs, seq)


@contextmanager
def two_servers(tmp_path: Path, queue: str) -> Iterator[tuple[Server, Server, list[MiniClient]]]:
    """Servers a and b on one database and one queue, and a list for the clients the test
    opens; on the way out the clients are closed and both servers stopped (or reaped, if
    the test killed one)."""
    database = tmp_path / "shared.sqlite3"
    a = Server(database, queue, tmp_path / "a.log")
    b = Server(database, queue, tmp_path / "b.log")
    clients: list[MiniClient] = []
    try:
        yield a, b, clients
    finally:
        for client in clients:
            client.close()
        for server in (a, b):
            try:
                server.stop()
            except (ProcessLookupError, OSError):
                pass


def test_two_servers_one_database_one_queue(tmp_path: Path, redis_url: str) -> None:
    with two_servers(tmp_path, redis_url) as (a, b, clients):
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
        assert all(s == acked for s in seen.values()), (acked, seen)
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
        with closing(sqlite3.connect(a.database)) as db:
            assert db.execute("SELECT MAX(seq), COUNT(*) FROM steps").fetchone() == (25, 25)

        restarted = Server(a.database, redis_url, tmp_path / "a2.log")
        try:
            late = MiniClient(restarted.base)
            clients.append(late)
            caught = late.call("join", {"session": session_id, "since": 20})
            assert [e["seq"] for e in caught["events"]] == [21, 22, 23, 24, 25]
        finally:
            restarted.stop()


def test_lost_redis_refuses_steps_and_recovers(tmp_path: Path,
                                               redis_server: RedisServer) -> None:
    with two_servers(tmp_path, redis_server.url) as (a, b, clients):
        created = post(a.base, "/api/sessions", {})
        session_id, token = created["id"], created["token"]
        steps = f"/api/sessions/{session_id}/steps"
        followers = [Follower(a.base, session_id), Follower(b.base, session_id)]
        clients += [f.client for f in followers]
        acked = [post(a.base, steps, {"write": {"pfn": 9 + i}}, token)["seq"]
                 for i in range(3)]
        for follower in followers:
            follower.wait_for(3)
        probe = MiniClient(b.base, timeout=10)
        clients.append(probe)

        redis_server.stop()
        for server in (a, b):  # refused, naming the queue and why; nothing stored
            status, body = post_status(server.base, steps, {"write": {"pfn": 20}}, token)
            assert status == 503, body
            assert "message queue" in body["error"]["message"], body
            assert redis_server.url in body["error"]["message"], body
        ack = probe.call("step", {"session": session_id, "token": token,
                                  "step": {"write": {"pfn": 20}}})
        assert ack["ok"] is False and "message queue" in ack["error"]["message"], ack
        with closing(sqlite3.connect(a.database)) as db:
            assert db.execute("SELECT COUNT(*) FROM steps").fetchone() == (3,)

        redis_server.start()
        acked.append(step_once_back(a.base, steps, {"write": {"pfn": 21}}, token))
        acked.append(step_once_back(b.base, steps, {"write": {"pfn": 22}}, token))
        acked.append(post(b.base, steps, {"write": {"pfn": 23}}, token)["seq"])
        assert acked == [1, 2, 3, 4, 5, 6]
        for follower in followers:  # every acknowledged event, once, in order
            follower.wait_for(6)
            assert follower.seqs == acked, (follower.seqs, follower.reconnects)
            assert follower.reconnects >= 1  # asked to catch up once the queue was back
        with closing(sqlite3.connect(a.database)) as db:
            assert db.execute("SELECT MAX(seq), COUNT(*) FROM steps").fetchone() == (6, 6)
