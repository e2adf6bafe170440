"""HYPERVISOR_mmuext_op: MMUEXT_PIN_Ln_TABLE, MMUEXT_UNPIN_TABLE, MMUEXT_NEW_BASEPTR
(do_mmuext_op(), _get_page_type(), validate_page(), _put_page_type(), new_guest_cr3(),
put_old_guest_table() in xen/arch/x86/mm.c, Xen 4.15)."""

from __future__ import annotations

import pytest
from engine_helpers import DOM0_MFN, FREE_MFN, RO, RW, UPPER, assert_counts_equal, counts

# -- pins ----------------------------------------------------------------------------------


def test_pin_l1_validates_and_pins(g):
    """MMUEXT_PIN_L1_TABLE: get_page_type_preemptible(PGT_l1_page_table) validates the
    page (promote_l1_table()); the lookup's general ref and the type ref stay as the pin's."""
    g.make_ro(21)
    g.ok({"mmu_update": {"pfn": 21, "index": 0, "entry": {"pfn": 30, "flags": RW}}})
    b21, b30 = g.frame(21), g.frame(30)
    g.ok({"mmuext": {"cmd": "pin_l1", "pfn": 21}})
    f = g.frame(21)
    assert (f["type"], f["validated"], f["pinned"], f["type_count"]) == ("l1", True, True, 1)
    assert f["count"] == b21["count"] + 1
    assert g.frame(30)["type_count"] == b30["type_count"] + 1


def test_pin_l2_validates_the_tree_below(g):
    """promote_l2_table() -> get_page_from_l2e(): the L1 below is validated too."""
    g.build_l2_over_l1()
    g.ok({"mmuext": {"cmd": "pin_l2", "pfn": 20}})
    assert (g.frame(20)["type"], g.frame(20)["pinned"], g.frame(20)["validated"]) == \
        ("l2", True, True)
    f21 = g.frame(21)
    assert (f21["type"], f21["validated"], f21["type_count"], f21["pinned"]) == \
        ("l1", True, 1, False)


def test_pin_l3_and_pin_l4_validate_fresh_tables(g):
    """promote_l3_table() / promote_l4_table() through get_page_from_l3e/l4e(): a new L4
    over a new L3 over the kernel's L2; the kernel L2 gains one l2 type reference."""
    g.make_ro(18, 19)
    g.ok({"mmu_update": {"pfn": 19, "index": 0, "entry": {"pfn": 2, "flags": UPPER}}})
    g.ok({"mmu_update": {"pfn": 18, "index": 0, "entry": {"pfn": 19, "flags": UPPER}}})
    b2 = g.frame(2)
    g.ok({"mmuext": {"cmd": "pin_l3", "pfn": 19}})
    assert (g.frame(19)["type"], g.frame(19)["pinned"], g.frame(19)["type_count"]) == \
        ("l3", True, 1)
    assert g.frame(2)["type_count"] == b2["type_count"] + 1
    g.ok({"mmuext": {"cmd": "pin_l4", "pfn": 18}})
    f18 = g.frame(18)
    assert (f18["type"], f18["validated"], f18["pinned"], f18["type_count"]) == \
        ("l4", True, True, 1)
    assert g.frame(19)["type_count"] == 2


@pytest.mark.parametrize("cmd,pfn", [("pin_l3", 1), ("pin_l2", 2), ("pin_l1", 3)])
def test_pin_of_validated_unpinned_table_only_adds_the_pin(g, cmd, pfn):
    """_get_page_type(): same type, count > 0, validated: the count is incremented, no
    validation; then PGT_pinned is set."""
    before = g.frame(pfn)
    g.ok({"mmuext": {"cmd": cmd, "pfn": pfn}})
    after = g.frame(pfn)
    assert after["pinned"]
    assert (after["count"], after["type_count"]) == (before["count"] + 1,
                                                      before["type_count"] + 1)


