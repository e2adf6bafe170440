"""Linear (recursive) page-table entries: define_get_linear_pagetable(),
inc_linear_entries()/inc_linear_uses(), put_page_from_lNe() (xen/arch/x86/mm.c)."""

from __future__ import annotations

import pytest
from engine_helpers import RO, RW, UPPER, assert_counts_equal, counts


@pytest.mark.parametrize("pfn", [0, 1, 2], ids=["l4", "l3", "l2"])
def test_read_only_self_entry_is_accepted_without_references(g, pfn):
    """get_lN_linear_pagetable(): an entry naming its own table is accepted ("only need to
    increment the reference counts ... if it is mapped by a different root table")."""
    before = counts(g.w)
    g.ok({"mmu_update": {"pfn": pfn, "index": 9, "entry": {"pfn": pfn, "flags": RO}}})
    assert_counts_equal(before, counts(g.w), "self entry")
    assert g.frame(pfn)["linear_pt_count"] == 0


@pytest.mark.parametrize("pfn", [0, 1, 2], ids=["l4", "l3", "l2"])
def test_writable_self_entry_is_einval(g, pfn):
    """get_lN_linear_pagetable(): "Attempt to create linear p.t. with write perms"."""
    g.fails({"mmu_update": {"pfn": pfn, "index": 9, "entry": {"pfn": pfn, "flags": RW}}},
            "EINVAL")
    assert g.entry(pfn, 9) == 0


def test_self_entry_cannot_be_flipped_to_writable(g):
    """XSA-182 (XTF test-xsa-182): _PAGE_RW is not in FASTPATH_FLAG_WHITELIST, so RO -> RW
    of a recursive L4 entry is re-checked and refused with -EINVAL."""
    g.ok({"mmu_update": {"pfn": 0, "index": 9, "entry": {"pfn": 0, "flags": RO}}})
    old = g.entry(0, 9)
    g.fails({"mmu_update": {"pfn": 0, "index": 9, "entry": {"pfn": 0, "flags": RW}}},
            "EINVAL")
    assert g.entry(0, 9) == old


def test_self_entry_accessed_flag_change_takes_the_fast_path(g):
    """mod_l4_entry(): accessed is whitelisted; the entry stays reference-free."""
    g.ok({"mmu_update": {"pfn": 0, "index": 9, "entry": {"pfn": 0, "flags": RO}}})
    before = counts(g.w)
    g.ok({"mmu_update": {"pfn": 0, "index": 9,
                         "entry": {"pfn": 0, "flags": ["present", "accessed"]}}})
    assert_counts_equal(before, counts(g.w), "fast path")


def test_clearing_a_self_entry_drops_nothing(g):
    """put_page_from_l4e(): mfn_eq(l4e_get_mfn(l4e), l4mfn) returns 1 at once."""
    g.ok({"mmu_update": {"pfn": 0, "index": 9, "entry": {"pfn": 0, "flags": RO}}})
    before = counts(g.w)
    g.ok({"mmu_update": {"pfn": 0, "index": 9, "entry": 0}})
    assert_counts_equal(before, counts(g.w), "clear self entry")


def test_pinning_an_l2_with_a_self_entry_succeeds(g):
    """promote_l2_table(): get_page_from_l2e() of the self entry fails the l1 type with
    -EINVAL, then the linear check accepts it with no reference."""
    g.build_l2_over_l1()
    g.ok({"mmu_update": {"pfn": 20, "index": 1, "entry": {"pfn": 20, "flags": RO}}})
    g.ok({"mmuext": {"cmd": "pin_l2", "pfn": 20}})
    assert g.frame(20)["type_count"] == 1  # the pin only


def _l2_with_linear_entry_to_kernel_l2(g, flags):
    g.build_l2_over_l1()
    g.ok({"mmu_update": {"pfn": 20, "index": 1, "entry": {"pfn": 2, "flags": flags}}})


