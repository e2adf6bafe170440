"""Helpers for the engine tests: sessions over small inline scenarios, a driver that audits
after every step, state captures, and the reverse application of an event's deltas.

Default guest (linear layout, 64 pages, source host of 1024 frames with dom0 on MFNs
0..255, ascending allocation): PFN p has MFN 256 + p. PFN 0 = L4 (pinned, base pointer),
1 = L3, 2 = L2, 3 = L1, 4..63 data pages mapped read-write by L1 PFN 3 at index p.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

from engine.constants import TYPE_NAMES, Errno
from engine.errors import InvalidInput
from engine.packing import unpack
from engine.session import Session

DOM0_MFN = 10  # owned by dom0 on the source (reserved 0..255)
FREE_MFN = 600  # free on the source (the guest takes 256..319)
NOT_RAM_MFN = 5000  # beyond the source's 1024 frames
INVALID_MFN = (1 << 40) - 1  # PADDR_MASK >> PAGE_SHIFT: what a PV kernel writes for "no frame"

UPPER = ["present", "rw", "user", "accessed"]
RO = ["present"]
RW = ["present", "rw"]

HOST_FIELDS = ("owner", "count", "allocated", "type", "type_count", "validated", "pinned",
               "partial", "nr_validated_ptes", "partial_set", "linear_pt_count", "m2p")


def rc_of(name: str) -> int:
    return -int(Errno[name])


def scenario(layout: str = "linear", pages: int = 64, xen: str = "patched",
             **hosts: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": "engine-test", "xen": xen,
                           "guest": {"pages": pages, "layout": layout}}
    if hosts:
        doc["hosts"] = hosts
    return doc


class Driver:
    """A session whose every step is followed by `world.audit()`."""

    def __init__(self, session: Session) -> None:
        self.s = session
        self.w = session.world

    # -- stepping --------------------------------------------------------------------------
    def apply(self, step: dict[str, Any]) -> dict[str, Any]:
        event = self.s.apply(step)
        problems = self.w.audit()
        assert problems == [], f"audit after {step}: {problems}"
        for a in event["assertions"]:
            assert a["ok"], f"{step}: assertion {a}"
        return event

    def ok(self, step: dict[str, Any]) -> dict[str, Any]:
        event = self.apply(step)
        assert event["rc"] == 0, f"{step}: rc {event['rc']} ({event['errno']})"
        return event

    def fails(self, step: dict[str, Any], errno: str, *, counts_kept: bool = True) -> dict:
        """The step returns -errno; unless told otherwise, no count or type count moved."""
        before = counts(self.w)
        event = self.apply(step)
        assert event["errno"] == errno, f"{step}: rc {event['rc']} ({event['errno']})"
        if counts_kept:
            assert_counts_equal(before, counts(self.w), step)
        return event

    def invalid(self, step: Any) -> InvalidInput:
        before_state = capture(self.w)
        before_snap = self.s.snapshot()
        seq = self.s.seq
        with pytest.raises(InvalidInput) as info:
            self.s.apply(step)
        assert self.s.seq == seq
        assert self.s.snapshot() == before_snap
        assert_states_equal(before_state, capture(self.w))
        assert self.w.audit() == []
        return info.value

    def check(self, **fields: Any) -> dict[str, Any]:
        return self.apply({"check": fields})

    # -- reading ---------------------------------------------------------------------------
    def mfn(self, pfn: int) -> int:
        return int(self.w.guest.p2m[pfn])

    def frame(self, pfn: int | None = None, mfn: int | None = None) -> dict[str, Any]:
        h = self.w.guest.host
        return h.frame_info(self.mfn(pfn) if mfn is None else mfn)

    def pfinfo(self, **ref: Any) -> str:
        event = self.apply({"check": {"pfinfo": ref, "is": "NOTAB"}})
        return event["assertions"][0]["actual"]

    def entry(self, pfn: int, index: int) -> int:
        return self.w.guest.host.entry(self.mfn(pfn), index)

    # -- set-ups used by many tests -------------------------------------------------------------
    def make_ro(self, *pfns: int) -> None:
        """Remap data pages read-only in the kernel's L1 (PFN 3) so they can become tables."""
        for p in pfns:
            self.ok({"mmu_update": {"pfn": 3, "index": p, "entry": {"pfn": p, "flags": RO}}})

    def put(self, pfn: int, index: int, target: dict[str, Any] | int,
            flags: list[str] | None = None) -> dict[str, Any]:
        entry = target if isinstance(target, int) else {**target, "flags": flags or []}
        return self.apply({"mmu_update": {"pfn": pfn, "index": index, "entry": entry}})

    def build_l2_over_l1(self, l2: int = 20, l1: int = 21, data: int = 30) -> None:
        """L2 `l2` whose entry 0 points at L1 `l1`, whose entry 0 maps `data` read-write;
        both pages plain (writable, count 0) until pinned."""
        self.make_ro(l2, l1)
        assert self.put(l1, 0, {"pfn": data}, RW)["rc"] == 0
        assert self.put(l2, 0, {"pfn": l1}, UPPER)["rc"] == 0