@pytest.mark.parametrize("cmd,pfn", [("pin_l4", 0), ("pin_l2", 20)])
def test_pin_of_already_pinned_table_is_einval_without_leaking(g, cmd, pfn):
    """do_mmuext_op(): test_and_set_bit(_PGT_pinned) finds it set: "already pinned",
    -EINVAL, pin_drop gives back the lookup and type references."""
    if pfn == 20:
        g.build_l2_over_l1()
        g.ok({"mmuext": {"cmd": cmd, "pfn": pfn}})
    g.fails({"mmuext": {"cmd": cmd, "pfn": pfn}}, "EINVAL")
    assert g.frame(pfn)["pinned"]


@pytest.mark.parametrize("cmd,pfn", [("pin_l2", 3), ("pin_l1", 2), ("pin_l3", 0),
                                     ("pin_l4", 1), ("pin_l1", 40)])
def test_pin_with_the_wrong_type_while_referenced_is_einval(g, cmd, pfn):
    """_get_page_type(): non-zero type count and a different type: "Bad type", -EINVAL;
    the lookup reference is dropped (page != old_guest_table)."""
    before = g.frame(pfn)
    g.fails({"mmuext": {"cmd": cmd, "pfn": pfn}}, "EINVAL")
    after = g.frame(pfn)
    assert (after["type"], after["validated"]) == (before["type"], before["validated"])


@pytest.mark.parametrize("ref", [{"mfn": DOM0_MFN}, {"mfn": FREE_MFN}, {"mfn": 5000}],
                         ids=["dom0", "free", "not-ram"])
@pytest.mark.parametrize("cmd", ["pin_l1", "pin_l2", "pin_l3", "pin_l4", "unpin",
                                 "new_baseptr"])
def test_mmuext_on_frame_not_the_guests_is_einval(g, ref, cmd):
    """do_mmuext_op(): get_page_from_gfn() fails -> -EINVAL (pin, unpin);
    new_guest_cr3() -> get_page_and_type_from_mfn() -> get_page_from_mfn() fails -> -EINVAL."""
    g.fails({"mmuext": {"cmd": cmd, **ref}}, "EINVAL")
    assert g.w.guest.cr3 == g.mfn(0)


def test_pin_l1_validation_failure_leaves_type_none(g):
    """promote_l1_table() fails (entry to dom0's frame: -EBUSY) and releases what it took;
    validate_page() error path: type_info = 0."""
    g.make_ro(21)
    g.ok({"mmu_update": {"pfn": 21, "index": 0, "entry": {"pfn": 30, "flags": RW}}})
    g.ok({"mmu_update": {"pfn": 21, "index": 1, "entry": {"mfn": DOM0_MFN, "flags": RO}}})
    g.fails({"mmuext": {"cmd": "pin_l1", "pfn": 21}}, "EBUSY")
    f = g.frame(21)
    assert (f["type"], f["type_count"], f["validated"], f["pinned"], f["partial"]) == \
        ("none", 0, False, False, False)


def test_pin_l2_failing_at_slot_zero_leaves_type_none(g):
    """promote_l2_table() fails at i == 0: no old_guest_table, so validate_page() resets
    type_info to 0."""
    g.make_ro(20)
    g.ok({"mmu_update": {"pfn": 20, "index": 0, "entry": {"mfn": DOM0_MFN, "flags": UPPER}}})
    g.fails({"mmuext": {"cmd": "pin_l2", "pfn": 20}}, "EINVAL")
    f = g.frame(20)
    assert (f["type"], f["type_count"], f["validated"], f["partial"]) == \
        ("none", 0, False, False)


