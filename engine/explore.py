"""`pvframes explore`: search short step sequences for ones that reach a goal, shrink each
to a minimal scenario and keep one per signature (which op, which field, which Xen
function decides). Deterministic: the walks depend on the seed alone; a step budget
(`max_steps`) reproduces a run exactly, a time budget stops the same search earlier.

The search is a sequence of random walks from the start state, each at most `depth`
steps, drawn from the contract's vocabulary (engine.explore_vocab) and run under both Xen
variants at once (engine.explore_state). After every step the goal looks at the outcome;
a hit not seen before is shrunk (engine.explore_shrink), its deciding function read off
a traced replay (engine.explore_trace) and written as a scenario (engine.explore_write).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .constants import Errno
from .errors import InvalidInput
from .explore_goals import CHECKS, GOALS, Hit, op_label, problem_kind
from .explore_shrink import shrink
from .explore_state import Lockstep, StepResult
from .explore_trace import pick, trace_failures
from .explore_vocab import Vocabulary
from .explore_write import write_finding

DEFAULT_DEPTH = 8
LAYOUTS = ("bare", "linear")


@dataclass
class Finding:
    number: int
    name: str
    goal: str
    op: str
    field: str
    fn: str | None
    xen: str
    steps: list[dict[str, Any]]
    scenario: dict[str, Any]
    found_after: int  # explored steps when it was hit
    unshrunk: int  # its length before shrinking
    note: str = ""  # what it shows (the description without who found it)

    @property
    def signature(self) -> tuple[str, str, str | None]:
        return (self.op, self.field, self.fn)

    def as_dict(self) -> dict[str, Any]:
        return {"number": self.number, "name": self.name, "goal": self.goal,
                "signature": {"op": self.op, "field": self.field, "fn": self.fn},
                "xen": self.xen, "length": len(self.steps), "unshrunk": self.unshrunk,
                "found_after": self.found_after, "steps": self.steps,
                "note": self.note, "scenario": self.scenario}


@dataclass
class Progress:
    explored: int = 0  # steps run (each under both variants) by the search itself
    walks: int = 0
    findings: int = 0
    hits: int = 0  # goal hits, before grouping by signature
    faults: int = 0  # steps on which the model itself raised (a model bug)
    replays: int = 0  # candidate sequences replayed while shrinking
    elapsed: float = 0.0
    cpu: float = 0.0  # this process's CPU seconds meanwhile: a rate a loaded machine keeps
    stopped: str = ""  # budget | max-steps | cancelled | ""

    @property
    def rate(self) -> float:
        return self.explored / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def cpu_rate(self) -> float:
        return self.explored / self.cpu if self.cpu > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "rate": round(self.rate, 1), "cpu_rate": round(self.cpu_rate, 1)}


HOST_PRESETS = ("default", "alike")


def parse_guest(text: str, hosts: str = "default") -> dict[str, Any]:
    """`bare:16` / `linear:64` -> a scenario with that guest. Hosts `default` are the
    contract's (dom0 holds MFNs 0-255 on the source, 0-127 on the destination, so the
    guest's frames on the two hosts never overlap); `alike` gives the destination the
    source's reservation, so a source MFN can be a guest frame there too, as on real
    hosts, and a raw entry can land on another page of the guest."""
    layout, _, pages = text.partition(":")
    if layout not in LAYOUTS or not pages.isdigit() or int(pages) < 1:
        raise InvalidInput("guest", f"{text!r}: expected bare:N or linear:N")
    if hosts not in HOST_PRESETS:
        raise InvalidInput("hosts", f"{hosts!r} is not one of {', '.join(HOST_PRESETS)}")
    scenario: dict[str, Any] = {"name": "explore",
                                "guest": {"pages": int(pages), "layout": layout}}
    if hosts == "alike":
        scenario["hosts"] = {"destination": {
            "frames": 1024, "reserved": [{"first": 0, "last": 255, "owner": "dom0"}],
            "alloc": "ascending"}}
    return scenario


def start_from(scenario: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A scenario's header and the steps that lead to its end state (checks and notes
    dropped: they change nothing)."""
    header = {k: v for k, v in scenario.items() if k not in ("steps", "xen")}
    prefix = [{k: v for k, v in s.items() if k not in ("expect", "note")}
              for s in scenario.get("steps") or []
              if isinstance(s, dict) and "check" not in s and set(s) - {"note", "expect"}]
    return header, prefix


