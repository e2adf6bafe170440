"""Browser tests: the real server in a subprocess on a free port, driven by the
distribution's Chromium through Playwright (no browser download needed)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO / "docs" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1600, "height": 1000}   # a common projector resolution


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is missing: apt-get install chromium")
    for item in items:
        if "browser" in item.keywords and not CHROMIUM.exists():
            item.add_marker(skip)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The server, and the presenter tokens of the sessions created through `api`: later
    calls on such a session carry its token (webapp/roles.py) unless `token=""`."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.tokens: dict[str, str] = {}
        self.log_path: Path | None = None  # the server's output (request lines, errors)

    def api(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        parts = path.split("?", 1)[0].split("/")
        if token is None and len(parts) > 4 and parts[1:3] == ["api", "sessions"]:
            token = self.tokens.get(parts[3])
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.loads(response.read())
        if method == "POST" and path == "/api/sessions":
            self.tokens[answer["id"]] = answer["token"]
        if method == "POST" and path == "/api/compare":   # the maker presents both
            for key in ("a", "b"):
                self.tokens[answer[key]] = answer["tokens"][key]
        return answer

    def page_url(self, session: str | None, query: str = "", follower: bool = False) -> str:
        """The page on `session`: its presenter link (token in the fragment) when this
        server object created it, unless `follower`."""
        url = self.base + "/" + (f"?session={session}" if session else "")
        if query:
            url += ("&" if session else "?") + query
        if session and not follower and session in self.tokens:
            url += f"#token={self.tokens[session]}"
        return url

    def new_session(self, scenario_file: str, xen: str | None = None) -> str:
        body: dict[str, Any] = {"scenario_file": scenario_file}
        if xen:
            body["xen"] = xen
        return self.api("POST", "/api/sessions", body)["id"]


def start_server(db: Path, env_extra: dict[str, str] | None = None,
                 serve_args: tuple[str, ...] = ()
                 ) -> tuple[subprocess.Popen[bytes], Server, Any]:
    """`pvframes serve` as users start it, on 127.0.0.1 (one origin for page and socket);
    `env_extra` e.g. sets a limit (PVFRAMES_LIMIT_...), `serve_args` adds options. Its
    output goes to server.log beside the database."""
    port = free_port()
    log = open(db.parent / "server.log", "w+")  # noqa: SIM115 - closed by stop_server
    # the checkout's packages, whether or not it is installed in this environment
    path = [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path), **(env_extra or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "webapp", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--db", str(db), *serve_args], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(base + "/api/scenarios", timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                log.seek(0)
                pytest.fail(f"server did not start:\n{log.read()}")
            time.sleep(0.1)
    running = Server(base)
    running.log_path = db.parent / "server.log"
    return proc, running, log


def stop_server(proc: subprocess.Popen[bytes], log: Any) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    proc, running, log = start_server(tmp_path_factory.mktemp("server") / "pvframes.sqlite3")
    yield running
    stop_server(proc, log)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def open_page(browser: Any, server: Server) -> Iterator[Callable[..., Any]]:
    """Open the UI (optionally on a session) in a fresh context; fails the test on any
    JavaScript error the page reports."""
    contexts: list[Any] = []
    errors: list[str] = []

    def open_(session: str | None = None, *, follower: bool = False, query: str = "",
              viewport: dict[str, int] | None = None) -> Any:
        """As the session's presenter (its creator here), or as a `follower`."""
        context = browser.new_context(viewport=viewport or VIEWPORT)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(server.page_url(session, query, follower))
        wait_ready(page)
        return page

    yield open_
    for context in contexts:
        context.close()
    assert not errors, errors


def wait_ready(page: Any, seq: int | None = None, session: str | None = None) -> None:
    """Wait for the app's own ready state (never a fixed sleep)."""
    page.wait_for_selector("body[data-state=ready]", timeout=15000)
    if session is not None:
        page.wait_for_function("s => document.body.dataset.session === s", arg=session)
    if seq is not None:
        page.wait_for_function("n => Number(document.body.dataset.seq) === n", arg=seq,
                               timeout=15000)


def screenshot(page: Any, name: str, animation: bool = False) -> Path:
    """docs/screenshots/NAME.png of the whole page; the animation is skipped first unless
    `animation` (a picture of it playing or paused)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    if not animation:
        page.evaluate("window.pvframes && document.querySelector('[data-testid=anim-skip]')"
                      ".click()")
    # from the top: a full-page capture of a scrolled page draws the sticky bar mid-page
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path), full_page=True)
    return path
