"""Property-based tests: random step sequences over a 64-page linear guest.

After every step: the audit (reference section 9) holds; every state delta names a Xen
function and reversing the deltas gives back the pre-state; a rejected step
(InvalidInput) changes nothing; a hypercall that fails changes no general or type count,
no owner, pin, P2M, M2P, base pointer or page contents. The exceptions Xen documents:
a failed validation may change a page's type field (validate_page() resetting type_info,
or the de-validated state left by put_old_guest_table()), so types are not compared;
-ERESTART leaves a page PGT_partial (a light and a type reference); and a failing step
may tear down a page that was already partial (its references go), so the count check is
skipped when a partial page existed before the step.
"""

from __future__ import annotations

import numpy as np
from engine_helpers import (
    DOM0_MFN,
    FREE_MFN,
    NOT_RAM_MFN,
    UPPER,
    assert_counts_equal,
    assert_deltas_name_functions,
    assert_states_equal,
    assert_time_travel,
    capture,
    counts,
    scenario,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import InvalidInput
from engine.pte import adjust_guest
from engine.session import Session

ERESTART = -85

FLAGS = st.lists(st.sampled_from(["rw", "user", "accessed", "dirty", "nx", "global", "pse"]),
                 unique=True, max_size=4).map(lambda f: ["present", *f])
TARGET = st.one_of(
    st.builds(lambda p: {"pfn": p}, st.integers(0, 20)),
    st.builds(lambda p: {"pfn": p}, st.integers(0, 20)),
    st.builds(lambda m: {"mfn": m}, st.sampled_from([DOM0_MFN, FREE_MFN, NOT_RAM_MFN])),
)
ENTRY = st.one_of(st.just(0), st.builds(lambda t, f: {**t, "flags": f}, TARGET, FLAGS))
INDEX = st.one_of(st.integers(0, 20), st.sampled_from([256, 271, 511]))

MMU_UPDATE = st.builds(lambda t, i, e: {"mmu_update": {"pfn": t, "index": i, "entry": e}},
                       st.integers(0, 10), INDEX, ENTRY)
# Drop the kernel's RW mapping of a page so it can become a page table.
REMAP_RO = st.builds(lambda p: {"mmu_update": {"pfn": 3, "index": p,
                                               "entry": {"pfn": p, "flags": ["present"]}}},
                     st.integers(4, 20))
# Fill a would-be table with an upper-level-looking entry.
FILL = st.builds(lambda t, i, p, f: {"mmu_update": {"pfn": t, "index": i,
                                                    "entry": {"pfn": p, "flags": f}}},
                 st.integers(4, 10), st.integers(0, 3), st.integers(0, 20),
                 st.sampled_from([UPPER, ["present"], ["present", "rw"]]))
MMUEXT = st.builds(lambda c, p: {"mmuext": {"cmd": c, "pfn": p}},
                   st.sampled_from(["pin_l1", "pin_l2", "pin_l3", "pin_l4", "unpin",
                                    "new_baseptr"]),
                   st.integers(0, 10))
PREEMPT = st.builds(lambda c, p, n: {"mmuext": {"cmd": c, "pfn": p, "preempt_after": n}},
                    st.sampled_from(["pin_l2", "pin_l3", "pin_l4"]), st.integers(0, 10),
                    st.integers(1, 3))
# hypercall_preempt_check() in any L2/L3 of the tree a pin or new_baseptr validates.
NESTED_PREEMPT = st.builds(
    lambda c, p, q, n: {"mmuext": {"cmd": c, "pfn": p, "preempt": {"pfn": q, "after": n}}},
    st.sampled_from(["pin_l2", "pin_l3", "pin_l4", "new_baseptr"]), st.integers(4, 10),
    st.integers(4, 10), st.integers(1, 3))
WRITE = st.builds(lambda p: {"write": {"pfn": p}}, st.integers(0, 20))
MEMORY = st.builds(lambda c, p: {"memory": {"cmd": c, "pfn": p}},
                   st.sampled_from(["decrease_reservation", "populate_physmap"]),
                   st.integers(0, 20))
INVALID = st.sampled_from([
    {"mmu_update": {"pfn": 3, "index": 600, "entry": 0}},
    {"mmuext": {"cmd": "pin_l9", "pfn": 2}},
    {"mmuext": {"cmd": "pin_l2", "pfn": 64}},
    {"write": {"pfn": 99}},
    {"mmuext": {"cmd": "pin_l1", "pfn": 3, "preempt_after": 1}},
    {"memory": {"cmd": "populate_physmap", "mfn": 5}},
    {"migrate": "round"},
])
STEP = st.one_of(MMU_UPDATE, REMAP_RO, REMAP_RO, FILL, FILL, MMUEXT, MMUEXT, PREEMPT, WRITE,
                 MEMORY, INVALID)

SETTINGS = settings(max_examples=120, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


def _same_but_adjusted(before: np.ndarray, after: np.ndarray) -> bool:
    """Equal, except entries a failed validation accepted before the failing one: Xen
    keeps them as adjust_guest_lNe() stored them (promote_l1_table() only puts their
    references; promote_l2/l3/l4_table() un-adjust nothing for a 64-bit guest)."""
    for i in np.flatnonzero(before != after).tolist():
        a, b = int(before[i]), int(after[i])
        if b not in {adjust_guest(level, a) for level in (1, 2, 3, 4)}:
            return False
    return True


def _xen_leak(world, problem: str) -> bool:
    """The audit's report of a reference Xen 4.15 itself leaves with no holder (a failure
    after a resumed nested validation, see MM._failed_at()); every other line fails."""
    head = problem.split(": ")
    return ("with no holder" in problem and head[1].startswith("mfn ")
            and int(head[1][4:]) in world.guest.leaked)


def _any_partial(world) -> bool:
    return any(bool(h.partial.any()) for h in world.hosts.values())


def _run(steps: list, xen: str, layout: str = "linear") -> None:
    s = Session.create(scenario(layout=layout, xen=xen))
    w = s.world
    for step in steps:
        pre = capture(w)
        pre_counts = counts(w)
        partial_before = _any_partial(w)
        seq = s.seq
        try:
            ev = s.apply(step)
        except InvalidInput:
            assert s.seq == seq
            assert_states_equal(pre, capture(w))
            continue
        problems = [p for p in w.audit() if not _xen_leak(w, p)]
        assert problems == [], f"audit after {step} (rc {ev['rc']}): {problems}"
        post = capture(w)
        assert_deltas_name_functions(ev["deltas"])
        assert_time_travel(pre, post, ev["deltas"])
        rc = ev["rc"]
        if rc == ERESTART:
            mfn = w.guest.pfn_to_mfn(step["mmuext"]["pfn"])
            h = w.guest.host
            assert bool(h.partial[mfn]) and int(h.type_count[mfn]) == 1, step
        elif rc != 0 and not partial_before:
            assert_counts_equal(pre_counts, counts(w), step)
            assert_states_equal(pre, post, fields=("owner", "allocated", "pinned", "m2p"))
            for host in ("source", "destination"):
                for mfn in set(pre[host]["contents"]) | set(post[host]["contents"]):
                    a = pre[host]["contents"].get(mfn, np.zeros(512, np.uint64))
                    b = post[host]["contents"].get(mfn, np.zeros(512, np.uint64))
                    assert _same_but_adjusted(a, b), f"{step}: contents of mfn {mfn} changed"


@SETTINGS
@given(steps=st.lists(STEP, min_size=1, max_size=40))
def test_random_steps_keep_every_invariant_patched(steps):
    """Audit, deltas, failed-step and InvalidInput properties under patched Xen."""
    _run(steps, "patched")


@SETTINGS
@given(steps=st.lists(STEP, min_size=1, max_size=40))
def test_random_steps_keep_every_invariant_unpatched(steps):
    """The same under unpatched Xen (the variants differ only in getpageframeinfo3)."""
    _run(steps, "unpatched")


# A vocabulary biased towards building and tearing down small trees (more validations,
# failures at slot > 0, cascades and linear entries).
TREE_STEP = st.one_of(
    REMAP_RO, FILL, FILL, FILL,
    st.builds(lambda t, i, p: {"mmu_update": {"pfn": t, "index": i,
                                              "entry": {"pfn": p, "flags": ["present"]}}},
              st.integers(4, 10), st.integers(0, 3), st.integers(4, 10)),
    st.builds(lambda t, i: {"mmu_update": {"pfn": t, "index": i,
                                           "entry": {"mfn": DOM0_MFN, "flags": UPPER}}},
              st.integers(4, 10), st.integers(1, 3)),
    MMUEXT, MMUEXT, PREEMPT, WRITE, NESTED_PREEMPT, NESTED_PREEMPT,
)


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(steps=st.lists(TREE_STEP, min_size=5, max_size=40))
def test_random_trees_keep_every_invariant(steps):
    """Trees over PFNs 4..10 pinned, unpinned, preempted and re-based."""
    _run([{"mmu_update": {"pfn": 3, "index": p, "entry": {"pfn": p, "flags": ["present"]}}}
          for p in range(4, 11)] + steps, "patched")


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(steps=st.lists(TREE_STEP, min_size=5, max_size=40))
def test_random_trees_on_a_bare_guest_keep_every_invariant(steps):
    """A bare guest (no tables, no base pointer): tables built from scratch."""
    _run(steps, "unpatched", layout="bare")


def _events(steps: list, xen: str) -> tuple[Session, list]:
    s = Session.create(scenario(xen=xen))
    out = []
    for step in steps:
        try:
            out.append(s.apply(step))
        except InvalidInput:
            pass
    return s, out


def _view(snapshot: dict) -> dict:
    return {k: v for k, v in snapshot.items() if k not in ("script", "cursor", "seq")}


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(steps=st.lists(STEP, min_size=1, max_size=30))
def test_sessions_are_deterministic_and_export_replays(steps):
    """Session: the same steps give the same events; export_yaml() replays the session
    (scenarios.md: an exported scenario runs unchanged) to the same state and rcs."""
    s1, ev1 = _events(steps, "unpatched")
    s2, ev2 = _events(steps, "unpatched")
    assert ev1 == ev2
    replay = Session.create(s1.export_yaml())
    ev3 = replay.run_next(None)
    assert [e["rc"] for e in ev3] == [e["rc"] for e in ev1]
    assert [e["deltas"] for e in ev3] == [e["deltas"] for e in ev1]
    assert _view(replay.snapshot()) == _view(s1.snapshot())
