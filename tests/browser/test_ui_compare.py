"""Patched beside unpatched (and Case 1 beside Case 2): two panes, one timeline, the
divergence list `pvframes run --xen both` prints, what differs outlined in both."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from conftest import REPO, Server, screenshot
from playwright.sync_api import expect
from test_ui import CASE1, CASE2, load_scenario, page_state, snapshot_state

pytestmark = pytest.mark.browser


def run_both(name: str) -> list[str]:
    """The divergence lines of `pvframes run FILE --xen both --json`."""
    path = REPO.parent / "shared" / "scenarios" / f"{name}.yaml"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-m", "webapp", "run", str(path), "--xen", "both",
                          "--json"], capture_output=True, text=True, env=env, cwd=REPO,
                         check=False)
    return json.loads(out.stdout)["divergences"][0]["items"]


def open_compare(page: Any) -> None:
    page.wait_for_selector("body[data-compare=ready]", timeout=20000)
    page.wait_for_selector("body[data-timeline=ready]")


def compare_pair(page: Any) -> list[str]:
    """The two session ids the compare view shows (its `compare=A,B`)."""
    return page.evaluate("new URL(location.href).searchParams.get('compare')").split(",")


def compare_case1_variants(open_page: Any) -> tuple[Any, str, str]:
    """Case 1 loaded, then "side by side": the page and the pair's session ids."""
    page = open_page()
    load_scenario(page, CASE1)
    page.get_by_test_id("compare-variants").click()
    open_compare(page)
    a, b = compare_pair(page)
    return page, a, b


def test_patched_beside_unpatched(open_page: Any, server: Server) -> None:
    page, a, b = compare_case1_variants(open_page)
    assert server.api("GET", f"/api/sessions/{a}")["xen"] == "unpatched"
    assert server.api("GET", f"/api/sessions/{b}")["xen"] == "patched"
    lines = page.locator("[data-testid=divergence]")
    expect(lines).to_have_count(len(run_both(CASE1)))
    assert lines.all_text_contents() == run_both(CASE1)
    # a line seeks both panes to its step and selects its PFN in both
    line = lines.filter(has_text="pfn 20 (mfn")
    line.click()
    seq = int(line.get_attribute("data-seq"))
    page.wait_for_function("n => document.body.dataset.seq === String(n)", arg=seq)
    assert page_state(page) == snapshot_state(server, a, seq)
    other = page.evaluate("window.pvframes.compare.store.seq")
    assert other == seq
    expect(page.get_by_test_id("inspector").get_by_test_id("inspector-title")
           ).to_contain_text("PFN 20")
    expect(page.get_by_test_id("inspector-compare").get_by_test_id("inspector-title")
           ).to_contain_text("PFN 20")
    # what differs is outlined in both panes: the entries of PFN 20 and 21 after restore
    page.wait_for_function("() => Number(document.body.dataset.diffs) >= 2")
    dst = server.api("GET", f"/api/sessions/{a}?seq={seq}")["guest"]["p2m"]
    diffs = page.evaluate("[...window.pvframes.ui.diffs]")
    assert f"destination:{dst[20]}" in diffs and f"destination:{dst[21]}" in diffs
    expect(page.locator("[data-testid=inspector] tr.differs")).to_have_count(1)
    expect(page.locator("[data-testid=inspector-compare] tr.differs")).to_have_count(1)
    # before the migration the getpageframeinfo3 answers differ: outlined in the inspector
    page.evaluate("window.pvframes.seek(14)")
    expect(page.locator("[data-testid=inspector-compare] [data-testid=inspector-pfinfo]")
           ).to_have_text("NOTAB")
    expect(page.locator("[data-testid=inspector] [data-testid=inspector-pfinfo]")
           ).to_have_class("differs")
    # one timeline drives both panes
    page.keyboard.press("End")
    assert page.evaluate("window.pvframes.compare.store.seq") == 21
    # at the end the L2 is a pinned L2 on one side and not on the other: outlined
    page.wait_for_function("() => window.pvframes.compare.diff?.seq === 21")
    dst = server.api("GET", f"/api/sessions/{a}")["guest"]["p2m"]
    assert f"destination:{dst[20]}" in page.evaluate("[...window.pvframes.ui.diffs]")
    screenshot(page, "compare-variants")


def test_case1_beside_case2(open_page: Any, server: Server) -> None:
    page = open_page()
    load_scenario(page, CASE1)
    page.get_by_test_id("scenario-select").select_option(CASE2)
    page.get_by_test_id("compare-scenario").click()
    open_compare(page)
    titles = page.evaluate("[window.pvframes.store.meta.name,"
                           " window.pvframes.compare.store.meta.name]")
    assert titles == ["case1-devalidated-l2", "case2-written-before-migration"]
    assert page.locator("[data-testid=divergence]").count() > 0
    page.evaluate("window.pvframes.seek(3)")
    assert page.evaluate("window.pvframes.compare.store.seq") == 3
    screenshot(page, "compare-cases")


