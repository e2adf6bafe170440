"""The compact event log (engine/eventlog.py): reads back exactly what was appended,
whether the events sit in compressed blocks or in the tail, and costs far less memory than
the events as Python objects; a pickled session leaves its copies of the past behind.
No timing."""

from __future__ import annotations

import json
import pickle

import pytest

from engine.eventlog import BLOCK, EventLog
from engine.session import Session


def events(n: int) -> list[dict]:
    return [{"seq": i + 1, "op": "write", "step": {"write": {"pfn": i % 7}},
             "deltas": [{"kind": "frame", "mfn": i, "old": [i, None], "new": "x" * (i % 3)}]}
            for i in range(n)]


@pytest.mark.parametrize("n", [0, 1, BLOCK, 2 * BLOCK - 1, 2 * BLOCK, 5 * BLOCK + 17])
def test_reads_back_what_was_appended(n: int) -> None:
    expected = events(n)
    log = EventLog(json.loads(json.dumps(expected)))  # its own copies
    assert len(log) == n and list(log) == expected
    for i in (0, n // 3, n - 1, -1, -n):
        if -n <= i < n:
            assert log[i] == expected[i]
    for start, stop in [(0, n), (1, n - 1), (BLOCK - 1, BLOCK + 2), (n - 3, n + 5), (7, 3)]:
        assert list(log[start:stop]) == expected[start:stop]
        assert list(log[start:][: stop - start]) == expected[start:][: stop - start]
    with pytest.raises(IndexError):
        log[n]


def test_blocks_are_compressed_and_the_latest_events_stay_as_they_are() -> None:
    log = EventLog()
    for event in events(4 * BLOCK):
        log.append(event)
        event["script_step"] = event["seq"]  # as run_next numbers an event just logged
    assert len(log._blocks) == 3 and len(log._tail) == BLOCK
    assert all(e["script_step"] == e["seq"] for e in log)
    packed = log.nbytes() - 2_000 * BLOCK  # the tail is estimated at ~2 KB an event
    assert 0 < packed < 100 * 3 * BLOCK


def test_prefix_shares_blocks_and_is_independent() -> None:
    expected = events(3 * BLOCK + 5)
    log = EventLog(expected)
    past = log.prefix(2 * BLOCK + 3)
    assert list(past) == expected[: 2 * BLOCK + 3]
    assert past._blocks[0] is log._blocks[0]
    past.append({"seq": -1})
    assert len(log) == 3 * BLOCK + 5 and list(log) == expected


def test_pickles() -> None:
    log = EventLog(events(3 * BLOCK))
    again = pickle.loads(pickle.dumps(log))
    assert list(again) == list(log) and again.nbytes() == log.nbytes()


def test_a_long_session_reads_forks_and_looks_back_across_blocks() -> None:
    session = Session.create(None)
    for i in range(3 * BLOCK):
        session.apply({"write": {"pfn": 9 + i % 4}})
    assert session.seq == 3 * BLOCK and len(session.log._blocks) == 2
    assert [e["seq"] for e in session.events(since=BLOCK - 2)[:4]] == [
        BLOCK - 1, BLOCK, BLOCK + 1, BLOCK + 2]
    fork = session.fork(BLOCK + 10)
    assert list(fork.events()) == list(session.events()[: BLOCK + 10])
    assert session.at(BLOCK + 1).snapshot() == fork.at(BLOCK + 1).snapshot()


def test_a_pickled_session_leaves_its_copies_of_the_past_behind() -> None:
    session = Session.create(None)
    for pfn in (9, 10, 11):
        session.apply({"write": {"pfn": pfn}})
    past = session.at(1).snapshot()
    assert session.kept_worlds()
    again = pickle.loads(pickle.dumps(session))
    assert again.kept_worlds() == [] and session.kept_worlds()
    assert again.snapshot() == session.snapshot() and again.at(1).snapshot() == past
