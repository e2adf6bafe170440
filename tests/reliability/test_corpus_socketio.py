"""13.1 over Socket.IO: every event with an ack id gets an ack in the documented shape,
the connection stays up, and a refused event changes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_socketio import SocketIOTestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_helpers import SCRIPTED, create, database_digest, live_state
from reliability_strategies import any_text, steps, values

from webapp.extensions import socketio

EXAMPLES = 2000


@pytest.fixture
def sio(app: Flask) -> Iterator[SocketIOTestClient]:
    client = socketio.test_client(app, flask_test_client=app.test_client())
    yield client
    if client.is_connected():
        client.disconnect()


def assert_clean_ack(ack: Any) -> None:
    assert isinstance(ack, dict) and isinstance(ack.get("ok"), bool), ack
    if not ack["ok"]:
        error = ack["error"]
        assert {"field", "message"} <= set(error), ack
        assert error["field"] is None or isinstance(error["field"], str)
        assert isinstance(error["message"], str) and error["message"]
        assert "Traceback" not in error["message"]


def raw_emit(sio: SocketIOTestClient, packet: str | bytes) -> Any:
    """Hand a raw Socket.IO packet to the server as Engine.IO would; the ack it sent."""
    sio.acks = None
    sio.socketio.server._handle_eio_message(sio.eio_sid, packet)
    ack, sio.acks = sio.acks, None
    return None if ack is None else ack["args"][0]


def payloads(session_id: str) -> st.SearchStrategy[tuple[str, Any]]:
    sid = st.sampled_from([session_id, "nope", ""]) | any_text | values
    return st.one_of(
        st.tuples(st.sampled_from(["join", "leave", "step", "run", "nonsense"]), values),
        st.tuples(st.just("step"), st.fixed_dictionaries({"session": sid, "step": steps})),
        st.tuples(st.just("run"), st.fixed_dictionaries({"session": sid, "count": values})),
        st.tuples(st.just("join"), st.fixed_dictionaries({"session": sid, "since": values})),
        st.tuples(st.just("leave"), st.fixed_dictionaries({"session": sid})),
    )


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_generated_events_are_acked_cleanly(
    app: Flask, client: FlaskClient, sio: SocketIOTestClient, data: st.DataObject
) -> None:
    if "_corpus_session" not in app.config:
        app.config["_corpus_session"] = create(client, SCRIPTED)
    session_id = app.config["_corpus_session"]
    event, payload = data.draw(payloads(session_id))
    before = database_digest(app, session_id)
    snapshot = live_state(app, session_id)
    ack = sio.emit(event, payload, callback=True)
    sio.get_received()
    assert_clean_ack(ack)
    assert sio.is_connected()
    if not ack["ok"]:
        assert database_digest(app, session_id) == before, (event, payload)
        assert live_state(app, session_id) == snapshot, (event, payload)


def deep(n: int) -> str:
    return "[" * n + "]" * n


def step_packet(ack_id: int, step_json: str, session_id: str = "s") -> str:
    return f'2{ack_id}["step",{{"session":{json.dumps(session_id)},"step":{step_json}}}]'


RAW_CASES: list[tuple[str, str, str | None]] = [
    # (name, packet, the field the error must name or None for any)
    ("deep-3000", '21["step",' + deep(3000) + "]", "payload"),
    ("deep-100000", '21["step",' + deep(100_000) + "]", "payload"),
    ("int-4500-digits", step_packet(1, '{"write":{"pfn":' + "9" * 4500 + "}}"), "payload"),
    ("int-4000-digits", step_packet(1, '{"write":{"pfn":' + "9" * 4000 + "}}"), "payload"),
    ("int-in-session", '21["join",{"session":' + "7" * 4100 + "}]", "payload"),
    ("nan", step_packet(1, '{"write":{"pfn":NaN}}'), "payload"),
    ("binary-without-attachments", '51-1["step",{"_placeholder":true,"num":0}]', "payload"),
    ("not-a-list", '21{"a":1}', None),
    ("name-not-text", "21[1,2]", "event"),
    ("empty-list", "21[]", "event"),
    ("unknown-event", '21["frobnicate",{}]', "event"),
    ("two-payloads", '21["step",{},{}]', "payload"),
    ("lone-surrogate", step_packet(1, '{"write":{"pfn":9},"note":"\\ud800"}'), "step.note"),
    ("huge-note", step_packet(1, '{"write":{"pfn":9},"note":"' + "x" * 1_000_000 + '"}'),
     "step.note"),
    ("many-keys", step_packet(1, json.dumps({str(i): i for i in range(100_000)})), None),
    ("too-large", step_packet(1, '{"note":"' + "x" * (3 << 20) + '"}'), None),
]


@pytest.mark.parametrize(("packet", "field"), [c[1:] for c in RAW_CASES],
                         ids=[c[0] for c in RAW_CASES])
def test_raw_packets_are_acked(app: Flask, client: FlaskClient, sio: SocketIOTestClient,
                               packet: str, field: str | None) -> None:
    session_id = create(client, SCRIPTED)
    packet = packet.replace('"session":"s"', f'"session":"{session_id}"')
    before = database_digest(app)
    ack = raw_emit(sio, packet)
    assert ack is not None, packet[:80]
    assert_clean_ack(ack)
    assert ack["ok"] is False
    if field is not None:
        assert ack["error"]["field"] == field, ack
    assert sio.is_connected()
    assert database_digest(app) == before
    # The connection still works afterwards.
    assert sio.emit("join", {"session": session_id}, callback=True)["ok"] is True


def test_stray_binary_attachment_is_ignored(app: Flask, client: FlaskClient,
                                            sio: SocketIOTestClient) -> None:
    session_id = create(client, SCRIPTED)
    assert raw_emit(sio, '51-1["step",{"_placeholder":true,"num":0}]')["ok"] is False
    raw_emit(sio, b"\x00\x01attachment")  # arrives after its event was refused
    assert sio.emit("join", {"session": session_id}, callback=True)["ok"] is True
