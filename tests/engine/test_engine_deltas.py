"""Event deltas (docs/engine-api.md): frame and entry deltas carry `old` and `new`, so
applying the `old` values in reverse to the post-state gives back the pre-state; every
state delta names the Xen function responsible in `fn`."""

from __future__ import annotations

import pytest
from engine_helpers import (
    DOM0_MFN,
    RO,
    RW,
    UPPER,
    assert_deltas_name_functions,
    assert_time_travel,
    capture,
    reverse,
)

# Each scenario: set-up steps, then the step whose deltas are examined.
CASES = {
    "l1-rw-map": ([], {"mmu_update": {"pfn": 3, "index": 100,
                                      "entry": {"pfn": 40, "flags": RW}}}),
    "l1-clear": ([], {"mmu_update": {"pfn": 3, "index": 40, "entry": 0}}),
    "l1-fast-path": ([], {"mmu_update": {"pfn": 3, "index": 40,
                                         "entry": {"pfn": 40, "flags": RW + ["dirty"]}}}),
    "l1-ebusy": ([], {"mmu_update": {"pfn": 3, "index": 100,
                                     "entry": {"mfn": DOM0_MFN, "flags": RO}}}),
    "l2-clear-cascade": ([], {"mmu_update": {"pfn": 2, "index": 0, "entry": 0}}),
    "l4-clear-cascade": ([{"mmuext": {"cmd": "unpin", "pfn": 0}},
                          {"mmu_update": {"pfn": 3, "index": 20,
                                          "entry": {"pfn": 20, "flags": RO}}},
                          {"mmu_update": {"pfn": 20, "index": 0,
                                          "entry": {"pfn": 1, "flags": UPPER}}},
                          {"mmuext": {"cmd": "pin_l4", "pfn": 20}}],
                         {"mmuext": {"cmd": "new_baseptr", "pfn": 20}}),
    "pin-l2": ("l2", {"mmuext": {"cmd": "pin_l2", "pfn": 20}}),
    "pin-l2-preempted": ("l2", {"mmuext": {"cmd": "pin_l2", "pfn": 20, "preempt_after": 1}}),
    "pin-l2-fails-late": ("l2-bad", {"mmuext": {"cmd": "pin_l2", "pfn": 20}}),
    "unpin-cascade": ("l2-pinned", {"mmuext": {"cmd": "unpin", "pfn": 20}}),
    "writable-fallback": ("l2-devalidated",
                          {"mmu_update": {"pfn": 20, "index": 1, "entry": 0}}),
    "write-devalidated": ("l2-devalidated", {"write": {"pfn": 20}}),
    "decrease-mapped": ([], {"memory": {"cmd": "decrease_reservation", "pfn": 40}}),
    "unmap-frees": ([{"memory": {"cmd": "decrease_reservation", "pfn": 40}}],
                    {"mmu_update": {"pfn": 3, "index": 40, "entry": 0}}),
    "populate": ([{"memory": {"cmd": "decrease_reservation", "pfn": 40}},
                  {"mmu_update": {"pfn": 3, "index": 40, "entry": 0}}],
                 {"memory": {"cmd": "populate_physmap", "pfn": 40}}),
    "linear-other-l2": ("l2-pinned", {"mmu_update": {"pfn": 20, "index": 1,
                                                     "entry": {"pfn": 2, "flags": RO}}}),
}


def _setup(g, setup):
    if isinstance(setup, str):  # "l2", "l2-bad", "l2-pinned", "l2-devalidated"
        g.build_l2_over_l1()
        g.make_ro(22)
        g.ok({"mmu_update": {"pfn": 20, "index": 1, "entry": {"pfn": 22, "flags": UPPER}}})
        if setup == "l2-bad":
            g.ok({"mmu_update": {"pfn": 20, "index": 2,
                                 "entry": {"mfn": DOM0_MFN, "flags": UPPER}}})
        if setup in ("l2-pinned", "l2-devalidated"):
            g.ok({"mmuext": {"cmd": "pin_l2", "pfn": 20}})
        if setup == "l2-devalidated":
            g.ok({"mmuext": {"cmd": "unpin", "pfn": 20}})
        return
    for step in setup:
        g.ok(step)


@pytest.mark.parametrize("setup,step", CASES.values(), ids=CASES.keys())
def test_reversed_deltas_reproduce_the_pre_state(g, setup, step):
    """Journal deltas are complete for frames, entries, P2M, M2P and cr3."""
    _setup(g, setup)
    pre = capture(g.w)
    ev = g.apply(step)
    assert ev["deltas"], "a hypercall that changed state produced no deltas"
    assert_time_travel(pre, capture(g.w), ev["deltas"])


@pytest.mark.parametrize("setup,step", CASES.values(), ids=CASES.keys())
def test_deltas_name_xen_functions(g, setup, step):
    """Every state delta has a non-empty `fn`."""
    _setup(g, setup)
    assert_deltas_name_functions(g.apply(step)["deltas"])


def test_devalidation_deltas_name_the_xen_functions_involved(g):
    """An unpin cascade is attributed to do_mmuext_op, _put_page_type and
    devalidate_page (4.15: free_page_type)."""
    _setup(g, "l2-pinned")
    fns = {d["fn"] for d in g.apply({"mmuext": {"cmd": "unpin", "pfn": 20}})["deltas"]}
    assert "do_mmuext_op" in fns
    assert {"_put_page_type", "devalidate_page"} <= fns


def test_migration_deltas_reverse_too(g):
    """A whole migration (round trip of every frame on both hosts)."""
    _setup(g, "l2-devalidated")
    pre = capture(g.w)
    ev = g.ok({"migrate": "all"})
    post = capture(g.w)
    assert_deltas_name_functions(ev["deltas"])
    # Contents scrubbed/replaced by whole-page deltas cannot be restored from them;
    # the frame fields, P2M/M2P and cr3 can.
    back = reverse(post, ev["deltas"])
    for host in ("source", "destination"):
        for f in ("owner", "count", "type", "type_count", "validated", "pinned", "m2p"):
            assert (back[host][f] == pre[host][f]).all(), f"{host}.{f}"
