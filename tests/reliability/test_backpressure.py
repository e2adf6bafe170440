"""13.7: a follower that falls behind is dropped instead of queued for without bound; it
reconnects, joins with `since` and catches up with nothing lost, and the writer and the
other followers never wait for it. Over a real WebSocket on 127.0.0.1."""

from __future__ import annotations

from typing import Any

import pytest

from webapp.extensions import socketio
from webapp.sioclient import MiniClient, SocketIOError


@pytest.fixture
def served(serve: Any) -> Any:
    return serve(LIMITS={"max_follower_backlog": 50})


def test_a_lagging_follower_is_dropped_and_catches_up(served: Any) -> None:
    app, base = served
    session_id = app.extensions["pvframes"].create()["id"]
    steady, laggard = MiniClient(base, timeout=10), MiniClient(base, timeout=10)
    for client in (steady, laggard):
        assert client.call("join", {"session": session_id})["ok"]
    # Make the laggard's outgoing queue look far behind, as a stalled reader's would.
    (lagging_sid,) = [sid for sid, sock in socketio.server.eio.sockets.items()
                      if sid != _eio_sid_of(steady)]
    socketio.server.eio.sockets[lagging_sid].queue.qsize = lambda: 10_000
    presenter = app.test_client()
    for _ in range(3):
        r = presenter.post(f"/api/sessions/{session_id}/steps", json={"write": {"pfn": 9}})
        assert r.status_code == 200
    steady.wait_events(3)
    assert [e["seq"] for _, e in steady.events] == [1, 2, 3]
    with pytest.raises(SocketIOError, match="disconnected|closed"):  # dropped, not slow
        laggard.wait_events(10)
    again = MiniClient(base, timeout=10)
    caught = again.call("join", {"session": session_id, "since": 0})
    assert caught["snapshot"]["seq"] == 3  # nothing lost: it starts from the current state
    for client in (steady, laggard, again):
        client.close()


def _eio_sid_of(client: MiniClient) -> str:
    """The Engine.IO sid of a client: the one whose socket object is newest for it."""
    return client.eio_sid
