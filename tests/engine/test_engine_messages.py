"""Every failed step says why: the Xen function that returned the error, the entry it was
looking at and the rule (the event's `message`, and `failure` beside it)."""

from __future__ import annotations

from typing import Any

import pytest
from engine_helpers import DOM0_MFN, FREE_MFN, NOT_RAM_MFN, RO, RW, scenario

from engine.session import Session

# PFN p has MFN 256 + p; PFN 0 L4 pinned, 1 L3, 2 L2, 3 L1 mapping 4..63 read-write.


def run(steps: list[dict[str, Any]], xen: str = "patched", **kw: Any) -> dict[str, Any]:
    """The last step's event; every earlier step must succeed."""
    s = Session.create(scenario(xen=xen, **kw))
    for step in steps[:-1]:
        assert s.apply(step)["rc"] == 0, step
    return s.apply(steps[-1])


def l1_at(pfn: int, index: int, target: int, flags: list[str]) -> dict[str, Any]:
    return {"mmu_update": {"pfn": pfn, "index": index, "entry": {"pfn": target, "flags": flags}}}


PINNED_L1_40 = [l1_at(3, 40, 40, RO), {"mmuext": {"cmd": "pin_l1", "pfn": 40}}]


def test_pin_l1_names_the_entry_the_function_and_the_rule() -> None:
    # PFN 41 maps PFN 40 writable, but PFN 40 is a pinned L1: no PGT_writable_page for it.
    ev = run([*PINNED_L1_40, l1_at(3, 41, 41, RO), l1_at(41, 0, 40, RW),
              {"mmuext": {"cmd": "pin_l1", "pfn": 41}}])
    assert ev["errno"] == "EBUSY"
    assert ev["message"] == ("pin_l1 PFN 41: -EBUSY: get_page_from_l1e(entry 0 -> PFN 40, rw) "
                             "could not take PGT_writable_page: PFN 40 is a pinned L1 "
                             "(1 type reference)")
    f = ev["failure"]
    assert (f["fn"], f["pfn"], f["index"], f["target_pfn"]) == ("get_page_from_l1e", 41, 0, 40)
    assert f["mfn"] == 256 + 41 and f["target"] == 256 + 40


def test_nested_validation_names_the_inner_entry_and_the_path() -> None:
    # pin_l2 of PFN 30 validates its entry 0 (L1 PFN 41), whose entry 0 is refused.
    ev = run([*PINNED_L1_40, l1_at(3, 41, 41, RO), l1_at(41, 0, 40, RW), l1_at(3, 30, 30, RO),
              l1_at(30, 0, 41, ["present", "rw", "user"]),
              {"mmuext": {"cmd": "pin_l2", "pfn": 30}}])
    assert ev["errno"] == "EBUSY"
    assert ev["message"].startswith("pin_l2 PFN 30: -EBUSY: get_page_from_l1e(PFN 41 entry 0 "
                                    "-> PFN 40, rw) could not take PGT_writable_page")
    assert ev["message"].endswith("(validating PFN 30 entry 0)")
    assert [(p["pfn"], p["index"]) for p in ev["failure"]["path"]] == [(41, 0), (30, 0)]


@pytest.mark.parametrize("level,fn", [(2, "get_page_from_l2e"), (3, "get_page_from_l3e"),
                                      (4, "get_page_from_l4e")])
def test_pin_of_each_upper_level_names_its_get_page_from_lne(level: int, fn: str) -> None:
    # PFN 30 holds one entry naming a data page (writable, not a table of level - 1).
    ev = run([l1_at(3, 30, 30, RO), l1_at(30, 0, 10, ["present", "user"]),
              {"mmuext": {"cmd": f"pin_l{level}", "pfn": 30}}])
    assert ev["errno"] == "EINVAL"
    assert ev["message"].startswith(f"pin_l{level} PFN 30: -EINVAL: {fn}(entry 0 -> PFN 10, "
                                    f"ro) Bad type: wanted PGT_l{level - 1}_page_table, but "
                                    "PFN 10 is writable")
    assert ev["failure"]["fn"] == fn and ev["failure"]["index"] == 0


def test_pin_of_a_pinned_table_and_unpin_of_an_unpinned_one() -> None:
    ev = run([{"mmuext": {"cmd": "pin_l4", "pfn": 0}}])
    assert ev["message"] == ("pin_l4 PFN 0: -EINVAL: do_mmuext_op(PFN 0) mfn already pinned: "
                             "PFN 0 is a pinned L4 (2 type references)")
    ev = run([{"mmuext": {"cmd": "unpin", "pfn": 10}}])
    assert ev["message"] == ("unpin PFN 10: -EINVAL: do_mmuext_op(PFN 10) mfn not pinned: "
                             "PFN 10 is writable (1 type reference)")


def test_pin_of_another_domains_frame() -> None:
    ev = run([{"mmuext": {"cmd": "pin_l1", "mfn": DOM0_MFN}}])
    assert ev["message"] == (f"pin_l1 MFN {DOM0_MFN}: -EINVAL: do_mmuext_op(MFN {DOM0_MFN}) "
                             f"get_page_from_gfn() failed: MFN {DOM0_MFN} is owned by dom0")


