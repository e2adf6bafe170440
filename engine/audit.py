"""Recompute every general and type reference from scratch and compare with the frame
table (reference section 9). Vectorised over the page tables that hold references, so a
1,048,576-page guest audits in well under a second."""

from __future__ import annotations

import numpy as np

from . import pte as ptes
from .constants import PAGE_TABLE_TYPES, PGT, TYPE_NAMES
from .domain import Domain
from .host import OWNER_FREE, OWNER_GUEST, Host
from .mm import is_guest_l4_slot

_GUEST_L4_SLOTS = np.array([is_guest_l4_slot(i) for i in range(512)])


def audit(host: Host, dom: Domain | None) -> list[str]:
    """Problems found on one host (empty when every invariant holds). `dom` is the guest
    domain on that host, or None if it has none."""
    problems: list[str] = []
    n = host.frames
    general = np.zeros(n, np.int64)
    typed = np.zeros(n, np.int64)
    # The type each type reference requires of its target (-1: none seen yet).
    required = np.full(n, -1, np.int64)
    linear = np.zeros(n, np.int64)

    general += host.allocated
    general += host.pinned
    typed += host.pinned
    general += host.partial  # the light reference
    typed += host.partial  # "type ref count was left at 1 when PGT_partial got set"
    if dom is not None:
        for mfn, times in dom.leaked.items():
            general[mfn] += times
            problems.append(f"mfn {mfn}: {times} general reference(s) with no holder, leaked "
                            "by a failed resumed nested validation as in Xen 4.15")
    if dom is not None and dom.cr3 is not None:
        general[dom.cr3] += 1
        typed[dom.cr3] += 1
        _require(required, problems, np.array([dom.cr3]), PGT.l4, "base pointer")

    is_pt = np.isin(host.type, PAGE_TABLE_TYPES)
    _count_partial_slots(host, is_pt, general, required, problems)
    active = np.flatnonzero(is_pt & (host.validated | host.partial))
    for mfn in active.tolist():
        level = int(host.type[mfn])
        entries = host.entries(mfn)
        upto = 512 if host.validated[mfn] else int(host.nr_validated_ptes[mfn])
        mask = (entries & np.uint64(1)).astype(bool)
        mask[upto:] = False
        if level == PGT.l4:
            mask &= _GUEST_L4_SLOTS
        idx = np.flatnonzero(mask)
        if not len(idx):
            continue
        targets = ptes.mfns_of(entries[idx])
        if level == PGT.l1:
            rw = (entries[idx] & np.uint64(ptes.FLAG_BITS["rw"])).astype(bool)
            valid = targets < n
            np.add.at(general, targets[valid], 1)
            np.add.at(typed, targets[valid & rw], 1)
            _require(required, problems, targets[valid & rw], PGT.writable,
                     f"writable L1 entries of mfn {mfn}")
            if np.any(~valid):
                problems.append(f"mfn {mfn}: L1 entry maps a frame that is not RAM")
            continue
        not_self = targets[targets != mfn]
        if np.any(not_self >= n):
            problems.append(f"mfn {mfn}: entry names a frame that is not RAM")
            not_self = not_self[not_self < n]
        np.add.at(general, not_self, 1)
        np.add.at(typed, not_self, 1)
        same_level = host.type[not_self] == level
        lower = not_self[~same_level]
        _require(required, problems, lower, level - 1, f"L{level} entries of mfn {mfn}")
        lin = not_self[same_level]
        if len(lin):
            _require(required, problems, lin, level, f"linear entries of mfn {mfn}")
            linear[mfn] += len(lin)
            np.subtract.at(linear, lin, 1)
            for t in lin.tolist():
                if entries_rw(entries, idx, targets, t):
                    problems.append(f"mfn {mfn}: writable linear entry to mfn {t}")

    owned = host.owner != OWNER_FREE
    foreign = owned & (host.owner != OWNER_GUEST)
    for what, want, have in (("count", general, host.count), ("type_count", typed,
                                                               host.type_count)):
        bad = np.flatnonzero((want != have) & ~foreign)
        for mfn in bad[:20].tolist():
            problems.append(f"mfn {mfn}: {what} is {int(have[mfn])}, references found: "
                            f"{int(want[mfn])}")
        if len(bad) > 20:
            problems.append(f"... {len(bad) - 20} more frames with a wrong {what}")
    # Frames of other domains hold their owner's general reference and nothing else here.
    bad_foreign = np.flatnonzero(foreign & (host.count != 1))
    for mfn in bad_foreign[:5].tolist():
        problems.append(f"mfn {mfn}: frame of {host.owner_name(mfn)} has count "
                        f"{int(host.count[mfn])}")

    # Type references must all agree with the frame's type.
    has_req = (required >= 0) & (host.type_count > 0)
    wrong = np.flatnonzero(has_req & (required != host.type))
    for mfn in wrong[:10].tolist():
        problems.append(f"mfn {mfn}: type is {TYPE_NAMES[int(host.type[mfn])]} but its "
                        f"references need {TYPE_NAMES[int(required[mfn])]}")

    live_pt = is_pt & (host.type_count > 0)
    for mfn in np.flatnonzero(live_pt & ~host.validated & ~host.partial)[:10].tolist():
        problems.append(f"mfn {mfn}: page table with type count {int(host.type_count[mfn])}"
                        " is neither validated nor partial")
    for mfn in np.flatnonzero(host.pinned & ~(is_pt & (host.type_count > 0)))[:10].tolist():
        problems.append(f"mfn {mfn}: pinned but not a referenced page table")
    for mfn in np.flatnonzero(host.partial & (host.type_count != 1))[:10].tolist():
        problems.append(f"mfn {mfn}: partial with type count {int(host.type_count[mfn])}")
    free = host.owner == OWNER_FREE
    for mfn in np.flatnonzero(free & ((host.count != 0) | (host.type_count != 0)
                                      | host.pinned | host.allocated))[:10].tolist():
        problems.append(f"mfn {mfn}: free frame with references or flags")
    for mfn in np.flatnonzero((linear != host.linear_pt_count) & is_pt)[:10].tolist():
        problems.append(f"mfn {mfn}: linear_pt_count {int(host.linear_pt_count[mfn])}, "
                        f"linear entries found {int(linear[mfn])}")

    if dom is not None:
        backed = np.flatnonzero(dom.p2m >= 0)
        p2m = dom.p2m[backed]
        for pfn in backed[host.m2p[p2m] != backed][:10].tolist():
            problems.append(f"pfn {pfn}: P2M says mfn {int(dom.p2m[pfn])}, whose M2P says "
                            f"{int(host.m2p[dom.p2m[pfn]])}")
        for pfn in backed[host.owner[p2m] != OWNER_GUEST][:10].tolist():
            problems.append(f"pfn {pfn}: mfn {int(dom.p2m[pfn])} is not the guest's")
    return problems


