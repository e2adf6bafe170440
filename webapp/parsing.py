"""Turn untrusted request payloads into the arguments the service takes.

Only shapes are checked here (is it an object, an int, a known key); what a step or a
scenario means is the engine's business, and it reports problems with InvalidInput too.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from engine.errors import InvalidInput

from . import safeyaml
from .limits import LimitExceeded, Limits
from .service import Count

CREATE_KEYS = ("scenario", "scenario_file", "xen")
XEN_VARIANTS = ("patched", "unpatched")


def check_tree(value: Any, field: str, limits: Limits) -> None:
    """Refuse anything in a decoded payload the rest of the server must never see: keys
    that are not strings, integers beyond +-2^64, NaN, lone surrogates (they cannot be
    stored or sent as UTF-8), strings, nesting or value counts past the limits, and any
    type that is not JSON's. Iterative, so a deep payload cannot exhaust the stack."""
    int_limit = 1 << limits.max_int_bits
    nodes = 0
    stack: list[tuple[Any, str, int]] = [(value, field, 0)]
    while stack:
        item, path, depth = stack.pop()
        nodes += 1
        if nodes > limits.max_nodes:
            raise LimitExceeded(field, "max_nodes", limits.max_nodes, "too many values")
        if isinstance(item, dict):
            if depth >= limits.max_depth:
                raise LimitExceeded(_short(path), "max_depth", limits.max_depth,
                                    "nested too deeply")
            for key, child in item.items():
                if not isinstance(key, str):
                    raise InvalidInput(path, f"keys must be strings, not {_kind(key)}")
                _check_string(key, path, limits)
                stack.append((child, f"{path}.{key}" if path else key, depth + 1))
        elif isinstance(item, list):
            if depth >= limits.max_depth:
                raise LimitExceeded(_short(path), "max_depth", limits.max_depth,
                                    "nested too deeply")
            for i, child in enumerate(item):
                stack.append((child, f"{path}[{i}]", depth + 1))
        elif isinstance(item, str):
            _check_string(item, path, limits)
        elif isinstance(item, bool) or item is None:
            pass
        elif isinstance(item, int):
            if not -int_limit <= item <= int_limit:
                raise InvalidInput(path, f"integer out of range (beyond +-2^{limits.max_int_bits})")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise InvalidInput(path, "must be a finite number")
        else:
            raise InvalidInput(path, f"{_kind(item)} values are not accepted")


def _check_string(text: str, path: str, limits: Limits) -> None:
    if len(text) > limits.max_string_chars:
        raise LimitExceeded(path, "max_string_chars", limits.max_string_chars,
                            f"text of {len(text)} characters is too long")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(path, "contains a lone surrogate (not valid Unicode text)") from None


def _short(path: str) -> str:
    return path if len(path) <= 80 else path[:77] + "..."


def _kind(value: Any) -> str:
    return type(value).__name__


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _bounded_int(text: str) -> int:
    # Python's own cap (4,300 digits) is far beyond any 64-bit value and slow to reach.
    if len(text.lstrip("-")) > 40:
        raise ValueError(f"integer of {len(text)} digits is out of range")
    return int(text)


def loads_json(text: str | bytes) -> Any:
    """json.loads without NaN/Infinity or huge integers; ValueError for any bad document,
    including one nested too deeply for the decoder."""
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_int=_bounded_int)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def load_yaml(text: str, field: str, limits: Limits) -> Any:
    """A scenario's YAML (or JSON) text as plain data, checked like any JSON payload."""
    try:
        data = safeyaml.load(text, limits)
    except LimitExceeded as exc:
        raise LimitExceeded(field, exc.limit, exc.value, exc.message.split(" (limit")[0]) from None
    except ValueError as exc:
        raise InvalidInput(field, f"is not valid YAML: {exc}") from None
    check_tree(data, field, limits)
    return data


def scenario_value(value: Any, limits: Limits, field: str = "scenario") -> Any:
    """A scenario as given (object, YAML text or null) -> checked plain data for the engine.
    The shape checks here are the ones whose absence made the engine fail on them."""
    if isinstance(value, str):
        value = load_yaml(value, field, limits)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidInput(field, "a scenario is a mapping (name, guest, hosts, steps...)")
    steps = value.get("steps")
    if steps is not None and not isinstance(steps, list):
        raise InvalidInput(f"{field}.steps", "must be a list of steps")
    if steps is not None and len(steps) > limits.max_scenario_steps:
        raise LimitExceeded(f"{field}.steps", "max_scenario_steps", limits.max_scenario_steps,
                            f"a script of {len(steps)} steps is too long")
    _check_sizes(value, field, limits)
    return value


def _check_sizes(scenario: dict[str, Any], field: str, limits: Limits) -> None:
    guest = scenario.get("guest")
    if isinstance(guest, dict):
        pages = _as_int(guest.get("pages"))
        if pages is not None and pages > limits.max_guest_pages:
            raise LimitExceeded(f"{field}.guest.pages", "max_guest_pages",
                                limits.max_guest_pages, f"a guest of {pages} pages is too big")
    hosts = scenario.get("hosts")
    if isinstance(hosts, dict):
        for name, spec in hosts.items():
            frames = _as_int(spec.get("frames")) if isinstance(spec, dict) else None
            if frames is not None and frames > limits.max_host_frames:
                raise LimitExceeded(f"{field}.hosts.{name}.frames", "max_host_frames",
                                    limits.max_host_frames,
                                    f"a host of {frames} frames is too big")