def test_pin_l2_failing_after_slot_zero_ends_devalidated_with_refs_given_back(g):
    """promote_l2_table() fails at i > 0: the page becomes old_guest_table (PGT_partial,
    light ref); put_old_guest_table() tears it down: _put_page_type(PTF_partial_set) ->
    devalidate_page() over slots 0..i-1, then the light and lookup refs go. The L2 ends
    type l2, count 0, neither validated nor partial; the L1 it validated is de-validated."""
    g.build_l2_over_l1()
    g.ok({"mmu_update": {"pfn": 20, "index": 3, "entry": {"mfn": DOM0_MFN, "flags": UPPER}}})
    before = counts(g.w)
    ev = g.fails({"mmuext": {"cmd": "pin_l2", "pfn": 20}}, "EINVAL")
    assert_counts_equal(before, counts(g.w), ev["step"])
    f = g.frame(20)
    assert (f["type"], f["type_count"], f["validated"], f["partial"], f["pinned"]) == \
        ("l2", 0, False, False, False)
    f21 = g.frame(21)
    assert (f21["type"], f21["type_count"], f21["validated"]) == ("l1", 0, False)


def test_pin_l3_failing_after_slot_zero_tears_down_the_l2_it_validated(g):
    """promote_l3_table(): failure at i > 0 -> old_guest_table; the L2 validated for slot
    0 is de-validated again when the L3 is torn down."""
    g.build_l2_over_l1()
    g.make_ro(19)
    g.ok({"mmu_update": {"pfn": 19, "index": 0, "entry": {"pfn": 20, "flags": UPPER}}})
    g.ok({"mmu_update": {"pfn": 19, "index": 1, "entry": {"mfn": DOM0_MFN, "flags": UPPER}}})
    g.fails({"mmuext": {"cmd": "pin_l3", "pfn": 19}}, "EINVAL")
    assert (g.frame(19)["type"], g.frame(19)["type_count"]) == ("l3", 0)
    assert (g.frame(20)["type"], g.frame(20)["type_count"], g.frame(20)["validated"]) == \
        ("l2", 0, False)


# -- preemption ----------------------------------------------------------------------------


def _two_slot_l2(g):
    g.build_l2_over_l1()
    g.make_ro(22)
    g.ok({"mmu_update": {"pfn": 22, "index": 0, "entry": {"pfn": 31, "flags": RW}}})
    g.ok({"mmu_update": {"pfn": 20, "index": 1, "entry": {"pfn": 22, "flags": UPPER}}})


def test_preempted_pin_leaves_the_page_partial(g):
    """promote_l2_table(): hypercall_preempt_check() at slot i > nr_validated_ptes ->
    -ERESTART; validate_page(): get_page_light(), PGT_partial; type count stays 1; the
    lookup reference is dropped (page != old_guest_table)."""
    _two_slot_l2(g)
    b20 = g.frame(20)
    ev = g.fails({"mmuext": {"cmd": "pin_l2", "pfn": 20, "preempt_after": 1}}, "ERESTART",
                 counts_kept=False)
    assert ev["rc"] == -85
    f = g.frame(20)
    assert (f["type"], f["partial"], f["validated"], f["pinned"], f["type_count"]) == \
        ("l2", True, False, False, 1)
    assert f["count"] == b20["count"] + 1  # the light reference
    assert f["nr_validated_ptes"] == 1
    assert g.frame(21)["type"] == "l1" and g.frame(21)["validated"]
    assert g.frame(22)["type"] == "writable"  # slot 1 not reached


def test_reissued_pin_continues_the_preempted_validation(g):
    """_get_page_type(): PGT_partial with count 1: the caller continues the validation
    (nx = x & ~PGT_partial, count not incremented), then the light ref is put."""
    _two_slot_l2(g)
    b20 = g.frame(20)
    g.apply({"mmuext": {"cmd": "pin_l2", "pfn": 20, "preempt_after": 1}})
    g.ok({"mmuext": {"cmd": "pin_l2", "pfn": 20}})
    f = g.frame(20)
    assert (f["validated"], f["partial"], f["pinned"], f["type_count"]) == (True, False, True, 1)
    assert f["count"] == b20["count"] + 1  # the pin
    assert (g.frame(22)["type"], g.frame(22)["validated"]) == ("l1", True)


