"""The scenario contract (shared/spec/scenarios.md) as validated models.

A scenario is validated whole before anything runs; errors name the step (1-based) and
the field. `{patched: X, unpatched: Y}` values are resolved for one Xen variant before
validation, so a scenario is checked once per variant it will run under.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .ask import OPERATION_STEPS, validate_ask
from .constants import MFN_BITS
from .errors import InvalidInput
from .pte import FLAG_BITS

MAX_PAGES = 4_194_304  # 2^22: a 16 GiB guest (v1 allowed 2^20); pvframes bench runs it
XEN_VARIANTS = ("patched", "unpatched")


def _parse_int(value: Any) -> Any:
    """Integers may be written in hex (`0x1f`), in YAML or in JSON strings."""
    if isinstance(value, str):
        text = value.strip().lower()
        try:
            return int(text, 16) if text.startswith("0x") else int(text, 10)
        except ValueError:
            return value
    if isinstance(value, bool):
        raise ValueError("expected an integer, not a boolean")
    return value


Int = Annotated[int, BeforeValidator(_parse_int)]
Index = Annotated[int, BeforeValidator(_parse_int), Field(ge=0, le=511)]
Frame = Annotated[int, BeforeValidator(_parse_int), Field(ge=0, lt=1 << MFN_BITS)]
Flag = Literal[tuple(FLAG_BITS)]  # type: ignore[valid-type]
HostName = Literal["source", "destination"]
TypeName = Literal["none", "l1", "l2", "l3", "l4", "writable", "seg_desc"]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PageRef(Model):
    """`{pfn: N}` (through the guest's P2M) or `{mfn: N}` (a raw machine frame)."""

    pfn: Frame | None = None
    mfn: Frame | None = None

    @model_validator(mode="after")
    def _one_of(self) -> PageRef:
        if (self.pfn is None) == (self.mfn is None):
            raise ValueError("give exactly one of pfn or mfn")
        return self


class EntryValue(PageRef):
    flags: list[Flag] = []


class MmuUpdate(PageRef):
    index: Index
    entry: EntryValue | Annotated[int, BeforeValidator(_parse_int), Field(ge=0, lt=1 << 64)]


class Preempt(PageRef):
    """`preempt: {pfn: P, after: N}`: hypercall_preempt_check() answers true in the
    promotion of the L2 or L3 table at P once it has passed N slots, wherever P sits in
    the tree being validated (docs/scenario-extensions.md)."""

    after: Annotated[int, BeforeValidator(_parse_int), Field(ge=1)]


PREEMPTIBLE_CMDS = ("pin_l2", "pin_l3", "pin_l4", "new_baseptr")


class Mmuext(PageRef):
    cmd: Literal["pin_l1", "pin_l2", "pin_l3", "pin_l4", "unpin", "new_baseptr"]
    preempt_after: Annotated[int, BeforeValidator(_parse_int), Field(ge=1)] | None = None
    preempt: Preempt | None = None

    @field_validator("preempt_after")
    @classmethod
    def _preempt_after_only_for_pins(cls, value: int | None, info: ValidationInfo) -> Any:
        # Accepted on every pin; pin_l1 and pin_l4 ignore it (promote_l1_table() and
        # promote_l4_table() have no preemption point).
        cmd = info.data.get("cmd")
        if value is not None and cmd is not None and not cmd.startswith("pin_"):
            raise ValueError("preempt_after goes with pin_l1..pin_l4 only")
        return value

    @field_validator("preempt")
    @classmethod
    def _preempt_only_for_validating_cmds(cls, value: Preempt | None,
                                          info: ValidationInfo) -> Any:
        cmd = info.data.get("cmd")
        if value is not None and cmd is not None and cmd not in PREEMPTIBLE_CMDS:
            raise ValueError(f"preempt goes with {', '.join(PREEMPTIBLE_CMDS)} only: the "
                             "commands whose validation can reach an L2 or L3")
        return value


class Write(PageRef):
    pass


class Memory(PageRef):
    cmd: Literal["decrease_reservation", "populate_physmap"]

    @model_validator(mode="after")
    def _populate_names_pfn(self) -> Memory:
        if self.cmd == "populate_physmap" and self.pfn is None:
            raise ValueError("populate_physmap names the guest pfn to populate")
        return self


Phase = Literal["all", "begin", "round", "suspend", "restore"]


class Migrate(Model):
    phase: Phase = "all"
    rounds: Annotated[int, Field(ge=1, le=1000)] | None = None
    # How the tool stack stops the guest for the final pass (default xl): see
    # Migration.suspend().
    toolstack: Literal["xl", "pause"] | None = None

    @model_validator(mode="after")
    def _rounds_with_all(self) -> Migrate:
        if self.rounds is not None and self.phase != "all":
            raise ValueError("rounds goes with phase all")
        if self.toolstack is not None and self.phase not in ("all", "begin"):
            raise ValueError("toolstack goes with phase all or begin")
        return self


class FrameRef(PageRef):
    on: HostName | None = None


class EntryRef(FrameRef):
    index: Index


Expect = Literal["ok", "error", "failed"] | dict[str, Any]


class Check(Model):
    frame: FrameRef | None = None
    type: TypeName | None = None
    validated: bool | None = None
    pinned: bool | None = None
    partial: bool | None = None
    type_count: Annotated[int, Field(ge=0)] | None = None
    count: Annotated[int, Field(ge=0)] | None = None
    owner: str | None = None
    pfinfo: FrameRef | None = None
    is_: str | None = Field(None, alias="is")
    entry: EntryRef | None = None
    maps_pfn: Int | None = None
    maps_mfn: Int | None = None
    target_owner: str | None = None
    present: bool | None = None
    flags: list[Flag] | None = None
    migration: Literal["ok", "failed", "not_started", "in_progress"] | None = None
    deferred: list[Int] | None = None
    normalised: list[Int] | None = None
    lost: list[Int] | None = None
    audit: Literal["ok"] | None = None
    guest_on: HostName | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _fields_have_their_subject(self) -> Check:
        given = self.model_fields_set
        groups = {
            "frame": {"type", "validated", "pinned", "partial", "type_count", "count",
                      "owner"},
            "pfinfo": {"is_"},
            "entry": {"maps_pfn", "maps_mfn", "target_owner", "present", "flags"},
        }
        for subject, fields in groups.items():
            stray = sorted(f.rstrip("_") for f in fields & given)
            if stray and subject not in given:
                raise ValueError(f"{', '.join(stray)} need(s) `{subject}:`")
        if not given:
            raise ValueError("a check needs at least one field")
        return self


class AskCheck(Model):
    check: dict[str, Any]  # the check's subject: {pfinfo: {pfn: 40}}, {frame: ...}
    field: str  # the check field the choices are values of: is, type, maps_pfn...


class Ask(Model):
    """A question for the student (an extension; engine/ask.py)."""

    question: Annotated[str, Field(min_length=1)]
    choices: Annotated[list[Any], Field(min_length=2)]
    answer: Annotated[int, Field(ge=0)]
    about: Literal["rc"] | AskCheck
    why: str | None = None


class Step(Model):
    """One step: exactly one operation key (or none: a narration), `expect`, `note`."""

    mmu_update: MmuUpdate | None = None
    mmuext: Mmuext | None = None
    write: Write | None = None
    memory: Memory | None = None
    migrate: Migrate | None = None
    check: Check | None = None
    ask: Ask | None = None
    expect: Any = None
    note: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _migrate_shorthand(cls, data: Any) -> Any:
        """`migrate: all` is `{phase: all}`; `rounds: N` and `toolstack: xl|pause` may
        also stand beside it."""
        if isinstance(data, dict) and isinstance(data.get("migrate"), str):
            data = {**data, "migrate": {"phase": data["migrate"]}}
        for key in ("rounds", "toolstack"):
            if isinstance(data, dict) and key in data and isinstance(data.get("migrate"), dict):
                data = dict(data)
                data["migrate"] = {**data["migrate"], key: data.pop(key)}
        return data

    @model_validator(mode="after")
    def _one_operation(self) -> Step:
        ops = [op for op in OPERATIONS if getattr(self, op) is not None]
        if len(ops) > 1:
            raise ValueError(f"a step has one operation, found {', '.join(ops)}")
        if not ops and self.note is None:
            raise ValueError(f"a step needs one of {', '.join(OPERATIONS)} (or a note)")
        return self

    @property
    def op(self) -> str:
        for op in OPERATIONS:
            if getattr(self, op) is not None:
                return op
        return "note"

    @property
    def body(self) -> Any:
        return getattr(self, self.op) if self.op != "note" else None


OPERATIONS = ("mmu_update", "mmuext", "write", "memory", "migrate", "check", "ask")
ERRNO_NAMES = ("EPERM", "ENOENT", "ENXIO", "EINTR", "E2BIG", "EAGAIN", "ENOMEM", "EFAULT", "EBUSY",
               "EEXIST", "EINVAL", "ERANGE", "ERESTART", "EOPNOTSUPP")


def check_expect(step: Step, where: str) -> None:
    """`expect: ok | error | {rc: -EINVAL}`, or `ok | failed` for a migrate step."""
    expect, op = step.expect, step.op
    if expect is None:
        return
    if op in ("note", "check", "ask"):
        raise InvalidInput(f"{where}.expect", "expect goes with a hypercall or migrate step")
    if op == "migrate":
        if expect not in ("ok", "failed"):
            raise InvalidInput(f"{where}.expect", "expect for migrate is ok or failed")
        return
    if expect in ("ok", "error"):
        return
    if isinstance(expect, dict) and set(expect) == {"rc"}:
        if str(expect["rc"]).lstrip("-") in ERRNO_NAMES or isinstance(expect["rc"], int):
            return
        raise InvalidInput(f"{where}.expect.rc", f"unknown errno {expect['rc']!r}; one of "
                           f"-{', -'.join(ERRNO_NAMES)}")
    raise InvalidInput(f"{where}.expect", "expect is ok, error or {rc: -EINVAL}")


class Reserved(Model):
    first: Frame
    last: Frame
    owner: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]

    @model_validator(mode="after")
    def _ordered(self) -> Reserved:
        if self.last < self.first:
            raise ValueError("last is below first")
        if self.owner in ("guest", "free", "invalid"):
            raise ValueError(f"owner {self.owner!r} is a reserved word")
        return self


