"""HYPERVISOR_mmu_update, MMU_NORMAL_PT_UPDATE (do_mmu_update(), mod_lN_entry(),
get_page_from_lNe() in xen/arch/x86/mm.c, Xen 4.15)."""

from __future__ import annotations

import pytest
from engine_helpers import (
    DOM0_MFN,
    FREE_MFN,
    INVALID_MFN,
    NOT_RAM_MFN,
    RO,
    RW,
    UPPER,
    assert_counts_equal,
    counts,
)

# -- L1 entries ----------------------------------------------------------------------------


def test_l1_rw_entry_to_own_frame_takes_general_and_writable_refs(g):
    """get_page_from_l1e(): a present RW entry takes a general reference and a
    PGT_writable_page type reference on the target."""
    before = g.frame(40)
    g.ok({"mmu_update": {"pfn": 3, "index": 100, "entry": {"pfn": 40, "flags": RW}}})
    after = g.frame(40)
    assert after["count"] == before["count"] + 1
    assert after["type_count"] == before["type_count"] + 1
    assert after["type"] == "writable"


def test_l1_ro_entry_to_own_frame_takes_only_a_general_ref(g):
    """get_page_from_l1e(): a read-only entry takes no type reference."""
    before = g.frame(40)
    g.ok({"mmu_update": {"pfn": 3, "index": 100, "entry": {"pfn": 40, "flags": RO}}})
    after = g.frame(40)
    assert after["count"] == before["count"] + 1
    assert after["type_count"] == before["type_count"]


def test_l1_entry_replacing_an_old_one_releases_the_old_target(g):
    """mod_l1_entry(): the new entry is referenced, then put_page_from_l1e() drops the
    old one (here RW -> RO of the same frame: the writable type ref goes)."""
    before = g.frame(40)
    g.ok({"mmu_update": {"pfn": 3, "index": 40, "entry": {"pfn": 40, "flags": RO}}})
    after = g.frame(40)
    assert after["count"] == before["count"]
    assert after["type_count"] == before["type_count"] - 1 == 0
    assert after["type"] == "writable" and after["validated"]


def test_l1_entry_cleared_drops_its_references(g):
    """mod_l1_entry() with a non-present entry: put_page_from_l1e() of the old entry."""
    before = g.frame(40)
    g.ok({"mmu_update": {"pfn": 3, "index": 40, "entry": 0}})
    after = g.frame(40)
    assert (after["count"], after["type_count"]) == (before["count"] - 1, 0)


def test_l1_entry_to_free_frame_is_ebusy(g):
    """get_page_from_l1e(): page_get_owner_and_reference() gives no owner for a free
    frame: could_not_pin, -EBUSY."""
    g.fails({"mmu_update": {"pfn": 3, "index": 100, "entry": {"mfn": FREE_MFN, "flags": RO}}},
            "EBUSY")
    assert g.w.guest.host.owner_name(FREE_MFN) == "free"


def test_l1_entry_to_another_domains_frame_is_ebusy(g):
    """get_page_from_l1e(): real_pg_owner != pg_owner == l1e_owner: could_not_pin, -EBUSY."""
    g.fails({"mmu_update": {"pfn": 3, "index": 100, "entry": {"mfn": DOM0_MFN, "flags": RW}}},
            "EBUSY")
    assert g.frame(mfn=DOM0_MFN)["count"] == 1


def test_l1_entry_to_non_ram_frame_is_eperm(g):
    """get_page_from_l1e(): !mfn_valid() is MMIO; without iomem permission -EPERM."""
    g.fails({"mmu_update": {"pfn": 3, "index": 100,
                            "entry": {"mfn": NOT_RAM_MFN, "flags": RO}}}, "EPERM")
    assert g.entry(3, 100) == 0


