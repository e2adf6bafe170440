"""A minimal Socket.IO 5 / Engine.IO 4 client over one WebSocket, for measurements and
load tests against a server on this machine (the bench and tests/reliability). It speaks
just enough of the protocol: connect to the default namespace, emit with an ack, receive
events, answer pings. python-socketio's own client would need two more dependencies.
"""

from __future__ import annotations

import json
import time
from collections import deque
from typing import Any

import simple_websocket


class SocketIOError(RuntimeError):
    pass


class MiniClient:
    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        url = base_url.replace("http://", "ws://", 1).rstrip("/")
        self.timeout = timeout
        self.ws = simple_websocket.Client.connect(
            f"{url}/socket.io/?EIO=4&transport=websocket", max_message_size=64 << 20)
        opened = self._raw()
        if not opened.startswith("0"):
            raise SocketIOError(f"unexpected open packet {opened[:80]!r}")
        self.eio_sid: str = json.loads(opened[1:])["sid"]
        self.ws.send("40")
        while True:
            packet = self._raw()
            if packet.startswith("40"):
                break
            if packet.startswith("44"):
                raise SocketIOError(f"connection refused: {packet[:200]}")
        self._next_id = 0
        self.events: deque[tuple[float, Any]] = deque()  # (time received, payload)

    def _raw(self) -> str:
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SocketIOError("timed out")
            try:
                data = self.ws.receive(timeout=left)
            except simple_websocket.ConnectionClosed:
                raise SocketIOError("connection closed by the server") from None
            if data is None:
                continue
            if isinstance(data, bytes):
                data = data.decode()
            if data == "2":  # Engine.IO ping
                self.ws.send("3")
                continue
            return data

    def _dispatch(self, packet: str) -> tuple[int, Any] | None:
        """Store an event; return (ack id, payload) for an ack."""
        if packet.startswith("42"):
            name, *args = json.loads(packet[2:])
            if name == "event":
                self.events.append((time.perf_counter(), args[0] if args else None))
            return None
        if packet.startswith("43"):
            body = packet[2:]
            i = 0
            while body[i].isdigit():
                i += 1
            return int(body[:i]), json.loads(body[i:])[0]
        if packet.startswith("41"):
            raise SocketIOError("disconnected by the server")
        return None

    def call(self, event: str, payload: Any) -> Any:
        """Emit and wait for the ack; events that arrive meanwhile are kept."""
        self._next_id += 1
        ack_id = self._next_id
        self.ws.send(f"42{ack_id}" + json.dumps([event, payload], separators=(",", ":")))
        while True:
            got = self._dispatch(self._raw())
            if got is not None and got[0] == ack_id:
                return got[1]

    def wait_events(self, count: int) -> None:
        """Block until at least `count` events are held."""
        while len(self.events) < count:
            self._dispatch(self._raw())

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:  # already gone
            pass
