"""The guest's hypercalls and stores, and the tool stack's XEN_DOMCTL_getpageframeinfo3.

Each entry point takes MFNs, as a PV guest passes them (it translates its PFNs through its
own P2M), and returns Xen's rc: 0 or a negative errno.
"""

from __future__ import annotations

import numpy as np

from . import pte as ptes
from .constants import (
    INVALID_MFN,
    PFINFO_L1TAB,
    PFINFO_LPINTAB,
    PFINFO_NOTAB,
    PFINFO_XTAB,
    PGT,
    Errno,
)
from .explain import describe
from .host import OWNER_GUEST
from .mm import (
    EBUSY,
    EINTR,
    EINVAL,
    ERESTART,
    MM,
    NO_PREEMPTION,
    Preemption,
    is_guest_l4_slot,
)

ENOMEM = -int(Errno.ENOMEM)
ENXIO = -int(Errno.ENXIO)
FN_MMU = "do_mmu_update"


def get_page_from_gfn(mm: MM, mfn: int, fn: str) -> bool:
    """get_page_from_gfn() for a PV guest: the "gfn" is an MFN the guest must own."""
    return mm.get_page(mfn, fn)


# -- HYPERVISOR_mmu_update ----------------------------------------------------------------
def do_mmu_update(mm: MM, table_mfn: int, index: int, value: int) -> int:
    """One MMU_NORMAL_PT_UPDATE request: write `value` at `index` of frame `table_mfn`."""
    h = mm.h
    if not get_page_from_gfn(mm, table_mfn, FN_MMU):
        # "Could not get page for normal update"
        return mm.fail(EINVAL, FN_MMU, f"could not get the page: {describe(h, table_mfn)}",
                       table_mfn)
    rc = EINVAL
    # page_lock() succeeds only on a validated page with a non-zero type count.
    if h.validated[table_mfn] and h.type_count[table_mfn] > 0:
        type_ = int(h.type[table_mfn])
        if type_ == PGT.l1:
            rc = mod_l1_entry(mm, table_mfn, index, value)
        elif type_ in (PGT.l2, PGT.l3, PGT.l4):
            rc = mod_lne_entry(mm, table_mfn, index, value, type_)
        elif type_ == PGT.writable:
            h.write_entry(table_mfn, index, value, "paging_write_guest_entry")
            rc = 0
        else:
            mm.fail(rc, FN_MMU, f"page_lock() held, but {describe(h, table_mfn)}: neither a "
                    "page table nor writable", table_mfn)
        if rc:
            mm.at(table_mfn, index)
    elif mm.get_page_type(table_mfn, PGT.writable) == 0:
        # Not a validated, referenced page table (a de-validated one included): the value
        # is written as plain data under a writable type reference. The type stays writable.
        h.write_entry(table_mfn, index, value, "paging_write_guest_entry")
        mm.put_page_type(table_mfn)
        rc = 0
    else:
        f = mm.failure
        mm.fail(rc, FN_MMU, "not a validated page table, and it cannot be written as data: "
                f"{f.why if f else describe(h, table_mfn)}", table_mfn, replace=True)
    if rc == 0:
        mm.d.paging_mark_dirty(table_mfn, FN_MMU)
    mm.put_page(table_mfn, FN_MMU)
    mm.put_old_guest_table()
    return rc


def mod_l1_entry(mm: MM, table_mfn: int, index: int, new: int) -> int:
    h = mm.h
    old = h.entry(table_mfn, index)
    if ptes.present(new):
        if ptes.flags_of(new) & ptes.L1_DISALLOW_MASK:
            return mm.fail(EINVAL, "mod_l1_entry", f"Bad L1 flags: "
                           f"{ptes.flags_of(new) & ptes.L1_DISALLOW_MASK:#x} are in "
                           "L1_DISALLOW_MASK", ptes.mfn_of(new))  # "Bad L1 flags"
        new = ptes.adjust_guest(1, new)
        if not ptes.has_changed(old, new, ptes.FASTPATH_FLAG_WHITELIST):
            # Fast path: same frame, same significant flags: no references change.
            h.write_entry(table_mfn, index, new, "mod_l1_entry")
            return 0
        rc = mm.get_page_from_l1e(new)
        if rc:
            return rc
    h.write_entry(table_mfn, index, new, "mod_l1_entry")
    mm.put_page_from_l1e(old)
    return 0


