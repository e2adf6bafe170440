"""A session: a World plus its ordered event log. The only API the entry points use
(docs/engine-api.md). Deterministic: the same scenario and steps give the same events."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import yaml

from . import pte as ptes
from .ask import OPERATION_STEPS, answer_rc
from .constants import TYPE_NAMES, errno_name, pfinfo_name
from .errors import InvalidInput
from .eventlog import EventLog, EventView
from .hypercalls import getpageframeinfo3
from .mm import MM
from .packing import pack, unpack
from .scenario import (
    Ask,
    Scenario,
    Step,
    check_pfns,
    parse_text,
    validate,
    validate_position,
    validate_step,
)
from .world import HOSTS, World

FLAG_ALLOCATED, FLAG_VALIDATED, FLAG_PINNED, FLAG_PARTIAL = 1, 2, 4, 8
FLAG_PARTIAL_SET = 16  # PTF_partial_set in partial_flags (meaningful with PGT_partial)
# A copy of the world is kept every this many events replayed by at()/fork(), so that
# looking at the past replays at most this many steps.
CHECKPOINT_EVERY = 256
PT_TYPES = ("l1", "l2", "l3", "l4")


class Session:
    def __init__(self, scenario: Scenario, raw: dict[str, Any]) -> None:
        self.scenario = scenario
        self.raw = raw
        self.world = World(scenario)
        self.log = EventLog()  # compact: older events compressed (engine/eventlog.py)
        self.script: list[dict[str, Any]] = list(raw.get("steps") or [])
        self.cursor = 0
        self.pending_ask: tuple[int, Ask] | None = None  # (seq, an `about: rc` ask)
        # seq -> (world, cursor, pending ask): copies kept by at()/fork() replays
        self._checkpoints: dict[int, tuple[World, int, tuple[int, Ask] | None]] = {}
        self._last_at: Session | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Pickled (a server's snapshot) without the copies of the world kept for at():
        # a cache, rebuilt when the past is looked at again.
        return {**self.__dict__, "_checkpoints": {}, "_last_at": None}

    @classmethod
    def create(cls, scenario: dict[str, Any] | str | None = None,
               xen: str | None = None) -> Session:
        raw = parse_text(scenario, "scenario") if isinstance(scenario, str) else scenario
        parsed = validate(raw, xen)  # InvalidInput for anything but a valid mapping
        raw = dict(raw or {})
        raw["xen"] = parsed.xen
        return cls(parsed, raw)

    @property
    def seq(self) -> int:
        return len(self.log)

    @property
    def xen(self) -> str:
        return self.scenario.xen

    # -- stepping -------------------------------------------------------------------------
    def apply(self, raw_step: Any, number: int | None = None) -> dict[str, Any]:
        """Validate and run one step; the event it produced. InvalidInput changes nothing."""
        step = validate_step(raw_step, self.xen, number)
        check_pfns(step, self.scenario.guest.pages, step.op)
        outcome = self.world.execute(step)
        assertions = list(outcome.assertions)
        if step.expect is not None:
            assertions.insert(0, expect_assertion(step, outcome.rc, outcome.result))
        event = {
            "seq": self.seq + 1,
            "op": step.op,
            "step": step_dict(step),
            "rc": outcome.rc,
            "errno": errno_name(outcome.rc),
            "result": outcome.result,
            "message": outcome.message,
            "failure": outcome.failure,
            "deltas": outcome.deltas,
            "assertions": assertions,
        }
        if step.note:
            event["note"] = step.note
        self._answer(step, event, outcome)
        self.log.append(event)
        return event

    def _answer(self, step: Step, event: dict[str, Any], outcome: Any) -> None:
        """An `about: rc` ask waits for the next hypercall or migrate step, whose event
        then carries the answer's assertion and `answers` (the ask's seq)."""
        if step.ask is not None and step.ask.about == "rc":
            self.pending_ask = (event["seq"], step.ask)
        elif step.op in OPERATION_STEPS and self.pending_ask is not None:
            seq, ask = self.pending_ask
            event["assertions"].append(answer_rc(ask, step.op, outcome.rc, outcome.result))
            event["answers"] = seq
            self.pending_ask = None

    def run_next(self, count: int | None = 1) -> list[dict[str, Any]]:
        """Apply the next `count` steps of the loaded scenario (None: all that remain).
        Stops before a step this state rejects: InvalidInput if it is the first, else the
        events of the steps that ran (the cursor stays on the rejected step)."""
        events = []
        while self.cursor < len(self.script) and (count is None or len(events) < count):
            try:
                event = self.apply(self.script[self.cursor], self.cursor + 1)
            except InvalidInput:
                if not events:
                    raise
                break
            event["script_step"] = self.cursor + 1  # 1-based, as in `pvframes run`
            events.append(event)
            self.cursor += 1
        return events

    def events(self, since: int = 0) -> EventView:
        """The events after `since`, as a sequence decoded as it is read (slice it first
        to read a page)."""
        return self.log[max(since, 0):]

    # -- the past ----------------------------------------------------------------------------
    def at(self, seq: int) -> Session:
        """The session as it was after event `seq` (0: as created), to read: itself at its
        own seq, else a separate Session rebuilt from the nearest cached checkpoint."""
        self._check_seq(seq)
        if seq == self.seq:
            return self
        if self._last_at is None or self._last_at.seq != seq:
            self._last_at = self._replay_to(seq)
        return self._last_at

    def kept_worlds(self) -> list[World]:
        """Copies of the world this session keeps to look at the past (checkpoints and the
        last at()): memory a cache of sessions must count."""
        worlds = [world for world, _cursor, _ask in self._checkpoints.values()]
        return worlds + ([self._last_at.world] if self._last_at is not None else [])

    def snapshot_at(self, seq: int, packed: bool = False) -> dict[str, Any]:
        return self.at(seq).snapshot(packed)

    def fork(self, seq: int, xen: str | None = None) -> Session:
        """A new, independent session whose history is this one's first `seq` events; this
        one is left as it is. Under another `xen` variant the same actions are replayed:
        script steps as that variant reads them (their expectations may differ)."""
        self._check_seq(seq)
        if xen is None or xen == self.xen:
            return self._replay_to(seq)
        other = Session.create(self.raw, xen)
        for event in self.log[:seq]:
            if "script_step" in event:
                other.run_next(1)
            else:
                other.apply(event["step"])
        return other

    def _check_seq(self, seq: Any) -> None:
        if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= self.seq:
            raise InvalidInput("seq", f"{seq!r} is not a seq of this session (0..{self.seq})")

    def _replay_to(self, seq: int) -> Session:
        base = max((k for k in self._checkpoints if k <= seq), default=0)
        past = Session(self.scenario, self.raw)
        if base:
            world, cursor, ask = self._checkpoints[base]
            past.world, past.cursor, past.pending_ask = copy.deepcopy(world), cursor, ask
            past.log = self.log.prefix(base)  # events are read-only: shared, not copied
        for original in self.log[base:seq]:
            number = original.get("script_step")
            if number is None:
                past.apply(original["step"])
            else:  # it came from run_next: the script's own step (asks and all), cursor moved
                event = past.apply(self.script[number - 1], number)
                past.cursor = event["script_step"] = number
            if past.seq % CHECKPOINT_EVERY == 0 and past.seq not in self._checkpoints:
                self._checkpoints[past.seq] = (copy.deepcopy(past.world), past.cursor,
                                               past.pending_ask)
        return past

    # -- views -------------------------------------------------------------------------------
    def snapshot(self, packed: bool = False) -> dict[str, Any]:
        """The state as JSON. With `packed`, every per-frame and per-PFN array is a packed
        array (docs/deltas.md): a 2^20-page linear guest's snapshot is a few KB instead of
        ~50 MB of decimal lists, and says so with `"packed": true` (the plain form has no
        such key)."""
        w = self.world
        m = w.migration
        col = _packed if packed else _listed
        marker = {"packed": True} if packed else {}
        return {
            **marker,
            "seq": self.seq,
            "name": self.scenario.name,
            "title": self.scenario.title,
            "description": self.scenario.description,
            "xen": self.xen,
            "types": TYPE_NAMES,
            "guest": {"pages": w.guest.pages, "layout": self.scenario.guest.layout,
                      "host": w.guest_host, "paused": w.guest.paused,
                      "suspended": w.guest.suspended,
                      "p2m": col(w.guest.p2m)},
            "hosts": {name: host_snapshot(w, name, col) for name in HOSTS},
            "migration": migration_snapshot(w, col),
            "script": self.script,
            "cursor": self.cursor,
            "migration_state": "not_started" if m is None else m.state,
        }

    def frame_detail(self, host: str, mfn: int) -> dict[str, Any]:
        w = self.world
        if host not in w.hosts:
            raise InvalidInput("host", f"{host!r} is not one of {', '.join(HOSTS)}")
        h = w.hosts[host]
        if not isinstance(mfn, int) or not h.mfn_valid(mfn):
            raise InvalidInput("mfn", f"{mfn!r} is not a frame of {host} (0..{h.frames - 1})")
        info = h.frame_info(mfn)
        dom = w.domain_on(host)
        info["host"] = host
        info["pfn"] = dom.mfn_to_pfn(mfn) if dom is not None else None
        if dom is not None:
            info["pfinfo"] = pfinfo_label(dom, mfn, w.patched)
        holds = MM(dom).entry_holds_references if dom is not None else (lambda m, i: False)
        info["partial_holders"] = partial_holders(h, dom, mfn)
        partial_slot = (int(h.nr_validated_ptes[mfn])
                        if h.partial[mfn] and h.partial_set[mfn] else None)
        entries = []
        page = h.contents.get(mfn)
        if page is not None:
            for i in np.flatnonzero(page & np.uint64(1)).tolist():
                pte = int(page[i])
                target = ptes.mfn_of(pte)
                valid = h.mfn_valid(target)
                pfn = dom.mfn_to_pfn(target) if dom is not None else None
                entries.append({
                    "index": i, "pte": ptes.hexstr(pte), "mfn": target,
                    "flags": ptes.flag_names(pte), "pfn": pfn,
                    "target_owner": h.owner_name(target) if valid else "invalid",
                    "target_type": TYPE_NAMES[int(h.type[target])] if valid else None,
                    "holds_references": holds(mfn, i),
                    # PTF_partial_set: a general reference, the table below left partial
                    "partial_slot": i == partial_slot,
                    # A de-validated or raw copy whose frame is no longer a guest frame
                    # (or is a different one than the M2P says) is stale.
                    "stale": pfn is None,
                })
        info["entries"] = entries
        return info

    def pt_shaped(self) -> dict[str, list[int]]:
        """Per host, the guest's frames that are no page table yet hold present entries
        (page-table-shaped contents, e.g. an L2 written to and sent raw)."""
        out: dict[str, list[int]] = {}
        for name in HOSTS:
            h = self.world.hosts[name]
            out[name] = sorted(
                mfn for mfn, page in h.contents.items()
                if h.owner_name(mfn) == "guest" and TYPE_NAMES[int(h.type[mfn])] not in PT_TYPES
                and bool(np.any(page & np.uint64(1))))
        return out

    def export_yaml(self, position: dict[str, Any] | None = None) -> str:
        """The session as a scenario that replays it under `pvframes run`; `position`
        ({seq, view?, frame?: {mfn, on}}) marks the moment it was exported at, under this
        session's variant (docs/scenario-extensions.md)."""
        doc: dict[str, Any] = {"name": self.scenario.name}
        for key in ("title", "description"):
            if self.raw.get(key):
                doc[key] = self.raw[key]
        doc["xen"] = self.xen
        doc["guest"] = self.scenario.guest.model_dump()
        doc["hosts"] = {name: host_spec(self.scenario, name) for name in HOSTS}
        # A step run from the script is exported as written there, so `{patched, unpatched}`
        # pairs survive and the export runs under either variant.
        doc["steps"] = [self.script[event["script_step"] - 1] if "script_step" in event
                        else event["step"] for event in self.log]
        if position is not None:  # checked as `pvframes run` will read it
            pos = validate_position({**position, "variant": self.xen}, self.scenario.hosts,
                                    len(doc["steps"]))
            doc["position"] = pos.model_dump(exclude_none=True)
        return yaml.safe_dump(doc, sort_keys=False)


