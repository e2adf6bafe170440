"""The single HTML page; everything else it needs comes over the API."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, make_response, render_template, request

from .security import CSP

bp = Blueprint("pages", __name__)


@bp.get("/")
def index() -> Response:
    # The page opens the session named in ?session=ID, or offers to create one.
    response = make_response(render_template("index.html",
                                             session_id=request.args.get("session", "")))
    if request.args.get("embed") == "1":
        # The embedded page (docs/classroom.md) may be framed by the pages EMBED_ANCESTORS
        # names (default any), so no X-Frame-Options: DENY (security.py leaves it out).
        ancestors = current_app.config.get("EMBED_ANCESTORS") or "*"
        response.headers["Content-Security-Policy"] = CSP.replace(
            "frame-ancestors 'none'", f"frame-ancestors {ancestors}")
        response.embeddable = True  # type: ignore[attr-defined]
    return response