def test_mmu_update_failures() -> None:
    ev = run([{"mmu_update": {"pfn": 3, "index": 50, "entry": {"mfn": FREE_MFN,
                                                               "flags": RO}}}])
    assert ev["message"] == (f"mmu_update PFN 3[50]: -EBUSY: get_page_from_l1e(entry 50 -> "
                             f"MFN {FREE_MFN}, ro) could not take a reference: MFN {FREE_MFN} "
                             "is a free frame")
    ev = run([{"mmu_update": {"pfn": 3, "index": 50, "entry": {"mfn": NOT_RAM_MFN,
                                                               "flags": RO}}}])
    assert ev["errno"] == "EPERM" and "is not RAM" in ev["message"]
    ev = run([{"mmu_update": {"pfn": 0, "index": 256, "entry": 0}}])
    assert ev["message"].startswith("mmu_update PFN 0[256]: -EINVAL: mod_l4_entry(entry 256) "
                                    "L4 update in Xen-private area")
    ev = run([{"mmu_update": {"pfn": 3, "index": 50, "entry": {"pfn": 50,
                                                               "flags": ["present", "pse"]}}}])
    assert "mod_l1_entry(entry 50 -> PFN 50) Bad L1 flags: 0x80" in ev["message"]


def test_linear_page_table_refusal_gives_both_reasons() -> None:
    ev = run([{"mmu_update": {"pfn": 2, "index": 6, "entry": {"pfn": 2, "flags": RW}}}])
    assert ev["message"] == ("mmu_update PFN 2[6]: -EINVAL: get_page_from_l2e(entry 6 -> PFN 2, "
                             "rw) Bad type: wanted PGT_l1_page_table, but PFN 2 is a validated "
                             "L2 (1 type reference); nor is it a linear page table: a linear "
                             "entry must be read-only")


def test_new_baseptr_write_and_memory_failures() -> None:
    ev = run([{"mmuext": {"cmd": "new_baseptr", "pfn": 10}}])
    assert ev["message"] == ("new_baseptr PFN 10: -EINVAL: _get_page_type(PFN 10) Bad type: "
                             "wanted PGT_l4_page_table, but PFN 10 is writable "
                             "(1 type reference)")
    ev = run([{"write": {"pfn": 2}}])
    assert ev["message"] == ("write PFN 2: -EBUSY: get_page_from_l1e(PFN 2, rw) could not take "
                             "PGT_writable_page: PFN 2 is a validated L2 (1 type reference)")
    ev = run([{"memory": {"cmd": "decrease_reservation", "pfn": 60}},
              {"memory": {"cmd": "decrease_reservation", "pfn": 60}}])
    assert ev["message"] == ("decrease_reservation PFN 60: -EINVAL: guest_remove_page("
                             "INVALID_MFN) page number invalid: the PFN has no frame")
    ev = run([{"memory": {"cmd": "populate_physmap", "pfn": 5}}], pages=64,
             source={"frames": 320})
    assert ev["message"] == ("populate_physmap PFN 5: -ENOMEM: populate_physmap() the source "
                             "host has no free frame")


def test_preempted_pin_says_how_far_it_got() -> None:
    # L2 PFN 30 with two entries naming L1 PFN 3: the pin stops after the first.
    ev = run([l1_at(3, 30, 30, RO), l1_at(30, 0, 3, ["present", "user"]),
              l1_at(30, 1, 3, ["present", "user"]),
              {"mmuext": {"cmd": "pin_l2", "pfn": 30, "preempt_after": 1}}])
    assert ev["errno"] == "ERESTART"
    assert ev["message"].startswith("pin_l2 PFN 30: -ERESTART: promote_l2_table(PFN 30) "
                                    "preempted after 1 entries")


def test_migration_failure_names_the_libxenguest_function() -> None:
    # A de-validated L1 (reported L1TAB by unpatched Xen) whose entry names a frame the
    # guest gave back: normalise_pagetable() defers it while live, fails once paused
    # (toolstack pause).
    s = Session.create(scenario(xen="unpatched"))
    for step in [l1_at(3, 40, 40, RO), l1_at(40, 0, 41, RW),
                 {"mmuext": {"cmd": "pin_l1", "pfn": 40}},
                 {"mmuext": {"cmd": "unpin", "pfn": 40}},
                 {"mmu_update": {"pfn": 3, "index": 41, "entry": 0}},
                 {"memory": {"cmd": "decrease_reservation", "pfn": 41}}]:
        assert s.apply(step)["rc"] == 0, step
    ev = s.apply({"migrate": "all", "toolstack": "pause"})
    assert ev["result"] == "failed" and ev["errno"] == "ERANGE"
    assert ev["message"] == ("migrate all: -ERANGE: normalise_pagetable: pfn 40 (mfn 296): Bad "
                             "mfn for L1[0]: mfn 297 not in the pseudo-physical map")


def test_successful_steps_carry_no_message() -> None:
    ev = run([l1_at(3, 40, 40, RO)])
    assert ev["rc"] == 0 and ev["message"] is None and ev["failure"] is None


def test_run_verbose_prints_the_message(tmp_path: Any) -> None:
    import io

    from engine.runner import main

    doc = tmp_path / "pin.yaml"
    doc.write_text("name: pin\nsteps:\n  - mmuext: {cmd: pin_l4, pfn: 0}\n    expect: error\n")
    out = io.StringIO()
    assert main([str(doc), "--verbose"], out) == 0
    assert ("    why: pin_l4 PFN 0: -EINVAL: do_mmuext_op(PFN 0) mfn already pinned: PFN 0 is a "
            "pinned L4 (2 type references)\n") in out.getvalue()
