"""13.3: the server closes half-open connections instead of holding a thread for them,
keeps idle WebSockets, and sets TCP_NODELAY (over real sockets on 127.0.0.1): first the
default, `pvframes serve` on gunicorn's threaded worker (webapp/gunicorn_worker.py), then
`--server werkzeug`."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from webapp.serving import handler_with_timeout
from webapp.sioclient import MiniClient

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_serve(tmp: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    """`pvframes serve` with its default server, waited for until it answers."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "webapp", "serve", "--port", str(port), "--db",
         str(tmp / "serve.sqlite3"), *extra], env=env, stdin=subprocess.DEVNULL,
        stdout=open(tmp / "serve.log", "wb"), stderr=subprocess.STDOUT)  # noqa: SIM115
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(base + "/api/scenarios", timeout=2).close()
            return proc, base
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError((tmp / "serve.log").read_text()) from None
            time.sleep(0.2)


@pytest.fixture(scope="module")
def default_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`pvframes serve --keep-alive 1`: connections silent for 1 s are closed."""
    proc, base = start_serve(tmp_path_factory.mktemp("serve"), "--keep-alive", "1")
    yield base
    proc.terminate()
    assert proc.wait(timeout=60) == 0


def port_of(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


def closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(60)  # generous: the server closes it after about 1 s
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True
    finally:
        sock.close()


def test_default_server_is_gunicorn_with_the_header_timeout_worker() -> None:
    from webapp import cli

    options = cli.build_parser().parse_args(["serve"])
    assert options.server == "gunicorn" and options.workers == 1
    assert options.threads >= 200  # a class of tabs, each holding a thread


def test_default_serves_past_hundreds_of_half_open_connections(default_server: str) -> None:
    port = port_of(default_server)
    # Silent ones (never a byte) and stalled ones (half a request line): gthread alone
    # would give each stalled one a thread until the client goes away.
    silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(400)]
    stalled = []
    for _ in range(50):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(b"GET /api/scen")
        stalled.append(sock)
    # Past the header timeout the stalled ones are closed; none of them closes its end,
    # which must not hold the worker either (gthread lingers up to 2 s for each FIN).
    time.sleep(2)
    answer = urllib.request.urlopen(default_server + "/api/scenarios", timeout=60)
    assert answer.status == 200 and json.load(answer)
    assert all(closed_by_server(sock) for sock in stalled + silent)


def test_default_closes_idle_keep_alive(default_server: str) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port_of(default_server), timeout=30)
    connection.request("GET", "/api/scenarios")
    response = connection.getresponse()
    assert response.status == 200 and response.read()
    assert response.getheader("Connection", "").lower() != "close"  # kept alive ...
    assert connection.sock is not None
    assert closed_by_server(connection.sock)  # ... until idle past --keep-alive


def test_default_keeps_idle_websockets(default_server: str) -> None:
    request = urllib.request.Request(default_server + "/api/sessions", data=b"{}",
                                     headers={"Content-Type": "application/json"})
    created = json.load(urllib.request.urlopen(request, timeout=30))
    session_id, token = created["id"], created["token"]  # the presenter's (roles.py)
    client = MiniClient(default_server, timeout=30)
    assert client.call("join", {"session": session_id})["ok"]
    time.sleep(2.5)  # more than twice the header timeout, with nothing sent
    ack = client.call("step", {"session": session_id, "token": token,
                               "step": {"write": {"pfn": 9}}})
    assert ack["ok"], ack
    client.close()


def test_worker_connections_get_tcp_nodelay_and_the_timeout() -> None:
    from gunicorn.config import Config

    from webapp.gunicorn_worker import Conn

    cfg = Config()
    cfg.set("keepalive", 3)
    with closing(socket.create_server(("127.0.0.1", 0))) as listener:
        assert not listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        with closing(socket.create_connection(listener.getsockname())):
            accepted, client = listener.accept()
            conn = Conn(cfg, accepted, client, listener.getsockname())
            conn.init()
            assert conn.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            assert conn.sock.gettimeout() == 3
            conn.close()


def test_sigterm_stops_the_default_server_cleanly(tmp_path: Path) -> None:
    proc, base = start_serve(tmp_path)
    request = urllib.request.Request(base + "/api/sessions", data=b"{}",
                                     headers={"Content-Type": "application/json"})
    assert json.load(urllib.request.urlopen(request, timeout=30))["id"]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    assert "Traceback" not in (tmp_path / "serve.log").read_text()


@pytest.fixture
def served(serve: Any) -> Any:
    return serve(handler=handler_with_timeout(1))


def test_half_open_connections_are_closed(served: Any) -> None:
    _app, base = served
    port = int(base.rsplit(":", 1)[1])
    silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
    # Others are served meanwhile ...
    assert urllib.request.urlopen(base + "/api/scenarios", timeout=10).status == 200
    for sock in silent:  # ... and the silent ones are closed by the server
        sock.settimeout(30)
        assert sock.recv(1024) == b""
        sock.close()


def test_idle_websockets_stay_open_past_the_timeout(served: Any) -> None:
    app, base = served
    session_id = app.extensions["pvframes"].create()["id"]
    client = MiniClient(base, timeout=30)
    assert client.call("join", {"session": session_id})["ok"]
    time.sleep(2.5)  # more than twice the socket timeout, with nothing sent
    assert client.call("step", {"session": session_id, "step": {"write": {"pfn": 9}}})["ok"]
    client.close()


def test_tcp_nodelay_is_set(served: Any) -> None:
    from webapp.serving import NoDelayHandler

    seen: list[int] = []
    original = NoDelayHandler.setup

    def spy(self: Any) -> None:
        original(self)
        seen.append(self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    NoDelayHandler.setup = spy  # type: ignore[method-assign]
    try:
        assert urllib.request.urlopen(served[1] + "/api/scenarios", timeout=10).status == 200
    finally:
        NoDelayHandler.setup = original  # type: ignore[method-assign]
    assert seen and all(seen)


def test_ctrl_c_with_open_tabs_stops_without_killing_the_worker(tmp_path: Path) -> None:
    """The worker closes its open WebSockets on a stop signal; otherwise gthread waits for
    them until the arbiter kills it, before pending snapshots are written."""
    proc, base = start_serve(tmp_path)
    request = urllib.request.Request(base + "/api/sessions", data=b"{}",
                                     headers={"Content-Type": "application/json"})
    session_id = json.load(urllib.request.urlopen(request, timeout=30))["id"]
    tabs = [MiniClient(base, timeout=30) for _ in range(3)]
    assert all(tab.call("join", {"session": session_id})["ok"] for tab in tabs)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 0
    log = (tmp_path / "serve.log").read_text()
    assert "SIGKILL" not in log and "Traceback" not in log, log
    for tab in tabs:
        tab.close()

