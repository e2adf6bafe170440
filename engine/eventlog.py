"""A session's event log kept compactly: the latest events as they are, older ones in
blocks of BLOCK events, each block one zlib-compressed JSON array.

An event held as Python dicts takes about 2 KB (a one-entry write: 620 bytes of JSON); a
block of them compresses to a few dozen bytes per event, so a session's history costs
memory in proportion to what happened in it, not to the objects that describe it. Events
are JSON values (they go over the wire as they are), so a block gives back equal events.

Events are read-only once logged, except right after being appended (run_next numbers its
event): at least BLOCK of the latest events always stay uncompressed.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, overload

Event = dict[str, Any]
BLOCK = 256  # events per compressed block
LEVEL = 1  # zlib's fastest: events are repetitive enough for it


class _Events(Sequence[Event]):
    """What a log and a view of it share: indexing, slicing (a view), iteration and
    equality, over the window `_window()` of a log."""

    def _window(self) -> tuple[EventLog, int, int]:
        raise NotImplementedError

    def __len__(self) -> int:
        _, start, stop = self._window()
        return stop - start

    @overload
    def __getitem__(self, index: int) -> Event: ...

    @overload
    def __getitem__(self, index: slice) -> EventView: ...

    def __getitem__(self, index: int | slice) -> Event | EventView:
        log, first, _ = self._window()
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                raise ValueError("an event log slices with step 1 only")
            return EventView(log, first + start, first + max(start, stop))
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("event index out of range")
        return log._event(first + index)

    def __iter__(self) -> Iterator[Event]:
        log, start, stop = self._window()
        return log._range(start, stop)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _Events | list):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other,
                                                                          strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


class EventLog(_Events):
    """A list of events for reading and appending; slices are views (decoded as read)."""

    def __init__(self, events: Iterable[Event] = ()) -> None:
        self._blocks: list[bytes] = []  # each BLOCK events
        self._packed = 0  # bytes in _blocks
        self._tail: list[Event] = []
        self._decoded: tuple[int, list[Event]] | None = None  # the last block read
        for event in events:
            self.append(event)

    def append(self, event: Event) -> None:
        self._tail.append(event)
        if len(self._tail) >= 2 * BLOCK:
            block, self._tail = self._tail[:BLOCK], self._tail[BLOCK:]
            text = json.dumps(block, separators=(",", ":")).encode()
            self._blocks.append(zlib.compress(text, LEVEL))
            self._packed += len(self._blocks[-1])

    def __len__(self) -> int:
        return len(self._blocks) * BLOCK + len(self._tail)

    def _window(self) -> tuple[EventLog, int, int]:
        return self, 0, len(self)

    def prefix(self, n: int) -> EventLog:
        """A new log holding the first `n` events: whole blocks are shared, not decoded."""
        n = max(0, min(n, len(self)))
        out = EventLog()
        whole = min(n // BLOCK, len(self._blocks))
        out._blocks = self._blocks[:whole]
        out._packed = sum(len(b) for b in out._blocks)
        out._tail = list(self._range(whole * BLOCK, n))
        return out

    def nbytes(self) -> int:
        """Rough memory: the compressed blocks, and ~2 KB per uncompressed event."""
        return self._packed + 2_000 * len(self._tail)

    def _event(self, index: int) -> Event:
        block, offset = divmod(index, BLOCK)
        if block >= len(self._blocks):
            return self._tail[index - len(self._blocks) * BLOCK]
        return self._block(block)[offset]

    def _block(self, block: int) -> list[Event]:
        if self._decoded is None or self._decoded[0] != block:
            self._decoded = (block, json.loads(zlib.decompress(self._blocks[block])))
        return self._decoded[1]

    def _range(self, start: int, stop: int) -> Iterator[Event]:
        index = start
        while index < stop:
            block, offset = divmod(index, BLOCK)
            if block >= len(self._blocks):
                first = index - len(self._blocks) * BLOCK
                yield from self._tail[first:stop - len(self._blocks) * BLOCK]
                return
            events = self._block(block)[offset:min(BLOCK, offset + stop - index)]
            yield from events
            index += len(events)

    def __getstate__(self) -> dict[str, Any]:
        return {"blocks": self._blocks, "tail": self._tail}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._blocks, self._tail, self._decoded = state["blocks"], state["tail"], None
        self._packed = sum(len(b) for b in self._blocks)


class EventView(_Events):
    """Events start..stop of a log, decoded only as they are read."""

    def __init__(self, log: EventLog, start: int, stop: int) -> None:
        self._log, self._start, self._stop = log, start, stop

    def _window(self) -> tuple[EventLog, int, int]:
        return self._log, self._start, self._stop
