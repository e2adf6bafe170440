"""A failed step's `message` and `failure` reach clients over REST and Socket.IO; the
table of Xen source locations is served."""

from __future__ import annotations

from collections.abc import Callable

from flask.testing import FlaskClient
from flask_socketio import SocketIOTestClient
from server_helpers import received_events

PIN_L4 = {"mmuext": {"cmd": "pin_l4", "pfn": 0}}
WHY = ("pin_l4 PFN 0: -EINVAL: do_mmuext_op(PFN 0) mfn already pinned: PFN 0 is a pinned L4 "
       "(2 type references)")


def test_rest_and_socketio_carry_the_message(
    connect: Callable[[], SocketIOTestClient], client: FlaskClient, session_id: str
) -> None:
    sio = connect()
    assert sio.emit("join", {"session": session_id}, callback=True)["ok"] is True
    sio.get_received()
    event = client.post(f"/api/sessions/{session_id}/steps", json=PIN_L4).get_json()["event"]
    assert event["message"] == WHY
    assert event["failure"]["fn"] == "do_mmuext_op" and event["failure"]["target_pfn"] == 0
    pushed = received_events(sio)
    assert [e["message"] for e in pushed] == [WHY]
    again = sio.emit("step", {"session": session_id, "step": PIN_L4}, callback=True)
    assert again["event"]["message"] == WHY and again["event"]["failure"] == event["failure"]


def test_xen_functions_are_served(client: FlaskClient) -> None:
    table = client.get("/api/xen-functions").get_json()
    assert table["tags"] == {"4.15": "RELEASE-4.15.0", "4.16": "RELEASE-4.16.0"}
    where = table["functions"]["get_page_from_l1e"]["4.16"]
    assert where["file"] == "xen/arch/x86/mm.c" and where["line"] > 0