def expect_assertion(step: Step, rc: int, result: str) -> dict[str, Any]:
    expect = step.expect
    if step.op == "migrate":
        actual = "ok" if result == "ok" else "failed"
        return {"what": "migrate", "expected": expect, "actual": actual,
                "ok": expect == actual}
    actual = "ok" if rc == 0 else f"-{errno_name(rc)}"
    if expect == "error":
        return {"what": "rc", "expected": "error", "actual": actual, "ok": rc != 0}
    if expect == "ok":
        return {"what": "rc", "expected": "ok", "actual": actual, "ok": rc == 0}
    rc_want = expect["rc"]
    want = (f"-{errno_name(-abs(rc_want))}" if isinstance(rc_want, int)
            else "-" + str(rc_want).lstrip("-"))
    return {"what": "rc", "expected": want, "actual": actual, "ok": want == actual}


def step_dict(step: Step) -> dict[str, Any]:
    """The step as the contract writes it (no defaults added, aliases used)."""
    out: dict[str, Any] = {}
    if step.op != "note":
        body = step.body.model_dump(exclude_none=True, by_alias=True)
        if step.op == "migrate":
            body = body["phase"] if set(body) == {"phase"} else body
        out[step.op] = body
    if step.expect is not None:
        out["expect"] = step.expect
    if step.note is not None:
        out["note"] = step.note
    return out


