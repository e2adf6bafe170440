"""x86-64 page-table entries: an MFN in bits 12..51 plus flag bits, as on hardware."""

from __future__ import annotations

import numpy as np

from .constants import MFN_BITS

_PAGE_PRESENT = 1 << 0
_PAGE_RW = 1 << 1
_PAGE_USER = 1 << 2
_PAGE_PWT = 1 << 3
_PAGE_PCD = 1 << 4
_PAGE_ACCESSED = 1 << 5
_PAGE_DIRTY = 1 << 6
_PAGE_PSE = 1 << 7  # PAT in an L1 entry
_PAGE_GLOBAL = 1 << 8
_PAGE_AVAIL = 0x7 << 9
_PAGE_NX = 1 << 63
# Xen's software bits in the PTE's upper flags (xen/include/asm-x86/x86_64/page.h):
# _PAGE_GUEST_KERNEL (flag bit 12 = PTE bit 52) marks a 64-bit PV kernel mapping,
# _PAGE_GNTTAB (flag bit 22 = PTE bit 62) a grant mapping.
_PAGE_GUEST_KERNEL = 1 << 52
_PAGE_GNTTAB = 1 << 62

FLAG_BITS: dict[str, int] = {
    "present": _PAGE_PRESENT,
    "rw": _PAGE_RW,
    "user": _PAGE_USER,
    "accessed": _PAGE_ACCESSED,
    "dirty": _PAGE_DIRTY,
    "pse": _PAGE_PSE,
    "nx": _PAGE_NX,
    "global": _PAGE_GLOBAL,
}

_MFN_MASK = ((1 << MFN_BITS) - 1) << 12
FLAGS_MASK = ~_MFN_MASK & ((1 << 64) - 1)

# Guest-accessible flags (arch_init_memory(): PRESENT, RW, USER, A/D, AVAIL, NX when the
# CPU has it, and bits 52..62 for guest software); everything else is base_disallow_mask.
_BASE_ALLOWED = (
    _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_AVAIL
    | _PAGE_NX | (0x7FF << 52)
)
BASE_DISALLOW_MASK = FLAGS_MASK & ~_BASE_ALLOWED
# L1_DISALLOW_MASK allows _PAGE_GLOBAL (mm.c); cache attributes (PWT/PCD/PAT) stay
# refused for a domain without I/O permissions (l1_disallow_mask()).
L1_DISALLOW_MASK = (BASE_DISALLOW_MASK | _PAGE_GNTTAB) & ~_PAGE_GLOBAL
L2_DISALLOW_MASK = BASE_DISALLOW_MASK
L3_DISALLOW_MASK = BASE_DISALLOW_MASK  # 64-bit guest: l3_disallow_mask()
L4_DISALLOW_MASK = BASE_DISALLOW_MASK
DISALLOW_MASK = {1: L1_DISALLOW_MASK, 2: L2_DISALLOW_MASK, 3: L3_DISALLOW_MASK,
                 4: L4_DISALLOW_MASK}
# FASTPATH_FLAG_WHITELIST (mm.c): flags a mod_lN_entry() may change without re-validation.
FASTPATH_FLAG_WHITELIST = (
    _PAGE_NX | (0x7FF << 52) | _PAGE_AVAIL | _PAGE_GLOBAL | _PAGE_DIRTY | _PAGE_ACCESSED
    | _PAGE_USER
)


def adjust_guest(level: int, pte: int) -> int:
    """adjust_guest_l1e() .. adjust_guest_l4e() (xen/arch/x86/pv/mm.h) for a 64-bit PV
    guest: what Xen stores for a present entry it has accepted. A kernel L1 mapping
    (no _PAGE_USER: the kernel runs in ring 3) gains _PAGE_USER | _PAGE_GUEST_KERNEL, a
    user one _PAGE_GLOBAL; L2/L3 entries gain _PAGE_USER; L4 entries _PAGE_ACCESSED |
    _PAGE_USER."""
    if not pte & _PAGE_PRESENT:
        return pte
    if level == 1:
        if not pte & _PAGE_USER:
            pte |= _PAGE_GUEST_KERNEL | _PAGE_USER
        if not pte & _PAGE_GUEST_KERNEL:
            pte |= _PAGE_GLOBAL | _PAGE_USER
        return pte
    if level == 4:
        return pte | _PAGE_ACCESSED | _PAGE_USER
    return pte | _PAGE_USER


def adjust_guest_l1_many(entries: np.ndarray) -> np.ndarray:
    """adjust_guest(1, e) over an array of present entries."""
    user, kernel = np.uint64(_PAGE_USER), np.uint64(_PAGE_GUEST_KERNEL)
    out = np.where(entries & user, entries, entries | kernel | user)
    return np.where(out & kernel, out, out | np.uint64(_PAGE_GLOBAL) | user)


def make(mfn: int, flags: int) -> int:
    return ((mfn << 12) & _MFN_MASK) | (flags & FLAGS_MASK)


def mfns_of(entries: np.ndarray) -> np.ndarray:
    """mfn_of() over an array of entries (int64)."""
    return ((entries & np.uint64(_MFN_MASK)) >> np.uint64(12)).astype(np.int64)


def with_mfns(entries: np.ndarray, mfns: np.ndarray) -> np.ndarray:
    """The entries with their frame numbers replaced, flags kept (merge_pte())."""
    mask = np.uint64(_MFN_MASK)
    return (entries & ~mask) | ((mfns.astype(np.uint64) << np.uint64(12)) & mask)


def mfn_of(pte: int) -> int:
    return (pte & _MFN_MASK) >> 12


def flags_of(pte: int) -> int:
    return pte & FLAGS_MASK


def present(pte: int) -> bool:
    return bool(pte & _PAGE_PRESENT)


def writable(pte: int) -> bool:
    return bool(pte & _PAGE_RW)


def flags_from_names(names: list[str]) -> int:
    bits = 0
    for name in names:
        bits |= FLAG_BITS[name]
    return bits


def flag_names(pte: int) -> list[str]:
    return [name for name, bit in FLAG_BITS.items() if pte & bit]


def has_changed(old: int, new: int, ignored_flags: int) -> bool:
    """l1e_has_changed(old, new, ~ignored_flags): the frame or a significant flag differs."""
    significant = _MFN_MASK | (FLAGS_MASK & ~ignored_flags)
    return bool((old ^ new) & significant)


def hexstr(pte: int) -> str:
    return f"{pte:#018x}"
