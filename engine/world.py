"""The whole model: two hosts, the guest on one of them, and the migration between them.
`World.execute()` is the engine's one state transition: (state, step) -> (rc, deltas)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import pte as ptes
from .ask import answer_check
from .audit import audit
from .builder import LAYOUTS
from .checks import evaluate
from .constants import Errno, errno_name
from .domain import Domain
from .errors import InvalidInput
from .explain import message
from .host import Host
from .hypercalls import (
    PIN_LEVEL,
    do_mmu_update,
    guest_remove_page,
    guest_write,
    mmuext_pin,
    mmuext_unpin,
    new_guest_cr3,
    populate_physmap,
)
from .journal import Journal
from .migration import Migration, MigrationFailed, destroy_domain
from .mm import MM, Preemption
from .scenario import EntryValue, PageRef, Scenario, Step

HOSTS = ("source", "destination")


@dataclass
class Outcome:
    rc: int
    result: str  # ok | error | check | note | failed
    assertions: list[dict[str, Any]] = field(default_factory=list)
    deltas: list[dict[str, Any]] = field(default_factory=list)
    message: str | None = None
    failure: dict[str, Any] | None = None  # explain.Failure.as_dict(): where rc came from

    @property
    def errno(self) -> str | None:
        return errno_name(self.rc)


class World:
    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.patched = scenario.xen == "patched"
        self.journal = Journal(record=False)
        self.hosts: dict[str, Host] = {}
        for name in HOSTS:
            spec = getattr(scenario.hosts, name)
            alloc = spec.alloc if isinstance(spec.alloc, str) else spec.alloc.shuffle
            reserved = [(r.first, r.last, r.owner) for r in scenario.reserved(name)]
            self.hosts[name] = Host(name, spec.frames, reserved, alloc, self.journal)
        self.guest = Domain(self.hosts["source"], scenario.guest.pages, self.journal)
        LAYOUTS[scenario.guest.layout](self.hosts["source"], self.guest)
        self.migration: Migration | None = None
        # The P2M of a domain destroyed on a host, so that a check can still ask where
        # a PFN *was* on that host (`frame: {pfn: 20, on: source}` after a migration).
        self.former_p2m: dict[str, Any] = {}
        self.journal.record = True

    # -- where things are ---------------------------------------------------------------
    @property
    def guest_host(self) -> str:
        return self.guest.host.name

    def domain_on(self, host: str) -> Domain | None:
        """The guest's domain on `host`: the running one, or the one being restored."""
        if self.guest.host.name == host:
            return self.guest
        m = self.migration
        if m is not None and m.state == "in_progress" and m.dst.host.name == host:
            return m.dst
        return None

    def resolve(self, ref: PageRef, dom: Domain | None = None) -> int:
        """An MFN for `{pfn: N}` (through the P2M, INVALID_MFN if none) or `{mfn: N}`."""
        dom = dom or self.guest
        return dom.pfn_to_mfn(ref.pfn) if ref.pfn is not None else int(ref.mfn)

    @property
    def stopped(self) -> bool:
        """The guest is not running: suspended (and maybe paused) for a migration."""
        return self.guest.suspended or self.guest.paused

    # -- the transition ------------------------------------------------------------------
    def execute(self, step: Step) -> Outcome:
        """Run one validated step. Raises InvalidInput (with every change rolled back)
        for a step this state cannot take."""
        try:
            outcome = self._dispatch(step)
        except Exception:
            # InvalidInput, or a fault in the model itself: either way, nothing changes.
            self.journal.rollback()
            raise
        outcome.deltas = self.journal.commit()
        return outcome

    def _dispatch(self, step: Step) -> Outcome:
        op = step.op
        if op in ("mmu_update", "mmuext", "write", "memory") and self.stopped:
            raise InvalidInput(op, "the guest is paused for migration; it makes no "
                               "hypercalls until the migration completes or fails")
        if op == "note":
            return Outcome(0, "note")
        if op == "check":
            return Outcome(0, "check", evaluate(self, step.check))
        if op == "ask":  # a check question is answered now; an rc one by the next step
            ask = step.ask
            return Outcome(0, "ask", [] if ask.about == "rc" else answer_check(self, ask))
        if op == "migrate":
            body = step.migrate
            return self._migrate(body.phase, body.rounds or 2, body.toolstack or "xl")
        mm = MM(self.guest)
        rc = getattr(self, "_" + op)(mm, step.body)
        if rc == 0:
            return Outcome(rc, "ok")
        failure = mm.failure if mm.failure is not None and mm.failure.rc == rc else None
        return Outcome(rc, "error", message=message(mm.h, step, rc, failure),
                       failure=None if failure is None else failure.as_dict(mm.h))

    # -- guest operations ------------------------------------------------------------------
    def _mmu_update(self, mm: MM, body: Any) -> int:
        if isinstance(body.entry, EntryValue):
            value = ptes.make(self.resolve(body.entry), ptes.flags_from_names(body.entry.flags))
        else:
            value = int(body.entry)
        return do_mmu_update(mm, self.resolve(body), body.index, value)

    def _mmuext(self, mm: MM, body: Any) -> int:
        mfn = self.resolve(body)
        if body.cmd == "unpin":
            return mmuext_unpin(mm, mfn)
        preempt = self._preemption(mfn, body)
        if body.cmd in PIN_LEVEL:
            return mmuext_pin(mm, mfn, PIN_LEVEL[body.cmd], preempt)
        return new_guest_cr3(mm, mfn, preempt)

    def _preemption(self, mfn: int, body: Any) -> Preemption:
        """Where hypercall_preempt_check() answers true: `preempt_after` at the pinned
        table itself (an L2 or L3: pin_l1 and pin_l4 ignore it), `preempt` at any L2 or
        L3 of the tree."""
        points: dict[int, int] = {}
        if body.preempt_after is not None and body.cmd in ("pin_l2", "pin_l3"):
            points[mfn] = body.preempt_after
        if body.preempt is not None:
            points[self.resolve(body.preempt)] = body.preempt.after
        return Preemption(points)

    def _write(self, mm: MM, body: Any) -> int:
        return guest_write(mm, self.resolve(body))

    def _memory(self, mm: MM, body: Any) -> int:
        if body.cmd == "populate_physmap":
            return populate_physmap(mm, body.pfn)
        return guest_remove_page(mm, self.resolve(body))

    # -- migration -----------------------------------------------------------------------------
    def _migrate(self, phase: str, rounds: int, toolstack: str) -> Outcome:
        m = self.migration
        in_progress = m is not None and m.state == "in_progress"
        if phase in ("all", "begin") and in_progress:
            raise InvalidInput("migrate.phase", f"{phase}: a migration is already in progress")
        if phase in ("round", "suspend", "restore"):
            if not in_progress:
                if m is not None and m.state == "failed":
                    return Outcome(-int(Errno.EINVAL), "failed",
                                   message=f"the migration already failed: {m.error}")
                raise InvalidInput("migrate.phase", f"{phase}: no migration in progress")
            if phase == "round" and self.stopped:
                raise InvalidInput("migrate.phase", "round: the guest is already suspended")
            if phase == "suspend" and self.stopped:
                raise InvalidInput("migrate.phase", "suspend: the guest is already suspended")
            if phase == "restore" and not self.stopped:
                raise InvalidInput("migrate.phase", "restore: suspend the guest first")
        phases = (["begin"] + ["round"] * (rounds - 1) + ["suspend", "restore"]
                  if phase == "all" else [phase])
        try:
            for ph in phases:
                self._run_phase(ph, toolstack)
        except MigrationFailed as failure:
            self._abort(failure)
            self._note_stats()
            return Outcome(-int(failure.errno), "failed", message=failure.explain(phase),
                           failure=failure.detail)
        self._note_stats()
        return Outcome(0, "ok")

    def _note_stats(self) -> None:
        """Every round's statistics so far, so a client need not count them itself."""
        m = self.migration
        assert m is not None
        self.journal.note(kind="migration", event="stats", state=m.state,
                          rounds=[r.as_dict() for r in m.rounds])

    def _run_phase(self, phase: str, toolstack: str) -> None:
        if phase == "begin":
            other = "destination" if self.guest_host == "source" else "source"
            dst = Domain(self.hosts[other], self.guest.pages, self.journal)
            self.migration = Migration(self.guest, dst, self.patched, self.journal,
                                       toolstack=toolstack)
        m = self.migration
        assert m is not None
        m.phase = phase
        self.journal.note(kind="migration", event="phase", phase=phase,
                          src=m.src.host.name, dst=m.dst.host.name, toolstack=m.toolstack)
        if phase == "begin":
            m.begin()
        elif phase == "round":
            m.live_round()
        elif phase == "suspend":
            m.suspend()
        else:
            m.restore()
            self._complete(m)

    def _complete(self, m: Migration) -> None:
        """The guest resumes on the destination; the source domain is destroyed."""
        m.state = "ok"
        old = m.src
        self.guest = m.dst
        self.journal.note(kind="migration", event="resumed", host=m.dst.host.name)
        self._destroy(old, "domain_kill (source)")

    def _abort(self, failure: MigrationFailed) -> None:
        """A failed save or restore: the destination domain goes, the guest resumes on
        the source with log-dirty mode off."""
        m = self.migration
        assert m is not None
        m.state = "failed"
        m.error = failure.why
        self.journal.note(kind="migration", event="failed", errno=failure.errno.name,
                          why=failure.why)
        self._destroy(m.dst, "domain_kill (destination)")
        m.src.set_flag("log_dirty", False, "migration aborted")
        m.src.set_flag("paused", False, "migration aborted: resume on the source")
        m.src.set_flag("suspended", False, "migration aborted: xc_domain_resume")
        m.src.clean_dirty("migration aborted")

    def _destroy(self, dom: Domain, fn: str) -> None:
        name = dom.host.name
        old = self.former_p2m.get(name)
        self.former_p2m[name] = dom.p2m.copy()
        self.journal.add_undo(lambda: self.former_p2m.__setitem__(name, old)
                              if old is not None else self.former_p2m.pop(name, None))
        destroy_domain(dom, fn)

    # -- audit ------------------------------------------------------------------------------------
    def audit(self) -> list[str]:
        problems = []
        for name, host in self.hosts.items():
            problems += [f"{name}: {p}" for p in audit(host, self.domain_on(name))]
        return problems
