"""Who may talk to the server: Host names (against DNS rebinding), Origins of state-changing
calls (against cross-site forms), and the headers every page response carries.

The Host check is WSGI middleware, outside Flask, so that it covers Socket.IO's
`/socket.io/` endpoint too (Flask-SocketIO answers that before Flask sees the request).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, request

LOCAL_NAMES = ("localhost",)
STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")

# No inline script or style anywhere; the page's own files only. `connect-src 'self'`
# covers the same-origin WebSocket in current browsers.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def split_host(host: str) -> str:
    """The name part of a Host header value: `example.org:5000` -> `example.org`,
    `[::1]:5000` -> `::1`."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def host_allowed(host: str, allowed: Iterable[str] | None) -> bool:
    """IP literals and localhost are always allowed: DNS rebinding needs a name that
    resolves to this machine, and those are not names. Other names only if configured
    (`"*"` allows any)."""
    name = split_host(host)
    if not name:
        return False
    names = [a.lower() for a in (allowed or ())]
    if "*" in names or name in names or name in LOCAL_NAMES:
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostCheck:
    """Refuses any request (HTTP or Socket.IO) whose Host header names an unknown host."""

    def __init__(self, app: WSGIApp, allowed: Iterable[str] | None) -> None:
        self.app = app
        self.allowed = list(allowed or ())

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
        if host_allowed(host, self.allowed):
            return self.app(environ, start_response)
        body = json.dumps({"error": {"field": "Host", "message": (
            "this server does not answer to that host name; an operator can add it with "
            "--allowed-host")}}).encode()
        start_response("421 Misdirected Request", [
            ("Content-Type", "application/json"), ("Content-Length", str(len(body))),
            *HEADERS.items()])
        return [body]


def origin_allowed(origin: str | None, host: str, extra: Iterable[str] | None) -> bool:
    """No Origin header: not a browser's cross-site request (browsers send one on every
    cross-origin POST). Otherwise its host[:port] must be the one this request was sent to,
    or one of the configured origins."""
    if origin is None:
        return True
    if origin in set(extra or ()):
        return True
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()


def install(app: Flask) -> None:
    allowed_hosts = app.config.get("ALLOWED_HOSTS")
    extra_origins = app.config.get("CORS_ALLOWED_ORIGINS")
    if isinstance(extra_origins, str):
        extra_origins = [extra_origins]
    app.wsgi_app = HostCheck(app.wsgi_app, allowed_hosts)  # type: ignore[method-assign]

    @app.before_request
    def check_origin() -> Response | None:
        if request.method not in STATE_CHANGING:
            return None
        if origin_allowed(request.headers.get("Origin"), request.host, extra_origins):
            return None
        response = app.json.response(
            {"error": {"field": "Origin", "message": "cross-origin requests cannot change "
                       "anything here"}})
        response.status_code = 403
        return response

    @app.after_request
    def add_headers(response: Response) -> Response:
        # An embeddable page (pages.py, ?embed=1) says who may frame it in its own CSP.
        framing = ("X-Frame-Options",) if getattr(response, "embeddable", False) else ()
        for name, value in HEADERS.items():
            if name not in framing:
                response.headers.setdefault(name, value)
        return response
