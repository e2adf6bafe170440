"""REST: events, export, frame detail, scripted runs, the scenario catalogue."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient
from server_helpers import REMAP_20_RO, SCRIPTED, SHARED_SCENARIOS, WRITE_9, WRITE_10, stored_rows
from test_rest_sessions import error_of


def apply(client: FlaskClient, session_id: str, *steps: dict[str, Any]) -> None:
    for step in steps:
        assert client.post(f"/api/sessions/{session_id}/steps", json=step).status_code == 200


def new_session(client: FlaskClient, scenario: Any = None) -> str:
    response = client.post("/api/sessions", json={"scenario": scenario})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


# --- events ---------------------------------------------------------------------------


def test_events_since(client: FlaskClient, session_id: str) -> None:
    apply(client, session_id, WRITE_9, WRITE_10, REMAP_20_RO)
    body = client.get(f"/api/sessions/{session_id}/events").get_json()
    assert body["seq"] == 3 and [e["seq"] for e in body["events"]] == [1, 2, 3]
    later = client.get(f"/api/sessions/{session_id}/events?since=1").get_json()
    assert later["events"] == body["events"][1:]
    assert client.get(f"/api/sessions/{session_id}/events?since=3").get_json()["events"] == []


@pytest.mark.parametrize("since", ["-1", "x", "1.5", "4"])
def test_events_bad_since(client: FlaskClient, session_id: str, since: str) -> None:
    apply(client, session_id, WRITE_9, WRITE_10, REMAP_20_RO)
    response = client.get(f"/api/sessions/{session_id}/events?since={since}")
    assert error_of(response)["field"] == "since"


# --- export ---------------------------------------------------------------------------


def test_export_is_yaml_that_replays(client: FlaskClient, session_id: str) -> None:
    apply(client, session_id, WRITE_9, REMAP_20_RO)
    response = client.get(f"/api/sessions/{session_id}/export")
    assert response.status_code == 200
    assert response.mimetype == "text/yaml"
    assert "attachment" in response.headers["Content-Disposition"]
    exported = yaml.safe_load(response.get_data(as_text=True))
    assert isinstance(exported, dict) and exported["steps"]
    # The export is itself a scenario: a new session from it, run to the end, matches.
    replay = new_session(client, response.get_data(as_text=True))
    ran = client.post(f"/api/sessions/{replay}/run", json={"count": "all"}).get_json()
    original = client.get(f"/api/sessions/{session_id}/events").get_json()["events"]
    assert [e["step"] for e in ran["events"] if e["op"] != "check"] == [
        e["step"] for e in original
    ]


# --- frames ---------------------------------------------------------------------------


def test_frame_detail(client: FlaskClient, session_id: str) -> None:
    snapshot = client.get(f"/api/sessions/{session_id}").get_json()
    mfn = snapshot["guest"]["p2m"][3]  # the L1
    response = client.get(f"/api/sessions/{session_id}/frames/source/{mfn}")
    assert response.status_code == 200
    assert isinstance(response.get_json(), dict)
    assert client.get(f"/api/sessions/{session_id}/frames/source/{hex(mfn)}").get_json() == (
        response.get_json()
    )


@pytest.mark.parametrize(
    ("path", "field_part"),
    [("source/abc", "mfn"), ("source/-1", "mfn"), ("source/99999999", "mfn"), ("moon/1", "host")],
)
def test_frame_detail_bad_input(
    client: FlaskClient, session_id: str, path: str, field_part: str
) -> None:
    response = client.get(f"/api/sessions/{session_id}/frames/{path}")
    assert field_part in (error_of(response)["field"] or "")


# --- run ------------------------------------------------------------------------------


def test_run_steps_of_the_script(app: Flask, client: FlaskClient) -> None:
    session_id = new_session(client, SCRIPTED)
    first = client.post(f"/api/sessions/{session_id}/run", json={"count": 1}).get_json()
    assert first["seq"] == 1 and [e["op"] for e in first["events"]] == ["write"]
    rest = client.post(f"/api/sessions/{session_id}/run", json={"count": "all"}).get_json()
    assert rest["seq"] == 3 and [e["seq"] for e in rest["events"]] == [2, 3]
    snapshot = client.get(f"/api/sessions/{session_id}").get_json()
    assert snapshot["cursor"] == len(snapshot["script"])
    rows = stored_rows(app, "steps")
    done = client.post(f"/api/sessions/{session_id}/run", json={"count": 1}).get_json()
    assert done == {"seq": 3, "events": [], "more": False}
    assert stored_rows(app, "steps") == rows


def test_run_defaults_to_one(client: FlaskClient) -> None:
    session_id = new_session(client, SCRIPTED)
    assert client.post(f"/api/sessions/{session_id}/run").get_json()["seq"] == 1


@pytest.mark.parametrize("payload", [{"count": 0}, {"count": -2}, {"count": "some"},
                                     {"count": True}, {"count": 1.5}, [1]])
def test_run_bad_count(app: Flask, client: FlaskClient, payload: Any) -> None:
    session_id = new_session(client, SCRIPTED)
    error = error_of(client.post(f"/api/sessions/{session_id}/run", json=payload))
    assert error["field"] in ("count", "body")
    assert client.get(f"/api/sessions/{session_id}").get_json()["seq"] == 0
    assert stored_rows(app, "steps") == 0


# --- catalogue ------------------------------------------------------------------------


def write_catalogue(root: Path) -> list[tuple[str, Path]]:
    shared, examples = root / "shared", root / "examples"
    shared.mkdir()
    examples.mkdir()
    (shared / "alpha.yaml").write_text(yaml.safe_dump({**SCRIPTED, "name": "alpha"}))
    (examples / "beta.yaml").write_text(
        yaml.safe_dump({"name": "beta", "title": "Beta", "description": "Second.\n"})
    )
    (examples / "alpha.yaml").write_text("name: shadowed\n")  # the shared one wins
    (examples / "broken.yaml").write_text("name: [unclosed\n")  # skipped, not fatal
    return [("shared", shared), ("examples", examples)]


def test_catalogue_lists_and_serves_scenarios(make_app: Any, tmp_path: Path) -> None:
    client = make_app(SCENARIO_DIRS=write_catalogue(tmp_path)).test_client()
    listing = client.get("/api/scenarios").get_json()["scenarios"]
    assert listing == [
        {"name": "alpha", "title": "Three scripted steps", "description": "", "source": "shared"},
        {"name": "beta", "title": "Beta", "description": "Second.", "source": "examples"},
    ]
    one = client.get("/api/scenarios/alpha").get_json()
    assert one["source"] == "shared" and yaml.safe_load(one["yaml"])["name"] == "alpha"
    assert error_of(client.get("/api/scenarios/gamma"), 404)["field"] == "name"


@pytest.mark.skipif(not SHARED_SCENARIOS.is_dir(), reason="no ../shared/scenarios checkout")
def test_default_catalogue_has_the_shared_scenarios(client: FlaskClient) -> None:
    names = {e["name"]: e for e in client.get("/api/scenarios").get_json()["scenarios"]}
    for path in SHARED_SCENARIOS.glob("*.yaml"):
        assert names[path.stem]["source"] == "shared"
        response = client.post("/api/sessions", json={"scenario_file": path.stem})
        assert response.status_code == 201, response.get_json()


# --- routing errors -------------------------------------------------------------------


def test_api_routing_errors_are_json(client: FlaskClient, session_id: str) -> None:
    assert error_of(client.get("/api/nothing-here"), 404)["field"] is None
    assert error_of(client.delete(f"/api/sessions/{session_id}"), 405)["field"] is None
    page = client.get("/nothing-here")  # outside the API, Flask's own error page
    assert page.status_code == 404 and page.mimetype == "text/html"
