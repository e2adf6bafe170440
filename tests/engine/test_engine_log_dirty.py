"""Log-dirty marking by hypercalls while a live migration runs (paging_mark_dirty() in
do_mmuext_op(), validate_page(), devalidate_page(); writes through mmu_update and stores).
`migrate: begin` turns log-dirty mode on; `hosts.source.dirty` lists the dirty PFNs."""

from __future__ import annotations

import pytest
from engine_helpers import DOM0_MFN, RO, UPPER


def _dirty(g) -> set[int]:
    return set(g.s.snapshot()["hosts"]["source"]["dirty"])


@pytest.fixture
def live(g):
    g.build_l2_over_l1()
    g.ok({"migrate": "begin"})
    assert _dirty(g) == set()
    return g


def test_pin_dirties_the_pinned_page_and_the_tables_it_validates(live):
    """"A page is dirtied when its pin status is set"; validate_page(): "A page table is
    dirtied when its type count becomes non-zero"."""
    live.ok({"mmuext": {"cmd": "pin_l2", "pfn": 20}})
    assert _dirty(live) == {20, 21}


def test_unpin_dirties_the_page_and_what_it_devalidates(live):
    """"A page is dirtied when its pin status is cleared"; devalidate_page() in paging
    mode: "A page table is dirtied when its type count becomes zero"."""
    live.ok({"mmuext": {"cmd": "pin_l2", "pfn": 20}})
    live.ok({"migrate": "round"})
    assert _dirty(live) == set()
    live.ok({"mmuext": {"cmd": "unpin", "pfn": 20}})
    assert _dirty(live) == {20, 21}


def test_already_pinned_dirties_nothing(live):
    """do_mmuext_op(): the "already pinned" path goes to pin_drop before
    paging_mark_dirty(); no validation runs."""
    live.ok({"mmuext": {"cmd": "pin_l2", "pfn": 20}})
    live.ok({"migrate": "round"})
    live.fails({"mmuext": {"cmd": "pin_l2", "pfn": 20}}, "EINVAL")
    assert _dirty(live) == set()


def test_mmu_update_dirties_the_table_written(live):
    """A successful MMU_NORMAL_PT_UPDATE writes the table page."""
    live.ok({"mmu_update": {"pfn": 3, "index": 40, "entry": {"pfn": 40, "flags": RO}}})
    assert _dirty(live) == {3}


def test_failed_mmu_update_dirties_nothing(live):
    """get_page_from_l1e() fails before UPDATE_ENTRY(): nothing is written."""
    live.fails({"mmu_update": {"pfn": 3, "index": 100,
                               "entry": {"mfn": DOM0_MFN, "flags": RO}}}, "EBUSY")
    assert _dirty(live) == set()


def test_store_dirties_the_page(live):
    """A guest store through a writable mapping dirties the page."""
    live.ok({"write": {"pfn": 40}})
    assert _dirty(live) == {40}


def test_failed_validation_still_dirties_the_page(live):
    """validate_page() marks the page dirty before promote_lN_table() runs, success or
    not."""
    live.ok({"mmu_update": {"pfn": 20, "index": 0, "entry": {"mfn": DOM0_MFN,
                                                             "flags": UPPER}}})
    live.ok({"migrate": "round"})
    live.fails({"mmuext": {"cmd": "pin_l2", "pfn": 20}}, "EINVAL")
    assert _dirty(live) == {20}
