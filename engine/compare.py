"""What differs between two sessions at their current points (two Xen variants of one
script, or two scenarios): the frames whose page_info differs, the guest frames for which
getpageframeinfo3 answers differently, and the page-table entries that differ. The UI
outlines these in both panes of its compare view."""

from __future__ import annotations

from typing import Any

import numpy as np

from .host import Host
from .session import Session, pfinfo_label
from .world import HOSTS

FIELDS = ("owner", "count", "allocated", "type", "type_count", "validated", "pinned", "partial",
          "m2p")


def _owner_names(h: Host) -> np.ndarray:
    return np.array(h.owners, dtype=object)[h.owner]


def _differing_frames(a: Host, b: Host) -> list[dict[str, Any]]:
    n = min(a.frames, b.frames)
    out: dict[int, list[str]] = {}
    for field in FIELDS:
        if field == "owner":
            diff = _owner_names(a)[:n] != _owner_names(b)[:n]
        else:
            diff = getattr(a, field)[:n] != getattr(b, field)[:n]
        for mfn in np.flatnonzero(diff).tolist():
            out.setdefault(mfn, []).append(field)
    return [{"host": a.name, "mfn": mfn, "fields": fields} for mfn, fields in sorted(out.items())]


def _differing_entries(a: Host, b: Host) -> list[dict[str, Any]]:
    out = []
    for mfn in sorted(set(a.contents) | set(b.contents)):
        if mfn >= min(a.frames, b.frames):
            continue
        pa, pb = a.contents.get(mfn), b.contents.get(mfn)
        za = pa if pa is not None else np.zeros(512, np.uint64)
        zb = pb if pb is not None else np.zeros(512, np.uint64)
        # Only entries that are present on at least one side are shown by the inspector.
        present = ((za | zb) & np.uint64(1)).astype(bool)
        for index in np.flatnonzero((za != zb) & present).tolist():
            out.append({"host": a.name, "mfn": mfn, "index": index})
    return out


def _differing_pfinfo(a: Session, b: Session) -> list[dict[str, Any]]:
    wa, wb = a.world, b.world
    if wa.guest_host != wb.guest_host:
        return []
    dom_a, dom_b = wa.guest, wb.guest
    out = []
    for pfn in range(min(dom_a.pages, dom_b.pages)):
        ma, mb = int(dom_a.p2m[pfn]), int(dom_b.p2m[pfn])
        if ma < 0 or mb < 0:
            continue
        la, lb = pfinfo_label(dom_a, ma, wa.patched), pfinfo_label(dom_b, mb, wb.patched)
        if la != lb:
            out.append({"pfn": pfn, "a": la, "b": lb, "host": wa.guest_host, "mfn_a": ma,
                        "mfn_b": mb})
    return out


def state_diff(a: Session, b: Session) -> dict[str, Any]:
    """{"frames": [{host, mfn, fields}], "entries": [{host, mfn, index}],
    "pfinfo": [{pfn, a, b, host, mfn_a, mfn_b}], "p2m": [pfn]}."""
    frames, entries = [], []
    for name in HOSTS:
        ha, hb = a.world.hosts[name], b.world.hosts[name]
        frames += _differing_frames(ha, hb)
        entries += _differing_entries(ha, hb)
    pa, pb = a.world.guest.p2m, b.world.guest.p2m
    n = min(len(pa), len(pb))
    p2m = np.flatnonzero(pa[:n] != pb[:n]).tolist()
    if a.world.guest_host != b.world.guest_host:
        p2m = list(range(n))
    return {"frames": frames, "entries": entries, "pfinfo": _differing_pfinfo(a, b), "p2m": p2m}