def moment(page: Any) -> list[int]:
    """The timeline's position, and the seq each pane shows."""
    return page.evaluate("[Number(document.body.dataset.moment), window.pvframes.store.seq,"
                         " window.pvframes.compare.store.seq]")


def test_the_timeline_spans_the_longer_session(open_page: Any, server: Server) -> None:
    page = open_page()
    load_scenario(page, CASE2)   # 14 steps, beside Case 1's 21
    page.get_by_test_id("scenario-select").select_option(CASE1)
    page.get_by_test_id("compare-scenario").click()
    open_compare(page)
    a, b = compare_pair(page)
    heads = [server.api("GET", f"/api/sessions/{s}")["seq"] for s in (a, b)]
    assert heads == [14, 21]
    assert page.get_by_test_id("tl-range").get_attribute("max") == "21"
    page.get_by_test_id("tl-range").blur()   # keys go to the page again
    page.keyboard.press("End")
    assert moment(page) == [21, 14, 21]
    # past its end the shorter session shows its last state, marked as such
    guest = page.locator("figure[data-grid=guest]")
    expect(guest).to_have_attribute("data-ended", "true")
    expect(guest.locator("figcaption")).to_contain_text("ENDED at seq 14")
    expect(page.locator("figure[data-grid=compare]")).to_have_attribute("data-ended", "false")
    expect(page.get_by_test_id("tl-position")).to_contain_text("seq 21 of 21")
    page.keyboard.press(",")
    assert moment(page) == [20, 14, 20]
    page.get_by_test_id("tl-back").click()
    assert moment(page) == [19, 14, 19]
    page.get_by_test_id("tl-range").fill("17")   # the scrubber, dragged
    page.wait_for_function("() => document.body.dataset.moment === '17'")
    assert moment(page) == [17, 14, 17]
    assert page.get_by_test_id("tl-range").get_attribute("max") == "21"
    page.get_by_test_id("tl-range").blur()   # keys go to the page again
    page.evaluate("window.pvframes.seek(16)")
    page.wait_for_function("() => new URL(location.href).searchParams.get('seq') === '16'")
    # n steps both panes in lockstep along the timeline
    page.keyboard.press("Home")
    expect(guest).to_have_attribute("data-ended", "false")
    page.keyboard.press("n")
    page.get_by_test_id("script-next").click()
    assert moment(page) == [2, 2, 2]
    assert page_state(page) == snapshot_state(server, a, 2)
    assert page.evaluate("window.pvframes.compare.store.seq") == 2
    # a divergence line seeks both panes and selects its PFN in both
    line = page.locator("[data-testid=divergence]").filter(has_text="pfn").first
    seq = int(line.get_attribute("data-seq"))
    line.click()
    assert moment(page) == [seq, min(seq, 14), seq]
    pfn = page.evaluate("window.pvframes.ui.selected.guestPfn")
    assert pfn is not None and f"pfn {pfn}" in line.text_content()
    for testid in ("inspector", "inspector-compare"):
        expect(page.get_by_test_id(testid).get_by_test_id("inspector-title")).to_contain_text(
            f"PFN {pfn}")
    # a link to a moment past the end of the first session opens there
    page.goto(f"{server.base}/?compare={a},{b}&seq=18")
    open_compare(page)
    page.wait_for_function("() => document.body.dataset.moment === '18'")
    assert moment(page) == [18, 14, 18]
    expect(page.get_by_test_id("script-next")).to_be_enabled()   # Case 1 goes on to 21
    screenshot(page, "compare-ended")
    page.set_viewport_size({"width": 1024, "height": 768})
    assert page.evaluate("document.scrollingElement.scrollHeight <= window.innerHeight")
    screenshot(page, "compare-ended-1024")


def test_a_step_in_the_compare_view_goes_to_both(open_page: Any, server: Server) -> None:
    page, a, b = compare_case1_variants(open_page)
    before = len(page.locator("[data-testid=divergence]").all())
    # in the past a step is refused: it would run in one session only
    page.evaluate("window.pvframes.seek(5)")
    page.get_by_test_id("console-tab-write").click()
    page.get_by_test_id("write-page").fill("9")
    page.get_by_test_id("write-send").click()
    expect(page.get_by_test_id("console-result")).to_have_attribute("data-kind", "invalid")
    expect(page.get_by_test_id("console-result")).to_contain_text("press End first")
    assert [server.api("GET", f"/api/sessions/{s}")["seq"] for s in (a, b)] == [21, 21]
    # at the end of both it runs in both, and both panes show it
    page.keyboard.press("End")
    page.get_by_test_id("write-send").click()
    page.wait_for_function("() => window.pvframes.compare.store.head === 22")
    assert [server.api("GET", f"/api/sessions/{s}")["seq"] for s in (a, b)] == [22, 22]
    assert moment(page) == [22, 22, 22]
    assert page_state(page) == snapshot_state(server, a)
    # the divergence list is still the one `pvframes run --xen both`-style comparison gives
    cmp = server.api("GET", f"/api/compare?a={a}&b={b}")
    lines = page.locator("[data-testid=divergence]")
    expect(lines).to_have_count(len(cmp["divergences"]))
    assert len(cmp["divergences"]) >= before