def test_preempted_pin_can_be_preempted_again(g):
    """Each continuation validates from nr_validated_ptes on; -ERESTART again keeps one
    light reference (put by _get_page_type(), taken again by validate_page())."""
    _two_slot_l2(g)
    b20 = g.frame(20)
    g.apply({"mmuext": {"cmd": "pin_l2", "pfn": 20, "preempt_after": 1}})
    ev = g.apply({"mmuext": {"cmd": "pin_l2", "pfn": 20, "preempt_after": 1}})
    assert ev["errno"] == "ERESTART"
    f = g.frame(20)
    assert (f["partial"], f["nr_validated_ptes"], f["count"]) == (True, 2, b20["count"] + 1)
    g.ok({"mmuext": {"cmd": "pin_l2", "pfn": 20}})
    assert g.frame(20)["pinned"]


def test_pin_of_partial_page_at_other_level_is_einval(g):
    """_get_page_type(): count 1 and a different type: -EINVAL; the partial state stays."""
    _two_slot_l2(g)
    g.apply({"mmuext": {"cmd": "pin_l2", "pfn": 20, "preempt_after": 1}})
    g.fails({"mmuext": {"cmd": "pin_l3", "pfn": 20}}, "EINVAL")
    assert g.frame(20)["partial"]


def test_unpin_of_partial_page_is_einval(g):
    """MMUEXT_UNPIN_TABLE: PGT_pinned is not set on a partially validated page."""
    _two_slot_l2(g)
    g.apply({"mmuext": {"cmd": "pin_l2", "pfn": 20, "preempt_after": 1}})
    g.fails({"mmuext": {"cmd": "unpin", "pfn": 20}}, "EINVAL")


def test_continued_validation_failing_tears_the_partial_page_down(g):
    """A continuation that hits a bad entry at i > 0: old_guest_table, torn down by
    put_old_guest_table(): the page ends de-validated and the partial's references
    (light ref, type ref, entries 0..i-1) are all given back."""
    _two_slot_l2(g)
    g.ok({"mmu_update": {"pfn": 20, "index": 2, "entry": {"mfn": DOM0_MFN, "flags": UPPER}}})
    before = counts(g.w)
    g.apply({"mmuext": {"cmd": "pin_l2", "pfn": 20, "preempt_after": 1}})
    g.fails({"mmuext": {"cmd": "pin_l2", "pfn": 20}}, "EINVAL", counts_kept=False)
    assert_counts_equal(before, counts(g.w), "after teardown")
    f = g.frame(20)
    assert (f["type"], f["type_count"], f["validated"], f["partial"]) == ("l2", 0, False, False)


# -- unpin ---------------------------------------------------------------------------------


def test_unpin_of_unpinned_page_is_einval(g):
    """MMUEXT_UNPIN_TABLE: !test_and_clear_bit(_PGT_pinned): "not pinned", -EINVAL, the
    lookup reference is put."""
    for pfn in (1, 2, 3, 40):
        g.fails({"mmuext": {"cmd": "unpin", "pfn": pfn}}, "EINVAL")


def test_unpin_cascades_devalidation_and_keeps_type_fields(g):
    """put_page_and_type_preemptible(): the L2's last type ref goes; devalidate_page()
    -> demote_l2_table() -> put_page_from_l2e() drops the L1's, which de-validates in turn
    and drops its RW mapping's writable ref. Type fields are left as they were."""
    g.build_l2_over_l1()
    b20, b21, b30 = g.frame(20), g.frame(21), g.frame(30)
    g.ok({"mmuext": {"cmd": "pin_l2", "pfn": 20}})
    g.ok({"mmuext": {"cmd": "unpin", "pfn": 20}})
    for pfn, typ in ((20, "l2"), (21, "l1")):
        f = g.frame(pfn)
        assert (f["type"], f["type_count"], f["validated"], f["pinned"]) == (typ, 0, False,
                                                                             False)
    assert g.frame(20)["count"] == b20["count"]
    assert g.frame(21)["count"] == b21["count"]
    assert (g.frame(30)["count"], g.frame(30)["type_count"]) == (b30["count"],
                                                                 b30["type_count"])