def test_read_only_linear_entry_to_another_validated_l2_takes_general_and_type_ref(g):
    """get_l2_linear_pagetable(), other table: get_page_from_mfn() (general ref),
    inc_linear_entries(ptpg), inc_linear_uses(page), type count + 1 on the validated
    same-level table."""
    _l2_with_linear_entry_to_kernel_l2(g, RO)
    b2 = g.frame(2)
    g.ok({"mmuext": {"cmd": "pin_l2", "pfn": 20}})
    f2 = g.frame(2)
    assert (f2["count"], f2["type_count"]) == (b2["count"] + 1, b2["type_count"] + 1)
    assert f2["linear_pt_count"] == -1
    assert g.frame(20)["linear_pt_count"] == 1


def test_linear_entry_references_go_when_the_table_is_devalidated(g):
    """demote_l2_table() -> put_page_from_l2e() -> _put_page_type(ptpg): same type as
    the page table: dec_linear_uses()/dec_linear_entries(); general+type ref dropped."""
    _l2_with_linear_entry_to_kernel_l2(g, RO)
    b2 = g.frame(2)
    g.ok({"mmuext": {"cmd": "pin_l2", "pfn": 20}})
    g.ok({"mmuext": {"cmd": "unpin", "pfn": 20}})
    f2 = g.frame(2)
    assert (f2["count"], f2["type_count"], f2["linear_pt_count"]) == \
        (b2["count"], b2["type_count"], 0)


def test_writable_linear_entry_to_another_l2_fails_validation(g):
    """get_l2_linear_pagetable(): _PAGE_RW: refused; promote_l2_table() fails at slot 1,
    so the page ends de-validated with its references given back."""
    _l2_with_linear_entry_to_kernel_l2(g, UPPER)
    g.fails({"mmuext": {"cmd": "pin_l2", "pfn": 20}}, "EINVAL")
    assert (g.frame(20)["type"], g.frame(20)["type_count"]) == ("l2", 0)


def test_linear_entry_via_mmu_update_in_a_validated_l2(g):
    """mod_l2_entry() -> get_page_from_l2e(): the same linear rule applies to updates."""
    g.build_l2_over_l1()
    g.ok({"mmuext": {"cmd": "pin_l2", "pfn": 20}})
    b2 = g.frame(2)
    g.ok({"mmu_update": {"pfn": 20, "index": 1, "entry": {"pfn": 2, "flags": RO}}})
    assert g.frame(2)["type_count"] == b2["type_count"] + 1
    g.fails({"mmu_update": {"pfn": 20, "index": 2, "entry": {"pfn": 2, "flags": UPPER}}},
            "EINVAL")
    g.ok({"mmu_update": {"pfn": 20, "index": 1, "entry": 0}})
    assert (g.frame(2)["type_count"], g.frame(2)["linear_pt_count"]) == (b2["type_count"], 0)


def test_linear_entry_from_a_table_used_linearly_is_refused(g):
    """inc_linear_entries(ptpg) fails when ptpg is itself used as a linear table
    (linear_pt_count < 0): the kernel L2, linearly mapped by L2 20, may not get a linear
    entry of its own to L2 20."""
    _l2_with_linear_entry_to_kernel_l2(g, RO)
    g.ok({"mmuext": {"cmd": "pin_l2", "pfn": 20}})
    g.fails({"mmu_update": {"pfn": 2, "index": 9, "entry": {"pfn": 20, "flags": RO}}},
            "EINVAL")


def test_linear_l4_entry_to_a_second_validated_l4(g):
    """get_l4_linear_pagetable(): another validated L4 may be mapped read-only."""
    g.make_ro(20)
    g.ok({"mmu_update": {"pfn": 20, "index": 0, "entry": {"pfn": 1, "flags": UPPER}}})
    g.ok({"mmuext": {"cmd": "pin_l4", "pfn": 20}})
    b20 = g.frame(20)
    g.ok({"mmu_update": {"pfn": 0, "index": 9, "entry": {"pfn": 20, "flags": RO}}})
    assert g.frame(20)["type_count"] == b20["type_count"] + 1
    assert g.frame(20)["count"] == b20["count"] + 1
