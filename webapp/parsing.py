"""Turn untrusted request payloads into the arguments the service takes.

Only shapes are checked here (is it an object, an int, a known key); what a step or a
scenario means is the engine's business, and it reports problems with InvalidInput too.
"""

from __future__ import annotations

from typing import Any

from engine.errors import InvalidInput

from .service import Count

CREATE_KEYS = ("scenario", "scenario_file", "xen")
XEN_VARIANTS = ("patched", "unpatched")


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
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise InvalidInput(field, 'must be a positive integer or "all"')


def since(value: Any, field: str = "since") -> int:
    """Accepts an int or its decimal text (query strings are text)."""
    if value is None or value == "":
        return 0
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise InvalidInput(field, "must be a non-negative integer")


def session_id(value: Any, field: str = "session") -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInput(field, "must be a session id")
    return value


def frame_number(value: str, field: str = "mfn") -> int:
    """A machine frame number from a URL segment: decimal or 0x-prefixed hex."""
    try:
        number = int(value, 16) if value.lower().startswith("0x") else int(value, 10)
    except ValueError:
        raise InvalidInput(field, f"{value!r} is not a frame number") from None
    if number < 0:
        raise InvalidInput(field, "must be non-negative")
    return number
