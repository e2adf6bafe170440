"""The test and load client (webapp/sioclient.py) keeps frames that arrive in the same read
as the server's 101: Engine.IO's open packet follows the 101 at once, and under load both
come in one segment. simple-websocket's client left such a frame unread until the next
bytes came (the server's ping, 25 s later): the load script's "stalled connects"."""

from __future__ import annotations

import base64
import hashlib
import socket
import threading
from collections.abc import Iterator
from contextlib import closing

import pytest

from webapp.sioclient import MiniClient

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3


def text_frame(text: str) -> bytes:
    data = text.encode()
    assert len(data) < 126
    return bytes([0x81, len(data)]) + data  # FIN + text, unmasked (server to client)


@pytest.fixture
def one_segment_server() -> Iterator[int]:
    """Answers one WebSocket upgrade with the 101, Engine.IO's open packet and the
    namespace's connect packet in a single send, then stays silent."""
    listener = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        with closing(conn):
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(4096)
            key = next(line.split(b":", 1)[1].strip() for line in request.split(b"\r\n")
                       if line.lower().startswith(b"sec-websocket-key:"))
            accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept
                         + b"\r\n\r\n" + text_frame('0{"sid":"e1","pingInterval":25000}')
                         + text_frame('40{"sid":"s1"}'))
            done.wait(30)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    done.set()
    thread.join(timeout=5)
    listener.close()


def test_frames_in_the_handshakes_segment_are_read(one_segment_server: int) -> None:
    client = MiniClient(f"http://127.0.0.1:{one_segment_server}", timeout=10)
    assert client.eio_sid == "e1"  # the open packet was read, and the connect after it
    client.close()
