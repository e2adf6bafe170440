"""A class: one presenter, followers on their own pages (webapp/roles.py, static/js/follow.js).
Screenshots for docs/classroom.md."""

from __future__ import annotations

import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    REPO,
    SCREENSHOTS,
    VIEWPORT,
    Server,
    screenshot,
    start_server,
    stop_server,
    wait_ready,
)
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

CASE1 = "case1-devalidated-l1"


def selected(page: Any) -> Any:
    return page.evaluate("(() => { const s = window.pvframes.ui.selected;"
                         " return s && [s.host, s.mfn]; })()")


def wait_selected(page: Any, want: list[Any]) -> None:
    page.wait_for_function("w => { const s = window.pvframes.ui.selected;"
                           " return s && s.host === w[0] && s.mfn === w[1]; }", arg=want)


def click_guest_pfn(page: Any, pfn: int) -> None:
    centre = page.evaluate("p => window.pvframes.cellCentre('guest', p)", pfn)
    page.mouse.click(centre["x"], centre["y"])


def test_followers_follow_and_cannot_change(open_page: Any, server: Server) -> None:
    session = server.new_session(CASE1)
    presenter = open_page(session)
    followers = [open_page(session, follower=True) for _ in range(2)]
    expect(presenter.get_by_test_id("role")).to_have_text("Presenter")
    for f in followers:
        expect(f.get_by_test_id("role")).to_have_text("Following (read-only)")
    expect(presenter.get_by_test_id("audience")).to_have_text("2 following", timeout=10000)
    for _ in range(3):
        presenter.keyboard.press("n")
    wait_ready(presenter, seq=3)
    click_guest_pfn(presenter, 3)
    want = selected(presenter)
    assert want is not None
    presenter.keyboard.press("2")   # the source host's view
    for f in followers:
        wait_ready(f, seq=3)
        wait_selected(f, want)
        f.wait_for_function("() => window.pvframes.ui.view === 'source'")
    # a follower's step is refused by the server and changes nothing anywhere
    before = server.api("GET", f"/api/sessions/{session}")
    followers[0].keyboard.press("n")
    expect(followers[0].get_by_test_id("script-progress")).to_contain_text("presenter",
                                                                           timeout=10000)
    assert server.api("GET", f"/api/sessions/{session}") == before
    for page in (presenter, *followers):
        assert page.evaluate("document.body.dataset.seq") == "3"
    screenshot(presenter, "class-presenter")
    screenshot(followers[0], "class-follower")
    followers[1].set_viewport_size({"width": 1024, "height": 768})
    screenshot(followers[1], "class-follower-1024")
    # the presenter goes back on the timeline: the class sees that moment
    presenter.wait_for_function("() => document.body.dataset.timeline === 'ready'")
    presenter.evaluate("window.pvframes.seek(1)")
    for f in followers:
        f.wait_for_function("() => window.pvframes.store.seq === 1")
        assert f.evaluate("window.pvframes.store.head") == 3
    followers[1].context.close()   # a student closes the laptop: the count follows
    expect(presenter.get_by_test_id("audience")).to_have_text("1 following", timeout=10000)


def test_a_follower_back_from_a_wifi_blip_is_where_the_class_is(open_page: Any,
                                                                 server: Server) -> None:
    session = server.new_session(CASE1)
    presenter = open_page(session)
    follower = open_page(session, follower=True)
    expect(presenter.get_by_test_id("audience")).to_have_text("1 following", timeout=10000)
    presenter.keyboard.press("n")
    wait_ready(follower, seq=1)   # so it rejoins with `since`, not with a fresh snapshot
    follower.evaluate("window.pvframes.link.disconnect()")
    expect(presenter.get_by_test_id("audience")).to_have_text("0 following", timeout=10000)
    for _ in range(2):
        presenter.keyboard.press("n")
    wait_ready(presenter, seq=3)
    presenter.wait_for_function("() => document.body.dataset.timeline === 'ready'")
    presenter.evaluate("window.pvframes.seek(2)")
    click_guest_pfn(presenter, 3)
    want = selected(presenter)
    presenter.keyboard.press("2")
    assert follower.evaluate("window.pvframes.store.head") == 1   # missed the rest
    # the server holds the presenter's last state once a page opened now shows it (so the
    # presenter sends nothing more while the first follower reconnects)
    witness = open_page(session, follower=True)
    witness.wait_for_function("() => window.pvframes.ui.view === 'source'")
    wait_selected(witness, want)
    follower.evaluate("window.pvframes.link.connect()")
    follower.wait_for_function("() => window.pvframes.store.head === 3")
    follower.wait_for_function("() => window.pvframes.store.seq === 2")
    wait_selected(follower, want)
    follower.wait_for_function("() => window.pvframes.ui.view === 'source'")
    expect(presenter.get_by_test_id("audience")).to_have_text("2 following", timeout=10000)


