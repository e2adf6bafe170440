"""Names and values as Xen spells them (xen/include/asm-x86/mm.h, public/domctl.h,
xen/include/public/errno.h)."""

from __future__ import annotations

import enum


class PGT(enum.IntEnum):
    """The type field of page_info.u.inuse.type_info (PGT_type_mask)."""

    none = 0
    l1 = 1
    l2 = 2
    l3 = 3
    l4 = 4
    seg_desc = 5
    shared = 6
    writable = 7


TYPE_NAMES = [t.name for t in PGT]
PAGE_TABLE_TYPES = (PGT.l1, PGT.l2, PGT.l3, PGT.l4)

L1_PAGETABLE_ENTRIES = 512
# ROOT_PAGETABLE_FIRST_XEN_SLOT .. ROOT_PAGETABLE_LAST_XEN_SLOT (asm-x86/config.h).
ROOT_PAGETABLE_FIRST_XEN_SLOT = 256
ROOT_PAGETABLE_LAST_XEN_SLOT = 271

# Machine frame numbers fit in 40 bits of a PTE (PADDR_BITS 52); an all-ones MFN is
# what a PV kernel writes for a PFN with no frame (INVALID_P2M_ENTRY), and is not RAM.
MFN_BITS = 40
INVALID_MFN = (1 << MFN_BITS) - 1
INVALID_PFN = -1


class Errno(enum.IntEnum):
    """Xen's errno values (xen/include/public/errno.h), as hypercalls return them negated."""

    EPERM = 1
    ENOENT = 2
    ENXIO = 6
    EINTR = 4
    E2BIG = 7
    EAGAIN = 11
    ENOMEM = 12
    EFAULT = 14
    EBUSY = 16
    EEXIST = 17
    EINVAL = 22
    ERANGE = 34
    ERESTART = 85
    EOPNOTSUPP = 95


def errno_name(rc: int) -> str | None:
    """'EINVAL' for -22; None for rc 0."""
    if rc == 0:
        return None
    try:
        return Errno(-rc).name
    except ValueError:
        return f"E{-rc}"


class XenError(Exception):
    """A Xen error code travelling up a call chain (the model's `return -EINVAL`)."""

    def __init__(self, errno: Errno, why: str = "") -> None:
        super().__init__(f"-{errno.name}: {why}" if why else f"-{errno.name}")
        self.errno = errno
        self.why = why

    @property
    def rc(self) -> int:
        return -int(self.errno)


# XEN_DOMCTL_PFINFO_* (xen/include/public/domctl.h)
PFINFO_LTAB_SHIFT = 28
PFINFO_NOTAB = 0x0
PFINFO_L1TAB = 0x1 << 28
PFINFO_L2TAB = 0x2 << 28
PFINFO_L3TAB = 0x3 << 28
PFINFO_L4TAB = 0x4 << 28
PFINFO_LTABTYPE_MASK = 0x7 << 28
PFINFO_LPINTAB = 0x1 << 31
PFINFO_XTAB = 0xF << 28
PFINFO_XALLOC = 0xE << 28
PFINFO_BROKEN = 0xD << 28


def pfinfo_name(value: int) -> str:
    """The contract's spelling: NOTAB, L2TAB, L4TAB+LPINTAB, XTAB, BROKEN."""
    if value in (PFINFO_XTAB, PFINFO_BROKEN, PFINFO_XALLOC):
        return {PFINFO_XTAB: "XTAB", PFINFO_BROKEN: "BROKEN", PFINFO_XALLOC: "XALLOC"}[value]
    level = (value & PFINFO_LTABTYPE_MASK) >> PFINFO_LTAB_SHIFT
    name = f"L{level}TAB" if level else "NOTAB"
    return name + "+LPINTAB" if value & PFINFO_LPINTAB else name


def pfinfo_level(value: int) -> int:
    """1..4 for LnTAB (pinned or not), 0 otherwise."""
    if value in (PFINFO_XTAB, PFINFO_BROKEN, PFINFO_XALLOC):
        return 0
    return (value & PFINFO_LTABTYPE_MASK) >> PFINFO_LTAB_SHIFT
