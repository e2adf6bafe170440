"""13.1 over REST: generated and hand-written hostile requests get a clean 4xx in the
documented shape, and a refused request changes nothing (database and live state)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_helpers import (
    SCRIPTED,
    assert_clean_error,
    create,
    database_digest,
    live_state,
)
from reliability_strategies import mutated_steps, steps, values

EXAMPLES = 2000


def send(client: FlaskClient, session_id: str, kind: str, payload: Any) -> tuple[int, Any]:
    base = f"/api/sessions/{session_id}"
    if kind == "step":
        r = client.post(f"{base}/steps", data=json.dumps(payload), content_type="application/json")
    elif kind == "run":
        r = client.post(f"{base}/run", data=json.dumps(payload), content_type="application/json")
    elif kind == "create":
        r = client.post("/api/sessions", data=json.dumps(payload),
                        content_type="application/json")
    elif kind == "create_yaml":
        raw = payload.encode("utf-8", "surrogatepass")  # bytes no UTF-8 encoder would send
        r = client.post("/api/sessions", data=raw, content_type="application/yaml")
    elif kind == "raw":
        r = client.post(f"{base}/steps", data=payload, content_type="application/json")
    elif kind == "events":
        r = client.get(f"{base}/events", query_string={"since": payload})
    elif kind == "frame":
        r = client.get(f"{base}/frames/{payload[0]}/{payload[1]}")
    else:
        raise AssertionError(kind)
    body = r.get_json(silent=True)
    return r.status_code, body


def url_text() -> st.SearchStrategy[str]:
    return st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E,
                                 exclude_characters="/?#%"), min_size=1, max_size=30)


requests = st.one_of(
    st.tuples(st.just("step"), steps),
    st.tuples(st.just("run"), values | st.fixed_dictionaries({"count": values})),
    st.tuples(st.just("create"), st.fixed_dictionaries({"scenario": values})),
    st.tuples(st.just("create"), st.fixed_dictionaries(
        {"scenario": st.fixed_dictionaries({"steps": st.lists(mutated_steps, max_size=3)})})),
    st.tuples(st.just("create"), values),
    st.tuples(st.just("create_yaml"), st.builds(
        lambda v: yaml.safe_dump(v, allow_unicode=False), values)),
    st.tuples(st.just("raw"), st.binary(max_size=60)),
    st.tuples(st.just("events"), url_text()),
    st.tuples(st.just("frame"), st.tuples(st.sampled_from(["source", "destination", "x"]),
                                          url_text())),
)


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(request=requests)
def test_generated_requests_are_refused_cleanly(
    app: Flask, client: FlaskClient, request: tuple[str, Any]
) -> None:
    if "_corpus_session" not in app.config:  # one session for every example
        app.config["_corpus_session"] = create(client, SCRIPTED)
    session_id = app.config["_corpus_session"]
    before = database_digest(app, session_id)
    snapshot = live_state(app, session_id)
    status, body = send(client, session_id, *request)
    assert status < 500, (request, status, body)
    if status >= 400:
        assert_clean_error(status, body)
        assert database_digest(app, session_id) == before, request
        assert live_state(app, session_id) == snapshot, request


def billion_laughs() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    lines.append("steps: [*i]")
    return "\n".join(lines)


HAND_WRITTEN: list[tuple[str, Any, str | None]] = [
    # (kind, payload, the field the error must name, or None for any)
    ("step", {"check": {"entry": {"flags": None}}}, None),
    ("create", {"scenario": {"steps": True}}, "scenario.steps"),
    ("create", {"scenario": "1: 2\n3: 4"}, "scenario"),
    ("create", {"scenario": "!!set {a, b}"}, "scenario"),
    ("create", {"scenario": "name: !!binary aGVsbG8="}, "scenario"),
    ("create", {"scenario": "name: !!python/object:os.system {}"}, "scenario"),
    ("create", {"scenario": "a: " + "[" * 2000 + "]" * 2000}, "scenario"),
    ("create", {"scenario": "title: " + "{a: " * 2000 + "1" + "}" * 2000}, "scenario"),
    ("create", {"scenario": billion_laughs()}, "scenario"),
    ("create", {"scenario": "a: &a [*a]\nsteps: *a"}, "scenario"),
    ("create", {"scenario": "guest: {pages: 0x" + "f" * 5000 + "}"}, None),
    ("create", {"scenario": "guest: {pages: " + "9" * 5000 + "}"}, "scenario"),
    ("create", {"scenario": "steps: [{note: .nan}]"}, None),
    ("create_yaml", billion_laughs(), "scenario"),
    ("create_yaml", "\udc80", None),
    ("raw", b"[" * 3000 + b"]" * 3000, "body"),
    ("raw", b"[" * 100_000 + b"]" * 100_000, "body"),
    ("raw", b'{"write": {"pfn": 1' + b"0" * 5000 + b"}}", "body"),
    ("raw", b'{"write": {"pfn": NaN}}', "body"),
    ("raw", b'{"write": {"pfn": 9}, "note": "\\ud800"}', "note"),
    ("raw", b'{"write": {"pfn": 9}, "note": "\xff\xfe"}', "body"),
    ("step", {"mmu_update": {"pfn": 3, "index": 20, "entry": 0xFFFFFFFFFFFFFFFFFF}}, None),
    ("step", {"write": {"pfn": 9}, "note": "x" * 100_000}, "note"),
    ("step", {"write": {"pfn": 9}, "x": {str(i): i for i in range(100_000)}}, None),
    ("step", {"write": {"pfn": 9, 1: 2}}, None),
    ("events", "99999999999999999999", "since"),
    ("events", "9" * 5000, "since"),
    ("events", "-1", "since"),
    ("frame", ("source", "0xffffffffffffffffff"), None),
    ("frame", ("source", "9" * 5000), "mfn"),
    ("run", {"count": 10 ** 30}, "count"),
    ("run", {"count": True}, "count"),
]


@pytest.mark.parametrize(("kind", "payload", "field"), HAND_WRITTEN,
                         ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(HAND_WRITTEN)])
def test_hand_written_cases(app: Flask, client: FlaskClient, kind: str, payload: Any,
                            field: str | None) -> None:
    session_id = create(client, SCRIPTED)
    before = database_digest(app)
    if kind == "step" and isinstance(payload, dict) and 1 in payload.get("write", {}):
        status, body = send(client, session_id, "raw", b'{"write": {"pfn": 9, 1: 2}}')
    else:
        status, body = send(client, session_id, kind, payload)
    assert_clean_error(status, body)
    if field is not None:
        assert body["error"]["field"] == field, body
    assert database_digest(app) == before


@pytest.mark.parametrize("path", [
    "/api/sessions/..%2f..%2fetc", "/api/../../etc/passwd", "/api/scenarios/..%2f..%2fetc",
    "/api/nothing", "/api/", "/api/sessions/x/frames/source", "/api/sessions/%00",
])
def test_unknown_api_paths_answer_json_404(client: FlaskClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404 and r.is_json, (path, r.status_code, r.get_data()[:80])
    assert_clean_error(r.status_code, r.get_json())


@pytest.mark.parametrize(("method", "path"), [
    ("delete", "/api/sessions/abc"), ("put", "/api/sessions"), ("get", "/api/sessions"),
    ("patch", "/api/scenarios"), ("get", "/api/sessions/abc/steps"),
])
def test_wrong_methods_answer_json_405(client: FlaskClient, method: str, path: str) -> None:
    r = getattr(client, method)(path)
    assert r.status_code == 405 and r.is_json
    assert_clean_error(r.status_code, r.get_json())
