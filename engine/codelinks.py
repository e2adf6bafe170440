"""Where the Xen functions the engine names are: file and line in xen.git at
RELEASE-4.15.0 and RELEASE-4.16.0 (engine/xen_functions.json, made by
tools/xen_codelinks.py from the Xen tree)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

TABLE = Path(__file__).with_name("xen_functions.json")


@cache
def table() -> dict[str, Any]:
    return json.loads(TABLE.read_text(encoding="utf-8"))


def key(fn: str) -> str:
    """The table's name for a delta's `fn`: `put_page (partial reference)` -> `put_page`,
    `migration aborted: resume on the source` -> `migration aborted`."""
    return fn.split(" (", 1)[0].split(":", 1)[0].strip()


def lookup(fn: str) -> dict[str, Any] | None:
    return table()["functions"].get(key(fn))


def url(fn: str, version: str, site: str = "github") -> str | None:
    """A link to `fn` at `version` ("4.15" or "4.16"), or None for what is not Xen code."""
    entry = lookup(fn)
    if entry is None or version not in entry:
        return None
    where = entry[version]
    return table()["urls"][site].format(tag=table()["tags"][version], **where)