def _as_int(value: Any) -> int | None:
    """Sizes may be written as ints or int text (0x hex), as the engine accepts them."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        try:
            return int(text, 16) if text.startswith("0x") else int(text, 10)
        except ValueError:
            return None
    return None


def create_args(body: Any) -> dict[str, Any]:
    """{"scenario"?, "scenario_file"?, "xen"?} -> keyword arguments for creation.
    Returns {"scenario": ...} or {"scenario_file": ...}, plus "xen"."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise InvalidInput("body", "must be a JSON object")
    for key in body:
        if key not in CREATE_KEYS:
            raise InvalidInput(key, f"unknown field; expected one of {', '.join(CREATE_KEYS)}")
    xen = body.get("xen")
    if xen is not None and xen not in XEN_VARIANTS:
        raise InvalidInput("xen", f"must be one of {', '.join(XEN_VARIANTS)} or null")
    scenario = body.get("scenario")
    if scenario is not None and not isinstance(scenario, dict | str):
        raise InvalidInput("scenario", "must be a scenario object or YAML text")
    name = body.get("scenario_file")
    if name is not None:
        if scenario is not None:
            raise InvalidInput("scenario_file", "give either scenario or scenario_file")
        if not isinstance(name, str) or not name:
            raise InvalidInput("scenario_file", "must be a scenario name from the catalogue")
        return {"scenario_file": name, "xen": xen}
    return {"scenario": scenario, "xen": xen}


def step(value: Any, field: str = "step") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(field, "must be a step object such as {\"write\": {\"pfn\": 9}}")
    return value


def count(value: Any, field: str = "count") -> Count:
    if value is None:
        return 1
    if value == "all":
        return "all"
    # bool is an int subclass; `true` is not a count.
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value < 1 << 64:
        return value
    raise InvalidInput(field, 'must be a positive integer or "all"')


def since(value: Any, field: str = "since") -> int:
    """Accepts an int or its decimal text (query strings are text)."""
    if value is None or value == "":
        return 0
    # 20 digits hold any seq; more is never one, and int() of thousands of digits is slow.
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 64:
        return value
    raise InvalidInput(field, "must be a non-negative integer")


def page_limit(value: Any, field: str = "limit") -> int | None:
    """`?limit=N`: at most N events in this page (the server's own cap still applies)."""
    if value is None or value == "":
        return None
    number = since(value, field)
    if number < 1:
        raise InvalidInput(field, "must be a positive integer")
    return number


def session_id(value: Any, field: str = "session") -> str:
    if not isinstance(value, str) or not value or len(value) > 64:
        raise InvalidInput(field, "must be a session id")
    return value


def frame_number(value: str, field: str = "mfn") -> int:
    """A machine frame number from a URL segment: decimal or 0x-prefixed hex."""
    if len(value) > 24:  # 0x and 16 hex digits, or 20 decimal ones, hold any 64-bit MFN
        raise InvalidInput(field, "is out of range")
    try:
        number = int(value, 16) if value.lower().startswith("0x") else int(value, 10)
    except ValueError:
        raise InvalidInput(field, f"{value!r} is not a frame number") from None
    if number < 0:
        raise InvalidInput(field, "must be non-negative")
    return number


def seq(value: Any, field: str = "seq") -> int | None:
    """An optional seq (int or decimal text); None when absent."""
    if value is None or value == "":
        return None
    return since(value, field)


def flag(value: Any, field: str) -> bool:
    """An optional boolean: true/false, or in a query string 1/0, true/false."""
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    if value in ("1", "true"):
        return True
    if value in ("0", "false"):
        return False
    raise InvalidInput(field, "must be true or false (1 or 0 in a query string)")


def flag_or_none(value: Any, field: str) -> bool | None:
    """`flag`, but None when not given (the server then chooses, e.g. a snapshot's form)."""
    return None if value is None or value == "" else flag(value, field)


def xen(value: Any, field: str = "xen") -> str | None:
    if value is None or value in XEN_VARIANTS:
        return value
    raise InvalidInput(field, f"must be one of {', '.join(XEN_VARIANTS)} or null")


def moment(args: Mapping[str, str]) -> dict[str, Any] | None:
    """?seq=N&view=V&frame=HOST:MFN (any of them) as a scenario position's fields, or None
    without any. The engine checks the values (webapp's fields: seq, view, frame)."""
    if not any(args.get(key) for key in ("seq", "view", "frame")):
        return None
    out: dict[str, Any] = {}
    if args.get("seq"):
        out["seq"] = seq(args["seq"])
    if args.get("view"):
        out["view"] = args["view"]
    if args.get("frame"):
        host, _, mfn = args["frame"].partition(":")
        if host not in ("source", "destination") or not mfn.isdigit() or len(mfn) > 9:
            raise InvalidInput("frame", "must be HOST:MFN, e.g. source:296")
        out["frame"] = {"on": host, "mfn": int(mfn)}
    return out