# -- state captures ------------------------------------------------------------------------
def counts(world) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {name: (h.count.copy(), h.type_count.copy()) for name, h in world.hosts.items()}


def assert_counts_equal(a, b, what: Any = "") -> None:
    for host in a:
        for label, x, y in (("count", a[host][0], b[host][0]),
                            ("type_count", a[host][1], b[host][1])):
            diff = np.flatnonzero(x != y)
            assert not len(diff), (f"{what}: {host} {label} changed at mfns "
                                   f"{diff[:10].tolist()}: {x[diff][:10].tolist()} -> "
                                   f"{y[diff][:10].tolist()}")


def capture(world) -> dict[str, Any]:
    """Every field deltas can name, on both hosts and for the running guest."""
    out: dict[str, Any] = {}
    for name, h in world.hosts.items():
        out[name] = {f: getattr(h, f).copy() for f in HOST_FIELDS}
        out[name]["contents"] = {m: p.copy() for m, p in h.contents.items()}
        out[name]["owners"] = list(h.owners)
    dom = world.guest
    out["guest"] = {"host": dom.host.name, "p2m": dom.p2m.copy(), "cr3": dom.cr3,
                    "log_dirty": dom.log_dirty, "paused": dom.paused,
                    "dirty": dom.dirty.copy()}
    return out


def assert_states_equal(a: dict[str, Any], b: dict[str, Any], fields=None) -> None:
    for host in ("source", "destination"):
        for f in fields or HOST_FIELDS:
            x, y = a[host][f], b[host][f]
            diff = np.flatnonzero(x != y)
            assert not len(diff), f"{host}.{f} differs at mfns {diff[:10].tolist()}"
        if fields is None:
            ca, cb = a[host]["contents"], b[host]["contents"]
            for m in set(ca) | set(cb):
                pa = ca.get(m, np.zeros(512, np.uint64))
                pb = cb.get(m, np.zeros(512, np.uint64))
                assert np.array_equal(pa, pb), f"{host} contents of mfn {m} differ"
    ga, gb = a["guest"], b["guest"]
    assert ga["host"] == gb["host"]
    assert np.array_equal(ga["p2m"], gb["p2m"]), "guest p2m differs"
    assert ga["cr3"] == gb["cr3"], "cr3 differs"


def unshow(field: str, value: Any, owners: list[str]) -> Any:
    if field == "type":
        return TYPE_NAMES.index(value)
    if field == "owner":
        return owners.index(value)
    return value


