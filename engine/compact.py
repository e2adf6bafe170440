"""Compact deltas (docs/deltas.md): the deltas a step recorded, merged into one delta per
kind, host, field and Xen function wherever that is provably the same change, with their
arrays packed.

A delta joins the open delta of its key only if none of the slots it writes was written
by that merged delta already, or by any delta placed after it; otherwise it opens a new
one. So along every slot (a frame's field, an M2P or P2M entry, a page, a dirty bit) the
writes keep their order, and no slot appears twice in one merged delta: applying the
merged list forward, or backward from `old`, gives exactly what the recorded list gives.
A round's `batch` and `localise` notes, which change no state, are merged each into one
placed where the first of them was.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .packing import index_array, pack

# kind -> (plural kind, slot column, cell field(s)); a delta without an entry is kept as is.
_SINGLE = {"frame": ("frames", "mfn"), "m2p": ("m2p_many", "mfn"), "p2m": ("p2m_many", "pfn"),
           "page": ("pages", "mfn"), "dirty": ("dirty_many", "pfn")}
_PLURAL_CELLS = {"frames": "mfns", "m2p_many": "mfns", "p2m_many": "pfns", "pages": "mfns",
                 "dirty_many": "pfns", "dirty_clean": "pfns"}
# Arrays a merged delta concatenates: plural field <- singular field.
_ARRAYS = {"frames": {"mfns": "mfn", "old": "old", "new": "new"},
           "m2p_many": {"mfns": "mfn", "old": "old", "new": "new"},
           "p2m_many": {"pfns": "pfn", "old": "old", "new": "new"},
           "pages": {"mfns": "mfn", "present": "present"},
           "dirty_many": {"pfns": "pfn", "mfns": "mfn"},
           "dirty_clean": {"pfns": "pfns"}}
# Narration merged per round: event -> arrays (plural <- singular).
_NOTES = {"batch": {"pfns": "pfns", "mfns": "mfns", "types": "types", "actions": "actions"},
          "localise": {"pfns": "pfn", "mfns": "mfn", "levels": "level"}}


def _column(d: dict[str, Any], kind: str) -> str:
    if kind in ("frames",):
        return f"{d['host']}/{d['field']}"
    if kind in ("pages", "entry"):
        return f"{d['host']}/contents"
    if kind in ("dirty_many", "dirty_clean"):
        return f"{d['host']}/dirty"
    return f"{d['host']}/{kind.split('_')[0]}"


_INT16_MAX = 32767


class _Tracker:
    """The position of the last delta that wrote each slot of one column: the first
    write is kept as it is, an array is made only when a column is written again."""

    def __init__(self, cells: np.ndarray | int, pos: int) -> None:
        self.first: tuple[np.ndarray, int] | None = (np.atleast_1d(cells), pos)
        self.last = np.zeros(0, np.int16)  # int16 until positions outgrow it

    def _grow(self, size: int, pos: int = 0) -> None:
        dtype = np.int32 if pos >= _INT16_MAX else self.last.dtype
        if size > len(self.last) or dtype != self.last.dtype:
            grown = np.full(max(size, len(self.last) * 2), -1, dtype)
            grown[:len(self.last)] = self.last
            self.last = grown

    def _settle(self) -> None:
        if self.first is not None:
            cells, pos = self.first
            self.first = None
            if len(cells):
                self._grow(int(cells.max()) + 1, pos)
                self.last[cells] = pos

    def newest(self, cells: np.ndarray | int) -> int:
        self._settle()
        if isinstance(cells, int):  # one slot: no arrays made
            return int(self.last[cells]) if cells < len(self.last) else -1
        if not len(cells):
            return -1
        self._grow(int(cells.max()) + 1)
        return int(self.last[cells].max())

    def mark(self, cells: np.ndarray | int, pos: int) -> None:
        if isinstance(cells, int):
            self._grow(cells + 1, pos)
            self.last[cells] = pos
        elif len(cells):
            self._grow(len(self.last), pos)
            self.last[cells] = pos


class _Group:
    def __init__(self, pos: int, first: dict[str, Any], plural: str | None) -> None:
        self.pos = pos
        self.members = [first]
        self.plural = plural


def compact(deltas: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: list[_Group | None] = []
    open_: dict[tuple[Any, ...], _Group] = {}
    trackers: dict[str, _Tracker] = {}
    epoch = 0
    for d in deltas:
        kind = d["kind"]
        if kind == "migration":
            event = d.get("event")
            if event == "phase":
                epoch += 1
            if event in _NOTES:
                key = ("note", event, epoch, d.get("round"))
                g = open_.get(key)
                if g is None:
                    g = open_[key] = _Group(len(groups), d, event)
                    groups.append(g)
                else:
                    g.members.append(d)  # narration changes no state: it stays in place
                continue
            groups.append(_Group(len(groups), d, None))
            continue
        plural = _SINGLE[kind][0] if kind in _SINGLE else kind
        if plural not in _ARRAYS and kind != "entry":
            groups.append(_Group(len(groups), d, None))  # cr3, domain: never merged
            continue
        if kind in _SINGLE:
            cells: np.ndarray | int = int(d[_SINGLE[kind][1]])
        elif kind == "entry":
            cells = int(d["mfn"])
        else:
            cells = index_array(d[_PLURAL_CELLS[kind]])
        col = _column(d, plural)
        tracker = trackers.get(col)
        key = (plural, d["host"], d.get("field"), d.get("fn"))
        g = open_.get(key) if kind != "entry" else None
        if tracker is None:
            newest = -1
        else:
            newest = tracker.newest(cells)
        if g is not None and newest < g.pos:
            g.members.append(d)
        else:
            g = _Group(len(groups), d, plural if kind != "entry" else None)
            groups.append(g)
            if kind != "entry":
                open_[key] = g
        if tracker is None:
            trackers[col] = _Tracker(cells, g.pos)
        else:
            tracker.mark(cells, g.pos)
    del trackers, open_
    deltas.clear()  # the journal's list: what is emitted can be freed as we go
    out = []
    for g in groups:
        if g is not None:
            out.append(_emit(g))
            g.members = []
    return out


def _emit(g: _Group) -> dict[str, Any]:
    first = g.members[0]
    if g.plural is None:
        return first
    if g.plural in _NOTES:
        return _emit_note(g)
    names = first.get("_names")
    if len(g.members) == 1 and first["kind"] in _SINGLE:
        out = {k: v for k, v in first.items() if k != "_names"}
        if names is not None:
            out["old"], out["new"] = names[out["old"]], names[out["new"]]
        return out
    out = {k: v for k, v in first.items() if k not in _ARRAYS[g.plural]
           and k not in _ARRAYS[g.plural].values() and k != "_names"}
    out["kind"] = g.plural
    for name, single in _ARRAYS[g.plural].items():
        if name == "new" and g.plural == "frames":
            out["new"] = _frames_new(g.members, names)
            continue
        parts = [np.atleast_1d(np.asarray(m[name])) if m["kind"] == g.plural
                 else np.asarray([m[single]]) for m in g.members]
        whole = parts[0] if len(parts) == 1 else np.concatenate(parts)
        out[name] = pack(whole, names if name == "old" else None)
    out["fn"] = first.get("fn")
    return out


def _emit_note(g: _Group) -> dict[str, Any]:
    first = g.members[0]
    fields = _NOTES[g.plural]
    out = {k: v for k, v in first.items() if k not in fields and k not in fields.values()}
    names = first.get("_names", {})
    out.pop("_names", None)
    for name, single in fields.items():
        parts = [np.atleast_1d(np.asarray(m[name] if name in m else m[single]))
                 for m in g.members]
        out[name] = pack(np.concatenate(parts), names.get(name))
    if g.plural == "batch":  # one PAGE_DATA record per member
        out["batches"] = len(g.members)
        out["sizes"] = pack(np.array([len(m["pfns"]) for m in g.members], np.int64))
    return out


def _frames_new(members: list[dict[str, Any]], names: list[str] | None) -> Any:
    """One value when every member set the same one, else one value per frame."""
    if all(m["kind"] == "frames" and np.ndim(m["new"]) == 0 for m in members) and len(
            {_scalar(m["new"]) for m in members}) == 1:
        value = _scalar(members[0]["new"])
        return value if names is None else names[value]
    parts = []
    for m in members:
        if m["kind"] == "frame":
            parts.append(np.asarray([m["new"]]))
        elif np.ndim(m["new"]) == 0:
            parts.append(np.full(len(m["mfns"]), m["new"]))
        else:
            parts.append(np.asarray(m["new"]))
    return pack(np.concatenate(parts), names)


def _scalar(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v
