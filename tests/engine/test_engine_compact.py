"""Compact deltas (docs/deltas.md): packed arrays decode to what was packed, and merged
deltas applied forward reach exactly the state the step reached."""

from __future__ import annotations

import numpy as np
from engine_helpers import HOST_FIELDS, capture, forward
from hypothesis import given
from hypothesis import strategies as st

from engine.packing import pack, unpack

INTS = st.lists(st.integers(-(1 << 40), 1 << 40), max_size=300)
SMALL_INTS = st.lists(st.integers(-1, 40), max_size=300)
NAMES = st.lists(st.sampled_from(["none", "l1", "writable", True, False]), max_size=300)


@given(st.one_of(INTS, SMALL_INTS))
def test_packed_integers_decode_to_themselves(values):
    assert unpack(pack(np.array(values, np.int64))) == values


@given(NAMES)
def test_packed_values_decode_to_themselves(values):
    if len({type(v) for v in values}) > 1:
        values = [str(v) for v in values]
    assert unpack(pack(values)) == values


def test_runs_and_base64_are_used_where_shorter():
    assert pack(np.arange(1000, 3000)) == {"runs": [1000, 2000, 1]}
    assert pack(np.full(500, -1)) == {"runs": [-1, 500, 0]}
    shuffled = np.random.default_rng(7).permutation(5000)
    assert set(pack(shuffled)) == {"i32"}
    assert pack(["none"] * 30 + ["l1"] * 2) == {"rle": ["none", 30, "l1", 2]}


def _assert_forward(pre, post, deltas):
    ahead = forward(pre, deltas)
    for host in ("source", "destination"):
        for f in HOST_FIELDS:
            diff = np.flatnonzero(ahead[host][f] != post[host][f])
            assert not len(diff), f"{host}.{f} differs at {diff[:5].tolist()}"


def test_a_merged_migration_applies_forward_exactly(g):
    """Every frame and M2P change of a whole migration, merged per Xen function."""
    g.make_ro(20)
    pre = capture(g.w)
    ev = g.ok({"migrate": "all"})
    kinds = [d["kind"] for d in ev["deltas"]]
    assert "frames" in kinds and "frame" not in kinds[:3]
    _assert_forward(pre, capture(g.w), ev["deltas"])


def test_a_merged_unpin_cascade_applies_forward_exactly(make):
    """The L4's unpin de-validates the whole tree (L1s in bulk: 512 data pages each)."""
    g = make(pages=2048, source={"frames": 4096}, destination={"frames": 4096})
    g.put(6, 511, 0)  # PFN 2047 (the last L1, PFN 6, its entry 511) unmapped: the new base
    g.ok({"mmuext": {"cmd": "new_baseptr", "pfn": 2047}})
    pre = capture(g.w)
    ev = g.ok({"mmuext": {"cmd": "unpin", "pfn": 0}})
    assert g.frame(3)["validated"] is False and g.frame(3)["type"] == "l1"
    assert len(ev["deltas"]) < 30
    _assert_forward(pre, capture(g.w), ev["deltas"])
