"""The presenter sees the whole class behind several servers: two `pvframes serve`
processes on one database and one redis-server, followers split across them
(webapp/audience.py). A follower that leaves stops counting at once; a server killed with
-9 (no disconnect runs) stops counting its followers after AUDIENCE_TTL_S. Loopback only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_redis_servers import REDIS, post, redis_url, two_servers, wait_until  # noqa: F401

from webapp.sioclient import MiniClient

pytestmark = pytest.mark.skipif(REDIS is None, reason="redis-server is not installed")

TTL_S = 3  # how long a killed server's followers still count (the default is 30)
STATE = {"seq": 0, "view": "source", "selected": {"host": "source", "mfn": 300,
                                                   "guestPfn": None}, "narration": None}


def audience(client: MiniClient, session_id: str) -> int:
    ack = client.call("audience", {"session": session_id})
    assert ack["ok"], ack
    return int(ack["audience"])


def test_the_presenter_counts_followers_on_every_server(tmp_path: Path, redis_url: str,  # noqa: F811
                                                        monkeypatch: Any) -> None:
    monkeypatch.setenv("PVFRAMES_AUDIENCE_TTL_S", str(TTL_S))
    with two_servers(tmp_path, redis_url) as (a, b, clients):
        created = post(a.base, "/api/sessions", {})
        sid, token = created["id"], created["token"]
        presenter = MiniClient(a.base)
        clients.append(presenter)
        assert presenter.call("join", {"session": sid})["ok"]
        on_a = [MiniClient(a.base) for _ in range(2)]
        on_b = [MiniClient(b.base) for _ in range(3)]
        clients += on_a + on_b
        for follower in on_a + on_b:
            assert follower.call("join", {"session": sid})["ok"]
            assert follower.call("follow", {"session": sid})["ok"]
        assert audience(presenter, sid) == 5          # not 2: server b's three count too
        ack = presenter.call("presenter", {"session": sid, "token": token, "state": STATE})
        assert ack == {"ok": True, "audience": 5}
        # a follower on the other server sees the whole room, itself excluded ...
        assert on_b[0].call("follow", {"session": sid})["audience"] == 5
        # ... and a late follower there starts where the class is
        late = MiniClient(b.base)
        clients.append(late)
        assert late.call("join", {"session": sid})["ok"]
        follow = late.call("follow", {"session": sid})
        assert follow["state"] == STATE and follow["audience"] == 6
        assert audience(presenter, sid) == 6
        late.close()                                   # a follower closes the tab: at once
        wait_until(lambda: audience(presenter, sid) == 5, "a closed tab's departure", 10)
        assert on_a[0].call("leave", {"session": sid})["ok"]   # leaves: at once
        assert audience(presenter, sid) == 4
        b.kill9()                                      # no disconnect runs on b
        assert audience(presenter, sid) == 4           # its followers still count ...
        wait_until(lambda: audience(presenter, sid) == 1, "the killed server's followers "
                   "ageing out", TTL_S * 4)            # ... until their entries expire

