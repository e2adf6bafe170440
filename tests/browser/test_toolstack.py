"""The tool stack in the browser: the lost-page example migrated with xl (from the
migration panel) shows the loss on the destination; with pause (from the console) the
migration aborts."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Server, screenshot, wait_ready
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

EXAMPLE = "devalidated-target-ballooned"
BEFORE_MIGRATION = 12   # the script's steps up to its first migration
LOST_PFN = 40
LOST_RGB = [0xC0, 0x00, 0x1A]   # types.js LOST_COLOUR


def ready_to_migrate(open_page: Any, server: Server) -> Any:
    session = server.new_session(EXAMPLE, "unpatched")
    server.api("POST", f"/api/sessions/{session}/run", {"count": BEFORE_MIGRATION})
    page = open_page(session)
    wait_ready(page, seq=BEFORE_MIGRATION)
    return page


def pixel_on_cross(page: Any, mode: str, index: int) -> list[int]:
    """The colour a quarter of the way along the cell's diagonal, where the lost mark's
    cross runs (clear of the letter in the middle)."""
    return page.evaluate("""([mode, i]) => {
      const c = window.pvframes.cellCentre(mode, i);
      const canvas = document.querySelector(`[data-testid=grid-${mode}]`);
      const size = Number(canvas.dataset.cellSize);
      const box = canvas.getBoundingClientRect();
      const dpr = window.devicePixelRatio || 1;
      const x = Math.round((c.x - size / 4 - box.left) * dpr);
      const y = Math.round((c.y - size / 4 - box.top) * dpr);
      return [...canvas.getContext('2d').getImageData(x, y, 1, 1).data.slice(0, 3)];
    }""", [mode, index])


def test_xl_loses_the_page_table_and_the_destination_shows_it(open_page: Any,
                                                              server: Server) -> None:
    page = ready_to_migrate(open_page, server)
    page.get_by_test_id("migrate-toolstack").select_option("xl")
    page.get_by_test_id("migrate-all").click()
    wait_ready(page, seq=BEFORE_MIGRATION + 1)
    page.get_by_test_id("anim-skip").click()
    state = page.get_by_test_id("migration-state")
    expect(state).to_have_attribute("data-state", "ok")
    expect(state).to_have_attribute("data-lost", str(LOST_PFN))
    assert f"Migration succeeded; the guest lost PFN {LOST_PFN}" in state.text_content()
    result = page.get_by_test_id("console-result")
    assert f"the guest lost PFN {LOST_PFN}" in result.text_content()
    assert result.get_attribute("data-kind") == "error"
    # the round table's lost column: one page in the final pass (round 3), none elsewhere
    rows = page.locator("[data-testid=rounds] tbody tr")
    lost = [rows.nth(i).locator("td").last.text_content() for i in range(rows.count())]
    assert lost == ["0", "0", "1", "0"]
    # the destination: PFN 40 has only the empty frame localising the kernel's L1 gave it
    mfn = page.evaluate(f"window.pvframes.store.hosts.destination.p2m[{LOST_PFN}]")
    frame = page.evaluate(f"window.pvframes.frame('destination', {mfn})")
    assert (frame["pfn"], frame["lost"], frame["type"]) == (LOST_PFN, True, "none")
    assert page.evaluate("window.pvframes.frame('destination', "
                         "window.pvframes.store.hosts.destination.p2m[41 + 1])")["lost"] is False
    screenshot(page, "lost-page-xl")
    assert pixel_on_cross(page, "destination", mfn) == LOST_RGB
    assert page.get_by_test_id("legend-lost").is_visible()
    assert page.get_by_test_id("legend-lost-none").is_visible()
    page.get_by_test_id("view-guest").click()
    assert pixel_on_cross(page, "guest", LOST_PFN) == LOST_RGB
    assert pixel_on_cross(page, "guest", LOST_PFN + 2) != LOST_RGB
    # the inspector says so too
    at = page.evaluate(f"window.pvframes.cellCentre('guest', {LOST_PFN})")
    page.mouse.click(at["x"], at["y"])
    expect(page.get_by_test_id("inspector-title")).to_contain_text(f"PFN {LOST_PFN}")
    expect(page.get_by_test_id("inspector-explain")).to_contain_text("LOST by the migration")


def test_pause_aborts_the_migration(open_page: Any, server: Server) -> None:
    page = ready_to_migrate(open_page, server)
    page.get_by_test_id("console-tab-migrate").click()
    page.get_by_test_id("migrate-phase").select_option("all")
    page.get_by_test_id("migrate-form-toolstack").select_option("pause")
    page.get_by_test_id("migrate-send").click()
    wait_ready(page, seq=BEFORE_MIGRATION + 1)
    page.get_by_test_id("anim-skip").click()   # the panel follows the animation: its end
    result = page.get_by_test_id("console-result")
    expect(result).to_have_attribute("data-kind", "error")
    assert "(tool stack pause)" in result.text_content()
    assert "ERANGE" in result.text_content()
    state = page.get_by_test_id("migration-state")
    expect(state).to_have_attribute("data-state", "failed")
    assert "FAILED (tool stack pause)" in state.text_content()
    assert "Bad mfn for L1[0]" in state.text_content()
    assert "Guest runs on the source host." in state.text_content()
    assert page.evaluate(f"window.pvframes.guestFrame({LOST_PFN})")["type"] == "l1"
    screenshot(page, "lost-page-pause")
