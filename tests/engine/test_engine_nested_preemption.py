"""Nested preemption as Xen 4.15 does it (xen/arch/x86/mm.c): promote_l2_table() and
promote_l3_table() ask hypercall_preempt_check() at every slot i > nr_validated_ptes,
wherever they sit in the tree; a table preempted after progress returns -ERESTART (kept
PGT_partial with a light reference and its one type reference); every parent records
PTF_partial_set on its slot (nr_validated_ptes = that slot) and keeps the general
reference to it (PTF_retain_ref_on_restart), and is left partial in turn. The Driver
audits after every step, so every state below is also reference-consistent.

The tree (default guest, PFN p = MFN 256 + p): L4 18 slot 3 -> L3 19; L3 19 slot 0 ->
L2 23 (slot 0 -> L1 24), slot 1 -> L2 20; L2 20 slot 0 -> L1 21, slot 1 -> L1 22; each
L1 maps one data page read-write.
"""

from __future__ import annotations

import pytest
from engine_helpers import DOM0_MFN, RW, UPPER, assert_counts_equal, counts
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from engine.errors import InvalidInput

L4, L3, L2, L2B, L1A, L1B, L1C = 18, 19, 20, 23, 21, 22, 24


def build_tree(g, bad_l2_slot: bool = False, l3_slot_of_l2: int = 1) -> None:
    g.make_ro(L4, L3, L2, L2B, L1A, L1B, L1C)
    for l1, data in ((L1A, 30), (L1B, 31), (L1C, 32)):
        g.ok({"mmu_update": {"pfn": l1, "index": 0, "entry": {"pfn": data, "flags": RW}}})
    g.ok({"mmu_update": {"pfn": L2, "index": 0, "entry": {"pfn": L1A, "flags": UPPER}}})
    g.ok({"mmu_update": {"pfn": L2, "index": 1, "entry": {"pfn": L1B, "flags": UPPER}}})
    if bad_l2_slot:
        g.ok({"mmu_update": {"pfn": L2, "index": 2, "entry": {"mfn": DOM0_MFN,
                                                              "flags": UPPER}}})
    g.ok({"mmu_update": {"pfn": L2B, "index": 0, "entry": {"pfn": L1C, "flags": UPPER}}})
    other = 1 - l3_slot_of_l2
    g.ok({"mmu_update": {"pfn": L3, "index": other, "entry": {"pfn": L2B, "flags": UPPER}}})
    g.ok({"mmu_update": {"pfn": L3, "index": l3_slot_of_l2,
                         "entry": {"pfn": L2, "flags": UPPER}}})
    g.ok({"mmu_update": {"pfn": L4, "index": 3, "entry": {"pfn": L3, "flags": UPPER}}})


def state(g, pfn: int) -> tuple:
    f = g.frame(pfn)
    return (f["type"], f["type_count"], f["validated"], f["partial"], f["nr_validated_ptes"],
            f["partial_set"])


def pin(cmd: str, pfn: int, at: int | None = None, after: int = 1) -> dict:
    body: dict = {"cmd": cmd, "pfn": pfn}
    if at is not None:
        body["preempt"] = {"pfn": at, "after": after}
    return {"mmuext": body}


# -- a partial L2 under a partial L3 --------------------------------------------------------


def test_partial_l2_under_a_partial_l3(g):
    """pin_l3 19, preempted in L2 20 after one slot: promote_l2_table() stops at i = 1
    (-EINTR, i > 0: -ERESTART, nr_validated_ptes 1); promote_l3_table() gets -ERESTART
    at its slot 1 and records PTF_partial_set there; both are left PGT_partial. The L3
    holds the general reference to the L2 (retain_ref_on_restart); the pin's own lookup
    reference on the L3 is dropped."""
    build_tree(g)
    before = {p: g.frame(p)["count"] for p in (L3, L2, L2B, L1A, L1B)}
    g.fails(pin("pin_l3", L3, at=L2), "ERESTART", counts_kept=False)
    assert state(g, L3) == ("l3", 1, False, True, 1, True)
    assert state(g, L2) == ("l2", 1, False, True, 1, False)
    assert g.frame(L3)["count"] == before[L3] + 1  # the light reference only
    assert g.frame(L2)["count"] == before[L2] + 2  # the L3's slot 1 + the light reference
    assert state(g, L2B)[:3] == ("l2", 1, True)  # slot 0 of the L3, done in full
    assert state(g, L1A)[:3] == ("l1", 1, True)  # slot 0 of the L2
    assert g.frame(L1B)["type"] == "writable"  # slot 1 of the L2: not reached
    assert g.frame(L1B)["count"] == before[L1B]
    assert not g.frame(L3)["pinned"]