def test_l1_entry_to_invalid_mfn_is_einval(g):
    """get_page_from_l1e(): for a frame that is not RAM and no iomem permission, Xen
    returns -EPERM *unless* the MFN is INVALID_MFN (`mfn != (PADDR_MASK >> PAGE_SHIFT)`),
    which gets -EINVAL: what a PV kernel writes for a ballooned PFN."""
    g.fails({"mmu_update": {"pfn": 3, "index": 100,
                            "entry": {"mfn": INVALID_MFN, "flags": RO}}}, "EINVAL")


def test_l1_entry_for_ballooned_pfn_is_einval(g):
    """get_page_from_l1e(): `{pfn: P}` of a ballooned PFN stores INVALID_MFN; Xen
    refuses it with -EINVAL (the INVALID_MFN special case), not -EPERM."""
    g.ok({"mmu_update": {"pfn": 3, "index": 50, "entry": 0}})
    g.ok({"memory": {"cmd": "decrease_reservation", "pfn": 50}})
    g.fails({"mmu_update": {"pfn": 3, "index": 100, "entry": {"pfn": 50, "flags": RO}}},
            "EINVAL")


def test_l1_pse_flag_is_einval(g):
    """L1_DISALLOW_MASK: _PAGE_PSE is the PAT bit in an L1 entry, a cache attribute
    refused for a domain without I/O permissions (l1_disallow_mask()): -EINVAL."""
    g.fails({"mmu_update": {"pfn": 3, "index": 100,
                            "entry": {"pfn": 40, "flags": ["present", "pse"]}}}, "EINVAL")


def test_l1_global_flag_is_allowed(g):
    """L1_DISALLOW_MASK = (base_disallow_mask | _PAGE_GNTTAB) & ~_PAGE_GLOBAL."""
    g.ok({"mmu_update": {"pfn": 3, "index": 100,
                         "entry": {"pfn": 40, "flags": ["present", "global"]}}})


def test_l1_nx_flag_is_allowed(g):
    """base_disallow_mask leaves _PAGE_NX to the guest."""
    g.ok({"mmu_update": {"pfn": 3, "index": 100,
                         "entry": {"pfn": 40, "flags": ["present", "nx"]}}})


def test_l1_rw_mapping_of_a_page_table_is_ebusy(g):
    """get_page_from_l1e(): get_page_type(PGT_writable_page) fails on a page table with a
    non-zero type count: could_not_pin, -EBUSY."""
    for pt in (0, 1, 2, 3):
        g.fails({"mmu_update": {"pfn": 3, "index": 100, "entry": {"pfn": pt, "flags": RW}}},
                "EBUSY")
        assert g.entry(3, 100) == 0


def test_l1_ro_to_rw_of_its_own_page_table_mapping_is_ebusy(g):
    """mod_l1_entry(): _PAGE_RW is not in FASTPATH_FLAG_WHITELIST, so RO -> RW of the
    L1's own mapping goes through get_page_from_l1e() and fails -EBUSY."""
    old = g.entry(3, 3)
    g.fails({"mmu_update": {"pfn": 3, "index": 3, "entry": {"pfn": 3, "flags": RW}}}, "EBUSY")
    assert g.entry(3, 3) == old


def test_l1_fast_path_changing_accessed_dirty_user_keeps_refs(g):
    """mod_l1_entry(): !l1e_has_changed(ol1e, nl1e, ~FASTPATH_FLAG_WHITELIST): the entry
    is written without taking or dropping references."""
    before = counts(g.w)
    ev = g.ok({"mmu_update": {"pfn": 3, "index": 40, "entry": {
        "pfn": 40, "flags": ["present", "rw", "accessed", "dirty", "user", "nx", "global"]}}})
    assert_counts_equal(before, counts(g.w), "fast path")
    assert [d for d in ev["deltas"] if d["kind"] == "frame" and d["mfn"] == g.mfn(40)] == []


def test_l1_fast_path_does_not_apply_to_a_different_frame(g):
    """l1e_has_changed() compares the frame: a new frame takes the slow path."""
    b40, b41 = g.frame(40), g.frame(41)
    g.ok({"mmu_update": {"pfn": 3, "index": 40, "entry": {"pfn": 41, "flags": RW}}})
    assert g.frame(40)["count"] == b40["count"] - 1
    assert g.frame(41)["count"] == b41["count"] + 1
    assert g.frame(41)["type_count"] == b41["type_count"] + 1


