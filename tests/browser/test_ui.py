"""The web UI in a real browser: ready state, the two cases run from the scenario menu,
two tabs on one session, and a tab that reconnects and catches up."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import REPO, Server, screenshot, wait_ready
from playwright.sync_api import expect

from engine.session import unpacked_snapshot

pytestmark = pytest.mark.browser

CASE1 = "case1-devalidated-l2"
CASE2 = "case2-written-before-migration"
WRONG_FRAME = "case2-wrong-frame"


# ---- helpers --------------------------------------------------------------------------------
def load_scenario(page: Any, name: str) -> str:
    """Pick a scenario in the menu and load it: a new session. Returns its id."""
    before = page.evaluate("document.body.dataset.session")
    page.get_by_test_id("scenario-select").select_option(name)
    page.get_by_test_id("scenario-load").click()
    page.wait_for_function("s => document.body.dataset.session !== s", arg=before)
    wait_ready(page, seq=0)
    return page.evaluate("document.body.dataset.session")


def run_to_end(page: Any) -> int:
    total = page.get_by_test_id("script-step").count()
    page.get_by_test_id("script-all").click()
    wait_ready(page, seq=total)
    page.wait_for_function(
        "n => document.querySelectorAll('[data-testid=script-step][data-state=done]').length === n",
        arg=total)
    # panels follow the animation (the migration panel shows the frame being played): the
    # tests read the state after the run
    page.get_by_test_id("anim-skip").click()
    return total


def guest_frame(page: Any, pfn: int) -> dict[str, Any]:
    return page.evaluate("p => window.pvframes.guestFrame(p)", pfn)


def click_guest_pfn(page: Any, pfn: int) -> None:
    page.get_by_test_id("view-guest").click()
    centre = page.evaluate("p => window.pvframes.cellCentre('guest', p)", pfn)
    page.mouse.click(centre["x"], centre["y"])
    page.wait_for_function(
        "p => document.querySelector('[data-testid=inspector-title]')"
        "?.textContent.includes(`PFN ${p}`)", arg=pfn)


def entry_rows(page: Any) -> list[dict[str, str]]:
    return page.evaluate("""() => [...document.querySelectorAll('[data-testid=entry-row]')]
      .map(r => ({
        index: r.dataset.index, stale: r.dataset.stale,
        pfn: r.querySelector('[data-testid=entry-pfn]').textContent,
        status: r.querySelector('[data-testid=entry-status]').textContent}))""")


def assertions(page: Any) -> list[str]:
    return page.eval_on_selector_all("[data-testid=assertion]", "els => els.map(e => e.dataset.ok)")


def snapshot_state(server: Server, session: str, seq: int | None = None) -> dict[str, Any]:
    """The server's snapshot (now, or as of `seq`) in the shape of
    window.pvframes.hostState()."""
    snap = unpacked_snapshot(server.api(  # a large guest's is answered packed
        "GET", f"/api/sessions/{session}" + ("" if seq is None else f"?seq={seq}")))
    m = snap["migration"]
    out: dict[str, Any] = {"seq": snap["seq"], "guestHost": snap["guest"]["host"],
                           "p2m": snap["guest"]["p2m"],
                           "migration": {"state": m["state"], "rounds": m["rounds"],
                                         "deferred": sorted(m["deferred"]),
                                         "normalised": sorted(m["normalised"]),
                                         "lost": sorted(m["lost"])}}
    for name, h in snap["hosts"].items():
        out[name] = [[h["owners"][h["owner"][i]], snap["types"][h["type"][i]], h["count"][i],
                      h["type_count"][i], h["flags"][i], h["m2p"][i]] for i in range(h["frames"])]
    return out


def page_state(page: Any) -> dict[str, Any]:
    return page.evaluate("window.pvframes.hostState()")


# ---- tests ----------------------------------------------------------------------------------
def test_page_loads_and_reaches_ready(open_page: Any) -> None:
    page = open_page()
    assert page.evaluate("document.body.dataset.seq") == "0"
    assert "Case 1" in page.get_by_test_id("scenario-title").text_content()
    names = page.eval_on_selector_all("[data-testid=scenario-select] option",
                                      "os => os.map(o => o.value)")
    assert {CASE1, CASE2, WRONG_FRAME} <= set(names)
    assert page.get_by_test_id("grid-guest").get_attribute("data-cells") == "64"
    assert page.get_by_test_id("connection").get_attribute("data-conn") == "connected"
    # the linear layout: PFN 0 is the pinned L4 and the base pointer, PFN 4 a data page
    l4 = guest_frame(page, 0)
    assert (l4["type"], l4["pinned"], l4["validated"], l4["base"]) == ("l4", True, True, True)
    assert guest_frame(page, 4)["type"] == "writable"
    # every type and mark has a legend entry
    for key in ("l1", "l2", "l3", "l4", "writable", "hatched", "partial", "pinned", "foreign",
                "free"):
        assert page.get_by_test_id(f"legend-{key}").is_visible()
    screenshot(page, "start")


def test_case1_unpatched_relocalises_the_l2(open_page: Any) -> None:
    page = open_page()
    load_scenario(page, CASE1)
    assert page.get_by_test_id("variant-unpatched").is_checked()
    total = run_to_end(page)
    assert total == 21
    oks = assertions(page)
    assert oks and all(ok == "true" for ok in oks), oks
    assert page.get_by_test_id("migration-state").get_attribute("data-state") == "ok"
    # the de-validated L2 travelled as L2TAB, was localised, and the guest re-pinned it
    l2 = guest_frame(page, 20)
    assert (l2["host"], l2["type"], l2["pinned"], l2["validated"]) == (
        "destination", "l2", True, True)
    assert page.get_by_test_id("view-both").get_attribute("aria-selected") == "true"
    screenshot(page, "case1-migrated")
    click_guest_pfn(page, 20)
    assert page.get_by_test_id("inspector-type").text_content() == "l2"
    assert page.get_by_test_id("inspector-pinned").text_content() == "yes"
    rows = entry_rows(page)
    assert rows == [{"index": "0", "stale": "false", "pfn": "21", "status": "ok"}]
    screenshot(page, "case1")


def test_case1_patched_leaves_a_stale_entry(open_page: Any) -> None:
    page = open_page()
    unpatched = load_scenario(page, CASE1)
    page.get_by_test_id("variant-patched").check()
    page.wait_for_function("s => document.body.dataset.session !== s", arg=unpatched)
    wait_ready(page, seq=0)
    assert page.get_by_test_id("variant-patched").is_checked()
    assert "patched" in page.get_by_test_id("guest-where").text_content()
    run_to_end(page)
    oks = assertions(page)
    assert oks and all(ok == "true" for ok in oks), oks
    # the re-pin on the destination failed with -EINVAL
    pin = page.locator("[data-testid=script-step][data-index='19']")
    assert "rc -22 EINVAL" in pin.text_content()
    assert not guest_frame(page, 20)["pinned"]
    click_guest_pfn(page, 20)
    rows = entry_rows(page)
    assert len(rows) == 1 and rows[0]["stale"] == "true" and rows[0]["pfn"] == "—"
    assert "stale" in rows[0]["status"]
    screenshot(page, "case1-patched")


def test_case2_written_l2_is_not_localised(open_page: Any) -> None:
    page = open_page()
    load_scenario(page, CASE2)
    run_to_end(page)
    oks = assertions(page)
    assert oks and all(ok == "true" for ok in oks), oks
    l2 = guest_frame(page, 20)
    assert l2["host"] == "destination" and not l2["pinned"]
    click_guest_pfn(page, 20)
    rows = entry_rows(page)
    assert rows[0]["index"] == "0" and rows[0]["stale"] == "true"
    assert "free" in rows[0]["status"]
    # the history shows the failed pin with its errno
    last_pin = page.locator("[data-testid=history-item][data-rc='-22']")
    assert last_pin.count() == 1 and "EINVAL" in last_pin.text_content()
    # opening it lists what Xen did before refusing, function by function
    last_pin.locator("summary").click()
    expect(last_pin.locator(".deltas li").first).to_contain_text("MFN")
    screenshot(page, "case2")


def test_case2_wrong_frame_is_flagged_in_the_inspector(open_page: Any) -> None:
    page = open_page()
    load_scenario(page, WRONG_FRAME)
    run_to_end(page)
    click_guest_pfn(page, 20)
    rows = entry_rows(page)
    # the entry written to mean PFN 21 now names PFN 3's frame: present, guest-owned, wrong
    assert rows[0]["pfn"] == "3" and rows[0]["stale"] == "true"
    assert "meant PFN 21" in rows[0]["status"]
    expect(page.get_by_test_id("stale-warning")).to_contain_text("1 entry does not name")
    screenshot(page, "case2-wrong-frame")


def test_console_shows_rc_and_refusals(open_page: Any, server: Server) -> None:
    page = open_page(server.new_session(CASE1))
    result = page.get_by_test_id("console-result")
    # a data page mapped writable cannot become an L2: Xen says -EINVAL
    click_guest_pfn(page, 20)
    page.get_by_test_id("console-tab-mmuext").click()
    page.get_by_test_id("mmuext-cmd").select_option("pin_l2")
    assert page.get_by_test_id("mmuext-page").input_value() == "20"
    page.get_by_test_id("mmuext-send").click()
    page.wait_for_selector("[data-testid=console-result][data-kind=error]")
    assert "rc -22 EINVAL" in result.text_content()
    wait_ready(page, seq=1)
    # input the engine cannot interpret is refused, names the field, and changes nothing
    page.get_by_test_id("console-tab-mmu_update").click()
    page.get_by_test_id("mmu_update-page").fill("3")
    page.get_by_test_id("mmu_update-index").evaluate("e => { e.max = ''; e.value = '600'; }")
    page.get_by_test_id("mmu_update-entry").fill("20")
    page.get_by_test_id("mmu_update-send").click()
    page.wait_for_selector("[data-testid=console-result][data-kind=invalid]")
    assert "index" in result.text_content()
    assert page.evaluate("document.body.dataset.seq") == "1"
    # keyboard: w writes to the selected page, n runs the script's next step
    page.keyboard.press("w")
    wait_ready(page, seq=2)
    page.keyboard.press("n")
    wait_ready(page, seq=3)
    first_step = page.locator("[data-testid=script-step][data-index='0']")
    assert first_step.get_attribute("data-state") == "done"


def test_two_pages_on_one_session_stay_in_sync(open_page: Any, server: Server) -> None:
    session = server.new_session(CASE1)
    first = open_page(session)
    second = open_page(session)
    for _ in range(7):
        first.keyboard.press("n")
    wait_ready(first, seq=7)
    wait_ready(second, seq=7)
    # a step from the second page's console reaches the first
    click_guest_pfn(second, 20)
    second.keyboard.press("u")   # unpin the L2 from the second page
    wait_ready(second, seq=8)
    wait_ready(first, seq=8)
    assert page_state(first) == page_state(second) == snapshot_state(server, session)
    # both know the script moved on, whoever ran it
    assert (first.locator("[data-testid=script-step][data-state=done]").count()
            == second.locator("[data-testid=script-step][data-state=done]").count() == 7)
    second.get_by_test_id("script-all").click()
    wait_ready(first, seq=22)
    wait_ready(second, seq=22)
    assert page_state(first) == page_state(second) == snapshot_state(server, session)
    # PFN 20 was picked in the guest view: the selection followed it to the destination
    # (once the animation, during which the inspector shows what it plays, is skipped)
    second.keyboard.press("s")
    expect(second.get_by_test_id("inspector-title")).to_contain_text("on destination — PFN 20")
    screenshot(second, "two-pages")


def test_a_reconnecting_page_catches_up(open_page: Any, server: Server) -> None:
    session = server.new_session(CASE1)
    page = open_page(session)
    page.keyboard.press("n")
    page.keyboard.press("n")
    wait_ready(page, seq=2)
    page.evaluate("window.pvframes.link.disconnect()")
    page.wait_for_selector("[data-testid=connection][data-conn=disconnected]")
    # meanwhile the session moves on without this page: the script through the migration
    server.api("POST", f"/api/sessions/{session}/run", {"count": 14})
    server.api("POST", f"/api/sessions/{session}/steps", {"mmuext": {"cmd": "pin_l2", "pfn": 20}})
    assert page.evaluate("document.body.dataset.seq") == "2"
    page.evaluate("window.pvframes.link.connect()")
    wait_ready(page, seq=17)
    page.wait_for_selector("[data-testid=connection][data-conn=connected]")
    # caught up by events, not by a reload: same state as the server's snapshot
    assert page.evaluate("window.pvframes.loads") == 1
    assert page_state(page) == snapshot_state(server, session)
    assert page.get_by_test_id("history-item").count() == 17
    assert page.get_by_test_id("migration-state").get_attribute("data-state") == "ok"
    assert guest_frame(page, 20)["pinned"]


def test_migration_phase_by_phase(open_page: Any, server: Server) -> None:
    session = server.new_session(CASE1)
    server.api("POST", f"/api/sessions/{session}/run", {"count": 15})   # up to the migration
    page = open_page(session)
    wait_ready(page, seq=15)
    state = page.get_by_test_id("migration-state")
    rounds = page.locator("[data-testid=rounds] tbody tr")
    page.get_by_test_id("migrate-begin").click()
    wait_ready(page, seq=16)
    page.get_by_test_id("anim-skip").click()   # the panel follows the animation: its end
    assert state.get_attribute("data-state") == "in_progress"
    assert page.get_by_test_id("view-both").get_attribute("aria-selected") == "true"
    # round 1 sends every PFN; the de-validated tables are reported L2TAB/L1TAB (unpatched)
    assert rounds.count() == 1 and rounds.first.locator("td").nth(2).text_content() == "64"
    assert "PFN 20 L2TAB normalised" in page.get_by_test_id("last-batch").text_content()
    assert page.get_by_test_id("migrate-begin").is_disabled()
    # Hovering PFN 20's source frame links it to the frame now behind PFN 20 on the
    # destination (its P2M line), once the batch animation is over.
    page.get_by_test_id("anim-skip").click()
    src_mfn = page.evaluate("window.pvframes.store.hosts.source.p2m[20]")
    dst_mfn = page.evaluate("window.pvframes.store.hosts.destination.p2m[20]")
    at = page.evaluate(f"window.pvframes.cellCentre('source', {src_mfn})")
    page.mouse.move(at["x"], at["y"])
    overlay = page.get_by_test_id("flow-overlay")
    link = f"20:source:{src_mfn}:destination:{dst_mfn}"
    expect(overlay).to_have_attribute("data-p2m-link", link)
    page.get_by_test_id("grids").screenshot(path=str(REPO / "docs" / "screenshots"
                                                     / "p2m-link.png"))
    screenshot(page, "migration-begin")
    page.mouse.move(1, 1)
    expect(overlay).not_to_have_attribute("data-p2m-link", link)
    for n, phase in enumerate(("round", "suspend", "restore"), start=17):
        page.get_by_test_id(f"migrate-{phase}").click()
        wait_ready(page, seq=n)
    page.get_by_test_id("anim-skip").click()
    assert state.get_attribute("data-state") == "ok"
    assert rounds.count() == 4
    assert guest_frame(page, 20)["host"] == "destination"
    assert page_state(page) == snapshot_state(server, session)
    screenshot(page, "migration-done")


def catalogue() -> list[str]:
    shared = REPO.parent / "shared" / "scenarios"
    return sorted(p.stem for d in (shared, REPO / "examples") for p in d.glob("*.yaml"))


@pytest.mark.parametrize("xen", ["unpatched", "patched"])
@pytest.mark.parametrize("name", catalogue())
def test_deltas_rebuild_the_servers_state(open_page: Any, server: Server, name: str,
                                          xen: str) -> None:
    """Every catalogue scenario, run from the page: the state the page built from deltas
    (frames, P2M, migration rounds) is the server's snapshot."""
    session = server.new_session(name, xen)
    page = open_page(session)
    run_to_end(page)
    assert page_state(page) == snapshot_state(server, session)


