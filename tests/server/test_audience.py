"""webapp/audience.py without a reachable Redis: the count and the latest state fall back to
this process's, and nothing raises (a lecture goes on while Redis restarts)."""

from __future__ import annotations

import logging
import socket
from contextlib import closing
from typing import Any

from flask import Flask

from webapp.audience import LocalAudience, RedisAudience, make_audience


def closed_port() -> int:
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]   # nothing listens once the socket is closed


def test_which_store_a_queue_gets() -> None:
    assert type(make_audience(None, 30)) is LocalAudience
    assert type(make_audience("amqp://127.0.0.1//", 30)) is LocalAudience
    assert type(make_audience("redis://127.0.0.1:6379/0", 30)) is RedisAudience


def test_redis_down_falls_back_to_this_process(app: Flask, connect: Any, caplog: Any) -> None:
    sid = app.test_client().post("/api/sessions", json={}).get_json()["id"]
    members = [connect() for _ in range(2)]
    for sio in members:
        assert sio.emit("join", {"session": sid}, callback=True)["ok"]
    store = RedisAudience(f"redis://127.0.0.1:{closed_port()}/0", ttl_s=3)
    with caplog.at_level(logging.WARNING, logger="webapp.audience"), closing(store):
        store.joined(sid, "someone")
        assert store.count(sid, "nobody") == 2     # this process's room
        state = {"seq": 1, "view": "guest", "selected": None, "narration": None}
        store.keep(sid, state)
        assert store.latest(sid) == state
        store.left(sid, "someone")
    warnings = [r for r in caplog.records if "Redis unavailable" in r.getMessage()]
    assert len(warnings) == 1   # once per outage, not once per call
