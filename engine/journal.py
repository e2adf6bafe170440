"""Every change to the model goes through a Journal: it records a JSON-friendly delta for
clients (the UI animates them, `pvframes run --verbose` prints them) and an undo entry so
that an invalid step can be rolled back to exactly the state it started from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .compact import compact


@dataclass
class Journal:
    deltas: list[dict[str, Any]] = field(default_factory=list)
    _undo: list[Callable[[], None]] = field(default_factory=list)
    record: bool = True  # False while a builder lays out the initial state

    def add(self, delta: dict[str, Any], undo: Callable[[], None] | None) -> None:
        if self.record:
            self.deltas.append(delta)
        if undo is not None:
            self._undo.append(undo)

    def add_undo(self, undo: Callable[[], None]) -> None:
        """State a client never sees (allocator cursor), restored on rollback all the same."""
        self._undo.append(undo)

    def note(self, **delta: Any) -> None:
        """A delta that changes no state: a step of an algorithm worth showing."""
        if self.record:
            self.deltas.append(delta)

    def rollback(self) -> None:
        while self._undo:
            self._undo.pop()()
        self.deltas.clear()

    def commit(self) -> list[dict[str, Any]]:
        """The step's deltas, merged and packed (engine/compact.py), JSON-native."""
        self._undo.clear()
        recorded, self.deltas = self.deltas, []
        return compact(recorded)  # empties `recorded` as it goes