# -- L2..L4 entries --------------------------------------------------------------------------------


@pytest.mark.parametrize("table", [0, 1, 2], ids=["l4", "l3", "l2"])
@pytest.mark.parametrize("target", [DOM0_MFN, FREE_MFN, NOT_RAM_MFN],
                         ids=["dom0", "free", "not-ram"])
def test_upper_entry_to_non_guest_frame_is_einval(g, table, target):
    """get_page_from_l2e/l3e/l4e(): get_page_and_type_from_mfn() -> get_page_from_mfn()
    fails for a frame the guest does not own: -EINVAL (and the linear fallback refuses it
    too)."""
    for flags in (UPPER, RO):
        g.fails({"mmu_update": {"pfn": table, "index": 7,
                                "entry": {"mfn": target, "flags": flags}}}, "EINVAL")
        assert g.entry(table, 7) == 0


def test_l2_global_flag_is_einval(g):
    """L2_DISALLOW_MASK is base_disallow_mask, which includes _PAGE_GLOBAL."""
    g.make_ro(21)
    g.fails({"mmu_update": {"pfn": 2, "index": 7,
                            "entry": {"pfn": 21, "flags": UPPER + ["global"]}}}, "EINVAL")


def test_l2_pse_flag_is_einval(g):
    """L2_DISALLOW_MASK: no PV superpages (_PAGE_PSE in base_disallow_mask)."""
    g.make_ro(21)
    g.fails({"mmu_update": {"pfn": 2, "index": 7,
                            "entry": {"pfn": 21, "flags": UPPER + ["pse"]}}}, "EINVAL")


def test_l2_entry_to_a_plain_page_validates_it_as_l1(g):
    """get_page_from_l2e() -> get_page_and_type_from_mfn(PGT_l1_page_table): a page with
    type count 0 changes type and is validated; the entry holds a general + l1 type ref."""
    g.make_ro(21)
    g.ok({"mmu_update": {"pfn": 21, "index": 0, "entry": {"pfn": 30, "flags": RW}}})
    b21, b30 = g.frame(21), g.frame(30)
    g.ok({"mmu_update": {"pfn": 2, "index": 7, "entry": {"pfn": 21, "flags": UPPER}}})
    f21 = g.frame(21)
    assert (f21["type"], f21["validated"], f21["type_count"]) == ("l1", True, 1)
    assert f21["count"] == b21["count"] + 1
    assert g.frame(30)["type_count"] == b30["type_count"] + 1


def test_l2_entry_to_page_mapped_rw_is_einval(g):
    """_get_page_type(PGT_l1_page_table) on a page with writable type count 1: "Bad type",
    -EINVAL."""
    g.fails({"mmu_update": {"pfn": 2, "index": 7, "entry": {"pfn": 21, "flags": UPPER}}},
            "EINVAL")


def test_l2_entry_whose_l1_fails_validation_leaves_it_type_none(g):
    """validate_page() error path on promote_l1_table(): type_info = 0."""
    g.make_ro(21)
    g.ok({"mmu_update": {"pfn": 21, "index": 5, "entry": {"mfn": DOM0_MFN, "flags": RO}}})
    g.fails({"mmu_update": {"pfn": 2, "index": 7, "entry": {"pfn": 21, "flags": UPPER}}},
            "EBUSY")
    f = g.frame(21)
    assert (f["type"], f["type_count"], f["validated"]) == ("none", 0, False)


@pytest.mark.parametrize("slot", [256, 260, 271])
def test_l4_update_in_xen_slots_is_einval(g, slot):
    """mod_l4_entry(): !is_guest_l4_slot(): "L4 update in Xen-private area", -EINVAL,
    even for a non-present value."""
    g.fails({"mmu_update": {"pfn": 0, "index": slot, "entry": 0}}, "EINVAL")
    g.fails({"mmu_update": {"pfn": 0, "index": slot, "entry": {"pfn": 1, "flags": UPPER}}},
            "EINVAL")


