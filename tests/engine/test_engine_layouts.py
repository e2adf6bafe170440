"""The domain builder's layouts as the scenario contract (section 1) states them; the
initial state satisfies the audit (reference section 9)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("pages", [5, 64, 513, 700])
def test_linear_layout_matches_the_contract(make, pages):
    """One L4 (PFN 0), L3s, L2s, then ceil(pages/512) L1s; upper entries present+rw+user+
    accessed; page tables mapped read-only, data pages read-write, stored as Xen's
    validation leaves them (adjust_guest_l1e(): _PAGE_USER | _PAGE_GUEST_KERNEL); L4 pinned
    and the base pointer; data pages hold one writable type reference."""
    g = make(pages=pages)
    n_l1 = -(-pages // 512)
    types = ["l4", "l3", "l2"] + ["l1"] * n_l1
    for pfn, typ in enumerate(types):
        f = g.frame(pfn)
        assert (f["type"], f["validated"], f["owner"]) == (typ, True, "guest")
    assert g.frame(0)["pinned"] and g.frame(0)["type_count"] == 2
    assert g.w.guest.cr3 == g.mfn(0)
    n_pt = len(types)
    for pfn in range(pages):
        l1_pfn, index = 3 + pfn // 512, pfn % 512
        e = g.entry(l1_pfn, index)
        assert (e >> 12) & ((1 << 40) - 1) == g.mfn(pfn)
        assert e & 0xfff == (0x5 if pfn < n_pt else 0x7), f"pfn {pfn}"
        assert e >> 52 == 1, f"pfn {pfn}: _PAGE_GUEST_KERNEL"
    for pfn in range(n_pt, pages):
        f = g.frame(pfn)
        assert (f["type"], f["type_count"], f["count"]) == ("writable", 1, 2)
    assert g.entry(2, 0) & 0xfff == 0x27


def test_bare_layout_pages_are_allocated_type_none(make):
    """bare: count 1 (PGC_allocated), type none, no tables, no base pointer."""
    g = make(layout="bare")
    assert g.w.guest.cr3 is None
    for pfn in range(64):
        f = g.frame(pfn)
        assert (f["count"], f["type"], f["type_count"], f["validated"]) == (1, "none", 0, False)


@pytest.mark.parametrize("alloc,first", [("ascending", 256), ("descending", 1023)])
def test_source_frames_are_taken_in_pfn_order(make, alloc, first):
    """hosts.source.alloc: PFNs take frames in PFN order from the allocation order."""
    g = make(source={"frames": 1024, "reserved": [{"first": 0, "last": 255, "owner": "dom0"}],
                     "alloc": alloc})
    assert g.mfn(0) == first
