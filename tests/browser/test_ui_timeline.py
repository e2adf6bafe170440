"""The page in one viewport, the timeline (seek, links to a moment, forks), in Chromium."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Server, screenshot, wait_ready
from playwright.sync_api import expect
from test_ui import CASE1, page_state, snapshot_state

pytestmark = pytest.mark.browser


def snapshot_at(server: Server, session: str, seq: int) -> dict[str, Any]:
    return snapshot_state(server, session, seq)


def wait_timeline(page: Any) -> None:
    page.wait_for_selector("body[data-timeline=ready]", timeout=15000)


def case1_run_to_end(open_page: Any, server: Server) -> tuple[str, Any]:
    """Case 1 run to its end by the server, open in a page whose timeline is ready."""
    session = server.new_session(CASE1)
    server.api("POST", f"/api/sessions/{session}/run", {"count": "all"})
    page = open_page(session)
    wait_timeline(page)
    return session, page


def scroll(page: Any) -> list[int]:
    return page.evaluate("[window.scrollX, window.scrollY, document.scrollingElement.scrollTop]")


@pytest.mark.parametrize("size", [(1024, 768), (1440, 900)])
def test_twenty_steps_never_scroll_the_window(open_page: Any, server: Server,
                                              size: tuple[int, int]) -> None:
    page = open_page(server.new_session(CASE1))
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.get_by_test_id("anim-speed").fill("0")
    page.keyboard.press("Escape")
    before = scroll(page)
    for n in range(1, 21):
        page.keyboard.press("n")
        wait_ready(page, seq=n)
        assert scroll(page) == before, f"after step {n}"
    # the page fits the viewport: no window scrollbar at all
    assert page.evaluate("document.scrollingElement.scrollHeight <= window.innerHeight")
    # grid, inspector, step controls and the console are all within the viewport
    for testid in ("grid-guest", "grid-source", "inspector", "script-next", "console",
                   "mmu_update-send", "tl-range", "migration-state"):
        box = page.get_by_test_id(testid).bounding_box()
        if box is None:
            continue   # a grid of another view is hidden
        assert box["y"] >= 0 and box["y"] + min(box["height"], 40) <= size[1], testid
    # stepping back and forth does not scroll either
    for key in (",", ",", "Home", ".", "End"):
        page.keyboard.press(key)
    assert scroll(page) == before
    screenshot(page, f"timeline-{size[0]}x{size[1]}")


def test_seek_shows_the_state_the_server_had_then(open_page: Any, server: Server) -> None:
    session, page = case1_run_to_end(open_page, server)
    for seq in (7, 16, 0, 21, 15, 17, 3):
        page.evaluate("n => window.pvframes.seek(n)", seq)
        assert page_state(page) == snapshot_at(server, session, seq), seq
    # the controls: back, forward, Home, End, jump
    page.evaluate("window.pvframes.seek(10)")
    page.get_by_test_id("tl-back").click()
    assert page.evaluate("document.body.dataset.seq") == "9"
    page.keyboard.press(".")
    page.keyboard.press(".")
    assert page.evaluate("document.body.dataset.seq") == "11"
    page.keyboard.press("Home")
    assert page.evaluate("document.body.dataset.seq") == "0"
    page.get_by_test_id("tl-seq").fill("16")
    page.get_by_test_id("tl-seq").press("Enter")
    assert page.evaluate("document.body.dataset.past") == "true"
    assert page_state(page) == snapshot_at(server, session, 16)
    expect(page.get_by_test_id("migration-state")).to_have_attribute("data-state", "ok")
    # the migration is marked on the scrubber at its event
    mark = page.locator("[data-testid=tl-marks] .mark[data-seq='16']")
    expect(mark).to_contain_text("begin")
    # the history outlines the event that led here and greys what comes after
    expect(page.locator("[data-testid=history-item][data-seq='16']")).to_have_class(
        "ok viewed")
    assert page.locator("[data-testid=history-item].future").count() == 5
    # the inspector reads the frame as it was then: PFN 20 on the source, before its pin
    page.keyboard.press("End")
    page.evaluate("window.pvframes.seek(6)")
    page.get_by_test_id("view-guest").click()
    centre = page.evaluate("window.pvframes.cellCentre('guest', 20)")
    page.mouse.click(centre["x"], centre["y"])
    expect(page.get_by_test_id("inspector-title")).to_contain_text("on source — PFN 20")
    expect(page.get_by_test_id("inspector-type")).to_have_text("writable")
    page.keyboard.press(".")   # pin_l2 PFN 20
    expect(page.get_by_test_id("inspector-type")).to_have_text("l2")
    expect(page.get_by_test_id("inspector-pinned")).to_have_text("yes")


def test_a_link_opens_a_moment(open_page: Any, server: Server) -> None:
    session = server.new_session(CASE1)
    server.api("POST", f"/api/sessions/{session}/run", {"count": "all"})
    page = open_page()
    page.goto(f"{server.base}/?session={session}&seq=14")
    wait_timeline(page)
    page.wait_for_function("() => document.body.dataset.seq === '14'")
    assert page_state(page) == snapshot_at(server, session, 14)
    assert page.evaluate("window.scrollY") == 0
    href = page.get_by_test_id("tl-link").get_attribute("href")
    assert href.endswith(f"session={session}&seq=14")
    # n in the past plays the next event again rather than changing the session
    page.keyboard.press("n")
    page.wait_for_function("() => document.body.dataset.seq === '15'")
    assert server.api("GET", f"/api/sessions/{session}")["seq"] == 21


def test_a_step_in_the_past_forks(open_page: Any, server: Server) -> None:
    session, page = case1_run_to_end(open_page, server)
    page.evaluate("window.pvframes.seek(6)")
    page.get_by_test_id("console-tab-write").click()
    page.get_by_test_id("write-page").fill("9")
    page.get_by_test_id("write-send").click()
    page.wait_for_function("s => document.body.dataset.session !== s", arg=session)
    wait_ready(page, seq=7)
    fork = page.evaluate("document.body.dataset.session")
    expect(page.get_by_test_id("tl-parent")).to_have_text(f"{session} at seq 6")
    assert page.get_by_test_id("console-result").get_attribute("data-kind") == "ok"
    # the original is intact and knows its fork
    original = server.api("GET", f"/api/sessions/{session}")
    assert original["seq"] == 21 and original["forks"] == [{"session": fork, "seq": 6}]
    assert page_state(page) == snapshot_state(server, fork)
    screenshot(page, "fork")


def test_flipping_the_variant_keeps_the_position(open_page: Any, server: Server) -> None:
    session, page = case1_run_to_end(open_page, server)
    page.evaluate("window.pvframes.seek(15)")
    page.get_by_test_id("variant-patched").check()
    page.wait_for_function("s => document.body.dataset.session !== s", arg=session)
    wait_timeline(page)
    page.wait_for_function("() => document.body.dataset.seq === '15'")
    other = page.evaluate("document.body.dataset.session")
    assert page.evaluate("document.body.dataset.head") == "21"
    assert page_state(page) == snapshot_at(server, other, 15)
    assert "patched" in page.get_by_test_id("guest-where").text_content()
