"""`toolstack: xl | pause`: what the final pass does with a page table normalise_pagetable()
cannot translate (libxenguest 4.15: write_batch(), suspend_and_send_dirty(),
normalise_pagetable() in xg_sr_save.c / xg_sr_save_x86_pv.c).

normalise_pagetable() answers EAGAIN unless ctx->dominfo.paused (XEN_DOMINF_paused, the
controller's pause count). xl suspends a PV guest with SHUTDOWN_suspend and never
controller-pauses it, so the final pass gets EAGAIN again: the page goes as XTAB and its
deferred bit is cleared; `pause` makes the same failure fatal (ERANGE).
"""

from __future__ import annotations

import pytest
from engine_helpers import RO, RW

from engine.packing import unpack

DST_FIRST_FREE = 128  # the destination's dom0 owns MFNs 0..127


def _batches(event, phase=None):
    return [d for d in event["deltas"] if d.get("kind") == "migration"
            and d.get("event") == "batch" and (phase is None or d["phase"] == phase)]


def _action(event, pfn, phase):
    """The action write_batch() took for `pfn` in that phase's batches."""
    for b in _batches(event, phase):
        pfns = unpack(b["pfns"])
        if pfn in pfns:
            i = pfns.index(pfn)
            return unpack(b["types"])[i], unpack(b["actions"])[i]
    return None


def lone_devalidated_l1(g):
    """Case 1 with a lone L1 (PFN 40) whose entry 0 names PFN 41; nothing else maps 40,
    then the guest unmaps 41 and balloons it out: the de-validated L1 names a freed frame."""
    g.make_ro(40)
    g.put(40, 0, {"pfn": 41}, RW)
    g.ok({"mmuext": {"cmd": "pin_l1", "pfn": 40}})
    g.ok({"mmuext": {"cmd": "unpin", "pfn": 40}})
    g.put(3, 40, 0)  # no table names PFN 40 any more
    g.put(3, 41, 0)
    g.ok({"memory": {"cmd": "decrease_reservation", "pfn": 41}})


def test_xl_loses_a_page_never_sent_with_data(make):
    """Unpatched: the de-validated L1 is L1TAB; every pass answers EAGAIN. Under xl the
    final pass sends it as XTAB, clears its deferred bit and the migration succeeds; no
    record carried its contents and no table names it, so the destination has no frame."""
    g = make(xen="unpatched")
    lone_devalidated_l1(g)
    event = g.ok({"migrate": "all"})
    assert event["result"] == "ok"
    assert _action(event, 40, "begin") == ("XTAB", "deferred")
    assert _action(event, 40, "suspend") == ("XTAB", "lost")
    assert _action(event, 41, "suspend") == ("XTAB", "deferred")  # ballooned: not lost
    lost = [d for d in event["deltas"] if d.get("event") == "lost"]
    assert [(d["pfn"], d["level"], d["kept_round"]) for d in lost] == [(40, 1, None)]
    assert "Bad mfn for L1[0]" in lost[0]["why"]
    g.check(guest_on="destination", migration="ok", lost=[40], deferred=[40, 41])
    g.check(pfinfo={"pfn": 40}, **{"is": "XTAB"})
    assert int(g.w.guest.p2m[40]) == -1
    m = g.w.migration
    assert not m.deferred.any()  # bitmap_clear(deferred_pages) after the final pass
    assert [r.lost for r in m.rounds] == [0, 0, 1, 0]
    snap = g.s.snapshot()["migration"]
    assert snap["lost"] == [40] and snap["toolstack"] == "xl"
    assert snap["lost_detail"] == [{"pfn": 40, "kept_round": None, "mfn": None}]


def test_xl_guest_is_suspended_not_paused(make):
    """suspend_domain() checks for SHUTDOWN_suspend only; under xl XEN_DOMINF_paused stays
    clear, under pause xc_domain_pause() sets it. Either way the guest makes no hypercalls."""
    for toolstack, paused in (("xl", False), ("pause", True)):
        g = make()
        g.ok({"migrate": {"phase": "begin", "toolstack": toolstack}})
        g.ok({"migrate": "suspend"})
        assert g.w.guest.suspended and g.w.guest.paused is paused
        g.invalid({"write": {"pfn": 40}})
        g.ok({"migrate": "restore"})
        assert not g.w.guest.suspended and not g.w.guest.paused


