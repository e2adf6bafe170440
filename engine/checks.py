"""`check` steps (contract section 3): each present field is one assertion."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from . import pte as ptes
from .constants import pfinfo_name
from .hypercalls import getpageframeinfo3
from .mm import MM

if TYPE_CHECKING:
    from .scenario import Check, FrameRef
    from .world import World

FRAME_FIELDS = ("type", "validated", "pinned", "partial", "type_count", "count", "owner")


def assertion(what: str, expected: Any, actual: Any) -> dict[str, Any]:
    return {"what": what, "expected": expected, "actual": actual, "ok": expected == actual}


def evaluate(world: World, check: Check) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    given = check.model_fields_set
    if check.frame is not None:
        out += _frame(world, check, given)
    if check.pfinfo is not None:
        out += _pfinfo(world, check)
    if check.entry is not None:
        out += _entry(world, check, given)
    if check.migration is not None:
        m = world.migration
        out.append(assertion("migration", check.migration,
                             "not_started" if m is None else m.state))
    m = world.migration
    if check.deferred is not None:
        actual = [] if m is None else np.flatnonzero(m.ever_deferred).tolist()
        out.append(assertion("migration deferred", sorted(check.deferred), actual))
    if check.normalised is not None:
        actual = [] if m is None else np.flatnonzero(m.last_normalised).tolist()
        out.append(assertion("migration normalised", sorted(check.normalised), actual))
    if check.lost is not None:
        actual = [] if m is None else np.flatnonzero(m.lost).tolist()
        out.append(assertion("migration lost", sorted(check.lost), actual))
    if check.audit is not None:
        problems = world.audit()
        out.append(assertion("audit", "ok", "ok" if not problems else problems[:10]))
    if check.guest_on is not None:
        out.append(assertion("guest_on", check.guest_on, world.guest_host))
    return out


def _locate(world: World, ref: FrameRef) -> tuple[str, int | None, str]:
    """(host, mfn or None, label) for a frame reference."""
    host = ref.on or world.guest_host
    if ref.mfn is not None:
        return host, int(ref.mfn), f"mfn {ref.mfn} on {host}"
    dom = world.domain_on(host)
    label = f"pfn {ref.pfn} on {host}"
    if dom is not None:
        mfn = dom.pfn_to_mfn(ref.pfn)
    elif host in world.former_p2m:
        mfn = int(world.former_p2m[host][ref.pfn])  # where the PFN was before destruction
    else:
        return host, None, label
    return host, mfn if world.hosts[host].mfn_valid(mfn) else None, label


def _frame(world: World, check: Check, given: set[str]) -> list[dict[str, Any]]:
    host_name, mfn, label = _locate(world, check.frame)
    host = world.hosts[host_name]
    info = host.frame_info(mfn) if mfn is not None and host.mfn_valid(mfn) else None
    out = []
    for name in FRAME_FIELDS:
        if name in given:
            actual = None if info is None else info[name]
            out.append(assertion(f"frame {label}: {name}", getattr(check, name), actual))
    return out


def _pfinfo(world: World, check: Check) -> list[dict[str, Any]]:
    host_name, mfn, label = _locate(world, check.pfinfo)
    dom = world.domain_on(host_name)
    if dom is None or mfn is None:
        actual = "XTAB"
    else:
        actual = pfinfo_name(getpageframeinfo3(MM(dom), mfn, world.patched))
    expected = None if check.is_ is None else _normal_pfinfo(check.is_)
    return [assertion(f"pfinfo {label}", expected, actual)]


def _normal_pfinfo(text: str) -> str:
    parts = [p.strip().upper() for p in text.replace("|", "+").split("+")]
    return "+".join(p for p in parts if p)


def _entry(world: World, check: Check, given: set[str]) -> list[dict[str, Any]]:
    ref = check.entry
    host_name, mfn, label = _locate(world, ref)
    host = world.hosts[host_name]
    label = f"entry {label}[{ref.index}]"
    pte = host.entry(mfn, ref.index) if mfn is not None else 0
    present = ptes.present(pte)
    target = ptes.mfn_of(pte)
    dom = world.domain_on(host_name)
    actual = {
        "present": present,
        "maps_pfn": dom.mfn_to_pfn(target) if present and dom is not None else None,
        "maps_mfn": target if present else None,
        "target_owner": (None if not present else host.owner_name(target)
                         if host.mfn_valid(target) else "invalid"),
        "flags": sorted(ptes.flag_names(pte)),
    }
    out = []
    for name in ("present", "maps_pfn", "maps_mfn", "target_owner", "flags"):
        if name in given:
            expected = getattr(check, name)
            if name == "flags":
                expected = sorted(expected)
            out.append(assertion(f"{label}: {name}", expected, actual[name]))
    return out

