"""The PV guest domain on one host: its P2M (which a PV guest maintains itself), vCPU0's
base pointer, and the log-dirty state that live migration reads."""

from __future__ import annotations

import numpy as np

from .constants import INVALID_MFN
from .host import Host
from .journal import Journal
from .packing import small, uniform

NO_MFN = -1  # a P2M slot with no frame (ballooned out)


class Domain:
    def __init__(self, host: Host, pages: int, journal: Journal) -> None:
        self.host = host
        self.pages = pages
        self.journal = journal
        self.p2m = np.full(pages, NO_MFN, np.int64)
        self.cr3: int | None = None
        self.log_dirty = False
        # Shut down with SHUTDOWN_suspend (domain_shutdown(): the guest stopped itself) and
        # XEN_DOMINF_paused (controller_pause_count > 0: xc_domain_pause()) are distinct in
        # Xen; libxenguest's normalise_pagetable() tests only the latter.
        self.suspended = False
        self.paused = False
        self.dirty = np.zeros(pages, np.bool_)
        # A page whose validation failed part way: curr->arch.old_guest_table (one per
        # vCPU), with old_guest_table_partial; put by the hypercall's continuation
        # (put_old_guest_table()). It holds a general reference to the page.
        self.old_guest_table: int | None = None
        self.old_guest_table_partial = True
        # General references Xen 4.15 leaves with no holder (see MM._failed_at()).
        self.leaked: dict[int, int] = {}

    def leak(self, mfn: int) -> None:
        """A general reference of `mfn` that nobody will put (the audit reports it)."""
        self.leaked[mfn] = self.leaked.get(mfn, 0) + 1

        def undo() -> None:
            self.leaked[mfn] -= 1
            if not self.leaked[mfn]:
                del self.leaked[mfn]

        self.journal.add_undo(undo)

    @property
    def old_guest_tables(self) -> tuple[int, ...]:
        """old_guest_table as a collection, for `mfn in d.old_guest_tables`."""
        return () if self.old_guest_table is None else (self.old_guest_table,)

    def pfn_to_mfn(self, pfn: int) -> int:
        """What a PV kernel writes for this PFN: its frame, or INVALID_MFN if ballooned."""
        mfn = int(self.p2m[pfn]) if 0 <= pfn < self.pages else NO_MFN
        return INVALID_MFN if mfn == NO_MFN else mfn

    def mfn_to_pfn(self, mfn: int) -> int | None:
        """The guest PFN whose frame this is now (M2P and P2M agree), else None."""
        if not self.host.mfn_valid(mfn):
            return None
        pfn = int(self.host.m2p[mfn])
        if 0 <= pfn < self.pages and int(self.p2m[pfn]) == mfn:
            return pfn
        return None

    def mfns_to_pfns(self, mfns: np.ndarray) -> np.ndarray:
        """mfn_to_pfn() of every MFN of an array: the PFN, or -1 where there is none."""
        mfns = np.asarray(mfns, np.int64)
        out = np.full(len(mfns), -1, np.int64)
        ok = (mfns >= 0) & (mfns < self.host.frames)
        pfns = np.full(len(mfns), -1, np.int64)
        pfns[ok] = self.host.m2p[mfns[ok]]
        ok &= (pfns >= 0) & (pfns < self.pages)
        ok[ok] = self.p2m[pfns[ok]] == mfns[ok]
        out[ok] = pfns[ok]
        return out

    def set_p2m(self, pfn: int, mfn: int, fn: str) -> None:
        old = int(self.p2m[pfn])
        if old == mfn:
            return
        self.p2m[pfn] = mfn

        def undo() -> None:
            self.p2m[pfn] = old

        self.journal.add({"kind": "p2m", "host": self.host.name, "pfn": pfn, "old": old,
                          "new": mfn, "fn": fn}, undo)

    def set_p2m_many(self, pfns: np.ndarray, mfns: np.ndarray, fn: str) -> None:
        pfns = small(np.asarray(pfns))
        old = uniform(small(self.p2m[pfns]))
        new = uniform(small(np.asarray(mfns)))
        self.p2m[pfns] = new

        def undo() -> None:
            self.p2m[pfns] = old

        self.journal.add({"kind": "p2m_many", "host": self.host.name, "pfns": pfns,
                          "old": old, "new": new, "fn": fn}, undo)

    def set_cr3(self, mfn: int | None, fn: str) -> None:
        old = self.cr3
        self.cr3 = mfn

        def undo() -> None:
            self.cr3 = old

        self.journal.add({"kind": "cr3", "host": self.host.name, "old": old, "new": mfn,
                          "fn": fn}, undo)

    def set_flag(self, name: str, value: bool, fn: str) -> None:
        old = getattr(self, name)
        if old == value:
            return
        setattr(self, name, value)
        self.journal.add({"kind": "domain", "host": self.host.name, "field": name,
                          "old": old, "new": value, "fn": fn},
                         lambda: setattr(self, name, old))

    def paging_mark_dirty(self, mfn: int, fn: str) -> None:
        """paging_mark_dirty(): only in log-dirty mode; the bitmap is indexed by PFN."""
        if not self.log_dirty:
            return
        pfn = int(self.host.m2p[mfn]) if self.host.mfn_valid(mfn) else -1
        if not 0 <= pfn < self.pages or self.dirty[pfn]:
            return
        self.dirty[pfn] = True

        def undo() -> None:
            self.dirty[pfn] = False

        self.journal.add({"kind": "dirty", "host": self.host.name, "pfn": pfn, "mfn": mfn,
                          "fn": fn}, undo)

    def clean_dirty(self, fn: str) -> list[int]:
        """XEN_DOMCTL_SHADOW_OP_CLEAN: read and clear the dirty bitmap."""
        pfns = np.flatnonzero(self.dirty)
        if len(pfns):
            self.dirty[pfns] = False

            def undo() -> None:
                self.dirty[pfns] = True

            self.journal.add({"kind": "dirty_clean", "host": self.host.name,
                              "pfns": pfns, "fn": fn}, undo)
        return pfns.tolist()
