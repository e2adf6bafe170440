"""GET /api/sessions/<id>/slide.svg: the grid at a moment as SVG (engine.slides), for the
page's "SVG" and "PNG" exports; errors in the API's JSON shape (api.py's handlers)."""

from __future__ import annotations

from flask import Response, request

from engine.errors import InvalidInput
from engine.slides import VIEWS, grid_svg

from . import parsing
from .api import bp, service


@bp.get("/sessions/<session_id>/slide.svg")
def slide_svg(session_id: str) -> Response:
    seq = parsing.seq(request.args.get("seq"))
    view = request.args.get("view", "guest")
    if view not in VIEWS:
        raise InvalidInput("view", f"must be one of {', '.join(VIEWS)}")
    selected = None
    frame = request.args.get("frame")
    if frame:
        host, _, mfn = frame.partition(":")
        if host not in ("source", "destination") or not mfn.isdigit() or len(mfn) > 9:
            raise InvalidInput("frame", "must be HOST:MFN, e.g. source:296")
        selected = (host, int(mfn))
    with service().store.checkout(session_id) as session:
        moment = session if seq is None else session.at(seq)
        text = grid_svg(moment, view, selected)
    return Response(text, mimetype="image/svg+xml", headers={
        "Content-Disposition": f'inline; filename="pvframes-{session_id}-{moment.seq}.svg"'})
