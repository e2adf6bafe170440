"""An exported scenario carries the moment it was exported at (`position`, see
docs/scenario-extensions.md): `pvframes run` checks it and draws that moment as a slide,
and importing the file opens that moment."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask.testing import FlaskClient
from server_helpers import SCRIPTED

from engine.runner import main as pvframes_run

CASE1 = "case1-devalidated-l1"


def case1(client: FlaskClient) -> tuple[str, str]:
    r = client.post("/api/sessions", json={"scenario_file": CASE1})
    assert r.status_code == 201
    return r.get_json()["id"], r.get_json()["token"]


def run_cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return pvframes_run(list(argv), out=out), out.getvalue()


def state(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {k: snapshot[k] for k in ("seq", "guest", "hosts", "migration")}


def test_an_export_at_a_moment_runs_and_reopens_there(client: FlaskClient,
                                                      tmp_path: Path) -> None:
    sid, token = case1(client)
    assert client.post(f"/api/sessions/{sid}/run", json={"count": 6}).status_code == 200
    r = client.get(f"/api/sessions/{sid}/export?seq=4&view=source&frame=source:300")
    assert r.status_code == 200
    text = r.get_data(as_text=True)
    assert token not in text
    doc = yaml.safe_load(text)
    xen = client.get(f"/api/sessions/{sid}").get_json()["xen"]
    assert doc["position"] == {"seq": 4, "view": "source",
                               "frame": {"mfn": 300, "on": "source"}, "variant": xen}
    assert len(doc["steps"]) == 6   # the whole history: the moment points into it
    path = tmp_path / "moment.yaml"
    path.write_text(text)
    # pvframes run accepts it and checks exactly what it checked without the position
    code, out = run_cli(str(path))
    assert code == 0, out
    plain = tmp_path / "plain.yaml"
    plain.write_text(client.get(f"/api/sessions/{sid}/export").get_data(as_text=True))
    assert "position" not in yaml.safe_load(plain.read_text())
    assert run_cli(str(plain), "--json")[1] == run_cli(str(path), "--json")[1].replace(
        str(path), str(plain))
    # ... and draws that moment as the server draws it
    svg = tmp_path / "moment.svg"
    assert run_cli(str(path), "--svg", str(svg))[0] == 0
    served = client.get(f"/api/sessions/{sid}/slide.svg?seq=4&view=source&frame=source:300")
    assert svg.read_text() == served.get_data(as_text=True)
    # importing the file: the new session says where it is to be opened; running its script
    # that far gives the state of the original at that moment
    made = client.post("/api/sessions", data=text, content_type="application/yaml")
    assert made.status_code == 201
    again = made.get_json()
    assert again["position"] == doc["position"] and again["seq"] == 0
    ran = client.post(f"/api/sessions/{again['id']}/run",
                      json={"count": again["position"]["seq"]})
    assert ran.get_json()["seq"] == 4
    assert state(client.get(f"/api/sessions/{again['id']}").get_json()) == \
        state(client.get(f"/api/sessions/{sid}?seq=4").get_json())
    # and its own export at that moment is the file's first 4 steps, at the same position
    mine = yaml.safe_load(client.get(
        f"/api/sessions/{again['id']}/export?seq=4&view=source&frame=source:300").get_data())
    assert mine == {**doc, "steps": doc["steps"][:4]}


@pytest.mark.parametrize("query, field", [
    ("seq=7", "seq"), ("seq=-1", "seq"), ("seq=x", "seq"), ("view=compare", "view"),
    ("frame=source", "frame"), ("frame=source:1024", "frame"), ("frame=elsewhere:3", "frame"),
])
def test_a_bad_moment_names_its_field(client: FlaskClient, query: str, field: str) -> None:
    sid = client.post("/api/sessions", json={"scenario": SCRIPTED}).get_json()["id"]
    client.post(f"/api/sessions/{sid}/run", json={"count": 3})
    r = client.get(f"/api/sessions/{sid}/export?{query}")
    assert r.status_code == 400 and r.get_json()["error"]["field"] == field, r.get_json()


@pytest.mark.parametrize("position, field", [
    ({"seq": 4}, "position.seq"), ({"seq": -1}, "position.seq"), ({"view": "guest"},
                                                                  "position.seq"),
    ({"seq": 1, "view": "sideways"}, "position.view"),
    ({"seq": 1, "frame": {"mfn": 1024, "on": "source"}}, "position.frame.mfn"),
    ({"seq": 1, "frame": {"mfn": 3, "on": "elsewhere"}}, "position.frame.on"),
    ({"seq": 1, "variant": "4.15"}, "position.variant"),
    ({"seq": 1, "zoom": 2}, "position.zoom"), ("4", "position"),
])
def test_a_bad_position_is_refused_naming_the_field(client: FlaskClient, tmp_path: Path,
                                                    capsys: Any, position: Any,
                                                    field: str) -> None:
    doc = {**SCRIPTED, "position": position}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc))
    code, out = run_cli(str(path))
    assert code == 2 and out == ""
    assert f"{field}:" in capsys.readouterr().err
    r = client.post("/api/sessions", json={"scenario": doc})
    assert r.status_code == 400 and r.get_json()["error"]["field"] == field, r.get_json()


def test_svg_needs_a_step_or_a_position(tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(SCRIPTED))
    assert run_cli(str(path), "--svg", str(tmp_path / "out.svg"))[0] == 2
    assert "snapshot" in capsys.readouterr().err
    path.write_text(yaml.safe_dump({**SCRIPTED, "position": {"seq": 2, "view": "both"}}))
    assert run_cli(str(path), "--svg", str(tmp_path / "out.svg"))[0] == 0
    assert "seq 2" in (tmp_path / "out.svg").read_text()