def test_pause_keeps_the_abort(make):
    """Under pause the final pass's failure is fatal: ERANGE, "Bad mfn for L1[0]", the
    guest resumes on the source, nothing is lost."""
    g = make(xen="unpatched")
    lone_devalidated_l1(g)
    event = g.apply({"migrate": "all", "toolstack": "pause"})
    assert (event["result"], event["errno"]) == ("failed", "ERANGE")
    assert "Bad mfn for L1[0]" in event["message"]
    g.check(guest_on="source", migration="failed", lost=[])
    assert not g.w.guest.paused and not g.w.guest.suspended and not g.w.guest.log_dirty
    assert g.frame(40)["type"] == "l1"  # the source is untouched


def test_patched_sends_the_devalidated_l1_raw(make):
    """Patched: the de-validated L1 is NOTAB and travels raw under either tool stack."""
    for toolstack in ("xl", "pause"):
        g = make(xen="patched")
        lone_devalidated_l1(g)
        event = g.ok({"migrate": "all", "toolstack": toolstack})
        assert _action(event, 40, "begin") == ("NOTAB", "raw")
        g.check(migration="ok", lost=[], deferred=[41])


def test_xl_keeps_the_older_copy_sent_in_an_earlier_round(make):
    """A pinned L1 sent normalised in round 1; live, the guest balloons out a page it maps
    (the frame stays, held by the mapping, but leaves the P2M) and then writes another
    entry, which dirties the L1. The final pass cannot normalise it: under xl the
    destination keeps round 1's copy (without the new entry) and, its type now XTAB,
    pin_pagetables() does not pin it. This is the same in both variants."""
    for xen in ("patched", "unpatched"):
        g = make(xen=xen)
        g.make_ro(40)
        g.put(40, 0, {"pfn": 41}, RW)
        g.ok({"mmuext": {"cmd": "pin_l1", "pfn": 40}})
        event = g.ok({"migrate": {"phase": "begin"}})
        assert _action(event, 40, "begin") == ("L1TAB+LPINTAB", "normalised")
        g.put(3, 41, 0)
        g.ok({"memory": {"cmd": "decrease_reservation", "pfn": 41}})
        g.put(40, 1, {"pfn": 42}, RO)
        g.ok({"migrate": "round"})  # L1 40 dirty: EAGAIN, deferred
        event = g.ok({"migrate": "suspend"})
        assert _action(event, 40, "suspend") == ("XTAB", "lost")
        g.ok({"migrate": "restore"})
        g.check(migration="ok", lost=[40], normalised=[0, 1, 2, 3, 40])
        dst_mfn = g.mfn(40)
        assert dst_mfn >= DST_FIRST_FREE
        g.check(entry={"pfn": 40, "index": 0}, maps_pfn=41, present=True)
        g.check(entry={"pfn": 40, "index": 1}, present=False)  # the final write is lost
        g.check(frame={"pfn": 40}, type="writable", pinned=False, type_count=0)
        snap = g.s.snapshot()["migration"]
        assert snap["lost_detail"] == [{"pfn": 40, "kept_round": 1, "mfn": dst_mfn}]


def test_lost_pfn_populated_by_localising_its_parent(make):
    """Unpatched: the lost L1 (PFN 21) is named by a de-validated L2 (PFN 20) that is
    normalised and localised, so x86_pv_localise_page() populated an empty frame for it."""
    g = make(xen="unpatched")
    g.build_l2_over_l1()
    g.ok({"mmuext": {"cmd": "pin_l2", "pfn": 20}})
    g.ok({"mmuext": {"cmd": "unpin", "pfn": 20}})
    g.put(3, 30, 0)
    g.ok({"memory": {"cmd": "decrease_reservation", "pfn": 30}})
    g.ok({"migrate": "all"})
    g.check(migration="ok", lost=[21], deferred=[21, 30], normalised=[0, 1, 2, 3, 20])
    mfn = g.mfn(21)
    assert mfn >= 0 and not g.w.guest.host.entries(mfn).any()
    assert g.s.snapshot()["migration"]["lost_detail"] == [
        {"pfn": 21, "kept_round": None, "mfn": mfn}]


@pytest.mark.parametrize("step, field", [
    ({"migrate": {"phase": "round", "toolstack": "xl"}}, "migrate"),
    ({"migrate": "all", "toolstack": "libvirt"}, "migrate.toolstack"),
])
def test_bad_toolstack_is_invalid(g, step, field):
    err = g.invalid(step)
    assert err.field == field


def test_toolstack_is_exported(g):
    g.ok({"migrate": "all", "toolstack": "pause"})
    assert "toolstack: pause" in g.s.export_yaml()
