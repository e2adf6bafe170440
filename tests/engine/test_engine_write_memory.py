"""Guest stores (`write`) and HYPERVISOR_memory_op: XENMEM_decrease_reservation
(guest_remove_page(), xen/common/memory.c) and XENMEM_populate_physmap."""

from __future__ import annotations

import pytest
from engine_helpers import DOM0_MFN, FREE_MFN, NOT_RAM_MFN, RO, assert_counts_equal, counts

# -- write ---------------------------------------------------------------------------------


def test_write_to_a_data_page_succeeds_and_keeps_counts(g):
    """A store through a writable mapping: get_page_type(PGT_writable_page) taken and
    dropped; nothing else changes."""
    before = counts(g.w)
    g.ok({"write": {"pfn": 40}})
    assert_counts_equal(before, counts(g.w), "write")


def test_write_to_a_plain_page_makes_it_writable(make):
    """_get_page_type(PGT_writable_page) at count 0 on type none: type writable,
    PGT_validated set at once (no validation needed)."""
    g = make(layout="bare")
    g.ok({"write": {"pfn": 5}})
    f = g.frame(5)
    assert (f["type"], f["validated"], f["type_count"], f["count"]) == ("writable", True, 0, 1)


@pytest.mark.parametrize("pfn", [0, 1, 2, 3])
def test_write_to_a_referenced_page_table_is_ebusy_and_changes_nothing(g, pfn):
    """get_page_from_l1e() with _PAGE_RW: get_page_type() fails on a page table with a
    non-zero type count: -EBUSY (the guest would fault)."""
    before = g.frame(pfn)
    ev = g.fails({"write": {"pfn": pfn}}, "EBUSY")
    assert g.frame(pfn) == before
    assert [d for d in ev["deltas"] if d["kind"] != "frame" or d["field"] != "count"] == []


def test_write_to_a_devalidated_table_makes_it_writable(g):
    """As the MMU_NORMAL_PT_UPDATE fallback: type count 0, so the type changes."""
    g.build_l2_over_l1()
    g.ok({"mmuext": {"cmd": "pin_l2", "pfn": 20}})
    g.ok({"mmuext": {"cmd": "unpin", "pfn": 20}})
    g.ok({"write": {"pfn": 20}})
    f = g.frame(20)
    assert (f["type"], f["validated"], f["type_count"]) == ("writable", True, 0)


def test_write_to_a_partial_page_is_ebusy(g):
    """Type count 1 (PGT_partial) of a page-table type: get_page_type(writable) fails."""
    g.build_l2_over_l1()
    g.make_ro(22)
    g.ok({"mmu_update": {"pfn": 20, "index": 1, "entry": {"pfn": 22, "flags": RO}}})
    assert g.apply({"mmuext": {"cmd": "pin_l2", "pfn": 20, "preempt_after": 1}})["errno"] \
        == "ERESTART"
    g.fails({"write": {"pfn": 20}}, "EBUSY")


@pytest.mark.parametrize("ref", [{"mfn": DOM0_MFN}, {"mfn": FREE_MFN}],
                         ids=["dom0", "free"])
def test_write_to_a_frame_not_the_guests_is_ebusy(g, ref):
    """get_page_from_l1e(): could_not_pin."""
    g.fails({"write": ref}, "EBUSY")


# -- decrease_reservation ------------------------------------------------------------------


def test_decrease_of_an_unreferenced_page_frees_it(make):
    """guest_remove_page(): put_page_alloc_ref() + put_page() of the lookup: the last
    general reference goes and free_domheap_page() runs; the guest's P2M entry is cleared."""
    g = make(layout="bare")
    mfn = g.mfn(5)
    g.ok({"memory": {"cmd": "decrease_reservation", "pfn": 5}})
    h = g.w.guest.host
    assert h.owner_name(mfn) == "free"
    assert (int(h.count[mfn]), bool(h.allocated[mfn])) == (0, False)
    assert int(g.w.guest.p2m[5]) == -1


def test_decrease_of_a_mapped_page_keeps_it_until_unmapped(g):
    """guest_remove_page(): only PGC_allocated's reference goes; the L1 mapping still
    holds one, so the frame stays the guest's until the mapping is removed."""
    mfn = g.mfn(40)
    b = g.frame(40)
    g.ok({"memory": {"cmd": "decrease_reservation", "pfn": 40}})
    f = g.frame(mfn=mfn)
    assert (f["owner"], f["allocated"], f["count"]) == ("guest", False, b["count"] - 1)
    assert int(g.w.guest.p2m[40]) == -1
    g.ok({"mmu_update": {"pfn": 3, "index": 40, "entry": 0}})
    f = g.frame(mfn=mfn)
    assert (f["owner"], f["count"], f["type_count"]) == ("free", 0, 0)


