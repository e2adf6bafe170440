"""A host: its machine frame table (struct page_info per MFN, held column-wise in numpy
arrays so that a 4 GiB guest costs a few MiB), page contents, M2P and frame allocator."""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from . import pte as ptes
from .constants import INVALID_PFN, L1_PAGETABLE_ENTRIES, PGT, TYPE_NAMES
from .journal import Journal
from .packing import index_array, small, uniform

OWNER_FREE = 0
OWNER_GUEST = 1

# page_info fields that deltas name. Booleans are PGC_allocated, PGT_validated,
# PGT_pinned, PGT_partial; the two counters are Xen's nr_validated_ptes and linear_pt_count;
# partial_set is PTF_partial_set in partial_flags (the entry at nr_validated_ptes holds a
# general reference to a table its validation left PGT_partial).
FRAME_FIELDS = ("owner", "count", "allocated", "type", "type_count", "validated", "pinned",
                "partial", "nr_validated_ptes", "partial_set", "linear_pt_count")


class Host:
    def __init__(self, name: str, frames: int, reserved: list[tuple[int, int, str]],
                 alloc: str | int, journal: Journal) -> None:
        self.name = name
        self.frames = frames
        self.journal = journal
        self.owners: list[str] = ["free", "guest"]
        self.owner = np.zeros(frames, np.int32)
        self.count = np.zeros(frames, np.int64)
        self.allocated = np.zeros(frames, np.bool_)
        self.type = np.zeros(frames, np.int8)
        self.type_count = np.zeros(frames, np.int64)
        self.validated = np.zeros(frames, np.bool_)
        self.pinned = np.zeros(frames, np.bool_)
        self.partial = np.zeros(frames, np.bool_)
        self.nr_validated_ptes = np.zeros(frames, np.int32)
        self.partial_set = np.zeros(frames, np.bool_)
        self.linear_pt_count = np.zeros(frames, np.int32)
        self.m2p = np.full(frames, INVALID_PFN, np.int64)
        self.contents: dict[int, np.ndarray] = {}
        for first, last, owner in reserved:
            if owner not in self.owners:
                self.owners.append(owner)
            idx = self.owners.index(owner)
            self.owner[first:last + 1] = idx
            self.count[first:last + 1] = 1
            self.allocated[first:last + 1] = True
        free = np.flatnonzero(self.owner == OWNER_FREE)
        if alloc == "descending":
            free = free[::-1].copy()
        elif isinstance(alloc, int):
            shuffled = free.tolist()
            random.Random(alloc).shuffle(shuffled)  # the order scenarios were written for
            free = np.array(shuffled, np.int64)
        # The allocator hands out the first free frame in this order (see alloc_frames()).
        self.alloc_order = free.astype(np.int32)  # int32: a frame number fits, half the RAM
        self.alloc_pos = np.full(frames, -1, np.int32)
        self.alloc_pos[self.alloc_order] = np.arange(len(free))
        self._alloc_cursor = 0

    # -- reading -------------------------------------------------------------------------
    def mfn_valid(self, mfn: int) -> bool:
        return 0 <= mfn < self.frames

    def owner_name(self, mfn: int) -> str:
        return self.owners[int(self.owner[mfn])]

    def free_frames(self) -> int:
        return int(np.count_nonzero(self.owner == OWNER_FREE))

    def entries(self, mfn: int) -> np.ndarray:
        """The page's 512 entries (zeros for a page never written)."""
        page = self.contents.get(mfn)
        return page if page is not None else np.zeros(L1_PAGETABLE_ENTRIES, np.uint64)

    def entry(self, mfn: int, index: int) -> int:
        page = self.contents.get(mfn)
        return 0 if page is None else int(page[index])

    def frame_info(self, mfn: int) -> dict[str, Any]:
        return {
            "mfn": mfn, "owner": self.owner_name(mfn), "count": int(self.count[mfn]),
            "allocated": bool(self.allocated[mfn]), "type": TYPE_NAMES[int(self.type[mfn])],
            "type_count": int(self.type_count[mfn]), "validated": bool(self.validated[mfn]),
            "pinned": bool(self.pinned[mfn]), "partial": bool(self.partial[mfn]),
            "nr_validated_ptes": int(self.nr_validated_ptes[mfn]),
            "partial_set": bool(self.partial_set[mfn]),
            "linear_pt_count": int(self.linear_pt_count[mfn]),
            "m2p": int(self.m2p[mfn]),
        }

    # -- writing: every change is journalled -----------------------------------------------
    def set(self, mfn: int, field: str, value: Any, fn: str) -> None:
        arr: np.ndarray = self.__dict__[field]
        old = arr[mfn].item()
        if old == value:
            return
        new = type(old)(value)
        arr[mfn] = new

        def undo() -> None:
            arr[mfn] = old

        self.journal.add({"kind": "frame", "host": self.name, "mfn": mfn, "field": field,
                          "old": old, "new": new, "_names": self._names(field),
                          "fn": fn}, undo)

    def add(self, mfn: int, field: str, by: int, fn: str) -> None:
        self.set(mfn, field, getattr(self, field)[mfn].item() + by, fn)

    def set_many(self, mfns: np.ndarray, field: str, value: Any, fn: str) -> None:
        """One delta for many frames (a migration batch, a domain's destruction)."""
        arr: np.ndarray = self.__dict__[field]
        mfns = index_array(mfns)  # kept as given (int32 or int64): the delta shares it
        old = arr[mfns]
        changed = old != value
        if not changed.all():
            mfns, old = mfns[changed], old[changed]
        if not len(mfns):
            return
        arr[mfns] = value
        old = uniform(small(old) if old.dtype == np.int64 else old)

        def undo() -> None:
            arr[mfns] = old

        self.journal.add({"kind": "frames", "host": self.name, "mfns": mfns, "field": field,
                          "old": old, "new": np.asarray(value).item(),
                          "_names": self._names(field), "fn": fn}, undo)

    def add_many(self, mfns: np.ndarray, field: str, by: int, fn: str) -> None:
        """Add `by` once per occurrence of each MFN in `mfns` (duplicates add up): the
        references of a whole table taken at once. `new` is an array here."""
        arr: np.ndarray = self.__dict__[field]
        mfns = np.asarray(mfns, np.int64)
        if not len(mfns):
            return
        if len(mfns) < 2 or bool((mfns[1:] > mfns[:-1]).all()):
            uniq, step = mfns, by  # ascending, so each once (a linear L1): no sort
        else:
            uniq, times = np.unique(mfns, return_counts=True)
            step = times * by
        uniq, old = small(uniq), small(arr[uniq])
        new = small(old + step)
        arr[uniq] = new

        def undo() -> None:
            arr[uniq] = old

        self.journal.add({"kind": "frames", "host": self.name, "mfns": uniq,
                          "field": field, "old": old, "new": new, "fn": fn}, undo)

    def set_m2p_many(self, mfns: np.ndarray, pfns: np.ndarray, fn: str) -> None:
        mfns = small(np.asarray(mfns))
        old = uniform(small(self.m2p[mfns]))
        new = uniform(small(np.asarray(pfns)))
        self.m2p[mfns] = new

        def undo() -> None:
            self.m2p[mfns] = old

        self.journal.add({"kind": "m2p_many", "host": self.name, "mfns": mfns,
                          "old": old, "new": new, "fn": fn}, undo)

    def _names(self, field: str) -> list[str] | None:
        """Deltas name types and owners; the journal maps the indices when it packs."""
        if field == "type":
            return list(TYPE_NAMES)
        if field == "owner":
            return self.owners
        return None

    def write_entry(self, mfn: int, index: int, value: int, fn: str) -> None:
        page = self.contents.get(mfn)
        created = page is None
        if created:
            page = np.zeros(L1_PAGETABLE_ENTRIES, np.uint64)
            self.contents[mfn] = page
        old = int(page[index])
        if old == value and not created:
            return
        page[index] = value

        def undo() -> None:
            if created:
                del self.contents[mfn]
            else:
                page[index] = old

        self.journal.add({"kind": "entry", "host": self.name, "mfn": mfn, "index": index,
                          "old": ptes.hexstr(old), "new": ptes.hexstr(value), "fn": fn}, undo)

    def replace_contents(self, mfn: int, page: np.ndarray | None, fn: str) -> None:
        """Whole-page writes (restore's PAGE_DATA, scrubbing a freed page)."""
        old = self.contents.get(mfn)
        if page is None:
            self.contents.pop(mfn, None)
        else:
            self.contents[mfn] = page

        def undo() -> None:
            if old is None:
                self.contents.pop(mfn, None)
            else:
                self.contents[mfn] = old

        self.journal.add({"kind": "page", "host": self.name, "mfn": mfn,
                          "present": 0 if page is None else int(np.count_nonzero(page & 1)),
                          "fn": fn}, undo)

    def write_pages(self, mfns: list[int], pages: list[np.ndarray | None], fn: str) -> None:
        """Whole-page writes of many frames in one delta (restore's PAGE_DATA): a page
        with no entry set clears the frame's contents; a frame left as it was is not
        named."""
        written: list[tuple[int, np.ndarray | None, np.ndarray | None]] = []
        for mfn, page in zip(mfns, pages, strict=True):
            old = self.contents.get(mfn)
            if page is not None and page.any():
                self.contents[mfn] = page
            elif old is not None:
                page = None
                del self.contents[mfn]
            else:
                continue
            written.append((mfn, old, page))
        if not written:
            return

        def undo() -> None:
            for mfn, old, _ in reversed(written):
                if old is None:
                    self.contents.pop(mfn, None)
                else:
                    self.contents[mfn] = old

        present = [0 if page is None else int(np.count_nonzero(page & np.uint64(1)))
                   for _, _, page in written]
        if len(written) == 1:
            self.journal.add({"kind": "page", "host": self.name, "mfn": written[0][0],
                              "present": present[0], "fn": fn}, undo)
            return
        self.journal.add({"kind": "pages", "host": self.name,
                          "mfns": np.array([w[0] for w in written], np.int64),
                          "present": np.array(present, np.int64), "fn": fn}, undo)

    def set_m2p(self, mfn: int, pfn: int, fn: str) -> None:
        old = int(self.m2p[mfn])
        if old == pfn:
            return
        self.m2p[mfn] = pfn

        def undo() -> None:
            self.m2p[mfn] = old

        self.journal.add({"kind": "m2p", "host": self.name, "mfn": mfn, "old": old,
                          "new": pfn, "fn": fn}, undo)

    # -- the allocator -------------------------------------------------------------------
    def alloc_frames(self, n: int) -> np.ndarray | None:
        """The first `n` free frames in allocation order (alloc_domheap_pages()), or None
        if there are fewer. The caller assigns all of them."""
        found = self.find_free(n)
        if found is None:
            return None
        mfns, cursor = found
        self._set_cursor(cursor)  # every frame before it is now in use
        return mfns

    def find_free(self, n: int) -> tuple[np.ndarray, int] | None:
        """alloc_frames() without taking anything: the frames and the cursor after them.
        Every frame before the cursor is in use, so the search starts there and looks at
        growing slices with numpy."""
        order, owner = self.alloc_order, self.owner
        i = self._alloc_cursor
        found: list[np.ndarray] = []
        need = n
        size = max(64, 2 * n)
        while need > 0 and i < len(order):
            chunk = order[i:i + size]
            free = np.flatnonzero(owner[chunk] == OWNER_FREE)
            if len(free) >= need:
                found.append(chunk[free[:need]])
                i += int(free[need - 1]) + 1
                need = 0
                break
            found.append(chunk[free])
            need -= len(free)
            i += len(chunk)
            size *= 2
        if need > 0:
            return None
        mfns = np.concatenate(found) if found else np.zeros(0, order.dtype)
        return mfns, i

    def _set_cursor(self, i: int) -> None:
        old = self._alloc_cursor
        if old != i:
            self._alloc_cursor = i
            self.journal.add_undo(lambda: setattr(self, "_alloc_cursor", old))

    def note_freed(self, mfn: int) -> None:
        pos = int(self.alloc_pos[mfn])
        if 0 <= pos < self._alloc_cursor:
            self._set_cursor(pos)

    def note_freed_many(self, mfns: np.ndarray) -> None:
        pos = self.alloc_pos[mfns]
        pos = pos[pos >= 0]
        if len(pos) and int(pos.min()) < self._alloc_cursor:
            self._set_cursor(int(pos.min()))

    def clear_contents_many(self, mfns: np.ndarray, fn: str) -> None:
        """Scrub every page among `mfns` that has contents, in MFN order: one `pages`
        delta (a `page` delta for a single one), as the journal would merge them."""
        if not self.contents:
            return
        chosen = np.zeros(self.frames, np.bool_)
        chosen[np.asarray(mfns, np.int64)] = True
        held = np.fromiter(self.contents.keys(), np.int64, len(self.contents))
        scrubbed = np.sort(held[chosen[held]])
        if len(scrubbed) < 2:
            for mfn in scrubbed.tolist():
                self.replace_contents(mfn, None, fn)
            return
        old = {mfn: self.contents.pop(mfn) for mfn in scrubbed.tolist()}

        def undo() -> None:
            self.contents.update(old)

        self.journal.add({"kind": "pages", "host": self.name, "mfns": scrubbed,
                          "present": np.zeros(len(scrubbed), np.int64), "fn": fn}, undo)

    def assign(self, mfns: list[int] | np.ndarray, fn: str) -> None:
        """assign_pages(): free frames become the guest's, PGC_allocated | 1, type 0."""
        mfns = index_array(mfns)
        for field, value in (("owner", OWNER_GUEST), ("allocated", True), ("count", 1),
                             ("type", PGT.none), ("type_count", 0), ("validated", False)):
            if len(mfns) == 1:
                self.set(int(mfns[0]), field, value, fn)
            else:
                self.set_many(mfns, field, value, fn)
