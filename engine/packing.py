"""Packed arrays for compact deltas (docs/deltas.md): a JSON list, arithmetic runs of
integers, run-length values, or base64 of little-endian int32, whichever is shortest."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

SHORT = 16  # arrays up to this long stay plain lists
_I32 = np.dtype("<i4")


def index_array(values: Any) -> np.ndarray:
    """An integer array of indices, not copied when it already is one."""
    a = np.asarray(values)
    return a if a.dtype.kind in "iu" else a.astype(np.int64)


def small(a: np.ndarray) -> np.ndarray:
    """An integer array as int32 when its values fit (what a journal keeps is halved)."""
    if a.dtype == np.int32 or len(a) and (a.min() < -(1 << 31) or a.max() >= (1 << 31)):
        return a
    return a.astype(np.int32)


def uniform(a: np.ndarray) -> np.ndarray:
    """A long array whose items are all equal as a read-only broadcast of one (no
    memory)."""
    if len(a) > 64 and (a == a[0]).all():
        return np.broadcast_to(a[0].copy(), a.shape)
    return a


def _int_runs(a: np.ndarray, limit: int) -> list[int] | None:
    """Greedy arithmetic runs [first, count, step, ...], or None past `limit` runs."""
    n = len(a)
    d = np.diff(a)
    # d-indices where the step changes: a run starting at s extends to the next change.
    change = np.flatnonzero(d[1:] != d[:-1]) + 1
    if len(change) > limit * 2:
        return None
    ends = change.tolist() + [n - 1]
    out: list[int] = []
    s, k = 0, 0
    al, dl = a, d
    while s < n:
        if len(out) > limit * 3:
            return None
        if s == n - 1:
            out += [int(al[s]), 1, 0]
            break
        while ends[k] <= s:
            k += 1
        e = ends[k]
        out += [int(al[s]), e - s + 1, int(dl[s])]
        s = e + 1
    return out


def pack(values: Any, names: Any = None) -> Any:
    """A packed JSON value for a 1-D array (numpy array or list); with `names`, the
    array holds indices into it and names are what is packed."""
    a = np.asarray(values)
    n = len(a)
    if names is not None:
        return _pack_named(a, names)
    if a.dtype.kind in "iu":
        if n <= SHORT:
            return a.tolist()
        a = a.astype(np.int64)
        runs = _int_runs(a, n // 16)  # past that base64 is near as short, and quicker
        if runs is not None:
            return {"runs": runs}
        if a.min() >= -(1 << 31) and a.max() < (1 << 31):
            return {"i32": base64.b64encode(a.astype(_I32).tobytes()).decode("ascii")}
        return a.tolist()
    if n <= SHORT:
        return a.tolist()
    starts = np.flatnonzero(np.concatenate(([True], a[1:] != a[:-1])))
    if len(starts) * 2 > n:
        return a.tolist()
    counts = np.diff(np.append(starts, n)).tolist()
    out: list[Any] = []
    for v, c in zip(a[starts].tolist(), counts, strict=True):
        out += [v, c]
    return {"rle": out}


def _pack_named(a: np.ndarray, names: Any) -> Any:
    if len(a) <= SHORT:
        return [names[v] for v in a.tolist()]
    starts = np.flatnonzero(np.concatenate(([True], a[1:] != a[:-1])))
    if len(starts) * 2 > len(a):
        return [names[v] for v in a.tolist()]
    counts = np.diff(np.append(starts, len(a))).tolist()
    out: list[Any] = []
    for v, c in zip(a[starts].tolist(), counts, strict=True):
        out += [names[v], c]
    return {"rle": out}


def unpack(value: Any) -> list[Any]:
    """The list a packed value stands for."""
    if isinstance(value, list):
        return value
    if "rle" in value:
        return _rle(value["rle"])
    return unpack_array(value).tolist()


def unpack_array(value: Any) -> np.ndarray:
    """A packed value as a numpy array (integers as int64)."""
    if isinstance(value, list):
        return np.asarray(value)
    if "runs" in value:
        r = np.asarray(value["runs"], np.int64).reshape(-1, 3)
        if not len(r):
            return np.zeros(0, np.int64)
        first, count, step = r[:, 0], r[:, 1], r[:, 2]
        offsets = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
        return np.repeat(first, count) + offsets * np.repeat(step, count)
    if "i32" in value:
        return np.frombuffer(base64.b64decode(value["i32"]), _I32).astype(np.int64)
    if "rle" in value:
        return np.asarray(_rle(value["rle"]))
    raise ValueError(f"not a packed array: {value!r}")


def _rle(flat: list[Any]) -> list[Any]:
    out: list[Any] = []
    for i in range(0, len(flat), 2):
        out += [flat[i]] * int(flat[i + 1])
    return out
