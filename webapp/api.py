"""REST entry point: parse the request, call the service, map domain errors to HTTP."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from werkzeug.exceptions import HTTPException

from engine.errors import InvalidInput

from . import parsing
from .errors import ReplayError, ScenarioNotFound, SessionNotFound
from .service import SessionService

bp = Blueprint("api", __name__, url_prefix="/api")

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


def service() -> SessionService:
    return current_app.extensions["pvframes"]


def error(status: int, field: str | None, message: str) -> tuple[Response, int]:
    return jsonify({"error": {"field": field, "message": message}}), status


@bp.errorhandler(InvalidInput)
def invalid_input(exc: InvalidInput) -> tuple[Response, int]:
    return error(400, exc.field, exc.message)


@bp.errorhandler(SessionNotFound)
def session_not_found(exc: SessionNotFound) -> tuple[Response, int]:
    return error(404, "id", str(exc))


@bp.errorhandler(ScenarioNotFound)
def scenario_not_found(exc: ScenarioNotFound) -> tuple[Response, int]:
    return error(404, "name", str(exc))


@bp.errorhandler(ReplayError)
def replay_failed(exc: ReplayError) -> tuple[Response, int]:
    current_app.logger.error("%s", exc)
    return error(500, None, str(exc))


@bp.app_errorhandler(HTTPException)
def http_error(exc: HTTPException) -> Response | HTTPException | tuple[Response, int]:
    # Unknown routes and wrong methods under /api answer in the API's error shape too.
    if request.path.startswith("/api/"):
        return error(exc.code or 500, None, exc.description or exc.name)
    return exc


def json_body() -> Any:
    """The body as JSON whatever its Content-Type; None when empty."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise InvalidInput("body", f"is not valid JSON: {exc}") from None


@bp.post("/sessions")
def create_session() -> tuple[Response, int, dict[str, str]]:
    if request.mimetype in YAML_TYPES:  # a scenario file posted as is
        args: dict[str, Any] = {"scenario": request.get_data(as_text=True), "xen": None}
    else:
        args = parsing.create_args(json_body())
    if "scenario_file" in args:
        try:
            created = service().create_from_catalogue(args["scenario_file"], xen=args["xen"])
        except ScenarioNotFound as exc:
            raise InvalidInput("scenario_file", str(exc)) from None
    else:
        created = service().create(scenario=args["scenario"], xen=args["xen"])
    location = url_for(".get_session", session_id=created["id"])
    return jsonify(created), 201, {"Location": location}


@bp.get("/sessions/<session_id>")
def get_session(session_id: str) -> Response:
    return jsonify(service().snapshot(session_id))


@bp.post("/sessions/<session_id>/steps")
def post_step(session_id: str) -> Response:
    event = service().apply(session_id, parsing.step(json_body()))
    return jsonify(
        {"rc": event["rc"], "seq": event["seq"], "assertions": event["assertions"], "event": event}
    )


@bp.post("/sessions/<session_id>/run")
def run_steps(session_id: str) -> Response:
    body = json_body()
    if body is not None and not isinstance(body, dict):
        raise InvalidInput("body", 'must be a JSON object such as {"count": 1}')
    count = parsing.count((body or {}).get("count"))
    return jsonify(service().run(session_id, count))


@bp.get("/sessions/<session_id>/events")
def get_events(session_id: str) -> Response:
    since = parsing.since(request.args.get("since"))
    return jsonify(service().events(session_id, since))


@bp.get("/sessions/<session_id>/export")
def export_session(session_id: str) -> Response:
    text = service().export(session_id)
    return Response(
        text,
        mimetype="text/yaml",
        headers={"Content-Disposition": f'attachment; filename="pvframes-{session_id}.yaml"'},
    )


@bp.get("/sessions/<session_id>/frames/<host>/<mfn>")
def get_frame(session_id: str, host: str, mfn: str) -> Response:
    return jsonify(service().frame(session_id, host, parsing.frame_number(mfn)))


@bp.get("/scenarios")
def list_scenarios() -> Response:
    return jsonify({"scenarios": [e.summary() for e in service().catalogue.entries()]})


@bp.get("/scenarios/<name>")
def get_scenario(name: str) -> Response:
    entry = service().catalogue.get(name)
    return jsonify({**entry.summary(), "yaml": entry.path.read_text(encoding="utf-8")})
