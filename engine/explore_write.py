"""A finding as a scenario file: the start (guest, hosts, any prefix of steps), the shrunk
steps with the rc each variant returns as `expect` ({patched, unpatched} where they
differ), checks that show the phenomenon, and a generated note saying what it shows.
Every expected value is read from the engine by evaluating the check under each variant,
so `pvframes run --xen both` replays the file with every assertion holding.
"""

from __future__ import annotations

from typing import Any

from .checks import evaluate
from .constants import PAGE_TABLE_TYPES, TYPE_NAMES, pfinfo_name
from .explore_goals import Hit, rc_text
from .explore_state import Lockstep
from .hypercalls import getpageframeinfo3
from .mm import MM
from .scenario import Check
from .world import World

CHECK_DUMMIES = {"type": "none", "validated": False, "pinned": False, "partial": False,
                 "type_count": 0, "count": 0, "owner": "guest", "is": "NOTAB",
                 "maps_pfn": None, "target_owner": "guest", "present": False,
                 "migration": "ok", "normalised": [], "lost": [], "audit": "ok",
                 "guest_on": "source", "deferred": []}
MAX_CHECKS = 3


def merged(values: dict[str, Any]) -> Any:
    """One value if both variants agree, else {patched: X, unpatched: Y}."""
    if values["patched"] == values["unpatched"]:
        return values["patched"]
    return {"patched": values["patched"], "unpatched": values["unpatched"]}