def test_unpin_of_the_base_pointer_l4_keeps_it_validated(g):
    """The base pointer still holds an l4 type reference: the count drops to 1, no
    de-validation."""
    b0 = g.frame(0)
    g.ok({"mmuext": {"cmd": "unpin", "pfn": 0}})
    f = g.frame(0)
    assert (f["pinned"], f["validated"], f["type_count"], f["count"]) == \
        (False, True, 1, b0["count"] - 1)


def test_devalidated_table_can_be_pinned_again(g):
    """_get_page_type(): same type at count 0 and not validated: validation runs again."""
    g.build_l2_over_l1()
    g.ok({"mmuext": {"cmd": "pin_l2", "pfn": 20}})
    g.ok({"mmuext": {"cmd": "unpin", "pfn": 20}})
    g.ok({"mmuext": {"cmd": "pin_l2", "pfn": 20}})
    assert g.frame(20)["validated"] and g.frame(21)["validated"]


# -- new_baseptr ---------------------------------------------------------------------------


def _second_l4(g, pfn=20):
    g.make_ro(pfn)
    g.ok({"mmu_update": {"pfn": pfn, "index": 0, "entry": {"pfn": 1, "flags": UPPER}}})


def test_new_baseptr_switches_and_releases_the_old_root(g):
    """new_guest_cr3(): get_page_and_type_from_mfn(PGT_root_page_table) on the new root
    (validating it), then put_page_and_type_preemptible() on the old one."""
    _second_l4(g)
    b0, b1 = g.frame(0), g.frame(1)
    g.ok({"mmuext": {"cmd": "new_baseptr", "pfn": 20}})
    assert g.w.guest.cr3 == g.mfn(20)
    f20 = g.frame(20)
    assert (f20["type"], f20["validated"], f20["type_count"]) == ("l4", True, 1)
    f0 = g.frame(0)
    assert (f0["type_count"], f0["count"], f0["validated"]) == (b0["type_count"] - 1,
                                                                b0["count"] - 1, True)
    assert g.frame(1)["type_count"] == b1["type_count"] + 1


def test_new_baseptr_devalidates_an_unpinned_old_root(g):
    """new_guest_cr3(): the old root's last type ref goes: devalidate_page(); the tree
    below loses one l3 reference but stays validated through the new root."""
    _second_l4(g)
    g.ok({"mmuext": {"cmd": "unpin", "pfn": 0}})
    g.ok({"mmuext": {"cmd": "new_baseptr", "pfn": 20}})
    f0 = g.frame(0)
    assert (f0["type"], f0["type_count"], f0["validated"]) == ("l4", 0, False)
    assert g.frame(1)["validated"] and g.frame(1)["type_count"] == 1


def test_new_baseptr_to_the_current_root_changes_nothing(g):
    """new_guest_cr3(): mfn_eq(old_base_mfn, mfn): write_ptbase() only."""
    before = counts(g.w)
    ev = g.ok({"mmuext": {"cmd": "new_baseptr", "pfn": 0}})
    assert_counts_equal(before, counts(g.w), "same root")
    assert [d for d in ev["deltas"] if d["kind"] == "frame"] == []


@pytest.mark.parametrize("pfn", [1, 2, 3, 40])
def test_new_baseptr_to_a_page_of_another_type_is_einval(g, pfn):
    """get_page_and_type_from_mfn(PGT_root_page_table): "Bad type", -EINVAL; cr3 kept."""
    g.fails({"mmuext": {"cmd": "new_baseptr", "pfn": pfn}}, "EINVAL")
    assert g.w.guest.cr3 == g.mfn(0)