def mod_lne_entry(mm: MM, table_mfn: int, index: int, new: int, level: int) -> int:
    """mod_l2_entry() .. mod_l4_entry()."""
    h = mm.h
    fn = f"mod_l{level}_entry"
    if level == PGT.l4 and not is_guest_l4_slot(index):
        return mm.fail(EINVAL, fn, f"L4 update in Xen-private area: slot {index} is one "
                       "of Xen's (256..271)")  # "L4 update in Xen-private area"
    old = h.entry(table_mfn, index)
    if ptes.present(new):
        if ptes.flags_of(new) & ptes.DISALLOW_MASK[level]:
            return mm.fail(EINVAL, fn, f"Bad L{level} flags: "
                           f"{ptes.flags_of(new) & ptes.DISALLOW_MASK[level]:#x} are in "
                           f"L{level}_DISALLOW_MASK", ptes.mfn_of(new))  # "Bad L%d flags"
        new = ptes.adjust_guest(level, new)
        if not ptes.has_changed(old, new, ptes.FASTPATH_FLAG_WHITELIST):
            h.write_entry(table_mfn, index, new, fn)
            return 0
        rc = mm.get_page_from_lne(new, table_mfn, level)
        if rc < 0:
            return rc
    h.write_entry(table_mfn, index, new, fn)
    mm.put_page_from_lne(old, table_mfn)
    return 0


# -- HYPERVISOR_mmuext_op -------------------------------------------------------------------
PIN_LEVEL = {"pin_l1": PGT.l1, "pin_l2": PGT.l2, "pin_l3": PGT.l3, "pin_l4": PGT.l4}


def mmuext_pin(mm: MM, mfn: int, level: int, preempt: Preemption = NO_PREEMPTION) -> int:
    """MMUEXT_PIN_L1_TABLE .. MMUEXT_PIN_L4_TABLE: get_page_type_preemptible()."""
    fn = "do_mmuext_op"
    h = mm.h
    if not get_page_from_gfn(mm, mfn, fn):
        return mm.fail(EINVAL, fn, f"get_page_from_gfn() failed: {describe(h, mfn)}", mfn)
    rc = mm.get_page_type(mfn, level, preempt)
    if rc:
        # -ERESTART: preempted (the guest re-issues the pin to continue); the page (or a
        # table below it) is left PGT_partial. Otherwise "Error while pinning mfn". The
        # lookup reference stays with a page left to old_guest_table.
        if rc == EINTR:
            rc = ERESTART
        if mfn != mm.d.old_guest_table:
            mm.put_page(mfn, fn)
        mm.put_old_guest_table()
        return rc
    if h.pinned[mfn]:
        # "mfn already pinned": pin_drop
        mm.put_page_and_type(mfn)
        return mm.fail(EINVAL, fn, f"mfn already pinned: {describe(h, mfn)}", mfn)
    h.set(mfn, "pinned", True, fn)
    # "A page is dirtied when its pin status is set."
    mm.d.paging_mark_dirty(mfn, fn)
    return 0


def mmuext_unpin(mm: MM, mfn: int) -> int:
    """MMUEXT_UNPIN_TABLE."""
    fn = "do_mmuext_op"
    h = mm.h
    if not get_page_from_gfn(mm, mfn, fn):
        return mm.fail(EINVAL, fn, f"get_page_from_gfn() failed: {describe(h, mfn)}", mfn)
    if not h.pinned[mfn]:
        why = f"mfn not pinned: {describe(h, mfn)}"
        mm.put_page(mfn, fn)
        return mm.fail(EINVAL, fn, why, mfn)  # "mfn not pinned"
    h.set(mfn, "pinned", False, fn)
    mm.put_page_and_type(mfn)
    mm.put_page(mfn, fn)
    # "A page is dirtied when its pin status is cleared."
    mm.d.paging_mark_dirty(mfn, fn)
    return 0


def new_guest_cr3(mm: MM, mfn: int, preempt: Preemption = NO_PREEMPTION) -> int:
    """MMUEXT_NEW_BASEPTR: a general and an L4 (root) type reference on the new base
    (get_page_and_type_from_mfn(PTF_preemptible), without PTF_retain_ref_on_restart: a
    preempted validation keeps only the partial state), then the old base's are
    dropped."""
    old = mm.d.cr3
    if old == mfn:
        return 0
    rc = mm.get_page_and_type_from_mfn(mfn, PGT.l4, preempt)
    if rc:
        mm.put_old_guest_table()
        return ERESTART if rc == EINTR else rc
    mm.d.set_cr3(mfn, "new_guest_cr3")
    if old is not None:
        mm.put_page_and_type(old)
    return 0


