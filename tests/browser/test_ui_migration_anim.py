"""A migration you can watch: the batch flies (pixels on the overlay), panels follow the
frame being played, badges, page-table-shaped marks and the source's ghost afterwards."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Server, screenshot, wait_ready
from playwright.sync_api import expect
from test_ui import CASE1, CASE2, guest_frame

pytestmark = pytest.mark.browser

PAINTED = """() => { const c = document.querySelector('[data-testid=flow-overlay]');
  if (!c.width || !c.height) return 0;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n += 1; return n; }"""


def test_the_batch_flies_and_panels_follow_the_frame(open_page: Any, server: Server) -> None:
    session = server.new_session(CASE1)
    server.api("POST", f"/api/sessions/{session}/run", {"count": 15})
    page = open_page(session)
    page.wait_for_selector("body[data-timeline=ready]")
    page.get_by_test_id("anim-speed").fill("2")   # 0.75 frames a second: a batch takes 4 s
    page.keyboard.press("Escape")
    page.keyboard.press("n")                      # migrate all
    wait_ready(page, seq=16)
    expect(page.get_by_test_id("anim-ticker")).to_contain_text("write_batch", timeout=15000)
    # the dots are drawn on the overlay while the batch plays
    page.wait_for_function(f"() => ({PAINTED})() > 50", timeout=5000)
    assert int(page.get_by_test_id("flow-overlay").get_attribute("data-painted")) == 64
    # the panel shows the migration as of this frame: under way, not completed
    panel = page.get_by_test_id("migration")
    assert panel.get_attribute("data-as-of") == "animation"
    assert page.get_by_test_id("migration-state").get_attribute("data-state") == "in_progress"
    screenshot(page, "migration-batch")
    page.keyboard.press("s")
    assert panel.get_attribute("data-as-of") == "state"
    assert page.get_by_test_id("migration-state").get_attribute("data-state") == "ok"
    # afterwards: PFN 20 and 21 were normalised and localised (unpatched Xen) ...
    for pfn in (20, 21):
        assert page.evaluate("p => window.pvframes.cellMarks('guest', p)", pfn)["badge"] == \
            "localised"
    assert page.evaluate("window.pvframes.cellMarks('guest', 30)")["badge"] is None
    # ... and the source keeps a ghost of where each PFN was
    src = server.api("GET", f"/api/sessions/{session}?seq=15")["guest"]["p2m"]
    marks = page.evaluate(f"window.pvframes.cellMarks('source', {src[21]})")
    assert marks["ghost"] == 21
    # the script shows the migrate step as its phases and rounds; one replays from there
    phases = page.locator("[data-testid=script-step][data-index='15'] [data-testid=script-phase]")
    texts = phases.all_text_contents()
    assert texts[0].startswith("▸ begin: 64 sent, 6 normalised")
    assert any("restore" in t for t in texts)
    phases.filter(has_text="restore").click()
    expect(page.get_by_test_id("anim-ticker")).to_contain_text("(replay)")
    page.keyboard.press("s")


def test_a_raw_page_table_is_marked(open_page: Any, server: Server) -> None:
    session = server.new_session(CASE2)
    server.api("POST", f"/api/sessions/{session}/run", {"count": "all"})
    page = open_page(session)
    page.wait_for_selector("body[data-timeline=ready]")
    page.wait_for_function("() => Number(document.body.dataset.shapes) > 0")
    # the L2 written before the migration: writable, travelled raw, entries still present
    assert guest_frame(page, 20)["type"] != "l2"
    marks = page.evaluate("window.pvframes.cellMarks('guest', 20)")
    assert marks == {"badge": "raw", "ptShaped": True, "ghost": None}
    page.get_by_test_id("view-guest").click()
    screenshot(page, "case2-badges")
