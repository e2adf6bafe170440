"""Where two runs of one scenario (unpatched vs patched Xen) part ways: which rc, which
getpageframeinfo3 answer, which page was normalised on one side and sent raw on the
other, which page a migration lost, which PTE ended up naming another frame. Lines fit
in a review mail."""

from __future__ import annotations

import json
from typing import Any

from .packing import unpack


def _short(body: Any) -> str:
    return json.dumps(body, separators=(", ", ": "))


def _sent(event: dict[str, Any]) -> dict[tuple[int, int], tuple[str, str, int]]:
    """(round, pfn) -> (pfinfo, action, mfn) from a migrate step's batch deltas."""
    out = {}
    for d in event["deltas"]:
        if d.get("kind") == "migration" and d.get("event") == "batch":
            for pfn, mfn, t, a in zip(unpack(d["pfns"]), unpack(d["mfns"]),
                                      unpack(d["types"]), unpack(d["actions"]), strict=True):
                out[(d["round"], pfn)] = (t, a, mfn)
    return out


def _lost(event: dict[str, Any]) -> dict[int, int | None]:
    """pfn -> the round whose older copy the destination kept (None: no copy)."""
    return {d["pfn"]: d["kept_round"] for d in event["deltas"]
            if d.get("kind") == "migration" and d.get("event") == "lost"}


def _pins(event: dict[str, Any]) -> dict[int, tuple[int, int]]:
    return {d["pfn"]: (d["level"], d["rc"]) for d in event["deltas"]
            if d.get("kind") == "migration" and d.get("event") == "pin"}


def divergences(unpatched: list[dict[str, Any]], patched: list[dict[str, Any]]) -> list[str]:
    return [item["text"] for item in divergence_items(unpatched, patched)]


def divergence_items(unpatched: list[dict[str, Any]],
                     patched: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The divergences as {"n", "seq", "text", "pfns"}: the step number, the seq of its
    event, the line `divergences` prints, and the PFNs it is about (for a UI to select).
    Events need `n` (the step number), as `pvframes run` gives them."""
    items: list[dict[str, Any]] = []
    for u, p in zip(unpatched, patched, strict=False):
        n, op = u["n"], u["op"]
        label = f"step {n} {op}"

        def add(text: str, pfns: list[int], u: dict[str, Any] = u) -> None:
            items.append({"n": u["n"], "seq": u.get("seq", u["n"]), "text": text,
                          "pfns": pfns})

        if op not in ("check", "note", "migrate"):
            label += f" {_short(u['step'][op])}"
            if u["rc"] != p["rc"]:
                add(f"{label}: rc {_rc(u)} unpatched, {_rc(p)} patched", _step_pfns(u))
        elif op == "migrate":
            label += f" {_short(u['step'][op])}"
            if u["result"] != p["result"]:
                add(f"{label}: {u['result']}{_why(u)} unpatched, "
                    f"{p['result']}{_why(p)} patched", [])
            lu, lp = _lost(u), _lost(p)
            if lu or lp:
                add(f"{label}: {_lost_text(lu, u)} unpatched, "
                    f"{_lost_text(lp, p)} patched", sorted(set(lu) | set(lp)))
            su, sp = _sent(u), _sent(p)
            for key in sorted(set(su) | set(sp)):
                a, b = su.get(key), sp.get(key)
                # The MFNs differ whenever the guest runs on different hosts: compare what
                # the tool stack saw and did, and show the MFNs.
                if (a and a[:2]) != (b and b[:2]):
                    add(f"{label}, round {key[0]}: pfn {key[1]} {_as_sent(a)} "
                        f"unpatched, {_as_sent(b)} patched", [key[1]])
            pu, pp = _pins(u), _pins(p)
            for pfn in sorted(set(pu) | set(pp)):
                if pu.get(pfn) != pp.get(pfn):
                    add(f"{label}, pin_pagetables: pfn {pfn} {_pin(pu.get(pfn))} "
                        f"unpatched, {_pin(pp.get(pfn))} patched", [pfn])
        elif op == "check":
            for au, ap in zip(u["assertions"], p["assertions"], strict=False):
                if au["actual"] != ap["actual"]:
                    add(f"step {n} check {au['what']}: {au['actual']!r} unpatched, "
                        f"{ap['actual']!r} patched", _step_pfns(u))
    return items


def _step_pfns(event: dict[str, Any]) -> list[int]:
    """Every PFN a step names (its page, an entry's target, a check's frame)."""
    found: set[int] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "pfn" and isinstance(value, int) and not isinstance(value, bool):
                    found.add(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(event["step"].get(event["op"]))
    return sorted(found)


def _rc(event: dict[str, Any]) -> str:
    return "0" if event["rc"] == 0 else f"{event['rc']} (-{event['errno']})"


def _why(event: dict[str, Any]) -> str:
    return f" ({event['message']})" if event.get("message") else ""


def _lost_text(lost: dict[int, int | None], event: dict[str, Any]) -> str:
    if not lost:
        return "nothing lost"
    parts = [f"pfn {pfn} ({'older copy of round ' + str(r) + ' kept' if r else 'no copy sent'})"
             for pfn, r in sorted(lost.items())]
    verb = "succeeded" if event["result"] == "ok" else event["result"]
    return f"{verb}, the guest lost {', '.join(parts)}"


def _as_sent(item: tuple[str, str, int] | None) -> str:
    if item is None:
        return "not sent"
    pfinfo, action, mfn = item
    return f"(mfn {mfn}) {pfinfo}, {action}"


def _pin(item: tuple[int, int] | None) -> str:
    if item is None:
        return "not pinned"
    level, rc = item
    return f"pin L{level} rc {rc}"
