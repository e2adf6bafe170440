"""Socket.IO packets from untrusted clients.

python-socketio decodes a packet before any handler runs; a payload it cannot decode
(nested too deeply, a 5,000-digit integer, a binary event whose attachments never come)
would otherwise be dropped with no acknowledgement. Here such a packet still reaches
its event's handler, with a `Refused` payload in place of the data, and the handler acks
the reason in the documented error shape (webapp/events.py).
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from socketio import packet

from engine.errors import InvalidInput

from . import parsing
from .limits import Limits

INVALID_EVENT = "*invalid*"  # the name used when not even the event name can be read
_EVENT_NAME = re.compile(r'\s*\[\s*"([A-Za-z0-9_:.\-]{1,64})"')


@dataclass(frozen=True)
class Refused:
    """A payload refused before dispatch; the handler acks this error."""

    field: str | None
    message: str
    limit: str | None = None

    @classmethod
    def of(cls, exc: InvalidInput) -> Refused:
        return cls(exc.field or None, exc.message, getattr(exc, "limit", None))


class PreEncoded:
    """A value already encoded as JSON text: sent as is, wherever it sits in a packet, so
    an event goes through json.dumps once for the room and the sender's ack together."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def encode(value: Any) -> PreEncoded:
    return PreEncoded(json.dumps(value, separators=(",", ":")))


class EncodedCache:
    """The last few events broadcast, encoded: the ack of a `step` repeats the event the
    room got, and should not encode it a second time."""

    def __init__(self, size: int = 8) -> None:
        self._size = size
        self._items: OrderedDict[int, tuple[Any, PreEncoded]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, event: Any) -> PreEncoded:
        with self._lock:
            hit = self._items.get(id(event))
            if hit is not None and hit[0] is event:
                return hit[1]
        encoded = encode(event)
        with self._lock:
            # The event is kept alive with its encoding, so its id is not reused meanwhile.
            self._items[id(event)] = (event, encoded)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return encoded


class _Json:
    """The json module python-socketio uses, with the payload parser's bounds and
    PreEncoded values spliced in unchanged."""

    @staticmethod
    def loads(text: str | bytes) -> Any:
        return parsing.loads_json(text)

    @staticmethod
    def dumps(value: Any, **kwargs: Any) -> str:
        raws: list[str] = []
        token = secrets.token_hex(8)

        def splice(item: Any) -> str:
            if isinstance(item, PreEncoded):
                raws.append(item.text)
                return f"{token}{len(raws) - 1}"
            raise TypeError(f"{type(item).__name__} is not JSON")

        text = json.dumps(value, default=splice, **kwargs)
        for i, raw in enumerate(raws):
            text = text.replace(f'"{token}{i}"', raw, 1)
        return text


def safe_packet_class(limits: Limits) -> type[packet.Packet]:
    class SafePacket(packet.Packet):
        json = _Json

        @classmethod
        def data_is_binary(cls, data: Any) -> bool:
            # The server sends JSON only; python-socketio would otherwise walk every
            # delta of every event looking for bytes before encoding it.
            return False

        def decode(self, encoded_packet: Any) -> int:
            if isinstance(encoded_packet, bytes | bytearray):
                # A binary attachment with no binary event waiting for it (that event was
                # refused): an ack of nothing, which the server logs and ignores.
                return self._ignore()
            size = len(encoded_packet)
            if size > limits.max_message_bytes:
                self._decode_header(encoded_packet)
                if self.packet_type not in (packet.EVENT, packet.BINARY_EVENT):
                    raise ValueError("oversized packet")
                return self._refuse(encoded_packet[:200], Refused(
                    None, f"message of {size} bytes is too large (limit max_message_bytes = "
                    f"{limits.max_message_bytes})", "max_message_bytes"))
            try:
                attachments = super().decode(encoded_packet)
            except (ValueError, TypeError, UnicodeDecodeError) as exc:
                if self.packet_type in (packet.EVENT, packet.BINARY_EVENT):
                    refused = Refused("payload", f"not valid JSON: {exc}")
                    return self._refuse(encoded_packet, refused)
                raise
            if self.packet_type == packet.BINARY_EVENT:
                return self._refuse(encoded_packet, Refused(
                    "payload", "binary payloads are not accepted; send JSON"))
            if self.packet_type == packet.BINARY_ACK:
                return self._ignore()  # the server never asks clients for acks
            if self.packet_type == packet.EVENT:
                self.data = self._checked(self.data)
            return attachments

        def _checked(self, data: Any) -> list[Any]:
            if not (isinstance(data, list) and data and isinstance(data[0], str)
                    and len(data[0]) <= 64):
                return [INVALID_EVENT, Refused(None, "not a Socket.IO event (a name and "
                                                     "a payload)")]
            try:
                for arg in data[1:]:
                    parsing.check_tree(arg, "", limits)
            except InvalidInput as exc:
                return [data[0], Refused.of(exc)]
            return data

        def _ignore(self) -> int:
            self.packet_type = packet.ACK
            self.id = None
            self.data = []
            return 0

        def _decode_header(self, encoded: str) -> None:
            """Type, namespace and ack id only: everything before the JSON data."""
            start = encoded.find("[")
            try:
                super().decode(encoded[:start] if start > 0 else encoded[:1])
            except ValueError:
                pass

        def _refuse(self, encoded: str, refused: Refused) -> int:
            """Keep the packet's id (so the ack goes out) and its event name if readable."""
            self.packet_type = packet.EVENT
            self.attachment_count = 0
            self.attachments = []
            self.data = [_event_name(encoded), refused]
            return 0

    return SafePacket


def _event_name(encoded: str) -> str:
    """The event name of a raw EVENT packet `2[/ns,][id]["name", ...]`, if readable."""
    body = encoded[1:]
    dash = body.find("-")
    if 0 < dash <= 10 and body[:dash].isdigit():
        body = body[dash + 1:]
    if body.startswith("/"):
        comma = body.find(",")
        body = body[comma + 1:] if comma != -1 else ""
    i = 0
    while i < len(body) and i < 100 and body[i].isdigit():
        i += 1
    match = _EVENT_NAME.match(body[i:])
    return match.group(1) if match else INVALID_EVENT

