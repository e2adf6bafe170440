"""Reference counting, types, validation and de-validation: the model of
xen/arch/x86/mm.c (Xen 4.15 names first, with the newer names where they differ).

Invariants kept here, as mm.c states them:
- A frame's type may change only while its type count is zero (_get_page_type()).
- A page-table page with a non-zero type count is PGT_validated, or PGT_partial while a
  preempted validation is pending; its present entries then hold references.
- When the last type reference of a validated page table goes, PGT_validated is cleared
  first and every entry's references are dropped (free_page_type()/devalidate_page());
  the type field is left as it was.
- Functions return 0 or a negative errno, as Xen's do; on failure they give back every
  reference they took, except where Xen itself leaves state behind (noted where it does).
"""

from __future__ import annotations

import numpy as np

from . import pte as ptes
from .constants import (
    INVALID_MFN,
    PAGE_TABLE_TYPES,
    PGT,
    ROOT_PAGETABLE_FIRST_XEN_SLOT,
    ROOT_PAGETABLE_LAST_XEN_SLOT,
    Errno,
)
from .domain import Domain
from .explain import PGT_NAMES, Failure, describe
from .host import OWNER_FREE, OWNER_GUEST, Host

EINVAL = -int(Errno.EINVAL)
EBUSY = -int(Errno.EBUSY)
EPERM = -int(Errno.EPERM)
ERESTART = -int(Errno.ERESTART)
EINTR = -int(Errno.EINTR)

# An L1 with this many present entries is validated in bulk when every entry passes.
BULK_L1_ENTRIES = 128
# An L2 naming at least this many fresh L1s, with at least BULK_L1_ENTRIES present L1
# entries between them, validates all of them in bulk when every entry of every one
# passes (the destination's tree when the base pointer is installed).
BULK_L2_TABLES = 2
# Plain ints for the hot paths (an IntEnum member lookup costs more than the check).
L1 = int(PGT.l1)
L2 = int(PGT.l2)
L4 = int(PGT.l4)
NONE = int(PGT.none)
WRITABLE = int(PGT.writable)
NO_CHECK_TYPES = (WRITABLE, int(PGT.shared))  # "No special validation needed"
PT_TYPES = frozenset(int(t) for t in PAGE_TABLE_TYPES)


LINEAR_PT_SLOT = 258  # l4_table_offset(LINEAR_PT_VIRT_START)
# __PAGE_HYPERVISOR_RW: present, rw, accessed, dirty, nx
_PAGE_HYPERVISOR_RW = ptes.flags_from_names(["present", "rw", "accessed", "dirty", "nx"])


def xen_l4_slot_entry(l4mfn: int, index: int) -> int:
    """What init_xen_l4_slots() leaves in a Xen slot, as far as the model shows it."""
    return ptes.make(l4mfn, _PAGE_HYPERVISOR_RW) if index == LINEAR_PT_SLOT else 0


def is_guest_l4_slot(index: int) -> bool:
    """is_guest_l4_slot() for a 64-bit guest: slots 256..271 are Xen's."""
    return not ROOT_PAGETABLE_FIRST_XEN_SLOT <= index <= ROOT_PAGETABLE_LAST_XEN_SLOT


class Preemption:
    """hypercall_preempt_check() made explicit: it answers true in the promotion of the
    table at MFN m once that promotion has passed `points[m]` slots. Only
    promote_l2_table() and promote_l3_table() ask, at every slot i > nr_validated_ptes,
    wherever the table sits in the tree being validated; promote_l1_table() and
    promote_l4_table() have no preemption point."""

    def __init__(self, points: dict[int, int] | None = None) -> None:
        self.points = points or {}

    def check(self, mfn: int, passed: int) -> bool:
        after = self.points.get(mfn)
        return after is not None and passed >= after


NO_PREEMPTION = Preemption()