class Shuffle(Model):
    shuffle: Int


class HostSpec(Model):
    frames: Annotated[int, Field(ge=1, le=1 << 24)] = 1024
    reserved: list[Reserved] | None = None
    alloc: Literal["ascending", "descending"] | Shuffle = "ascending"


DEFAULT_RESERVED = {"source": [Reserved(first=0, last=255, owner="dom0")],
                    "destination": [Reserved(first=0, last=127, owner="dom0")]}


class Hosts(Model):
    source: HostSpec = HostSpec()
    destination: HostSpec = HostSpec()


class Guest(Model):
    pages: Annotated[int, Field(ge=1, le=MAX_PAGES)] = 64
    layout: Literal["linear", "bare"] = "linear"


POSITION_VIEWS = ("guest", "source", "destination", "both")


class PositionFrame(Model):
    mfn: Frame
    on: HostName


class Position(Model):
    """Where the file is looked at (docs/scenario-extensions.md): the moment after the first
    `seq` steps, the view, the selected frame and the Xen variant. A pointer for the page
    and for slides, not a step: it checks nothing and changes nothing the steps do."""

    seq: Annotated[int, BeforeValidator(_parse_int), Field(ge=0)]
    view: Literal[POSITION_VIEWS] = "guest"  # type: ignore[valid-type]
    frame: PositionFrame | None = None
    variant: Literal["patched", "unpatched"] | None = None