@pytest.mark.parametrize("slot", [255, 272])
def test_l4_update_next_to_xen_slots_is_allowed(g, slot):
    """is_guest_l4_slot(): only 256..271 are Xen's."""
    g.ok({"mmu_update": {"pfn": 0, "index": slot, "entry": 0}})


def test_l4_entry_to_a_second_l3_validates_it(g):
    """get_page_from_l4e(): get_page_and_type_from_mfn(PGT_l3_page_table) validates a
    plain page as an L3 (recursively validating what it names)."""
    g.make_ro(20)
    g.ok({"mmu_update": {"pfn": 20, "index": 0, "entry": {"pfn": 2, "flags": UPPER}}})
    b2 = g.frame(2)
    g.ok({"mmu_update": {"pfn": 0, "index": 1, "entry": {"pfn": 20, "flags": UPPER}}})
    assert (g.frame(20)["type"], g.frame(20)["validated"]) == ("l3", True)
    assert g.frame(2)["type_count"] == b2["type_count"] + 1


def test_upper_fast_path_changing_accessed_keeps_refs(g):
    """mod_l2_entry(): fast path for whitelisted flag changes (here dropping accessed)."""
    before = counts(g.w)
    g.ok({"mmu_update": {"pfn": 2, "index": 0,
                         "entry": {"pfn": 3, "flags": ["present", "rw", "user", "dirty"]}}})
    assert_counts_equal(before, counts(g.w), "L2 fast path")


def test_clearing_the_only_l2_entry_devalidates_the_kernel_l1(g):
    """mod_l2_entry() -> put_page_from_l2e() -> _put_page_type(): the L1's last type ref
    goes, it is de-validated (type field kept) and its RW mappings' writable refs drop."""
    g.ok({"mmu_update": {"pfn": 2, "index": 0, "entry": 0}})
    f = g.frame(3)
    assert (f["type"], f["type_count"], f["validated"]) == ("l1", 0, False)
    assert g.frame(40)["type_count"] == 0


# -- the table being updated ---------------------------------------------------------------


@pytest.mark.parametrize("table", [{"mfn": DOM0_MFN}, {"mfn": FREE_MFN},
                                   {"mfn": NOT_RAM_MFN}], ids=["dom0", "free", "not-ram"])
def test_update_of_a_frame_that_is_not_the_guests_is_einval(g, table):
    """do_mmu_update(): get_page_from_gfn() fails: "Could not get page for normal update",
    -EINVAL."""
    g.fails({"mmu_update": {**table, "index": 0, "entry": 0}}, "EINVAL")


def test_update_of_a_data_page_is_a_plain_write(g):
    """do_mmu_update(): page_lock() succeeds on a validated writable page with a type
    count: PGT_writable_page case, paging_write_guest_entry()."""
    before = counts(g.w)
    g.ok({"mmu_update": {"pfn": 40, "index": 9, "entry": {"mfn": DOM0_MFN, "flags": RW}}})
    assert_counts_equal(before, counts(g.w), "plain write")
    assert g.entry(40, 9) != 0


def test_update_of_unreferenced_writable_page_uses_the_fallback(g):
    """do_mmu_update(): page_lock() fails (type count 0) -> get_page_type(writable),
    write, put_page_type(): type writable, count 0, validated."""
    g.make_ro(40)
    g.ok({"mmu_update": {"pfn": 40, "index": 9, "entry": 0x1234}})
    f = g.frame(40)
    assert (f["type"], f["type_count"], f["validated"]) == ("writable", 0, True)


