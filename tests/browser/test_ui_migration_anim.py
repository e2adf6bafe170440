"""A migration you can watch: the batch flies (pixels on the overlay), every panel shows
the group being played (paused there), badges, page-table-shaped marks and the source's
ghost afterwards."""

from __future__ import annotations

import re
from typing import Any

import pytest
from conftest import Server, screenshot, wait_ready
from playwright.sync_api import expect
from test_ui import CASE1, CASE2, guest_frame

from engine.packing import unpack

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
    screenshot(page, "migration-batch", animation=True)
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


# ---- every panel as of the group being played -------------------------------------------
FLAGS = {"allocated": 1, "validated": 2, "pinned": 4, "partial": 8}


def frame_as_of(snap: dict[str, Any], host: str, mfn: int, deltas: list[dict[str, Any]],
                upto: int, patched: bool) -> dict[str, Any]:
    """Frame `mfn` of `host` after the first `upto` deltas of an event, from the snapshot
    before it (docs/deltas.md): the fields the inspector lists, as it spells them."""
    h = snap["hosts"][host]
    f: dict[str, Any] = {
        "owner": h["owners"][h["owner"][mfn]], "type": snap["types"][h["type"][mfn]],
        "count": h["count"][mfn], "type_count": h["type_count"][mfn], "m2p": h["m2p"][mfn],
        **{k: bool(h["flags"][mfn] & bit) for k, bit in FLAGS.items()}}
    for d in deltas[:upto]:
        if d.get("host") != host:
            continue
        if d["kind"] == "frame" and d["mfn"] == mfn and d["field"] in f:
            f[d["field"]] = d["new"]
        elif d["kind"] == "frames" and d["field"] in f and mfn in unpack(d["mfns"]):
            i = unpack(d["mfns"]).index(mfn)
            f[d["field"]] = unpack(d["new"])[i] if isinstance(d["new"], dict | list) else d["new"]
        elif d["kind"] == "m2p" and d["mfn"] == mfn:
            f["m2p"] = d["new"]
        elif d["kind"] == "m2p_many" and mfn in unpack(d["mfns"]):
            f["m2p"] = unpack(d["new"])[unpack(d["mfns"]).index(mfn)]
    # XEN_DOMCTL_getpageframeinfo3 (engine/hypercalls.py getpageframeinfo3)
    level = {"l1": 1, "l2": 2, "l3": 3, "l4": 4}.get(f["type"], 0)
    if f["owner"] != "guest" or not f["count"]:
        f["pfinfo"] = "XTAB"
    elif f["pinned"]:
        f["pfinfo"] = f"L{level}TAB+LPINTAB" if level else "NOTAB+LPINTAB"
    elif patched and not f["validated"]:
        f["pfinfo"] = "NOTAB"
    else:
        f["pfinfo"] = f"L{level}TAB" if level else "NOTAB"
    return f


SHOWN = """() => { const v = (k) => document.querySelector(
    `[data-testid=inspector] [data-testid=inspector-${k}]`)?.textContent ?? null;
  const yes = (k) => v(k) === null ? null : v(k) === 'yes';
  const a = window.pvframes.animator;
  return { asOf: document.querySelector('[data-testid=inspector]').dataset.asOf,
           upto: a.current ? a.current.upto : null,
           title: v('title'),
           f: { owner: v('owner'), type: v('type'), count: Number(v('count')),
                type_count: Number(v('type_count')), m2p: Number(v('m2p')),
                allocated: yes('allocated'), validated: yes('validated'),
                pinned: yes('pinned'), partial: yes('partial'), pfinfo: v('pfinfo') } }; }"""


