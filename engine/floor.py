"""The benchmark's floor: `migrate all` of a guest whose page tables are all validated
(the `linear` layout, nothing dirty, nothing ballooned) done with whole-array numpy, no
deltas and no per-frame Python. It reaches the state the engine reaches, frame-table
column for column, so `pvframes bench` can time the engine against it and check it.

What it relies on, and checks: every PFN is backed, so round 1 sends them all and
later rounds send nothing; every page table is PGT_validated, so each is normalised and
localised, and the destination's validation when the base pointer is installed rebuilds
exactly the source's references. The destination's allocation order is the order in
which PFNs first appear in the stream: each batch's PFNs, then the PFNs its page tables
name (process_page_data(), x86_pv_localise_page()).
"""

from __future__ import annotations

import numpy as np

from . import pte as ptes
from .constants import PGT
from .domain import Domain
from .host import FRAME_FIELDS, OWNER_FREE, OWNER_GUEST, Host
from .migration import MAX_BATCH_SIZE, XEN_FIRST_L4, XEN_LAST_L4
from .mm import LINEAR_PT_SLOT, xen_l4_slot_entry

_PRESENT = np.uint64(1)
_RESET = {"owner": OWNER_FREE, "count": 0, "allocated": False, "type": int(PGT.none),
          "type_count": 0, "validated": False, "pinned": False, "partial": False,
          "nr_validated_ptes": 0, "linear_pt_count": 0}


def migrate_all(src: Domain, dst_host: Host) -> Domain:
    """The destination domain after migrating `src` (which is destroyed)."""
    h = src.host
    pages = src.pages
    p2m = src.p2m
    if (p2m < 0).any() or src.dirty.any():
        raise ValueError("the floor models a guest with every PFN backed and nothing dirty")
    mfns = p2m
    types = h.type[mfns].astype(np.int64)
    is_table = (types >= int(PGT.l1)) & (types <= int(PGT.l4))
    if not h.validated[mfns[is_table]].all():
        raise ValueError("the floor models a guest whose page tables are all validated")
    tables = np.flatnonzero(is_table)  # table PFNs in stream order
    pages_2d = np.stack([h.entries(int(m)) for m in mfns[tables]]) if len(tables) else \
        np.zeros((0, 512), np.uint64)
    # normalise_pagetable(): Xen's L4 slots cleared; frame numbers become PFNs.
    l4_rows = types[tables] == int(PGT.l4)
    pages_2d[np.ix_(l4_rows, np.arange(XEN_FIRST_L4, XEN_LAST_L4 + 1))] = 0
    present = (pages_2d & _PRESENT) != 0
    rows, cols = np.nonzero(present)
    target_pfns = h.m2p[ptes.mfns_of(pages_2d[rows, cols])]

    # The order PFNs first appear: batch b's PFNs, then the PFNs its tables name.
    pfns = np.arange(pages)
    table_pfn = tables[rows]
    seq = np.concatenate((pfns, target_pfns))
    order = np.lexsort((np.concatenate((np.zeros(pages, np.int64), cols)),
                        np.concatenate((pfns, table_pfn)),
                        np.concatenate((np.zeros(pages, np.int64), np.ones(len(rows), np.int64))),
                        np.concatenate((pfns // MAX_BATCH_SIZE, table_pfn // MAX_BATCH_SIZE))))
    uniq, first = np.unique(seq[order], return_index=True)
    populated = uniq[np.argsort(first)]

    d = dst_host
    free = d.alloc_order[d.owner[d.alloc_order] == OWNER_FREE]
    if len(free) < pages:
        raise ValueError("the destination has too few free frames")
    new_p2m = np.empty(pages, np.int64)
    new_p2m[populated] = free[:pages]
    d._alloc_cursor = int(d.alloc_pos[free[pages - 1]]) + 1

    # Frame table and M2P: the source's, frame for frame.
    new_mfns = new_p2m
    for name in FRAME_FIELDS:
        getattr(d, name)[new_mfns] = getattr(h, name)[mfns]
    d.m2p[new_mfns] = pfns
    # x86_pv_localise_page(): PFNs back to (destination) MFNs; init_xen_l4_slots().
    pages_2d[rows, cols] = ptes.with_mfns(pages_2d[rows, cols], new_p2m[target_pfns])
    l4_at = np.flatnonzero(l4_rows)
    for r in l4_at.tolist():
        l4 = int(new_p2m[tables[r]])
        pages_2d[r, LINEAR_PT_SLOT] = xen_l4_slot_entry(l4, LINEAR_PT_SLOT)
    for r, mfn in enumerate(new_p2m[tables].tolist()):
        d.contents[mfn] = pages_2d[r]

    dom = Domain(d, pages, src.journal)
    dom.p2m[:] = new_p2m
    dom.cr3 = None if src.cr3 is None else int(new_p2m[h.m2p[src.cr3]])

    # domain_kill() of the source.
    guest = np.flatnonzero(h.owner == OWNER_GUEST)
    for name, value in _RESET.items():
        getattr(h, name)[guest] = value
    held = np.fromiter(h.contents.keys(), np.int64, len(h.contents))
    mask = np.zeros(h.frames, np.bool_)
    mask[guest] = True
    for mfn in held[mask[held]].tolist():
        del h.contents[mfn]
    h._alloc_cursor = min(h._alloc_cursor, int(h.alloc_pos[guest].min())) if len(guest) \
        else h._alloc_cursor
    src.p2m[:] = -1
    src.cr3 = None
    return dom


def differences(a_host: Host, a_p2m: np.ndarray, b_host: Host, b_p2m: np.ndarray) -> list[str]:
    """Where two hosts (and the guest's P2M on them) differ: frame table, M2P, contents."""
    out = []
    for name in (*FRAME_FIELDS, "m2p"):
        a, b = getattr(a_host, name), getattr(b_host, name)
        if not np.array_equal(a, b):
            out.append(f"{name} differs at mfn {int(np.flatnonzero(a != b)[0])}")
    if not np.array_equal(a_p2m, b_p2m):
        out.append("p2m differs")
    keys = set(a_host.contents) | set(b_host.contents)
    bad = [m for m in keys if not np.array_equal(a_host.entries(m), b_host.entries(m))]
    if bad:
        out.append(f"contents differ at {len(bad)} frames, e.g. {sorted(bad)[:3]}")
    return out