def test_update_of_devalidated_table_takes_the_writable_fallback(g):
    """do_mmu_update(): page_lock() fails on a de-validated table; get_page_type(
    PGT_writable_page) succeeds at type count 0, so the page becomes writable (Case 2)."""
    g.build_l2_over_l1()
    g.ok({"mmuext": {"cmd": "pin_l2", "pfn": 20}})
    g.ok({"mmuext": {"cmd": "unpin", "pfn": 20}})
    assert (g.frame(20)["type"], g.frame(20)["validated"]) == ("l2", False)
    before = counts(g.w)
    g.ok({"mmu_update": {"pfn": 20, "index": 1, "entry": {"mfn": DOM0_MFN, "flags": UPPER}}})
    assert_counts_equal(before, counts(g.w), "writable fallback")
    f = g.frame(20)
    assert (f["type"], f["type_count"], f["validated"]) == ("writable", 0, True)


def test_update_of_partially_validated_table_is_einval(g):
    """do_mmu_update(): page_lock() fails (not validated); get_page_type(writable) fails
    on the L2 with type count 1 ("Bad type"): rc stays -EINVAL."""
    g.build_l2_over_l1()
    g.ok({"mmu_update": {"pfn": 20, "index": 5, "entry": {"pfn": 22, "flags": RO}}})
    g.make_ro(22)
    assert g.apply({"mmuext": {"cmd": "pin_l2", "pfn": 20, "preempt_after": 1}})["errno"] \
        == "ERESTART"
    g.fails({"mmu_update": {"pfn": 20, "index": 1, "entry": 0}}, "EINVAL")
    assert g.frame(20)["partial"]


# -- what Xen stores ----------------------------------------------------------------------


def test_l1_entry_is_stored_as_adjust_guest_l1e_makes_it(g):
    """mod_l1_entry(): `nl1e = adjust_guest_l1e(nl1e, pt_dom)` before UPDATE_ENTRY(); for a
    64-bit PV guest a present entry without _PAGE_USER gets _PAGE_USER |
    _PAGE_GUEST_KERNEL (xen/arch/x86/pv/mm.h)."""
    g.ok({"mmu_update": {"pfn": 3, "index": 100, "entry": {"pfn": 40, "flags": RW}}})
    g.check(entry={"pfn": 3, "index": 100}, flags=["present", "rw", "user"])


def test_l4_entry_is_stored_as_adjust_guest_l4e_makes_it(g):
    """mod_l4_entry(): `nl4e = adjust_guest_l4e(nl4e, d)`: _PAGE_ACCESSED is set
    unconditionally and _PAGE_USER for a 64-bit guest."""
    g.ok({"mmu_update": {"pfn": 0, "index": 0, "entry": {"pfn": 1, "flags": RW}}})
    g.check(entry={"pfn": 0, "index": 0}, flags=["accessed", "present", "rw", "user"])


@pytest.mark.parametrize("bits", [0x8, 0x10], ids=["pwt", "pcd"])
def test_l1_cache_attribute_bits_are_einval(g, bits):
    """l1_disallow_mask(): a domain without I/O resources may not set PWT/PCD/PAT."""
    g.fails({"mmu_update": {"pfn": 3, "index": 100,
                            "entry": (g.mfn(40) << 12) | 0x1 | bits}}, "EINVAL")


def test_avail_and_high_software_bits_are_allowed(g):
    """base_disallow_mask leaves _PAGE_AVAIL (bits 9..11) and _PAGE_AVAIL_HIGH (52..62)
    to the guest, at every level; an L1 entry also refuses bit 62, _PAGE_GNTTAB
    (L1_DISALLOW_MASK)."""
    g.ok({"mmu_update": {"pfn": 3, "index": 100,
                         "entry": (g.mfn(40) << 12) | 0x1 | (0x7 << 9) | (0x3FF << 52)}})
    g.fails({"mmu_update": {"pfn": 3, "index": 101,
                            "entry": (g.mfn(40) << 12) | 0x1 | (1 << 62)}}, "EINVAL")
    g.ok({"mmu_update": {"pfn": 2, "index": 0,
                         "entry": (g.mfn(3) << 12) | 0x27 | (0x7 << 9)}})
