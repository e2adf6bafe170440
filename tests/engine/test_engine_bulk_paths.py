"""The bulk paths against the one-by-one paths they stand for, at small sizes.

- promote_l2_table() of an L2 over fresh L1s (MM._promote_l2_bulk()): every state must be
  the one entry-by-entry validation reaches; a table that fails must fail with the same
  rc, message, failure and deltas, since the bulk path then changes nothing and Xen's
  order runs.
- demote_l2_table() of an L2 whose L1s all lose their last type reference
  (MM._demote_l2_bulk()): the same state as entry by entry, and declined where a put
  would free a frame or an L1 keeps another reference.
- The first round of a migration a prefix of batches at a time
  (Migration._send_at_once()): the same events, deltas included, and the same state as
  batch by batch.

Default guest here: 2048 pages, linear: PFN 0 = L4, 1 = L3, 2 = L2, 3..6 = L1s; L1 3 + j
maps PFN 512 j + i at index i. Clearing L3[0] de-validates the L2 and its four L1s;
restoring it validates them again, the bulk path's case.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from engine_helpers import (
    DOM0_MFN,
    NOT_RAM_MFN,
    RO,
    RW,
    UPPER,
    assert_states_equal,
    assert_time_travel,
    capture,
    forward,
    scenario,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine.migration as migration
import engine.mm as mm
from engine.session import Session

PAGES = 2048
HOSTS = {"source": {"frames": 4096}, "destination": {"frames": 4096}}
CLEAR = {"mmu_update": {"pfn": 1, "index": 0, "entry": 0}}
RESTORE = {"mmu_update": {"pfn": 1, "index": 0, "entry": {"pfn": 2, "flags": UPPER}}}


def put(pfn: int, index: int, entry: Any) -> dict[str, Any]:
    return {"mmu_update": {"pfn": pfn, "index": index, "entry": entry}}


def run(steps: list[dict[str, Any]], pages: int = PAGES, xen: str = "patched",
        hosts: dict[str, Any] | None = None) -> tuple[Session, list[dict[str, Any]], list]:
    s = Session.create(scenario("linear", pages, xen, **(hosts or HOSTS)))
    events, states = [], []
    for step in steps:
        pre = capture(s.world)
        event = s.apply(step)
        post = capture(s.world)
        assert s.world.audit() == [], step
        # Applying the deltas backward gives the pre-state (the guest's P2M is another
        # domain's after a migration), forward the post-state.
        if "migrate" not in step:
            assert_time_travel(pre, post, event["deltas"])
        ahead = forward(pre, event["deltas"])
        for host in ("source", "destination"):
            for f in ("owner", "count", "type", "type_count", "validated", "m2p"):
                assert np.array_equal(ahead[host][f], post[host][f]), (step, host, f)
        events.append(json.loads(json.dumps(event)))
        states.append(post)
    return s, events, states


@pytest.fixture
def l2_bulk_spy(monkeypatch):
    """Every answer of MM._promote_l2_bulk() (True: done in bulk) while it is enabled."""
    answers: list[bool] = []
    real = mm.MM._promote_l2_bulk

    def spy(self, mfn, entries):
        done = real(self, mfn, entries)
        if mm.BULK_L2_TABLES < NEVER:
            answers.append(done)
        return done

    monkeypatch.setattr(mm.MM, "_promote_l2_bulk", spy)
    return answers


NEVER = 10**9


def both_ways(monkeypatch, steps, **kw):
    """The steps with the L2 bulk path, then without it."""
    bulk = run(steps, **kw)
    default = mm.BULK_L2_TABLES
    monkeypatch.setattr(mm, "BULK_L2_TABLES", NEVER)
    single = run(steps, **kw)
    monkeypatch.setattr(mm, "BULK_L2_TABLES", default)
    return bulk, single


def assert_same(bulk, single, deltas_too: bool) -> None:
    for n, (eb, es, sb, ss) in enumerate(zip(bulk[1], single[1], bulk[2], single[2],
                                             strict=True)):
        for key in ("rc", "errno", "result", "message", "failure"):
            assert eb[key] == es[key], (n, key, eb[key], es[key])
        if deltas_too or eb["rc"] != 0:
            assert eb["deltas"] == es["deltas"], n
        assert_states_equal(sb, ss)
        assert np.array_equal(sb["guest"]["dirty"], ss["guest"]["dirty"]), n  # log-dirty


# Modifications of the de-validated subtree before it is validated again, with whether
# the bulk path takes it.
CASES = {
    "untouched": ([], True, 0),
    "an L1 maps the L2 read-only": ([put(5, 3, {"pfn": 2, "flags": RO})], True, 0),
    "an L1 maps an earlier L1 read-only": ([put(6, 3, {"pfn": 4, "flags": RO})], True, 0),
    "an L1 maps a later L1 writable": ([put(4, 0, {"pfn": 6, "flags": RW})], False, "EINVAL"),
    "an L1 maps an earlier L1 writable": ([put(6, 0, {"pfn": 4, "flags": RW})], False,
                                          "EBUSY"),
    "an L1 maps the L2 writable": ([put(5, 3, {"pfn": 2, "flags": RW})], False, "EBUSY"),
    "an L1 maps the L4 writable": ([put(5, 3, {"pfn": 0, "flags": RW})], False, "EBUSY"),
    "an L1 entry with PAT": ([put(5, 7, {"pfn": 1000, "flags": ["present", "pse"]})], False,
                             "EINVAL"),
    "an L1 maps dom0's frame": ([put(5, 7, {"mfn": DOM0_MFN, "flags": RO})], False, "EBUSY"),
    "an L1 maps not-RAM": ([put(5, 7, {"mfn": NOT_RAM_MFN, "flags": RO})], False, "EPERM"),
    "the L2 names an L1 twice": ([put(2, 200, {"pfn": 4, "flags": UPPER})], False, 0),
    "the L2 names itself": ([put(2, 200, {"pfn": 2, "flags": RO})], False, 0),
    "an L2 entry with PSE": ([put(2, 3, {"pfn": 6, "flags": [*UPPER, "pse"]})], False,
                             "EINVAL"),
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("xen", ["patched", "unpatched"])
def test_l2_bulk_validation_is_entry_by_entry(monkeypatch, l2_bulk_spy, name, xen):
    mods, takes_bulk, errno = CASES[name]
    steps = [CLEAR, *mods, RESTORE, {"migrate": "all"}]
    bulk, single = both_ways(monkeypatch, steps, xen=xen)
    assert_same(bulk, single, deltas_too=False)
    restored = bulk[1][len(mods) + 1]
    assert restored["errno"] == (errno or None)
    # The restore's validation of the L2 took the bulk path, or declined it.
    assert l2_bulk_spy[0] is takes_bulk
    if takes_bulk:
        assert len(restored["deltas"]) < 20


def test_a_preempted_l2_goes_entry_by_entry(monkeypatch, l2_bulk_spy):
    """An L2 with a preemption point, or one continued from PGT_partial, is not done in
    bulk: hypercall_preempt_check() is asked at its slots."""
    steps = [CLEAR, {"mmuext": {"cmd": "pin_l2", "pfn": 2, "preempt_after": 2}},
             {"mmuext": {"cmd": "pin_l2", "pfn": 2}}, RESTORE]
    bulk, single = both_ways(monkeypatch, steps)
    assert_same(bulk, single, deltas_too=False)
    assert [e["errno"] for e in bulk[1]] == [None, "ERESTART", None, None]
    assert True not in l2_bulk_spy


def test_the_destination_tree_is_validated_in_bulk(monkeypatch, l2_bulk_spy):
    """arch_set_info_guest() on the destination validates the migrated tree: its L2 (over
    four L1s) in bulk, ending where entry by entry does."""
    bulk, single = both_ways(monkeypatch, [{"migrate": "all"}])
    assert_same(bulk, single, deltas_too=False)
    assert l2_bulk_spy == [True]
    assert bulk[1][0]["rc"] == 0


def test_log_dirty_marks_every_l1_validated_in_bulk(monkeypatch, l2_bulk_spy):
    """validate_page() dirties each L1 it validates while log-dirty mode is on."""
    steps = [{"migrate": "begin"}, CLEAR, RESTORE, {"migrate": "round"}]
    bulk, single = both_ways(monkeypatch, steps)
    assert_same(bulk, single, deltas_too=False)
    assert l2_bulk_spy == [True]
    sent = [d for d in bulk[1][3]["deltas"] if d.get("event") == "batch"]
    assert sent and {1, 2, 3, 4, 5, 6} <= set(_unpacked(sent[0]["pfns"]))


def _unpacked(value: Any) -> list[int]:
    from engine.packing import unpack

    return unpack(value)


ENTRY_TARGETS = st.one_of(
    st.builds(lambda p: {"pfn": p}, st.integers(0, PAGES - 1)),
    st.builds(lambda p: {"pfn": p}, st.integers(0, 6)),  # the tables themselves
    st.builds(lambda m: {"mfn": m}, st.sampled_from([DOM0_MFN, NOT_RAM_MFN])),
)
FLAGS = st.sampled_from([RO, RW, UPPER, ["present", "pse"], ["present", "rw", "pse"]])
MOD = st.one_of(
    st.builds(lambda t, i, e, f: put(t, i, {**e, "flags": f}), st.integers(3, 6),
              st.integers(0, 511), ENTRY_TARGETS, FLAGS),
    st.builds(lambda t, i: put(t, i, 0), st.integers(2, 6), st.integers(0, 511)),
    st.builds(lambda i, e, f: put(2, i, {**e, "flags": f}), st.integers(0, 8),
              ENTRY_TARGETS, FLAGS),
)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(MOD, min_size=1, max_size=4))
def test_random_subtrees_validate_alike(monkeypatch, mods):
    bulk, single = both_ways(monkeypatch, [CLEAR, *mods, RESTORE])
    assert_same(bulk, single, deltas_too=False)


# -- de-validation: demote_l2_table() over L1s that lose their last type reference ---------
@pytest.fixture
def demote_spy(monkeypatch):
    """How many L1s each MM._demote_l1s_at_once() call took, while it is enabled."""
    runs: list[int] = []
    real = mm.MM._demote_l1s_at_once

    def spy(self, l1s, targets, rw):
        if mm.BULK_L2_TABLES < NEVER:
            runs.append(len(l1s))
        return real(self, l1s, targets, rw)

    monkeypatch.setattr(mm.MM, "_demote_l1s_at_once", spy)
    return runs


NEW_BASE = [put(6, 511, 0), {"mmuext": {"cmd": "new_baseptr", "pfn": PAGES - 1}}]
DEMOTIONS = {
    # name: (steps, the L1s de-validated at once, per run)
    "an L3 entry cleared": ([CLEAR], [4]),
    "the L4 unpinned": ([*NEW_BASE, {"mmuext": {"cmd": "unpin", "pfn": 0}}], [4]),
    "while log-dirty": ([{"migrate": "begin"}, CLEAR], [4]),
    # Its own pin keeps one L1 validated: that L1 only loses a type reference.
    "an L1 pinned": ([{"mmuext": {"cmd": "pin_l1", "pfn": 4}}, CLEAR], []),
    "an L1 named twice": ([put(2, 200, {"pfn": 4, "flags": UPPER}), CLEAR], []),
    # A ballooned page still mapped by L1 5: its put is the last reference and frees it,
    # so L1 5 goes entry by entry between L1 6 (alone: one by one too) and L1s 4, 3.
    "a mapped page ballooned": ([{"memory": {"cmd": "decrease_reservation", "pfn": 1500}},
                                 CLEAR], [2]),
}


@pytest.mark.parametrize("name", list(DEMOTIONS))
def test_l2_bulk_devalidation_is_entry_by_entry(monkeypatch, demote_spy, name):
    steps, runs = DEMOTIONS[name]
    bulk, single = both_ways(monkeypatch, steps)
    assert_same(bulk, single, deltas_too=False)
    assert all(e["rc"] == 0 for e in bulk[1])
    assert demote_spy == runs


# -- the first round a prefix of batches at a time -------------------------------------------
@pytest.fixture
def at_once_spy(monkeypatch):
    """How many PFNs each call of Migration._send_at_once() sent."""
    sent: list[int] = []
    real = migration.Migration._send_at_once

    def spy(self, pfns, stats):
        sent.append(real(self, pfns, stats))
        return sent[-1]

    monkeypatch.setattr(migration.Migration, "_send_at_once", spy)
    return sent


def rounds_both_ways(monkeypatch, steps, **kw):
    at_once = run(steps, **kw)
    monkeypatch.setattr(migration, "ROUND_AT_ONCE", False)
    by_batch = run(steps, **kw)
    monkeypatch.setattr(migration, "ROUND_AT_ONCE", True)
    return at_once, by_batch


BALLOON_1500 = [put(5, 476, 0), {"memory": {"cmd": "decrease_reservation", "pfn": 1500}}]
MIGRATIONS = {
    # name: (steps before `migrate all`, hosts, PFNs the first round sends at once)
    "clean": ([], None, 3000),
    "shuffled allocators": ([], {"source": {"frames": 5000, "alloc": {"shuffle": 5}},
                                 "destination": {"frames": 5000, "alloc": {"shuffle": 3}}},
                            3000),
    "just enough frames": ([], {"destination": {"frames": 3000 + 128}}, 3000),
    # A ballooned PFN in the second batch: the first goes at once, the rest one by one.
    "a ballooned PFN in batch 1": (BALLOON_1500, None, 1024),
    # PFN 2500 named by no table is populated alone in the third batch's own call.
    "a PFN no table names": ([put(7, 452, 0)], None, 2048),
    # An L1 of the first batch names a freed frame: normalise_pagetable() defers it.
    "a stale entry": ([{"memory": {"cmd": "decrease_reservation", "pfn": 2500}}], None, 0),
    "a de-validated L1": ([put(2, 5, 0)], None, 3000),
    "an L1 mapping a table": ([put(4, 3, {"pfn": 2, "flags": RO})], None, 3000),
}


@pytest.mark.parametrize("name", list(MIGRATIONS))
@pytest.mark.parametrize("xen", ["patched", "unpatched"])
def test_a_round_at_once_is_batch_by_batch(monkeypatch, at_once_spy, name, xen):
    before, hosts, sent = MIGRATIONS[name]
    hosts = {k: {"frames": 4096, **v}
             for k, v in {"source": {}, "destination": {}, **(hosts or {})}.items()}
    steps = [*before, {"migrate": "all"}]
    at_once, by_batch = rounds_both_ways(monkeypatch, steps, pages=3000, xen=xen,
                                         hosts=hosts)
    assert at_once[1][-1]["rc"] == 0
    assert at_once[1] == by_batch[1]  # every event, deltas and their order included
    for a, b in zip(at_once[2], by_batch[2], strict=True):
        assert_states_equal(a, b)
    assert at_once_spy[0] == sent


def test_live_rounds_after_a_first_round_at_once(monkeypatch, at_once_spy):
    """Only the first round goes at once; later rounds (dirty pages) batch by batch."""
    steps = [{"migrate": "begin"}, put(4, 9, {"pfn": 9, "flags": RO}), {"write": {"pfn": 2500}},
             {"migrate": "round"}, {"memory": {"cmd": "decrease_reservation", "pfn": 2600}},
             {"migrate": "suspend"}, {"migrate": "restore"}]
    hosts = {"source": {"frames": 4096}, "destination": {"frames": 4096}}
    at_once, by_batch = rounds_both_ways(monkeypatch, steps, pages=3000, hosts=hosts)
    assert at_once[1] == by_batch[1]
    for a, b in zip(at_once[2], by_batch[2], strict=True):
        assert_states_equal(a, b)
    assert at_once_spy[0] == 3000 and not any(at_once_spy[1:])


GUEST_MOD = st.one_of(
    # Unmap, remap read-only or point elsewhere an entry of one of the six L1s (PFNs 3..8).
    st.builds(lambda t, i: [put(t, i, 0)], st.integers(3, 8), st.integers(0, 511)),
    st.builds(lambda t, i, p, f: [put(t, i, {"pfn": p, "flags": f})], st.integers(3, 8),
              st.integers(0, 511), st.integers(0, 2999), st.sampled_from([RO, RW])),
    # Balloon a page out, unmapped first (the round stops going at once at its batch) or
    # still mapped (a stale entry: its L1 is deferred).
    st.builds(lambda p: [put(3 + p // 512, p % 512, 0),
                         {"memory": {"cmd": "decrease_reservation", "pfn": p}}],
              st.integers(9, 2999)),
    st.builds(lambda p: [{"memory": {"cmd": "decrease_reservation", "pfn": p}}],
              st.integers(9, 2999)),
    st.builds(lambda p: [{"write": {"pfn": p}}], st.integers(0, 2999)),
)


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(GUEST_MOD, max_size=5), st.sampled_from(["patched", "unpatched"]))
def test_random_guests_migrate_alike_at_once_and_batch_by_batch(monkeypatch, mods, xen):
    hosts = {"source": {"frames": 4096}, "destination": {"frames": 4096}}
    steps = [*(step for mod in mods for step in mod), {"migrate": "all"}]
    at_once, by_batch = rounds_both_ways(monkeypatch, steps, pages=3000, xen=xen,
                                         hosts=hosts)
    assert at_once[1] == by_batch[1]
    for a, b in zip(at_once[2], by_batch[2], strict=True):
        assert_states_equal(a, b)