def test_new_baseptr_whose_validation_fails_keeps_the_old_root(g):
    """promote_l4_table() fails at slot 0: type none, the old base stays."""
    g.make_ro(20)
    g.ok({"mmu_update": {"pfn": 20, "index": 0, "entry": {"mfn": DOM0_MFN, "flags": UPPER}}})
    g.fails({"mmuext": {"cmd": "new_baseptr", "pfn": 20}}, "EINVAL")
    assert g.w.guest.cr3 == g.mfn(0)
    assert g.frame(20)["type"] == "none"


def test_pin_l1_with_an_invalid_mfn_entry_is_einval(g):
    """promote_l1_table() -> get_page_from_l1e(): INVALID_MFN (PADDR_MASK >> PAGE_SHIFT)
    is refused with -EINVAL, other non-RAM frames with -EPERM."""
    g.make_ro(21)
    g.ok({"mmu_update": {"pfn": 21, "index": 0, "entry": (((1 << 40) - 1) << 12) | 1}})
    g.fails({"mmuext": {"cmd": "pin_l1", "pfn": 21}}, "EINVAL")
    assert g.frame(21)["type"] == "none"


def test_pin_l1_with_a_non_ram_entry_is_eperm(g):
    """promote_l1_table() -> get_page_from_l1e(): !mfn_valid(), no iomem permission:
    -EPERM; the page ends type none."""
    g.make_ro(21)
    g.ok({"mmu_update": {"pfn": 21, "index": 0, "entry": (5000 << 12) | 1}})
    g.fails({"mmuext": {"cmd": "pin_l1", "pfn": 21}}, "EPERM")
    assert g.frame(21)["type"] == "none"


def test_pin_l3_whose_second_l2_fails_late_tears_down_everything(g):
    """promote_l3_table() at slot 1: get_page_from_l3e() validates L2 23, which fails at
    its slot 1 and becomes old_guest_table; promote_l3_table() transfers it to its own
    entry (PTF_partial_set) and becomes old_guest_table itself. The teardown
    (demote_l3_table() from slot 1 down) de-validates both L2s; every count is restored."""
    g.build_l2_over_l1()  # L2 20 -> L1 21 -> data 30
    g.make_ro(19, 23)
    g.ok({"mmu_update": {"pfn": 23, "index": 0, "entry": {"pfn": 21, "flags": UPPER}}})
    g.ok({"mmu_update": {"pfn": 23, "index": 1, "entry": {"mfn": DOM0_MFN, "flags": UPPER}}})
    g.ok({"mmu_update": {"pfn": 19, "index": 0, "entry": {"pfn": 20, "flags": UPPER}}})
    g.ok({"mmu_update": {"pfn": 19, "index": 1, "entry": {"pfn": 23, "flags": UPPER}}})
    before = counts(g.w)
    g.fails({"mmuext": {"cmd": "pin_l3", "pfn": 19}}, "EINVAL")
    assert_counts_equal(before, counts(g.w), "teardown")
    for pfn, typ in ((19, "l3"), (20, "l2"), (23, "l2"), (21, "l1")):
        f = g.frame(pfn)
        assert (f["type"], f["type_count"], f["validated"], f["partial"]) == \
            (typ, 0, False, False), pfn


def test_mmu_update_whose_new_l2_fails_late_leaves_it_devalidated(g):
    """mod_l3_entry() -> get_page_from_l3e() -> get_page_and_type_from_mfn(PTF_preemptible):
    the L2 fails at slot 1 and is old_guest_table; do_mmu_update() returns -EINVAL and its
    continuation's put_old_guest_table() de-validates it, giving back every reference."""
    g.build_l2_over_l1()
    g.ok({"mmu_update": {"pfn": 20, "index": 1, "entry": {"mfn": DOM0_MFN, "flags": UPPER}}})
    before = counts(g.w)
    g.fails({"mmu_update": {"pfn": 1, "index": 1, "entry": {"pfn": 20, "flags": UPPER}}},
            "EINVAL")
    assert_counts_equal(before, counts(g.w), "teardown")
    assert g.entry(1, 1) == 0
    f = g.frame(20)
    assert (f["type"], f["type_count"], f["validated"], f["partial"]) == ("l2", 0, False, False)


