"""The single HTML page; everything else it needs comes over the API."""

from __future__ import annotations

from flask import Blueprint, render_template, request

bp = Blueprint("pages", __name__)


@bp.get("/")
def index() -> str:
    # The page opens the session named in ?session=ID, or offers to create one.
    return render_template("index.html", session_id=request.args.get("session", ""))