def test_partial_l2_under_a_partial_l3_resumes_without_a_second_reference(g):
    """Issuing the pin again: _get_page_type() continues the L3 (PGT_partial, count 1);
    its slot 1 has PTF_partial_set, so get_page_and_type_from_mfn() takes no new general
    reference and continues the L2 from slot 1. Every count ends as a plain pin_l3."""
    build_tree(g)
    g.apply(pin("pin_l3", L3, at=L2))
    g.ok(pin("pin_l3", L3))
    resumed = counts(g.w)
    # nr_validated_ptes and partial_flags are left as they were: meaningless without
    # PGT_partial, reset by the next validation or de-validation.
    assert state(g, L3)[:4] == ("l3", 1, True, False)
    assert state(g, L2)[:4] == ("l2", 1, True, False)
    assert state(g, L1B)[:3] == ("l1", 1, True)
    assert g.frame(L3)["pinned"]
    g.ok({"mmuext": {"cmd": "unpin", "pfn": L3}})
    g.ok(pin("pin_l3", L3))
    assert_counts_equal(resumed, counts(g.w), "a pin run in one go")


def test_preempted_twice_on_the_way_down(g):
    """A continuation may be preempted again in the same L2: one light reference on the
    L2 throughout, the L3's partial slot unchanged."""
    build_tree(g, bad_l2_slot=False)
    g.ok({"mmu_update": {"pfn": L2, "index": 2, "entry": {"pfn": L1C, "flags": UPPER}}})
    g.apply(pin("pin_l3", L3, at=L2))
    count = g.frame(L2)["count"]
    g.fails(pin("pin_l3", L3, at=L2), "ERESTART", counts_kept=False)
    assert state(g, L2) == ("l2", 1, False, True, 2, False)
    assert state(g, L3) == ("l3", 1, False, True, 1, True)
    assert g.frame(L2)["count"] == count
    g.ok(pin("pin_l3", L3))


def test_parent_preempted_before_its_own_progress_keeps_what_it_has(g):
    """The L2 at the L3's slot 0 is preempted: the L3 records nr_validated_ptes 0 with
    PTF_partial_set and still returns -ERESTART (promote_l3_table()'s -ERESTART branch has
    no `i` test). -EINTR, which would give the type reference back (validate_page():
    type count 0, nothing kept), is never the answer of a preemption check: it is asked
    only at i > nr_validated_ptes, so every preempted promotion has made progress."""
    build_tree(g, l3_slot_of_l2=0)
    g.fails(pin("pin_l3", L3, at=L2), "ERESTART", counts_kept=False)
    assert state(g, L3) == ("l3", 1, False, True, 0, True)
    assert state(g, L2) == ("l2", 1, False, True, 1, False)
    assert g.frame(L2B)["type"] == "writable"  # the L3's slot 1: not reached
    g.ok(pin("pin_l3", L3))
    assert state(g, L2B)[:3] == ("l2", 1, True)


def test_first_slot_of_a_continuation_is_never_preempted(g):
    """`after: 1` on a continued L2: the slot it resumes at is validated, the check fires
    at the next one (i > nr_validated_ptes)."""
    build_tree(g)
    g.ok({"mmu_update": {"pfn": L2, "index": 2, "entry": {"pfn": L1C, "flags": UPPER}}})
    g.apply(pin("pin_l2", L2, at=L2))
    assert state(g, L2)[4] == 1
    g.fails(pin("pin_l2", L2, at=L2), "ERESTART", counts_kept=False)
    assert state(g, L2)[4] == 2 and state(g, L1B)[2]


# -- a partial L3 under an L4 ---------------------------------------------------------------