@pytest.mark.parametrize("name", sorted(p.stem for p in (REPO / "examples" / "xtf").glob("*.yaml")))
def test_xtf_ports_run_from_the_page(open_page: Any, server: Server, name: str) -> None:
    """The XTF ports are in the catalogue and run from the page like the others. They give
    the same results under both variants (tests/scenarios), so one variant is enough."""
    session = server.new_session(name, "patched")
    page = open_page(session)
    run_to_end(page)
    assert page_state(page) == snapshot_state(server, session)


def test_an_unknown_session_is_reported(browser: Any, server: Server) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(server.base + "/?session=no-such-session")
        page.wait_for_selector("body[data-state=error]")
        assert "Could not open the session" in page.get_by_test_id("scenario-title").text_content()
        # the menu still works: load a scenario and carry on
        page.get_by_test_id("scenario-select").select_option(CASE1)
        page.get_by_test_id("scenario-load").click()
        wait_ready(page, seq=0)
    finally:
        context.close()


def test_a_large_guest_stays_usable(open_page: Any, server: Server) -> None:
    scenario = {"name": "large", "guest": {"pages": 40000, "layout": "linear"},
                "hosts": {"source": {"frames": 65536}, "destination": {"frames": 65536}},
                "steps": [{"migrate": "all"}]}
    session = server.api("POST", "/api/sessions", {"scenario": scenario})["id"]
    page = open_page(session)
    assert page.get_by_test_id("grid-guest").get_attribute("data-cells") == "40000"
    # only the first rows are drawn, so a redraw stays quick
    took = page.evaluate("""() => { const t = performance.now();
        window.pvframes.ui.setView('both'); return performance.now() - t; }""")
    assert took < 2000, took
    page.get_by_test_id("script-all").click()
    wait_ready(page, seq=1)
    assert page_state(page) == snapshot_state(server, session)