def partial_holders(h: Any, dom: Any, mfn: int) -> list[dict[str, Any]]:
    """The partial tables whose PTF_partial_set slot names `mfn`: the parents holding a
    nested table whose validation they left pending."""
    out = []
    for parent in np.flatnonzero(h.partial & h.partial_set).tolist():
        slot = int(h.nr_validated_ptes[parent])
        if slot < 512 and ptes.mfn_of(h.entry(parent, slot)) == mfn:
            out.append({"mfn": parent, "index": slot,
                        "pfn": dom.mfn_to_pfn(parent) if dom is not None else None})
    return out


def host_spec(scenario: Scenario, name: str) -> dict[str, Any]:
    spec = getattr(scenario.hosts, name)
    alloc = spec.alloc if isinstance(spec.alloc, str) else {"shuffle": spec.alloc.shuffle}
    return {"frames": spec.frames,
            "reserved": [r.model_dump() for r in scenario.reserved(name)],
            "alloc": alloc}


def pfinfo_label(dom: Any, mfn: int, patched: bool) -> str:
    return pfinfo_name(getpageframeinfo3(MM(dom), mfn, patched))


def _listed(a: np.ndarray) -> list[Any]:
    return a.tolist()


def _packed(a: np.ndarray) -> Any:
    return pack(a)


