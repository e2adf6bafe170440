"""A minimal Socket.IO 5 / Engine.IO 4 client over one WebSocket, for measurements and
load tests against a server on this machine (the bench and tests/reliability). It speaks
just enough of the protocol: connect to the default namespace, emit with an ack, receive
events, answer pings. python-socketio's own client would need two more dependencies.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections import deque
from typing import Any

import simple_websocket


class SocketIOError(RuntimeError):
    pass


class TimedOut(SocketIOError):
    """Nothing came within the client's timeout; the connection may still be open."""


class _DaemonThread(threading.Thread):
    """simple-websocket's reader thread, made a daemon: a client left open must not keep
    the process alive."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["daemon"] = True
        super().__init__(*args, **kwargs)


class _WebSocket(simple_websocket.Client):
    """simple-websocket's client (1.1.0), keeping the frames that arrive with the 101.

    Its handshake takes the first event out of wsproto (the AcceptConnection) and leaves
    any frame read in the same recv() in wsproto's buffer, where it stays until more bytes
    arrive. Engine.IO's open packet follows the 101 at once, so when the client is slow to
    read (hundreds of connections in one process) both come in one segment, and the open
    packet waited for the server's next ping, 25 s later: the "stalled connects" of the load
    script, with Werkzeug and gunicorn alike."""

    def handshake(self) -> None:
        super().handshake()
        # What wsproto already holds: messages go to input_buffer as _thread would put them.
        self.connected = self._handle_events()


class MiniClient:
    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        url = base_url.replace("http://", "ws://", 1).rstrip("/")
        self.timeout = timeout
        self.ws = _WebSocket.connect(
            f"{url}/socket.io/?EIO=4&transport=websocket", max_message_size=64 << 20,
            thread_class=_DaemonThread)
        self._inbox: queue.Queue[str | None] = queue.Queue()
        # A reader thread answers Engine.IO pings at once, so a client that is busy
        # elsewhere (or idle) is not timed out by the server.
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        opened = self._raw()
        if not opened.startswith("0"):
            raise SocketIOError(f"unexpected open packet {opened[:80]!r}")
        self.eio_sid: str = json.loads(opened[1:])["sid"]
        self._send("40")
        while True:
            packet = self._raw()
            if packet.startswith("40"):
                break
            if packet.startswith("44"):
                raise SocketIOError(f"connection refused: {packet[:200]}")
        self._next_id = 0
        self.events: deque[tuple[float, Any]] = deque()  # (time received, payload)

    def _read(self) -> None:
        try:
            while True:
                data = self.ws.receive()
                if data is None:
                    continue
                if isinstance(data, bytes):
                    data = data.decode()
                if data == "2":  # Engine.IO ping
                    self.ws.send("3")
                    continue
                self._inbox.put(data)
        except Exception:  # closed: tell the waiting side
            self._inbox.put(None)

    def _send(self, text: str) -> None:
        try:
            self.ws.send(text)
        except simple_websocket.ConnectionClosed:
            raise SocketIOError("connection closed by the server") from None

    def _raw(self) -> str:
        try:
            data = self._inbox.get(timeout=self.timeout)
        except queue.Empty:
            raise TimedOut("timed out") from None
        if data is None:
            self._inbox.put(None)  # stays closed for later calls too
            raise SocketIOError("connection closed by the server")
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
        self._send(f"42{ack_id}" + json.dumps([event, payload], separators=(",", ":")))
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
