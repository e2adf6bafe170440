"""REST entry point: parse the request, call the service, map domain errors to HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from werkzeug.exceptions import HTTPException, InternalServerError

from engine.errors import InvalidInput

from . import parsing
from .errors import (
    ReplayError,
    ScenarioNotFound,
    SessionConflict,
    SessionNotFound,
    StorageUnavailable,
)
from .limits import LimitExceeded
from .roles import NotPresenter, Roles, bearer, links
from .service import SessionService

bp = Blueprint("api", __name__, url_prefix="/api")

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


def service() -> SessionService:
    return current_app.extensions["pvframes"]


def error(status: int, field: str | None, message: str, **extra: Any) -> tuple[Response, int]:
    return jsonify({"error": {"field": field, "message": message, **extra}}), status


@bp.errorhandler(InvalidInput)
def invalid_input(exc: InvalidInput) -> tuple[Response, int]:
    if isinstance(exc, LimitExceeded):
        return error(exc.status, exc.field or None, exc.message, limit=exc.limit)
    return error(400, exc.field or None, exc.message)


def roles() -> Roles:
    return current_app.extensions["pvframes.roles"]


def require_presenter(session_id: str) -> None:
    """Changes need the presenter's token (webapp/roles.py); checked after the body, so a
    malformed request is told what is wrong with it first."""
    roles().require(session_id, bearer(request.headers.get("Authorization")))


@bp.errorhandler(NotPresenter)
def not_presenter(exc: NotPresenter) -> tuple[Response, int]:
    return error(403, exc.field, exc.message)


@bp.errorhandler(SessionConflict)
def session_conflict(exc: SessionConflict) -> tuple[Response, int]:
    return error(409, None, str(exc))


@bp.errorhandler(StorageUnavailable)
def storage_unavailable(exc: StorageUnavailable) -> tuple[Response, int]:
    current_app.logger.error("%s", exc)
    return error(503, None, str(exc))


@bp.errorhandler(SessionNotFound)
def session_not_found(exc: SessionNotFound) -> tuple[Response, int]:
    return error(404, "id", str(exc))


@bp.errorhandler(ScenarioNotFound)
def scenario_not_found(exc: ScenarioNotFound) -> tuple[Response, int]:
    return error(404, "name", str(exc))


@bp.errorhandler(ReplayError)
def replay_failed(exc: ReplayError) -> tuple[Response, int]:
    current_app.logger.error("%s", exc)
    return error(500, None, "the session's stored history could not be rebuilt; see the log")


@bp.app_errorhandler(HTTPException)
def http_error(exc: HTTPException) -> Response | HTTPException | tuple[Response, int]:
    # Unknown routes and wrong methods under /api answer in the API's error shape too.
    if request.path.startswith("/api/") or request.path == "/api":
        if exc.code == 413:
            limit = service().limits.max_body_bytes
            return error(413, "body", f"request body too large (limit max_body_bytes = {limit})",
                         limit="max_body_bytes")
        return error(exc.code or 500, None, exc.name)
    return exc


@bp.app_errorhandler(Exception)
def unexpected(exc: Exception) -> Response | tuple[Response, int]:
    """Anything unforeseen: logged with its traceback here, never shown to the client."""
    if isinstance(exc, HTTPException):
        return http_error(exc)  # type: ignore[return-value]
    current_app.logger.error("unhandled error on %s %s", request.method, request.path,
                             exc_info=exc)
    if request.path.startswith("/api/"):
        return error(500, None, "internal error; see the server log")
    return Response(InternalServerError.description, 500, mimetype="text/plain")


def json_body(*, yaml_ok: bool = False) -> Any:
    """The body as checked JSON; None when empty. A body must say it is JSON (a plain HTML
    form cannot), so a cross-site form can change nothing."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        return None
    if request.mimetype != "application/json":
        kinds = "application/json" + (" or a YAML type" if yaml_ok else "")
        raise LimitExceeded("Content-Type", "content_type", kinds,
                            f"a body of type {request.mimetype or 'none'!r} is not accepted",
                            status=415)
    try:
        body = parsing.loads_json(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("body", f"is not valid JSON: {exc}") from None
    parsing.check_tree(body, "", service().limits)
    return body


@bp.post("/sessions")
def create_session() -> tuple[Response, int, dict[str, str]]:
    if request.mimetype in YAML_TYPES:  # a scenario file posted as is
        try:
            text = request.get_data().decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput("body", "is not UTF-8 text") from None
        args: dict[str, Any] = {"scenario": text, "xen": None}
    else:
        args = parsing.create_args(json_body(yaml_ok=True))
    if "scenario_file" in args:
        try:
            created = service().create_from_catalogue(args["scenario_file"], xen=args["xen"])
        except ScenarioNotFound as exc:
            raise InvalidInput("scenario_file", str(exc)) from None
    else:
        created = service().create(scenario=args["scenario"], xen=args["xen"])
    location = url_for(".get_session", session_id=created["id"])
    token = roles().issue(created["id"])
    created = {**created, "token": token, "links": links(request.host_url, created["id"], token)}
    return jsonify(created), 201, {"Location": location}


@bp.get("/sessions/<session_id>")
def get_session(session_id: str) -> Response:
    return jsonify(service().snapshot(session_id, parsing.seq(request.args.get("seq")),
                                      parsing.flag_or_none(request.args.get("packed"), "packed")))


@bp.get("/sessions/<session_id>/shapes")
def get_shapes(session_id: str) -> Response:
    """{"seq", "pt_shaped": {host: [mfn]}}: frames that are no page table but hold present
    entries, now or as of ?seq=N."""
    return jsonify(service().shapes(session_id, parsing.seq(request.args.get("seq"))))


@bp.post("/sessions/<session_id>/fork")
def fork_session(session_id: str) -> tuple[Response, int, dict[str, str]]:
    body = json_body()
    if not isinstance(body, dict) or "seq" not in body or set(body) - {"seq", "xen"}:
        raise InvalidInput("body", 'must be {"seq": N} or {"seq": N, "xen": variant}')
    seq = parsing.seq(body["seq"])
    if seq is None:
        raise InvalidInput("seq", "must be a non-negative integer")
    forked = service().fork(session_id, seq, parsing.xen(body.get("xen")))
    # Anyone may fork (a follower detaching): the fork is theirs, with its own token.
    forked = {**forked, "token": roles().issue(forked["id"])}
    return jsonify(forked), 201, {"Location": url_for(".get_session", session_id=forked["id"])}


@bp.post("/compare")
def create_compare() -> tuple[Response, int]:
    """{"session": id} (its scenario under both variants), {"scenario_file": name} (the
    same), or {"scenario_files": [a, b], "xen"?} (two scenarios): two new sessions that
    have run their scripts. 201 {"a", "b", "tokens", "links"} (a: unpatched when the variants
    differ): whoever made the pair presents both sessions, as with POST /sessions."""
    body = json_body()
    if not isinstance(body, dict) or len(body.keys() - {"xen"}) != 1:
        raise InvalidInput("body", 'must be {"session": id}, {"scenario_file": name} or '
                                   '{"scenario_files": [name, name]}')
    both: tuple[str | None, str | None] = ("unpatched", "patched")
    if "session" in body:
        scenario = service().scenario_of(parsing.session_id(body["session"]))
        return with_tokens(service().create_pair(scenario, both))
    if "scenario_file" in body:
        name = body["scenario_file"]
        if not isinstance(name, str):
            raise InvalidInput("scenario_file", "must be a scenario name from the catalogue")
        return with_tokens(service().create_pair(catalogue_text(name, "scenario_file"), both))
    names = body.get("scenario_files")
    if not (isinstance(names, list) and len(names) == 2 and all(isinstance(n, str) for n in names)):
        raise InvalidInput("scenario_files", "must be two scenario names from the catalogue")
    xen = body.get("xen")
    if xen is not None and xen not in parsing.XEN_VARIANTS:
        raise InvalidInput("xen", f"must be one of {', '.join(parsing.XEN_VARIANTS)} or null")
    texts = (catalogue_text(names[0], "scenario_files[0]"),
             catalogue_text(names[1], "scenario_files[1]"))
    return with_tokens(service().create_pair(None, (xen, xen), texts))


def with_tokens(pair: dict[str, str]) -> tuple[Response, int]:
    """A compare pair's answer: each session's presenter token and links, keyed as the pair
    ("a", "b"); the tokens are returned here once, like a created session's."""
    tokens = {key: roles().issue(pair[key]) for key in ("a", "b")}
    return jsonify({**pair, "tokens": tokens,
                    "links": {key: links(request.host_url, pair[key], tokens[key])
                              for key in ("a", "b")}}), 201


def catalogue_text(name: str, field: str) -> str:
    try:
        return service().catalogue.text(name)
    except ScenarioNotFound as exc:
        raise InvalidInput(field, str(exc)) from None


@bp.get("/compare")
def get_compare() -> Response:
    """?a=ID&b=ID: the divergence list; with &seq=N also what differs as of seq N."""
    a = parsing.session_id(request.args.get("a"), "a")
    b = parsing.session_id(request.args.get("b"), "b")
    out = service().compare(a, b)
    seq = parsing.seq(request.args.get("seq"))
    if seq is not None:
        out["state"] = service().compare_state(a, b, seq)
    return jsonify(out)


@bp.post("/sessions/<session_id>/steps")
def post_step(session_id: str) -> Response:
    step = parsing.step(json_body())
    require_presenter(session_id)
    event = service().apply(session_id, step)
    return jsonify(
        {"rc": event["rc"], "seq": event["seq"], "assertions": event["assertions"], "event": event}
    )


@bp.post("/sessions/<session_id>/run")
def run_steps(session_id: str) -> Response:
    body = json_body()
    if body is not None and not isinstance(body, dict):
        raise InvalidInput("body", 'must be a JSON object such as {"count": 1}')
    count = parsing.count((body or {}).get("count"))
    require_presenter(session_id)
    return jsonify(service().run(session_id, count))


@bp.get("/sessions/<session_id>/events")
def get_events(session_id: str) -> Response:
    since = parsing.since(request.args.get("since"))
    limit = parsing.page_limit(request.args.get("limit"))
    return jsonify(service().events(session_id, since, limit))


@bp.get("/sessions/<session_id>/events/<seq>")
def get_event(session_id: str, seq: str) -> Response:
    """One whole event (the body of a stub pushed for a large one), streamed delta by delta
    so the server never holds its JSON text whole; with ?from=I one page of its deltas."""
    event = service().event(session_id, parsing.since(seq, "seq"))
    start = request.args.get("from")
    if start is not None:
        return jsonify(service().delta_page(event, parsing.since(start, "from")))

    def chunks() -> Iterator[str]:
        head = {k: v for k, v in event.items() if k != "deltas"}
        yield json.dumps(head, separators=(",", ":"))[:-1] + ',"deltas":['
        for i, delta in enumerate(event.get("deltas") or []):
            yield ("," if i else "") + json.dumps(delta, separators=(",", ":"))
        yield "]}"

    return Response(chunks(), mimetype="application/json")


@bp.get("/sessions/<session_id>/export")
def export_session(session_id: str) -> Response:
    """The session as a scenario file; with ?seq=N (view=V, frame=HOST:MFN), that moment
    as its `position` (docs/scenario-extensions.md)."""
    text = service().export(session_id, parsing.moment(request.args))
    return Response(
        text,
        mimetype="text/yaml",
        headers={"Content-Disposition": f'attachment; filename="pvframes-{session_id}.yaml"'},
    )


@bp.get("/sessions/<session_id>/frames/<host>/<mfn>")
def get_frame(session_id: str, host: str, mfn: str) -> Response:
    seq = parsing.seq(request.args.get("seq"))
    return jsonify(service().frame(session_id, host, parsing.frame_number(mfn), seq))


@bp.get("/scenarios")
def list_scenarios() -> Response:
    return jsonify({"scenarios": [e.summary() for e in service().catalogue.entries()]})


@bp.get("/scenarios/<name>")
def get_scenario(name: str) -> Response:
    entry = service().catalogue.get(name)
    return jsonify({**entry.summary(), "yaml": entry.path.read_text(encoding="utf-8")})


@bp.get("/xen-functions")
def xen_functions() -> Response:
    """Where each Xen function the deltas name is, at RELEASE-4.15.0 and RELEASE-4.16.0."""
    from engine.codelinks import table

    response = jsonify(table())
    response.cache_control.max_age = 3600
    return response