def test_new_baseptr_whose_l4_fails_late_leaves_it_devalidated(g):
    """new_guest_cr3() -> get_page_and_type_from_mfn(PGT_root_page_table, PTF_preemptible):
    promote_l4_table() fails at slot 1 -> old_guest_table -> de-validated l4; cr3 kept."""
    g.make_ro(20)
    g.ok({"mmu_update": {"pfn": 20, "index": 0, "entry": {"pfn": 1, "flags": UPPER}}})
    g.ok({"mmu_update": {"pfn": 20, "index": 1, "entry": {"mfn": DOM0_MFN, "flags": UPPER}}})
    g.fails({"mmuext": {"cmd": "new_baseptr", "pfn": 20}}, "EINVAL")
    assert g.w.guest.cr3 == g.mfn(0)
    f = g.frame(20)
    assert (f["type"], f["type_count"], f["validated"]) == ("l4", 0, False)


def test_l3_entry_to_a_partial_l2_completes_its_validation(g):
    """mod_l3_entry() -> get_page_and_type_from_mfn(PGT_l2_page_table, PTF_preemptible):
    _get_page_type() finds PGT_partial with count 1 and continues the validation; the
    partial's type reference becomes the entry's and the light reference is put."""
    _two_slot_l2(g)
    g.apply({"mmuext": {"cmd": "pin_l2", "pfn": 20, "preempt_after": 1}})
    partial = g.frame(20)
    g.ok({"mmu_update": {"pfn": 1, "index": 1, "entry": {"pfn": 20, "flags": UPPER}}})
    f = g.frame(20)
    assert (f["validated"], f["partial"], f["pinned"], f["type_count"]) == (True, False, False, 1)
    assert f["count"] == partial["count"]  # + the entry's general ref - the light ref
    assert (g.frame(22)["type"], g.frame(22)["validated"]) == ("l1", True)


def test_devalidated_former_l4_cannot_be_pinned_as_l3(g):
    """init_xen_l4_slots() (called by promote_l4_table() on success) writes Xen's
    entries into slots 256..271, e.g. slot 258 = l4e_from_mfn(l4mfn, __PAGE_HYPERVISOR_RW);
    demote_l4_table() leaves them. Taken as an L3, promote_l3_table() checks every slot:
    the RW entry naming the page itself fails get_page_from_l3e() (wrong type, and a
    linear entry must be read-only), so the pin is -EINVAL."""
    g.make_ro(20)
    g.ok({"mmuext": {"cmd": "pin_l4", "pfn": 20}})
    g.ok({"mmuext": {"cmd": "unpin", "pfn": 20}})
    assert (g.frame(20)["type"], g.frame(20)["validated"]) == ("l4", False)
    g.fails({"mmuext": {"cmd": "pin_l3", "pfn": 20}}, "EINVAL")


def test_preempt_after_on_pin_l1_is_ignored(g):
    """promote_l1_table() has no preemption point: a pin_l1 with preempt_after runs to
    completion (rc 0, validated, not partial)."""
    g.make_ro(21)
    g.ok({"mmu_update": {"pfn": 21, "index": 0, "entry": {"pfn": 30, "flags": ["present"]}}})
    g.ok({"mmu_update": {"pfn": 21, "index": 1, "entry": {"pfn": 31, "flags": ["present"]}}})
    g.ok({"mmuext": {"cmd": "pin_l1", "pfn": 21, "preempt_after": 1}})
    f = g.frame(21)
    assert (f["type"], f["validated"], f["partial"], f["pinned"]) == ("l1", True, False, True)
