"""13.3: the server closes half-open connections instead of holding a thread for them,
keeps idle WebSockets, and sets TCP_NODELAY (over real sockets on 127.0.0.1)."""

from __future__ import annotations

import socket
import time
import urllib.request
from typing import Any

import pytest

from webapp.serving import handler_with_timeout
from webapp.sioclient import MiniClient


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
