"""The past of a session: snapshots as of a seq, forks that leave the original intact,
and the compare routes (divergences as `pvframes run --xen both` prints them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from engine.runner import divergence_report, run_one
from engine.scenario import load_file

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "scenarios"
CASE1 = "case1-devalidated-l2"


def scripted(client: FlaskClient, name: str = CASE1, xen: str | None = None) -> str:
    body: dict[str, Any] = {"scenario_file": name}
    if xen:
        body["xen"] = xen
    sid = client.post("/api/sessions", json=body).get_json()["id"]
    client.post(f"/api/sessions/{sid}/run", json={"count": "all"})
    return sid


def without_links(snap: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in snap.items() if k not in ("forked_from", "forks")}


def test_snapshot_as_of_a_seq_is_the_snapshot_then(client: FlaskClient) -> None:
    sid = client.post("/api/sessions", json={"scenario_file": CASE1}).get_json()["id"]
    then = {}
    for seq in range(1, 18):
        client.post(f"/api/sessions/{sid}/run", json={"count": 1})
        then[seq] = client.get(f"/api/sessions/{sid}").get_json()
    for seq in (1, 9, 15, 16, 17):
        past = client.get(f"/api/sessions/{sid}?seq={seq}").get_json()
        assert without_links(past) == without_links(then[seq])
    assert client.get(f"/api/sessions/{sid}?seq=0").get_json()["seq"] == 0


def test_a_seq_out_of_range_names_the_field(client: FlaskClient) -> None:
    sid = scripted(client)
    for bad in ("99", "-1", "x"):
        response = client.get(f"/api/sessions/{sid}?seq={bad}")
        assert response.status_code == 400
        assert response.get_json()["error"]["field"] == "seq"


def test_frame_detail_as_of_a_seq(client: FlaskClient) -> None:
    sid = scripted(client)
    now = client.get(f"/api/sessions/{sid}").get_json()
    before = client.get(f"/api/sessions/{sid}?seq=6").get_json()
    mfn = before["guest"]["p2m"][20]
    then = client.get(f"/api/sessions/{sid}/frames/source/{mfn}?seq=6").get_json()
    assert then["type"] == "writable" and len(then["entries"]) == 1
    # after the migration the source frame is no longer the guest's
    assert now["guest"]["host"] == "destination"
    later = client.get(f"/api/sessions/{sid}/frames/source/{mfn}").get_json()
    assert later["owner"] != "guest"


def test_fork_starts_from_the_past_and_leaves_the_original(app: Flask,
                                                           client: FlaskClient) -> None:
    sid = scripted(client)
    original = client.get(f"/api/sessions/{sid}").get_json()
    response = client.post(f"/api/sessions/{sid}/fork", json={"seq": 7})
    assert response.status_code == 201
    fork = response.get_json()
    assert fork["seq"] == 7 and fork["snapshot"]["forked_from"] == {"session": sid, "seq": 7}
    assert fork["snapshot"]["cursor"] == 7   # the script goes on from step 8
    assert without_links(fork["snapshot"]) == without_links(
        client.get(f"/api/sessions/{sid}?seq=7").get_json())
    # the fork is the forker's: its own presenter token comes with it
    as_presenter = {"Authorization": f"Bearer {fork['token']}"}
    step = client.post(f"/api/sessions/{fork['id']}/steps", json={"write": {"pfn": 3}},
                       headers=as_presenter)
    assert step.get_json()["seq"] == 8
    after = client.get(f"/api/sessions/{sid}").get_json()
    assert without_links(after) == without_links(original)
    assert after["forks"] == [{"session": fork["id"], "seq": 7}]
    # the fork survives a restart: replayed from its recorded actions
    app.extensions["pvframes"].store.forget(fork["id"])
    replayed = client.get(f"/api/sessions/{fork['id']}").get_json()
    assert replayed["seq"] == 8 and replayed["cursor"] == 7
    run = client.post(f"/api/sessions/{fork['id']}/run", json={"count": 1},
                      headers=as_presenter).get_json()
    assert run["events"][0]["script_step"] == 8


def test_fork_refuses_a_bad_seq_and_creates_nothing(client: FlaskClient) -> None:
    sid = scripted(client)
    for body, field in (({"seq": 500}, "seq"), ({"seq": "x"}, "seq"), ({}, "body")):
        response = client.post(f"/api/sessions/{sid}/fork", json=body)
        assert response.status_code == 400 and response.get_json()["error"]["field"] == field
    assert client.get(f"/api/sessions/{sid}").get_json()["forks"] == []


def test_fork_over_socketio(client: FlaskClient, connect: Any) -> None:
    sid = scripted(client)
    sio = connect()
    ack = sio.emit("fork", {"session": sid, "seq": 3}, callback=True)
    assert ack["ok"] and ack["seq"] == 3 and ack["snapshot"]["forked_from"]["session"] == sid
    bad = sio.emit("fork", {"session": sid, "seq": -2}, callback=True)
    assert not bad["ok"] and bad["error"]["field"] == "seq"


def test_compare_lists_what_pvframes_run_lists(client: FlaskClient) -> None:
    pair = client.post("/api/compare", json={"scenario_file": CASE1})
    assert pair.status_code == 201
    a, b = pair.get_json()["a"], pair.get_json()["b"]
    assert client.get(f"/api/sessions/{a}").get_json()["xen"] == "unpatched"
    assert client.get(f"/api/sessions/{b}").get_json()["xen"] == "patched"
    body = client.get(f"/api/compare?a={a}&b={b}&seq=16").get_json()
    raw = load_file(str(SHARED / f"{CASE1}.yaml"))
    runs = [run_one(CASE1, raw, xen) for xen in ("unpatched", "patched")]
    expected = divergence_report(runs)[0]["items"]
    assert [d["text"] for d in body["divergences"]] == expected
    assert {20, 21} <= {p for d in body["divergences"] for p in d["pfns"]}
    # before the migration getpageframeinfo3 answers differently for the L2 and the L1;
    # after it their entries differ (localised vs sent raw) on the destination
    before = client.get(f"/api/compare?a={a}&b={b}&seq=14").get_json()["state"]
    assert [(p["pfn"], p["a"], p["b"]) for p in before["pfinfo"]] == [
        (20, "L2TAB", "NOTAB"), (21, "L1TAB", "NOTAB")]
    after = body["state"]
    p2m = client.get(f"/api/sessions/{a}?seq=16").get_json()["guest"]["p2m"]
    assert [(e["host"], e["mfn"], e["index"]) for e in after["entries"]] == [
        ("destination", p2m[20], 0), ("destination", p2m[21], 0)]


def test_compare_two_scenarios_and_bad_input(client: FlaskClient) -> None:
    pair = client.post("/api/compare", json={
        "scenario_files": [CASE1, "case2-written-before-migration"], "xen": "unpatched"})
    assert pair.status_code == 201
    ids = pair.get_json()
    names = [client.get(f"/api/sessions/{ids[k]}").get_json()["name"] for k in ("a", "b")]
    assert names[0] != names[1]
    bad = client.post("/api/compare", json={"scenario_files": [CASE1]})
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "scenario_files"
    bad = client.post("/api/compare", json={"scenario_file": "nope"})
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "scenario_file"


def test_fork_under_the_other_variant_keeps_the_position(client: FlaskClient) -> None:
    sid = scripted(client)   # unpatched, as the scenario says
    fork = client.post(f"/api/sessions/{sid}/fork", json={"seq": 18, "xen": "patched"})
    assert fork.status_code == 201
    snap = fork.get_json()["snapshot"]
    assert (snap["xen"], snap["seq"], snap["cursor"]) == ("patched", 18, 18)
    other = scripted(client, xen="patched")
    assert without_links(snap) == without_links(
        client.get(f"/api/sessions/{other}?seq=18").get_json())
    bad = client.post(f"/api/sessions/{sid}/fork", json={"seq": 1, "xen": "4.16"})
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "xen"
