"""Every limit the server enforces, in one place (defaults in docs/operations.md).

Each refusal names the limit and its value, so an operator can find the knob: the app
config key `LIMITS` takes a dict of overrides (`{"max_body_bytes": 4 << 20}`), and the
environment one variable per field (`PVFRAMES_LIMIT_MAX_BODY_BYTES=4194304`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.errors import InvalidInput

ENV_PREFIX = "PVFRAMES_LIMIT_"


@dataclass(frozen=True)
class Limits:
    # -- one request or Socket.IO message ------------------------------------------------
    max_body_bytes: int = 2 << 20  # REST body (a scenario file is a few KB)
    max_message_bytes: int = 2 << 20  # one Socket.IO message; larger ones are refused
    # Engine.IO closes a connection that sends more than this in one packet (its own rule),
    # so it sits above max_message_bytes: messages in between get a clean error ack.
    max_transport_bytes: int = 16 << 20
    max_depth: int = 32  # nesting of objects/lists (JSON or YAML)
    max_nodes: int = 200_000  # values in one payload, YAML aliases counted expanded
    max_string_chars: int = 4096  # any one string (names, notes, descriptions)
    max_int_bits: int = 64  # integers beyond +-2^64 mean nothing to a 64-bit PTE
    max_yaml_aliases: int = 100
    # -- what a session may hold -----------------------------------------------------------
    max_scenario_steps: int = 10_000  # steps in one scenario's script
    max_session_actions: int = 100_000  # actions recorded per session (its log)
    # 2^20 pages; the engine goes to 2^22 (engine.scenario.MAX_PAGES), which a server
    # admits with max_guest_pages 4194304 and max_host_frames 5242880 (docs/operations.md)
    max_guest_pages: int = 1 << 20
    max_host_frames: int = (1 << 20) + (1 << 18)  # room for a 2^20 guest plus dom0
    max_session_bytes: int = 768 << 20  # estimated memory of one live session
    max_sessions: int = 10_000  # stored sessions per server (database)
    # -- what one response or request may cost ---------------------------------------------
    max_events_per_response: int = 500  # `run` and `events` are paged beyond this
    max_response_event_bytes: int = 4 << 20  # ... or beyond this many bytes of events
    # An event larger than this (as JSON) is pushed and answered as a stub; the client
    # fetches its body from GET .../events/<seq> (docs/protocol.md, issue 11 item 3).
    max_pushed_event_bytes: int = 1 << 20
    # A snapshot whose plain JSON form would pass this (estimated from its arrays, never
    # built) is answered packed, `"packed": true` (docs/protocol.md, issues 11.3 and 13.2).
    max_snapshot_bytes: int = 4 << 20
    max_request_seconds: float = 10.0  # a `run` stops between steps after this much CPU time
    max_follower_backlog: int = 200  # messages queued for one client; past it the client
    # is dropped and reconnects to catch up by seq, instead of slowing everyone (13.7)
    # -- the server's memory -------------------------------------------------------------
    cache_bytes: int = 1536 << 20  # live sessions kept in memory, by estimated size

    @classmethod
    def from_config(cls, overrides: Mapping[str, Any] | None = None) -> Limits:
        """Defaults, then PVFRAMES_LIMIT_* from the environment, then `overrides`."""
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            text = os.environ.get(ENV_PREFIX + field.name.upper())
            if text is not None:
                values[field.name] = _convert(field, text)
        for name, value in (overrides or {}).items():
            if name not in {f.name for f in dataclasses.fields(cls)}:
                raise ValueError(f"LIMITS: unknown limit {name!r}")
            values[name] = value
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _convert(field: dataclasses.Field[Any], text: str) -> int | float:
    try:
        return float(text) if field.type in (float, "float") else int(text, 0)
    except ValueError:
        raise ValueError(f"{ENV_PREFIX}{field.name.upper()}: {text!r} is not a number") from None


class LimitExceeded(InvalidInput):
    """Input that would pass one of the limits. Like any InvalidInput it changes nothing;
    `status` is the HTTP status to answer with (413 for sizes, 429/503 for capacity) and
    the message names the limit and its value."""

    def __init__(self, field: str | None, limit: str, value: Any, message: str,
                 status: int = 413) -> None:
        super().__init__(field or "", f"{message} (limit {limit} = {value})")
        self.limit = limit
        self.value = value
        self.status = status