class Scenario(Model):
    name: Annotated[str, Field(pattern=r"^[a-z0-9-]+$")] = "session"
    title: str | None = None
    description: str | None = None
    xen: Literal["patched", "unpatched"] = "patched"
    guest: Guest = Guest()
    hosts: Hosts = Hosts()
    steps: list[Step] = []
    position: Position | None = None

    def reserved(self, host: str) -> list[Reserved]:
        spec: HostSpec = getattr(self.hosts, host)
        return DEFAULT_RESERVED[host] if spec.reserved is None else spec.reserved


# -- loading -------------------------------------------------------------------------------
def resolve_variants(value: Any, xen: str) -> Any:
    """Replace every `{patched: X, unpatched: Y}` with the value for `xen`."""
    if isinstance(value, dict):
        if set(value) == set(XEN_VARIANTS):
            return resolve_variants(value[xen], xen)
        return {k: resolve_variants(v, xen) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_variants(v, xen) for v in value]
    return value


def parse_text(text: str, source: str = "<scenario>") -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise InvalidInput("", f"{source}: not valid YAML/JSON: {err}") from err


def load_file(path: str | Path) -> Any:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise InvalidInput("", f"{path}: {err.strerror}") from err
    return parse_text(text, str(path))


def validate(raw: Any, xen: str | None = None) -> Scenario:
    """Validate raw scenario data for one variant (`xen` overrides the file's)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidInput("", "a scenario is a mapping (name, guest, hosts, steps...)")
    variant = xen or raw.get("xen") or "patched"
    if variant not in XEN_VARIANTS:
        raise InvalidInput("xen", f"{variant!r} is not one of patched, unpatched")
    data = dict(raw)
    data["xen"] = variant
    if "steps" in data and data["steps"] is not None:
        data["steps"] = [_resolve_step(s, variant) for s in data["steps"]]
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as err:
        raise _invalid(err) from None
    check_consistency(scenario)
    return scenario


def validate_step(raw: Any, xen: str, number: int | None = None) -> Step:
    """One step on its own (the web console, the REST API)."""
    try:
        step = Step.model_validate(_resolve_step(raw, xen))
    except ValidationError as err:
        raise _invalid(err, prefix=() if number is None else ("steps", number - 1)) from None
    where = "step" if number is None else f"steps[{number}]"
    check_expect(step, where)
    if step.ask is not None:
        validate_ask(step.ask, where)
    return step


def _resolve_step(step: Any, xen: str) -> Any:
    if not isinstance(step, dict):
        return step
    out = dict(step)
    if "expect" in out:
        out["expect"] = resolve_variants(out["expect"], xen)
    if isinstance(out.get("ask"), dict) and "answer" in out["ask"]:
        out["ask"] = {**out["ask"], "answer": resolve_variants(out["ask"]["answer"], xen)}
        if "about" in out["ask"]:
            out["ask"]["about"] = resolve_variants(out["ask"]["about"], xen)
    if "check" in out:
        # Any depth, the page selector too: `frame: {pfn: {unpatched: 9, patched: 1}}`.
        out["check"] = resolve_variants(out["check"], xen)
    return out


_FIELD_PART = re.compile(r"^[a-z_][a-z0-9_]*$")
_UNION_TAGS = {"int", "str", "bool", "dict", "list", "float", "none"}


def _invalid(err: ValidationError, prefix: tuple[Any, ...] = ()) -> InvalidInput:
    """The first error as `steps[3].mmu_update.index` (step numbers 1-based)."""
    first = err.errors()[0]
    parts: list[str] = []
    loc = prefix + tuple(first["loc"])
    for i, part in enumerate(loc):
        if isinstance(part, int):
            if i > 0 and loc[i - 1] == "steps":
                parts[-1] = f"steps[{part + 1}]"
            else:
                parts[-1] = f"{parts[-1]}[{part}]" if parts else f"[{part}]"
        elif _FIELD_PART.match(part) and part not in _UNION_TAGS:
            parts.append("is" if part == "is_" else part)
    field = ".".join(parts)
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = f"unknown field {str(first['loc'][-1])!r}"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return InvalidInput(field, msg)


def check_consistency(scenario: Scenario) -> None:
    """What the models cannot see alone: PFNs within the guest, a linear layout that fits,
    hosts large enough, reserved ranges inside their host, migration phases in order."""
    pages = scenario.guest.pages
    if scenario.guest.layout == "linear":
        from .builder import linear_pt_pages

        if pages < linear_pt_pages(pages):
            raise InvalidInput("guest.pages", f"{pages} pages cannot hold the linear "
                               f"layout's {linear_pt_pages(pages)} page-table pages")
    for host in ("source", "destination"):
        spec: HostSpec = getattr(scenario.hosts, host)
        taken = 0
        for n, r in enumerate(scenario.reserved(host)):
            if r.last >= spec.frames:
                raise InvalidInput(f"hosts.{host}.reserved[{n}].last",
                                   f"MFN {r.last} is beyond the host's {spec.frames} frames")
            taken += r.last - r.first + 1
        if spec.frames - taken < pages:
            raise InvalidInput(f"hosts.{host}.frames", f"the guest's {pages} pages do not "
                               f"fit in {spec.frames - taken} free frames")
    check_position(scenario.position, scenario.hosts, len(scenario.steps))
    phase = "none"  # none | live | paused
    for n, step in enumerate(scenario.steps, start=1):
        check_expect(step, f"steps[{n}]")
        if step.ask is not None:
            validate_ask(step.ask, f"steps[{n}]")
            if step.ask.about == "rc" and not any(
                    s.op in OPERATION_STEPS for s in scenario.steps[n:]):
                raise InvalidInput(f"steps[{n}].ask.about", "rc: no hypercall or migrate "
                                   "step follows to answer it")
        where = f"steps[{n}].{step.op}"
        check_pfns(step, pages, where)
        if step.op in ("mmu_update", "mmuext", "write", "memory") and phase == "paused":
            raise InvalidInput(where, "the guest is paused (after migrate suspend): it "
                               "cannot make hypercalls until restore")
        if step.op == "migrate":
            ph = step.migrate.phase
            expected = {"none": ("all", "begin"), "live": ("round", "suspend"),
                        "paused": ("restore",)}[phase]
            if ph not in expected:
                raise InvalidInput(f"{where}.phase", f"{ph} cannot follow the migration "
                                   f"state here; expected {' or '.join(expected)}")
            phase = {"all": "none", "begin": "live", "round": "live", "suspend": "paused",
                     "restore": "none"}[ph]


def check_position(pos: Position | None, hosts: Hosts, steps: int) -> None:
    """A position names a moment the steps reach and a frame its host has."""
    if pos is None:
        return
    if pos.seq > steps:
        raise InvalidInput("position.seq", f"{pos.seq} is beyond the scenario's {steps} steps")
    if pos.frame is not None:
        frames = getattr(hosts, pos.frame.on).frames
        if pos.frame.mfn >= frames:
            raise InvalidInput("position.frame.mfn", f"MFN {pos.frame.mfn} is not a frame "
                               f"of {pos.frame.on} (0..{frames - 1})")


def validate_position(value: Any, hosts: Hosts, steps: int) -> Position:
    """A position for a scenario with these hosts and this many steps (an export's)."""
    try:
        pos = Position.model_validate(value)
    except ValidationError as err:
        raise _invalid(err, ("position",)) from None
    check_position(pos, hosts, steps)
    return pos


def check_pfns(step: Step, pages: int, where: str) -> None:
    """Every `pfn` a step names (its page, its entry's target, a check's frame) is a
    guest PFN: below guest.pages."""
    body = step.body
    if body is None:
        return
    refs = [(body, where)] if isinstance(body, PageRef) else []
    refs += [(getattr(body, name), f"{where}.{name}")
             for name in ("entry", "frame", "pfinfo", "preempt")
             if isinstance(getattr(body, name, None), PageRef)]
    for ref, path in refs:
        if ref.pfn is not None and ref.pfn >= pages:
            raise InvalidInput(f"{path}.pfn", f"pfn {ref.pfn} is not below guest.pages "
                               f"({pages})")