def host_snapshot(w: World, name: str, col: Any = _listed) -> dict[str, Any]:
    h = w.hosts[name]
    dom = w.domain_on(name)
    flags = (h.allocated.astype(np.int64) * FLAG_ALLOCATED
             + h.validated.astype(np.int64) * FLAG_VALIDATED
             + h.pinned.astype(np.int64) * FLAG_PINNED
             + h.partial.astype(np.int64) * FLAG_PARTIAL
             + h.partial_set.astype(np.int64) * FLAG_PARTIAL_SET)
    return {
        "frames": h.frames, "owners": list(h.owners), "owner": col(h.owner),
        "count": col(h.count), "type": col(h.type),
        "type_count": col(h.type_count), "flags": col(flags), "m2p": col(h.m2p),
        "cr3": None if dom is None else dom.cr3,
        "log_dirty": False if dom is None else dom.log_dirty,
        "dirty": [] if dom is None else col(np.flatnonzero(dom.dirty)),
        "p2m": None if dom is None else col(dom.p2m),
    }


HOST_COLUMNS = ("owner", "count", "type", "type_count", "flags", "m2p", "dirty", "p2m")
MIGRATION_COLUMNS = ("deferred", "normalised", "lost")


def unpacked_snapshot(snap: dict[str, Any]) -> dict[str, Any]:
    """A snapshot of either form as the plain one: packed arrays decoded to lists and the
    `packed` marker dropped (a plain snapshot comes back equal to itself)."""
    if not snap.get("packed"):
        return snap
    out = {k: v for k, v in snap.items() if k != "packed"}
    out["guest"] = {**snap["guest"], "p2m": unpack(snap["guest"]["p2m"])}
    out["hosts"] = {
        name: {k: (unpack(v) if k in HOST_COLUMNS and v is not None else v)
               for k, v in host.items()}
        for name, host in snap["hosts"].items()}
    out["migration"] = {k: (unpack(v) if k in MIGRATION_COLUMNS else v)
                        for k, v in snap["migration"].items()}
    return out


def migration_snapshot(w: World, col: Any = _listed) -> dict[str, Any]:
    m = w.migration
    if m is None:
        return {"state": "not_started", "phase": None, "rounds": [], "deferred": [],
                "normalised": [], "lost": [], "lost_detail": [], "error": None,
                "toolstack": None}
    return {"state": m.state, "phase": m.phase, "src": m.src.host.name,
            "dst": m.dst.host.name, "rounds": [r.as_dict() for r in m.rounds],
            "deferred": col(np.flatnonzero(m.ever_deferred)),
            "normalised": col(np.flatnonzero(m.last_normalised)),
            "lost": col(np.flatnonzero(m.lost)), "lost_detail": lost_detail(m),
            "error": m.error, "toolstack": m.toolstack}


def lost_detail(m: Any) -> list[dict[str, Any]]:
    """Each lost PFN and what the destination holds for it: the copy of an earlier round
    (`kept_round`), an empty frame populated while localising a table that names it, or no
    frame at all (`mfn` null)."""
    out = []
    for pfn in np.flatnonzero(m.lost).tolist():
        mfn = int(m.dst.p2m[pfn])
        kept = int(m.data_round[pfn])
        out.append({"pfn": pfn, "kept_round": kept or None, "mfn": mfn if mfn >= 0 else None})
    return out