def test_every_panel_shows_the_group_being_played(open_page: Any, server: Server) -> None:
    session = server.new_session(CASE1)   # unpatched
    server.api("POST", f"/api/sessions/{session}/run", {"count": 16})   # to migrate all
    before = server.api("GET", f"/api/sessions/{session}?seq=15")
    after = server.api("GET", f"/api/sessions/{session}?seq=16")
    event = server.api("GET", f"/api/sessions/{session}/events?since=15")["events"][0]
    assert event["op"] == "migrate"
    dst = after["guest"]["p2m"][20]   # where PFN 20 (the L2) lands
    page = open_page(session)
    page.set_viewport_size({"width": 1024, "height": 768})
    page.wait_for_selector("body[data-timeline=ready]")
    page.evaluate(f"window.pvframes.ui.select('destination', {dst}, null)")
    expect(page.get_by_test_id("inspector-title")).to_contain_text(f"MFN {dst} on destination")
    page.get_by_test_id("anim-speed").fill("2")   # 0.75 groups a second
    # Play the migration again from its start (the script lists it as its phases).
    page.locator("[data-testid=script-step][data-index='15'] [data-testid=script-phase]"
                 ).first.click()
    expect(page.get_by_test_id("anim-ticker")).to_contain_text("write_batch", timeout=30000)
    page.keyboard.press("k")   # pause at the first batch
    expect(page.get_by_test_id("anim-pause")).to_have_attribute("aria-pressed", "true")
    upto = page.evaluate("window.pvframes.animator.current.upto")
    page.wait_for_function("u => document.querySelector('[data-testid=inspector]')"
                           ".dataset.asOf === `16:${u}`", arg=upto)
    shown = page.evaluate(SHOWN)
    expected = frame_as_of(before, "destination", dst, event["deltas"], upto, patched=False)
    final = frame_as_of(before, "destination", dst, event["deltas"], len(event["deltas"]),
                        patched=False)
    assert shown["upto"] == upto
    assert shown["f"] == expected
    # not the state after the event: the frame is still free, its page data not yet written
    assert expected["owner"] == "free" and final["owner"] == "guest"
    assert page.locator("[data-testid=inspector] [data-testid=entry-row]").count() == 0
    # The patch panel reads the same point.
    page.get_by_test_id("patch-panel").locator("summary").click()
    expect(page.get_by_test_id("patch-verdict")).to_contain_text(
        f"unpatched (≤ 4.15) {expected['pfinfo']}")
    # The other panels: the migration under way, the event playing in history and timeline.
    assert page.get_by_test_id("migration-state").get_attribute("data-state") == "in_progress"
    expect(page.locator("[data-testid=history-item][data-seq='16']")).to_have_class(
        re.compile(r"\bplaying\b"))
    assert page.get_by_test_id("timeline").get_attribute("data-playing").startswith("16:")
    step = page.locator("[data-testid=script-step][data-index='15']")
    expect(step).to_have_class(re.compile(r"\bplaying\b"))
    expect(step.locator("[data-testid=script-phase].playing")).to_contain_text("begin")
    # Later in the event, once its page data is written: the entries are the final ones.
    page.keyboard.press("k")
    page.wait_for_function("() => (window.pvframes.animator.current?.upto ?? 0) >= 12",
                           timeout=60000)
    page.keyboard.press("k")
    upto = page.evaluate("window.pvframes.animator.current.upto")
    page.wait_for_function("u => document.querySelector('[data-testid=inspector]')"
                           ".dataset.asOf === `16:${u}`", arg=upto)
    assert page.evaluate(SHOWN)["f"] == frame_as_of(before, "destination", dst,
                                                    event["deltas"], upto, patched=False)
    frame = server.api("GET", f"/api/sessions/{session}/frames/destination/{dst}?seq=16")
    rows = page.locator("[data-testid=inspector] [data-testid=entry-row]")
    assert [int(r.get_attribute("data-index")) for r in rows.all()] == \
        [e["index"] for e in frame["entries"]]
    # A guest PFN is shown by its frame as the grid shows it: still on the source host,
    # though the selection already follows it to the destination (the store is past it).
    src = before["guest"]["p2m"][20]
    page.evaluate(f"window.pvframes.ui.select('destination', {dst}, 20)")
    expect(page.get_by_test_id("inspector-title")).to_contain_text("on source — PFN 20")
    shown = page.evaluate(SHOWN)
    assert shown["f"] == frame_as_of(before, "source", src, event["deltas"], upto,
                                     patched=False)
    screenshot(page, "migration-paused-1024", animation=True)
    # Resumed and skipped: the state after the event.
    page.keyboard.press("s")
    expect(page.get_by_test_id("inspector-title")).to_contain_text("on destination — PFN 20")
    page.wait_for_function("() => document.querySelector('[data-testid=inspector]')"
                           ".dataset.asOf === '16'")
    assert page.evaluate(SHOWN)["f"] == final
    assert page.locator("[data-testid=inspector] [data-testid=entry-row]").count() > 0
    assert page.get_by_test_id("migration-state").get_attribute("data-state") == "ok"
    assert page.locator("[data-testid=history-item].playing").count() == 0


