"""A few migration properties at the engine level (libxenguest: xg_sr_save.c,
xg_sr_save_x86_pv.c, xg_sr_restore_x86_pv.c, Xen 4.15)."""

from __future__ import annotations


def test_restore_rebuilds_the_tree_pins_and_base_pointer(make):
    """x86_pv_stream_complete(): update_vcpu_context() takes the base pointer's
    references (validating the tree), pin_pagetables() pins every LPINTAB PFN; data pages
    get their writable type refs back from the validated L1."""
    g = make(xen="unpatched")
    g.ok({"migrate": "all"})
    assert g.w.guest_host == "destination"
    f0 = g.frame(0)
    assert (f0["type"], f0["pinned"], f0["validated"], f0["type_count"]) == ("l4", True, True, 2)
    assert g.w.guest.cr3 == g.mfn(0)
    for pfn, typ in ((1, "l3"), (2, "l2"), (3, "l1")):
        assert (g.frame(pfn)["type"], g.frame(pfn)["validated"]) == (typ, True)
    assert (g.frame(40)["type"], g.frame(40)["type_count"]) == ("writable", 1)
    src = g.w.hosts["source"]
    assert src.free_frames() == 1024 - 256  # the source domain is gone


