"""The explorer's view of one start state under both Xen variants: two Worlds stepped in
lockstep, restored from a snapshot instead of rebuilt for every candidate sequence.

A snapshot is a deep copy of each World (numpy arrays, contents, migration state) taken
once; `restore()` deep-copies it again. For a 16-page guest that costs about as much as
two guest steps, where rebuilding through Session.create() and replaying the scenario's
prefix costs several times more (figures in docs/explore.md).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import pte as ptes
from .constants import PGT
from .mm import is_guest_l4_slot
from .scenario import XEN_VARIANTS, Step, validate_step
from .session import Session
from .world import Outcome, World

Intent = dict[tuple[int, int], int]  # (table pfn, index) -> the pfn the entry was written for


@dataclass
class Variant:
    """One Xen variant's World, and what the guest meant each entry it wrote to name."""

    xen: str
    world: World
    intent: Intent = field(default_factory=dict)
    # Entries already stale when the current migrate step began: the guest's own doing.
    stale_before: set[tuple[int, int]] = field(default_factory=set)


@dataclass
class StepResult:
    """One step's outcome under each variant."""

    step: dict[str, Any]
    outcomes: dict[str, Outcome]


class Lockstep:
    """Both variants from one start state. `apply()` runs a step under each; `restore()`
    returns to the start."""

    def __init__(self, scenario: dict[str, Any], prefix: list[dict[str, Any]] | None = None
                 ) -> None:
        self.scenario = scenario
        self.prefix = list(prefix or [])
        self._steps: dict[tuple[str, str], Step] = {}
        self._start: dict[str, Variant] = {}
        for xen in XEN_VARIANTS:
            session = Session.create(scenario, xen)
            for n, raw in enumerate(self.prefix, start=1):
                session.apply(raw, n)
            world = session.world
            # Nobody reads the deltas of explored steps: not recording them (nor merging
            # them at commit, engine/compact.py) halves the cost of a step.
            world.journal.record = False
            self._start[xen] = Variant(xen, world, initial_intent(world))
        self.pages = self._start["patched"].world.guest.pages
        self.variants: dict[str, Variant] = {}
        self.restore()

    def restore(self) -> None:
        """Back to the start state (a fresh deep copy, so the snapshot stays intact)."""
        self.variants = {}
        for xen, start in self._start.items():
            memo = {id(start.world.scenario): start.world.scenario}
            self.variants[xen] = Variant(xen, copy.deepcopy(start.world, memo),
                                         dict(start.intent))

    def l1_tables(self) -> list[int]:
        """The start state's validated L1 tables, by PFN, in PFN order."""
        dom = self._start["patched"].world.guest
        h = dom.host
        return [pfn for pfn in np.flatnonzero(dom.p2m >= 0).tolist()
                if int(h.type[dom.p2m[pfn]]) == PGT.l1 and h.validated[dom.p2m[pfn]]]

    def step(self, raw: dict[str, Any], xen: str) -> Step:
        """The validated Step for a raw step (cached: validation costs more than a step)."""
        key = (repr(raw), xen)
        step = self._steps.get(key)
        if step is None:
            step = validate_step(raw, xen)
            self._steps[key] = step
        return step

    def apply(self, raw: dict[str, Any]) -> StepResult:
        """Run `raw` under both variants. Raises InvalidInput if a variant refuses it in
        this state; the variants may then disagree, so the caller restores before going on
        (`can_take()` screens out what the engine would refuse)."""
        outcomes: dict[str, Outcome] = {}
        for xen, var in self.variants.items():
            if "migrate" in raw:
                var.stale_before = {(s[0], s[1]) for s in stale_entries(var)}
            outcomes[xen] = var.world.execute(self.step(raw, xen))
            note_intent(var, raw, outcomes[xen].rc)
        return StepResult(raw, outcomes)

    def can_take(self, raw: dict[str, Any]) -> bool:
        return all(_admissible(v.world, raw) for v in self.variants.values())


def _admissible(world: World, raw: dict[str, Any]) -> bool:
    """A cheap pre-check of what World.execute would refuse as invalid input (so that
    refused steps cost nothing); the engine remains the judge."""
    m = world.migration
    in_progress = m is not None and m.state == "in_progress"
    if "migrate" in raw:
        body = raw["migrate"]
        phase = body if isinstance(body, str) else body.get("phase", "all")
        if phase in ("all", "begin"):
            return not in_progress
        if phase == "round" or phase == "suspend":
            return in_progress and not world.stopped
        return in_progress and world.stopped  # restore
    return not world.stopped


def initial_intent(world: World) -> Intent:
    """Every present guest entry at the start names the pfn it names now (the builder's
    and the prefix's entries are taken as meant); Xen's own L4 slots are not the guest's."""
    dom = world.guest
    host = dom.host
    intent: Intent = {}
    for pfn in np.flatnonzero(dom.p2m >= 0).tolist():
        mfn = int(dom.p2m[pfn])
        page = host.contents.get(mfn)
        if page is None:
            continue
        for index in np.flatnonzero(page & np.uint64(1)).tolist():
            if not is_guest_l4_slot(index):
                continue
            target = dom.mfn_to_pfn(ptes.mfn_of(int(page[index])))
            if target is not None:
                intent[(pfn, index)] = target
    return intent


def note_intent(var: Variant, raw: dict[str, Any], rc: int) -> None:
    """An MMU_NORMAL_PT_UPDATE that succeeded: the entry now means its pfn (or nothing).
    A pfn the guest gives back (decrease_reservation) is meant by no entry any more: an
    entry the guest left naming it is the guest's own doing, not the migration's."""
    memory = raw.get("memory")
    if memory is not None and rc == 0 and memory["cmd"] == "decrease_reservation" \
            and "pfn" in memory:
        gone = int(memory["pfn"])
        for key in [k for k, meant in var.intent.items() if meant == gone]:
            del var.intent[key]
        return
    body = raw.get("mmu_update")
    if body is None or rc != 0 or "pfn" not in body:
        return
    key = (int(body["pfn"]), int(body["index"]))
    entry = body["entry"]
    if isinstance(entry, dict) and "pfn" in entry and "present" in entry.get("flags", []):
        var.intent[key] = int(entry["pfn"])
    else:
        var.intent.pop(key, None)


def stale_entries(var: Variant) -> list[tuple[int, int, int, int | None, str]]:
    """(table pfn, index, pfn meant, pfn named or None, what the frame is) for every
    present entry that no longer names the frame of the pfn it was written for."""
    dom = var.world.guest
    h = dom.host
    out = []
    for (table, index), meant in sorted(var.intent.items()):
        mfn = int(dom.p2m[table])
        if mfn < 0:
            continue
        e = h.entry(mfn, index)
        if not ptes.present(e):
            continue
        target = ptes.mfn_of(e)
        got = dom.mfn_to_pfn(target)
        if got == meant:
            continue
        what = ("another guest frame" if got is not None else
                f"a {h.owner_name(target)} frame" if h.mfn_valid(target) else "no RAM")
        out.append((table, index, meant, got, what))
    return out
