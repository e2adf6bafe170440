"""REST: creating sessions, reading them, applying steps; bad input changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient
from server_helpers import REMAP_20_RO, SCRIPTED, WRITE_9, stored_rows


def error_of(response: Any, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"field", "message"}
    assert body["error"]["message"]
    return body["error"]


# --- POST /api/sessions ---------------------------------------------------------------


def test_create_default_session(client: FlaskClient) -> None:
    response = client.post("/api/sessions")
    assert response.status_code == 201
    body = response.get_json()
    assert isinstance(body["id"], str) and len(body["id"]) >= 10
    assert body["seq"] == 0
    assert body["snapshot"]["seq"] == 0
    assert response.headers["Location"].endswith(f"/api/sessions/{body['id']}")


def test_create_from_object_does_not_run_steps(client: FlaskClient) -> None:
    body = client.post("/api/sessions", json={"scenario": SCRIPTED}).get_json()
    assert body["seq"] == 0
    assert body["snapshot"]["name"] == "web-scripted"
    assert client.get(f"/api/sessions/{body['id']}/events").get_json()["events"] == []


def test_create_from_yaml_text_and_xen_override(client: FlaskClient) -> None:
    text = yaml.safe_dump({**SCRIPTED, "xen": "patched"})
    response = client.post("/api/sessions", json={"scenario": text, "xen": "unpatched"})
    assert response.status_code == 201
    assert response.get_json()["snapshot"]["xen"] == "unpatched"


def test_create_from_yaml_body(client: FlaskClient) -> None:
    response = client.post(
        "/api/sessions", data=yaml.safe_dump(SCRIPTED), content_type="application/yaml"
    )
    assert response.status_code == 201
    assert response.get_json()["snapshot"]["name"] == "web-scripted"


def test_create_from_catalogue(make_app: Any, tmp_path: Any) -> None:
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    (scenarios / "scripted.yaml").write_text(yaml.safe_dump(SCRIPTED))
    client = make_app(SCENARIO_DIRS=[("examples", scenarios)]).test_client()
    response = client.post("/api/sessions", json={"scenario_file": "scripted"})
    assert response.status_code == 201
    assert response.get_json()["snapshot"]["name"] == "web-scripted"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ([1, 2], "body"),
        ({"scenario": 5}, "scenario"),
        ({"xen": "maybe"}, "xen"),
        ({"colour": "red"}, "colour"),
        ({"scenario_file": "no-such-scenario"}, "scenario_file"),
        ({"scenario_file": 3}, "scenario_file"),
        ({"scenario": SCRIPTED, "scenario_file": "x"}, "scenario_file"),
        ({"scenario": "name: [unclosed"}, "scenario"),  # the engine leaves the field empty
    ],
)
def test_create_rejects_bad_payloads(
    app: Flask, client: FlaskClient, payload: Any, field: str
) -> None:
    assert error_of(client.post("/api/sessions", json=payload))["field"] == field
    assert stored_rows(app, "sessions") == 0


@pytest.mark.parametrize("text", ["just text", "- a\n- b\n"])
def test_create_rejects_scenario_text_that_is_not_a_mapping(
    make_app: Any, text: str
) -> None:
    app = make_app(PROPAGATE_EXCEPTIONS=False)
    response = app.test_client().post("/api/sessions", json={"scenario": text})
    assert error_of(response)["field"] == "scenario"
    assert stored_rows(app, "sessions") == 0


def test_create_rejects_malformed_json(app: Flask, client: FlaskClient) -> None:
    response = client.post("/api/sessions", data="{nope", content_type="application/json")
    assert error_of(response)["field"] == "body"
    assert stored_rows(app, "sessions") == 0


def test_create_rejects_invalid_scenario_naming_the_field(
    app: Flask, client: FlaskClient
) -> None:
    bad = {**SCRIPTED, "steps": [WRITE_9, {"mmu_update": {"pfn": 3, "index": 700, "entry": 0}}]}
    field = error_of(client.post("/api/sessions", json={"scenario": bad}))["field"]
    # The engine numbers steps from 1 in field paths, as `pvframes run` does in messages.
    assert field.startswith("steps[") and field.endswith("mmu_update.index")
    assert stored_rows(app, "sessions") == 0


# --- GET /api/sessions/<id> -----------------------------------------------------------


def test_get_snapshot(client: FlaskClient, session_id: str) -> None:
    response = client.get(f"/api/sessions/{session_id}")
    assert response.status_code == 200
    snapshot = response.get_json()
    assert snapshot["seq"] == 0
    assert {"guest", "hosts", "migration"} <= set(snapshot)


def test_unknown_session_is_404(client: FlaskClient) -> None:
    for response in (
        client.get("/api/sessions/nope"),
        client.post("/api/sessions/nope/steps", json=WRITE_9),
        client.post("/api/sessions/nope/run", json={"count": 1}),
        client.get("/api/sessions/nope/events"),
        client.get("/api/sessions/nope/export"),
        client.get("/api/sessions/nope/frames/source/0"),
    ):
        assert error_of(response, 404)["field"] == "id"


# --- POST /api/sessions/<id>/steps ----------------------------------------------------


def test_post_step(client: FlaskClient, session_id: str) -> None:
    response = client.post(f"/api/sessions/{session_id}/steps", json=WRITE_9)
    assert response.status_code == 200
    body = response.get_json()
    assert body["seq"] == 1 and body["rc"] == 0
    event = body["event"]
    assert event["seq"] == 1 and event["rc"] == body["rc"] and event["op"] == "write"
    assert event["assertions"] == body["assertions"]
    assert client.get(f"/api/sessions/{session_id}").get_json()["seq"] == 1


def test_step_expectations_are_reported(client: FlaskClient, session_id: str) -> None:
    step = {**REMAP_20_RO, "expect": "ok"}
    body = client.post(f"/api/sessions/{session_id}/steps", json=step).get_json()
    assert body["rc"] == 0
    assert [a["ok"] for a in body["assertions"]] == [True]


@pytest.mark.parametrize(
    ("payload", "field_part"),
    [
        ([WRITE_9], "step"),
        ("write", "step"),
        ({"mmu_update": {"pfn": 3, "index": 512, "entry": 0}}, "index"),
        ({"write": {"pfn": 64}}, "pfn"),
        ({"frobnicate": {"pfn": 1}}, ""),
    ],
)
def test_bad_steps_are_400_and_change_nothing(
    app: Flask, client: FlaskClient, session_id: str, payload: Any, field_part: str
) -> None:
    client.post(f"/api/sessions/{session_id}/steps", json=WRITE_9)
    before = client.get(f"/api/sessions/{session_id}").get_json()
    rows = stored_rows(app, "steps")
    error = error_of(client.post(f"/api/sessions/{session_id}/steps", json=payload))
    assert field_part in (error["field"] or "")
    assert client.get(f"/api/sessions/{session_id}").get_json() == before
    assert stored_rows(app, "steps") == rows


@pytest.mark.parametrize(
    "payload", [{}, {"write": {"pfn": 9}, "mmuext": {"cmd": "unpin", "pfn": 3}}]
)
def test_a_wrong_step_as_a_whole_is_blamed_on_step(
    client: FlaskClient, session_id: str, payload: Any
) -> None:
    error = error_of(client.post(f"/api/sessions/{session_id}/steps", json=payload))
    assert error["field"] == "step"


def test_step_with_malformed_json(client: FlaskClient, session_id: str) -> None:
    response = client.post(
        f"/api/sessions/{session_id}/steps", data="{", content_type="application/json"
    )
    assert error_of(response)["field"] == "body"