def test_a_presenter_who_reloads_is_still_the_presenter(open_page: Any,
                                                        server: Server) -> None:
    session = server.new_session(CASE1)
    presenter = open_page(session)
    follower = open_page(session, follower=True)
    presenter.keyboard.press("n")
    wait_ready(presenter, seq=1)
    presenter.reload()   # the token is in this browser's storage, not the address
    wait_ready(presenter, seq=1)
    assert "token" not in presenter.url
    expect(presenter.get_by_test_id("role")).to_have_text("Presenter")
    presenter.keyboard.press("n")
    wait_ready(presenter, seq=2)
    wait_ready(follower, seq=2)
    assert server.api("GET", f"/api/sessions/{session}")["seq"] == 2


def test_a_late_follower_starts_where_the_class_is(open_page: Any, server: Server) -> None:
    session = server.new_session(CASE1)
    presenter = open_page(session)
    presenter.keyboard.press("n")
    wait_ready(presenter, seq=1)
    click_guest_pfn(presenter, 3)
    want = selected(presenter)
    presenter.wait_for_timeout(0)
    late = open_page(session, follower=True)
    wait_ready(late, seq=1)
    wait_selected(late, want)


def test_detach_explore_and_return(open_page: Any, server: Server) -> None:
    session = server.new_session(CASE1)
    presenter = open_page(session)
    for _ in range(2):
        presenter.keyboard.press("n")
    wait_ready(presenter, seq=2)
    follower = open_page(session, follower=True)
    wait_ready(follower, seq=2)
    follower.get_by_test_id("detach").click()
    follower.wait_for_function("s => document.body.dataset.session !== s", arg=session)
    wait_ready(follower, seq=2)
    private = follower.evaluate("document.body.dataset.session")
    expect(follower.get_by_test_id("role")).to_have_text("Exploring a private copy")
    assert follower.evaluate("window.pvframes.hostState()")["source"] == \
        presenter.evaluate("window.pvframes.hostState()")["source"]
    follower.keyboard.press("n")   # its own copy, at the class's point of the script
    wait_ready(follower, seq=3)
    screenshot(follower, "class-detached")
    assert server.api("GET", f"/api/sessions/{session}")["seq"] == 2  # the class is untouched
    presenter.keyboard.press("n")
    presenter.keyboard.press("n")
    wait_ready(presenter, seq=4)
    follower.get_by_test_id("back-to-class").click()
    wait_ready(follower, seq=4, session=session)
    expect(follower.get_by_test_id("role")).to_have_text("Following (read-only)")
    assert server.api("GET", f"/api/sessions/{private}")["seq"] == 3


def test_a_moment_link_is_read_only(open_page: Any, server: Server) -> None:
    session = server.new_session(CASE1)
    server.api("POST", f"/api/sessions/{session}/run", {"count": 4})
    page = open_page(session, query="seq=2&view=source&frame=source:5")
    wait_ready(page, seq=2)   # the moment shown; the session itself is at 4
    assert page.evaluate("window.pvframes.store.head") == 4
    expect(page.get_by_test_id("role")).to_contain_text("Read-only")
    page.wait_for_function("() => window.pvframes.ui.view === 'source'")
    wait_selected(page, ["source", 5])
    # even the creator's browser does not act as presenter through a moment link
    field = page.evaluate("s => window.pvframes.link.call('step', {session: s, step: {note: 'x'}})"
                          ".then(() => 'applied', (e) => e.field)", session)
    assert field == "token"
    assert server.api("GET", f"/api/sessions/{session}")["seq"] == 4
    screenshot(page, "class-moment")


