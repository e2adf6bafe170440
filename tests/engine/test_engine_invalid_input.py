"""Steps the contract rejects raise engine.errors.InvalidInput from Session.apply() and
change nothing: same snapshot, same seq, same frame table (scenarios.md, section 2)."""

from __future__ import annotations

import pytest
from engine_helpers import RO, RW

INVALID_STEPS = {
    "index-600": {"mmu_update": {"pfn": 3, "index": 600, "entry": 0}},
    "index-negative": {"mmu_update": {"pfn": 3, "index": -1, "entry": 0}},
    "entry-negative": {"mmu_update": {"pfn": 3, "index": 1, "entry": -1}},
    "entry-too-big": {"mmu_update": {"pfn": 3, "index": 1, "entry": 1 << 64}},
    "unknown-flag": {"mmu_update": {"pfn": 3, "index": 1,
                                    "entry": {"pfn": 4, "flags": ["present", "huge"]}}},
    "table-pfn-beyond-guest": {"mmu_update": {"pfn": 64, "index": 1, "entry": 0}},
    "entry-pfn-beyond-guest": {"mmu_update": {"pfn": 3, "index": 1,
                                              "entry": {"pfn": 64, "flags": RO}}},
    "pfn-and-mfn": {"mmu_update": {"pfn": 3, "mfn": 259, "index": 1, "entry": 0}},
    "no-page": {"mmu_update": {"index": 1, "entry": 0}},
    "unknown-field": {"mmu_update": {"pfn": 3, "index": 1, "entry": 0, "count": 2}},
    "unknown-cmd": {"mmuext": {"cmd": "pin_l5", "pfn": 1}},
    "pin-pfn-beyond-guest": {"mmuext": {"cmd": "pin_l2", "pfn": 64}},
    "preempt-on-unpin": {"mmuext": {"cmd": "unpin", "pfn": 0, "preempt_after": 1}},
    "preempt-zero": {"mmuext": {"cmd": "pin_l2", "pfn": 2, "preempt_after": 0}},
    "write-beyond-guest": {"write": {"pfn": 64}},
    "unknown-memory-cmd": {"memory": {"cmd": "exchange", "pfn": 5}},
    "populate-by-mfn": {"memory": {"cmd": "populate_physmap", "mfn": 600}},
    "populate-beyond-guest": {"memory": {"cmd": "populate_physmap", "pfn": 64}},
    "two-operations": {"write": {"pfn": 5}, "mmuext": {"cmd": "unpin", "pfn": 0}},
    "no-operation": {},
    "unknown-operation": {"grant_table_op": {"pfn": 5}},
    "not-a-mapping": "write",
    "bad-expect": {"write": {"pfn": 5}, "expect": {"rc": "-EWHATEVER"}},
    "expect-on-check": {"check": {"audit": "ok"}, "expect": "ok"},
    "empty-check": {"check": {}},
    "check-field-without-subject": {"check": {"type": "l2"}},
    "check-pfn-beyond-guest": {"check": {"frame": {"pfn": 99}, "type": "l2"}},
    "round-without-migration": {"migrate": {"phase": "round"}},
    "restore-without-migration": {"migrate": "restore"},
}


@pytest.mark.parametrize("step", INVALID_STEPS.values(), ids=INVALID_STEPS.keys())
def test_invalid_step_raises_and_changes_nothing(g, step):
    """Session.apply(): InvalidInput, snapshot and seq unchanged."""
    g.ok({"mmu_update": {"pfn": 3, "index": 20, "entry": {"pfn": 20, "flags": RO}}})
    err = g.invalid(step)
    assert isinstance(err.field, str)


def test_invalid_step_after_a_preempted_pin_changes_nothing(g):
    """The partial state (light ref, PGT_partial) survives a rejected step untouched."""
    g.build_l2_over_l1()
    g.apply({"mmuext": {"cmd": "pin_l2", "pfn": 20, "preempt_after": 1}})
    g.invalid({"mmuext": {"cmd": "pin_l2", "pfn": 20, "preempt_after": -3}})


def test_hypercalls_while_paused_for_migration_are_invalid(g):
    """After `migrate: suspend` the guest makes no hypercalls until restore; the rejected
    step rolls back completely."""
    g.ok({"migrate": "begin"})
    g.ok({"migrate": "suspend"})
    for step in ({"mmu_update": {"pfn": 3, "index": 40, "entry": 0}},
                 {"mmuext": {"cmd": "unpin", "pfn": 0}},
                 {"write": {"pfn": 40}},
                 {"memory": {"cmd": "decrease_reservation", "pfn": 40}},
                 {"migrate": "suspend"}, {"migrate": "round"}, {"migrate": "begin"}):
        g.invalid(step)
    g.ok({"migrate": "restore"})
    assert g.w.guest_host == "destination"


def test_invalid_input_names_the_field(g):
    """InvalidInput.field is a dotted path (docs/engine-api.md)."""
    err = g.invalid({"mmu_update": {"pfn": 3, "index": 600, "entry": 0}})
    assert err.field == "mmu_update.index"
    err = g.invalid({"mmuext": {"cmd": "pin_l2", "pfn": 64}})
    assert err.field == "mmuext.pfn"


def test_a_valid_step_after_invalid_ones_gets_the_next_seq(g):
    """Rejected steps leave no event behind."""
    g.invalid({"write": {"pfn": 64}})
    ev = g.ok({"mmu_update": {"pfn": 3, "index": 41, "entry": {"pfn": 41, "flags": RW}}})
    assert ev["seq"] == 1 and g.s.seq == 1