@dataclass
class Explorer:
    goal: str
    scenario: dict[str, Any]
    prefix: list[dict[str, Any]] = field(default_factory=list)
    seed: int = 0
    depth: int = DEFAULT_DEPTH
    max_steps: int | None = None
    budget: float | None = None
    on_finding: Callable[[Finding], None] | None = None
    on_progress: Callable[[Progress], None] | None = None
    should_stop: Callable[[], bool] | None = None
    origin: str | None = None  # who found it, for the note; default: the command line
    progress_every: float = 0.25

    def __post_init__(self) -> None:
        if self.goal not in GOALS:
            raise InvalidInput("goal", f"{self.goal!r} is not one of {', '.join(GOALS)}")
        if self.depth < 1:
            raise InvalidInput("depth", "must be at least 1")
        self.lock = Lockstep(self.scenario, self.prefix)
        self.check = CHECKS[self.goal]
        self.findings: list[Finding] = []
        self.progress = Progress()
        self._keys: set[tuple[str, str, str, str]] = set()
        self._signatures: set[tuple[Any, ...]] = set()

    # -- the search -------------------------------------------------------------------------
    def run(self) -> list[Finding]:
        rng = random.Random(self.seed)
        vocab = Vocabulary(self.lock.pages, rng, self.lock.l1_tables())
        p = self.progress
        start = time.monotonic()
        cpu_start = time.process_time()
        last_report = 0.0
        try:
            while not self._stop(start):
                self._walk(vocab)
                p.walks += 1
                p.elapsed = time.monotonic() - start
                p.cpu = time.process_time() - cpu_start
                if self.on_progress and p.elapsed - last_report >= self.progress_every:
                    last_report = p.elapsed
                    self.on_progress(p)
        except KeyboardInterrupt:
            p.stopped = "cancelled"
        p.elapsed = time.monotonic() - start
        p.cpu = time.process_time() - cpu_start
        if self.on_progress:
            self.on_progress(p)
        return self.findings

    def _stop(self, start: float) -> bool:
        p = self.progress
        if self.max_steps is not None and p.explored >= self.max_steps:
            p.stopped = "max-steps"
        elif self.budget is not None and time.monotonic() - start >= self.budget:
            p.stopped = "budget"
        elif self.should_stop is not None and self.should_stop():
            p.stopped = "cancelled"
        return bool(p.stopped)

    def _walk(self, vocab: Vocabulary) -> None:
        lock = self.lock
        lock.restore()
        vocab.reset()
        walk: list[dict[str, Any]] = []
        for _ in range(self.depth):
            if self.max_steps is not None and self.progress.explored >= self.max_steps:
                return
            world = lock.variants["patched"].world
            m = world.migration
            raw = vocab.next(m is not None and m.state == "in_progress", world.stopped)
            if not lock.can_take(raw):
                continue
            walk.append(raw)
            self.progress.explored += 1
            try:
                res = lock.apply(raw)
            except InvalidInput:
                return  # the variants may now disagree; the next walk starts afresh
            except Exception as fault:  # noqa: BLE001 - a model fault is a finding for audit
                self.progress.faults += 1
                if self.goal == "audit":
                    self._found(walk, Hit("audit", op_label(raw), "model fault: "
                                          + problem_kind(f"{type(fault).__name__}: {fault}"),
                                          "both", {"problems": {"both": [repr(fault)]}}))
                return
            for hit in self.check(lock, res):
                self.progress.hits += 1
                if hit.key not in self._keys:
                    self._keys.add(hit.key)
                    self._found(walk, hit)
                    return  # shrinking replayed other sequences over this walk's state

    # -- a new hit --------------------------------------------------------------------------
    def _found(self, walk: list[dict[str, Any]], hit: Hit) -> None:
        steps = shrink(list(walk), lambda s: self.reaches(s, hit.key))
        final, fn = self.explain(steps, hit.key)
        signature = (final.goal, final.op, final.field, fn, final.xen)
        if signature in self._signatures:
            return
        self._signatures.add(signature)
        number = len(self.findings) + 1
        name = finding_name(self.goal, number, final)
        origin = self.origin or f"pvframes explore --goal {self.goal} --seed {self.seed}"
        scenario = write_finding(self.lock, steps, final, fn, name, origin)
        note = scenario["description"].removeprefix(f"Found by {origin}. ")
        finding = Finding(number, name, self.goal, final.op, final.field, fn, final.xen,
                          steps, scenario, self.progress.explored, len(walk), note)
        self.findings.append(finding)
        self.progress.findings = len(self.findings)
        if self.on_finding:
            self.on_finding(finding)

    def reaches(self, steps: list[dict[str, Any]], key: tuple[str, ...]) -> int | None:
        """Replay `steps` from the start: how many it takes to reach the phenomenon `key`
        (None: it never does, or the state refuses a step)."""
        self.progress.replays += 1
        hit = self._replay(steps, key)
        return None if hit is None else hit[0]

    def _replay(self, steps: list[dict[str, Any]], key: tuple[str, ...]
                ) -> tuple[int, Hit, StepResult] | None:
        lock = self.lock
        lock.restore()
        for n, raw in enumerate(steps):
            if not lock.can_take(raw):
                return None
            try:
                res = lock.apply(raw)
            except Exception:  # noqa: BLE001 - refused, or a model fault: not this hit
                if key[2].startswith("model fault") and n == len(steps) - 1:
                    return n + 1, Hit(*key[:2], key[2], key[3]), None  # type: ignore[arg-type]
                return None
            for hit in self.check(lock, res):
                if hit.key == key:
                    return n + 1, hit, res
        return None

    def explain(self, steps: list[dict[str, Any]], key: tuple[str, ...]
                ) -> tuple[Hit, str | None]:
        """The shrunk sequence's own hit (its facts name its pages) and the Xen function
        that decided it, from a traced run of its last step."""
        found = self._replay(steps, key)
        assert found is not None, "a shrunk sequence reaches its goal"
        _, hit, res = found
        if res is None:
            return hit, None
        return hit, self._deciding(steps, hit, res)

    def _deciding(self, steps: list[dict[str, Any]], hit: Hit, res: StepResult) -> str | None:
        if hit.goal == "divergence" and "rc" not in hit.facts and "messages" not in hit.facts:
            return "getpageframeinfo3"  # the one rule the variants differ in
        if hit.goal == "stale-entry":
            return "write_batch"  # a NOTAB page is sent raw: its MFNs are not translated
        if hit.goal == "audit":
            return None
        xen = "patched" if hit.xen == "patched" or res.outcomes["patched"].rc else "unpatched"
        rc = res.outcomes[xen].rc
        if hit.goal == "lost":
            # The final pass's normalisation answered EAGAIN and nothing retried it.
            xen, rc = ("unpatched" if hit.xen == "unpatched" else "patched"), -int(Errno.EAGAIN)
        if rc == 0:
            return None
        # The engine records where an error originates (MM.fail(), engine/explain.py), by
        # the Xen function's name; the traced run below covers what it does not record.
        failure = res.outcomes[xen].failure
        if hit.goal != "lost" and failure and failure.get("fn"):
            return str(failure["fn"])
        lock = self.lock
        lock.restore()
        for raw in steps[:-1]:
            lock.apply(raw)
        world = lock.variants[xen].world
        step = lock.step(steps[-1], xen)
        _, failures = trace_failures(lambda: world.execute(step))
        return pick(failures, rc)


def finding_name(goal: str, number: int, hit: Hit) -> str:
    words = "".join(c if c.isalnum() else " " for c in f"{hit.op} {hit.field}".lower())
    slug = "-".join(words.split())[:48].strip("-")
    return f"{goal}-{number:02d}-{slug}"
