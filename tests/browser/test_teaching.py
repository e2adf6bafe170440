"""Teaching and review in a real browser: a failed step explains itself, a tour asks and
reveals, present mode, script and sandbox, export then `pvframes run`, accessibility."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, Server, screenshot, wait_ready
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

RO = ["present"]
RW = ["present", "rw"]


def l1_at(pfn: int, index: int, target: int, flags: list[str]) -> dict[str, Any]:
    return {"mmu_update": {"pfn": pfn, "index": index, "entry": {"pfn": target, "flags": flags}}}


def sandbox(server: Server, steps: list[dict[str, Any]]) -> str:
    session = server.api("POST", "/api/sessions", {"scenario": {"name": "sandbox"}})["id"]
    for step in steps:
        assert server.api("POST", f"/api/sessions/{session}/steps", step)["rc"] == 0, step
    return session


def press_next(page: Any) -> int:
    seq = int(page.evaluate("document.body.dataset.seq"))
    page.keyboard.press("n")
    wait_ready(page, seq=seq + 1)
    return seq + 1


def test_a_failed_pin_names_the_function_and_the_entry(open_page: Any, server: Server) -> None:
    # PFN 40: a pinned L1. PFN 41: an L1 whose entry 0 maps PFN 40 writable.
    session = sandbox(server, [l1_at(3, 40, 40, RO), {"mmuext": {"cmd": "pin_l1", "pfn": 40}},
                               l1_at(3, 41, 41, RO), l1_at(41, 0, 40, RW)])
    page = open_page(session)
    page.get_by_test_id("console-tab-mmuext").click()
    page.get_by_test_id("mmuext-cmd").select_option("pin_l1")
    page.get_by_test_id("mmuext-page").fill("41")
    page.get_by_test_id("mmuext-send").click()
    wait_ready(page, seq=5)
    why = ("pin_l1 PFN 41: -EBUSY: get_page_from_l1e(entry 0 -> PFN 40, rw) could not take "
           "PGT_writable_page: PFN 40 is a pinned L1")
    expect(page.get_by_test_id("console-result")).to_contain_text(why)
    expect(page.get_by_test_id("history-message").last).to_contain_text(why)
    # The failing table is opened, its entry 0 marked; both frames ringed on the grid.
    expect(page.get_by_test_id("inspector-title")).to_contain_text("PFN 41")
    expect(page.locator("[data-testid=entry-row][data-marked=true]")).to_have_attribute(
        "data-index", "0")
    rings = page.evaluate("[...window.pvframes.ui.highlights.keys()]")
    assert rings == [f"source:{256 + 41}", f"source:{256 + 40}"]
    # The history line links the function to Xen 4.15 and 4.16.
    page.locator("[data-testid=history-item]").last.locator("summary").click()
    links = page.locator("[data-testid=history-item]").last.get_by_test_id("code-link")
    expect(links.first).to_have_attribute(
        "href", "https://github.com/xen-project/xen/blob/RELEASE-4.15.0/xen/arch/x86/mm.c#L855")
    screenshot(page, "failed-pin")


def test_a_tour_asks_then_reveals(open_page: Any, server: Server) -> None:
    session = server.new_session("tour-case1", "patched")
    page = open_page(session)
    tour = page.get_by_test_id("tour")
    expect(tour).to_be_visible()
    press_next(page)   # the first note
    expect(page.get_by_test_id("tour-note")).to_contain_text("PFN 0 is the L4")
    seq = press_next(page)   # a note naming PFN 3[20] and PFN 3[21]: the entries are marked
    assert page.evaluate("window.pvframes.ui.highlights.size") >= 3
    expect(page.get_by_test_id("inspector-title")).to_contain_text("PFN 3")
    while not page.get_by_test_id("tour-ask").is_visible():
        seq = press_next(page)
    # A question is open: Next waits for an answer.
    page.keyboard.press("n")
    expect(page.get_by_test_id("tour-ask")).to_be_visible()
    assert int(page.evaluate("document.body.dataset.seq")) == seq
    screenshot(page, "tour-ask")
    page.get_by_test_id("tour-choice").nth(1).click()   # -EINVAL: wrong
    wait_ready(page, seq=seq + 1)
    expect(page.get_by_test_id("tour-wait")).to_contain_text("-EINVAL")
    press_next(page)   # the pin answers it
    reveal = page.get_by_test_id("tour-reveal")
    expect(reveal).to_have_attribute("data-right", "false")
    expect(reveal).to_contain_text("You said -EINVAL; Xen: ok.")
    expect(reveal).to_contain_text("_get_page_type() may make it an L2")
    page.set_viewport_size({"width": 1024, "height": 768})
    screenshot(page, "tour-reveal-1024")


def test_a_check_question_reveals_the_engines_answer(open_page: Any, server: Server) -> None:
    session = server.new_session("tour-case1", "unpatched")
    page = open_page(session)
    # Run to the pfinfo question (script index 13) through the REST API, then load.
    server.api("POST", f"/api/sessions/{session}/run", {"count": 13})
    page.reload()
    wait_ready(page, seq=13)
    expect(page.get_by_test_id("tour-ask")).to_contain_text("getpageframeinfo3")
    page.get_by_test_id("tour-choice").nth(0).click()   # L2TAB
    expect(page.get_by_test_id("tour-reveal")).to_have_attribute("data-right", "true")
    expect(page.get_by_test_id("tour-reveal")).to_contain_text("Xen: L2TAB")
    # The patch panel lights the branch PFN 20 takes.
    page.evaluate("() => { const f = window.pvframes.guestFrame(20);"
                  " window.pvframes.ui.select(f.host, f.mfn, 20); }")
    page.get_by_test_id("patch-panel").locator("summary").click()
    expect(page.get_by_test_id("patch-verdict")).to_contain_text(
        "PFN 20: unpatched (≤ 4.15) L2TAB, patched (≥ 4.16) NOTAB")
    expect(page.locator("[data-line=notab]")).to_have_attribute("data-lit", "true")
    expect(page.locator("[data-line=lpintab]")).to_have_attribute("data-lit", "false")
    screenshot(page, "patch-panel")


def test_present_mode_fills_the_screen_and_takes_a_clicker(browser: Any,
                                                           server: Server) -> None:
    session = server.new_session("tour-wrong-frame", "unpatched")
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    errors: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.page_url(session))
    wait_ready(page, seq=0)
    normal = int(page.get_by_test_id("grid-guest").get_attribute("data-cell-size"))
    page.keyboard.press("Shift+P")
    expect(page.locator("body.present")).to_have_count(1)
    assert "present=1" in page.url
    expect(page.locator(".topbar")).to_be_hidden()
    expect(page.get_by_test_id("console")).to_be_hidden()
    expect(page.get_by_test_id("present-bar")).to_be_visible()
    # Larger cells than the normal layout allows (it caps them at 64 px).
    page.wait_for_function(
        "n => Number(document.querySelector('[data-testid=grid-guest]').dataset.cellSize) > n",
        arg=normal + 10)
    page.keyboard.press("PageDown")   # a clicker's "next"
    wait_ready(page, seq=1)
    page.keyboard.press("ArrowRight")
    wait_ready(page, seq=2)
    expect(page.get_by_test_id("present-counter")).to_have_text("step 2 / 18")
    page.keyboard.press("PageUp")   # back: the timeline shows the moment before
    page.wait_for_function("() => window.pvframes.store.seq === 1")
    page.keyboard.press("PageDown")   # forward again, replaying what happened
    page.wait_for_function("() => window.pvframes.store.seq === 2")
    # At 1024x768 the whole grid is on screen, above the controls.
    page.set_viewport_size({"width": 1024, "height": 768})
    page.wait_for_function("() => { const g = document.querySelector('[data-testid=grid-guest]')"
                           ".getBoundingClientRect(); const bar = document.querySelector("
                           "'[data-testid=present-bar]').getBoundingClientRect();"
                           " return g.bottom <= bar.top && g.height > 300; }")
    assert page.evaluate("window.scrollY") == 0
    screenshot(page, "present-1024")
    page.keyboard.press("Escape")
    expect(page.locator("body.present")).to_have_count(0)
    context.close()
    assert not errors, errors


def test_present_mode_from_the_url(open_page: Any, server: Server, browser: Any) -> None:
    session = server.new_session("tour-case2", "patched")
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    page.goto(f"{server.base}/?session={session}&present=1")
    wait_ready(page, seq=0)
    expect(page.locator("body.present")).to_have_count(1)
    expect(page.get_by_test_id("tour")).to_be_visible()
    context.close()


def test_export_then_pvframes_run_and_import(open_page: Any, server: Server,
                                             tmp_path: Path) -> None:
    session = server.new_session("tour-case1", "patched")
    page = open_page(session)
    page.get_by_test_id("script-all").click()   # run to end: asks are answered by the key
    wait_ready(page, seq=22)
    with page.expect_download() as download:
        page.get_by_test_id("export").click()
    path = tmp_path / "export.yaml"
    download.value.save_as(path)
    text = path.read_text()
    assert "unpatched: ok" in text   # the {patched, unpatched} pairs are kept
    run = subprocess.run([sys.executable, "-m", "webapp", "run", str(path), "--xen", "both"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip().endswith("2 passed, 0 failed")
    # Import the same file: a new session with its script, opened where it was exported
    # (its position: the end, seq 22).
    page.get_by_test_id("import-file").set_input_files(str(path))
    page.wait_for_function("s => document.body.dataset.session !== s", arg=session)
    wait_ready(page, seq=22)
    assert page.evaluate("window.pvframes.store.script.length") == 22


def test_off_script_steps_are_flagged_and_resync(open_page: Any, server: Server) -> None:
    session = server.new_session("case1-devalidated-l2", "unpatched")
    page = open_page(session)
    press_next(page)
    press_next(page)
    page.get_by_test_id("migrate-all").click()   # by hand: the script did not ask for it
    wait_ready(page, seq=3)
    banner = page.get_by_test_id("off-script")
    expect(banner).to_be_visible()
    press_next(page)   # the script runs on, but its step is marked
    expect(page.locator("[data-testid=script-step][data-index='2']")).to_have_attribute(
        "data-off-script", "true")
    expect(page.locator("[data-testid=script-step][data-index='1']")).to_have_attribute(
        "data-off-script", "false")
    screenshot(page, "off-script")
    page.get_by_test_id("resync").click()
    page.wait_for_function("s => document.body.dataset.session !== s", arg=session)
    wait_ready(page, seq=3)
    expect(banner).to_be_hidden()
    assert page.evaluate("window.pvframes.store.cursor") == 3
    assert page.evaluate("window.pvframes.store.migration.state") == "not_started"


def test_a_blank_sandbox_of_a_chosen_size(open_page: Any) -> None:
    page = open_page()
    page.get_by_test_id("sandbox-pages").fill("16")
    page.get_by_test_id("sandbox-new").click()
    page.wait_for_function("() => window.pvframes.store.guest.pages === 16")
    wait_ready(page, seq=0)
    assert page.evaluate("window.pvframes.store.script.length") == 0
    assert page.get_by_test_id("grid-guest").get_attribute("data-cells") == "16"
    # the scenario menu names this session, not an unrelated catalogue entry
    chosen = page.eval_on_selector("[data-testid=scenario-select]",
                                   "s => s.options[s.selectedIndex].textContent")
    assert chosen.startswith("This session:")


def test_keyboard_and_text_alternatives(open_page: Any, server: Server) -> None:
    session = server.new_session("case1-devalidated-l2", "unpatched")
    page = open_page(session)
    tabs = page.locator("[role=tablist]").first.locator("[role=tab]")
    assert tabs.count() == 4
    tabs.nth(0).focus()
    page.keyboard.press("ArrowRight")
    expect(tabs.nth(1)).to_be_focused()
    expect(tabs.nth(1)).to_have_attribute("aria-selected", "true")
    page.keyboard.press("ArrowLeft")
    # The kernel's L1 (PFN 3), its entries reached from the keyboard.
    page.evaluate("() => { const f = window.pvframes.guestFrame(3);"
                  " window.pvframes.ui.select(f.host, f.mfn, 3); }")
    row = page.locator("[data-testid=entry-row][data-index='10']")
    row.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("mmu_update-index")).to_have_value("10")
    table = page.get_by_test_id("grid-table")
    table.locator("summary").click()
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(8)   # PFNs 0..7: four on each side, clipped at 0
    expect(table.locator("tr.selected td").first).to_have_text("3")
    for key in ("ring-selected", "ring-named", "arrow-stale", "p2m-link", "band", "dot-raw"):
        expect(page.get_by_test_id(f"legend-{key}")).to_have_count(1)
