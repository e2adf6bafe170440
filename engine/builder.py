"""The domain builder's layouts (scenario contract, section 1: `bare` and `linear`).

The initial state is laid out directly, with numpy, rather than through hypercalls, so a
1,048,576-page guest builds in well under a second; the audit checks it like any other
state.
"""

from __future__ import annotations

import numpy as np

from . import pte as ptes
from .constants import PGT, ROOT_PAGETABLE_FIRST_XEN_SLOT, ROOT_PAGETABLE_LAST_XEN_SLOT
from .domain import Domain
from .host import OWNER_GUEST, Host
from .mm import xen_l4_slot_entry

UPPER_FLAGS = (ptes.FLAG_BITS["present"] | ptes.FLAG_BITS["rw"] | ptes.FLAG_BITS["user"]
               | ptes.FLAG_BITS["accessed"])
RO_FLAGS = ptes.FLAG_BITS["present"]
RW_FLAGS = ptes.FLAG_BITS["present"] | ptes.FLAG_BITS["rw"]


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def linear_shape(pages: int) -> tuple[int, int, int]:
    """(L3s, L2s, L1s) the linear layout needs for `pages` guest pages."""
    n_l1 = _ceil(pages, 512)
    n_l2 = _ceil(n_l1, 512)
    n_l3 = _ceil(n_l2, 512)
    return n_l3, n_l2, n_l1


def linear_pt_pages(pages: int) -> int:
    n_l3, n_l2, n_l1 = linear_shape(pages)
    return 1 + n_l3 + n_l2 + n_l1


def allocate_guest(host: Host, dom: Domain) -> np.ndarray:
    """Give PFNs 0..pages-1 frames in PFN order from the host's allocator."""
    free = host.alloc_order[host.owner[host.alloc_order] == 0]
    mfns = free[: dom.pages].copy()
    host.owner[mfns] = OWNER_GUEST
    host.allocated[mfns] = True
    host.count[mfns] = 1
    host.m2p[mfns] = np.arange(dom.pages)
    dom.p2m[:] = mfns
    if len(mfns):
        # Every frame before the last one taken is in use: the allocator starts after it.
        host._alloc_cursor = max(host._alloc_cursor, int(host.alloc_pos[mfns[-1]]) + 1)
    return mfns


def build_bare(host: Host, dom: Domain) -> None:
    allocate_guest(host, dom)


def build_linear(host: Host, dom: Domain) -> None:
    mfns = allocate_guest(host, dom)
    pages = dom.pages
    n_l3, n_l2, n_l1 = linear_shape(pages)
    l4_pfn = 0
    l3_pfns = np.arange(1, 1 + n_l3)
    l2_pfns = np.arange(1 + n_l3, 1 + n_l3 + n_l2)
    l1_pfns = np.arange(1 + n_l3 + n_l2, 1 + n_l3 + n_l2 + n_l1)
    n_pt = 1 + n_l3 + n_l2 + n_l1

    def upper(table_pfns: np.ndarray, child_pfns: np.ndarray) -> None:
        for k, table in enumerate(table_pfns):
            children = child_pfns[k * 512:(k + 1) * 512]
            page = np.zeros(512, np.uint64)
            page[: len(children)] = (mfns[children].astype(np.uint64) << np.uint64(12)) \
                | np.uint64(UPPER_FLAGS)
            host.contents[int(mfns[table])] = page

    upper(np.array([l4_pfn]), l3_pfns)
    upper(l3_pfns, l2_pfns)
    upper(l2_pfns, l1_pfns)
    # A PV kernel maps its page tables read-only; Xen's validation stores every kernel
    # mapping as adjust_guest_l1e() makes it (_PAGE_USER | _PAGE_GUEST_KERNEL added).
    flags = np.full(pages, ptes.adjust_guest(1, RW_FLAGS), np.uint64)
    flags[:n_pt] = ptes.adjust_guest(1, RO_FLAGS)
    l1_entries = (mfns.astype(np.uint64) << np.uint64(12)) | flags
    padded = np.zeros(n_l1 * 512, np.uint64)
    padded[:pages] = l1_entries
    for k, table in enumerate(l1_pfns):
        host.contents[int(mfns[table])] = padded[k * 512:(k + 1) * 512].copy()

    # References implied by those entries, the pin and the base pointer.
    host.count[mfns] += 1  # every page is mapped once by an L1 entry
    data = mfns[n_pt:]
    host.type[data] = PGT.writable
    host.validated[data] = True
    host.type_count[data] = 1
    for pfns, type_ in ((l3_pfns, PGT.l3), (l2_pfns, PGT.l2), (l1_pfns, PGT.l1)):
        host.type[mfns[pfns]] = type_
        host.validated[mfns[pfns]] = True
        host.type_count[mfns[pfns]] = 1  # the upper-level entry
        host.count[mfns[pfns]] += 1
    l4 = int(mfns[l4_pfn])
    for i in range(ROOT_PAGETABLE_FIRST_XEN_SLOT, ROOT_PAGETABLE_LAST_XEN_SLOT + 1):
        host.contents[l4][i] = xen_l4_slot_entry(l4, i)
    host.type[l4] = PGT.l4
    host.validated[l4] = True
    host.pinned[l4] = True
    host.type_count[l4] = 2  # pin + base pointer
    host.count[l4] += 2
    dom.cr3 = l4


LAYOUTS = {"bare": build_bare, "linear": build_linear}