def test_pin_and_unpin_the_selected_frame_from_the_keyboard(open_page: Any,
                                                            server: Server) -> None:
    session = server.new_session(CASE1)
    server.api("POST", f"/api/sessions/{session}/run", {"count": 6})   # L2 and L1 filled
    page = open_page(session)
    click_guest_pfn(page, 20)
    page.get_by_test_id("console-tab-mmuext").click()
    page.get_by_test_id("mmuext-cmd").select_option("pin_l2")
    page.locator("body").press("p")   # a writable page: pinned at the form's level
    wait_ready(page, seq=7)
    l2 = guest_frame(page, 20)
    assert (l2["type"], l2["pinned"], l2["validated"]) == ("l2", True, True)
    assert guest_frame(page, 21)["type"] == "l1"   # validation took the L1 along
    expect(page.get_by_test_id("inspector-pinned")).to_have_text("yes")
    page.locator("body").press("u")
    wait_ready(page, seq=8)
    l2 = guest_frame(page, 20)
    assert (l2["type"], l2["pinned"], l2["validated"]) == ("l2", False, False)
    expect(page.get_by_test_id("inspector-explain")).to_contain_text("DE-VALIDATED")
    screenshot(page, "devalidated")
    # arrow keys walk the selection: right to PFN 21, down a row (8 columns) to PFN 29
    # (from the page, not from the console's tabs, where the arrows move between tabs)
    page.evaluate("document.activeElement.blur()")
    page.locator("body").press("ArrowRight")
    expect(page.get_by_test_id("inspector-title")).to_contain_text("PFN 21")
    page.locator("body").press("ArrowDown")
    expect(page.get_by_test_id("inspector-title")).to_contain_text("PFN 29")
    assert page.get_by_test_id("mmuext-page").input_value() == "29"


