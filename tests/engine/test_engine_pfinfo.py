"""XEN_DOMCTL_getpageframeinfo3 (xen/arch/x86/domctl.c) for every row of the reference's
section 6 table, under 4.15 (`unpatched`) and with commit 0a87e677f4 (`patched`).
Checked through `check: {pfinfo: ..., is: ...}` steps."""

from __future__ import annotations

import pytest
from engine_helpers import DOM0_MFN, FREE_MFN, NOT_RAM_MFN, RO, UPPER

BOTH = pytest.mark.parametrize("xen", ["unpatched", "patched"])


def _check(g, ref, expected):
    ev = g.apply({"check": {"pfinfo": ref, "is": expected}})
    assert ev["assertions"][0]["ok"], ev["assertions"]


@BOTH
@pytest.mark.parametrize("ref", [{"mfn": DOM0_MFN}, {"mfn": FREE_MFN}, {"mfn": NOT_RAM_MFN}],
                         ids=["dom0", "free", "not-ram"])
def test_frame_not_the_guests_is_xtab(make, xen, ref):
    """get_page_from_gfn() fails: XEN_DOMCTL_PFINFO_XTAB."""
    _check(make(xen=xen), ref, "XTAB")


@BOTH
def test_ballooned_pfn_is_xtab(make, xen):
    """A PFN with no frame: the tool stack asks about INVALID_MFN: XTAB."""
    g = make(layout="bare", xen=xen)
    g.ok({"memory": {"cmd": "decrease_reservation", "pfn": 5}})
    _check(g, {"pfn": 5}, "XTAB")


@BOTH
def test_type_none_is_notab(make, xen):
    """switch on PGT_type_mask has no case for PGT_none: type stays NOTAB (0)."""
    _check(make(layout="bare", xen=xen), {"pfn": 5}, "NOTAB")


@BOTH
def test_writable_page_is_notab(make, xen):
    """PGT_writable_page: NOTAB, referenced (count 1) or not (count 0)."""
    g = make(xen=xen)
    _check(g, {"pfn": 40}, "NOTAB")
    g.make_ro(40)
    _check(g, {"pfn": 40}, "NOTAB")


@BOTH
def test_pinned_l4_is_l4tab_lpintab(make, xen):
    """PGT_pinned: type |= XEN_DOMCTL_PFINFO_LPINTAB."""
    _check(make(xen=xen), {"pfn": 0}, "L4TAB+LPINTAB")


@BOTH
@pytest.mark.parametrize("cmd,pfn,name", [("pin_l1", 3, "L1TAB"), ("pin_l2", 2, "L2TAB"),
                                          ("pin_l3", 1, "L3TAB")])
def test_every_level_pinned_reports_lpintab(make, xen, cmd, pfn, name):
    """LnTAB | LPINTAB for each level."""
    g = make(xen=xen)
    g.ok({"mmuext": {"cmd": cmd, "pfn": pfn}})
    _check(g, {"pfn": pfn}, f"{name}+LPINTAB")


@BOTH
@pytest.mark.parametrize("pfn,name", [(1, "L3TAB"), (2, "L2TAB"), (3, "L1TAB")])
def test_validated_unpinned_table_is_lntab(make, xen, pfn, name):
    """Validated, not pinned: LnTAB under both."""
    _check(make(xen=xen), {"pfn": pfn}, name)


@BOTH
def test_unpinned_base_pointer_l4_is_l4tab(make, xen):
    """The L4 is still validated through the base pointer after unpin."""
    g = make(xen=xen)
    g.ok({"mmuext": {"cmd": "unpin", "pfn": 0}})
    _check(g, {"pfn": 0}, "L4TAB")