def test_the_inspector_reads_a_large_event_without_keeping_its_arrays(open_page: Any) -> None:
    """asof.js looks a frame up in a 2^20-frame delta's packed arrays: runs arithmetically
    (nothing decoded), base64 arrays decoded for the event being played only, dropped when
    another event is asked about or the animation ends; the answers are those of the
    arrays unpacked whole (deltas.js)."""
    page = open_page()
    got = page.evaluate("""async () => {
      const a = await import('/static/js/asof.js');
      const { unpack } = await import('/static/js/deltas.js');
      const n = 1 << 20;
      const perm = new Int32Array(n);   // MFNs in no order: packed as base64 Int32
      for (let i = 0; i < n; i++) perm[i] = 4096 + ((i * 7919) % n);
      const bytes = new Uint8Array(perm.buffer);
      let bin = '';
      for (let i = 0; i < bytes.length; i += 0x8000) {
        bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
      }
      const ev1 = { seq: 7, deltas: [
        { kind: 'frames', host: 'h', field: 'type', mfns: { runs: [4096, n, 1] },
          old: { rle: ['none', n / 2, 'l1', n / 2] }, new: 'writable' },
        { kind: 'm2p_many', host: 'h', mfns: { i32: btoa(bin) }, old: { rle: [-1, n] },
          new: { runs: [0, n, 1] } },
        { kind: 'pages', host: 'h', mfns: { runs: [4096, 8, 2] } },
      ] };
      const ev2 = { seq: 8, deltas: [ev1.deltas[0]] };
      // the same answers from the arrays unpacked whole
      const naive = (ev, mfn) => {
        const out = [];
        ev.deltas.forEach((d, at) => {
          const i = unpack(d.mfns).indexOf(mfn);
          if (i < 0) return;
          if (d.kind === 'pages') { out.push({ at, page: true }); return; }
          const nv = typeof d.new === 'object' ? unpack(d.new)[i] : d.new;
          const field = d.kind === 'frames' ? d.field : 'm2p';
          out.push({ at, field, old: unpack(d.old)[i], new: nv });
        });
        return out;
      };
      const mfns = [4096, 4098, 4096 + n / 2 + 3, 4096 + n - 1, 4096 + n, 17];
      const json = (x) => JSON.stringify(x);
      const same = mfns.map((m) => json(a.changesOf(ev1, 'h', m)) === json(naive(ev1, m)));
      const sample = a.changesOf(ev1, 'h', 4096 + n / 2 + 3);
      const afterEv1 = a.decodedCount();
      a.changesOf(ev2, 'h', 4100);
      const afterEv2 = a.decodedCount();
      a.changesOf(ev1, 'h', 4100);
      const again = a.decodedCount();
      a.forgetDecoded();
      return { same, sample, afterEv1, afterEv2, again, forgotten: a.decodedCount() };
    }""")
    assert got["same"] == [True] * 6
    # the frame half way: an L1 before, writable after; its M2P set to where it is listed
    assert got["sample"][0] == {"at": 0, "field": "type", "old": "l1", "new": "writable"}
    assert got["sample"][1]["field"] == "m2p" and got["sample"][1]["old"] == -1
    assert got["afterEv1"] == 1       # only the base64 array was decoded
    assert got["afterEv2"] == 0       # another event: dropped
    assert got["again"] == 1
    assert got["forgotten"] == 0      # the animation over: nothing kept