def reverse(post: dict[str, Any], deltas: list[dict[str, Any]]) -> dict[str, Any]:
    """Apply the deltas' `old` values, last first, to a copy of the post-state."""
    st = copy.deepcopy(post)
    for d in reversed(deltas):
        kind = d["kind"]
        if kind == "frame":
            h = st[d["host"]]
            h[d["field"]][d["mfn"]] = unshow(d["field"], d["old"], h["owners"])
        elif kind == "frames":
            h = st[d["host"]]
            mfns = unpack(d["mfns"])
            assert len(set(mfns)) == len(mfns), f"a frame twice in one delta: {d}"
            for m, old in zip(mfns, unpack(d["old"]), strict=True):
                h[d["field"]][m] = unshow(d["field"], old, h["owners"])
        elif kind == "entry":
            pages = st[d["host"]]["contents"]
            page = pages.setdefault(d["mfn"], np.zeros(512, np.uint64))
            page[d["index"]] = np.uint64(int(d["old"], 16))
        elif kind == "m2p":
            st[d["host"]]["m2p"][d["mfn"]] = d["old"]
        elif kind == "m2p_many":
            st[d["host"]]["m2p"][unpack(d["mfns"])] = unpack(d["old"])
        elif kind == "p2m":
            st["guest"]["p2m"][d["pfn"]] = d["old"]
        elif kind == "p2m_many":
            st["guest"]["p2m"][unpack(d["pfns"])] = unpack(d["old"])
        elif kind == "cr3":
            st["guest"]["cr3"] = d["old"]
        elif kind == "dirty":
            st["guest"]["dirty"][d["pfn"]] = False
        elif kind == "dirty_many":
            st["guest"]["dirty"][unpack(d["pfns"])] = False
        elif kind == "domain":
            st["guest"][d["field"]] = d["old"]
    return st


def has_scrub(deltas: list[dict[str, Any]]) -> set[tuple[str, int]]:
    """(host, mfn) of whole-page deltas, which carry no old contents."""
    out = {(d["host"], d["mfn"]) for d in deltas if d["kind"] == "page"}
    return out | {(d["host"], m) for d in deltas if d["kind"] == "pages"
                  for m in unpack(d["mfns"])}


def assert_time_travel(pre: dict[str, Any], post: dict[str, Any],
                       deltas: list[dict[str, Any]]) -> None:
    """Reversing the deltas on the post-state gives the pre-state (page contents only
    where no whole-page delta was involved)."""
    back = reverse(post, deltas)
    scrubbed = has_scrub(deltas)
    for host in ("source", "destination"):
        for f in HOST_FIELDS:
            diff = np.flatnonzero(back[host][f] != pre[host][f])
            assert not len(diff), (f"{host}.{f}: reversed deltas give "
                                   f"{back[host][f][diff][:5].tolist()}, pre-state had "
                                   f"{pre[host][f][diff][:5].tolist()} at {diff[:5].tolist()}")
        cb, cp = back[host]["contents"], pre[host]["contents"]
        for m in set(cb) | set(cp):
            if (host, m) in scrubbed:
                continue
            zb = cb.get(m, np.zeros(512, np.uint64))
            zp = cp.get(m, np.zeros(512, np.uint64))
            assert np.array_equal(zb, zp), f"{host}: contents of mfn {m} not restored"
    assert np.array_equal(back["guest"]["p2m"], pre["guest"]["p2m"])
    assert back["guest"]["cr3"] == pre["guest"]["cr3"]


STATE_KINDS = {"frame", "frames", "entry", "m2p", "m2p_many", "p2m", "p2m_many", "cr3",
               "dirty", "dirty_many", "dirty_clean", "domain", "page", "pages"}


def assert_deltas_name_functions(deltas: list[dict[str, Any]]) -> None:
    for d in deltas:
        if d["kind"] in STATE_KINDS:
            assert isinstance(d.get("fn"), str) and d["fn"].strip(), f"delta without fn: {d}"


def forward(pre: dict[str, Any], deltas: list[dict[str, Any]]) -> dict[str, Any]:
    """Apply the deltas' `new` values, first first, to a copy of the pre-state's frame
    tables and M2Ps (what a client holds)."""
    st = copy.deepcopy({h: pre[h] for h in ("source", "destination")})
    for d in deltas:
        kind = d["kind"]
        if kind == "frame":
            h = st[d["host"]]
            h[d["field"]][d["mfn"]] = unshow(d["field"], d["new"], h["owners"])
        elif kind == "frames":
            h = st[d["host"]]
            mfns = unpack(d["mfns"])
            new = d["new"]
            values = unpack(new) if isinstance(new, dict | list) else [new] * len(mfns)
            for m, v in zip(mfns, values, strict=True):
                h[d["field"]][m] = unshow(d["field"], v, h["owners"])
        elif kind == "m2p":
            st[d["host"]]["m2p"][d["mfn"]] = d["new"]
        elif kind == "m2p_many":
            st[d["host"]]["m2p"][unpack(d["mfns"])] = unpack(d["new"])
    return st