@BOTH
def test_devalidated_tables_are_lntab_before_the_patch_and_notab_after(make, xen):
    """De-validated (type kept, count 0, !PGT_validated, not pinned): 4.15 reports the
    type; 0a87e677f4 adds `else if (!(type_info & PGT_validated)) type = NOTAB`."""
    g = make(xen=xen)
    g.build_l2_over_l1()
    g.ok({"mmuext": {"cmd": "pin_l2", "pfn": 20}})
    g.ok({"mmuext": {"cmd": "unpin", "pfn": 20}})
    _check(g, {"pfn": 20}, {"unpatched": "L2TAB", "patched": "NOTAB"}[xen])
    _check(g, {"pfn": 21}, {"unpatched": "L1TAB", "patched": "NOTAB"}[xen])


@BOTH
def test_devalidated_kernel_l1_is_l1tab_before_the_patch_only(make, xen):
    """The kernel L1 de-validated by clearing its L2 entry."""
    g = make(xen=xen)
    g.ok({"mmu_update": {"pfn": 2, "index": 0, "entry": 0}})
    _check(g, {"pfn": 3}, {"unpatched": "L1TAB", "patched": "NOTAB"}[xen])


@BOTH
def test_devalidated_then_written_is_notab_under_both(make, xen):
    """Case 2: the writable fallback makes the type writable: NOTAB under both."""
    g = make(xen=xen)
    g.build_l2_over_l1()
    g.ok({"mmuext": {"cmd": "pin_l2", "pfn": 20}})
    g.ok({"mmuext": {"cmd": "unpin", "pfn": 20}})
    g.ok({"mmu_update": {"pfn": 20, "index": 1, "entry": 0}})
    _check(g, {"pfn": 20}, "NOTAB")


@BOTH
def test_mid_validation_is_lntab_before_the_patch_and_notab_after(make, xen):
    """PGT_partial (type set, !PGT_validated, not pinned): same branch as de-validated."""
    g = make(xen=xen)
    g.build_l2_over_l1()
    g.make_ro(22)
    g.ok({"mmu_update": {"pfn": 20, "index": 1, "entry": {"pfn": 22, "flags": RO}}})
    assert g.apply({"mmuext": {"cmd": "pin_l2", "pfn": 20, "preempt_after": 1}})["errno"] \
        == "ERESTART"
    _check(g, {"pfn": 20}, {"unpatched": "L2TAB", "patched": "NOTAB"}[xen])


@BOTH
def test_failed_pin_after_slot_zero_is_lntab_before_the_patch_only(make, xen):
    """A validation torn down by put_old_guest_table() leaves the page de-validated."""
    g = make(xen=xen)
    g.make_ro(20, 21)
    g.ok({"mmu_update": {"pfn": 20, "index": 0, "entry": {"pfn": 21, "flags": UPPER}}})
    g.ok({"mmu_update": {"pfn": 20, "index": 1, "entry": {"mfn": DOM0_MFN, "flags": UPPER}}})
    g.fails({"mmuext": {"cmd": "pin_l2", "pfn": 20}}, "EINVAL")
    _check(g, {"pfn": 20}, {"unpatched": "L2TAB", "patched": "NOTAB"}[xen])


@BOTH
def test_failed_pin_at_slot_zero_is_notab_under_both(make, xen):
    """validate_page() error with no old_guest_table: type_info = 0: NOTAB."""
    g = make(xen=xen)
    g.make_ro(20)
    g.ok({"mmu_update": {"pfn": 20, "index": 0, "entry": {"mfn": DOM0_MFN, "flags": UPPER}}})
    g.fails({"mmuext": {"cmd": "pin_l2", "pfn": 20}}, "EINVAL")
    _check(g, {"pfn": 20}, "NOTAB")


@BOTH
def test_ballooned_but_still_mapped_frame_reports_its_type(make, xen):
    """get_page_from_gfn() succeeds while the frame is still the guest's (mapped, count
    > 0) even though PGC_allocated is gone: a data page is NOTAB, a pinned L4 keeps
    L4TAB+LPINTAB."""
    g = make(xen=xen)
    l4 = g.mfn(0)
    g.ok({"memory": {"cmd": "decrease_reservation", "pfn": 0}})
    _check(g, {"mfn": l4}, "L4TAB+LPINTAB")
    _check(g, {"pfn": 0}, "XTAB")