def test_decrease_of_the_pinned_base_pointer_keeps_it(g):
    """4.15's guest_remove_page() does not unpin: pin, base pointer and mappings keep the
    L4 alive."""
    mfn = g.mfn(0)
    g.ok({"memory": {"cmd": "decrease_reservation", "pfn": 0}})
    f = g.frame(mfn=mfn)
    assert (f["owner"], f["pinned"], f["validated"], f["allocated"]) == \
        ("guest", True, True, False)


def test_decrease_twice_by_mfn_while_mapped_drops_nothing_more(g):
    """put_page_alloc_ref(): test_and_clear_bit(_PGC_allocated) is already clear."""
    mfn = g.mfn(40)
    g.ok({"memory": {"cmd": "decrease_reservation", "pfn": 40}})
    before = counts(g.w)
    g.ok({"memory": {"cmd": "decrease_reservation", "mfn": mfn}})
    assert_counts_equal(before, counts(g.w), "second decrease")


def test_decrease_of_a_ballooned_pfn_is_einval(g):
    """guest_remove_page(): !mfn_valid(INVALID_MFN): "page number invalid", -EINVAL."""
    g.ok({"memory": {"cmd": "decrease_reservation", "pfn": 40}})
    g.fails({"memory": {"cmd": "decrease_reservation", "pfn": 40}}, "EINVAL")


def test_decrease_of_a_non_ram_mfn_is_einval(g):
    """guest_remove_page(): !mfn_valid(mfn): -EINVAL."""
    g.fails({"memory": {"cmd": "decrease_reservation", "mfn": NOT_RAM_MFN}}, "EINVAL")


@pytest.mark.parametrize("mfn", [DOM0_MFN, FREE_MFN], ids=["dom0", "free"])
def test_decrease_of_a_frame_not_the_guests_is_enxio(g, mfn):
    """guest_remove_page(): for a PV guest get_gfn_query() returns the MFN as p2m_ram_rw;
    mfn_valid() holds, so the failure is get_page(page, d): "Bad page free for Dom%u GFN",
    -ENXIO (not the -EINVAL of an invalid MFN)."""
    g.fails({"memory": {"cmd": "decrease_reservation", "mfn": mfn}}, "ENXIO")


# -- populate_physmap ----------------------------------------------------------------------


def test_populate_after_decrease_gives_the_pfn_a_fresh_frame(make):
    """populate_physmap(): alloc_domheap_pages() + assign_pages(): PGC_allocated | 1,
    type none; set_gpfn_from_mfn(); the guest enters it in its P2M."""
    g = make(layout="bare")
    g.ok({"memory": {"cmd": "decrease_reservation", "pfn": 5}})
    g.ok({"memory": {"cmd": "populate_physmap", "pfn": 5}})
    mfn = g.mfn(5)
    f = g.frame(mfn=mfn)
    assert (f["owner"], f["allocated"], f["count"], f["type"], f["type_count"], f["m2p"]) == \
        ("guest", True, 1, "none", 0, 5)


def test_populate_when_the_host_is_full_is_enomem(make):
    """alloc_domheap_pages() fails: -ENOMEM, nothing assigned."""
    g = make(source={"frames": 320, "reserved": [{"first": 0, "last": 255, "owner": "dom0"}]})
    assert g.w.guest.host.free_frames() == 0
    g.ok({"memory": {"cmd": "decrease_reservation", "pfn": 40}})  # still mapped: not freed
    g.fails({"memory": {"cmd": "populate_physmap", "pfn": 40}}, "ENOMEM")
    assert int(g.w.guest.p2m[40]) == -1
    g.ok({"mmu_update": {"pfn": 3, "index": 40, "entry": 0}})  # frees it
    g.ok({"memory": {"cmd": "populate_physmap", "pfn": 40}})
    assert g.w.guest.host.free_frames() == 0


def test_ballooned_pinned_table_is_freed_by_its_last_unpin(g):
    """guest_remove_page() leaves a pinned L2 alive; MMUEXT_UNPIN_TABLE then drops the
    pin's type ref (de-validating it, which releases the L1 below) and the last general
    refs, so free_domheap_page() runs: owner free, type none, contents scrubbed."""
    g.build_l2_over_l1()
    g.ok({"mmuext": {"cmd": "pin_l2", "pfn": 20}})
    l2 = g.mfn(20)
    g.ok({"memory": {"cmd": "decrease_reservation", "pfn": 20}})
    g.ok({"mmu_update": {"pfn": 3, "index": 20, "entry": 0}})  # the kernel's RO mapping
    f = g.frame(mfn=l2)
    assert (f["owner"], f["count"], f["pinned"], f["validated"]) == ("guest", 1, True, True)
    g.ok({"mmuext": {"cmd": "unpin", "mfn": l2}})
    f = g.frame(mfn=l2)
    assert (f["owner"], f["count"], f["type"], f["type_count"]) == ("free", 0, "none", 0)
    assert l2 not in g.w.guest.host.contents
    f21 = g.frame(21)
    assert (f21["type"], f21["type_count"], f21["validated"]) == ("l1", 0, False)
