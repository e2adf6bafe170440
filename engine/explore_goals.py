"""What the explorer looks for. Each goal reads one step's outcome under both Xen variants
(and the state it left) and returns the hits it sees there; a hit's `key` says which
phenomenon it is, so that a shrunk sequence can be required to show the same one."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import pte as ptes
from .constants import TYPE_NAMES, errno_name, pfinfo_name
from .explore_state import Lockstep, StepResult, stale_entries
from .world import World

GOALS = ("divergence", "lost", "migration-failed", "stale-entry", "restore-refused", "audit")


@dataclass
class Hit:
    goal: str
    op: str  # the operation where it shows: "mmuext pin_l1", "migrate", ...
    field: str  # what shows it: "rc -EBUSY patched, 0 unpatched", "destination entries"...
    xen: str  # patched | unpatched | both
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.goal, self.op, self.field, self.xen)


def op_label(raw: dict[str, Any]) -> str:
    if "mmuext" in raw:
        body = raw["mmuext"]
        return f"mmuext {body['cmd']}" + (" (preempted)" if "preempt_after" in body else "")
    if "memory" in raw:
        return f"memory {raw['memory']['cmd']}"
    if "migrate" in raw:
        # The tool stack is not part of the name: a finding keeps `toolstack` only where
        # the shrinker could not drop it, and the field then says what it changed.
        return "migrate"
    return next(iter(k for k in raw if k not in ("expect", "note")))


def rc_text(rc: int) -> str:
    return "0" if rc == 0 else f"-{errno_name(rc)}"


def completed(world: World) -> bool:
    """The migration this step ran has ended (ok or failed), not merely advanced."""
    m = world.migration
    return m is not None and m.state != "in_progress"


def _both(hits: dict[str, Hit]) -> list[Hit]:
    """One hit per phenomenon: `both` when the two variants show the same."""
    u, p = hits.get("unpatched"), hits.get("patched")
    if u is not None and p is not None and u.field == p.field and u.op == p.op:
        u.xen = "both"
        return [u]
    return [h for h in (u, p) if h is not None]


# -- divergence ---------------------------------------------------------------------------
def guest_view(world: World) -> tuple[dict[int, tuple[Any, ...]], dict[tuple[int, int], Any]]:
    """The guest's frames and present entries in PFN terms, on the host where it runs:
    comparable across variants whose destinations allocated frames in another order."""
    dom = world.guest
    h = dom.host
    frames: dict[int, tuple[Any, ...]] = {}
    entries: dict[tuple[int, int], Any] = {}
    backed = np.flatnonzero(dom.p2m >= 0)
    mfns = dom.p2m[backed]
    for pfn, mfn in zip(backed.tolist(), mfns.tolist(), strict=True):
        frames[pfn] = (TYPE_NAMES[int(h.type[mfn])], int(h.type_count[mfn]),
                       bool(h.validated[mfn]), bool(h.pinned[mfn]), bool(h.partial[mfn]),
                       int(h.count[mfn]))
        page = h.contents.get(mfn)
        if page is None:
            continue
        for i in np.flatnonzero(page & np.uint64(1)).tolist():
            target = ptes.mfn_of(int(page[i]))
            got = dom.mfn_to_pfn(target)
            entries[(pfn, i)] = ("pfn", got) if got is not None else (
                h.owner_name(target) if h.mfn_valid(target) else "invalid", target)
    return frames, entries


FRAME_FIELDS = ("type", "type_count", "validated", "pinned", "partial", "count")
# The order in which a difference is named when several show at once: what the guest
# would notice first.
SEVERITY = ("cr3", "pinned", "type", "validated", "partial", "entries", "type_count",
            "count")


def state_differences(u: World, p: World) -> list[tuple[str, Any, Any, Any]]:
    """(field, where, unpatched value, patched value) for every difference."""
    fu, eu = guest_view(u)
    fp, ep = guest_view(p)
    out: list[tuple[str, Any, Any, Any]] = []
    cr3u = u.guest.mfn_to_pfn(u.guest.cr3) if u.guest.cr3 is not None else None
    cr3p = p.guest.mfn_to_pfn(p.guest.cr3) if p.guest.cr3 is not None else None
    if cr3u != cr3p or u.guest_host != p.guest_host:
        out.append(("cr3", None, cr3u, cr3p))
    for pfn in sorted(set(fu) | set(fp)):
        a, b = fu.get(pfn), fp.get(pfn)
        if a == b:
            continue
        if a is None or b is None:
            out.append(("type", pfn, a and a[0], b and b[0]))
            continue
        out += [(name, pfn, x, y) for name, x, y in zip(FRAME_FIELDS, a, b, strict=True)
                if x != y]
    for key in sorted(set(eu) | set(ep)):
        if eu.get(key) != ep.get(key):
            out.append(("entries", key, eu.get(key), ep.get(key)))
    return out


def divergence(lock: Lockstep, res: StepResult) -> list[Hit]:
    u, p = res.outcomes["unpatched"], res.outcomes["patched"]
    op = op_label(res.step)
    if "migrate" not in res.step:
        if u.rc == p.rc:
            return []
        return [Hit("divergence", op, f"rc {rc_text(u.rc)} unpatched, {rc_text(p.rc)} "
                    "patched", "both", {"rc": {"unpatched": u.rc, "patched": p.rc}})]
    if u.result != p.result:
        return [Hit("divergence", op, f"migration {u.result} unpatched, {p.result} patched",
                    "both", {"messages": {"unpatched": u.message, "patched": p.message}})]
    wu, wp = lock.variants["unpatched"].world, lock.variants["patched"].world
    if not (completed(wu) and completed(wp)):
        return []
    lost_u, lost_p = lost_pfns(wu), lost_pfns(wp)
    if lost_u != lost_p:
        return [Hit("divergence", op, "lost pages", "both",
                    {"lost": {"unpatched": lost_u, "patched": lost_p}})]
    diffs = state_differences(wu, wp)
    if diffs:
        kind = min((d[0] for d in diffs), key=SEVERITY.index)
        where = next(d[1] for d in diffs if d[0] == kind)
        pfn = where[0] if isinstance(where, tuple) else where
        sent = "" if pfn is None else (f" ({sent_as(wu, pfn)} unpatched, "
                                       f"{sent_as(wp, pfn)} patched)")
        return [Hit("divergence", op, f"destination {kind}{sent}", "both", {"diffs": diffs})]
    nu = np.flatnonzero(wu.migration.last_normalised).tolist()
    np_ = np.flatnonzero(wp.migration.last_normalised).tolist()
    if nu != np_:
        return [Hit("divergence", op, "normalised (same end state)", "both",
                    {"normalised": {"unpatched": nu, "patched": np_}})]
    return []


def sent_as(world: World, pfn: int) -> str:
    """How the migration's last record for the pfn typed it (getpageframeinfo3's answer)."""
    m = world.migration
    info = int(m.pfn_types[pfn]) if m is not None else -1
    return "not sent" if info < 0 else pfinfo_name(info)


# -- lost ----------------------------------------------------------------------------------
def lost_pfns(world: World) -> list[int]:
    """The migration's `lost` (contract v2): PFNs whose final contents the final pass
    did not send."""
    m = world.migration
    return [] if m is None else np.flatnonzero(m.lost).tolist()


def lost(lock: Lockstep, res: StepResult) -> list[Hit]:
    if "migrate" not in res.step:
        return []
    hits = {}
    for xen, var in lock.variants.items():
        m = var.world.migration
        if m is not None and m.state == "ok" and res.outcomes[xen].result == "ok":
            pfns = lost_pfns(var.world)
            if pfns:
                hits[xen] = Hit("lost", op_label(res.step), "page lost", xen,
                                {"lost": {xen: pfns}})
    return _both(hits)


# -- migration-failed, restore-refused ------------------------------------------------------
def _failures(lock: Lockstep, res: StepResult) -> dict[str, tuple[str, int, str]]:
    """xen -> (phase, rc, message) for each variant whose migration failed in this step."""
    out = {}
    if "migrate" in res.step:
        for xen, var in lock.variants.items():
            o = res.outcomes[xen]
            m = var.world.migration
            if o.result == "failed" and m is not None and m.state == "failed":
                out[xen] = (m.phase, o.rc, o.message or "")
    return out


def migration_failed(lock: Lockstep, res: StepResult) -> list[Hit]:
    hits = {xen: Hit("migration-failed", op_label(res.step),
                     f"{phase} fails with {rc_text(rc)}", xen, {"message": {xen: why}})
            for xen, (phase, rc, why) in _failures(lock, res).items()}
    return _both(hits)


_PIN = re.compile(r"Failed to pin.*?L(\d)")


def restore_refused(lock: Lockstep, res: StepResult) -> list[Hit]:
    hits = {}
    for xen, (phase, rc, why) in _failures(lock, res).items():
        if phase != "restore":
            continue
        pin = _PIN.search(why)
        if pin:
            what = f"pin_l{pin.group(1)} refused"
        elif "vCPU context" in why:
            what = "base pointer refused"
        else:
            continue  # the restore failed for want of memory, not by a refusal
        hits[xen] = Hit("restore-refused", op_label(res.step), f"{what} with {rc_text(rc)}",
                        xen, {"message": {xen: why}})
    return _both(hits)


# -- stale-entry --------------------------------------------------------------------------
def stale_entry(lock: Lockstep, res: StepResult) -> list[Hit]:
    if "migrate" not in res.step:
        return []
    hits = {}
    for xen, var in lock.variants.items():
        m = var.world.migration
        if res.outcomes[xen].result != "ok" or m is None or m.state != "ok" \
                or m.phase != "restore":
            continue
        stale = [s for s in stale_entries(var) if (s[0], s[1]) not in var.stale_before]
        if stale:
            # Named by the worst kind present: a wrong guest frame beats a free one.
            kinds = [s[4] for s in stale]
            what = "another guest frame" if "another guest frame" in kinds else kinds[0]
            hits[xen] = Hit("stale-entry", op_label(res.step), f"entry names {what}", xen,
                            {"stale": {xen: [s for s in stale if s[4] == what]}})
    return _both(hits)


# -- audit ----------------------------------------------------------------------------------
def problem_kind(problem: str) -> str:
    """`source: mfn 260: count is 2, references found: 3` -> the same with numbers as N."""
    return re.sub(r"\d+", "N", problem)


def audit(lock: Lockstep, res: StepResult) -> list[Hit]:
    hits = {}
    for xen, var in lock.variants.items():
        problems = var.world.audit()
        if problems:
            hits[xen] = Hit("audit", op_label(res.step), problem_kind(problems[0]), xen,
                            {"problems": {xen: problems[:10]}})
    return _both(hits)


CHECKS: dict[str, Callable[[Lockstep, StepResult], list[Hit]]] = {
    "divergence": divergence, "lost": lost, "migration-failed": migration_failed,
    "stale-entry": stale_entry, "restore-refused": restore_refused, "audit": audit,
}
