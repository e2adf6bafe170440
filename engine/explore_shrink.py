"""Shrinking a sequence that reaches a goal: delta debugging (Zeller's ddmin, removing
chunks of steps, then single steps) down to a sequence from which no single step can be
removed, with a few simplifications in between (a split migration becomes
`migrate: all`, flags and indices become plainer) that make it read like a textbook
example. `test(steps)` replays a candidate and returns how many of its steps it took to
reach the goal (None: it does not), so every candidate is also cut short there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

Steps = list[dict[str, Any]]
Test = Callable[[Steps], int | None]


def shrink(steps: Steps, test: Test) -> Steps:
    reached = test(steps)
    if reached is None:
        raise ValueError("the sequence to shrink does not reach the goal")
    steps = steps[:reached]
    while True:
        steps = ddmin(steps, test)
        simpler = simplify(steps, test)
        if simpler is None:
            return steps
        steps = simpler


def ddmin(steps: Steps, test: Test) -> Steps:
    """Remove chunks of 1/n of the sequence while the rest still reaches the goal,
    doubling n when nothing can go; ends 1-minimal (n = len: every single step tried)."""
    n = 2
    while len(steps) >= 2:
        size = len(steps) / n
        for i in range(n):
            start, end = round(i * size), round((i + 1) * size)
            candidate = steps[:start] + steps[end:]
            reached = test(candidate) if candidate else None
            if reached is not None:
                steps = candidate[:reached]
                n = max(n - 1, 2)
                break
        else:
            if n >= len(steps):
                return steps
            n = min(2 * n, len(steps))
    return steps


def simplify(steps: Steps, test: Test) -> Steps | None:
    """The first simpler variant of the sequence that still reaches the goal."""
    for candidate in simpler_variants(steps):
        reached = test(candidate)
        if reached is not None:
            return candidate[:reached]
    return None


def simpler_variants(steps: Steps) -> Iterator[Steps]:
    yield from _collapsed_migrations(steps)
    for i, step in enumerate(steps):
        for plainer in _plainer(step):
            yield steps[:i] + [plainer] + steps[i + 1:]


def _phase(step: dict[str, Any]) -> str | None:
    body = step.get("migrate")
    if body is None:
        return None
    return body if isinstance(body, str) else body.get("phase", "all")


def _collapsed_migrations(steps: Steps) -> Iterator[Steps]:
    """begin, round..., suspend, restore with nothing between: one `migrate: all`."""
    for i, step in enumerate(steps):
        if _phase(step) != "begin":
            continue
        j = i + 1
        while j < len(steps) and _phase(steps[j]) == "round":
            j += 1
        if j + 1 < len(steps) and _phase(steps[j]) == "suspend" \
                and _phase(steps[j + 1]) == "restore":
            rounds = j - i
            merged: dict[str, Any] = {"migrate": "all"}
            toolstack = step["migrate"].get("toolstack")
            if rounds != 2:
                merged["rounds"] = rounds
            if toolstack:
                merged["toolstack"] = toolstack
            yield steps[:i] + [merged] + steps[j + 2:]


def _plainer(step: dict[str, Any]) -> Iterator[dict[str, Any]]:
    body = step.get("mmu_update")
    if body is not None:
        if body["index"] != 0:
            yield {"mmu_update": {**body, "index": 0}}
        entry = body["entry"]
        if isinstance(entry, dict) and len(entry["flags"]) > 1:
            for flags in (["present"], ["present", "rw"]):
                if len(flags) < len(entry["flags"]):
                    yield {"mmu_update": {**body, "entry": {**entry, "flags": flags}}}
    mmuext = step.get("mmuext")
    if mmuext is not None and "preempt_after" in mmuext:
        yield {"mmuext": {k: v for k, v in mmuext.items() if k != "preempt_after"}}
    if step.get("toolstack") and step.get("migrate") == "all":
        yield {k: v for k, v in step.items() if k != "toolstack"}
    if step.get("rounds") and step.get("migrate") == "all":
        yield {k: v for k, v in step.items() if k != "rounds"}