def check_step(lock: Lockstep, subject: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    """A check of `fields` about `subject` with each variant's actual values."""
    actual: dict[str, dict[str, Any]] = {f: {} for f in fields}
    for xen, var in lock.variants.items():
        raw = {**subject, **{f: CHECK_DUMMIES[f] for f in fields}}
        check = Check.model_validate(raw)
        for a in evaluate(var.world, check):
            actual[field_of(a["what"])][xen] = a["actual"]
    return {"check": {**subject, **{f: merged(actual[f]) for f in fields}}}


def field_of(what: str) -> str:
    """The check field an assertion of engine.checks.evaluate() is about."""
    if what in ("migration", "audit", "guest_on"):
        return what
    if what.startswith("migration "):
        return what.split(" ", 1)[1]
    if what.startswith("pfinfo "):
        return "is"
    return what.rsplit(": ", 1)[1]


def expect_of(results: dict[str, Any]) -> Any:
    def one(o: Any) -> Any:
        if o.result in ("failed",):
            return "failed"
        if o.rc == 0:
            return "ok"
        return {"rc": rc_text(o.rc)}
    return merged({xen: one(o) for xen, o in results.items()})


def pfinfo_of(world: World, pfn: int) -> str:
    dom = world.guest
    mfn = int(dom.p2m[pfn])
    if mfn < 0:
        return "XTAB"
    return pfinfo_name(getpageframeinfo3(MM(dom), mfn, world.patched))


def frame_state(world: World, pfn: int) -> str:
    dom = world.guest
    mfn = int(dom.p2m[pfn])
    if mfn < 0:
        return "ballooned out"
    h = dom.host
    t = int(h.type[mfn])
    name = TYPE_NAMES[t]
    if t in PAGE_TABLE_TYPES and not h.validated[mfn]:
        if h.partial[mfn]:
            return f"a partially validated {name} (PGT_partial)"
        if h.type_count[mfn] == 0:
            return f"a de-validated {name} (type {name}, type count 0, not validated)"
    pinned = ", pinned" if h.pinned[mfn] else ""
    return f"type {name}, type count {int(h.type_count[mfn])}{pinned}"


def write_finding(lock: Lockstep, steps: list[dict[str, Any]], hit: Hit, fn: str | None,
                  name: str, origin: str) -> dict[str, Any]:
    """The scenario document for a shrunk finding (replayed here to read every value)."""
    lock.restore()
    out: list[dict[str, Any]] = [strip(s) for s in lock.prefix]
    last = len(steps) - 1
    pfinfo_notes: list[str] = []
    for n, raw in enumerate(steps):
        if "migrate" in raw and n == last_migration(steps, last):
            pfinfo_notes = pfinfo_checks(lock, hit, out)
        step = dict(raw)
        try:
            res = lock.apply(raw)
        except Exception as fault:  # noqa: BLE001 - a model fault found by the audit goal
            step["note"] = f"The model itself fails here: {type(fault).__name__}: {fault}"
            out.append(step)
            break
        step["expect"] = expect_of(res.outcomes)
        if n == last:
            step["note"] = note_text(hit, fn, pfinfo_notes)
        out.append(step)
    out += goal_checks(lock, hit)
    if hit.goal != "audit":
        out.append({"check": {"audit": "ok"}})
    doc: dict[str, Any] = {"name": name,
                           "title": f"{hit.goal}: {hit.op}: {hit.field}",
                           "description": f"Found by {origin}. "
                           + note_text(hit, fn, pfinfo_notes),
                           "xen": "unpatched"}
    for key in ("guest", "hosts"):
        if key in lock.scenario:
            doc[key] = lock.scenario[key]
    doc["steps"] = out
    return doc


def strip(step: dict[str, Any]) -> dict[str, Any]:
    """A prefix step without its own assertions (they may hold under one variant only)."""
    return {k: v for k, v in step.items() if k not in ("expect",)}


def last_migration(steps: list[dict[str, Any]], upto: int) -> int | None:
    for n in range(upto, -1, -1):
        if "migrate" in steps[n]:
            body = steps[n]["migrate"]
            if body == "all" or (isinstance(body, dict) and body.get("phase") in ("all",
                                                                              "begin")):
                return n
    return None


def pfinfo_checks(lock: Lockstep, hit: Hit, out: list[dict[str, Any]]) -> list[str]:
    """Before the migration: the pages getpageframeinfo3 reports differently per variant
    (the reason any divergence exists), or the stale or lost pages' own reports."""
    u, p = lock.variants["unpatched"].world, lock.variants["patched"].world
    pages = u.guest.pages
    pfns = [pfn for pfn in range(pages) if pfinfo_of(u, pfn) != pfinfo_of(p, pfn)]
    if hit.goal == "stale-entry":
        pfns = sorted({s[0] for stale in hit.facts["stale"].values() for s in stale})
    notes = []
    for pfn in pfns[:MAX_CHECKS]:
        out.append(check_step(lock, {"pfinfo": {"pfn": pfn}}, ["is"]))
        a, b = pfinfo_of(u, pfn), pfinfo_of(p, pfn)
        said = (f"unpatched Xen reports {a}, patched {b}" if a != b
                else f"both Xens report {a}")
        notes.append(f"PFN {pfn} is {frame_state(u, pfn)} when the migration starts: {said}")
    return notes


def goal_checks(lock: Lockstep, hit: Hit) -> list[dict[str, Any]]:
    f = hit.facts
    out: list[dict[str, Any]] = []
    if hit.goal == "divergence" and "diffs" in f:
        seen: set[Any] = set()
        for kind, where, _, _ in f["diffs"]:
            if len(seen) >= MAX_CHECKS or where in seen:
                continue
            seen.add(where)
            if kind == "entries":
                pfn, index = where
                out.append(check_step(lock, {"entry": {"pfn": pfn, "index": index}},
                                      ["present", "maps_pfn", "target_owner"]))
            elif kind == "cr3":
                out.append(check_step(lock, {}, ["guest_on"]))
            else:
                out.append(check_step(lock, {"frame": {"pfn": where}},
                                      ["type", "type_count", "validated", "pinned"]))
    elif hit.goal == "divergence" and "normalised" in f:
        out.append(check_step(lock, {}, ["migration", "normalised"]))
    elif hit.goal == "stale-entry":
        for table, index, *_ in next(iter(f["stale"].values()))[:MAX_CHECKS]:
            out.append(check_step(lock, {"entry": {"pfn": table, "index": index}},
                                  ["present", "maps_pfn", "target_owner"]))
    elif hit.goal in ("migration-failed", "restore-refused") or "messages" in f:
        out.append(check_step(lock, {}, ["migration", "guest_on"]))
    elif hit.goal == "lost" or "lost" in f:
        out.append(check_step(lock, {}, ["migration", "lost"]))
    return out


def note_text(hit: Hit, fn: str | None, pfinfo_notes: list[str]) -> str:
    f = hit.facts
    decided = f" ({fn} decides)" if fn else ""
    where = {"both": "under both Xens", "patched": "under patched Xen only",
             "unpatched": "under unpatched Xen only"}[hit.xen]
    lead = "; ".join(pfinfo_notes)
    lead = (lead[0].upper() + lead[1:] + ". ") if lead else ""
    if hit.goal == "divergence":
        if "rc" in f:
            what = (f"{hit.op} returns {rc_text(f['rc']['unpatched'])} under unpatched Xen "
                    f"and {rc_text(f['rc']['patched'])} under patched{decided}.")
        elif "messages" in f:
            m = f["messages"]
            u, p = hit.field.removeprefix("migration ").split(", ")
            why = m["unpatched"] or m["patched"]
            what = (f"The migration ends {u.replace(' unpatched', '')} under unpatched Xen and "
                    f"{p.replace(' patched', '')} under patched"
                    f"{': ' + why if why else ''}{decided}.")
        elif "diffs" in f:
            what = "After the migration, " + "; ".join(
                describe_diff(*d) for d in f["diffs"][:MAX_CHECKS]) + "."
        elif "lost" in f:
            what = (f"The migration loses {f['lost']['unpatched']} under unpatched Xen and "
                    f"{f['lost']['patched']} under patched.")
        else:
            n = f["normalised"]
            what = (f"Unpatched Xen's migration normalises {n['unpatched']}, patched "
                    f"{n['patched']}; the destinations end alike.")
        return lead + what
    if hit.goal == "stale-entry":
        xen, stale = next(iter(f["stale"].items()))
        table, index, meant, got, kind = stale[0]
        named = f"PFN {got}'s frame" if got is not None else kind
        return (lead + f"After the migration entry {index} of PFN {table}, written for PFN "
                f"{meant}, names {named} {where}: the page crossed without localisation and "
                f"kept a source MFN{decided}.")
    if hit.goal in ("migration-failed", "restore-refused"):
        why = next(iter(f["message"].values()))
        return (lead + f"The migration fails {where}: {why}{decided}. The guest resumes on "
                "the host it was leaving.")
    if hit.goal == "lost":
        pfns = next(iter(f["lost"].values()))
        return lead + (f"The migration succeeds {where}, but PFN(s) {pfns} lost their final "
                       f"contents (sent as XTAB in the final pass){decided}.")
    problems = next(iter(f["problems"].values()))
    return lead + f"After {hit.op} the reference counts no longer add up {where}: " \
                  f"{'; '.join(problems[:3])}."


def describe_diff(kind: str, where: Any, u: Any, p: Any) -> str:
    if kind == "entries":
        pfn, index = where
        return (f"entry {index} of PFN {pfn} names {describe_target(u)} under unpatched Xen, "
                f"{describe_target(p)} under patched")
    if kind == "cr3":
        return f"the base pointer is PFN {u} under unpatched Xen, {p} under patched"
    return f"PFN {where}'s {kind} is {u} under unpatched Xen, {p} under patched"


def describe_target(target: Any) -> str:
    if target is None:
        return "nothing"
    if target[0] == "pfn":
        return f"PFN {target[1]}"
    return f"mfn {target[1]} (a {target[0]} frame)"

