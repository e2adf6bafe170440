"""13.6: only JSON (or YAML) bodies change anything, cross-site origins and unknown Host
names are refused (REST and Socket.IO), the page runs under a CSP with no inline script,
errors carry no internals, no debugger in any mode, and the default bind is loopback."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from reliability_helpers import SCRIPTED, create, database_digest

from engine.session import Session
from webapp import cli, create_app
from webapp.extensions import socketio

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("content_type", [
    "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None,
])
def test_non_json_bodies_change_nothing(app: Any, client: Any, content_type: str | None
                                        ) -> None:
    session_id = create(client, SCRIPTED)
    before = database_digest(app)
    headers = {} if content_type is None else {"Content-Type": content_type}
    for path, body in [("/api/sessions", b"{}"),
                       (f"/api/sessions/{session_id}/steps", b'{"write": {"pfn": 9}}'),
                       (f"/api/sessions/{session_id}/run", b'{"count": "all"}')]:
        r = client.post(path, data=body, headers=headers)
        assert r.status_code == 415, (path, r.status_code)
        assert r.get_json()["error"]["field"] == "Content-Type"
    assert database_digest(app) == before


def test_yaml_types_are_accepted_for_scenarios(client: Any) -> None:
    r = client.post("/api/sessions", data="name: from-yaml\n", content_type="application/yaml")
    assert r.status_code == 201


@pytest.mark.parametrize(("origin", "status"), [
    (None, 201), ("http://localhost", 201), ("https://evil.example", 403), ("null", 403),
    ("http://localhost:6666", 403), ("http://localhost.evil.example", 403),
])
def test_origin_of_state_changing_calls(app: Any, client: Any, origin: str | None,
                                        status: int) -> None:
    headers = {} if origin is None else {"Origin": origin}
    before = database_digest(app)
    r = client.post("/api/sessions", json={}, headers=headers)
    assert r.status_code == status
    if status == 403:
        assert r.get_json()["error"]["field"] == "Origin"
        assert database_digest(app) == before


def test_configured_origin_is_allowed(make_app: Any) -> None:
    app = make_app(CORS_ALLOWED_ORIGINS=["https://course.example.edu"])
    r = app.test_client().post("/api/sessions", json={},
                               headers={"Origin": "https://course.example.edu"})
    assert r.status_code == 201


@pytest.mark.parametrize("path", ["/", "/api/scenarios", "/socket.io/?EIO=4&transport=polling"])
def test_unknown_host_names_are_refused(client: Any, path: str) -> None:
    r = client.get(path, headers={"Host": "rebound.evil.example"})
    assert r.status_code == 421 and r.get_json()["error"]["field"] == "Host"


@pytest.mark.parametrize("host", ["localhost:5000", "127.0.0.1:5000", "[::1]:5000",
                                  "10.1.2.3"])
def test_local_names_and_addresses_are_served(client: Any, host: str) -> None:
    assert client.get("/api/scenarios", headers={"Host": host}).status_code == 200


def test_configured_host_names_are_served(make_app: Any) -> None:
    client = make_app(ALLOWED_HOSTS=["pvframes.example.edu"]).test_client()
    assert client.get("/", headers={"Host": "pvframes.example.edu"}).status_code == 200
    assert client.get("/", headers={"Host": "other.example.edu"}).status_code == 421


def test_socketio_refuses_cross_origin_handshakes(client: Any) -> None:
    url = "/socket.io/?EIO=4&transport=polling"
    assert client.get(url, headers={"Origin": "https://evil.example"}).status_code == 400
    assert client.get(url, headers={"Origin": "http://localhost"}).status_code == 200


class _PageScan(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inline_scripts = 0
        self.inline_styles: list[str] = []
        self.handlers: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag == "script":
            self._in_script = "src" not in names
        if tag == "style":
            self.inline_styles.append("<style>")
        if "style" in names:
            self.inline_styles.append(f"{tag} style=")
        self.handlers += [n for n in names if n.startswith("on")]

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1


def test_page_has_a_csp_and_no_inline_script_or_style(client: Any) -> None:
    r = client.get("/")
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Frame-Options"] == "DENY"
    scan = _PageScan()
    scan.feed(r.get_data(as_text=True))
    assert scan.inline_scripts == 0 and scan.inline_styles == [] and scan.handlers == []
    # Every API answer carries the headers too.
    assert "Content-Security-Policy" in client.get("/api/scenarios").headers


def _explode(self: Session, *args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("secret internal detail /etc/pvframes")


def test_errors_carry_no_internals(app: Any, client: Any,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    session_id = create(client, SCRIPTED)
    sio = socketio.test_client(app, flask_test_client=app.test_client())
    monkeypatch.setattr(Session, "apply", _explode)
    r = client.post(f"/api/sessions/{session_id}/steps", json={"write": {"pfn": 9}})
    ack = sio.emit("step", {"session": session_id, "step": {"write": {"pfn": 9}}},
                   callback=True)
    monkeypatch.undo()
    assert r.status_code == 500 and ack["ok"] is False
    for text in (r.get_data(as_text=True), repr(ack)):
        assert "secret" not in text and "Traceback" not in text and "RuntimeError" not in text
    sio.disconnect()


@pytest.mark.parametrize("variable", ["FLASK_DEBUG", "PVFRAMES_DEBUG"])
def test_no_debugger_in_any_mode(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                 variable: str) -> None:
    monkeypatch.setenv(variable, "1")
    app = create_app(overrides={"DATABASE": str(tmp_path / "d.sqlite3"), "DEBUG": True})
    assert app.debug is False
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(socketio, "run", lambda app, **kw: calls.append(kw))
    assert cli.main(["serve", "--server", "werkzeug", "--db", str(tmp_path / "d.sqlite3")]) == 0
    assert calls[0]["debug"] is False and calls[0]["use_reloader"] is False
    assert calls[0]["host"] == "127.0.0.1"  # loopback unless told otherwise
    app.extensions["pvframes"].store.close()


def test_templates_hold_no_inline_script() -> None:
    for template in (REPO / "templates").glob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), template
        assert not re.search(r"\sstyle=|<style|\son[a-z]+=", text), template
