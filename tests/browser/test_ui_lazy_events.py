"""A large event reaches the page as a stub (issue 11 item 3): the page fetches its body over
REST, applies it, and the timeline and followers work as with any event. A server with a
small `max_pushed_event_bytes` keeps the test small (a 64-page guest's migration)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import VIEWPORT, Server, start_server, stop_server, wait_ready

pytestmark = pytest.mark.browser

LIMIT = 2000
BODY = re.compile(r"/api/sessions/[^/]+/events/(\d+)\?from=")

STATE = """() => {
  const s = window.pvframes.store;
  return { seq: s.seq, head: s.head, host: s.guest.host,
           p2m: Array.from(s.hosts[s.guest.host].p2m),
           deltas: s.log.map((e) => (e && e.deltas ? e.deltas.length : null)),
           migration: s.migration.state };
}"""


@pytest.fixture(scope="module")
def lazy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    db = tmp_path_factory.mktemp("lazy") / "pvframes.sqlite3"
    proc, running, log = start_server(db, {"PVFRAMES_LIMIT_MAX_PUSHED_EVENT_BYTES": str(LIMIT)})
    yield running
    stop_server(proc, log)


def open_on(browser: Any, server: Server, session: str, follower: bool = False
            ) -> tuple[Any, Any, list[int], list[str]]:
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    fetched: list[int] = []
    errors: list[str] = []
    page.on("request", lambda r: (m := BODY.search(r.url)) and fetched.append(int(m.group(1))))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.page_url(session, follower=follower))
    wait_ready(page)
    page.wait_for_selector("body[data-timeline=ready]")
    return context, page, fetched, errors


def test_a_large_event_is_fetched_and_applied(browser: Any, lazy_server: Server) -> None:
    server = lazy_server
    sid = server.api("POST", "/api/sessions", {})["id"]
    server.api("POST", f"/api/sessions/{sid}/steps", {"write": {"pfn": 9}})
    opened = [open_on(browser, server, sid), open_on(browser, server, sid, follower=True)]
    try:
        answer = server.api("POST", f"/api/sessions/{sid}/steps", {"migrate": "all"})
        stub, seq = answer["event"], answer["seq"]
        assert "lazy" in stub and "deltas" not in stub   # the server sent a stub
        whole = server.api("GET", f"/api/sessions/{sid}/events/{seq}")
        final = server.api("GET", f"/api/sessions/{sid}")
        for _, page, fetched, errors in opened:
            wait_ready(page, seq)
            got = page.evaluate(STATE)
            assert seq in fetched                          # the page asked for the body
            assert got["deltas"][seq - 1] == stub["lazy"]["deltas"] == len(whole["deltas"])
            assert got["host"] == final["guest"]["host"] == "destination"
            assert got["p2m"] == final["guest"]["p2m"]
            assert got["migration"] == "ok"
            assert not errors, errors

        # The timeline seeks across it, both ways.
        _, page, _, _ = opened[0]
        before = server.api("GET", f"/api/sessions/{sid}?seq={seq - 1}")
        page.evaluate("n => window.pvframes.seek(n)", seq - 1)
        got = page.evaluate(STATE)
        assert got["seq"] == seq - 1 and got["host"] == before["guest"]["host"] == "source"
        assert got["p2m"] == before["guest"]["p2m"]
        page.evaluate("n => window.pvframes.seek(n)", seq)
        assert page.evaluate(STATE)["p2m"] == final["guest"]["p2m"]
    finally:
        for context, *_ in opened:
            context.close()

    # A page opened later loads the history (with the stub) and fetches the body.
    context, page, fetched, errors = open_on(browser, server, sid)
    try:
        got = page.evaluate(STATE)
        assert seq in fetched
        assert got["deltas"][seq - 1] == stub["lazy"]["deltas"]
        page.evaluate("() => window.pvframes.seek(0)")
        page.evaluate("n => window.pvframes.seek(n)", seq)
        assert page.evaluate(STATE)["p2m"] == final["guest"]["p2m"]
        assert not errors, errors
    finally:
        context.close()