@pytest.mark.parametrize("at, l2_state", [
    (L3, ("writable", 0, True, False, 0, False)),  # the L3's slot 1: not reached
    (L2, ("l2", 1, False, True, 1, False)),
])
def test_partial_l3_under_a_pin_l4(g, at, l2_state):
    """pin_l4 18: promote_l4_table() has no preemption point of its own; preempted in
    the L3 at its slot 3 (or two levels down, in the L2), it records PTF_partial_set at
    slot 3 and is left partial. Resumed, it completes with the counts of a plain pin."""
    build_tree(g)
    g.fails(pin("pin_l4", L4, at=at), "ERESTART", counts_kept=False)
    assert state(g, L4) == ("l4", 1, False, True, 3, True)
    assert state(g, L3) == ("l3", 1, False, True, 1, at == L2)
    assert state(g, L2) == l2_state
    g.ok(pin("pin_l4", L4))
    resumed = counts(g.w)
    assert state(g, L4)[:4] == ("l4", 1, True, False)
    assert all(state(g, p)[2] for p in (L3, L2, L2B, L1A, L1B, L1C))
    g.ok({"mmuext": {"cmd": "unpin", "pfn": L4}})
    g.ok(pin("pin_l4", L4))
    assert_counts_equal(resumed, counts(g.w), "a pin_l4 run in one go")


def test_partial_l3_under_a_new_base_pointer(g):
    """new_guest_cr3(): get_page_and_type_from_mfn(PGT_root_page_table, PTF_preemptible)
    without PTF_retain_ref_on_restart: on -ERESTART the lookup reference goes, the L4 keeps
    its partial state; the old base pointer stays. Issued again, it completes and the
    old root's references are dropped."""
    build_tree(g)
    old = g.w.guest.cr3
    before = g.frame(L4)["count"]
    g.fails({"mmuext": {"cmd": "new_baseptr", "pfn": L4, "preempt": {"pfn": L3, "after": 1}}},
            "ERESTART", counts_kept=False)
    assert g.w.guest.cr3 == old
    assert state(g, L4) == ("l4", 1, False, True, 3, True)
    assert g.frame(L4)["count"] == before + 1  # the light reference
    assert state(g, L3) == ("l3", 1, False, True, 1, False)
    g.ok({"mmuext": {"cmd": "new_baseptr", "pfn": L4}})
    assert g.w.guest.cr3 == g.mfn(L4)
    assert state(g, L4)[:4] == ("l4", 1, True, False)
    assert g.frame(L4)["count"] == before + 1  # the base pointer's reference
    assert state(g, 0)[:3] == ("l4", 1, True)  # the old root: still pinned


def test_preempt_after_on_pin_l4_is_ignored(g):
    """Contract v2: promote_l4_table() has no preemption point, `preempt_after` on pin_l4
    does nothing."""
    build_tree(g)
    g.ok({"mmuext": {"cmd": "pin_l4", "pfn": L4, "preempt_after": 1}})
    assert state(g, L4)[:4] == ("l4", 1, True, False)


def test_preempt_point_outside_the_tree_is_never_hit(g):
    build_tree(g)
    g.ok(pin("pin_l3", L3, at=2))
    g.ok({"mmuext": {"cmd": "unpin", "pfn": L3}})
    g.ok(pin("pin_l3", L3, at=L2, after=512))  # the L2 has no slot 512
    assert state(g, L3)[:4] == ("l3", 1, True, False)


# -- who holds what while partial -------------------------------------------------------------


def test_another_reference_may_finish_a_nested_partial_table(g):
    """While the L3 holds its partial slot, the guest pins the L2 itself: _get_page_type()
    continues it and the pin takes over its one type reference (and the light reference
    goes). The L3's slot keeps only its general reference (_put_page_type() with
    PTF_partial_set would do nothing now); resumed, the L3 takes a second type reference,
    reusing that general one."""
    build_tree(g)
    g.apply(pin("pin_l3", L3, at=L2))
    count = g.frame(L2)["count"]
    g.ok(pin("pin_l2", L2))
    assert state(g, L2)[:4] == ("l2", 1, True, False)
    assert g.frame(L2)["count"] == count  # + the pin - the light reference
    g.ok(pin("pin_l3", L3))
    assert state(g, L2)[:2] == ("l2", 2)
    assert g.frame(L2)["count"] == count


# -- failures after a resumed nested validation ---------------------------------------------