def test_the_animation_plays_the_deltas_forward(open_page: Any, server: Server) -> None:
    session = server.new_session(CASE1)
    server.api("POST", f"/api/sessions/{session}/run", {"count": 6})
    page = open_page(session)
    page.get_by_test_id("anim-speed").fill("1")   # the slowest speed
    page.keyboard.press("Escape")                 # leave the slider: keys are shortcuts again
    page.keyboard.press("n")                      # pin_l2 PFN 20: validates the L2 and its L1
    wait_ready(page, seq=7)
    assert guest_frame(page, 20)["type"] == "l2" and guest_frame(page, 20)["pinned"]
    shown = page.evaluate("window.pvframes.shownGuestFrame(20)")
    assert shown["type"] == "writable" and not shown["pinned"]   # the grid is not there yet
    expect(page.get_by_test_id("anim-ticker")).to_contain_text("#7 mmuext pin_l2 PFN 20")
    page.keyboard.press("s")
    assert page.evaluate("window.pvframes.shownGuestFrame(20)") == guest_frame(page, 20)


UNDO_ALL = """async (id) => {
  const { applyDelta, undoDelta } = await import('/static/js/deltas.js');
  const { Store } = await import('/static/js/store.js');
  const get = async (path) => (await fetch(`/api/sessions/${id}${path}`)).json();
  const [snap, { events }] = [await get(''), await get('/events?since=0')];
  const store = new Store();
  store.load(id, snap);
  const state = () => Object.fromEntries(Object.entries(store.hosts).map(([name, h]) => [name, {
    frames: Array.from(h.owner, (o, i) => [h.owners[o], store.types[h.type[i]], h.count[i],
                                   h.type_count[i], h.flags[i], h.m2p[i]]),
    p2m: h.p2m && h.p2m.some((m) => m >= 0) ? [...h.p2m] : null, cr3: h.cr3}]));
  const end = state();
  for (const ev of [...events].reverse()) {
    for (const d of [...ev.deltas].reverse()) undoDelta(store, d);
  }
  const start = state();
  for (const ev of events) for (const d of ev.deltas) applyDelta(store, d);
  return { start, end, again: state(), events: events.length };
}"""