def test_an_export_at_a_moment_reopens_there(open_page: Any, server: Server,
                                             tmp_path: Path) -> None:
    session = server.new_session(CASE1)
    server.api("POST", f"/api/sessions/{session}/run", {"count": 5})
    page = open_page(session)
    wait_ready(page, seq=5)
    page.wait_for_function("() => document.body.dataset.timeline === 'ready'")
    page.evaluate("window.pvframes.seek(3)")
    wait_ready(page, seq=3)
    page.keyboard.press("2")   # the source host
    page.evaluate("window.pvframes.ui.select('source', 300)")
    want = page.evaluate("window.pvframes.hostState()")
    with page.expect_download() as download:
        page.get_by_test_id("export").click()
    path = tmp_path / "moment.yaml"
    download.value.save_as(path)
    text = path.read_text()
    assert server.tokens[session] not in text
    assert "position:" in text
    run = subprocess.run([sys.executable, "-m", "webapp", "run", str(path)], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    # Imported in another browser: that browser presents a new session, at that moment.
    other = open_page()
    first = other.evaluate("document.body.dataset.session")
    other.get_by_test_id("import-file").set_input_files(str(path))
    other.wait_for_function("s => document.body.dataset.session !== s", arg=first)
    wait_ready(other, seq=3)
    other.wait_for_function("() => window.pvframes.ui.view === 'source'")
    wait_selected(other, ["source", 300])
    expect(other.get_by_test_id("role")).to_have_text("Presenter")
    got = other.evaluate("window.pvframes.hostState()")
    assert got == want
    assert other.evaluate("window.pvframes.store.script.length") == 5   # the rest to step
    assert other.evaluate("window.pvframes.store.head") == 3


def test_an_imported_position_under_the_other_variant(open_page: Any, server: Server,
                                                     tmp_path: Path) -> None:
    session = server.new_session(CASE1, "unpatched")
    server.api("POST", f"/api/sessions/{session}/run", {"count": 4})
    with urllib.request.urlopen(f"{server.base}/api/sessions/{session}/export?seq=3"
                                "&view=both&frame=source:259") as r:
        text = r.read().decode()
    assert "variant: unpatched" in text
    path = tmp_path / "patched-file.yaml"
    path.write_text(text.replace("xen: unpatched", "xen: patched", 1))   # the file's default
    page = open_page()
    first = page.evaluate("document.body.dataset.session")
    page.get_by_test_id("import-file").set_input_files(str(path))
    page.wait_for_function("s => document.body.dataset.session !== s", arg=first)
    page.wait_for_function("() => window.pvframes.store.meta.xen === 'unpatched'")
    wait_ready(page, seq=3)
    page.wait_for_function("() => window.pvframes.ui.view === 'both'")
    wait_selected(page, ["source", 259])
    expect(page.get_by_test_id("role")).to_have_text("Presenter")
    got = page.evaluate("window.pvframes.hostState()")
    want = server.api("GET", f"/api/sessions/{session}?seq=3")
    assert got["p2m"] == want["guest"]["p2m"] and got["seq"] == 3


def test_a_moment_link_to_the_other_variant(open_page: Any, server: Server) -> None:
    session = server.new_session(CASE1, "unpatched")
    server.api("POST", f"/api/sessions/{session}/run", {"count": 4})
    page = open_page(session, query="seq=2&view=guest&variant=patched")
    page.wait_for_function("s => document.body.dataset.session !== s", arg=session)
    wait_ready(page, seq=2)
    assert page.evaluate("window.pvframes.store.meta.xen") == "patched"
    expect(page.get_by_test_id("role")).to_contain_text("Read-only")
    assert server.api("GET", f"/api/sessions/{session}")["xen"] == "unpatched"
    assert server.api("GET", f"/api/sessions/{session}")["seq"] == 4
    # the page's own moment link names the variant it shows
    assert "variant=patched" in page.evaluate("window.pvframes.follow.momentUrl()")


@contextmanager
def logging_server(tmp_path: Path) -> Iterator[tuple[Server, Path]]:
    """`pvframes serve --server werkzeug`, which logs every request line (gunicorn, the
    default, keeps no access log)."""
    proc, server, log = start_server(tmp_path / "db.sqlite3", serve_args=("--server", "werkzeug"))
    try:
        yield server, server.log_path
    finally:
        stop_server(proc, log)


def test_the_token_never_reaches_a_follower_the_export_or_the_log(
        browser: Any, tmp_path: Path) -> None:
    with logging_server(tmp_path) as (server, log):
        session = server.new_session(CASE1)
        token = server.tokens[session]
        context = browser.new_context(viewport=VIEWPORT)
        presenter, follower = context.new_page(), browser.new_context().new_page()
        presenter.goto(server.page_url(session))
        wait_ready(presenter)
        assert "token" not in presenter.url   # taken out of the address bar at once
        presenter.keyboard.press("n")
        wait_ready(presenter, seq=1)
        follower.goto(server.page_url(session, follower=True))
        wait_ready(follower, seq=1)
        seen = follower.evaluate("() => [document.documentElement.outerHTML, location.href,"
                                 " JSON.stringify(localStorage), document.cookie].join('\\n')")
        assert token not in seen
        for query in ("", "?seq=1&view=source&frame=source:300"):   # with a position too
            with urllib.request.urlopen(
                    f"{server.base}/api/sessions/{session}/export{query}") as r:
                assert token not in r.read().decode()
        # a compare pair made in the presenter's page: its tokens stay in that browser
        presenter.get_by_test_id("compare-variants").click()
        presenter.wait_for_url("**compare=**")
        wait_ready(presenter)
        pair = presenter.evaluate("new URL(location.href).searchParams.get('compare')")
        kept = presenter.evaluate("JSON.parse(localStorage.getItem('pvframes.sessions'))")
        pair_tokens = [kept[sid]["token"] for sid in pair.split(",")]
        expect(presenter.get_by_test_id("role")).to_have_text("Presenter")
        follower.context.close()
        context.close()
    written = log.read_text()
    assert f"/?session={session}" in written   # the request lines are there ...
    assert token not in written                # ... the token is not
    assert "/api/compare" in written and not any(t in written for t in pair_tokens)


def test_my_sessions_lists_this_browsers_sessions(open_page: Any, server: Server) -> None:
    page = open_page()   # creates a session: this browser presents it
    first = page.evaluate("document.body.dataset.session")
    page.get_by_test_id("sandbox-new").click()   # a second one
    page.wait_for_function("s => document.body.dataset.session !== s", arg=first)
    wait_ready(page)
    second = page.evaluate("document.body.dataset.session")
    page.get_by_test_id("sessions-open").click()
    rows = page.get_by_test_id("session-row")
    expect(rows).to_have_count(2)
    assert rows.first.get_attribute("data-session") == second   # most recent first
    screenshot(page, "class-sessions")
    page.locator(f"[data-testid=session-row][data-session='{first}'] "
                 "[data-testid=session-forget]").click()
    expect(rows).to_have_count(1)
    assert first not in page.evaluate("localStorage.getItem('pvframes.sessions')")


@contextmanager
def course_page(html: str) -> Iterator[str]:
    """A page of another origin (its own port on loopback) holding `html`."""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the base class's name
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/lecture.html"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_an_embedded_follower_in_a_480x360_iframe(browser: Any, open_page: Any,
                                                  server: Server) -> None:
    session = server.new_session(CASE1)
    presenter = open_page(session)
    context = browser.new_context(viewport={"width": 800, "height": 600})
    errors: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    src = server.page_url(session, "embed=1", follower=True)
    html = f'<h1>Lecture 3</h1><iframe src="{src}" width="480" height="360"></iframe>'
    with course_page(html) as course:
        page.goto(course)
        embedded(page, presenter, server, session)
    assert context.cookies() == []   # nothing stored in cookies
    context.close()
    assert not errors, errors