def test_failure_after_a_resumed_nested_validation_tears_everything_down(g):
    """The resumed L2 fails at slot 2: it becomes old_guest_table (nr_validated_ptes 2);
    the L3 fails at its slot 1 > 0 and takes over ("transfer" the general reference:
    PTF_partial_set at slot 1) as old_guest_table. put_old_guest_table() then tears the L3
    down, and through its partial slot the L2 (_put_page_type(PTF_partial_set) on a page
    still PGT_partial). Everything ends de-validated, every count as before the pin."""
    build_tree(g, bad_l2_slot=True)
    before = counts(g.w)
    g.apply(pin("pin_l3", L3, at=L2))
    g.fails(pin("pin_l3", L3), "EINVAL", counts_kept=False)
    assert_counts_equal(before, counts(g.w), "after the teardown")
    for pfn, typ in ((L3, "l3"), (L2, "l2"), (L2B, "l2"), (L1A, "l1"), (L1B, "l1")):
        assert state(g, pfn)[:4] == (typ, 0, False, False), pfn


def test_failure_under_a_parent_that_fails_at_slot_zero_leaks_as_in_xen(make):
    """L4 slot 3 -> L3 slot 0 -> L2 preempted, then failing at slot 2 when resumed. The L3
    fails at its slot 0: validate_page() resets it to type none (it is not
    old_guest_table), and promote_l4_table() finds old_guest_table (the L2) is not the
    page its slot 3 names: ASSERT_UNREACHABLE() in a debug build; a release build makes
    the L4 old_guest_table, and the L2 is never torn down. Its general reference, which
    the L3's slot 0 held, is held by nobody: the audit reports exactly that."""
    g = make()
    build_tree(g, bad_l2_slot=True, l3_slot_of_l2=0)
    g.apply(pin("pin_l4", L4, at=L2))
    assert state(g, L3) == ("l3", 1, False, True, 0, True)
    l2_count = g.frame(L2)["count"]
    ev = g.s.apply(pin("pin_l4", L4))
    assert ev["errno"] == "EINVAL"
    assert state(g, L4)[:4] == ("l4", 0, False, False)
    assert state(g, L3)[:2] == ("none", 0)
    assert state(g, L2) == ("l2", 1, False, True, 2, False)
    assert g.frame(L2)["count"] == l2_count
    assert g.w.audit() == [f"source: mfn {g.mfn(L2)}: 1 general reference(s) with no "
                           "holder, leaked by a failed resumed nested validation as in "
                           "Xen 4.15"]


def test_resumed_table_failing_at_slot_zero_leaks_its_partial_slot_as_in_xen(make):
    """L4 slot 0 -> L3 slot 0 -> L2 preempted, failing at slot 2 when resumed: the L3 and
    then the L4 fail at their slot 0 (both reset to type none); the L2 is old_guest_table
    and torn down, but the general reference the L4's slot 0 held on the L3 (kept by
    get_page_and_type_from_mfn() under PTF_partial_set) is put by nobody."""
    g = make()
    build_tree(g, bad_l2_slot=True, l3_slot_of_l2=0)
    g.ok({"mmu_update": {"pfn": L4, "index": 3, "entry": 0}})
    g.ok({"mmu_update": {"pfn": L4, "index": 0, "entry": {"pfn": L3, "flags": UPPER}}})
    before = counts(g.w)
    g.apply(pin("pin_l4", L4, at=L2))
    assert state(g, L4) == ("l4", 1, False, True, 0, True)
    ev = g.s.apply(pin("pin_l4", L4))
    assert ev["errno"] == "EINVAL"
    assert state(g, L4)[:2] == state(g, L3)[:2] == ("none", 0)
    assert state(g, L2)[:4] == ("l2", 0, False, False)  # torn down as old_guest_table
    after = counts(g.w)["source"][0]
    changed = [m for m in range(len(after)) if after[m] != before["source"][0][m]]
    assert changed == [g.mfn(L3)]
    assert g.w.audit() == [f"source: mfn {g.mfn(L3)}: 1 general reference(s) with no "
                           "holder, leaked by a failed resumed nested validation as in "
                           "Xen 4.15"]