# -- a guest store ----------------------------------------------------------------------------
def guest_write(mm: MM, mfn: int) -> int:
    """A store through a writable mapping: as if the mapping were made
    (get_page_from_l1e() with _PAGE_RW) and dropped again. The contents the model tracks
    (page-table entries) are not changed; the frame's type becomes writable."""
    rc = mm.get_page_from_l1e(ptes.make(mfn, ptes.FLAG_BITS["present"] | ptes.FLAG_BITS["rw"]))
    if rc:
        return rc
    mm.d.paging_mark_dirty(mfn, "guest store")
    mm.put_page_and_type(mfn)
    return 0


# -- HYPERVISOR_memory_op ----------------------------------------------------------------------
def guest_remove_page(mm: MM, mfn: int) -> int:
    """XENMEM_decrease_reservation, per extent (xen/common/memory.c guest_remove_page()).
    The PV guest also drops the PFN from its own P2M. The frame is freed once its last
    general reference goes; while mapped or pinned it stays, owned but unallocated."""
    fn = "guest_remove_page"
    h = mm.h
    if mfn == INVALID_MFN or not h.mfn_valid(mfn):
        return mm.fail(EINVAL, fn, "page number invalid: the PFN has no frame",
                       mfn)  # "Domain %u page number %lx invalid"
    if not get_page_from_gfn(mm, mfn, fn):
        return mm.fail(ENXIO, fn, f"Bad page free: {describe(h, mfn)}",
                       mfn)  # "Bad page free for Dom%u GFN %lx"
    pfn = int(h.m2p[mfn])
    if 0 <= pfn < mm.d.pages and int(mm.d.p2m[pfn]) == mfn:
        mm.d.set_p2m(pfn, -1, "balloon driver (guest P2M)")
    if h.allocated[mfn]:
        h.set(mfn, "allocated", False, fn)
        mm.put_page(mfn, fn + " (PGC_allocated)")
    mm.put_page(mfn, fn)
    return 0


def populate_physmap(mm: MM, pfn: int) -> int:
    """XENMEM_populate_physmap for one 4 KiB extent: a frame from the host's allocator,
    M2P set by Xen, P2M set by the guest."""
    h = mm.h
    got = h.alloc_frames(1)
    if got is None:
        return mm.fail(ENOMEM, "populate_physmap", f"the {h.name} host has no free frame")
    mfn = int(got[0])
    h.assign([mfn], "populate_physmap")
    h.set_m2p(mfn, pfn, "set_gpfn_from_mfn")
    mm.d.set_p2m(pfn, mfn, "guest P2M")
    return 0


# -- XEN_DOMCTL_getpageframeinfo3 ---------------------------------------------------------------
def getpageframeinfo3(mm: MM, mfn: int, patched: bool) -> int:
    """The type the tool stack sees for one frame (xen/arch/x86/domctl.c). `patched`
    adds commit 0a87e677f4's branch: a page table neither pinned nor PGT_validated is
    reported NOTAB."""
    h = mm.h
    if not h.mfn_valid(mfn) or h.owner[mfn] != OWNER_GUEST or h.count[mfn] == 0:
        return PFINFO_XTAB
    type_ = int(h.type[mfn])
    info = PFINFO_NOTAB
    if PGT.l1 <= type_ <= PGT.l4:
        info = PFINFO_L1TAB * type_
    if h.pinned[mfn]:
        info |= PFINFO_LPINTAB
    elif patched and not h.validated[mfn]:
        info = PFINFO_NOTAB
    return info


def getpageframeinfo3_batch(mm: MM, mfns: np.ndarray, patched: bool) -> np.ndarray:
    """XEN_DOMCTL_getpageframeinfo3 is itself a batched call: getpageframeinfo3() for
    every MFN of an array at once (the same rules, column-wise)."""
    h = mm.h
    mfns = np.asarray(mfns, np.int64)
    out = np.full(len(mfns), PFINFO_XTAB, np.int64)
    ok = (mfns >= 0) & (mfns < h.frames)
    idx = np.flatnonzero(ok)
    m = mfns[idx]
    owned = (h.owner[m] == OWNER_GUEST) & (h.count[m] != 0)
    idx, m = idx[owned], m[owned]
    type_ = h.type[m].astype(np.int64)
    table = (type_ >= int(PGT.l1)) & (type_ <= int(PGT.l4))
    info = np.where(table, PFINFO_L1TAB * type_, PFINFO_NOTAB).astype(np.int64)
    pinned = h.pinned[m]
    info[pinned] |= PFINFO_LPINTAB
    if patched:
        info[~pinned & ~h.validated[m]] = PFINFO_NOTAB
    out[idx] = info
    return out


__all__ = [
    "EBUSY", "do_mmu_update", "getpageframeinfo3", "getpageframeinfo3_batch",
    "guest_remove_page", "guest_write", "mmuext_pin", "mmuext_unpin", "new_guest_cr3",
    "populate_physmap", "PIN_LEVEL",
]
