"""Why a hypercall failed, in words: the Xen function that returned the error, the entry it
was looking at and the rule it applied. MM.fail() records the site where an rc
originates; describe() says what a frame was at that moment; message() turns the record
into the one line a failed event carries in `message`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .constants import INVALID_MFN, PGT, errno_name
from .host import OWNER_GUEST, Host

# The names Xen gives the types in messages and comments (asm-x86/mm.h).
PGT_NAMES = {
    PGT.none: "PGT_none", PGT.l1: "PGT_l1_page_table", PGT.l2: "PGT_l2_page_table",
    PGT.l3: "PGT_l3_page_table", PGT.l4: "PGT_l4_page_table", PGT.seg_desc: "PGT_seg_desc_page",
    PGT.shared: "PGT_shared_page", PGT.writable: "PGT_writable_page",
}


@dataclass
class Failure:
    """Where an rc came from. `mfn`/`index`: the table entry being examined (the deepest
    one, when validations nest); `target`: the frame that entry, or the call, named;
    `path`: the enclosing (table, entry) pairs, innermost first."""

    rc: int
    fn: str
    why: str
    mfn: int | None = None
    index: int | None = None
    target: int | None = None
    flags: str = ""
    path: list[tuple[int, int]] = field(default_factory=list)

    def as_dict(self, h: Host) -> dict[str, Any]:
        return {"fn": self.fn, "rc": self.rc, "errno": errno_name(self.rc), "why": self.why,
                "host": h.name, "mfn": self.mfn, "index": self.index, "target": self.target,
                "pfn": pfn_of(h, self.mfn), "target_pfn": pfn_of(h, self.target),
                "path": [{"mfn": m, "index": i, "pfn": pfn_of(h, m)} for m, i in self.path]}


def pfn_of(h: Host, mfn: int | None) -> int | None:
    if mfn is None or not h.mfn_valid(mfn) or h.owner[mfn] != OWNER_GUEST:
        return None
    pfn = int(h.m2p[mfn])
    return pfn if pfn >= 0 else None


def frame_name(h: Host, mfn: int | None) -> str:
    """`PFN 40` for a guest frame, else `MFN 12`."""
    if mfn is None:
        return "?"
    if mfn == INVALID_MFN:
        return "INVALID_MFN"
    pfn = pfn_of(h, mfn)
    return f"PFN {pfn}" if pfn is not None else f"MFN {mfn}"


def describe(h: Host, mfn: int) -> str:
    """What a frame is right now, as a rule about it would need: `PFN 40 is a pinned L1`."""
    name = frame_name(h, mfn)
    if not h.mfn_valid(mfn):
        return f"MFN {mfn} is not RAM on the {h.name} host"
    if h.owner[mfn] != OWNER_GUEST:
        owner = h.owner_name(mfn)
        return f"{name} is {'a free frame' if owner == 'free' else 'owned by ' + owner}"
    if h.count[mfn] == 0:
        return f"{name} has no general reference (being freed)"
    type_ = PGT(int(h.type[mfn]))
    tc = int(h.type_count[mfn])
    if type_ in (PGT.l1, PGT.l2, PGT.l3, PGT.l4):
        what = f"L{int(type_)}"
        if h.pinned[mfn]:
            state = "a pinned"
        elif h.partial[mfn]:
            state = "a partly validated"
        elif h.validated[mfn] and tc:
            state = "a validated"
        else:
            state = "a de-validated"
        return f"{name} is {state} {what} ({tc} type reference{'s' if tc != 1 else ''})"
    if type_ == PGT.writable:
        return f"{name} is writable ({tc} type reference{'s' if tc != 1 else ''})"
    return f"{name} has type {type_.name} ({tc} type references)"


STEP_VERBS = {"mmu_update": "mmu_update", "write": "write", "memory": None, "mmuext": None}


def step_label(h: Host, step: Any) -> str:
    """`pin_l1 PFN 41`, `mmu_update PFN 20[3]`, `write PFN 7`, `decrease_reservation PFN 9`."""
    op, body = step.op, step.body
    page = f"PFN {body.pfn}" if getattr(body, "pfn", None) is not None else f"MFN {body.mfn}"
    if op == "mmu_update":
        return f"mmu_update {page}[{body.index}]"
    if op in ("mmuext", "memory"):
        return f"{body.cmd} {page}"
    return f"{op} {page}"


def message(h: Host, step: Any, rc: int, failure: Failure | None) -> str:
    """The line a failed event carries."""
    head = f"{step_label(h, step)}: -{errno_name(rc)}"
    if failure is None or failure.rc != rc:
        return head
    args = []
    if failure.index is not None:
        table = "" if _is_step_page(h, step, failure.mfn) else f"{frame_name(h, failure.mfn)} "
        args.append(f"{table}entry {failure.index}")
        if failure.target is not None:
            args[-1] += f" -> {frame_name(h, failure.target)}"
    elif failure.target is not None:
        args.append(frame_name(h, failure.target))
    if failure.flags:
        args.append(failure.flags)
    text = f"{head}: {failure.fn}({', '.join(args)}) {failure.why}"
    outer = [(m, i) for m, i in failure.path if (m, i) != (failure.mfn, failure.index)]
    if outer:
        text += " (validating " + ", then ".join(
            f"{frame_name(h, m)} entry {i}" for m, i in reversed(outer)) + ")"
    return text


def _is_step_page(h: Host, step: Any, mfn: int | None) -> bool:
    body = step.body
    if getattr(body, "pfn", None) is not None:
        return pfn_of(h, mfn) == body.pfn
    return getattr(body, "mfn", None) == mfn