class MM:
    """mm.c bound to one domain on its host."""

    def __init__(self, dom: Domain) -> None:
        self.d = dom
        self.h: Host = dom.host
        self.failure: Failure | None = None  # where the current error came from (fail())

    # -- why an error is returned -------------------------------------------------------
    def fail(self, rc: int, fn: str, why: str, target: int | None = None, flags: str = "",
             replace: bool = False) -> int:
        """Record the site an rc originates at, and return the rc. The deepest site is
        kept while the same rc travels up; a caller that turns it into another rc (or
        `replace`s it) gives the explanation that matches what the guest sees."""
        f = self.failure
        if f is None or f.rc != rc or replace:
            self.failure = Failure(rc, fn, why, target=target, flags=flags)
        return rc

    def at(self, mfn: int, index: int) -> None:
        """The current error arose at entry `index` of table `mfn`."""
        f = self.failure
        if f is None:
            return
        if f.index is None:
            f.mfn, f.index = mfn, index
        f.path.append((mfn, index))

    # -- general references ------------------------------------------------------------
    def get_page(self, mfn: int, fn: str = "get_page") -> bool:
        """get_page(page, d): fails on a free frame or one the domain does not own."""
        h = self.h
        if not h.mfn_valid(mfn) or h.owner[mfn] != OWNER_GUEST or h.count[mfn] == 0:
            return False
        h.add(mfn, "count", 1, fn)
        return True

    def put_page(self, mfn: int, fn: str = "put_page") -> None:
        """put_page(): the last general reference frees the frame (free_domheap_page())."""
        h = self.h
        assert h.count[mfn] > 0, f"put_page on mfn {mfn} with count 0"
        h.add(mfn, "count", -1, fn)
        if h.count[mfn] == 0:
            self.free_domheap_page(mfn)

    def free_domheap_page(self, mfn: int) -> None:
        h = self.h
        fn = "free_domheap_page"
        assert h.type_count[mfn] == 0 and not h.allocated[mfn]
        h.set(mfn, "owner", OWNER_FREE, fn)
        h.set(mfn, "type", NONE, fn)
        h.set(mfn, "validated", False, fn)
        h.set(mfn, "pinned", False, fn)
        h.set(mfn, "partial", False, fn)
        h.set(mfn, "nr_validated_ptes", 0, fn)
        h.set(mfn, "linear_pt_count", 0, fn)
        if mfn in h.contents:
            h.replace_contents(mfn, None, "scrub_one_page")
        h.note_freed(mfn)

    def get_page_from_mfn(self, mfn: int) -> bool:
        """get_page_from_mfn(): mfn_valid() and get_page()."""
        return self.get_page(mfn, "get_page_from_mfn")

    # -- type references ---------------------------------------------------------------
    def get_page_type(self, mfn: int, type_: int,
                      preempt: Preemption = NO_PREEMPTION) -> int:
        """_get_page_type(): take a type reference, changing the type only at count 0 and
        validating a page-table type that is not PGT_validated."""
        h = self.h
        fn = "_get_page_type"
        continuing = False
        if h.type_count[mfn] == 0:
            if h.type[mfn] != type_:
                h.set(mfn, "type", type_, fn)
                # No validation is needed for writable (and shared) pages.
                h.set(mfn, "validated", type_ in NO_CHECK_TYPES, fn)
            h.set(mfn, "type_count", 1, fn)
        elif h.type[mfn] != type_:
            return self.fail(EINVAL, fn, f"Bad type: wanted {PGT_NAMES[PGT(type_)]}, but "
                             f"{describe(h, mfn)}", target=mfn)  # "Bad type"
        elif not h.validated[mfn]:
            # Another validation in progress could only be waited for; in this model the
            # only unvalidated page with a count is one left PGT_partial: continue it.
            # "Type ref count was left at 1 when PGT_partial got set."
            assert h.partial[mfn], f"mfn {mfn}: validation in progress"
            continuing = True
            h.set(mfn, "partial", False, fn)
        else:
            h.add(mfn, "type_count", 1, fn)

        rc = 0
        if not h.validated[mfn]:
            if not continuing:
                h.set(mfn, "nr_validated_ptes", 0, fn)
                h.set(mfn, "partial_set", False, fn)
                h.set(mfn, "linear_pt_count", 0, fn)
            rc = self.validate_page(mfn, type_, preempt)
        if continuing:
            # "if ( (x & PGT_partial) && !(nx & PGT_partial) ) put_page(page)": the light
            # reference of the continued partial state (validate_page() took a new one if
            # it is left partial again).
            self.put_page(mfn, "put_page (partial reference)")
        return rc

    def validate_page(self, mfn: int, type_: int, preempt: Preemption) -> int:
        """validate_page() (4.15: alloc_page_type())."""
        h = self.h
        fn = "validate_page"
        # "A page table is dirtied when its type count becomes non-zero."
        self.d.paging_mark_dirty(mfn, fn)
        if type_ == L1:
            rc = self.promote_l1_table(mfn)
        else:
            rc = self.promote_table(mfn, type_, preempt)
        # -EINTR (preempted before any slot: type count back to 0, nothing kept) comes
        # only from pv_l1tf_check_lNe() at slot 0, which the model does not have: a
        # preemption check is never made at a promotion's first slot.
        assert rc != EINTR, f"mfn {mfn}: -EINTR from a promotion"
        if rc == 0:
            h.set(mfn, "validated", True, fn)
        elif rc == ERESTART or mfn == self.d.old_guest_table:
            # Preempted, or failed after some entries: the page keeps its type count and a
            # light reference until it is continued or torn down (put_old_guest_table()).
            h.add(mfn, "count", 1, "get_page_light")
            h.set(mfn, "partial", True, fn)
        else:
            # "page->u.inuse.type_info = 0": type none, count 0.
            h.set(mfn, "type", NONE, fn)
            h.set(mfn, "type_count", 0, fn)
            h.set(mfn, "validated", False, fn)
        return rc

    def promote_l1_table(self, mfn: int) -> int:
        """promote_l1_table() (alloc_l1_table()): not preemptible; on error it releases
        what it took at once."""
        entries = self.h.entries(mfn)
        present = np.flatnonzero(entries & np.uint64(1))
        if len(present) >= BULK_L1_ENTRIES and self._promote_l1_bulk(mfn, entries, present):
            return 0
        for n, i in enumerate(present.tolist()):
            e = int(entries[i])
            rc = self.get_page_from_l1e(e)
            if rc:
                self.at(mfn, i)
                for j in reversed(present[:n].tolist()):
                    self.put_page_from_l1e(int(entries[j]))
                return rc
            self._adjust(mfn, i, 1, e)
        return 0

    def _promote_l1_bulk(self, mfn: int, entries: np.ndarray, present: np.ndarray) -> bool:
        """The outcome of get_page_from_l1e() for every present entry, taken at once when
        every one of them succeeds (a large L1, such as the restore side's tree):
        one `frames` delta per field instead of two per entry. Returns False, having
        changed nothing, if any entry would fail: the entry-by-entry path then runs."""
        h = self.h
        e = entries[present]
        if np.any(e & np.uint64(ptes.L1_DISALLOW_MASK)):
            return False
        targets = ptes.mfns_of(e)
        if np.any(targets >= h.frames):
            return False
        if np.any((h.owner[targets] != OWNER_GUEST) | (h.count[targets] == 0)):
            return False
        writers = targets[(e & np.uint64(ptes.FLAG_BITS["rw"])) != 0]
        if not np.all((h.type_count[writers] == 0) | (h.type[writers] == WRITABLE)):
            return False
        h.add_many(targets, "count", 1, "get_page_from_l1e")
        retyped = np.unique(writers[h.type[writers] != WRITABLE])  # all at type count 0
        h.set_many(retyped, "type", WRITABLE, "_get_page_type")
        h.set_many(retyped, "validated", True, "_get_page_type")
        h.add_many(writers, "type_count", 1, "_get_page_type")
        self._adjust_l1_many(mfn, present, e)
        return True

    def _adjust_l1_many(self, mfn: int, index: np.ndarray, e: np.ndarray) -> None:
        """_adjust() of accepted L1 entries at once: only changed entries are written."""
        changed = np.flatnonzero(ptes.adjust_guest_l1_many(e) != e)
        for k in changed.tolist():
            self._adjust(mfn, int(index[k]), 1, int(e[k]))

    def _adjust(self, mfn: int, index: int, level: int, e: int) -> None:
        """`plNe[i] = adjust_guest_lNe(plNe[i], d)` after an entry is accepted."""
        adjusted = ptes.adjust_guest(level, e)
        if adjusted != e:
            self.h.write_entry(mfn, index, adjusted, f"adjust_guest_l{level}e")

    def promote_table(self, mfn: int, level: int, preempt: Preemption) -> int:
        """promote_l2_table() .. promote_l4_table() (alloc_lN_table()), from
        nr_validated_ptes on. partial_flags (`partial_set` here) applies to the first slot
        only: with PTF_partial_set that slot already holds a general reference to a table
        left PGT_partial, whose validation get_page_and_type_from_mfn() continues."""
        h = self.h
        fn = f"promote_l{level}_table"
        start = int(h.nr_validated_ptes[mfn])
        entries = h.entries(mfn)
        if (level == L2 and not start and not h.partial_set[mfn]
                and mfn not in preempt.points and self._promote_l2_bulk(mfn, entries)):
            return 0
        rc, i, slot_partial, e = 0, start, False, 0
        for i in range(start, len(entries)):
            slot_partial = bool(h.partial_set[mfn]) and i == start
            e = int(entries[i])
            if level != L4 and i > start and preempt.check(mfn, i - start):
                rc = EINTR  # hypercall_preempt_check(): -ERESTART below, as i > 0
            elif level == L4 and not is_guest_l4_slot(i):
                continue
            elif not ptes.present(e):
                continue
            else:
                rc = self.get_page_from_lne(e, mfn, level, preempt, slot_partial)
            if rc == ERESTART:
                # A nested table preempted after some progress: "Set 'set', leave
                # 'general ref' set if this entry was set". Only an L3 or L4 sees this.
                self._record_partial(mfn, i, True, fn)
            elif rc == EINTR and i:
                self._record_partial(mfn, i, slot_partial, fn)
                rc = self.fail(ERESTART, fn, f"preempted after {i} entries: re-issue the "
                               "hypercall to continue", target=mfn)
            if rc < 0:
                if rc not in (ERESTART, EINTR):
                    self.at(mfn, i)
                break
            self._adjust(mfn, i, level, e)
        if rc < 0 and rc not in (ERESTART, EINTR):
            self._failed_at(mfn, i, slot_partial, e, fn)
        if rc == 0 and level == L4:
            self.init_xen_l4_slots(mfn)
        return rc

    def _promote_l2_bulk(self, mfn: int, entries: np.ndarray) -> bool:
        """promote_l2_table() of an L2 whose every present entry names a distinct L1 at
        type count 0 (so each is validated in turn, as the destination's tree is when
        its base pointer is installed), done for all of them at once when no entry of the
        L2 or of any of its L1s can fail and no L1 can see another's references: no L1
        is the target of a writable mapping in the set (that would change its type before
        its own validation), and every writable target already has PGT_writable_page or
        type count 0. The references and types then come out as entry by entry, in any
        order: get_page_from_mfn() and _get_page_type() of each L1, get_page_from_l1e()
        of its entries, PGT_validated, then adjust_guest_l1e()/l2e(). Returns False,
        having changed nothing, otherwise; the entry-by-entry path then runs in Xen's
        order, and a failing table fails exactly there."""
        h = self.h
        present = np.flatnonzero(entries & np.uint64(1))
        if len(present) < BULK_L2_TABLES:
            return False
        e2 = entries[present]
        if np.any(e2 & np.uint64(ptes.L2_DISALLOW_MASK)):
            return False
        l1s = ptes.mfns_of(e2)
        if np.any(l1s >= h.frames):
            return False
        # get_page_from_mfn() and _get_page_type(PGT_l1_page_table) at type count 0, then
        # validate_page(): nothing already validated (or partial) to skip or continue.
        if np.any((h.owner[l1s] != OWNER_GUEST) | (h.count[l1s] == 0)
                  | (h.type_count[l1s] != 0) | h.partial[l1s]
                  | ((h.type[l1s] == L1) & h.validated[l1s])):
            return False
        order = np.argsort(l1s, kind="stable")
        if np.any(l1s[order][1:] == l1s[order][:-1]):
            return False  # one L1 named twice: the second entry only takes references
        pages = np.stack([h.entries(m) for m in l1s.tolist()])
        present1 = np.flatnonzero((pages & np.uint64(1)) != 0)
        rows, cols = present1 >> 9, present1 & 511  # 512 entries a table
        if len(rows) < BULK_L1_ENTRIES:
            return False
        e1 = pages[rows, cols]
        if np.any(e1 & np.uint64(ptes.L1_DISALLOW_MASK)):
            return False
        targets = ptes.mfns_of(e1)
        if np.any(targets >= h.frames):
            return False  # not RAM: -EPERM (or -EINVAL for INVALID_MFN)
        if np.any((h.owner[targets] != OWNER_GUEST) | (h.count[targets] == 0)):
            return False
        rw = (e1 & np.uint64(ptes.FLAG_BITS["rw"])) != 0
        writers = targets[rw]
        if not np.all((h.type_count[writers] == 0) | (h.type[writers] == WRITABLE)):
            return False
        in_set = np.zeros(h.frames, np.bool_)
        in_set[l1s] = True
        if np.any(in_set[writers]):
            return False
        fn = "_get_page_type"
        h.add_many(l1s, "count", 1, "get_page_from_mfn")
        retyped = l1s[h.type[l1s] != L1]
        h.set_many(retyped, "type", L1, fn)
        h.set_many(retyped, "validated", False, fn)
        h.set_many(l1s, "type_count", 1, fn)
        h.set_many(l1s, "nr_validated_ptes", 0, fn)
        h.set_many(l1s, "partial_set", False, fn)
        h.set_many(l1s, "linear_pt_count", 0, fn)
        for m in l1s.tolist():  # validate_page(): "A page table is dirtied when..."
            self.d.paging_mark_dirty(m, "validate_page")
        h.add_many(targets, "count", 1, "get_page_from_l1e")
        wretyped = writers[h.type[writers] != WRITABLE]  # all at type count 0
        if len(wretyped) > 1 and not (wretyped[1:] > wretyped[:-1]).all():
            wretyped = np.unique(wretyped)  # each once (ascending already, as a rule)
        h.set_many(wretyped, "type", WRITABLE, fn)
        h.set_many(wretyped, "validated", True, fn)
        h.add_many(writers, "type_count", 1, fn)
        changed = np.flatnonzero(ptes.adjust_guest_l1_many(e1) != e1)
        for k in changed.tolist():
            self._adjust(int(l1s[rows[k]]), int(cols[k]), 1, int(e1[k]))
        h.set_many(l1s, "validated", True, "validate_page")
        for i, e in zip(present.tolist(), e2.tolist(), strict=True):
            self._adjust(mfn, i, L2, e)
        return True

    def _record_partial(self, mfn: int, i: int, partial_set: bool, fn: str) -> None:
        """page->nr_validated_ptes = i; page->partial_flags = ..."""
        self.h.set(mfn, "nr_validated_ptes", i, fn)
        self.h.set(mfn, "partial_set", partial_set, fn)

    def _failed_at(self, mfn: int, i: int, slot_partial: bool, e: int, fn: str) -> None:
        """The failure path of promote_lN_table(): at slot 0 nothing is kept (the caller
        resets type_info); at i > 0 the page becomes old_guest_table, left partial with
        entries 0..i-1 holding references. If a nested table failed first and is
        old_guest_table, its general reference is "transferred" to this page's slot i
        (PTF_partial_set) and this page takes its place.

        Two corners where Xen 4.15 leaves a general reference with no holder, reached only
        by a failure after a resumed nested validation: a resumed table failing at its
        slot 0 with PTF_partial_set, whose child is not old_guest_table
        (get_page_and_type_from_mfn() kept the slot's reference for a caller that records
        nothing); and a parent failing at i > 0 whose slot does not name old_guest_table
        (ASSERT_UNREACHABLE() in a debug build; a release build overwrites
        old_guest_table, which is never torn down)."""
        d = self.d
        child = ptes.mfn_of(e)
        if not i:
            if slot_partial and d.old_guest_table != child:
                d.leak(child)
            return
        partial_set = slot_partial
        if d.old_guest_table is not None:
            if d.old_guest_table == child:
                partial_set = True
            else:
                d.leak(d.old_guest_table)
        self._record_partial(mfn, i, partial_set, fn)
        d.old_guest_table = mfn
        d.old_guest_table_partial = True

    def init_xen_l4_slots(self, mfn: int) -> None:
        """Xen's own mappings in slots 256..271 of a validated L4. The model keeps one:
        slot 258, LINEAR_PT_VIRT_START, a read-write entry naming the L4 itself, which
        makes a former L4 unusable as any other level of table. The others name Xen's
        frames, which the model does not have; they read as empty."""
        h = self.h
        for i in range(ROOT_PAGETABLE_FIRST_XEN_SLOT, ROOT_PAGETABLE_LAST_XEN_SLOT + 1):
            value = xen_l4_slot_entry(mfn, i)
            if h.entry(mfn, i) != value:
                h.write_entry(mfn, i, value, "init_xen_l4_slots")

    def put_page_type(self, mfn: int, partial_set: bool = False) -> None:
        """_put_page_type(): the last type reference of a validated (or partial) page
        table de-validates it; the type field stays. With PTF_partial_set the caller
        holds no full type reference, only the partial one: nothing happens unless the
        page is still PGT_partial (someone else may have finished its validation)."""
        h = self.h
        fn = "_put_page_type"
        if partial_set and not h.partial[mfn]:
            return
        assert partial_set or not h.partial[mfn], f"mfn {mfn}: full put of a partial page"
        assert h.type_count[mfn] > 0, f"put_page_type on mfn {mfn} with type count 0"
        if (h.type_count[mfn] == 1 and int(h.type[mfn]) in PT_TYPES
                and (h.validated[mfn] or h.partial[mfn])):
            was_partial = bool(h.partial[mfn])
            # "Page-table pages must be unvalidated when count is zero": clear first.
            h.set(mfn, "validated", False, fn)
            h.set(mfn, "partial", False, fn)
            self.devalidate_page(mfn, was_partial)
            h.set(mfn, "type_count", 0, fn)
            if was_partial:
                self.put_page(mfn, "put_page (partial reference)")
        else:
            h.add(mfn, "type_count", -1, fn)

    def devalidate_page(self, mfn: int, was_partial: bool) -> None:
        """devalidate_page() (4.15: free_page_type()) with demote_lN_table(): entries
        nr_validated_ptes-1 .. 0, and with PTF_partial_set first the partial one at
        nr_validated_ptes (put with PTF_partial_set)."""
        h = self.h
        fn = "devalidate_page"
        # "A page table is dirtied when its type count becomes zero."
        self.d.paging_mark_dirty(mfn, fn)
        level = int(h.type[mfn])
        if not was_partial:
            h.set(mfn, "nr_validated_ptes", 512, fn)
            h.set(mfn, "partial_set", False, fn)
        partial_set = bool(h.partial_set[mfn])
        top = int(h.nr_validated_ptes[mfn]) - (0 if partial_set else 1)
        entries = h.entries(mfn)
        if level == L1 and self._demote_l1_bulk(entries[:top + 1]):
            return
        if level == L2 and not was_partial and self._demote_l2_bulk(mfn, entries):
            return
        for i in range(top, -1, -1):
            e = int(entries[i])
            if level == L1:
                self.put_page_from_l1e(e)
            elif level != L4 or is_guest_l4_slot(i):
                self.put_page_from_lne(e, mfn, partial_set and i == top)

    def _demote_l2_bulk(self, mfn: int, entries: np.ndarray) -> bool:
        """demote_l2_table() of a validated L2 whose every present entry holds the last
        type reference of a distinct validated L1 (so each L1 is de-validated in turn,
        as when an L3 entry or the L4's last reference goes). Each L1 loses
        PGT_validated, is dirtied, gets nr_validated_ptes 512, drops its entries'
        references (put_page_from_l1e()), its type count and the L2's general reference.
        Where no reference dropped is a frame's last, nothing is freed and the order of
        the puts cannot show: runs of such L1s are done at once. An L1 that drops a last
        reference (its own, or one of a frame it maps) goes entry by entry at its place
        in Xen's order (entries 511..0), so frames are freed as one by one. Returns
        False, having changed nothing, if the L2 is not such a table; the
        entry-by-entry path then runs."""
        h = self.h
        present = np.flatnonzero(entries & np.uint64(1))[::-1]  # 511 .. 0
        if len(present) < BULK_L2_TABLES:
            return False
        l1s = ptes.mfns_of(entries[present])
        if np.any(l1s >= h.frames) or np.any(l1s == mfn):
            return False
        if np.any((h.type[l1s] != L1) | (h.type_count[l1s] != 1) | ~h.validated[l1s]
                  | h.partial[l1s]):
            return False  # a linear entry, a pinned or shared L1: one by one
        if len(np.unique(l1s)) != len(l1s):
            return False
        pages = np.stack([h.entries(m) for m in l1s.tolist()])
        present1 = np.flatnonzero((pages & np.uint64(1)) != 0)
        if len(present1) < BULK_L1_ENTRIES:
            return False
        e1 = pages.reshape(-1)[present1]
        row = present1 >> 9  # which L1 (in Xen's order) holds the entry
        targets = ptes.mfns_of(e1)
        real = targets < h.frames  # mfn_valid(): not-RAM mappings took no reference
        e1, targets, row = e1[real], targets[real], row[real]
        rw = (e1 & np.uint64(ptes.FLAG_BITS["rw"])) != 0
        last = np.zeros(h.frames, np.bool_)
        last[targets] = True
        if np.count_nonzero(last) == len(targets) and not last[l1s].any():
            # Every frame named once (a linear tree): no sort needed to count the puts.
            uniq, times = np.concatenate((targets, l1s)), 1
            wuniq, wtimes = targets[rw], 1
        else:
            uniq, times = np.unique(np.concatenate((targets, l1s)), return_counts=True)
            wuniq, wtimes = np.unique(targets[rw], return_counts=True)
        if np.any(h.type[wuniq] != WRITABLE) or np.any(h.type_count[wuniq] < wtimes):
            return False
        # Frames whose last reference goes with this L2, and the L1s that drop one.
        last[:] = False
        last[uniq[h.count[uniq] <= times]] = True
        alone = last[l1s]
        alone[row[last[targets]]] = True
        k = 0
        while k < len(l1s):
            end = k + 1
            while end < len(l1s) and alone[end] == alone[k]:
                end += 1
            in_run = (row >= k) & (row < end)
            if alone[k] or end - k < BULK_L2_TABLES or np.count_nonzero(in_run) < \
                    BULK_L1_ENTRIES:
                for i in present[k:end].tolist():
                    self.put_page_from_lne(int(entries[i]), mfn)
            else:
                self._demote_l1s_at_once(l1s[k:end], targets[in_run], rw[in_run])
            k = end
        return True

    def _demote_l1s_at_once(self, l1s: np.ndarray, targets: np.ndarray,
                            rw: np.ndarray) -> None:
        """put_page_and_type() of validated L1s (in Xen's order) that each hold one type
        reference, none of whose puts drops a frame's last reference; `targets` and `rw`
        are their present entries' frames and _PAGE_RW."""
        h = self.h
        fn = "_put_page_type"
        asc = np.sort(l1s)
        order = np.argsort(targets, kind="stable")
        targets, rw = targets[order], rw[order]  # ascending: no sort in add_many()
        h.set_many(asc, "validated", False, fn)
        for m in l1s.tolist():  # devalidate_page(): "A page table is dirtied when ..."
            self.d.paging_mark_dirty(m, "devalidate_page")
        h.set_many(asc, "nr_validated_ptes", 512, "devalidate_page")
        h.set_many(asc, "partial_set", False, "devalidate_page")
        h.add_many(targets[rw], "type_count", -1, fn)
        h.add_many(targets[rw], "count", -1, "put_page_and_type")
        h.add_many(targets[~rw], "count", -1, "put_page_from_l1e")
        h.set_many(asc, "type_count", 0, fn)
        h.add_many(asc, "count", -1, "put_page_and_type")

    def _demote_l1_bulk(self, entries: np.ndarray) -> bool:
        """put_page_from_l1e() of every entry at once, when no reference it drops is a
        frame's last (so no frame is freed part way, and the order of the puts cannot
        show): one delta per field instead of two per entry. Returns False, having changed
        nothing, otherwise; the entry-by-entry path then runs in Xen's order."""
        h = self.h
        e = entries[(entries & np.uint64(1)) != 0]
        if len(e) < BULK_L1_ENTRIES:
            return False
        targets = ptes.mfns_of(e)
        real = targets < h.frames  # mfn_valid(): not-RAM mappings took no reference
        e, targets = e[real], targets[real]
        ascending = len(targets) > 1 and bool((targets[1:] > targets[:-1]).all())
        if ascending:
            uniq, times = targets, 1  # each once: no sort needed
        else:
            uniq, times = np.unique(targets, return_counts=True)
        if np.any(h.count[uniq] <= times):
            return False
        rw = (e & np.uint64(ptes.FLAG_BITS["rw"])) != 0
        writers = targets[rw]
        wuniq, wtimes = (writers, 1) if ascending else np.unique(writers, return_counts=True)
        # A writable mapping holds a PGT_writable_page reference: its put never de-validates.
        if np.any(h.type[wuniq] != WRITABLE) or np.any(h.type_count[wuniq] < wtimes):
            return False
        h.add_many(writers, "type_count", -1, "_put_page_type")
        h.add_many(writers, "count", -1, "put_page_and_type")
        h.add_many(targets[~rw], "count", -1, "put_page_from_l1e")
        return True

    def put_page_and_type(self, mfn: int) -> None:
        self.put_page_type(mfn)
        self.put_page(mfn, "put_page_and_type")

    def get_page_and_type_from_mfn(self, mfn: int, type_: int,
                                   preempt: Preemption = NO_PREEMPTION,
                                   partial_set: bool = False, retain_ref: bool = False) -> int:
        """get_page_and_type_from_mfn(): a general and a type reference. With
        PTF_partial_set the caller already holds the general reference. On failure the
        general reference is kept if the caller came with it, if the page is
        old_guest_table, or on -ERESTART with PTF_retain_ref_on_restart (the parent's
        slot then holds it, PTF_partial_set)."""
        if not partial_set and not self.get_page_from_mfn(mfn):
            return self.fail(EINVAL, "get_page_from_mfn", f"found no reference to take: "
                             f"{describe(self.h, mfn)}", target=mfn)
        rc = self.get_page_type(mfn, type_, preempt)
        if rc and not partial_set and mfn != self.d.old_guest_table and not (
                retain_ref and rc == ERESTART):
            self.put_page(mfn)
        return rc

    # -- entries -------------------------------------------------------------------------
    def get_page_from_l1e(self, e: int) -> int:
        """get_page_from_l1e() for a present entry."""
        fn = "get_page_from_l1e"
        mfn = ptes.mfn_of(e)
        rw = "rw" if ptes.writable(e) else "ro"
        if ptes.flags_of(e) & ptes.L1_DISALLOW_MASK:
            return self.fail(EINVAL, fn, "Bad L1 flags: "
                             f"{ptes.flags_of(e) & ptes.L1_DISALLOW_MASK:#x} are in "
                             "L1_DISALLOW_MASK", mfn, rw)  # "Bad L1 flags"
        h = self.h
        if not h.mfn_valid(mfn):
            # Not RAM: an MMIO mapping, and the guest has no I/O-memory permission. The
            # all-ones MFN a PV kernel writes for a ballooned PFN is -EINVAL instead
            # (`mfn != (PADDR_MASK >> PAGE_SHIFT)  /* INVALID_MFN? */`).
            if mfn == INVALID_MFN:
                return self.fail(EINVAL, fn, "INVALID_MFN: the entry names no frame", mfn, rw)
            return self.fail(EPERM, fn, f"MFN {mfn} is not RAM and the guest has no I/O "
                             "memory permission for it", mfn, rw)
        # page_get_owner_and_reference(): a free frame yields no owner and no reference;
        # a frame of another domain is refused (could_not_pin).
        if h.count[mfn] == 0 or h.owner[mfn] != OWNER_GUEST:
            return self.fail(EBUSY, fn, "could not take a reference: "
                             f"{describe(h, mfn)}", mfn, rw)
        h.add(mfn, "count", 1, "get_page_from_l1e")
        if ptes.writable(e) and self.get_page_type(mfn, WRITABLE) != 0:
            why = f"could not take PGT_writable_page: {describe(h, mfn)}"
            self.put_page(mfn)
            return self.fail(EBUSY, fn, why, mfn, rw)
        return 0

    def put_page_from_l1e(self, e: int) -> None:
        if not ptes.present(e):
            return
        mfn = ptes.mfn_of(e)
        if not self.h.mfn_valid(mfn):
            return
        if ptes.writable(e):
            self.put_page_and_type(mfn)
        else:
            self.put_page(mfn, "put_page_from_l1e")

    def get_page_from_lne(self, e: int, ptmfn: int, level: int,
                          preempt: Preemption = NO_PREEMPTION, partial_set: bool = False) -> int:
        """get_page_from_l2e() / l3e / l4e for a present entry of a level-`level` table:
        the target must be a table of the next level down, or a linear entry. An L3 or
        L4 slot asks for PTF_retain_ref_on_restart (promote_l3/l4_table())."""
        fn = f"get_page_from_l{level}e"
        target = ptes.mfn_of(e)
        rw = "rw" if ptes.writable(e) else "ro"
        if ptes.flags_of(e) & ptes.DISALLOW_MASK[level]:
            return self.fail(EINVAL, fn, f"Bad L{level} flags: "
                             f"{ptes.flags_of(e) & ptes.DISALLOW_MASK[level]:#x} are in "
                             f"L{level}_DISALLOW_MASK", target, rw)  # "Bad L%d flags"
        before = self.failure
        rc = self.get_page_and_type_from_mfn(target, level - 1, preempt, partial_set,
                                             retain_ref=level != L2)
        if rc == EINVAL:
            refused = self.failure
            if self.get_linear_pagetable(e, ptmfn, level):
                self.failure = before  # a linear entry: nothing failed after all
                return 0
            linear = self.failure
            self.fail(EINVAL, fn, f"{refused.why if refused else 'refused'}; nor is it a "
                      f"linear page table: {linear.why if linear else 'refused'}", target, rw,
                      replace=True)
        return rc

    def get_linear_pagetable(self, e: int, ptmfn: int, level: int) -> bool:
        """define_get_linear_pagetable(): a read-only entry pointing at a table of the
        same level. An entry naming its own table takes no reference; one naming another
        table needs it validated, and neither table may be on the other side of a linear
        relation already (linear_pt_count: > 0 entries it holds, < 0 uses of it)."""
        h = self.h
        fn = f"get_l{level}_linear_pagetable"
        target = ptes.mfn_of(e)

        def refuse(why: str) -> bool:
            self.fail(EINVAL, fn, why, target, replace=True)
            return False

        if ptes.writable(e):
            return refuse("a linear entry must be read-only")  # "...with write perms"
        if target == ptmfn:
            return True
        if h.owner[ptmfn] != OWNER_GUEST or not self.get_page_from_mfn(target):
            return refuse(f"no reference to take: {describe(h, target)}")
        if h.linear_pt_count[ptmfn] < 0:  # inc_linear_entries()
            self.put_page(target)
            return refuse(f"{describe(h, ptmfn)} and is itself used by a linear entry "
                          "(XSA-240: linear chains are refused)")
        if h.linear_pt_count[target] > 0:  # inc_linear_uses()
            self.put_page(target)
            return refuse(f"{describe(h, target)} and holds linear entries itself "
                          "(XSA-240: linear chains are refused)")
        if int(h.type[target]) != level or not h.validated[target]:
            self.put_page(target)
            return refuse(f"{describe(h, target)}, not a validated L{level}")
        h.add(ptmfn, "linear_pt_count", 1, "inc_linear_entries")
        h.add(target, "linear_pt_count", -1, "inc_linear_uses")
        h.add(target, "type_count", 1, fn)
        return True

    def put_page_from_lne(self, e: int, ptmfn: int, partial_set: bool = False) -> None:
        """put_page_from_l2e() .. l4e() via put_pt_page(). With PTF_partial_set the slot
        holds a general reference and at most the partial type reference of its target."""
        if not ptes.present(e):
            return
        target = ptes.mfn_of(e)
        if target == ptmfn:
            return
        if partial_set:
            self.put_page_type(target, partial_set=True)
            self.put_page(target, "put_pt_page")
            return
        h = self.h
        if h.type[target] == h.type[ptmfn]:  # PGT_type_equal(): it was a linear entry
            h.add(target, "linear_pt_count", 1, "dec_linear_uses")
            h.add(ptmfn, "linear_pt_count", -1, "dec_linear_entries")
        self.put_page_and_type(target)

    def entry_holds_references(self, mfn: int, index: int) -> bool:
        """Whether entry `index` of this page currently holds references (the partial
        slot of a PTF_partial_set page holds a general one)."""
        h = self.h
        level = int(h.type[mfn])
        if level not in PT_TYPES:
            return False
        if h.validated[mfn]:
            return level != L4 or is_guest_l4_slot(index)
        if not h.partial[mfn]:
            return False
        upto = int(h.nr_validated_ptes[mfn]) + int(h.partial_set[mfn])
        return index < upto

    # -- end of hypercall ----------------------------------------------------------------
    def put_old_guest_table(self) -> None:
        """put_old_guest_table(), run by the continuation a failed validation sets up: the
        partly validated page loses its entries' references (a PTF_partial_set slot tears
        its nested partial table down in turn) and its own type reference (ending
        de-validated: type kept, count 0), then the general reference kept for it."""
        d = self.d
        mfn = d.old_guest_table
        if mfn is None:
            return
        self.put_page_type(mfn, partial_set=d.old_guest_table_partial)
        self.put_page(mfn, "put_old_guest_table")
        d.old_guest_table = None
        d.old_guest_table_partial = True