def _count_partial_slots(host: Host, is_pt: np.ndarray, general: np.ndarray,
                         required: np.ndarray, problems: list[str]) -> None:
    """A partial table with PTF_partial_set: its entry at nr_validated_ptes holds a general
    reference to the table below, whose one type reference is the PGT_partial one
    (counted with that page, while it is still partial), never a second."""
    for mfn in np.flatnonzero(is_pt & host.partial & host.partial_set).tolist():
        level, slot = int(host.type[mfn]), int(host.nr_validated_ptes[mfn])
        e = host.entry(mfn, slot) if slot < 512 else 0
        target = ptes.mfn_of(e)
        if not ptes.present(e) or level == PGT.l1 or target == mfn or target >= host.frames:
            problems.append(f"mfn {mfn}: PTF_partial_set at slot {slot}, which names no "
                            "lower table")
            continue
        general[target] += 1
        _require(required, problems, np.array([target]), level - 1,
                 f"partial slot {slot} of mfn {mfn}")


def entries_rw(entries: np.ndarray, idx: np.ndarray, targets: np.ndarray, target: int) -> bool:
    sel = idx[targets == target]
    return bool(np.any(entries[sel] & np.uint64(ptes.FLAG_BITS["rw"])))


def _require(required: np.ndarray, problems: list[str], targets: np.ndarray, type_: int,
             who: str) -> None:
    if not len(targets):
        return
    prev = required[targets]
    clash = (prev >= 0) & (prev != type_)
    for t in targets[clash][:5].tolist():
        problems.append(f"mfn {t}: referenced as {TYPE_NAMES[type_]} by {who} and as "
                        f"{TYPE_NAMES[int(required[t])]} elsewhere")
    required[targets] = type_