def test_deltas_undo_back_to_the_start(open_page: Any, server: Server) -> None:
    """undoDelta() (static/js/deltas.js) over every event's deltas, last first, takes a
    store loaded at the end of a migrated session back to the state it began in;
    applyDelta() brings it forward again."""
    session = server.new_session("case1-devalidated-l2", "unpatched")
    page = open_page(session)
    begin = page_state(page)
    run_to_end(page)
    out = page.evaluate(UNDO_ALL, session)
    assert out["events"] > 1
    for host in ("source", "destination"):
        assert out["start"][host]["frames"] == begin[host], host
    assert out["start"]["source"]["p2m"] == begin["p2m"]
    assert out["again"] == out["end"]
    assert out["start"] != out["end"]


def test_a_nested_partial_table_and_its_parents_partial_slot(open_page: Any, server: Server,
                                                             browser: Any) -> None:
    """The pin_l4 of examples/nested-preemption.yaml, preempted two levels down (issued
    from the console): the grid
    marks the tables waiting on a partial table below (PTF_partial_set), the inspector
    names the partial slot and, on the nested table, the parent that holds it."""
    session = server.new_session("nested-preemption")
    server.api("POST", f"/api/sessions/{session}/run", {"count": 16})  # the tree, built
    page = open_page(session)
    # the script's pin_l4, preempted in the L2 at PFN 20, from the console
    page.get_by_test_id("console-tab-mmuext").click()
    page.get_by_test_id("mmuext-cmd").select_option("pin_l4")
    page.get_by_test_id("mmuext-page").fill("18")
    page.get_by_test_id("mmuext-preempt").fill("1")
    page.get_by_test_id("mmuext-preempt-pfn").fill("20")
    page.get_by_test_id("mmuext-send").click()
    wait_ready(page, seq=17)
    assert "rc -85 ERESTART" in page.get_by_test_id("console-result").text_content()
    expect(page.locator("[data-testid=history-item][data-rc='-85']")).to_contain_text(
        "preempt in PFN 20 after 1")
    assert [guest_frame(page, p)["partial_set"] for p in (18, 19, 20)] == [True, True, False]
    assert all(guest_frame(page, p)["partial"] for p in (18, 19, 20))
    expect(page.get_by_test_id("legend-nested")).to_contain_text("PTF_partial_set")
    click_guest_pfn(page, 19)
    expect(page.get_by_test_id("inspector-explain")).to_contain_text("preempted inside the table")
    expect(page.get_by_test_id("inspector-partial_set")).to_have_text("yes")
    rows = {r["index"]: r for r in entry_rows(page)}
    assert rows["1"]["pfn"] == "20" and "partial" in rows["1"]["status"]
    assert rows["0"]["status"] == "ok"
    click_guest_pfn(page, 20)
    expect(page.get_by_test_id("inspector-explain")).to_contain_text(
        "pending inside that of PFN 19, whose entry 1")
    screenshot(page, "nested-preemption")
    small = browser.new_context(viewport={"width": 1024, "height": 768})
    try:
        narrow = small.new_page()
        narrow.goto(server.base + f"/?session={session}")
        wait_ready(narrow)
        click_guest_pfn(narrow, 19)
        screenshot(narrow, "nested-preemption-1024")
    finally:
        small.close()