def embedded(page: Any, presenter: Any, server: Server, session: str) -> None:
    frame = page.frame_locator("iframe")
    expect(frame.get_by_test_id("embed-role")).to_have_text("following", timeout=15000)
    expect(frame.get_by_test_id("present-next")).to_be_visible()
    expect(frame.locator(".topbar")).to_be_hidden()
    inner = page.frames[1]
    grid = inner.evaluate("(() => { const r = document.querySelector('[data-testid=grids]')"
                          ".getBoundingClientRect(); return [r.left, r.right, r.width]; })()")
    assert grid[0] >= 0 and grid[1] <= 480 and grid[2] > 300   # the grid fits the frame
    presenter.keyboard.press("n")
    wait_ready(presenter, seq=1)
    inner.wait_for_function("() => document.body.dataset.seq === '1'")
    frame.get_by_test_id("present-next").click()   # the follower's "next" is refused
    expect(frame.get_by_test_id("script-progress")).to_contain_text("presenter", timeout=10000)
    assert server.api("GET", f"/api/sessions/{session}")["seq"] == 1
    page.screenshot(path=str(SCREENSHOTS / "class-embed.png"))


def test_slides_as_svg_and_png(open_page: Any, server: Server) -> None:
    session = server.new_session(CASE1)
    server.api("POST", f"/api/sessions/{session}/run", {"count": 3})
    page = open_page(session)
    wait_ready(page, seq=3)
    with page.expect_download() as svg_download:
        page.get_by_test_id("slide-svg").click()
    svg = Path(svg_download.value.path()).read_text()
    assert svg.startswith("<svg") and "seq 3" in svg and "L1 page table" in svg
    with page.expect_download() as png_download:
        page.get_by_test_id("slide-png").click()
    png = Path(png_download.value.path()).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000
    (SCREENSHOTS / "class-slide.png").write_bytes(png)