# -- the scenario form ----------------------------------------------------------------------
@pytest.mark.parametrize("body, field", [
    ({"cmd": "pin_l1", "pfn": L1A, "preempt": {"pfn": L1A, "after": 1}}, "preempt"),
    ({"cmd": "unpin", "pfn": 0, "preempt": {"pfn": 1, "after": 1}}, "preempt"),
    ({"cmd": "pin_l3", "pfn": L3, "preempt": {"pfn": L2, "after": 0}}, "after"),
    ({"cmd": "pin_l3", "pfn": L3, "preempt": {"pfn": L2, "after": 1, "at": 2}}, "at"),
    ({"cmd": "pin_l3", "pfn": L3, "preempt": {"after": 1}}, "preempt"),
    ({"cmd": "pin_l3", "pfn": L3, "preempt": {"pfn": 64, "after": 1}}, "preempt.pfn"),
])
def test_invalid_preempt_forms_name_the_field(g, body, field):
    err: InvalidInput = g.invalid({"mmuext": body})
    assert field in err.field, err.field


# -- property: any preemption point, resumed, ends as the same hypercall run in one go -----

SLOT = st.integers(0, 3)


@st.composite
def trees(draw):
    """An L4 (PFN 18) -> L3 (19) -> two L2s (20, 23) -> L1s (21, 22, 24) at random slots,
    perhaps with one bad entry somewhere; a top command and one or two preemption points."""
    slots = {name: draw(SLOT) for name in ("l4", "l3a", "l3b", "l2a", "l2b", "l2c")}
    assume(slots["l3a"] != slots["l3b"] and slots["l2a"] != slots["l2b"])
    links = [(L4, slots["l4"], L3), (L3, slots["l3a"], L2), (L3, slots["l3b"], L2B),
             (L2, slots["l2a"], L1A), (L2, slots["l2b"], L1B), (L2B, slots["l2c"], L1C)]
    bad = draw(st.one_of(st.none(), st.sampled_from([L3, L2, L2B])))
    bad_slot = draw(st.integers(0, 4))
    cmd = draw(st.sampled_from(["pin_l4", "new_baseptr", "pin_l3"]))
    points = draw(st.lists(st.tuples(st.sampled_from([L3, L2, L2B]), st.integers(1, 3)),
                           min_size=1, max_size=3))
    return links, (bad, bad_slot), cmd, points


def _setup(g, links, bad) -> None:
    g.make_ro(L4, L3, L2, L2B, L1A, L1B, L1C)
    for l1, data in ((L1A, 30), (L1B, 31), (L1C, 32)):
        g.ok({"mmu_update": {"pfn": l1, "index": 0, "entry": {"pfn": data, "flags": RW}}})
    for table, slot, target in links:
        g.ok({"mmu_update": {"pfn": table, "index": slot,
                             "entry": {"pfn": target, "flags": UPPER}}})
    table, slot = bad
    if table is not None and g.entry(table, slot) == 0:
        g.ok({"mmu_update": {"pfn": table, "index": slot,
                             "entry": {"mfn": DOM0_MFN, "flags": UPPER}}})


def _leak_free_audit(g) -> None:
    problems = [p for p in g.w.audit() if "with no holder" not in p]
    assert problems == []


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(case=trees())
def test_any_preemption_resumed_ends_as_one_uninterrupted_call(make, case):
    """Each preemption point in turn (then none): every -ERESTART leaves the top table
    PGT_partial with type count 1 and the audit clean; the final rc and every count equal
    those of the same command issued once without preemption on the same tree. Only a
    reference Xen itself leaks (a failure after a resumed nested validation) may differ."""
    links, bad, cmd, points = case
    plain = make()
    _setup(plain, links, bad)
    top = L3 if cmd == "pin_l3" else L4
    want = plain.s.apply({"mmuext": {"cmd": cmd, "pfn": top}})["rc"]

    g = make()
    _setup(g, links, bad)
    rc = None
    for point in [*points, None]:
        body: dict = {"cmd": cmd, "pfn": top}
        if point is not None:
            body["preempt"] = {"pfn": point[0], "after": point[1]}
        rc = g.s.apply({"mmuext": body})["rc"]
        _leak_free_audit(g)
        if rc == -85:
            f = g.frame(top)
            assert (f["partial"], f["type_count"]) == (True, 1)
            continue
        break
    if g.w.guest.leaked:
        assert rc == want
        return
    assert rc == want
    assert_counts_equal(counts(plain.w), counts(g.w), case)
